//! A fake connection for the model checkers (built only under `cfg(loom)`
//! or `cfg(shuttle)`).
//!
//! loom and shuttle run every model thread as a coroutine on one OS thread,
//! so a real SQLite file lock or busy wait inside a model would hang it. The
//! fake stands in for `rusqlite::Connection` with just enough behaviour to
//! check what the strategies promise:
//!
//! * Its state (transaction open or not, rows inserted in it) lives in a
//!   checked cell ([`ModelCell`], loom's `UnsafeCell` or the shim's for
//!   shuttle), and every operation goes through `with` or `with_mut`. Two
//!   threads using one connection without a happens-before edge between
//!   them make loom fail with `Causality violation`; under shuttle, two
//!   threads inside the cell at once do.
//! * Its [`FakeDatabase`] counts committed rows and has one write lock,
//!   which `begin_immediate` waits for (a condition variable, so loom can
//!   see the wait and report a deadlock), as SQLite with an unbounded busy
//!   timeout would.
//! * Dropping a connection with a transaction open rolls it back and frees
//!   the write lock, as closing a SQLite connection does.
//! * A model can [`inject`](FakeDatabase::inject) a [`Fault`]: opens that
//!   fail or panic, a failing `COMMIT` or `ROLLBACK`, a manager whose
//!   `reset` fails or panics, connections reported broken. The strategies'
//!   failure paths are then explored with the same properties as the happy
//!   path.
//!
//! Like `rusqlite::Connection`, a [`FakeConnection`] is `Send` but not
//! `Sync`.

use crate::error::{Error, ErrorKind, Result};
use crate::manager::{Manager, Transactional};
use std::time::Duration;

use crate::sync::{Arc, Condvar, Mutex, Ordering, UnmodeledArc, UnmodeledAtomicUsize, UnsafeCell};
use crate::write_queue::WriteQueue;

/// The checked cell the fake keeps its state in, for models' own shared
/// state: loom's `UnsafeCell` under loom; under shuttle, one that fails
/// when two threads are inside it at once.
pub type ModelCell<T> = UnsafeCell<T>;

/// The database the fake connections share.
#[derive(Clone, Debug)]
pub struct FakeDatabase {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<DbState>,
    writer_released: Condvar,
    /// The write queue every strategy on this database shares, as
    /// strategies on one real file do.
    queue: UnmodeledArc<WriteQueue>,
    /// How many more times each [`Fault`] fires, by `Fault as usize`.
    faults: [UnmodeledAtomicUsize; Fault::ALL.len()],
}

#[derive(Debug, Default)]
struct DbState {
    committed: usize,
    /// The ids of committed rows inserted with [`FakeConnection::insert_id`].
    committed_ids: Vec<usize>,
    /// The most rows one commit added.
    largest_commit: usize,
    writer_held: bool,
    opened: usize,
    opened_read_write: usize,
    closed: usize,
}

/// A failure a model can inject into the fake connections and their
/// manager. Each fires the next `times` times its operation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `Manager::connect` returns an error, as a failing `with_init` would.
    ConnectFails,
    /// `Manager::connect` panics, as a panicking `with_init` would.
    ConnectPanics,
    /// `COMMIT` fails and leaves the transaction open, as `SQLITE_BUSY` does.
    CommitFails,
    /// `ROLLBACK` fails and leaves the transaction open.
    RollbackFails,
    /// `Manager::reset` fails without touching the connection.
    ResetFails,
    /// `Manager::reset` panics.
    ResetPanics,
    /// `Manager::is_broken` says the connection is broken.
    Broken,
    /// `Manager::is_broken` panics.
    IsBrokenPanics,
}

impl Fault {
    /// Every fault, in declaration order.
    pub const ALL: [Fault; 8] = [
        Fault::ConnectFails,
        Fault::ConnectPanics,
        Fault::CommitFails,
        Fault::RollbackFails,
        Fault::ResetFails,
        Fault::ResetPanics,
        Fault::Broken,
        Fault::IsBrokenPanics,
    ];
}

/// The message of every panic the fake injects; the loom harness keeps
/// panics containing it out of its output.
pub const INJECTED_PANIC: &str = "litepool model: expected panic, injected by the fake";

