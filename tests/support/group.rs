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
//! otherwise, so that with [`WRITERS`] writers besides the model's own
//! thread both a full batch and a batch closed because nobody was queued
//! are explored. Both are larger under shuttle, which can afford more
//! threads than loom's exhaustive search: loom runs two writers and
//! batches of two, shuttle eleven writers and batches of four, and the
//! properties about one count (the cap, a line behind a failing write)
//! set theirs where a many-thread bug shows.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Duration;

use crate::support::model::{
    Arc, Caught, Condvar, EXPECTED_PANIC, Mutex, PLANTED_VAR, PROPERTY_VAR, PlantedSuite, check, pick, thread,
};
use litepool::fake::{FakeConnection, FakeDatabase, FakeManager, Fault, SealModel, Statement};
use litepool::strategy::{Manager, Transactional};
use litepool::{Access, Error, ErrorKind, GroupCommit, Result};

/// The batch cap of most models.
pub const CAP: usize = pick(2, 4);

/// The writers most models spawn besides their own thread.
pub const WRITERS: usize = pick(2, 11);

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
    /// Writers waiting for the connection now.
    fn waiting(&self) -> usize;
    /// Whether a running writer may take the free connection past the head
    /// of the line between batches (litepool's does, up to its bound; the
    /// planted copy hands it to the head).
    const OVERTAKES: bool;
}

/// litepool's group commit.
pub struct RealBatcher(GroupCommit<FakeManager>);

impl Batcher for RealBatcher {
    const OVERTAKES: bool = true;

    fn name() -> &'static str {
        GroupCommit::<FakeManager>::strategy().name
    }
    fn open(db: &FakeDatabase, cap: usize, patient: bool) -> RealBatcher {
        let manager = db.manager().with_write_timeout(timeout(patient));
        RealBatcher(GroupCommit::builder().readers(1).batch_cap(cap).open(manager).expect("the group opens"))
    }
    fn write(&self, work: Job<'_>) -> Result<()> {
        self.0.write_with(work)
    }
    fn close(&self) {
        self.0.close();
    }
    fn waiting(&self) -> usize {
        self.0.state().waiting
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

/// Spawns `n` writers of one row each (ids 10, 20, …).
fn inserters<B: Batcher>(
    db: &FakeDatabase,
    batcher: &Arc<B>,
    acks: &Acked,
    n: usize,
) -> Vec<thread::JoinHandle<usize>> {
    (1..=n).map(|i| inserter(db, batcher, acks, 10 * i, 1)).collect()
}

/// Joins `writers`, adding up the writes each had acknowledged.
fn acknowledged_by(writers: Vec<thread::JoinHandle<usize>>) -> usize {
    writers.into_iter().map(|t| t.join().unwrap()).sum()
}

/// The rows committed are exactly the rows acknowledged, by id.
fn assert_committed_is_acknowledged(db: &FakeDatabase, acks: &Acked) {
    let mut acknowledged = acks.lock().unwrap().clone();
    acknowledged.sort_unstable();
    assert_eq!(db.committed_ids(), acknowledged, "rows committed but never acknowledged, or the reverse");
}

/// Every acknowledged write is committed, and with nothing failing every
/// write is acknowledged.
pub fn acknowledged_writes_are_committed<B: Batcher>() {
    // The largest batch over the whole run: a run in which no batch ever
    // formed (the strategy deciding, say, that commits are too cheap to
    // share) would check the lone writer's path alone. Kept per call, not
    // in a static: the real group and the planted copy run this property
    // on two test threads at once.
    let largest = std::sync::Arc::new(StdAtomicUsize::new(0));
    let seen = largest.clone();
    model::<B>("acknowledged_writes_are_committed", WRITERS + 1, CAP, true, move |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = inserters(&db, &batcher, &acks, WRITERS);
        let mine = write_row(&db, &*batcher, &acks, 1);
        let acknowledged = usize::from(mine) + acknowledged_by(others);
        assert_eq!(acknowledged, WRITERS + 1, "a write failed with nothing failing");
        assert_committed_is_acknowledged(&db, &acks);
        seen.fetch_max(db.largest_commit(), StdOrdering::SeqCst);
    });
    let largest = largest.load(StdOrdering::SeqCst);
    assert!(largest > 1, "no COMMIT held more than {largest} write in the whole run: no batch ever formed");
}

