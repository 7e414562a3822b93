//! litepool's async facade and sqlx's `SqlitePool`, beside one connection
//! alone, on the same SQLite. See `workload.rs`; run with
//! `cargo run --release` here, or `bash .ci/async-bench` from the root.

#[path = "workload.rs"]
mod workload;

use std::sync::Arc;

use litepool::rusqlite::Connection;
use litepool::tokio::AsyncPool;
use litepool::{SqliteManager, Synchronous};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use workload::{INSERT, Measured, Op, SELECT, Sync, Target};

struct Litepool(AsyncPool<SqliteManager>);

impl Target for Litepool {
    fn write(&self, id: i64) -> Op<'_> {
        let answer = self.0.write(move |c| {
            c.prepare_cached(INSERT)?.execute([id])?;
            Ok(())
        });
        Box::pin(async move { answer.await.map_err(|e| e.to_string()) })
    }

    fn read(&self, key: i64) -> Op<'_> {
        let answer = self.0.read(move |c| {
            c.prepare_cached(SELECT)?.query_row([key], |r| r.get::<_, i64>(0))?;
            Ok(())
        });
        Box::pin(async move { answer.await.map_err(|e| e.to_string()) })
    }
}

struct Sqlx(SqlitePool);

impl Target for Sqlx {
    fn write(&self, id: i64) -> Op<'_> {
        Box::pin(async move {
            sqlx::query(INSERT).bind(id).execute(&self.0).await.map(drop).map_err(|e| e.to_string())
        })
    }

    fn read(&self, key: i64) -> Op<'_> {
        Box::pin(async move {
            sqlx::query(SELECT).bind(key).fetch_one(&self.0).await.map(drop).map_err(|e| e.to_string())
        })
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for (sync, mix, tasks) in workload::points() {
        let setup = |path: &std::path::Path| {
            workload::prepare(|sql| Connection::open(path).unwrap().execute_batch(sql).unwrap());
        };
        // One connection alone, once per (sync, mix).
        let alone_path = workload::fresh(dir.path(), "alone", sync, mix, tasks);
        setup(&alone_path);
        let conn = Connection::open(&alone_path).unwrap();
        conn.execute_batch(&format!("PRAGMA synchronous = {}", sync.sql())).unwrap();
        let mut alone = workload::alone(mix, |write, arg| {
            let result = if write {
                conn.prepare_cached(INSERT).and_then(|mut s| s.execute([arg])).map(drop)
            } else {
                conn.prepare_cached(SELECT)
                    .and_then(|mut s| s.query_row([arg], |r| r.get::<_, i64>(0)))
                    .map(drop)
            };
            result.map_err(|e| e.to_string())
        });
        drop(conn);
        let baseline = alone.per_second();
        workload::report("alone (rusqlite 0.43)", sync, mix, tasks, &mut alone, baseline);

        if workload::runs("litepool") {
            let path = workload::fresh(dir.path(), "litepool", sync, mix, tasks);
            setup(&path);
            let synchronous = if sync == Sync::Full { Synchronous::Full } else { Synchronous::Normal };
            let mut builder = AsyncPool::builder();
            if let Some(cap) = std::env::var("ASYNC_BENCH_CAP").ok().and_then(|v| v.parse().ok()) {
                builder = builder.batch_cap(cap);
            }
            if let Some(readers) = std::env::var("ASYNC_BENCH_READERS").ok().and_then(|v| v.parse().ok()) {
                builder = builder.readers(readers);
            }
            let pool = builder.open(SqliteManager::file(&path).synchronous(synchronous)).unwrap();
            let target = Arc::new(Litepool(pool.clone()));
            let mut m: Measured = workload::drive(&runtime, target, tasks, mix);
            runtime.block_on(pool.close());
            workload::report("litepool AsyncPool", sync, mix, tasks, &mut m, baseline);
        }
        if !workload::runs("sqlx") {
            continue;
        }

        let path = workload::fresh(dir.path(), "sqlx", sync, mix, tasks);
        setup(&path);
        let options =
            SqliteConnectOptions::new().filename(&path).journal_mode(SqliteJournalMode::Wal).synchronous(
                if sync == Sync::Full { SqliteSynchronous::Full } else { SqliteSynchronous::Normal },
            );
        let pool =
            runtime.block_on(SqlitePoolOptions::new().max_connections(8).connect_with(options)).unwrap();
        let target = Arc::new(Sqlx(pool.clone()));
        let mut m = workload::drive(&runtime, target, tasks, mix);
        runtime.block_on(pool.close());
        workload::report("sqlx SqlitePool (8)", sync, mix, tasks, &mut m, baseline);
    }
}
