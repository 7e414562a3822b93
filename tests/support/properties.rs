//! The properties every listed strategy is model-checked against, each
//! declared once: its name, the promise it checks (`if (…)`, when only some
//! strategies make it), and its body. [`properties!`](crate::support::runner)
//! makes of the declarations the functions, the table [`PROPERTIES`], and
//! `strategy_suite!`, which `loom_strategies.rs` and `shuttle_strategies.rs`
//! expand into one test per property.
//!
//! Each model opens a fresh [`FakeDatabase`](litepool::fake::FakeDatabase),
//! runs a few threads through the strategy's [`Access`](litepool::Access)
//! methods, and checks what it states. Every model also checks, after the
//! strategy is dropped, that every connection opened was closed exactly
//! once; loom adds its own leak check on `loom::sync::Arc`, which every fake
//! connection holds. The fake connection makes any use of one connection by
//! two threads without a happens-before edge a `Causality violation`, in
//! every model.

use std::panic::{AssertUnwindSafe, catch_unwind};

use litepool::Result;
use litepool::fake::{FakeConnection, Fault};
use litepool::strategy::{Connections, Sizing, Transactional};

use crate::support::checker::{Arc, AtomicUsize, EXPECTED_PANIC, Ordering, Scale, thread};
use crate::support::faults::survives;
use crate::support::runner::{
    Fake, Subject, assert_clean, insert, join_all, model, properties, spawn_each, thread_local_connections,
};

/// Whether a strategy keeps connections between calls, and so has a
/// return path whose faults its models inject.
fn keeps_connections(subject: &Subject) -> bool {
    !matches!(subject.connections, Connections::PerCall)
}

