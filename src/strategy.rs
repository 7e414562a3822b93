//! For strategy authors: the parts every strategy is built from, and the
//! strategy list. An application needs none of this: the crate root has
//! the strategies, [`Access`]/[`AccessExt`](crate::AccessExt),
//! [`SqliteManager`](crate::SqliteManager) and the errors.
//!
//! # Writing a strategy
//!
//! A strategy is a type over a [`Manager`] that implements [`Access`], built
//! from the paths every strategy shares, so that it gets right what they
//! get right:
//!
//! 1. **Open**: [`prepare`] the database once (it checks the path and sets
//!    the journal mode), then [`connect`]; both explain their errors.
//! 2. **Write**: first a [`Turn`] from the strategy's [`Writers`] (made by
//!    [`writers`] from the manager), *then* a connection or a lock, then
//!    [`write_on`] (`BEGIN IMMEDIATE`, the work, `COMMIT`). The turn comes
//!    first so that a queued writer holds nothing a reader needs, and so
//!    that inside one process only the turn's holder asks SQLite for the
//!    write lock: nobody polls in the busy handler. The work
//!    ([`WriteWork`]) is `Send`: a strategy may run it on another thread
//!    while its caller waits (group commit does), but never after its
//!    caller has returned, since it borrows from the caller's stack.
//! 3. **Read**: [`read_on`].
//! 4. **Return**: [`check_return`] resets a connection that comes back in a
//!    transaction or from a panic, and says whether to keep it ([`Reuse`]);
//!    a manager's panic goes on with [`resume_panic`] once the strategy's
//!    own state is consistent.
//! 5. **Close**: every later call fails with
//!    [`Error::closed`](crate::Error::closed), every waiter wakes, and the
//!    [`Writers`] close.
//! 6. **Its promises**: `fn strategy() -> Strategy<M>`, with
//!    [`Strategy::new`] and the methods after it. The models check each
//!    promise made: [`Strategy::batches_writes`] promises that a write's work
//!    sees the rows of the writes batched before it and that a failed write
//!    is undone alone; [`Strategy::one_writer`] that reads never run on the
//!    writer; and so on.
//! 7. **Registration**: one `module::Type` line in `strategy_list!` in
//!    `src/lib.rs`; then every suite, model, benchmark and the stress tool
//!    run it. The strategy tables of `README.md`, the crate docs and
//!    `ARCHITECTURE.md` name it too: `tests/tidy.rs` fails until they list
//!    exactly the strategies of `strategy_list!`.
//!
//! A strategy written outside the crate does steps 1 to 6 the same way and
//! is checked by the stress engine on a real file. One connection behind a
//! `std` mutex:
//!
//! ```
//! use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
//! use std::sync::{Mutex, PoisonError};
//! use litepool::{Access, Error, Result, SqliteManager, State};
//! use litepool::strategy::{Connections, Manager, Reuse, Strategy, ReadWork, WriteWork, Writers};
//! use litepool::strategy::{check_return, connect, prepare, read_on, resume_panic, write_on, writers};
//!
//! struct OneConnection<M: Manager> {
//!     manager: M,
//!     slot: Mutex<Slot<M::Connection>>,
//!     writers: Writers,
//! }
//!
//! struct Slot<C> {
//!     conn: Option<C>, // None: discarded, reopened by the next call
//!     closed: bool,
//! }
//!
//! impl<M: Manager> OneConnection<M> {
//!     fn open(manager: M) -> Result<Self> {
//!         prepare(&manager)?;
//!         let conn = connect(&manager)?;
//!         let writers = writers(&manager, "one connection");
//!         Ok(OneConnection { manager, slot: Mutex::new(Slot { conn: Some(conn), closed: false }), writers })
//!     }
//!
//!     fn run(&self, path: impl FnOnce(&M, &M::Connection) -> Result<()>) -> Result<()> {
//!         let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
//!         if slot.closed {
//!             return Err(Error::closed("one connection"));
//!         }
//!         if slot.conn.is_none() {
//!             slot.conn = Some(connect(&self.manager)?);
//!         }
//!         let conn = slot.conn.as_ref().expect("opened above");
//!         let outcome = catch_unwind(AssertUnwindSafe(|| path(&self.manager, conn)));
//!         // Reset it if the work panicked or left a transaction open;
//!         // discard it if that fails, if it is broken, or if the manager
//!         // panicked.
//!         let reuse = check_return(&self.manager, conn, outcome.is_err());
//!         if !matches!(reuse, Reuse::Keep) {
//!             slot.conn = None;
//!         }
//!         drop(slot);
//!         let result = outcome.unwrap_or_else(|panic| resume_unwind(panic));
//!         if let Reuse::Panicked(panic) = reuse {
//!             resume_panic(panic);
//!         }
//!         result
//!     }
//! }
//!
//! impl<M: Manager> Access for OneConnection<M> {
//!     type Connection = M::Connection;
//!     fn name(&self) -> &str { "one-connection" }
//!     fn read_with(&self, work: ReadWork<'_, M::Connection>) -> Result<()> {
//!         self.run(|manager, conn| read_on(manager, conn, work))
//!     }
//!     fn write_with(&self, work: WriteWork<'_, M::Connection>) -> Result<()> {
//!         // The turn before the lock: readers never wait behind a queued writer.
//!         let _turn = self.writers.turn().map_err(|e| self.manager.explain(e))?;
//!         self.run(|manager, conn| write_on(manager, conn, work))
//!     }
//!     fn state(&self) -> State { State::new(0, 0, 0) }
//!     fn close(&self) {
//!         let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
//!         (slot.closed, slot.conn) = (true, None);
//!         drop(slot);
//!         self.writers.close();
//!     }
//! }
//!
//! let strategy: Strategy<SqliteManager> = Strategy::new(
//!     "one-connection",
//!     |m, _| Ok(Box::new(OneConnection::open(m)?)),
//!     Connections::AtMost(|_| 1),
//! );
//! let dir = tempfile::tempdir()?;
//! let access = (strategy.open)(SqliteManager::file(dir.path().join("one.db")), Default::default())?;
//! let workload = litepool::stress::Workload { threads: 4, ops: 100, ..Default::default() };
//! let measured = litepool::stress::check(&*access, &workload)?;
//! assert!(measured.verified, "{}", measured.verify_note);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use crate::access::{
    ReadWork, Reuse, WriteWork, check_return, connect, prepare, read_on, resume_panic, write_on, writers,
};
pub use crate::manager::{Guarded, MEMBER_SAVEPOINT, Manager, MemberSavepoints, Seal, Stop, Transactional};
pub use crate::write_queue::{Turn, WriteQueue, Writers};

