//! The model harness, for loom and for shuttle: one function per property,
//! each generic over the strategy, so the same property runs against every
//! real strategy and every planted bug, under either checker.
//!
//! Each model opens a fresh [`FakeDatabase`], runs a few threads through the
//! strategy's [`Access`] methods, and checks what it states. Every model also
//! checks, after the strategy is dropped, that every connection opened was
//! closed exactly once; loom adds its own leak check on `loom::sync::Arc`,
//! which every fake connection holds.
//! The fake connection makes any use of one connection by two threads without
//! a happens-before edge a `Causality violation`, in every model.
//!
//! Under loom (`--cfg loom`) a model runs at its own small [`Scale`] (two or
//! three threads), exhaustively: models with more than two threads run with
//! a preemption bound, `LOOM_MAX_PREEMPTIONS` or 3 if it is unset; two-thread
//! models run unbounded. Each prints a `LOOM-ROW` line (model, threads,
//! bound, iterations, time) that `.ci/loom-table` collects into the README.
//!
//! Under shuttle (`--cfg shuttle`) the same model runs at every scale of
//! [`SHUTTLE_SCALES`] (4, 8 and 16 threads; pools of 2, 4 and 8), each under
//! three randomized schedulers (PCT with bug depth 2, PCT with depth 3, and
//! the uniform random scheduler), each for a fixed budget of iterations
//! from a fixed seed, so a run is reproducible and a failure prints the
//! seed that replays it. Each prints a `SHUTTLE-ROW` line that
//! `.ci/shuttle-table` collects.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Instant;

use litepool::fake::{FakeConnection, FakeDatabase, FakeManager, Fault};
use litepool::strategy::{Connections, Sizing, Strategy, Transactional};
use litepool::{Access, Result};

#[cfg(shuttle)]
pub use self::unpoisoned::{Condvar, Mutex};
/// The checker's primitives, for the models' own threads and shared state.
#[cfg(loom)]
pub use loom::{
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
};
#[cfg(shuttle)]
pub use shuttle::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
};

/// shuttle's mutex and condition variable, with the same API, ignoring
/// poison. shuttle runs every model thread on one OS thread, and
/// `std::thread::panicking()` counts per OS thread, so while one model
/// thread unwinds (a planted panic), a guard another thread drops poisons
/// its lock though that thread never panicked; the planted copies'
/// `lock().unwrap()` would then fail a model that holds. (litepool's own
/// shim ignores poison in every build.)
#[cfg(shuttle)]
mod unpoisoned {
    use std::sync::{LockResult, PoisonError};

    pub type MutexGuard<'a, T> = shuttle::sync::MutexGuard<'a, T>;

    #[derive(Debug)]
    pub struct Mutex<T>(shuttle::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub fn new(value: T) -> Self {
            Mutex(shuttle::sync::Mutex::new(value))
        }

        /// Never `Err`: the `Result` keeps the call sites those of std.
        pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
            Ok(self.0.lock().unwrap_or_else(PoisonError::into_inner))
        }
    }

    #[derive(Debug, Default)]
    pub struct Condvar(shuttle::sync::Condvar);

    impl Condvar {
        pub fn new() -> Self {
            Condvar(shuttle::sync::Condvar::new())
        }

        /// Never `Err`, as [`Mutex::lock`].
        pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
            Ok(self.0.wait(guard).unwrap_or_else(PoisonError::into_inner))
        }

        pub fn notify_one(&self) {
            self.0.notify_one();
        }

        pub fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

/// A cell the checker watches for concurrent use (the fake's own).
pub use litepool::fake::ModelCell as UnsafeCell;

/// A strategy over fake connections.
pub type Fake = dyn Access<Connection = FakeConnection>;

/// What a model checks: a strategy over fake connections, and its
/// promises (capacity, waiters, one writer), as the strategy list states
/// them.
pub type Subject = Strategy<FakeManager>;

/// The real strategies, from the one list: no strategy is named here.
pub fn real_subjects() -> Vec<Subject> {
    litepool::strategy::all::<FakeManager>()
}

/// Whether a subject's connections live in thread-locals that loom drops
/// late: loom's `join` returns before the joined thread's thread-locals are
/// dropped (std's and shuttle's do not), so under loom the exact open/close
/// count of these is checked by loom's own leak check at the end of each
/// execution instead.
fn thread_local_connections(subject: &Subject) -> bool {
    cfg!(loom) && matches!(subject.connections, Connections::PerThread)
}

/// The payload of panics a model plants on purpose; the panic hook keeps
/// them quiet.
pub const EXPECTED_PANIC: &str = "litepool model: expected panic";

/// The iteration running, counted from the start of its scheduler's run.
static ITERATION: StdAtomicUsize = StdAtomicUsize::new(0);
/// The model running.
static MODEL: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
/// Under shuttle: ` scheduler=<name> seed=<seed> total=`, and the
/// iterations that earlier schedulers ran on this model.
static SCHEDULER: std::sync::Mutex<(String, usize)> = std::sync::Mutex::new((String::new(), 0));

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Shuttle installs a hook of its own on its first run, which
        // reports every panic, caught or not; run it first, so that this
        // hook wraps it and keeps the planted panics out of it too.
        #[cfg(shuttle)]
        shuttle::check_random(|| {}, 1);
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = crate::support::panic_message(info.payload());
            if message.contains(EXPECTED_PANIC) {
                return;
            }
            let model = MODEL.lock().map(|m| m.clone()).unwrap_or_default();
            let iteration = ITERATION.load(StdOrdering::Relaxed);
            let (scheduler, earlier) = SCHEDULER.lock().map(|s| s.clone()).unwrap_or_default();
            let total = if scheduler.is_empty() { String::new() } else { (earlier + iteration).to_string() };
            eprintln!("LITEPOOL-CAUGHT model={model} iteration={iteration}{scheduler}{total}");
            default(info);
        }));
    });
}

/// How many threads a model runs and how many connections its strategy
/// may pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    pub threads: usize,
    pub pool: usize,
}

impl Scale {
    /// The threads a model spawns besides its own.
    pub fn helpers(self) -> usize {
        self.threads - 1
    }
}

