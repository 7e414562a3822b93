//! Group commit: several callers' writes share one transaction and one
//! `COMMIT`, each caller's work in a savepoint of its own.
//!
//! SQLite runs one `COMMIT` at a time, and a commit costs a write to the
//! log (and, under `synchronous = FULL`, a sync). Every other strategy pays
//! one per write. `GroupCommit` keeps one read-write connection, and while a
//! caller's work runs on it the callers arriving behind it queue; when the
//! work is done the open transaction is handed to the next caller in line,
//! who runs its work in the same transaction, and so on, until nobody is
//! queued or the batch is full ([`GroupCommit::DEFAULT_BATCH_CAP`] callers). The last one
//! commits for all of them. A lone writer runs exactly as in the other
//! strategies (`BEGIN IMMEDIATE`, its work, `COMMIT`, no savepoint), so
//! batching costs nothing until there is contention, and grows with it.
//!
//! **Only when it pays.** Each member of a batch pays two thread wake-ups
//! (one to be handed the transaction, one to learn its outcome), measured
//! here at 5 to 15 µs each; a `COMMIT` under `synchronous = NORMAL` in WAL
//! costs less than two of them, one under `FULL` a sync of the log (50 µs
//! to milliseconds). So the strategy keeps a moving average of its
//! `COMMIT`s and hands the transaction on only while it is above
//! [`GroupCommit::BATCH_ABOVE`]. (An earlier version compared it with the hand-off
//! time measured as it ran; with 64 threads on 2 cores that time includes
//! the wait for a CPU, and in one run batching switched itself off under
//! `FULL`: EVIDENCE.md, "Group commit".) Otherwise each write commits
//! alone, and between batches a running writer may take the free
//! connection past the head of the line, within the same bounds as in the
//! write queue (a count, and the head's wait), because it is the same line.
//! EVIDENCE.md has the measurements, and the targets this does and does not
//! meet.
//!
//! **What a caller is promised.** `write` returns `Ok` only after the
//! `COMMIT` that holds the caller's rows has succeeded. Each caller after
//! the first in a batch runs in litepool's savepoint
//! ([`MEMBER_SAVEPOINT`](crate::MEMBER_SAVEPOINT)): if its work fails or
//! panics, `ROLLBACK TO` undoes its rows alone and only that caller fails
//! (the panic resumes in its own thread). While it runs the connection is
//! sealed ([`Transactional::seal`]): a `BEGIN`, `COMMIT` or `ROLLBACK`, or
//! a `RELEASE` or `ROLLBACK TO` of a savepoint it did not open (litepool's,
//! say), fails instead of committing or undoing the others' rows, whether
//! the statement is new or was cached before the seal. If SQLite rolls the
//! whole transaction back by itself (`SQLITE_FULL` from a
//! `max_page_count`, I/O errors, a trigger's `RAISE(ROLLBACK)`),
//! every caller in the batch so far fails, and none is acknowledged; so
//! does every caller if the `COMMIT` fails, which leaves no transaction
//! open for the next batch.
//!
//! **Why callers hand the transaction to each other.** Two other designs
//! batch as well: the lock holder running the queued callers' work (flat
//! combining), and a writer thread fed closures. Both run one caller's work
//! on another caller's thread, which [`Access`]'s work callbacks do not
//! allow: they are not `Send` (a callback may hold a thread-bound value, a
//! guard, or use thread-local state). Handing the connection over costs a
//! thread wake-up per caller (tens of microseconds), which a batch pays back
//! once its `COMMIT` is shared; EVIDENCE.md has the measurements.
//!
//! **Order and hand-off.** Callers wait for the connection in the crate's
//! one fair line (`src/line.rs`, shared with the write queue): arrival
//! order, one wake-up per hand-off, overtaking bounded by count and by the
//! head's wait. The line lives under the group's lock, with the open batch,
//! so the holder never leaves a transaction open for a waiter that has just
//! given up. A waiter gives up after the manager's write timeout; one that
//! is handed the connection as it gives up takes it. Results are
//! kept per batch number, because a member may wake only after later batches
//! have closed; a member that finds its batch ended and no outcome fails
//! with [`ErrorKind::Internal`](crate::ErrorKind::Internal) rather than wait for ever. The whole batch
//! takes one turn in the file's write queue.
//!
//! Reads go to a pool of read-only connections, as in [`SplitPool`]; WAL is
//! required for the same reason.
//!
//! The file keeps the strategy and its batches; `group/member.rs` runs one
//! caller's work in a batch (savepoint, seal, undo), `group/outcomes.rs`
//! keeps what each batch came to until its members have heard it.
//!
//! [`SplitPool`]: crate::SplitPool
//! [`Transactional::seal`]: crate::strategy::Transactional::seal

