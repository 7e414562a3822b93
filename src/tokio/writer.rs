//! The writer thread: one read-write connection, serving the write lane in
//! batches, as [`GroupCommit`](crate::GroupCommit)'s runner does, with the
//! same member rules (`group/member.rs`): the first write of a transaction
//! runs as any write (no savepoint); each later one in litepool's
//! savepoint with the batch's seal engaged, undone alone if it fails or
//! panics; one `COMMIT` for all; each caller told after it.
//!
//! The difference from the blocking strategy is who runs the batch. An
//! async caller cannot run SQLite on its runtime's thread, so this thread
//! does, for everybody: it takes the first queued job, `BEGIN IMMEDIATE`,
//! and then keeps taking queued jobs into the open transaction (up to the
//! cap) until none is queued, then commits. A job leaves the lane only
//! when the writer is about to start it, so a caller that gives up while
//! its job waits (for the turn, or behind a batch) leaves before it ran,
//! and `close()` answers every job not started (G1, G4). A started write
//! has no stop: nothing interrupts it (G5).

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::access::connect;
use crate::error::{Error, Result};
use crate::group::member::{self, Done, Failure};
use crate::manager::{Manager, MemberSavepoints, Seal, Stop, Transactional};
use crate::sync::Arc;
use crate::write_queue::Writers;

use super::job::{Job, Value, Work};
use super::lane::Lane;
use super::{Plant, hand_back};

pub(super) struct Writer<M: Manager> {
    pub(super) manager: M,
    pub(super) writers: Writers,
    pub(super) lane: Arc<Lane>,
    pub(super) conn: Option<M::Connection>,
    pub(super) batch_cap: usize,
    /// Never raised (a write is never interrupted), except by the planted
    /// bug that installs it.
    pub(super) stop: Stop,
    pub(super) plant: Plant,
}

/// One batch's members: who ran and waits for the `COMMIT`, and who is
/// running. If the writer's thread unwinds mid-batch (a panic in a manager
/// callback), dropping the batch tells each of them: not applied, unless
/// the `COMMIT` had succeeded.
struct Batch {
    joined: Vec<(Arc<Job>, Value)>,
    running: Option<Arc<Job>>,
    committed: bool,
}

impl Drop for Batch {
    fn drop(&mut self) {
        for (job, value) in self.joined.drain(..) {
            job.tell(if self.committed { Ok(value) } else { Err(Error::batch_runner_panicked()) });
        }
        if let Some(job) = self.running.take() {
            job.tell(Err(Error::batch_runner_panicked()));
        }
    }
}

impl<M: Manager> Writer<M> {
    /// Serves the lane until it closes.
    pub(super) fn run(mut self) {
        if self.plant == Plant::WriterStoppable
            && let Some(conn) = self.conn.as_mut()
        {
            let _ = conn.install_stop(&self.stop);
        }
        while let Some(first) = self.lane.take() {
            if catch_unwind(AssertUnwindSafe(|| self.run_batch(first))).is_err() {
                // The batch told its members; the connection, perhaps
                // mid-transaction, closes (rolling back).
                self.conn = None;
            }
            self.lane.idle();
        }
        drop(self.conn.take());
        self.lane.leave();
    }

    /// Runs one batch: the first job and those queued behind it, up to
    /// the cap, each in one transaction (a new one begins only if SQLite
    /// rolled the last one back), then the `COMMIT`, then each caller told.
    fn run_batch(&mut self, first: Arc<Job>) {
        let mut batch = Batch { joined: Vec::new(), running: Some(first), committed: false };
        let turn = match self.writers.turn() {
            Ok(turn) => turn,
            Err(e) => return self.fail_rest(&mut batch, self.manager.explain(e)),
        };
        let mut seal: Option<Seal> = None;
        let mut taken = Taken { size: 0, ahead: None };
        while batch.running.is_some() {
            if let Err(e) = self.begin() {
                return self.fail_rest(&mut batch, e);
            }
            let conn = self.conn.as_mut().expect("begun above");
            let steps = Steps {
                manager: &self.manager,
                lane: &self.lane,
                stop: &self.stop,
                plant: self.plant,
                batch_cap: self.batch_cap,
            };
            // The transaction's first write runs as any write does.
            steps.run_next(&mut batch, &mut taken, conn, None);
            if batch.joined.is_empty() || batch.running.is_none() {
                continue;
            }
            // The rest run sealed, each in litepool's savepoint, whose
            // statements are prepared once for them all.
            let sealed = sealed(conn, &mut seal);
            let conn = &*conn;
            let prepared = sealed.and_then(|seal| Ok((seal, conn.member_savepoints()?)));
            let (seal, mut savepoints) = match prepared {
                Ok(prepared) => prepared,
                Err(e) => {
                    // Nothing is sealed: the joined members commit; the
                    // job that would have run next fails, and says why.
                    if let Some(job) = batch.running.take() {
                        job.tell(Err(e));
                    }
                    break;
                }
            };
            while batch.running.is_some()
                && steps.run_next(&mut batch, &mut taken, conn, Some((seal, &mut *savepoints)))
            {}
        }
        self.commit(&mut batch, seal);
        drop(turn);
        if let Some(conn) = &self.conn
            && !hand_back(&self.manager, conn)
        {
            self.conn = None;
        }
    }

    /// Opens a transaction unless one is open (connecting first if the
    /// last connection was discarded).
    fn begin(&mut self) -> Result<()> {
        if self.conn.is_none() {
            let mut conn = connect(&self.manager)?;
            if self.plant == Plant::WriterStoppable {
                conn.install_stop(&self.stop)?;
            }
            self.conn = Some(conn);
        }
        let conn = self.conn.as_ref().expect("opened above");
        if conn.in_transaction() {
            return Ok(());
        }
        conn.begin_immediate().map_err(|e| self.manager.explain(e))
    }

