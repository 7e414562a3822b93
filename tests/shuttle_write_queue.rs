//! Shuttle models of the write queue (`src/write_queue.rs`): the
//! properties of `loom_write_queue.rs` with up to twelve writers where loom
//! runs three, and the planted bugs, including one loom's models miss.
//! Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle \
//!     cargo test --release --test shuttle_write_queue
//! ```
//!
//! The suite is written once, in `tests/support/queue.rs`.
#![cfg(shuttle)]

mod support;

support::queue::queue_suite!();
