//! The documented contracts, each checked against real SQLite for every
//! strategy in the list: panic safety in every callback, the lifecycle
//! around `close()` and drop (counted with a wrapping manager), the pool's
//! time contracts under churn, and the setup every connection must show.
//!
//! Time is asserted only with generous bounds, and only where litepool,
//! not SQLite's busy handler, decides how long a call takes.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use litepool::rusqlite::Connection;
use litepool::strategy::{Connections, Manager, Sizing};
use litepool::{Access, AccessExt, ErrorKind, JournalMode, Pool, SqliteManager, Synchronous, strategy};
use support::counting::{Callback, Counted, Counting, Counts, EXPLAINED, PLANTED_PANIC};
use support::{StopOnDrop, TempDb, wait_until, within};

type Counter = dyn Access<Connection = Counted<Connection>>;

/// Keeps the planted panics of this suite out of the output.
fn quiet_planted_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = support::panic_message(info.payload());
            if !text.starts_with(PLANTED_PANIC) && !text.starts_with("planted panic") {
                default(info);
            }
        }));
    });
}

/// Whether the strategy named `name` keeps connections between calls (all
/// but a [`Connections::PerCall`] one do); one that keeps none never resets
/// a connection or asks whether it is broken.
fn keeps_connections(name: &str) -> bool {
    let strategy = strategy::all::<SqliteManager>().into_iter().find(|s| s.name == name).expect("listed");
    !matches!(strategy.connections, Connections::PerCall)
}

/// Every strategy over a counting manager on its own file in `db`.
fn each_counted(
    db: &TempDb,
    sizing: Sizing,
    manager: impl Fn(SqliteManager) -> SqliteManager,
    test: impl Fn(&str, Box<Counter>, &Counts),
) {
    for strategy in strategy::all::<Counting<SqliteManager>>() {
        let (counting, counts) = Counting::new(manager(db.manager(&format!("{}.db", strategy.name))));
        let access = (strategy.open)(counting, sizing).expect("open strategy");
        access
            .write(|c| Ok(c.execute_batch("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, v)")?))
            .unwrap();
        test(strategy.name, access, &counts);
    }
}

fn insert(c: &Connection) -> litepool::Result<()> {
    c.execute("INSERT INTO items (v) VALUES (1)", [])?;
    Ok(())
}

fn count(access: &Counter) -> i64 {
    access.read(|c| Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?)).unwrap()
}

/// Asserts that `access` is at full capacity: nothing counted in use or
/// waiting, and two threads can each write.
fn assert_full_capacity(name: &str, access: &Counter) {
    let state = access.state();
    assert_eq!((state.in_use, state.waiting), (0, 0), "{name}: {state:?}");
    on_threads(2, || access.write(|c| insert(c)).unwrap_or_else(|e| panic!("{name}: {e}")));
    let state = access.state();
    assert_eq!((state.in_use, state.waiting), (0, 0), "{name} after use: {state:?}");
}

// ---------------------------------------------------------------- panics ---

/// The slot leak found by the peer suite (r2d2's and deadpool's tests): a
/// `with_init` hook that panics once used to keep its reserved slot for
/// ever, so that a `max_size(1)` pool then timed out with "1 of 1
/// connections in use" while nothing was.
#[test]
fn regression_slot_leak_when_with_init_panics() {
    quiet_planted_panics();
    let db = TempDb::new();
    let panicked = Arc::new(AtomicBool::new(false));
    let once = panicked.clone();
    let manager = db.manager("leak.db").with_init(move |_| {
        if !once.swap(true, Ordering::SeqCst) {
            panic!("planted panic in with_init");
        }
        Ok(())
    });
    let pool = Pool::builder().max_size(1).open(manager).unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| pool.get().map(drop))).is_err(), "the hook did not panic");
    assert!(panicked.load(Ordering::SeqCst));
    assert_eq!(pool.state().in_use, 0, "the panicking open kept its slot: {:?}", pool.state());
    let conn = pool.get_timeout(Duration::from_secs(5)).expect("the slot was released");
    drop(conn);
    assert_eq!(pool.state().idle, 1);
}

