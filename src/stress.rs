//! The stress tool's engine, for any strategy (yours included): run a
//! workload through it on a real database file, time every operation, and
//! verify what the database holds afterwards.
//!
//! The stress tool (`cargo run --release`, the `stress/` workspace member)
//! is a command line around this module; it lives in the library so that a
//! strategy written outside litepool can be checked the same way from code:
//!
//! ```
//! use litepool::stress::{self, Workload};
//! use litepool::{Locked, SqliteManager};
//!
//! let dir = tempfile::tempdir()?;
//! let access = Locked::open(SqliteManager::file(dir.path().join("s.db")))?;
//! let measured = stress::check(&access, &Workload { threads: 4, ops: 200, ..Workload::default() })?;
//! assert!(measured.verified, "{}", measured.verify_note);
//! assert_eq!(measured.reads + measured.writes, 4 * 200);
//! // It leaves nothing behind in the database.
//! let tables: i64 = access.with(|c| Ok(c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?))?;
//! assert_eq!(tables, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A run works only in a table of its own, which it creates under a fresh
//! name (`litepool_stress_<process>_<time>`) and which [`drop_run`] drops:
//! a user's database (`--db`) is never touched outside it, a table of the
//! user's is never written or dropped, whatever it is called, and runs
//! sharing a file at once (`--processes`) each drop only their own.
//! Several processes can take part in one run ([`join`]), each writing
//! rows tagged with its part number.
//! Verification is SQLite's `threadtest3` in miniature: the rows this run
//! stored equal the writes it acknowledged, `integrity_check` says `ok`, and
//! no operation failed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::access::{Access, AccessExt};
use crate::error::{Error, Result};
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// A strategy over rusqlite connections.
pub type Sqlite = dyn Access<Connection = Connection>;

/// What to run.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Threads running operations at once.
    pub threads: usize,
    /// Operations per thread (ignored when `duration` is set).
    pub ops: u64,
    /// Run for this long instead of `ops` operations per thread.
    pub duration: Option<Duration>,
    /// The share of operations that insert a row; the rest are point reads.
    pub write_ratio: f64,
}

