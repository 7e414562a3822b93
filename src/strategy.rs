//! The list of strategies: the one place a new strategy is registered.
//!
//! The workload and fault suites, the loom models, the benchmarks and the
//! stress tool all iterate over [`strategies`], so a strategy written in its
//! own file joins all of them by one line here.

use crate::access::Access;
use crate::error::Result;
use crate::locked::Locked;
use crate::manager::Manager;
use crate::per_thread::PerThread;
use crate::pool::Pool;
use crate::split::SplitPool;

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

/// A named way to open a strategy.
#[non_exhaustive]
pub struct Strategy<M: Manager> {
    /// The name the strategy reports from [`Access::name`].
    pub name: &'static str,
    /// Opens the strategy over `manager`.
    pub open: fn(M, Sizing) -> Result<DynAccess<M>>,
    /// Whether it works only in WAL mode (opening it on a manager set to
    /// another journal mode fails with a config error).
    pub wal_only: bool,
}

impl<M: Manager> Clone for Strategy<M> {
    fn clone(&self) -> Self {
        Strategy { name: self.name, open: self.open, wal_only: self.wal_only }
    }
}

impl<M: Manager> std::fmt::Debug for Strategy<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every strategy litepool has, in a stable order.
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
    vec![
        Strategy { name: "per-thread", open: |m, _| Ok(Box::new(PerThread::new(m)?)), wal_only: false },
        Strategy {
            name: "pool",
            open: |m, s| Ok(Box::new(Pool::builder().max_size(s.pool_size).build(m)?)),
            wal_only: false,
        },
        Strategy { name: "locked", open: |m, _| Ok(Box::new(Locked::open(m)?)), wal_only: false },
        Strategy {
            name: "split",
            open: |m, s| Ok(Box::new(SplitPool::open(m, s.pool_size)?)),
            wal_only: true,
        },
    ]
}