/// The scales every strategy property runs at under shuttle.
pub const SHUTTLE_SCALES: [Scale; 3] =
    [Scale { threads: 4, pool: 2 }, Scale { threads: 8, pool: 4 }, Scale { threads: 16, pool: 8 }];

/// The scales a model written at `loom` scale runs at: that one under
/// loom; under shuttle each of [`SHUTTLE_SCALES`], keeping a pool of one
/// (a property about one connection's hand-over) at one.
pub fn scales(loom: Scale) -> Vec<Scale> {
    if cfg!(loom) {
        return vec![loom];
    }
    SHUTTLE_SCALES
        .iter()
        .map(|&scale| Scale { pool: if loom.pool == 1 { 1 } else { scale.pool }, ..scale })
        .collect()
}

/// `loom` under loom, `shuttle` under shuttle: a count that a model sets
/// larger where shuttle can afford it.
pub const fn pick(loom: usize, shuttle: usize) -> usize {
    if cfg!(loom) { loom } else { shuttle }
}

/// Runs `body` under loom and prints its cost.
#[cfg(loom)]
pub fn check(model: &str, threads: usize, body: impl Fn() + Sync + Send + 'static) {
    install_panic_hook();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = if threads <= 2 {
        None
    } else {
        Some(std::env::var("LOOM_MAX_PREEMPTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(3))
    };
    let counter = std::sync::Arc::new(StdAtomicUsize::new(0));
    let iterations = counter.clone();
    *MODEL.lock().unwrap() = model.to_owned();
    let started = Instant::now();
    builder.check(move || {
        let n = iterations.fetch_add(1, StdOrdering::Relaxed) + 1;
        ITERATION.store(n, StdOrdering::Relaxed);
        body()
    });
    let bound = builder.preemption_bound.map_or("none".to_owned(), |b| b.to_string());
    println!(
        "LOOM-ROW | {model} | {threads} | {bound} | {} | {:.1} s |",
        counter.load(StdOrdering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}

/// A shuttle scheduler a model runs under.
#[cfg(shuttle)]
#[derive(Clone, Copy, Debug)]
pub enum Scheduler {
    /// PCT, finding with a known probability any bug of this depth (the
    /// number of ordering constraints it needs).
    Pct(usize),
    /// Uniformly random choices at every step.
    Random,
}

#[cfg(shuttle)]
impl std::fmt::Display for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scheduler::Pct(depth) => write!(f, "pct{depth}"),
            Scheduler::Random => write!(f, "random"),
        }
    }
}

/// The schedulers every model runs under, in order.
#[cfg(shuttle)]
pub const SCHEDULERS: [Scheduler; 3] = [Scheduler::Pct(2), Scheduler::Pct(3), Scheduler::Random];

/// The iterations each scheduler runs per model: `LITEPOOL_SHUTTLE_ITERATIONS`,
/// or 1,000 (the whole shuttle suite then runs in about two minutes on CI's
/// two cores).
#[cfg(shuttle)]
pub fn shuttle_iterations() -> usize {
    let iterations = env_number("LITEPOOL_SHUTTLE_ITERATIONS").unwrap_or(1000);
    assert!(iterations > 0, "LITEPOOL_SHUTTLE_ITERATIONS=0 would check nothing; give at least 1");
    iterations
}

/// The seed every scheduler starts from: `LITEPOOL_SHUTTLE_SEED`, or a
/// fixed one, so that CI's runs are the same run.
#[cfg(shuttle)]
pub fn shuttle_seed() -> u64 {
    env_number("LITEPOOL_SHUTTLE_SEED").map_or(0x117e_9001, |seed| seed as u64)
}

#[cfg(shuttle)]
fn env_number(name: &str) -> Option<usize> {
    let value = std::env::var(name).ok()?;
    Some(value.parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")))
}

/// Runs `body` under each of shuttle's [`SCHEDULERS`] (only
/// `LITEPOOL_SHUTTLE_SCHEDULER`'s, e.g. `pct3`, if that is set) for
/// [`shuttle_iterations`] each, from [`shuttle_seed`], and prints its cost.
/// A failure prints the scheduler, seed and iteration that replay it.
#[cfg(shuttle)]
pub fn check(model: &str, threads: usize, body: impl Fn() + Sync + Send + 'static) {
    install_panic_hook();
    let body = std::sync::Arc::new(body);
    let (budget, seed) = (shuttle_iterations(), shuttle_seed());
    let only = std::env::var("LITEPOOL_SHUTTLE_SCHEDULER").ok();
    if let Some(only) = &only {
        let known: Vec<String> = SCHEDULERS.iter().map(ToString::to_string).collect();
        assert!(known.contains(only), "LITEPOOL_SHUTTLE_SCHEDULER={only:?} is none of {known:?}");
    }
    let started = Instant::now();
    let mut ran = Vec::new();
    let mut earlier = 0;
    *MODEL.lock().unwrap() = model.to_owned();
    for scheduler in SCHEDULERS {
        if only.as_ref().is_some_and(|only| *only != scheduler.to_string()) {
            continue;
        }
        *SCHEDULER.lock().unwrap() = (format!(" scheduler={scheduler} seed={seed} total="), earlier);
        let counter = std::sync::Arc::new(StdAtomicUsize::new(0));
        let (iterations, body) = (counter.clone(), body.clone());
        let run = move || {
            let n = iterations.fetch_add(1, StdOrdering::Relaxed) + 1;
            ITERATION.store(n, StdOrdering::Relaxed);
            body()
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| match scheduler {
            Scheduler::Pct(depth) => shuttle::Runner::new(
                shuttle::scheduler::PctScheduler::new_from_seed(seed, depth, budget),
                config(),
            )
            .run(run),
            Scheduler::Random => shuttle::Runner::new(
                shuttle::scheduler::RandomScheduler::new_from_seed(seed, budget),
                config(),
            )
            .run(run),
        }));
        if let Err(panic) = outcome {
            eprintln!(
                "SHUTTLE-FAILED {model}: scheduler {scheduler}, seed {seed}, iteration {}; replay it with \
                 LITEPOOL_SHUTTLE_SCHEDULER={scheduler} LITEPOOL_SHUTTLE_SEED={seed} \
                 LITEPOOL_SHUTTLE_ITERATIONS={budget} and this test alone",
                counter.load(StdOrdering::Relaxed)
            );
            std::panic::resume_unwind(panic);
        }
        let iterations = counter.load(StdOrdering::Relaxed);
        earlier += iterations;
        ran.push(format!("{scheduler} {iterations}"));
    }
    println!(
        "SHUTTLE-ROW | {model} | {threads} | {} | {:.1} s |",
        ran.join(", "),
        started.elapsed().as_secs_f64()
    );
}

/// Shuttle's configuration: its defaults (a failing schedule is printed
/// as shuttle's own replay string, beside the seed above), without the
/// warning that it runs every atomic ordering as `SeqCst`: weaker
/// orderings are loom's to check, and the shim's atomics are loom's there.
#[cfg(shuttle)]
fn config() -> shuttle::Config {
    let mut config = shuttle::Config::new();
    config.silence_warnings = true;
    config
}

/// Runs one model of `subject` at each of its [`scales`]: a fresh
/// database, the strategy opened with a pool of the scale's size, `body`,
/// then the leak check.
fn model(
    subject: &Subject,
    property: &str,
    loom: Scale,
    body: impl Fn(Arc<Box<Fake>>, &FakeDatabase, Scale) + Sync + Send + 'static,
) {
    let body = std::sync::Arc::new(body);
    for scale in scales(loom) {
        let (subject, body) = (subject.clone(), body.clone());
        let thread_local = thread_local_connections(&subject);
        let name = if cfg!(loom) {
            format!("{}::{property}", subject.name)
        } else {
            format!("{}::{property} (pool {})", subject.name, scale.pool)
        };
        check(&name, scale.threads, move || {
            let db = FakeDatabase::new();
            let sizing = Sizing::pool_size(scale.pool);
            let access = Arc::new((subject.open)(db.manager(), sizing).expect("open strategy"));
            body(access.clone(), &db, scale);
            drop(access);
            if !thread_local {
                assert_eq!(db.opened(), db.closed(), "a connection was not closed exactly once");
            }
        });
    }
}

fn insert(c: &FakeConnection) -> Result<()> {
    c.insert()
}

/// Spawns `n` threads running `f(i, access)` and returns their handles.
fn spawn_each<T: Send + 'static>(
    access: &Arc<Box<Fake>>,
    n: usize,
    f: impl Fn(usize, &Fake) -> T + Send + Sync + 'static,
) -> Vec<thread::JoinHandle<T>> {
    let f = Arc::new(f);
    (0..n)
        .map(|i| {
            let (access, f) = (access.clone(), f.clone());
            thread::spawn(move || f(i, &**access))
        })
        .collect()
}

