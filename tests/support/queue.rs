//! Loom properties of the write queue (`src/write_queue.rs`), each written
//! once against [`Line`], and the planted queue bugs they must catch.
//!
//! [`RealLine`] is litepool's queue, reached the way strategies reach it:
//! [`Writers`] handles built from fake managers of one [`FakeDatabase`].
//! [`PlantedLine`] is a copy of the algorithm with one realistic mistake
//! switched on; with [`QueueBug::None`] it passes every property
//! (`a_correct_copy_passes` in `tests/loom_write_queue.rs`), so the planted
//! models fail because of the bug, not because of the copy.
//!
//! The queues in these models allow one overtake ([`BOUND`]), so that the
//! bounded-overtaking property can be checked within loom's bounds. Under
//! shuttle the same properties run with more writers ([`pick`]): up to
//! twelve threads where loom runs three.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Duration;

use crate::support::model::{
    Arc, AtomicBool, AtomicUsize, Caught, Condvar, EXPECTED_PANIC, Mutex, Ordering, PLANTED_VAR,
    PROPERTY_VAR, PlantedSuite, UnsafeCell, check, pick, thread,
};
use litepool::fake::FakeDatabase;
use litepool::strategy::{WriteQueue, Writers, writers};
use litepool::{Error, Result};

/// How many times an arriving writer may overtake the head of the line in
/// these models.
pub const BOUND: usize = 1;

/// The writers of the models whose writers all do the same thing.
pub const WRITERS: usize = pick(3, 12);

/// The waiters of the models that line writers up behind a held turn.
pub const WAITERS: usize = pick(2, 7);

/// A held turn; dropping it releases the turn.
pub trait Held {}
impl<T> Held for T {}

/// One strategy's place in a queue, as a model uses it.
pub trait Seat: Send + Sync {
    fn turn(&self) -> Result<Box<dyn Held + '_>>;
    fn close(&self);
}

/// A write queue under test.
pub trait Line: Send + Sync + 'static {
    /// The prefix of its models' names.
    const NAME: &'static str;
    /// A new strategy's place in the queue; `patient: false` gives it a
    /// write timeout that has already passed when it is woken.
    fn seat(&self, patient: bool) -> Box<dyn Seat>;
    /// Writers waiting now.
    fn waiting(&self) -> usize;
}

/// litepool's queue.
pub struct RealLine {
    db: FakeDatabase,
}

impl RealLine {
    pub fn new(bound: usize) -> RealLine {
        RealLine { db: FakeDatabase::with_queue(WriteQueue::with_overtaking_bound(bound)) }
    }
}

struct RealSeat(Writers);

impl Seat for RealSeat {
    fn turn(&self) -> Result<Box<dyn Held + '_>> {
        Ok(Box::new(self.0.turn()?))
    }
    fn close(&self) {
        self.0.close();
    }
}

impl Line for RealLine {
    const NAME: &'static str = "write-queue";
    fn seat(&self, patient: bool) -> Box<dyn Seat> {
        let timeout = if patient { Duration::from_secs(3600) } else { Duration::ZERO };
        Box::new(RealSeat(writers(&self.db.manager().with_write_timeout(timeout), "model")))
    }
    fn waiting(&self) -> usize {
        self.db.queue().waiting()
    }
}

/// Spins (yielding to loom) until `line` has `n` waiters.
fn until_waiting<L: Line>(line: &L, n: usize) {
    while line.waiting() != n {
        thread::yield_now();
    }
}

/// Makes a line with an overtaking bound.
pub type Make<L> = fn(usize) -> L;

/// Runs one property model over a fresh line that allows `bound` overtakes.
fn model<L: Line>(
    make: Make<L>,
    bound: usize,
    property: &str,
    threads: usize,
    body: impl Fn(Arc<L>) + Send + Sync + 'static,
) {
    check(&format!("{}::{property}", L::NAME), threads, move || body(Arc::new(make(bound))));
}

