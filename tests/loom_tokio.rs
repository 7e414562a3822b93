//! Loom models of the async facade (`src/tokio.rs`): each cancellation
//! guarantee as a property over the facade's real threads and the fake
//! connection, and the planted bugs that must fail them. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --test loom_tokio
//! ```
//!
//! The properties are declared once, in `tests/support/tokio.rs`;
//! `shuttle_tokio.rs` runs them under shuttle.
#![cfg(loom)]

mod support;

support::tokio::tokio_suite!();
