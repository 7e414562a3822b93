//! Loom models of the locked connection, the planted lock bug, and the
//! tutorial's unsafe shared connection. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --test loom_locked
//! ```
#![cfg(loom)]

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use litepool::Locked;
use litepool::fake::FakeDatabase;
use litepool::strategy::Transactional;
use loom::sync::Arc;
use loom::thread;
use support::checker::{EXPECTED_PANIC, check};
use support::runner::assert_caught;

/// Two threads each doing begin/insert/insert/commit by hand through `with`
/// never mix their transactions.
#[test]
fn transactions_by_hand_through_with_never_mix() {
    check("locked::transactions_by_hand_through_with_never_mix", 2, || {
        let db = FakeDatabase::new();
        let locked = Arc::new(Locked::open(db.manager()).unwrap());
        let by_hand = |locked: &Locked<litepool::fake::FakeManager>| {
            locked.with(|c| {
                c.begin_immediate()?;
                c.insert()?;
                c.insert()?;
                assert_eq!(c.pending(), 2, "another thread's rows are in this transaction");
                c.commit()
            })
        };
        let other = {
            let locked = locked.clone();
            thread::spawn(move || by_hand(&locked))
        };
        by_hand(&locked).unwrap();
        other.join().unwrap().unwrap();
        assert_eq!(db.committed(), 4);
    });
}

/// A panic inside `with`, mid-transaction, leaves the connection without an
/// open transaction and the lock usable.
#[test]
fn a_panic_inside_with_leaves_no_open_transaction() {
    check("locked::a_panic_inside_with_leaves_no_open_transaction", 2, || {
        let db = FakeDatabase::new();
        let locked = Arc::new(Locked::open(db.manager()).unwrap());
        let panicker = {
            let locked = locked.clone();
            thread::spawn(move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    locked.with(|c| -> litepool::Result<()> {
                        c.begin_immediate()?;
                        c.insert()?;
                        panic!("{EXPECTED_PANIC}");
                    })
                }));
                assert!(outcome.is_err());
            })
        };
        assert!(!locked.with(|c| Ok(c.in_transaction())).unwrap());
        panicker.join().unwrap();
        assert_eq!(locked.with(|c| Ok((c.in_transaction(), c.pending()))).unwrap(), (false, 0));
        assert_eq!(db.committed(), 0);
    });
}

/// Releasing the lock before `COMMIT` lets another thread into the open
/// transaction: caught.
#[test]
fn planted_unlock_before_commit_is_caught() {
    assert_caught(
        "planted_child",
        "unlock-before-commit",
        &["Causality violation", "another thread's rows", "within a transaction"],
    );
}

/// The tutorial's unsafe example, forced through an `unsafe impl Sync`:
/// loom reports the two threads' unsynchronised use of one connection.
#[test]
fn the_tutorials_shared_connection_is_caught() {
    assert_caught("planted_child", "tutorial-shared-connection", &["Causality violation"]);
}

/// Runs one planted bug through every property; started by the tests above
/// in a child process.
#[test]
#[ignore = "run by the planted_* tests in a child process"]
fn planted_child() {
    support::runner::run_planted_child();
}
