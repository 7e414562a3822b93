//! Randomized multi-threaded workloads against real SQLite files.
//!
//! proptest draws a strategy (from `litepool::strategy::all`, so a new strategy
//! joins by its one line there), a pool size, a journal mode and 1 to 8
//! threads, each with its own list of operations. The threads run at once
//! on a fresh database file; afterwards the case checks, in the spirit of
//! SQLite's `threadtest3`:
//!
//! * no error but the ones `Fail` asks for (and, for a strategy that
//!   batches writes, `Aborted` for the writes batched with a `Fail(Full)`,
//!   which makes SQLite roll the whole transaction back);
//! * the rows in the table are exactly the rows acknowledged: nothing lost,
//!   nothing doubled, nothing from a failed or abandoned transaction;
//! * `PRAGMA integrity_check` says `ok`;
//! * every connection is back (`state()`);
//! * every `Count` lies between the rows acknowledged before it started and
//!   the rows whose inserts had begun before it ended, and each thread's
//!   counts never decrease.
//!
//! Seeds of failures go to `proptest-regressions/workload.txt`.

mod support;

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::sync::atomic::{AtomicI64, Ordering};

use litepool::strategy::Sizing;
use litepool::{AccessExt, ErrorKind, JournalMode, SqliteManager, strategy};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rusqlite::Connection;
use support::{Sqlite, TempDb, integrity_check};

