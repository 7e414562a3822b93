//! The tutorial's claims, measured rather than assumed. Each test prints a
//! `CLAIM |` line with what it measured; `bash .ci/claims-table` collects
//! them into the claims ledger in EVIDENCE.md. SQLITE-FACTS.md has the sources.

mod support;

use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use litepool::{AccessExt, JournalMode, PerThread, SqliteManager, Synchronous};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use support::{Sqlite, TempDb, count_items, create_items};

/// Prints one row of the claims ledger: the claim, what the tutorial says,
/// the test that checks it, and what the test measured.
fn claim(id: &str, tutorial: &str, test: &str, verdict: impl std::fmt::Display) {
    println!("CLAIM | {id} | {tutorial} | `tests/claims.rs::{test}` | {verdict} |");
}

/// Joins the writers and counts the writes that failed busy; any other
/// error fails the test.
fn busy_count<T>(writers: Vec<thread::ScopedJoinHandle<'_, litepool::Result<T>>>) -> usize {
    writers
        .into_iter()
        .map(|h| h.join().expect("writer panicked"))
        .filter(|r| match r {
            Ok(_) => false,
            Err(e) if e.is_busy() => true,
            Err(e) => panic!("unexpected error: {e}"),
        })
        .count()
}

/// The tutorial's scenario: `writers` threads each insert one row at the
/// same moment (after a barrier). Returns how many inserts failed as busy.
fn ten_writers(access: &Sqlite, writers: usize) -> usize {
    let start = Barrier::new(writers);
    thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|i| {
                let start = &start;
                s.spawn(move || {
                    // Open this thread's connection before the race starts.
                    access.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)).unwrap();
                    start.wait();
                    access.write(|c| Ok(c.execute("INSERT INTO items (value) VALUES (?1)", [i as i64])?))
                })
            })
            .collect();
        busy_count(handles)
    })
}

/// `writers` per-thread writers race for the write lock, and whichever gets
/// it holds it until every other one has tried (a barrier inside its
/// transaction, passed by the others after their write returned). Returns
/// how many writes failed busy. With `busy_timeout = 0` that is every writer
/// but the holder, whatever the scheduling; with a busy timeout the others
/// would wait for the holder, and the holder for them, so it is only used
/// with zero.
fn writers_while_one_holds_the_lock(access: &Sqlite, writers: usize) -> usize {
    let start = Barrier::new(writers);
    let tried = Barrier::new(writers);
    thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|i| {
                let (start, tried) = (&start, &tried);
                s.spawn(move || {
                    access.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)).unwrap();
                    start.wait();
                    let mut held = false;
                    let result = access.write(|c| {
                        held = true;
                        c.execute("INSERT INTO items (value) VALUES (?1)", [i as i64])?;
                        tried.wait();
                        Ok(())
                    });
                    if !held {
                        tried.wait();
                    }
                    result
                })
            })
            .collect();
        busy_count(handles)
    })
}

/// C3: per-thread connections with `busy_timeout = 0` fail with "database is
/// locked" as soon as another connection holds the write lock: of ten
/// writers, nine fail in every round. With litepool's default 5 s busy
/// timeout, the tutorial's ten racing writers are counted: SQLite's busy
/// handler sleeps and polls and is not fair, so on a loaded machine a
/// writer can still give up; each busy write must have left nothing, and
/// every acknowledged row must be there.
#[test]
fn per_thread_writers_without_a_busy_timeout_get_database_is_locked() {
    let db = TempDb::new();
    let rounds = 20;
    // Straight to SQLite, as the tutorial's connections go: with litepool's
    // write queue the nine would fail in the queue instead, busy too.
    let no_wait =
        PerThread::open(db.manager("zero.db").busy_timeout(Duration::ZERO).without_write_queue()).unwrap();
    create_items(&no_wait).unwrap();
    let failed: usize = (0..rounds).map(|_| writers_while_one_holds_the_lock(&no_wait, 10)).sum();
    assert_eq!(failed, rounds * 9, "with busy_timeout = 0, every writer but the holder fails busy");
    assert_eq!(count_items(&no_wait).unwrap() as usize, rounds, "one row per round, the holder's");

    let waiting = PerThread::open(db.manager("default.db")).unwrap();
    create_items(&waiting).unwrap();
    let failed_default: usize = (0..rounds).map(|_| ten_writers(&waiting, 10)).sum();
    assert_eq!(
        count_items(&waiting).unwrap() as usize,
        rounds * 10 - failed_default,
        "stored rows differ from acknowledged writes"
    );
    claim(
        "C3",
        "\"database is locked\" comes from sharing one connection",
        "per_thread_writers_without_a_busy_timeout_get_database_is_locked",
        format!(
            "busy_timeout 0, one writer holding the lock: {failed} of {} inserts failed with \"database \
             is locked\"; litepool's defaults (5 s, write queue), ten racing writers: {failed_default} of {} \
             failed busy (counted, not assumed away; see C7)",
            rounds * 10,
            rounds * 10
        ),
    );
}

