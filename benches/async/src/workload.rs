//! The async benchmark's workload, shared (by `#[path]`) by the two
//! binaries: `benches/async` (litepool and sqlx, which link the same
//! SQLite as litepool's rusqlite) and `benches/async/peers` (tokio-rusqlite,
//! deadpool-sqlite and async-sqlite, which link an older one). Each binary
//! also measures one rusqlite connection doing the same operations alone,
//! on its own SQLite, so that every figure is a ratio to that baseline
//! measured in the same run.
//!
//! A point is (synchronous, mix, tasks): `tasks` tokio tasks on a runtime
//! with two worker threads, each awaiting one operation at a time, for a
//! fixed time; a write inserts one row and returns once it is committed,
//! a read looks up one row by key. WAL, a fresh file per point.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

pub type Op<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Something the benchmark drives: a peer, or litepool.
pub trait Target: Send + std::marker::Sync + 'static {
    /// Inserts row `id` and returns once it is committed.
    fn write(&self, id: i64) -> Op<'_>;
    /// Reads the row whose key is `key`.
    fn read(&self, key: i64) -> Op<'_>;
}

/// Rows preloaded for the reads to find.
pub const PRELOAD: i64 = 1_000;

pub const SCHEMA: &str = "CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)";
pub const INSERT: &str = "INSERT INTO items (id, value) VALUES (?1, 0)";
pub const SELECT: &str = "SELECT value FROM items WHERE id = ?1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    Normal,
    Full,
}

impl Sync {
    pub fn sql(self) -> &'static str {
        match self {
            Sync::Normal => "NORMAL",
            Sync::Full => "FULL",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    Writes,
    /// Nine reads in ten.
    ReadMostly,
}

impl Mix {
    pub fn name(self) -> &'static str {
        match self {
            Mix::Writes => "writes",
            Mix::ReadMostly => "90% reads",
        }
    }

    fn is_write(self, n: u64) -> bool {
        match self {
            Mix::Writes => true,
            Mix::ReadMostly => n % 10 == 0,
        }
    }
}

/// What a point measured.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub ops: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub latencies_ns: Vec<u64>,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    /// Counts one operation begun at `begun` that ended in `result`.
    fn record(&mut self, begun: Instant, result: Result<(), String>) {
        self.latencies_ns.push(begun.elapsed().as_nanos() as u64);
        match result {
            Ok(()) => self.ops += 1,
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    /// A latency quantile, in microseconds.
    pub fn quantile_us(&mut self, q: f64) -> f64 {
        if self.latencies_ns.is_empty() {
            return 0.0;
        }
        self.latencies_ns.sort_unstable();
        let at = ((self.latencies_ns.len() - 1) as f64 * q).round() as usize;
        self.latencies_ns[at] as f64 / 1000.0
    }
}

/// How long each point runs: `ASYNC_BENCH_SECONDS`, or 1.5.
pub fn duration() -> Duration {
    Duration::from_secs_f64(
        std::env::var("ASYNC_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1.5),
    )
}

/// Creates the table in a fresh WAL file and preloads it, on a plain
/// rusqlite connection of the binary's own SQLite (`setup` runs the SQL).
pub fn prepare(setup: impl FnOnce(&str)) {
    let mut sql = format!("PRAGMA journal_mode = WAL; {SCHEMA}; BEGIN;");
    for id in 0..PRELOAD {
        sql.push_str(&format!("INSERT INTO items (id, value) VALUES ({id}, {id});"));
    }
    sql.push_str("COMMIT;");
    setup(&sql);
}

/// Runs `tasks` tasks against `target` for `duration()`, on a 2-worker runtime.
pub fn drive(runtime: &tokio::runtime::Runtime, target: Arc<dyn Target>, tasks: usize, mix: Mix) -> Measured {
    let stop = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(AtomicI64::new(1_000_000));
    let started = Instant::now();
    let parts: Vec<Measured> = runtime.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let (target, stop, next_id) = (target.clone(), stop.clone(), next_id.clone());
                tokio::spawn(async move {
                    let mut out = Measured::default();
                    let mut n = t as u64;
                    while !stop.load(Ordering::Relaxed) {
                        let begun = Instant::now();
                        let result = if mix.is_write(n) {
                            target.write(next_id.fetch_add(1, Ordering::Relaxed)).await
                        } else {
                            target.read((n * 7919) as i64 % PRELOAD).await
                        };
                        out.record(begun, result);
                        n += 1;
                    }
                    out
                })
            })
            .collect();
        tokio::time::sleep(duration()).await;
        stop.store(true, Ordering::Relaxed);
        let mut parts = Vec::new();
        for handle in handles {
            parts.push(handle.await.expect("a benchmark task panicked"));
        }
        parts
    });
    let mut all = Measured { elapsed: started.elapsed(), ..Measured::default() };
    for part in parts {
        all.ops += part.ops;
        all.errors += part.errors;
        all.first_error = all.first_error.or(part.first_error);
        all.latencies_ns.extend(part.latencies_ns);
    }
    all
}

