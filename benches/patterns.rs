//! Every pattern side by side, in one run, so the ratios hold on a noisy
//! machine: `cargo bench --bench patterns`.
//!
//! Three criterion groups:
//!
//! 1. `checkout`: check a connection out and return it, no SQL: litepool's
//!    pool, r2d2 with its default checkout test (`SELECT 1` per checkout)
//!    and without, and a `Mutex<Connection>` lock/unlock; 1, 2, 4, 8 threads.
//! 2. `writes`: T threads each inserting rows (WAL, `synchronous = NORMAL`),
//!    every litepool strategy and r2d2, beside **one connection inserting
//!    the same rows from one thread**: the single-writer limit, since SQLite
//!    admits one writer at a time. Each strategy runs twice: as it is, and
//!    `-unqueued` (`SqliteManager::without_write_queue`, its writers going
//!    straight to SQLite's busy handler as before the write queue), so the
//!    queue's cost or gain is a ratio from one run.
//! 3. `read_mix`: 90 % point reads, 10 % inserts, every strategy and r2d2,
//!    beside one connection doing the same operations from one thread.
//! 4. `commit`: the group-commit comparison. T threads (1 to 64) each
//!    inserting rows, under `synchronous = NORMAL` and `FULL`, every
//!    strategy, the group strategy with batch caps 8 and 128 beside its
//!    default, and r2d2, beside one connection inserting the same rows
//!    alone in autocommit; then an untimed pass records each insert's
//!    latency for p50 and p99.
//!
//! `cargo bench --bench patterns` runs the first three;
//! `cargo bench --bench patterns -- commit/` runs the fourth (any filter
//! naming a group skips the others' untimed passes too), and
//! `bash .ci/commit-table` puts its tables in EVIDENCE.md.
//!
//! Threads are long-lived workers, so per-thread connections stay open
//! across samples, and a keeper connection stays open throughout, so no
//! close of a WAL database's last connection (which checkpoints) lands in a
//! timed section. After the groups, a summary of ratios (and a count of
//! operations slower than 1 ms) is printed and written to
//! `target/litepool-bench.md`; `bash .ci/bench-table` puts it in EVIDENCE.md.
//!
//! r2d2_sqlite pins an older rusqlite and only one crate may link SQLite, so
//! `ManageConnection` is implemented here for our rusqlite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use litepool::strategy::Sizing;
use litepool::{Access, AccessExt, GroupCommit, Pool, SqliteManager, Synchronous, strategy};
use rusqlite::Connection;

const THREADS: [usize; 4] = [1, 2, 4, 8];
/// The `commit` group's thread counts.
const COMMIT_THREADS: [usize; 6] = [1, 2, 4, 8, 16, 64];
/// The group strategy's batch caps measured beside its default.
const OTHER_CAPS: [usize; 2] = [8, 128];
const PRELOAD: i64 = 10_000;

type Sqlite = dyn Access<Connection = Connection>;

/// r2d2's manager for our rusqlite, set up as litepool's connections are.
struct R2d2Sqlite {
    path: PathBuf,
    synchronous: &'static str,
}

impl r2d2::ManageConnection for R2d2Sqlite {
    type Connection = Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(&format!("PRAGMA synchronous = {}; PRAGMA foreign_keys = ON;", self.synchronous))?;
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<(), rusqlite::Error> {
        conn.execute_batch("SELECT 1")
    }

    fn has_broken(&self, _: &mut Connection) -> bool {
        false
    }
}

fn r2d2_pool(path: &Path, size: u32, test_on_check_out: bool) -> r2d2::Pool<R2d2Sqlite> {
    r2d2_pool_with(path, size, test_on_check_out, Synchronous::Normal)
}

fn r2d2_pool_with(
    path: &Path,
    size: u32,
    test_on_check_out: bool,
    sync: Synchronous,
) -> r2d2::Pool<R2d2Sqlite> {
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(size))
        .test_on_check_out(test_on_check_out)
        .build(R2d2Sqlite { path: path.to_owned(), synchronous: sync_sql(sync) })
        .expect("build r2d2 pool")
}

fn sync_sql(sync: Synchronous) -> &'static str {
    if sync == Synchronous::Full { "FULL" } else { "NORMAL" }
}

