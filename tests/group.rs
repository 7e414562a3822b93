//! Group commit on real SQLite files: what one caller's work can do to the
//! others batched with it. Each test makes a batch deterministically: the
//! first writer's work waits until a second writer is queued behind it, so
//! the open transaction is handed to the second, which runs in litepool's
//! savepoint; the first hears its outcome only at the batch's COMMIT.
//!
//! The loom models (`tests/loom_group.rs`) explore every interleaving of
//! the same logic over a fake connection; these check what only SQLite
//! does: the authorizer that seals the connection, `SQLITE_FULL` rolling
//! the whole transaction back, and the messages a caller reads.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread;
use std::time::Duration;

use litepool::strategy::Manager;
use litepool::{Access, AccessExt, GroupCommit, SqliteManager, Synchronous};
use rusqlite::Connection;
use support::counting::{Callback, Counting, assert_told_seal_not_removed};
use support::{PanickyExplain, TempDb, fill_the_database, integrity_check, item_ids, wait_until, within};

fn open(db: &TempDb) -> GroupCommit<SqliteManager> {
    let group =
        GroupCommit::builder().readers(2).open(db.manager("group.db")).expect("open the group strategy");
    assert_eq!(group.batch_cap(), litepool::GroupCommit::<litepool::SqliteManager>::DEFAULT_BATCH_CAP);
    group
        .write(|c| {
            Ok(c.execute_batch(
                "CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL);
                 CREATE TABLE filler (data BLOB);",
            )?)
        })
        .expect("create the tables");
    group
}

fn insert(c: &Connection, id: i64) -> litepool::Result<()> {
    c.execute("INSERT INTO items (id, value) VALUES (?1, 0)", [id])?;
    Ok(())
}

/// Runs `first` (which inserts row 1) and `second` as one batch: `first`'s
/// work waits until `second`'s caller is queued, then returns. Returns both
/// results; a panic in `second` is returned as its result's error text.
fn batch(
    group: &GroupCommit<SqliteManager>,
    second: impl FnOnce(&Connection) -> litepool::Result<()> + Send,
) -> (litepool::Result<()>, Result<litepool::Result<()>, String>) {
    batch_of(group, |c| insert(c, 1), second)
}

/// Runs `first` and `second` as one batch, as [`batch`] does, with the
/// first write's work given too.
fn batch_of<M: Manager>(
    group: &GroupCommit<M>,
    first: impl FnOnce(&M::Connection) -> litepool::Result<()> + Send,
    second: impl FnOnce(&M::Connection) -> litepool::Result<()> + Send,
) -> (litepool::Result<()>, Result<litepool::Result<()>, String>) {
    thread::scope(|s| {
        let first = s.spawn(|| {
            group.write(|c| {
                first(c)?;
                wait_until("the second writer to queue behind the first", || group.state().waiting >= 1);
                Ok(())
            })
        });
        wait_until("the first write to hold the writer", || group.state().in_use >= 1);
        let second = catch_unwind(AssertUnwindSafe(|| group.write(second)))
            .map_err(|panic| support::panic_message(&*panic).to_owned());
        (first.join().expect("the first writer does not panic"), second)
    })
}

#[test]
fn a_failing_write_in_a_batch_undoes_its_rows_alone() {
    let db = TempDb::new();
    let group = open(&db);
    let (first, second) = batch(&group, |c| {
        insert(c, 2)?;
        insert(c, 1) // a duplicate key: fails
    });
    first.expect("the first write commits");
    assert!(second.expect("no panic").is_err_and(|e| e.is_constraint()));
    assert_eq!(item_ids(&db.path("group.db")), [1], "the failed write's row 2 was kept");
    assert_eq!(integrity_check(&db.path("group.db")), "ok");
}

#[test]
fn a_panicking_write_in_a_batch_resumes_in_its_thread_and_the_others_commit() {
    let db = TempDb::new();
    let group = open(&db);
    let (first, second) = batch(&group, |c| {
        insert(c, 2)?;
        panic!("planted panic in a batched write");
    });
    first.expect("the first write commits");
    assert_eq!(second.expect_err("the panic resumes in its caller"), "planted panic in a batched write");
    assert_eq!(item_ids(&db.path("group.db")), [1]);
    group.write(|c| insert(c, 3)).expect("the strategy goes on");
    assert_eq!(item_ids(&db.path("group.db")), [1, 3]);
}