mod member;
mod outcomes;

use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use crate::access::{Access, Reuse, State, Work, check_return, connect, prepare, resume_panic, writers};
use crate::error::{Error, Result};
use crate::manager::{Manager, Transactional};
use crate::pool::Pool;
use crate::line::{Line, Refusal};
use crate::strategy::{Connections, Strategy};
use crate::sync::{Condvar, Mutex, MutexGuard, costs_more};
use crate::write_queue::{Turn, Writers};

use self::member::{Done, Failure, fail};
use self::outcomes::{Outcomes, average};

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
    /// Members waiting for their batch's outcome.
    settled: Condvar,
}

/// Everything the group's lock protects.
struct Group<C> {
    /// The writer connection while nobody holds it. `None` while a caller
    /// holds it, and after it was discarded (the next holder opens one).
    conn: Option<C>,
    /// Callers waiting for the connection (the crate's one fair line):
    /// whether one holds it, who waits, who was handed it.
    line: Line,
    /// The open transaction, if any.
    open: Option<Batch>,
    /// Outcomes of ended batches, until every member has collected its own.
    outcomes: Outcomes,
    next_batch: u64,
    closed: bool,
    /// How long a `COMMIT` takes (a moving average): a batch forms only
    /// while it is above [`BATCH_ABOVE`](GroupCommit::BATCH_ABOVE).
    commit_cost: Duration,
}

/// The group's lock, held, and the writer connection its caller now holds
/// (`None`: discarded; the caller opens a new one).
type Held<'a, C> = (MutexGuard<'a, Group<C>>, Option<C>);

/// An open transaction and the callers whose rows it holds.
struct Batch {
    number: u64,
    /// Callers whose work succeeded in it and who wait for its `COMMIT`
    /// (the caller running now is not counted until it joins).
    members: usize,
    /// The batch's turn in the file's write queue, released at its end.
    turn: Turn,
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

    /// A batch forms only while a `COMMIT` takes longer than this on
    /// average: about the cost of the two thread wake-ups each member of a
    /// batch pays (one to be handed the transaction, one to learn its
    /// outcome), measured at 5 to 15 µs each on the benchmark machine.
    /// Under `synchronous = NORMAL` in WAL a commit takes 5 to 10 µs there,
    /// so writes commit alone; under `FULL` it waits for a sync (50 µs to
    /// milliseconds), so they batch.
    pub const BATCH_ABOVE: Duration = Duration::from_micros(20);

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

    /// How often a member waiting for its batch's outcome looks again
    /// without being woken (see `outcome_of`).
    const OUTCOME_RECHECK: Duration = Duration::from_secs(1);

    /// The most writes one `COMMIT` holds.
    pub fn batch_cap(&self) -> usize {
        self.batch_cap
    }

    /// The reader pool, for checking a read-only connection out directly.
    pub fn readers(&self) -> &Pool<M> {
        &self.readers
    }

