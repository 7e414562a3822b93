//! The stress tool (`cargo run --release`) from the outside: its exit
//! statuses, its JSON, and that `--db` leaves the user's tables alone. The
//! strategies come from `litepool::strategies`, so a new strategy's rows are
//! checked here without an edit.

use std::path::PathBuf;
use std::process::{Command, Output};

use litepool::rusqlite::Connection;
use litepool::{SqliteManager, Strategy, strategies};

fn litepool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_litepool-stress")).args(args).output().expect("run the stress tool")
}

fn listed() -> Vec<Strategy<SqliteManager>> {
    strategies::<SqliteManager>()
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

/// `--db` works only in `litepool_stress`, drops it at the end, leaves the
/// user's own tables and journal mode alone; `--keep` keeps it.
#[test]
fn db_mode_leaves_other_tables_alone_and_drops_its_own() {
    let db = TempDb::new();
    let path = db.path("mine.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE mine (x); INSERT INTO mine VALUES (42);").unwrap();
    }
    let out = litepool(&["--db", path.to_str().unwrap(), "--ops", "100", "--strategy", any_journal()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let conn = Connection::open(&path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(tables, ["mine"]);
    let x: i64 = conn.query_row("SELECT x FROM mine", [], |r| r.get(0)).unwrap();
    assert_eq!(x, 42);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete", "the user's journal mode was changed");
    drop(conn);

    for wal_only in listed().into_iter().filter(|s| s.wal_only) {
        let out = litepool(&["--db", path.to_str().unwrap(), "--ops", "50", "--strategy", wal_only.name]);
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains(&format!("skipping {}: it needs WAL", wal_only.name)),
            "{} ran on a rollback-journal database it must not switch",
            wal_only.name
        );
    }

    let out =
        litepool(&["--db", path.to_str().unwrap(), "--ops", "50", "--strategy", any_journal(), "--keep"]);
    assert!(out.status.success());
    let conn = Connection::open(&path).unwrap();
    let kept: i64 = conn.query_row("SELECT COUNT(*) FROM litepool_stress", [], |r| r.get(0)).unwrap();
    assert!(kept > 0);
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
