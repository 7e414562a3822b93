//! litepool for async Rust: reads on read-only connections, writes through
//! a batching writer, and cancellation that is safe wherever it happens.
//!
//! [`AsyncPool`] keeps one read-write connection on a writer thread of its
//! own and a few read-only connections (WAL), each on a reader thread of
//! its own. A call queues a job (a `Send + 'static` closure) and returns an
//! [`Answer`], a future; the caller's task waits on it without blocking
//! its runtime's thread, and is woken once, with the outcome. No SQLite
//! call ever runs on a runtime thread. The facade needs no runtime of its
//! own (its threads wake the tasks), so it runs under tokio, where it is
//! tested, and any executor.
//!
//! **Writes are batched.** The writer thread runs every write queued when
//! it comes round in one transaction, each in the rules of
//! [`GroupCommit`](crate::GroupCommit) (a failing or panicking write is
//! undone alone; `Ok` only after the `COMMIT`), so under load one `COMMIT`
//! (and one sync, under `synchronous = FULL`) serves many callers. An
//! async caller is woken without a thread of its own to switch to, which is
//! why batching pays more here than for blocking threads.
//!
//! **What dropping an answer does** (seven guarantees, G1 to G7, that the
//! async peers each break somewhere; EVIDENCE.md, "The async facade",
//! lists them with the test in `tests/tokio.rs` and the loom and shuttle
//! model in `tests/support/tokio.rs` that checks each):
//!
//! * before the job started (waiting for a reader, for the writer, or
//!   behind a batch): the job is removed and never runs (G1, G4);
//! * while a read runs: the read is stopped, and the stop is tied to that
//!   read, so it can never stop the next job on the connection (G2); it is
//!   an atomic flag, safe whatever `close()` is doing (G3);
//! * while a write runs: nothing. Interrupting it would roll back the
//!   whole transaction and the other callers' writes in it, so it runs to
//!   its outcome, committed or not applied at all (G5); only the answer is
//!   lost. Await the answer (or look for the rows) to know which.
//!
//! Every connection goes back to its thread only in autocommit with no
//! statement stepping (G6); dropping an answer or the pool never blocks
//! (G7). [`AsyncPool::close`] answers every waiting call with a closed
//! error at once and is ready once the work in flight has finished and
//! every connection is closed. `src/tokio/job.rs` is the state machine
//! that keeps these promises.
//!
//! ```
//! use litepool::SqliteManager;
//! use litepool::tokio::AsyncPool;
//!
//! # tokio_test_runtime(async {
//! let dir = tempfile::tempdir()?;
//! let db = AsyncPool::open(SqliteManager::file(dir.path().join("app.db")))?;
//! db.write(|c| Ok(c.execute_batch("CREATE TABLE items (name TEXT)")?)).await?;
//! db.write(|c| Ok(c.execute("INSERT INTO items VALUES ('a')", [])?)).await?;
//! let n: i64 = db.read(|c| Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?)).await?;
//! assert_eq!(n, 1);
//! db.close().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # });
//! # fn tokio_test_runtime<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap().block_on(f)
//! # }
//! ```

mod job;
mod lane;
mod reader;
mod writer;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::access::{Reuse, State, check_return, connect, prepare, writers};
use crate::error::{Error, ErrorKind, Result};
use crate::manager::{Manager, Stop, Transactional};
use crate::sync::{Arc, spawn};

use self::job::{Job, Value};
use self::lane::Lane;
use self::reader::Reader;
use self::writer::Writer;

const WHAT: &str = "the async pool";

/// An async handle to one SQLite database: read-only readers and one
/// batching writer, each connection on a litepool thread. Cloning gives
/// another handle to the same pool; the pool closes when the last handle
/// is dropped (without waiting) or [`close`](AsyncPool::close)d.
pub struct AsyncPool<M: Manager> {
    shared: Arc<Shared>,
    plant: Plant,
    _manager: PhantomData<fn() -> M>,
}

