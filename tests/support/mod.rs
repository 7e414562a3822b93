//! Helpers shared by the integration tests: temporary databases that clean
//! up on drop, and the few queries every suite asks.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

use litepool::strategy::Manager;
use litepool::{Access, AccessExt, Result, SqliteManager};
use rusqlite::Connection;

/// A strategy over real SQLite connections, as the strategy list opens it.
pub type Sqlite = dyn Access<Connection = Connection>;

/// A fresh directory for databases, removed on drop. While it lives, the
/// test binary's [watchdog] watches it.
pub struct TempDb {
    dir: tempfile::TempDir,
    watched: u64,
}

impl TempDb {
    pub fn new() -> TempDb {
        TempDb { dir: tempfile::tempdir().expect("create a temporary directory"), watched: watchdog::watch() }
    }

    /// The path of `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A manager with litepool's defaults for `name`.
    pub fn manager(&self, name: &str) -> SqliteManager {
        SqliteManager::file(self.path(name))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        watchdog::unwatch(self.watched);
    }
}

/// Ends a test binary that hangs. Every test on a real file holds a
/// [`TempDb`]; if one lives longer than the limit (default 300 s,
/// `LITEPOOL_TEST_WATCHDOG` seconds), the watchdog prints the test that
/// made it and exits the binary with a failure. A lost wake-up in litepool
/// would otherwise hang its test until CI's own limit, reporting nothing
/// useful. The limit is far above any test's time on a loaded machine: it
/// is for hangs, not for speed.
pub mod watchdog {
    use std::collections::HashMap;
    use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
    use std::time::{Duration, Instant};

    #[derive(Default)]
    struct Table {
        next_key: u64,
        /// The tests being watched, by key: the test's name, and since when.
        watched: HashMap<u64, (String, Instant)>,
    }

    struct Watchdog {
        table: Mutex<Table>,
        /// Woken when a test starts being watched, so the watchdog's next
        /// deadline is recomputed.
        changed: Condvar,
    }

    fn watchdog() -> &'static Watchdog {
        static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();
        WATCHDOG.get_or_init(|| {
            let limit = std::env::var("LITEPOOL_TEST_WATCHDOG")
                .ok()
                .map(|s| s.parse().expect("LITEPOOL_TEST_WATCHDOG is a whole number of seconds"))
                .map_or(Duration::from_secs(300), Duration::from_secs);
            std::thread::spawn(move || watch_over(limit));
            Watchdog { table: Mutex::new(Table::default()), changed: Condvar::new() }
        })
    }

    fn lock() -> MutexGuard<'static, Table> {
        watchdog().table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the oldest watched test to pass `limit`, then ends the
    /// binary, naming it.
    fn watch_over(limit: Duration) {
        let dog = watchdog();
        let mut table = lock();
        loop {
            let oldest = table.watched.values().min_by_key(|(_, since)| *since).cloned();
            table = match oldest {
                None => dog.changed.wait(table).unwrap_or_else(|e| e.into_inner()),
                Some((test, since)) if since.elapsed() > limit => {
                    eprintln!(
                        "litepool test watchdog: test {test:?} has run for more than {limit:?} (a lost \
                         wake-up, or a wait with no deadline?); ending the test binary. Set \
                         LITEPOOL_TEST_WATCHDOG (seconds) to change the limit."
                    );
                    std::process::exit(97);
                }
                Some((_, since)) => {
                    let left = limit.saturating_sub(since.elapsed()) + Duration::from_millis(10);
                    dog.changed.wait_timeout(table, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }

    /// Starts watching the calling test; returns the key to stop with.
    pub fn watch() -> u64 {
        let test = std::thread::current().name().unwrap_or("an unnamed thread").to_owned();
        let mut table = lock();
        table.next_key += 1;
        let key = table.next_key;
        table.watched.insert(key, (test, Instant::now()));
        drop(table);
        watchdog().changed.notify_all();
        key
    }

    /// Stops watching what `watch` returned `key` for.
    pub fn unwatch(key: u64) {
        lock().watched.remove(&key);
    }
}

/// Runs `body` on a thread of its own and fails the test, naming `what`, if
/// it has not returned within `limit`: a lost wake-up inside litepool must
/// fail its test within seconds, not hang it. (The stuck thread is left
/// behind; the binary ends when its tests are done.) A panic in `body`
/// resumes in the caller.
pub fn within<T: Send + 'static>(
    limit: std::time::Duration,
    what: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || _ = done.send(catch_unwind(AssertUnwindSafe(body))));
    match finished.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => resume_unwind(panic),
        Err(_) => {
            panic!("{what} did not finish within {limit:?}: a wake-up was lost, or a wait has no deadline")
        }
    }
}

