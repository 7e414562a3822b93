//! A manager wrapper for the lifecycle and panic-safety contracts: it counts
//! every connection opened and closed, and can make the wrapped manager's
//! callbacks panic, fail or report a connection broken, on demand; and its
//! connections can fail the group strategies' seal and savepoint calls,
//! which real SQLite never fails on purpose.
//!
//! It wraps any [`Manager`], so every strategy in the list runs over it
//! with real SQLite underneath.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use litepool::strategy::{Manager, MemberSavepoints, Transactional};
use litepool::{Error, ErrorKind, Result};

/// The hint the wrapper's `explain` adds once `mark_explanations` is called.
pub const EXPLAINED: &str = "explained by the counting manager";

/// The message of every panic the wrapper plants.
pub const PLANTED_PANIC: &str = "planted panic from a manager callback";

/// A manager callback the wrapper can make misbehave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callback {
    Connect,
    Reset,
    IsBroken,
    /// The connection's [`Transactional::install_seal`].
    InstallSeal,
    /// The connection's [`Transactional::member_savepoints`].
    MemberSavepoints,
    /// The connection's [`Transactional::remove_seal`].
    RemoveSeal,
}

const CALLBACKS: usize = 6;

/// What the wrapper has seen, shared by every clone (and by the read-only
/// manager it makes for `SplitPool`'s readers).
#[derive(Debug, Default)]
pub struct Counts {
    pub prepared: AtomicUsize,
    /// How many times `prepare` had run when the first connection opened.
    pub prepared_before_first_open: AtomicUsize,
    pub opened: AtomicUsize,
    pub closed: AtomicUsize,
    panics: [AtomicUsize; CALLBACKS],
    failures: [AtomicUsize; CALLBACKS],
    mark_explanations: AtomicBool,
}

impl Counts {
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    /// Connections open right now.
    pub fn open_now(&self) -> usize {
        self.opened() - self.closed()
    }

    /// Makes `callback` panic the next `times` times it runs.
    pub fn panic_in(&self, callback: Callback, times: usize) {
        self.panics[callback as usize].store(times, Ordering::SeqCst);
    }

    /// Makes `callback` fail the next `times` times it runs (`is_broken`:
    /// says the connection is broken).
    pub fn fail_in(&self, callback: Callback, times: usize) {
        self.failures[callback as usize].store(times, Ordering::SeqCst);
    }

    /// Makes `explain` add [`EXPLAINED`] to every error it sees, so a test
    /// can tell which errors went through it.
    pub fn mark_explanations(&self) {
        self.mark_explanations.store(true, Ordering::SeqCst);
    }

    /// How many planted panics and failures have not fired yet.
    pub fn unfired(&self) -> usize {
        self.panics.iter().chain(&self.failures).map(|n| n.load(Ordering::SeqCst)).sum()
    }

    fn fires(counter: &AtomicUsize) -> bool {
        counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    fn maybe_panic(&self, callback: Callback) {
        if Self::fires(&self.panics[callback as usize]) {
            panic!("{PLANTED_PANIC}: {callback:?}");
        }
    }

    fn fails(&self, callback: Callback) -> bool {
        Self::fires(&self.failures[callback as usize])
    }

    /// Panics or fails, as planted for `callback`, or lets it run.
    fn planted(&self, callback: Callback) -> Result<()> {
        self.maybe_panic(callback);
        if self.fails(callback) {
            return Err(Error::new(ErrorKind::Sql, format!("planted {callback:?} failure")));
        }
        Ok(())
    }
}

/// A manager that counts and misbehaves on demand; see the module docs.
#[derive(Clone)]
pub struct Counting<M> {
    inner: M,
    counts: Arc<Counts>,
}

impl<M: Manager> Counting<M> {
    pub fn new(inner: M) -> (Counting<M>, Arc<Counts>) {
        let counts = Arc::new(Counts::default());
        (Counting { inner, counts: counts.clone() }, counts)
    }
}

/// A connection of the wrapped manager; counted as closed when dropped.
pub struct Counted<C> {
    conn: C,
    counts: Arc<Counts>,
}

impl<C> Deref for Counted<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.conn
    }
}

// For helpers written once for plain and counted connections.
impl<C> std::borrow::Borrow<C> for Counted<C> {
    fn borrow(&self) -> &C {
        &self.conn
    }
}

