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

/// A read's work callback, as the object-safe [`Access::read_with`] takes
/// it. It runs on the caller's thread.
pub type ReadWork<'a, C> = &'a mut dyn FnMut(&C) -> Result<()>;

/// A write's work callback, as the object-safe [`Access::write_with`] takes
/// it. It is `Send` because a batching strategy may run it on another
/// caller's thread ([`GroupCommit`](crate::GroupCommit) does), while its
/// caller waits for it; it borrows from the caller's stack (no `'static`).
pub type WriteWork<'a, C> = &'a mut (dyn FnMut(&C) -> Result<()> + Send);

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
    fn read_with(&self, work: ReadWork<'_, Self::Connection>) -> Result<()>;

    /// Runs `work` on a connection inside `BEGIN IMMEDIATE … COMMIT`; an error
    /// from `work` or a panic rolls the transaction back.
    fn write_with(&self, work: WriteWork<'_, Self::Connection>) -> Result<()>;

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
        let (mut work, mut output) = (Some(work), None);
        self.read_with(&mut |conn| run_once(&mut work, &mut output, conn))?;
        returned(output)
    }

    /// Runs `work` in a write transaction and returns what it returns once
    /// the transaction has committed. The work may run on another thread
    /// (a batching strategy runs queued callers' work on the thread that
    /// holds the writer), hence `Send`; work that needs a thread-bound
    /// value (an `Rc`, a `RefCell`) takes a connection directly instead
    /// (`Pool::get`, `Locked::with`, …).
    fn write<T: Send>(&self, work: impl FnOnce(&Self::Connection) -> Result<T> + Send) -> Result<T> {
        let (mut work, mut output) = (Some(work), None);
        self.write_with(&mut |conn| run_once(&mut work, &mut output, conn))?;
        returned(output)
    }
}

impl<A: Access + ?Sized> AccessExt for A {}

/// Runs a typed `FnOnce` as the object-safe `FnMut` callbacks are called:
/// once, keeping what it returns.
fn run_once<C, T>(
    work: &mut Option<impl FnOnce(&C) -> Result<T>>,
    output: &mut Option<T>,
    conn: &C,
) -> Result<()> {
    let work = work.take().expect("an Access implementation ran the work twice");
    *output = Some(work(conn)?);
    Ok(())
}

/// What the work returned, once the strategy said Ok.
fn returned<T>(output: Option<T>) -> Result<T> {
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
pub fn write_on<M: Manager>(
    manager: &M,
    conn: &M::Connection,
    work: WriteWork<'_, M::Connection>,
) -> Result<()> {
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
pub fn read_on<M: Manager>(
    manager: &M,
    conn: &M::Connection,
    work: ReadWork<'_, M::Connection>,
) -> Result<()> {
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
