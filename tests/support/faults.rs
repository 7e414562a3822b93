//! The fault models: a strategy under one injected fault (`Fault`), with
//! more callers than connections, some writing, some leaving a
//! transaction open, one failing. The fault properties
//! (`survives_a_*` in `properties.rs`) are each this model under one fault.

use std::panic::{AssertUnwindSafe, catch_unwind};

use litepool::Result;
use litepool::fake::{FakeConnection, Fault};
use litepool::strategy::Connections;

use crate::support::checker::Scale;
use crate::support::runner::{Fake, Subject, assert_clean, insert, join_all, model, spawn_each};

/// One caller's part in a fault model: `Write` inserts a row, `Abandon`
/// leaves a transaction open (so its connection must be reset), `Fail`
/// writes a row and then fails. Returns the rows acknowledged.
#[derive(Clone, Copy, Debug)]
enum Role {
    Write,
    Abandon,
    Fail,
}

fn abandon(c: &FakeConnection) -> Result<()> {
    // A read transaction left open; on a read-write connection it also
    // takes the write lock, which only a reset or a close gives back.
    c.begin_deferred()?;
    if !c.is_read_only() {
        c.insert()?;
    }
    Ok(())
}

/// Plays `role`; returns the rows acknowledged and the rows whose outcome
/// the caller cannot know: a write whose call panicked after its COMMIT
/// (a manager's `is_broken` panicking on the return path) may be stored.
fn play(access: &Fake, role: Role) -> (usize, usize) {
    let outcome = catch_unwind(AssertUnwindSafe(|| match role {
        Role::Write => access.write_with(&mut insert).map(|()| 1),
        Role::Abandon => access.read_with(&mut abandon).map(|()| 0),
        Role::Fail => access
            .write_with(&mut |c| {
                c.insert()?;
                c.fail()
            })
            .map(|()| panic!("a failing write was acknowledged")),
    }));
    match outcome {
        Ok(Ok(rows)) => (rows, 0),
        // Only the injected fault may fail a call that did nothing wrong: an
        // open that fails (Init) or a commit that fails (Busy). Anything else,
        // "within a transaction" above all, is a strategy bug.
        Ok(Err(e)) => {
            // A batching strategy's write also fails, Aborted, when a fault
            // in another write of its batch rolled the batch back.
            let injected = matches!(
                e.kind(),
                litepool::ErrorKind::Init | litepool::ErrorKind::Busy | litepool::ErrorKind::Aborted
            );
            assert!(injected || matches!(role, Role::Fail), "{role:?} failed: {e}");
            (0, 0)
        }
        // An injected panic, resumed in the caller's thread; any other
        // panic is a failed check and goes on.
        Err(panic) => {
            if !crate::support::panic_message(&*panic).contains(litepool::fake::INJECTED_PANIC) {
                std::panic::resume_unwind(panic);
            }
            (0, usize::from(matches!(role, Role::Write)))
        }
    }
}

/// Under one injected fault, with more callers than connections: every
/// call returns (no deadlock, no lost wake-up), only the injected fault
/// fails a call, and afterwards the strategy is at full capacity, hands out
/// a clean connection (never one whose reset failed, never one reported
/// broken), and has counted exactly the rows it acknowledged.
pub fn survives(subject: &Subject, fault: Fault, property: &str) {
    let keeps_none = matches!(subject.connections, Connections::PerCall);
    let loom = Scale { threads: 3, pool: 1 };
    model(subject, property, loom, move |access, db, scale| {
        // First make the strategy discard its warm connection, so that an
        // open is needed again: Locked and the split writer open theirs at
        // build time, and an open fault must reach them too.
        // (A strategy that keeps no connection opens one for every call.)
        if !keeps_none {
            db.inject(Fault::Broken, 1);
            access.read_with(&mut |_| Ok(())).unwrap();
            assert_eq!(db.pending(Fault::Broken), 0, "is_broken was never asked");
        }
        db.inject(fault, 1);
        // Writers and abandoners in turn, beside this thread's failing write.
        let others = spawn_each(&access, scale.helpers(), |i, access| {
            play(access, if i % 2 == 0 { Role::Write } else { Role::Abandon })
        });
        let (mut acknowledged, mut unknown) = play(&**access, Role::Fail);
        for (acked, maybe) in join_all(others) {
            (acknowledged, unknown) = (acknowledged + acked, unknown + maybe);
        }
        access.read_with(&mut assert_clean).unwrap();
        access.write_with(&mut insert).unwrap();
        access.read_with(&mut assert_clean).unwrap();
        let committed = db.committed();
        assert!(
            (acknowledged + 1..=acknowledged + 1 + unknown).contains(&committed),
            "committed rows differ from acknowledged ones: {committed} committed, {} acknowledged, \
             {unknown} unknown",
            acknowledged + 1
        );
        let state = access.state();
        assert_eq!((state.in_use, state.waiting), (0, 0), "after every call returned: {state:?}");
        assert_eq!(db.pending(fault), 0, "the model never reached the injected {fault:?}");
    });
}
