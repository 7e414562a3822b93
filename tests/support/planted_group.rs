//! The planted batching bugs: [`PlantedBatcher`] is a copy of group
//! commit's batching logic (no readers, no write queue, no reconnecting),
//! waiting in the one planted copy of the line (`planted_line.rs`), with
//! one realistic mistake switched on, each taken from the pitfalls the
//! prototypes hit; with [`GroupBug::None`] it passes every property
//! (`a_correct_copy_passes`). [`CAUGHT_BY`] says which property must catch
//! each bug.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::support::checker::{Condvar, Mutex};
use crate::support::group::{Batcher, Job, PROPERTIES};
use crate::support::planted_line::{LineBug, PlantedWaitLine, Refusal};
use crate::support::runner::{Caught, PlantedSuite};
use litepool::fake::{FakeConnection, FakeDatabase, SealModel};
use litepool::strategy::{Manager, Transactional, WriteQueue};
use litepool::{Error, ErrorKind, Result};

/// The mistakes a batching writer can make, from the pitfalls the
/// prototypes hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBug {
    None,
    /// A member is told Ok when it hands the transaction on, before the
    /// COMMIT.
    AckBeforeCommit,
    /// Outcomes go in one slot, not per batch number: a member reads
    /// whichever batch closed last.
    OneOutcomeSlot,
    /// A failing member that is last in its batch returns its error and
    /// hands the connection on without committing the others' rows.
    FailingLastSkipsCommit,
    /// A waiter whose wait timed out leaves before checking whether the
    /// transaction was handed to it.
    GiveUpDropsHanded,
    /// The hand-off sets who holds the connection but wakes nobody.
    HandOffWithoutWake,
    /// The holder decides to pass the transaction on from a count of
    /// waiters read under an earlier lock.
    CountOutsideLock,
    /// A failed COMMIT is reported but not rolled back.
    FailedCommitLeavesOpen,
    /// When SQLite rolled the whole transaction back, only the member whose
    /// work saw it fails; the members before it are acknowledged.
    LostBatchAcked,
    /// A panic in the work is not caught: it unwinds with the connection.
    PanicEscapes,
    /// A failed member's savepoint is released instead of rolled back.
    FailedMemberKeepsRows,
    /// The work runs unsealed: its COMMIT commits the others' rows.
    NoSeal,
    /// A batch is closed when it has more than the cap, not the cap.
    CapOffByOne,
    /// A closed strategy's waiter that was handed the open transaction
    /// fails without ending the batch.
    ClosedHandedLeaves,
    /// `close` sets its flag but wakes nobody: waiters fail only when the
    /// connection comes back.
    CloseWakesNobody,
    /// The line is a ring of four slots that, full, overwrites its oldest
    /// waiter, who then waits for ever: it takes five writers queued at
    /// once (six threads) to show, more than loom can run.
    LineOfFour,
    /// `close` wakes at most a batch's worth of waiters (the ones that
    /// could have joined the open batch): it takes more than a cap's worth
    /// of writers waiting at close to show, and the others are only failed
    /// when the connection comes back.
    CloseWakesOneBatch,
    /// Between batches the connection is freed for anyone, however often
    /// the head of the line has been overtaken: no bound.
    UnboundedOvertaking,
    /// The seal before issue 21 (`SealModel::InstalledOnce`): the
    /// authorizer set once, so litepool's `COMMIT`, cached unsealed at the
    /// end of one batch, runs unchecked in a sealed write of the next.
    SealInstalledOnce,
}

impl GroupBug {
    pub const ALL: [(&'static str, GroupBug); 18] = [
        ("ack-before-commit", GroupBug::AckBeforeCommit),
        ("one-outcome-slot", GroupBug::OneOutcomeSlot),
        ("failing-last-skips-commit", GroupBug::FailingLastSkipsCommit),
        ("give-up-drops-handed", GroupBug::GiveUpDropsHanded),
        ("hand-off-without-wake", GroupBug::HandOffWithoutWake),
        ("count-outside-lock", GroupBug::CountOutsideLock),
        ("failed-commit-leaves-open", GroupBug::FailedCommitLeavesOpen),
        ("lost-batch-acked", GroupBug::LostBatchAcked),
        ("panic-escapes", GroupBug::PanicEscapes),
        ("failed-member-keeps-rows", GroupBug::FailedMemberKeepsRows),
        ("no-seal", GroupBug::NoSeal),
        ("cap-off-by-one", GroupBug::CapOffByOne),
        ("closed-handed-leaves", GroupBug::ClosedHandedLeaves),
        ("close-wakes-nobody", GroupBug::CloseWakesNobody),
        ("line-of-four", GroupBug::LineOfFour),
        ("close-wakes-one-batch", GroupBug::CloseWakesOneBatch),
        ("unbounded-overtaking", GroupBug::UnboundedOvertaking),
        ("seal-installed-once", GroupBug::SealInstalledOnce),
    ];

    pub fn named(name: &str) -> GroupBug {
        GroupBug::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, bug)| *bug)
            .unwrap_or_else(|| panic!("no planted group bug named {name:?}"))
    }
}