impl Default for Workload {
    /// The stress tool's scaled workload: 4 threads × 5,000 operations, 10 %
    /// writes.
    fn default() -> Workload {
        Workload { threads: 4, ops: 5_000, duration: None, write_ratio: 0.1 }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// Writes acknowledged (their transaction committed).
    pub writes: u64,
    /// Reads that returned.
    pub reads: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Of those, the ones that failed busy ("database is locked").
    pub busy: u64,
    /// The longest any write took, from the call to its return.
    pub longest_write: Duration,
    /// The first failure's message.
    pub first_error: Option<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Every operation's latency.
    pub latency: Histogram,
    /// Whether the check passed: rows stored equal writes acknowledged,
    /// `integrity_check` says `ok`, and no operation failed.
    pub verified: bool,
    /// What failed the check, if anything.
    pub verify_note: String,
}

impl Measured {
    /// Counts one operation that took `took` and ended in `result`.
    pub fn record(&mut self, write: bool, took: Duration, result: Result<()>) {
        self.latency.record(took);
        if write {
            self.longest_write = self.longest_write.max(took);
        }
        match result {
            Ok(()) if write => self.writes += 1,
            Ok(()) => self.reads += 1,
            Err(e) => {
                self.errors += 1;
                self.busy += u64::from(e.is_busy());
                self.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// Adds the counts of `part` (one thread's or task's) to these.
    pub fn merge(&mut self, part: Measured) {
        self.writes += part.writes;
        self.reads += part.reads;
        self.errors += part.errors;
        self.busy += part.busy;
        self.longest_write = self.longest_write.max(part.longest_write);
        self.first_error = self.first_error.take().or(part.first_error);
        self.latency.merge(&part.latency);
    }
}

/// Rows inserted before a run, so point reads have something to find.
pub const PRELOAD: i64 = 1_000;

/// A run: its own table, and the part of it this process writes.
#[derive(Clone, Debug)]
pub struct Run {
    /// The run's table, created by [`prepare`].
    pub table: String,
    /// This process's part of the run (0 unless several processes take part),
    /// stored in each row it writes.
    pub part: i64,
    /// The first of the run's preloaded rows, which point reads look up.
    pub first_row: i64,
}

/// The prefix of every table a run creates.
pub const TABLE_PREFIX: &str = "litepool_stress_";

/// Creates a table of the run's own under a fresh name, preloads rows for
/// point reads and returns the run. It never reuses a table: `CREATE TABLE`
/// fails rather than write into one that exists.
pub fn prepare(access: &Sqlite) -> Result<Run> {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let table = format!(
        "{TABLE_PREFIX}{}_{}_{}",
        std::process::id(),
        since_epoch.as_micros(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    );
    access.write(|c| {
        c.execute_batch(&format!(
            "CREATE TABLE {table} (
                 id INTEGER PRIMARY KEY, part INTEGER NOT NULL, thread INTEGER NOT NULL,
                 value INTEGER NOT NULL)"
        ))?;
        let mut insert =
            c.prepare(&format!("INSERT INTO {table} (part, thread, value) VALUES (0, -1, ?1)"))?;
        let mut first_row = None;
        for i in 0..PRELOAD {
            insert.execute([i])?;
            first_row.get_or_insert(c.last_insert_rowid());
        }
        Ok(())
    })?;
    join(access, &table, 0)
}

/// Takes part `part` in the run whose table [`prepare`] created (in another
/// process, say). Refuses, with an error that says why, a table name that
/// a run would not have made or a table that does not exist.
pub fn join(access: &Sqlite, table: &str, part: i64) -> Result<Run> {
    let made_by_a_run = table
        .strip_prefix(TABLE_PREFIX)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'_'));
    if !made_by_a_run {
        return Err(Error::not_a_stress_table(table, TABLE_PREFIX));
    }
    let first_row: Option<i64> = access.read(|c| {
        let exists: i64 = c.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )?;
        if exists == 0 {
            return Ok(None);
        }
        Ok(c.query_row(&format!("SELECT MIN(id) FROM {table} WHERE thread = -1"), [], |r| r.get(0))?)
    })?;
    let first_row = first_row.ok_or_else(|| Error::no_stress_rows(table))?;
    Ok(Run { table: table.to_owned(), part, first_row })
}

/// Drops the run's table, and nothing else.
pub fn drop_run(access: &Sqlite, run: &Run) -> Result<()> {
    access.write(|c| Ok(c.execute_batch(&format!("DROP TABLE IF EXISTS {}", run.table))?))
}

/// Rows part `part` of the run stored (preloaded rows not counted).
pub fn stored(access: &Sqlite, run: &Run, part: i64) -> Result<i64> {
    access.read(|c| {
        Ok(c.query_row(
            &format!("SELECT COUNT(*) FROM {} WHERE part = ?1 AND thread >= 0", run.table),
            [part],
            |r| r.get(0),
        )?)
    })
}

/// Prepares a run, runs `workload` through `access` and verifies it, then
/// drops the run's table. An `Err` is a failure to set up or read back; a
/// workload that ran but failed the check returns `Ok` with
/// `verified == false` and the reason.
pub fn check(access: &Sqlite, workload: &Workload) -> Result<Measured> {
    let run = prepare(access)?;
    let measured = self::run(access, &run, workload, &AtomicU64::new(0));
    drop_run(access, &run)?;
    measured
}

/// `PRAGMA integrity_check`'s first line.
pub fn integrity_check(access: &Sqlite) -> Result<String> {
    access.read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
}

/// The message of a panic payload (`panic!` makes a `&str` or a `String`).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message")
}

/// A small, fast, deterministic generator; one per thread.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