impl FakeDatabase {
    /// An empty database.
    pub fn new() -> FakeDatabase {
        FakeDatabase::with_queue(WriteQueue::new())
    }

    /// An empty database whose strategies share `queue`.
    pub fn with_queue(queue: WriteQueue) -> FakeDatabase {
        FakeDatabase {
            inner: Arc::new(Inner {
                state: Mutex::new(DbState::default()),
                writer_released: Condvar::new(),
                queue: UnmodeledArc::new(queue),
                faults: Default::default(),
            }),
        }
    }

    /// A manager that opens connections to this database.
    pub fn manager(&self) -> FakeManager {
        FakeManager { db: self.clone(), read_only: false, write_timeout: Duration::from_secs(3600) }
    }

    /// The write queue its strategies share.
    pub fn queue(&self) -> &WriteQueue {
        &self.inner.queue
    }

    /// Rows committed so far.
    pub fn committed(&self) -> usize {
        self.inner.state.lock().committed
    }

    /// The most rows one commit has added so far (a batch's size, for the
    /// group strategy's models).
    pub fn largest_commit(&self) -> usize {
        self.inner.state.lock().largest_commit
    }

    /// Whether the row inserted with `insert_id(id)` is committed.
    pub fn is_committed(&self, id: usize) -> bool {
        self.inner.state.lock().committed_ids.contains(&id)
    }