/// What the handles share: the two lanes. Dropping the last handle closes
/// them; the threads hold the lanes, not this.
#[derive(Debug)]
struct Shared {
    reads: Arc<Lane>,
    writes: Arc<Lane>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.reads.close(WHAT);
        self.writes.close(WHAT);
    }
}

impl<M: Manager> AsyncPool<M> {
    /// The most writes one `COMMIT` holds unless
    /// [`batch_cap`](AsyncPoolBuilder::batch_cap) says otherwise. Larger
    /// than [`GroupCommit::DEFAULT_BATCH_CAP`](crate::GroupCommit::DEFAULT_BATCH_CAP): async callers are cheap to
    /// have many of, and a cap below their number splits each round of
    /// writes into several `COMMIT`s (at 64 tasks under `synchronous =
    /// FULL`, a cap of 32 gave 8.5 × one connection alone, 128 gave 12.5 ×,
    /// in one run of `benches/async`). A batch of 128 one-row writes holds
    /// the write lock for well under a millisecond.
    pub const DEFAULT_BATCH_CAP: usize = 128;

    /// Opens the pool with the default settings: 4 readers, batches of up
    /// to [`DEFAULT_BATCH_CAP`](AsyncPool::DEFAULT_BATCH_CAP) writes.
    pub fn open(manager: M) -> Result<AsyncPool<M>> {
        AsyncPool::builder().open(manager)
    }

    /// Settings for [`open`](AsyncPoolBuilder::open).
    pub fn builder() -> AsyncPoolBuilder<M> {
        AsyncPoolBuilder {
            readers: 4,
            batch_cap: Self::DEFAULT_BATCH_CAP,
            plant: Plant::None,
            manager: PhantomData,
        }
    }

    /// Queues `work` for a reader (a read-only connection) and returns its
    /// answer. Dropping the answer before the read starts removes it;
    /// dropping it while the read runs stops the read.
    pub fn read<T, F>(&self, work: F) -> Answer<T>
    where
        F: FnOnce(&M::Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.queue(&self.shared.reads, work)
    }

    /// Queues `work` for the writer, which runs it in a batch with the
    /// writes queued with it, and returns its answer: `Ok` once the batch's
    /// `COMMIT` succeeded. Dropping the answer before the write starts
    /// removes it; once it started it runs to its outcome, which is then
    /// not heard.
    pub fn write<T, F>(&self, work: F) -> Answer<T>
    where
        F: FnOnce(&M::Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.queue(&self.shared.writes, work)
    }

    fn queue<T, F>(&self, lane: &Arc<Lane>, work: F) -> Answer<T>
    where
        F: FnOnce(&M::Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let job =
            Job::new::<M::Connection>(Box::new(move |conn| work(conn).map(|value| Box::new(value) as Value)));
        lane.push(job.clone(), WHAT);
        Answer { job: Some(job), lane: lane.clone(), plant: self.plant, _type: PhantomData }
    }

    /// Closes the pool: every call waiting for a connection is answered at
    /// once with a closed error, and so is every later call. The returned
    /// future is ready once the work already running has finished and
    /// every connection is closed (dropping it does not reopen anything).
    pub fn close(&self) -> Closing {
        self.shared.reads.close(WHAT);
        self.shared.writes.close(WHAT);
        Closing { lanes: [self.shared.reads.clone(), self.shared.writes.clone()] }
    }

    /// The connections (readers and the writer): idle, in use, and calls
    /// waiting for one.
    pub fn state(&self) -> State {
        let (reads, writes) = (self.shared.reads.counts(), self.shared.writes.counts());
        let threads = reads.threads + writes.threads;
        let busy = reads.busy + writes.busy;
        State::new(threads - busy, busy, reads.queued + writes.queued)
    }
}

impl<M: Manager> Clone for AsyncPool<M> {
    fn clone(&self) -> AsyncPool<M> {
        AsyncPool { shared: self.shared.clone(), plant: self.plant, _manager: PhantomData }
    }
}

impl<M: Manager> fmt::Debug for AsyncPool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncPool").field("state", &self.state()).finish()
    }
}