/// A panic in any callback (the work, `connect` through `with_init`,
/// `reset`, `is_broken`) reaches the caller, and leaves every strategy at
/// full capacity and usable, with nothing of the panicked write stored.
#[test]
fn a_panic_in_any_callback_leaves_every_strategy_at_full_capacity() {
    quiet_planted_panics();
    let db = TempDb::new();
    each_counted(
        &db,
        Sizing::pool_size(2),
        |m| m,
        |name, access, counts| {
            let access = &*access;
            // A connection must be opened again for a connect panic to fire.
            let plants: [(&str, &dyn Fn()); 4] = [
                ("work", &|| {}),
                ("connect", &|| counts.panic_in(Callback::Connect, 1)),
                ("reset", &|| counts.panic_in(Callback::Reset, 1)),
                ("is_broken", &|| counts.panic_in(Callback::IsBroken, 1)),
            ];
            let keeps = keeps_connections(name);
            for (callback, plant) in plants {
                if !keeps && matches!(callback, "reset" | "is_broken") {
                    continue; // it has no return path to panic in
                }
                let before = count(access) as usize;
                // Discard every warm connection first, so that an open follows.
                for _ in 0..3 {
                    if keeps {
                        counts.fail_in(Callback::IsBroken, 1);
                    }
                    count(access);
                }
                plant();
                let wrote = AtomicBool::new(false);
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    access.write(|c| -> litepool::Result<()> {
                        c.execute("INSERT INTO items (v) VALUES (2)", [])?;
                        // Leaves a transaction open for the return path to reset
                        // when the work itself does not panic.
                        if callback == "work" {
                            panic!("planted panic in the work");
                        }
                        Ok(())
                    })?;
                    wrote.store(true, Ordering::SeqCst);
                    access.read(|c| Ok(c.execute_batch("BEGIN")?))
                }));
                assert!(outcome.is_err(), "{name}: the {callback} panic did not reach the caller");
                assert_eq!(counts.unfired(), 0, "{name}: the {callback} panic never fired");
                let stored = count(access) as usize - before;
                // A write acknowledged before the panic is stored; one whose work
                // panicked is not; one whose return path panicked came after its
                // COMMIT and may be.
                let wrote = usize::from(wrote.load(Ordering::SeqCst));
                let range = if matches!(callback, "reset" | "is_broken") { wrote..=1 } else { wrote..=wrote };
                assert!(
                    range.contains(&stored),
                    "{name}: {stored} rows stored of a write whose {callback} panicked"
                );
                assert_full_capacity(&format!("{name} after a {callback} panic"), access);
                assert!(access.read(|c| Ok(c.is_autocommit())).unwrap(), "{name}: left in a transaction");
            }
        },
    );
}

/// A failing `reset` or a connection reported broken is never handed on:
/// the strategy closes it and opens a fresh one.
#[test]
fn a_connection_whose_reset_failed_or_that_is_broken_is_closed_not_reused() {
    let db = TempDb::new();
    each_counted(
        &db,
        Sizing::pool_size(1),
        |m| m,
        |name, access, counts| {
            for callback in [Callback::Reset, Callback::IsBroken] {
                let closed = counts.closed();
                counts.fail_in(callback, 1);
                // A per-connection setting marks the connection (read-only
                // readers included); BEGIN leaves it needing a reset.
                access.read(|c| Ok(c.execute_batch("PRAGMA cache_size = -1111; BEGIN;")?)).unwrap();
                if !keeps_connections(name) {
                    // Nothing is reused: the connection closed with its call.
                    counts.fail_in(callback, 0);
                }
                assert_eq!(counts.unfired(), 0, "{name}: {callback:?} was never called");
                assert_eq!(
                    counts.closed(),
                    closed + 1,
                    "{name}: the unfit connection was not closed ({callback:?})"
                );
                let mark: i64 =
                    access.read(|c| Ok(c.query_row("PRAGMA cache_size", [], |r| r.get(0))?)).unwrap();
                assert_ne!(mark, -1111, "{name}: the unfit connection was handed on ({callback:?})");
                assert_full_capacity(name, &*access);
            }
        },
    );
}

// ------------------------------------------------------------- lifecycle ---

/// Runs `f` on `n` threads and joins each explicitly: a join waits for the
/// thread's thread-locals (so `PerThread`'s connections) to be dropped,
/// where the end of a `thread::scope` does not.
fn on_threads(n: usize, f: impl Fn() + Sync) {
    thread::scope(|s| {
        let threads: Vec<_> = (0..n).map(|_| s.spawn(&f)).collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
    });
}

/// After `close()`: idle connections are closed at once, no call opens a
/// connection again (on this thread or a new one), every call fails with a
/// closed error, and `state()` is all zeros. After drop, everything opened
/// was closed.
#[test]
fn close_closes_idle_connections_at_once_and_nothing_opens_after() {
    let db = TempDb::new();
    each_counted(
        &db,
        Sizing::pool_size(3),
        |m| m,
        |name, access, counts| {
            // Connections on several threads, all returned (and for
            // per-thread, closed as those threads end).
            on_threads(3, || access.read(|_| Ok(())).unwrap());
            access.write(|c| insert(c)).unwrap();
            assert!(counts.opened() >= 1, "{name}");
            access.close();
            assert_eq!(counts.open_now(), 0, "{name}: {} connections outlived close()", counts.open_now());
            let opened = counts.opened();
            assert!(access.read(|_| Ok(())).unwrap_err().is_closed(), "{name}");
            assert!(access.write(|c| insert(c)).unwrap_err().is_closed(), "{name}");
            thread::scope(|s| {
                let late = s.spawn(|| access.read(|_| Ok(())));
                assert!(late.join().unwrap().unwrap_err().is_closed(), "{name}");
            });
            assert_eq!(counts.opened(), opened, "{name}: a connection was opened after close()");
            let state = access.state();
            assert_eq!((state.idle, state.in_use, state.waiting), (0, 0, 0), "{name}: {state:?}");
            drop(access);
            assert_eq!(counts.open_now(), 0, "{name}");
        },
    );
}

