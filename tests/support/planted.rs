//! Planted bugs: realistic mistakes in pool and lock code, each of which the
//! loom models must catch. They are written against loom directly (test code
//! may name it) and implement `litepool::Access`, so they run through exactly
//! the properties the real strategies pass.
//!
//! `PlantedPool` is a fixed-slot pool: connections stay in an array and a
//! checkout is an index, the design where these mistakes are easiest to make.
//! With no bug planted it passes every property (`a_correct_slot_pool_passes`
//! in `tests/loom_pool.rs` shows the properties are not merely failing on
//! the design).

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::support::checker::{Condvar, Mutex, UnsafeCell};
use crate::support::runner::{Fake, Subject};
use litepool::fake::{FakeConnection, FakeManager};
use litepool::strategy::{Connections, Manager, ReadWork, Sizing, Transactional, WriteWork};
use litepool::{Access, Error, ErrorKind, Result, State};

/// Claims `Sync` for a value that is not: the tutorial's shared connection.
pub struct ForceSync<T>(pub T);

// SAFETY: none. This is the bug: every access to the inner value must be
// serialised by hand, and the models show where it is not.
unsafe impl<T> Sync for ForceSync<T> {}

/// The mistakes a slot pool can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolBug {
    None,
    /// Finds a free slot in one critical section and claims it in a second.
    SplitClaim,
    /// Notifies a waiter before the connection is back in its slot.
    NotifyBeforeRelease,
    /// `close()` wakes one waiter (`notify_one`) where it must wake all.
    NotifyOneOnClose,
    /// Returns a connection without rolling back its open transaction.
    NoRollbackOnReturn,
    /// Rolls back only when the work returned an error, so a panic, which
    /// returns nothing, hands its transaction on.
    ResetOnlyOnError,
    /// Decrements the checked-out count twice when the work failed.
    DoubleDecrementOnError,
    /// Commits in a `finally`, whether or not the work succeeded.
    CommitOnError,
    /// Claims a free slot before checking whether the pool is closed.
    ClaimBeforeClosedCheck,
    /// Keeps the slot claimed when opening its connection fails.
    LeakSlotOnFailedOpen,
    /// Keeps the slot claimed when opening its connection panics (a `?`
    /// handles the error, nothing handles the unwind).
    LeakSlotOnPanickingConnect,
    /// Keeps the slot claimed when the manager's `reset` or `is_broken`
    /// panics on the return path.
    LeakSlotOnPanickingReturn,
    /// Keeps a connection whose reset failed.
    KeepAfterFailedReset,
    /// Keeps a connection the manager reported broken.
    KeepBrokenConnection,
    /// Frees a discarded connection's slot without waking a waiter.
    NoWakeOnDiscard,
    /// `close()` leaves idle connections open until the pool is dropped.
    CloseKeepsIdle,
    /// Commits only if the work left the transaction open, and reports
    /// success either way.
    CommitIfStillOpen,
    /// Ignores the error of `COMMIT` and acknowledges the write.
    IgnoreCommitError,
}

/// A fixed-slot pool whose connections are opened on a slot's first claim.
pub struct PlantedPool {
    bug: PoolBug,
    manager: FakeManager,
    conns: Vec<ForceSync<UnsafeCell<Option<FakeConnection>>>>,
    slots: Mutex<Slots>,
    cond: Condvar,
}

struct Slots {
    busy: Vec<bool>,
    in_use: usize,
    waiting: usize,
    closed: bool,
}

impl PlantedPool {
    pub fn open(bug: PoolBug, manager: FakeManager, size: usize) -> Result<PlantedPool> {
        Ok(PlantedPool {
            bug,
            manager,
            conns: (0..size).map(|_| ForceSync(UnsafeCell::new(None))).collect(),
            slots: Mutex::new(Slots { busy: vec![false; size], in_use: 0, waiting: 0, closed: false }),
            cond: Condvar::new(),
        })
    }

