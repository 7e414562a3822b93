//! The stress tool (`cargo run --release`) from the outside: its exit
//! statuses, its JSON, `--processes`, and that `--db` leaves the user's
//! tables alone. The
//! strategies come from `litepool::strategies`, so a new strategy's rows are
//! checked here without an edit.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use litepool::rusqlite::Connection;
use litepool::strategy::Strategy;
use litepool::{SqliteManager, strategy};

/// Runs the stress tool with `args`. A run that has not ended after four
/// minutes (the slowest here takes seconds) is killed and fails its test:
/// a hang in litepool must fail, not stall CI until its own limit.
fn litepool(args: &[&str]) -> Output {
    use std::io::Read;
    use wait_timeout::ChildExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_litepool-stress"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the stress tool");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).expect("read the tool's output");
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let limit = Duration::from_secs(240);
    let Some(status) = child.wait_timeout(limit).expect("wait for the stress tool") else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the stress tool {args:?} ran for more than {limit:?} and was killed (a hang?)");
    };
    Output { status, stdout: stdout.join().expect("stdout"), stderr: stderr.join().expect("stderr") }
}

fn listed() -> Vec<Strategy<SqliteManager>> {
    strategy::all::<SqliteManager>()
}

/// The first listed strategy that works in any journal mode, and the first
/// that needs WAL (if any).
fn any_journal() -> &'static str {
    listed().into_iter().find(|s| !s.wal_only).expect("a strategy that works without WAL").name
}

struct TempDb(tempfile::TempDir);

