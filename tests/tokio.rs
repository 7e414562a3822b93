//! The async facade (`litepool::tokio`) on real SQLite files, on a tokio
//! runtime with two worker threads: each cancellation guarantee (G1 to G7,
//! listed in EVIDENCE.md) by a test that fails when it is broken, panics,
//! close, and bad input. The loom and shuttle models
//! (`tests/loom_tokio.rs`, `tests/shuttle_tokio.rs`) explore the same
//! state machine over the fake connection; these check what only SQLite
//! does: a raised stop interrupting a real query, a read's open
//! transaction rolled back, a batch's `COMMIT`.
//!
//! A job is held in place deterministically with a [`Gate`]: its work
//! says it started, then waits for the test to open the gate; nothing
//! here sleeps to let something happen.

mod support;

use std::borrow::Borrow;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use litepool::strategy::Manager;
use litepool::tokio::{Answer, AsyncPool, Cancelled};
use litepool::{ErrorKind, SqliteManager};
use rusqlite::Connection;
use support::counting::{Callback, Counting, Counts, assert_told_seal_not_removed};
use support::{PanickyExplain, TempDb, fill_the_database, integrity_check, item_ids, within};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

/// Runs `test` on a fresh 2-worker runtime, failing (not hanging) after 60 s.
fn run<F: std::future::Future<Output = ()> + Send + 'static>(
    what: &str,
    test: impl FnOnce() -> F + Send + 'static,
) {
    within(Duration::from_secs(60), what, move || runtime().block_on(test()));
}

async fn open(db: &TempDb, readers: usize) -> AsyncPool<SqliteManager> {
    let pool =
        AsyncPool::builder().readers(readers).open(db.manager("async.db")).expect("open the async pool");
    pool.write(|c| {
        Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?)
    })
    .await
    .expect("create the table");
    pool
}

fn insert(c: &Connection, id: i64) -> litepool::Result<()> {
    c.execute("INSERT INTO items (id, value) VALUES (?1, 0)", [id])?;
    Ok(())
}

/// Holds a job's work in place: `pass` says the work started, then waits
/// until the test calls `open`.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<(bool, bool)>, Condvar)>);

impl Gate {
    fn pass(&self) {
        let (lock, cv) = &*self.0;
        let mut state = lock.lock().unwrap();
        state.0 = true;
        cv.notify_all();
        while !state.1 {
            state = cv.wait(state).unwrap();
        }
    }

    /// Waits (on a blocking thread) until a work is inside the gate.
    async fn entered(&self) {
        let gate = self.clone();
        tokio::task::spawn_blocking(move || {
            let (lock, cv) = &*gate.0;
            let mut state = lock.lock().unwrap();
            while !state.0 {
                state = cv.wait(state).unwrap();
            }
        })
        .await
        .unwrap();
    }

    fn open(&self) {
        let (lock, cv) = &*self.0;
        lock.lock().unwrap().1 = true;
        cv.notify_all();
    }
}

/// Queues a write of row `id` whose work then waits in a gate, and returns
/// once it does: the writer is held, and writes queued now wait behind it
/// until the gate opens.
async fn hold_writer<M>(pool: &AsyncPool<M>, id: i64) -> (Answer<()>, Gate)
where
    M: Manager<Connection: Borrow<Connection>>,
{
    let gate = Gate::default();
    let g = gate.clone();
    let held = pool.write(move |c| {
        insert(c.borrow(), id)?;
        g.pass();
        Ok(())
    });
    gate.entered().await;
    (held, gate)
}

/// Counts its own drops: a job's work that holds one is dropped when the
/// job is removed.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn reads_and_writes_round_trip() {
    run("reads and writes", || async {
        let db = TempDb::new();
        let pool = open(&db, 2).await;
        let writes: Vec<_> = (0..50).map(|id| pool.write(move |c| insert(c, id))).collect();
        for write in writes {
            write.await.expect("a write commits");
        }
        let n: i64 =
            pool.read(|c| Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?)).await.unwrap();
        assert_eq!(n, 50);
        let read_only =
            pool.read(|c| insert(c, 99)).await.expect_err("a read runs on a read-only connection");
        assert!(read_only.is_read_only(), "{read_only}");
        pool.close().await;
        assert_eq!(item_ids(&db.path("async.db")), (0..50).collect::<Vec<_>>());
    });
}