/// Settings for an [`AsyncPool`].
pub struct AsyncPoolBuilder<M> {
    readers: usize,
    batch_cap: usize,
    plant: Plant,
    manager: PhantomData<fn() -> M>,
}

impl<M: Manager> AsyncPoolBuilder<M> {
    /// How many read-only connections (and reader threads) to keep
    /// (default 4; at least 1).
    pub fn readers(mut self, readers: usize) -> AsyncPoolBuilder<M> {
        self.readers = readers;
        self
    }

    /// The most writes one `COMMIT` holds (default
    /// [`AsyncPool::DEFAULT_BATCH_CAP`]; 1 commits each write alone).
    pub fn batch_cap(mut self, batch_cap: usize) -> AsyncPoolBuilder<M> {
        self.batch_cap = batch_cap;
        self
    }

    /// Plants `bug` in this pool's code (model checkers only).
    #[cfg(any(loom, shuttle))]
    #[doc(hidden)]
    pub fn plant(mut self, bug: Plant) -> AsyncPoolBuilder<M> {
        self.plant = bug;
        self
    }

    /// Checks the settings, opens the writer (preparing the database, WAL
    /// included) and the readers, and starts their threads.
    ///
    /// Opening runs on the calling thread: it is the one call of the
    /// facade that talks to SQLite there (a few milliseconds, longer on a
    /// slow disk or a locked file). Open the pool before the runtime
    /// starts, or inside `tokio::task::spawn_blocking`, to keep it off a
    /// runtime thread.
    pub fn open(self, manager: M) -> Result<AsyncPool<M>> {
        if self.batch_cap == 0 {
            return Err(Error::zero_batch_cap());
        }
        if self.readers == 0 {
            return Err(Error::config(
                "an async pool needs at least one reader: readers(0) would leave every read waiting for ever; \
                 use readers(1) or more",
            ));
        }
        let reader_manager = Arc::new(manager.read_only()?);
        prepare(&manager)?;
        let writer_conn = connect(&manager)?;
        let reader_conns =
            (0..self.readers).map(|_| connect(&*reader_manager)).collect::<Result<Vec<_>>>()?;
        let shared =
            Arc::new(Shared { reads: Arc::new(Lane::new(self.readers)), writes: Arc::new(Lane::new(1)) });
        let writer = Writer {
            writers: writers(&manager, "the async pool"),
            manager,
            lane: shared.writes.clone(),
            conn: Some(writer_conn),
            batch_cap: self.batch_cap,
            stop: Stop::new(),
            plant: self.plant,
        };
        let pool = AsyncPool { shared, plant: self.plant, _manager: PhantomData };
        start(&pool, "litepool-writer".to_owned(), move || writer.run(), &pool.shared.writes)?;
        for (n, conn) in reader_conns.into_iter().enumerate() {
            let reader = Reader::new(reader_manager.clone(), pool.shared.reads.clone(), conn, self.plant);
            start(&pool, format!("litepool-reader-{n}"), move || reader.run(), &pool.shared.reads)?;
        }
        Ok(pool)
    }
}

/// Whether `conn` may serve the next job: back in autocommit (rolled back
/// if its job left a transaction open), no statement stepping, and not
/// broken. A panic in the manager's callbacks also says no.
fn hand_back<M: Manager>(manager: &M, conn: &M::Connection) -> bool {
    matches!(check_return(manager, conn, false), Reuse::Keep) && !conn.in_transaction() && !conn.is_stepping()
}

/// Starts one of the pool's threads; if it cannot start, the pool is
/// closed (its `Drop` does it) and the error says so.
fn start<M: Manager>(
    pool: &AsyncPool<M>,
    name: String,
    run: impl FnOnce() + Send + 'static,
    lane: &Lane,
) -> Result<()> {
    spawn(name.clone(), run).map_err(|e| {
        // The thread that did not start will not leave the lane itself.
        lane.leave();
        pool.shared.reads.close(WHAT);
        pool.shared.writes.close(WHAT);
        Error::cannot_start_thread(&name, &e)
    })
}

impl<M> fmt::Debug for AsyncPoolBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncPoolBuilder")
            .field("readers", &self.readers)
            .field("batch_cap", &self.batch_cap)
            .finish()
    }
}