impl GroupBug {
    /// The line's own mistake this bug is, if it is one.
    fn in_line(self) -> LineBug {
        match self {
            GroupBug::GiveUpDropsHanded => LineBug::TimeoutDropsHanded,
            GroupBug::HandOffWithoutWake => LineBug::HandOffWithoutWake,
            GroupBug::ClosedHandedLeaves => LineBug::ClosedLeavesHanded,
            GroupBug::LineOfFour => LineBug::LineOfFour,
            GroupBug::UnboundedOvertaking => LineBug::UnboundedOvertaking,
            _ => LineBug::None,
        }
    }
}

/// The bug the planted child plants.
pub static PLANTED: std::sync::Mutex<GroupBug> = std::sync::Mutex::new(GroupBug::None);

/// A copy of the batching logic with one bug switched on.
pub struct PlantedBatcher {
    bug: GroupBug,
    cap: usize,
    patient: bool,
    state: Mutex<PState>,
    settled: Condvar,
}

struct PState {
    conn: Option<FakeConnection>,
    line: PlantedWaitLine,
    /// The open batch: its number and members.
    open: Option<(u64, usize)>,
    /// (batch, committed, uncollected)
    outcomes: Vec<(u64, bool, usize)>,
    /// The one slot of `OneOutcomeSlot`.
    last: Option<bool>,
    next_batch: u64,
    closed: bool,
}

enum PDone {
    Joined,
    Failed(Option<Box<dyn std::any::Any + Send>>),
    Lost,
}

impl PlantedBatcher {
    /// Gives the connection back: with a batch open it is handed to the
    /// head of the line; between batches the line decides.
    fn hand_on(&self, state: &mut PState, conn: FakeConnection) {
        state.conn = Some(conn);
        let hand_over = state.open.is_some();
        state.line.release(hand_over);
    }

    fn hold(&self) -> Result<(FakeConnection, Option<u64>, bool)> {
        let guard = self.state.lock().unwrap();
        let (mut state, taken) = PlantedWaitLine::wait(
            &self.state,
            guard,
            |state| &mut state.line,
            |state| state.closed,
            self.patient,
        );
        match taken {
            Ok(()) => {
                let conn = state.conn.take().expect("the planted copy never discards its connection");
                Ok((conn, state.open.map(|(number, _)| number), state.closed))
            }
            Err(Refusal::Closed) => Err(Error::closed("planted group")),
            Err(Refusal::TimedOut) => Err(Error::new(ErrorKind::Busy, "planted: gave up")),
        }
    }

    fn run(&self, conn: &mut FakeConnection, first: bool, work: Job<'_>) -> PDone {
        if first {
            return match catch_unwind(AssertUnwindSafe(|| work(conn))) {
                Ok(Ok(())) if conn.in_transaction() => PDone::Joined,
                outcome => {
                    if conn.in_transaction() {
                        conn.rollback().unwrap();
                    }
                    PDone::Failed(outcome.err())
                }
            };
        }
        conn.savepoint().unwrap();
        let seal = self.bug != GroupBug::NoSeal;
        if seal {
            conn.seal(true).unwrap();
        }
        let outcome = if self.bug == GroupBug::PanicEscapes {
            Ok(work(conn))
        } else {
            catch_unwind(AssertUnwindSafe(|| work(conn)))
        };
        if seal {
            conn.seal(false).unwrap();
        }
        if !conn.in_transaction() {
            if self.bug == GroupBug::LostBatchAcked {
                // Carries on as if only this write failed; the next SAVEPOINT
                // would begin a new transaction in SQLite, as this does.
                conn.begin_immediate().unwrap();
                return PDone::Failed(outcome.err());
            }
            return PDone::Lost;
        }
        match outcome {
            Ok(Ok(())) => {
                conn.release_savepoint().unwrap();
                PDone::Joined
            }
            outcome => {
                if self.bug == GroupBug::FailedMemberKeepsRows {
                    conn.release_savepoint().unwrap();
                } else {
                    conn.rollback_to_savepoint().unwrap();
                }
                PDone::Failed(outcome.err())
            }
        }
    }

