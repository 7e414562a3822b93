//! Loom models of group commit (`src/group.rs`), one property per test, and
//! the planted batching bugs they must catch. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --test loom_group
//! ```
//!
//! The properties are written once, in `tests/support/group.rs`; the `///`
//! line of each states it. The group strategy is in the strategy list too,
//! so the strategies' own models (`loom_strategies.rs`) run against it as
//! well.
#![cfg(loom)]

mod support;

use support::group::{self, GroupBug, PLANTED, PROPERTIES, RealBatcher};
use support::loom::{PLANTED_VAR, PROPERTY_VAR, assert_caught_by};

#[test]
fn acknowledged_writes_are_committed() {
    group::acknowledged_writes_are_committed::<RealBatcher>();
}

#[test]
fn a_failed_writes_rows_are_absent_and_the_others_present() {
    group::a_failed_writes_rows_are_absent_and_the_others_present::<RealBatcher>();
}

#[test]
fn a_panicking_write_strands_nobody() {
    group::a_panicking_write_strands_nobody::<RealBatcher>();
}

#[test]
fn a_failed_commit_fails_every_member() {
    group::a_failed_commit_fails_every_member::<RealBatcher>();
}

#[test]
fn a_whole_rollback_fails_every_member_so_far() {
    group::a_whole_rollback_fails_every_member_so_far::<RealBatcher>();
}

#[test]
fn results_reach_the_right_batch() {
    group::results_reach_the_right_batch::<RealBatcher>();
}

#[test]
fn a_writer_that_gives_up_strands_nobody() {
    group::a_writer_that_gives_up_strands_nobody::<RealBatcher>();
}

#[test]
fn close_racing_with_a_batch_strands_nobody() {
    group::close_racing_with_a_batch_strands_nobody::<RealBatcher>();
}

#[test]
fn work_cannot_end_the_shared_transaction() {
    group::work_cannot_end_the_shared_transaction::<RealBatcher>();
}

#[test]
fn close_fails_a_waiting_writer_while_a_write_runs() {
    group::close_fails_a_waiting_writer_while_a_write_runs::<RealBatcher>();
}

#[test]
fn batches_hold_at_most_cap_writes() {
    group::batches_hold_at_most_cap_writes::<RealBatcher>();
}

/// The copy the bugs are planted in passes every property unplanted.
#[test]
fn a_correct_copy_passes() {
    for (_, property) in PROPERTIES {
        property();
    }
}

/// Each planted bug, and the property that must catch it.
const CAUGHT_BY: [(&str, &str, &[&str]); 14] = [
    ("ack-before-commit", "acknowledged_writes_are_committed", &["acknowledged before the COMMIT"]),
    (
        "one-outcome-slot",
        "results_reach_the_right_batch",
        &["acknowledged before the COMMIT", "never acknowledged"],
    ),
    ("failing-last-skips-commit", "a_failed_writes_rows_are_absent_and_the_others_present", &["deadlock"]),
    ("give-up-drops-handed", "a_writer_that_gives_up_strands_nobody", &["deadlock"]),
    ("hand-off-without-wake", "acknowledged_writes_are_committed", &["deadlock"]),
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
    ("cap-off-by-one", "batches_hold_at_most_cap_writes", &["with a cap of 1"]),
    ("closed-handed-leaves", "close_racing_with_a_batch_strands_nobody", &["deadlock"]),
    ("close-wakes-nobody", "close_fails_a_waiting_writer_while_a_write_runs", &["deadlock"]),
];

/// Every property has a planted bug it catches, and every bug is planted.
#[test]
fn every_property_catches_a_planted_bug() {
    for (name, _) in PROPERTIES {
        assert!(CAUGHT_BY.iter().any(|(_, p, _)| p == name), "no planted bug for {name}");
    }
    for (bug, _) in GroupBug::ALL {
        assert!(CAUGHT_BY.iter().any(|(b, _, _)| *b == bug), "{bug} is never planted");
    }
}

#[test]
fn planted_group_bugs_are_caught() {
    for (bug, property, expected) in CAUGHT_BY {
        let model = assert_caught_by("group_planted_child", bug, Some(property), expected);
        assert!(model.contains(property), "{bug} was caught by {model}, not {property}");
    }
}

/// Runs one planted group bug through one property; started by
/// `planted_group_bugs_are_caught` in a child process.
#[test]
#[ignore = "run by planted_group_bugs_are_caught in a child process"]
fn group_planted_child() {
    let bug = std::env::var(PLANTED_VAR).expect("LITEPOOL_PLANTED names the bug");
    let property = std::env::var(PROPERTY_VAR).expect("LITEPOOL_PROPERTY names the property");
    *PLANTED.lock().unwrap() = GroupBug::named(&bug);
    let (_, run) = PROPERTIES.iter().find(|(name, _)| *name == property).expect("a known property");
    run();
}