    fn acquire(&self) -> Result<Checkout<'_>> {
        let slot = self.claim()?;
        // The slot is ours: open its connection outside the lock.
        let opened = catch_unwind(AssertUnwindSafe(|| {
            self.conns[slot].0.with_mut(|conn| {
                // SAFETY: the claimed slot is exclusively ours (unless a planted
                // bug says otherwise, which loom then reports).
                let conn = unsafe { &mut *conn };
                if conn.is_none() {
                    *conn = Some(self.manager.connect()?);
                }
                Ok(())
            })
        }));
        match opened {
            Ok(Ok(())) => Ok(Checkout { pool: self, slot, failed: false }),
            Ok(Err(e)) => {
                if self.bug != PoolBug::LeakSlotOnFailedOpen {
                    self.free(slot, false, true);
                }
                Err(e)
            }
            Err(panic) => {
                if self.bug != PoolBug::LeakSlotOnPanickingConnect {
                    self.free(slot, false, true);
                }
                resume_unwind(panic)
            }
        }
    }

    fn claim(&self) -> Result<usize> {
        let mut slots = self.slots.lock().unwrap();
        loop {
            let free = slots.busy.iter().position(|busy| !busy);
            if self.bug == PoolBug::ClaimBeforeClosedCheck
                && let Some(i) = free
            {
                slots.busy[i] = true;
                slots.in_use += 1;
                return Ok(i);
            }
            if slots.closed {
                return Err(Error::new(ErrorKind::Closed, "planted pool is closed"));
            }
            if let Some(i) = free {
                if self.bug == PoolBug::SplitClaim {
                    drop(slots);
                    slots = self.slots.lock().unwrap();
                }
                slots.busy[i] = true;
                slots.in_use += 1;
                return Ok(i);
            }
            slots.waiting += 1;
            slots = self.cond.wait(slots).unwrap();
            slots.waiting -= 1;
        }
    }

    fn conn(&self, slot: usize) -> &FakeConnection {
        // SAFETY: the slot's connection was opened by `acquire`, and only
        // its holder (this caller) can discard it.
        let conn =
            self.conns[slot].0.with(|c| unsafe { (*c).as_ref().expect("opened by acquire") as *const _ });
        unsafe { &*conn }
    }

    fn release(&self, slot: usize, failed: bool, panicking: bool) {
        let conn = self.conn(slot);
        let reset = match self.bug {
            PoolBug::NoRollbackOnReturn => false,
            PoolBug::ResetOnlyOnError => failed,
            _ => panicking || conn.in_transaction(),
        };
        let verdict = catch_unwind(AssertUnwindSafe(|| {
            let reset_ok = !reset || self.manager.reset(conn).is_ok();
            let broken = self.manager.is_broken(conn);
            (reset_ok || self.bug == PoolBug::KeepAfterFailedReset)
                && (!broken || self.bug == PoolBug::KeepBrokenConnection)
        }));
        let keep = verdict.as_ref().is_ok_and(|fit| *fit);
        if !keep {
            self.discard(slot);
        }
        let notify = keep || self.bug != PoolBug::NoWakeOnDiscard;
        match verdict {
            Err(_) if self.bug == PoolBug::LeakSlotOnPanickingReturn => {}
            _ => self.free(slot, failed, notify),
        }
        if let Err(panic) = verdict
            && !panicking
        {
            resume_unwind(panic);
        }
    }

    /// Closes the connection in `slot`, which the caller holds.
    fn discard(&self, slot: usize) {
        // SAFETY: the caller holds the slot (or the pool lock with the slot
        // free, in `close`).
        let conn = self.conns[slot].0.with_mut(|c| unsafe { (*c).take() });
        drop(conn);
    }

    fn free(&self, slot: usize, failed: bool, notify: bool) {
        if self.bug == PoolBug::NotifyBeforeRelease {
            self.cond.notify_one();
        }
        let mut slots = self.slots.lock().unwrap();
        if slots.closed {
            // A closed pool keeps nothing: the connection is closed as it
            // comes back.
            self.discard(slot);
        }
        slots.busy[slot] = false;
        slots.in_use = slots.in_use.wrapping_sub(1);
        if failed && self.bug == PoolBug::DoubleDecrementOnError {
            slots.in_use = slots.in_use.wrapping_sub(1);
        }
        drop(slots);
        if self.bug != PoolBug::NotifyBeforeRelease && notify {
            self.cond.notify_one();
        }
    }
}

struct Checkout<'a> {
    pool: &'a PlantedPool,
    slot: usize,
    failed: bool,
}

