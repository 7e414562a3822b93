//! One caller's work in a batch: the first write runs as any write does
//! (no savepoint: nobody else's rows are in the transaction yet); each
//! later one runs in litepool's savepoint with the batch's seal engaged,
//! and is undone alone if it fails or panics. What it did to the batch is
//! a [`Done`].

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::access::{WriteWork, resume_panic};
use crate::error::{Error, Result};
use crate::manager::{MEMBER_SAVEPOINT, Manager, MemberSavepoints, Seal, Transactional};

/// What one caller's work did to the batch.
pub(crate) enum Done {
    /// It succeeded and its rows are in the open transaction.
    Joined,
    /// It failed and its rows were undone; the batch goes on.
    Failed(Failure),
    /// The whole transaction is gone (SQLite rolled it back, or undoing
    /// this caller's rows failed): every member fails.
    Lost(Failure),
}

/// How a caller failed: with an error, or with a panic to resume.
pub(crate) enum Failure {
    Error(Error),
    Panic(Box<dyn std::any::Any + Send>),
}

impl Failure {
    pub(crate) fn describe(&self) -> String {
        match self {
            Failure::Error(e) => e.to_string(),
            Failure::Panic(_) => "a write in the batch panicked".to_owned(),
        }
    }

    pub(super) fn into_result(self) -> Result<()> {
        match self {
            Failure::Error(e) => Err(e),
            Failure::Panic(panic) => resume_unwind(panic),
        }
    }
}

/// Runs `work` as the first write of a new batch: in `BEGIN IMMEDIATE`,
/// with no savepoint (nobody else's rows are in the transaction yet).
pub(crate) fn run_first<M: Manager>(manager: &M, conn: &M::Connection, work: WriteWork<'_, M::Connection>) -> Done {
    match catch_unwind(AssertUnwindSafe(|| work(conn))) {
        Ok(Ok(())) if conn.in_transaction() => Done::Joined,
        Ok(Ok(())) => Done::Failed(Failure::Error(Error::transaction_ended_by_work())),
        outcome => {
            if conn.in_transaction() {
                // If this fails too, the end of the batch discards the
                // connection, which rolls back as it closes.
                let _ = conn.rollback();
            }
            Done::Failed(match outcome {
                Ok(Err(e)) => Failure::Error(manager.explain(e)),
                Err(panic) => Failure::Panic(panic),
                Ok(Ok(())) => unreachable!("handled above"),
            })
        }
    }
}

/// Runs `work` inside the open batch, in litepool's savepoint (opened and
/// ended through `savepoints`), with the batch's `seal` engaged (its
/// authorizer is installed on `conn`).
pub(crate) fn run_member<M: Manager>(
    manager: &M,
    conn: &M::Connection,
    seal: &Seal,
    savepoints: &mut dyn MemberSavepoints,
    work: WriteWork<'_, M::Connection>,
) -> Done {
    if let Err(e) = savepoints.open() {
        return if conn.in_transaction() { Done::Failed(Failure::Error(e)) } else { Done::Lost(Failure::Error(e)) };
    }
    seal.engage();
    let outcome = catch_unwind(AssertUnwindSafe(|| work(conn)));
    seal.lift();
    if !conn.in_transaction() {
        // SQLite rolled the whole transaction back (or a trigger did):
        // the rows of every member so far are gone.
        let failure = match outcome {
            Ok(Ok(())) => Failure::Error(Error::transaction_ended_by_work()),
            Ok(Err(e)) => Failure::Error(manager.explain(e)),
            Err(panic) => Failure::Panic(panic),
        };
        return Done::Lost(failure);
    }
    let failure = match outcome {
        Ok(Ok(())) => match savepoints.release() {
            Ok(()) => return Done::Joined,
            Err(e) => Failure::Error(manager.explain(e)),
        },
        Ok(Err(e)) => Failure::Error(explain_work_error(manager, e)),
        Err(panic) => Failure::Panic(panic),
    };
    match savepoints.undo() {
        Ok(()) => Done::Failed(failure),
        // The caller's rows cannot be told from the others' any more:
        // the batch is lost, and the caller learns why.
        Err(e) => Done::Lost(match failure {
            Failure::Error(first) => Failure::Error(Error::undo_in_batch_failed(first, &e)),
            panic => panic,
        }),
    }
}

/// A work error, explained; a statement the seal refused says why.
fn explain_work_error<M: Manager>(manager: &M, e: Error) -> Error {
    const SQLITE_AUTH: i32 = 23;
    if e.extended_code() == Some(SQLITE_AUTH) {
        return Error::refused_in_batch(e, MEMBER_SAVEPOINT);
    }
    manager.explain(e)
}

/// A caller's own failure: its panic resumes (a manager's panic is then
/// dropped, as a second panic would abort), or its error is returned after
/// the manager's panic, if any, resumes.
pub(super) fn fail(failure: Failure, manager_panic: Option<Box<dyn std::any::Any + Send>>) -> Result<()> {
    if let (Failure::Error(_), Some(panic)) = (&failure, manager_panic) {
        resume_panic(panic);
    }
    failure.into_result()
}