/// Joins every handle, unwrapping each thread's result.
fn join_all<T>(handles: Vec<thread::JoinHandle<T>>) -> Vec<T> {
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// No connection is ever used by two threads at once.
pub fn no_connection_is_used_by_two_threads_at_once(subject: &Subject) {
    let loom = Scale { threads: 3, pool: 2 };
    model(subject, "no_connection_is_used_by_two_threads_at_once", loom, |access, _, scale| {
        let writers = spawn_each(&access, scale.helpers(), |_, access| access.write_with(&mut insert));
        access
            .read_with(&mut |c| {
                let _ = c.count();
                Ok(())
            })
            .unwrap();
        join_all(writers).into_iter().for_each(|r| r.unwrap());
    });
}

/// The connections in use never exceed the strategy's capacity, and
/// `state()` never reports a count no schedule could produce, even when a
/// work callback fails.
pub fn connections_in_use_never_exceed_capacity(subject: &Subject) {
    let connections = subject.connections;
    let loom = Scale { threads: 3, pool: 2 };
    model(subject, "connections_in_use_never_exceed_capacity", loom, move |access, _, scale| {
        let capacity = connections.limit(Sizing::pool_size(scale.pool), scale.threads);
        let inside = Arc::new(AtomicUsize::new(0));
        let observe = move |access: &Fake, inside: &AtomicUsize| {
            access.read_with(&mut |_| {
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                assert!(now <= capacity, "{now} connections in use, capacity {capacity}");
                let state = access.state();
                assert!(
                    (1..=capacity).contains(&state.in_use) && state.idle + state.in_use <= capacity,
                    "impossible state {state:?} with capacity {capacity} while holding one"
                );
                inside.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
        };
        let handles = {
            let inside = inside.clone();
            spawn_each(&access, scale.helpers(), move |i, access| {
                if i % 2 == 0 {
                    let failed = access.read_with(&mut |c| c.fail());
                    assert!(failed.is_err());
                }
                observe(access, &inside)
            })
        };
        observe(&**access, &inside).unwrap();
        join_all(handles).into_iter().for_each(|r| r.unwrap());
        let state = access.state();
        assert_eq!(state.in_use, 0, "{state:?} after every thread returned");
        assert!(state.idle <= capacity, "{state:?}");
    });
}

/// With more threads than connections, every thread finishes: no lost
/// wake-up, no deadlock.
pub fn every_thread_finishes_with_more_threads_than_connections(subject: &Subject) {
    let loom = Scale { threads: 3, pool: 1 };
    model(subject, "every_thread_finishes_with_more_threads_than_connections", loom, |access, db, scale| {
        let writers = spawn_each(&access, scale.helpers(), |_, access| {
            access.write_with(&mut insert)?;
            access.write_with(&mut insert)
        });
        access.write_with(&mut insert).unwrap();
        join_all(writers).into_iter().for_each(|r| r.unwrap());
        assert_eq!(db.committed(), 2 * scale.helpers() + 1);
    });
}

/// The committed count equals the acknowledged inserts: none lost, none
/// doubled, none from a failed write.
pub fn committed_rows_equal_acknowledged_inserts(subject: &Subject) {
    let loom = Scale { threads: 3, pool: 2 };
    model(subject, "committed_rows_equal_acknowledged_inserts", loom, |access, db, scale| {
        // Writers of two rows, failing writers and (beyond loom's scale)
        // writers of one, in turn.
        let writers = spawn_each(&access, scale.helpers(), |i, access| match i % 3 {
            0 => access
                .write_with(&mut |c| {
                    c.insert()?;
                    c.insert()
                })
                .map(|()| 2)
                .unwrap(),
            1 => {
                let result = access.write_with(&mut |c| {
                    c.insert()?;
                    c.fail()
                });
                assert!(result.is_err(), "the failing write was acknowledged");
                0
            }
            _ => access.write_with(&mut insert).map(|()| 1).unwrap(),
        });
        let mine = access.write_with(&mut insert).map(|()| 1).unwrap();
        let acknowledged = mine + join_all(writers).into_iter().sum::<usize>();
        assert_eq!(db.committed(), acknowledged);
    });
}

fn assert_clean(c: &FakeConnection) -> Result<()> {
    assert!(!c.in_transaction(), "handed a connection inside someone else's transaction");
    assert_eq!(c.pending(), 0, "handed someone else's uncommitted rows");
    Ok(())
}

/// A connection given back inside an open transaction is never handed to
/// the next thread with that transaction still open.
pub fn a_connection_returned_mid_transaction_is_reset(subject: &Subject) {
    let loom = Scale { threads: 2, pool: 1 };
    model(subject, "a_connection_returned_mid_transaction_is_reset", loom, |access, db, scale| {
        let leavers = spawn_each(&access, scale.helpers(), |_, access| {
            access.read_with(&mut |c| {
                // A read transaction left open; on a read-write
                // connection it also takes the write lock.
                c.begin_deferred()?;
                if !c.is_read_only() {
                    c.insert()?;
                }
                Ok(())
            })
        });
        access.read_with(&mut assert_clean).unwrap();
        join_all(leavers).into_iter().for_each(|r| r.unwrap());
        access.read_with(&mut assert_clean).unwrap();
        assert_eq!(db.committed(), 0, "an abandoned transaction was committed");
    });
}

/// A connection held by a thread that panics mid-write is never handed on
/// with that transaction open, and its rows are not committed.
pub fn a_panic_mid_write_leaves_no_open_transaction(subject: &Subject) {
    let loom = Scale { threads: 2, pool: 1 };
    model(subject, "a_panic_mid_write_leaves_no_open_transaction", loom, |access, db, scale| {
        let panickers = spawn_each(&access, scale.helpers(), |_, access| {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                access.write_with(&mut |c| {
                    c.insert()?;
                    panic!("{EXPECTED_PANIC}");
                })
            }));
            assert!(outcome.is_err(), "the planted panic did not happen");
        });
        access.read_with(&mut assert_clean).unwrap();
        join_all(panickers);
        access.read_with(&mut assert_clean).unwrap();
        access.write_with(&mut insert).unwrap();
        assert_eq!(db.committed(), 1, "rows of a panicked write were committed");
    });
}

