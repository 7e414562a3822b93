//! The sync shim: the one file that names a synchronisation primitive.
//!
//! Everything in litepool that locks, waits, counts atomically or spawns a
//! thread imports it from here. Normally these are `parking_lot` and `std`;
//! built with `RUSTFLAGS="--cfg loom"` they are `loom`'s, so the loom models in
//! `tests/loom_*.rs` explore every interleaving of the *real* pool and lock code,
//! not a copy of it. (The shape follows tokio's `src/loom/` and crossbeam-utils'
//! `primitive` modules.)
//!
//! The API is std-shaped with two deliberate differences, both so that code
//! elsewhere cannot tell which side it got:
//!
//! * [`Mutex::lock`] returns the guard directly. `parking_lot` never poisons,
//!   and litepool restores its own invariants on unwind (a connection returned
//!   during a panic is rolled back), so a poisoned lock would only be a dead end.
//! * [`Condvar`] takes and returns guards by value, as `std` does, and its
//!   timed wait takes a deadline. loom does not model time: under loom a
//!   deadline in the future never passes, and one in the past has passed at
//!   whatever point loom picks (the wait releases the lock and reports a
//!   timeout), so a model explores a waiter giving up at every moment.
//!
//! Keyed on plain `cfg(loom)`, not `cfg(test)`: integration tests build the
//! library without `cfg(test)`.

pub(crate) use imp::*;

#[cfg(not(loom))]
mod imp {
    use std::time::Instant;

    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::thread_local;

    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    /// A mutex whose `lock` cannot fail.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(parking_lot::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock()
        }
    }

    /// A condition variable with std's by-value guard passing.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(parking_lot::Condvar::new())
        }

        pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(&mut guard);
            guard
        }

        /// Waits until notified or until `deadline`; `true` means it timed out.
        pub(crate) fn wait_until<'a, T>(
            &self,
            mut guard: MutexGuard<'a, T>,
            deadline: Instant,
        ) -> (MutexGuard<'a, T>, bool) {
            let timed_out = self.0.wait_until(&mut guard, deadline).timed_out();
            (guard, timed_out)
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(loom)]
mod imp {
    use std::ops::{Deref, DerefMut};
    use std::time::Instant;

    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    pub(crate) use loom::thread_local;

    /// loom's guard, and the mutex it came from: a timed wait whose
    /// deadline has passed unlocks and locks again without a notification.
    pub(crate) struct MutexGuard<'a, T> {
        mutex: &'a loom::sync::Mutex<T>,
        guard: Option<loom::sync::MutexGuard<'a, T>>,
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.guard.as_ref().expect("a guard is only empty inside a wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.guard.as_mut().expect("a guard is only empty inside a wait")
        }
    }

    /// A mutex whose `lock` cannot fail (loom's poisoning is ignored, as
    /// `parking_lot` has none).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        #[track_caller]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            let guard = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            MutexGuard { mutex: &self.0, guard: Some(guard) }
        }

        #[track_caller]
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            let guard = match self.0.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return None,
            };
            Some(MutexGuard { mutex: &self.0, guard: Some(guard) })
        }
    }

    #[derive(Debug)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }

        #[track_caller]
        pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            let inner = guard.guard.take().expect("a guard is only empty inside a wait");
            guard.guard = Some(self.0.wait(inner).unwrap_or_else(std::sync::PoisonError::into_inner));
            guard
        }

        /// Loom does not model time. A deadline in the future never
        /// passes: this waits for a notification. A deadline in the past
        /// (a model gives one to explore timeouts) has passed at any moment
        /// loom picks: the lock is released, other threads may run, and the
        /// wait reports a timeout without a notification, as a real timed
        /// wait that expires does.
        #[track_caller]
        pub(crate) fn wait_until<'a, T>(
            &self,
            mut guard: MutexGuard<'a, T>,
            deadline: Instant,
        ) -> (MutexGuard<'a, T>, bool) {
            if Instant::now() < deadline {
                return (self.wait(guard), false);
            }
            drop(guard.guard.take());
            loom::thread::yield_now();
            guard.guard = Some(guard.mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            (guard, true)
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

/// `std`'s `Arc` even under loom, for immutable configuration (a user's
/// setup hook) that no model needs to see and that must hold a `dyn` value,
/// which loom's `Arc` cannot.
pub(crate) use std::sync::Arc as UnmodeledArc;

/// `std`'s mutex and weak pointer even under loom, for the process-wide
/// registry of write queues (`WriteQueue::for_file`): it must be a `static`,
/// which loom's mutex cannot be, it is touched once when a strategy opens,
/// and no model opens a real file.
pub(crate) use std::sync::{Mutex as UnmodeledMutex, Weak as UnmodeledWeak};

/// Whether at least `limit` has passed since `since`. Under loom, never:
/// loom does not model time, and a branch on the real clock would make two
/// runs of one schedule differ, which loom forbids.
pub(crate) fn has_elapsed(since: std::time::Instant, limit: std::time::Duration) -> bool {
    !cfg!(loom) && since.elapsed() >= limit
}

/// Whether a cost measured on the real clock exceeds another. Under loom,
/// always: a branch on the clock would make two runs of one schedule
/// differ, which loom forbids, and this way the models explore the branch
/// that runs more of the code (the group strategy's batching).
pub(crate) fn costs_more(measured: std::time::Duration, than: std::time::Duration) -> bool {
    cfg!(loom) || measured > than
}

/// `std`'s atomic counter even under loom, for the fake connection's fault
/// counters: a model injects a fault before it starts its threads, and a
/// loom-visible counter would add a scheduling point to every connect,
/// reset and `is_broken`, multiplying the interleavings of every model
/// for no property's sake. loom runs a model's threads on one OS thread,
/// so the counter's reads are deterministic within a schedule.
#[cfg(loom)]
pub(crate) use std::sync::atomic::AtomicUsize as UnmodeledAtomicUsize;

/// A process-wide unique number, for telling strategy instances apart in
/// thread-local storage. Not part of any model: uniqueness is all it gives.
pub(crate) fn unique_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
