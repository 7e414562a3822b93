//! The planted copy of the fair line (`src/line.rs`), the one copy both
//! planted owners wait in: the planted write queue (`planted_queue.rs`)
//! and the planted group commit (`planted_group.rs`), as litepool's write
//! queue and group commit both wait in `src/line.rs`. [`LineBug`] switches
//! on one of the line's own mistakes; each owner maps its bugs onto it.
//!
//! The copy leaves out the time bound: loom does not model time, so the
//! models check the count (`src/line.rs`'s unit tests check the time).

use std::collections::VecDeque;

use crate::support::checker::{Arc, Condvar, Mutex, MutexGuard, thread};

/// The mistakes a waiting line can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineBug {
    None,
    /// An arriving caller checks the bound but forgets that the resource
    /// may be held.
    TakeWhileHeld,
    /// Waiters join the line at its front.
    Lifo,
    /// Arriving callers may always take a free resource; the head is never
    /// handed it.
    UnboundedOvertaking,
    /// A release frees the resource without waking the head of the line.
    NoWakeOnRelease,
    /// A hand-off sets who holds the resource but wakes nobody.
    HandOffWithoutWake,
    /// A waiter whose wait timed out leaves the line before checking
    /// whether the resource was handed to it.
    TimeoutDropsHanded,
    /// A waiter whose owner closed leaves though it was handed the
    /// resource.
    ClosedLeavesHanded,
    /// A waiter that leaves from the head of the line while the resource is
    /// free does not wake the caller behind it.
    LeaveWithoutWakingNext,
    /// An arriving waiter resets the count of overtakes, as if the count
    /// were the newcomer's.
    ArrivalResetsOvertaken,
    /// The line is a ring of four slots that, full, overwrites its oldest
    /// waiter, who then waits for ever.
    LineOfFour,
    /// A waiter whose deadline has passed goes on waiting as if it had none.
    DeadlineIgnored,
}

/// Why a waiter left without the resource.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Closed,
    TimedOut,
}

/// A copy of `src/line.rs` with one bug switched on; it lives inside its
/// owner's lock, as the real one does.
pub struct PlantedWaitLine {
    bug: LineBug,
    bound: usize,
    held: bool,
    waiting: VecDeque<(u64, Arc<Condvar>)>,
    handed_to: Option<u64>,
    overtaken: usize,
    next_ticket: u64,
}

impl PlantedWaitLine {
    pub fn new(bug: LineBug, bound: usize) -> PlantedWaitLine {
        PlantedWaitLine {
            bug,
            bound,
            held: false,
            waiting: VecDeque::new(),
            handed_to: None,
            overtaken: 0,
            next_ticket: 0,
        }
    }

    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Waits in the line `line` finds in `lock`'s data (`guard` holds it)
    /// unless `closed`; a waiter that is not `patient` has a deadline that
    /// passes at whatever moment the checker picks, as litepool's shim
    /// models an expiring timed wait. `Ok`: the caller holds the resource,
    /// also when it was handed it as its owner closed.
    pub fn wait<'a, T>(
        lock: &'a Mutex<T>,
        mut guard: MutexGuard<'a, T>,
        line: fn(&mut T) -> &mut PlantedWaitLine,
        closed: impl Fn(&T) -> bool,
        patient: bool,
    ) -> (MutexGuard<'a, T>, Result<(), Refusal>) {
        if closed(&guard) {
            return (guard, Err(Refusal::Closed));
        }
        let me = line(&mut guard);
        let bug = me.bug;
        let free = me.handed_to.is_none() && (bug == LineBug::TakeWhileHeld || !me.held);
        if free && (me.waiting.is_empty() || !me.head_is_due()) {
            me.overtaken += usize::from(!me.waiting.is_empty());
            me.held = true;
            return (guard, Ok(()));
        }
        let ticket = me.next_ticket;
        me.next_ticket += 1;
        let wake = Arc::new(Condvar::new());
        if bug == LineBug::ArrivalResetsOvertaken {
            me.overtaken = 0;
        }
        if bug == LineBug::LineOfFour && me.waiting.len() == 4 {
            me.waiting.pop_front();
        }
        if bug == LineBug::Lifo {
            me.waiting.push_front((ticket, wake.clone()));
        } else {
            me.waiting.push_back((ticket, wake.clone()));
        }
        let mut timed_out = false;
        loop {
            let is_closed = closed(&guard);
            let me = line(&mut guard);
            if bug == LineBug::TimeoutDropsHanded && timed_out {
                me.leave(ticket);
                return (guard, Err(Refusal::TimedOut));
            }
            let leaves_handed = bug == LineBug::ClosedLeavesHanded && is_closed;
            if me.handed_to == Some(ticket) && !leaves_handed {
                me.handed_to = None;
                return (guard, Ok(()));
            }
            if is_closed {
                me.leave(ticket);
                return (guard, Err(Refusal::Closed));
            }
            if me.waiting.front().is_some_and(|(t, _)| *t == ticket) && !me.held {
                me.waiting.pop_front();
                me.overtaken = 0;
                me.held = true;
                return (guard, Ok(()));
            }
            if timed_out {
                me.leave(ticket);
                return (guard, Err(Refusal::TimedOut));
            }
            if patient || bug == LineBug::DeadlineIgnored {
                guard = wake.wait(guard).unwrap();
            } else {
                drop(guard);
                thread::yield_now();
                guard = lock.lock().unwrap();
                timed_out = true;
            }
        }
    }

    /// The holder is done: the head is handed the resource if `hand_over`
    /// asks for it or it is due; otherwise the resource is freed and the
    /// head woken.
    pub fn release(&mut self, hand_over: bool) {
        self.held = false;
        let due = hand_over || self.head_is_due();
        let Some((_, wake)) = self.waiting.front() else { return };
        let wakes =
            if due { self.bug != LineBug::HandOffWithoutWake } else { self.bug != LineBug::NoWakeOnRelease };
        if wakes {
            wake.notify_one();
        }
        if due {
            let (ticket, _) = self.waiting.pop_front().expect("the head was just seen");
            self.handed_to = Some(ticket);
            self.held = true;
            self.overtaken = 0;
        }
    }

    /// Wakes the first `n` waiters (every one: `usize::MAX`).
    pub fn wake_first(&self, n: usize) {
        for (_, wake) in self.waiting.iter().take(n) {
            wake.notify_one();
        }
    }

    fn head_is_due(&self) -> bool {
        self.bug != LineBug::UnboundedOvertaking && self.overtaken >= self.bound
    }

    fn leave(&mut self, ticket: u64) {
        let Some(at) = self.waiting.iter().position(|(t, _)| *t == ticket) else { return };
        self.waiting.remove(at);
        if at == 0 {
            self.overtaken = 0;
            let wake_next = !self.held && self.bug != LineBug::LeaveWithoutWakingNext;
            if let Some((_, next)) = self.waiting.front().filter(|_| wake_next) {
                next.notify_one();
            }
        }
    }
}