/// `close()` racing with reads and writes: every call either succeeds or
/// fails with a closed error, and every connection is closed exactly once.
pub fn close_racing_with_use_answers_every_call(subject: &Subject) {
    let loom = Scale { threads: 3, pool: 1 };
    model(subject, "close_racing_with_use_answers_every_call", loom, |access, db, scale| {
        // Writers and readers in turn; each returns whether it wrote.
        let callers = spawn_each(&access, scale.helpers(), |i, access| {
            let (wrote, result) = if i % 2 == 0 {
                let result = access.write_with(&mut insert);
                (result.is_ok(), result)
            } else {
                (false, access.read_with(&mut |_| Ok(())))
            };
            if let Err(e) = result {
                assert!(e.is_closed(), "{e}");
            }
            usize::from(wrote)
        });
        access.close();
        let wrote: usize = join_all(callers).into_iter().sum();
        assert_eq!(db.committed(), wrote);
        assert!(access.read_with(&mut |_| Ok(())).unwrap_err().is_closed());
        let state = access.state();
        assert_eq!((state.idle, state.in_use, state.waiting), (0, 0, 0), "after close and every return");
    });
}

/// After `close()`: the idle connections are closed at once (not at drop),
/// a call racing with the close either succeeds or fails closed, and no
/// call, on any thread, ever opens a connection again.
pub fn close_closes_idle_connections_and_opens_no_more(subject: &Subject) {
    let thread_local = thread_local_connections(subject);
    let loom = Scale { threads: 2, pool: 2 };
    model(subject, "close_closes_idle_connections_and_opens_no_more", loom, move |access, db, scale| {
        access.write_with(&mut insert).unwrap();
        let racers = spawn_each(&access, scale.helpers(), |_, access| access.write_with(&mut insert));
        access.close();
        for result in join_all(racers) {
            if let Err(e) = result {
                assert!(e.is_closed(), "{e}");
            }
        }
        if !thread_local {
            // Every caller has returned: nothing may still be open.
            assert_eq!(db.opened(), db.closed(), "a connection outlived close() once returned");
        }
        let opened = db.opened();
        assert!(access.read_with(&mut |_| Ok(())).unwrap_err().is_closed());
        assert!(access.write_with(&mut insert).unwrap_err().is_closed());
        let late = {
            let access = access.clone();
            thread::spawn(move || access.read_with(&mut |_| Ok(())))
        };
        assert!(late.join().unwrap().unwrap_err().is_closed());
        assert_eq!(db.opened(), opened, "a connection was opened after close()");
        let state = access.state();
        assert_eq!((state.idle, state.in_use, state.waiting), (0, 0, 0), "after close: {state:?}");
    });
}
/// One caller's part in a fault model: `Write` inserts a row, `Abandon`
/// leaves a transaction open (so its connection must be reset), `Fail`
/// writes a row and then fails. Returns the rows acknowledged.
#[derive(Clone, Copy, Debug)]
enum Role {
    Write,
    Abandon,
    Fail,
}

fn abandon(c: &FakeConnection) -> Result<()> {
    // A read transaction left open; on a read-write connection it also
    // takes the write lock, which only a reset or a close gives back.
    c.begin_deferred()?;
    if !c.is_read_only() {
        c.insert()?;
    }
    Ok(())
}