/// G1 and G4: a write given up while it waits behind a running batch is
/// removed at once (its work dropped) and never runs.
#[test]
fn a_write_given_up_before_it_started_never_runs() {
    run("G1", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        let (first, gate) = hold_writer(&pool, 1).await;
        let dropped = Arc::new(AtomicUsize::new(0));
        let held = DropCount(dropped.clone());
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let waiting = pool.write(move |c| {
            let _held = &held;
            r.store(true, Ordering::SeqCst);
            insert(c, 2)
        });
        assert_eq!(waiting.cancel(), Cancelled::NeverRan);
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "the removed job's work is dropped when it is given up"
        );
        gate.open();
        first.await.expect("the first write commits");
        pool.write(|c| insert(c, 3)).await.expect("a later write commits");
        assert!(!ran.load(Ordering::SeqCst), "a write given up before it started ran");
        pool.close().await;
        assert_eq!(item_ids(&db.path("async.db")), vec![1, 3]);
    });
}

/// G4: a read given up while it waits for a reader never runs.
#[test]
fn a_read_given_up_while_waiting_for_a_reader_never_runs() {
    run("G4", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        let gate = Gate::default();
        let g = gate.clone();
        let busy = pool.read(move |_| {
            g.pass();
            Ok(())
        });
        gate.entered().await;
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let waiting = pool.read(move |_| {
            r.store(true, Ordering::SeqCst);
            Ok(())
        });
        // Dropped by a select! against a timer, as a request timeout would.
        tokio::select! {
            _ = waiting => panic!("the read cannot finish while the only reader is busy"),
            () = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
        gate.open();
        busy.await.unwrap();
        pool.read(|_| Ok(())).await.unwrap();
        assert!(!ran.load(Ordering::SeqCst), "a read given up before it started ran");
        pool.close().await;
    });
}

/// A read that counts to a billion: long enough to be running when its
/// caller gives up.
const LONG_READ: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT count(*) FROM n";

/// G2: giving up on a running read stops it, and only it: the next read on
/// the same connection (one reader) is never stopped, however late the
/// stop comes.
#[test]
fn giving_up_on_a_running_read_stops_it_alone() {
    run("G2", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let long = pool.read(move |c| {
            s.store(true, Ordering::SeqCst);
            Ok(c.query_row(LONG_READ, [], |r| r.get::<_, i64>(0))?)
        });
        while !started.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        assert_eq!(long.cancel(), Cancelled::Started);
        // The reader is free again only because the long read was stopped:
        // counting to a billion takes minutes, the test's bound is 60 s.
        let n: i64 =
            pool.read(|c| Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?)).await.unwrap();
        assert_eq!(n, 0);
        // Stops given up on at every moment: none may stop a later read.
        for round in 0..300u64 {
            let short =
                pool.read(|c| Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get::<_, i64>(0))?));
            tokio::select! {
                _ = short => {}
                () = tokio::time::sleep(Duration::from_micros(round % 40)) => {}
            }
            pool.read(|c| Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get::<_, i64>(0))?))
                .await
                .unwrap_or_else(|e| panic!("round {round}: a read nobody gave up on failed: {e}"));
        }
        pool.close().await;
    });
}

/// G5: a write given up while it runs is not interrupted: it commits, and
/// the writes batched with it commit too.
#[test]
fn a_write_given_up_while_running_runs_to_its_outcome() {
    run("G5", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        let gate = Gate::default();
        let g = gate.clone();
        let running = pool.write(move |c| {
            insert(c, 1)?;
            g.pass();
            insert(c, 2)
        });
        gate.entered().await;
        let behind = pool.write(|c| insert(c, 3));
        assert_eq!(running.cancel(), Cancelled::Started);
        gate.open();
        behind.await.expect("a write batched with a given-up one commits");
        pool.close().await;
        assert_eq!(item_ids(&db.path("async.db")), vec![1, 2, 3]);
    });
}