/// The outcome of one thread's deferred BEGIN; SELECT; INSERT; COMMIT.
fn deferred_read_then_write(path: &std::path::Path, both_read: &Barrier) -> rusqlite::Result<()> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch("BEGIN")?;
    let result = (|| {
        conn.query_row("SELECT COUNT(*) FROM items", [], |r| r.get::<_, i64>(0))?;
        both_read.wait(); // both transactions now hold a read snapshot
        conn.execute("INSERT INTO items (value) VALUES (1)", [])?;
        conn.execute_batch("COMMIT")
    })();
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// C5: two threads doing a deferred BEGIN; SELECT; INSERT; COMMIT at once:
/// one fails with SQLITE_BUSY (5, or 517 BUSY_SNAPSHOT in WAL) despite a 5 s
/// busy timeout; through litepool's write path (BEGIN IMMEDIATE) both commit.
#[test]
fn deferred_read_then_write_fails_busy_and_begin_immediate_does_not() {
    let db = TempDb::new();
    let trials = 20;
    let mut verdicts = Vec::new();
    for journal in [JournalMode::Wal, JournalMode::Delete] {
        let path = db.path(&format!("{journal:?}.db"));
        let pool = litepool::Pool::open(SqliteManager::file(&path).journal_mode(journal)).unwrap();
        create_items(&pool).unwrap();
        let mut codes = Vec::new();
        for _ in 0..trials {
            let both_read = Barrier::new(2);
            let results: Vec<_> = thread::scope(|s| {
                let a = s.spawn(|| deferred_read_then_write(&path, &both_read));
                let b = s.spawn(|| deferred_read_then_write(&path, &both_read));
                vec![a.join().unwrap(), b.join().unwrap()]
            });
            let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
            assert_eq!(failures.len(), 1, "{journal:?}: expected exactly one failure, got {results:?}");
            let code = match failures[0] {
                rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::DatabaseBusy => e.extended_code,
                other => panic!("{journal:?}: expected SQLITE_BUSY, got {other}"),
            };
            codes.push(code);
        }
        codes.sort();
        codes.dedup();

        // The same work through litepool's write path, started together.
        let mut committed = 0;
        for _ in 0..trials {
            let start = Barrier::new(2);
            let worker = || {
                start.wait();
                pool.write(|c| {
                    c.query_row("SELECT COUNT(*) FROM items", [], |r| r.get::<_, i64>(0))?;
                    Ok(c.execute("INSERT INTO items (value) VALUES (2)", [])?)
                })
            };
            thread::scope(|s| {
                let (a, b) = (s.spawn(worker), s.spawn(worker));
                for r in [a.join().unwrap(), b.join().unwrap()] {
                    r.expect("BEGIN IMMEDIATE write failed");
                    committed += 1;
                }
            });
        }
        assert_eq!(committed, 2 * trials);
        verdicts.push(format!(
            "{journal:?}: deferred, one of two failed in {trials} of {trials} trials (extended codes {codes:?}); \
             BEGIN IMMEDIATE: {committed} of {} committed",
            2 * trials
        ));
    }
    claim(
        "C5",
        "transactions are \"the next hurdle\" (implied: a busy timeout handles contention)",
        "deferred_read_then_write_fails_busy_and_begin_immediate_does_not",
        verdicts.join("; "),
    );
}

