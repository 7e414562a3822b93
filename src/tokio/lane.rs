//! A lane: the jobs waiting for one kind of connection (the readers, or
//! the writer), and the litepool threads that serve them.
//!
//! Callers push jobs, and take back out those they give up on before they
//! started; they never wait here: a caller waits on its own job (`job.rs`),
//! as an async wait. The threads wait here, on a condition
//! variable, for jobs to take. `close` answers every queued job at once
//! and wakes the threads, which finish what they started and leave; a
//! [`Closing`](super::Closing) future waits for the last to leave.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::error::Error;
use crate::sync::{Arc, Condvar, Mutex, yield_now};

use super::job::Job;

/// How many times an idle thread gives way before it sleeps. None under
/// the model checkers: a thread that gives way and looks again is a thread
/// woken without a job, which they explore anyway (and each yield would
/// multiply their schedules).
const PATIENCE: usize = if cfg!(any(loom, shuttle)) { 0 } else { 32 };

#[derive(Debug)]
pub(crate) struct Lane {
    state: Mutex<LaneState>,
    /// Threads wait here for jobs, or for the lane to close.
    ready: Condvar,
}

#[derive(Debug)]
struct LaneState {
    queue: VecDeque<Arc<Job>>,
    closed: bool,
    /// Threads serving the lane that have not left.
    threads: usize,
    /// Threads running jobs they took.
    busy: usize,
    /// `close()` futures waiting for the last thread to leave.
    closing: Vec<Waker>,
}

/// What the lane's threads did, for [`AsyncPool::state`](super::AsyncPool::state).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) threads: usize,
    pub(crate) busy: usize,
    pub(crate) queued: usize,
}

impl Lane {
    /// A lane that `threads` threads will serve.
    pub(crate) fn new(threads: usize) -> Lane {
        Lane {
            state: Mutex::new(LaneState {
                queue: VecDeque::new(),
                closed: false,
                threads,
                busy: 0,
                closing: Vec::new(),
            }),
            ready: Condvar::new(),
        }
    }

    /// Queues `job` for a thread; a closed lane answers it at once.
    pub(crate) fn push(&self, job: Arc<Job>, what: &str) {
        let mut state = self.state.lock();
        if state.closed {
            drop(state);
            job.tell(Err(Error::closed(what)));
            return;
        }
        state.queue.push_back(job);
        drop(state);
        self.ready.notify_one();
    }

    /// A thread's wait for work: the first job queued, once there is one;
    /// `None` once the lane is closed. The thread counts as busy until it
    /// calls [`Lane::idle`].
    ///
    /// A thread that finds nothing queued gives way a few times before it
    /// sleeps ([`PATIENCE`]): the task it just answered is often about to
    /// queue its next job, and a sleeping thread costs that job a wake-up
    /// (a system call and a context switch, several microseconds: as much
    /// as the job itself).
    pub(crate) fn take(&self) -> Option<Arc<Job>> {
        let mut state = self.state.lock();
        let mut patience = PATIENCE;
        loop {
            if state.closed {
                return None;
            }
            if let Some(job) = state.queue.pop_front() {
                state.busy += 1;
                return Some(job);
            }
            if patience > 0 {
                patience -= 1;
                drop(state);
                yield_now();
                state = self.state.lock();
                continue;
            }
            state = self.ready.wait(state);
        }
    }

    /// The next job queued, if any, for a thread already busy (the writer
    /// filling a batch). Jobs stay in the lane until a thread is about to
    /// start them, so that `close` answers every job that has not.
    pub(crate) fn next(&self) -> Option<Arc<Job>> {
        let mut state = self.state.lock();
        if state.closed {
            return None;
        }
        state.queue.pop_front()
    }

    /// Removes `job`, given up on while it waited, if it is still queued.
    pub(crate) fn remove(&self, job: &Arc<Job>) {
        let mut state = self.state.lock();
        if let Some(at) = state.queue.iter().position(|queued| Arc::ptr_eq(queued, job)) {
            state.queue.remove(at);
        }
    }

    /// The thread finished the jobs it took.
    pub(crate) fn idle(&self) {
        self.state.lock().busy -= 1;
    }

    /// Closes the lane: every queued job is answered with a closed error,
    /// and the threads leave once they have finished what they started.
    pub(crate) fn close(&self, what: &str) {
        let mut state = self.state.lock();
        state.closed = true;
        let queued = std::mem::take(&mut state.queue);
        drop(state);
        self.ready.notify_all();
        for job in queued {
            job.tell(Err(Error::closed(what)));
        }
    }

    /// A thread leaves the lane (it has dropped its connection).
    pub(crate) fn leave(&self) {
        let mut state = self.state.lock();
        state.threads -= 1;
        let closing = if state.threads == 0 { std::mem::take(&mut state.closing) } else { Vec::new() };
        drop(state);
        for waker in closing {
            waker.wake();
        }
    }

    /// `close()`'s wait: ready once every thread has left.
    pub(crate) fn poll_left(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock();
        if state.threads == 0 {
            return Poll::Ready(());
        }
        if !state.closing.iter().any(|waker| waker.will_wake(cx.waker())) {
            state.closing.push(cx.waker().clone());
        }
        Poll::Pending
    }

    pub(crate) fn counts(&self) -> Counts {
        let state = self.state.lock();
        Counts { threads: state.threads, busy: state.busy, queued: state.queue.len() }
    }
}
