//! The fair waiting line: who gets a resource one holder at a time (the
//! write turn of a database file), in arrival order, with a bounded
//! exception for a caller already running.
//!
//! **Why it is a module of its own.** It was written for the write queue
//! and group commit, which once both waited for one holder (the turn, the
//! writer connection); two copies of it had drifted (one bounded
//! overtaking by count and by time, the other by count alone). Group
//! commit no longer waits in it: its callers queue their *work*, which the
//! caller running the batch takes in arrival order (`src/group.rs`), so
//! nobody there waits for a resource to be handed over. The line stays
//! apart from the write queue's registry of files, with its own unit tests,
//! and is model-checked through the write queue (`tests/loom_write_queue.rs`).
//!
//! **Order.** Waiters form a line in arrival order, each on a condition
//! variable of its own, so that the holder wakes exactly the caller it
//! concerns: one wake-up per hand-off. Only the head of the line can be
//! handed the resource.
//!
//! **Overtaking, and its bound.** A caller that arrives while the resource
//! is free may take it past the head of the line: it is already running,
//! where the head would first have to be woken, which costs more than a
//! small write. It may do so only [`Line::OVERTAKING_BOUND`] times in a row
//! and only while the head has waited less than [`Line::FAIR_AFTER`]; then
//! the holder hands the resource to the head directly. So the head is
//! overtaken a bounded number of times, for a bounded time, and never by a
//! caller that arrived after it and had to wait. (Under loom the clock
//! never advances, so the models check the count.)
//!
//! **Deadlines, close, panics.** A waiter leaves the line at its deadline
//! with [`Refusal::TimedOut`] (how many were ahead of it); one handed the
//! resource as it gave up takes it, or the resource would be stranded with
//! nobody to pass it on. A close wakes every waiter, and each leaves with
//! [`Refusal::Closed`]; again, one already handed the resource takes it, and
//! its owner decides what to do with it. The line holds no callback and
//! runs none: a panic elsewhere cannot leave it inconsistent, and the
//! owner's release runs in a `Drop`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::sync::{Arc, Condvar, MutexGuard, has_elapsed};

/// The line of callers waiting for one resource. It has no lock of its
/// own: its owner keeps it inside the data its mutex guards.
pub(crate) struct Line {
    bound: usize,
    /// Whether a caller holds the resource.
    held: bool,
    /// Callers waiting, in arrival order.
    waiting: VecDeque<Waiter>,
    /// The ticket of the waiter the resource was handed to, until it takes it.
    handed_to: Option<u64>,
    /// Times the resource was taken past the head since it became the head.
    overtaken: usize,
    next_ticket: u64,
}

struct Waiter {
    ticket: u64,
    /// When it became the head of the line (`None` until then).
    head_since: Option<Instant>,
    /// Whether it was woken and has not yet looked: a release that frees
    /// the resource need not wake it again (a system call saved per
    /// overtake).
    woken: bool,
    wake: Arc<Condvar>,
}

/// Why a waiter left the line without the resource.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its owner closed.
    Closed,
    /// Its deadline passed, with `ahead` callers ahead of it (the holder
    /// included).
    TimedOut { ahead: usize },
}

impl Line {
    /// How many times in a row a running caller may take the resource past
    /// the head of the line, by default.
    pub(crate) const OVERTAKING_BOUND: usize = 64;

    /// How long the head of the line may wait before the resource is
    /// handed to it directly, whatever the count: callers that each take
    /// milliseconds (a rollback journal, `synchronous = FULL`) overtake it
    /// at most once each.
    pub(crate) const FAIR_AFTER: Duration = Duration::from_millis(10);

    /// An empty line whose head may be overtaken `bound` times in a row (0:
    /// strictly first in, first out).
    pub(crate) fn new(bound: usize) -> Line {
        Line { bound, held: false, waiting: VecDeque::new(), handed_to: None, overtaken: 0, next_ticket: 0 }
    }

    /// Whether a caller holds the resource (or it was handed to a waiter
    /// that has not yet woken to take it).
    pub(crate) fn is_held(&self) -> bool {
        self.held
    }

    /// How many callers wait.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The overtaking bound it was made with.
    pub(crate) fn bound(&self) -> usize {
        self.bound
    }