/// G6: a read that leaves a transaction open (pinning its snapshot) is
/// rolled back before the connection serves anyone else.
#[test]
fn a_read_that_leaves_a_transaction_open_is_rolled_back() {
    run("G6", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        pool.read(|c| {
            c.execute_batch("BEGIN; SELECT count(*) FROM items;")?;
            assert!(!c.is_autocommit());
            Ok(())
        })
        .await
        .unwrap();
        let write = pool.write(|c| insert(c, 1));
        write.await.unwrap();
        let (autocommit, n) = pool
            .read(|c| {
                Ok((
                    c.is_autocommit(),
                    c.query_row("SELECT count(*) FROM items", [], |r| r.get::<_, i64>(0))?,
                ))
            })
            .await
            .unwrap();
        assert!(autocommit, "a reader was handed on inside the last read's transaction");
        assert_eq!(n, 1, "the reader still saw the snapshot the last read pinned");
        pool.close().await;
    });
}

/// A panicking closure is its caller's error; every connection stays.
#[test]
fn a_panicking_closure_is_an_error_and_capacity_stays_full() {
    run("panics", || async {
        let db = TempDb::new();
        let pool = open(&db, 2).await;
        let e = pool.write(|c| -> litepool::Result<()> {
            insert(c, 1)?;
            panic!("boom in a write")
        });
        let e = e.await.expect_err("a panicking write fails");
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert!(e.to_string().contains("boom in a write"), "{e}");
        let e = pool.read(|_| -> litepool::Result<()> { panic!("boom in a read") }).await.expect_err("fails");
        assert_eq!(e.kind(), ErrorKind::Panicked);
        let writes: Vec<_> = (10..20).map(|id| pool.write(move |c| insert(c, id))).collect();
        let reads: Vec<_> = (0..10).map(|_| pool.read(|_| Ok(()))).collect();
        for w in writes {
            w.await.unwrap();
        }
        for r in reads {
            r.await.unwrap();
        }
        // Every thread is still there (a thread finishing its last job's
        // hand-back may still count as in use: that is not a lost one).
        let state = pool.state();
        assert_eq!(state.idle + state.in_use, 3, "two readers and the writer: {state:?}");
        assert_eq!(state.waiting, 0, "{state:?}");
        pool.close().await;
        assert_eq!(item_ids(&db.path("async.db")), (10..20).collect::<Vec<_>>());
    });
}

/// G7 and close: waiting calls are answered at once, the running one
/// finishes, `close()` is ready only after it, and later calls hear a clear
/// error. Dropping a handle never blocks.
#[test]
fn close_answers_waiting_calls_at_once_and_waits_for_running_work() {
    run("close", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        let (running, gate) = hold_writer(&pool, 1).await;
        let waiting = pool.write(|c| insert(c, 2));
        let other = pool.clone();
        drop(other); // not the last handle: nothing closes, nothing blocks
        let mut closing = std::pin::pin!(pool.close());
        let e = waiting.await.expect_err("a waiting write is answered at close");
        assert!(e.is_closed(), "{e}");
        assert!(futures_poll(closing.as_mut()).is_pending(), "close() was ready while a write was running");
        gate.open();
        running.await.expect("the running write finishes and commits");
        closing.await;
        let e = pool.read(|_| Ok(())).await.expect_err("a closed pool refuses reads");
        assert!(e.is_closed() && e.to_string().contains("close()"), "{e}");
        assert!(pool.write(|_| Ok(())).await.expect_err("and writes").is_closed());
        assert_eq!(item_ids(&db.path("async.db")), vec![1]);
        assert_eq!(integrity_check(&db.path("async.db")), "ok");
    });
}

/// Dropping the last handle while a write runs returns at once; the write
/// still finishes, and the threads leave.
#[test]
fn dropping_the_pool_never_blocks() {
    run("drop", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        let (running, gate) = hold_writer(&pool, 1).await;
        drop(pool); // must return although the writer is held inside the gate
        gate.open();
        running.await.expect("the running write still commits");
        assert_eq!(item_ids(&db.path("async.db")), vec![1]);
    });
}

#[test]
fn bad_settings_are_clear_errors() {
    let db = TempDb::new();
    let e = AsyncPool::builder().readers(0).open(db.manager("bad.db")).expect_err("no readers");
    assert!(e.is_config() && e.to_string().contains("readers(1)"), "{e}");
    let e = AsyncPool::builder().batch_cap(0).open(db.manager("bad.db")).expect_err("no batch");
    assert!(e.is_config(), "{e}");
    let e = AsyncPool::open(SqliteManager::file(db.path("no/such/dir/x.db"))).expect_err("no directory");
    assert!(e.is_open(), "{e}");
}

