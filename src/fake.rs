//! A fake connection for the loom models (built only under `cfg(loom)`).
//!
//! loom runs every model thread as a coroutine on one OS thread, so a real
//! SQLite file lock or busy wait inside a model would hang it. The fake
//! stands in for `rusqlite::Connection` with just enough behaviour to check
//! what the strategies promise:
//!
//! * Its state (transaction open or not, rows inserted in it) lives in a
//!   `UnsafeCell` from loom (through `crate::sync`), and every operation goes through `with` or
//!   `with_mut`. Two threads using one connection without a happens-before
//!   edge between them make loom fail with `Causality violation`.
//! * Its [`FakeDatabase`] counts committed rows and has one write lock,
//!   which `begin_immediate` waits for (a condition variable, so loom can
//!   see the wait and report a deadlock), as SQLite with an unbounded busy
//!   timeout would.
//! * Dropping a connection with a transaction open rolls it back and frees
//!   the write lock, as closing a SQLite connection does.
//!
//! Like `rusqlite::Connection`, a [`FakeConnection`] is `Send` but not
//! `Sync`.

use crate::error::{Error, ErrorKind, Result};
use crate::manager::{Manager, Transactional};
use crate::sync::{Arc, Condvar, Mutex, UnsafeCell};

/// The database the fake connections share.
#[derive(Clone, Debug)]
pub struct FakeDatabase {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<DbState>,
    writer_released: Condvar,
}

#[derive(Debug, Default)]
struct DbState {
    committed: usize,
    writer_held: bool,
    opened: usize,
    opened_read_write: usize,
    closed: usize,
    failing_connects: usize,
}

impl FakeDatabase {
    /// An empty database.
    pub fn new() -> FakeDatabase {
        FakeDatabase {
            inner: Arc::new(Inner { state: Mutex::new(DbState::default()), writer_released: Condvar::new() }),
        }
    }

    /// A manager that opens connections to this database.
    pub fn manager(&self) -> FakeManager {
        FakeManager { db: self.clone(), read_only: false }
    }

    /// Rows committed so far.
    pub fn committed(&self) -> usize {
        self.inner.state.lock().committed
    }

    /// Connections opened so far.
    pub fn opened(&self) -> usize {
        self.inner.state.lock().opened
    }

    /// Read-write connections opened so far.
    pub fn opened_read_write(&self) -> usize {
        self.inner.state.lock().opened_read_write
    }

    /// Connections dropped so far.
    pub fn closed(&self) -> usize {
        self.inner.state.lock().closed
    }

    /// Makes the next `n` connection attempts fail, as a failing
    /// `with_init` hook would.
    pub fn fail_connects(&self, n: usize) {
        self.inner.state.lock().failing_connects = n;
    }

    fn take_write_lock(&self) {
        let mut state = self.inner.state.lock();
        while state.writer_held {
            state = self.inner.writer_released.wait(state);
        }
        state.writer_held = true;
    }

    /// Adds `rows` to the committed count and frees the write lock.
    fn release_write_lock(&self, rows: usize) {
        let mut state = self.inner.state.lock();
        state.committed += rows;
        state.writer_held = false;
        drop(state);
        self.inner.writer_released.notify_all();
    }
}

impl Default for FakeDatabase {
    fn default() -> FakeDatabase {
        FakeDatabase::new()
    }
}

/// Opens [`FakeConnection`]s to one [`FakeDatabase`].
#[derive(Clone, Debug)]
pub struct FakeManager {
    db: FakeDatabase,
    read_only: bool,
}

impl Manager for FakeManager {
    type Connection = FakeConnection;

    fn connect(&self) -> Result<FakeConnection> {
        let mut state = self.db.inner.state.lock();
        if state.failing_connects > 0 {
            state.failing_connects -= 1;
            return Err(Error::new(ErrorKind::Init, "fake connect failed on purpose"));
        }
        state.opened += 1;
        state.opened_read_write += usize::from(!self.read_only);
        drop(state);
        Ok(FakeConnection {
            db: self.db.clone(),
            read_only: self.read_only,
            state: UnsafeCell::new(ConnState::default()),
        })
    }

    /// Read-only connections to the same database: they refuse writes.
    fn read_only(&self) -> Result<FakeManager> {
        Ok(FakeManager { db: self.db.clone(), read_only: true })
    }
}