impl TempDb {
    fn new() -> TempDb {
        TempDb(tempfile::tempdir().expect("create a temporary directory"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// With small numbers, every strategy's runs are verified and the table says so.
#[test]
fn a_small_run_prints_a_verified_row_per_strategy_and_scenario() {
    let out = litepool(&["--ops", "200"]);
    assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    for strategy in listed().iter().map(|s| s.name) {
        for scenario in ["tutorial", "scaled"] {
            let row = text
                .lines()
                .find(|l| l.starts_with(strategy) && l.contains(scenario))
                .unwrap_or_else(|| panic!("no {strategy}/{scenario} row in:\n{text}"));
            assert!(row.trim_end().ends_with("yes"), "not verified: {row}");
        }
    }
}

/// `--json` prints one JSON document whose runs are all verified.
#[test]
fn json_output_has_every_run_verified() {
    let out = litepool(&["--json", "--ops", "100"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.trim_start().starts_with("{\"runs\":[") && text.trim_end().ends_with('}'), "{text}");
    for strategy in listed() {
        let runs = text.matches(&format!("{{\"strategy\":\"{}\",", strategy.name)).count();
        assert_eq!(runs, 2, "{}: {runs} runs (tutorial and scaled expected) in {text}", strategy.name);
    }
    assert_eq!(text.matches("\"verified\":true").count(), 2 * listed().len(), "{text}");
    assert!(!text.contains("\"verified\":false"));
}

/// `--async` runs the scaled workload as tasks through the async facade:
/// one verified row, with every write and read counted; without WAL it
/// refuses with a clear error.
#[test]
fn async_runs_tasks_through_the_facade_and_verifies_them() {
    let out = litepool(&["--async", "--json", "--threads", "32", "--ops", "200", "--write-ratio", "0.5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert_eq!(text.matches("{\"strategy\":\"async (tasks)\",").count(), 1, "{text}");
    assert_eq!(text.matches("\"verified\":true").count(), 1, "{text}");
    assert!(text.contains("\"threads\":32"), "{text}");
    let out = litepool(&["--async", "--journal", "delete"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--async needs WAL"));
    let out = litepool(&["--async", "--processes", "2"]);
    assert_eq!(out.status.code(), Some(2), "--async with --processes is refused by the parser");
}

/// Bad flags exit with status 2 and say what is wrong.
#[test]
fn bad_flags_exit_2_with_a_clear_message() {
    let names = listed().iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
    let unknown = format!("unknown strategy \"nope\"; choose from {names}");
    for (args, expected) in [
        (vec!["--threads", "0"], "0 is not in 1..=1024"),
        (vec!["--write-ratio", "1.5"], "is not a share between 0 and 1"),
        (vec!["--strategy", "nope"], unknown.as_str()),
        (vec!["--keep"], "--db"),
        (vec!["--seconds=-1"], "is not a number of seconds"),
    ] {
        let out = litepool(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

/// An unwritable `--db` gets the core layer's error and exit status 1.
#[test]
fn an_unwritable_db_path_reports_the_open_error() {
    let db = TempDb::new();
    let path = db.path("missing/dir/x.db");
    let out = litepool(&["--db", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open database") && err.contains("check that the directory exists"), "{err}");
}

/// The tables in `path`, by name.
fn tables(path: &std::path::Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// A database of the user's, with a table named as the tool's own table
/// once was (`litepool_stress`) and one named as its tables are now.
fn users_database(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE mine (x); INSERT INTO mine VALUES (42);
         CREATE TABLE litepool_stress (note TEXT); INSERT INTO litepool_stress VALUES ('the user''s row');
         CREATE TABLE litepool_stress_1_2_3 (y); INSERT INTO litepool_stress_1_2_3 VALUES (7);",
    )
    .unwrap();
}

/// What `users_database` wrote is all there, and nothing else.
fn assert_users_data_intact(path: &std::path::Path) {
    assert_eq!(tables(path), ["litepool_stress", "litepool_stress_1_2_3", "mine"]);
    let conn = Connection::open(path).unwrap();
    let x: i64 = conn.query_row("SELECT x FROM mine", [], |r| r.get(0)).unwrap();
    let note: String = conn.query_row("SELECT note FROM litepool_stress", [], |r| r.get(0)).unwrap();
    let y: i64 = conn.query_row("SELECT y FROM litepool_stress_1_2_3", [], |r| r.get(0)).unwrap();
    assert_eq!((x, note.as_str(), y), (42, "the user's row", 7));
    let count: i64 = conn.query_row("SELECT count(*) FROM litepool_stress", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 1, "the tool wrote into the user's table");
}

/// `--db` works only in tables it creates, and drops only those: the
/// user's tables survive, even one named `litepool_stress` (the tool's
/// table before each run had its own, which a default run used and then
/// dropped), and the user's journal mode is left alone; `--keep` keeps the
/// run's tables and says which.
#[test]
fn db_mode_never_touches_a_table_it_did_not_create() {
    let db = TempDb::new();
    let path = db.path("mine.db");
    users_database(&path);
    let out = litepool(&["--db", path.to_str().unwrap(), "--ops", "100", "--strategy", any_journal()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_users_data_intact(&path);
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete", "the user's journal mode was changed");
    drop(conn);

    for wal_only in listed().into_iter().filter(|s| s.wal_only) {
        let out = litepool(&["--db", path.to_str().unwrap(), "--ops", "50", "--strategy", wal_only.name]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("skipping {}: it needs WAL", wal_only.name)),
            "{} ran on a rollback-journal database it must not switch",
            wal_only.name
        );
        // Nothing ran, so nothing was verified: not a success.
        assert!(!out.status.success() && stderr.contains("no strategy ran"), "{stderr}");
    }

    let out =
        litepool(&["--db", path.to_str().unwrap(), "--ops", "50", "--strategy", any_journal(), "--keep"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kept: Vec<String> =
        tables(&path).into_iter().filter(|t| stderr.contains(&format!("kept table {t} "))).collect();
    assert_eq!(kept.len(), 2, "the tutorial's and the scaled run's tables, named on stderr: {stderr}");
    let conn = Connection::open(&path).unwrap();
    for table in &kept {
        let rows: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap();
        assert!(rows > 0, "{table} is empty");
    }
}

/// `--processes` runs several processes on the user's file at once: every
/// process's part and the whole are verified, one row each, and the user's
/// data survives every run finishing.
#[test]
fn processes_share_one_file_and_leave_the_users_data_alone() {
    let db = TempDb::new();
    let path = db.path("shared.db");
    users_database(&path);
    for strategy in listed() {
        let out = litepool(&[
            "--db",
            path.to_str().unwrap(),
            "--journal",
            "wal",
            "--processes",
            "3",
            "--threads",
            "2",
            "--ops",
            "100",
            "--write-ratio",
            "1",
            "--strategy",
            strategy.name,
            "--json",
        ]);
        let text = stdout(&out);
        assert!(out.status.success(), "{}: {text}{}", strategy.name, String::from_utf8_lossy(&out.stderr));
        for scenario in ["process 1/3", "process 2/3", "process 3/3", "3 processes"] {
            let row = text
                .split("},{")
                .find(|r| r.contains(&format!("\"scenario\":\"{scenario}\"")))
                .unwrap_or_else(|| panic!("{}: no {scenario} row in {text}", strategy.name));
            assert!(row.contains("\"verified\":true"), "{}: {row}", strategy.name);
        }
        assert!(
            text.contains("\"writes\":600,"),
            "{}: the whole is not 3 × 2 × 100 writes: {text}",
            strategy.name
        );
        assert_users_data_intact(&path);
    }
}

/// The internal flag that makes a process take part in a run refuses a
/// table the tool did not make, with an error that says so, and writes
/// nothing.
#[test]
fn a_process_refuses_to_join_a_table_the_tool_did_not_make() {
    let db = TempDb::new();
    let path = db.path("join.db");
    users_database(&path);
    for table in
        ["mine", "litepool_stress", "litepool_stress_1_2_3; DROP TABLE mine", "litepool_stress_9_9_9"]
    {
        let out = litepool(&[
            "--db",
            path.to_str().unwrap(),
            "--strategy",
            any_journal(),
            "--join-run",
            table,
            "--part",
            "1",
        ]);
        assert_eq!(out.status.code(), Some(1), "{table}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("is not a stress run's table")
                || err.contains("does not exist or holds no preloaded rows"),
            "{table}: {err}"
        );
    }
    assert_users_data_intact(&path);
}

/// `--seconds` runs for a duration and still verifies, every strategy.
#[test]
fn a_timed_run_verifies() {
    let out = litepool(&["--seconds", "0.2", "--no-tutorial", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert_eq!(text.matches("\"verified\":true").count(), listed().len(), "{text}");
}

/// `--help` starts by saying what the tool is, not what the library is.
#[test]
fn help_starts_by_describing_the_stress_tool() {
    let out = litepool(&["--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let first = text.lines().next().unwrap_or_default();
    assert!(first.starts_with("The litepool stress tool: runs SQLite access strategies"), "{first}");
}