/// What the seal refuses, as the message names it.
const REFUSED: &str = "refuses BEGIN, COMMIT and ROLLBACK";

/// Statements that would end the shared transaction, or undo rows that are
/// not the work's own.
/// (A savepoint of litepool's name would be the one litepool's `ROLLBACK
/// TO` undoes if the write fails, leaving the write's earlier rows in.)
const ENDING: [&str; 9] = [
    "COMMIT",
    "END",
    "ROLLBACK",
    "BEGIN",
    "RELEASE litepool_group_member_5f2c",
    "ROLLBACK TO litepool_group_member_5f2c",
    "RELEASE SAVEPOINT LITEPOOL_GROUP_MEMBER_5F2C",
    "SAVEPOINT litepool_group_member_5f2c",
    "SAVEPOINT Litepool_Group_Member_5F2C",
];

/// Asserts that a batched write which ran `statement` was refused with a
/// message that says why.
fn assert_refused(statement: &str, second: Result<litepool::Result<()>, String>) {
    let e = second.expect("no panic").expect_err(statement);
    assert!(e.to_string().contains(REFUSED), "{statement}: {e}");
}

/// Runs `statement` through the statement cache in the second write of a
/// batch (the first inserts row 1): it is refused, and only row 1 is
/// stored.
fn assert_a_batched_statement_is_refused(db: &TempDb, group: &GroupCommit<SqliteManager>, statement: &str) {
    assert_refused_after(db, group, |c| insert(c, 1), statement);
}

/// As [`assert_a_batched_statement_is_refused`], with the batch's first
/// write given (it must store row 1 and nothing else).
fn assert_refused_after(
    db: &TempDb,
    group: &GroupCommit<SqliteManager>,
    first: impl FnOnce(&Connection) -> litepool::Result<()> + Send,
    statement: &str,
) {
    let (first, second) = batch_of(group, first, |c| {
        insert(c, 2)?;
        c.prepare_cached(statement)?.execute([])?;
        Ok(())
    });
    first.unwrap_or_else(|e| panic!("{statement}: the first write failed: {e}"));
    assert_refused(statement, second);
    assert_eq!(item_ids(&db.path("group.db")), [1], "{statement}");
}

/// The connection is sealed while a batched write runs: its COMMIT (even a
/// statement cached before) is refused, with a message that says why, and
/// commits nobody's rows early.
#[test]
fn a_batched_write_cannot_commit_or_roll_back_the_shared_transaction() {
    for statement in ENDING {
        let db = TempDb::new();
        let group = open(&db);
        assert_a_batched_statement_is_refused(&db, &group, statement);
    }
}

/// The bug issue 21 reports: after one batch, litepool's own `COMMIT` (and
/// `ROLLBACK`, `RELEASE`, `ROLLBACK TO` of its savepoint) sits in the
/// connection's statement cache, prepared while the connection was not
/// sealed, and SQLite asks the authorizer only when it prepares. A batched
/// write that ran `prepare_cached("COMMIT")` got litepool's statement and
/// committed the batch so far; the first member was then told `Aborted`,
/// "retrying it is safe", with its row stored. Several batches in a row,
/// each statement through the cache.
#[test]
fn a_cached_commit_cannot_end_a_batch_after_an_earlier_batch() {
    for statement in ENDING {
        let db = TempDb::new();
        let group = open(&db);
        let mut stored = Vec::new();
        for round in 0..4 {
            let (one, two) = (10 * round + 1, 10 * round + 2);
            let (first, second) = batch_of(
                &group,
                |c| insert(c, one),
                |c| {
                    insert(c, two)?;
                    c.prepare_cached(statement)?.execute([])?;
                    Ok(())
                },
            );
            first.unwrap_or_else(|e| panic!("{statement}, batch {round}: the first write failed: {e}"));
            assert_refused(statement, second);
            stored.push(one);
            assert_eq!(item_ids(&db.path("group.db")), stored, "{statement}, batch {round}");
        }
        assert_eq!(integrity_check(&db.path("group.db")), "ok");
    }
}

