//! The planted batching bugs: [`PlantedBatcher`] is a copy of group
//! commit's batching logic (no readers, no write queue, no reconnecting):
//! a caller that finds the writer free runs a batch, its own work first and
//! then the queued callers', tells each its outcome, and hands the writer
//! to the first caller still queued; with one realistic
//! mistake switched on, each taken from the pitfalls the prototypes and
//! earlier versions hit. With [`GroupBug::None`] it passes every property
//! (`a_correct_copy_passes`). [`CAUGHT_BY`] says which property must catch
//! each bug.
//!
//! Like the real strategy it lends a queued caller's borrowed work to the
//! runner's thread. The bugs that break that protocol (work run twice, or
//! after its caller left) are caught only by properties whose work lives on
//! the heap until the model ends (`tracked_write`), so that the planted
//! mistake is a wrong answer, not undefined behaviour.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::support::checker::{Arc, Condvar, Mutex};
use crate::support::group::{Batcher, Job, PROPERTIES};
use crate::support::runner::{Caught, PlantedSuite};
use litepool::fake::{FakeConnection, FakeDatabase, SealModel};
use litepool::strategy::{Manager, Seal, Transactional};
use litepool::{Error, ErrorKind, Result};

/// The mistakes a batching writer can make, from the pitfalls the
/// prototypes and earlier versions hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBug {
    None,
    /// A member is told Ok as soon as its work joins, before the COMMIT.
    AckBeforeCommit,
    /// Outcomes are told by position, the failed members' after the joined
    /// ones', not by ticket: a member hears another's.
    OutcomeToWrongSlot,
    /// The runner copies the queued work instead of taking it: the work
    /// stays queued and runs again.
    WorkRunTwice,
    /// A caller whose deadline passed leaves even though a runner has
    /// taken its work: the work runs after its caller returned.
    CallerLeavesWhenTaken,
    /// A member's panic is not caught: it unwinds the runner's thread.
    PanicEscapes,
    /// A member's panic is caught, but resumed in the runner's thread; its
    /// own caller hears an error.
    PanicResumedInRunner,
    /// Outcomes are published, but nobody is woken to read them.
    WakeNobody,
    /// A batch ends without waking the first caller still queued.
    FrontNotWoken,
    /// A queued caller whose deadline passed leaves before it looks
    /// whether it was handed the writer: handed it to run the next batch,
    /// it leaves with it, and nobody runs the callers behind it.
    GiveUpStrandsTheNext,
    /// A failed COMMIT is reported but not rolled back.
    FailedCommitLeavesOpen,
    /// When SQLite rolled the whole transaction back, only the member whose
    /// work saw it fails; the members before it are acknowledged.
    LostBatchAcked,
    /// A failed member's savepoint is released instead of rolled back.
    FailedMemberKeepsRows,
    /// The work runs unsealed: its COMMIT commits the others' rows.
    NoSeal,
    /// A batch takes the cap's worth of queued work besides the runner's own.
    CapOffByOne,
    /// `close` sets its flag but wakes nobody: queued callers fail only
    /// when the batch ends.
    CloseWakesNobody,
    /// `close` wakes at most a batch's worth of queued callers: it takes
    /// more than a cap's worth queued to show.
    CloseWakesOneBatch,
    /// The queue is a ring of four slots that, full, overwrites its oldest
    /// caller, whose work then never runs: it takes five callers queued at
    /// once (six threads) to show, more than loom can run.
    QueueOfFour,
    /// A caller that finds the writer free runs only its own work and
    /// leaves the queue to the caller handed the writer next: no batch
    /// ever forms.
    RunnerSkipsQueue,
    /// A batch frees the writer and wakes the first caller queued, instead
    /// of handing the writer to it (the design before issue 23's last
    /// step): a caller that comes back in the meantime finds it free and
    /// passes the queued one.
    FreesTheWriter,
    /// The seal before issue 21 (`SealModel::InstalledOnce`): the
    /// authorizer set once, so litepool's `COMMIT`, cached unsealed at the
    /// end of one batch, runs unchecked in a sealed write of the next.
    SealInstalledOnce,
    /// A caller looks at `closed` before it looks whether its work was
    /// taken: after a close, a caller whose work a runner took fails
    /// closed, though its rows may commit.
    ClosedFailsTaken,
}