/// The group filter given on the command line, if any (`-- commit/`).
fn wanted(group: &str) -> bool {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let first = group.split('/').next().unwrap_or(group);
    filter.is_none_or(|f| f.starts_with(first) || group.starts_with(f.trim_end_matches('/')))
}

/// Per-operation times (ns) of every sample, by benchmark id.
static SAMPLES: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());

fn record(id: &str, elapsed: Duration, ops: u64) {
    SAMPLES.lock().unwrap().entry(id.to_owned()).or_default().push(elapsed.as_nanos() as f64 / ops as f64);
}

fn median_ns(id: &str) -> Option<f64> {
    let samples = SAMPLES.lock().unwrap();
    let mut v = samples.get(id)?.clone();
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Long-lived worker threads that run a job on every thread at once.
struct Workers {
    jobs: Vec<Sender<Job>>,
    done: Receiver<()>,
    handles: Vec<JoinHandle<()>>,
}

type Job = Arc<dyn Fn(usize) + Send + Sync>;

impl Workers {
    fn new(threads: usize) -> Workers {
        let (done_tx, done) = channel();
        let mut jobs = Vec::new();
        let mut handles = Vec::new();
        for t in 0..threads {
            let (tx, rx) = channel::<Job>();
            let done_tx = done_tx.clone();
            jobs.push(tx);
            handles.push(std::thread::spawn(move || {
                for job in rx {
                    job(t);
                    done_tx.send(()).unwrap();
                }
            }));
        }
        Workers { jobs, done, handles }
    }

    /// Runs `job` on every worker and returns the wall time until all are done.
    fn run(&self, job: Job) -> Duration {
        let started = Instant::now();
        for tx in &self.jobs {
            tx.send(job.clone()).unwrap();
        }
        for _ in &self.jobs {
            self.done.recv().unwrap();
        }
        started.elapsed()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.jobs.clear();
        for h in self.handles.drain(..) {
            h.join().unwrap();
        }
    }
}

/// The patterns compared in the SQL groups.
#[derive(Clone)]
enum Subject {
    Litepool(Arc<Box<Sqlite>>),
    R2d2(r2d2::Pool<R2d2Sqlite>),
}

impl Subject {
    fn insert(&self, value: i64) {
        const SQL: &str = "INSERT INTO items (value) VALUES (?1)";
        match self {
            Subject::Litepool(a) => {
                a.write(|c| Ok(c.prepare_cached(SQL)?.execute([value]).map(drop)?)).unwrap()
            }
            Subject::R2d2(p) => {
                p.get().unwrap().prepare_cached(SQL).unwrap().execute([value]).unwrap();
            }
        }
    }

    fn point_read(&self, id: i64) {
        const SQL: &str = "SELECT value FROM items WHERE id = ?1";
        let read = |c: &Connection| c.prepare_cached(SQL)?.query_row([id], |r| r.get::<_, i64>(0));
        match self {
            Subject::Litepool(a) => {
                a.read(|c| Ok(read(c)?)).unwrap();
            }
            Subject::R2d2(p) => {
                read(&p.get().unwrap()).unwrap();
            }
        }
    }
}

/// xorshift64: the operations' random choices, the same for every pattern.
fn next(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

/// One operation of the read mix: 1 in 10 inserts, the rest point reads.
fn mix_op(subject: &Subject, rng: &mut u64) {
    let r = next(rng);
    if r.is_multiple_of(10) {
        subject.insert(r as i64)
    } else {
        subject.point_read(1 + (r % PRELOAD as u64) as i64)
    }
}

fn single_mix_op(conn: &Connection, rng: &mut u64) {
    let r = next(rng);
    if r.is_multiple_of(10) {
        conn.prepare_cached("INSERT INTO items (value) VALUES (?1)").unwrap().execute([r as i64]).unwrap();
    } else {
        conn.prepare_cached("SELECT value FROM items WHERE id = ?1")
            .unwrap()
            .query_row([1 + (r % PRELOAD as u64) as i64], |row| row.get::<_, i64>(0))
            .unwrap();
    }
}

/// A fresh WAL database with `PRELOAD` rows, and a keeper connection.
fn database(dir: &Path, name: &str) -> (PathBuf, Connection) {
    let path = dir.join(name);
    let keeper = Connection::open(&path).unwrap();
    keeper
        .execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {PRELOAD})
             INSERT INTO items (value) SELECT i FROM n;"
        ))
        .unwrap();
    (path, keeper)
}

