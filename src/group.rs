//! Group commit: several callers' writes share one transaction and one
//! `COMMIT`, each caller's work in a savepoint of its own.
//!
//! SQLite runs one `COMMIT` at a time, and a commit costs a write to the
//! log (and, under `synchronous = FULL`, a sync). Every other strategy pays
//! one per write. `GroupCommit` keeps one read-write connection. A caller
//! that finds it free becomes the *runner* of a batch: it runs its own work
//! at once, as any write runs (`BEGIN IMMEDIATE`, its work, no savepoint),
//! then the work of the callers who queued meanwhile, in arrival order,
//! until nobody is queued or the batch is full
//! ([`GroupCommit::DEFAULT_BATCH_CAP`] writes), and commits once for all of
//! them. A lone writer pays what it pays in the other strategies; under
//! contention, the more callers queue, the more one `COMMIT` holds.
//!
//! **Why the runner runs the others' work.** A caller that waits must be
//! woken once, to learn its outcome; any more is waste. Earlier versions
//! handed the open transaction from caller to caller, because work
//! callbacks were not `Send`: every member then paid two wake-ups (one to
//! be handed the connection, one to learn the outcome), the connection
//! sat idle while each woke, and under `synchronous = NORMAL`, where a
//! `COMMIT` costs less than a wake-up, batching had to be switched off. A
//! writer thread fed closures pays one wake-up per caller too, but also a
//! hop for a lone caller, which then waits for another thread to run its
//! write. Running the queued work on the runner's thread (flat combining)
//! keeps the lone caller's path as short as a lock's and wakes each waiting
//! caller once, with its outcome. `../EVIDENCE.md` has the measurements.
//! So write work is `Send` ([`WriteWork`]): it may run on the runner's
//! thread. It borrows from its caller's stack, which waits meanwhile
//! (`group/job.rs` keeps the protocol that makes that sound); thread-local
//! state it touches is the runner's thread's, not its caller's.
//!
//! **What a caller is promised.** `write` returns `Ok` only after the
//! `COMMIT` that holds the caller's rows has succeeded. Each queued
//! caller's work runs in litepool's savepoint
//! ([`MEMBER_SAVEPOINT`](crate::MEMBER_SAVEPOINT)): if it fails or panics,
//! `ROLLBACK TO` undoes its rows alone and only that caller fails (the
//! panic resumes in its caller's thread, not the runner's). While it runs
//! the batch's [`Seal`] is engaged: a `BEGIN`, `COMMIT` or `ROLLBACK`, or a
//! `RELEASE` or `ROLLBACK TO` of a savepoint it did not open (litepool's,
//! say), fails instead of committing or undoing the others' rows, whether
//! the statement is new or was cached before. The seal's authorizer is
//! installed once per batch, at its first queued caller
//! ([`Transactional::install_seal`]), not once per caller: SQLite expires
//! every prepared statement whenever an authorizer is set or removed, and
//! doing so around each caller made every statement be prepared again for
//! every caller. The one thing that costs: a savepoint the batch's first
//! write (which runs unsealed) leaves open can be released by a later
//! caller through a `RELEASE` an earlier one cached for its own savepoint
//! of the same name; then the whole batch fails, nothing of it is stored,
//! and nobody hears `Ok` (`tests/group.rs` pins this down). If SQLite
//! rolls the whole transaction back by itself
//! (`SQLITE_FULL` from a `max_page_count`, I/O errors, a trigger's
//! `RAISE(ROLLBACK)`), every caller in the batch so far fails with
//! [`ErrorKind::Aborted`](crate::ErrorKind::Aborted) and none is
//! acknowledged (work taken but not yet started goes back to the queue);
//! so does every caller if the `COMMIT` fails, which leaves no transaction
//! open for the next batch. If the runner's own thread unwinds mid-batch
//! (a panic in a manager callback), the batch's guard closes the connection
//! and tells every member, so no caller waits on a runner that is gone.
//!
//! **Order, deadlines, close.** Queued callers are taken in arrival order,
//! and nobody passes them: a caller that finds the writer free runs at
//! once, which it can only while nobody is queued, and a batch that ends
//! with callers queued hands the writer to the first of them, who runs the
//! next batch (its own work first, then the others queued, in order). A
//! queued caller waits on a slot of its own (its lock, its condition
//! variable), so that telling a batch's members their outcomes never
//! contends with the callers arriving. A queued caller whose work has not started leaves at its
//! write timeout (a busy error) or at `close()` (a closed error), and its
//! work never runs; one whose work a runner has taken waits for its
//! outcome, because the work may be running on the runner's thread and
//! borrowing from the caller's. Outcomes are kept per caller; a caller
//! whose batch ended without telling it fails with
//! [`ErrorKind::Internal`](crate::ErrorKind::Internal) rather than wait for
//! ever. The whole batch takes one turn in the file's write queue.
//!
//! Reads go to a pool of read-only connections, as in [`SplitPool`]; WAL is
//! required for the same reason.
//!
//! The file keeps the strategy, its queue and the callers' side;
//! `group/runner.rs` runs a batch and tells its members, `group/member.rs`
//! runs one caller's work in it (savepoint, seal, undo), and `group/job.rs`
//! holds a queued caller's borrowed work.
//!
//! [`SplitPool`]: crate::SplitPool
//! [`Seal`]: crate::strategy::Seal
//! [`Transactional::install_seal`]: crate::strategy::Transactional::install_seal
//! [`WriteWork`]: crate::strategy::WriteWork