/// A connection that loom watches for concurrent use.
#[derive(Debug)]
pub struct FakeConnection {
    db: FakeDatabase,
    read_only: bool,
    state: UnsafeCell<ConnState>,
}

#[derive(Debug, Default)]
struct ConnState {
    in_transaction: bool,
    /// Whether this connection holds the database's write lock.
    writing: bool,
    pending: usize,
}

impl FakeConnection {
    fn read<R>(&self, f: impl FnOnce(&ConnState) -> R) -> R {
        // SAFETY: loom checks that no write to the state races this read;
        // the connection is not Sync, so only a strategy bug could share it.
        self.state.with(|state| f(unsafe { &*state }))
    }

    fn write<R>(&self, f: impl FnOnce(&mut ConnState) -> R) -> R {
        // SAFETY: as in `read`; loom reports any concurrent access.
        self.state.with_mut(|state| f(unsafe { &mut *state }))
    }

    /// Inserts one row: into the open transaction, or committed at once.
    pub fn insert(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::new(ErrorKind::ReadOnly, "attempt to write a readonly database"));
        }
        // Exclusive access even to look: an insert is a write to the
        // connection, and two at once must be reported.
        let (in_transaction, writing) = self.write(|s| (s.in_transaction, s.writing));
        if !in_transaction {
            self.db.take_write_lock();
            self.db.release_write_lock(1);
            return Ok(());
        }
        if !writing {
            // A deferred transaction upgrading to a write.
            self.db.take_write_lock();
        }
        self.write(|s| {
            s.writing = true;
            s.pending += 1;
        });
        Ok(())
    }

    /// Starts a deferred (read) transaction, as `BEGIN` does.
    pub fn begin_deferred(&self) -> Result<()> {
        self.write(|s| {
            if s.in_transaction {
                return Err(Error::new(ErrorKind::Sql, "cannot start a transaction within a transaction"));
            }
            s.in_transaction = true;
            Ok(())
        })
    }

    /// Whether this connection was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read(|_| self.read_only)
    }

    /// Rows inserted in the open transaction, not yet committed.
    pub fn pending(&self) -> usize {
        self.read(|s| s.pending)
    }

    /// The row count this connection sees: committed rows plus its own
    /// pending ones.
    pub fn count(&self) -> usize {
        self.db.committed() + self.pending()
    }

    /// Fails, as an invalid statement would.
    pub fn fail(&self) -> Result<()> {
        self.read(|_| ());
        Err(Error::new(ErrorKind::Sql, "fake statement failed on purpose"))
    }
}

impl Transactional for FakeConnection {
    fn begin_immediate(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::new(ErrorKind::ReadOnly, "attempt to write a readonly database"));
        }
        if self.in_transaction() {
            return Err(Error::new(ErrorKind::Sql, "cannot start a transaction within a transaction"));
        }
        self.db.take_write_lock();
        self.write(|s| {
            s.in_transaction = true;
            s.writing = true;
        });
        Ok(())
    }

    fn commit(&self) -> Result<()> {
        if let (true, rows) = self.end_transaction()? {
            self.db.release_write_lock(rows);
        }
        Ok(())
    }

    fn rollback(&self) -> Result<()> {
        if let (true, _) = self.end_transaction()? {
            self.db.release_write_lock(0);
        }
        Ok(())
    }

    fn in_transaction(&self) -> bool {
        self.read(|s| s.in_transaction)
    }
}

impl FakeConnection {
    /// Closes the open transaction, returning whether it held the write
    /// lock and its pending rows.
    fn end_transaction(&self) -> Result<(bool, usize)> {
        self.write(|s| {
            if !s.in_transaction {
                return Err(Error::new(ErrorKind::Sql, "no transaction is active"));
            }
            s.in_transaction = false;
            Ok((std::mem::take(&mut s.writing), std::mem::take(&mut s.pending)))
        })
    }
}

impl Drop for FakeConnection {
    /// Closing rolls back an open transaction, as SQLite's close does.
    fn drop(&mut self) {
        if self.in_transaction() {
            let _ = self.rollback();
        }
        self.db.inner.state.lock().closed += 1;
    }
}