use crate::access::Access;
use crate::error::Result;

/// A boxed strategy over `M`'s connections.
pub type DynAccess<M> = Box<dyn Access<Connection = <M as Manager>::Connection>>;

/// How to size a strategy when opening it from the list.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizing {
    /// Connections in a pool (for `split`, its read-only readers).
    pub pool_size: usize,
}

impl Sizing {
    /// Pools of `pool_size` connections.
    pub fn pool_size(pool_size: usize) -> Sizing {
        Sizing { pool_size }
    }
}

impl Default for Sizing {
    fn default() -> Sizing {
        Sizing { pool_size: 4 }
    }
}

/// How many connections a strategy holds open at once.
#[derive(Clone, Copy, Debug)]
pub enum Connections {
    /// One per thread that uses it.
    PerThread,
    /// A fresh one for every call, closed when the call returns. None is
    /// kept, so none is ever reset or checked for reuse.
    PerCall,
    /// At most this many for a sizing, however many threads call.
    AtMost(fn(Sizing) -> usize),
}

impl Connections {
    /// The most connections in use at once with `threads` threads calling.
    pub fn limit(self, sizing: Sizing, threads: usize) -> usize {
        match self {
            Connections::PerThread | Connections::PerCall => threads,
            Connections::AtMost(most) => most(sizing),
        }
    }
}