/// One operation of one thread.
#[derive(Clone, Debug)]
enum Op {
    /// One row, in its own write transaction.
    Insert(i64),
    /// Several rows in one write transaction.
    InsertBatch(Vec<i64>),
    /// `SELECT COUNT(*)` on the read path.
    Count,
    /// Inside one write transaction: read the count, then insert a row.
    ReadThenWrite(i64),
    /// A write that inserts a row and then fails; nothing of it may remain.
    Fail(Failure),
    /// On the read path: `BEGIN` and an insert (a count, on a read-only
    /// connection), and return without committing, as a careless caller
    /// would; the strategy must roll it back.
    Abandon(i64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Failure {
    InvalidSql,
    Constraint,
    /// A write past `PRAGMA max_page_count`: `SQLITE_FULL`, after which
    /// SQLite rolls back the whole transaction, not just the statement.
    Full,
}

#[derive(Clone, Copy, Debug)]
enum Journal {
    Wal,
    Delete,
}

#[derive(Clone, Debug)]
struct Case {
    strategy: usize,
    pool_size: usize,
    journal: Journal,
    threads: Vec<Vec<Op>>,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<i64>().prop_map(Op::Insert),
        2 => prop::collection::vec(any::<i64>(), 1..5).prop_map(Op::InsertBatch),
        3 => Just(Op::Count),
        2 => any::<i64>().prop_map(Op::ReadThenWrite),
        1 => prop_oneof![Just(Failure::InvalidSql), Just(Failure::Constraint), Just(Failure::Full)]
            .prop_map(Op::Fail),
        1 => any::<i64>().prop_map(Op::Abandon),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        0..strategy::all::<SqliteManager>().len(),
        1usize..=4,
        prop_oneof![Just(Journal::Wal), Just(Journal::Delete)],
        prop::collection::vec(prop::collection::vec(op(), 0..16), 1..=8),
    )
        .prop_map(|(strategy, pool_size, journal, threads)| Case {
            strategy,
            pool_size,
            journal,
            threads,
        })
}

/// A row's identity: (thread, operation, row within the operation).
type RowKey = (i64, i64, i64);

/// What one thread saw.
#[derive(Default)]
struct Outcome {
    acknowledged: Vec<RowKey>,
    /// (rows acknowledged before the count began, count, rows begun before it ended)
    counts: Vec<(i64, i64, i64)>,
    errors: Vec<String>,
    /// Writes that failed `Aborted`: batched with a write that made SQLite
    /// roll the whole transaction back.
    aborted: usize,
}

/// Counters shared by the threads of one case.
struct Progress {
    /// Rows whose insert has begun (an upper bound on what any count sees).
    begun: AtomicI64,
    /// Rows whose write transaction has committed.
    acknowledged: AtomicI64,
}

fn insert_row(c: &Connection, key: RowKey, value: i64) -> litepool::Result<()> {
    c.prepare_cached("INSERT INTO items (thread, op, row, value) VALUES (?1, ?2, ?3, ?4)")?
        .execute((key.0, key.1, key.2, value))?;
    Ok(())
}

fn count(c: &Connection) -> litepool::Result<i64> {
    Ok(c.prepare_cached("SELECT COUNT(*) FROM items")?.query_row([], |r| r.get(0))?)
}

/// Runs one thread's operations and records what it saw.
fn run_thread(
    access: &Sqlite,
    thread: i64,
    ops: &[Op],
    progress: &Progress,
    batches_writes: bool,
) -> Outcome {
    let mut out = Outcome::default();
    for (i, op) in ops.iter().enumerate() {
        let key = |row: usize| (thread, i as i64, row as i64);
        // Rows written (and so to acknowledge) if the operation succeeds.
        let writes = |rows: usize| {
            progress.begun.fetch_add(rows as i64, Ordering::SeqCst);
            rows
        };
        let result: Result<Vec<RowKey>, litepool::Error> = match op {
            Op::Insert(value) => {
                writes(1);
                access.write(|c| insert_row(c, key(0), *value)).map(|()| vec![key(0)])
            }
            Op::InsertBatch(values) => {
                writes(values.len());
                access
                    .write(|c| values.iter().enumerate().try_for_each(|(r, v)| insert_row(c, key(r), *v)))
                    .map(|()| (0..values.len()).map(key).collect())
            }
            Op::ReadThenWrite(value) => {
                writes(1);
                access
                    .write(|c| {
                        let seen = count(c)?;
                        insert_row(c, key(0), value.wrapping_add(seen))
                    })
                    .map(|()| vec![key(0)])
            }
            Op::Count => {
                let before = progress.acknowledged.load(Ordering::SeqCst);
                let result = access.read(count);
                let begun = progress.begun.load(Ordering::SeqCst);
                result.map(|n| {
                    out.counts.push((before, n, begun));
                    vec![]
                })
            }
            Op::Fail(failure) => {
                writes(1);
                let result = access.write(|c| {
                    insert_row(c, key(0), 0)?;
                    match failure {
                        Failure::InvalidSql => c.execute("INSRT INTO items VALUES (1)", [])?,
                        Failure::Constraint => c.execute(
                            "INSERT INTO items (thread, op, row, value) VALUES (?1, ?2, ?3, 0)",
                            (key(0).0, key(0).1, key(0).2),
                        )?,
                        Failure::Full => overflow(c)?,
                    };
                    Ok(())
                });
                let expected = match failure {
                    Failure::InvalidSql => ErrorKind::Sql,
                    Failure::Constraint => ErrorKind::Constraint,
                    Failure::Full => ErrorKind::Full,
                };
                match result {
                    Err(e) if e.kind() == expected => Ok(vec![]),
                    Err(e) => Err(e),
                    Ok(()) => {
                        out.errors.push(format!("op {i}: {failure:?} succeeded"));
                        Ok(vec![])
                    }
                }
            }
            Op::Abandon(value) => {
                writes(1);
                access
                    .read(|c| {
                        c.execute_batch("BEGIN")?;
                        // A read-only connection (split's readers) abandons
                        // a read transaction; any other one, a write. (Not
                        // both: a deferred read that then writes may fail
                        // with SQLITE_BUSY at once, claim C5.)
                        if c.is_readonly(rusqlite::MAIN_DB)? {
                            count(c).map(drop)
                        } else {
                            insert_row(c, key(0), *value)
                        }
                    })
                    .map(|()| vec![])
            }
        };
        match result {
            Ok(keys) => {
                progress.acknowledged.fetch_add(keys.len() as i64, Ordering::SeqCst);
                out.acknowledged.extend(keys);
            }
            Err(e) if e.is_aborted() && batches_writes => out.aborted += 1,
            Err(e) => out.errors.push(format!("op {i} {op:?}: {e}")),
        }
    }
    out
}

/// Fills the database past a `max_page_count` set just above its size, and
/// sets the limit back (it belongs to the connection, which others use next)
/// before returning SQLite's `SQLITE_FULL`.
fn overflow(c: &Connection) -> litepool::Result<usize> {
    let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let default: i64 = c.query_row("PRAGMA max_page_count", [], |r| r.get(0))?;
    c.query_row(&format!("PRAGMA max_page_count = {}", pages + 1), [], |r| r.get::<_, i64>(0))?;
    let full = c.execute("INSERT INTO filler VALUES (zeroblob(1000000))", []);
    c.query_row(&format!("PRAGMA max_page_count = {default}"), [], |r| r.get::<_, i64>(0))?;
    Ok(full?)
}

/// Runs `case` and returns a description of everything that went wrong.
fn run_case(case: &Case) -> Vec<String> {
    let db = TempDb::new();
    let path = db.path("workload.db");
    let strategy = &strategy::all::<SqliteManager>()[case.strategy];
    let journal = match case.journal {
        Journal::Delete if !strategy.wal_only => JournalMode::Delete,
        _ => JournalMode::Wal,
    };
    let access =
        (strategy.open)(SqliteManager::file(&path).journal_mode(journal), Sizing::pool_size(case.pool_size))
            .expect("open the strategy");
    access
        .write(|c| {
            Ok(c.execute_batch(
                "CREATE TABLE items (id INTEGER PRIMARY KEY, thread INTEGER NOT NULL, op INTEGER NOT NULL,
                 row INTEGER NOT NULL, value INTEGER NOT NULL, UNIQUE (thread, op, row));
                 CREATE TABLE filler (data BLOB);",
            )?)
        })
        .expect("create the table");

