//! The small print of the public API, each piece checked: `Debug` output,
//! accessors, names, `state()` arithmetic, builder bounds, and strategy
//! instances that must not see each other's connections.

mod support;

use std::thread;
use std::time::Duration;

use litepool::strategy::Sizing;
use litepool::strategy::WriteQueue;
use litepool::{
    Access, AccessExt, GroupCommit, JournalMode, Locked, PerThread, Pool, SplitPool, SqliteManager, State,
    strategy,
};
use support::TempDb;

/// Every strategy reports the name it is listed under, and the names are
/// distinct and non-empty.
#[test]
fn every_strategy_reports_its_listed_name() {
    let db = TempDb::new();
    let mut names = Vec::new();
    for strategy in strategy::all::<SqliteManager>() {
        let access =
            (strategy.open)(db.manager(&format!("{}.db", strategy.name)), Sizing::default()).unwrap();
        assert_eq!(access.name(), strategy.name);
        assert!(!strategy.name.is_empty());
        assert_eq!(format!("{strategy:?}"), strategy.name);
        assert_eq!(strategy.clone().name, strategy.name);
        names.push(strategy.name);
    }
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
}

/// `Debug` shows what a user debugging a pool wants to see.
#[test]
fn debug_output_shows_the_settings_and_state() {
    let db = TempDb::new();
    let builder =
        Pool::<SqliteManager>::builder().max_size(3).min_idle(1).connection_timeout(Duration::from_secs(7));
    let text = format!("{builder:?}");
    assert!(text.contains("max_size: 3") && text.contains("min_idle: 1") && text.contains("7s"), "{text}");

    let pool = Pool::builder().max_size(3).min_idle(1).open(db.manager("d.db")).unwrap();
    let text = format!("{pool:?}");
    assert!(text.starts_with("Pool") && text.contains("max_size: 3") && text.contains("idle: 1"), "{text}");
    let conn = pool.get().unwrap();
    assert!(format!("{conn:?}").starts_with("Pooled"));
    assert!(format!("{pool:?}").contains("in_use: 1"), "{pool:?}");
    drop(conn);

    let locked = Locked::open(db.manager("l.db")).unwrap();
    assert!(
        format!("{locked:?}").contains("Locked") && format!("{locked:?}").contains("idle: 1"),
        "{locked:?}"
    );
    let per_thread = PerThread::open(db.manager("t.db")).unwrap();
    assert!(format!("{per_thread:?}").contains("closed: false"), "{per_thread:?}");
    per_thread.close();
    assert!(format!("{per_thread:?}").contains("closed: true"), "{per_thread:?}");
    let split = SplitPool::builder().readers(2).open(db.manager("s.db")).unwrap();
    assert!(
        format!("{split:?}").contains("SplitPool") && format!("{split:?}").contains("readers"),
        "{split:?}"
    );

    let manager = db.manager("m.db").busy_timeout(Duration::from_millis(1500)).with_init(|_| Ok(()));
    let text = format!("{manager:?}");
    assert!(
        text.contains("busy_timeout: 1.5s") && text.contains("init: true") && text.contains("m.db"),
        "{text}"
    );
}

/// `is_closed`, `max_size` and `manager` say what they are asked.
#[test]
fn pool_accessors() {
    let db = TempDb::new();
    let pool = Pool::builder().max_size(5).open(db.manager("a.db")).unwrap();
    assert!(!pool.is_closed());
    assert_eq!(pool.max_size(), 5);
    assert_eq!(pool.manager().path(), db.path("a.db"));
    assert_eq!(pool.manager().busy_timeout_value(), Duration::from_secs(5));
    let clone = pool.clone();
    clone.close();
    assert!(pool.is_closed(), "a clone shares the pool");
}

/// `min_idle` may equal `max_size` (every connection opened at build).
#[test]
fn min_idle_may_equal_max_size() {
    let db = TempDb::new();
    let pool = Pool::builder().max_size(2).min_idle(2).open(db.manager("a.db")).unwrap();
    assert_eq!(pool.state(), State::new(2, 0, 0));
}

/// `Locked`'s state is one idle connection when free, and one in use while
/// a call runs (seen from inside the call).
#[test]
fn locked_state_while_free_and_while_held() {
    let db = TempDb::new();
    let locked = Locked::open(db.manager("l.db")).unwrap();
    assert_eq!(Access::state(&locked), State::new(1, 0, 0));
    let inside = locked.with(|_| Ok(Access::state(&locked))).unwrap();
    assert_eq!(inside, State::new(0, 1, 0));
    locked.close();
    assert_eq!(Access::state(&locked), State::new(0, 0, 0));
}

