//! The sync shim: the one file that names a synchronisation primitive.
//!
//! Everything in litepool that locks, waits, counts atomically or spawns a
//! thread imports it from here. Normally these are `parking_lot` and `std`.
//! Built with `RUSTFLAGS="--cfg loom"` they are `loom`'s, so the loom models in
//! `tests/loom_*.rs` explore every interleaving of the *real* pool and lock code,
//! not a copy of it; built with `RUSTFLAGS="--cfg shuttle"` they are
//! `shuttle`'s, whose randomized schedulers (`tests/shuttle_*.rs`) run the
//! same properties with more threads than loom can explore exhaustively.
//! (The shape follows tokio's `src/loom/` and crossbeam-utils'
//! `primitive` modules.)
//!
//! The API is std-shaped with two deliberate differences, both so that code
//! elsewhere cannot tell which side it got:
//!
//! * [`Mutex::lock`] returns the guard directly. `parking_lot` never poisons,
//!   and litepool restores its own invariants on unwind (a connection returned
//!   during a panic is rolled back), so a poisoned lock would only be a dead end.
//! * [`Condvar`] takes and returns guards by value, as `std` does, and its
//!   timed wait takes a deadline. Neither checker models time: under them a
//!   deadline in the future never passes, and one in the past has passed at
//!   whatever point the scheduler picks (the wait releases the lock and
//!   reports a timeout), so a model explores a waiter giving up at every
//!   moment.
//!
//! Keyed on plain `cfg(loom)` and `cfg(shuttle)` (never both), not
//! `cfg(test)`: integration tests build the library without `cfg(test)`.

pub(crate) use imp::*;

#[cfg(not(any(loom, shuttle)))]
mod imp {
    use std::time::Instant;

    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    // Only the async facade gives way.
    #[cfg(feature = "tokio")]
    pub(crate) use std::thread::yield_now;
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

    /// loom's `UnsafeCell` API over std's, so that the fake connection,
    /// written for the checkers' cell, builds normally too (for the
    /// fidelity test). Nothing checks it here: the fake is not `Sync`.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get().cast_const())
        }

        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(all(loom, shuttle))]
compile_error!("build with `--cfg loom` or `--cfg shuttle`, not both: each replaces every primitive here");

/// The model checkers' side: loom's primitives under `cfg(loom)`,
/// shuttle's under `cfg(shuttle)`. Both run a model's threads as
/// coroutines under a scheduler of their own and have std-shaped APIs, so
/// one module serves both; only the cell differs (shuttle has none).
#[cfg(any(loom, shuttle))]
mod imp {
    use std::ops::{Deref, DerefMut};
    use std::time::Instant;

    #[cfg(loom)]
    use loom as checker;
    #[cfg(shuttle)]
    use shuttle as checker;

    #[cfg(shuttle)]
    pub(crate) use self::cell::UnsafeCell;
    #[cfg(loom)]
    pub(crate) use loom::cell::UnsafeCell;

    pub(crate) use checker::sync::Arc;
    pub(crate) use checker::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    pub(crate) use checker::thread::yield_now;
    pub(crate) use checker::thread_local;

    /// The checker's guard, and the mutex it came from: a timed wait whose
    /// deadline has passed unlocks and locks again without a notification.
    pub(crate) struct MutexGuard<'a, T> {
        mutex: &'a checker::sync::Mutex<T>,
        guard: Option<checker::sync::MutexGuard<'a, T>>,
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

    /// A mutex whose `lock` cannot fail (the checker's poisoning is
    /// ignored, as `parking_lot` has none).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(checker::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(checker::sync::Mutex::new(value))
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
    pub(crate) struct Condvar(checker::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(checker::sync::Condvar::new())
        }

        #[track_caller]
        pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            let inner = guard.guard.take().expect("a guard is only empty inside a wait");
            guard.guard = Some(self.0.wait(inner).unwrap_or_else(std::sync::PoisonError::into_inner));
            guard
        }

        /// Neither checker models time. A deadline in the future never
        /// passes: this waits for a notification. A deadline in the past
        /// (a model gives one to explore timeouts) has passed at any moment
        /// the scheduler picks: the lock is released, other threads may
        /// run, and the wait reports a timeout without a notification, as
        /// a real timed wait that expires does.
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
            checker::thread::yield_now();
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

    /// loom's `UnsafeCell` for shuttle, which has none and does not track
    /// happens-before: a cell in use is marked busy in one of shuttle's
    /// atomics, whose every operation is a scheduling point, so the
    /// scheduler may run another thread before the mark is cleared; two
    /// threads using the cell at once (a connection shared without a lock)
    /// meet there in the schedules that overlap them, and the second
    /// panics. (A `yield_now` would do as much, but PCT lowers the priority
    /// of a thread that yields, which would make every thread that touches
    /// a connection give way, and PCT's schedules round-robin.)
    #[cfg(shuttle)]
    mod cell {
        use shuttle::sync::atomic::{AtomicBool, Ordering};

        #[derive(Debug)]
        pub struct UnsafeCell<T> {
            value: std::cell::UnsafeCell<T>,
            busy: AtomicBool,
        }

        // SAFETY: as loom's cell, it is shared to be checked; every access
        // goes through `with`/`with_mut`, which refuse a second user.
        unsafe impl<T: Send> Sync for UnsafeCell<T> {}

        impl<T> UnsafeCell<T> {
            pub fn new(value: T) -> Self {
                UnsafeCell { value: std::cell::UnsafeCell::new(value), busy: AtomicBool::new(false) }
            }

            #[track_caller]
            pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
                self.with_mut(|value| f(value.cast_const()))
            }

            #[track_caller]
            pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
                let was_busy = self.busy.swap(true, Ordering::SeqCst);
                assert!(!was_busy, "Causality violation: two threads used one cell at once (shuttle)");
                let _free = Free(&self.busy);
                f(self.value.get())
            }
        }

        /// Clears the mark (a scheduling point, inside the window), on
        /// unwinding too: a connection dropped while its thread unwinds
        /// uses its cell in `Drop`.
        struct Free<'a>(&'a AtomicBool);

        impl Drop for Free<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
    }
}

/// Starts a thread called `name` that runs `f`, and lets it go: litepool's
/// own threads (the async facade's reader and writer) end by themselves
/// once their work is closed. Under the checkers, a model's thread.
#[cfg(any(feature = "tokio", loom, shuttle))]
pub(crate) fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    #[cfg(not(any(loom, shuttle)))]
    return std::thread::Builder::new().name(name).spawn(f).map(drop);
    #[cfg(loom)]
    return {
        drop(name);
        loom::thread::spawn(f);
        Ok(())
    };
    #[cfg(shuttle)]
    return shuttle::thread::Builder::new().name(name).spawn(f).map(drop);
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
    !cfg!(any(loom, shuttle)) && since.elapsed() >= limit
}

/// `std`'s atomic counter even under loom, for the fake connection's fault
/// counters: a model injects a fault before it starts its threads, and a
/// loom-visible counter would add a scheduling point to every connect,
/// reset and `is_broken`, multiplying the interleavings of every model
/// for no property's sake. loom runs a model's threads on one OS thread,
/// so the counter's reads are deterministic within a schedule.
pub(crate) use std::sync::atomic::AtomicUsize as UnmodeledAtomicUsize;

/// A process-wide unique number, for telling strategy instances apart in
/// thread-local storage. Not part of any model: uniqueness is all it gives.
pub(crate) fn unique_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
