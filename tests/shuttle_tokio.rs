//! Shuttle models of the async facade (`src/tokio.rs`): each cancellation
//! guarantee as a property over the facade's real threads and the fake
//! connection, and the planted bugs that must fail them. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle \
//!     cargo test --release --test shuttle_tokio
//! ```
//!
//! The properties are declared once, in `tests/support/tokio.rs`;
//! `loom_tokio.rs` runs them under loom.
#![cfg(shuttle)]

mod support;

support::tokio::tokio_suite!();
