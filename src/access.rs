//! The one interface every strategy implements.
//!
//! [`Access`] has a read path and a write path. The write path always runs
//! the caller's work inside `BEGIN IMMEDIATE … COMMIT`: a deferred
//! transaction that reads and then writes can fail with `SQLITE_BUSY` at
//! once, without the busy handler being called, because waiting could
//! deadlock (SQLITE-FACTS C5). Taking the write lock up front turns that
//! failure into an ordinary wait.
//!
//! `Access` is object safe (`Box<dyn Access<Connection = C>>`), so the test
//! suites, the benchmarks and the stress tool take the list of strategies
//! from [`strategies`](crate::strategies) and are written once. The typed
//! conveniences, [`AccessExt::read`] and [`AccessExt::write`], sit on top.
//!
//! The paths every strategy shares are here too, and public, so that a
//! strategy written outside litepool gets them right the same way:
//! [`prepare`] and [`connect`] (the open path), [`write_on`] and [`read_on`],
//! and [`check_return`] (the return path). The [`Access`] docs show a
//! complete strategy built from them.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::error::{Error, Result};
use crate::manager::{Manager, Transactional};
use crate::write_queue::Writers;

/// A strategy's work callback, as the object-safe methods take it.
pub type Work<'a, C> = &'a mut dyn FnMut(&C) -> Result<()>;

/// A way of giving threads access to SQLite connections.
///
/// Implementations call the work callback exactly once per successful
/// acquisition, never while holding their own bookkeeping lock, and never
/// hand a connection with an open transaction to the next caller.
///
/// A strategy written outside litepool builds on the same shared paths:
/// the [`strategy`](crate::strategy) module says how, with an example.
pub trait Access: Send + Sync {
    /// The connection type the callbacks receive.
    type Connection;

    /// A short, stable name, such as `"pool"`; used in tables and test names.
    fn name(&self) -> &str;

