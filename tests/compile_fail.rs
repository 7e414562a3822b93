//! The tutorial's unsafe pattern is rejected by the compiler before anything
//! runs: `rusqlite::Connection` is `Send` but not `Sync`.
#![cfg(not(loom))]

/// Sharing one `rusqlite::Connection` between threads through an `Arc` does
/// not compile; the expected error is in `tests/compile_fail/*.stderr`
/// (regenerate with `TRYBUILD=overwrite cargo test --test compile_fail`).
#[test]
fn sharing_a_connection_between_threads_does_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/compile_fail/*.rs");
}