/// One connection alone: the same operations, one at a time, on one
/// thread, each write its own transaction (`op(is_write, n)` runs one).
pub fn alone(mix: Mix, mut op: impl FnMut(bool, i64) -> Result<(), String>) -> Measured {
    let mut out = Measured::default();
    let started = Instant::now();
    let limit = duration();
    let mut n = 0u64;
    let mut next_id = 1_000_000i64;
    while started.elapsed() < limit {
        let begun = Instant::now();
        let write = mix.is_write(n);
        let arg = if write {
            next_id += 1;
            next_id
        } else {
            (n * 7919) as i64 % PRELOAD
        };
        let result = op(write, arg);
        out.record(begun, result);
        n += 1;
    }
    out.elapsed = started.elapsed();
    out
}

/// The points every binary runs (only those whose `SYNC/mix/tasks` name,
/// e.g. `FULL/writes/64`, contains `ASYNC_BENCH_POINTS`, if it is set).
pub fn points() -> Vec<(Sync, Mix, usize)> {
    let only = std::env::var("ASYNC_BENCH_POINTS").unwrap_or_default();
    let mut points = Vec::new();
    for sync in [Sync::Normal, Sync::Full] {
        for mix in [Mix::Writes, Mix::ReadMostly] {
            for tasks in [1, 8, 64] {
                if format!("{}/{}/{tasks}", sync.sql(), mix.name()).contains(&only) {
                    points.push((sync, mix, tasks));
                }
            }
        }
    }
    points
}

/// Whether to run `target` (`ASYNC_BENCH_TARGETS`, if set, names the
/// targets to run, by a part of their names; `alone` always runs).
pub fn runs(target: &str) -> bool {
    std::env::var("ASYNC_BENCH_TARGETS")
        .map_or(true, |only| only.split(',').any(|part| target.contains(part)))
}

/// One result line, as `.ci/async-bench` collects them:
/// `ASYNC-ROW | name | sync | mix | tasks | ops/s | ratio | p50 | p99 | errors |`.
pub fn report(name: &str, sync: Sync, mix: Mix, tasks: usize, m: &mut Measured, alone: f64) {
    let (p50, p99) = (m.quantile_us(0.5), m.quantile_us(0.99));
    println!(
        "ASYNC-ROW | {name} | {} | {} | {tasks} | {:.0} | {:.2} | {p50:.1} | {p99:.1} | {} |",
        sync.sql(),
        mix.name(),
        m.per_second(),
        m.per_second() / alone,
        m.errors
    );
    if let Some(e) = &m.first_error {
        eprintln!("{name} {} {} {tasks}: {} errors, the first: {e}", sync.sql(), mix.name(), m.errors);
    }
}

/// A fresh database path for one point.
pub fn fresh(dir: &Path, name: &str, sync: Sync, mix: Mix, tasks: usize) -> std::path::PathBuf {
    dir.join(format!("{name}-{}-{}-{tasks}.db", sync.sql(), if mix == Mix::Writes { "w" } else { "r" }))
}