    fn outcome_of(&self, number: u64) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        loop {
            if self.bug == GroupBug::OneOutcomeSlot {
                if let Some(committed) = state.last {
                    return if committed {
                        Ok(())
                    } else {
                        Err(Error::new(ErrorKind::Busy, "planted: failed"))
                    };
                }
            } else if let Some(at) = state.outcomes.iter().position(|o| o.0 == number) {
                let committed = state.outcomes[at].1;
                state.outcomes[at].2 -= 1;
                if state.outcomes[at].2 == 0 {
                    state.outcomes.remove(at);
                }
                return if committed { Ok(()) } else { Err(Error::new(ErrorKind::Busy, "planted: failed")) };
            }
            state = self.settled.wait(state).unwrap();
        }
    }
}

fn own_result(panic: Option<Box<dyn std::any::Any + Send>>) -> Result<()> {
    match panic {
        Some(panic) => resume_unwind(panic),
        None => Err(Error::new(ErrorKind::Sql, "planted: the work failed")),
    }
}

impl Batcher for PlantedBatcher {
    fn name() -> &'static str {
        "planted-group"
    }

    fn open(db: &FakeDatabase, cap: usize, patient: bool) -> PlantedBatcher {
        let bug = *PLANTED.lock().unwrap();
        if bug == GroupBug::SealInstalledOnce {
            db.seal_like(SealModel::InstalledOnce);
        }
        let conn = db.manager().connect().expect("the fake connects");
        PlantedBatcher {
            bug,
            cap,
            patient,
            state: Mutex::new(PState {
                conn: Some(conn),
                line: PlantedWaitLine::new(bug.in_line(), WriteQueue::OVERTAKING_BOUND),
                open: None,
                outcomes: Vec::new(),
                last: None,
                next_batch: 0,
                closed: false,
            }),
            settled: Condvar::new(),
        }
    }

    fn write(&self, work: Job<'_>) -> Result<()> {
        let (mut conn, batch, closed) = self.hold()?;
        let done = match (batch, closed) {
            (None, true) => {
                self.hand_on(&mut self.state.lock().unwrap(), conn);
                return Err(Error::closed("planted group"));
            }
            (Some(_), true) => PDone::Failed(None),
            (None, false) => {
                conn.begin_immediate().expect("no transaction is left open");
                self.run(&mut conn, true, work)
            }
            (Some(_), false) => self.run(&mut conn, false, work),
        };
        let stale_waiting = self.state.lock().unwrap().line.waiting() > 0;
        let mut state = self.state.lock().unwrap();
        let (own, lost) = match done {
            PDone::Joined => {
                if state.open.is_none() {
                    state.open = Some((state.next_batch, 0));
                    state.next_batch += 1;
                }
                state.open.as_mut().unwrap().1 += 1;
                (None, false)
            }
            PDone::Failed(panic) => (Some(panic), false),
            PDone::Lost => (Some(None), true),
        };
        let Some((number, members)) = state.open else {
            self.hand_on(&mut state, conn);
            drop(state);
            return own_result(own.expect("a failed first write"));
        };
        let waiting =
            if self.bug == GroupBug::CountOutsideLock { stale_waiting } else { state.line.waiting() > 0 };
        let room = if self.bug == GroupBug::CapOffByOne { members <= self.cap } else { members < self.cap };
        let pass_on = !lost && !state.closed && waiting && room;
        if pass_on || (self.bug == GroupBug::FailingLastSkipsCommit && own.is_some() && !lost) {
            self.hand_on(&mut state, conn);
            drop(state);
            return match own {
                None if self.bug == GroupBug::AckBeforeCommit => Ok(()),
                None => self.outcome_of(number),
                Some(panic) => own_result(panic),
            };
        }
        state.open = None;
        drop(state);
        let committed = !lost && conn.commit().is_ok();
        if !committed && conn.in_transaction() && self.bug != GroupBug::FailedCommitLeavesOpen {
            conn.rollback().unwrap();
        }
        let others = members - usize::from(own.is_none());
        let mut state = self.state.lock().unwrap();
        if others > 0 {
            state.outcomes.push((number, committed, others));
        }
        state.last = Some(committed);
        self.hand_on(&mut state, conn);
        drop(state);
        self.settled.notify_all();
        match own {
            Some(panic) => own_result(panic),
            None if committed => Ok(()),
            None => Err(Error::new(ErrorKind::Busy, "planted: the COMMIT failed")),
        }
    }

    fn close(&self) {
        let mut state = self.state.lock().unwrap();
        state.closed = true;
        if self.bug == GroupBug::CloseWakesNobody {
            return;
        }
        let woken = if self.bug == GroupBug::CloseWakesOneBatch { self.cap } else { usize::MAX };
        state.line.wake_first(woken);
    }

    fn waiting(&self) -> usize {
        self.state.lock().unwrap().line.waiting()
    }
}

