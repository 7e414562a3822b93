//! The litepool stress tool: `cargo run --release`.
//!
//! With no arguments it runs, for every strategy, on a temporary database:
//! the tutorial's scenario (10 threads each insert one row, then 5 threads
//! count), then a scaled workload (4 threads × 5,000 operations, 10 %
//! writes). Every run is verified (rows stored = writes acknowledged,
//! `integrity_check`, no errors) and timed; one table at the end. The exit
//! status is 1 if any run fails verification, 2 for bad flags (clap's
//! convention). Point it at your own setup with `--db`, `--threads`,
//! `--write-ratio`, `--journal`, `--seconds`; `--json` for scripts.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use litepool::stress::{self, Measured, Workload};
use litepool::{AccessExt, JournalMode, Result, Sizing, SqliteManager, strategies};

/// Stress-tests SQLite access strategies from many threads and verifies
/// the result: the tutorial's scenario, then a scaled read/write workload.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Use this database file instead of a temporary one. litepool works only
    /// in its own table, `litepool_stress`, and drops it at the end unless
    /// --keep. Its journal mode is left alone unless --journal is given.
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,

    /// Keep the `litepool_stress` table in --db at the end.
    #[arg(long, requires = "db")]
    keep: bool,

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

    /// Connections in each pool.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pool_size: u16,

    /// Run the scaled workload for this many seconds instead of --ops.
    #[arg(long, value_parser = seconds)]
    seconds: Option<f64>,

    /// Skip the tutorial's scenario; run only the scaled workload.
    #[arg(long)]
    no_tutorial: bool,

    /// Print results as JSON on standard output (no table, no progress bar).
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Journal {
    Wal,
    Delete,
}

fn strategy_name(name: &str) -> std::result::Result<String, String> {
    let names: Vec<_> = strategies::<SqliteManager>().iter().map(|s| s.name).collect();
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
struct Row {
    strategy: String,
    scenario: &'static str,
    journal: String,
    threads: usize,
    measured: Measured,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(rows) => {
            let all_verified = rows.iter().all(|r| r.measured.verified);
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
    let workload = Workload {
        threads: usize::from(args.threads),
        ops: args.ops,
        duration: args.seconds.map(Duration::from_secs_f64),
        write_ratio: args.write_ratio,
    };

    let mut rows = Vec::new();
    for strategy in strategies::<SqliteManager>() {
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
        let mut manager = SqliteManager::file(&path);
        manager = match journal {
            Some(mode) => manager.journal_mode(mode),
            None => manager.keep_journal_mode(),
        };
        let access = (strategy.open)(manager, Sizing::pool_size(usize::from(args.pool_size)))?;
        let journal_name: String =
            access.read(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))?;
        let mut push = |scenario, threads, measured| {
            rows.push(Row {
                strategy: strategy.name.to_owned(),
                scenario,
                journal: journal_name.clone(),
                threads,
                measured,
            })
        };
        if !args.no_tutorial {
            let run = stress::prepare(&*access)?;
            push("tutorial", 10, stress::tutorial(&*access, run)?);
        }
        let run = stress::prepare(&*access)?;
        let measured = with_progress(args, strategy.name, &workload, |progress| {
            stress::run(&*access, run, &workload, progress)
        })?;
        push("scaled", workload.threads, measured);
        if args.db.is_some() && !args.keep {
            stress::drop_table(&*access)?;
        }
    }
    Ok(rows)
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
        "{:<11} {:<9} {:<7} {:>7} {:>9} {:>10} {:>10} {:>9} {:>9} {:>6} {:>8}",
        "strategy",
        "scenario",
        "journal",
        "threads",
        "ops",
        "writes/s",
        "reads/s",
        "p50",
        "p99",
        "errors",
        "verified"
    );
    for r in rows {
        let m = &r.measured;
        println!(
            "{:<11} {:<9} {:<7} {:>7} {:>9} {:>10.0} {:>10.0} {:>9.1?} {:>9.1?} {:>6} {:>8}",
            r.strategy,
            r.scenario,
            r.journal,
            r.threads,
            m.writes + m.reads + m.errors,
            per_second(m.writes, m.elapsed),
            per_second(m.reads, m.elapsed),
            m.latency.quantile(0.5),
            m.latency.quantile(0.99),
            m.errors,
            if m.verified { "yes" } else { "NO" }
        );
    }
    for r in rows.iter().filter(|r| !r.measured.verified) {
        println!("{} / {}: NOT verified: {}", r.strategy, r.scenario, r.measured.verify_note);
        if let Some(e) = &r.measured.first_error {
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
            let m = &r.measured;
            format!(
                "{{\"strategy\":{},\"scenario\":{},\"journal\":{},\"threads\":{},\"writes\":{},\"reads\":{},\
                 \"errors\":{},\"seconds\":{:.6},\"writes_per_s\":{:.1},\"reads_per_s\":{:.1},\
                 \"p50_us\":{:.1},\"p99_us\":{:.1},\"over_1ms\":{},\"verified\":{},\"problems\":{}}}",
                json_string(&r.strategy),
                json_string(r.scenario),
                json_string(&r.journal),
                r.threads,
                m.writes,
                m.reads,
                m.errors,
                m.elapsed.as_secs_f64(),
                per_second(m.writes, m.elapsed),
                per_second(m.reads, m.elapsed),
                m.latency.quantile(0.5).as_secs_f64() * 1e6,
                m.latency.quantile(0.99).as_secs_f64() * 1e6,
                m.latency.over_1ms(),
                m.verified,
                json_string(&m.verify_note),
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
