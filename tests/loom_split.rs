//! Loom models of the split pool (one writer, many read-only readers), and
//! the planted split bugs they must catch. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --test loom_split
//! ```
#![cfg(loom)]

mod support;

use support::runner::{assert_caught, assert_caught_by};

/// A read served from the writer, without its lock, races the write's open
/// transaction: caught.
#[test]
fn planted_read_from_writer_is_caught() {
    assert_caught("planted_child", "read-from-writer", &["Causality violation", "a read saw"]);
    let model = assert_caught_by(
        "planted_child",
        "read-from-writer",
        Some("reads_never_see_an_open_write_transaction"),
        &["Causality violation", "a read saw"],
    );
    assert!(model.ends_with("reads_never_see_an_open_write_transaction"), "{model}");
}

/// A second read-write connection for writes is caught by the
/// one-writer property.
#[test]
fn planted_second_writer_is_caught() {
    let model = assert_caught_by(
        "planted_child",
        "second-writer",
        Some("one_writer_connection_and_read_only_readers"),
        &["more than one writer connection"],
    );
    assert!(model.ends_with("one_writer_connection_and_read_only_readers"), "{model}");
}

/// Runs one planted bug through every property (or one, if
/// `LITEPOOL_PROPERTY` is set); started by the tests above in a child
/// process.
#[test]
#[ignore = "run by the planted_* tests in a child process"]
fn planted_child() {
    support::runner::run_planted_child();
}
