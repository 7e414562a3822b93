//! Loom models of the write queue (`src/write_queue.rs`), one property per
//! test, and the planted queue bugs they must catch. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --test loom_write_queue
//! ```
//!
//! The properties are written once, in `tests/support/queue.rs`; the `///`
//! line of each states it. The strategies' own models
//! (`loom_strategies.rs`) run through the queue too, since every write path
//! takes a turn.
#![cfg(loom)]

mod support;

use support::loom::{PLANTED_VAR, PROPERTY_VAR, assert_caught_by};
use support::queue::{self, PLANTED, PROPERTIES, PlantedLine, QueueBug, RealLine};

#[test]
fn writers_exclude_each_other() {
    queue::writers_exclude_each_other(RealLine::new);
}

#[test]
fn waiters_take_turns_in_arrival_order() {
    queue::waiters_take_turns_in_arrival_order(RealLine::new);
}

#[test]
fn the_head_is_overtaken_at_most_bound_times() {
    queue::the_head_is_overtaken_at_most_bound_times(RealLine::new);
}

#[test]
fn every_waiter_is_woken() {
    queue::every_waiter_is_woken(RealLine::new);
}

#[test]
fn a_writer_that_times_out_strands_nobody() {
    queue::a_writer_that_times_out_strands_nobody(RealLine::new);
}

#[test]
fn a_writer_that_panics_strands_nobody() {
    queue::a_writer_that_panics_strands_nobody(RealLine::new);
}

#[test]
fn close_wakes_and_fails_its_waiters() {
    queue::close_wakes_and_fails_its_waiters(RealLine::new);
}

#[test]
fn close_racing_with_release_strands_nobody() {
    queue::close_racing_with_release_strands_nobody(RealLine::new);
}

/// The copy the bugs are planted in passes every property unplanted.
#[test]
fn a_correct_copy_passes() {
    for (_, property) in PROPERTIES {
        property(PlantedLine::new);
    }
}

/// Each planted bug, and the property that must catch it.
const CAUGHT_BY: [(&str, &str, &[&str]); 9] = [
    ("take-while-held", "writers_exclude_each_other", &["Causality violation"]),
    ("lifo", "waiters_take_turns_in_arrival_order", &["a later waiter wrote first"]),
    ("unbounded-overtaking", "the_head_is_overtaken_at_most_bound_times", &["was overtaken"]),
    ("no-wake-on-release", "every_waiter_is_woken", &["deadlock"]),
    ("timeout-drops-handed-turn", "a_writer_that_times_out_strands_nobody", &["deadlock"]),
    ("no-release-on-panic", "a_writer_that_panics_strands_nobody", &["deadlock"]),
    ("close-wakes-nobody", "close_wakes_and_fails_its_waiters", &["deadlock"]),
    ("leave-without-waking-next", "close_racing_with_release_strands_nobody", &["deadlock"]),
    ("closed-waiter-keeps-handed-turn", "close_racing_with_release_strands_nobody", &["deadlock"]),
];

/// Every property has a planted bug it catches, and every bug is planted.
#[test]
fn every_property_catches_a_planted_bug() {
    for (name, _) in PROPERTIES {
        assert!(CAUGHT_BY.iter().any(|(_, p, _)| p == name), "no planted bug for {name}");
    }
    for (bug, _) in QueueBug::ALL {
        assert!(CAUGHT_BY.iter().any(|(b, _, _)| *b == bug), "{bug} is never planted");
    }
}

#[test]
fn planted_queue_bugs_are_caught() {
    for (bug, property, expected) in CAUGHT_BY {
        let model = assert_caught_by("queue_planted_child", bug, Some(property), expected);
        assert!(model.contains(property), "{bug} was caught by {model}, not {property}");
    }
}

/// Runs one planted queue bug through one property; started by
/// `planted_queue_bugs_are_caught` in a child process.
#[test]
#[ignore = "run by planted_queue_bugs_are_caught in a child process"]
fn queue_planted_child() {
    let bug = std::env::var(PLANTED_VAR).expect("LITEPOOL_PLANTED names the bug");
    let property = std::env::var(PROPERTY_VAR).expect("LITEPOOL_PROPERTY names the property");
    *PLANTED.lock().unwrap() = QueueBug::named(&bug);
    let (_, run) = PROPERTIES.iter().find(|(name, _)| *name == property).expect("a known property");
    run(PlantedLine::new);
}