/// Polls a future once, with a waker that does nothing.
fn futures_poll<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    f.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// The models rely on the fake's stop (`src/fake.rs`): a raised stop fails
/// every statement; an interrupted write inside a transaction rolls back
/// the whole transaction, an interrupted read leaves it open; a lowered
/// stop stops nothing. The same steps on real SQLite must agree.
#[test]
fn the_fakes_stop_does_what_sqlites_does() {
    use litepool::fake::FakeDatabase;
    use litepool::strategy::{Manager, Stop, Transactional};

    let db = TempDb::new();
    let mut real = db.manager("stop.db").connect().expect("open");
    real.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)").unwrap();
    let fake_db = FakeDatabase::new();
    let mut fake = fake_db.manager().connect().expect("open the fake");
    let (real_stop, fake_stop) = (Stop::new(), Stop::new());
    real.install_stop(&real_stop).unwrap();
    fake.install_stop(&fake_stop).unwrap();
    let real_read =
        |c: &Connection| c.query_row("SELECT count(*) FROM items", [], |r| r.get::<_, i64>(0)).is_ok();
    let mut next_id = 0;
    let mut real_insert = |c: &Connection| {
        next_id += 1;
        insert(c, next_id).is_ok()
    };
    let mut fake_id = 0;
    let mut fake_insert = |c: &litepool::fake::FakeConnection| {
        fake_id += 1;
        c.insert_id(fake_id).is_ok()
    };
    let both = |stop: bool| {
        if stop {
            real_stop.raise();
            fake_stop.raise();
        } else {
            real_stop.lower();
            fake_stop.lower();
        }
    };
    // Lowered: reads and writes run.
    both(false);
    assert_eq!((real_read(&real), fake.query().is_ok()), (true, true));
    assert_eq!((real_insert(&real), fake_insert(&fake)), (true, true));
    // Raised: a read fails on both.
    both(true);
    assert_eq!((real_read(&real), fake.query().is_ok()), (false, false));
    // A read inside a read transaction: fails, the transaction stays.
    both(false);
    real.execute_batch("BEGIN").unwrap();
    fake.begin_deferred().unwrap();
    both(true);
    assert_eq!((real_read(&real), fake.query().is_ok()), (false, false));
    assert_eq!((real.in_transaction(), fake.in_transaction()), (true, true));
    both(false);
    real.rollback().unwrap();
    fake.rollback().unwrap();
    // A write inside a write transaction fails; what it leaves depends on
    // when SQLite looked at the stop: the whole transaction rolled back
    // (the fake's one outcome), or the transaction still open with the
    // statement's row *applied* though it reported an interrupt (SQLite
    // asks the progress handler once more as a statement returns). Either
    // way nobody can tell a caller what was written: why litepool never
    // raises a writer's stop (G5), and why the fake's one outcome suffices
    // for the model that plants that bug.
    real.begin_immediate().unwrap();
    fake.begin_immediate().unwrap();
    assert_eq!((real_insert(&real), fake_insert(&fake)), (true, true));
    both(true);
    assert_eq!((real_insert(&real), fake_insert(&fake)), (false, false));
    assert!(!fake.in_transaction(), "the fake rolls the whole transaction back");
    both(false);
    let real_rows: i64 = real.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
    if real.in_transaction() {
        assert_eq!(real_rows, 3, "still open: both rows of the transaction are in it");
        real.rollback().unwrap();
    } else {
        assert_eq!(real_rows, 1, "rolled back: only the row committed before it stays");
    }
    // A longer write is stopped as it runs, and SQLite rolls back the
    // whole transaction, as the fake does.
    real.begin_immediate().unwrap();
    assert!(real_insert(&real));
    both(true);
    let big = real.execute(
        "INSERT INTO items SELECT 100 + value, 0 FROM (WITH RECURSIVE n(value) AS \
         (SELECT 1 UNION ALL SELECT value + 1 FROM n WHERE value < 1000) SELECT value FROM n)",
        [],
    );
    both(false);
    assert!(big.is_err() && !real.in_transaction(), "{big:?}");
    let real_rows: i64 = real.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
    assert_eq!((real_rows, fake.count()), (1, 1), "only the row committed before the transactions stays");
}

