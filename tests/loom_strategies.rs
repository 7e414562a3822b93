//! Loom models of every strategy in the list: one test per property, each
//! running it against every listed strategy that makes the promise it
//! checks, in a child process per strategy. A strategy joins by its line in
//! `src/lib.rs`; nothing here names one. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --test loom_strategies
//! ```
//!
//! and add `LITEPOOL_LOOM_STRATEGY=<name>` to check one strategy alone.
//! Each property is written once, in `tests/support/loom.rs`; the `///` line
//! of each states it.
#![cfg(loom)]

mod support;

support::loom::strategy_tests!(
    no_connection_is_used_by_two_threads_at_once,
    connections_in_use_never_exceed_capacity,
    every_thread_finishes_with_more_threads_than_connections,
    committed_rows_equal_acknowledged_inserts,
    a_connection_returned_mid_transaction_is_reset,
    a_panic_mid_write_leaves_no_open_transaction,
    close_racing_with_use_answers_every_call,
    a_failed_open_gives_its_slot_back,
    write_transactions_never_mix,
    reads_never_see_an_open_write_transaction,
    writes_never_overlap,
    close_closes_idle_connections_and_opens_no_more,
    work_that_ends_the_transaction_is_not_acknowledged,
    survives_a_failing_connect,
    survives_a_panicking_connect,
    survives_a_failing_commit,
    survives_a_failing_rollback,
    survives_a_failing_reset,
    survives_a_panicking_reset,
    survives_a_broken_connection,
    survives_a_panicking_is_broken,
    close_wakes_every_waiter,
    one_writer_connection_and_read_only_readers,
);

/// Every property the harness defines has a test above, so none is left
/// unchecked for any strategy.
#[test]
fn every_property_has_a_test() {
    let defined: Vec<&str> = support::loom::PROPERTIES.iter().map(|(name, _)| *name).collect();
    let mut missing: Vec<&str> = defined.iter().copied().filter(|p| !TESTED.contains(p)).collect();
    missing.extend(TESTED.iter().filter(|p| !defined.contains(p)));
    assert!(missing.is_empty(), "properties without a test, or tests without a property: {missing:?}");
}

/// Every listed strategy is checked by every property but the few that
/// check a promise only some strategies make.
#[test]
fn every_listed_strategy_is_checked_by_every_unconditional_property() {
    let unconditional: Vec<&str> = support::loom::PROPERTIES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !support::loom::CONDITIONAL.contains(name))
        .collect();
    assert!(unconditional.len() >= 16, "{unconditional:?}");
    for subject in support::loom::real_subjects() {
        for property in &unconditional {
            assert!(support::loom::applies(property, &subject), "{} skips {property}", subject.name);
        }
    }
}