/// A statement the work itself cached in an earlier write, alone and not
/// sealed, is prepared again under the seal when a batched write runs it.
#[test]
fn a_statement_the_work_cached_before_is_refused_in_a_batch() {
    for statement in ENDING {
        let db = TempDb::new();
        let group = open(&db);
        group
            .write(|c| {
                c.prepare_cached(statement)?;
                Ok(())
            })
            .expect("caching a statement writes nothing");
        assert_a_batched_statement_is_refused(&db, &group, statement);
    }
}

/// A savepoint the first write of a batch left open is not the next
/// write's to release or roll back to: either would reach past the
/// batched write's own rows. Its own savepoints it may use freely.
#[test]
fn a_batched_write_may_end_only_its_own_savepoints() {
    for statement in ["RELEASE left_open", "ROLLBACK TO left_open"] {
        let db = TempDb::new();
        let group = open(&db);
        let leave_open = |c: &Connection| {
            c.execute_batch("SAVEPOINT left_open")?;
            insert(c, 1)
        };
        assert_refused_after(&db, &group, leave_open, statement);
    }
    let db = TempDb::new();
    let group = open(&db);
    let (first, second) = batch(&group, |c| {
        c.execute_batch("SAVEPOINT mine")?;
        insert(c, 2)?;
        c.execute_batch("ROLLBACK TO mine; RELEASE mine; SAVEPOINT again")?;
        insert(c, 3)?;
        c.prepare_cached("RELEASE again")?.execute([])?;
        Ok(())
    });
    first.expect("the first write commits");
    second.expect("no panic").expect("a write may use savepoints of its own");
    assert_eq!(item_ids(&db.path("group.db")), [1, 3]);
}

/// A batch's writes' work, each a boxed closure.
type Works<'a> = Vec<Box<dyn FnOnce(&Connection) -> litepool::Result<()> + Send + 'a>>;

/// Runs `works` as one batch, in their order: the first write's work waits
/// until all the others are queued behind it, each queued before the next
/// starts. Returns each one's result.
fn batch_in_order(group: &GroupCommit<SqliteManager>, works: Works<'_>) -> Vec<litepool::Result<()>> {
    let others = works.len() - 1;
    let mut works = works.into_iter();
    let first = works.next().expect("a batch has a first write");
    thread::scope(|s| {
        let mut handles = vec![s.spawn(|| {
            group.write(|c| {
                first(c)?;
                wait_until("the other writers to queue", || group.state().waiting >= others);
                Ok(())
            })
        })];
        wait_until("the first write to hold the writer", || group.state().in_use >= 1);
        for (queued, work) in works.enumerate() {
            handles.push(s.spawn(move || group.write(work)));
            // The last one is waited for by the first write: once it is
            // queued, the batch may start and empty the queue at once.
            if queued + 1 < others {
                wait_until("the writer to queue", || group.state().waiting > queued);
            }
        }
        handles.into_iter().map(|h| h.join().expect("no writer panics")).collect()
    })
}