/// `SplitPool`'s state adds its two sides up; its accessors reach the
/// writer and the read-only readers.
#[test]
fn split_pool_state_adds_both_sides_and_its_accessors_reach_them() {
    let db = TempDb::new();
    let split = SplitPool::builder().readers(1).open(db.manager("s.db")).unwrap();
    split.writer().with(|c| Ok(c.execute_batch("CREATE TABLE t (x)")?)).unwrap();
    split.read(|_| Ok(())).unwrap();
    assert_eq!(Access::state(&split), State::new(2, 0, 0), "writer idle + reader idle");
    let reader = split.readers().get().unwrap();
    assert!(reader.is_readonly(litepool::rusqlite::MAIN_DB).unwrap());
    thread::scope(|s| {
        let waiter = s.spawn(|| split.read(|_| Ok(())));
        support::wait_until("a waiting reader", || split.split_state().readers.waiting == 1);
        let both = split.split_state();
        assert_eq!(both.writer, State::new(1, 0, 0));
        assert_eq!(both.readers, State::new(0, 1, 1));
        assert_eq!(Access::state(&split), State::new(1, 1, 1));
        drop(reader);
        waiter.join().unwrap().unwrap();
    });
}

/// `GroupCommit`'s state adds the writer to its readers: idle while no
/// batch runs, in use while one does (seen from inside a write).
#[test]
fn group_commit_state_adds_the_writer_to_the_readers() {
    let db = TempDb::new();
    let group = GroupCommit::builder().readers(1).open(db.manager("g.db")).unwrap();
    assert_eq!(Access::state(&group), State::new(1, 0, 0), "the writer idle, no reader opened yet");
    group.read(|_| Ok(())).unwrap();
    assert_eq!(Access::state(&group), State::new(2, 0, 0), "writer idle + reader idle");
    let inside = group.write(|_| Ok(Access::state(&group))).unwrap();
    assert_eq!(inside, State::new(1, 1, 0), "the reader idle, the writer in use");
}

/// `Debug` of the batching and queueing types shows their settings and
/// state.
#[test]
fn debug_of_the_group_and_the_write_queue_shows_settings_and_state() {
    let db = TempDb::new();
    let builder = GroupCommit::<SqliteManager>::builder().readers(3).batch_cap(5);
    let text = format!("{builder:?}");
    assert!(
        text.starts_with("GroupCommitBuilder")
            && text.contains("readers: 3")
            && text.contains("batch_cap: 5")
    );
    let group = builder.open(db.manager("g.db")).unwrap();
    let text = format!("{group:?}");
    assert!(
        text.starts_with("GroupCommit") && text.contains("batch_cap: 5") && text.contains("idle: 1"),
        "{text}"
    );
    let text = format!("{:?}", SplitPool::<SqliteManager>::builder().readers(3));
    assert!(text.starts_with("SplitPoolBuilder") && text.contains("readers: 3"), "{text}");

    let queue = std::sync::Arc::new(WriteQueue::new());
    assert_eq!(format!("{queue:?}"), "WriteQueue { held: false, waiting: 0, overtaking_bound: 64 }");
    let writers = litepool::strategy::Writers::new(Some(queue.clone()), Duration::from_secs(1), "test");
    let turn = writers.turn().unwrap();
    assert_eq!(format!("{turn:?}"), "Turn { .. }");
    assert_eq!(format!("{queue:?}"), "WriteQueue { held: true, waiting: 0, overtaking_bound: 64 }");
}

