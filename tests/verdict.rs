//! The stress engine's verdict, tested like the library: every way a run
//! could be called verified when it should not be. Each test runs the real
//! engine (`litepool::stress`) through a strategy that lies in one way (it
//! acknowledges a write it never ran, runs one twice, fails an operation,
//! shows a reader too few rows) or on a table someone else wrote into, and
//! asserts that the run is *not* verified and that the note says why. The
//! command line's own verdict (processes that never report, one strategy
//! failing beside another) is tested in `stress/`.

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use litepool::strategy::{ReadWork, WriteWork};
use litepool::stress::{self, Workload};
use litepool::{Access, AccessExt, Locked, Result, SqliteManager, State};
use rusqlite::Connection;
use support::TempDb;

/// How a [`Liar`] lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lie {
    /// Tells the truth: the control.
    None,
    /// Every fifth write returns Ok without running its work.
    AcknowledgesUnrun,
    /// Every fifth write runs its work twice.
    RunsTwice,
    /// Every fifth write fails without running.
    FailsSome,
    /// Every fifth write panics.
    Panics,
    /// Reads run against a snapshot taken before any write (a reader that
    /// sees too few rows).
    StaleReads,
}

/// A strategy over `Locked` that lies as `lie` says.
struct Liar {
    inner: Locked<SqliteManager>,
    lie: Lie,
    writes: AtomicU64,
    /// A connection holding an old snapshot, for `StaleReads`.
    stale: Mutex<Option<Connection>>,
}

impl Liar {
    fn open(db: &TempDb, lie: Lie) -> Liar {
        let inner = Locked::open(db.manager("verdict.db")).expect("open");
        Liar { inner, lie, writes: AtomicU64::new(0), stale: Mutex::new(None) }
    }
}

impl Access for Liar {
    type Connection = Connection;

    fn name(&self) -> &str {
        "liar"
    }

    fn read_with(&self, work: ReadWork<'_, Connection>) -> Result<()> {
        match (&*self.stale.lock().unwrap(), self.lie) {
            (Some(stale), Lie::StaleReads) => work(stale),
            _ => self.inner.read_with(work),
        }
    }

    fn write_with(&self, work: WriteWork<'_, Connection>) -> Result<()> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        match self.lie {
            Lie::AcknowledgesUnrun if n % 5 == 4 => Ok(()),
            Lie::Panics if n % 5 == 4 => panic!("planted panic in a strategy"),
            Lie::FailsSome if n % 5 == 4 => {
                Err(litepool::Error::new(litepool::ErrorKind::Sql, "planted failure"))
            }
            Lie::RunsTwice if n % 5 == 4 => {
                self.inner.write_with(work)?;
                self.inner.write_with(work)
            }
            _ => self.inner.write_with(work),
        }
    }

    fn state(&self) -> State {
        self.inner.state()
    }

    fn close(&self) {
        self.inner.close();
    }
}

fn workload() -> Workload {
    Workload { threads: 4, ops: 100, duration: None, write_ratio: 0.5 }
}

/// Runs the scaled workload through a liar; returns the verdict and note.
fn scaled(lie: Lie) -> (bool, String) {
    let db = TempDb::new();
    let liar = Liar::open(&db, lie);
    let run = stress::prepare(&liar).expect("prepare");
    let measured = stress::run(&liar, &run, &workload(), &AtomicU64::new(0)).expect("the run completes");
    (measured.verified, measured.verify_note)
}

#[test]
fn an_honest_strategy_is_verified() {
    let (verified, note) = scaled(Lie::None);
    assert!(verified, "{note}");
}

#[test]
fn a_write_acknowledged_but_never_run_is_not_verified() {
    let (verified, note) = scaled(Lie::AcknowledgesUnrun);
    assert!(!verified, "a lost write passed");
    assert!(note.contains("returned Ok for a write whose work ran 0 times"), "{note}");
}

#[test]
fn a_write_run_twice_is_not_verified() {
    let (verified, note) = scaled(Lie::RunsTwice);
    assert!(!verified, "a doubled write passed");
    assert!(note.contains("rows stored") && note.contains("work ran 2 times"), "{note}");
}

#[test]
fn an_operation_that_failed_is_not_verified() {
    let (verified, note) = scaled(Lie::FailsSome);
    assert!(!verified, "a run with failed writes passed");
    assert!(note.contains("operations failed (the first: planted failure)"), "{note}");
}

/// A strategy that panics is a failed operation in the verdict, not a
/// panic of the stress tool's own.
#[test]
fn a_strategy_that_panics_is_not_verified() {
    let (verified, note) = scaled(Lie::Panics);
    assert!(!verified, "a panicking strategy passed");
    assert!(note.contains("the strategy panicked during a write: planted panic in a strategy"), "{note}");
}

/// Rows this run's part did not write, found in its table, fail the check;
/// rows of another part (another process of the run) do not count.
#[test]
fn rows_counted_from_elsewhere_are_not_verified() {
    let db = TempDb::new();
    let access = Locked::open(db.manager("verdict.db")).expect("open");
    let run = stress::prepare(&access).expect("prepare");
    // Another part's rows: not this part's to count.
    access
        .write(|c| {
            Ok(c.execute_batch(&format!(
                "INSERT INTO {t} (part, thread, value) VALUES (7, 0, 1), (7, 1, 2)",
                t = run.table
            ))?)
        })
        .unwrap();
    let measured = stress::run(&access, &run, &workload(), &AtomicU64::new(0)).unwrap();
    assert!(measured.verified, "another part's rows were counted: {}", measured.verify_note);
    // This part's rows written outside the run: the count no longer matches.
    access
        .write(|c| {
            Ok(c.execute_batch(&format!(
                "INSERT INTO {t} (part, thread, value) VALUES (0, 0, 1)",
                t = run.table
            ))?)
        })
        .unwrap();
    let measured = stress::run(&access, &run, &workload(), &AtomicU64::new(0)).unwrap();
    assert!(!measured.verified, "a row the run never wrote was counted as its own");
    // Two runs in one file are apart: a fresh run is verified again.
    let fresh = stress::prepare(&access).expect("prepare");
    let measured = stress::run(&access, &fresh, &workload(), &AtomicU64::new(0)).unwrap();
    assert!(measured.verified, "{}", measured.verify_note);
}

/// The tutorial scenario: counting threads that see fewer than the ten
/// rows fail it, even though every write was acknowledged and stored.
#[test]
fn the_tutorial_with_a_stale_reader_is_not_verified() {
    let db = TempDb::new();
    let liar = Liar::open(&db, Lie::StaleReads);
    let run = stress::prepare(&liar).expect("prepare");
    let stale = Connection::open(db.path("verdict.db")).unwrap();
    stale.execute_batch("BEGIN").unwrap();
    let before: i64 = stale
        .query_row(&format!("SELECT count(*) FROM {}", run.table), [], |r| r.get(0))
        .expect("a snapshot");
    assert!(before > 0);
    *liar.stale.lock().unwrap() = Some(stale);
    let measured = stress::tutorial(&liar, &run).expect("the tutorial runs");
    assert!(!measured.verified, "counts that missed rows passed");
    assert!(measured.verify_note.contains("saw 0 rows, not 10"), "{}", measured.verify_note);
    let honest = Liar::open(&db, Lie::None);
    let run = stress::prepare(&honest).expect("prepare");
    let measured = stress::tutorial(&honest, &run).expect("the tutorial runs");
    assert!(measured.verified, "{}", measured.verify_note);
}