/// The batch's seal is engaged for each batched write in turn, and what
/// one write cached under it is no licence for the next: a later write
/// cannot `RELEASE` a savepoint an earlier one opened (it is gone), nor
/// run a `COMMIT` or release litepool's savepoint, and the writes that
/// did nothing wrong commit. After the batch, litepool's `COMMIT` ran (the
/// seal was removed), and the next batch is sealed again.
#[test]
fn each_batched_write_is_sealed_and_what_one_cached_does_not_help_the_next() {
    let db = TempDb::new();
    let group = open(&db);
    for round in 0..2i64 {
        let at = 10 * round;
        let works: Works<'_> = vec![
            Box::new(move |c| insert(c, at + 1)),
            Box::new(move |c| {
                c.prepare_cached("SAVEPOINT mine")?.execute([])?;
                insert(c, at + 2)?;
                c.prepare_cached("RELEASE mine")?.execute([])?;
                Ok(())
            }),
            Box::new(move |c| {
                insert(c, at + 3)?;
                c.prepare_cached("RELEASE mine")?.execute([])?;
                Ok(())
            }),
            Box::new(move |c| {
                insert(c, at + 4)?;
                c.prepare_cached("COMMIT")?.execute([])?;
                Ok(())
            }),
            Box::new(move |c| {
                insert(c, at + 5)?;
                c.prepare_cached("RELEASE litepool_group_member_5f2c")?.execute([])?;
                Ok(())
            }),
            Box::new(move |c| insert(c, at + 6)),
        ];
        let results = batch_in_order(&group, works);
        assert!(results[0].is_ok() && results[1].is_ok() && results[5].is_ok(), "{results:?}");
        let gone = results[2].as_ref().expect_err("a savepoint an earlier write opened and released");
        assert!(gone.to_string().contains("no such savepoint"), "{gone}");
        for refused in &results[3..5] {
            let e = refused.as_ref().expect_err("refused while sealed");
            assert!(e.to_string().contains(REFUSED), "{e}");
        }
    }
    assert_eq!(item_ids(&db.path("group.db")), [1, 2, 6, 11, 12, 16]);
    assert_eq!(integrity_check(&db.path("group.db")), "ok");
}

/// The one way a batched write can reach past its own rows since the seal
/// is installed once per batch (issue 23): the batch's first write, which
/// runs unsealed, leaves a savepoint open, an earlier batched write opens
/// and releases its own savepoint of the same name through the statement
/// cache, and a later one runs that cached `RELEASE`. It releases the first
/// write's savepoint, and litepool's with it; litepool cannot undo that
/// write alone, so the whole batch fails and nothing of it is stored.
/// Nobody is told Ok for rows that were not committed.
#[test]
fn a_savepoint_the_first_write_left_open_can_cost_the_batch_but_not_an_acknowledged_row() {
    let db = TempDb::new();
    let group = open(&db);
    let works: Works<'_> = vec![
        Box::new(|c| {
            c.execute_batch("SAVEPOINT left_open")?;
            insert(c, 1)
        }),
        Box::new(|c| {
            c.prepare_cached("SAVEPOINT left_open")?.execute([])?;
            insert(c, 2)?;
            c.prepare_cached("RELEASE left_open")?.execute([])?;
            Ok(())
        }),
        Box::new(|c| {
            insert(c, 3)?;
            c.prepare_cached("RELEASE left_open")?.execute([])?;
            Ok(())
        }),
    ];
    let results = batch_in_order(&group, works);
    for (at, result) in results.iter().enumerate() {
        let e = result.as_ref().expect_err("the batch was lost");
        if at < 2 {
            assert!(e.is_aborted() && e.to_string().contains("retrying it is safe"), "write {at}: {e}");
        }
    }
    assert!(item_ids(&db.path("group.db")).is_empty());
    group.write(|c| insert(c, 4)).expect("the next write commits");
    assert_eq!(item_ids(&db.path("group.db")), [4]);
    assert_eq!(integrity_check(&db.path("group.db")), "ok");
}

/// A batched write past `max_page_count` makes SQLite roll the whole
/// transaction back: the write fails `Full`, the one batched before it
/// fails `Aborted` with a message naming the cause, nothing of either is
/// stored, and the next write commits.
#[test]
fn sqlite_rolling_back_a_batch_fails_every_member_so_far() {
    let db = TempDb::new();
    let group = open(&db);
    let (first, second) = batch(&group, |c| {
        insert(c, 2)?;
        fill_the_database(c)
    });
    assert!(second.expect("no panic").is_err_and(|e| e.is_full()));
    let e = first.expect_err("the write batched before the overflow was rolled back with it");
    assert!(e.is_aborted(), "{e:?}");
    assert!(e.to_string().contains("retrying it is safe") && e.to_string().contains("full"), "{e}");
    assert!(item_ids(&db.path("group.db")).is_empty());
    group.write(|c| insert(c, 3)).expect("the next write commits");
    assert_eq!(item_ids(&db.path("group.db")), [3]);
    assert_eq!(integrity_check(&db.path("group.db")), "ok");
}