properties! {
    /// No connection is ever used by two threads at once.
    fn no_connection_is_used_by_two_threads_at_once(subject, property) {
        let loom = Scale { threads: 3, pool: 2 };
        model(subject, property, loom, |access, _, scale| {
            let writers = spawn_each(&access, scale.helpers(), |_, access| access.write_with(&mut insert));
            access
                .read_with(&mut |c| {
                    let _ = c.count();
                    Ok(())
                })
                .unwrap();
            join_all(writers).into_iter().for_each(|r| r.unwrap());
        });
    }

    /// The connections in use never exceed the strategy's capacity, and
    /// `state()` never reports a count no schedule could produce, even when a
    /// work callback fails.
    fn connections_in_use_never_exceed_capacity(subject, property) {
        let connections = subject.connections;
        let loom = Scale { threads: 3, pool: 2 };
        model(subject, property, loom, move |access, _, scale| {
            let capacity = connections.limit(Sizing::pool_size(scale.pool), scale.threads);
            let inside = Arc::new(AtomicUsize::new(0));
            let observe = move |access: &Fake, inside: &AtomicUsize| {
                access.read_with(&mut |_| {
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(now <= capacity, "{now} connections in use, capacity {capacity}");
                    let state = access.state();
                    assert!(
                        (1..=capacity).contains(&state.in_use) && state.idle + state.in_use <= capacity,
                        "impossible state {state:?} with capacity {capacity} while holding one"
                    );
                    inside.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
            };
            let handles = {
                let inside = inside.clone();
                spawn_each(&access, scale.helpers(), move |i, access| {
                    if i % 2 == 0 {
                        let failed = access.read_with(&mut |c| c.fail());
                        assert!(failed.is_err());
                    }
                    observe(access, &inside)
                })
            };
            observe(&**access, &inside).unwrap();
            join_all(handles).into_iter().for_each(|r| r.unwrap());
            let state = access.state();
            assert_eq!(state.in_use, 0, "{state:?} after every thread returned");
            assert!(state.idle <= capacity, "{state:?}");
        });
    }

    /// With more threads than connections, every thread finishes: no lost
    /// wake-up, no deadlock.
    fn every_thread_finishes_with_more_threads_than_connections(subject, property) {
        let loom = Scale { threads: 3, pool: 1 };
        model(subject, property, loom, |access, db, scale| {
            let writers = spawn_each(&access, scale.helpers(), |_, access| {
                access.write_with(&mut insert)?;
                access.write_with(&mut insert)
            });
            access.write_with(&mut insert).unwrap();
            join_all(writers).into_iter().for_each(|r| r.unwrap());
            assert_eq!(db.committed(), 2 * scale.helpers() + 1);
        });
    }

    /// The committed count equals the acknowledged inserts: none lost, none
    /// doubled, none from a failed write.
    fn committed_rows_equal_acknowledged_inserts(subject, property) {
        let loom = Scale { threads: 3, pool: 2 };
        model(subject, property, loom, |access, db, scale| {
            // Writers of two rows, failing writers and (beyond loom's scale)
            // writers of one, in turn.
            let writers = spawn_each(&access, scale.helpers(), |i, access| match i % 3 {
                0 => access
                    .write_with(&mut |c| {
                        c.insert()?;
                        c.insert()
                    })
                    .map(|()| 2)
                    .unwrap(),
                1 => {
                    let result = access.write_with(&mut |c| {
                        c.insert()?;
                        c.fail()
                    });
                    assert!(result.is_err(), "the failing write was acknowledged");
                    0
                }
                _ => access.write_with(&mut insert).map(|()| 1).unwrap(),
            });
            let mine = access.write_with(&mut insert).map(|()| 1).unwrap();
            let acknowledged = mine + join_all(writers).into_iter().sum::<usize>();
            assert_eq!(db.committed(), acknowledged);
        });
    }

    /// A connection given back inside an open transaction is never handed to
    /// the next thread with that transaction still open.
    fn a_connection_returned_mid_transaction_is_reset(subject, property) {
        let loom = Scale { threads: 2, pool: 1 };
        model(subject, property, loom, |access, db, scale| {
            let leavers = spawn_each(&access, scale.helpers(), |_, access| {
                access.read_with(&mut |c| {
                    // A read transaction left open; on a read-write
                    // connection it also takes the write lock.
                    c.begin_deferred()?;
                    if !c.is_read_only() {
                        c.insert()?;
                    }
                    Ok(())
                })
            });
            access.read_with(&mut assert_clean).unwrap();
            join_all(leavers).into_iter().for_each(|r| r.unwrap());
            access.read_with(&mut assert_clean).unwrap();
            assert_eq!(db.committed(), 0, "an abandoned transaction was committed");
        });
    }

    /// A connection held by a thread that panics mid-write is never handed on
    /// with that transaction open, and its rows are not committed.
    fn a_panic_mid_write_leaves_no_open_transaction(subject, property) {
        let loom = Scale { threads: 2, pool: 1 };
        model(subject, property, loom, |access, db, scale| {
            let panickers = spawn_each(&access, scale.helpers(), |_, access| {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    access.write_with(&mut |c| {
                        c.insert()?;
                        panic!("{EXPECTED_PANIC}");
                    })
                }));
                assert!(outcome.is_err(), "the planted panic did not happen");
            });
            access.read_with(&mut assert_clean).unwrap();
            join_all(panickers);
            access.read_with(&mut assert_clean).unwrap();
            access.write_with(&mut insert).unwrap();
            assert_eq!(db.committed(), 1, "rows of a panicked write were committed");
        });
    }

    /// `close()` racing with reads and writes: every call either succeeds or
    /// fails with a closed error, and every connection is closed exactly once.
    fn close_racing_with_use_answers_every_call(subject, property) {
        let loom = Scale { threads: 3, pool: 1 };
        model(subject, property, loom, |access, db, scale| {
            // Writers and readers in turn; each returns whether it wrote.
            let callers = spawn_each(&access, scale.helpers(), |i, access| {
                let (wrote, result) = if i % 2 == 0 {
                    let result = access.write_with(&mut insert);
                    (result.is_ok(), result)
                } else {
                    (false, access.read_with(&mut |_| Ok(())))
                };
                if let Err(e) = result {
                    assert!(e.is_closed(), "{e}");
                }
                usize::from(wrote)
            });
            access.close();
            let wrote: usize = join_all(callers).into_iter().sum();
            assert_eq!(db.committed(), wrote);
            assert!(access.read_with(&mut |_| Ok(())).unwrap_err().is_closed());
            let state = access.state();
            assert_eq!((state.idle, state.in_use, state.waiting), (0, 0, 0), "after close and every return");
        });
    }

    /// After `close()`: the idle connections are closed at once (not at drop),
    /// a call racing with the close either succeeds or fails closed, and no
    /// call, on any thread, ever opens a connection again.
    fn close_closes_idle_connections_and_opens_no_more(subject, property) {
        let thread_local = thread_local_connections(subject);
        let loom = Scale { threads: 2, pool: 2 };
        model(subject, property, loom, move |access, db, scale| {
            access.write_with(&mut insert).unwrap();
            let racers = spawn_each(&access, scale.helpers(), |_, access| access.write_with(&mut insert));
            access.close();
            for result in join_all(racers) {
                if let Err(e) = result {
                    assert!(e.is_closed(), "{e}");
                }
            }
            if !thread_local {
                // Every caller has returned: nothing may still be open.
                assert_eq!(db.opened(), db.closed(), "a connection outlived close() once returned");
            }
            let opened = db.opened();
            assert!(access.read_with(&mut |_| Ok(())).unwrap_err().is_closed());
            assert!(access.write_with(&mut insert).unwrap_err().is_closed());
            let late = {
                let access = access.clone();
                thread::spawn(move || access.read_with(&mut |_| Ok(())))
            };
            assert!(late.join().unwrap().unwrap_err().is_closed());
            assert_eq!(db.opened(), opened, "a connection was opened after close()");
            let state = access.state();
            assert_eq!((state.idle, state.in_use, state.waiting), (0, 0, 0), "after close: {state:?}");
        });
    }

    /// The work ends litepool's transaction itself (a `COMMIT` of its own):
    /// the write is not acknowledged, the next caller gets a clean connection.
    fn work_that_ends_the_transaction_is_not_acknowledged(subject, property) {
        let loom = Scale { threads: 2, pool: 1 };
        model(subject, property, loom, |access, db, scale| {
            let others = spawn_each(&access, scale.helpers(), |_, access| access.read_with(&mut assert_clean));
            let ended = access.write_with(&mut |c| {
                c.insert()?;
                c.commit()
            });
            assert!(ended.is_err(), "a write whose work committed on its own was acknowledged");
            join_all(others).into_iter().for_each(|r| r.unwrap());
            access.write_with(&mut insert).unwrap();
            access.read_with(&mut assert_clean).unwrap();
            // The row the work committed itself is there; it was never
            // acknowledged as a write.
            assert_eq!(db.committed(), 2);
        });
    }

    /// `close()` wakes every thread waiting for a connection, and each fails
    /// with a closed error (strategies with waiters only).
    fn close_wakes_every_waiter(subject, property) if (subject.counts_waiters) {
        assert!(subject.counts_waiters, "{} has no waiters", subject.name);
        let loom = Scale { threads: 3, pool: 1 };
        model(subject, property, loom, |access, _, scale| {
            // The main thread holds the only connection while the waiters wait,
            // closes, and joins them before giving it back: only close() can
            // release them.
            access
                .read_with(&mut |_| {
                    let waiters =
                        spawn_each(&access, scale.helpers(), |_, access| access.read_with(&mut |_| Ok(())));
                    access.close();
                    for result in join_all(waiters) {
                        assert!(result.unwrap_err().is_closed());
                    }
                    Ok(())
                })
                .unwrap();
        });
    }

    /// Two threads' write transactions never mix: each sees exactly its own
    /// pending rows, and both commit.
    fn write_transactions_never_mix(subject, property) if (!subject.batches_writes) {
        let loom = Scale { threads: 2, pool: 1 };
        model(subject, property, loom, |access, db, scale| {
            fn two_rows(c: &FakeConnection) -> Result<()> {
                c.insert()?;
                c.insert()?;
                assert_eq!(c.pending(), 2, "another thread's rows are in this transaction");
                Ok(())
            }
            let others = spawn_each(&access, scale.helpers(), |_, access| access.write_with(&mut two_rows));
            access.write_with(&mut two_rows).unwrap();
            join_all(others).into_iter().for_each(|r| r.unwrap());
            assert_eq!(db.committed(), 2 * scale.threads);
        });
    }

    /// A connection that fails to open gives its slot back: the failure is
    /// reported to its caller alone, and the others, and later calls, proceed.
    fn a_failed_open_gives_its_slot_back(subject, property) {
        let loom = Scale { threads: 3, pool: 1 };
        model(subject, property, loom, |access, db, scale| {
            db.inject(Fault::ConnectFails, 1);
            let writers = spawn_each(&access, scale.helpers(), |_, access| access.write_with(&mut insert));
            let mut acknowledged = 0;
            for result in join_all(writers) {
                match result {
                    Ok(()) => acknowledged += 1,
                    Err(e) => assert_eq!(e.kind(), litepool::ErrorKind::Init, "{e}"),
                }
            }
            access.write_with(&mut insert).unwrap();
            assert_eq!(db.committed(), acknowledged + 1);
            assert_eq!(access.state().in_use, 0, "{:?}", access.state());
        });
    }

    /// A read never sees another thread's open write transaction: it sees the
    /// rows before that transaction or after its commit, never half of it.
    fn reads_never_see_an_open_write_transaction(subject, property) {
        let loom = Scale { threads: 2, pool: 1 };
        model(subject, property, loom, |access, db, scale| {
            let writers = spawn_each(&access, scale.helpers(), |_, access| {
                access.write_with(&mut |c| {
                    c.insert()?;
                    c.insert()
                })
            });
            access
                .read_with(&mut |c| {
                    let seen = c.count();
                    assert!(seen % 2 == 0, "a read saw {seen} rows of two-row writes");
                    Ok(())
                })
                .unwrap();
            join_all(writers).into_iter().for_each(|r| r.unwrap());
            assert_eq!(db.committed(), 2 * scale.helpers());
        });
    }

    /// Two writes never overlap: at most one write's work runs at a time.
    fn writes_never_overlap(subject, property) {
        let loom = Scale { threads: 3, pool: 2 };
        model(subject, property, loom, |access, db, scale| {
            let writing = Arc::new(AtomicUsize::new(0));
            let write = move |access: &Fake, writing: &AtomicUsize| {
                access.write_with(&mut |c| {
                    let now = writing.fetch_add(1, Ordering::SeqCst) + 1;
                    assert_eq!(now, 1, "two writes overlap");
                    c.insert()?;
                    writing.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
            };
            let writers = {
                let writing = writing.clone();
                spawn_each(&access, scale.helpers(), move |_, access| write(access, &writing))
            };
            write(&**access, &writing).unwrap();
            join_all(writers).into_iter().for_each(|r| r.unwrap());
            assert_eq!(db.committed(), scale.threads);
        });
    }

    /// A split pool opens exactly one read-write connection, however many
    /// threads write, and serves reads on read-only connections.
    fn one_writer_connection_and_read_only_readers(subject, property) if (subject.one_writer) {
        let loom = Scale { threads: 3, pool: 2 };
        model(subject, property, loom, |access, db, scale| {
            let writers = spawn_each(&access, scale.helpers(), |_, access| access.write_with(&mut insert));
            access
                .read_with(&mut |c| {
                    assert!(c.is_read_only(), "a read ran on a read-write connection");
                    Ok(())
                })
                .unwrap();
            join_all(writers).into_iter().for_each(|r| r.unwrap());
            assert_eq!(db.opened_read_write(), 1, "more than one writer connection");
        });
    }

        /// [`survives`] under `Fault::ConnectFails`.
        fn survives_a_failing_connect(subject, property) {
            survives(subject, Fault::ConnectFails, property);
        }

        /// [`survives`] under `Fault::ConnectPanics`.
        fn survives_a_panicking_connect(subject, property) {
            survives(subject, Fault::ConnectPanics, property);
        }

        /// [`survives`] under `Fault::CommitFails`.
        fn survives_a_failing_commit(subject, property) {
            survives(subject, Fault::CommitFails, property);
        }

        /// [`survives`] under `Fault::RollbackFails`.
        fn survives_a_failing_rollback(subject, property) {
            survives(subject, Fault::RollbackFails, property);
        }

        /// [`survives`] under `Fault::ResetFails`.
        fn survives_a_failing_reset(subject, property) if (keeps_connections(subject)) {
            survives(subject, Fault::ResetFails, property);
        }

        /// [`survives`] under `Fault::ResetPanics`.
        fn survives_a_panicking_reset(subject, property) if (keeps_connections(subject)) {
            survives(subject, Fault::ResetPanics, property);
        }

        /// [`survives`] under `Fault::Broken`.
        fn survives_a_broken_connection(subject, property) if (keeps_connections(subject)) {
            survives(subject, Fault::Broken, property);
        }

        /// [`survives`] under `Fault::IsBrokenPanics`.
        fn survives_a_panicking_is_broken(subject, property) if (keeps_connections(subject)) {
            survives(subject, Fault::IsBrokenPanics, property);
        }

}
