//! Helpers shared by the integration tests: temporary databases that clean
//! up on drop, and the few queries every suite asks.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

use litepool::{Access, AccessExt, Manager, Result, SqliteManager};
use rusqlite::Connection;

/// A strategy over real SQLite connections, as the strategy list opens it.
pub type Sqlite = dyn Access<Connection = Connection>;

/// A fresh directory for databases, removed on drop.
pub struct TempDb {
    dir: tempfile::TempDir,
}

impl TempDb {
    pub fn new() -> TempDb {
        TempDb { dir: tempfile::tempdir().expect("create a temporary directory") }
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

/// A manager that overrides only `connect`: every other method is the
/// trait's default (no read-only twin, a queue per strategy, 5 s).
pub struct Plain(pub SqliteManager);

impl Manager for Plain {
    type Connection = Connection;
    fn connect(&self) -> Result<Connection> {
        self.0.connect()
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

#[cfg(any(loom, shuttle))]
pub mod group;
#[cfg(any(loom, shuttle))]
pub mod model;
#[cfg(any(loom, shuttle))]
pub mod planted;
#[cfg(any(loom, shuttle))]
pub mod queue;

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
