//! Bad input gets a clear error, never a panic or a hang, and the strategy
//! (or a new one on a good path) works afterwards. Each test is a row of the
//! bad-input table in EVIDENCE.md, which `bash .ci/faults-table` regenerates
//! from these tests' output.

mod support;

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};

use litepool::strategy::{Connections, Sizing};
use litepool::{AccessExt, ErrorKind, Locked, PerThread, Pool, SqliteManager, strategy};
use support::{Sqlite, TempDb, count_items, create_items};

/// Prints a row of EVIDENCE.md's bad-input table (`bash .ci/faults-table`).
fn report(input: &str, err: &litepool::Error) {
    println!("BAD-INPUT | {input} | `{:?}` | {} |", err.kind(), err.to_string().replace('|', "\\|"));
}

/// Asserts that `access` can still write and read.
fn still_works(access: &Sqlite) {
    create_items(access).expect("create table after the bad input");
    access.write(|c| Ok(c.execute("INSERT INTO items (value) VALUES (1)", [])?)).expect("insert");
    assert!(count_items(access).expect("count") >= 1);
}

/// The strategy whose error EVIDENCE.md's table shows (each row's test
/// checks every strategy's).
fn first_listed() -> &'static str {
    strategy::all::<SqliteManager>()[0].name
}

fn open_each(manager: impl Fn() -> SqliteManager) -> Vec<(String, litepool::Result<Box<Sqlite>>)> {
    strategy::all::<SqliteManager>()
        .into_iter()
        .map(|s| (s.name.to_owned(), (s.open)(manager(), Sizing::default())))
        .collect()
}

/// `max_size(0)` is refused with a config error naming the setting.
#[test]
fn zero_max_size_is_a_config_error() {
    let db = TempDb::new();
    let err = Pool::builder().max_size(0).open(db.manager("a.db")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("max_size must be at least 1, got 0"), "{err}");
    report("`max_size(0)`", &err);
    let pool = Pool::builder().max_size(1).open(db.manager("a.db")).expect("a valid size builds");
    still_works(&pool);
}

/// A pool size of zero through the strategy list is refused with a config
/// error by every strategy whose size it sets (a strategy with no
/// connections could never serve a call).
#[test]
fn zero_pool_size_through_the_strategy_list_is_a_config_error() {
    let db = TempDb::new();
    let mut sized = 0;
    for strategy in strategy::all::<SqliteManager>() {
        let Connections::AtMost(most) = strategy.connections else { continue };
        if most(Sizing::pool_size(0)) == most(Sizing::pool_size(1)) {
            continue; // its size does not depend on the pool size
        }
        let manager = db.manager(&format!("{}.db", strategy.name));
        let err = (strategy.open)(manager, Sizing::pool_size(0)).err().expect("size 0 refused");
        assert!(err.is_config(), "{}: {err}", strategy.name);
        sized += 1;
    }
    assert!(sized > 0, "no listed strategy is sized by the pool size");
}

/// `min_idle` above `max_size` is refused.
#[test]
fn min_idle_above_max_size_is_a_config_error() {
    let db = TempDb::new();
    let err = Pool::builder().max_size(2).min_idle(3).open(db.manager("a.db")).unwrap_err();
    assert!(err.is_config());
    assert!(err.to_string().contains("min_idle (3) is larger than max_size (2)"), "{err}");
    report("`min_idle(3)` with `max_size(2)`", &err);
}

/// An empty path is refused before SQLite sees it (SQLite would silently
/// open a private temporary database).
#[test]
fn empty_path_is_a_config_error() {
    for (name, result) in open_each(|| SqliteManager::file("")) {
        let err = result.err().unwrap_or_else(|| panic!("{name}: empty path accepted"));
        assert!(err.is_config(), "{name}: {err}");
        assert!(err.to_string().contains("database path is empty"), "{name}: {err}");
        if name == first_listed() {
            report("empty path `\"\"`", &err);
        }
    }
}

