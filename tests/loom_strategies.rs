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
//! Each property, and this suite, is written once, in
//! `tests/support/properties.rs`; the `///` line of each property states it.
//! `shuttle_strategies.rs` runs the same suite under shuttle, with 4 to 16
//! threads.
#![cfg(loom)]

mod support;

support::properties::strategy_suite!();