/// A named way to open a strategy, and what it promises.
///
/// Built with [`Strategy::new`] and the methods after it, inside litepool
/// or outside it:
///
/// ```
/// use litepool::{Locked, SqliteManager};
/// use litepool::strategy::{Connections, Strategy};
///
/// let mine: Strategy<SqliteManager> =
///     Strategy::new("mine", |m, _| Ok(Box::new(Locked::open(m)?)), Connections::AtMost(|_| 1));
/// assert_eq!((mine.name, mine.wal_only, mine.counts_waiters), ("mine", false, false));
/// ```
#[non_exhaustive]
pub struct Strategy<M: Manager> {
    /// The name the strategy reports from [`Access::name`].
    pub name: &'static str,
    /// Opens the strategy over `manager`.
    pub open: fn(M, Sizing) -> Result<DynAccess<M>>,
    /// How many connections it holds open at once.
    pub connections: Connections,
    /// Whether it works only in WAL mode (opening it on a manager set to
    /// another journal mode fails with a config error).
    pub wal_only: bool,
    /// Whether a caller that finds no connection free waits inside the
    /// strategy, counted in [`State::waiting`](crate::State::waiting), until
    /// a connection comes back or [`Access::close`] wakes it (a pool's
    /// callers do; a locked connection's queue on its lock instead).
    pub counts_waiters: bool,
    /// Whether every write runs on one read-write connection and every
    /// read on a read-only one.
    pub one_writer: bool,
    /// Whether callers' writes share transactions: a write's work sees the
    /// uncommitted rows of the writes batched before it (as if the writes
    /// ran one after another), and is undone alone through a savepoint.
    pub batches_writes: bool,
}

impl<M: Manager> Strategy<M> {
    /// A strategy that works in any journal mode, whose callers do not wait
    /// inside it, and that makes no promise about which connection serves
    /// reads; the methods below say otherwise.
    pub fn new(
        name: &'static str,
        open: fn(M, Sizing) -> Result<DynAccess<M>>,
        connections: Connections,
    ) -> Strategy<M> {
        Strategy {
            name,
            open,
            connections,
            wal_only: false,
            counts_waiters: false,
            one_writer: false,
            batches_writes: false,
        }
    }

    /// It works only in WAL mode.
    pub fn wal_only(mut self) -> Strategy<M> {
        self.wal_only = true;
        self
    }

    /// Its callers wait inside it for a connection, counted in `state()`,
    /// and `close()` wakes them.
    pub fn counts_waiters(mut self) -> Strategy<M> {
        self.counts_waiters = true;
        self
    }

    /// Its writes run on one read-write connection, its reads on read-only
    /// ones.
    pub fn one_writer(mut self) -> Strategy<M> {
        self.one_writer = true;
        self
    }

    /// Its callers' writes share transactions (group commit).
    pub fn batches_writes(mut self) -> Strategy<M> {
        self.batches_writes = true;
        self
    }
}

impl<M: Manager> Clone for Strategy<M> {
    fn clone(&self) -> Self {
        Strategy { ..*self }
    }
}

impl<M: Manager> std::fmt::Debug for Strategy<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every strategy litepool has, in the order of `strategy_list!` in
/// `src/lib.rs`. The suites, the models, the benchmarks and the stress tool
/// take their strategies from here.
///
/// ```
/// use litepool::{SqliteManager, strategy};
///
/// let dir = tempfile::tempdir()?;
/// for strategy in strategy::all::<SqliteManager>() {
///     let manager = SqliteManager::file(dir.path().join(format!("{}.db", strategy.name)));
///     let access = (strategy.open)(manager, strategy::Sizing::default())?;
///     assert_eq!(access.name(), strategy.name);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn all<M: Manager>() -> Vec<Strategy<M>> {
    crate::listed()
}

/// Declares the strategy modules, re-exports their types at the crate root
/// and writes the list [`all`] returns, from one list of `module::Type`
/// lines. Each `Type<M>` has an associated `fn strategy() -> Strategy<M>`.
macro_rules! strategy_list {
    ($($module:ident::$ty:ident),+ $(,)?) => {
        $(
            mod $module;
            pub use $module::$ty;
        )+

        fn listed<M: strategy::Manager>() -> Vec<strategy::Strategy<M>> {
            vec![$($ty::<M>::strategy()),+]
        }
    };
}