impl GroupBug {
    pub const ALL: [(&'static str, GroupBug); 21] = [
        ("ack-before-commit", GroupBug::AckBeforeCommit),
        ("outcome-to-wrong-slot", GroupBug::OutcomeToWrongSlot),
        ("work-run-twice", GroupBug::WorkRunTwice),
        ("caller-leaves-when-taken", GroupBug::CallerLeavesWhenTaken),
        ("panic-escapes", GroupBug::PanicEscapes),
        ("panic-resumed-in-runner", GroupBug::PanicResumedInRunner),
        ("wake-nobody", GroupBug::WakeNobody),
        ("front-not-woken", GroupBug::FrontNotWoken),
        ("give-up-strands-the-next", GroupBug::GiveUpStrandsTheNext),
        ("failed-commit-leaves-open", GroupBug::FailedCommitLeavesOpen),
        ("lost-batch-acked", GroupBug::LostBatchAcked),
        ("failed-member-keeps-rows", GroupBug::FailedMemberKeepsRows),
        ("no-seal", GroupBug::NoSeal),
        ("cap-off-by-one", GroupBug::CapOffByOne),
        ("close-wakes-nobody", GroupBug::CloseWakesNobody),
        ("close-wakes-one-batch", GroupBug::CloseWakesOneBatch),
        ("queue-of-four", GroupBug::QueueOfFour),
        ("runner-skips-queue", GroupBug::RunnerSkipsQueue),
        ("frees-the-writer", GroupBug::FreesTheWriter),
        ("seal-installed-once", GroupBug::SealInstalledOnce),
        ("closed-fails-taken", GroupBug::ClosedFailsTaken),
    ];

    pub fn named(name: &str) -> GroupBug {
        GroupBug::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, bug)| *bug)
            .unwrap_or_else(|| panic!("no planted group bug named {name:?}"))
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
}

struct PState {
    conn: Option<FakeConnection>,
    running: bool,
    queue: VecDeque<PQueued>,
    /// What queued callers were told, by ticket.
    told: Vec<(u64, PTold)>,
    next_ticket: u64,
    closed: bool,
}

#[derive(Clone)]
struct PQueued {
    ticket: u64,
    job: PJob,
    wake: Arc<Condvar>,
}