/// Plays `role`; returns the rows acknowledged and the rows whose outcome
/// the caller cannot know: a write whose call panicked after its COMMIT
/// (a manager's `is_broken` panicking on the return path) may be stored.
fn play(access: &Fake, role: Role) -> (usize, usize) {
    let outcome = catch_unwind(AssertUnwindSafe(|| match role {
        Role::Write => access.write_with(&mut insert).map(|()| 1),
        Role::Abandon => access.read_with(&mut abandon).map(|()| 0),
        Role::Fail => access
            .write_with(&mut |c| {
                c.insert()?;
                c.fail()
            })
            .map(|()| panic!("a failing write was acknowledged")),
    }));
    match outcome {
        Ok(Ok(rows)) => (rows, 0),
        // Only the injected fault may fail a call that did nothing wrong: an
        // open that fails (Init) or a commit that fails (Busy). Anything else,
        // "within a transaction" above all, is a strategy bug.
        Ok(Err(e)) => {
            // A batching strategy's write also fails, Aborted, when a fault
            // in another write of its batch rolled the batch back.
            let injected = matches!(
                e.kind(),
                litepool::ErrorKind::Init | litepool::ErrorKind::Busy | litepool::ErrorKind::Aborted
            );
            assert!(injected || matches!(role, Role::Fail), "{role:?} failed: {e}");
            (0, 0)
        }
        // An injected panic, resumed in the caller's thread; any other
        // panic is a failed check and goes on.
        Err(panic) => {
            if !crate::support::panic_message(&*panic).contains(litepool::fake::INJECTED_PANIC) {
                std::panic::resume_unwind(panic);
            }
            (0, usize::from(matches!(role, Role::Write)))
        }
    }
}

/// Under one injected fault, with more callers than connections: every
/// call returns (no deadlock, no lost wake-up), only the injected fault
/// fails a call, and afterwards the strategy is at full capacity, hands out
/// a clean connection (never one whose reset failed, never one reported
/// broken), and has counted exactly the rows it acknowledged.
fn survives(subject: &Subject, fault: Fault, property: &str) {
    let keeps_none = matches!(subject.connections, Connections::PerCall);
    let loom = Scale { threads: 3, pool: 1 };
    model(subject, property, loom, move |access, db, scale| {
        // First make the strategy discard its warm connection, so that an
        // open is needed again: Locked and the split writer open theirs at
        // build time, and an open fault must reach them too.
        // (A strategy that keeps no connection opens one for every call.)
        if !keeps_none {
            db.inject(Fault::Broken, 1);
            access.read_with(&mut |_| Ok(())).unwrap();
            assert_eq!(db.pending(Fault::Broken), 0, "is_broken was never asked");
        }
        db.inject(fault, 1);
        // Writers and abandoners in turn, beside this thread's failing write.
        let others = spawn_each(&access, scale.helpers(), |i, access| {
            play(access, if i % 2 == 0 { Role::Write } else { Role::Abandon })
        });
        let (mut acknowledged, mut unknown) = play(&**access, Role::Fail);
        for (acked, maybe) in join_all(others) {
            (acknowledged, unknown) = (acknowledged + acked, unknown + maybe);
        }
        access.read_with(&mut assert_clean).unwrap();
        access.write_with(&mut insert).unwrap();
        access.read_with(&mut assert_clean).unwrap();
        let committed = db.committed();
        assert!(
            (acknowledged + 1..=acknowledged + 1 + unknown).contains(&committed),
            "committed rows differ from acknowledged ones: {committed} committed, {} acknowledged, \
             {unknown} unknown",
            acknowledged + 1
        );
        let state = access.state();
        assert_eq!((state.in_use, state.waiting), (0, 0), "after every call returned: {state:?}");
        assert_eq!(db.pending(fault), 0, "the model never reached the injected {fault:?}");
    });
}

macro_rules! survives {
    ($($name:ident: $fault:ident,)*) => {$(
        #[doc = concat!("[`survives`] under `Fault::", stringify!($fault), "`.")]
        pub fn $name(subject: &Subject) {
            survives(subject, Fault::$fault, stringify!($name));
        }
    )*};
}

survives! {
    survives_a_failing_connect: ConnectFails,
    survives_a_panicking_connect: ConnectPanics,
    survives_a_failing_commit: CommitFails,
    survives_a_failing_rollback: RollbackFails,
    survives_a_failing_reset: ResetFails,
    survives_a_panicking_reset: ResetPanics,
    survives_a_broken_connection: Broken,
    survives_a_panicking_is_broken: IsBrokenPanics,
}

/// The work ends litepool's transaction itself (a `COMMIT` of its own):
/// the write is not acknowledged, the next caller gets a clean connection.
pub fn work_that_ends_the_transaction_is_not_acknowledged(subject: &Subject) {
    let loom = Scale { threads: 2, pool: 1 };
    model(subject, "work_that_ends_the_transaction_is_not_acknowledged", loom, |access, db, scale| {
        let others = spawn_each(&access, scale.helpers(), |_, access| access.read_with(&mut assert_clean));
        let ended = access.write_with(&mut |c| {
            c.insert()?;
            c.commit()
        });
        assert!(ended.is_err(), "a write whose work committed on its own was acknowledged");
        join_all(others).into_iter().for_each(|r| r.unwrap());
        access.write_with(&mut insert).unwrap();
        access.read_with(&mut assert_clean).unwrap();
        // The row the work committed itself is there; it was never
        // acknowledged as a write.
        assert_eq!(db.committed(), 2);
    });
}

/// `close()` wakes every thread waiting for a connection, and each fails
/// with a closed error (strategies with waiters only).
pub fn close_wakes_every_waiter(subject: &Subject) {
    assert!(subject.counts_waiters, "{} has no waiters", subject.name);
    let loom = Scale { threads: 3, pool: 1 };
    model(subject, "close_wakes_every_waiter", loom, |access, _, scale| {
        // The main thread holds the only connection while the waiters wait,
        // closes, and joins them before giving it back: only close() can
        // release them.
        access
            .read_with(&mut |_| {
                let waiters =
                    spawn_each(&access, scale.helpers(), |_, access| access.read_with(&mut |_| Ok(())));
                access.close();
                for result in join_all(waiters) {
                    assert!(result.unwrap_err().is_closed());
                }
                Ok(())
            })
            .unwrap();
    });
}