/// Runs `workload` on `access` for run `run`, then verifies. `progress`
/// counts finished operations for a progress bar.
pub fn run(access: &Sqlite, run: &Run, workload: &Workload, progress: &AtomicU64) -> Result<Measured> {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let per_thread: Vec<Measured> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workload.threads)
            .map(|t| {
                let stop = &stop;
                s.spawn(move || run_thread(access, run, t as i64, workload, stop, progress))
            })
            .collect();
        if let Some(duration) = workload.duration {
            // The timer is the main thread's whole job here.
            std::thread::sleep(duration);
            stop.store(true, Ordering::Relaxed);
        }
        handles.into_iter().map(|h| h.join().expect("a stress thread panicked")).collect()
    });
    let elapsed = started.elapsed();

    let mut measured = Measured { elapsed, ..Measured::default() };
    for part in per_thread {
        measured.merge(part);
    }
    verify(access, run, &mut measured)?;
    Ok(measured)
}

/// The check every run ends with, through `access`: rows stored in this
/// process's part of `run` equal the writes `measured` acknowledged,
/// `integrity_check` says `ok`, and no operation failed. Sets
/// `measured.verified` and says why not in `verify_note`.
pub fn verify(access: &Sqlite, run: &Run, measured: &mut Measured) -> Result<()> {
    let stored = stored(access, run, run.part)?;
    let integrity = integrity_check(access)?;
    let mut problems = Vec::new();
    if stored as u64 != measured.writes {
        problems.push(format!("{stored} rows stored, {} acknowledged", measured.writes));
    }
    if integrity != "ok" {
        problems.push(format!("integrity_check: {integrity}"));
    }
    if measured.errors > 0 {
        let first = measured.first_error.as_deref().unwrap_or("not kept");
        problems.push(format!("{} operations failed (the first: {first})", measured.errors));
    }
    measured.verified = problems.is_empty();
    measured.verify_note = problems.join("; ");
    Ok(())
}

/// The tutorial's scenario: 10 threads each insert one row, then 5 threads
/// count. Verified: 10 rows stored and acknowledged, every count saw all 10,
/// `integrity_check` is `ok`, no errors.
pub fn tutorial(access: &Sqlite, run: &Run) -> Result<Measured> {
    const WRITERS: usize = 10;
    const COUNTERS: usize = 5;
    let inserts = Workload { threads: WRITERS, ops: 1, duration: None, write_ratio: 1.0 };
    let started = Instant::now();
    let mut measured = self::run(access, run, &inserts, &AtomicU64::new(0))?;
    let counts: Vec<(Duration, Result<i64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..COUNTERS)
            .map(|_| {
                s.spawn(|| {
                    let started = Instant::now();
                    let n = stored(access, run, run.part);
                    (started.elapsed(), n)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a counting thread panicked")).collect()
    });
    let mut problems = vec![measured.verify_note.clone()];
    for (took, count) in counts {
        measured.latency.record(took);
        match count {
            Ok(n) if n == WRITERS as i64 => measured.reads += 1,
            Ok(n) => problems.push(format!("a counting thread saw {n} rows, not {WRITERS}")),
            Err(e) => {
                measured.errors += 1;
                measured.first_error.get_or_insert_with(|| e.to_string());
                problems.push(format!("a count failed: {e}"));
            }
        }
    }
    measured.elapsed = started.elapsed();
    problems.retain(|p| !p.is_empty());
    measured.verified = measured.verified && problems.is_empty() && measured.writes == WRITERS as u64;
    measured.verify_note = problems.join("; ");
    Ok(measured)
}

fn run_thread(
    access: &Sqlite,
    run: &Run,
    thread: i64,
    workload: &Workload,
    stop: &AtomicBool,
    progress: &AtomicU64,
) -> Measured {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ ((thread as u64 + 1) * 0x1000_0001));
    let mut out = Measured::default();
    let insert = format!("INSERT INTO {} (part, thread, value) VALUES (?1, ?2, ?3)", run.table);
    let select = format!("SELECT value FROM {} WHERE id = ?1", run.table);
    let mut done = 0u64;
    loop {
        if workload.duration.is_some() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
        } else if done == workload.ops {
            break;
        }
        let write = rng.chance(workload.write_ratio);
        let key = (rng.next() % PRELOAD as u64) as i64;
        let started = Instant::now();
        // The work counts its runs: a strategy that acknowledges work it
        // never ran, runs it twice, or panics is a failed operation with a
        // note that says so, not a panic of the tool's own.
        let mut runs = 0u32;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if write {
                access.write_with(&mut |c| {
                    runs += 1;
                    c.prepare_cached(&insert)?.execute((run.part, thread, key))?;
                    Ok(())
                })
            } else {
                access.read_with(&mut |c| {
                    runs += 1;
                    c.prepare_cached(&select)?.query_row([run.first_row + key], |r| r.get::<_, i64>(0))?;
                    Ok(())
                })
            }
        }));
        let what = if write { "write" } else { "read" };
        let result = match outcome {
            Ok(Ok(())) if runs != 1 => Err(Error::strategy_broke(&format!(
                "returned Ok for a {what} whose work ran {runs} times, not once"
            ))),
            Ok(result) => result,
            Err(panic) => {
                Err(Error::strategy_broke(&format!("panicked during a {what}: {}", panic_text(&*panic))))
            }
        };
        out.record(write, started.elapsed(), result);
        done += 1;
        if done.is_multiple_of(64) {
            progress.fetch_add(64, Ordering::Relaxed);
        }
    }
    out
}