mod job;
pub(crate) mod member;
mod runner;

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::access::{Access, ReadWork, State, WriteWork, connect, prepare, writers};
use crate::error::{Error, Result};
use crate::manager::Manager;
use crate::pool::Pool;
use crate::strategy::{Connections, Strategy};
use crate::sync::{Arc, Condvar, Mutex, MutexGuard};
use crate::write_queue::Writers;

use self::job::Job;
use self::member::Failure;
use self::runner::Runner;

/// One read-write connection whose writes are committed in batches, and a
/// pool of read-only readers.
///
/// ```
/// use litepool::{AccessExt, GroupCommit, SqliteManager};
///
/// let dir = tempfile::tempdir()?;
/// let db = GroupCommit::builder().readers(4).open(SqliteManager::file(dir.path().join("g.db")))?;
/// db.write(|c| Ok(c.execute_batch("CREATE TABLE t (x)")?))?;
/// std::thread::scope(|s| {
///     for i in 0..8 {
///         let db = &db;
///         s.spawn(move || db.write(|c| Ok(c.execute("INSERT INTO t VALUES (?1)", [i])?)).unwrap());
///     }
/// });
/// let n: i64 = db.read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))?;
/// assert_eq!(n, 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GroupCommit<M: Manager> {
    manager: M,
    readers: Pool<M>,
    writers: Writers,
    batch_cap: usize,
    group: Mutex<Group<M::Connection>>,
}

/// Everything the group's lock protects: who holds the writer, and who
/// waits for it. What each waiting caller is told is in its own [`Slot`],
/// under its own lock, so that telling a batch's members their outcomes
/// and waking them never takes this lock, which every newcomer and the
/// next batch need.
struct Group<C> {
    /// The writer connection while no runner holds it. `None` while one
    /// does, and after it was discarded (the next runner opens one).
    conn: Option<C>,
    /// Whether a caller is running a batch (and holds the connection).
    running: bool,
    /// Callers whose work waits to run, in arrival order.
    queue: VecDeque<Queued<C>>,
    next_ticket: u64,
    next_batch: u64,
    /// Batches started whose members have not all been told yet (at most
    /// two: the one running, and the one before it, whose runner handed
    /// the writer on before telling its members).
    telling: Vec<u64>,
    closed: bool,
}

/// A caller waiting for its work to run.
struct Queued<C> {
    ticket: u64,
    job: Job<C>,
    slot: Arc<Slot>,
}

/// A queued caller's side of the conversation: what it has been told, and
/// the condition variable it waits on. Lock order: the group's lock, then
/// a slot's.
struct Slot {
    told: Mutex<Told>,
    wake: Condvar,
}

/// What a queued caller has been told.
enum Told {
    /// Nothing: its work is in the queue. `look` is set when the strategy
    /// closed: it should look at the group again.
    Queued { look: bool },
    /// A batch ended with this caller first in line and handed it the
    /// writer: it runs the next batch, its own work first.
    Lead,
    /// Its work was taken into batch `batch`: it runs, or has run.
    Running { batch: u64 },
    /// Its outcome: `Ok` once the `COMMIT` holding its rows succeeded.
    Done(std::result::Result<(), Failure>),
}