/// Two threads' write transactions never mix: each sees exactly its own
/// pending rows, and both commit.
pub fn write_transactions_never_mix(subject: &Subject) {
    let loom = Scale { threads: 2, pool: 1 };
    model(subject, "write_transactions_never_mix", loom, |access, db, scale| {
        fn two_rows(c: &FakeConnection) -> Result<()> {
            c.insert()?;
            c.insert()?;
            assert_eq!(c.pending(), 2, "another thread's rows are in this transaction");
            Ok(())
        }
        let others = spawn_each(&access, scale.helpers(), |_, access| access.write_with(&mut two_rows));
        access.write_with(&mut two_rows).unwrap();
        join_all(others).into_iter().for_each(|r| r.unwrap());
        assert_eq!(db.committed(), 2 * scale.threads);
    });
}

/// A connection that fails to open gives its slot back: the failure is
/// reported to its caller alone, and the others, and later calls, proceed.
pub fn a_failed_open_gives_its_slot_back(subject: &Subject) {
    let loom = Scale { threads: 3, pool: 1 };
    model(subject, "a_failed_open_gives_its_slot_back", loom, |access, db, scale| {
        db.inject(Fault::ConnectFails, 1);
        let writers = spawn_each(&access, scale.helpers(), |_, access| access.write_with(&mut insert));
        let mut acknowledged = 0;
        for result in join_all(writers) {
            match result {
                Ok(()) => acknowledged += 1,
                Err(e) => assert_eq!(e.kind(), litepool::ErrorKind::Init, "{e}"),
            }
        }
        access.write_with(&mut insert).unwrap();
        assert_eq!(db.committed(), acknowledged + 1);
        assert_eq!(access.state().in_use, 0, "{:?}", access.state());
    });
}

/// A read never sees another thread's open write transaction: it sees the
/// rows before that transaction or after its commit, never half of it.
pub fn reads_never_see_an_open_write_transaction(subject: &Subject) {
    let loom = Scale { threads: 2, pool: 1 };
    model(subject, "reads_never_see_an_open_write_transaction", loom, |access, db, scale| {
        let writers = spawn_each(&access, scale.helpers(), |_, access| {
            access.write_with(&mut |c| {
                c.insert()?;
                c.insert()
            })
        });
        access
            .read_with(&mut |c| {
                let seen = c.count();
                assert!(seen % 2 == 0, "a read saw {seen} rows of two-row writes");
                Ok(())
            })
            .unwrap();
        join_all(writers).into_iter().for_each(|r| r.unwrap());
        assert_eq!(db.committed(), 2 * scale.helpers());
    });
}