/// C1: one connection shared between two "threads" mixes their
/// transactions (B's COMMIT commits A's half-done work) but does not corrupt
/// the file. The interleaving is written out step by step, as a lock around
/// each statement would allow it.
#[test]
fn a_shared_connection_mixes_transactions_but_does_not_corrupt() {
    let db = TempDb::new();
    let path = db.path("shared.db");
    let shared = Connection::open(&path).unwrap();
    shared.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)").unwrap();

    shared.execute_batch("BEGIN").unwrap(); // thread A
    shared.execute("INSERT INTO items (value) VALUES (1)", []).unwrap(); // thread A, half done
    let b_begin = shared.execute_batch("BEGIN").unwrap_err(); // thread B
    assert!(b_begin.to_string().contains("cannot start a transaction within a transaction"), "{b_begin}");
    shared.execute("INSERT INTO items (value) VALUES (2)", []).unwrap(); // thread B
    shared.execute_batch("COMMIT").unwrap(); // thread B commits A's row too
    let a_rollback = shared.execute_batch("ROLLBACK").unwrap_err(); // thread A changes its mind
    assert!(a_rollback.to_string().contains("no transaction is active"), "{a_rollback}");
    let rows: i64 = shared.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 2, "A's rolled-back row was committed by B");
    assert_eq!(support::integrity_check(&path), "ok");
    claim(
        "C1",
        "a shared connection risks data corruption",
        "a_shared_connection_mixes_transactions_but_does_not_corrupt",
        "B's BEGIN fails (\"cannot start a transaction within a transaction\"), B's COMMIT commits A's \
         half-done row, A's ROLLBACK fails (\"no transaction is active\"): 2 rows where 1 was meant; \
         integrity_check ok",
    );
}

/// C6: rusqlite opens connections in multi-thread mode (no per-connection
/// mutex) with a 5000 ms busy timeout; sharing one across threads does not
/// compile (tests/compile_fail).
#[test]
fn rusqlite_connections_are_send_not_sync_and_open_without_a_mutex() {
    fn assert_send<T: Send>() {}
    assert_send::<Connection>();
    assert!(OpenFlags::default().contains(OpenFlags::SQLITE_OPEN_NO_MUTEX));
    let conn = Connection::open_in_memory().unwrap();
    let timeout: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap();
    assert_eq!(timeout, 5000);
    claim(
        "C6",
        "each connection is \"thread-safe in isolation\"",
        "rusqlite_connections_are_send_not_sync_and_open_without_a_mutex",
        "Connection is Send, not Sync (compile_fail test); default flags include SQLITE_OPEN_NO_MUTEX; \
         default busy_timeout 5000 ms",
    );
}

