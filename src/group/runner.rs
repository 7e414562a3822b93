//! The runner of a batch: the caller that found the writer free. It takes
//! the file's write turn and `BEGIN IMMEDIATE`, runs its own work first, as
//! any write runs (no savepoint: nobody else's rows are in the transaction
//! yet), then the queued callers' work in arrival order, each in
//! litepool's savepoint with the batch's seal engaged (its authorizer is
//! installed once, at the first queued caller, and removed before the
//! `COMMIT`), until nobody is queued or the batch is full; commits once
//! for all of them; and tells each caller its outcome, waking it once.
//!
//! A [`Runner`] is also the batch's guard: if the runner's thread unwinds
//! before the batch ends (a panic in a manager callback, say; a panic in
//! any caller's work is caught and goes back to that caller), its `Drop`
//! closes the connection, which rolls back what the `COMMIT` did not
//! cover, and tells every member, so that no caller whose work it took is
//! left waiting.

use std::any::Any;
use std::collections::VecDeque;

use crate::access::{Reuse, WriteWork, check_return, connect, resume_panic};
use crate::error::{Error, Result};
use crate::manager::{EachTime, Manager, Seal, Transactional};
use crate::sync::Arc;

use super::member::{self, Done, Failure, fail};
use super::{GroupCommit, Queued, Slot, Told};

/// A batch being run, and the runner's hold on the writer.
pub(super) struct Runner<'a, M: Manager> {
    strategy: &'a GroupCommit<M>,
    /// The writer connection (`None`: discarded; the runner opens one).
    conn: Option<M::Connection>,
    number: u64,
    /// Callers whose work joined the open transaction, waiting for its
    /// `COMMIT`.
    joined: Vec<Member>,
    /// Callers whose work failed alone, with their failure.
    failed: Vec<(Member, Failure)>,
    /// Callers whose work was taken from the queue and has not finished,
    /// in the order it runs: told if the runner unwinds (not applied).
    pending: VecDeque<Member>,
    /// Whether the `COMMIT` succeeded: what the joined members hear if the
    /// runner unwinds before it has told them.
    committed: bool,
    /// Whether every member has been told and the writer released.
    ended: bool,
    /// The batch's seal, once its authorizer is installed on the
    /// connection (at the first queued caller's work: a lone write pays
    /// nothing for it).
    seal: Option<Seal>,
}

/// A caller whose work the runner took from the queue and ran: where to
/// tell it its outcome.
struct Member {
    slot: Arc<Slot>,
}