/// Work the runner had taken but not started when SQLite rolled the
/// transaction back goes back to the queue and runs in the next batch:
/// the third write of a batch whose second fills the database commits,
/// alone of the three.
#[test]
fn work_taken_but_not_started_when_a_batch_is_lost_runs_in_the_next() {
    let db = TempDb::new();
    let group = open(&db);
    let works: Works<'_> = vec![
        Box::new(|c| insert(c, 1)),
        Box::new(|c| {
            insert(c, 2)?;
            fill_the_database(c)
        }),
        Box::new(|c| insert(c, 3)),
    ];
    let results = batch_in_order(&group, works);
    assert!(results[0].as_ref().is_err_and(|e| e.is_aborted()), "{:?}", results[0]);
    assert!(results[1].as_ref().is_err_and(|e| e.is_full()), "{:?}", results[1]);
    results[2].as_ref().expect("the write taken but not started runs in the next batch");
    assert_eq!(item_ids(&db.path("group.db")), [3]);
}

#[test]
fn a_batch_cap_of_zero_is_refused_with_a_clear_error() {
    let db = TempDb::new();
    let e = GroupCommit::builder().readers(2).batch_cap(0).open(db.manager("zero.db")).expect_err("cap 0");
    assert!(e.is_config() && e.to_string().contains("use 1 for one COMMIT per write"), "{e}");
}

/// With a cap of 1 every write commits alone: a second writer queued
/// behind the first is not batched with it.
#[test]
fn a_batch_cap_of_one_commits_every_write_alone() {
    let db = TempDb::new();
    let group = GroupCommit::builder().readers(2).batch_cap(1).open(db.manager("group.db")).unwrap();
    assert_eq!(group.batch_cap(), 1);
    group
        .write(|c| Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER)")?))
        .unwrap();
    let (first, second) = batch(&group, |c| {
        // Alone in its transaction: it sees only committed rows, the first
        // write's included.
        let seen: i64 = c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?;
        assert_eq!(seen, 1, "the first write had not committed when the second ran");
        insert(c, 2)
    });
    first.unwrap();
    second.unwrap().unwrap();
    assert_eq!(item_ids(&db.path("group.db")), [1, 2]);
}

/// `Access::state` counts a writer queued for the writer connection.
#[test]
fn state_counts_writers_waiting_for_the_writer() {
    let db = TempDb::new();
    let group = open(&db);
    let (first, second) = batch(&group, |c| insert(c, 2));
    first.unwrap();
    second.unwrap().unwrap();
    let state = Access::state(&group);
    assert_eq!((state.in_use, state.waiting), (0, 0), "{state:?}");
}

/// Batches one after another, and eight writers at once, with a write
/// timeout an hour away: a hand-off without a wake-up, or an outcome
/// published for the wrong batch, would leave a writer waiting for that
/// hour. The test fails within 30 s instead of hanging.
#[test]
fn batches_end_without_waiting_for_a_timeout() {
    let db = TempDb::new();
    let manager =
        db.manager("group.db").busy_timeout(Duration::from_secs(3600)).synchronous(Synchronous::Full);
    let path = db.path("group.db");
    within(Duration::from_secs(30), "batches with an hour's write timeout", move || {
        let group = GroupCommit::builder().readers(2).open(manager).expect("open the group strategy");
        group
            .write(|c| Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER)")?))
            .unwrap();
        let mut expected = Vec::new();
        for round in 0..20 {
            let (one, two) = (2 * round + 1, 2 * round + 2);
            let (first, second) = batch_of(&group, |c| insert(c, one), |c| insert(c, two));
            first.expect("the first write commits");
            second.expect("no panic").expect("the second write commits");
            expected.extend([one, two]);
        }
        thread::scope(|s| {
            for writer in 0..8 {
                let group = &group;
                s.spawn(move || {
                    (0..20).for_each(|i| group.write(|c| insert(c, 1000 + 100 * writer + i)).unwrap())
                });
            }
        });
        expected.extend((0..8).flat_map(|w| (0..20).map(move |i| 1000 + 100 * w + i)));
        expected.sort_unstable();
        assert_eq!(item_ids(&path), expected);
        drop(db);
    });
}