impl Slot {
    fn new() -> Slot {
        Slot { told: Mutex::new(Told::Queued { look: false }), wake: Condvar::new() }
    }

    /// Tells the caller something and wakes it.
    fn tell(&self, told: Told) {
        *self.told.lock() = told;
        self.wake.notify_one();
    }

    /// Asks a caller still queued to look at the group again (it may have
    /// been handed the writer, or be running already: then nothing).
    fn nudge(&self) {
        let mut told = self.told.lock();
        if let Told::Queued { look } = &mut *told {
            *look = true;
            self.wake.notify_one();
        }
    }
}

impl<M: Manager> GroupCommit<M> {
    /// Its entry in the strategy list: `pool_size` readers and the writer;
    /// reads wait for a reader inside the pool.
    pub fn strategy() -> Strategy<M> {
        Strategy::new(
            "group",
            |m, s| Ok(Box::new(GroupCommit::builder().readers(s.pool_size).open(m)?)),
            Connections::AtMost(|s| s.pool_size + 1),
        )
        .wal_only()
        .counts_waiters()
        .one_writer()
        .batches_writes()
    }

    /// How many callers' writes one `COMMIT` holds at most, by default.
    /// Chosen from the benchmarks (`cargo bench --bench patterns --
    /// commit/`): see EVIDENCE.md.
    pub const DEFAULT_BATCH_CAP: usize = 32;

    /// Settings with their defaults.
    pub fn builder() -> GroupCommitBuilder<M> {
        GroupCommitBuilder { readers: 4, batch_cap: Self::DEFAULT_BATCH_CAP, manager: PhantomData }
    }

    /// Opens the writer (preparing the database, WAL included) and a pool of
    /// up to 4 read-only connections, with batches of up to
    /// [`DEFAULT_BATCH_CAP`](GroupCommit::DEFAULT_BATCH_CAP) writes;
    /// [`builder`](GroupCommit::builder) sets other numbers.
    pub fn open(manager: M) -> Result<GroupCommit<M>> {
        GroupCommit::builder().open(manager)
    }

    /// How often a caller whose work was taken into a batch looks for its
    /// outcome without being woken (see `wait_for`). Under the model
    /// checkers, at any moment: a deadline already passed is one the
    /// scheduler may expire at any step (see `src/sync.rs`), so the models
    /// explore a caller that looks while its batch's runner, or the next
    /// batch's, is anywhere in its work.
    const OUTCOME_RECHECK: Duration =
        if cfg!(any(loom, shuttle)) { Duration::ZERO } else { Duration::from_secs(1) };

    /// The most writes one `COMMIT` holds.
    pub fn batch_cap(&self) -> usize {
        self.batch_cap
    }

    /// The reader pool, for checking a read-only connection out directly.
    pub fn readers(&self) -> &Pool<M> {
        &self.readers
    }

    /// Makes the caller holding `group` the runner of a new batch: it holds
    /// the writer connection (`None`: discarded, open a new one).
    fn start_batch<'a>(&'a self, mut group: MutexGuard<'a, Group<M::Connection>>) -> Runner<'a, M> {
        group.running = true;
        let number = group.next_batch;
        group.next_batch += 1;
        group.telling.push(number);
        let conn = group.conn.take();
        drop(group);
        Runner::new(self, conn, number)
    }