    /// Runs `work` on a connection, outside any transaction litepool opened.
    fn read_with(&self, work: Work<'_, Self::Connection>) -> Result<()>;

    /// Runs `work` on a connection inside `BEGIN IMMEDIATE … COMMIT`; an error
    /// from `work` or a panic rolls the transaction back.
    fn write_with(&self, work: Work<'_, Self::Connection>) -> Result<()>;

    /// Connections idle, in use, and threads waiting, right now.
    fn state(&self) -> State;

    /// Closes the strategy: later calls fail with
    /// [`ErrorKind::Closed`](crate::ErrorKind::Closed).
    fn close(&self);
}

/// Typed `read` and `write` for every [`Access`], `dyn` ones included.
///
/// ```
/// use litepool::{Access, AccessExt, Pool, SqliteManager};
///
/// let dir = tempfile::tempdir()?;
/// let pool = Pool::builder().max_size(2).open(SqliteManager::file(dir.path().join("a.db")))?;
/// pool.write(|c| Ok(c.execute_batch("CREATE TABLE t (x)")?))?;
/// pool.write(|c| Ok(c.execute("INSERT INTO t VALUES (?1)", [7])?))?;
/// let x: i64 = pool.read(|c| Ok(c.query_row("SELECT x FROM t", [], |r| r.get(0))?))?;
/// assert_eq!(x, 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait AccessExt: Access {
    /// Runs `work` on a connection and returns what it returns.
    fn read<T>(&self, work: impl FnOnce(&Self::Connection) -> Result<T>) -> Result<T> {
        once(work, |w| self.read_with(w))
    }

    /// Runs `work` in a write transaction and returns what it returns once
    /// the transaction has committed.
    fn write<T>(&self, work: impl FnOnce(&Self::Connection) -> Result<T>) -> Result<T> {
        once(work, |w| self.write_with(w))
    }
}

impl<A: Access + ?Sized> AccessExt for A {}

/// Adapts a typed `FnOnce` to the object-safe `FnMut` callback.
fn once<C, T>(work: impl FnOnce(&C) -> Result<T>, run: impl FnOnce(Work<'_, C>) -> Result<()>) -> Result<T> {
    let mut work = Some(work);
    let mut output = None;
    run(&mut |conn| {
        let work = work.take().expect("an Access implementation ran the work twice");
        output = Some(work(conn)?);
        Ok(())
    })?;
    Ok(output.expect("an Access implementation returned Ok without running the work"))
}

/// A snapshot of a strategy's connections.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Open connections that nobody holds.
    pub idle: usize,
    /// Connections held by a caller, or being opened for one.
    pub in_use: usize,
    /// Threads waiting for a connection.
    pub waiting: usize,
}

impl State {
    /// A snapshot, for strategies written outside litepool.
    pub fn new(idle: usize, in_use: usize, waiting: usize) -> State {
        State { idle, in_use, waiting }
    }
}

/// The open path, first half: prepares the database once, before a
/// strategy opens its first connection (for [`SqliteManager`], checks the
/// path and sets the journal mode), with errors explained by the manager.
///
/// [`SqliteManager`]: crate::SqliteManager
pub fn prepare<M: Manager>(manager: &M) -> Result<()> {
    manager.prepare().map_err(|e| manager.explain(e))
}

/// The open path, second half: a new connection, with its per-connection
/// setup, and errors explained by the manager (a busy error names the busy
/// timeout), as the write path's are.
pub fn connect<M: Manager>(manager: &M) -> Result<M::Connection> {
    manager.connect().map_err(|e| manager.explain(e))
}

/// The write turn: `manager`'s place in its database's write queue, with
/// its write timeout, for the strategy called `what` (named in its errors).
/// Every write path takes a [`Turn`](crate::strategy::Turn) from it before
/// it asks for a connection to write on. Call it after [`prepare`], when
/// the database file exists.
pub fn writers<M: Manager>(manager: &M, what: &'static str) -> Writers {
    Writers::new(manager.write_queue(), manager.write_timeout(), what)
}

/// The write path shared by every strategy: `BEGIN IMMEDIATE`, the work,
/// `COMMIT`; on any error, `ROLLBACK` if a transaction is still open. A panic
/// in `work` leaves the transaction open for the strategy's return path
/// ([`check_return`]), which resets the connection before anyone else can
/// use it. Work that ends the transaction itself (its own `COMMIT` or
/// `ROLLBACK`, say) fails with an error that says so, and is not
/// acknowledged. Errors are explained by the manager.
pub fn write_on<M: Manager>(manager: &M, conn: &M::Connection, work: Work<'_, M::Connection>) -> Result<()> {
    conn.begin_immediate().map_err(|e| manager.explain(e))?;
    let result = work(conn).and_then(|()| {
        // The work may have ended the transaction itself: a COMMIT or
        // ROLLBACK of its own, a trigger's RAISE(ROLLBACK), or SQLite rolling
        // back after SQLITE_FULL while the work ignored the error. Whatever
        // ran after that ran in autocommit, one statement at a time, so the
        // write was not one atomic transaction and is not acknowledged as one.
        if !conn.in_transaction() {
            return Err(Error::transaction_ended_by_work());
        }
        conn.commit()
    });
    if result.is_err() && conn.in_transaction() {
        // The original error is the one worth reporting; if the rollback
        // fails too, the return path's reset discards the connection.
        let _ = conn.rollback();
    }
    result.map_err(|e| manager.explain(e))
}

/// The read path: the work, outside any transaction litepool opened, with
/// errors explained by the manager.
pub fn read_on<M: Manager>(manager: &M, conn: &M::Connection, work: Work<'_, M::Connection>) -> Result<()> {
    work(conn).map_err(|e| manager.explain(e))
}

/// What a strategy does with a connection a caller gives back, as
/// [`check_return`] decides.
#[derive(Debug)]
pub enum Reuse {
    /// Clean: hand it to the next caller.
    Keep,
    /// Its reset failed, or the manager says it is broken: close it.
    Discard,
    /// The manager's `reset` or `is_broken` panicked: close it, restore the
    /// strategy's bookkeeping, then resume the panic (unless the thread is
    /// already unwinding, where a second panic would abort the process).
    Panicked(Box<dyn Any + Send>),
}

/// The return path shared by every strategy: reset `conn` if it is still in
/// a transaction or `force_reset` is set (its caller panicked), then ask the
/// manager whether it is broken. Panics in the manager's callbacks are
/// caught and returned as [`Reuse::Panicked`], so that no strategy loses a
/// slot or a lock to them: restore your bookkeeping, then call
/// [`resume_panic`].
pub fn check_return<M: Manager>(manager: &M, conn: &M::Connection, force_reset: bool) -> Reuse {
    let verdict = catch_unwind(AssertUnwindSafe(|| {
        let needs_reset = force_reset || conn.in_transaction();
        (!needs_reset || manager.reset(conn).is_ok()) && !manager.is_broken(conn)
    }));
    match verdict {
        Ok(true) => Reuse::Keep,
        Ok(false) => Reuse::Discard,
        Err(panic) => Reuse::Panicked(panic),
    }
}

/// Resumes a panic caught in a manager callback, unless this thread is
/// already unwinding from another one (the caller's), which then wins.
pub fn resume_panic(panic: Box<dyn Any + Send>) {
    if !std::thread::panicking() {
        resume_unwind(panic);
    }
}
