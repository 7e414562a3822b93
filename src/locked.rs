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

use crate::access::{Access, State, Work, read_on, write_on};
use crate::error::{Error, Result};
use crate::manager::{Manager, Transactional};
use crate::sync::{Mutex, MutexGuard};

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
}

struct Slot<C> {
    /// `None` after a failed reset or `close()`.
    conn: Option<C>,
    closed: bool,
}

impl<M: Manager> Locked<M> {
    /// Prepares the database and opens the one connection.
    pub fn open(manager: M) -> Result<Locked<M>> {
        manager.prepare()?;
        let conn = manager.connect()?;
        Ok(Locked {
            manager,
            slot: Mutex::new(Slot {
                conn: Some(conn),
                closed: false,
            }),
        })
    }

    /// Runs `work` with exclusive use of the connection.
    pub fn with<T>(&self, work: impl FnOnce(&mut M::Connection) -> Result<T>) -> Result<T> {
        let mut slot = self.lock()?;
        let conn = slot.conn.as_mut().expect("lock() ensures a connection");
        work(conn)
    }

    /// Locks the slot, reopening the connection if a failed reset dropped it.
    fn lock(&self) -> Result<Restore<'_, M>> {
        let mut slot = self.slot.lock();
        if slot.closed {
            return Err(Error::closed("locked connection"));
        }
        if slot.conn.is_none() {
            slot.conn = Some(self.manager.connect()?);
        }
        Ok(Restore {
            slot,
            manager: &self.manager,
        })
    }

    /// Closes the connection; later calls fail with a closed error.
    pub fn close(&self) {
        let mut slot = self.slot.lock();
        slot.closed = true;
        slot.conn = None;
    }
}

/// Holds the lock and, on the way out, rolls back any transaction the work
/// left open, so that the next caller never sees it.
struct Restore<'a, M: Manager> {
    slot: MutexGuard<'a, Slot<M::Connection>>,
    manager: &'a M,
}

impl<M: Manager> std::ops::Deref for Restore<'_, M> {
    type Target = Slot<M::Connection>;

    fn deref(&self) -> &Slot<M::Connection> {
        &self.slot
    }
}

impl<M: Manager> std::ops::DerefMut for Restore<'_, M> {
    fn deref_mut(&mut self) -> &mut Slot<M::Connection> {
        &mut self.slot
    }
}

impl<M: Manager> Drop for Restore<'_, M> {
    fn drop(&mut self) {
        let Some(conn) = &self.slot.conn else { return };
        let fit = !(std::thread::panicking() || conn.in_transaction())
            || self.manager.reset(conn).is_ok();
        if !fit || self.manager.is_broken(conn) {
            self.slot.conn = None;
        }
    }
}

impl<M: Manager> Access for Locked<M> {
    type Connection = M::Connection;

    fn name(&self) -> &str {
        "locked"
    }

    fn read_with(&self, work: Work<'_, M::Connection>) -> Result<()> {
        let slot = self.lock()?;
        read_on(
            &self.manager,
            slot.conn.as_ref().expect("lock() ensures a connection"),
            work,
        )
    }

    fn write_with(&self, work: Work<'_, M::Connection>) -> Result<()> {
        let slot = self.lock()?;
        write_on(
            &self.manager,
            slot.conn.as_ref().expect("lock() ensures a connection"),
            work,
        )
    }

    fn state(&self) -> State {
        match self.slot.try_lock() {
            None => State {
                idle: 0,
                in_use: 1,
                waiting: 0,
            },
            Some(slot) => State {
                idle: usize::from(slot.conn.is_some()),
                in_use: 0,
                waiting: 0,
            },
        }
    }

    fn close(&self) {
        Locked::close(self)
    }
}

impl<M: Manager> fmt::Debug for Locked<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locked")
            .field("state", &Access::state(self))
            .finish_non_exhaustive()
    }
}