/// A write whose work fails leaves no row, and the others' rows commit,
/// whether it ran first, in the middle or last in its batch.
pub fn a_failed_writes_rows_are_absent_and_the_others_present<B: Batcher>() {
    let (threads, cap) = (WRITERS + 1, pick(3, 8));
    model::<B>(
        "a_failed_writes_rows_are_absent_and_the_others_present",
        threads,
        cap,
        true,
        |db, batcher| {
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let others = inserters(&db, &batcher, &acks, WRITERS);
            let failed = batcher.write(&mut |c| {
                c.insert()?;
                c.fail()
            });
            assert!(failed.is_err(), "a failing write was acknowledged");
            let acknowledged = acknowledged_by(others);
            assert_eq!(acknowledged, WRITERS, "a write failed because another one did");
            assert_eq!(
                db.committed(),
                WRITERS,
                "the failed write's row was committed, or another's was lost"
            );
        },
    );
}

/// A write that panics rolls back its own rows and resumes the panic in
/// its own thread; the others commit, and nobody waits for ever.
pub fn a_panicking_write_strands_nobody<B: Batcher>() {
    model::<B>("a_panicking_write_strands_nobody", WRITERS + 1, CAP, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = inserters(&db, &batcher, &acks, WRITERS);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            batcher.write(&mut |c| {
                c.insert()?;
                panic!("{EXPECTED_PANIC}: in a batched write");
            })
        }));
        assert!(outcome.is_err(), "the panic did not resume in its own thread");
        let acknowledged = acknowledged_by(others);
        assert_eq!(acknowledged, WRITERS, "a write failed because another one panicked");
        assert_eq!(db.committed(), WRITERS, "the panicking write's row was committed, or another's was lost");
    });
}

