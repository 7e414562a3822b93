//! Shuttle models of group commit (`src/group.rs`): the properties of
//! `loom_group.rs` with eleven writers where loom runs two, batches of four
//! and eight where loom's hold two, and the planted bugs, including those
//! that need more threads than loom can run. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle \
//!     cargo test --release --test shuttle_group
//! ```
//!
//! The suite is written once, in `tests/support/group.rs`.
#![cfg(shuttle)]

mod support;

support::group::group_suite!();