    /// A queued caller's wait: until a runner tells it its work's outcome,
    /// or it may run a batch itself (the writer is free), or its deadline
    /// passes or the strategy closes while its work is still queued (it
    /// leaves the queue; the work never runs). Once its work was taken it
    /// waits for the outcome, whatever the deadline: the work may be
    /// running on the runner's thread, borrowing from this frame.
    fn wait_for(&self, ticket: u64, slot: &Slot) -> Result<()> {
        let timeout = self.manager.write_timeout();
        // `None`: the deadline overflows an `Instant`; wait for ever.
        let deadline = Instant::now().checked_add(timeout);
        let mut timed_out = false;
        loop {
            // On the caller's own slot: nobody else's wake-up costs it.
            let mut told = slot.told.lock();
            loop {
                match &mut *told {
                    Told::Done(_) => {
                        let Told::Done(outcome) = std::mem::replace(&mut *told, Told::Queued { look: false }) else {
                            unreachable!("seen above")
                        };
                        drop(told);
                        return outcome.or_else(Failure::into_result);
                    }
                    &mut Told::Running { batch } => {
                        let expired;
                        (told, expired) = slot.wake.wait_until(told, Instant::now() + Self::OUTCOME_RECHECK);
                        if expired {
                            // A batch whose runner has told every member it
                            // will tell, and not this caller, never will.
                            // (Looked at in lock order, so an outcome told
                            // meanwhile is seen.)
                            drop(told);
                            let group = self.group.lock();
                            told = slot.told.lock();
                            if matches!(*told, Told::Running { .. }) && !group.telling.contains(&batch) {
                                return Err(Error::outcome_lost(batch));
                            }
                        }
                    }
                    Told::Lead | Told::Queued { look: true } => break,
                    Told::Queued { look: false } if timed_out => break,
                    Told::Queued { look: false } => match deadline {
                        Some(deadline) => {
                            let expired;
                            (told, expired) = slot.wake.wait_until(told, deadline);
                            timed_out |= expired;
                        }
                        None => told = slot.wake.wait(told),
                    },
                }
            }
            drop(told);
            // Handed the writer, asked to look, or out of time: at the
            // group, in lock order.
            let mut group = self.group.lock();
            let mut told = slot.told.lock();
            match &mut *told {
                Told::Lead => {
                    drop(told);
                    let mut queued = Self::leave(&mut group, ticket);
                    if group.closed {
                        // The writer goes no further: everyone else queued
                        // leaves too, and close() left the connection to
                        // whoever held the writer.
                        group.running = false;
                        let conn = group.conn.take();
                        drop(group);
                        drop(conn);
                        return Err(Error::closed("group commit"));
                    }
                    let runner = self.start_batch(group);
                    return runner.run(queued.job.work());
                }
                Told::Queued { look } => *look = false,
                // A runner took the work meanwhile: wait for its outcome.
                Told::Running { .. } | Told::Done(_) => continue,
            }
            drop(told);
            if group.closed {
                Self::leave(&mut group, ticket);
                return Err(Error::closed("group commit"));
            }
            if timed_out {
                let ahead = Self::leave(&mut group, ticket).ahead;
                return Err(Error::waited_in_line(
                    "group commit",
                    "the writer connection",
                    timeout,
                    ahead + usize::from(group.running),
                    "the strategy's queue",
                ));
            }
        }
    }

    /// Takes `ticket`'s work out of the queue, never to run.
    fn leave(group: &mut Group<M::Connection>, ticket: u64) -> Left<M::Connection> {
        let ahead = group.queue.iter().position(|q| q.ticket == ticket).expect("a queued caller leaves the queue once");
        let queued = group.queue.remove(ahead).expect("just found");
        Left { job: queued.job, ahead }
    }
}

/// A caller's work, back out of the queue.
struct Left<C> {
    job: Job<C>,
    /// How many were queued ahead of it.
    ahead: usize,
}

/// Settings for a [`GroupCommit`]; start from [`GroupCommit::builder`].
pub struct GroupCommitBuilder<M> {
    readers: usize,
    batch_cap: usize,
    manager: PhantomData<fn(M)>,
}

impl<M: Manager> GroupCommitBuilder<M> {
    /// The most read-only connections open at once (default 4; at least 1).
    pub fn readers(mut self, readers: usize) -> GroupCommitBuilder<M> {
        self.readers = readers;
        self
    }

    /// The most writes one `COMMIT` holds (default
    /// [`DEFAULT_BATCH_CAP`](GroupCommit::DEFAULT_BATCH_CAP); 1 commits
    /// each write alone, as the other strategies do).
    pub fn batch_cap(mut self, batch_cap: usize) -> GroupCommitBuilder<M> {
        self.batch_cap = batch_cap;
        self
    }