/// Mutual exclusion: two turns are never held at once. Each holder writes a
/// cell that loom watches; two holders without a happens-before edge are a
/// causality violation.
pub fn writers_exclude_each_other<L: Line>(make: Make<L>) {
    model(make, BOUND, "writers_exclude_each_other", WRITERS, |line| {
        let cell = Arc::new(UnsafeCell::new(0usize));
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (line, cell) = (line.clone(), cell.clone());
                thread::spawn(move || {
                    let seat = line.seat(true);
                    let _turn = seat.turn().expect("a patient writer gets its turn");
                    cell.with_mut(|n| unsafe { *n += 1 });
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(cell.with(|n| unsafe { *n }), WRITERS);
    });
}

/// First in, first out among waiters: of writers that all had to wait, the
/// one that arrived first writes first.
pub fn waiters_take_turns_in_arrival_order<L: Line>(make: Make<L>) {
    model(make, BOUND, "waiters_take_turns_in_arrival_order", WAITERS + 1, |line| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let seat = line.seat(true);
        let held = seat.turn().expect("the first writer gets its turn");
        let waiters: Vec<_> = (0..WAITERS)
            .map(|arrived| {
                let waiter = {
                    let (line, order) = (line.clone(), order.clone());
                    thread::spawn(move || {
                        let seat = line.seat(true);
                        let _turn = seat.turn().expect("a patient writer gets its turn");
                        order.lock().unwrap().push(arrived);
                    })
                };
                until_waiting(&*line, arrived + 1);
                waiter
            })
            .collect();
        drop(held);
        waiters.into_iter().for_each(|w| w.join().unwrap());
        let order = order.lock().unwrap();
        assert!(order.is_sorted(), "a later waiter wrote first: {order:?} (in order of arrival)");
    });
}

/// Bounded overtaking: a writer that keeps coming back while another waits
/// takes at most [`BOUND`] turns past it, and in some schedule exactly
/// that many: a running writer may overtake (the queue's promise that a
/// cheap write need not wait for the head to wake), up to the bound. A
/// queue that never lets it, or hands the turn over early, checks less
/// than this says and fails the run.
pub fn the_head_is_overtaken_at_most_bound_times<L: Line>(make: Make<L>) {
    // The most overtakes of any execution, per call (two test threads run
    // this property at once, over the real queue and the planted copy).
    let most = std::sync::Arc::new(StdAtomicUsize::new(0));
    let seen = most.clone();
    model(make, BOUND, "the_head_is_overtaken_at_most_bound_times", 2, move |line| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let seat = line.seat(true);
        let mut held = seat.turn().expect("the first writer gets its turn");
        let waiter = {
            let (line, order) = (line.clone(), order.clone());
            thread::spawn(move || {
                let seat = line.seat(true);
                let _turn = seat.turn().expect("a patient writer gets its turn");
                order.lock().unwrap().push("waiter");
            })
        };
        until_waiting(&*line, 1);
        for _ in 0..BOUND + 1 {
            drop(held);
            held = seat.turn().expect("the returning writer gets its turn");
            order.lock().unwrap().push("returning");
        }
        drop(held);
        waiter.join().unwrap();
        let order = order.lock().unwrap();
        let overtakes = order.iter().take_while(|w| **w == "returning").count();
        assert!(overtakes <= BOUND, "the waiter was overtaken {overtakes} times (bound {BOUND}): {order:?}");
        seen.fetch_max(overtakes, StdOrdering::SeqCst);
    });
    let most = most.load(StdOrdering::SeqCst);
    assert_eq!(most, BOUND, "no schedule overtook the waiter {BOUND} times (the most was {most})");
}