/// Dropping a strategy without `close()` closes every connection it opened
/// (the threads that used it have ended).
#[test]
fn drop_closes_every_connection() {
    let db = TempDb::new();
    each_counted(
        &db,
        Sizing::pool_size(2),
        |m| m,
        |name, access, counts| {
            on_threads(3, || access.write(|c| insert(c)).unwrap());
            access.write(|c| insert(c)).unwrap();
            if keeps_connections(name) {
                assert!(counts.open_now() >= 1, "{name}: nothing stayed open to close");
            }
            drop(access);
            assert_eq!(counts.open_now(), 0, "{name}: {} connections outlived drop", counts.open_now());
        },
    );
}

/// A connection checked out when `close()` is called is closed when it
/// comes back, not kept idle.
#[test]
fn a_connection_out_during_close_is_closed_when_it_comes_back() {
    let db = TempDb::new();
    let (manager, counts) = Counting::new(db.manager("out.db"));
    let pool = Pool::builder().max_size(2).open(manager).unwrap();
    let held = pool.get().unwrap();
    pool.get().unwrap(); // one idle
    pool.close();
    assert_eq!(counts.open_now(), 1, "the idle connection was not closed at once");
    drop(held);
    assert_eq!(counts.open_now(), 0, "the returned connection was kept");
    assert_eq!(pool.state(), litepool::State::new(0, 0, 0));
}

/// `PerThread`'s documented closing point: after `close()`, another
/// thread's connection is closed at that thread's next call (which fails
/// closed), or when that thread ends.
#[test]
fn per_thread_connections_on_other_threads_close_at_their_next_call_or_thread_end() {
    let db = TempDb::new();
    let (manager, counts) = Counting::new(db.manager("pt.db"));
    let per_thread = &litepool::PerThread::open(manager).unwrap();
    let (closed_tx, closed_rx) = mpsc::channel();
    let (used_tx, used_rx) = mpsc::channel();
    thread::scope(|s| {
        // Keeps its connection and makes one more call once told.
        s.spawn(move || {
            per_thread.read(|_| Ok(())).unwrap();
            used_tx.send(()).unwrap();
            closed_rx.recv().unwrap();
            assert!(per_thread.read(|_| Ok(())).unwrap_err().is_closed());
            used_tx.send(()).unwrap();
            // Parked until the main thread has counted.
            closed_rx.recv().unwrap();
        });
        // Keeps its connection until it ends.
        let ender = s.spawn(|| per_thread.read(|_| Ok(())).unwrap());
        ender.join().unwrap();
        used_rx.recv().unwrap();
        assert_eq!(counts.open_now(), 1, "the ended thread's connection is closed, the parked one's open");
        per_thread.close();
        assert_eq!(counts.open_now(), 1, "close() cannot reach another thread's connection");
        closed_tx.send(()).unwrap();
        used_rx.recv().unwrap();
        assert_eq!(counts.open_now(), 0, "the next call after close() did not close its connection");
        closed_tx.send(()).unwrap();
    });
    assert_eq!(counts.opened(), 2);
}

/// `close()` wakes every waiter at once: they fail with a closed error
/// long before their own timeout.
#[test]
fn close_fails_waiters_promptly() {
    let db = TempDb::new();
    let pool = Pool::builder().max_size(1).open(db.manager("w.db")).unwrap();
    let held = pool.get().unwrap();
    thread::scope(|s| {
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let started = Instant::now();
                    let err = pool.get_timeout(Duration::from_secs(20)).map(drop).unwrap_err();
                    (err, started.elapsed())
                })
            })
            .collect();
        wait_until("3 waiters", || pool.state().waiting == 3);
        pool.close();
        for w in waiters {
            let (err, waited) = w.join().unwrap();
            assert!(err.is_closed(), "{err}");
            assert!(waited < Duration::from_secs(15), "a waiter took {waited:?} to notice close()");
        }
    });
    drop(held);
}

// ------------------------------------------------------------------ time ---

/// Runs `threads` threads that take and return connections of `pool` in a
/// loop (each holding one for a few yields) until the returned guard drops.
fn churn<'s, M: Manager>(
    s: &'s thread::Scope<'s, '_>,
    pool: &'s Pool<M>,
    running: &'s AtomicBool,
    threads: usize,
    taken: &'s AtomicUsize,
) {
    for _ in 0..threads {
        s.spawn(move || {
            while running.load(Ordering::SeqCst) {
                // try_get: bargers never wait, so they take a connection the
                // moment it is back, before a woken waiter can.
                if let Ok(conn) = pool.try_get() {
                    taken.fetch_add(1, Ordering::Relaxed);
                    for _ in 0..20 {
                        thread::yield_now();
                    }
                    drop(conn);
                }
                thread::yield_now();
            }
        });
    }
}

