//! The pool's own behaviour with real threads and real SQLite: waiting,
//! timing out, waking, closing. Timeouts use generous bounds, and threads
//! synchronise on the pool's observable `state()`, never on sleeps.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use litepool::{Pool, SqliteManager};
use support::TempDb;

fn pool(db: &TempDb, max_size: usize) -> Pool<SqliteManager> {
    Pool::builder().max_size(max_size).open(db.manager("p.db")).expect("build pool")
}

/// Blocks until `n` threads are waiting in the pool.
fn until_waiting(pool: &Pool<SqliteManager>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while pool.state().waiting < n {
        assert!(Instant::now() < deadline, "no thread started waiting: {:?}", pool.state());
        thread::yield_now();
    }
}

/// An exhausted pool's `get_timeout(d)` fails after about `d`, with the
/// numbers in the message.
#[test]
fn exhausted_pool_times_out_after_the_wait_with_its_numbers() {
    let db = TempDb::new();
    let pool = pool(&db, 2);
    let (_a, _b) = (pool.get().unwrap(), pool.get().unwrap());
    let started = Instant::now();
    let err = pool.get_timeout(Duration::from_millis(200)).unwrap_err();
    let waited = started.elapsed();
    assert!(err.is_timeout(), "{err}");
    assert!(waited >= Duration::from_millis(200), "gave up early, after {waited:?}");
    assert!(waited < Duration::from_secs(20), "waited far too long: {waited:?}");
    println!("BAD-INPUT | `get_timeout(200ms)` on an exhausted pool | `{:?}` | {err} |", err.kind());
    assert_eq!(
        err.to_string(),
        "pool exhausted: 2 of 2 connections in use after waiting 200ms; raise max_size or return connections sooner"
    );
    assert_eq!(pool.state().waiting, 0);
}

/// `try_get` on an exhausted pool fails at once and says it did not wait.
#[test]
fn try_get_on_an_exhausted_pool_fails_without_waiting() {
    let db = TempDb::new();
    let pool = pool(&db, 1);
    let held = pool.get().unwrap();
    let err = pool.try_get().unwrap_err();
    assert!(err.is_timeout());
    assert!(err.to_string().contains("try_get does not wait"), "{err}");
    drop(held);
    assert!(pool.try_get().is_ok());
}

/// A waiter gets the connection as soon as it is returned.
#[test]
fn a_returned_connection_goes_to_the_waiting_thread() {
    let db = TempDb::new();
    let pool = pool(&db, 1);
    let held = pool.get().unwrap();
    thread::scope(|s| {
        let waiter = s.spawn(|| pool.get_timeout(Duration::from_secs(20)).map(drop));
        until_waiting(&pool, 1);
        drop(held);
        waiter.join().unwrap().expect("the waiter got the returned connection");
    });
    assert_eq!(pool.state().in_use, 0);
    assert_eq!(pool.state().idle, 1);
}

/// `close()` wakes every waiting thread, and each fails with a closed error.
#[test]
fn close_wakes_all_waiters_with_a_closed_error() {
    let db = TempDb::new();
    let pool = pool(&db, 1);
    let held = pool.get().unwrap();
    thread::scope(|s| {
        let waiters: Vec<_> =
            (0..3).map(|_| s.spawn(|| pool.get_timeout(Duration::from_secs(30)).map(drop))).collect();
        until_waiting(&pool, 3);
        pool.close();
        for w in waiters {
            assert!(w.join().unwrap().unwrap_err().is_closed());
        }
    });
    drop(held);
    let state = pool.state();
    assert_eq!((state.idle, state.in_use, state.waiting), (0, 0, 0), "the returned connection was closed");
}

/// `min_idle` connections are open after `build`, and connections are
/// reused last-in, first-out.
#[test]
fn min_idle_connections_are_opened_at_build() {
    let db = TempDb::new();
    let pool = Pool::builder().max_size(4).min_idle(3).open(db.manager("m.db")).unwrap();
    assert_eq!(pool.state().idle, 3);
    // A TEMP table is private to one connection: it marks which one we got.
    pool.get().unwrap().execute_batch("CREATE TEMP TABLE mark (x)").unwrap();
    let again = pool.get().unwrap();
    let marked: i64 = again
        .query_row("SELECT count(*) FROM temp.sqlite_schema WHERE name = 'mark'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(marked, 1, "the warmest connection is reused first");
}

/// Connections are opened on demand, never more than `max_size`.
#[test]
fn the_pool_never_opens_more_than_max_size() {
    let db = TempDb::new();
    let pool = pool(&db, 3);
    let held: Vec<_> = (0..3).map(|_| pool.try_get().unwrap()).collect();
    assert!(pool.try_get().unwrap_err().is_timeout());
    assert_eq!(pool.state().in_use, 3);
    drop(held);
    assert_eq!(pool.state().idle, 3);
}

/// A connection given back inside an open transaction is rolled back before
/// the next checkout.
#[test]
fn a_connection_returned_mid_transaction_is_rolled_back() {
    let db = TempDb::new();
    let pool = pool(&db, 1);
    pool.get().unwrap().execute_batch("CREATE TABLE t (x); BEGIN; INSERT INTO t VALUES (1);").unwrap();
    let conn = pool.get().unwrap();
    assert!(conn.is_autocommit(), "handed out mid-transaction");
    let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0, "the abandoned insert was rolled back");
}