fn manager(path: &Path) -> SqliteManager {
    SqliteManager::file(path).synchronous(Synchronous::Normal)
}

/// The suffix of a strategy opened without the write queue: its writers go
/// straight to SQLite's busy handler, as before the queue existed.
const UNQUEUED: &str = "-unqueued";

/// Every subject for the SQL groups, sized for `threads`; with `unqueued`,
/// each strategy also without its write queue, for the before and after.
fn subjects(path: &Path, threads: usize, unqueued: bool) -> Vec<(String, Subject)> {
    let mut out: Vec<(String, Subject)> = Vec::new();
    for s in strategy::all::<SqliteManager>() {
        let sizing = Sizing::pool_size(threads.max(2));
        let access = (s.open)(manager(path), sizing).unwrap();
        out.push((s.name.to_owned(), Subject::Litepool(Arc::new(access))));
        if unqueued {
            let access = (s.open)(manager(path).without_write_queue(), sizing).unwrap();
            out.push((format!("{}{UNQUEUED}", s.name), Subject::Litepool(Arc::new(access))));
        }
    }
    let size = threads.max(2) as u32;
    out.push(("r2d2".to_owned(), Subject::R2d2(r2d2_pool(path, size, true))));
    out.push(("r2d2-no-test".to_owned(), Subject::R2d2(r2d2_pool(path, size, false))));
    out
}

fn checkout(c: &mut Criterion, dir: &Path) {
    let (path, _keeper) = database(dir, "checkout.db");
    let mut group = c.benchmark_group("checkout");
    for threads in THREADS {
        let workers = Workers::new(threads);
        let pool = Arc::new(Pool::builder().max_size(8).min_idle(8).open(manager(&path)).unwrap());
        let r2d2_test = r2d2_pool(&path, 8, true);
        let r2d2_no_test = r2d2_pool(&path, 8, false);
        let mutex = Arc::new(parking_lot::Mutex::new(Connection::open(&path).unwrap()));
        macro_rules! bench {
            ($name:literal, $subject:expr, |$s:ident| $op:expr) => {{
                let id = format!("checkout/{}/{threads}", $name);
                let subject = $subject;
                group.bench_function(BenchmarkId::new($name, threads), |b| {
                    b.iter_custom(|iters| {
                        let $s = subject.clone();
                        let job: Job = Arc::new(move |_| {
                            for _ in 0..iters {
                                $op;
                            }
                        });
                        let elapsed = workers.run(job);
                        record(&id, elapsed, iters * threads as u64);
                        elapsed / threads as u32
                    })
                });
            }};
        }
        bench!("litepool-pool", pool.clone(), |p| drop(p.get().unwrap()));
        bench!("r2d2", r2d2_test.clone(), |p| drop(p.get().unwrap()));
        bench!("r2d2-no-test", r2d2_no_test.clone(), |p| drop(p.get().unwrap()));
        bench!("mutex-connection", mutex.clone(), |m| drop(m.lock()));
    }
    group.finish();
}

/// One connection on one thread: the reference a group's ratios divide by
/// (`single`), and any other one-thread baselines shown beside the patterns.
type SingleOp = fn(&Connection, &mut u64);

