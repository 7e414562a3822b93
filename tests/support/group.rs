//! Loom properties of group commit (`src/group.rs`), each written once
//! against [`Batcher`], and the planted batching bugs they must catch.
//!
//! [`RealBatcher`] is litepool's `GroupCommit` over fake connections.
//! [`PlantedBatcher`] is a copy of its batching logic (no readers, no write
//! queue, no reconnecting) with one realistic mistake switched on, each
//! taken from the pitfalls the prototypes hit; with [`GroupBug::None`] it
//! passes every property (`a_correct_copy_passes` in `tests/loom_group.rs`).
//!
//! Batches in these models hold at most [`CAP`] writes unless a model says
//! otherwise, so that with three writers both a full batch and a batch
//! closed because nobody was queued are explored.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Duration;

use litepool::fake::{FakeConnection, FakeDatabase, FakeManager, Fault};
use litepool::{Access, Error, ErrorKind, GroupCommit, Manager, Result, Transactional};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use crate::support::loom::{EXPECTED_PANIC, check};

/// The batch cap of most models.
pub const CAP: usize = 2;

/// A caller's work, as the batcher takes it.
pub type Job<'a> = &'a mut dyn FnMut(&FakeConnection) -> Result<()>;

/// A group-commit writer under test.
pub trait Batcher: Send + Sync + 'static {
    /// The prefix of its models' names.
    fn name() -> &'static str;
    /// A batcher over `db` whose batches hold at most `cap` writes, and
    /// whose waiting writers give up as soon as they are woken unless
    /// `patient`.
    fn open(db: &FakeDatabase, cap: usize, patient: bool) -> Self;
    fn write(&self, work: Job<'_>) -> Result<()>;
    fn close(&self);
}

/// litepool's group commit.
pub struct RealBatcher(GroupCommit<FakeManager>);

impl Batcher for RealBatcher {
    fn name() -> &'static str {
        GroupCommit::<FakeManager>::strategy().name
    }
    fn open(db: &FakeDatabase, cap: usize, patient: bool) -> RealBatcher {
        let manager = db.manager().with_write_timeout(timeout(patient));
        RealBatcher(GroupCommit::with_batch_cap(manager, 1, cap).expect("the group opens"))
    }
    fn write(&self, work: Job<'_>) -> Result<()> {
        self.0.write_with(work)
    }
    fn close(&self) {
        self.0.close();
    }
}

/// A patient writer's timeout is far away; an impatient one's has passed
/// by the time it is woken (loom does not model time).
fn timeout(patient: bool) -> Duration {
    if patient { Duration::from_secs(3600) } else { Duration::ZERO }
}

/// Runs one property model over a fresh database and batcher.
fn model<B: Batcher>(
    property: &str,
    threads: usize,
    cap: usize,
    patient: bool,
    body: impl Fn(FakeDatabase, Arc<B>) + Send + Sync + 'static,
) {
    check(&format!("{}::{property}", B::name()), threads, move || {
        let db = FakeDatabase::new();
        let batcher = Arc::new(B::open(&db, cap, patient));
        body(db, batcher)
    });
}

/// The ids of the rows acknowledged so far.
type Acked = Arc<Mutex<Vec<usize>>>;

/// Records an acknowledged write of row `id`, and checks that the COMMIT
/// holding that row (not just as many rows) has happened.
fn acknowledge(db: &FakeDatabase, acks: &Acked, id: usize, result: &Result<()>) -> bool {
    if result.is_err() {
        return false;
    }
    assert!(db.is_committed(id), "a write was acknowledged before the COMMIT that holds its row {id}");
    acks.lock().unwrap().push(id);
    true
}

/// Inserts row `id` through the batcher and acknowledges it if it returns Ok.
fn write_row<B: Batcher>(db: &FakeDatabase, batcher: &B, acks: &Acked, id: usize) -> bool {
    acknowledge(db, acks, id, &batcher.write(&mut |c| c.insert_id(id)))
}

/// Spawns a writer that inserts rows `first`, `first + 1`, … (`times` of
/// them), one write each, and returns how many were acknowledged.
fn inserter<B: Batcher>(
    db: &FakeDatabase,
    batcher: &Arc<B>,
    acks: &Acked,
    first: usize,
    times: usize,
) -> thread::JoinHandle<usize> {
    let (db, batcher, acks) = (db.clone(), batcher.clone(), acks.clone());
    thread::spawn(move || (first..first + times).filter(|&id| write_row(&db, &*batcher, &acks, id)).count())
}