/// Under steady churn, `get_timeout(d)` either gets a connection or fails
/// with a timeout, never before `d` (a waiter that loses the connection it
/// was woken for to a barging thread waits again until its own deadline)
/// and within `d` plus a generous margin.
#[test]
fn get_timeout_under_churn_never_fails_early_and_returns_near_its_deadline() {
    let db = TempDb::new();
    let pool = Pool::builder().max_size(2).open(db.manager("churn.db")).unwrap();
    let running = AtomicBool::new(true);
    let taken = AtomicUsize::new(0);
    let wait = Duration::from_millis(50);
    let (mut got, mut timed_out) = (0, 0);
    thread::scope(|s| {
        let _stop = StopOnDrop(&running);
        churn(s, &pool, &running, 4, &taken);
        wait_until("the churn to take a connection", || taken.load(Ordering::Relaxed) > 0);
        for _ in 0..60 {
            let started = Instant::now();
            let outcome = pool.get_timeout(wait);
            let waited = started.elapsed();
            match outcome {
                Ok(conn) => {
                    got += 1;
                    drop(conn);
                }
                Err(e) => {
                    assert!(e.is_timeout(), "{e}");
                    timed_out += 1;
                    assert!(waited >= wait, "gave up after {waited:?}, before its {wait:?}");
                    assert!(
                        waited < wait + Duration::from_secs(10),
                        "returned {waited:?} after a {wait:?} wait"
                    );
                }
            }
        }
    });
    assert!(taken.load(Ordering::Relaxed) > 0, "the churn threads never took a connection");
    println!("TIME | get_timeout(50ms) under churn: {got} got, {timed_out} timed out (none early) |");
    let state = pool.state();
    assert_eq!((state.in_use, state.waiting), (0, 0), "{state:?}");
}

/// A single waiter whose connection is stolen, over and over, by bargers
/// that never wait: each of its wake-ups may find nothing, and it must wait
/// again, failing only once its own deadline has passed.
#[test]
fn a_waiter_that_loses_its_wakeup_to_a_barger_waits_until_its_deadline() {
    let db = TempDb::new();
    let pool = Pool::builder().max_size(1).open(db.manager("barge.db")).unwrap();
    let running = AtomicBool::new(true);
    let taken = AtomicUsize::new(0);
    thread::scope(|s| {
        let _stop = StopOnDrop(&running);
        churn(s, &pool, &running, 3, &taken);
        wait_until("the churn to take a connection", || taken.load(Ordering::Relaxed) > 0);
        for round in 0..20 {
            let wait = Duration::from_millis(20 + 5 * round);
            let started = Instant::now();
            let outcome = pool.get_timeout(wait).map(drop);
            let waited = started.elapsed();
            if let Err(e) = outcome {
                assert!(e.is_timeout(), "{e}");
                assert!(waited >= wait, "round {round}: failed after {waited:?}, before its {wait:?}");
            }
            // Its own deadline, not one pushed back at every wake-up.
            assert!(waited < wait + Duration::from_secs(10), "round {round}: returned after {waited:?}");
        }
    });
    assert!(taken.load(Ordering::Relaxed) > 0, "nobody barged");
}

/// One waiter, and two bargers that spin on `try_get` and hold the
/// connection a moment each: when one returns it the other, spinning,
/// takes it long before the woken waiter can, so nearly every wake-up of
/// the waiter finds the connection gone. It must still fail at its own
/// deadline (or get a connection before it); a wait that started its clock
/// again at each wake-up would go on as long as it kept losing.
#[test]
fn a_waiter_against_spinning_bargers_returns_by_its_deadline() {
    let db = TempDb::new();
    let pool = Arc::new(Pool::builder().max_size(1).open(db.manager("barge.db")).unwrap());
    within(Duration::from_secs(60), "a waiter losing every wake-up to bargers", move || {
        let running = AtomicBool::new(true);
        let (taken, wait) = (AtomicUsize::new(0), Duration::from_millis(100));
        let (mut got, mut timed_out) = (0, 0);
        thread::scope(|s| {
            let _stop = StopOnDrop(&running);
            for _ in 0..2 {
                s.spawn(|| {
                    while running.load(Ordering::SeqCst) {
                        if let Ok(conn) = pool.try_get() {
                            taken.fetch_add(1, Ordering::SeqCst);
                            let held = Instant::now();
                            while held.elapsed() < Duration::from_micros(100) {
                                std::hint::spin_loop();
                            }
                            drop(conn);
                        }
                    }
                });
            }
            wait_until("the bargers to take the connection", || taken.load(Ordering::SeqCst) > 0);
            for round in 0..10 {
                let started = Instant::now();
                let outcome = pool.get_timeout(wait).map(drop);
                let waited = started.elapsed();
                match outcome {
                    Ok(()) => got += 1,
                    Err(e) => {
                        assert!(e.is_timeout(), "{e}");
                        assert!(
                            waited >= wait,
                            "round {round}: failed after {waited:?}, before its {wait:?}"
                        );
                        timed_out += 1;
                    }
                }
                assert!(waited < wait + Duration::from_secs(10), "round {round}: returned after {waited:?}");
            }
        });
        println!(
            "TIME | get_timeout(100ms) against two spinning bargers: {got} got, {timed_out} timed out |"
        );
    });
}

/// `get()` waits for the builder's `connection_timeout`, and its error says
/// how long it waited.
#[test]
fn get_uses_the_builders_connection_timeout() {
    let db = TempDb::new();
    let timeout = Duration::from_millis(150);
    let pool = Pool::builder().max_size(1).connection_timeout(timeout).open(db.manager("t.db")).unwrap();
    let _held = pool.get().unwrap();
    let started = Instant::now();
    let err = pool.get().map(drop).unwrap_err();
    let waited = started.elapsed();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("after waiting 150ms"), "{err}");
    assert!(waited >= timeout, "gave up after {waited:?}");
    assert!(waited < timeout + Duration::from_secs(10), "waited {waited:?}");
}

