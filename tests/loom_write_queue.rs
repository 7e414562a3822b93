//! Loom models of the write queue (`src/write_queue.rs`), one property per
//! test, and the planted queue bugs they must catch. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --test loom_write_queue
//! ```
//!
//! The properties and this suite are declared once, in
//! `tests/support/queue.rs` (the planted bugs in `planted_queue.rs`); the
//! `///` line of each property states it.
//! `shuttle_write_queue.rs` runs the same suite under shuttle, with more
//! writers. The strategies' own models
//! (`loom_strategies.rs`) run through the queue too, since every write path
//! takes a turn.
#![cfg(loom)]

mod support;

support::queue::queue_suite!();
