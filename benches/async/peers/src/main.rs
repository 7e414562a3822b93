//! tokio-rusqlite, deadpool-sqlite and async-sqlite, beside one rusqlite
//! connection alone on the same (older) SQLite they link. See
//! `../src/workload.rs`; `bash .ci/async-bench` runs this after `..`.
//!
//! Each peer is used as its documentation shows, with what it offers for
//! concurrency: tokio-rusqlite one connection (its thread serves every
//! call, in order); deadpool-sqlite and async-sqlite a pool of 8 and 4
//! connections, readers and writers alike (neither splits them).
//! `synchronous` is set on every connection each opens.

#[path = "../../src/workload.rs"]
mod workload;

use std::sync::Arc;

use rusqlite::Connection;
use workload::{INSERT, Op, SELECT, Target};

struct TokioRusqlite(tokio_rusqlite::Connection);

impl Target for TokioRusqlite {
    fn write(&self, id: i64) -> Op<'_> {
        Box::pin(async move {
            self.0
                .call(move |c| c.prepare_cached(INSERT)?.execute([id]).map(drop))
                .await
                .map_err(|e: tokio_rusqlite::Error<rusqlite::Error>| e.to_string())
        })
    }

    fn read(&self, key: i64) -> Op<'_> {
        Box::pin(async move {
            self.0
                .call(move |c| c.prepare_cached(SELECT)?.query_row([key], |r| r.get::<_, i64>(0)).map(drop))
                .await
                .map_err(|e: tokio_rusqlite::Error<rusqlite::Error>| e.to_string())
        })
    }
}

struct Deadpool(deadpool_sqlite::Pool);

impl Target for Deadpool {
    fn write(&self, id: i64) -> Op<'_> {
        Box::pin(async move {
            let conn = self.0.get().await.map_err(|e| e.to_string())?;
            conn.interact(move |c| c.prepare_cached(INSERT)?.execute([id]).map(drop))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        })
    }

    fn read(&self, key: i64) -> Op<'_> {
        Box::pin(async move {
            let conn = self.0.get().await.map_err(|e| e.to_string())?;
            conn.interact(move |c| {
                c.prepare_cached(SELECT)?.query_row([key], |r| r.get::<_, i64>(0)).map(drop)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
        })
    }
}

struct AsyncSqlite(async_sqlite::Pool);

impl Target for AsyncSqlite {
    fn write(&self, id: i64) -> Op<'_> {
        Box::pin(async move {
            self.0
                .conn(move |c| c.prepare_cached(INSERT)?.execute([id]).map(drop))
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn read(&self, key: i64) -> Op<'_> {
        Box::pin(async move {
            self.0
                .conn(move |c| c.prepare_cached(SELECT)?.query_row([key], |r| r.get::<_, i64>(0)).map(drop))
                .await
                .map_err(|e| e.to_string())
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
        let pragma = format!("PRAGMA synchronous = {}", sync.sql());

        let alone_path = workload::fresh(dir.path(), "alone", sync, mix, tasks);
        setup(&alone_path);
        let conn = Connection::open(&alone_path).unwrap();
        conn.execute_batch(&pragma).unwrap();
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
        workload::report("alone (rusqlite 0.40)", sync, mix, tasks, &mut alone, baseline);

        if workload::runs("tokio-rusqlite") {
            let path = workload::fresh(dir.path(), "tokio-rusqlite", sync, mix, tasks);
            setup(&path);
            let conn = runtime.block_on(tokio_rusqlite::Connection::open(&path)).unwrap();
            let p = pragma.clone();
            runtime.block_on(conn.call(move |c| c.execute_batch(&p))).unwrap();
            let mut m = workload::drive(&runtime, Arc::new(TokioRusqlite(conn)), tasks, mix);
            workload::report("tokio-rusqlite 0.8", sync, mix, tasks, &mut m, baseline);
        }

        if workload::runs("deadpool") {
            let path = workload::fresh(dir.path(), "deadpool", sync, mix, tasks);
            setup(&path);
            let p = pragma.clone();
            // deadpool builds its pool on the runtime it will use.
            let _runtime = runtime.enter();
            let pool = deadpool_sqlite::Config::new(&path)
                .builder(deadpool_sqlite::Runtime::Tokio1)
                .unwrap()
                .max_size(8)
                .post_create(deadpool_sqlite::Hook::async_fn(move |conn, _| {
                    let p = p.clone();
                    Box::pin(async move {
                        conn.interact(move |c| c.execute_batch(&p))
                            .await
                            .map_err(|e| deadpool_sqlite::HookError::message(e.to_string()))?
                            .map_err(deadpool_sqlite::HookError::Backend)
                    })
                }))
                .build()
                .unwrap();
            let mut m = workload::drive(&runtime, Arc::new(Deadpool(pool)), tasks, mix);
            workload::report("deadpool-sqlite 0.14 (8)", sync, mix, tasks, &mut m, baseline);
        }

        if workload::runs("async-sqlite") {
            let path = workload::fresh(dir.path(), "async-sqlite", sync, mix, tasks);
            setup(&path);
            let pool = runtime
                .block_on(
                    async_sqlite::PoolBuilder::new()
                        .path(&path)
                        .journal_mode(async_sqlite::JournalMode::Wal)
                        .num_conns(4)
                        .open(),
                )
                .unwrap();
            let p = pragma.clone();
            for result in runtime.block_on(pool.conn_for_each(move |c| c.execute_batch(&p))) {
                result.unwrap();
            }
            let mut m = workload::drive(&runtime, Arc::new(AsyncSqlite(pool)), tasks, mix);
            workload::report("async-sqlite 0.6 (4)", sync, mix, tasks, &mut m, baseline);
        }
    }
}