    /// Checks the settings, opens the writer (preparing the database, WAL
    /// included), then the pool of readers.
    pub fn open(self, manager: M) -> Result<GroupCommit<M>> {
        if self.batch_cap == 0 {
            return Err(Error::zero_batch_cap());
        }
        let reader_manager = manager.read_only()?;
        // The writer first: preparing creates the file the readers open.
        prepare(&manager)?;
        let conn = connect(&manager)?;
        let readers = Pool::builder().max_size(self.readers).open(reader_manager)?;
        let writers = writers(&manager, "group commit");
        Ok(GroupCommit {
            manager,
            readers,
            writers,
            batch_cap: self.batch_cap,
            group: Mutex::new(Group {
                conn: Some(conn),
                running: false,
                queue: VecDeque::new(),
                next_ticket: 0,
                next_batch: 0,
                telling: Vec::new(),
                closed: false,
            }),
        })
    }
}

impl<M> fmt::Debug for GroupCommitBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommitBuilder").field("readers", &self.readers).field("batch_cap", &self.batch_cap).finish()
    }
}

impl<M: Manager> Access for GroupCommit<M> {
    type Connection = M::Connection;

    fn name(&self) -> &str {
        Self::strategy().name
    }

    fn read_with(&self, work: ReadWork<'_, M::Connection>) -> Result<()> {
        self.readers.read_with(work)
    }

    /// Runs a batch if the writer is free (this caller's work first, then
    /// the queued callers', up to the cap); otherwise queues the work for
    /// the running batch's runner, or the next, and waits.
    fn write_with(&self, work: WriteWork<'_, M::Connection>) -> Result<()> {
        let mut group = self.group.lock();
        if group.closed {
            return Err(Error::closed("group commit"));
        }
        // The writer is free only while nobody is queued: a batch that ends
        // with callers queued hands it to the first of them.
        if !group.running {
            debug_assert!(group.queue.is_empty(), "callers are queued for a free writer");
            return self.start_batch(group).run(work);
        }
        let ticket = group.next_ticket;
        group.next_ticket += 1;
        let slot = Arc::new(Slot::new());
        // SAFETY: this frame keeps the protocol of `group/job.rs`: it
        // returns (in `wait_for`) only after taking the job out of the
        // queue itself, or after reading the outcome a runner published
        // once it was done with the job.
        let job = unsafe { Job::new(work) };
        group.queue.push_back(Queued { ticket, job, slot: slot.clone() });
        drop(group);
        self.wait_for(ticket, &slot)
    }

    /// The writer and the readers added up; callers whose work is queued
    /// count as waiting.
    fn state(&self) -> State {
        let readers = self.readers.state();
        let group = self.group.lock();
        let writer_idle = usize::from(!group.running && group.conn.is_some());
        State::new(
            readers.idle + writer_idle,
            readers.in_use + usize::from(group.running),
            readers.waiting + group.queue.len(),
        )
    }

    /// Queued callers leave at once with a closed error, their work never
    /// run; a running batch ends as it would have (its members hear its
    /// outcome), taking no more work, and its connection is closed.
    fn close(&self) {
        let mut group = self.group.lock();
        group.closed = true;
        if !group.running {
            group.conn = None;
        }
        for queued in &group.queue {
            queued.slot.nudge();
        }
        drop(group);
        self.writers.close();
        self.readers.close();
    }
}

impl<M: Manager> fmt::Debug for GroupCommit<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit")
            .field("state", &Access::state(self))
            .field("batch_cap", &self.batch_cap)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;
    use crate::access::AccessExt;
    use crate::manager::SqliteManager;

    /// After a run of writes from several threads, batched or alone, the
    /// strategy keeps nothing of them: nobody is queued, no batch runs, and
    /// every batch ended.
    #[test]
    fn nothing_is_kept_after_a_run_of_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = GroupCommit::open(SqliteManager::file(dir.path().join("o.db"))).unwrap();
        db.write(|c| Ok(c.execute_batch("CREATE TABLE t (x)")?)).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..20 {
                        db.write(|c| Ok(c.execute("INSERT INTO t VALUES (?1)", [i])?)).unwrap();
                    }
                });
            }
        });
        let group = db.group.lock();
        assert!(group.next_batch > 0, "no batch ran");
        assert!(group.queue.is_empty() && !group.running && group.conn.is_some());
        assert!(group.telling.is_empty(), "batches {:?} never told their members", group.telling);
    }
}
