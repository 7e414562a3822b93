//! What each batch came to, kept until every member has heard it, and what
//! a `COMMIT` costs.
//!
//! Outcomes are kept per batch number, not in one slot: a member may wake
//! only after later batches have ended, and must hear its own batch's.
//! Batches end in number order, so a member of a batch that has ended and
//! left no outcome for it will never find one: it hears
//! [`ErrorKind::Internal`](crate::ErrorKind::Internal) instead of waiting
//! for ever.

use std::collections::VecDeque;
use std::time::Duration;

use crate::error::{Error, Result};

/// The outcomes of ended batches, until their members collect them.
pub(super) struct Outcomes {
    kept: VecDeque<Outcome>,
    /// Batches below this number have ended.
    ended: u64,
}

struct Outcome {
    batch: u64,
    /// `None`: committed.
    failure: Option<Error>,
    /// Members that have not yet collected it.
    uncollected: usize,
}

impl Outcomes {
    pub(super) fn new() -> Outcomes {
        Outcomes { kept: VecDeque::new(), ended: 0 }
    }

    /// Batch `batch` ended, committed (`failure` is `None`) or not, and
    /// `waiting` members will collect its outcome.
    pub(super) fn end(&mut self, batch: u64, failure: Option<&Error>, waiting: usize) {
        if waiting > 0 {
            self.kept.push_back(Outcome { batch, failure: failure.map(Error::copy), uncollected: waiting });
        }
        self.ended = batch + 1;
    }

    /// Batch `batch`'s outcome for one of its members, or `None` while it
    /// has not ended. The last member to collect it removes it.
    pub(super) fn collect(&mut self, batch: u64) -> Option<Result<()>> {
        let Some(at) = self.kept.iter().position(|o| o.batch == batch) else {
            return (self.ended > batch).then(|| Err(Error::outcome_lost(batch)));
        };
        let outcome = &mut self.kept[at];
        outcome.uncollected -= 1;
        let failure = outcome.failure.as_ref().map(Error::copy);
        if outcome.uncollected == 0 {
            self.kept.remove(at);
        }
        Some(failure.map_or(Ok(()), Err))
    }
}

/// Folds `sample` into a moving average (weight 1/8).
pub(super) fn average(cost: Duration, sample: Duration) -> Duration {
    cost - cost / 8 + sample / 8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::group::GroupCommit;
    use crate::manager::SqliteManager;
    use crate::sync::costs_more;

    /// Every member hears its own batch's outcome, however late it looks,
    /// and the last one to collect it removes it (a count that never
    /// reached zero would keep every outcome for ever).
    #[test]
    fn each_member_collects_its_own_batch_and_the_last_removes_it() {
        let mut outcomes = Outcomes::new();
        assert!(outcomes.collect(0).is_none(), "batch 0 has not ended");
        outcomes.end(0, None, 2);
        let failed = Error::new(ErrorKind::Aborted, "batch 1 rolled back");
        outcomes.end(1, Some(&failed), 1);
        assert!(outcomes.collect(2).is_none(), "batch 2 has not ended");
        assert_eq!(outcomes.collect(1).map(|r| r.unwrap_err().kind()), Some(ErrorKind::Aborted));
        assert!(matches!(outcomes.collect(0), Some(Ok(()))));
        assert!(matches!(outcomes.collect(0), Some(Ok(()))));
        assert!(outcomes.kept.is_empty(), "outcomes kept after every member collected them");
    }

    /// A member of a batch that ended without leaving it an outcome fails
    /// at once, naming the bug, instead of waiting for ever.
    #[test]
    fn a_member_of_a_batch_that_left_no_outcome_hears_an_internal_error() {
        let mut outcomes = Outcomes::new();
        outcomes.end(0, None, 0);
        let lost = outcomes.collect(0).expect("batch 0 has ended").unwrap_err();
        assert_eq!(lost.kind(), ErrorKind::Internal);
        assert!(lost.to_string().contains("lost the outcome of batch 0"), "{lost}");
    }

    /// After a run of writes from several threads, batched or alone, every
    /// outcome has been collected and none is kept: each batch leaves its
    /// outcome for exactly the members still to collect it.
    #[test]
    fn no_outcome_is_kept_after_a_run_of_writes() {
        use crate::access::AccessExt;
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
        assert!(group.next_batch > 0, "no batch ended");
        assert_eq!(group.outcomes.kept.len(), 0, "outcomes kept after every member collected its own");
    }

    /// The moving average behind the batching decision weighs a new
    /// sample 1/8: a run of cheap commits brings it below `BATCH_ABOVE`
    /// in a few dozen commits, a slow one raises it by an eighth.
    #[test]
    fn the_commit_cost_is_a_moving_average_of_weight_one_eighth() {
        let us = Duration::from_micros;
        assert_eq!(average(us(800), us(0)), us(700));
        assert_eq!(average(us(0), us(800)), us(100));
        assert_eq!(average(us(800), us(800)), us(800));
        let mut cost = Duration::from_millis(1);
        let commits = (1..).find(|_| {
            cost = average(cost, us(5));
            !costs_more(cost, GroupCommit::<SqliteManager>::BATCH_ABOVE)
        });
        assert_eq!(commits, Some(32), "cheap commits turn batching off after 32");
    }
}
