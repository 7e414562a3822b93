//! One writer, many readers: the split SQLite's design favours.
//!
//! SQLite admits one writer at a time, and in WAL mode readers and the
//! writer do not block each other. A pool of interchangeable connections
//! makes writers collide *inside* SQLite, where they sleep and poll in the
//! busy handler (1, 2, 5, 10 … ms) or fail with `SQLITE_BUSY`. `SplitPool`
//! keeps exactly one read-write connection behind a mutex, so writers queue
//! in-process and are woken the moment the lock is free, and hands reads to
//! a bounded pool of read-only connections (`SQLITE_OPEN_READ_ONLY` plus
//! `PRAGMA query_only`), which never take the write lock.
//!
//! It is built from the other two strategies, and inherits their return
//! paths: the writer is a [`Locked`], the readers a [`Pool`].
//!
//! WAL is required, and that is checked rather than assumed: in a rollback
//! journal a reader blocks the writer's commit and a pending commit blocks
//! new readers, so splitting them gains nothing. With [`SqliteManager`]'s
//! default the database is switched to WAL once, at open; a manager set to
//! another journal mode (or to keep the database's own) is refused with a
//! [`Config`](crate::ErrorKind::Config) error that says so.
//!
//! [`SqliteManager`]: crate::SqliteManager

use std::fmt;
use std::marker::PhantomData;

use crate::access::{Access, State, ReadWork, WriteWork};
use crate::error::Result;
use crate::locked::Locked;
use crate::manager::Manager;
use crate::pool::Pool;
use crate::strategy::{Connections, Strategy};

/// One writer connection behind a mutex, and a pool of read-only readers.
///
/// ```
/// use litepool::{AccessExt, SplitPool, SqliteManager};
///
/// let dir = tempfile::tempdir()?;
/// let db = SplitPool::builder().readers(4).open(SqliteManager::file(dir.path().join("s.db")))?;
/// db.write(|c| Ok(c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")?))?;
/// let n: i64 = db.read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))?;
/// assert_eq!(n, 1);
/// // Reads cannot write, even by mistake.
/// assert!(db.read(|c| Ok(c.execute("INSERT INTO t VALUES (2)", [])?)).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SplitPool<M: Manager> {
    writer: Locked<M>,
    readers: Pool<M>,
}

/// The two sides of a [`SplitPool`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitState {
    /// The writer: `in_use` is 1 while a write runs.
    pub writer: State,
    /// The reader pool.
    pub readers: State,
}

impl<M: Manager> SplitPool<M> {
    /// Its entry in the strategy list: `pool_size` readers and the writer;
    /// reads wait for a reader inside the pool.
    pub fn strategy() -> Strategy<M> {
        Strategy::new(
            "split",
            |m, s| Ok(Box::new(SplitPool::builder().readers(s.pool_size).open(m)?)),
            Connections::AtMost(|s| s.pool_size + 1),
        )
        .wal_only()
        .counts_waiters()
        .one_writer()
    }

    /// Settings with their defaults.
    pub fn builder() -> SplitPoolBuilder<M> {
        SplitPoolBuilder { readers: 4, manager: PhantomData }
    }

    /// Opens the writer (preparing the database, WAL included) and a pool of
    /// up to 4 read-only connections; [`builder`](SplitPool::builder) sets
    /// another number.
    pub fn open(manager: M) -> Result<SplitPool<M>> {
        SplitPool::builder().open(manager)
    }

    /// The writer's and the readers' state.
    pub fn split_state(&self) -> SplitState {
        SplitState { writer: Access::state(&self.writer), readers: self.readers.state() }
    }

    /// The reader pool, for checking a read-only connection out directly.
    pub fn readers(&self) -> &Pool<M> {
        &self.readers
    }

    /// The writer, for running work under its lock directly.
    pub fn writer(&self) -> &Locked<M> {
        &self.writer
    }
}

/// Settings for a [`SplitPool`]; start from [`SplitPool::builder`].
pub struct SplitPoolBuilder<M> {
    readers: usize,
    manager: PhantomData<fn(M)>,
}

impl<M: Manager> SplitPoolBuilder<M> {
    /// The most read-only connections open at once (default 4; at least 1).
    pub fn readers(mut self, readers: usize) -> SplitPoolBuilder<M> {
        self.readers = readers;
        self
    }

    /// Opens the writer (preparing the database, WAL included), then the
    /// pool of readers.
    pub fn open(self, manager: M) -> Result<SplitPool<M>> {
        let reader_manager = manager.read_only()?;
        let writer = Locked::open(manager)?;
        let readers = Pool::builder().max_size(self.readers).open(reader_manager)?;
        Ok(SplitPool { writer, readers })
    }
}

impl<M> fmt::Debug for SplitPoolBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitPoolBuilder").field("readers", &self.readers).finish()
    }
}

impl<M: Manager> Access for SplitPool<M> {
    type Connection = M::Connection;

    fn name(&self) -> &str {
        Self::strategy().name
    }

    fn read_with(&self, work: ReadWork<'_, M::Connection>) -> Result<()> {
        self.readers.read_with(work)
    }

    fn write_with(&self, work: WriteWork<'_, M::Connection>) -> Result<()> {
        self.writer.write_with(work)
    }

    /// Both sides added up.
    fn state(&self) -> State {
        let SplitState { writer, readers } = self.split_state();
        State {
            idle: writer.idle + readers.idle,
            in_use: writer.in_use + readers.in_use,
            waiting: writer.waiting + readers.waiting,
        }
    }

    fn close(&self) {
        self.writer.close();
        self.readers.close();
    }
}

impl<M: Manager> fmt::Debug for SplitPool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitPool").field("state", &self.split_state()).finish_non_exhaustive()
    }
}
