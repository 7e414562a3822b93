//! `--async`: the scaled workload as tasks instead of threads, on a tokio
//! runtime with two worker threads, through `litepool::tokio::AsyncPool`
//! (read-only readers, a batching writer). Each task awaits one answer at a
//! time; the run is verified as every other (rows stored = writes
//! acknowledged, `integrity_check`, no errors).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use litepool::SqliteManager;
use litepool::stress::{self, Measured, PRELOAD, Run, Sqlite, Workload};
use litepool::tokio::AsyncPool;
use litepool::{Error, ErrorKind, Result};

/// Runs `workload.threads` tasks through an async pool on `manager`'s
/// database, then verifies through `verify` (a strategy on the same file).
pub fn run(
    manager: SqliteManager,
    readers: usize,
    verify: &Sqlite,
    run: &Run,
    workload: &Workload,
    progress: &AtomicU64,
) -> Result<Measured> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot start a tokio runtime: {e}")))?;
    let pool = AsyncPool::builder().readers(readers).open(manager)?;
    let insert: Arc<str> =
        format!("INSERT INTO {} (part, thread, value) VALUES (?1, ?2, ?3)", run.table).into();
    let select: Arc<str> = format!("SELECT value FROM {} WHERE id = ?1", run.table).into();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut measured = runtime.block_on(async {
        let tasks: Vec<_> = (0..workload.threads)
            .map(|t| {
                let task = Task {
                    pool: pool.clone(),
                    insert: insert.clone(),
                    select: select.clone(),
                    part: run.part,
                    first_row: run.first_row,
                    thread: t as i64,
                    workload: workload.clone(),
                    stop: stop.clone(),
                };
                tokio::spawn(task.run())
            })
            .collect();
        if let Some(duration) = workload.duration {
            tokio::time::sleep(duration).await;
            stop.store(true, Ordering::Relaxed);
        }
        let mut measured = Measured::default();
        for task in tasks {
            let part = task
                .await
                .map_err(|e| Error::new(ErrorKind::Internal, format!("a stress task failed: {e}")))?;
            progress.fetch_add(part.writes + part.reads + part.errors, Ordering::Relaxed);
            measured.merge(part);
        }
        pool.close().await;
        Ok::<_, Error>(measured)
    })?;
    measured.elapsed = started.elapsed();
    stress::verify(verify, run, &mut measured)?;
    Ok(measured)
}

/// One task's share of the workload.
struct Task {
    pool: AsyncPool<SqliteManager>,
    insert: Arc<str>,
    select: Arc<str>,
    part: i64,
    first_row: i64,
    thread: i64,
    workload: Workload,
    stop: Arc<AtomicBool>,
}

impl Task {
    async fn run(self) -> Measured {
        let mut out = Measured::default();
        // A small deterministic generator per task (xorshift).
        let mut state = 0x9E37_79B9_7F4A_7C15 ^ ((self.thread as u64 + 1) * 0x1000_0001);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut done = 0;
        loop {
            if self.workload.duration.is_some() {
                if self.stop.load(Ordering::Relaxed) {
                    break;
                }
            } else if done == self.workload.ops {
                break;
            }
            let write = (next() >> 11) as f64 / (1u64 << 53) as f64 <= self.workload.write_ratio
                && self.workload.write_ratio > 0.0;
            let key = (next() % PRELOAD as u64) as i64;
            let started = Instant::now();
            let result = if write {
                let (sql, part, thread) = (self.insert.clone(), self.part, self.thread);
                self.pool
                    .write(move |c| {
                        c.prepare_cached(&sql)?.execute((part, thread, key))?;
                        Ok(())
                    })
                    .await
            } else {
                let (sql, row) = (self.select.clone(), self.first_row + key);
                self.pool
                    .read(move |c| {
                        c.prepare_cached(&sql)?.query_row([row], |r| r.get::<_, i64>(0))?;
                        Ok(())
                    })
                    .await
            };
            out.record(write, started.elapsed(), result);
            done += 1;
        }
        out
    }
}
