//! The litepool stress tool: `cargo run --release`.
//!
//! With no arguments it runs, for every strategy, on a temporary database:
//! the tutorial's scenario (10 threads each insert one row, then 5 threads
//! count), then a scaled workload (4 threads × 5,000 operations, 10 %
//! writes). Every run is verified (rows stored = writes acknowledged,
//! `integrity_check`, no errors) and timed; one table at the end. The exit
//! status is 1 if any run fails verification, 2 for bad flags (clap's
//! convention). Point it at your own setup with `--db`, `--threads`,
//! `--write-ratio`, `--journal`, `--synchronous`, `--seconds`; `--json` for
//! scripts. `--processes N` runs the scaled workload in N processes at once
//! on one file (child processes of the tool itself), each writing its own
//! part of one table, and checks every part and the file.
//!
//! Every run works in a table it creates under a fresh name and drops at
//! the end (`--keep` keeps it): the tool never writes to or drops a table it
//! did not make.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use litepool::strategy::Sizing;
use litepool::stress::Run;
use litepool::stress::{self, Measured, Workload};
use litepool::{AccessExt, JournalMode, Result, SqliteManager, Synchronous, strategy};

mod tasks;

/// Stress-tests SQLite access strategies from many threads and verifies
/// the result: the tutorial's scenario, then a scaled read/write workload.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Use this database file instead of a temporary one. Each run works only
    /// in a table it creates (`litepool_stress_<process>_<time>`, never one
    /// that exists) and drops it at the end unless --keep. The journal mode
    /// is left alone unless --journal is given.
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,

    /// Keep each run's table in --db at the end (its name is printed).
    #[arg(long, requires = "db")]
    keep: bool,

    /// Run the scaled workload in this many processes at once, on one file
    /// (implies --no-tutorial).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    processes: u16,

    /// Strategies to run (repeat or comma-separate); default: all.
    #[arg(long, value_delimiter = ',', value_parser = strategy_name)]
    strategy: Vec<String>,

    /// Threads in the scaled workload.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: u16,

    /// Operations per thread in the scaled workload.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    ops: u64,

    /// Share of operations that insert a row (0 to 1); the rest are point reads.
    #[arg(long, default_value_t = 0.1, value_parser = write_ratio)]
    write_ratio: f64,

    /// Journal mode (default: wal for the temporary database; --db keeps its own).
    #[arg(long, value_enum)]
    journal: Option<Journal>,

    /// Let writers go straight to SQLite's busy handler instead of taking
    /// turns in litepool's write queue (for comparison).
    #[arg(long)]
    no_queue: bool,

    /// PRAGMA synchronous for every connection.
    #[arg(long, value_enum, default_value_t = Sync::Normal)]
    synchronous: Sync,

    /// Connections in each pool.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pool_size: u16,

    /// Run the scaled workload for this many seconds instead of --ops.
    #[arg(long, value_parser = seconds)]
    seconds: Option<f64>,

    /// Skip the tutorial's scenario; run only the scaled workload.
    #[arg(long)]
    no_tutorial: bool,

    /// Run the scaled workload as --threads tokio tasks (on two worker
    /// threads) through the async facade, litepool::tokio::AsyncPool, with
    /// --pool-size readers, instead of threads through each strategy.
    /// Needs WAL.
    #[arg(long = "async", conflicts_with_all = ["processes", "strategy", "no_queue"])]
    tasks: bool,

    /// Print results as JSON on standard output (no table, no progress bar).
    #[arg(long)]
    json: bool,

    /// (Internal, for --processes) take part in the run whose table this is.
    #[arg(long, hide = true, requires_all = ["db", "part"])]
    join_run: Option<String>,

    /// (Internal, for --processes) this process's part of the run.
    #[arg(long, hide = true, requires = "join_run")]
    part: Option<i64>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Sync {
    Normal,
    Full,
}