    /// The ids of the committed rows inserted with `insert_id`, sorted.
    pub fn committed_ids(&self) -> Vec<usize> {
        let mut ids = self.inner.state.lock().committed_ids.clone();
        ids.sort_unstable();
        ids
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

    /// Makes `fault` fire the next `times` times its operation runs.
    pub fn inject(&self, fault: Fault, times: usize) {
        self.inner.faults[fault as usize].store(times, Ordering::SeqCst);
    }

    /// How many more times `fault` will fire: 0 once it has fired as often
    /// as injected (a model checks this, so that it cannot pass by never
    /// reaching the path it was written for).
    pub fn pending(&self, fault: Fault) -> usize {
        self.inner.faults[fault as usize].load(Ordering::SeqCst)
    }

    /// Whether `fault` fires now; counts it down if so.
    fn fires(&self, fault: Fault) -> bool {
        let left = &self.inner.faults[fault as usize];
        left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    fn take_write_lock(&self) {
        let mut state = self.inner.state.lock();
        while state.writer_held {
            state = self.inner.writer_released.wait(state);
        }
        state.writer_held = true;
    }

    /// Adds `rows` to the committed count and frees the write lock.
    fn release_write_lock(&self, rows: usize, ids: Vec<usize>) {
        let mut state = self.inner.state.lock();
        state.committed += rows;
        state.committed_ids.extend(ids);
        state.largest_commit = state.largest_commit.max(rows);
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
    write_timeout: Duration,
}

impl FakeManager {
    /// The same manager, whose writers wait `timeout` for their turn. loom
    /// does not model time: a zero timeout makes every wait for a turn
    /// report a timeout as it is woken, the race a model explores.
    pub fn with_write_timeout(mut self, timeout: Duration) -> FakeManager {
        self.write_timeout = timeout;
        self
    }
}

impl Manager for FakeManager {
    type Connection = FakeConnection;

    fn connect(&self) -> Result<FakeConnection> {
        if self.db.fires(Fault::ConnectFails) {
            return Err(Error::new(ErrorKind::Init, "fake connect failed on purpose"));
        }
        if self.db.fires(Fault::ConnectPanics) {
            panic!("{INJECTED_PANIC}: connect");
        }
        let mut state = self.db.inner.state.lock();
        state.opened += 1;
        state.opened_read_write += usize::from(!self.read_only);
        drop(state);
        Ok(FakeConnection {
            db: self.db.clone(),
            read_only: self.read_only,
            state: UnsafeCell::new(ConnState::default()),
        })
    }

    fn reset(&self, conn: &FakeConnection) -> Result<()> {
        if self.db.fires(Fault::ResetFails) {
            return Err(Error::new(ErrorKind::Sql, "fake reset failed on purpose"));
        }
        if self.db.fires(Fault::ResetPanics) {
            panic!("{INJECTED_PANIC}: reset");
        }
        if conn.in_transaction() { conn.rollback() } else { Ok(()) }
    }

    fn is_broken(&self, conn: &FakeConnection) -> bool {
        if self.db.fires(Fault::IsBrokenPanics) {
            panic!("{INJECTED_PANIC}: is_broken");
        }
        let broken = self.db.fires(Fault::Broken);
        if broken {
            conn.mark_broken();
        }
        broken
    }

    /// Read-only connections to the same database: they refuse writes.
    fn read_only(&self) -> Result<FakeManager> {
        Ok(FakeManager { read_only: true, ..self.clone() })
    }

    fn write_queue(&self) -> Option<UnmodeledArc<WriteQueue>> {
        Some(self.db.inner.queue.clone())
    }

    fn write_timeout(&self) -> Duration {
        self.write_timeout
    }
}

/// A connection the model checker watches for concurrent use.
#[derive(Debug)]
pub struct FakeConnection {
    db: FakeDatabase,
    read_only: bool,
    state: UnsafeCell<ConnState>,
}

#[derive(Debug, Default)]
struct ConnState {
    /// Set when the manager reported it broken: from then on it may only
    /// be closed, and any other use fails the model.
    broken: bool,
    in_transaction: bool,
    /// Whether this connection holds the database's write lock.
    writing: bool,
    pending: usize,
    /// The ids of the pending rows inserted with `insert_id`.
    pending_ids: Vec<usize>,
    /// litepool's savepoint: the pending rows (and ids) when it was opened.
    savepoint: Option<(usize, usize)>,
    /// Whether statements that end the transaction or the savepoint are
    /// refused, as the real connection's authorizer refuses them.
    sealed: bool,
}

impl FakeConnection {
    fn read<R>(&self, f: impl FnOnce(&ConnState) -> R) -> R {
        // SAFETY: loom checks that no write to the state races this read;
        // the connection is not Sync, so only a strategy bug could share it.
        self.state.with(|state| {
            let state = unsafe { &*state };
            assert!(!state.broken, "used a connection its manager reported broken");
            f(state)
        })
    }

    fn write<R>(&self, f: impl FnOnce(&mut ConnState) -> R) -> R {
        // SAFETY: as in `read`; loom reports any concurrent access.
        self.state.with_mut(|state| {
            let state = unsafe { &mut *state };
            assert!(!state.broken, "used a connection its manager reported broken");
            f(state)
        })
    }

    /// Marks the connection broken (it may only be closed from now on).
    fn mark_broken(&self) {
        // SAFETY: as in `read`.
        self.state.with_mut(|state| unsafe { (*state).broken = true });
    }

    /// Inserts one row: into the open transaction, or committed at once.
    pub fn insert(&self) -> Result<()> {
        self.insert_row(None)
    }

    /// Inserts one row with an identity, so that a model can tell whose
    /// rows were committed ([`FakeDatabase::is_committed`]), not just how
    /// many.
    pub fn insert_id(&self, id: usize) -> Result<()> {
        self.insert_row(Some(id))
    }

    fn insert_row(&self, id: Option<usize>) -> Result<()> {
        if self.read_only {
            return Err(Error::new(ErrorKind::ReadOnly, "attempt to write a readonly database"));
        }
        // Exclusive access even to look: an insert is a write to the
        // connection, and two at once must be reported.
        let (in_transaction, writing) = self.write(|s| (s.in_transaction, s.writing));
        if !in_transaction {
            self.db.take_write_lock();
            self.db.release_write_lock(1, id.into_iter().collect());
            return Ok(());
        }
        if !writing {
            // A deferred transaction upgrading to a write.
            self.db.take_write_lock();
        }
        self.write(|s| {
            s.writing = true;
            s.pending += 1;
            s.pending_ids.extend(id);
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

    /// Fails and rolls back the whole open transaction, savepoints and all,
    /// as SQLite does after `SQLITE_FULL` (a `max_page_count` reached).
    pub fn fail_transaction(&self) -> Result<()> {
        self.force_rollback();
        Err(Error::new(ErrorKind::Full, "fake database is full: the whole transaction was rolled back"))
    }

    /// Refuses what the real authorizer refuses while sealed.
    fn check_unsealed(&self, statement: &str) -> Result<()> {
        if self.read(|s| s.sealed) {
            return Err(Error::new(ErrorKind::Sql, format!("not authorized: {statement} while sealed")));
        }
        Ok(())
    }
}

impl Transactional for FakeConnection {
    fn begin_immediate(&self) -> Result<()> {
        self.check_unsealed("BEGIN")?;
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
        self.check_unsealed("COMMIT")?;
        if self.in_transaction() && self.db.fires(Fault::CommitFails) {
            return Err(Error::new(ErrorKind::Busy, "fake commit failed on purpose"));
        }
        if let (true, rows, ids) = self.end_transaction()? {
            self.db.release_write_lock(rows, ids);
        }
        Ok(())
    }

    fn rollback(&self) -> Result<()> {
        self.check_unsealed("ROLLBACK")?;
        if !self.in_transaction() {
            return Err(Error::new(ErrorKind::Sql, "cannot rollback - no transaction is active"));
        }
        if self.db.fires(Fault::RollbackFails) {
            return Err(Error::new(ErrorKind::Sql, "fake rollback failed on purpose"));
        }
        self.force_rollback();
        Ok(())
    }

    fn in_transaction(&self) -> bool {
        self.read(|s| s.in_transaction)
    }

    /// Outside a transaction, as in SQLite, a savepoint begins one (a
    /// deferred one: the write lock is taken by the first insert).
    fn savepoint(&self) -> Result<()> {
        self.write(|s| match s.savepoint {
            None => {
                s.in_transaction = true;
                s.savepoint = Some((s.pending, s.pending_ids.len()));
                Ok(())
            }
            // The group strategy opens one savepoint at a time; a second is
            // its bug.
            Some(_) => Err(Error::new(ErrorKind::Sql, "fake: nested savepoint")),
        })
    }

    fn release_savepoint(&self) -> Result<()> {
        self.check_unsealed("RELEASE")?;
        self.write(|s| match s.savepoint.take() {
            Some(_) => Ok(()),
            None => Err(Error::new(ErrorKind::Sql, "no such savepoint")),
        })
    }

    fn rollback_to_savepoint(&self) -> Result<()> {
        self.check_unsealed("ROLLBACK TO")?;
        if self.db.fires(Fault::RollbackFails) {
            return Err(Error::new(ErrorKind::Sql, "fake rollback to savepoint failed on purpose"));
        }
        self.write(|s| match s.savepoint.take() {
            Some((pending, ids)) => {
                s.pending = pending;
                s.pending_ids.truncate(ids);
                Ok(())
            }
            None => Err(Error::new(ErrorKind::Sql, "no such savepoint")),
        })
    }

    fn seal(&mut self, sealed: bool) -> Result<()> {
        self.write(|s| s.sealed = sealed);
        Ok(())
    }
}

impl FakeConnection {
    /// Rolls back whatever is open, faults or not, broken or not.
    fn force_rollback(&self) {
        // SAFETY: as in `read`.
        let writing = self.state.with_mut(|state| {
            let state = unsafe { &mut *state };
            let writing = state.in_transaction && state.writing;
            (state.in_transaction, state.writing, state.pending, state.savepoint) = (false, false, 0, None);
            state.pending_ids.clear();
            writing
        });
        if writing {
            self.db.release_write_lock(0, Vec::new());
        }
    }

    /// Closes the open transaction, returning whether it held the write
    /// lock, its pending rows and their ids.
    fn end_transaction(&self) -> Result<(bool, usize, Vec<usize>)> {
        self.write(|s| {
            if !s.in_transaction {
                return Err(Error::new(ErrorKind::Sql, "no transaction is active"));
            }
            s.in_transaction = false;
            s.savepoint = None;
            Ok((
                std::mem::take(&mut s.writing),
                std::mem::take(&mut s.pending),
                std::mem::take(&mut s.pending_ids),
            ))
        })
    }
}

impl Drop for FakeConnection {
    /// Closing rolls back an open transaction, as SQLite's close does,
    /// whatever faults are injected: a closed connection holds no lock.
    fn drop(&mut self) {
        self.force_rollback();
        self.db.inner.state.lock().closed += 1;
    }
}