/// Two writes never overlap: at most one write's work runs at a time.
pub fn writes_never_overlap(subject: &Subject) {
    let loom = Scale { threads: 3, pool: 2 };
    model(subject, "writes_never_overlap", loom, |access, db, scale| {
        let writing = Arc::new(AtomicUsize::new(0));
        let write = move |access: &Fake, writing: &AtomicUsize| {
            access.write_with(&mut |c| {
                let now = writing.fetch_add(1, Ordering::SeqCst) + 1;
                assert_eq!(now, 1, "two writes overlap");
                c.insert()?;
                writing.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
        };
        let writers = {
            let writing = writing.clone();
            spawn_each(&access, scale.helpers(), move |_, access| write(access, &writing))
        };
        write(&**access, &writing).unwrap();
        join_all(writers).into_iter().for_each(|r| r.unwrap());
        assert_eq!(db.committed(), scale.threads);
    });
}

/// A split pool opens exactly one read-write connection, however many
/// threads write, and serves reads on read-only connections.
pub fn one_writer_connection_and_read_only_readers(subject: &Subject) {
    let loom = Scale { threads: 3, pool: 2 };
    model(subject, "one_writer_connection_and_read_only_readers", loom, |access, db, scale| {
        let writers = spawn_each(&access, scale.helpers(), |_, access| access.write_with(&mut insert));
        access
            .read_with(&mut |c| {
                assert!(c.is_read_only(), "a read ran on a read-write connection");
                Ok(())
            })
            .unwrap();
        join_all(writers).into_iter().for_each(|r| r.unwrap());
        assert_eq!(db.opened_read_write(), 1, "more than one writer connection");
    });
}

/// Every property that applies to `subject`, in the order of
/// [`PROPERTIES`]; a planted bug is run through them.
pub fn all_properties(subject: &Subject) {
    for (name, property) in PROPERTIES {
        if applies(name, subject) {
            property(subject);
        }
    }
}

/// Whether `property` states something `subject` promises: every property
/// holds for every strategy, except two that check a promise only some
/// strategies make, and the faults of a return path, which a strategy that
/// keeps no connection between calls does not have.
pub fn applies(property: &str, subject: &Subject) -> bool {
    if !CONDITIONAL.contains(&property) {
        return true;
    }
    match property {
        "close_wakes_every_waiter" => subject.counts_waiters,
        "one_writer_connection_and_read_only_readers" => subject.one_writer,
        // A batching strategy's writes share transactions by design; its
        // own models (`loom_group.rs`) check what it promises instead.
        "write_transactions_never_mix" => !subject.batches_writes,
        "survives_a_failing_reset"
        | "survives_a_panicking_reset"
        | "survives_a_broken_connection"
        | "survives_a_panicking_is_broken" => !matches!(subject.connections, Connections::PerCall),
        other => unreachable!("{other} is conditional, but on nothing"),
    }
}

/// The properties that only some strategies' promises call for; every
/// other property runs against every listed strategy.
pub const CONDITIONAL: [&str; 7] = [
    "close_wakes_every_waiter",
    "write_transactions_never_mix",
    "one_writer_connection_and_read_only_readers",
    "survives_a_failing_reset",
    "survives_a_panicking_reset",
    "survives_a_broken_connection",
    "survives_a_panicking_is_broken",
];

/// The names of the fault properties, one per [`Fault`].
pub const FAULT_PROPERTIES: [&str; 8] = [
    "survives_a_failing_connect",
    "survives_a_panicking_connect",
    "survives_a_failing_commit",
    "survives_a_failing_rollback",
    "survives_a_failing_reset",
    "survives_a_panicking_reset",
    "survives_a_broken_connection",
    "survives_a_panicking_is_broken",
];

/// A property: a function that model-checks one subject.
pub type Property = fn(&Subject);

/// Every property, by name. `tests/loom_strategies.rs` generates one test
/// per entry (its `every_property_has_a_test` checks that it does).
pub const PROPERTIES: [(&str, Property); 23] = [
    ("no_connection_is_used_by_two_threads_at_once", no_connection_is_used_by_two_threads_at_once),
    ("a_connection_returned_mid_transaction_is_reset", a_connection_returned_mid_transaction_is_reset),
    ("a_panic_mid_write_leaves_no_open_transaction", a_panic_mid_write_leaves_no_open_transaction),
    ("write_transactions_never_mix", write_transactions_never_mix),
    ("committed_rows_equal_acknowledged_inserts", committed_rows_equal_acknowledged_inserts),
    ("connections_in_use_never_exceed_capacity", connections_in_use_never_exceed_capacity),
    (
        "every_thread_finishes_with_more_threads_than_connections",
        every_thread_finishes_with_more_threads_than_connections,
    ),
    ("close_racing_with_use_answers_every_call", close_racing_with_use_answers_every_call),
    ("a_failed_open_gives_its_slot_back", a_failed_open_gives_its_slot_back),
    ("reads_never_see_an_open_write_transaction", reads_never_see_an_open_write_transaction),
    ("writes_never_overlap", writes_never_overlap),
    ("close_closes_idle_connections_and_opens_no_more", close_closes_idle_connections_and_opens_no_more),
    (
        "work_that_ends_the_transaction_is_not_acknowledged",
        work_that_ends_the_transaction_is_not_acknowledged,
    ),
    ("survives_a_failing_connect", survives_a_failing_connect),
    ("survives_a_panicking_connect", survives_a_panicking_connect),
    ("survives_a_failing_commit", survives_a_failing_commit),
    ("survives_a_failing_rollback", survives_a_failing_rollback),
    ("survives_a_failing_reset", survives_a_failing_reset),
    ("survives_a_panicking_reset", survives_a_panicking_reset),
    ("survives_a_broken_connection", survives_a_broken_connection),
    ("survives_a_panicking_is_broken", survives_a_panicking_is_broken),
    ("close_wakes_every_waiter", close_wakes_every_waiter),
    ("one_writer_connection_and_read_only_readers", one_writer_connection_and_read_only_readers),
];

/// The property named `name`, for running one alone.
pub fn property(name: &str) -> Property {
    PROPERTIES.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no property named {name:?}")).1
}

/// Generates one `#[test]` per named property, each running it against
/// every listed strategy it applies to, and `TESTED`, the names it
/// generated.
#[allow(unused_macros)] // used by loom_strategies.rs; the other suites share the module
macro_rules! strategy_tests {
    ($($property:ident),* $(,)?) => {
        $(
            #[test]
            fn $property() {
                crate::support::model::every_strategy(module_path!(), stringify!($property));
            }
        )*

        /// The properties the tests above run.
        const TESTED: &[&str] = &[$(stringify!($property)),*];
    };
}

#[allow(unused_imports)]
pub(crate) use strategy_tests;

/// The strategy suite, for `loom_strategies.rs` and `shuttle_strategies.rs`:
/// one test per property, each run against every listed strategy that
/// makes the promise it checks, and the checks that none is left out.
#[allow(unused_macros)] // each suite file expands one of the support macros
macro_rules! strategy_suite {
    () => {
        $crate::support::model::strategy_tests!(
            no_connection_is_used_by_two_threads_at_once,
            connections_in_use_never_exceed_capacity,
            every_thread_finishes_with_more_threads_than_connections,
            committed_rows_equal_acknowledged_inserts,
            a_connection_returned_mid_transaction_is_reset,
            a_panic_mid_write_leaves_no_open_transaction,
            close_racing_with_use_answers_every_call,
            a_failed_open_gives_its_slot_back,
            write_transactions_never_mix,
            reads_never_see_an_open_write_transaction,
            writes_never_overlap,
            close_closes_idle_connections_and_opens_no_more,
            work_that_ends_the_transaction_is_not_acknowledged,
            survives_a_failing_connect,
            survives_a_panicking_connect,
            survives_a_failing_commit,
            survives_a_failing_rollback,
            survives_a_failing_reset,
            survives_a_panicking_reset,
            survives_a_broken_connection,
            survives_a_panicking_is_broken,
            close_wakes_every_waiter,
            one_writer_connection_and_read_only_readers,
        );

        /// Every property the harness defines has a test above, so none is
        /// left unchecked for any strategy.
        #[test]
        fn every_property_has_a_test() {
            let defined: Vec<&str> =
                $crate::support::model::PROPERTIES.iter().map(|(name, _)| *name).collect();
            let mut missing: Vec<&str> = defined.iter().copied().filter(|p| !TESTED.contains(p)).collect();
            missing.extend(TESTED.iter().filter(|p| !defined.contains(p)));
            assert!(
                missing.is_empty(),
                "properties without a test, or tests without a property: {missing:?}"
            );
        }

        /// Every listed strategy is checked by every property but the few
        /// that check a promise only some strategies make.
        #[test]
        fn every_listed_strategy_is_checked_by_every_unconditional_property() {
            use $crate::support::model::{CONDITIONAL, PROPERTIES, applies, real_subjects};
            let unconditional: Vec<&str> =
                PROPERTIES.iter().map(|(name, _)| *name).filter(|name| !CONDITIONAL.contains(name)).collect();
            assert!(unconditional.len() >= 16, "{unconditional:?}");
            for subject in real_subjects() {
                for property in &unconditional {
                    assert!(applies(property, &subject), "{} skips {property}", subject.name);
                }
            }
        }
    };
}

#[allow(unused_imports)]
pub(crate) use strategy_suite;

/// The variable naming the one model a child process runs.
pub const MODEL_VAR: &str = "LITEPOOL_LOOM_MODEL";

/// The variable naming the strategy a child process runs its model
/// against; set by hand, it runs the loom suite for that strategy alone.
pub const STRATEGY_VAR: &str = "LITEPOOL_LOOM_STRATEGY";

/// Runs `property` against every listed strategy it applies to (only
/// `LITEPOOL_LOOM_STRATEGY`'s, if that is set), each in a child process of
/// this test binary, and fails naming every strategy that failed. loom
/// reports a deadlock by aborting the process, which would end every model
/// after it in the same process unreported; in a child of its own, a
/// deadlock fails its own model, by name.
pub fn every_strategy(module: &str, property: &str) {
    // `module_path!()` starts with the test crate's name; libtest's names
    // do not.
    let test = match module.split_once("::") {
        Some((_, inner)) => format!("{inner}::{property}"),
        None => property.to_owned(),
    };
    let only = std::env::var(STRATEGY_VAR).ok();
    if std::env::var(MODEL_VAR).is_ok_and(|v| v == test) {
        let name = only.expect("the parent names the strategy");
        let subject = real_subjects().into_iter().find(|s| s.name == name).expect("a listed strategy");
        return self::property(property)(&subject);
    }
    let mut ran = Vec::new();
    let mut failed = Vec::new();
    for subject in real_subjects() {
        if !applies(property, &subject) || only.as_ref().is_some_and(|only| *only != subject.name) {
            continue;
        }
        let output = Command::new(std::env::current_exe().expect("test binary path"))
            .args([&test, "--exact", "--nocapture", "--test-threads=1"])
            .env(MODEL_VAR, &test)
            .env(STRATEGY_VAR, subject.name)
            .env_remove(PLANTED_VAR)
            .output()
            .expect("run the model's child process");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The LOOM-ROW line, for `.ci/loom-table` (shown with --nocapture).
        print!("{stdout}");
        if !output.status.success() {
            failed.push(format!(
                "{}::{property} failed ({}):\n{stdout}\n{stderr}",
                subject.name, output.status
            ));
        } else if !stdout.contains("1 passed") {
            failed.push(format!("the child process for {}::{property} ran no test:\n{stdout}", subject.name));
        }
        ran.push(subject.name);
    }
    assert!(failed.is_empty(), "{} of {} strategies failed:\n{}", failed.len(), ran.len(), failed.join("\n"));
    assert!(
        !ran.is_empty() || only.is_some(),
        "no listed strategy makes the promise {property} checks; is it in `applies`?"
    );
}

/// A planted bug, the property that must catch it, and what the failure
/// must say (the planted tables of `queue.rs` and `group.rs`).
pub type Caught = (&'static str, &'static str, &'static [&'static str]);

/// A suite of planted bugs: its table, the bugs only shuttle can catch,
/// and the child test that runs one bug through one property.
pub struct PlantedSuite {
    pub caught_by: &'static [Caught],
    pub beyond_loom: &'static [&'static str],
    pub child_test: &'static str,
}