impl Checkout<'_> {
    fn conn(&self) -> &FakeConnection {
        self.pool.conn(self.slot)
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        self.pool.release(self.slot, self.failed, std::thread::panicking());
    }
}

impl Access for PlantedPool {
    type Connection = FakeConnection;

    fn name(&self) -> &str {
        "planted-pool"
    }

    fn read_with(&self, work: ReadWork<'_, FakeConnection>) -> Result<()> {
        let mut checkout = self.acquire()?;
        let result = work(checkout.conn());
        checkout.failed = result.is_err();
        result
    }

    fn write_with(&self, work: WriteWork<'_, FakeConnection>) -> Result<()> {
        let mut checkout = self.acquire()?;
        let conn = checkout.conn();
        conn.begin_immediate()?;
        let result = match self.bug {
            PoolBug::CommitOnError => {
                let result = work(conn);
                conn.commit()?;
                result
            }
            PoolBug::CommitIfStillOpen => {
                work(conn).and_then(|()| if conn.in_transaction() { conn.commit() } else { Ok(()) })
            }
            PoolBug::IgnoreCommitError => work(conn).map(|()| {
                let _ = conn.commit();
            }),
            _ => work(conn).and_then(|()| conn.commit()),
        };
        if result.is_err() && conn.in_transaction() {
            let _ = conn.rollback();
        }
        checkout.failed = result.is_err();
        result
    }

    fn state(&self) -> State {
        let slots = self.slots.lock().unwrap();
        // SAFETY: a free slot's connection is written only under the lock.
        let idle = (0..slots.busy.len())
            .filter(|&i| !slots.busy[i] && self.conns[i].0.with(|c| unsafe { (*c).is_some() }))
            .count();
        State::new(idle, slots.in_use, slots.waiting)
    }

    fn close(&self) {
        let mut slots = self.slots.lock().unwrap();
        slots.closed = true;
        if self.bug != PoolBug::CloseKeepsIdle {
            let idle: Vec<usize> = (0..slots.busy.len()).filter(|&i| !slots.busy[i]).collect();
            for slot in idle {
                self.discard(slot);
            }
        }
        drop(slots);
        if self.bug == PoolBug::NotifyOneOnClose {
            self.cond.notify_one();
        } else {
            self.cond.notify_all();
        }
    }
}

/// A locked connection that releases its lock before `COMMIT`.
pub struct UnlockBeforeCommit {
    conn: ForceSync<FakeConnection>,
    lock: Mutex<bool>,
}

impl Access for UnlockBeforeCommit {
    type Connection = FakeConnection;

    fn name(&self) -> &str {
        "unlock-before-commit"
    }

    fn read_with(&self, work: ReadWork<'_, FakeConnection>) -> Result<()> {
        let closed = self.lock.lock().unwrap();
        if *closed {
            return Err(Error::new(ErrorKind::Closed, "closed"));
        }
        let result = work(&self.conn.0);
        if self.conn.0.in_transaction() {
            let _ = self.conn.0.rollback();
        }
        result
    }

    fn write_with(&self, work: WriteWork<'_, FakeConnection>) -> Result<()> {
        let closed = self.lock.lock().unwrap();
        if *closed {
            return Err(Error::new(ErrorKind::Closed, "closed"));
        }
        let conn = &self.conn.0;
        conn.begin_immediate()?;
        if let Err(e) = work(conn) {
            let _ = conn.rollback();
            return Err(e);
        }
        drop(closed); // the bug: the transaction is still open
        conn.commit()
    }

    fn state(&self) -> State {
        State::default()
    }

    fn close(&self) {
        *self.lock.lock().unwrap() = true;
    }
}

fn pool_subject(name: &'static str, open: fn(FakeManager, Sizing) -> Result<Box<Fake>>) -> Subject {
    Subject::new(name, open, Connections::AtMost(|s| s.pool_size)).counts_waiters()
}

/// The mistakes a one-writer, many-readers split can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitBug {
    /// Serves a read from the writer connection, without its lock, while a
    /// write may hold an open transaction on it.
    ReadFromWriter,
    /// Keeps two read-write connections for writes.
    SecondWriter,
}

/// A split pool with a planted bug; its readers are a real litepool pool.
pub struct PlantedSplit {
    bug: SplitBug,
    writer: ForceSync<FakeConnection>,
    writer_lock: Mutex<()>,
    writers: litepool::Pool<FakeManager>,
    readers: litepool::Pool<FakeManager>,
}