/// A batched write cannot end its batch: `COMMIT`, or a `RELEASE` or
/// `ROLLBACK TO` of litepool's savepoint (whose statements the writer
/// prepares once per batch, outside the statement cache), fails, that
/// write's rows are undone, and the writes batched with it commit.
#[test]
fn a_batched_write_cannot_end_its_batch() {
    run("seal", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        for (round, sql) in
            ["COMMIT", "RELEASE litepool_group_member_5f2c", "ROLLBACK TO litepool_group_member_5f2c"]
                .into_iter()
                .enumerate()
        {
            let base = round as i64 * 10;
            let (first, gate) = hold_writer(&pool, base + 1).await;
            let second = pool.write(move |c| insert(c, base + 2));
            let rogue = pool.write(move |c| {
                insert(c, base + 3)?;
                Ok(c.prepare_cached(sql)?.execute([]).map(drop)?)
            });
            let fourth = pool.write(move |c| insert(c, base + 4));
            gate.open();
            first.await.unwrap();
            second.await.unwrap();
            let e = rogue.await.expect_err("a write that tries to end its batch fails");
            assert!(
                e.to_string().contains("not authorized") || e.to_string().contains("batch"),
                "{sql}: {e}"
            );
            fourth.await.unwrap();
        }
        pool.close().await;
        let expected: Vec<i64> = (0..3).flat_map(|r| [r * 10 + 1, r * 10 + 2, r * 10 + 4]).collect();
        assert_eq!(item_ids(&db.path("async.db")), expected);
    });
}

/// A panic on a litepool thread outside any work (the manager's
/// `explain`, for a failing read and a failing write in a batch) fails the
/// jobs it was serving with an error, and not the thread: every later read
/// and write is served, the batch's other writes hear a definite outcome,
/// and nothing of the failed batch is stored.
#[test]
fn a_panic_on_a_litepool_thread_fails_its_jobs_not_the_pool() {
    run("manager panics", || async {
        let db = TempDb::new();
        let armed = Arc::new(AtomicBool::new(false));
        let manager = PanickyExplain { inner: db.manager("async.db"), armed: armed.clone() };
        let pool = AsyncPool::builder().readers(1).open(manager).expect("open");
        pool.write(|c| {
            Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?)
        })
        .await
        .unwrap();
        // A read whose error the manager explains, panicking.
        armed.store(true, Ordering::SeqCst);
        let e = pool.read(|c| Ok(c.execute_batch("SELECT * FROM no_such_table")?)).await.expect_err("fails");
        assert_eq!(e.kind(), ErrorKind::Panicked, "{e}");
        assert!(e.to_string().contains("planted panic"), "{e}");
        pool.read(|_| Ok(())).await.expect("the reader thread still serves");
        // A batch: the first write waits in the gate while the others
        // queue; the third's error is explained, panicking.
        let (first, gate) = hold_writer(&pool, 1).await;
        let second = pool.write(|c| insert(c, 2));
        let third = pool.write(|c| Ok(c.execute_batch("INSERT INTO no_such_table VALUES (1)")?));
        let fourth = pool.write(|c| insert(c, 4));
        armed.store(true, Ordering::SeqCst);
        gate.open();
        let outcomes = [first.await, second.await, third.await, fourth.await];
        for (n, outcome) in outcomes.iter().enumerate() {
            if let Err(e) = outcome {
                assert!(e.is_aborted() || e.kind() == ErrorKind::Panicked, "write {}: {e}", n + 1);
            }
        }
        assert!(outcomes[2].is_err(), "the write whose error panicked was not applied");
        pool.write(|c| insert(c, 5)).await.expect("the writer thread still serves");
        pool.close().await;
        let stored = item_ids(&db.path("async.db"));
        for (n, outcome) in outcomes.iter().enumerate() {
            let id = n as i64 + 1;
            if id != 3 {
                assert_eq!(stored.contains(&id), outcome.is_ok(), "write {id}: stored iff acknowledged");
            }
        }
        assert!(stored.contains(&5));
    });
}

