//! A fake connection for the model checkers, checked against SQLite.
//!
//! loom and shuttle run every model thread as a coroutine on one OS thread,
//! so a real SQLite file lock or busy wait inside a model would hang it. The
//! fake stands in for `rusqlite::Connection` with just enough behaviour to
//! check what the strategies promise:
//!
//! * Its state (transaction open or not, rows inserted in it) lives in a
//!   checked cell (`ModelCell`: loom's `UnsafeCell`, or the shim's for
//!   shuttle; in a normal build, std's, unchecked), and every operation
//!   goes through `with` or `with_mut`. Two threads using one connection
//!   without a happens-before edge between them make loom fail with
//!   `Causality violation`; under shuttle, two threads inside the cell at
//!   once do.
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
//! * Transactions and savepoints behave as SQLite's do: a stack of named
//!   savepoints (`SAVEPOINT` outside a transaction begins one, `RELEASE`
//!   of the savepoint that began it commits, `ROLLBACK TO` keeps the
//!   savepoint), and the errors SQLite gives (`cannot commit - no
//!   transaction is active`, `no such savepoint`, …).
//! * Statements have a cache, as rusqlite's `prepare_cached` does: litepool's
//!   own transaction statements ([`Transactional`]) and the work's
//!   ([`FakeConnection::execute_cached`]) share it, keyed by statement;
//!   litepool's savepoint statements are prepared afresh, as the real
//!   connection's are. The seal is an authorizer, consulted when a
//!   statement is *prepared*, as SQLite's is, which asks the batch's
//!   [`Seal`] (the same policy code the real authorizer asks); setting or
//!   removing the authorizer expires every prepared statement, so a cached
//!   one is prepared again (and checked) the next time it runs. A model
//!   therefore sees what SQLite does with a `COMMIT` cached before the
//!   batch, and with a statement one sealed caller cached and the next
//!   runs.
//! * Rows have ids, unique as a primary key's are: inserting an id twice
//!   fails with a constraint error; `INSERT OR ROLLBACK` of a duplicate
//!   rolls the whole transaction back.
//!
//! `tests/fidelity.rs` runs random sequences of these operations through
//! a fake and a real SQLite connection and compares every result, the
//! transaction state and the rows another connection sees.
//!
//! **What it does not model**, so no model may depend on it: a schema
//! (no DDL; SQLite also expires statements on a schema change, which only
//! makes more statements be checked again), the cache's capacity (rusqlite
//! evicts the least recently used of 16; the fake keeps every statement,
//! which keeps a stale one available longer than SQLite would: a model is
//! the more pessimistic for it), reads' snapshots (a reader sees committed
//! rows at once), `SQLITE_BUSY` (the write lock is waited for without a
//! timeout), error messages beyond their kind, and `BEGIN` on a read-only
//! connection (refused at once; SQLite refuses the first write).
//!
//! Like `rusqlite::Connection`, a [`FakeConnection`] is `Send` but not
//! `Sync`. Built under the model checkers, and in normal builds for the
//! fidelity test; nothing in the library uses it.

use crate::error::{Error, ErrorKind, Result};
use crate::manager::{Guarded, MEMBER_SAVEPOINT, Manager, Seal, Stop, Transactional};
use std::time::Duration;

use crate::sync::{Arc, Condvar, Mutex, Ordering, UnmodeledArc, UnmodeledAtomicUsize, UnsafeCell};
use crate::write_queue::WriteQueue;

/// The checked cell the fake keeps its state in, for models' own shared
/// state: loom's `UnsafeCell` under loom; under shuttle, one that fails
/// when two threads are inside it at once.
#[cfg(any(loom, shuttle))]
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
    /// How its connections seal (see [`SealModel`]).
    seal_model: SealModel,
}