impl PlantedSplit {
    pub fn open(bug: SplitBug, manager: FakeManager, readers: usize) -> Result<PlantedSplit> {
        Ok(PlantedSplit {
            bug,
            writer: ForceSync(manager.connect()?),
            writer_lock: Mutex::new(()),
            writers: litepool::Pool::builder().max_size(2).open(manager.clone())?,
            readers: litepool::Pool::builder().max_size(readers).open(manager.read_only()?)?,
        })
    }
}

impl Access for PlantedSplit {
    type Connection = FakeConnection;

    fn name(&self) -> &str {
        "planted-split"
    }

    fn read_with(&self, work: ReadWork<'_, FakeConnection>) -> Result<()> {
        match self.bug {
            SplitBug::ReadFromWriter => work(&self.writer.0),
            SplitBug::SecondWriter => self.readers.read_with(work),
        }
    }

    fn write_with(&self, work: WriteWork<'_, FakeConnection>) -> Result<()> {
        if self.bug == SplitBug::SecondWriter {
            return self.writers.write_with(work);
        }
        let _guard = self.writer_lock.lock().unwrap();
        let conn = &self.writer.0;
        conn.begin_immediate()?;
        let result = work(conn).and_then(|()| conn.commit());
        if result.is_err() && conn.in_transaction() {
            let _ = conn.rollback();
        }
        result
    }

    fn state(&self) -> State {
        self.readers.state()
    }

    fn close(&self) {
        self.writers.close();
        self.readers.close();
    }
}

/// Every planted bug, by name.
pub fn planted_subjects() -> Vec<Subject> {
    macro_rules! pool {
        ($name:literal, $bug:ident) => {
            pool_subject($name, |m, s| Ok(Box::new(PlantedPool::open(PoolBug::$bug, m, s.pool_size)?)))
        };
    }
    vec![
        pool!("slot-pool", None),
        pool!("split-claim", SplitClaim),
        pool!("notify-before-release", NotifyBeforeRelease),
        pool!("notify-one-on-close", NotifyOneOnClose),
        pool!("no-rollback-on-return", NoRollbackOnReturn),
        pool!("reset-only-on-error", ResetOnlyOnError),
        pool!("double-decrement-on-error", DoubleDecrementOnError),
        pool!("commit-on-error", CommitOnError),
        pool!("claim-before-closed-check", ClaimBeforeClosedCheck),
        pool!("leak-slot-on-failed-open", LeakSlotOnFailedOpen),
        pool!("leak-slot-on-panicking-connect", LeakSlotOnPanickingConnect),
        pool!("leak-slot-on-panicking-return", LeakSlotOnPanickingReturn),
        pool!("keep-after-failed-reset", KeepAfterFailedReset),
        pool!("keep-broken-connection", KeepBrokenConnection),
        pool!("no-wake-on-discard", NoWakeOnDiscard),
        pool!("close-keeps-idle", CloseKeepsIdle),
        pool!("commit-if-still-open", CommitIfStillOpen),
        pool!("ignore-commit-error", IgnoreCommitError),
        Subject::new(
            "read-from-writer",
            |m, s| Ok(Box::new(PlantedSplit::open(SplitBug::ReadFromWriter, m, s.pool_size)?)),
            Connections::AtMost(|s| s.pool_size + 1),
        )
        .one_writer(),
        Subject::new(
            "second-writer",
            |m, s| Ok(Box::new(PlantedSplit::open(SplitBug::SecondWriter, m, s.pool_size)?)),
            Connections::AtMost(|s| s.pool_size + 2),
        )
        .counts_waiters()
        .one_writer(),
        Subject::new(
            "unlock-before-commit",
            |m, _| {
                Ok(Box::new(UnlockBeforeCommit { conn: ForceSync(m.connect()?), lock: Mutex::new(false) }))
            },
            Connections::AtMost(|_| 1),
        ),
    ]
}

/// The subject named `name`, real or planted.
pub fn subject(name: &str) -> Subject {
    crate::support::runner::real_subjects()
        .into_iter()
        .chain(planted_subjects())
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no loom subject named {name:?}"))
}