/// Bounded overtaking with many writers: while one writer waits at the head
/// of the line, writers that keep coming back take at most the bound's
/// turns past it, however many of them there are and however they arrive
/// (under loom one returning writer besides the model's own thread and a
/// bound of one; under shuttle five, three turns each, and a bound of
/// three).
pub fn the_head_is_overtaken_at_most_bound_times_by_many<L: Line>(make: Make<L>) {
    let (bound, returning, turns) = (BOUND_MANY, pick(1, 5), pick(2, 3));
    let property = "the_head_is_overtaken_at_most_bound_times_by_many";
    model(make, bound, property, returning + 2, move |line| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let seat = line.seat(true);
        let held = seat.turn().expect("the first writer gets its turn");
        let waiter = {
            let (line, order) = (line.clone(), order.clone());
            thread::spawn(move || {
                let seat = line.seat(true);
                let _turn = seat.turn().expect("a patient writer gets its turn");
                order.lock().unwrap().push("waiter");
            })
        };
        until_waiting(&*line, 1);
        let come_back = move |line: &L, order: &Mutex<Vec<&str>>| {
            let seat = line.seat(true);
            for _ in 0..turns {
                let _turn = seat.turn().expect("a returning writer gets its turn");
                order.lock().unwrap().push("returning");
            }
        };
        let others: Vec<_> = (0..returning)
            .map(|_| {
                let (line, order) = (line.clone(), order.clone());
                thread::spawn(move || come_back(&line, &order))
            })
            .collect();
        drop(held);
        come_back(&line, &order);
        waiter.join().unwrap();
        others.into_iter().for_each(|w| w.join().unwrap());
        // Every writer but the waiter arrived after it: whoever wrote
        // before it overtook it.
        let order = order.lock().unwrap();
        let overtakes = order.iter().take_while(|w| **w == "returning").count();
        assert!(overtakes <= bound, "the waiter was overtaken {overtakes} times (bound {bound}): {order:?}");
    });
}

/// The overtaking bound of [`the_head_is_overtaken_at_most_bound_times_by_many`].
pub const BOUND_MANY: usize = pick(1, 3);

