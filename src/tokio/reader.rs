//! A reader thread: one read-only connection, serving the read lane one
//! job at a time.
//!
//! The connection carries a [`Stop`] for its whole life; a job's caller
//! raises it only while that job runs (`job.rs`). After each job the thread
//! publishes the outcome, then lowers the stop, then hands the connection
//! to itself for the next job only in autocommit with no statement stepping
//! (G6): a read that left a transaction open (pinning its snapshot) is
//! rolled back, and a connection that cannot be made clean is closed and
//! opened again for the next job.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::access::connect;
use crate::error::{Error, Result};
use crate::manager::{Manager, Stop, Transactional};
use crate::sync::Arc;

use super::job::{Job, Value};
use super::lane::Lane;
use super::{Plant, hand_back};

pub(super) struct Reader<M: Manager> {
    pub(super) manager: Arc<M>,
    pub(super) lane: Arc<Lane>,
    pub(super) conn: Option<M::Connection>,
    pub(super) stop: Stop,
    /// Whether the connection took the stop (else a dropped read runs on).
    pub(super) stoppable: bool,
    pub(super) plant: Plant,
}

impl<M: Manager> Reader<M> {
    /// A reader of `manager`'s database; `conn` is its first connection.
    pub(super) fn new(manager: Arc<M>, lane: Arc<Lane>, conn: M::Connection, plant: Plant) -> Reader<M> {
        let mut reader = Reader { manager, lane, conn: None, stop: Stop::new(), stoppable: false, plant };
        reader.adopt(conn);
        reader
    }

    /// Serves the lane until it closes.
    pub(super) fn run(mut self) {
        while let Some(job) = self.lane.take() {
            // Whatever panics outside the work (a manager callback) fails
            // this job and costs the connection, not the thread.
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.serve(&job))) {
                self.conn = None;
                self.stop.lower();
                job.tell(Err(Error::work_panicked(&*panic, false)));
            }
            self.lane.idle();
        }
        drop(self.conn.take());
        self.lane.leave();
    }

    fn serve(&mut self, job: &Job) {
        if self.conn.is_none() {
            match connect(&*self.manager) {
                Ok(conn) => self.adopt(conn),
                Err(e) => return job.tell(Err(e)),
            }
        }
        let conn = self.conn.as_ref().expect("opened above");
        let Some(work) = job.start::<M::Connection>(self.stoppable.then_some(&self.stop)) else {
            return;
        };
        let outcome: Result<Value> = match catch_unwind(AssertUnwindSafe(|| work(conn))) {
            Ok(outcome) => outcome.map_err(|e| self.manager.explain(e)),
            Err(panic) => Err(Error::work_panicked(&*panic, false)),
        };
        // The order is the guarantee: once told, the job's caller can no
        // longer raise the stop, so lowering it now leaves it down for the
        // next job.
        if self.plant == Plant::StopLoweredBeforeTell {
            self.stop.lower();
            job.tell(outcome);
        } else {
            job.tell(outcome);
            self.stop.lower();
        }
        if self.plant != Plant::ReadHandedBackOpen && !hand_back(&*self.manager, conn) {
            self.conn = None;
        }
    }

    fn adopt(&mut self, mut conn: M::Connection) {
        self.stoppable = conn.install_stop(&self.stop).is_ok();
        self.conn = Some(conn);
    }
}
