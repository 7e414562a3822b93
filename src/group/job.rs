//! A queued caller's work, as the queue and the runner of a batch hold it.
//!
//! A caller that finds a batch running queues its work and waits; the
//! caller running the batch (the *runner*) runs it on its own thread. The
//! work is borrowed from the waiting caller's stack ([`WriteWork`] is not
//! `'static`: a blocking caller need not box or clone what its work uses),
//! so the queue holds it as a pointer whose lifetime is erased. That is
//! sound because of one protocol, which `group.rs` keeps and the models
//! check (`a_caller_never_returns_while_its_work_may_run`,
//! `work_runs_exactly_once_or_never`):
//!
//! 1. A caller makes its job and queues it under the group's lock, then
//!    waits; its frame, which owns the work, is live from then on.
//! 2. The job leaves the queue once, under the lock: taken by a runner,
//!    which records the caller as running in its batch, or removed by its
//!    own caller (its deadline passed, the strategy closed, or it became
//!    the runner itself), who then returns without the work ever running.
//! 3. A runner calls the work it took at most once, catches its panic, and
//!    drops the job before it publishes that caller's outcome, under the
//!    lock. If the runner itself unwinds, its batch's guard publishes the
//!    outcomes first, from the runner's frame, after the last call.
//! 4. A caller whose job was taken returns only once it has read its
//!    outcome (or found its batch ended without one, which happens only
//!    after the runner is done with every job of it).
//!
//! So no job is used after its caller's frame is gone, and only one thread
//! at a time touches the work: its caller until it is queued, then the
//! runner that took it.

use crate::access::WriteWork;
use crate::error::Result;

/// The erased form of a [`WriteWork`].
type Erased<C> = *mut (dyn FnMut(&C) -> Result<()> + Send + 'static);

/// One caller's work, queued or taken by a runner.
pub(super) struct Job<C> {
    work: Erased<C>,
}

// SAFETY: the work behind the pointer is `Send` (`WriteWork` requires it),
// and the protocol above lets one thread at a time reach it: the queue
// only stores the job, and the runner that took it is the only caller.
unsafe impl<C> Send for Job<C> {}

impl<C> Job<C> {
    /// Erases `work`'s lifetime.
    ///
    /// # Safety
    ///
    /// The caller keeps the protocol above: the frame that lends `work`
    /// does not return while the job is queued or taken, and only a runner
    /// that took the job from the queue calls [`Job::work`].
    pub(super) unsafe fn new(work: WriteWork<'_, C>) -> Job<C> {
        let work: *mut (dyn FnMut(&C) -> Result<()> + Send + '_) = work;
        // SAFETY: the same fat pointer with a longer lifetime; the caller
        // promises it is used only while the real lifetime lasts.
        let work = unsafe { std::mem::transmute::<*mut (dyn FnMut(&C) -> Result<()> + Send + '_), Erased<C>>(work) };
        Job { work }
    }

    /// The work, for the runner that took the job from the queue.
    pub(super) fn work(&mut self) -> WriteWork<'_, C> {
        // SAFETY: by the protocol above the caller that lent the work is
        // still waiting (it returns only after this job is dropped and its
        // outcome published), and this runner is the only one to reach it.
        unsafe { &mut *self.work }
    }
}
