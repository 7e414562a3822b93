//! A strategy written outside litepool, from its public parts: `PerCall`
//! opens a connection for every call and closes it afterwards, the literal
//! pattern of the tutorial's first example. Then litepool's workload check
//! (`litepool::stress::check`: threads insert and read on a real file, then
//! rows stored = writes acknowledged, `integrity_check`, no errors) runs
//! against it.
//!
//! ```sh
//! cargo run --example per_call      # prints the check's figures
//! cargo test --example per_call     # the same check as a test (`cargo test` runs it too)
//! ```
//!
//! Opening a connection per call costs its setup every time (the stress
//! tool measures how much); it never shares a connection, so it needs no
//! lock, and SQLite's file locks keep the writes apart.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use litepool::strategy::{Connections, Manager, ReadWork, Strategy, WriteWork, Writers};
use litepool::strategy::{connect, prepare, read_on, write_on, writers};
use litepool::stress::{self, Measured, Workload};
use litepool::{Access, Error, JournalMode, Result, SqliteManager, State};

/// One connection per call, closed when the call returns.
struct PerCall<M: Manager> {
    manager: M,
    running: AtomicUsize,
    closed: AtomicBool,
    /// Its place in the file's write queue: its writers take turns with
    /// every other writer to the file in this process.
    writers: Writers,
}

impl<M: Manager> PerCall<M> {
    fn open(manager: M) -> Result<PerCall<M>> {
        prepare(&manager)?;
        let writers = writers(&manager, "per-call strategy");
        Ok(PerCall { manager, running: AtomicUsize::new(0), closed: AtomicBool::new(false), writers })
    }

    /// Its entry for anything that takes a strategy from litepool's list.
    fn strategy() -> Strategy<M> {
        Strategy::new("per-call", |m, _| Ok(Box::new(PerCall::open(m)?)), Connections::PerCall)
    }

    /// Opens a connection, runs `path` on it, closes it. A panic in the work
    /// drops the connection while unwinding, and closing it rolls back
    /// whatever it held, so no return path is needed.
    fn call(&self, path: impl FnOnce(&M::Connection) -> Result<()>) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::closed("per-call strategy"));
        }
        let conn = connect(&self.manager)?;
        self.running.fetch_add(1, Ordering::Relaxed);
        let _running = Running(&self.running);
        path(&conn)
    }
}

/// Counts a call as running until it ends, panics included.
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<M: Manager> Access for PerCall<M> {
    type Connection = M::Connection;

    fn name(&self) -> &str {
        "per-call"
    }

    fn read_with(&self, work: ReadWork<'_, M::Connection>) -> Result<()> {
        self.call(|conn| read_on(&self.manager, conn, work))
    }

    fn write_with(&self, work: WriteWork<'_, M::Connection>) -> Result<()> {
        let _turn = self.writers.turn().map_err(|e| self.manager.explain(e))?;
        self.call(|conn| write_on(&self.manager, conn, work))
    }

    fn state(&self) -> State {
        State::new(0, self.running.load(Ordering::Relaxed), 0)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.writers.close();
    }
}

/// Runs the workload check against `PerCall` on a fresh file in `journal`
/// mode.
fn check(journal: JournalMode) -> Result<Measured> {
    let dir = tempfile::tempdir().map_err(|e| Error::new(litepool::ErrorKind::Open, e.to_string()))?;
    let manager = SqliteManager::file(dir.path().join("per-call.db")).journal_mode(journal);
    let strategy = PerCall::strategy();
    let access = (strategy.open)(manager, Default::default())?;
    let workload = Workload { threads: 4, ops: 300, write_ratio: 0.3, ..Workload::default() };
    stress::check(&*access, &workload)
}

fn main() -> Result<()> {
    for journal in [JournalMode::Wal, JournalMode::Delete] {
        let m = check(journal)?;
        println!(
            "per-call, {journal:?}: {} writes, {} reads, {} errors in {:.2?}; p99 {:.1?}; verified: {}{}",
            m.writes,
            m.reads,
            m.errors,
            m.elapsed,
            m.latency.quantile(0.99),
            m.verified,
            if m.verified { String::new() } else { format!(" ({})", m.verify_note) }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check passes in both journal modes: every acknowledged write is
    /// stored, nothing else is, integrity holds, and no call failed.
    #[test]
    fn per_call_passes_the_workload_check() {
        for journal in [JournalMode::Wal, JournalMode::Delete] {
            let m = check(journal).unwrap();
            assert!(m.verified, "{journal:?}: {}", m.verify_note);
            assert_eq!(m.writes + m.reads, 4 * 300, "{journal:?}");
            assert!(m.writes > 0 && m.reads > 0, "{journal:?}: {} writes, {} reads", m.writes, m.reads);
        }
    }

    /// After `close()`, calls fail with a closed error and open nothing.
    #[test]
    fn a_closed_per_call_strategy_refuses_calls() {
        let dir = tempfile::tempdir().unwrap();
        let access =
            (PerCall::strategy().open)(SqliteManager::file(dir.path().join("c.db")), Default::default())
                .unwrap();
        access.close();
        let err = access.read_with(&mut |_| Ok(())).unwrap_err();
        assert!(err.is_closed(), "{err}");
    }
}