/// The builder's defaults: `max_size` 10, `min_idle` 0, a 30 s connection
/// timeout.
#[test]
fn the_builders_defaults_are_the_documented_ones() {
    let db = TempDb::new();
    let pool = Pool::open(db.manager("d.db")).unwrap();
    assert_eq!(pool.max_size(), 10);
    assert_eq!(pool.state().idle, 0, "min_idle defaults to 0");
    let held: Vec<_> = (0..10).map(|_| pool.try_get().unwrap()).collect();
    assert!(pool.try_get().unwrap_err().is_timeout());
    drop(held);
    let debug = format!("{:?}", Pool::<SqliteManager>::builder());
    assert!(debug.contains("connection_timeout: 30s"), "{debug}");
}

// ----------------------------------------------------------------- setup ---

/// What one connection shows of its setup.
#[derive(Debug, PartialEq, Eq)]
struct Setup {
    busy_timeout_ms: i64,
    synchronous: i64,
    foreign_keys: i64,
    cache_size: i64,
}

fn setup_of(c: &Connection) -> litepool::Result<Setup> {
    let pragma = |name: &str| -> litepool::Result<i64> {
        Ok(c.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?)
    };
    Ok(Setup {
        busy_timeout_ms: pragma("busy_timeout")?,
        synchronous: pragma("synchronous")?,
        foreign_keys: pragma("foreign_keys")?,
        cache_size: pragma("cache_size")?,
    })
}

/// Every connection any strategy hands out, on the read path and the write
/// path (`split`'s read-only readers included), shows the configured busy
/// timeout, `synchronous`, `foreign_keys` and the `with_init` hook's effect;
/// and with nothing configured, the documented defaults.
#[test]
fn every_connection_shows_the_configured_setup() {
    let db = TempDb::new();
    let configured = |m: SqliteManager| {
        m.busy_timeout(Duration::from_millis(1234))
            .synchronous(Synchronous::Full)
            .foreign_keys(false)
            .with_init(|c| c.execute_batch("PRAGMA cache_size = -777"))
    };
    let wanted = Setup { busy_timeout_ms: 1234, synchronous: 2, foreign_keys: 0, cache_size: -777 };
    each_counted(&db, Sizing::pool_size(2), configured, |name, access, _| {
        thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| assert_eq!(access.read(|c| setup_of(c)).unwrap(), wanted, "{name}: a read"));
            }
        });
        assert_eq!(access.write(|c| setup_of(c)).unwrap(), wanted, "{name}: the write connection");
    });
    // Every connection of a pool, held at once, not only the warmest.
    let pool = Pool::builder().max_size(3).open(configured(db.manager("all.db"))).unwrap();
    let held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    for conn in &held {
        assert_eq!(setup_of(conn).unwrap(), wanted, "a pool connection");
    }
    drop(held);
    // The defaults: 5 s, NORMAL, foreign keys on, SQLite's own cache size.
    let defaults = Setup { busy_timeout_ms: 5000, synchronous: 1, foreign_keys: 1, cache_size: -2000 };
    each_counted(
        &db,
        Sizing::pool_size(2),
        |m| m,
        |name, access, _| {
            assert_eq!(access.read(|c| setup_of(c)).unwrap(), defaults, "{name}: read");
            assert_eq!(access.write(|c| setup_of(c)).unwrap(), defaults, "{name}: write");
            let mode: String =
                access.read(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?)).unwrap();
            assert_eq!(mode, "wal", "{name}: WAL is the default");
        },
    );
}

/// The journal mode is set once per database, in `prepare`, not on every
/// new connection: a mode changed behind litepool's back after the build
/// stays changed however many connections open later.
#[test]
fn the_journal_mode_is_set_once_per_database_not_per_connection() {
    let db = TempDb::new();
    for strategy in strategy::all::<SqliteManager>().into_iter().filter(|s| !s.wal_only) {
        let path = db.path(&format!("{}.db", strategy.name));
        let access = (strategy.open)(
            SqliteManager::file(&path).journal_mode(JournalMode::Delete),
            Sizing::pool_size(3),
        )
        .unwrap();
        let outside = Connection::open(&path).unwrap();
        // Locked holds its one connection open: DELETE → WAL works with
        // other connections open, so no strategy needs to be idle for it.
        let mode: String = outside.query_row("PRAGMA journal_mode = wal", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        drop(outside);
        thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| access.read(|_| Ok(())).unwrap());
            }
        });
        access.write(|c| Ok(c.execute_batch("CREATE TABLE IF NOT EXISTS t (x)")?)).unwrap();
        let mode: String =
            Connection::open(&path).unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal", "{}: a new connection set the journal mode again", strategy.name);
    }
}