    /// Waits for the resource up to `timeout`, in the line that `line`
    /// finds in the data `guard` holds, unless `closed` says its owner
    /// closed first. Returns the guard, and `Ok` when the caller holds the
    /// resource: it must then [`release`](Line::release) it, also when it
    /// finds its owner closed (a hand-off is taken even then). The clock
    /// is read only once a wait begins: an uncontended take is one lock
    /// round trip.
    pub(crate) fn wait<'a, T>(
        mut guard: MutexGuard<'a, T>,
        line: fn(&mut T) -> &mut Line,
        closed: impl Fn(&T) -> bool,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, Result<(), Refusal>) {
        if closed(&guard) {
            return (guard, Err(Refusal::Closed));
        }
        let me = line(&mut guard);
        if me.may_take() {
            me.overtaken += usize::from(!me.waiting.is_empty());
            me.held = true;
            return (guard, Ok(()));
        }
        let ticket = me.next_ticket;
        me.next_ticket += 1;
        let wake = Arc::new(Condvar::new());
        let now = Instant::now();
        // `None`: the deadline overflows an `Instant`; wait for ever.
        let deadline = now.checked_add(timeout);
        let head_since = me.waiting.is_empty().then_some(now);
        me.waiting.push_back(Waiter { ticket, head_since, woken: false, wake: wake.clone() });
        let mut timed_out = false;
        loop {
            let me = line(&mut guard);
            // Handed over: taken even if the wait has just timed out or the
            // owner closed, or the resource would be stranded.
            if me.handed_to == Some(ticket) {
                me.handed_to = None;
                return (guard, Ok(()));
            }
            if closed(&guard) {
                line(&mut guard).leave(ticket);
                return (guard, Err(Refusal::Closed));
            }
            let me = line(&mut guard);
            let at_head = me.waiting.front().is_some_and(|w| w.ticket == ticket);
            if at_head && !me.held && me.handed_to.is_none() {
                me.waiting.pop_front();
                me.became_head();
                me.held = true;
                return (guard, Ok(()));
            }
            if timed_out {
                let ahead = me.leave(ticket);
                return (guard, Err(Refusal::TimedOut { ahead }));
            }
            // Going back to sleep: the next release must wake it again.
            if let Some(waiter) = me.waiting.iter_mut().find(|w| w.ticket == ticket) {
                waiter.woken = false;
            }
            guard = match deadline {
                Some(deadline) => {
                    let expired;
                    (guard, expired) = wake.wait_until(guard, deadline);
                    timed_out = expired;
                    guard
                }
                None => wake.wait(guard),
            };
        }
    }

    /// The holder is done. The resource goes to the head of the line
    /// directly (it stays held, one wake-up) if `hand_over` asks for it or
    /// the head is due; otherwise it is freed and the head woken to take
    /// it, unless it was woken already (a running caller may take it first,
    /// within the bound).
    pub(crate) fn release(&mut self, hand_over: bool) {
        self.held = false;
        let hand_over = hand_over || self.head_is_due();
        let Some(head) = self.waiting.front_mut() else { return };
        if hand_over || !head.woken {
            head.woken = true;
            head.wake.notify_one();
        }
        if hand_over {
            let head = self.waiting.pop_front().expect("the head was just seen");
            self.handed_to = Some(head.ticket);
            self.held = true;
            self.became_head();
        }
    }

    /// Wakes every waiter, so that they look at their owner's state again
    /// (after a close).
    pub(crate) fn wake_all(&self) {
        for waiter in &self.waiting {
            waiter.wake.notify_one();
        }
    }

    /// Whether a caller arriving now may take the resource: it is free, and
    /// nobody waits or the head of the line is not yet due.
    fn may_take(&self) -> bool {
        !self.held && self.handed_to.is_none() && (self.waiting.is_empty() || !self.head_is_due())
    }

    /// Whether the head of the line has been overtaken `bound` times, or has
    /// waited [`FAIR_AFTER`](Line::FAIR_AFTER), since it became the head.
    fn head_is_due(&self) -> bool {
        self.overtaken >= self.bound
            || self
                .waiting
                .front()
                .and_then(|head| head.head_since)
                .is_some_and(|t| has_elapsed(t, Line::FAIR_AFTER))
    }

    /// A new caller is at the head of the line (or nobody is): its count of
    /// overtakes starts at zero, its clock now.
    fn became_head(&mut self) {
        self.overtaken = 0;
        if let Some(head) = self.waiting.front_mut() {
            head.head_since.get_or_insert_with(Instant::now);
        }
    }

    /// Takes `ticket` out of the line and returns how many were ahead of it,
    /// the holder included. If it was the head and the resource is free,
    /// the new head is woken, or nobody would be.
    fn leave(&mut self, ticket: u64) -> usize {
        let at = self.waiting.iter().position(|w| w.ticket == ticket).expect("a waiter leaves the line once");
        self.waiting.remove(at);
        if at == 0 {
            self.became_head();
            if let Some(head) = self.waiting.front().filter(|_| !self.held && self.handed_to.is_none()) {
                head.wake.notify_one();
            }
        }
        at + usize::from(self.held)
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use std::thread;

    use super::*;
    use crate::sync::{AtomicBool, Mutex, Ordering::SeqCst};

    /// Waits in `line` for up to `timeout`, never closed.
    fn wait(line: &Mutex<Line>, timeout: Duration) -> Result<(), Refusal> {
        Line::wait(line.lock(), |line| line, |_| false, timeout).1
    }

    /// Takes the line's resource, lets `head` queue behind it, and returns
    /// once it waits.
    fn held_with_a_head_waiting<'s>(
        line: &'s Mutex<Line>,
        s: &'s thread::Scope<'s, '_>,
    ) -> (Instant, thread::ScopedJoinHandle<'s, Result<(), Refusal>>) {
        assert_eq!(wait(line, Duration::ZERO), Ok(()));
        let joined = Instant::now();
        let head = s.spawn(|| {
            let taken = wait(line, Duration::from_secs(60));
            line.lock().release(false);
            taken
        });
        while line.lock().waiting() == 0 {
            thread::yield_now();
        }
        (joined, head)
    }

    /// A running caller takes the free resource past the head at most
    /// `bound` times in a row (fewer only if the head has meanwhile waited
    /// `FAIR_AFTER`); then the release hands it to the head. The lock is held
    /// from each release to the next take, so the head cannot run between.
    #[test]
    fn a_running_caller_overtakes_the_head_at_most_the_bound() {
        let line = Mutex::new(Line::new(3));
        thread::scope(|s| {
            let (joined, head) = held_with_a_head_waiting(&line, s);
            let mut guard = line.lock();
            let mut overtakes = 0;
            loop {
                guard.release(false);
                if guard.handed_to.is_some() {
                    break;
                }
                let taken;
                (guard, taken) = Line::wait(guard, |line| line, |_| false, Duration::ZERO);
                assert_eq!(taken, Ok(()), "a free resource, the head not due");
                overtakes += 1;
                assert!(overtakes <= 3, "overtook the head {overtakes} times with a bound of 3");
            }
            assert!(overtakes == 3 || joined.elapsed() >= Line::FAIR_AFTER, "handed over after {overtakes}");
            drop(guard);
            assert_eq!(head.join().unwrap(), Ok(()));
        });
    }

    /// Once the head has waited `FAIR_AFTER`, the next release hands it the
    /// resource whatever the count: a caller arriving then waits behind it.
    #[test]
    fn the_head_is_handed_the_resource_once_it_has_waited_fair_after() {
        let line = Mutex::new(Line::new(1000));
        thread::scope(|s| {
            let (joined, head) = held_with_a_head_waiting(&line, s);
            // Time passing is the property here, not a stand-in for a
            // hand-shake: the head is queued already.
            thread::sleep(Line::FAIR_AFTER);
            assert!(joined.elapsed() >= Line::FAIR_AFTER);
            let mut guard = line.lock();
            guard.release(false);
            assert!(
                guard.handed_to.is_some() && guard.is_held(),
                "the head waited FAIR_AFTER and was not handed it"
            );
            drop(guard);
            assert_eq!(head.join().unwrap(), Ok(()));
        });
    }

    /// Waits in `line` for up to a minute, leaving when `closed` is set.
    fn wait_unless(line: &Mutex<Line>, closed: &AtomicBool) -> Result<(), Refusal> {
        Line::wait(line.lock(), |line| line, |_| closed.load(SeqCst), Duration::from_secs(60)).1
    }

    /// Returns once `n` callers wait in `line`.
    fn until_waiting(line: &Mutex<Line>, n: usize) {
        while line.lock().waiting() < n {
            thread::yield_now();
        }
    }

    /// A close wakes every waiter at once: each leaves with `Closed`, not
    /// at its deadline a minute later.
    #[test]
    fn a_close_wakes_every_waiter() {
        let line = Mutex::new(Line::new(Line::OVERTAKING_BOUND));
        let closed = AtomicBool::new(false);
        assert_eq!(wait(&line, Duration::ZERO), Ok(()));
        thread::scope(|s| {
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        let started = Instant::now();
                        (wait_unless(&line, &closed), started.elapsed())
                    })
                })
                .collect();
            until_waiting(&line, 3);
            let guard = line.lock();
            closed.store(true, SeqCst);
            guard.wake_all();
            drop(guard);
            for waiter in waiters {
                let (left, waited) = waiter.join().unwrap();
                assert_eq!(left, Err(Refusal::Closed));
                assert!(
                    waited < Duration::from_secs(30),
                    "a waiter slept {waited:?} after the close: nobody woke it"
                );
            }
        });
    }

    /// A waiter that gives up leaves the line alone: the one ahead of it
    /// keeps its place and is handed the resource.
    #[test]
    fn a_waiter_that_gives_up_leaves_the_others_in_line() {
        let line = Mutex::new(Line::new(0));
        assert_eq!(wait(&line, Duration::ZERO), Ok(()));
        thread::scope(|s| {
            let first = s.spawn(|| {
                let taken = wait(&line, Duration::from_secs(60));
                line.lock().release(false);
                taken
            });
            until_waiting(&line, 1);
            assert_eq!(wait(&line, Duration::from_millis(1)), Err(Refusal::TimedOut { ahead: 2 }));
            let mut guard = line.lock();
            let tickets: Vec<u64> = guard.waiting.iter().map(|w| w.ticket).collect();
            assert_eq!(tickets, [0], "the first waiter (ticket 0) lost its place when the second left");
            guard.release(false);
            drop(guard);
            assert_eq!(first.join().unwrap(), Ok(()));
        });
    }

    /// The write queue serves every strategy on a file, and each closes on
    /// its own: a head that leaves because its owner closed, with the
    /// resource free, wakes the next in line, who would otherwise sleep
    /// until its deadline.
    #[test]
    fn a_head_that_leaves_on_close_wakes_the_next() {
        let line = Mutex::new(Line::new(Line::OVERTAKING_BOUND));
        let closed = AtomicBool::new(false);
        assert_eq!(wait(&line, Duration::ZERO), Ok(()));
        thread::scope(|s| {
            let head = s.spawn(|| wait_unless(&line, &closed));
            until_waiting(&line, 1);
            let next = s.spawn(|| {
                let started = Instant::now();
                let taken = wait(&line, Duration::from_secs(60));
                line.lock().release(false);
                (taken, started.elapsed())
            });
            until_waiting(&line, 2);
            let mut guard = line.lock();
            // The clock out of the picture (this test is about the close):
            // the head is not due, so the release frees the resource and
            // wakes the head to take it; but its owner closes first.
            guard.waiting[0].head_since = None;
            guard.release(false);
            assert!(!guard.is_held(), "a head that is not due was handed the resource");
            closed.store(true, SeqCst);
            drop(guard);
            assert_eq!(head.join().unwrap(), Err(Refusal::Closed));
            let (taken, waited) = next.join().unwrap();
            assert_eq!(taken, Ok(()));
            assert!(waited < Duration::from_secs(30), "the next waiter slept {waited:?}: nobody woke it");
        });
    }

    /// The head handed the resource is out of the line; the waiter behind
    /// it becomes the head with an overtaking count of zero and a clock
    /// started now (with neither, it would be due at once, or never by time).
    #[test]
    fn the_next_head_starts_its_own_count_and_clock() {
        let line = Mutex::new(Line::new(2));
        assert_eq!(wait(&line, Duration::ZERO), Ok(()));
        let mut guard = line.lock();
        for ticket in [7, 8] {
            let head_since = (ticket == 7).then(Instant::now);
            guard.waiting.push_back(Waiter {
                ticket,
                head_since,
                woken: false,
                wake: Arc::new(Condvar::new()),
            });
        }
        guard.overtaken = 2;
        guard.release(true);
        assert_eq!(guard.handed_to, Some(7));
        assert_eq!(guard.overtaken, 0, "the new head inherited the old head's overtaking count");
        assert!(guard.waiting[0].head_since.is_some(), "the new head's clock never started");
    }

    /// A waiter that times out leaves the line and says how many were
    /// ahead of it, the holder included; the resource stays with its holder.
    #[test]
    fn a_waiter_that_times_out_says_how_many_were_ahead() {
        let line = Mutex::new(Line::new(0));
        assert_eq!(wait(&line, Duration::ZERO), Ok(()));
        assert_eq!(wait(&line, Duration::from_millis(1)), Err(Refusal::TimedOut { ahead: 1 }));
        let guard = line.lock();
        assert!(guard.is_held() && guard.waiting() == 0);
    }
}
