//! Faults: processes killed mid-write, several processes on one file,
//! threads panicking mid-transaction, a full database, a held write lock.
//! Nothing acknowledged may be lost, nothing unacknowledged may half-appear,
//! and `integrity_check` must say `ok` (SQLite's `mptest` and `threadtest3`
//! are the anchors).
//!
//! The crash and multi-process tests re-execute this test binary: the
//! ignored test `child` does the writing when `LITEPOOL_FAULT_CHILD` names a
//! role. A writer prints `ack <id>` to stdout, flushed, only after the
//! commit of that row returned.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use litepool::strategy::Sizing;
use litepool::{AccessExt, JournalMode, Locked, Pool, SqliteManager, Synchronous, strategy};
use rusqlite::Connection;
use support::{Sqlite, TempDb, count_items, create_items, integrity_check, item_ids};

const ROLE: &str = "LITEPOOL_FAULT_CHILD";

fn manager(path: &Path, journal: JournalMode, sync: Synchronous) -> SqliteManager {
    SqliteManager::file(path).journal_mode(journal).synchronous(sync)
}

/// Keeps the deliberate panics of these tests out of the output.
fn quiet_planted_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let planted =
                info.payload().downcast_ref::<&str>().is_some_and(|m| m.starts_with("planted panic"));
            if !planted {
                default(info);
            }
        }));
    });
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// The writer side of the crash and multi-process tests; started by them in
/// a child process, never on its own.
#[test]
#[ignore = "run by the fault tests in a child process"]
fn child() {
    let path = env("LITEPOOL_FAULT_DB");
    let journal = if env("LITEPOOL_FAULT_JOURNAL") == "wal" { JournalMode::Wal } else { JournalMode::Delete };
    let sync = if env("LITEPOOL_FAULT_SYNC") == "full" { Synchronous::Full } else { Synchronous::Normal };
    let base: i64 = env("LITEPOOL_FAULT_BASE").parse().unwrap();
    let strategy = env("LITEPOOL_FAULT_STRATEGY");
    if strategy == ASYNC {
        return async_child(manager(Path::new(&path), journal, sync), base);
    }
    let strategy =
        strategy::all::<SqliteManager>().into_iter().find(|s| s.name == strategy).expect("a listed strategy");
    let access = (strategy.open)(manager(Path::new(&path), journal, sync), Sizing::pool_size(4)).unwrap();
    let pool = &*access;
    // The harness has printed "test child ... " without a newline: end it,
    // so that every acknowledgement is a line of its own.
    println!();
    let stdout = std::sync::Mutex::new(std::io::stdout());
    let ack = |line: String| {
        let mut out = stdout.lock().unwrap();
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    };
    match env(ROLE).as_str() {
        // Writers insert until killed, each row its own transaction.
        "writers" => thread::scope(|s| {
            for t in 0..4i64 {
                let ack = &ack;
                s.spawn(move || {
                    for i in 0.. {
                        let id = base + t * 1_000_000 + i;
                        pool.write(|c| Ok(c.execute("INSERT INTO items (id, value) VALUES (?1, 0)", [id])?))
                            .unwrap();
                        ack(format!("ack {id}"));
                    }
                });
            }
        }),
        // A batch that never commits: enough rows to spill the page cache to
        // the file, announced, then more until killed.
        "batch" => {
            pool.write(|c| Ok(c.execute("INSERT INTO items (id, value) VALUES (?1, 0)", [base])?)).unwrap();
            ack(format!("ack {base}"));
            let _ = pool.write(|c| {
                let mut insert = c.prepare_cached("INSERT INTO items (id, value) VALUES (?1, ?2)")?;
                for i in 1.. {
                    insert.execute((base + i, "x".repeat(200)))?;
                    if i == 20_000 {
                        ack("batch-open".to_owned());
                    }
                }
                Ok(())
            });
            unreachable!("the batch never ends");
        }
        // A fixed number of inserts, each acknowledged or reported busy,
        // then a clean exit. SQLite's busy handler sleeps and polls and is
        // not fair: across processes a writer can lose every race for the
        // whole busy timeout, so a busy error is counted, not fatal. Any
        // other error ends the child with a failure.
        "counted" => {
            let rows: i64 = env("LITEPOOL_FAULT_ROWS").parse().unwrap();
            thread::scope(|s| {
                for t in 0..2 {
                    let ack = &ack;
                    s.spawn(move || {
                        for i in (t..rows).step_by(2) {
                            let id = base + i;
                            match pool.write(|c| {
                                Ok(c.execute("INSERT INTO items (id, value) VALUES (?1, 0)", [id])?)
                            }) {
                                Ok(_) => ack(format!("ack {id}")),
                                Err(e) if e.is_busy() => ack(format!("busy {id}")),
                                Err(e) => panic!("write of row {id} failed: {e}"),
                            }
                        }
                    });
                }
            });
        }
        other => panic!("unknown child role {other}"),
    }
}