/// A queued writer is never passed: a writer that loops, each write its
/// own batch (cap 1), cannot write again before the one queued behind it,
/// because a batch that ends with callers queued hands the writer to the
/// first of them. (Before issue 23 a batch freed the writer, and the
/// looping writer, first back, took it again.)
#[test]
fn a_looping_writer_cannot_pass_a_queued_one() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let db = TempDb::new();
    let manager = db.manager("group.db").synchronous(Synchronous::Normal);
    let group =
        GroupCommit::builder().readers(1).batch_cap(1).open(manager).expect("open the group strategy");
    group
        .write(
            |c| Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?),
        )
        .unwrap();
    let (head_done, looped) = (AtomicBool::new(false), AtomicUsize::new(0));
    let (before, after) = thread::scope(|s| {
        s.spawn(|| {
            for i in 0..10_000 {
                if head_done.load(Ordering::SeqCst) {
                    break;
                }
                group.write(|c| insert(c, 1000 + i)).expect("the looping writer writes");
                looped.fetch_add(1, Ordering::SeqCst);
            }
        });
        wait_until("the looping writer to hold the connection", || Access::state(&group).in_use >= 1);
        let before = looped.load(Ordering::SeqCst);
        group.write(|c| insert(c, 1)).expect("the queued writer writes");
        let after = looped.load(Ordering::SeqCst);
        head_done.store(true, Ordering::SeqCst);
        (before, after)
    });
    // The looping writer's write running when this one queued may finish
    // (and be counted) first; no later one can.
    assert!(
        after <= before + 1,
        "the queued writer was passed: {before} loops before it queued, {after} after"
    );
}

/// A queued writer whose write timeout passes before its work started
/// leaves the queue with a busy error that says where it waited, and its
/// work never runs; the batch ahead of it commits. The batch ahead holds
/// the writer until the queued writer has returned, so the test waits for
/// the timeout, not a sleep.
#[test]
fn a_queued_writer_leaves_at_its_timeout_and_its_work_never_runs() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let db = TempDb::new();
    let manager = db.manager("group.db").busy_timeout(Duration::from_millis(200));
    let group = GroupCommit::builder().readers(1).open(manager).expect("open the group strategy");
    group
        .write(
            |c| Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?),
        )
        .unwrap();
    let (returned, ran) = (AtomicBool::new(false), AtomicBool::new(false));
    let (holder, queued) = thread::scope(|s| {
        let holder = s.spawn(|| {
            group.write(|c| {
                insert(c, 1)?;
                wait_until("the queued writer to give up", || returned.load(Ordering::SeqCst));
                Ok(())
            })
        });
        wait_until("the first writer to hold the connection", || Access::state(&group).in_use >= 1);
        let queued = group.write(|c| {
            ran.store(true, Ordering::SeqCst);
            insert(c, 2)
        });
        returned.store(true, Ordering::SeqCst);
        (holder.join().expect("the holder does not panic"), queued)
    });
    holder.expect("the batch ahead commits");
    let e = queued.expect_err("the queued writer waited past its timeout");
    // Ahead of it: the batch running, nobody queued.
    assert!(
        e.is_busy() && e.to_string().contains("1 writer(s) were ahead of it in the strategy's queue"),
        "{e}"
    );
    assert!(!ran.load(Ordering::SeqCst), "the work of a writer that gave up ran");
    assert_eq!(item_ids(&db.path("group.db")), [1]);
    assert!(Access::state(&group).waiting == 0, "the writer that gave up is still queued");
}

