//! One async caller's job: the state machine that every guarantee of the
//! facade rests on, shared by the caller's [`Answer`](super::Answer) and the
//! litepool thread that runs it.
//!
//! ```text
//!            start              tell
//!  Queued ─────────▶ Running ─────────▶ Done ──(answer polled)──▶ Gone
//!    │                  │                 │
//!    └──── cancel ──────┴──── cancel ─────┴────────────────────────▶ Gone
//! ```
//!
//! * A job is `Queued` with its work until a thread *starts* it, just
//!   before running it. A caller that gives up (drops its answer) while it
//!   is queued takes it to `Gone`, drops its work and takes it out of its
//!   lane's queue: it never runs,
//!   wherever it waited (for a reader, for the writer's turn, or in a batch
//!   taken but not yet reached) (G1, G4).
//! * A started read carries the [`Stop`] of the connection it runs on. A
//!   caller that gives up while it runs raises that stop *under the job's
//!   lock, while the job is `Running`*; the thread publishes the outcome
//!   (`tell`, under the same lock) before it lowers the stop and starts the
//!   next job on that connection. So a stop can stop only the job it was
//!   raised for (G2). A started write carries no stop: it is never
//!   interrupted, because an interrupt rolls back the whole transaction and
//!   the other writes batched in it (G5); its caller loses only the answer.
//! * Every transition is one short critical section; the work is dropped,
//!   and the waker woken, outside the lock: dropping an answer never
//!   blocks for longer than a state change (G7).

use std::any::Any;
use std::task::{Context, Poll, Waker};

use crate::error::Result;
use crate::manager::Stop;
use crate::sync::{Arc, Mutex};

use super::{Cancelled, Plant};

/// A job's answer, type-erased (the caller's [`Answer`](super::Answer)
/// knows its type).
pub(crate) type Value = Box<dyn Any + Send>;

/// A job's work on a connection of type `C`.
pub(crate) type Work<C> = Box<dyn FnOnce(&C) -> Result<Value> + Send>;

/// One job, shared by its caller and the thread that runs it.
#[derive(Debug)]
pub(crate) struct Job {
    state: Mutex<State>,
}

enum State {
    /// Waiting for a thread to start it. `work` is a boxed [`Work<C>`]
    /// (boxed once more so that a job is not generic: a caller's answer
    /// holds one without knowing the connection type).
    Queued { work: Box<dyn Any + Send>, waker: Option<Waker> },
    /// Its work has been taken to run; `stop` stops it (reads only).
    Running { stop: Option<Stop>, waker: Option<Waker> },
    /// Finished (or failed without running); the outcome waits for its caller.
    Done(Result<Value>),
    /// Its caller took the outcome, or gave up.
    Gone,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Queued { .. } => "Queued",
            State::Running { .. } => "Running",
            State::Done(_) => "Done",
            State::Gone => "Gone",
        })
    }
}

impl Job {
    /// A queued job that will run `work`.
    pub(crate) fn new<C: 'static>(work: Work<C>) -> Arc<Job> {
        Arc::new(Job { state: Mutex::new(State::Queued { work: Box::new(work), waker: None }) })
    }

    /// Takes the work to run it now: `Queued` becomes `Running`, stopped by
    /// `stop` (`None` for a write, which must never be interrupted).
    /// `None` if the caller gave up, or the job was answered meanwhile:
    /// then it must not run.
    pub(crate) fn start<C: 'static>(&self, stop: Option<&Stop>) -> Option<Work<C>> {
        let mut state = self.state.lock();
        match std::mem::replace(&mut *state, State::Gone) {
            State::Queued { work, waker } => {
                *state = State::Running { stop: stop.cloned(), waker };
                drop(state);
                let work = work.downcast::<Work<C>>().expect("a job's work is for its lane's connections");
                Some(*work)
            }
            other => {
                *state = other;
                None
            }
        }
    }

    /// Publishes the job's outcome and wakes its caller. A queued job is
    /// answered without running (its work is dropped); a caller that gave
    /// up gets nothing (the outcome is dropped); a job already answered
    /// keeps its first outcome.
    pub(crate) fn tell(&self, outcome: Result<Value>) {
        let mut state = self.state.lock();
        let (waker, dropped) = match std::mem::replace(&mut *state, State::Gone) {
            State::Queued { work, waker } => {
                *state = State::Done(outcome);
                (waker, Some(work))
            }
            State::Running { waker, .. } => {
                *state = State::Done(outcome);
                (waker, None)
            }
            other => {
                *state = other;
                drop(state);
                drop(outcome);
                return;
            }
        };
        drop(state);
        drop(dropped);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The caller gave up: a queued job never runs (its work is dropped
    /// here); a running read is stopped, still under the job's lock; a
    /// running write runs on to its outcome, which nobody will read.
    pub(crate) fn cancel(&self, plant: Plant) -> Cancelled {
        let mut state = self.state.lock();
        if plant == Plant::CancelLeavesQueuedWork && matches!(*state, State::Queued { .. }) {
            return Cancelled::NeverRan;
        }
        let gone = std::mem::replace(&mut *state, State::Gone);
        if let State::Running { stop: Some(stop), .. } = &gone {
            stop.raise();
        }
        drop(state);
        match gone {
            State::Queued { .. } => Cancelled::NeverRan,
            State::Running { .. } => Cancelled::Started,
            State::Done(_) | State::Gone => Cancelled::Finished,
        }
    }

    /// The caller's poll: the outcome once it is told, else the waker is
    /// kept to be woken then.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Value>>> {
        let mut state = self.state.lock();
        match &mut *state {
            State::Queued { waker, .. } | State::Running { waker, .. } => {
                match waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            State::Done(_) => match std::mem::replace(&mut *state, State::Gone) {
                State::Done(outcome) => Poll::Ready(Some(outcome)),
                _ => unreachable!("matched above"),
            },
            State::Gone => Poll::Ready(None),
        }
    }
}