impl Sync {
    fn mode(self) -> Synchronous {
        match self {
            Sync::Normal => Synchronous::Normal,
            Sync::Full => Synchronous::Full,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Journal {
    Wal,
    Delete,
}

fn strategy_name(name: &str) -> std::result::Result<String, String> {
    let names: Vec<_> = strategy::all::<SqliteManager>().iter().map(|s| s.name).collect();
    if names.contains(&name) {
        Ok(name.to_owned())
    } else {
        Err(format!("unknown strategy {name:?}; choose from {}", names.join(", ")))
    }
}

fn write_ratio(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a share between 0 and 1, such as 0.1")),
    }
}

fn seconds(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() && x <= 86_400.0 => Ok(x),
        _ => Err(format!("{s:?} is not a number of seconds between 0 and 86400")),
    }
}

/// One line of the results table.
#[derive(Clone, Debug)]
struct Row {
    strategy: String,
    scenario: String,
    journal: String,
    threads: usize,
    writes: u64,
    reads: u64,
    errors: u64,
    busy: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    over_1ms: u64,
    longest_write: Duration,
    verified: bool,
    note: String,
    first_error: Option<String>,
}

impl Row {
    fn new(strategy: &str, scenario: String, journal: &str, threads: usize, m: &Measured) -> Row {
        Row {
            strategy: strategy.to_owned(),
            scenario,
            journal: journal.to_owned(),
            threads,
            writes: m.writes,
            reads: m.reads,
            errors: m.errors,
            busy: m.busy,
            elapsed: m.elapsed,
            p50: m.latency.quantile(0.5),
            p99: m.latency.quantile(0.99),
            over_1ms: m.latency.over_1ms(),
            longest_write: m.longest_write,
            verified: m.verified,
            note: m.verify_note.clone(),
            first_error: m.first_error.clone(),
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let (Some(table), Some(part)) = (&args.join_run, args.part) {
        return take_part(&args, table, part);
    }
    match run(&args) {
        Ok(rows) => {
            let all_verified = verdict(&rows);
            if args.json {
                println!("{}", to_json(&rows));
            } else {
                print_table(&rows);
                if let Some(peak) = peak_resident_mib() {
                    println!("peak resident memory: {peak:.1} MiB");
                }
            }
            if all_verified { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("litepool: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The exit verdict: every row verified, and at least one row (a run in
/// which every strategy was skipped verified nothing).
fn verdict(rows: &[Row]) -> bool {
    !rows.is_empty() && rows.iter().all(|r| r.verified)
}

/// The manager for `path` as the flags ask.
fn manager(args: &Args, path: &Path, journal: Option<JournalMode>) -> SqliteManager {
    let mut manager = SqliteManager::file(path).synchronous(args.synchronous.mode());
    if args.no_queue {
        manager = manager.without_write_queue();
    }
    match journal {
        Some(mode) => manager.journal_mode(mode),
        None => manager.keep_journal_mode(),
    }
}

fn workload(args: &Args) -> Workload {
    Workload {
        threads: usize::from(args.threads),
        ops: args.ops,
        duration: args.seconds.map(Duration::from_secs_f64),
        write_ratio: args.write_ratio,
    }
}

fn run(args: &Args) -> Result<Vec<Row>> {
    let temp = match &args.db {
        Some(_) => None,
        None => Some(tempfile::tempdir().map_err(|e| io_error("cannot create a temporary directory", e))?),
    };
    let journal = match (args.journal, &args.db) {
        (Some(Journal::Wal), _) | (None, None) => Some(JournalMode::Wal),
        (Some(Journal::Delete), _) => Some(JournalMode::Delete),
        // The user's database keeps its mode; one already in WAL can say so,
        // which lets the WAL-only strategies run on it.
        (None, Some(db)) => current_journal_mode(db).filter(|mode| *mode == JournalMode::Wal),
    };
    let workload = workload(args);
    if args.tasks {
        return run_tasks(args, temp.as_ref(), journal, &workload);
    }

    let mut rows = Vec::new();
    for strategy in strategy::all::<SqliteManager>() {
        if !args.strategy.is_empty() && !args.strategy.iter().any(|s| s == strategy.name) {
            continue;
        }
        let path = match (&args.db, &temp) {
            (Some(db), _) => db.clone(),
            (None, Some(dir)) => dir.path().join(format!("{}.db", strategy.name)),
            (None, None) => unreachable!("a temporary directory exists when --db is absent"),
        };
        if strategy.wal_only && journal != Some(JournalMode::Wal) {
            let why = match journal {
                Some(_) => "--journal delete was asked for",
                None => "--db keeps its own journal mode; pass --journal wal to switch it",
            };
            eprintln!("litepool: skipping {}: it needs WAL, and {why}", strategy.name);
            continue;
        }
        let access =
            (strategy.open)(manager(args, &path, journal), Sizing::pool_size(usize::from(args.pool_size)))?;
        let journal_name: String =
            access.read(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))?;
        let mut runs = Vec::new();
        if !args.no_tutorial && args.processes == 1 {
            let run = stress::prepare(&*access)?;
            let measured = stress::tutorial(&*access, &run);
            runs.push(run);
            rows.push(Row::new(strategy.name, "tutorial".into(), &journal_name, 10, &measured?));
        }
        let run = stress::prepare(&*access)?;
        runs.push(run.clone());
        if args.processes == 1 {
            let measured = with_progress(args, strategy.name, &workload, |progress| {
                stress::run(&*access, &run, &workload, progress)
            })?;
            rows.push(Row::new(strategy.name, "scaled".into(), &journal_name, workload.threads, &measured));
        } else {
            rows.extend(in_processes(args, strategy.name, &path, &journal_name, &*access, &run)?);
        }
        for run in &runs {
            if args.keep {
                eprintln!("litepool: kept table {} in {}", run.table, path.display());
            } else {
                stress::drop_run(&*access, run)?;
            }
        }
    }
    if rows.is_empty() {
        return Err(litepool::Error::new(
            litepool::ErrorKind::Config,
            "no strategy ran, so nothing was verified: every one asked for was skipped (see above); \
             pass --journal wal, or name strategies that run in this journal mode",
        ));
    }
    Ok(rows)
}

/// `--async`: the scaled workload as tasks through the async facade; the
/// run's table is made, verified and dropped through a `Pool` on the same
/// file.
fn run_tasks(
    args: &Args,
    temp: Option<&tempfile::TempDir>,
    journal: Option<JournalMode>,
    workload: &Workload,
) -> Result<Vec<Row>> {
    if journal != Some(JournalMode::Wal) {
        return Err(litepool::Error::new(
            litepool::ErrorKind::Config,
            "--async needs WAL (its readers are read-only connections beside the writer): \
             pass --journal wal, or leave --journal unset for the temporary database",
        ));
    }
    let path = match (&args.db, temp) {
        (Some(db), _) => db.clone(),
        (None, Some(dir)) => dir.path().join("async.db"),
        (None, None) => unreachable!("a temporary directory exists when --db is absent"),
    };
    let verify = litepool::Pool::builder().max_size(1).open(manager(args, &path, journal))?;
    let journal_name: String = verify.read(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))?;
    let run = stress::prepare(&verify)?;
    let readers = usize::from(args.pool_size);
    let measured = with_progress(args, "async", workload, |progress| {
        tasks::run(manager(args, &path, journal), readers, &verify, &run, workload, progress)
    });
    if args.keep {
        eprintln!("litepool: kept table {} in {}", run.table, path.display());
    } else {
        stress::drop_run(&verify, &run)?;
    }
    Ok(vec![Row::new("async (tasks)", "scaled".into(), &journal_name, workload.threads, &measured?)])
}

/// Runs the scaled workload in `--processes` child processes on `path`,
/// each taking its own part of `run`, then checks each part's rows against
/// the writes that process acknowledged, and the file's integrity. One row
/// per process, then one for the whole.
fn in_processes(
    args: &Args,
    strategy: &str,
    path: &Path,
    journal: &str,
    access: &stress::Sqlite,
    run: &Run,
) -> Result<Vec<Row>> {
    let exe =
        std::env::current_exe().map_err(|e| io_error("cannot find the stress tool's own executable", e))?;
    let started = Instant::now();
    let children: Vec<_> = (1..=i64::from(args.processes))
        .map(|part| {
            let mut child = std::process::Command::new(&exe);
            child
                .arg("--db")
                .arg(path)
                .args(["--strategy", strategy, "--journal", journal])
                .args(["--synchronous", &format!("{:?}", args.synchronous).to_lowercase()])
                .args(["--threads", &args.threads.to_string(), "--ops", &args.ops.to_string()])
                .args(["--write-ratio", &args.write_ratio.to_string()])
                .args(["--pool-size", &args.pool_size.to_string()])
                .args(["--join-run", &run.table, "--part", &part.to_string()])
                .stdout(std::process::Stdio::piped());
            if let Some(seconds) = args.seconds {
                child.args(["--seconds", &seconds.to_string()]);
            }
            if args.no_queue {
                child.arg("--no-queue");
            }
            child.spawn().map(|c| (part, c)).map_err(|e| io_error("cannot start a child process", e))
        })
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    let mut total = Measured::default();
    for (part, child) in children {
        let output = child.wait_with_output().map_err(|e| io_error("cannot wait for a child process", e))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stored = stress::stored(access, run, part)?;
        let scenario = format!("process {part}/{}", args.processes);
        let ended = (output.status.success(), output.status.to_string());
        let row = part_row(strategy, scenario, journal, usize::from(args.threads), ended, &stdout, stored);
        total.writes += row.writes;
        total.reads += row.reads;
        total.errors += row.errors;
        total.busy += row.busy;
        total.longest_write = total.longest_write.max(row.longest_write);
        if !row.verified {
            total.verify_note = format!("process {part}: {}", row.note);
        }
        rows.push(row);
    }
    let stored_total: i64 =
        (1..=i64::from(args.processes)).map(|part| stress::stored(access, run, part)).sum::<Result<_>>()?;
    let integrity = stress::integrity_check(access)?;
    let mut problems = Vec::new();
    if stored_total as u64 != total.writes {
        problems.push(format!("{stored_total} rows stored, {} acknowledged", total.writes));
    }
    if integrity != "ok" {
        problems.push(format!("integrity_check: {integrity}"));
    }
    if !total.verify_note.is_empty() {
        problems.push(std::mem::take(&mut total.verify_note));
    }
    total.elapsed = started.elapsed();
    total.verified = problems.is_empty();
    total.verify_note = problems.join("; ");
    let mut whole = Row::new(strategy, format!("{} processes", args.processes), journal, 0, &total);
    whole.threads = usize::from(args.threads) * usize::from(args.processes);
    // The whole's latencies are the worst process's.
    whole.p50 = rows.iter().map(|r| r.p50).max().unwrap_or_default();
    whole.p99 = rows.iter().map(|r| r.p99).max().unwrap_or_default();
    whole.over_1ms = rows.iter().map(|r| r.over_1ms).sum();
    rows.push(whole);
    Ok(rows)
}

/// The row of one process of a `--processes` run, from how it ended
/// (success, and the status to show), what it printed, and the rows its
/// part stored. Verified only if it exited successfully, reported on a
/// well-formed line, and its stored rows equal its acknowledged writes
/// with no operation failed.
fn part_row(
    strategy: &str,
    scenario: String,
    journal: &str,
    threads: usize,
    (succeeded, status): (bool, String),
    stdout: &str,
    stored: i64,
) -> Row {
    let reported = stdout.lines().find_map(|l| l.strip_prefix(PART_LINE)).and_then(PartReport::parse);
    match reported {
        Some(report) => {
            let mut row = report.row(strategy, scenario, journal, threads, stored);
            if !succeeded {
                row.verified = false;
                let note = format!("the process exited with {status} after reporting");
                row.note = if row.note.is_empty() { note } else { format!("{note}; {}", row.note) };
            }
            row
        }
        None => {
            let note = format!(
                "the process ended ({status}) without a well-formed report line; {stored} rows stored"
            );
            let m = Measured { verify_note: note, ..Measured::default() };
            Row::new(strategy, scenario, journal, threads, &m)
        }
    }
}

/// The line a child process reports its part on.
const PART_LINE: &str = "LITEPOOL-PART ";

/// The numbers every report line carries.
const PART_FIELDS: [&str; 9] =
    ["writes", "reads", "errors", "busy", "seconds", "p50_us", "p99_us", "over_1ms", "longest_write_us"];

/// What a child process measured, as it reports it on one line.
struct PartReport {
    fields: Vec<(String, String)>,
}

impl PartReport {
    fn line(m: &Measured) -> String {
        format!(
            "{PART_LINE}writes={} reads={} errors={} busy={} seconds={:.6} p50_us={:.1} p99_us={:.1} over_1ms={} \
             longest_write_us={:.1} first_error={}",
            m.writes,
            m.reads,
            m.errors,
            m.busy,
            m.elapsed.as_secs_f64(),
            m.latency.quantile(0.5).as_secs_f64() * 1e6,
            m.latency.quantile(0.99).as_secs_f64() * 1e6,
            m.latency.over_1ms(),
            m.longest_write.as_secs_f64() * 1e6,
            m.first_error.as_deref().unwrap_or("").replace('\n', " "),
        )
    }

    fn parse(line: &str) -> Option<PartReport> {
        let (head, first_error) = line.split_once(" first_error=")?;
        let mut fields: Vec<(String, String)> = head
            .split(' ')
            .map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect::<Option<_>>()?;
        // A line cut short or garbled is no report: a missing count would
        // read as zero, and zero writes match zero rows stored.
        for key in PART_FIELDS {
            let value = fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.parse::<f64>());
            if !matches!(value, Some(Ok(v)) if v.is_finite() && v >= 0.0) {
                return None;
            }
        }
        fields.push(("first_error".into(), first_error.to_owned()));
        Some(PartReport { fields })
    }

    fn get(&self, key: &str) -> f64 {
        self.fields.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.parse().ok()).unwrap_or(f64::NAN)
    }

    fn row(&self, strategy: &str, scenario: String, journal: &str, threads: usize, stored: i64) -> Row {
        let micros = |key| Duration::from_secs_f64(self.get(key).max(0.0) / 1e6);
        let count = |key| self.get(key) as u64;
        let first_error = self.fields.iter().find(|(k, _)| k == "first_error").map(|(_, v)| v.clone());
        let mut problems = Vec::new();
        if stored as u64 != count("writes") {
            problems.push(format!("{stored} rows stored, {} acknowledged", count("writes")));
        }
        if count("errors") > 0 {
            problems.push(format!("{} operations failed ({} busy)", count("errors"), count("busy")));
        }
        Row {
            strategy: strategy.to_owned(),
            scenario,
            journal: journal.to_owned(),
            threads,
            writes: count("writes"),
            reads: count("reads"),
            errors: count("errors"),
            busy: count("busy"),
            elapsed: Duration::from_secs_f64(self.get("seconds").max(0.0)),
            p50: micros("p50_us"),
            p99: micros("p99_us"),
            over_1ms: count("over_1ms"),
            longest_write: micros("longest_write_us"),
            verified: problems.is_empty(),
            note: problems.join("; "),
            first_error: first_error.filter(|e| !e.is_empty()),
        }
    }
}

/// A child process's whole job: take part `part` in the run whose table is
/// `table`, and report what it measured on one line. The parent checks it.
fn take_part(args: &Args, table: &str, part: i64) -> ExitCode {
    let outcome = (|| {
        let path = args.db.as_deref().expect("clap requires --db with --join-run");
        let journal = args.journal.map(|j| match j {
            Journal::Wal => JournalMode::Wal,
            Journal::Delete => JournalMode::Delete,
        });
        let name = args.strategy.first().map(String::as_str);
        let strategy =
            strategy::all::<SqliteManager>().into_iter().find(|s| Some(s.name) == name).ok_or_else(|| {
                litepool::Error::new(litepool::ErrorKind::Config, "--join-run needs one --strategy")
            })?;
        let access =
            (strategy.open)(manager(args, path, journal), Sizing::pool_size(usize::from(args.pool_size)))?;
        let run = stress::join(&*access, table, part)?;
        stress::run(&*access, &run, &workload(args), &AtomicU64::new(0))
    })();
    match outcome {
        Ok(measured) => {
            println!("{}", PartReport::line(&measured));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("litepool (process {part}): {e}");
            ExitCode::FAILURE
        }
    }
}

/// An I/O error as a litepool error that says what failed.
fn io_error(what: &str, err: std::io::Error) -> litepool::Error {
    litepool::Error::new(litepool::ErrorKind::Open, format!("{what}: {err}"))
}

/// The journal mode of an existing database file, if it can be read.
fn current_journal_mode(path: &std::path::Path) -> Option<JournalMode> {
    let conn = litepool::rusqlite::Connection::open_with_flags(
        path,
        litepool::rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .ok()?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).ok()?;
    mode.eq_ignore_ascii_case("wal").then_some(JournalMode::Wal)
}

/// Runs `work`, showing a progress bar on standard error once it has taken
/// longer than a second, if standard error is a terminal and not --json.
fn with_progress<T>(
    args: &Args,
    name: &str,
    workload: &Workload,
    work: impl FnOnce(&AtomicU64) -> T + Send,
) -> T
where
    T: Send,
{
    use std::io::IsTerminal;
    let progress = AtomicU64::new(0);
    if args.json || !std::io::stderr().is_terminal() {
        return work(&progress);
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let started = Instant::now();
            let mut bar: Option<indicatif::ProgressBar> = None;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if bar.is_none() && started.elapsed() > Duration::from_secs(1) {
                    let b = match workload.duration {
                        Some(d) => indicatif::ProgressBar::new(d.as_secs()),
                        None => indicatif::ProgressBar::new(workload.ops * workload.threads as u64),
                    };
                    b.set_message(name.to_owned());
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    match workload.duration {
                        Some(_) => b.set_position(started.elapsed().as_secs()),
                        None => b.set_position(progress.load(Ordering::Relaxed)),
                    }
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        let result = work(&progress);
        done.store(true, Ordering::Relaxed);
        result
    })
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<11} {:<13} {:<7} {:>7} {:>9} {:>10} {:>10} {:>9} {:>9} {:>10} {:>6} {:>5} {:>8}",
        "strategy",
        "scenario",
        "journal",
        "threads",
        "ops",
        "writes/s",
        "reads/s",
        "p50",
        "p99",
        "max write",
        "errors",
        "busy",
        "verified"
    );
    for r in rows {
        println!(
            "{:<11} {:<13} {:<7} {:>7} {:>9} {:>10.0} {:>10.0} {:>9.1?} {:>9.1?} {:>10.1?} {:>6} {:>5} {:>8}",
            r.strategy,
            r.scenario,
            r.journal,
            r.threads,
            r.writes + r.reads + r.errors,
            per_second(r.writes, r.elapsed),
            per_second(r.reads, r.elapsed),
            r.p50,
            r.p99,
            r.longest_write,
            r.errors,
            r.busy,
            if r.verified { "yes" } else { "NO" }
        );
    }
    for r in rows.iter().filter(|r| !r.verified) {
        println!("{} / {}: NOT verified: {}", r.strategy, r.scenario, r.note);
        if let Some(e) = &r.first_error {
            println!("  first error: {e}");
        }
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn to_json(rows: &[Row]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{{\"strategy\":{},\"scenario\":{},\"journal\":{},\"threads\":{},\"writes\":{},\"reads\":{},\
                 \"errors\":{},\"busy\":{},\"seconds\":{:.6},\"writes_per_s\":{:.1},\"reads_per_s\":{:.1},\
                 \"p50_us\":{:.1},\"p99_us\":{:.1},\"over_1ms\":{},\"longest_write_us\":{:.1},\
                 \"verified\":{},\"problems\":{}}}",
                json_string(&r.strategy),
                json_string(&r.scenario),
                json_string(&r.journal),
                r.threads,
                r.writes,
                r.reads,
                r.errors,
                r.busy,
                r.elapsed.as_secs_f64(),
                per_second(r.writes, r.elapsed),
                per_second(r.reads, r.elapsed),
                r.p50.as_secs_f64() * 1e6,
                r.p99.as_secs_f64() * 1e6,
                r.over_1ms,
                r.longest_write.as_secs_f64() * 1e6,
                r.verified,
                json_string(&r.note),
            )
        })
        .collect();
    let peak = peak_resident_mib().map_or("null".to_owned(), |p| format!("{p:.1}"));
    format!("{{\"runs\":[{}],\"peak_resident_mib\":{peak}}}", items.join(","))
}

/// The process's peak resident set (VmHWM), where /proc tells it.
fn peak_resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    //! The command line's verdict: every way it could say "verified" (or
    //! exit 0) when it should not.

    use super::*;

    fn measured(writes: u64, errors: u64) -> Measured {
        Measured { writes, errors, verified: errors == 0, ..Measured::default() }
    }

    fn report(writes: u64, errors: u64) -> String {
        PartReport::line(&measured(writes, errors))
    }

    fn part(ended: (bool, &str), stdout: &str, stored: i64) -> Row {
        part_row("one", "process 1/2".into(), "wal", 4, (ended.0, ended.1.to_owned()), stdout, stored)
    }

    #[test]
    fn a_process_that_reported_matching_rows_is_verified() {
        let row = part((true, "exit status: 0"), &report(7, 0), 7);
        assert!(row.verified, "{}", row.note);
        assert_eq!(row.writes, 7);
    }

    #[test]
    fn a_process_that_never_reported_is_not_verified() {
        for stdout in ["", "some other output\n", "LITEPOOL-PART", "LITEPOOL-PART first_error="] {
            let row = part((true, "exit status: 0"), stdout, 0);
            assert!(!row.verified, "{stdout:?} was taken for a report");
            assert!(row.note.contains("without a well-formed report line"), "{}", row.note);
        }
    }

    /// A report line cut short, or with a count that is no number, would
    /// read its missing counts as zero: zero writes, zero errors, which
    /// zero rows stored would match.
    #[test]
    fn a_truncated_or_garbled_report_is_not_verified() {
        let line = report(0, 0);
        let cut = &line[..line.find(" errors=").expect("the line has errors=")];
        let garbled = line.replace("errors=0", "errors=many");
        let negative = line.replace("writes=0", "writes=-3");
        for stdout in [cut.to_owned(), garbled, negative] {
            let row = part((true, "exit status: 0"), &stdout, 0);
            assert!(!row.verified, "{stdout:?} was verified");
        }
    }

    #[test]
    fn a_process_that_failed_after_reporting_is_not_verified() {
        let row = part((false, "exit status: 1"), &report(7, 0), 7);
        assert!(!row.verified);
        assert!(row.note.contains("exited with exit status: 1"), "{}", row.note);
    }

    #[test]
    fn a_process_whose_rows_or_errors_disagree_is_not_verified() {
        let row = part((true, "exit status: 0"), &report(7, 0), 6);
        assert!(!row.verified && row.note.contains("6 rows stored, 7 acknowledged"), "{}", row.note);
        let row = part((true, "exit status: 0"), &report(7, 2), 7);
        assert!(!row.verified && row.note.contains("2 operations failed"), "{}", row.note);
    }

    #[test]
    fn one_failing_row_or_no_row_at_all_fails_the_exit_verdict() {
        let good = Row::new("one", "scaled".into(), "wal", 4, &measured(3, 0));
        let bad = Row::new("another", "scaled".into(), "wal", 4, &measured(3, 1));
        assert!(verdict(std::slice::from_ref(&good)));
        assert!(!verdict(&[good.clone(), bad.clone()]), "one strategy failing beside another passed");
        assert!(!verdict(&[bad, good]));
        assert!(!verdict(&[]), "a run of no strategy passed");
    }
}