/// Operation latencies in log-linear buckets (16 per power of two, about
/// 6 % wide), so long `--seconds` runs need no per-operation storage.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    over_1ms: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram { counts: vec![0; 64 * 16], total: 0, over_1ms: 0 }
    }
}

impl Histogram {
    fn bucket(nanos: u64) -> usize {
        let v = nanos.max(1);
        let exp = 63 - v.leading_zeros() as usize;
        if exp < 4 { v as usize } else { (exp - 3) * 16 + ((v >> (exp - 4)) & 15) as usize }
    }

    fn lower_bound(bucket: usize) -> u64 {
        if bucket < 16 {
            bucket as u64
        } else {
            let exp = bucket / 16 + 3;
            (16 + (bucket % 16) as u64) << (exp - 4)
        }
    }

    /// Counts one operation that took `d`.
    pub fn record(&mut self, d: Duration) {
        let nanos = d.as_nanos().min(u64::MAX as u128) as u64;
        self.counts[Self::bucket(nanos)] += 1;
        self.total += 1;
        if d > Duration::from_millis(1) {
            self.over_1ms += 1;
        }
    }

    /// Adds `other`'s operations to these.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.over_1ms += other.over_1ms;
    }

    /// The latency below which a fraction `q` of operations finished.
    pub fn quantile(&self, q: f64) -> Duration {
        let target = ((self.total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= target {
                return Duration::from_nanos(Self::lower_bound(i));
            }
        }
        Duration::ZERO
    }

    /// Operations slower than 1 ms.
    pub fn over_1ms(&self) -> u64 {
        self.over_1ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_within_seven_percent() {
        for nanos in [1u64, 15, 16, 17, 1_000, 12_345, 1_000_000, 987_654_321] {
            let lower = Histogram::lower_bound(Histogram::bucket(nanos));
            assert!(lower <= nanos && nanos as f64 <= lower as f64 * 1.07, "{nanos} -> {lower}");
        }
    }

    #[test]
    fn quantiles_come_from_the_recorded_values() {
        let mut h = Histogram::default();
        for micros in 1..=100 {
            h.record(Duration::from_micros(micros));
        }
        let p50 = h.quantile(0.5).as_micros();
        let p99 = h.quantile(0.99).as_micros();
        assert!((47..=50).contains(&p50), "{p50}");
        assert!((93..=99).contains(&p99), "{p99}");
        assert_eq!(h.over_1ms(), 0);
    }
}