/// No lost wake-up: writers of two turns each all finish (the checker
/// reports a deadlock if one is never woken).
pub fn every_waiter_is_woken<L: Line>(make: Make<L>) {
    model(make, BOUND, "every_waiter_is_woken", WRITERS, |line| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let line = line.clone();
                thread::spawn(move || {
                    let seat = line.seat(true);
                    for _ in 0..2 {
                        drop(seat.turn().expect("a patient writer gets its turn"));
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
    });
}

/// A writer whose wait times out as the turn is handed to it strands
/// nobody: it writes or leaves, and the writer behind it gets its turn.
/// (A strictly first-in-first-out line, so that the release hands the
/// turn over. The impatient writer's deadline has passed: it may give up
/// at any moment, before or after the release.)
pub fn a_writer_that_times_out_strands_nobody<L: Line>(make: Make<L>) {
    // How often, over the whole run, an impatient writer wrote and how
    // often it gave up: a run that never reached one of the two (a timed
    // wait that never times out, or never lets the hand-off in) checks
    // less than it says. Counted per call, not in statics: the real queue
    // and the planted copy run this property on two test threads at once.
    // [wrote, gave up]
    let outcomes = std::sync::Arc::new([StdAtomicUsize::new(0), StdAtomicUsize::new(0)]);
    let counts = outcomes.clone();
    model(make, 0, "a_writer_that_times_out_strands_nobody", WAITERS + 1, move |line| {
        let seat = line.seat(true);
        let held = seat.turn().expect("the first writer gets its turn");
        let gave_up = Arc::new(AtomicUsize::new(0));
        // Impatient and patient writers in turn, each spawned once the
        // ones before it wait or have given up.
        let waiters: Vec<_> = (0..WAITERS)
            .map(|arrived| {
                let patient = arrived % 2 == 1;
                let waiter = {
                    let (line, gave_up, counts) = (line.clone(), gave_up.clone(), counts.clone());
                    thread::spawn(move || {
                        let seat = line.seat(patient);
                        match seat.turn() {
                            Ok(turn) => {
                                drop(turn);
                                if !patient {
                                    counts[0].fetch_add(1, StdOrdering::SeqCst);
                                }
                            }
                            Err(e) => {
                                assert!(!patient && e.is_busy(), "{e}");
                                gave_up.fetch_add(1, Ordering::SeqCst);
                                counts[1].fetch_add(1, StdOrdering::SeqCst);
                            }
                        }
                    })
                };
                while line.waiting() + gave_up.load(Ordering::SeqCst) < arrived + 1 {
                    thread::yield_now();
                }
                waiter
            })
            .collect();
        drop(held);
        waiters.into_iter().for_each(|w| w.join().unwrap());
        drop(seat.turn().expect("the queue is still usable"));
    });
    let [wrote, gave_up] = [0, 1].map(|i| outcomes[i].load(StdOrdering::SeqCst));
    assert!(
        wrote > 0 && gave_up > 0,
        "over the whole run impatient writers wrote {wrote} times and gave up {gave_up} times: \
         the model never reached one of the two"
    );
}

/// Writers whose deadline passes while the turn stays held fail busy, and
/// the queue goes on: the holder keeps the turn until they have returned,
/// so a timed wait that never times out deadlocks the model. (Two writers
/// under loom, six under shuttle.)
pub fn a_writer_whose_deadline_passes_fails_busy<L: Line>(make: Make<L>) {
    let impatient = pick(2, 6);
    model(make, BOUND, "a_writer_whose_deadline_passes_fails_busy", impatient + 1, move |line| {
        let seat = line.seat(true);
        let held = seat.turn().expect("the first writer gets its turn");
        let waiters: Vec<_> = (0..impatient)
            .map(|_| {
                let line = line.clone();
                thread::spawn(move || line.seat(false).turn().map(drop))
            })
            .collect();
        for waiter in waiters {
            let outcome = waiter.join().unwrap();
            assert!(
                outcome.as_ref().is_err_and(Error::is_busy),
                "a writer past its deadline got {outcome:?}"
            );
        }
        drop(held);
        drop(seat.turn().expect("the queue is still usable"));
    });
}

/// A writer that panics while it holds the turn releases it: the writer
/// behind it gets its turn.
pub fn a_writer_that_panics_strands_nobody<L: Line>(make: Make<L>) {
    let panicking = pick(1, 7);
    model(make, BOUND, "a_writer_that_panics_strands_nobody", panicking + 1, move |line| {
        let seat = line.seat(true);
        let held = seat.turn().expect("the first writer gets its turn");
        let waiters: Vec<_> = (0..panicking)
            .map(|_| {
                let line = line.clone();
                thread::spawn(move || {
                    let seat = line.seat(true);
                    let outcome = catch_unwind(AssertUnwindSafe(|| {
                        let _turn = seat.turn().expect("a patient writer gets its turn");
                        panic!("{EXPECTED_PANIC}: in the work");
                    }));
                    assert!(outcome.is_err());
                })
            })
            .collect();
        until_waiting(&*line, panicking);
        drop(held);
        waiters.into_iter().for_each(|w| w.join().unwrap());
        drop(seat.turn().expect("the turn came back after the panics"));
    });
}

/// `close` wakes its strategy's waiters at once, while another writer still
/// holds the turn, and fails them.
pub fn close_wakes_and_fails_its_waiters<L: Line>(make: Make<L>) {
    let waiting = pick(1, 6);
    model(make, BOUND, "close_wakes_and_fails_its_waiters", waiting + 2, move |line| {
        let holder = line.seat(true);
        let held = holder.turn().expect("the first writer gets its turn");
        let closing = Arc::new(line.seat(true));
        let waiters: Vec<_> = (0..waiting)
            .map(|_| {
                let closing = closing.clone();
                thread::spawn(move || closing.turn().map(drop))
            })
            .collect();
        let closer = thread::spawn(move || closing.close());
        for waiter in waiters {
            let outcome = waiter.join().unwrap();
            assert!(outcome.is_err_and(|e: Error| e.is_closed()), "a waiter of a closed strategy got a turn");
        }
        closer.join().unwrap();
        drop(held);
    });
}

/// `close` racing with the release of the turn: the closed strategy's
/// waiter gets a turn or a closed error, and another strategy's waiter
/// behind it still gets its turn. Run twice: with one overtake allowed (the
/// release frees the turn and wakes the closed waiter, which leaves) and
/// strictly first in, first out (the release hands the turn to the closed
/// waiter, which must pass it on).
pub fn close_racing_with_release_strands_nobody<L: Line>(make: Make<L>) {
    for (bound, how) in [(BOUND, "freed"), (0, "handed over")] {
        let property = format!("close_racing_with_release_strands_nobody ({how})");
        // Under loom one waiter of the closing strategy, then one of
        // another; under shuttle four of each, in turn.
        let pairs = pick(1, 4);
        model(make, bound, &property, 2 * pairs + 2, move |line| {
            let holder = line.seat(true);
            let held = holder.turn().expect("the first writer gets its turn");
            let closing = Arc::new(line.seat(true));
            let mut waiters = Vec::new();
            for pair in 0..pairs {
                let closing = closing.clone();
                waiters.push(thread::spawn(move || match closing.turn() {
                    Ok(turn) => drop(turn),
                    Err(e) => assert!(e.is_closed(), "{e}"),
                }));
                until_waiting(&*line, 2 * pair + 1);
                let other = line.clone();
                waiters.push(thread::spawn(move || {
                    drop(other.seat(true).turn().expect("another strategy's writer goes on"))
                }));
                until_waiting(&*line, 2 * pair + 2);
            }
            let closer = thread::spawn(move || closing.close());
            drop(held);
            closer.join().unwrap();
            waiters.into_iter().for_each(|w| w.join().unwrap());
        });
    }
}

/// A property, run over planted lines.
pub type PlantedProperty = fn(Make<PlantedLine>);

/// Every queue property, by name, for the planted child.
pub const PROPERTIES: &[(&str, PlantedProperty)] = &[
    ("writers_exclude_each_other", writers_exclude_each_other::<PlantedLine>),
    ("waiters_take_turns_in_arrival_order", waiters_take_turns_in_arrival_order::<PlantedLine>),
    ("the_head_is_overtaken_at_most_bound_times", the_head_is_overtaken_at_most_bound_times::<PlantedLine>),
    (
        "the_head_is_overtaken_at_most_bound_times_by_many",
        the_head_is_overtaken_at_most_bound_times_by_many::<PlantedLine>,
    ),
    ("every_waiter_is_woken", every_waiter_is_woken::<PlantedLine>),
    ("a_writer_that_times_out_strands_nobody", a_writer_that_times_out_strands_nobody::<PlantedLine>),
    ("a_writer_whose_deadline_passes_fails_busy", a_writer_whose_deadline_passes_fails_busy::<PlantedLine>),
    ("a_writer_that_panics_strands_nobody", a_writer_that_panics_strands_nobody::<PlantedLine>),
    ("close_wakes_and_fails_its_waiters", close_wakes_and_fails_its_waiters::<PlantedLine>),
    ("close_racing_with_release_strands_nobody", close_racing_with_release_strands_nobody::<PlantedLine>),
];

/// The mistakes a write queue can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueBug {
    None,
    /// An arriving writer checks the bound but forgets that the turn may
    /// be held.
    TakeWhileHeld,
    /// Waiters join the line at its front.
    Lifo,
    /// Arriving writers may always take a free turn; the head is never
    /// handed it.
    UnboundedOvertaking,
    /// A release frees the turn without waking the head of the line.
    NoWakeOnRelease,
    /// A writer whose wait timed out leaves the line before checking
    /// whether the turn was handed to it.
    TimeoutDropsHandedTurn,
    /// The turn's guard skips the release while its thread panics (to
    /// "avoid a second panic").
    NoReleaseOnPanic,
    /// `close` sets its flag but wakes nobody.
    CloseWakesNobody,
    /// A waiter that leaves from the head of the line while the turn is
    /// free does not wake the writer behind it.
    LeaveWithoutWakingNext,
    /// A closed strategy's waiter that was handed the turn fails without
    /// passing it on.
    ClosedWaiterKeepsHandedTurn,
    /// A writer that joins the line resets the count of overtakes, as if
    /// the count were the newcomer's: the head is overtaken again and
    /// again while writers keep arriving. It takes a third writer arriving
    /// while the head waits to show.
    ArrivalResetsOvertaken,
    /// The line is a ring of four slots that, full, overwrites its oldest
    /// waiter, who then waits for ever: it takes five writers waiting at
    /// once behind the one holding the turn, six threads, to show.
    LineOfFour,
    /// A writer whose deadline has passed goes on waiting as if it had
    /// none.
    DeadlineIgnored,
}

impl QueueBug {
    pub const ALL: [(&'static str, QueueBug); 12] = [
        ("take-while-held", QueueBug::TakeWhileHeld),
        ("lifo", QueueBug::Lifo),
        ("unbounded-overtaking", QueueBug::UnboundedOvertaking),
        ("no-wake-on-release", QueueBug::NoWakeOnRelease),
        ("timeout-drops-handed-turn", QueueBug::TimeoutDropsHandedTurn),
        ("no-release-on-panic", QueueBug::NoReleaseOnPanic),
        ("close-wakes-nobody", QueueBug::CloseWakesNobody),
        ("leave-without-waking-next", QueueBug::LeaveWithoutWakingNext),
        ("closed-waiter-keeps-handed-turn", QueueBug::ClosedWaiterKeepsHandedTurn),
        ("arrival-resets-overtaken", QueueBug::ArrivalResetsOvertaken),
        ("line-of-four", QueueBug::LineOfFour),
        ("deadline-ignored", QueueBug::DeadlineIgnored),
    ];

    pub fn named(name: &str) -> QueueBug {
        QueueBug::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, bug)| *bug)
            .unwrap_or_else(|| panic!("no planted queue bug named {name:?}"))
    }
}