/// G6, the other half: a read that leaves a statement stepping (here by
/// leaking it, the one way the borrow checker allows) holds its snapshot
/// open even in autocommit; its connection is not handed on, and the next
/// read sees the rows written since.
#[test]
fn a_read_that_leaves_a_statement_stepping_is_not_handed_on() {
    run("G6 stepping", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        pool.write(|c| insert(c, 1)).await.unwrap();
        pool.read(|c| {
            let mut stmt = c.prepare("SELECT id FROM items")?;
            let mut rows = stmt.query([])?;
            rows.next()?;
            std::mem::forget(rows);
            std::mem::forget(stmt);
            assert!(c.is_busy() && c.is_autocommit());
            Ok(())
        })
        .await
        .unwrap();
        pool.write(|c| insert(c, 2)).await.unwrap();
        let (busy, n) = pool
            .read(|c| {
                Ok((c.is_busy(), c.query_row("SELECT count(*) FROM items", [], |r| r.get::<_, i64>(0))?))
            })
            .await
            .unwrap();
        assert!(!busy, "a reader was handed on with a statement still stepping");
        assert_eq!(n, 2, "the next read saw the snapshot the last one pinned");
        pool.close().await;
    });
}

/// Dropping the last handle closes the pool as `close()` does: a call
/// waiting for the writer is answered closed at once, the running one
/// finishes.
#[test]
fn dropping_the_last_handle_closes_the_pool() {
    run("drop closes", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        let (running, gate) = hold_writer(&pool, 1).await;
        let waiting = pool.write(|c| insert(c, 2));
        let other = pool.clone();
        drop(pool);
        let mut waiting = std::pin::pin!(waiting);
        assert!(futures_poll(waiting.as_mut()).is_pending(), "a handle is left: nothing closed");
        drop(other);
        let e = waiting.await.expect_err("the last handle gone, a waiting write is answered");
        assert!(e.is_closed(), "{e}");
        gate.open();
        running.await.expect("the running write finishes");
        assert_eq!(item_ids(&db.path("async.db")), vec![1]);
    });
}

/// `state()` counts the threads (idle or in use) and the calls waiting.
#[test]
fn state_counts_threads_and_waiting_calls() {
    run("state", || async {
        let db = TempDb::new();
        let pool = open(&db, 2).await;
        let state = pool.state();
        assert_eq!((state.idle + state.in_use, state.waiting), (3, 0), "{state:?}");
        let (running, gate) = hold_writer(&pool, 1).await;
        let queued: Vec<_> = (2..5).map(|id| pool.write(move |c| insert(c, id))).collect();
        let state = pool.state();
        assert!(state.in_use >= 1 && state.idle + state.in_use == 3, "{state:?}");
        assert_eq!(state.waiting, 3, "{state:?}");
        assert!(format!("{pool:?}").contains("waiting: 3"), "{pool:?}");
        assert!(format!("{:?}", queued[0]).starts_with("Answer"), "{:?}", queued[0]);
        gate.open();
        running.await.unwrap();
        for write in queued {
            write.await.unwrap();
        }
        assert_eq!(pool.state().waiting, 0);
        pool.close().await;
        assert_eq!(pool.state(), litepool::State::new(0, 0, 0), "after close every thread has left");
    });
}

/// A clean connection serves the next job: readers and the writer are
/// not reopened for every call (a setting made on one is still there).
#[test]
fn clean_connections_are_kept() {
    run("kept", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        let cache_size = |c: &Connection| c.query_row("PRAGMA cache_size", [], |r| r.get::<_, i64>(0));
        pool.read(|c| Ok(c.execute_batch("PRAGMA cache_size = 1234")?)).await.unwrap();
        assert_eq!(pool.read(move |c| Ok(cache_size(c)?)).await.unwrap(), 1234, "the reader was reopened");
        pool.write(|c| Ok(c.execute_batch("PRAGMA cache_size = 4321")?)).await.unwrap();
        pool.write(|c| insert(c, 1)).await.unwrap();
        assert_eq!(pool.write(move |c| Ok(cache_size(c)?)).await.unwrap(), 4321, "the writer was reopened");
        pool.close().await;
    });
}

/// A waker that says, on a channel, which task it belongs to.
struct Named(&'static str, std::sync::Mutex<std::sync::mpsc::Sender<&'static str>>);

impl std::task::Wake for Named {
    fn wake(self: Arc<Self>) {
        let _ = self.1.lock().unwrap().send(self.0);
    }
}