/// The busy timeout governs the setup statements too: with another
/// connection holding an exclusive lock for a while, building a strategy
/// waits for it instead of failing; with a zero busy timeout it fails busy
/// at once.
#[test]
fn the_busy_timeout_governs_the_setup_statements() {
    let db = TempDb::new();
    let path = db.path("setup.db");
    Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
    let manager = || SqliteManager::file(&path).journal_mode(JournalMode::Delete);
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = Pool::builder().max_size(1).open(manager().busy_timeout(Duration::ZERO)).unwrap_err();
    assert!(err.is_busy(), "{err}");
    let released = AtomicBool::new(false);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let released = &released;
        s.spawn(move || {
            // The lock is the stimulus: held for a while, then released on
            // this thread, whatever the builder is doing.
            let _ = release_rx.recv_timeout(Duration::from_millis(300));
            holder.execute_batch("COMMIT").unwrap();
            released.store(true, Ordering::SeqCst);
        });
        let held_at_start = !released.load(Ordering::SeqCst);
        let built = Pool::builder().max_size(1).open(manager().busy_timeout(Duration::from_secs(60)));
        drop(release_tx);
        assert!(held_at_start, "the lock was released before the build began; nothing was checked");
        let pool = built.expect("the build waited for the lock instead of failing");
        assert!(pool.get().is_ok());
    });
}

/// "Zero means: fail at once" (`SqliteManager::busy_timeout`), in SQLite's
/// busy handler and in the write queue alike. "At once" is checked against
/// a bound far below the 5 s default a zero could be mistaken for: a busy
/// failure takes microseconds, so 4 s leaves room for any load.
#[test]
fn a_zero_busy_timeout_fails_busy_at_once() {
    let at_once = Duration::from_secs(4);
    let db = TempDb::new();
    let path = db.path("zero.db");
    Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
    for strategy in strategy::all::<SqliteManager>() {
        let name = strategy.name;
        // SQLite's busy handler: a connection outside the process holds the lock.
        let access =
            (strategy.open)(SqliteManager::file(&path).busy_timeout(Duration::ZERO), Sizing::pool_size(2))
                .unwrap();
        let outsider = Connection::open(&path).unwrap();
        outsider.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = Instant::now();
        let err = access.write(|c| Ok(c.execute_batch("INSERT INTO t VALUES (1)")?)).unwrap_err();
        let took = started.elapsed();
        assert!(err.is_busy(), "{name}: {err}");
        assert!(took < at_once, "{name}: failed busy after {took:?}, not at once");
        outsider.execute_batch("ROLLBACK").unwrap();

        // The write queue: another writer of this process holds the turn.
        let holder = (strategy.open)(SqliteManager::file(&path), Sizing::pool_size(2)).unwrap();
        // `release` is set before the holder starts: set after, the holder
        // could find it unset and let its turn go before the contender
        // asks (a loaded machine did exactly that).
        let (holding, release) = (AtomicBool::new(false), AtomicBool::new(true));
        thread::scope(|s| {
            let _release = StopOnDrop(&release);
            s.spawn(|| {
                holder
                    .write(|_| {
                        holding.store(true, Ordering::SeqCst);
                        wait_until("the contender to fail", || !release.load(Ordering::SeqCst));
                        Ok(())
                    })
                    .unwrap()
            });
            wait_until("the holder to take its turn", || holding.load(Ordering::SeqCst));
            let started = Instant::now();
            let err = access.write(|_| Ok(())).unwrap_err();
            let took = started.elapsed();
            release.store(false, Ordering::SeqCst);
            assert!(err.is_busy(), "{name}: {err}");
            assert!(took < at_once, "{name}: failed busy in the queue after {took:?}, not at once");
        });
    }
}

/// A strategy that needs WAL refuses every way of being opened on a
/// rollback-journal database, with a config error that says so, and
/// never hangs or opens anyway: a journal mode asked for, the file's own
/// kept, an in-memory database (which cannot be in WAL), and a file opened
/// read-only (whose mode litepool cannot change).
#[test]
fn a_wal_only_strategy_refuses_every_way_of_opening_a_rollback_journal() {
    use litepool::rusqlite::OpenFlags;
    let db = TempDb::new();
    let delete_file = db.path("delete.db");
    let conn = Connection::open(&delete_file).unwrap();
    conn.execute_batch("PRAGMA journal_mode = delete; CREATE TABLE t (x)").unwrap();
    drop(conn);
    let ways: Vec<(&str, SqliteManager)> = vec![
        ("journal_mode(Delete)", SqliteManager::file(db.path("new.db")).journal_mode(JournalMode::Delete)),
        (
            "keep_journal_mode() on a rollback-journal file",
            SqliteManager::file(&delete_file).keep_journal_mode(),
        ),
        ("an in-memory database", SqliteManager::file(":memory:")),
        ("a shared in-memory URI", SqliteManager::file("file:litepool_mem?mode=memory&cache=shared")),
        (
            "a rollback-journal file opened read-only",
            SqliteManager::file(&delete_file)
                .flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI),
        ),
    ];
    for strategy in strategy::all::<SqliteManager>().into_iter().filter(|s| s.wal_only) {
        for (way, manager) in &ways {
            let name = strategy.name;
            let opened = within(Duration::from_secs(60), &format!("opening {name} on {way}"), {
                let (open, manager) = (strategy.open, manager.clone());
                move || open(manager, Sizing::pool_size(2)).map(drop)
            });
            let err = opened.expect_err(&format!("{name} opened on {way}"));
            assert!(err.is_config(), "{name} on {way}: {err}");
            let text = err.to_string();
            assert!(
                text.contains("WAL") || text.contains("wal"),
                "{name} on {way}: the error does not say WAL: {text}"
            );
        }
    }
}