/// A queued caller's work, its lifetime erased as the real strategy's is.
#[derive(Clone, Copy)]
struct PJob(*mut (dyn FnMut(&FakeConnection) -> Result<()> + Send + 'static));

// SAFETY: as `src/group/job.rs`: the work is `Send`, and the copy keeps the
// protocol unless a bug that breaks it is planted, which only properties
// whose work outlives the model run (`tracked_write`).
unsafe impl Send for PJob {}

impl PJob {
    fn new(work: Job<'_>) -> PJob {
        type Borrowed<'a> = *mut (dyn FnMut(&FakeConnection) -> Result<()> + Send + 'a);
        type Erased = *mut (dyn FnMut(&FakeConnection) -> Result<()> + Send + 'static);
        let work: Borrowed<'_> = work;
        // SAFETY: only the lifetime changes; see above.
        PJob(unsafe { std::mem::transmute::<Borrowed<'_>, Erased>(work) })
    }

    fn work(&mut self) -> Job<'_> {
        // SAFETY: see above.
        unsafe { &mut *self.0 }
    }
}

enum PTold {
    Running,
    /// Handed the writer: run the next batch.
    Lead,
    Done(std::result::Result<(), PFailure>),
}

enum PFailure {
    Error(Error),
    Panic(Box<dyn std::any::Any + Send>),
}

impl PFailure {
    fn into_result(self) -> Result<()> {
        match self {
            PFailure::Error(e) => Err(e),
            PFailure::Panic(panic) => resume_unwind(panic),
        }
    }
}

enum PDone {
    Joined,
    Failed(PFailure),
    Lost(PFailure),
}

fn work_failed() -> PFailure {
    PFailure::Error(Error::new(ErrorKind::Sql, "planted: the work failed"))
}

fn batch_failed() -> Error {
    Error::new(ErrorKind::Aborted, "planted: the batch failed")
}

impl PlantedBatcher {
    /// Runs one caller's work: the runner's own first (no savepoint), the
    /// others in a savepoint with the batch's seal engaged (installed at
    /// the first of them).
    fn run_one(
        &self,
        conn: &mut FakeConnection,
        seal: &mut Option<Seal>,
        first: bool,
        work: Job<'_>,
    ) -> PDone {
        if first {
            return match catch_unwind(AssertUnwindSafe(|| work(conn))) {
                Ok(Ok(())) if conn.in_transaction() => PDone::Joined,
                outcome => {
                    if conn.in_transaction() {
                        conn.rollback().unwrap();
                    }
                    PDone::Failed(outcome.err().map_or_else(work_failed, PFailure::Panic))
                }
            };
        }
        conn.savepoint().unwrap();
        let seal = (self.bug != GroupBug::NoSeal).then(|| {
            seal.get_or_insert_with(|| {
                let seal = Seal::new();
                conn.install_seal(&seal).unwrap();
                seal
            })
        });
        seal.iter().for_each(|seal| seal.engage());
        let outcome = if self.bug == GroupBug::PanicEscapes {
            Ok(work(conn))
        } else {
            catch_unwind(AssertUnwindSafe(|| work(conn)))
        };
        seal.iter().for_each(|seal| seal.lift());
        let failure = |outcome: std::thread::Result<Result<()>>| {
            outcome.err().map_or_else(work_failed, PFailure::Panic)
        };
        if !conn.in_transaction() {
            if self.bug == GroupBug::LostBatchAcked {
                // Carries on as if only this write failed; the next SAVEPOINT
                // would begin a new transaction in SQLite, as this does.
                conn.begin_immediate().unwrap();
                return PDone::Failed(failure(outcome));
            }
            return PDone::Lost(failure(outcome));
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
                PDone::Failed(failure(outcome))
            }
        }
    }

    /// Runs a batch as its runner (`running` is set), `own` first.
    fn run(&self, own: Job<'_>) -> Result<()> {
        let mut conn =
            self.state.lock().unwrap().conn.take().expect("the planted copy never discards its connection");
        conn.begin_immediate().expect("no transaction is left open");
        if let PDone::Failed(failure) = self.run_one(&mut conn, &mut None, true, own) {
            self.end(conn, Vec::new(), Vec::new(), None);
            return failure.into_result();
        }
        let mut joined: Vec<PQueued> = Vec::new();
        let mut failed: Vec<(PQueued, PFailure)> = Vec::new();
        let mut seal: Option<Seal> = None;
        let mut lost = false;
        let mut size = 1;
        let room =
            |size: usize| if self.bug == GroupBug::CapOffByOne { size <= self.cap } else { size < self.cap };
        'batch: while room(size) {
            let taken: Vec<PQueued> = {
                let mut state = self.state.lock().unwrap();
                if state.closed {
                    Vec::new()
                } else {
                    let most =
                        if self.bug == GroupBug::CapOffByOne { self.cap + 1 - size } else { self.cap - size };
                    let n = most.min(state.queue.len());
                    let taken: Vec<PQueued> = if self.bug == GroupBug::WorkRunTwice {
                        state.queue.iter().take(n).cloned().collect()
                    } else {
                        state.queue.drain(..n).collect()
                    };
                    for queued in &taken {
                        state.told.push((queued.ticket, PTold::Running));
                    }
                    taken
                }
            };
            if taken.is_empty() {
                break;
            }
            let mut taken = taken.into_iter();
            while let Some(mut queued) = taken.next() {
                size += 1;
                match self.run_one(&mut conn, &mut seal, false, queued.job.work()) {
                    PDone::Joined => {
                        if self.bug == GroupBug::AckBeforeCommit {
                            self.tell(vec![(queued, Ok(()))]);
                        } else {
                            joined.push(queued);
                        }
                    }
                    PDone::Failed(PFailure::Panic(panic)) if self.bug == GroupBug::PanicResumedInRunner => {
                        failed.push((queued, work_failed()));
                        if seal.is_some() {
                            conn.remove_seal().unwrap();
                        }
                        conn.commit().unwrap();
                        self.end(conn, joined, failed, None);
                        resume_unwind(panic);
                    }
                    PDone::Failed(failure) => failed.push((queued, failure)),
                    PDone::Lost(failure) => {
                        failed.push((queued, failure));
                        let mut state = self.state.lock().unwrap();
                        for queued in taken.rev() {
                            state.told.retain(|(ticket, _)| *ticket != queued.ticket);
                            state.queue.push_front(queued);
                        }
                        lost = true;
                        break 'batch;
                    }
                }
            }
        }
        if seal.is_some() {
            conn.remove_seal().unwrap();
        }
        let committed = !lost && conn.commit().is_ok();
        if !committed && conn.in_transaction() && self.bug != GroupBug::FailedCommitLeavesOpen {
            conn.rollback().unwrap();
        }
        let failure = (!committed).then(batch_failed);
        self.end(conn, joined, failed, failure.as_ref());
        failure.map_or(Ok(()), Err)
    }

    /// Tells every member its outcome, hands the writer to the first caller
    /// still queued (or frees it) and wakes that caller.
    fn end(
        &self,
        conn: FakeConnection,
        joined: Vec<PQueued>,
        failed: Vec<(PQueued, PFailure)>,
        failure: Option<&Error>,
    ) {
        let outcome = || failure.map_or(Ok(()), |e| Err(PFailure::Error(Error::new(e.kind(), e.message()))));
        let mut told: Vec<(PQueued, std::result::Result<(), PFailure>)> = Vec::new();
        if self.bug == GroupBug::OutcomeToWrongSlot {
            // Outcomes in batch order, tickets in the order of the lists.
            let tickets: Vec<PQueued> =
                joined.iter().cloned().chain(failed.iter().map(|(q, _)| q.clone())).collect();
            let mut members: Vec<(u64, std::result::Result<(), PFailure>)> = failed
                .into_iter()
                .map(|(q, f)| (q.ticket, Err(f)))
                .chain(joined.into_iter().map(|q| (q.ticket, outcome())))
                .collect();
            members.sort_by_key(|(ticket, _)| *ticket);
            for (queued, (_, outcome)) in tickets.into_iter().zip(members) {
                told.push((queued, outcome));
            }
        } else {
            told.extend(joined.into_iter().map(|q| (q, outcome())));
            told.extend(failed.into_iter().map(|(q, f)| (q, Err(f))));
        }
        let mut state = self.state.lock().unwrap();
        state.conn = Some(conn);
        let front = state.queue.front().map(|q| (q.ticket, q.wake.clone()));
        match front {
            Some((ticket, _)) if !state.closed && self.bug != GroupBug::FreesTheWriter => {
                state.told.push((ticket, PTold::Lead));
            }
            _ => state.running = false,
        }
        drop(state);
        self.tell(told);
        if let Some((_, front)) = front.filter(|_| self.bug != GroupBug::FrontNotWoken) {
            front.notify_one();
        }
    }

    /// Publishes outcomes and wakes their callers.
    fn tell(&self, outcomes: Vec<(PQueued, std::result::Result<(), PFailure>)>) {
        let mut state = self.state.lock().unwrap();
        let mut wake = Vec::new();
        for (queued, outcome) in outcomes {
            state.told.retain(|(ticket, _)| *ticket != queued.ticket);
            state.told.push((queued.ticket, PTold::Done(outcome)));
            wake.push(queued.wake);
        }
        drop(state);
        if self.bug != GroupBug::WakeNobody {
            wake.iter().for_each(|w| w.notify_one());
        }
    }

    /// A queued caller's wait, as `wait_for` in `src/group.rs`.
    fn wait_for(&self, ticket: u64, wake: Arc<Condvar>) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        let mut timed_out = false;
        loop {
            let queued = state.queue.iter().position(|q| q.ticket == ticket);
            if state.closed && self.bug == GroupBug::ClosedFailsTaken {
                if let Some(at) = queued {
                    state.queue.remove(at);
                }
                return Err(Error::closed("planted group"));
            }
            if timed_out && self.bug == GroupBug::CallerLeavesWhenTaken && queued.is_none() {
                return Err(Error::new(ErrorKind::Busy, "planted: gave up"));
            }
            if timed_out
                && self.bug == GroupBug::GiveUpStrandsTheNext
                && let Some(at) = queued
            {
                // Leaves without looking whether it was handed the writer.
                state.queue.remove(at);
                state.told.retain(|(t, _)| *t != ticket);
                return Err(Error::new(ErrorKind::Busy, "planted: gave up"));
            }
            match state.told.iter().position(|(t, _)| *t == ticket) {
                Some(at) if matches!(state.told[at].1, PTold::Lead) => {
                    state.told.remove(at);
                    let at = queued.expect("the caller handed the writer is queued");
                    let mut queued = state.queue.remove(at).expect("just found");
                    if state.closed {
                        state.running = false;
                        return Err(Error::closed("planted group"));
                    }
                    drop(state);
                    return self.run_batch(queued.job.work());
                }
                Some(at) if matches!(state.told[at].1, PTold::Done(_)) => {
                    let (_, PTold::Done(outcome)) = state.told.remove(at) else { unreachable!() };
                    drop(state);
                    return outcome.or_else(PFailure::into_result);
                }
                Some(_) if queued.is_none() => {
                    state = wake.wait(state).unwrap();
                    continue;
                }
                _ => {}
            }
            let Some(at) = queued else {
                // Overwritten in a full ring (`QueueOfFour`): nobody will
                // run this work or tell this caller.
                state = wake.wait(state).unwrap();
                continue;
            };
            if state.closed {
                state.queue.remove(at);
                return Err(Error::closed("planted group"));
            }
            if !state.running && (at == 0 || self.cap > 1) {
                let mut queued = state.queue.remove(at).expect("just found");
                state.running = true;
                drop(state);
                return self.run_batch(queued.job.work());
            }
            if timed_out {
                state.queue.remove(at);
                return Err(Error::new(ErrorKind::Busy, "planted: gave up"));
            }
            state = wake.wait(state).unwrap();
            timed_out = !self.patient;
        }
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
                running: false,
                queue: VecDeque::new(),
                told: Vec::new(),
                next_ticket: 0,
                closed: false,
            }),
        }
    }

    fn write(&self, work: Job<'_>) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        if state.closed {
            return Err(Error::closed("planted group"));
        }
        if !state.running && (state.queue.is_empty() || self.cap > 1) {
            state.running = true;
            drop(state);
            return self.run_batch(work);
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        let wake = Arc::new(Condvar::new());
        if self.bug == GroupBug::QueueOfFour && state.queue.len() == 4 {
            state.queue.pop_front();
        }
        state.queue.push_back(PQueued { ticket, job: PJob::new(work), wake: wake.clone() });
        drop(state);
        self.wait_for(ticket, wake)
    }

    fn close(&self) {
        let mut state = self.state.lock().unwrap();
        state.closed = true;
        if self.bug == GroupBug::CloseWakesNobody {
            return;
        }
        let woken = if self.bug == GroupBug::CloseWakesOneBatch { self.cap } else { usize::MAX };
        for queued in state.queue.iter().take(woken) {
            queued.wake.notify_one();
        }
    }

    fn waiting(&self) -> usize {
        self.state.lock().unwrap().queue.len()
    }
}

