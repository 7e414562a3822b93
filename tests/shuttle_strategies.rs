//! Shuttle models of every strategy in the list: the properties of
//! `loom_strategies.rs`, each at 4, 8 and 16 threads with pools of 2, 4
//! and 8, under PCT (bug depths 2 and 3) and shuttle's random scheduler, a
//! fixed budget of iterations each, in a child process per strategy. Run
//! with:
//!
//! ```sh
//! RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle \
//!     cargo test --release --test shuttle_strategies
//! ```
//!
//! `LITEPOOL_LOOM_STRATEGY=<name>` checks one strategy alone;
//! `LITEPOOL_SHUTTLE_ITERATIONS`, `LITEPOOL_SHUTTLE_SEED` and
//! `LITEPOOL_SHUTTLE_SCHEDULER` set the budget, the seed and the one
//! scheduler to run (a failure prints the three that replay it). The suite
//! is written once, in `tests/support/properties.rs`.
#![cfg(shuttle)]

mod support;

support::properties::strategy_suite!();