/// The bug the planted child plants (a `Make` function cannot capture it).
pub static PLANTED: std::sync::Mutex<QueueBug> = std::sync::Mutex::new(QueueBug::None);

/// A copy of the queue's algorithm with one bug switched on.
pub struct PlantedLine {
    bug: QueueBug,
    shared: Arc<Shared>,
}

struct Shared {
    bound: usize,
    line: Mutex<PLine>,
}

struct PLine {
    held: bool,
    waiting: VecDeque<(u64, Arc<Condvar>)>,
    handed_to: Option<u64>,
    overtaken: usize,
    next_ticket: u64,
}

impl PlantedLine {
    pub fn new(bound: usize) -> PlantedLine {
        PlantedLine {
            bug: *PLANTED.lock().unwrap(),
            shared: Arc::new(Shared {
                bound,
                line: Mutex::new(PLine {
                    held: false,
                    waiting: VecDeque::new(),
                    handed_to: None,
                    overtaken: 0,
                    next_ticket: 0,
                }),
            }),
        }
    }
}

struct PlantedSeat {
    bug: QueueBug,
    shared: Arc<Shared>,
    patient: bool,
    closed: AtomicBool,
}

struct PlantedTurn {
    bug: QueueBug,
    shared: Arc<Shared>,
}

impl Drop for PlantedTurn {
    fn drop(&mut self) {
        if self.bug == QueueBug::NoReleaseOnPanic && std::thread::panicking() {
            return;
        }
        let mut line = self.shared.line.lock().unwrap();
        line.held = false;
        let Some((_, wake)) = line.waiting.front() else { return };
        let due = self.bug != QueueBug::UnboundedOvertaking && line.overtaken >= self.shared.bound;
        if self.bug != QueueBug::NoWakeOnRelease || due {
            wake.notify_one();
        }
        if due {
            let (ticket, _) = line.waiting.pop_front().unwrap();
            line.handed_to = Some(ticket);
            line.held = true;
            line.overtaken = 0;
        }
    }
}