fn sql_group(
    c: &mut Criterion,
    dir: &Path,
    group_name: &str,
    op: fn(&Subject, &mut u64),
    singles: &[(&str, SingleOp)],
) {
    let mut group = c.benchmark_group(group_name);
    for threads in THREADS {
        let (path, _keeper) = database(dir, &format!("{group_name}-{threads}.db"));
        let workers = Workers::new(threads);
        let single_conn = manager_connection(&path);
        for &(name, single) in singles {
            let id = format!("{group_name}/{name}/{threads}");
            group.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| {
                    let mut rng = 0x2545_F491_4F6C_DD1D;
                    let ops = iters * threads as u64;
                    let started = Instant::now();
                    for _ in 0..ops {
                        single(&single_conn, &mut rng);
                    }
                    let elapsed = started.elapsed();
                    record(&id, elapsed, ops);
                    elapsed / threads as u32
                })
            });
        }
        for (name, subject) in subjects(&path, threads, group_name == "writes") {
            let id = format!("{group_name}/{name}/{threads}");
            group.bench_function(BenchmarkId::new(&name, threads), |b| {
                b.iter_custom(|iters| {
                    let subject = subject.clone();
                    let job: Job = Arc::new(move |t| {
                        let mut rng = 0x2545_F491_4F6C_DD1D ^ ((t as u64 + 1) << 32);
                        for _ in 0..iters {
                            op(&subject, &mut rng);
                        }
                    });
                    let elapsed = workers.run(job);
                    record(&id, elapsed, iters * threads as u64);
                    elapsed / threads as u32
                })
            });
            tail(group_name, &name, threads, &workers, subject, op);
        }
    }
    group.finish();
}

fn manager_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch("PRAGMA synchronous = NORMAL").unwrap();
    conn
}

/// Operations slower than 1 ms, by benchmark id, from one untimed pass.
static TAILS: Mutex<BTreeMap<String, (u64, u64)>> = Mutex::new(BTreeMap::new());

const TAIL_OPS: u64 = 2_000;

fn tail(
    group: &str,
    name: &str,
    threads: usize,
    workers: &Workers,
    subject: Subject,
    op: fn(&Subject, &mut u64),
) {
    let slow = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = slow.clone();
    workers.run(Arc::new(move |t| {
        let mut rng = 0x9E37_79B9 ^ ((t as u64 + 1) << 32);
        for _ in 0..TAIL_OPS {
            let started = Instant::now();
            op(&subject, &mut rng);
            if started.elapsed() > Duration::from_millis(1) {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }));
    let slow = slow.load(std::sync::atomic::Ordering::Relaxed);
    TAILS.lock().unwrap().insert(format!("{group}/{name}/{threads}"), (slow, TAIL_OPS * threads as u64));
}

fn single_tail(group: &str, dir: &Path, threads: usize, single: fn(&Connection, &mut u64)) {
    let (path, _keeper) = database(dir, &format!("{group}-tail-{threads}.db"));
    let conn = manager_connection(&path);
    let mut rng = 0x9E37_79B9;
    let mut slow = 0;
    let ops = TAIL_OPS * threads as u64;
    for _ in 0..ops {
        let started = Instant::now();
        single(&conn, &mut rng);
        if started.elapsed() > Duration::from_millis(1) {
            slow += 1;
        }
    }
    TAILS.lock().unwrap().insert(format!("{group}/single/{threads}"), (slow, ops));
}

/// Per-insert latencies (p50, p99, in µs) by benchmark id, from one
/// untimed pass.
static LATENCIES: Mutex<BTreeMap<String, (f64, f64)>> = Mutex::new(BTreeMap::new());

/// Inserts per latency pass, split among the threads (at least 20 each).
const LATENCY_OPS: usize = 1_600;

fn percentiles(mut micros: Vec<f64>) -> (f64, f64) {
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99))
}

fn sync_label(sync: Synchronous) -> &'static str {
    if sync == Synchronous::Full { "full" } else { "normal" }
}