/// Two `PerThread` instances used on one thread keep separate connections,
/// each to its own database.
#[test]
fn two_per_thread_instances_on_one_thread_keep_their_own_connections() {
    let db = TempDb::new();
    let a = PerThread::open(db.manager("a.db")).unwrap();
    let b = PerThread::open(db.manager("b.db")).unwrap();
    a.write(|c| Ok(c.execute_batch("CREATE TABLE only_in_a (x)")?)).unwrap();
    let in_b: i64 = b
        .read(|c| {
            Ok(c.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'only_in_a'", [], |r| r.get(0))?)
        })
        .unwrap();
    assert_eq!(in_b, 0, "b used a's connection");
    let in_a: i64 = a
        .with(|c| {
            Ok(c.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'only_in_a'", [], |r| r.get(0))?)
        })
        .unwrap();
    assert_eq!(in_a, 1);
}

/// `keep_journal_mode` leaves a database's journal mode as it is, where the
/// default would switch it to WAL.
#[test]
fn keep_journal_mode_leaves_the_mode_alone() {
    let db = TempDb::new();
    let path = db.path("k.db");
    Pool::open(SqliteManager::file(&path).journal_mode(JournalMode::Delete)).unwrap();
    let kept = Pool::open(SqliteManager::file(&path).keep_journal_mode()).unwrap();
    let mode: String = kept.get().unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete");
    let switched = Pool::open(SqliteManager::file(&path)).unwrap();
    let mode: String = switched.get().unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

/// Through `Access`, every strategy counts the call running now as in use,
/// and nothing once it has returned.
#[test]
fn every_strategy_counts_a_running_call_as_in_use() {
    let db = TempDb::new();
    for strategy in strategy::all::<SqliteManager>() {
        let access =
            (strategy.open)(db.manager(&format!("{}.db", strategy.name)), Sizing::default()).unwrap();
        let name = strategy.name;
        let inside = access.read(|_| Ok(access.state())).unwrap();
        assert_eq!((inside.in_use, inside.waiting), (1, 0), "{name}: inside a read: {inside:?}");
        let inside = access.write(|_| Ok(access.state())).unwrap();
        assert_eq!((inside.in_use, inside.waiting), (1, 0), "{name}: inside a write: {inside:?}");
        let after = access.state();
        assert_eq!((after.in_use, after.waiting), (0, 0), "{name}: after: {after:?}");
    }
}

/// A `SplitPool` over a manager that opens read-only: its readers are
/// read-only too and read, and its writer's writes fail read-only.
#[test]
fn a_split_pool_over_a_read_only_manager_reads_and_refuses_writes() {
    let db = TempDb::new();
    let path = db.path("ro.db");
    Pool::open(SqliteManager::file(&path))
        .unwrap()
        .get()
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let read_only = SqliteManager::file(&path).flags(litepool::rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY);
    let split = SplitPool::builder().readers(2).open(read_only).unwrap();
    let n: i64 = split.read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)).unwrap();
    assert_eq!(n, 0);
    let err = split.write(|c| Ok(c.execute("INSERT INTO t VALUES (1)", [])?)).unwrap_err();
    assert!(err.is_read_only(), "{err}");
}

/// A connection type that implements only what every strategy needs.
struct NoSavepoints(litepool::rusqlite::Connection);

impl litepool::strategy::Transactional for NoSavepoints {
    fn begin_immediate(&self) -> litepool::Result<()> {
        self.0.begin_immediate()
    }
    fn commit(&self) -> litepool::Result<()> {
        litepool::strategy::Transactional::commit(&self.0)
    }
    fn rollback(&self) -> litepool::Result<()> {
        litepool::strategy::Transactional::rollback(&self.0)
    }
    fn in_transaction(&self) -> bool {
        self.0.in_transaction()
    }
}

/// The trait's defaults for savepoints and the seal refuse, with an error
/// that names the strategy that needs them, instead of pretending to have
/// opened, released or rolled back a savepoint, or sealed the connection.
#[test]
fn a_connection_type_without_savepoints_refuses_them_clearly() {
    use litepool::strategy::Transactional;
    let mut conn = NoSavepoints(litepool::rusqlite::Connection::open_in_memory().unwrap());
    let refusals = [
        ("savepoint", conn.savepoint()),
        ("release_savepoint", conn.release_savepoint()),
        ("rollback_to_savepoint", conn.rollback_to_savepoint()),
        ("install_seal", conn.install_seal(&litepool::strategy::Seal::new())),
        ("remove_seal", conn.remove_seal()),
    ];
    for (what, result) in refusals {
        let err = result.expect_err(what);
        assert!(err.is_config() && err.to_string().contains("GroupCommit"), "{what}: {err}");
    }
    assert!(!conn.in_transaction(), "a refused savepoint began a transaction");
}

/// A strategy's place in the write queue shows what it is in `{:?}`: its
/// queue, its timeout, and whether it is closed.
#[test]
fn writers_debug_shows_its_timeout_and_state() {
    let db = TempDb::new();
    let writers =
        litepool::strategy::writers(&db.manager("w.db").busy_timeout(Duration::from_millis(1234)), "test");
    let text = format!("{writers:?}");
    assert!(
        text.starts_with("Writers") && text.contains("1.234s") && text.contains("closed: false"),
        "{text}"
    );
    writers.close();
    assert!(format!("{writers:?}").contains("closed: true"));
}