/// A path in a directory that does not exist fails to open, naming the path.
#[test]
fn missing_directory_is_an_open_error() {
    let db = TempDb::new();
    let path = db.path("no/such/dir/a.db");
    for (name, result) in open_each(|| SqliteManager::file(&path)) {
        let err = result.err().unwrap_or_else(|| panic!("{name}: missing directory accepted"));
        assert!(err.is_open(), "{name}: {err:?}");
        let message = err.to_string();
        assert!(
            message.contains("cannot open database") && message.contains("no/such/dir/a.db"),
            "{message}"
        );
        assert!(message.contains("check that the directory exists"), "{message}");
        if name == first_listed() {
            report("path in a directory that does not exist", &err);
        }
    }
    fs::create_dir_all(db.path("no/such/dir")).unwrap();
    still_works(&Pool::open(SqliteManager::file(&path)).expect("opens once the directory exists"));
}

/// A path that is a directory fails to open and says so.
#[test]
fn directory_as_database_is_an_open_error() {
    let db = TempDb::new();
    for (name, result) in open_each(|| SqliteManager::file(db.dir())) {
        let err = result.err().unwrap_or_else(|| panic!("{name}: directory accepted"));
        assert!(err.is_open(), "{name}: {err}");
        assert!(err.to_string().contains("it is a directory"), "{err}");
        if name == first_listed() {
            report("path that is a directory", &err);
        }
    }
}

/// A file that is not a SQLite database is refused at build time, not at
/// first use.
#[test]
fn non_sqlite_file_is_a_corrupt_error_at_build_time() {
    let db = TempDb::new();
    let path = db.path("notes.txt");
    fs::write(&path, "these are not the pages you are looking for\n".repeat(200)).unwrap();
    for (name, result) in open_each(|| SqliteManager::file(&path)) {
        let err = result.err().unwrap_or_else(|| panic!("{name}: text file accepted"));
        assert!(err.is_corrupt(), "{name}: {err}");
        assert!(err.to_string().contains("file is not a database"), "{err}");
        if name == first_listed() {
            report("path to a text file", &err);
        }
    }
    assert!(fs::read_to_string(&path).unwrap().starts_with("these are not"), "the file was left alone");
}

/// A database whose header was overwritten is refused as corrupt.
#[test]
fn corrupt_database_file_is_a_corrupt_error() {
    let db = TempDb::new();
    let path = db.path("c.db");
    let pool = Pool::open(SqliteManager::file(&path)).unwrap();
    still_works(&pool);
    pool.close();
    drop(pool);
    let mut bytes = fs::read(&path).unwrap();
    bytes[..16].copy_from_slice(b"garbage garbage!");
    fs::write(&path, bytes).unwrap();
    let _ = fs::remove_file(db.path("c.db-wal"));
    let err = Pool::open(SqliteManager::file(&path)).unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    report("database file with a damaged header", &err);
}

/// Makes a file unwritable even for root (`chattr +i`), and undoes it on drop.
struct Unwritable<'a>(&'a std::path::Path);

impl<'a> Unwritable<'a> {
    fn new(path: &'a std::path::Path) -> Unwritable<'a> {
        let mut perms = fs::metadata(path).unwrap().permissions();
        perms.set_readonly(true);
        fs::set_permissions(path, perms).unwrap();
        if fs::OpenOptions::new().append(true).open(path).is_ok() {
            // Root ignores permission bits; the immutable attribute binds it.
            let status = std::process::Command::new("chattr").arg("+i").arg(path).status();
            assert!(status.is_ok_and(|s| s.success()), "cannot make {path:?} read-only: chattr +i failed");
        }
        assert!(fs::OpenOptions::new().append(true).open(path).is_err(), "{path:?} is still writable");
        Unwritable(path)
    }
}

impl Drop for Unwritable<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr").arg("-i").arg(self.0).status();
        if let Ok(meta) = fs::metadata(self.0) {
            let mut perms = meta.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            let _ = fs::set_permissions(self.0, perms);
        }
    }
}