/// C2: per-thread connections keep the file intact and every acknowledged
/// row: 8 threads × 200 inserts, WAL and DELETE. SQLite's busy handler
/// sleeps and polls and is not fair, so on a loaded machine a writer can
/// wait past the 5 s busy timeout: such busy errors are counted and
/// reported, and each must have left nothing behind. No other error may
/// occur.
#[test]
fn per_thread_connections_keep_every_row_and_the_file_intact() {
    let db = TempDb::new();
    let mut verdicts = Vec::new();
    for journal in [JournalMode::Wal, JournalMode::Delete] {
        let path = db.path(&format!("{journal:?}.db"));
        let per_thread = PerThread::open(SqliteManager::file(&path).journal_mode(journal)).unwrap();
        create_items(&per_thread).unwrap();
        let (acked, busy) = thread::scope(|s| {
            let writers: Vec<_> = (0..8i64)
                .map(|t| {
                    let per_thread = &per_thread;
                    s.spawn(move || {
                        let (mut acked, mut busy) = (Vec::new(), 0);
                        for i in 0..200 {
                            let id = t * 1000 + i;
                            match per_thread.write(|c| {
                                Ok(c.execute("INSERT INTO items (id, value) VALUES (?1, 0)", [id])?)
                            }) {
                                Ok(_) => acked.push(id),
                                Err(e) if e.is_busy() => busy += 1,
                                Err(e) => panic!("row {id}: {e}"),
                            }
                        }
                        (acked, busy)
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).fold((Vec::new(), 0), |(mut all, b), (a, n)| {
                all.extend(a);
                (all, b + n)
            })
        });
        let mut acked = acked;
        acked.sort_unstable();
        assert_eq!(acked.len() + busy, 1600, "{journal:?}: rows unaccounted for");
        assert_eq!(support::item_ids(&path), acked, "{journal:?}: stored rows differ from acknowledged ones");
        assert_eq!(support::integrity_check(&path), "ok");
        verdicts.push(format!(
            "{journal:?}: {} of 1600 rows acknowledged and stored, {busy} busy (none stored), integrity_check ok",
            acked.len()
        ));
    }
    claim(
        "C2",
        "per-thread connections are safe: SQLite serializes access to the pages",
        "per_thread_connections_keep_every_row_and_the_file_intact",
        verdicts.join("; "),
    );
}

/// What `threads` writers, each inserting `writes` rows one write at a
/// time, saw: (acknowledged, busy, longest wait for one write). `write`
/// does one insert; busy errors are counted, any other fails the test.
fn racing_writers(
    threads: usize,
    writes: usize,
    write: &(dyn Fn(usize, i64) -> litepool::Result<()> + Sync),
) -> (usize, usize, Duration) {
    let start = Barrier::new(threads);
    let per_thread: Vec<(usize, usize, Duration)> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start = &start;
                s.spawn(move || {
                    let (mut acked, mut busy, mut longest) = (0, 0, Duration::ZERO);
                    start.wait();
                    for i in 0..writes {
                        let began = std::time::Instant::now();
                        let result = write(t, (t * writes + i) as i64);
                        longest = longest.max(began.elapsed());
                        match result {
                            Ok(()) => acked += 1,
                            Err(e) if e.is_busy() => busy += 1,
                            Err(e) => panic!("thread {t}, write {i}: {e}"),
                        }
                    }
                    (acked, busy, longest)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    per_thread.into_iter().fold((0, 0, Duration::ZERO), |(a, b, l), (a2, b2, l2)| (a + a2, b + b2, l.max(l2)))
}

/// C7: "a busy timeout prevents database is locked". Not for writers that
/// poll: 16 threads, each with its own raw rusqlite connection (5 s busy
/// timeout, rusqlite's default) inserting 100 rows in a rollback journal,
/// wait in SQLite's busy handler, which sleeps and polls (up to 100 ms
/// between tries) and is not fair; on a loaded machine one can wait past
/// the timeout and fail while the others commit (counted here: on a quiet
/// machine there may be none; EVIDENCE.md's ledger is measured under
/// `.ci/load`). The same 16 threads through litepool's `PerThread` take
/// turns in its write queue (with the same `synchronous = FULL`): none
/// fails busy, and every row is stored.
#[test]
fn a_busy_timeout_does_not_stop_database_is_locked_but_the_write_queue_does() {
    const THREADS: usize = 16;
    // `bash .ci/claims-table` runs 300 (LITEPOOL_QUEUE_WRITES, as
    // tests/write_queue.rs does); `cargo test` 100.
    let writes: usize =
        std::env::var("LITEPOOL_QUEUE_WRITES").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let db = TempDb::new();
    let raw_path = db.path("raw.db");
    {
        let conn = Connection::open(&raw_path).unwrap();
        conn.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)").unwrap();
    }
    let connections: Vec<std::sync::Mutex<Connection>> =
        (0..THREADS).map(|_| std::sync::Mutex::new(Connection::open(&raw_path).unwrap())).collect();
    let (raw_acked, raw_busy, raw_longest) = racing_writers(THREADS, writes, &|t, id| {
        let conn = connections[t].lock().unwrap();
        conn.execute("INSERT INTO items VALUES (?1, 0)", [id])?;
        Ok(())
    });
    drop(connections);
    assert_eq!(support::item_ids(&raw_path).len(), raw_acked, "raw: stored rows differ from acknowledged");

    let queued_path = db.path("queued.db");
    let per_thread = PerThread::open(
        SqliteManager::file(&queued_path).journal_mode(JournalMode::Delete).synchronous(Synchronous::Full),
    )
    .unwrap();
    create_items(&per_thread).unwrap();
    let (acked, busy, longest) = racing_writers(THREADS, writes, &|_, id| {
        per_thread.write(|c| Ok(c.execute("INSERT INTO items VALUES (?1, 0)", [id]).map(drop)?))
    });
    assert_eq!(
        busy, 0,
        "a writer waited past the 5 s busy timeout in litepool's write queue (longest wait {longest:?}): the \
         queue bounds a wait by the writes ahead of it, 15 here"
    );
    assert_eq!(support::item_ids(&queued_path).len(), THREADS * writes);
    claim(
        "C7",
        "a busy timeout prevents \"database is locked\" (the usual advice)",
        "a_busy_timeout_does_not_stop_database_is_locked_but_the_write_queue_does",
        format!(
            "raw per-thread connections, 5 s busy timeout, {THREADS} threads × {writes} inserts, rollback \
             journal: {raw_busy} of {} failed \"database is locked\" in this run, longest wait {:.2} s of the 5 s; litepool \
             `per-thread` (write queue): {busy} failed, {acked} stored, longest wait {:.3} s",
            THREADS * writes,
            raw_longest.as_secs_f64(),
            longest.as_secs_f64()
        ),
    );
}

/// The page-cache misses of `conn` so far (`SQLITE_DBSTATUS_CACHE_MISS`).
fn cache_misses(conn: &Connection) -> i32 {
    let (mut current, mut highwater) = (0, 0);
    // SAFETY: the handle is live for the borrow of `conn`, and the status
    // call only reads counters.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_db_status(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBSTATUS_CACHE_MISS,
            &mut current,
            &mut highwater,
            0,
        )
    };
    assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
    current
}

/// F1 (SQLITE-FACTS, and why `split` loses on the read mix): in WAL, a read
/// transaction that starts after *another* connection wrote discards the
/// reader's page cache; a connection reading after its own writes keeps it.
/// Measured as page-cache misses, not time.
#[test]
fn reads_after_another_connections_write_miss_the_page_cache() {
    let db = TempDb::new();
    let path = db.path("cache.db");
    let writer = Connection::open(&path).unwrap();
    writer
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             INSERT INTO items (value) SELECT i FROM n;",
        )
        .unwrap();
    let reader = Connection::open(&path).unwrap();
    let read_all = |c: &Connection| {
        for id in (1..=20_000).step_by(97) {
            c.query_row("SELECT value FROM items WHERE id = ?1", [id], |r| r.get::<_, i64>(0)).unwrap();
        }
    };
    let rounds = 50;
    let misses = |write_with: &Connection, read_with: &Connection| {
        read_all(read_with); // warm the cache
        let before = cache_misses(read_with);
        for i in 0..rounds {
            write_with.execute("INSERT INTO items (value) VALUES (?1)", [i]).unwrap();
            read_all(read_with);
        }
        cache_misses(read_with) - before
    };
    let own = misses(&writer, &writer);
    let other = misses(&writer, &reader);
    assert!(
        other > 10 * own.max(1),
        "reads after another connection's writes missed {other}, after own {own}"
    );
    claim(
        "F1",
        "(SQLITE-FACTS) a read after another connection's write re-reads pages",
        "reads_after_another_connections_write_miss_the_page_cache",
        format!(
            "{rounds} rounds of one insert then 207 point reads: {other} page-cache misses when another \
             connection wrote, {own} when the reader wrote itself"
        ),
    );
}
