//! The strategy list: what a strategy promises, and the one place a new
//! strategy is registered.
//!
//! A [`Strategy`] names a way to open an [`Access`] and states what its
//! loom models check: how many connections it may hold, whether its callers
//! wait inside it, whether it needs WAL. The workload and fault suites, the
//! loom models, the benchmarks and the stress tool all iterate over
//! [`strategies`](crate::strategies), so a strategy written in its own file
//! joins all of them by one line in `src/lib.rs`'s `strategy_list!`.

use crate::access::Access;
use crate::error::Result;
use crate::manager::Manager;

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
/// use litepool::{Connections, Locked, SqliteManager, Strategy};
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

/// Declares the strategy modules, re-exports their types and writes
/// [`strategies`](crate::strategies), from one list of `module::Type` lines.
/// Each `Type<M>` has an associated `fn strategy() -> Strategy<M>`.
macro_rules! strategy_list {
    ($($module:ident::$ty:ident),+ $(,)?) => {
        $(
            mod $module;
            pub use $module::$ty;
        )+

        /// Every strategy litepool has, in the order of the list in
        /// `src/lib.rs`.
        ///
        /// ```
        /// use litepool::{Sizing, SqliteManager, strategies};
        ///
        /// let dir = tempfile::tempdir()?;
        /// for strategy in strategies::<SqliteManager>() {
        ///     let manager = SqliteManager::file(dir.path().join(format!("{}.db", strategy.name)));
        ///     let access = (strategy.open)(manager, Sizing::default())?;
        ///     assert_eq!(access.name(), strategy.name);
        /// }
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub fn strategies<M: Manager>() -> Vec<Strategy<M>> {
            vec![$($ty::<M>::strategy()),+]
        }
    };
}