/// The rows committed are exactly the rows acknowledged, by id.
fn assert_committed_is_acknowledged(db: &FakeDatabase, acks: &Acked) {
    let mut acknowledged = acks.lock().unwrap().clone();
    acknowledged.sort_unstable();
    assert_eq!(db.committed_ids(), acknowledged, "rows committed but never acknowledged, or the reverse");
}

/// Every acknowledged write is committed, and with nothing failing every
/// write is acknowledged: three writers, batches of two.
pub fn acknowledged_writes_are_committed<B: Batcher>() {
    model::<B>("acknowledged_writes_are_committed", 3, CAP, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = [inserter(&db, &batcher, &acks, 10, 1), inserter(&db, &batcher, &acks, 20, 1)];
        let mine = write_row(&db, &*batcher, &acks, 1);
        let acknowledged = usize::from(mine) + others.into_iter().map(|t| t.join().unwrap()).sum::<usize>();
        assert_eq!(acknowledged, 3, "a write failed with nothing failing");
        assert_committed_is_acknowledged(&db, &acks);
    });
}

/// A write whose work fails leaves no row, and the others' rows commit,
/// whether it ran first, in the middle or last in its batch.
pub fn a_failed_writes_rows_are_absent_and_the_others_present<B: Batcher>() {
    model::<B>("a_failed_writes_rows_are_absent_and_the_others_present", 3, 3, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = [inserter(&db, &batcher, &acks, 10, 1), inserter(&db, &batcher, &acks, 20, 1)];
        let failed = batcher.write(&mut |c| {
            c.insert()?;
            c.fail()
        });
        assert!(failed.is_err(), "a failing write was acknowledged");
        let acknowledged: usize = others.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(acknowledged, 2, "a write failed because another one did");
        assert_eq!(db.committed(), 2, "the failed write's row was committed, or another's was lost");
    });
}

/// A write that panics rolls back its own rows and resumes the panic in
/// its own thread; the others commit, and nobody waits for ever.
pub fn a_panicking_write_strands_nobody<B: Batcher>() {
    model::<B>("a_panicking_write_strands_nobody", 3, CAP, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = [inserter(&db, &batcher, &acks, 10, 1), inserter(&db, &batcher, &acks, 20, 1)];
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            batcher.write(&mut |c| {
                c.insert()?;
                panic!("{EXPECTED_PANIC}: in a batched write");
            })
        }));
        assert!(outcome.is_err(), "the panic did not resume in its own thread");
        let acknowledged: usize = others.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(acknowledged, 2, "a write failed because another one panicked");
        assert_eq!(db.committed(), 2, "the panicking write's row was committed, or another's was lost");
    });
}

/// A failed COMMIT fails every member of its batch (none is acknowledged)
/// and leaves no transaction open: the next write commits.
pub fn a_failed_commit_fails_every_member<B: Batcher>() {
    model::<B>("a_failed_commit_fails_every_member", 3, CAP, true, |db, batcher| {
        db.inject(Fault::CommitFails, 1);
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = [inserter(&db, &batcher, &acks, 10, 1), inserter(&db, &batcher, &acks, 20, 1)];
        write_row(&db, &*batcher, &acks, 1);
        others.into_iter().for_each(|t| _ = t.join().unwrap());
        assert_eq!(db.pending(Fault::CommitFails), 0, "the model never reached a COMMIT");
        assert_committed_is_acknowledged(&db, &acks);
        let before = db.committed();
        let next = batcher.write(&mut |c| c.insert());
        assert!(next.is_ok(), "the write after a failed COMMIT failed: {next:?}");
        assert_eq!(db.committed(), before + 1, "a transaction was left open after a failed COMMIT");
    });
}

/// When SQLite rolls the whole transaction back in one member's work (as
/// after `SQLITE_FULL`), every member of the batch so far fails and none
/// is acknowledged; later writes go on.
pub fn a_whole_rollback_fails_every_member_so_far<B: Batcher>() {
    model::<B>("a_whole_rollback_fails_every_member_so_far", 3, 3, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = [inserter(&db, &batcher, &acks, 10, 1), inserter(&db, &batcher, &acks, 20, 1)];
        let full = batcher.write(&mut |c| {
            c.insert()?;
            c.fail_transaction()
        });
        assert!(full.is_err(), "the write that filled the database was acknowledged");
        others.into_iter().for_each(|t| _ = t.join().unwrap());
        assert_committed_is_acknowledged(&db, &acks);
    });
}