impl PlantedBatcher {
    /// Runs a batch as its runner, `own` first.
    fn run_batch(&self, own: Job<'_>) -> Result<()> {
        if self.bug == GroupBug::RunnerSkipsQueue { self.run_alone(own) } else { self.run(own) }
    }

    /// `RunnerSkipsQueue`: the caller's own work alone, in a batch of one.
    fn run_alone(&self, own: Job<'_>) -> Result<()> {
        let mut conn =
            self.state.lock().unwrap().conn.take().expect("the planted copy never discards its connection");
        conn.begin_immediate().expect("no transaction is left open");
        let done = self.run_one(&mut conn, &mut None, true, own);
        let committed = matches!(done, PDone::Joined) && conn.commit().is_ok();
        self.end(conn, Vec::new(), Vec::new(), None);
        match done {
            PDone::Failed(failure) | PDone::Lost(failure) => failure.into_result(),
            PDone::Joined if committed => Ok(()),
            PDone::Joined => Err(batch_failed()),
        }
    }
}

/// Each planted bug, the property that must catch it, and what the failure
/// must say. A bug may be listed under two properties: one that loom runs
/// at its scale and one that needs shuttle's.
pub const CAUGHT_BY: &[Caught] = &[
    ("ack-before-commit", "acknowledged_writes_are_committed", &["acknowledged before the COMMIT"]),
    (
        "outcome-to-wrong-slot",
        "each_caller_hears_its_own_outcome",
        &["heard Ok", "acknowledged before the COMMIT", "never acknowledged"],
    ),
    ("work-run-twice", "work_runs_exactly_once_or_never", &["times", "deadlock"]),
    (
        "caller-leaves-when-taken",
        "a_caller_never_returns_while_its_work_may_run",
        &["after its caller returned", "never acknowledged"],
    ),
    (
        "panic-escapes",
        "a_panicking_write_strands_nobody",
        &["deadlock", "Causality", "another's was lost", "escaped into a thread"],
    ),
    (
        "panic-resumed-in-runner",
        "a_panicking_write_strands_nobody",
        &["did not resume in its own thread", "escaped into a thread"],
    ),
    ("wake-nobody", "acknowledged_writes_are_committed", &["deadlock"]),
    ("front-not-woken", "a_failing_write_loses_nobody_queued_behind_it", &["deadlock"]),
    ("give-up-strands-the-next", "a_writer_that_gives_up_strands_nobody", &["deadlock"]),
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
    ("close-wakes-nobody", "close_fails_a_waiting_writer_while_a_write_runs", &["deadlock"]),
    ("close-wakes-one-batch", "close_fails_a_waiting_writer_while_a_write_runs", &["deadlock"]),
    (
        "queue-of-four",
        "a_failing_write_loses_nobody_queued_behind_it",
        &["a queued writer was lost", "deadlock"],
    ),
    ("runner-skips-queue", "acknowledged_writes_are_committed", &["no batch ever formed"]),
    ("frees-the-writer", "a_queued_writer_is_never_passed", &["was passed"]),
    ("seal-installed-once", "a_cached_commit_cannot_end_a_later_batch", &["never acknowledged"]),
    ("closed-fails-taken", "close_racing_with_a_batch_strands_nobody", &["never acknowledged"]),
];

/// The planted bugs that need more threads, or more steps, than loom
/// runs: loom's models pass with them planted (`.ci/shuttle-table` shows
/// it), shuttle's catch them. `queue-of-four` needs five callers queued at
/// once behind a running one, six threads, and loom allows five;
/// `frees-the-writer` needs a caller to come back many times, and its
/// property runs under shuttle only. (`close-wakes-one-batch` and
/// `cap-off-by-one` need a cap's worth of writers and one more, so loom
/// catches them with a cap of one, shuttle with the caps of 4 and 8.)
pub const BEYOND_LOOM: [&str; 2] = ["queue-of-four", "frees-the-writer"];

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