/// A writer connection given back after `close()` is closed, not kept: the
/// write running as the strategy closes finishes, and then no connection
/// of the strategy is open (the readers were closed by `close()` itself).
#[test]
fn the_writer_given_back_after_close_is_closed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let db = TempDb::new();
    let (manager, counts) = Counting::new(db.manager("group.db"));
    let group = GroupCommit::builder().readers(1).open(manager).expect("open the group strategy");
    group
        .write(
            |c| Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?),
        )
        .unwrap();
    group.read(|c| Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get::<_, i64>(0))?)).unwrap();
    let (started, closed) = (AtomicBool::new(false), AtomicBool::new(false));
    thread::scope(|s| {
        let writer = s.spawn(|| {
            group.write(|c| {
                started.store(true, Ordering::SeqCst);
                wait_until("close() while this write runs", || closed.load(Ordering::SeqCst));
                insert(c, 1)
            })
        });
        wait_until("the write's work to start", || started.load(Ordering::SeqCst));
        group.close();
        closed.store(true, Ordering::SeqCst);
        writer.join().unwrap().expect("the write that was running commits");
    });
    assert_eq!(counts.open_now(), 0, "a connection outlived close() once given back");
    assert!(group.write(|c| insert(c, 2)).unwrap_err().is_closed());
}

/// The thread running a batch panics outside any write's work (here in
/// the manager's `explain`, called for the third write's error) with the
/// second write's rows in the transaction and the fourth's work taken: the
/// panic goes to the runner's own caller, the three others hear `Aborted`
/// ("not applied", the second too: its rows were never committed), nothing
/// of the batch is stored, and the writer is free for the next write. The
/// batch's guard (`Runner`'s `Drop`) is what tells them; without it they
/// would wait for ever, and `within` fails the test.
#[test]
fn a_runner_that_panics_mid_batch_tells_every_member_and_frees_the_writer() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let db = TempDb::new();
    let armed = std::sync::Arc::new(AtomicBool::new(false));
    let manager = PanickyExplain { inner: db.manager("group.db"), armed: armed.clone() };
    let group = std::sync::Arc::new(GroupCommit::builder().readers(1).open(manager).expect("open"));
    group
        .write(
            |c| Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?),
        )
        .unwrap();
    let path = db.path("group.db");
    let outcomes = within(Duration::from_secs(60), "a batch whose runner panicked", move || {
        thread::scope(|s| {
            let runner = s.spawn(|| {
                catch_unwind(AssertUnwindSafe(|| {
                    group.write(|c| {
                        insert(c, 1)?;
                        wait_until("three writers to queue", || group.state().waiting >= 3);
                        armed.store(true, Ordering::SeqCst);
                        Ok(())
                    })
                }))
            });
            wait_until("the runner to hold the writer", || group.state().in_use >= 1);
            let joined = s.spawn(|| group.write(|c| insert(c, 2)));
            wait_until("the second writer to queue", || group.state().waiting >= 1);
            let failing = s.spawn(|| group.write(|c| insert(c, 1)));
            wait_until("the failing writer to queue", || group.state().waiting >= 2);
            let last = s.spawn(|| group.write(|c| insert(c, 3)));
            let outcomes = (
                runner.join().unwrap(),
                joined.join().unwrap(),
                failing.join().unwrap(),
                last.join().unwrap(),
            );
            let next = group.write(|c| insert(c, 4));
            (outcomes, next)
        })
    });
    let ((runner, joined, failing, last), next) = outcomes;
    let panic = runner.expect_err("the manager's panic reaches the runner's caller");
    assert_eq!(support::panic_message(&*panic), "planted panic in the manager's explain");
    for (who, outcome) in
        [("the write joined before", joined), ("the failing write", failing), ("the write after it", last)]
    {
        let e = outcome.expect_err(who);
        assert!(e.is_aborted() && e.to_string().contains("not applied"), "{who}: {e}");
    }
    next.expect("the writer is free after the panic");
    assert_eq!(item_ids(&path), [4]);
    assert_eq!(integrity_check(&path), "ok");
}

