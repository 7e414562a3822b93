//! The planted queue bugs: [`PlantedLine`] is the write queue over the one
//! planted copy of the line (`planted_line.rs`), with one realistic mistake
//! switched on, in the line or in the queue's own parts; with
//! [`QueueBug::None`] it passes every property (`a_correct_copy_passes`), so
//! the planted models fail because of the bug, not because of the copy.
//! [`CAUGHT_BY`] says which property must catch each bug.

use crate::support::checker::{Arc, AtomicBool, Mutex, Ordering};
use crate::support::planted_line::{LineBug, PlantedWaitLine, Refusal};
use crate::support::queue::{Held, Line, PROPERTIES, Seat};
use crate::support::runner::{Caught, PlantedSuite};
use litepool::{Error, Result};

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

impl QueueBug {
    /// The line's own mistake this bug is, if it is one.
    fn in_line(self) -> LineBug {
        match self {
            QueueBug::TakeWhileHeld => LineBug::TakeWhileHeld,
            QueueBug::Lifo => LineBug::Lifo,
            QueueBug::UnboundedOvertaking => LineBug::UnboundedOvertaking,
            QueueBug::NoWakeOnRelease => LineBug::NoWakeOnRelease,
            QueueBug::TimeoutDropsHandedTurn => LineBug::TimeoutDropsHanded,
            QueueBug::LeaveWithoutWakingNext => LineBug::LeaveWithoutWakingNext,
            QueueBug::ArrivalResetsOvertaken => LineBug::ArrivalResetsOvertaken,
            QueueBug::LineOfFour => LineBug::LineOfFour,
            QueueBug::DeadlineIgnored => LineBug::DeadlineIgnored,
            QueueBug::None | QueueBug::NoReleaseOnPanic | QueueBug::CloseWakesNobody => LineBug::None,
            QueueBug::ClosedWaiterKeepsHandedTurn => LineBug::None,
        }
    }
}

/// The write queue's copy: the planted line ([`PlantedWaitLine`]) behind a
/// lock, and the queue's own parts (the turn's release, close) with one bug
/// switched on.
pub struct PlantedLine {
    bug: QueueBug,
    line: Arc<Mutex<PlantedWaitLine>>,
}

impl PlantedLine {
    pub fn new(bound: usize) -> PlantedLine {
        let bug = *PLANTED.lock().unwrap();
        PlantedLine { bug, line: Arc::new(Mutex::new(PlantedWaitLine::new(bug.in_line(), bound))) }
    }
}

struct PlantedSeat {
    bug: QueueBug,
    line: Arc<Mutex<PlantedWaitLine>>,
    patient: bool,
    closed: AtomicBool,
}

struct PlantedTurn {
    bug: QueueBug,
    line: Arc<Mutex<PlantedWaitLine>>,
}

impl Drop for PlantedTurn {
    fn drop(&mut self) {
        if self.bug == QueueBug::NoReleaseOnPanic && std::thread::panicking() {
            return;
        }
        self.line.lock().unwrap().release(false);
    }
}

impl Seat for PlantedSeat {
    fn turn(&self) -> Result<Box<dyn Held + '_>> {
        let closed = || self.closed.load(Ordering::Acquire);
        let guard = self.line.lock().unwrap();
        let (guard, taken) =
            PlantedWaitLine::wait(&self.line, guard, |line| line, |_| closed(), self.patient);
        drop(guard);
        match taken {
            Ok(()) => {
                let turn = PlantedTurn { bug: self.bug, line: self.line.clone() };
                if closed() {
                    // Handed the turn as its strategy closed: pass it on.
                    if self.bug == QueueBug::ClosedWaiterKeepsHandedTurn {
                        std::mem::forget(turn);
                    }
                    return Err(Error::closed("planted"));
                }
                Ok(Box::new(turn))
            }
            Err(Refusal::Closed) => Err(Error::closed("planted")),
            Err(Refusal::TimedOut) => Err(Error::new(litepool::ErrorKind::Busy, "planted: timed out")),
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if self.bug != QueueBug::CloseWakesNobody {
            self.line.lock().unwrap().wake_first(usize::MAX);
        }
    }
}

impl Line for PlantedLine {
    const NAME: &'static str = "planted-queue";
    fn make(bound: usize) -> PlantedLine {
        PlantedLine::new(bound)
    }
    fn seat(&self, patient: bool) -> Box<dyn Seat> {
        Box::new(PlantedSeat {
            bug: self.bug,
            line: self.line.clone(),
            patient,
            closed: AtomicBool::new(false),
        })
    }
    fn waiting(&self) -> usize {
        self.line.lock().unwrap().waiting()
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

/// Runs the planted bug `LITEPOOL_PLANTED` through the property
/// `LITEPOOL_PROPERTY`.
pub fn planted_child() {
    PLANTED_SUITE.run_child(PROPERTIES, |bug| *PLANTED.lock().unwrap() = QueueBug::named(bug));
}