/// The group-commit comparison, under `sync`: every strategy, the group
/// strategy with other caps, and r2d2, against one connection writing the
/// same rows alone in autocommit; then each one's latency pass.
fn commit_group(c: &mut Criterion, dir: &Path, sync: Synchronous) {
    let label = sync_label(sync);
    let mut group = c.benchmark_group(format!("commit/{label}"));
    for threads in COMMIT_THREADS {
        let (path, _keeper) = database(dir, &format!("commit-{label}-{threads}.db"));
        let workers = Workers::new(threads);
        let single = manager_connection(&path);
        single.execute_batch(&format!("PRAGMA synchronous = {}", sync_sql(sync))).unwrap();
        let id = format!("commit/{label}/single/{threads}");
        group.bench_function(BenchmarkId::new("single", threads), |b| {
            b.iter_custom(|iters| {
                let mut rng = 0x2545_F491_4F6C_DD1D;
                let ops = iters * threads as u64;
                let started = Instant::now();
                for _ in 0..ops {
                    single_insert(&single, &mut rng);
                }
                let elapsed = started.elapsed();
                record(&id, elapsed, ops);
                elapsed / threads as u32
            })
        });
        let per_thread_ops = (LATENCY_OPS / threads).max(20);
        let mut rng = 0x9E37_79B9;
        let micros = (0..per_thread_ops * threads)
            .map(|_| {
                let started = Instant::now();
                single_insert(&single, &mut rng);
                started.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        LATENCIES.lock().unwrap().insert(id, percentiles(micros));

        let manager = || SqliteManager::file(&path).synchronous(sync);
        let sizing = Sizing::pool_size(threads.clamp(2, 16));
        let mut subjects: Vec<(String, Subject)> = strategy::all::<SqliteManager>()
            .iter()
            .map(|s| (s.name.to_owned(), Subject::Litepool(Arc::new((s.open)(manager(), sizing).unwrap()))))
            .collect();
        for cap in OTHER_CAPS {
            let group =
                GroupCommit::builder().readers(sizing.pool_size).batch_cap(cap).open(manager()).unwrap();
            subjects.push((format!("group-cap{cap}"), Subject::Litepool(Arc::new(Box::new(group)))));
        }
        let r2d2_size = threads.clamp(2, 16) as u32;
        subjects.push(("r2d2".to_owned(), Subject::R2d2(r2d2_pool_with(&path, r2d2_size, true, sync))));
        for (name, subject) in subjects {
            let id = format!("commit/{label}/{name}/{threads}");
            let timed = subject.clone();
            group.bench_function(BenchmarkId::new(&name, threads), |b| {
                b.iter_custom(|iters| {
                    let subject = timed.clone();
                    let job: Job = Arc::new(move |t| {
                        let mut rng = 0x2545_F491_4F6C_DD1D ^ ((t as u64 + 1) << 32);
                        for _ in 0..iters {
                            insert_op(&subject, &mut rng);
                        }
                    });
                    let elapsed = workers.run(job);
                    record(&id, elapsed, iters * threads as u64);
                    elapsed / threads as u32
                })
            });
            if SAMPLES.lock().unwrap().contains_key(&id) {
                let all = Arc::new(Mutex::new(Vec::new()));
                let sink = all.clone();
                workers.run(Arc::new(move |t| {
                    let mut rng = 0x9E37_79B9 ^ ((t as u64 + 1) << 32);
                    let mine: Vec<f64> = (0..per_thread_ops)
                        .map(|_| {
                            let started = Instant::now();
                            insert_op(&subject, &mut rng);
                            started.elapsed().as_secs_f64() * 1e6
                        })
                        .collect();
                    sink.lock().unwrap().extend(mine);
                }));
                let micros = std::mem::take(&mut *all.lock().unwrap());
                LATENCIES.lock().unwrap().insert(id, percentiles(micros));
            }
        }
    }
    group.finish();
}

/// The `commit` group's tables: throughput / the single connection's, and
/// p50 / p99 latency, for each `synchronous`.
fn commit_summary() -> String {
    let mut out = String::new();
    let mut names: Vec<String> = vec!["single".to_owned()];
    names.extend(strategy::all::<SqliteManager>().iter().map(|s| s.name.to_owned()));
    names.extend(OTHER_CAPS.iter().map(|cap| format!("group-cap{cap}")));
    names.push("r2d2".to_owned());
    let header = |first: &str| {
        let mut h = format!("| {first} |");
        let mut rule = "|---|".to_owned();
        for t in COMMIT_THREADS {
            h.push_str(&format!(" {t} thr |"));
            rule.push_str("---|");
        }
        format!("{h}\n{rule}\n")
    };
    let latencies = LATENCIES.lock().unwrap();
    for sync in [Synchronous::Normal, Synchronous::Full] {
        let label = sync_label(sync);
        if median_ns(&format!("commit/{label}/single/1")).is_none() {
            continue;
        }
        out.push_str(&format!(
            "Group commit, `synchronous = {}`: write throughput / one connection writing the same rows \
             alone in autocommit (same run):\n\n{}",
            sync_sql(sync),
            header("strategy")
        ));
        for name in names.iter().skip(1) {
            let mut row = format!("| {name} |");
            for t in COMMIT_THREADS {
                match (
                    median_ns(&format!("commit/{label}/single/{t}")),
                    median_ns(&format!("commit/{label}/{name}/{t}")),
                ) {
                    (Some(single), Some(this)) => row.push_str(&format!(" {:.2} |", single / this)),
                    _ => row.push_str(" – |"),
                }
            }
            out.push_str(&row);
            out.push('\n');
        }
        out.push_str(&format!(
            "\nLatency per insert, p50 / p99 in µs (untimed pass, {LATENCY_OPS} inserts split among the \
             threads, at least 20 each), `synchronous = {}`:\n\n{}",
            sync_sql(sync),
            header("strategy")
        ));
        for name in &names {
            let mut row = format!("| {name} |");
            for t in COMMIT_THREADS {
                match latencies.get(&format!("commit/{label}/{name}/{t}")) {
                    Some((p50, p99)) => row.push_str(&format!(" {p50:.0} / {p99:.0} |")),
                    None => row.push_str(" – |"),
                }
            }
            out.push_str(&row);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

fn insert_op(subject: &Subject, rng: &mut u64) {
    subject.insert(next(rng) as i64);
}

fn single_insert(conn: &Connection, rng: &mut u64) {
    conn.prepare_cached("INSERT INTO items (value) VALUES (?1)")
        .unwrap()
        .execute([next(rng) as i64])
        .unwrap();
}

/// The single connection's insert wrapped as litepool's write path wraps
/// it: what the transaction statements alone cost.
fn single_insert_immediate(conn: &Connection, rng: &mut u64) {
    conn.prepare_cached("BEGIN IMMEDIATE").unwrap().execute([]).unwrap();
    single_insert(conn, rng);
    conn.prepare_cached("COMMIT").unwrap().execute([]).unwrap();
}

fn summary() -> String {
    let mut out = String::new();
    let names: Vec<&str> =
        strategy::all::<SqliteManager>().iter().map(|s| s.name).chain(["r2d2", "r2d2-no-test"]).collect();
    let header = |first: &str| {
        let mut h = format!("| {first} |");
        let mut rule = "|---|".to_owned();
        for t in THREADS {
            h.push_str(&format!(" {t} thr |"));
            rule.push_str("---|");
        }
        format!("{h}\n{rule}\n")
    };
    let ratio_row = |group: &str, name: &str| {
        let mut row = format!("| {name} |");
        for t in THREADS {
            let cell = match (
                median_ns(&format!("{group}/single/{t}")),
                median_ns(&format!("{group}/{name}/{t}")),
            ) {
                (Some(single), Some(this)) => format!(" {:.2} |", single / this),
                _ => " – |".to_owned(),
            };
            row.push_str(&cell);
        }
        row + "\n"
    };
    for (group, title) in [
        ("writes", "Write throughput / the single-writer limit (one connection, one thread, same rows)"),
        (
            "read_mix",
            "Read-mix throughput (90 % point reads, 10 % inserts) / one connection doing the same from one thread",
        ),
    ] {
        if median_ns(&format!("{group}/single/1")).is_none() {
            continue; // filtered out of this run
        }
        out.push_str(&format!("{title}:\n\n{}", header("strategy")));
        if group == "writes" {
            // The transaction statements alone, on the single connection.
            out.push_str(&ratio_row(group, "single-immediate"));
        }
        let listed: Vec<String> = names
            .iter()
            .flat_map(|&name| {
                let queued = strategy::all::<SqliteManager>().iter().any(|s| s.name == name);
                let unqueued = (group == "writes" && queued).then(|| format!("{name}{UNQUEUED}"));
                std::iter::once(name.to_owned()).chain(unqueued)
            })
            .collect();
        for name in &listed {
            out.push_str(&ratio_row(group, name));
        }
        let single: Vec<String> = THREADS
            .iter()
            .filter_map(|t| median_ns(&format!("{group}/single/{t}")).map(|ns| format!("{:.0}", 1e9 / ns)))
            .collect();
        out.push_str(&format!(
            "\nThe single connection did {} operations/s (at each thread count's run).\n\n",
            single.join(", ")
        ));
        out.push_str(&format!(
            "Operations slower than 1 ms ({TAIL_OPS} per thread, untimed pass), {group}:\n\n{}",
            header("strategy")
        ));
        let tails = TAILS.lock().unwrap();
        for name in std::iter::once("single").chain(listed.iter().map(String::as_str)) {
            let mut row = format!("| {name} |");
            for t in THREADS {
                match tails.get(&format!("{group}/{name}/{t}")) {
                    Some((slow, ops)) => row.push_str(&format!(" {slow} of {ops} |")),
                    None => row.push_str(" – |"),
                }
            }
            out.push_str(&row);
            out.push('\n');
        }
        out.push('\n');
        if group == "writes" {
            out.push_str(&format!(
                "Write throughput with the write queue / without it (the same strategy, same run):\n\n{}",
                header("strategy")
            ));
            for s in strategy::all::<SqliteManager>() {
                let mut row = format!("| {} |", s.name);
                for t in THREADS {
                    match (
                        median_ns(&format!("writes/{}{UNQUEUED}/{t}", s.name)),
                        median_ns(&format!("writes/{}/{t}", s.name)),
                    ) {
                        (Some(before), Some(after)) => row.push_str(&format!(" {:.2} |", before / after)),
                        _ => row.push_str(" – |"),
                    }
                }
                out.push_str(&row);
                out.push('\n');
            }
            out.push('\n');
        }
    }
    if median_ns("checkout/litepool-pool/1").is_none() {
        return out;
    }
    out.push_str(&format!(
        "Checkout (get + return, no SQL), ns per checkout (median):\n\n{}",
        header("pattern")
    ));
    for name in ["litepool-pool", "r2d2", "r2d2-no-test", "mutex-connection"] {
        let mut row = format!("| {name} |");
        for t in THREADS {
            match median_ns(&format!("checkout/{name}/{t}")) {
                Some(ns) => row.push_str(&format!(" {ns:.0} |")),
                None => row.push_str(" – |"),
            }
        }
        out.push_str(&row);
        out.push('\n');
    }
    out.push_str("\nlitepool pool checkout time / r2d2's:\n\n");
    out.push_str(&header("against"));
    for other in ["r2d2", "r2d2-no-test"] {
        let mut row = format!("| {other} |");
        for t in THREADS {
            match (
                median_ns(&format!("checkout/litepool-pool/{t}")),
                median_ns(&format!("checkout/{other}/{t}")),
            ) {
                (Some(ours), Some(theirs)) => row.push_str(&format!(" {:.2} |", ours / theirs)),
                _ => row.push_str(" – |"),
            }
        }
        out.push_str(&row);
        out.push('\n');
    }
    out
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .configure_from_args();
    if wanted("checkout") {
        checkout(&mut c, dir.path());
    }
    if wanted("writes") {
        sql_group(
            &mut c,
            dir.path(),
            "writes",
            insert_op,
            &[("single", single_insert), ("single-immediate", single_insert_immediate)],
        );
        for t in THREADS {
            single_tail("writes", dir.path(), t, single_insert);
        }
    }
    if wanted("read_mix") {
        sql_group(&mut c, dir.path(), "read_mix", mix_op, &[("single", single_mix_op)]);
        for t in THREADS {
            single_tail("read_mix", dir.path(), t, single_mix_op);
        }
    }
    // The commit group takes as long as the three above; it runs only when
    // asked for by name (`-- commit/`, as `.ci/commit-table` does).
    let asked = std::env::args().skip(1).any(|a| a.starts_with("commit"));
    for sync in [Synchronous::Normal, Synchronous::Full] {
        if asked && wanted(&format!("commit/{}", sync_label(sync))) {
            commit_group(&mut c, dir.path(), sync);
        }
    }
    c.final_summary();
    if SAMPLES.lock().unwrap().is_empty() {
        return; // a filtered or --list run: nothing to summarise
    }
    let summary = format!("{}{}", summary(), commit_summary());
    println!("\n{summary}");
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/litepool-bench.md");
    std::fs::write(&target, &summary).expect("write target/litepool-bench.md");
    println!("written to {}", target.display());
}
