//! One connection per thread: the tutorial's first pattern.
//!
//! Each thread that uses a `PerThread` gets its own connection, opened on
//! its first call and closed when the thread ends (it lives in a thread-local
//! slot). Connections coordinate only through SQLite's file locks: writers
//! queue inside SQLite's busy handler, which sleeps and polls (1, 2, 5, 10 …
//! ms), so colliding writers cost latency even where throughput holds.
//!
//! The connection is taken out of the thread-local slot while the work runs
//! and put back afterwards, reset like a pool connection if the work left a
//! transaction open. A panic in the work drops the connection, which SQLite
//! rolls back as it closes; the thread's next call opens a fresh one.
//!
//! After `close()`, every call fails; each thread's connection is closed at
//! that thread's next call or when the thread ends, whichever comes first.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;

use crate::access::{Access, Reuse, State, ReadWork, WriteWork, check_return, connect, prepare, read_on, resume_panic, write_on, writers};
use crate::error::{Error, Result};
use crate::manager::Manager;
use crate::strategy::{Connections, Strategy};
use crate::sync::{AtomicBool, AtomicUsize, Ordering, thread_local, unique_id};
use crate::write_queue::Writers;

thread_local! {
    /// This thread's connections, one per `PerThread` instance, by its id.
    static CONNECTIONS: RefCell<Vec<(u64, Box<dyn Any>)>> = RefCell::new(Vec::new());
}

/// One connection per thread, opened on first use.
///
/// ```
/// use litepool::{AccessExt, PerThread, SqliteManager};
///
/// let dir = tempfile::tempdir()?;
/// let db = PerThread::open(SqliteManager::file(dir.path().join("t.db")))?;
/// db.write(|c| Ok(c.execute_batch("CREATE TABLE t (x)")?))?;
/// std::thread::scope(|s| {
///     for i in 0..4 {
///         let db = &db;
///         s.spawn(move || db.write(|c| Ok(c.execute("INSERT INTO t VALUES (?1)", [i])?)));
///     }
/// });
/// let n: i64 = db.read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))?;
/// assert_eq!(n, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PerThread<M: Manager> {
    id: u64,
    manager: M,
    closed: AtomicBool,
    in_use: AtomicUsize,
    writers: Writers,
}

impl<M: Manager> PerThread<M> {
    /// Its entry in the strategy list: one connection per calling thread.
    pub fn strategy() -> Strategy<M> {
        Strategy::new("per-thread", |m, _| Ok(Box::new(PerThread::open(m)?)), Connections::PerThread)
    }

    /// Prepares the database; connections are opened per thread, later.
    pub fn open(manager: M) -> Result<PerThread<M>> {
        prepare(&manager)?;
        Ok(PerThread {
            id: unique_id(),
            writers: writers(&manager, "per-thread connection set"),
            manager,
            closed: AtomicBool::new(false),
            in_use: AtomicUsize::new(0),
        })
    }

    /// Runs `work` with this thread's connection.
    pub fn with<T>(&self, work: impl FnOnce(&M::Connection) -> Result<T>) -> Result<T> {
        let checkout = self.checkout()?;
        work(checkout.conn.as_ref().expect("present until drop"))
    }

    fn checkout(&self) -> Result<Checkout<'_, M>> {
        let conn = self.take_connection();
        // Acquire pairs with close()'s Release: after seeing `closed`, the
        // connection just taken is dropped rather than used.
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::closed("per-thread connection set"));
        }
        let conn = match conn {
            Some(conn) => conn,
            None => connect(&self.manager)?,
        };
        self.in_use.fetch_add(1, Ordering::Relaxed);
        Ok(Checkout { owner: self, conn: Some(conn) })
    }

    fn take_connection(&self) -> Option<M::Connection> {
        CONNECTIONS.with(|slots| {
            let mut slots = slots.borrow_mut();
            let at = slots.iter().position(|(id, _)| *id == self.id)?;
            let (_, conn) = slots.swap_remove(at);
            Some(*conn.downcast().expect("slot ids are unique per instance"))
        })
    }

    /// Closes the set: later calls fail with a closed error.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.writers.close();
        drop(self.take_connection());
    }
}

/// This thread's connection, out of its slot while the work runs.
struct Checkout<'a, M: Manager> {
    owner: &'a PerThread<M>,
    conn: Option<M::Connection>,
}

impl<M: Manager> Drop for Checkout<'_, M> {
    fn drop(&mut self) {
        self.owner.in_use.fetch_sub(1, Ordering::Relaxed);
        let Some(conn) = self.conn.take() else { return };
        if std::thread::panicking() {
            return; // closing the connection rolls back whatever it held
        }
        match check_return(&self.owner.manager, &conn, false) {
            Reuse::Keep => {}
            Reuse::Discard => return,
            Reuse::Panicked(panic) => {
                drop(conn);
                resume_panic(panic);
                return;
            }
        }
        // During thread teardown the slot may be gone; then the connection
        // simply closes here.
        let _ = CONNECTIONS.try_with(|slots| {
            slots.borrow_mut().push((self.owner.id, Box::new(conn)));
        });
    }
}

impl<M: Manager> Drop for PerThread<M> {
    /// Closes the dropping thread's connection now; other threads' close
    /// when those threads end.
    fn drop(&mut self) {
        drop(self.take_connection());
    }
}

impl<M: Manager> Access for PerThread<M> {
    type Connection = M::Connection;

    fn name(&self) -> &str {
        Self::strategy().name
    }

    fn read_with(&self, work: ReadWork<'_, M::Connection>) -> Result<()> {
        let checkout = self.checkout()?;
        read_on(&self.manager, checkout.conn.as_ref().expect("present until drop"), work)
    }

    fn write_with(&self, work: WriteWork<'_, M::Connection>) -> Result<()> {
        let _turn = self.writers.turn().map_err(|e| self.manager.explain(e))?;
        let checkout = self.checkout()?;
        write_on(&self.manager, checkout.conn.as_ref().expect("present until drop"), work)
    }

    /// `in_use` counts calls running now; connections that belong to idle
    /// threads are not counted, as they are not shared.
    fn state(&self) -> State {
        State { idle: 0, in_use: self.in_use.load(Ordering::Relaxed), waiting: 0 }
    }

    fn close(&self) {
        PerThread::close(self)
    }
}

impl<M: Manager> fmt::Debug for PerThread<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerThread")
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