impl<'a, M: Manager> Runner<'a, M> {
    pub(super) fn new(strategy: &'a GroupCommit<M>, conn: Option<M::Connection>, number: u64) -> Runner<'a, M> {
        Runner {
            strategy,
            conn,
            number,
            joined: Vec::new(),
            failed: Vec::new(),
            pending: VecDeque::new(),
            committed: false,
            ended: false,
            seal: None,
        }
    }

    /// Runs the batch, `own` first, and returns the runner's own outcome.
    pub(super) fn run(mut self, own: WriteWork<'_, M::Connection>) -> Result<()> {
        let strategy = self.strategy;
        let manager = &strategy.manager;
        let turn = match strategy.writers.turn() {
            Ok(turn) => turn,
            Err(e) => return self.fail_alone(manager.explain(e)),
        };
        if self.conn.is_none() {
            match connect(manager) {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => return self.fail_alone(e),
            }
        }
        let conn = self.conn.as_mut().expect("opened above");
        if let Err(e) = conn.begin_immediate() {
            drop(turn);
            return self.fail_alone(manager.explain(e));
        }
        if let Done::Failed(failure) = member::run_first(manager, conn, own) {
            // Rolled back, and nobody else's rows were in the transaction.
            drop(turn);
            let panic = self.end(None);
            return fail(failure, panic);
        }

        let lost = self.run_queued().map(|why| Error::batch_rolled_back(&why));
        let lost = match self.unseal() {
            Err(e) => lost.or(Some(e)),
            Ok(()) => lost,
        };
        let failure = match (lost, self.conn.as_ref()) {
            (Some(e), _) => Some(e),
            (None, Some(conn)) => match conn.commit() {
                Ok(()) => {
                    self.committed = true;
                    None
                }
                Err(e) => Some(Error::batch_commit_failed(&manager.explain(e))),
            },
            (None, None) => unreachable!("a connection is dropped only when the batch is lost"),
        };
        if let (Some(_), Some(conn)) = (&failure, self.conn.as_ref())
            && conn.in_transaction()
        {
            // If this fails too, the return path discards the connection,
            // which rolls back as it closes: no transaction stays open.
            let _ = conn.rollback();
        }
        drop(turn);
        if let Some(panic) = self.end(failure.as_ref()) {
            resume_panic(panic);
        }
        failure.map_or(Ok(()), Err)
    }

    /// Runs the queued callers' work in the open transaction, in arrival
    /// order, until nobody is queued or the batch is full. Returns why the
    /// transaction was lost, if it was.
    fn run_queued(&mut self) -> Option<String> {
        let manager = &self.strategy.manager;
        let mut size = 1;
        while size < self.strategy.batch_cap {
            let taken = self.take(self.strategy.batch_cap - size);
            if taken.is_empty() {
                return None;
            }
            let mut taken = taken.into_iter();
            while let Some(mut queued) = taken.next() {
                size += 1;
                let done = match self.sealed() {
                    Ok((conn, seal)) => member::run_member(manager, conn, seal, &mut EachTime(conn), queued.job.work()),
                    Err(e) => Done::Failed(Failure::Error(e)),
                };
                drop(queued);
                let member = self.pending.pop_front().expect("taken work is pending until it has run");
                match done {
                    Done::Joined => self.joined.push(member),
                    Done::Failed(failure) => self.failed.push((member, failure)),
                    Done::Lost(failure) => {
                        let why = failure.describe();
                        self.failed.push((member, failure));
                        self.put_back(taken);
                        return Some(why);
                    }
                }
            }
        }
        None
    }

    /// The connection, with the batch's seal installed on it (installed
    /// now if it is not yet).
    fn sealed(&mut self) -> Result<(&M::Connection, &Seal)> {
        let conn = self.conn.as_mut().expect("a batch keeps its connection");
        if self.seal.is_none() {
            let seal = Seal::new();
            conn.install_seal(&seal)?;
            self.seal = Some(seal);
        }
        Ok((conn, self.seal.as_ref().expect("installed above")))
    }

    /// Removes the batch's seal, if it was installed, before litepool's
    /// `COMMIT` or `ROLLBACK` (which it would refuse if it were engaged,
    /// and must not expire for the next batch's work to run unchecked). A
    /// connection whose seal cannot be removed is closed here, which rolls
    /// back the batch: the error, each member's, says why.
    fn unseal(&mut self) -> Result<()> {
        let Some(_) = self.seal.take() else { return Ok(()) };
        let conn = self.conn.as_mut().expect("a batch keeps its connection");
        conn.remove_seal().map_err(|e| {
            self.conn = None;
            Error::seal_not_removed(&e)
        })
    }

    /// Takes up to `most` callers' work from the front of the queue into
    /// this batch (none once the strategy closed).
    fn take(&mut self, most: usize) -> Vec<Queued<M::Connection>> {
        let mut group = self.strategy.group.lock();
        if group.closed {
            return Vec::new();
        }
        let n = most.min(group.queue.len());
        let taken: Vec<_> = group.queue.drain(..n).collect();
        for queued in &taken {
            *queued.slot.told.lock() = Told::Running { batch: self.number };
            self.pending.push_back(Member { slot: queued.slot.clone() });
        }
        taken
    }

    /// Puts work taken but not started back at the front of the queue, in
    /// its order: the transaction it was to join is gone.
    fn put_back(&mut self, rest: std::vec::IntoIter<Queued<M::Connection>>) {
        let mut group = self.strategy.group.lock();
        self.pending.clear();
        for queued in rest.rev() {
            *queued.slot.told.lock() = Told::Queued { look: false };
            group.queue.push_front(queued);
        }
    }

    /// The batch failed before any work ran: the runner's own error, and
    /// the writer released.
    fn fail_alone(self, e: Error) -> Result<()> {
        let panic = self.end(None);
        fail(Failure::Error(e), panic)
    }

    /// Ends the batch after its transaction ended: the return path every
    /// strategy shares (keep or discard the connection), then every member
    /// told (`failure`: what the joined ones hear; `None`, committed).
    /// Returns a panic from the manager's callbacks, to resume.
    fn end(mut self, failure: Option<&Error>) -> Option<Box<dyn Any + Send>> {
        let (kept, panic) = match self.conn.as_ref().map(|conn| check_return(&self.strategy.manager, conn, false)) {
            Some(Reuse::Keep) => (true, None),
            Some(Reuse::Discard) | None => (false, None),
            Some(Reuse::Panicked(panic)) => (false, Some(panic)),
        };
        // A discarded connection closes here, outside the lock.
        let conn = self.conn.take().filter(|_| kept);
        self.tell(conn, failure);
        panic
    }

    /// Hands the writer to the first caller still queued, who runs the next
    /// batch (or frees it if nobody is queued, or the strategy closed),
    /// giving the connection back unless the strategy closed; then tells
    /// every member its outcome in its own slot, waking it once; then marks
    /// the batch ended.
    ///
    /// Why hand the writer on rather than free it for whoever comes first:
    /// the caller that ran this batch is often first to come back, and
    /// would run the next batch too, before the members just told have been
    /// scheduled to queue again: batches stayed small (five callers on
    /// average at 64 threads on two cores, under `synchronous = NORMAL`,
    /// where handing on gives 17 to 25), and queued callers were passed.
    fn tell(&mut self, conn: Option<M::Connection>, failure: Option<&Error>) {
        let mut group = self.strategy.group.lock();
        group.conn = conn.filter(|_| !group.closed);
        match group.queue.front() {
            Some(front) if !group.closed => front.slot.tell(Told::Lead),
            _ => group.running = false,
        }
        drop(group);
        for member in self.joined.drain(..) {
            let outcome = failure.map_or(Ok(()), |e| Err(Failure::Error(e.copy())));
            member.slot.tell(Told::Done(outcome));
        }
        for (member, failure) in self.failed.drain(..) {
            member.slot.tell(Told::Done(Err(failure)));
        }
        // Only when the runner unwinds: work taken and not run, or not
        // finished, was not applied.
        for member in self.pending.drain(..) {
            member.slot.tell(Told::Done(Err(Failure::Error(Error::batch_runner_panicked()))));
        }
        // After every member was told: a member that finds its batch done
        // telling and no outcome concludes the outcome was lost. (Not a
        // count of batches ended: the next batch may end first, as it
        // starts when the writer is handed on, before this one's members
        // are told.)
        let number = self.number;
        self.strategy.group.lock().telling.retain(|&batch| batch != number);
        self.ended = true;
    }
}

impl<M: Manager> Drop for Runner<'_, M> {
    /// The runner's thread is unwinding mid-batch: the connection closes
    /// (rolling back anything uncommitted) and every member hears the
    /// batch's outcome: committed if the `COMMIT` had succeeded, otherwise
    /// not applied.
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        self.conn = None;
        let failure = (!self.committed).then(Error::batch_runner_panicked);
        self.tell(None, failure.as_ref());
    }
}