/// The answer to a call on an [`AsyncPool`]: a future of the work's result.
///
/// The job is queued when the call is made, not when the answer is first
/// polled. Dropping the answer gives up on it: a job that has not started
/// never runs, a running read is stopped, a running write runs to its
/// outcome unheard.
#[must_use = "the job runs until its answer is dropped: await the answer to learn the outcome"]
pub struct Answer<T> {
    /// `None` once the outcome was returned.
    job: Option<Arc<Job>>,
    /// The lane the job waits in.
    lane: Arc<Lane>,
    plant: Plant,
    _type: PhantomData<fn() -> T>,
}

impl<T: 'static> Future for Answer<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let Some(job) = &self.job else {
            return Poll::Ready(Err(Error::new(
                ErrorKind::Internal,
                "this answer was polled again after it returned its outcome; await each answer once",
            )));
        };
        let outcome = match job.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(outcome) => outcome,
        };
        self.job = None;
        Poll::Ready(match outcome {
            Some(outcome) => {
                outcome.map(|value| *value.downcast::<T>().expect("a job's value has its answer's type"))
            }
            None => Err(Error::new(
                ErrorKind::Internal,
                "litepool lost this answer's outcome; this is a bug in litepool",
            )),
        })
    }
}

impl<T> Answer<T> {
    /// Gives up on the answer, as dropping it does, and says what that
    /// did: whether the job will never run, was running, or had finished.
    pub fn cancel(mut self) -> Cancelled {
        self.give_up()
    }

    /// The job's state says what giving up does; a job that never ran
    /// also leaves its lane's queue, so that nothing of it stays behind.
    fn give_up(&mut self) -> Cancelled {
        let Some(job) = self.job.take() else { return Cancelled::Finished };
        let cancelled = job.cancel(self.plant);
        if cancelled == Cancelled::NeverRan {
            self.lane.remove(&job);
        }
        cancelled
    }
}

impl<T> Drop for Answer<T> {
    fn drop(&mut self) {
        self.give_up();
    }
}

impl<T> fmt::Debug for Answer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer").field("job", &self.job).finish_non_exhaustive()
    }
}

/// What giving up on an answer did ([`Answer::cancel`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// The job had not started: it was removed and will never run.
    NeverRan,
    /// The job was running. A read is being stopped; a write runs on to
    /// its outcome (committed or not applied at all), unheard: look for
    /// its rows to know which.
    Started,
    /// The job had finished; its outcome was dropped.
    Finished,
}

/// A bug the model checkers plant in the facade's *real* code, to show
/// that each guarantee's model fails when the code breaks it
/// (`tests/support/tokio.rs`). Only the checkers' builds can set one
/// ([`AsyncPoolBuilder::plant`]); otherwise it is always `None`.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Plant {
    #[default]
    None,
    /// G1: giving up on a queued job leaves it queued; it runs later.
    CancelLeavesQueuedWork,
    /// G4: the writer starts the next queued write before it runs the
    /// current one, so a caller who gives up while waiting behind it is
    /// told it started, and its work runs.
    WriterStartsAheadOfTime,
    /// G2: a reader lowers its stop before it publishes the outcome, so a
    /// late stop for the finished read stops the next one.
    StopLoweredBeforeTell,
    /// G5: the writer's jobs carry a stop: giving up on a running write
    /// interrupts it, which rolls back the whole batch.
    WriterStoppable,
    /// G6: a reader keeps a connection its read left in a transaction.
    ReadHandedBackOpen,
}

/// [`AsyncPool::close`]'s future: ready once every thread of the pool has
/// finished its work and closed its connection.
#[must_use = "close() has closed the pool; await this to wait for the work in flight"]
#[derive(Debug)]
pub struct Closing {
    lanes: [Arc<Lane>; 2],
}

impl Future for Closing {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        for lane in &self.lanes {
            if lane.poll_left(cx).is_pending() {
                return Poll::Pending;
            }
        }
        Poll::Ready(())
    }
}
