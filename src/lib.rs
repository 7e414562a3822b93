//! litepool: multi-threaded SQLite access whose patterns are model-checked,
//! property-tested against real database files, and measured.
//!
//! The strategies, all behind one interface ([`Access`]):
//!
//! <!-- strategy-table:start -->
//! | strategy | what it is | where |
//! |---|---|---|
//! | [`PerThread`] | one connection per thread, opened on first use | `src/per_thread.rs` |
//! | [`Pool`] | a bounded pool of interchangeable connections | `src/pool.rs` |
//! | [`Locked`] | one connection behind a mutex | `src/locked.rs` |
//! | [`SplitPool`] | one writer behind a mutex, a pool of read-only readers (WAL) | `src/split.rs` |
//! | [`GroupCommit`] | one writer; the caller holding it runs the queued callers' work too, each in its own savepoint, under one `COMMIT`; read-only readers (WAL) | `src/group.rs` |
//! <!-- strategy-table:end -->
//!
//! Every strategy's write path first takes its turn in the database file's
//! [`WriteQueue`](strategy::WriteQueue) (one per file per process, so
//! writers take turns in arrival order instead of polling in SQLite's busy
//! handler), then runs in `BEGIN IMMEDIATE`; none ever hands a thread a
//! connection in the middle of someone else's transaction. All locking goes
//! through `src/sync.rs`, which is `parking_lot` normally, `loom` under
//! `RUSTFLAGS="--cfg loom"` and `shuttle` under `--cfg shuttle`; see
//! `ARCHITECTURE.md`.
//!
//! The crate root holds what an application uses: the strategies,
//! [`Access`] and [`AccessExt`], [`SqliteManager`] and its settings,
//! [`State`], and the errors. What a strategy author needs is in
//! [`strategy`], with a guide to writing one.
//!
//! ```
//! use litepool::{AccessExt, Pool, SqliteManager};
//!
//! let dir = tempfile::tempdir()?;
//! let pool = Pool::builder().max_size(4).open(SqliteManager::file(dir.path().join("app.db")))?;
//! pool.write(|c| Ok(c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")?))?;
//! std::thread::scope(|s| {
//!     for i in 0..10 {
//!         let pool = &pool;
//!         s.spawn(move || {
//!             pool.write(|c| Ok(c.execute("INSERT INTO items VALUES (?1, ?2)", (i, format!("Item-{i}")))?))
//!         });
//!     }
//! });
//! let count: i64 = pool.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))?))?;
//! assert_eq!(count, 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod access;
mod error;
pub mod fake;
mod line;
mod manager;
#[macro_use]
pub mod strategy;
// The engine works on real files and threads, which the model checkers do
// not model.
#[cfg(not(any(loom, shuttle)))]
pub mod stress;
mod sync;
// The async facade: behind its feature, and always under the model
// checkers, whose models of it run in every model-checking run.
#[cfg(any(feature = "tokio", loom, shuttle))]
pub mod tokio;
mod write_queue;

// The strategy list. A strategy is a file in `src/` whose type has an
// associated `fn strategy() -> Strategy<M>`, plus one line here. Every suite,
// the loom models, the benchmarks and the stress tool take it from
// `strategy::all()`; the `strategy` module says what else to touch.
strategy_list! {
    per_thread::PerThread,
    pool::Pool,
    locked::Locked,
    split::SplitPool,
    group::GroupCommit,
}

pub use access::{Access, AccessExt, State};
pub use error::{Error, ErrorKind, Result};
pub use group::GroupCommitBuilder;
pub use manager::{JournalMode, SqliteManager, Synchronous};
pub use pool::{PoolBuilder, Pooled};
pub use rusqlite;
pub use split::{SplitPoolBuilder, SplitState};

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