/// Each member gets its own batch's outcome, even when it wakes after later
/// batches have closed: three writers, four writes, and the first COMMIT
/// after the main thread's first write fails (so an earlier batch may have
/// committed and a later one failed, or the reverse).
pub fn results_reach_the_right_batch<B: Batcher>() {
    model::<B>("results_reach_the_right_batch", 3, CAP, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = [inserter(&db, &batcher, &acks, 10, 1), inserter(&db, &batcher, &acks, 20, 1)];
        write_row(&db, &*batcher, &acks, 1);
        db.inject(Fault::CommitFails, 1);
        write_row(&db, &*batcher, &acks, 1);
        others.into_iter().for_each(|t| _ = t.join().unwrap());
        assert_committed_is_acknowledged(&db, &acks);
    });
}

/// A waiter that gives up as it is handed the open transaction takes it
/// and ends or passes on the batch: nobody waits for ever.
pub fn a_writer_that_gives_up_strands_nobody<B: Batcher>() {
    model::<B>("a_writer_that_gives_up_strands_nobody", 3, CAP, false, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = [inserter(&db, &batcher, &acks, 10, 1), inserter(&db, &batcher, &acks, 20, 1)];
        let mine = batcher.write(&mut |c| c.insert_id(1));
        assert!(ok_or_busy(&mine), "{mine:?}");
        acknowledge(&db, &acks, 1, &mine);
        others.into_iter().for_each(|t| _ = t.join().unwrap());
        assert_committed_is_acknowledged(&db, &acks);
    });
}

/// Whether a write was acknowledged or gave up waiting (busy).
fn ok_or_busy(result: &Result<()>) -> bool {
    result.as_ref().map_or_else(|e| e.is_busy(), |_| true)
}

/// `close` racing with a batch: every write is acknowledged (and committed)
/// or fails closed, and nobody waits for ever.
pub fn close_racing_with_a_batch_strands_nobody<B: Batcher>() {
    model::<B>("close_racing_with_a_batch_strands_nobody", 3, CAP, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let writers = [inserter(&db, &batcher, &acks, 10, 1), inserter(&db, &batcher, &acks, 20, 1)];
        let closer = {
            let batcher = batcher.clone();
            thread::spawn(move || batcher.close())
        };
        writers.into_iter().for_each(|t| _ = t.join().unwrap());
        closer.join().unwrap();
        assert_committed_is_acknowledged(&db, &acks);
        assert!(batcher.write(&mut |c| c.insert()).is_err_and(|e| e.is_closed()));
    });
}

/// `close` fails a writer waiting for the connection at once, while another
/// write still runs (that write waits for the waiter to fail, so a close
/// that woke nobody would deadlock), and the running write commits.
pub fn close_fails_a_waiting_writer_while_a_write_runs<B: Batcher>() {
    model::<B>("close_fails_a_waiting_writer_while_a_write_runs", 2, CAP, true, |db, batcher| {
        let running = batcher.write(&mut |c| {
            c.insert()?;
            let waiter = {
                let batcher = batcher.clone();
                thread::spawn(move || batcher.write(&mut |c| c.insert()))
            };
            batcher.close();
            let waited = waiter.join().unwrap();
            assert!(waited.is_err_and(|e| e.is_closed()), "a writer got the connection of a closed strategy");
            Ok(())
        });
        assert!(running.is_ok(), "the write running at close failed: {running:?}");
        assert_eq!(db.committed(), 1);
    });
}

/// A write's work cannot end the transaction it shares: its `COMMIT` is
/// refused and fails that write alone, so no other caller's row is committed
/// before its batch's COMMIT. (Run first in its batch, the work's COMMIT
/// commits only its own row, which is then not acknowledged; the rogue row
/// has no id, so the property is about the others'.)
pub fn work_cannot_end_the_shared_transaction<B: Batcher>() {
    model::<B>("work_cannot_end_the_shared_transaction", 3, 3, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = [inserter(&db, &batcher, &acks, 10, 1), inserter(&db, &batcher, &acks, 20, 1)];
        let rogue = batcher.write(&mut |c| {
            c.insert()?;
            c.commit()
        });
        assert!(rogue.is_err(), "a write that committed by itself was acknowledged");
        others.into_iter().for_each(|t| _ = t.join().unwrap());
        // The rogue row has no id: whatever happened to it, every other
        // caller's row is committed exactly when it was acknowledged.
        assert_committed_is_acknowledged(&db, &acks);
    });
}

/// No COMMIT holds more writes than the cap: three writers, cap 1.
pub fn batches_hold_at_most_cap_writes<B: Batcher>() {
    model::<B>("batches_hold_at_most_cap_writes", 3, 1, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = [inserter(&db, &batcher, &acks, 10, 1), inserter(&db, &batcher, &acks, 20, 1)];
        write_row(&db, &*batcher, &acks, 1);
        others.into_iter().for_each(|t| _ = t.join().unwrap());
        assert!(db.largest_commit() <= 1, "a COMMIT held {} writes with a cap of 1", db.largest_commit());
        assert_committed_is_acknowledged(&db, &acks);
    });
}