// ------------------------------------------------------- transaction end ---

/// Work that ends the write's transaction in its own way.
type Ending = dyn Fn(&Connection) -> rusqlite::Result<()> + Sync;

/// Work that ends litepool's transaction itself is never acknowledged as
/// one atomic write: a `COMMIT` or `ROLLBACK` of its own, or a trigger's
/// `RAISE(ROLLBACK)` whose error the work ignores. The error says what
/// happened, and the strategy's next caller gets a clean connection.
#[test]
fn work_that_ends_the_transaction_itself_is_not_acknowledged() {
    let db = TempDb::new();
    each_counted(
        &db,
        Sizing::pool_size(2),
        |m| m,
        |name, access, _| {
            access
                .write(|c| {
                    Ok(c.execute_batch(
                        "CREATE TRIGGER no_negatives BEFORE INSERT ON items WHEN NEW.v < 0 \
                     BEGIN SELECT RAISE(ROLLBACK, 'negative'); END;",
                    )?)
                })
                .unwrap();
            let endings: [(&str, &Ending); 3] = [
                ("COMMIT", &|c| c.execute_batch("INSERT INTO items (v) VALUES (1); COMMIT;")),
                ("ROLLBACK", &|c| c.execute_batch("INSERT INTO items (v) VALUES (1); ROLLBACK;")),
                ("RAISE(ROLLBACK)", &|c| {
                    c.execute("INSERT INTO items (v) VALUES (1)", [])?;
                    assert!(c.execute("INSERT INTO items (v) VALUES (-1)", []).is_err());
                    Ok(()) // the error ignored, as a careless caller would
                }),
            ];
            for (how, end) in endings {
                let err = access.write(|c| Ok(end(c)?)).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Sql, "{name}, {how}: {err}");
                assert!(err.to_string().contains("ended litepool's transaction"), "{name}, {how}: {err}");
                assert!(access.read(|c| Ok(c.is_autocommit())).unwrap(), "{name}, {how}");
                access.write(|c| insert(c)).unwrap_or_else(|e| panic!("{name} after {how}: {e}"));
            }
        },
    );
}

// ------------------------------------------------------------ documented ---

/// `Access`: the work runs exactly once per call that acquires a
/// connection, and not at all for a call that cannot (after `close()`);
/// `Manager::prepare` runs before the first connection opens, and never
/// again however many connections open later.
#[test]
fn work_runs_once_per_call_and_prepare_once_before_any_connection() {
    let db = TempDb::new();
    each_counted(
        &db,
        Sizing::pool_size(3),
        |m| m,
        |name, access, counts| {
            let prepared = counts.prepared.load(Ordering::SeqCst);
            assert!(prepared >= 1, "{name}: prepare never ran");
            // (SplitPool prepares two managers, the writer's and its read-only
            // twin's, which share these counts: the first before any open.)
            assert!(
                counts.prepared_before_first_open.load(Ordering::SeqCst) >= 1,
                "{name}: a connection opened before prepare"
            );
            let runs = AtomicUsize::new(0);
            thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        for i in 0..10 {
                            let work = |c: &Counted<Connection>| {
                                runs.fetch_add(1, Ordering::SeqCst);
                                insert(c)
                            };
                            let failing = |_: &Counted<Connection>| -> litepool::Result<()> {
                                runs.fetch_add(1, Ordering::SeqCst);
                                Err(litepool::Error::new(ErrorKind::Sql, "planted failure"))
                            };
                            match i % 3 {
                                0 => access.write(work).unwrap(),
                                1 => access.read(|c| work(c).or(Ok(()))).unwrap(),
                                _ => assert!(access.write(failing).is_err()),
                            }
                        }
                    });
                }
            });
            assert_eq!(runs.load(Ordering::SeqCst), 40, "{name}: the work ran a different number of times");
            assert_eq!(counts.prepared.load(Ordering::SeqCst), prepared, "{name}: prepare ran again");
            access.close();
            let ran = AtomicBool::new(false);
            let mark = |_: &Counted<Connection>| {
                ran.store(true, Ordering::SeqCst);
                Ok(())
            };
            assert!(access.read(mark).is_err());
            assert!(access.write(mark).is_err());
            assert!(!ran.load(Ordering::SeqCst), "{name}: the work ran after close()");
        },
    );
}

/// `Manager::read_only`'s default refuses, so `SplitPool` over a manager
/// that cannot open read-only connections is a config error that says so.
#[test]
fn a_manager_without_read_only_connections_cannot_make_a_split_pool() {
    use support::Plain;
    let db = TempDb::new();
    let err = litepool::SplitPool::builder().readers(2).open(Plain(db.manager("plain.db"))).unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.to_string().contains("cannot open read-only connections"), "{err}");
}