/// A failed COMMIT fails every member of its batch (none is acknowledged)
/// and leaves no transaction open: the next write commits.
pub fn a_failed_commit_fails_every_member<B: Batcher>() {
    model::<B>("a_failed_commit_fails_every_member", WRITERS + 1, CAP, true, |db, batcher| {
        db.inject(Fault::CommitFails, 1);
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = inserters(&db, &batcher, &acks, WRITERS);
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
    let (threads, cap) = (WRITERS + 1, pick(3, 8));
    model::<B>("a_whole_rollback_fails_every_member_so_far", threads, cap, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = inserters(&db, &batcher, &acks, WRITERS);
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
    model::<B>("results_reach_the_right_batch", WRITERS + 1, CAP, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = inserters(&db, &batcher, &acks, WRITERS);
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
    model::<B>("a_writer_that_gives_up_strands_nobody", WRITERS + 1, CAP, false, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = inserters(&db, &batcher, &acks, WRITERS);
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
/// or fails closed, and nobody waits for ever. Under shuttle the batch may
/// be full (cap 8) with more writers still waiting when close comes.
pub fn close_racing_with_a_batch_strands_nobody<B: Batcher>() {
    let (threads, cap) = (WRITERS + 2, pick(CAP, 8));
    model::<B>("close_racing_with_a_batch_strands_nobody", threads, cap, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let writers = inserters(&db, &batcher, &acks, WRITERS);
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

/// `close` fails the writers waiting for the connection at once, while
/// another write still runs (that write waits for the waiters to fail, so
/// a close that woke nobody would deadlock), and the running write
/// commits. More writers wait than a batch holds: under loom two, with a
/// cap of one; under shuttle ten arrive with a cap of four, and the close
/// comes once five of them wait, the others still arriving.
pub fn close_fails_a_waiting_writer_while_a_write_runs<B: Batcher>() {
    let (waiters, cap, queued_at_close) = (pick(2, 10), pick(1, CAP), pick(0, CAP + 1));
    model::<B>(
        "close_fails_a_waiting_writer_while_a_write_runs",
        waiters + 1,
        cap,
        true,
        move |db, batcher| {
            let running = batcher.write(&mut |c| {
                c.insert()?;
                let waiting: Vec<_> = (0..waiters)
                    .map(|_| {
                        let batcher = batcher.clone();
                        thread::spawn(move || batcher.write(&mut |c| c.insert()))
                    })
                    .collect();
                until_queued(&*batcher, queued_at_close);
                batcher.close();
                for waiter in waiting {
                    let waited = waiter.join().unwrap();
                    assert!(
                        waited.is_err_and(|e| e.is_closed()),
                        "a writer got the connection of a closed strategy"
                    );
                }
                Ok(())
            });
            assert!(running.is_ok(), "the write running at close failed: {running:?}");
            assert_eq!(db.committed(), 1);
        },
    );
}

/// A write's work cannot end the transaction it shares: its `COMMIT` is
/// refused and fails that write alone, so no other caller's row is committed
/// before its batch's COMMIT. (Run first in its batch, the work's COMMIT
/// commits only its own row, which is then not acknowledged; the rogue row
/// has no id, so the property is about the others'.)
pub fn work_cannot_end_the_shared_transaction<B: Batcher>() {
    model::<B>("work_cannot_end_the_shared_transaction", WRITERS + 1, pick(3, 8), true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = inserters(&db, &batcher, &acks, WRITERS);
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

/// A write's work cannot end a batch through a statement prepared before
/// its seal: after a first batch, litepool's own `COMMIT` sits in the
/// connection's statement cache, prepared unsealed, and a batched write
/// that runs `prepare_cached("COMMIT")` gets that statement (issue 21).
/// Two writers of two writes each, so that two batches in a row can form;
/// the second write of one is the rogue.
pub fn a_cached_commit_cannot_end_a_later_batch<B: Batcher>() {
    model::<B>("a_cached_commit_cannot_end_a_later_batch", 2, 2, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let other = inserter(&db, &batcher, &acks, 1, 2);
        write_row(&db, &*batcher, &acks, 3);
        let rogue = batcher.write(&mut |c| {
            c.insert()?;
            c.execute_cached(Statement::Commit)
        });
        assert!(rogue.is_err(), "a write that committed by itself was acknowledged");
        other.join().unwrap();
        // The rogue row has no id: whatever happened to it, every other
        // caller's row is committed exactly when it was acknowledged.
        assert_committed_is_acknowledged(&db, &acks);
    });
}

/// No COMMIT holds more writes than the cap: under loom three writers
/// and a cap of one; under shuttle twelve writers and a cap of eight, so
/// that a batch can overflow it only with nine writers queued at once.
pub fn batches_hold_at_most_cap_writes<B: Batcher>() {
    let cap = pick(1, 8);
    model::<B>("batches_hold_at_most_cap_writes", WRITERS + 1, cap, true, move |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let others = inserters(&db, &batcher, &acks, WRITERS);
        write_row(&db, &*batcher, &acks, 1);
        others.into_iter().for_each(|t| _ = t.join().unwrap());
        let largest = db.largest_commit();
        assert!(largest <= cap, "a COMMIT held {largest} writes with a cap of {cap}");
        assert_committed_is_acknowledged(&db, &acks);
    });
}

/// Writers queued behind a write that fails all get the connection, in
/// turn, and are committed: the failing write holds it until [`QUEUED`]
/// writers wait (two under loom, five under shuttle), then fails.
pub fn a_failing_write_loses_nobody_queued_behind_it<B: Batcher>() {
    model::<B>("a_failing_write_loses_nobody_queued_behind_it", QUEUED + 1, CAP, true, |db, batcher| {
        let acks: Acked = Arc::new(Mutex::new(Vec::new()));
        let mut queued = Vec::new();
        let failed = batcher.write(&mut |c| {
            c.insert()?;
            queued = inserters(&db, &batcher, &acks, QUEUED);
            until_queued(&*batcher, QUEUED);
            c.fail()
        });
        assert!(failed.is_err(), "a failing write was acknowledged");
        let acknowledged = acknowledged_by(queued);
        assert_eq!(acknowledged, QUEUED, "a write queued behind a failing one failed");
        assert_committed_is_acknowledged(&db, &acks);
    });
}

/// Yields until `n` writers wait in the batcher's line. Under shuttle it
/// gives up after [`SPIN_LIMIT`] yields, so that a writer lost from the
/// line fails the model by name rather than as a spin past shuttle's step
/// limit; shuttle's schedulers run other threads at each yield, so the
/// writers still on their way get thousands of turns to arrive.
fn until_queued<B: Batcher>(batcher: &B, n: usize) {
    for _ in 0..SPIN_LIMIT {
        if batcher.waiting() >= n {
            return;
        }
        thread::yield_now();
    }
    panic!(
        "{} of {n} writers wait in the line after {SPIN_LIMIT} yields: a queued writer was lost",
        batcher.waiting()
    );
}

/// How long [`until_queued`] waits, in yields: unbounded under loom,
/// whose yield always lets another thread run.
const SPIN_LIMIT: usize = pick(usize::MAX, 10_000);

/// A writer waiting for the connection is overtaken at most
/// [`litepool::strategy::WriteQueue::OVERTAKING_BOUND`] (64) times in a row between batches:
/// batches of one write, a writer at the head of the line, and a writer
/// that comes back 70 times, each time between batches. Shuttle only: 65
/// overtakes are out of loom's reach, and with fewer the property could not
/// fail.
pub fn a_waiting_writer_is_overtaken_at_most_the_bound<B: Batcher>() {
    const TURNS: usize = litepool::strategy::WriteQueue::OVERTAKING_BOUND + 6;
    // The most overtakes of any execution, per call: some schedule must
    // reach the bound (a running writer may overtake up to it), or the run
    // checked less than it says.
    let most = std::sync::Arc::new(StdAtomicUsize::new(0));
    let seen = most.clone();
    model::<B>("a_waiting_writer_is_overtaken_at_most_the_bound", 3, 1, true, move |_, batcher| {
        let order = Arc::new(Mutex::new(Vec::new()));
        // The returning writer waits for this, blocked, not yielding: under
        // PCT a thread that yields loses priority, and the returning writer
        // must keep the priority it was born with, so that PCT often runs it
        // ahead of the woken waiter: the schedule unbounded overtaking needs.
        let go = Arc::new((Mutex::new(false), Condvar::new()));
        let returning = {
            let (batcher, order, go) = (batcher.clone(), order.clone(), go.clone());
            thread::spawn(move || {
                let mut started = go.0.lock().unwrap();
                while !*started {
                    started = go.1.wait(started).unwrap();
                }
                drop(started);
                for _ in 0..TURNS {
                    let mut write = |c: &FakeConnection| {
                        order.lock().unwrap().push("returning");
                        c.insert()
                    };
                    batcher.write(&mut write).expect("the returning writer writes");
                }
            })
        };
        let mut waiter = None;
        batcher
            .write(&mut |c| {
                c.insert()?;
                let spawned = {
                    let (batcher, order) = (batcher.clone(), order.clone());
                    thread::spawn(move || {
                        // Recorded inside the write, which holds the
                        // connection: the order is the order of writes.
                        let mut write = |c: &FakeConnection| {
                            order.lock().unwrap().push("waiter");
                            c.insert()
                        };
                        batcher.write(&mut write).expect("a patient writer writes");
                    })
                };
                waiter = Some(spawned);
                // The connection is held until the writer waits for it.
                until_queued(&*batcher, 1);
                *go.0.lock().unwrap() = true;
                go.1.notify_one();
                Ok(())
            })
            .expect("the first write");
        returning.join().unwrap();
        waiter.expect("spawned in the first write").join().unwrap();
        let order = order.lock().unwrap();
        let overtakes = order.iter().take_while(|w| **w == "returning").count();
        let bound = litepool::strategy::WriteQueue::OVERTAKING_BOUND;
        assert!(overtakes <= bound, "the waiting writer was overtaken {overtakes} times (bound {bound})");
        seen.fetch_max(overtakes, StdOrdering::SeqCst);
    });
    let (most, bound) = (most.load(StdOrdering::SeqCst), litepool::strategy::WriteQueue::OVERTAKING_BOUND);
    if B::OVERTAKES {
        assert_eq!(
            most, bound,
            "no schedule overtook the waiting writer {bound} times (the most was {most})"
        );
    }
}

/// The writers that queue behind the failing write of
/// [`a_failing_write_loses_nobody_queued_behind_it`].
pub const QUEUED: usize = pick(2, 5);

/// A property, run over a batcher type.
pub type Property = fn();

/// Every group property over the planted copy, by name, for the planted
/// child.
pub const PROPERTIES: &[(&str, Property)] = &[
    #[cfg(shuttle)]
    (
        "a_waiting_writer_is_overtaken_at_most_the_bound",
        a_waiting_writer_is_overtaken_at_most_the_bound::<PlantedBatcher>,
    ),
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
    ("a_cached_commit_cannot_end_a_later_batch", a_cached_commit_cannot_end_a_later_batch::<PlantedBatcher>),
    ("batches_hold_at_most_cap_writes", batches_hold_at_most_cap_writes::<PlantedBatcher>),
    (
        "a_failing_write_loses_nobody_queued_behind_it",
        a_failing_write_loses_nobody_queued_behind_it::<PlantedBatcher>,
    ),
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
        if self.bug == GroupBug::UnboundedOvertaking && state.open.is_none() {
            // Freed for whoever comes first; the head is only woken.
            state.held = false;
            if let Some((_, wake)) = state.line.front() {
                wake.notify_one();
            }
            return;
        }
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
            if self.bug == GroupBug::LineOfFour && state.line.len() == 4 {
                state.line.pop_front();
            }
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
                let free_at_head = !state.held && state.line.front().is_some_and(|(t, _)| *t == ticket);
                if self.bug == GroupBug::UnboundedOvertaking && free_at_head {
                    state.line.pop_front();
                    state.held = true;
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
    const OVERTAKES: bool = false;

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
        let woken = if self.bug == GroupBug::CloseWakesOneBatch { self.cap } else { usize::MAX };
        for (_, wake) in state.line.iter().take(woken) {
            wake.notify_one();
        }
    }

    fn waiting(&self) -> usize {
        self.state.lock().unwrap().line.len()
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

/// Each planted bug this checker must catch is caught by its property, in
/// a child process (`group_planted_child`).
pub fn planted_bugs_are_caught() {
    PLANTED_SUITE.assert_each_caught();
}

/// Runs the planted bug `LITEPOOL_PLANTED` through the property
/// `LITEPOOL_PROPERTY`.
pub fn planted_child() {
    let bug = std::env::var(PLANTED_VAR).expect("LITEPOOL_PLANTED names the bug");
    let property = std::env::var(PROPERTY_VAR).expect("LITEPOOL_PROPERTY names the property");
    *PLANTED.lock().unwrap() = GroupBug::named(&bug);
    let (_, run) = PROPERTIES.iter().find(|(name, _)| *name == property).expect("a known property");
    run();
}

/// The group suite, for `loom_group.rs` and `shuttle_group.rs`: one test
/// per property over litepool's group commit, the planted copy passing
/// every property unplanted, and each planted bug caught by its property.
#[allow(unused_macros)] // each suite file expands one of the support macros
macro_rules! group_suite {
    () => {
        $crate::support::group::group_suite!(@real
            acknowledged_writes_are_committed,
            a_failed_writes_rows_are_absent_and_the_others_present,
            a_panicking_write_strands_nobody,
            a_failed_commit_fails_every_member,
            a_whole_rollback_fails_every_member_so_far,
            results_reach_the_right_batch,
            a_writer_that_gives_up_strands_nobody,
            close_racing_with_a_batch_strands_nobody,
            work_cannot_end_the_shared_transaction,
            a_cached_commit_cannot_end_a_later_batch,
            close_fails_a_waiting_writer_while_a_write_runs,
            batches_hold_at_most_cap_writes,
            a_failing_write_loses_nobody_queued_behind_it,
        );

        /// The copy the bugs are planted in passes every property unplanted.
        #[test]
        fn a_correct_copy_passes() {
            for (_, property) in $crate::support::group::PROPERTIES {
                property();
            }
        }

        #[test]
        fn every_property_catches_a_planted_bug() {
            $crate::support::group::every_property_catches_a_planted_bug();
        }

        #[test]
        fn planted_group_bugs_are_caught() {
            $crate::support::group::planted_bugs_are_caught();
        }

        /// Runs one planted group bug through one property; started by
        /// `planted_group_bugs_are_caught` in a child process.
        #[test]
        #[ignore = "run by planted_group_bugs_are_caught in a child process"]
        fn group_planted_child() {
            $crate::support::group::planted_child();
        }
    };
    (@real $($property:ident),* $(,)?) => {
        $(
            #[test]
            fn $property() {
                $crate::support::group::$property::<$crate::support::group::RealBatcher>();
            }
        )*

        #[cfg(shuttle)]
        #[test]
        fn a_waiting_writer_is_overtaken_at_most_the_bound() {
            use $crate::support::group::{RealBatcher, a_waiting_writer_is_overtaken_at_most_the_bound};
            a_waiting_writer_is_overtaken_at_most_the_bound::<RealBatcher>();
        }

        /// Every property in `PROPERTIES` has a test above.
        #[test]
        fn every_property_has_a_test() {
            let shuttle_only = ["a_waiting_writer_is_overtaken_at_most_the_bound"];
            let tested = [$(stringify!($property)),*];
            let tested: Vec<&str> = tested.into_iter().chain(shuttle_only.into_iter().filter(|_| cfg!(shuttle))).collect();
            for (name, _) in $crate::support::group::PROPERTIES {
                assert!(tested.contains(name), "{name} has no test over the real group");
            }
        }
    };
}

#[allow(unused_imports)]
pub(crate) use group_suite;
