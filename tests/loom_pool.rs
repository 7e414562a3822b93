//! Loom models of the pool and the per-thread strategy, and the planted pool
//! bugs they must catch. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --test loom_pool
//! ```
//!
//! Each property is written once, in `tests/support/properties.rs`; these tests
//! run it against a subject. The `///` line of each property states it.
#![cfg(loom)]

mod support;

use support::planted::subject;
use support::runner::assert_caught;

/// The fixed-slot pool the planted bugs are made from passes every property
/// when no bug is planted: the models fail on the bugs, not on the design.
#[test]
fn a_correct_slot_pool_passes_every_property() {
    support::runner::all_properties(&subject("slot-pool"));
}

/// Claiming a slot in a second critical section hands one connection to two
/// threads: a causality violation on the fake connection.
#[test]
fn planted_split_claim_is_caught() {
    assert_caught("planted_child", "split-claim", &["Causality violation"]);
}

/// Notifying before the connection is released loses the wake-up: deadlock.
#[test]
fn planted_notify_before_release_is_caught() {
    assert_caught("planted_child", "notify-before-release", &["deadlock"]);
}

/// `notify_one` in `close()` leaves a waiter asleep: deadlock.
#[test]
fn planted_notify_one_on_close_is_caught() {
    let model = assert_caught("planted_child", "notify-one-on-close", &["deadlock"]);
    assert!(model.ends_with("close_wakes_every_waiter"), "caught by {model}");
}

/// Skipping the rollback on return hands out someone else's transaction.
#[test]
fn planted_no_rollback_on_return_is_caught() {
    assert_caught("planted_child", "no-rollback-on-return", &["inside someone else's transaction"]);
}

/// A double decrement on the error path makes `state()` report a count no
/// schedule could produce.
#[test]
fn planted_double_decrement_on_error_is_caught() {
    assert_caught("planted_child", "double-decrement-on-error", &["impossible state"]);
}

/// Rolling back only when the work returned an error hands on the
/// transaction of a thread that panicked.
#[test]
fn planted_reset_only_on_error_is_caught() {
    assert_caught("planted_child", "reset-only-on-error", &["inside someone else's transaction"]);
}

/// Committing in a `finally` commits the rows of a failed write.
#[test]
fn planted_commit_on_error_is_caught() {
    assert_caught("planted_child", "commit-on-error", &["assertion `left == right` failed"]);
}

/// Claiming a free slot before checking `closed` serves calls after
/// `close()`.
#[test]
fn planted_claim_before_closed_check_is_caught() {
    assert_caught("planted_child", "claim-before-closed-check", &["unwrap_err", "opened after close()"]);
}

/// Keeping a connection whose manager reported it broken hands it on.
#[test]
fn planted_keep_broken_connection_is_caught() {
    let model = support::runner::assert_caught_by(
        "planted_child",
        "keep-broken-connection",
        Some("survives_a_broken_connection"),
        &["reported broken"],
    );
    assert!(model.ends_with("survives_a_broken_connection"), "{model}");
}

/// Keeping the slot of a failed open loses it for good: deadlock.
#[test]
fn planted_leak_slot_on_failed_open_is_caught() {
    assert_caught("planted_child", "leak-slot-on-failed-open", &["deadlock"]);
}

/// Every property fails on at least one planted bug: none of them passes
/// whatever the code does.
#[test]
fn every_property_fails_on_a_planted_bug() {
    let teeth: [(&str, &str, &[&str]); 23] = [
        ("no_connection_is_used_by_two_threads_at_once", "split-claim", &["Causality violation"]),
        ("connections_in_use_never_exceed_capacity", "double-decrement-on-error", &["impossible state"]),
        ("every_thread_finishes_with_more_threads_than_connections", "notify-before-release", &["deadlock"]),
        ("committed_rows_equal_acknowledged_inserts", "commit-on-error", &["left == right"]),
        (
            "a_connection_returned_mid_transaction_is_reset",
            "no-rollback-on-return",
            &["someone else's transaction"],
        ),
        (
            "a_panic_mid_write_leaves_no_open_transaction",
            "reset-only-on-error",
            &["someone else's transaction"],
        ),
        ("close_racing_with_use_answers_every_call", "claim-before-closed-check", &["unwrap_err"]),
        ("close_closes_idle_connections_and_opens_no_more", "close-keeps-idle", &["outlived close()"]),
        (
            "work_that_ends_the_transaction_is_not_acknowledged",
            "commit-if-still-open",
            &["committed on its own was acknowledged"],
        ),
        ("survives_a_failing_connect", "leak-slot-on-failed-open", &["deadlock"]),
        ("survives_a_panicking_connect", "leak-slot-on-panicking-connect", &["deadlock"]),
        ("survives_a_failing_commit", "ignore-commit-error", &["differ from acknowledged"]),
        (
            "survives_a_failing_rollback",
            "keep-after-failed-reset",
            &["within a transaction", "someone else's transaction"],
        ),
        (
            "survives_a_failing_reset",
            "keep-after-failed-reset",
            &["within a transaction", "someone else's transaction"],
        ),
        ("survives_a_panicking_reset", "leak-slot-on-panicking-return", &["deadlock"]),
        ("survives_a_broken_connection", "no-wake-on-discard", &["deadlock"]),
        ("survives_a_panicking_is_broken", "leak-slot-on-panicking-return", &["deadlock"]),
        ("close_wakes_every_waiter", "notify-one-on-close", &["deadlock"]),
        ("write_transactions_never_mix", "unlock-before-commit", &["Causality violation"]),
        ("a_failed_open_gives_its_slot_back", "leak-slot-on-failed-open", &["deadlock"]),
        (
            "reads_never_see_an_open_write_transaction",
            "read-from-writer",
            &["Causality violation", "a read saw"],
        ),
        ("writes_never_overlap", "unlock-before-commit", &["Causality violation", "within a transaction"]),
        (
            "one_writer_connection_and_read_only_readers",
            "second-writer",
            &["more than one writer connection"],
        ),
    ];
    for (property, bug, expected) in teeth {
        let model = support::runner::assert_caught_by("planted_child", bug, Some(property), expected);
        assert!(model.ends_with(property), "{bug} was caught by {model}, not {property}");
    }
}

/// Runs one planted bug through every property; started by the tests above
/// in a child process.
#[test]
#[ignore = "run by the planted_* tests in a child process"]
fn planted_child() {
    support::runner::run_planted_child();
}
