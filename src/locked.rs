//! One connection behind a lock: the tutorial's third pattern.
//!
//! Every caller queues on the shim's mutex and runs its work with the one
//! connection. SQLite admits one writer at a time anyway, so for writes this
//! costs less than the tutorial suggests (SQLITE-FACTS C4); reads, which WAL
//! could run in parallel, are serialised too.
//!
//! A transaction cannot outlive the call that opened it: if `with` returns,
//! or unwinds, with a transaction still open, it is rolled back before the
//! lock is released, exactly as the pool's return path does. And the lock
//! does not poison: after a panic inside `with`, the next caller gets a clean
//! connection rather than a dead end. If even the rollback fails, the
//! connection is closed and the next caller opens a fresh one.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::access::{Access, Reuse, State, ReadWork, WriteWork, check_return, connect, prepare, read_on, write_on, writers};
use crate::error::{Error, Result};
use crate::manager::Manager;
use crate::strategy::{Connections, Strategy};
use crate::sync::Mutex;
use crate::write_queue::Writers;

/// One connection shared through a mutex.
///
/// ```
/// use litepool::{Locked, SqliteManager};
///
/// let dir = tempfile::tempdir()?;
/// let locked = Locked::open(SqliteManager::file(dir.path().join("l.db")))?;
/// let n: i64 = locked.with(|conn| Ok(conn.query_row("SELECT 40 + 2", [], |r| r.get(0))?))?;
/// assert_eq!(n, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Locked<M: Manager> {
    manager: M,
    slot: Mutex<Slot<M::Connection>>,
    writers: Writers,
}

struct Slot<C> {
    /// `None` after a failed reset or `close()`.
    conn: Option<C>,
    closed: bool,
}

impl<M: Manager> Locked<M> {
    /// Its entry in the strategy list: one connection, callers queue on its
    /// lock.
    pub fn strategy() -> Strategy<M> {
        Strategy::new("locked", |m, _| Ok(Box::new(Locked::open(m)?)), Connections::AtMost(|_| 1))
    }

    /// Prepares the database and opens the one connection.
    pub fn open(manager: M) -> Result<Locked<M>> {
        prepare(&manager)?;
        let conn = connect(&manager)?;
        let writers = writers(&manager, "locked connection");
        Ok(Locked { manager, slot: Mutex::new(Slot { conn: Some(conn), closed: false }), writers })
    }

    /// Runs `work` with exclusive use of the connection. It takes no turn
    /// in the file's write queue (other strategies' writers to the file may
    /// make its writes wait in SQLite's busy handler); `write` takes one.
    pub fn with<T>(&self, work: impl FnOnce(&mut M::Connection) -> Result<T>) -> Result<T> {
        self.run(work).map_err(|e| self.manager.explain(e))
    }

    /// `with` without the manager's explanation, for the read and write
    /// paths, which explain their own errors.
    fn run<T>(&self, work: impl FnOnce(&mut M::Connection) -> Result<T>) -> Result<T> {
        let mut slot = self.slot.lock();
        if slot.closed {
            return Err(Error::closed("locked connection"));
        }
        if slot.conn.is_none() {
            // A failed reset dropped the last one: open a fresh one. If that
            // panics (a user's `with_init` hook can), the panic goes on only
            // after the lock is released, as a panic in the work does.
            match catch_unwind(AssertUnwindSafe(|| connect(&self.manager))) {
                Ok(conn) => slot.conn = Some(conn?),
                Err(panic) => {
                    drop(slot);
                    resume_unwind(panic);
                }
            }
        }
        let conn = slot.conn.as_mut().expect("opened above");
        // The panic is caught so that the connection is reset and the lock
        // released before it goes on: the lock is released normally, never
        // during unwinding, so it cannot be poisoned (under loom, whose
        // mutex would be) and the next caller finds a clean connection.
        let outcome = catch_unwind(AssertUnwindSafe(|| work(conn)));
        // The return path is the pool's: reset if needed, discard if that
        // fails, if the connection is broken, or if the manager panics.
        let reuse = check_return(&self.manager, conn, outcome.is_err());
        if !matches!(reuse, Reuse::Keep) {
            slot.conn = None;
        }
        drop(slot);
        let output = outcome.unwrap_or_else(|panic| resume_unwind(panic));
        if let Reuse::Panicked(panic) = reuse {
            resume_unwind(panic);
        }
        output
    }

    /// Closes the connection; later calls fail with a closed error.
    pub fn close(&self) {
        let mut slot = self.slot.lock();
        slot.closed = true;
        slot.conn = None;
        drop(slot);
        self.writers.close();
    }
}

impl<M: Manager> Access for Locked<M> {
    type Connection = M::Connection;

    fn name(&self) -> &str {
        Self::strategy().name
    }

    fn read_with(&self, work: ReadWork<'_, M::Connection>) -> Result<()> {
        self.run(|conn| read_on(&self.manager, conn, work))
    }

    fn write_with(&self, work: WriteWork<'_, M::Connection>) -> Result<()> {
        // The turn first, then the lock: readers never wait behind a writer
        // that is waiting for its turn.
        let _turn = self.writers.turn().map_err(|e| self.manager.explain(e))?;
        self.run(|conn| write_on(&self.manager, conn, work))
    }

    fn state(&self) -> State {
        match self.slot.try_lock() {
            None => State { idle: 0, in_use: 1, waiting: 0 },
            Some(slot) => State { idle: usize::from(slot.conn.is_some()), in_use: 0, waiting: 0 },
        }
    }

    fn close(&self) {
        Locked::close(self)
    }
}

impl<M: Manager> fmt::Debug for Locked<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locked").field("state", &Access::state(self)).finish_non_exhaustive()
    }
}