/// The async facade's name in the crash tests.
const ASYNC: &str = "async";

/// The crash child for the async facade: 16 tasks on a 2-worker runtime
/// insert until killed, each row acknowledged after its answer said
/// committed (the writer batches them).
fn async_child(manager: SqliteManager, base: i64) {
    println!();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    runtime.block_on(async {
        let pool = litepool::tokio::AsyncPool::open(manager).unwrap();
        let tasks: Vec<_> = (0..16i64)
            .map(|t| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        // 16 tasks: ids stay below the next kill's base.
                        let id = base + t * 100_000 + i;
                        pool.write(move |c| {
                            Ok(c.execute("INSERT INTO items (id, value) VALUES (?1, 0)", [id])?)
                        })
                        .await
                        .unwrap();
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ack {id}").unwrap();
                        out.flush().unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

fn spawn_child(role: &str, strategy: &str, path: &Path, journal: &str, sync: &str, base: i64) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env("LITEPOOL_FAULT_STRATEGY", strategy)
        .env("LITEPOOL_FAULT_DB", path)
        .env("LITEPOOL_FAULT_JOURNAL", journal)
        .env("LITEPOOL_FAULT_SYNC", sync)
        .env("LITEPOOL_FAULT_BASE", base.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn fresh_items(path: &Path, journal: JournalMode) {
    let pool = Pool::open(SqliteManager::file(path).journal_mode(journal)).unwrap();
    create_items(&pool).unwrap();
}

/// Kills a writer child with SIGKILL after its `kill_after`-th acknowledged
/// row; returns the acknowledged ids it printed.
fn kill_writers_after(
    strategy: &str,
    path: &Path,
    journal: &str,
    sync: &str,
    base: i64,
    kill_after: usize,
) -> Vec<i64> {
    let mut child = spawn_child("writers", strategy, path, journal, sync, base).spawn().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut acked = Vec::new();
    let mut lines = stdout.lines();
    while acked.len() < kill_after {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(id) = line.strip_prefix("ack ") {
                    acked.push(id.parse().unwrap());
                }
            }
            _ => {
                let output = child.wait_with_output().unwrap();
                panic!("writer ended before being killed: {}", String::from_utf8_lossy(&output.stderr));
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    // Acks already in the pipe were printed after their commits returned.
    for line in lines.map_while(Result::ok) {
        if let Some(id) = line.strip_prefix("ack ") {
            // A partial last line cannot parse; it was not acknowledged.
            if let Ok(id) = id.parse() {
                acked.push(id);
            }
        }
    }
    child.wait().unwrap();
    acked
}

/// SIGKILL at 20 points per configuration (every strategy; WAL and DELETE,
/// synchronous NORMAL and FULL): every acknowledged row survives, none is
/// doubled, and `integrity_check` says `ok`. A process crash, unlike a power
/// loss, must lose nothing in any of these modes.
#[test]
fn kill_9_mid_write_loses_nothing_acknowledged() {
    // LITEPOOL_FAULT_KILLS lowers it for the mutation script, which runs this suite per mutant.
    let kills = std::env::var("LITEPOOL_FAULT_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(20);
    let mut report = Vec::new();
    for strategy in strategy::all::<SqliteManager>() {
        for (journal, mode) in [("wal", JournalMode::Wal), ("delete", JournalMode::Delete)] {
            if strategy.wal_only && mode != JournalMode::Wal {
                continue;
            }
            for sync in ["normal", "full"] {
                report.push(kill_9_repeatedly(strategy.name, (journal, mode), sync, kills));
            }
        }
    }
    println!("FAULTS | crash | {} |", report.join("; "));
}

/// The same for the async facade (`litepool::tokio`): 16 tasks whose
/// writes the writer thread batches, killed with SIGKILL at 20 points, WAL,
/// synchronous NORMAL and FULL.
#[test]
fn kill_9_during_async_writes_loses_nothing_acknowledged() {
    let kills = std::env::var("LITEPOOL_FAULT_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(20);
    let report: Vec<_> = ["normal", "full"]
        .map(|sync| kill_9_repeatedly(ASYNC, ("wal", JournalMode::Wal), sync, kills))
        .into();
    println!("FAULTS | crash-async | {} |", report.join("; "));
}

/// Kills a writer child of `strategy` `kills` times on one file, then checks
/// that every acknowledged row is stored once and `integrity_check` is ok.
fn kill_9_repeatedly(
    strategy: &str,
    (journal, mode): (&str, JournalMode),
    sync: &str,
    kills: usize,
) -> String {
    let name = format!("{strategy}/{journal}/{sync}");
    let db = TempDb::new();
    let path = db.path("crash.db");
    fresh_items(&path, mode);
    let mut acknowledged = BTreeSet::new();
    for k in 0..kills {
        // Kill after 1 to ~200 acknowledged rows: early, mid-checkpoint, late.
        let kill_after = 1 + (k * 97) % 200;
        let base = k as i64 * 10_000_000;
        acknowledged.extend(kill_writers_after(strategy, &path, journal, sync, base, kill_after));
        assert_eq!(integrity_check(&path), "ok", "{name}: after kill {k}");
    }
    let stored = item_ids(&path);
    let stored_set: BTreeSet<i64> = stored.iter().copied().collect();
    assert_eq!(stored.len(), stored_set.len(), "{name}: a row is stored twice");
    let lost: Vec<_> = acknowledged.difference(&stored_set).collect();
    assert!(lost.is_empty(), "{name}: acknowledged rows lost: {lost:?}");
    format!("{name}: {kills} kills, {} acknowledged rows checked, {} lost", acknowledged.len(), lost.len())
}

/// SIGKILL while a large batch transaction is open (its pages spilled to
/// the file): none of its rows appear afterwards, the row committed before
/// it does, and `integrity_check` says `ok`. Every strategy, in each journal
/// mode it works in.
#[test]
fn kill_9_during_a_large_batch_leaves_none_of_it() {
    for (strategy, journal, mode) in strategy::all::<SqliteManager>().iter().flat_map(|s| {
        [("wal", JournalMode::Wal), ("delete", JournalMode::Delete)]
            .into_iter()
            .filter(|(_, mode)| !s.wal_only || *mode == JournalMode::Wal)
            .map(|(journal, mode)| (s.name, journal, mode))
    }) {
        let name = format!("{strategy}/{journal}");
        let db = TempDb::new();
        let path = db.path("batch.db");
        fresh_items(&path, mode);
        let mut child = spawn_child("batch", strategy, &path, journal, "normal", 1).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acked_first = false;
        loop {
            match lines.next() {
                Some(Ok(line)) if line == "ack 1" => acked_first = true,
                Some(Ok(line)) if line == "batch-open" => break,
                Some(Ok(_)) => continue, // the test harness's own lines
                _ => panic!("{name}: the batch child ended before opening its batch"),
            }
        }
        assert!(acked_first, "{name}: the row before the batch was not acknowledged");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(integrity_check(&path), "ok", "{name}");
        assert_eq!(item_ids(&path), vec![1], "{name}: rows of the killed batch survived");
    }
}

/// Two to four processes, each with its own strategy (the list's, in
/// turn), insert into one file at once. Every acknowledged row is stored, no row that failed busy is, no
/// other error occurs, and `integrity_check` says `ok`. Busy errors are
/// counted and reported, not asserted away: SQLite's busy handler is not
/// fair across processes, and on a loaded machine a writer can lose every
/// race for the whole busy timeout.
#[test]
fn several_processes_on_one_file_lose_nothing() {
    let mut report = Vec::new();
    for (journal, mode) in [("wal", JournalMode::Wal), ("delete", JournalMode::Delete)] {
        for processes in 2..=4i64 {
            let db = TempDb::new();
            let path = db.path("multi.db");
            fresh_items(&path, mode);
            let rows = 300;
            let listed: Vec<_> = strategy::all::<SqliteManager>()
                .into_iter()
                .filter(|s| !s.wal_only || mode == JournalMode::Wal)
                .collect();
            let children: Vec<_> = (0..processes)
                .map(|p| {
                    let strategy = listed[p as usize % listed.len()].name;
                    spawn_child("counted", strategy, &path, journal, "normal", p * 1_000_000)
                        .env("LITEPOOL_FAULT_ROWS", rows.to_string())
                        .spawn()
                        .unwrap()
                })
                .collect();
            let (mut acked, mut busy) = (BTreeSet::new(), BTreeSet::new());
            for child in children {
                let output = child.wait_with_output().unwrap();
                let stdout = String::from_utf8_lossy(&output.stdout);
                assert!(
                    output.status.success(),
                    "{journal}, {processes} processes: a writer failed ({}):\n{stdout}\n{}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
                for line in stdout.lines() {
                    match line.split_once(' ') {
                        Some(("ack", id)) => acked.insert(id.parse::<i64>().unwrap()),
                        Some(("busy", id)) => busy.insert(id.parse::<i64>().unwrap()),
                        _ => continue,
                    };
                }
            }
            let name = format!("{journal}, {processes} processes");
            assert_eq!(acked.len() + busy.len(), (processes * rows) as usize, "{name}: rows unaccounted for");
            let stored: BTreeSet<i64> = item_ids(&path).into_iter().collect();
            assert_eq!(stored, acked, "{name}: the rows stored are not the rows acknowledged");
            assert_eq!(integrity_check(&path), "ok", "{name}");
            report.push(format!("{name}: {} acknowledged, {} busy", acked.len(), busy.len()));
        }
    }
    println!("FAULTS | processes | {} |", report.join("; "));
}

/// For every strategy: threads panic while holding a connection, outside
/// and inside a transaction with rows inserted, while other threads keep
/// writing. Afterwards the panicked rows are absent, no connection is left
/// in a transaction, the strategy is at full capacity and usable, and the
/// other threads never saw an error.
#[test]
fn panics_mid_transaction_leave_nothing_behind_and_others_keep_working() {
    let db = TempDb::new();
    for strategy in strategy::all::<SqliteManager>() {
        let access =
            (strategy.open)(db.manager(&format!("{}.db", strategy.name)), Sizing::pool_size(2)).unwrap();
        let name = strategy.name;
        create_items(&*access).unwrap();
        let panicking = AtomicBool::new(true);
        let good_writes = AtomicUsize::new(0);
        thread::scope(|s| {
            // Stops the bystanders however this thread leaves the scope: a
            // failed assertion below must end the test, not hang it.
            let stop = support::StopOnDrop(&panicking);
            let workers: Vec<_> = (0..2i64)
                .map(|t| {
                    let (access, panicking, good_writes) = (&*access, &panicking, &good_writes);
                    s.spawn(move || {
                        let mut i = 0;
                        // Keep writing for as long as the panics go on (and a little more).
                        while panicking.load(Ordering::SeqCst) || i < 10 {
                            access
                                .write(|c| {
                                    Ok(c.execute(
                                        "INSERT INTO items (id, value) VALUES (?1, 1)",
                                        [t * 1_000_000 + i],
                                    )?)
                                })
                                .unwrap_or_else(|e| panic!("{name}: a bystander's write failed: {e}"));
                            good_writes.fetch_add(1, Ordering::SeqCst);
                            i += 1;
                        }
                    })
                })
                .collect();
            for round in 0..20i64 {
                let inside = round % 2 == 0;
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    if inside {
                        access.write(|c| -> litepool::Result<()> {
                            c.execute("INSERT INTO items (id, value) VALUES (?1, 2)", [-1 - round])?;
                            c.execute("INSERT INTO items (id, value) VALUES (?1, 2)", [-100 - round])?;
                            panic!("planted panic inside a transaction");
                        })
                    } else {
                        access.read(|_| -> litepool::Result<()> {
                            panic!("planted panic outside a transaction")
                        })
                    }
                }));
                assert!(outcome.is_err(), "{name}: the planted panic did not happen");
            }
            drop(stop);
            for w in workers {
                w.join().unwrap_or_else(|_| panic!("{name}: a bystander thread failed"));
            }
        });
        let panicked_rows: i64 = access
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM items WHERE value = 2", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(panicked_rows, 0, "{name}: rows of panicked transactions survived");
        assert_eq!(count_items(&*access).unwrap() as usize, good_writes.load(Ordering::SeqCst), "{name}");
        let state = access.state();
        assert_eq!((state.in_use, state.waiting), (0, 0), "{name}: {state:?}");
        assert!(access.read(|c| Ok(c.is_autocommit())).unwrap(), "{name}: left in a transaction");
    }
}

/// A panic inside `Locked::with` does not poison the lock: the next caller
/// gets a clean connection.
#[test]
fn a_panic_inside_locked_with_does_not_poison_it() {
    quiet_planted_panics();
    let db = TempDb::new();
    let locked = Locked::open(db.manager("l.db")).unwrap();
    create_items(&locked).unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        locked.with(|c| -> litepool::Result<()> {
            c.execute_batch("BEGIN; INSERT INTO items (value) VALUES (1);")?;
            panic!("planted panic");
        })
    }));
    assert!(outcome.is_err());
    assert!(locked.with(|c| Ok(c.is_autocommit())).unwrap());
    assert_eq!(count_items(&locked).unwrap(), 0);
}

/// With `max_page_count` low, inserts hit SQLITE_FULL: the error says so
/// and what to do, the failed transaction leaves nothing, earlier rows are
/// intact, and after a delete the same pool writes again.
#[test]
fn a_full_database_is_a_clear_error_and_recovers_after_a_delete() {
    let db = TempDb::new();
    let path = db.path("full.db");
    let pool = Pool::builder()
        .max_size(2)
        .open(SqliteManager::file(&path).with_init(|c| c.execute_batch("PRAGMA max_page_count = 40")))
        .unwrap();
    create_items(&pool).unwrap();
    let row = |c: &Connection, i: i64| -> litepool::Result<()> {
        c.execute("INSERT INTO items (id, value) VALUES (?1, ?2)", (i, "x".repeat(1000)))?;
        Ok(())
    };
    let mut committed = 0;
    let err = loop {
        match pool.write(|c| row(c, committed)) {
            Ok(()) => committed += 1,
            Err(e) => break e,
        }
        assert!(committed < 10_000, "max_page_count was not enforced");
    };
    assert!(err.is_full(), "{err}");
    let message = err.to_string();
    println!("BAD-INPUT | insert into a full database (`max_page_count`) | `{:?}` | {message} |", err.kind());
    assert!(message.contains("database or disk is full") && message.contains("max_page_count"), "{message}");
    // A batch that cannot fit leaves none of its rows.
    let err = pool.write(|c| (0..50).try_for_each(|i| row(c, 1_000_000 + i))).unwrap_err();
    assert!(err.is_full());
    assert_eq!(count_items(&pool).unwrap(), committed);
    assert_eq!(pool.state().in_use, 0);
    pool.write(|c| Ok(c.execute("DELETE FROM items WHERE id < ?1", [committed / 2])?)).unwrap();
    pool.write(|c| row(c, 2_000_000)).expect("writes succeed again after a delete");
    assert_eq!(integrity_check(&path), "ok");
}

/// Another connection holds the write lock longer than the busy timeout: a
/// litepool write fails with a busy error after about that timeout, naming
/// it; the connection goes back; once the lock is released, writes succeed.
#[test]
fn a_held_write_lock_makes_writes_fail_busy_after_the_timeout() {
    let db = TempDb::new();
    let path = db.path("busy.db");
    let timeout = Duration::from_millis(300);
    let pool = Pool::builder().max_size(2).open(SqliteManager::file(&path).busy_timeout(timeout)).unwrap();
    create_items(&pool).unwrap();
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let err = pool.write(|c| Ok(c.execute("INSERT INTO items (value) VALUES (1)", [])?)).unwrap_err();
    let waited = started.elapsed();
    assert!(err.is_busy(), "{err}");
    assert!(err.to_string().contains("the busy timeout is 300ms"), "{err}");
    println!(
        "BAD-INPUT | write while another connection holds the write lock | `{:?}` | {err} |",
        err.kind()
    );
    assert!(waited >= timeout, "gave up after {waited:?}, before the busy timeout");
    assert!(waited < timeout * 20, "waited {waited:?}, far past the busy timeout");
    assert_eq!(pool.state().in_use, 0, "the connection did not come back");
    holder.execute_batch("COMMIT").unwrap();
    pool.write(|c| Ok(c.execute("INSERT INTO items (value) VALUES (1)", [])?))
        .expect("writes succeed once released");
    assert_eq!(count_items(&pool).unwrap(), 1);
}

/// Every strategy's busy error names the busy timeout, once.
#[test]
fn every_strategys_busy_error_names_the_busy_timeout_once() {
    let db = TempDb::new();
    for strategy in strategy::all::<SqliteManager>() {
        let path = db.path(&format!("{}.db", strategy.name));
        let manager = SqliteManager::file(&path).busy_timeout(Duration::from_millis(50));
        let access: Box<Sqlite> = (strategy.open)(manager, Sizing::default()).unwrap();
        create_items(&*access).unwrap();
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let err = access.write(|c| Ok(c.execute("INSERT INTO items (value) VALUES (1)", [])?)).unwrap_err();
        assert!(err.is_busy(), "{}: {err}", strategy.name);
        assert_eq!(
            err.to_string().matches("the busy timeout is 50ms").count(),
            1,
            "{}: {err}",
            strategy.name
        );
        holder.execute_batch("COMMIT").unwrap();
    }
}

/// Reads of a strategy under the held write lock still work in WAL (the
/// writer does not block readers).
#[test]
fn readers_are_not_blocked_by_a_held_write_lock_in_wal() {
    let db = TempDb::new();
    for strategy in strategy::all::<SqliteManager>() {
        let path = db.path(&format!("{}.db", strategy.name));
        let access: Box<Sqlite> = (strategy.open)(SqliteManager::file(&path), Sizing::default()).unwrap();
        create_items(&*access).unwrap();
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE; INSERT INTO items (value) VALUES (5);").unwrap();
        assert_eq!(count_items(&*access).unwrap(), 0, "{}: saw uncommitted data", strategy.name);
        holder.execute_batch("COMMIT").unwrap();
        assert_eq!(count_items(&*access).unwrap(), 1, "{}", strategy.name);
    }
}