impl Seat for PlantedSeat {
    fn turn(&self) -> Result<Box<dyn Held + '_>> {
        let bug = self.bug;
        let got = || Ok(Box::new(PlantedTurn { bug, shared: self.shared.clone() }) as Box<dyn Held>);
        let closed = || Err(Error::closed("planted"));
        let mut line = self.shared.line.lock().unwrap();
        if self.closed.load(Ordering::Acquire) {
            return closed();
        }
        let free = if bug == QueueBug::TakeWhileHeld {
            line.handed_to.is_none()
        } else {
            !line.held && line.handed_to.is_none()
        };
        let may_take = free
            && (line.waiting.is_empty()
                || bug == QueueBug::UnboundedOvertaking
                || line.overtaken < self.shared.bound);
        if may_take {
            line.overtaken += usize::from(!line.waiting.is_empty());
            line.held = true;
            return got();
        }
        let ticket = line.next_ticket;
        line.next_ticket += 1;
        let wake = Arc::new(Condvar::new());
        if bug == QueueBug::ArrivalResetsOvertaken {
            line.overtaken = 0;
        }
        if bug == QueueBug::LineOfFour && line.waiting.len() == 4 {
            line.waiting.pop_front();
        }
        if bug == QueueBug::Lifo {
            line.waiting.push_front((ticket, wake.clone()));
        } else {
            line.waiting.push_back((ticket, wake.clone()));
        }
        let mut timed_out = false;
        loop {
            if bug == QueueBug::TimeoutDropsHandedTurn && timed_out {
                line.waiting.retain(|(t, _)| *t != ticket);
                return Err(Error::new(litepool::ErrorKind::Busy, "planted: timed out"));
            }
            if line.handed_to == Some(ticket) {
                line.handed_to = None;
                if self.closed.load(Ordering::Acquire) {
                    drop(line);
                    let turn = got();
                    if bug == QueueBug::ClosedWaiterKeepsHandedTurn {
                        std::mem::forget(turn);
                    }
                    return closed();
                }
                return got();
            }
            let at = line.waiting.iter().position(|(t, _)| *t == ticket).unwrap();
            let leave = |line: &mut PLine| {
                line.waiting.remove(at);
                if at == 0 {
                    line.overtaken = 0;
                    let wake_next = !line.held && bug != QueueBug::LeaveWithoutWakingNext;
                    if let Some((_, next)) = line.waiting.front().filter(|_| wake_next) {
                        next.notify_one();
                    }
                }
            };
            if self.closed.load(Ordering::Acquire) {
                leave(&mut line);
                return closed();
            }
            if at == 0 && !line.held {
                line.waiting.pop_front();
                line.overtaken = 0;
                line.held = true;
                return got();
            }
            if timed_out {
                leave(&mut line);
                return Err(Error::new(litepool::ErrorKind::Busy, "planted: timed out"));
            }
            if self.patient || bug == QueueBug::DeadlineIgnored {
                line = wake.wait(line).unwrap();
            } else {
                // An impatient writer's deadline has passed: it gives up at
                // whatever moment the checker picks, as litepool's shim
                // models an expiring timed wait.
                drop(line);
                thread::yield_now();
                line = self.shared.line.lock().unwrap();
                timed_out = true;
            }
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if self.bug != QueueBug::CloseWakesNobody {
            let line = self.shared.line.lock().unwrap();
            for (_, wake) in &line.waiting {
                wake.notify_one();
            }
        }
    }
}