/// A property, run over a batcher type.
pub type Property = fn();

/// Every group property over the planted copy, by name, for the planted
/// child.
pub const PROPERTIES: &[(&str, Property)] = &[
    ("acknowledged_writes_are_committed", acknowledged_writes_are_committed::<PlantedBatcher>),
    (
        "a_failed_writes_rows_are_absent_and_the_others_present",
        a_failed_writes_rows_are_absent_and_the_others_present::<PlantedBatcher>,
    ),
    ("a_panicking_write_strands_nobody", a_panicking_write_strands_nobody::<PlantedBatcher>),
    ("a_failed_commit_fails_every_member", a_failed_commit_fails_every_member::<PlantedBatcher>),
    (
        "a_whole_rollback_fails_every_member_so_far",
        a_whole_rollback_fails_every_member_so_far::<PlantedBatcher>,
    ),
    ("results_reach_the_right_batch", results_reach_the_right_batch::<PlantedBatcher>),
    ("a_writer_that_gives_up_strands_nobody", a_writer_that_gives_up_strands_nobody::<PlantedBatcher>),
    ("close_racing_with_a_batch_strands_nobody", close_racing_with_a_batch_strands_nobody::<PlantedBatcher>),
    ("work_cannot_end_the_shared_transaction", work_cannot_end_the_shared_transaction::<PlantedBatcher>),
    ("batches_hold_at_most_cap_writes", batches_hold_at_most_cap_writes::<PlantedBatcher>),
    (
        "close_fails_a_waiting_writer_while_a_write_runs",
        close_fails_a_waiting_writer_while_a_write_runs::<PlantedBatcher>,
    ),
];

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
}

impl GroupBug {
    pub const ALL: [(&'static str, GroupBug); 14] = [
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
    settled: Condvar,
}

struct PState {
    conn: Option<FakeConnection>,
    held: bool,
    line: VecDeque<(u64, Arc<Condvar>)>,
    handed_to: Option<u64>,
    next_ticket: u64,
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
    fn hand_on(&self, state: &mut PState, conn: FakeConnection) {
        state.conn = Some(conn);
        match state.line.pop_front() {
            Some((ticket, wake)) => {
                state.handed_to = Some(ticket);
                if self.bug != GroupBug::HandOffWithoutWake {
                    wake.notify_one();
                }
            }
            None => state.held = false,
        }
    }

    fn hold(&self) -> Result<(FakeConnection, Option<u64>, bool)> {
        let closed_error = || Err(Error::closed("planted group"));
        let mut state = self.state.lock().unwrap();
        if state.closed {
            return closed_error();
        }
        if state.held {
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            let wake = Arc::new(Condvar::new());
            state.line.push_back((ticket, wake.clone()));
            let mut timed_out = false;
            loop {
                let handed = state.handed_to == Some(ticket);
                let gives_up = timed_out && (self.bug == GroupBug::GiveUpDropsHanded || !handed)
                    || state.closed && (self.bug == GroupBug::ClosedHandedLeaves || !handed);
                if gives_up {
                    state.line.retain(|(t, _)| *t != ticket);
                    if state.closed {
                        return closed_error();
                    }
                    return Err(Error::new(ErrorKind::Busy, "planted: gave up"));
                }
                if handed {
                    state.handed_to = None;
                    break;
                }
                // An impatient writer's deadline has passed: it gives up at
                // whatever moment loom picks, as litepool's shim models it.
                if self.patient {
                    state = wake.wait(state).unwrap();
                } else {
                    drop(state);
                    thread::yield_now();
                    state = self.state.lock().unwrap();
                    timed_out = true;
                }
            }
        } else {
            state.held = true;
        }
        let conn = state.conn.take().expect("the planted copy never discards its connection");
        Ok((conn, state.open.map(|(number, _)| number), state.closed))
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
        let conn = db.manager().connect().expect("the fake connects");
        PlantedBatcher {
            bug: *PLANTED.lock().unwrap(),
            cap,
            patient,
            state: Mutex::new(PState {
                conn: Some(conn),
                held: false,
                line: VecDeque::new(),
                handed_to: None,
                next_ticket: 0,
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
        let stale_waiting = !self.state.lock().unwrap().line.is_empty();
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
            if self.bug == GroupBug::CountOutsideLock { stale_waiting } else { !state.line.is_empty() };
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
        for (_, wake) in &state.line {
            wake.notify_one();
        }
    }
}