    let progress = Progress { begun: AtomicI64::new(0), acknowledged: AtomicI64::new(0) };
    let start = Barrier::new(case.threads.len());
    let outcomes: Vec<std::thread::Result<Outcome>> = std::thread::scope(|s| {
        let handles: Vec<_> = case
            .threads
            .iter()
            .enumerate()
            .map(|(t, ops)| {
                let (access, progress, start) = (&*access, &progress, &start);
                let batches_writes = strategy.batches_writes;
                s.spawn(move || {
                    start.wait();
                    run_thread(access, t as i64, ops, progress, batches_writes)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });

    let mut problems = Vec::new();
    let mut acknowledged = BTreeSet::new();
    let mut aborted = 0;
    for (t, outcome) in outcomes.into_iter().enumerate() {
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                problems.push(format!("thread {t} panicked: {message}"));
                continue;
            }
        };
        problems.extend(outcome.errors.iter().map(|e| format!("thread {t}: {e}")));
        aborted += outcome.aborted;
        for key in outcome.acknowledged {
            if !acknowledged.insert(key) {
                problems.push(format!("row {key:?} acknowledged twice"));
            }
        }
        for &(before, n, begun) in &outcome.counts {
            if !(before..=begun).contains(&n) {
                problems.push(format!("thread {t} counted {n}, outside [{before}, {begun}]"));
            }
        }
        if outcome.counts.windows(2).any(|w| w[1].1 < w[0].1) {
            problems.push(format!("thread {t}'s counts went down: {:?}", outcome.counts));
        }
    }
    let fills = case.threads.iter().flatten().any(|op| matches!(op, Op::Fail(Failure::Full)));
    if aborted > 0 && !fills {
        problems.push(format!("{aborted} writes aborted, but no write filled the database"));
    }
    let state = access.state();
    if state.in_use != 0 || state.waiting != 0 {
        problems.push(format!("not every connection came back: {state:?}"));
    }
    access.close();
    drop(access);

    let check = Connection::open(&path).expect("reopen");
    let mut stmt = check.prepare("SELECT thread, op, row FROM items").unwrap();
    let rows: Vec<RowKey> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    let stored: BTreeSet<RowKey> = rows.iter().copied().collect();
    if rows.len() != acknowledged.len() {
        problems.push(format!("{} rows stored, {} acknowledged", rows.len(), acknowledged.len()));
    }
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    let extra: Vec<_> = stored.difference(&acknowledged).collect();
    if !lost.is_empty() {
        problems.push(format!("acknowledged rows lost: {lost:?}"));
    }
    if !extra.is_empty() {
        problems.push(format!("rows stored but never acknowledged: {extra:?}"));
    }
    let integrity = integrity_check(&path);
    if integrity != "ok" {
        problems.push(format!("integrity_check: {integrity}"));
    }
    problems
}

fn config() -> ProptestConfig {
    // PROPTEST_CASES raises the count (.ci/run uses 256); 64 by default.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    ProptestConfig {
        cases,
        // A race that fails once may pass on a rerun: do not shrink forever.
        max_shrink_iters: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/workload.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Concurrent workloads on every strategy, WAL and rollback journal,
    /// lose nothing acknowledged, keep nothing unacknowledged, leave the
    /// file intact and every connection returned, and readers see counts
    /// consistent with the writes around them.
    #[test]
    fn concurrent_workloads_keep_exactly_the_acknowledged_rows(case in case()) {
        let problems = run_case(&case);
        prop_assert!(
            problems.is_empty(),
            "strategy {}, pool size {}, {:?}:\n{}",
            strategy::all::<SqliteManager>()[case.strategy].name,
            case.pool_size,
            case.journal,
            problems.join("\n")
        );
    }
}