impl Line for PlantedLine {
    const NAME: &'static str = "planted-queue";
    fn seat(&self, patient: bool) -> Box<dyn Seat> {
        Box::new(PlantedSeat {
            bug: self.bug,
            shared: self.shared.clone(),
            patient,
            closed: AtomicBool::new(false),
        })
    }
    fn waiting(&self) -> usize {
        self.shared.line.lock().unwrap().waiting.len()
    }
}

/// Each planted bug, the property that must catch it, and what the failure
/// must say.
pub const CAUGHT_BY: &[Caught] = &[
    ("take-while-held", "writers_exclude_each_other", &["Causality violation"]),
    ("lifo", "waiters_take_turns_in_arrival_order", &["a later waiter wrote first"]),
    ("unbounded-overtaking", "the_head_is_overtaken_at_most_bound_times", &["was overtaken"]),
    ("unbounded-overtaking", "the_head_is_overtaken_at_most_bound_times_by_many", &["was overtaken"]),
    ("no-wake-on-release", "every_waiter_is_woken", &["deadlock"]),
    ("timeout-drops-handed-turn", "a_writer_that_times_out_strands_nobody", &["deadlock"]),
    ("no-release-on-panic", "a_writer_that_panics_strands_nobody", &["deadlock"]),
    ("close-wakes-nobody", "close_wakes_and_fails_its_waiters", &["deadlock"]),
    ("leave-without-waking-next", "close_racing_with_release_strands_nobody", &["deadlock"]),
    ("closed-waiter-keeps-handed-turn", "close_racing_with_release_strands_nobody", &["deadlock"]),
    ("arrival-resets-overtaken", "the_head_is_overtaken_at_most_bound_times_by_many", &["was overtaken"]),
    ("line-of-four", "every_waiter_is_woken", &["deadlock"]),
    ("deadline-ignored", "a_writer_whose_deadline_passes_fails_busy", &["deadlock"]),
];