/// `close()` fails a queued writer at once with a closed error (not at its
/// write timeout, an hour here, with a busy one), and its work never runs;
/// the batch running at the close commits. The running batch holds the
/// writer until the queued writer has returned.
#[test]
fn close_fails_a_queued_writer_at_once_and_its_work_never_runs() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let db = TempDb::new();
    let manager = db.manager("group.db").busy_timeout(Duration::from_secs(3600));
    let group = std::sync::Arc::new(GroupCommit::builder().readers(1).open(manager).expect("open"));
    group
        .write(
            |c| Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?),
        )
        .unwrap();
    let path = db.path("group.db");
    let (holder, queued, ran) = within(Duration::from_secs(60), "a queued writer at close", move || {
        let (returned, ran) = (AtomicBool::new(false), AtomicBool::new(false));
        thread::scope(|s| {
            let holder = s.spawn(|| {
                group.write(|c| {
                    insert(c, 1)?;
                    wait_until("the queued writer to return", || returned.load(Ordering::SeqCst));
                    Ok(())
                })
            });
            wait_until("the first writer to hold the connection", || group.state().in_use >= 1);
            let queued = s.spawn(|| {
                let result = group.write(|c| {
                    ran.store(true, Ordering::SeqCst);
                    insert(c, 2)
                });
                returned.store(true, Ordering::SeqCst);
                result
            });
            wait_until("the second writer to queue", || group.state().waiting >= 1);
            group.close();
            (holder.join().unwrap(), queued.join().unwrap(), ran.load(Ordering::SeqCst))
        })
    });
    holder.expect("the batch running at the close commits");
    let e = queued.expect_err("a writer queued at the close");
    assert!(e.is_closed(), "{e}");
    assert!(!ran, "the work of a writer failed by close ran");
    assert_eq!(item_ids(&path), [1]);
}

/// A group strategy over [`Counting`]'s connections, whose seal calls can
/// be made to fail (real SQLite does not fail them on purpose), with the
/// `items` table created.
fn open_counting(
    db: &TempDb,
) -> (GroupCommit<Counting<SqliteManager>>, std::sync::Arc<support::counting::Counts>) {
    let (manager, counts) = Counting::new(db.manager("group.db"));
    let group = GroupCommit::builder().readers(1).open(manager).expect("open the group strategy");
    group
        .write(
            |c| Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?),
        )
        .expect("create the table");
    (group, counts)
}

/// The batch's seal cannot be installed: the write that would have run
/// sealed fails, its work never run, and its error says why; the first
/// write commits; the next batch is sealed as usual.
#[test]
fn a_seal_that_cannot_be_installed_fails_the_sealed_write_alone() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let db = TempDb::new();
    let (group, counts) = open_counting(&db);
    counts.fail_in(Callback::InstallSeal, 1);
    let ran = AtomicBool::new(false);
    let (first, second) = batch_of(
        &group,
        |c| insert(c, 1),
        |c| {
            ran.store(true, Ordering::SeqCst);
            insert(c, 2)
        },
    );
    first.expect("the first write runs unsealed and commits");
    let e = second.expect("no panic").expect_err("the write that needed the seal fails");
    assert!(e.to_string().contains("planted InstallSeal failure"), "{e}");
    assert!(!ran.load(Ordering::SeqCst), "the work of a write that could not be sealed ran");
    assert_eq!(counts.unfired(), 0, "the planted failure fired");
    let (third, fourth) = batch_of(&group, |c| insert(c, 3), |c| insert(c, 4));
    third.expect("the next batch commits");
    fourth.expect("no panic").expect("sealed as usual");
    assert_eq!(item_ids(&db.path("group.db")), vec![1, 3, 4]);
}

/// The batch's seal cannot be removed before its `COMMIT`: the connection
/// is closed, which rolls the batch back; every member hears that,
/// nothing of the batch is stored, and the next write opens a new
/// connection.
#[test]
fn a_seal_that_cannot_be_removed_rolls_the_batch_back_and_says_why() {
    let db = TempDb::new();
    let (group, counts) = open_counting(&db);
    counts.fail_in(Callback::RemoveSeal, 1);
    let (opened, closed) = (counts.opened(), counts.closed());
    let (first, second) = batch_of(&group, |c| insert(c, 1), |c| insert(c, 2));
    for e in [first.expect_err("first"), second.expect("no panic").expect_err("second")] {
        assert_told_seal_not_removed(&e);
    }
    assert_eq!(counts.closed(), closed + 1, "the connection whose seal stayed was closed");
    group.write(|c| insert(c, 3)).expect("the next write is served");
    assert_eq!(counts.opened(), opened + 1, "on a new connection");
    assert_eq!(item_ids(&db.path("group.db")), vec![3]);
    assert_eq!(integrity_check(&db.path("group.db")), "ok");
}