/// A read-only database file opened for writing fails at build time with a
/// read-only error that says what to do; opened read-only, it can be read.
#[test]
fn read_only_file_opened_for_writing_is_a_read_only_error() {
    let db = TempDb::new();
    let path = db.path("ro.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL); INSERT INTO items (value) VALUES (7);").unwrap();
    }
    let _guard = Unwritable::new(&path);
    for (name, result) in open_each(|| SqliteManager::file(&path)) {
        let err = result.err().unwrap_or_else(|| panic!("{name}: read-only file accepted for writing"));
        assert!(err.is_read_only(), "{name}: {err}");
        assert!(err.to_string().contains("SQLITE_OPEN_READ_ONLY"), "{err}");
        if name == first_listed() {
            report("read-only file opened for writing", &err);
        }
    }
    let reader = Pool::open(
        SqliteManager::file(&path)
            .flags(rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .journal_mode(litepool::JournalMode::Delete),
    )
    .expect("read-only opening works");
    assert_eq!(count_items(&reader).unwrap(), 1);
    let err = reader.write(|c| Ok(c.execute("INSERT INTO items (value) VALUES (8)", [])?)).unwrap_err();
    assert!(err.is_read_only(), "{err}");
    report("write through a pool opened read-only", &err);
    assert_eq!(reader.state().in_use, 0);
}

/// Invalid SQL comes back as an SQL error; the connection returns to its
/// strategy and keeps working.
#[test]
fn invalid_sql_is_an_sql_error_and_the_connection_stays_usable() {
    let db = TempDb::new();
    for (name, result) in open_each(|| db.manager("s.db")) {
        let access = result.unwrap();
        create_items(&*access).unwrap();
        let err = access.read(|c| Ok(c.execute("SELEC 1", [])?)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Sql, "{name}: {err}");
        assert!(err.to_string().contains("syntax error"), "{name}: {err}");
        if name == first_listed() {
            report("invalid SQL (`SELEC 1`)", &err);
        }
        let err = access.write(|c| Ok(c.execute("INSERT INTO nowhere VALUES (1)", [])?)).unwrap_err();
        assert!(err.to_string().contains("no such table: nowhere"), "{name}: {err}");
        assert_eq!(access.state().in_use, 0, "{name}");
        still_works(&*access);
    }
}

/// Every strategy refuses work after `close()` with a closed error.
#[test]
fn use_after_close_is_a_closed_error() {
    let db = TempDb::new();
    for (name, result) in open_each(|| db.manager("c.db")) {
        let access = result.unwrap();
        still_works(&*access);
        access.close();
        let err = count_items(&*access).unwrap_err();
        assert!(err.is_closed(), "{name}: {err}");
        assert!(err.to_string().contains("close() was called"), "{err}");
        if name == first_listed() {
            report("any call after `close()`", &err);
        }
        let err = create_items(&*access).unwrap_err();
        assert!(err.is_closed(), "{name}: {err}");
    }
    let pool = Pool::open(db.manager("c.db")).unwrap();
    pool.close();
    assert!(pool.get().unwrap_err().is_closed());
    assert!(pool.try_get().unwrap_err().is_closed());
    still_works(&Pool::open(db.manager("c.db")).unwrap());
}

fn failing_first_time(db: &TempDb, failed: &'static AtomicBool) -> SqliteManager {
    db.manager("i.db").with_init(move |c| {
        if failed.swap(true, Ordering::SeqCst) {
            c.execute_batch("PRAGMA cache_size = -2000")
        } else {
            c.execute_batch("PRAGMA no_such_thing = ; nonsense")
        }
    })
}

/// A failing `with_init` hook is reported with its cause at once, not as a
/// timeout; the slot it took is released, and the next open succeeds.
#[test]
fn failing_init_hook_is_reported_with_its_cause() {
    let db = TempDb::new();
    static POOL: AtomicBool = AtomicBool::new(false);
    let pool = Pool::builder().max_size(1).open(failing_first_time(&db, &POOL)).unwrap();
    let err = pool.get().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Init, "{err}");
    assert!(
        err.to_string().contains("with_init hook failed") && err.to_string().contains("syntax error"),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
    report("a `with_init` hook that fails", &err);
    assert_eq!(pool.state().in_use, 0, "the failed open released its slot");
    still_works(&pool);

    static PER_THREAD: AtomicBool = AtomicBool::new(false);
    let per_thread = PerThread::open(failing_first_time(&db, &PER_THREAD)).unwrap();
    assert_eq!(count_items(&per_thread).unwrap_err().kind(), ErrorKind::Init);
    still_works(&per_thread);

    static LOCKED: AtomicBool = AtomicBool::new(false);
    let err = Locked::open(failing_first_time(&db, &LOCKED)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Init);
    still_works(&Locked::open(failing_first_time(&db, &LOCKED)).unwrap());
}