/// An answer polled by a second task (its waker changed, as when a future
/// moves between tasks) wakes the task that polled it last, not the first.
#[test]
fn an_answer_wakes_the_waker_it_was_polled_with_last() {
    run("waker", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        let (running, gate) = hold_writer(&pool, 1).await;
        let (woken, wakes) = std::sync::mpsc::channel();
        let first = std::task::Waker::from(Arc::new(Named("first", std::sync::Mutex::new(woken.clone()))));
        let second = std::task::Waker::from(Arc::new(Named("second", std::sync::Mutex::new(woken))));
        let mut answer = std::pin::pin!(pool.write(|c| insert(c, 2)));
        assert!(answer.as_mut().poll(&mut std::task::Context::from_waker(&first)).is_pending());
        assert!(answer.as_mut().poll(&mut std::task::Context::from_waker(&second)).is_pending());
        gate.open();
        running.await.unwrap();
        let who = tokio::task::spawn_blocking(move || wakes.recv_timeout(Duration::from_secs(50)))
            .await
            .unwrap()
            .expect("nobody was woken");
        assert_eq!(who, "second");
        assert!(answer.as_mut().poll(&mut std::task::Context::from_waker(&second)).is_ready());
        pool.close().await;
    });
}

/// The commits in a WAL file so far: frames whose header records the
/// database size after a commit (nonzero only in a transaction's last
/// frame). Valid until a checkpoint resets the log.
fn wal_commits(db: &std::path::Path) -> usize {
    let wal = std::fs::read(db.with_extension("db-wal")).expect("the -wal file");
    let page_size = u32::from_be_bytes(wal[8..12].try_into().unwrap()) as usize;
    wal[32..].chunks(24 + page_size).filter(|frame| frame.len() >= 8 && frame[4..8] != [0, 0, 0, 0]).count()
}

/// A batch holds at most `batch_cap` writes: seven writes (one held in its
/// work while six queue behind it) with a cap of two take four `COMMIT`s,
/// counted in the write-ahead log.
#[test]
fn a_batch_holds_at_most_its_cap() {
    run("cap", || async {
        let db = TempDb::new();
        let path = db.path("async.db");
        let pool = AsyncPool::builder().readers(1).batch_cap(2).open(db.manager("async.db")).expect("open");
        pool.write(|c| {
            Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?)
        })
        .await
        .unwrap();
        let before = wal_commits(&path);
        let (held, gate) = hold_writer(&pool, 1).await;
        let queued: Vec<_> = (2..8).map(|id| pool.write(move |c| insert(c, id))).collect();
        gate.open();
        held.await.unwrap();
        for write in queued {
            write.await.unwrap();
        }
        assert_eq!(wal_commits(&path) - before, 4, "7 writes in batches of at most 2");
        pool.close().await;
        assert_eq!(item_ids(&path), (1..8).collect::<Vec<_>>());
    });
}

/// A batch that cannot start (the file's write turn stays with another
/// writer of this process past the busy timeout) fails its first write
/// busy, at once and with a clear error; the writer serves the next batch.
#[test]
fn a_batch_that_cannot_take_its_turn_fails_busy_and_the_writer_goes_on() {
    run("turn", || async {
        use litepool::AccessExt;
        let db = TempDb::new();
        let manager = || db.manager("async.db").busy_timeout(Duration::from_millis(100));
        let pool = AsyncPool::builder().readers(1).open(manager()).expect("open");
        pool.write(|c| {
            Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?)
        })
        .await
        .unwrap();
        // A blocking strategy on the same file holds the write turn.
        let other = litepool::Locked::open(manager()).expect("open a second strategy");
        let gate = Gate::default();
        let g = gate.clone();
        let holder = std::thread::spawn(move || {
            other.write(|c| {
                insert(c, 1)?;
                g.pass();
                Ok(())
            })
        });
        gate.entered().await;
        let e = pool.write(|c| insert(c, 2)).await.expect_err("the turn is held past the busy timeout");
        assert!(e.is_busy(), "{e}");
        gate.open();
        tokio::task::spawn_blocking(move || holder.join().unwrap()).await.unwrap().unwrap();
        pool.write(|c| insert(c, 3)).await.expect("the writer goes on");
        pool.close().await;
        assert_eq!(item_ids(&db.path("async.db")), vec![1, 3]);
    });
}

/// An async pool over [`Counting`]'s connections, whose seal and savepoint
/// calls can be made to fail (real SQLite does not fail them on purpose),
/// with the `items` table created.
async fn open_counting(db: &TempDb) -> (AsyncPool<Counting<SqliteManager>>, Arc<Counts>) {
    let (manager, counts) = Counting::new(db.manager("async.db"));
    let pool = AsyncPool::builder().readers(1).open(manager).expect("open");
    pool.write(|c| {
        Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?)
    })
    .await
    .unwrap();
    (pool, counts)
}