/// Each planted bug, the property that must catch it, and what the failure
/// must say. A bug may be listed under two properties: one that loom runs
/// at its scale and one that needs shuttle's.
pub const CAUGHT_BY: &[Caught] = &[
    ("ack-before-commit", "acknowledged_writes_are_committed", &["acknowledged before the COMMIT"]),
    (
        "one-outcome-slot",
        "results_reach_the_right_batch",
        &["acknowledged before the COMMIT", "never acknowledged"],
    ),
    ("failing-last-skips-commit", "a_failed_writes_rows_are_absent_and_the_others_present", &["deadlock"]),
    ("give-up-drops-handed", "a_writer_that_gives_up_strands_nobody", &["deadlock"]),
    ("hand-off-without-wake", "acknowledged_writes_are_committed", &["deadlock"]),
    ("hand-off-without-wake", "a_failing_write_loses_nobody_queued_behind_it", &["deadlock"]),
    ("count-outside-lock", "a_writer_that_gives_up_strands_nobody", &["deadlock"]),
    (
        "failed-commit-leaves-open",
        "a_failed_commit_fails_every_member",
        &["no transaction is left open", "left open"],
    ),
    (
        "lost-batch-acked",
        "a_whole_rollback_fails_every_member_so_far",
        &["acknowledged before the COMMIT", "never acknowledged"],
    ),
    ("panic-escapes", "a_panicking_write_strands_nobody", &["deadlock", "Causality", "another's was lost"]),
    (
        "failed-member-keeps-rows",
        "a_failed_writes_rows_are_absent_and_the_others_present",
        &["the failed write's row was committed"],
    ),
    (
        "no-seal",
        "work_cannot_end_the_shared_transaction",
        &["never acknowledged", "acknowledged before the COMMIT"],
    ),
    ("cap-off-by-one", "batches_hold_at_most_cap_writes", &["with a cap of"]),
    ("closed-handed-leaves", "close_racing_with_a_batch_strands_nobody", &["deadlock"]),
    ("close-wakes-nobody", "close_fails_a_waiting_writer_while_a_write_runs", &["deadlock"]),
    (
        "line-of-four",
        "a_failing_write_loses_nobody_queued_behind_it",
        &["a queued writer was lost", "deadlock"],
    ),
    ("close-wakes-one-batch", "close_fails_a_waiting_writer_while_a_write_runs", &["deadlock"]),
    ("unbounded-overtaking", "a_waiting_writer_is_overtaken_at_most_the_bound", &["was overtaken"]),
    ("seal-installed-once", "a_cached_commit_cannot_end_a_later_batch", &["never acknowledged"]),
];

/// The planted bugs that need more threads, or more steps, than loom
/// runs: loom's models pass with them planted (`.ci/shuttle-table` shows
/// it), shuttle's catch them. `line-of-four` needs five writers queued at
/// once behind a running one, six threads, and loom allows five;
/// `unbounded-overtaking` needs 65 overtakes, and its property runs under
/// shuttle only. (`close-wakes-one-batch` and `cap-off-by-one` need a
/// cap's worth of writers and one more, so loom catches them with a cap of
/// one, shuttle with the caps of 4 and 8.)
pub const BEYOND_LOOM: [&str; 2] = ["line-of-four", "unbounded-overtaking"];

/// This suite's planted bugs, with the child test that runs one.
pub const PLANTED_SUITE: PlantedSuite =
    PlantedSuite { caught_by: CAUGHT_BY, beyond_loom: &BEYOND_LOOM, child_test: "group_planted_child" };

/// Every property has a planted bug it catches under this checker, and
/// every bug is planted.
pub fn every_property_catches_a_planted_bug() {
    PLANTED_SUITE.every_property_catches_a_planted_bug(
        PROPERTIES.iter().map(|(name, _)| *name),
        GroupBug::ALL.iter().map(|(bug, _)| *bug),
    );
}

/// Runs the planted bug `LITEPOOL_PLANTED` through the property
/// `LITEPOOL_PROPERTY`.
pub fn planted_child() {
    PLANTED_SUITE.run_child(PROPERTIES, |bug| *PLANTED.lock().unwrap() = GroupBug::named(bug));
}
