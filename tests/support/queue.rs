//! The properties of the write queue (`src/write_queue.rs`, whose line is
//! `src/line.rs`), each declared once against [`Line`]; the planted queue
//! bugs they must catch are in `planted_queue.rs`.
//!
//! [`RealLine`] is litepool's queue, reached the way strategies reach it:
//! [`Writers`] handles built from fake managers of one [`FakeDatabase`].
//! `PlantedLine` is the copy with the bugs.
//!
//! The queues in these models allow one overtake ([`BOUND`]), so that the
//! bounded-overtaking property can be checked within loom's bounds. Under
//! shuttle the same properties run with more writers ([`pick`]): up to
//! twelve threads where loom runs three.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Duration;

use crate::support::checker::{
    Arc, AtomicUsize, EXPECTED_PANIC, Mutex, Ordering, UnsafeCell, check, pick, thread,
};
use crate::support::runner::typed_properties;
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
    /// A fresh line whose head may be overtaken `bound` times.
    fn make(bound: usize) -> Self
    where
        Self: Sized;
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
    fn make(bound: usize) -> RealLine {
        RealLine::new(bound)
    }
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

/// Runs one property model over a fresh line that allows `bound` overtakes.
fn model<L: Line>(
    bound: usize,
    property: &str,
    threads: usize,
    body: impl Fn(Arc<L>) + Send + Sync + 'static,
) {
    check(&format!("{}::{property}", L::NAME), threads, move || body(Arc::new(L::make(bound))));
}

/// The overtaking bound of [`the_head_is_overtaken_at_most_bound_times_by_many`].
pub const BOUND_MANY: usize = pick(1, 3);

typed_properties! {
    suite queue_suite in queue over L: Line,
    real RealLine, planted PlantedLine from planted_queue,
    tests planted_queue_bugs_are_caught and queue_planted_child;

    /// Mutual exclusion: two turns are never held at once. Each holder writes a
    /// cell that loom watches; two holders without a happens-before edge are a
    /// causality violation.
    fn writers_exclude_each_other(property) {
        model::<L>(BOUND, property, WRITERS, |line| {
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
    fn waiters_take_turns_in_arrival_order(property) {
        model::<L>(BOUND, property, WAITERS + 1, |line| {
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
    fn the_head_is_overtaken_at_most_bound_times(property) {
        // The most overtakes of any execution, per call (two test threads run
        // this property at once, over the real queue and the planted copy).
        let most = std::sync::Arc::new(StdAtomicUsize::new(0));
        let seen = most.clone();
        model::<L>(BOUND, property, 2, move |line| {
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
    fn the_head_is_overtaken_at_most_bound_times_by_many(property) {
        let (bound, returning, turns) = (BOUND_MANY, pick(1, 5), pick(2, 3));
        model::<L>(bound, property, returning + 2, move |line| {
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


    /// No lost wake-up: writers of two turns each all finish (the checker
    /// reports a deadlock if one is never woken).
    fn every_waiter_is_woken(property) {
        model::<L>(BOUND, property, WRITERS, |line| {
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
    fn a_writer_that_times_out_strands_nobody(property) {
        // How often, over the whole run, an impatient writer wrote and how
        // often it gave up: a run that never reached one of the two (a timed
        // wait that never times out, or never lets the hand-off in) checks
        // less than it says. Counted per call, not in statics: the real queue
        // and the planted copy run this property on two test threads at once.
        // [wrote, gave up]
        let outcomes = std::sync::Arc::new([StdAtomicUsize::new(0), StdAtomicUsize::new(0)]);
        let counts = outcomes.clone();
        model::<L>(0, property, WAITERS + 1, move |line| {
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
    fn a_writer_whose_deadline_passes_fails_busy(property) {
        let impatient = pick(2, 6);
        model::<L>(BOUND, property, impatient + 1, move |line| {
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
    fn a_writer_that_panics_strands_nobody(property) {
        let panicking = pick(1, 7);
        model::<L>(BOUND, property, panicking + 1, move |line| {
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
    fn close_wakes_and_fails_its_waiters(property) {
        let waiting = pick(1, 6);
        model::<L>(BOUND, property, waiting + 2, move |line| {
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
    fn close_racing_with_release_strands_nobody(property) {
        for (bound, how) in [(BOUND, "freed"), (0, "handed over")] {
            let property = format!("{property} ({how})");
            // Under loom one waiter of the closing strategy, then one of
            // another; under shuttle four of each, in turn.
            let pairs = pick(1, 4);
            model::<L>(bound, &property, 2 * pairs + 2, move |line| {
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
}