/// The batch's sealed phase cannot start (its seal cannot be installed,
/// or litepool's savepoint statements cannot be prepared): the write that
/// would have run sealed fails, its work never run, and its error says
/// why; the first write commits; the write queued behind runs in the next
/// batch.
#[test]
fn a_sealed_phase_that_cannot_start_fails_one_write_alone() {
    run("sealed phase", || async {
        for callback in [Callback::InstallSeal, Callback::MemberSavepoints] {
            let db = TempDb::new();
            let (pool, counts) = open_counting(&db).await;
            let (first, gate) = hold_writer(&pool, 1).await;
            let ran = Arc::new(AtomicBool::new(false));
            let r = ran.clone();
            let second = pool.write(move |c| {
                r.store(true, Ordering::SeqCst);
                insert(c, 2)
            });
            let third = pool.write(|c| insert(c, 3));
            counts.fail_in(callback, 1);
            gate.open();
            first.await.expect("the first write runs unsealed and commits");
            let e = second.await.expect_err("the write that needed the sealed phase fails");
            assert!(e.to_string().contains(&format!("planted {callback:?} failure")), "{e}");
            assert!(
                !ran.load(Ordering::SeqCst),
                "{callback:?}: the work of a write that could not run sealed ran"
            );
            third.await.expect("the write queued behind runs in the next batch");
            assert_eq!(counts.unfired(), 0, "the planted failure fired");
            pool.close().await;
            assert_eq!(item_ids(&db.path("async.db")), vec![1, 3], "{callback:?}");
        }
    });
}

/// The batch's seal cannot be removed before its `COMMIT`: the writer
/// closes its connection, which rolls the batch back; every member hears
/// that, nothing of the batch is stored, and the next write is served on
/// a new connection.
#[test]
fn a_seal_that_cannot_be_removed_rolls_the_batch_back_and_says_why() {
    run("seal not removed", || async {
        let db = TempDb::new();
        let (pool, counts) = open_counting(&db).await;
        let (first, gate) = hold_writer(&pool, 1).await;
        let second = pool.write(|c| insert(c, 2));
        counts.fail_in(Callback::RemoveSeal, 1);
        let (opened, closed) = (counts.opened(), counts.closed());
        gate.open();
        for e in [first.await.expect_err("first"), second.await.expect_err("second")] {
            assert_told_seal_not_removed(&e);
        }
        assert_eq!(counts.closed(), closed + 1, "the connection whose seal stayed was closed");
        pool.write(|c| insert(c, 3)).await.expect("the next write is served");
        assert_eq!(counts.opened(), opened + 1, "on a new connection");
        pool.close().await;
        assert_eq!(item_ids(&db.path("async.db")), vec![3]);
        assert_eq!(integrity_check(&db.path("async.db")), "ok");
    });
}

/// SQLite rolls a batch's transaction back (a write past
/// `max_page_count`, `SQLITE_FULL`): that write fails `Full`, the write
/// batched before it fails `Aborted` naming the cause, and the write
/// queued behind them runs in a new transaction: its row alone is stored.
#[test]
fn sqlite_rolling_back_a_batch_fails_its_members_and_the_next_write_runs() {
    run("lost batch", || async {
        let db = TempDb::new();
        let pool = open(&db, 1).await;
        pool.write(|c| Ok(c.execute_batch("CREATE TABLE filler (data BLOB)")?)).await.unwrap();
        let (first, gate) = hold_writer(&pool, 1).await;
        let second = pool.write(|c| {
            insert(c, 2)?;
            fill_the_database(c)
        });
        let third = pool.write(|c| insert(c, 3));
        gate.open();
        let e = first.await.expect_err("the write batched before the overflow was rolled back with it");
        assert!(
            e.is_aborted() && e.to_string().contains("full") && e.to_string().contains("retrying it is safe"),
            "{e}"
        );
        let e = second.await.expect_err("the write past max_page_count fails");
        assert!(e.is_full(), "{e}");
        third.await.expect("the write queued behind runs in a new transaction");
        pool.close().await;
        assert_eq!(item_ids(&db.path("async.db")), vec![3]);
        assert_eq!(integrity_check(&db.path("async.db")), "ok");
    });
}