/// How a fake connection's seal works: as litepool's does now, or as it
/// did before issue 21, for the planted model that shows the difference
/// matters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SealModel {
    /// litepool's seal: `install_seal` sets an authorizer that asks the
    /// batch's [`Seal`] about every statement prepared, and
    /// `remove_seal` removes it; either expires every prepared statement.
    #[default]
    Current,
    /// The seal before issue 21: the authorizer is set once, at the first
    /// `install_seal`, and never removed, so nothing is expired again: a
    /// statement prepared lifted and cached (litepool's own `COMMIT` at the
    /// end of a batch) runs sealed, unchecked, in a later batch.
    InstalledOnce,
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

    /// Makes its connections seal as `model` says (before they are opened).
    pub fn seal_like(&self, model: SealModel) {
        self.inner.state.lock().seal_model = model;
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

    /// Whether row `id` is committed (for the uniqueness of ids).
    fn holds(&self, id: usize) -> bool {
        self.inner.state.lock().committed_ids.contains(&id)
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
        let seal_model = state.seal_model;
        drop(state);
        Ok(FakeConnection {
            db: self.db.clone(),
            read_only: self.read_only,
            state: UnsafeCell::new(ConnState { seal_model, ..ConnState::default() }),
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

/// A statement that controls transactions, as the work or litepool runs
/// it. Savepoint names compare without case, as SQLite's do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statement {
    /// `BEGIN` (deferred).
    Begin,
    /// `BEGIN IMMEDIATE` (litepool's write path).
    BeginImmediate,
    /// `COMMIT` (also `END`).
    Commit,
    /// `ROLLBACK`.
    Rollback,
    /// `SAVEPOINT name`.
    Savepoint(&'static str),
    /// `RELEASE name`.
    Release(&'static str),
    /// `ROLLBACK TO name`.
    RollbackTo(&'static str),
}

impl Statement {
    /// Its SQL text, as litepool and the fidelity test run it.
    pub fn sql(self) -> String {
        match self {
            Statement::Begin => "BEGIN".to_owned(),
            Statement::BeginImmediate => "BEGIN IMMEDIATE".to_owned(),
            Statement::Commit => "COMMIT".to_owned(),
            Statement::Rollback => "ROLLBACK".to_owned(),
            Statement::Savepoint(name) => format!("SAVEPOINT {name}"),
            Statement::Release(name) => format!("RELEASE {name}"),
            Statement::RollbackTo(name) => format!("ROLLBACK TO {name}"),
        }
    }
}

#[derive(Debug, Default)]
struct ConnState {
    /// Set when the manager reported it broken: from then on it may only
    /// be closed, and any other use fails the model.
    broken: bool,
    in_transaction: bool,
    /// Whether the open transaction was begun by a `SAVEPOINT` (whose
    /// `RELEASE` then commits), not by `BEGIN`.
    begun_by_savepoint: bool,
    /// Whether this connection holds the database's write lock.
    writing: bool,
    pending: usize,
    /// The ids of the pending rows inserted with `insert_id`.
    pending_ids: Vec<usize>,
    /// Open savepoints, oldest first: a name, and the pending rows (and
    /// ids) when it was opened.
    savepoints: Vec<(&'static str, usize, usize)>,
    seal_model: SealModel,
    /// The authorizer: the seal it asks, while one is installed. (Under
    /// [`SealModel::InstalledOnce`], `authorizer` says whether one was ever
    /// installed.)
    seal: Option<Seal>,
    authorizer: bool,
    /// Bumped whenever the authorizer is set or removed: statements
    /// prepared in an older epoch are prepared again before they run.
    epoch: u64,
    /// The statement cache: each statement and the epoch it was prepared in.
    cache: Vec<(Statement, u64)>,
    /// The stop [`Transactional::install_stop`] installed: while it is
    /// raised, every statement fails as interrupted.
    stop: Option<Stop>,
}

impl ConnState {
    /// What the authorizer says of preparing `statement` now (recording a
    /// savepoint the sealed work opens).
    fn authorize(&mut self, statement: Statement) -> Result<()> {
        let guarded = match statement {
            Statement::Begin | Statement::BeginImmediate | Statement::Commit | Statement::Rollback => {
                Guarded::Transaction
            }
            Statement::Savepoint(name) => Guarded::Savepoint(name),
            Statement::Release(name) | Statement::RollbackTo(name) => Guarded::EndSavepoint(name),
        };
        let refused = self.seal.as_ref().is_some_and(|seal| !seal.allows(guarded));
        if refused {
            return Err(Error::new(
                ErrorKind::Sql,
                format!("not authorized: {} while sealed", statement.sql()),
            ));
        }
        Ok(())
    }

    /// Prepares `statement` through the cache, and (if `runs`) steps it:
    /// a statement cached in the current epoch runs as it was prepared,
    /// unchecked; one prepared before the authorizer last changed is
    /// prepared (checked) again when it steps, as SQLite re-prepares an
    /// expired statement; a refused one is not cached.
    fn prepare_cached(&mut self, statement: Statement, runs: bool) -> Result<()> {
        let epoch = self.epoch;
        match self.cache.iter().position(|(cached, _)| *cached == statement) {
            Some(at) if self.cache[at].1 == epoch || !runs => Ok(()),
            Some(at) => {
                self.authorize(statement)?;
                self.cache[at].1 = epoch;
                Ok(())
            }
            None => {
                self.authorize(statement)?;
                self.cache.push((statement, epoch));
                Ok(())
            }
        }
    }

    /// The most recent open savepoint called `name`.
    fn find_savepoint(&self, name: &str) -> Result<usize> {
        self.savepoints
            .iter()
            .rposition(|(open, _, _)| open.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::new(ErrorKind::Sql, format!("no such savepoint: {name}")))
    }
}

/// What running a statement did to the transaction.
enum Ended {
    /// Nothing ended.
    No,
    /// The transaction committed: its rows and ids, whether it held the
    /// write lock.
    Committed(bool, usize, Vec<usize>),
    /// The transaction rolled back.
    RolledBack,
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
        self.insert_row(None, false)
    }

    /// Inserts one row with an identity, so that a model can tell whose
    /// rows were committed ([`FakeDatabase::is_committed`]), not just how
    /// many. An id already stored, or pending in this transaction, fails
    /// with [`ErrorKind::Constraint`] and changes nothing, as a primary
    /// key's does.
    pub fn insert_id(&self, id: usize) -> Result<()> {
        self.insert_row(Some(id), false)
    }

    /// `INSERT OR ROLLBACK`: inserts row `id`, or, if the id is taken,
    /// rolls the whole open transaction back and fails with
    /// [`ErrorKind::Constraint`].
    pub fn insert_or_rollback(&self, id: usize) -> Result<()> {
        self.insert_row(Some(id), true)
    }

    fn insert_row(&self, id: Option<usize>, or_rollback: bool) -> Result<()> {
        if self.read_only {
            return Err(Error::new(ErrorKind::ReadOnly, "attempt to write a readonly database"));
        }
        if self.stopped() {
            // SQLite rolls back the whole transaction when a write
            // statement inside one is interrupted.
            self.force_rollback();
            return Err(interrupted());
        }
        // Exclusive access even to look: an insert is a write to the
        // connection, and two at once must be reported.
        let (in_transaction, writing) = self.write(|s| (s.in_transaction, s.writing));
        if !writing {
            // Autocommit, or a deferred transaction upgrading to a write:
            // a transaction keeps the lock even if the insert fails, as
            // SQLite's keeps its RESERVED lock.
            self.db.take_write_lock();
        }
        let committed = id.is_some_and(|id| self.db.holds(id));
        // Two accesses to the connection per insert, as before the fake had
        // ids: each is a scheduling point of the models.
        let taken = self.write(|s| {
            s.writing |= in_transaction;
            let taken = committed || id.is_some_and(|id| s.pending_ids.contains(&id));
            if !taken && in_transaction {
                s.pending += 1;
                s.pending_ids.extend(id);
            }
            taken
        });
        if taken {
            if or_rollback && in_transaction {
                self.force_rollback();
            } else if !in_transaction {
                self.db.release_write_lock(0, Vec::new());
            }
            return Err(Error::new(ErrorKind::Constraint, "UNIQUE constraint failed: the id is taken"));
        }
        if !in_transaction {
            self.db.release_write_lock(1, id.into_iter().collect());
        }
        Ok(())
    }

    /// Starts a deferred (read) transaction, as `BEGIN` does.
    pub fn begin_deferred(&self) -> Result<()> {
        self.execute(Statement::Begin)
    }

    /// Reads (a `SELECT`): fails as interrupted while the connection's
    /// stop is raised, leaving any transaction open, as SQLite does for an
    /// interrupted read; otherwise returns the row count it sees.
    pub fn query(&self) -> Result<usize> {
        if self.stopped() {
            return Err(interrupted());
        }
        Ok(self.count())
    }

    /// Whether the installed stop is raised (looked at outside the
    /// connection's state: the stop is an atomic shared with the
    /// canceller, so each look is a scheduling point of its own).
    fn stopped(&self) -> bool {
        self.read(|s| s.stop.clone()).is_some_and(|stop| stop.is_raised())
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

    /// Prepares `statement` freshly (the authorizer is asked now) and runs
    /// it, as `Connection::execute` does.
    pub fn execute(&self, statement: Statement) -> Result<()> {
        let in_transaction = self.write(|s| s.authorize(statement).map(|()| s.in_transaction))?;
        self.run(statement, in_transaction)
    }

    /// Runs `statement` through the statement cache, as
    /// `prepare_cached(..)?.execute([])` does: the cache litepool's own
    /// statements are in.
    pub fn execute_cached(&self, statement: Statement) -> Result<()> {
        let in_transaction = self.write(|s| s.prepare_cached(statement, true).map(|()| s.in_transaction))?;
        self.run(statement, in_transaction)
    }

    /// Prepares `statement` into the cache without running it.
    pub fn prepare_cached(&self, statement: Statement) -> Result<()> {
        self.write(|s| s.prepare_cached(statement, false))
    }

    /// Runs a prepared `statement` as SQLite would; `in_transaction` is the
    /// state it was prepared in (read in the same access, so that a
    /// statement costs the models two scheduling points, not four).
    fn run(&self, statement: Statement, in_transaction: bool) -> Result<()> {
        if self.read_only && statement == Statement::BeginImmediate {
            return Err(Error::new(ErrorKind::ReadOnly, "attempt to write a readonly database"));
        }
        // SQLite takes the write lock before it looks at the transaction
        // state; it is given back if the statement fails.
        let locks = statement == Statement::BeginImmediate && !in_transaction;
        if locks {
            self.db.take_write_lock();
        }
        if statement == Statement::Commit && in_transaction && self.db.fires(Fault::CommitFails) {
            return Err(Error::new(ErrorKind::Busy, "fake commit failed on purpose"));
        }
        let rollback_fault = matches!(statement, Statement::Rollback | Statement::RollbackTo(_));
        if rollback_fault && in_transaction && self.db.fires(Fault::RollbackFails) {
            return Err(Error::new(ErrorKind::Sql, "fake rollback failed on purpose"));
        }
        let ended = self.write(|s| -> Result<Ended> {
            let no_transaction = |what: &str| {
                Err(Error::new(ErrorKind::Sql, format!("cannot {what} - no transaction is active")))
            };
            match statement {
                Statement::Begin | Statement::BeginImmediate => {
                    if s.in_transaction {
                        return Err(Error::new(
                            ErrorKind::Sql,
                            "cannot start a transaction within a transaction",
                        ));
                    }
                    s.in_transaction = true;
                    s.writing = statement == Statement::BeginImmediate;
                    Ok(Ended::No)
                }
                Statement::Commit if !s.in_transaction => no_transaction("commit"),
                Statement::Rollback if !s.in_transaction => no_transaction("rollback"),
                Statement::Commit => Ok(s.end(true)),
                Statement::Rollback => Ok(s.end(false)),
                Statement::Savepoint(name) => {
                    if !s.in_transaction {
                        (s.in_transaction, s.begun_by_savepoint) = (true, true);
                    }
                    s.savepoints.push((name, s.pending, s.pending_ids.len()));
                    Ok(Ended::No)
                }
                Statement::Release(name) => {
                    let at = s.find_savepoint(name)?;
                    s.savepoints.truncate(at);
                    Ok(if s.savepoints.is_empty() && s.begun_by_savepoint { s.end(true) } else { Ended::No })
                }
                Statement::RollbackTo(name) => {
                    let at = s.find_savepoint(name)?;
                    let (_, pending, ids) = s.savepoints[at];
                    s.savepoints.truncate(at + 1);
                    s.pending = pending;
                    s.pending_ids.truncate(ids);
                    Ok(Ended::No)
                }
            }
        });
        match ended {
            Ok(Ended::Committed(true, rows, ids)) => self.db.release_write_lock(rows, ids),
            Ok(Ended::RolledBack) => self.db.release_write_lock(0, Vec::new()),
            Ok(_) => {}
            Err(e) => {
                if locks {
                    self.db.release_write_lock(0, Vec::new());
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

impl ConnState {
    /// Ends the open transaction (committing or not), returning what the
    /// database must learn of it.
    fn end(&mut self, commit: bool) -> Ended {
        let writing = std::mem::take(&mut self.writing);
        let (rows, ids) = (std::mem::take(&mut self.pending), std::mem::take(&mut self.pending_ids));
        (self.in_transaction, self.begun_by_savepoint) = (false, false);
        self.savepoints.clear();
        match (commit, writing) {
            (true, _) => Ended::Committed(writing, rows, ids),
            (false, true) => Ended::RolledBack,
            (false, false) => Ended::No,
        }
    }
}

/// litepool's own statements run as the real connection's do
/// (`src/manager.rs`): its transaction statements through the cache, its
/// savepoint statements prepared afresh.
impl Transactional for FakeConnection {
    fn begin_immediate(&self) -> Result<()> {
        self.execute_cached(Statement::BeginImmediate)
    }

    fn commit(&self) -> Result<()> {
        self.execute_cached(Statement::Commit)
    }

    fn rollback(&self) -> Result<()> {
        self.execute_cached(Statement::Rollback)
    }

    fn in_transaction(&self) -> bool {
        self.read(|s| s.in_transaction)
    }

    fn savepoint(&self) -> Result<()> {
        self.execute(Statement::Savepoint(MEMBER_SAVEPOINT))
    }

    fn release_savepoint(&self) -> Result<()> {
        self.execute(Statement::Release(MEMBER_SAVEPOINT))
    }

    fn rollback_to_savepoint(&self) -> Result<()> {
        self.execute(Statement::RollbackTo(MEMBER_SAVEPOINT))?;
        self.release_savepoint()
    }

    fn install_seal(&mut self, seal: &Seal) -> Result<()> {
        self.write(|s| {
            if s.seal_model == SealModel::Current || !s.authorizer {
                s.epoch += 1;
            }
            s.authorizer = true;
            s.seal = Some(seal.clone());
        });
        Ok(())
    }

    fn remove_seal(&mut self) -> Result<()> {
        self.write(|s| {
            if s.seal_model == SealModel::Current {
                s.seal = None;
                s.epoch += 1;
            }
        });
        Ok(())
    }

    fn install_stop(&mut self, stop: &Stop) -> Result<()> {
        self.write(|s| s.stop = Some(stop.clone()));
        Ok(())
    }
}

impl FakeConnection {
    /// Rolls back whatever is open, faults or not, broken or not.
    fn force_rollback(&self) {
        // SAFETY: as in `read`.
        let writing = self.state.with_mut(|state| {
            let state = unsafe { &mut *state };
            matches!(state.end(false), Ended::RolledBack)
        });
        if writing {
            self.db.release_write_lock(0, Vec::new());
        }
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

/// What an interrupted statement returns (`SQLITE_INTERRUPT`).
fn interrupted() -> Error {
    Error::new(ErrorKind::Sql, "interrupted")
}