/// The planted bugs that need more threads than loom runs: loom's models
/// pass with them planted (`.ci/shuttle-table` shows it), shuttle's catch
/// them. `line-of-four` needs five writers waiting at once behind the one
/// holding the turn, six threads, and loom allows five.
/// (`arrival-resets-overtaken` escaped the two-thread
/// `the_head_is_overtaken_at_most_bound_times`; loom catches it in
/// `the_head_is_overtaken_at_most_bound_times_by_many` at three.)
pub const BEYOND_LOOM: [&str; 1] = ["line-of-four"];

/// This suite's planted bugs, with the child test that runs one.
pub const PLANTED_SUITE: PlantedSuite =
    PlantedSuite { caught_by: CAUGHT_BY, beyond_loom: &BEYOND_LOOM, child_test: "queue_planted_child" };

/// Every property has a planted bug it catches under this checker, and
/// every bug is planted.
pub fn every_property_catches_a_planted_bug() {
    PLANTED_SUITE.every_property_catches_a_planted_bug(
        PROPERTIES.iter().map(|(name, _)| *name),
        QueueBug::ALL.iter().map(|(bug, _)| *bug),
    );
}

/// Each planted bug this checker must catch is caught by its property, in
/// a child process (`queue_planted_child`).
pub fn planted_bugs_are_caught() {
    PLANTED_SUITE.assert_each_caught();
}

/// Runs the planted bug `LITEPOOL_PLANTED` through the property
/// `LITEPOOL_PROPERTY`.
pub fn planted_child() {
    let bug = std::env::var(PLANTED_VAR).expect("LITEPOOL_PLANTED names the bug");
    let property = std::env::var(PROPERTY_VAR).expect("LITEPOOL_PROPERTY names the property");
    *PLANTED.lock().unwrap() = QueueBug::named(&bug);
    let (_, run) = PROPERTIES.iter().find(|(name, _)| *name == property).expect("a known property");
    run(PlantedLine::new);
}

/// The write-queue suite, for `loom_write_queue.rs` and
/// `shuttle_write_queue.rs`: one test per property over litepool's queue,
/// the planted copy passing every property unplanted, and each planted bug
/// caught by its property.
#[allow(unused_macros)] // each suite file expands one of the support macros
macro_rules! queue_suite {
    () => {
        $crate::support::queue::queue_suite!(@real
            writers_exclude_each_other,
            waiters_take_turns_in_arrival_order,
            the_head_is_overtaken_at_most_bound_times,
            the_head_is_overtaken_at_most_bound_times_by_many,
            every_waiter_is_woken,
            a_writer_that_times_out_strands_nobody,
            a_writer_whose_deadline_passes_fails_busy,
            a_writer_that_panics_strands_nobody,
            close_wakes_and_fails_its_waiters,
            close_racing_with_release_strands_nobody,
        );

        /// The copy the bugs are planted in passes every property unplanted.
        #[test]
        fn a_correct_copy_passes() {
            for (_, property) in $crate::support::queue::PROPERTIES {
                property($crate::support::queue::PlantedLine::new);
            }
        }

        #[test]
        fn every_property_catches_a_planted_bug() {
            $crate::support::queue::every_property_catches_a_planted_bug();
        }

        #[test]
        fn planted_queue_bugs_are_caught() {
            $crate::support::queue::planted_bugs_are_caught();
        }

        /// Runs one planted queue bug through one property; started by
        /// `planted_queue_bugs_are_caught` in a child process.
        #[test]
        #[ignore = "run by planted_queue_bugs_are_caught in a child process"]
        fn queue_planted_child() {
            $crate::support::queue::planted_child();
        }
    };
    (@real $($property:ident),* $(,)?) => {
        $(
            #[test]
            fn $property() {
                $crate::support::queue::$property($crate::support::queue::RealLine::new);
            }
        )*

        /// Every property in `PROPERTIES` has a test above.
        #[test]
        fn every_property_has_a_test() {
            let tested = [$(stringify!($property)),*];
            for (name, _) in $crate::support::queue::PROPERTIES {
                assert!(tested.contains(name), "{name} has no test over the real queue");
            }
        }
    };
}

#[allow(unused_imports)]
pub(crate) use queue_suite;