    /// Waits for the writer connection, in arrival order, up to the write
    /// timeout. Returns it (`None`: discarded, open a new one) with the lock
    /// held, so the caller can see the open batch. A caller handed the
    /// connection takes it even if the strategy closed meanwhile: it must
    /// end the batch it was handed.
    fn hold(&self) -> Result<Held<'_, M::Connection>> {
        let timeout = self.manager.write_timeout();
        let (mut group, taken) = Line::wait(self.group.lock(), |g| &mut g.line, |g| g.closed, timeout);
        match taken {
            Ok(()) => {
                let conn = group.conn.take();
                Ok((group, conn))
            }
            Err(Refusal::Closed) => Err(Error::closed("group commit")),
            Err(Refusal::TimedOut { ahead }) => Err(Error::waited_in_line(
                "group commit",
                "the writer connection",
                timeout,
                ahead,
                "the strategy's line",
            )),
        }
    }

    /// Gives the connection back. With a batch open it is handed to the
    /// head of the line (one wake-up), which must take it; between batches
    /// the line decides (`src/line.rs`): the head if it is due, otherwise
    /// whoever comes first within the overtaking bound.
    fn hand_on(group: &mut Group<M::Connection>, conn: Option<M::Connection>) {
        // A closed strategy keeps no connection open.
        group.conn = conn.filter(|_| !group.closed);
        let hand_over = group.open.is_some();
        group.line.release(hand_over);
    }

    /// Begins a new batch: the file's write turn, a connection (a new one
    /// if the last was discarded), `BEGIN IMMEDIATE`. On failure the
    /// connection goes back and nothing is left open.
    fn begin(&self, conn: Option<M::Connection>) -> Result<(M::Connection, Turn)> {
        let turn = match self.writers.turn() {
            Ok(turn) => turn,
            Err(e) => {
                self.give_back(conn);
                return Err(self.manager.explain(e));
            }
        };
        let conn = match conn {
            Some(conn) => conn,
            None => match catch_unwind(AssertUnwindSafe(|| connect(&self.manager))) {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => {
                    self.give_back(None);
                    return Err(e);
                }
                Err(panic) => {
                    self.give_back(None);
                    resume_unwind(panic);
                }
            },
        };
        if let Err(e) = conn.begin_immediate() {
            self.give_back(Some(conn));
            return Err(self.manager.explain(e));
        }
        Ok((conn, turn))
    }

    /// Gives the connection back (see `hand_on`).
    fn give_back(&self, conn: Option<M::Connection>) {
        Self::hand_on(&mut self.group.lock(), conn);
    }

    /// After a caller's work: joins the batch and hands the transaction on
    /// to the next caller in line, or ends the batch, committing it for
    /// every member; then returns this caller's own result.
    fn settle(&self, conn: M::Connection, mut turn: Option<Turn>, done: Done) -> Result<()> {
        let mut group = self.group.lock();
        let (own, lost) = match done {
            Done::Joined => {
                if group.open.is_none() {
                    let number = group.next_batch;
                    group.next_batch += 1;
                    let turn = turn.take().expect("the first write of a batch took its turn");
                    group.open = Some(Batch { number, members: 0, turn });
                }
                group.open.as_mut().expect("just opened").members += 1;
                (None, None)
            }
            Done::Failed(failure) => (Some(failure), None),
            Done::Lost(failure) => {
                let why = failure.describe();
                (Some(failure), Some(why))
            }
        };

        let Some(open) = &group.open else {
            // The first write of a would-be batch failed: it rolled back,
            // and nothing else was in the transaction.
            drop(group);
            let (kept, panic) = self.return_path(&conn);
            drop(turn);
            self.give_back(if kept { Some(conn) } else { None });
            return fail(own.expect("a write that joined has a batch"), panic);
        };
        let number = open.number;
        let pass_on = lost.is_none()
            && !group.closed
            && group.line.waiting() > 0
            && open.members < self.batch_cap
            && costs_more(group.commit_cost, Self::BATCH_ABOVE);
        if pass_on {
            Self::hand_on(&mut group, Some(conn));
            drop(group);
            return match own {
                None => self.outcome_of(self.group.lock(), number),
                Some(failure) => failure.into_result(),
            };
        }

        // This caller ends the batch: every member's rows commit, or none do.
        let open = group.open.take().expect("seen above");
        drop(group);
        let mut commit_took = None;
        let failure = match lost {
            Some(why) => Some(Error::batch_rolled_back(&why)),
            None => {
                let started = Instant::now();
                let committed = conn.commit();
                commit_took = Some(started.elapsed());
                committed.err().map(|e| Error::batch_commit_failed(&self.manager.explain(e)))
            }
        };
        if failure.is_some() && conn.in_transaction() {
            // If this fails too, the return path discards the connection,
            // which rolls back as it closes: no transaction stays open.
            let _ = conn.rollback();
        }
        let (kept, panic) = self.return_path(&conn);
        drop(open.turn);
        let others = open.members - usize::from(own.is_none());
        let mut group = self.group.lock();
        if let Some(took) = commit_took {
            group.commit_cost = average(group.commit_cost, took);
        }
        group.outcomes.end(open.number, failure.as_ref(), others);
        Self::hand_on(&mut group, if kept { Some(conn) } else { None });
        drop(group);
        if others > 0 {
            self.settled.notify_all();
        }
        match (own, failure) {
            (Some(failure), _) => fail(failure, panic),
            (None, failure) => {
                if let Some(panic) = panic {
                    resume_panic(panic);
                }
                failure.map_or(Ok(()), Err)
            }
        }
    }

    /// The return path every strategy shares, after a transaction ends:
    /// whether the connection may be kept, and a panic from the manager's
    /// callbacks to resume.
    fn return_path(&self, conn: &M::Connection) -> (bool, Option<Box<dyn std::any::Any + Send>>) {
        match check_return(&self.manager, conn, false) {
            Reuse::Keep => (true, None),
            Reuse::Discard => (false, None),
            Reuse::Panicked(panic) => (false, Some(panic)),
        }
    }

    /// Waits for batch `number`'s outcome and collects it.
    ///
    /// The batch's last member wakes every member when it publishes the
    /// outcome; the models check that no wake-up is lost. Should one be,
    /// the member looks again every [`OUTCOME_RECHECK`](Self::OUTCOME_RECHECK)
    /// rather than wait for ever, and a member whose batch has ended
    /// without its outcome fails at once with [`ErrorKind::Internal`](crate::ErrorKind::Internal)
    /// instead of hanging.
    fn outcome_of(&self, mut group: MutexGuard<'_, Group<M::Connection>>, number: u64) -> Result<()> {
        loop {
            if let Some(outcome) = group.outcomes.collect(number) {
                return outcome;
            }
            (group, _) = self.settled.wait_until(group, Instant::now() + Self::OUTCOME_RECHECK);
        }
    }
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
                line: Line::new(Line::OVERTAKING_BOUND),
                open: None,
                outcomes: Outcomes::new(),
                next_batch: 0,
                closed: false,
                // Until measured, assume a commit is worth sharing.
                commit_cost: Duration::from_millis(1),
            }),
            settled: Condvar::new(),
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

    fn read_with(&self, work: Work<'_, M::Connection>) -> Result<()> {
        self.readers.read_with(work)
    }

    fn write_with(&self, work: Work<'_, M::Connection>) -> Result<()> {
        let (group, conn) = self.hold()?;
        let batch = group.open.as_ref().map(|b| b.number);
        let closed = group.closed;
        drop(group);
        let (conn, turn, done) = match batch {
            Some(_) => {
                let mut conn = conn.expect("a batch is open only on a kept connection");
                // Closed while it waited: it still ends the batch it was
                // handed, or the batch's members would wait for ever.
                let done = match closed {
                    true => Done::Failed(Failure::Error(Error::closed("group commit"))),
                    false => member::run_member(&self.manager, &mut conn, work),
                };
                (conn, None, done)
            }
            None if closed => {
                self.give_back(conn);
                return Err(Error::closed("group commit"));
            }
            None => {
                let (conn, turn) = self.begin(conn)?;
                let done = member::run_first(&self.manager, &conn, work);
                (conn, Some(turn), done)
            }
        };
        self.settle(conn, turn, done)
    }

    /// The writer and the readers added up; callers waiting for the writer
    /// connection count as waiting.
    fn state(&self) -> State {
        let readers = self.readers.state();
        let group = self.group.lock();
        let held = group.line.is_held();
        let writer_idle = usize::from(!held && group.conn.is_some());
        State::new(readers.idle + writer_idle, readers.in_use + usize::from(held), readers.waiting + group.line.waiting())
    }

    fn close(&self) {
        let mut group = self.group.lock();
        group.closed = true;
        if !group.line.is_held() {
            group.conn = None;
        }
        group.line.wake_all();
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
