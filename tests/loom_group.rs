//! Loom models of group commit (`src/group.rs`), one property per test, and
//! the planted batching bugs they must catch. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --test loom_group
//! ```
//!
//! The properties and this suite are declared once, in
//! `tests/support/group.rs` (the planted bugs in `planted_group.rs`); the
//! `///` line of each property states it.
//! `shuttle_group.rs` runs the same suite under shuttle, with more
//! threads. The group strategy is in the strategy list too, so the
//! strategies' own models (`loom_strategies.rs`) run against it as well.
#![cfg(loom)]

mod support;

support::group::group_suite!();
