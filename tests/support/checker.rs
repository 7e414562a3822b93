//! The model checker, for loom and for shuttle: the primitives models use,
//! and `check`, which runs one model under the checker of the build.
//!
//! Under loom (`--cfg loom`) a model runs at its own small [`Scale`] (two or
//! three threads), exhaustively: models with more than two threads run with
//! a preemption bound, `LOOM_MAX_PREEMPTIONS` or 3 if it is unset; two-thread
//! models run unbounded. Each prints a `LOOM-ROW` line (model, threads,
//! bound, iterations, time) that `.ci/loom-table` collects into EVIDENCE.md.
//!
//! Under shuttle (`--cfg shuttle`) the same model runs at every scale of
//! [`SHUTTLE_SCALES`] (4, 8 and 16 threads; pools of 2, 4 and 8), each under
//! three randomized schedulers (PCT with bug depth 2, PCT with depth 3, and
//! the uniform random scheduler), each for a fixed budget of iterations
//! from a fixed seed, so a run is reproducible and a failure prints the
//! seed that replays it. Each prints a `SHUTTLE-ROW` line that
//! `.ci/shuttle-table` collects.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Instant;

#[cfg(shuttle)]
pub use self::unpoisoned::{Condvar, Mutex, MutexGuard};
/// The checker's primitives, for the models' own threads and shared state.
#[cfg(loom)]
pub use loom::{
    sync::{
        Arc, Condvar, Mutex, MutexGuard,
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
            print_caught();
            default(info);
        }));
    });
}

/// A model failed: the caught line, and, when the failure is a planted
/// panic (which the hook keeps quiet), that it escaped: a property that
/// plants one catches it in the thread that should see it, so one that
/// fails the model unwound some other thread.
fn print_failure(panic: &(dyn std::any::Any + Send)) {
    print_caught();
    if crate::support::panic_message(panic).contains(EXPECTED_PANIC) {
        eprintln!("a planted panic escaped into a thread that was not its caller's");
    }
}

/// The line that names the model and iteration that failed, which the
/// planted suites read (`runner.rs`). Printed by the panic hook, and again
/// when a model fails by a planted panic the hook keeps quiet (one that
/// escaped into another thread, say); the planted suites read the first.
fn print_caught() {
    let model = MODEL.lock().map(|m| m.clone()).unwrap_or_default();
    let iteration = ITERATION.load(StdOrdering::Relaxed);
    let (scheduler, earlier) = SCHEDULER.lock().map(|s| s.clone()).unwrap_or_default();
    let total = if scheduler.is_empty() { String::new() } else { (earlier + iteration).to_string() };
    eprintln!("LITEPOOL-CAUGHT model={model} iteration={iteration}{scheduler}{total}");
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
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        builder.check(move || {
            let n = iterations.fetch_add(1, StdOrdering::Relaxed) + 1;
            ITERATION.store(n, StdOrdering::Relaxed);
            body()
        })
    }));
    if let Err(panic) = outcome {
        print_failure(&*panic);
        std::panic::resume_unwind(panic);
    }
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
    check_times(model, threads, 1, body)
}

/// [`check`] with `times` the iterations, for a model whose schedule of
/// interest is rare (it asserts that some iteration reached it).
#[cfg(shuttle)]
pub fn check_times(model: &str, threads: usize, times: usize, body: impl Fn() + Sync + Send + 'static) {
    install_panic_hook();
    let body = std::sync::Arc::new(body);
    let (budget, seed) = (shuttle_iterations() * times, shuttle_seed());
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
            print_failure(&*panic);
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
