//! What the group-commit models run against: [`Batcher`], implemented by
//! litepool's group commit ([`RealBatcher`]) and by the planted copy
//! (`planted_group.rs`), and the helpers the properties (`group.rs`) write
//! with: writers that record what was acknowledged, and the check that the
//! rows committed are exactly those.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::checker::{Arc, Mutex, check, pick, thread};
use litepool::fake::{FakeConnection, FakeDatabase, FakeManager};
use litepool::{Access, GroupCommit, Result};

/// A caller's work, as the batcher takes it.
pub type Job<'a> = &'a mut (dyn FnMut(&FakeConnection) -> Result<()> + Send);

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
}

/// litepool's group commit.
pub struct RealBatcher(GroupCommit<FakeManager>);

impl Batcher for RealBatcher {
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
pub fn timeout(patient: bool) -> Duration {
    if patient { Duration::from_secs(3600) } else { Duration::ZERO }
}

/// Runs one property model over a fresh database and batcher.
pub fn model<B: Batcher>(
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

/// [`model`] of a patient batcher with `times` shuttle's iterations (loom
/// explores every schedule anyway).
pub fn model_times<B: Batcher>(
    property: &str,
    threads: usize,
    cap: usize,
    times: usize,
    body: impl Fn(FakeDatabase, Arc<B>) + Send + Sync + 'static,
) {
    let body = move || {
        let db = FakeDatabase::new();
        let batcher = Arc::new(B::open(&db, cap, true));
        body(db, batcher)
    };
    let model = format!("{}::{property}", B::name());
    #[cfg(shuttle)]
    crate::support::checker::check_times(&model, threads, times, body);
    #[cfg(not(shuttle))]
    {
        let _ = times;
        check(&model, threads, body);
    }
}

/// The ids of the rows acknowledged so far.
pub type Acked = Arc<Mutex<Vec<usize>>>;

/// Records an acknowledged write of row `id`, and checks that the COMMIT
/// holding that row (not just as many rows) has happened.
pub fn acknowledge(db: &FakeDatabase, acks: &Acked, id: usize, result: &Result<()>) -> bool {
    if result.is_err() {
        return false;
    }
    assert!(db.is_committed(id), "a write was acknowledged before the COMMIT that holds its row {id}");
    acks.lock().unwrap().push(id);
    true
}

/// Inserts row `id` through the batcher and acknowledges it if it returns
/// Ok. The work lives on the heap for the rest of the process (see
/// [`tracked_write`]).
pub fn write_row<B: Batcher>(db: &FakeDatabase, batcher: &B, acks: &Acked, id: usize) -> bool {
    acknowledge(db, acks, id, &batcher.write(Box::leak(Box::new(move |c: &FakeConnection| c.insert_id(id)))))
}

/// What a [`tracked_write`]'s work saw: how often it ran, and whether it
/// ran after its caller had returned.
pub struct Tracked {
    pub runs: &'static AtomicUsize,
    pub late: &'static AtomicBool,
}

/// Inserts row `id` with work that counts its runs and notes a run after
/// its caller returned. The work lives on the heap for the rest of the
/// process (a few bytes per write, for a test), not on the caller's stack:
/// a batcher that breaks the protocol of `src/group/job.rs` (runs work
/// twice, or after its caller left) then gives a wrong answer that a
/// property can catch, not undefined behaviour. (std's atomics, not the
/// checker's: they observe the run, and are not part of it.)
pub fn tracked_write<B: Batcher>(batcher: &B, id: usize) -> (Result<()>, Tracked) {
    let runs: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let returned: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    let late: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    let work = Box::leak(Box::new(move |c: &FakeConnection| {
        runs.fetch_add(1, Ordering::SeqCst);
        if returned.load(Ordering::SeqCst) {
            late.store(true, Ordering::SeqCst);
        }
        c.insert_id(id)
    }));
    let result = batcher.write(work);
    returned.store(true, Ordering::SeqCst);
    (result, Tracked { runs, late })
}

/// Spawns a writer that inserts rows `first`, `first + 1`, … (`times` of
/// them), one write each, and returns how many were acknowledged.
pub fn inserter<B: Batcher>(
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
pub fn inserters<B: Batcher>(
    db: &FakeDatabase,
    batcher: &Arc<B>,
    acks: &Acked,
    n: usize,
) -> Vec<thread::JoinHandle<usize>> {
    (1..=n).map(|i| inserter(db, batcher, acks, 10 * i, 1)).collect()
}

/// Joins `writers`, adding up the writes each had acknowledged.
pub fn acknowledged_by(writers: Vec<thread::JoinHandle<usize>>) -> usize {
    writers.into_iter().map(|t| t.join().unwrap()).sum()
}

/// The rows committed are exactly the rows acknowledged, by id.
pub fn assert_committed_is_acknowledged(db: &FakeDatabase, acks: &Acked) {
    let mut acknowledged = acks.lock().unwrap().clone();
    acknowledged.sort_unstable();
    assert_eq!(db.committed_ids(), acknowledged, "rows committed but never acknowledged, or the reverse");
}

/// Whether a write was acknowledged or gave up waiting (busy).
pub fn ok_or_busy(result: &Result<()>) -> bool {
    result.as_ref().map_or_else(|e| e.is_busy(), |_| true)
}

/// Yields until `n` writers wait in the batcher's line. Under shuttle it
/// gives up after [`SPIN_LIMIT`] yields, so that a writer lost from the
/// line fails the model by name rather than as a spin past shuttle's step
/// limit; shuttle's schedulers run other threads at each yield, so the
/// writers still on their way get thousands of turns to arrive.
pub fn until_queued<B: Batcher>(batcher: &B, n: usize) {
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