/// A manager that overrides only `connect`: every other method is the
/// trait's default (no read-only twin, a queue per strategy, 5 s).
pub struct Plain(pub SqliteManager);

impl Manager for Plain {
    type Connection = Connection;
    fn connect(&self) -> Result<Connection> {
        self.0.connect()
    }
}

/// A manager whose `explain` panics once `armed` is set (and disarms it):
/// a panic on the thread running a batch, or on one of litepool's own
/// threads, outside any caller's work.
pub struct PanickyExplain {
    pub inner: SqliteManager,
    pub armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Manager for PanickyExplain {
    type Connection = Connection;

    fn prepare(&self) -> Result<()> {
        self.inner.prepare()
    }

    fn connect(&self) -> Result<Connection> {
        self.inner.connect()
    }

    fn read_only(&self) -> Result<PanickyExplain> {
        Ok(PanickyExplain { inner: self.inner.read_only()?, armed: self.armed.clone() })
    }

    fn write_queue(&self) -> Option<std::sync::Arc<litepool::strategy::WriteQueue>> {
        self.inner.write_queue()
    }

    fn explain(&self, error: litepool::Error) -> litepool::Error {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("planted panic in the manager's explain");
        }
        self.inner.explain(error)
    }
}

/// Creates the `items` table the suites insert into.
pub fn create_items(access: &Sqlite) -> Result<()> {
    access.write(|c| {
        Ok(c.execute_batch(
            "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)",
        )?)
    })
}

/// `SELECT COUNT(*) FROM items`.
pub fn count_items(access: &Sqlite) -> Result<i64> {
    access.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))?))
}

/// `PRAGMA integrity_check` on a fresh connection of its own.
pub fn integrity_check(path: &Path) -> String {
    let conn = Connection::open(path).expect("open for integrity_check");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check runs")
}

/// The ids in `items`, sorted, read on a fresh connection of its own.
pub fn item_ids(path: &Path) -> Vec<i64> {
    let conn = Connection::open(path).expect("open to read ids");
    let mut stmt = conn.prepare("SELECT id FROM items ORDER BY id").expect("prepare");
    stmt.query_map([], |r| r.get(0)).expect("query").collect::<rusqlite::Result<_>>().expect("rows")
}

/// Makes SQLite roll back the open transaction: with `max_page_count` set
/// just above the file's size, a 1 MB blob into the `filler` table fails
/// `SQLITE_FULL`, which rolls back the whole transaction, not only the
/// statement. The limit is restored; the insert's error is returned.
pub fn fill_the_database(c: &Connection) -> Result<()> {
    let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    c.query_row(&format!("PRAGMA max_page_count = {}", pages + 1), [], |r| r.get::<_, i64>(0))?;
    let full = c.execute("INSERT INTO filler VALUES (zeroblob(1000000))", []);
    c.query_row("PRAGMA max_page_count = 1073741823", [], |r| r.get::<_, i64>(0))?;
    full?;
    Ok(())
}

#[cfg(any(loom, shuttle))]
pub mod batcher;
#[cfg(any(loom, shuttle))]
pub mod checker;
#[cfg(any(loom, shuttle))]
pub mod faults;
#[cfg(any(loom, shuttle))]
pub mod group;
#[cfg(any(loom, shuttle))]
pub mod planted;
#[cfg(any(loom, shuttle))]
pub mod planted_group;
#[cfg(any(loom, shuttle))]
pub mod planted_line;
#[cfg(any(loom, shuttle))]
pub mod planted_queue;
#[cfg(any(loom, shuttle))]
pub mod properties;
#[cfg(any(loom, shuttle))]
pub mod queue;
#[cfg(any(loom, shuttle))]
pub mod runner;
#[cfg(any(loom, shuttle))]
pub mod tokio;

pub mod counting;

/// Clears a flag when dropped: helper threads that loop while it is set
/// stop even when the test's own thread fails an assertion and unwinds.
pub struct StopOnDrop<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Spins (yielding) until `done()` holds, and fails the test, saying what
/// it waited for, if that takes more than 20 s: a condition that never
/// comes must end the test, not hang it.
pub fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "waited 20 s for {what}");
        std::thread::yield_now();
    }
}

/// The message of a panic payload (`panic!` makes a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("")
}