    /// Removes the seal, commits, and tells the joined members.
    fn commit(&mut self, batch: &mut Batch, seal: Option<Seal>) {
        let Some(conn) = self.conn.as_mut() else { return };
        if seal.is_some()
            && let Err(e) = conn.remove_seal()
        {
            // A connection whose seal cannot be removed is closed, which
            // rolls the batch back.
            self.conn = None;
            return tell_all(batch, &Error::seal_not_removed(&e));
        }
        if !conn.in_transaction() {
            return;
        }
        match conn.commit() {
            Ok(()) => {
                batch.committed = true;
                for (job, value) in batch.joined.drain(..) {
                    job.tell(Ok(value));
                }
            }
            Err(e) => {
                // If the rollback fails too, the hand-back closes the
                // connection, which rolls back: no transaction stays open.
                let _ = conn.rollback();
                tell_all(batch, &Error::batch_commit_failed(&self.manager.explain(e)));
            }
        }
    }

    /// Nothing more can run in this batch (its turn, its connection or
    /// its `BEGIN` failed): the running job hears `e`, the joined members'
    /// rows are rolled back and they hear why; jobs still queued stay
    /// queued, for the next batch.
    fn fail_rest(&mut self, batch: &mut Batch, e: Error) {
        if let Some(conn) = &self.conn
            && conn.in_transaction()
        {
            let _ = conn.rollback();
        }
        let why = e.to_string();
        if let Some(job) = batch.running.take() {
            job.tell(Err(e));
        }
        for (job, _) in batch.joined.drain(..) {
            job.tell(Err(Error::batch_rolled_back(&why)));
        }
    }
}

/// How many jobs the batch has taken, and (only under the planted bug
/// that starts jobs ahead of time) the next job's work, already started.
struct Taken<C> {
    size: usize,
    ahead: Option<Work<C>>,
}

/// What running one job needs of the writer, borrowed apart from its
/// connection.
struct Steps<'w, M: Manager> {
    manager: &'w M,
    lane: &'w Lane,
    stop: &'w Stop,
    plant: Plant,
    batch_cap: usize,
}

impl<M: Manager> Steps<'_, M> {
    /// Starts and runs the batch's running job (unless its caller gave
    /// up): as the transaction's first write if `sealed` is `None`, else
    /// in a savepoint under the seal. Then takes the next job queued, if
    /// the batch has room. Returns whether the transaction is still open.
    fn run_next(
        &self,
        batch: &mut Batch,
        taken: &mut Taken<M::Connection>,
        conn: &M::Connection,
        sealed: Option<(&Seal, &mut dyn MemberSavepoints)>,
    ) -> bool {
        let job = batch.running.clone().expect("a job to run");
        taken.size += 1;
        let stop = (self.plant == Plant::WriterStoppable).then_some(self.stop);
        let started = taken.ahead.take().or_else(|| job.start::<M::Connection>(stop));
        let mut next = None;
        if self.plant == Plant::WriterStartsAheadOfTime && taken.size < self.batch_cap {
            next = self.lane.next();
            taken.ahead = next.as_ref().and_then(|next| next.start::<M::Connection>(None));
        }
        let mut open = true;
        if let Some(work) = started {
            let (done, value) = match sealed {
                None => run(work, |w| member::run_first(self.manager, conn, w)),
                Some((seal, savepoints)) => {
                    run(work, |w| member::run_member(self.manager, conn, seal, savepoints, w))
                }
            };
            batch.running = None;
            match (done, value) {
                (Done::Joined, Some(value)) => batch.joined.push((job, value)),
                (Done::Joined, None) => unreachable!("joined work returned a value"),
                (Done::Failed(failure), _) => job.tell(Err(error(failure))),
                (Done::Lost(failure), _) => {
                    // The transaction is gone, and with it the rows of
                    // everyone joined so far; the next job begins anew.
                    let why = failure.describe();
                    job.tell(Err(error(failure)));
                    for (job, _) in batch.joined.drain(..) {
                        job.tell(Err(Error::batch_rolled_back(&why)));
                    }
                    open = false;
                }
            }
        }
        self.stop.lower();
        batch.running = match next {
            Some(next) => Some(next),
            None if taken.size < self.batch_cap => self.lane.next(),
            None => None,
        };
        open && conn.in_transaction()
    }
}

/// Runs a job's typed work through a member rule that takes `Send` work
/// returning nothing, keeping the work's value.
fn run<C>(
    work: Work<C>,
    rule: impl FnOnce(&mut (dyn FnMut(&C) -> Result<()> + Send)) -> Done,
) -> (Done, Option<Value>) {
    let mut work = Some(work);
    let mut value = None;
    let done = rule(&mut |conn: &C| {
        let work = work.take().expect("a job's work runs once");
        value = Some(work(conn)?);
        Ok(())
    });
    (done, value)
}

/// The connection's seal, installed at the batch's first sealed member.
fn sealed<'s, C: Transactional>(conn: &mut C, seal: &'s mut Option<Seal>) -> Result<&'s Seal> {
    if seal.is_none() {
        let new = Seal::new();
        conn.install_seal(&new)?;
        *seal = Some(new);
    }
    Ok(seal.as_ref().expect("installed above"))
}

fn tell_all(batch: &mut Batch, e: &Error) {
    for (job, _) in batch.joined.drain(..) {
        job.tell(Err(e.copy()));
    }
}

/// A member's failure as its caller hears it: a panic becomes an error.
fn error(failure: Failure) -> Error {
    match failure {
        Failure::Error(e) => e,
        Failure::Panic(panic) => Error::work_panicked(&*panic, true),
    }
}