impl<C> Drop for Counted<C> {
    fn drop(&mut self) {
        self.counts.closed.fetch_add(1, Ordering::SeqCst);
    }
}

impl<C: Transactional> Transactional for Counted<C> {
    fn begin_immediate(&self) -> Result<()> {
        self.conn.begin_immediate()
    }

    fn commit(&self) -> Result<()> {
        self.conn.commit()
    }

    fn rollback(&self) -> Result<()> {
        self.conn.rollback()
    }

    fn in_transaction(&self) -> bool {
        self.conn.in_transaction()
    }

    fn savepoint(&self) -> Result<()> {
        self.conn.savepoint()
    }

    fn release_savepoint(&self) -> Result<()> {
        self.conn.release_savepoint()
    }

    fn rollback_to_savepoint(&self) -> Result<()> {
        self.conn.rollback_to_savepoint()
    }

    fn member_savepoints(&self) -> Result<Box<dyn MemberSavepoints + '_>> {
        self.counts.planted(Callback::MemberSavepoints)?;
        self.conn.member_savepoints()
    }

    fn install_seal(&mut self, seal: &litepool::strategy::Seal) -> Result<()> {
        self.counts.planted(Callback::InstallSeal)?;
        self.conn.install_seal(seal)
    }

    fn remove_seal(&mut self) -> Result<()> {
        self.counts.planted(Callback::RemoveSeal)?;
        self.conn.remove_seal()
    }

    fn install_stop(&mut self, stop: &litepool::strategy::Stop) -> Result<()> {
        self.conn.install_stop(stop)
    }

    fn is_stepping(&self) -> bool {
        self.conn.is_stepping()
    }
}

impl<M: Manager> Manager for Counting<M> {
    type Connection = Counted<M::Connection>;

    fn prepare(&self) -> Result<()> {
        self.inner.prepare()?;
        self.counts.prepared.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn connect(&self) -> Result<Self::Connection> {
        self.counts.maybe_panic(Callback::Connect);
        if self.counts.fails(Callback::Connect) {
            return Err(Error::new(ErrorKind::Init, "planted connect failure"));
        }
        let conn = self.inner.connect()?;
        if self.counts.opened.fetch_add(1, Ordering::SeqCst) == 0 {
            let prepared = self.counts.prepared.load(Ordering::SeqCst);
            self.counts.prepared_before_first_open.store(prepared, Ordering::SeqCst);
        }
        Ok(Counted { conn, counts: self.counts.clone() })
    }

    fn is_broken(&self, conn: &Self::Connection) -> bool {
        self.counts.maybe_panic(Callback::IsBroken);
        self.counts.fails(Callback::IsBroken) || self.inner.is_broken(&conn.conn)
    }

    fn reset(&self, conn: &Self::Connection) -> Result<()> {
        self.counts.maybe_panic(Callback::Reset);
        if self.counts.fails(Callback::Reset) {
            return Err(Error::new(ErrorKind::Sql, "planted reset failure"));
        }
        self.inner.reset(&conn.conn)
    }

    fn read_only(&self) -> Result<Self> {
        Ok(Counting { inner: self.inner.read_only()?, counts: self.counts.clone() })
    }

    // The wrapped manager's queue and timeout: strategies over the wrapper
    // share the file's queue as they would over the manager itself.
    fn write_queue(&self) -> Option<std::sync::Arc<litepool::strategy::WriteQueue>> {
        self.inner.write_queue()
    }

    fn write_timeout(&self) -> std::time::Duration {
        self.inner.write_timeout()
    }

    fn explain(&self, error: Error) -> Error {
        let error = self.inner.explain(error);
        if self.counts.mark_explanations.load(Ordering::SeqCst) { error.with_hint(EXPLAINED) } else { error }
    }
}

/// Asserts that `e` is what a member of a batch hears when the batch's
/// seal could not be removed (a planted [`Callback::RemoveSeal`] failure):
/// not applied, the cause named, and no other write blamed.
pub fn assert_told_seal_not_removed(e: &Error) {
    assert!(e.is_aborted(), "{e}");
    let message = e.to_string();
    assert!(message.contains("could not remove the seal of the batch it was in (planted RemoveSeal"), "{e}");
    assert!(!message.contains("another write"), "no other write caused this: {e}");
}