impl PlantedSuite {
    /// The entries this checker must catch: all of them under shuttle, all
    /// but the bugs beyond loom under loom.
    pub fn caught_here(&self) -> impl Iterator<Item = Caught> + '_ {
        self.caught_by.iter().copied().filter(|(bug, _, _)| !cfg!(loom) || !self.beyond_loom.contains(bug))
    }

    /// Every property (`properties`) has a planted bug this checker catches
    /// with it, and every bug (`bugs`) is planted.
    pub fn every_property_catches_a_planted_bug<'a>(
        &self,
        properties: impl IntoIterator<Item = &'a str>,
        bugs: impl IntoIterator<Item = &'a str>,
    ) {
        for name in properties {
            assert!(self.caught_here().any(|(_, p, _)| p == name), "no planted bug for {name}");
        }
        for bug in bugs {
            assert!(self.caught_by.iter().any(|(b, _, _)| *b == bug), "{bug} is never planted");
        }
    }

    /// Each bug this checker must catch is caught by its property, in a
    /// child process of its own.
    pub fn assert_each_caught(&self) {
        for (bug, property, expected) in self.caught_here() {
            let model = assert_caught_by(self.child_test, bug, Some(property), expected);
            assert!(model.contains(property), "{bug} was caught by {model}, not {property}");
        }
    }
}

/// The variable naming the planted bug a child process runs.
pub const PLANTED_VAR: &str = "LITEPOOL_PLANTED";
/// The variable naming the one property a child process runs, if set.
pub const PROPERTY_VAR: &str = "LITEPOOL_PROPERTY";

/// Runs the planted bug `bug` through the properties in a child process
/// (loom can abort the process on some failures, loom#291, which
/// `#[should_panic]` cannot catch), and asserts that a model failed with one
/// of `expected` in its output. Returns the model that caught it.
pub fn assert_caught(child_test: &str, bug: &str, expected: &[&str]) -> String {
    assert_caught_by(child_test, bug, None, expected)
}

/// As [`assert_caught`], running only `property` if it is given.
pub fn assert_caught_by(child_test: &str, bug: &str, property: Option<&str>, expected: &[&str]) -> String {
    let mut child = Command::new(std::env::current_exe().expect("test binary path"));
    child.args([child_test, "--exact", "--ignored", "--nocapture", "--test-threads=1"]).env(PLANTED_VAR, bug);
    match property {
        Some(property) => child.env(PROPERTY_VAR, property),
        None => child.env_remove(PROPERTY_VAR),
    };
    let output = child.output().expect("run the child test process");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!output.status.success(), "planted bug {bug} was NOT caught; the models passed:\n{text}");
    assert!(
        expected.iter().any(|e| text.contains(e)),
        "planted bug {bug} failed, but not with any of {expected:?}:\n{text}"
    );
    let caught = text
        .lines()
        .find_map(|l| l.strip_prefix("LITEPOOL-CAUGHT "))
        .unwrap_or_else(|| panic!("no LITEPOOL-CAUGHT line for {bug}:\n{text}"))
        .to_owned();
    // `model=<name> iteration=<n>`, and under shuttle
    // ` scheduler=<s> seed=<seed> total=<n>`.
    let (model, found) = caught.split_once(" iteration=").expect("caught line format");
    let model = model.trim_start_matches("model=");
    let property = property.unwrap_or("all");
    let fields: Vec<&str> = found.split(' ').map(|f| f.split_once('=').map_or(f, |(_, v)| v)).collect();
    match fields[..] {
        [iteration] => println!("LOOM-PLANTED | {bug} | {property} | {model} | {iteration} |"),
        [iteration, scheduler, seed, total] => println!(
            "SHUTTLE-PLANTED | {bug} | {property} | {model} | {scheduler} | {seed} | {iteration} | {total} |"
        ),
        _ => panic!("unexpected caught line {caught:?}"),
    }
    model.to_owned()
}