/// SQLite may answer `SQLITE_FULL` by rolling back the statement or the
/// whole transaction. Work that ignores that error and goes on is never
/// acknowledged as one atomic write: either the write fails, or every row
/// whose insert succeeded is there. (Measured here: SQLite rolls back the
/// statement only, the transaction goes on, and the write commits the rows
/// that fitted.)
#[test]
fn work_that_ignores_sqlite_full_is_never_acknowledged_half_done() {
    let db = TempDb::new();
    let full = |m: SqliteManager| m.with_init(|c| c.execute_batch("PRAGMA max_page_count = 30"));
    each_counted(&db, Sizing::pool_size(2), full, |name, access, _| {
        let (mut outcomes, mut refused) = (Vec::new(), 0);
        for round in 0..5i64 {
            let mut inserted = Vec::new();
            let result = access.write(|c| {
                for i in 0..100 {
                    let id = round * 1000 + i;
                    // Errors ignored, as a careless caller would.
                    match c.execute("INSERT INTO items (id, v) VALUES (?1, zeroblob(2000))", [id]) {
                        Ok(_) => inserted.push(id),
                        Err(e) => {
                            assert_eq!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DiskFull), "{e}");
                            refused += 1;
                        }
                    }
                }
                Ok(())
            });
            let stored: Vec<i64> = access
                .read(|c| {
                    let mut stmt = c.prepare("SELECT id FROM items WHERE id / 1000 = ?1 ORDER BY id")?;
                    Ok(stmt.query_map([round], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?)
                })
                .unwrap();
            match &result {
                Ok(()) => assert_eq!(stored, inserted, "{name}: an acknowledged write is not all there"),
                Err(e) => assert!(
                    e.is_full() || e.to_string().contains("ended litepool's transaction"),
                    "{name}: {e}"
                ),
            }
            outcomes.push(result.is_ok());
            // Make room again for the next round.
            access.write(|c| Ok(c.execute("DELETE FROM items", []).map(drop)?)).unwrap();
        }
        assert!(refused > 0, "{name}: the database never filled up: {outcomes:?}");
        assert!(access.read(|c| Ok(c.is_autocommit())).unwrap(), "{name}");
    });
}

/// Every strategy's errors from opening a connection go through the
/// manager's explanation, as its write path's do: whether the connection is
/// opened when the strategy opens (`locked`'s) or on a first call (a
/// per-thread connection, a pool's).
#[test]
fn open_errors_go_through_the_managers_explanation() {
    let db = TempDb::new();
    for strategy in strategy::all::<Counting<SqliteManager>>() {
        let (manager, counts) = Counting::new(db.manager(&format!("{}.db", strategy.name)));
        counts.mark_explanations();
        counts.fail_in(Callback::Connect, usize::MAX);
        let err = match (strategy.open)(manager, Sizing::default()) {
            Err(err) => err,
            Ok(access) => access.write(|_| Ok(())).expect_err("every connect fails"),
        };
        let message = err.to_string();
        assert!(message.contains("planted connect failure"), "{}: {message}", strategy.name);
        assert!(message.contains(EXPLAINED), "{}: not explained: {message}", strategy.name);

        // Preparing the database is the open path's first half.
        let (manager, counts) = Counting::new(SqliteManager::file(""));
        counts.mark_explanations();
        let err = (strategy.open)(manager, Sizing::default()).err().expect("an empty path is refused");
        assert!(
            err.to_string().contains(EXPLAINED),
            "{}: prepare's error not explained: {err}",
            strategy.name
        );
    }
}

/// An idle async pool costs no CPU: after its last job each of its
/// threads gives way a few times (in case the next job is on its way),
/// then sleeps on its lane's condition variable until a job or `close()`
/// comes. Read off Linux's `/proc`: every thread the facade names
/// (`litepool-reader-N`, `litepool-writer`; this suite's one async pool)
/// asleep (`S`) at once. A thread that kept giving way would stay
/// runnable (`R`) for ever, and the wait would fail.
#[cfg(target_os = "linux")]
#[test]
fn an_idle_async_pools_threads_sleep() {
    use litepool::tokio::AsyncPool;

    /// The state letter of each of this process's threads named `litepool-*`.
    fn facade_threads() -> Vec<char> {
        let tasks = std::fs::read_dir("/proc/self/task").expect("Linux's /proc");
        let stats = tasks.filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok());
        // "tid (name) S ...": the name may hold spaces or parentheses.
        stats
            .filter_map(|stat| {
                let (head, tail) = stat.rsplit_once(')')?;
                let name = head.split_once('(')?.1;
                name.starts_with("litepool-").then(|| tail.trim_start().chars().next()).flatten()
            })
            .collect()
    }

    let db = TempDb::new();
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let pool = AsyncPool::builder().readers(3).open(db.manager("idle.db")).expect("open");
    runtime.block_on(async {
        pool.write(|c| Ok(c.execute_batch("CREATE TABLE t (x INTEGER)")?)).await.expect("write");
        pool.read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?))
            .await
            .expect("read");
    });
    wait_until("every thread of the idle async pool asleep", || {
        let threads = facade_threads();
        threads.len() == 4 && threads.iter().all(|&state| state == 'S')
    });
    runtime.block_on(pool.close());
    // close() is ready once every thread let go of its connection; the
    // threads end just after.
    wait_until("the closed pool's threads to end", || facade_threads().is_empty());
}
