//! The properties of group commit (`src/group.rs`), each declared once
//! against [`Batcher`]; the planted batching bugs they must catch are in
//! `planted_group.rs`. [`RealBatcher`] is litepool's `GroupCommit` over
//! fake connections.
//!
//! Batches in these models hold at most [`CAP`] writes unless a model says
//! otherwise, so that with [`WRITERS`] writers besides the model's own
//! thread both a full batch and a batch closed because nobody was queued
//! are explored. Both are larger under shuttle, which can afford more
//! threads than loom's exhaustive search: loom runs two writers and
//! batches of two, shuttle eleven writers and batches of four, and the
//! properties about one count (the cap, a line behind a failing write)
//! set theirs where a many-thread bug shows.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

use crate::support::batcher::{
    Acked, acknowledge, acknowledged_by, assert_committed_is_acknowledged, inserter, inserters, model,
    model_times, ok_or_busy, tracked_write, until_queued, write_row,
};
#[allow(unused_imports)] // the suite macro names `RealBatcher` through this module
pub use crate::support::batcher::{Batcher, Job, RealBatcher};
use crate::support::checker::{Arc, Condvar, EXPECTED_PANIC, Mutex, pick, thread};
use crate::support::runner::typed_properties;
use litepool::fake::{FakeConnection, Fault, Statement};
use litepool::strategy::Transactional;

/// The batch cap of most models.
pub const CAP: usize = pick(2, 4);

/// The writers most models spawn besides their own thread.
pub const WRITERS: usize = pick(2, 11);

/// The writers that queue behind the failing write of
/// [`a_failing_write_loses_nobody_queued_behind_it`].
pub const QUEUED: usize = pick(2, 5);

typed_properties! {
    suite group_suite in group over B: Batcher,
    real RealBatcher, planted PlantedBatcher from planted_group,
    tests planted_group_bugs_are_caught and group_planted_child;

    /// Every acknowledged write is committed, and with nothing failing every
    /// write is acknowledged.
    fn acknowledged_writes_are_committed(property) {
        // The largest batch over the whole run: a run in which no batch ever
        // formed (the strategy deciding, say, that commits are too cheap to
        // share) would check the lone writer's path alone. Kept per call, not
        // in a static: the real group and the planted copy run this property
        // on two test threads at once.
        let largest = std::sync::Arc::new(StdAtomicUsize::new(0));
        let seen = largest.clone();
        model::<B>(property, WRITERS + 1, CAP, true, move |db, batcher| {
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let others = inserters(&db, &batcher, &acks, WRITERS);
            let mine = write_row(&db, &*batcher, &acks, 1);
            let acknowledged = usize::from(mine) + acknowledged_by(others);
            assert_eq!(acknowledged, WRITERS + 1, "a write failed with nothing failing");
            assert_committed_is_acknowledged(&db, &acks);
            seen.fetch_max(db.largest_commit(), StdOrdering::SeqCst);
        });
        let largest = largest.load(StdOrdering::SeqCst);
        assert!(largest > 1, "no COMMIT held more than {largest} write in the whole run: no batch ever formed");
    }

    /// A write whose work fails leaves no row, and the others' rows commit,
    /// whether it ran first, in the middle or last in its batch.
    fn a_failed_writes_rows_are_absent_and_the_others_present(property) {
        let (threads, cap) = (WRITERS + 1, pick(3, 8));
        model::<B>(
            property,
            threads,
            cap,
            true,
            |db, batcher| {
                let acks: Acked = Arc::new(Mutex::new(Vec::new()));
                let others = inserters(&db, &batcher, &acks, WRITERS);
                let failed = batcher.write(&mut |c| {
                    c.insert()?;
                    c.fail()
                });
                assert!(failed.is_err(), "a failing write was acknowledged");
                let acknowledged = acknowledged_by(others);
                assert_eq!(acknowledged, WRITERS, "a write failed because another one did");
                assert_eq!(
                    db.committed(),
                    WRITERS,
                    "the failed write's row was committed, or another's was lost"
                );
            },
        );
    }

    /// A write that panics rolls back its own rows and resumes the panic in
    /// its own thread; the others commit, and nobody waits for ever.
    fn a_panicking_write_strands_nobody(property) {
        model::<B>(property, WRITERS + 1, CAP, true, |db, batcher| {
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let others = inserters(&db, &batcher, &acks, WRITERS);
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                batcher.write(&mut |c| {
                    c.insert()?;
                    panic!("{EXPECTED_PANIC}: in a batched write");
                })
            }));
            assert!(outcome.is_err(), "the panic did not resume in its own thread");
            let acknowledged = acknowledged_by(others);
            assert_eq!(acknowledged, WRITERS, "a write failed because another one panicked");
            assert_eq!(db.committed(), WRITERS, "the panicking write's row was committed, or another's was lost");
        });
    }

    /// A failed COMMIT fails every member of its batch (none is acknowledged)
    /// and leaves no transaction open: the next write commits.
    fn a_failed_commit_fails_every_member(property) {
        model::<B>(property, WRITERS + 1, CAP, true, |db, batcher| {
            db.inject(Fault::CommitFails, 1);
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let others = inserters(&db, &batcher, &acks, WRITERS);
            write_row(&db, &*batcher, &acks, 1);
            others.into_iter().for_each(|t| _ = t.join().unwrap());
            assert_eq!(db.pending(Fault::CommitFails), 0, "the model never reached a COMMIT");
            assert_committed_is_acknowledged(&db, &acks);
            let before = db.committed();
            let next = batcher.write(&mut |c| c.insert());
            assert!(next.is_ok(), "the write after a failed COMMIT failed: {next:?}");
            assert_eq!(db.committed(), before + 1, "a transaction was left open after a failed COMMIT");
        });
    }

    /// When SQLite rolls the whole transaction back in one member's work (as
    /// after `SQLITE_FULL`), every member of the batch so far fails and none
    /// is acknowledged; later writes go on.
    fn a_whole_rollback_fails_every_member_so_far(property) {
        let (threads, cap) = (WRITERS + 1, pick(3, 8));
        model::<B>(property, threads, cap, true, |db, batcher| {
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let others = inserters(&db, &batcher, &acks, WRITERS);
            let full = batcher.write(&mut |c| {
                c.insert()?;
                c.fail_transaction()
            });
            assert!(full.is_err(), "the write that filled the database was acknowledged");
            others.into_iter().for_each(|t| _ = t.join().unwrap());
            assert_committed_is_acknowledged(&db, &acks);
        });
    }

    /// Every caller hears its own outcome, whoever ran its work: writers
    /// whose work fails and writers whose work succeeds share batches, and
    /// under shuttle the first COMMIT fails too. (Loom's three writes are
    /// just enough for one batch of a runner, a failing member and a
    /// succeeding one; a failed first COMMIT would leave none for it.) A
    /// failed work's caller hears an error; every acknowledged row is
    /// committed and every committed row acknowledged.
    fn each_caller_hears_its_own_outcome(property) {
        model::<B>(property, WRITERS + 1, pick(3, CAP), true, |db, batcher| {
            if cfg!(shuttle) {
                db.inject(Fault::CommitFails, 1);
            }
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let others: Vec<_> = (1..=WRITERS)
                .map(|i| {
                    let (db, batcher, acks) = (db.clone(), batcher.clone(), acks.clone());
                    thread::spawn(move || {
                        let (id, fails) = (10 * i, i % 2 == 1);
                        let work = Box::leak(Box::new(move |c: &FakeConnection| {
                            c.insert_id(id)?;
                            if fails { c.fail() } else { Ok(()) }
                        }));
                        let heard = batcher.write(work);
                        assert!(!(fails && heard.is_ok()), "a write whose work failed heard Ok: another's outcome");
                        acknowledge(&db, &acks, id, &heard);
                    })
                })
                .collect();
            write_row(&db, &*batcher, &acks, 1);
            others.into_iter().for_each(|t| t.join().unwrap());
            assert_committed_is_acknowledged(&db, &acks);
        });
    }

    /// Every write's work runs at most once, exactly once when its caller
    /// hears Ok. The writers are impatient (they give up whenever woken
    /// while their work is queued), so some leave before their work starts.
    fn work_runs_exactly_once_or_never(property) {
        model::<B>(property, WRITERS + 1, CAP, false, |_, batcher| {
            let others: Vec<_> = (1..=WRITERS)
                .map(|i| {
                    let batcher = batcher.clone();
                    thread::spawn(move || tracked_write(&*batcher, 10 * i))
                })
                .collect();
            let mut writes = vec![tracked_write(&*batcher, 1)];
            writes.extend(others.into_iter().map(|t| t.join().unwrap()));
            for (heard, tracked) in writes {
                let runs = tracked.runs.load(StdOrdering::SeqCst);
                assert!(runs <= 1, "a write's work ran {runs} times");
                assert!(heard.is_err() || runs == 1, "a write heard Ok and its work ran {runs} times");
            }
        });
    }

    /// A caller never returns while its work may still run (the work
    /// borrows from its stack): impatient writers give up whenever woken,
    /// and a work that runs after its caller returned is noted. The rows
    /// committed are exactly those acknowledged.
    fn a_caller_never_returns_while_its_work_may_run(property) {
        model::<B>(property, WRITERS + 1, CAP, false, |db, batcher| {
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let others: Vec<_> = (1..=WRITERS)
                .map(|i| {
                    let (db, batcher, acks) = (db.clone(), batcher.clone(), acks.clone());
                    thread::spawn(move || {
                        let (heard, tracked) = tracked_write(&*batcher, 10 * i);
                        acknowledge(&db, &acks, 10 * i, &heard);
                        tracked
                    })
                })
                .collect();
            let (heard, mine) = tracked_write(&*batcher, 1);
            acknowledge(&db, &acks, 1, &heard);
            let mut tracked = vec![mine];
            tracked.extend(others.into_iter().map(|t| t.join().unwrap()));
            for t in tracked {
                assert!(!t.late.load(StdOrdering::SeqCst), "a write's work ran after its caller returned");
            }
            assert_committed_is_acknowledged(&db, &acks);
        });
    }

    /// A queued writer that gives up as it is woken to run the next batch
    /// runs it (or leaves while a runner holds the writer, who then wakes
    /// the next): nobody waits for ever.
    fn a_writer_that_gives_up_strands_nobody(property) {
        model::<B>(property, WRITERS + 1, CAP, false, |db, batcher| {
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let others = inserters(&db, &batcher, &acks, WRITERS);
            let mine = batcher.write(&mut |c| c.insert_id(1));
            assert!(ok_or_busy(&mine), "{mine:?}");
            acknowledge(&db, &acks, 1, &mine);
            others.into_iter().for_each(|t| _ = t.join().unwrap());
            assert_committed_is_acknowledged(&db, &acks);
        });
    }

    /// `close` racing with a batch: every write is acknowledged (and committed)
    /// or fails closed, and nobody waits for ever. Under shuttle the batch may
    /// be full (cap 8) with more writers still waiting when close comes.
    fn close_racing_with_a_batch_strands_nobody(property) {
        let (threads, cap) = (WRITERS + 2, pick(CAP, 8));
        model::<B>(property, threads, cap, true, |db, batcher| {
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let writers = inserters(&db, &batcher, &acks, WRITERS);
            let closer = {
                let batcher = batcher.clone();
                thread::spawn(move || batcher.close())
            };
            writers.into_iter().for_each(|t| _ = t.join().unwrap());
            closer.join().unwrap();
            assert_committed_is_acknowledged(&db, &acks);
            assert!(batcher.write(&mut |c| c.insert()).is_err_and(|e| e.is_closed()));
        });
    }

    /// `close` fails the writers waiting for the connection at once, while
    /// another write still runs (that write waits for the waiters to fail, so
    /// a close that woke nobody would deadlock), and the running write
    /// commits. More writers wait than a batch holds: under loom two, with a
    /// cap of one; under shuttle ten arrive with a cap of four, and the close
    /// comes once five of them wait, the others still arriving.
    fn close_fails_a_waiting_writer_while_a_write_runs(property) {
        let (waiters, cap, queued_at_close) = (pick(2, 10), pick(1, CAP), pick(0, CAP + 1));
        model::<B>(
            property,
            waiters + 1,
            cap,
            true,
            move |db, batcher| {
                let running = batcher.write(&mut |c| {
                    c.insert()?;
                    let waiting: Vec<_> = (0..waiters)
                        .map(|_| {
                            let batcher = batcher.clone();
                            thread::spawn(move || batcher.write(&mut |c| c.insert()))
                        })
                        .collect();
                    until_queued(&*batcher, queued_at_close);
                    batcher.close();
                    for waiter in waiting {
                        let waited = waiter.join().unwrap();
                        assert!(
                            waited.is_err_and(|e| e.is_closed()),
                            "a writer got the connection of a closed strategy"
                        );
                    }
                    Ok(())
                });
                assert!(running.is_ok(), "the write running at close failed: {running:?}");
                assert_eq!(db.committed(), 1);
            },
        );
    }

    /// A write's work cannot end the transaction it shares: its `COMMIT` is
    /// refused and fails that write alone, so no other caller's row is committed
    /// before its batch's COMMIT. (Run first in its batch, the work's COMMIT
    /// commits only its own row, which is then not acknowledged; the rogue row
    /// has no id, so the property is about the others'.)
    fn work_cannot_end_the_shared_transaction(property) {
        model::<B>(property, WRITERS + 1, pick(3, 8), true, |db, batcher| {
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let others = inserters(&db, &batcher, &acks, WRITERS);
            let rogue = batcher.write(&mut |c| {
                c.insert()?;
                c.commit()
            });
            assert!(rogue.is_err(), "a write that committed by itself was acknowledged");
            others.into_iter().for_each(|t| _ = t.join().unwrap());
            // The rogue row has no id: whatever happened to it, every other
            // caller's row is committed exactly when it was acknowledged.
            assert_committed_is_acknowledged(&db, &acks);
        });
    }

    /// A write's work cannot end a batch through a statement prepared before
    /// its seal: after a first batch, litepool's own `COMMIT` sits in the
    /// connection's statement cache, prepared unsealed, and a batched write
    /// that runs `prepare_cached("COMMIT")` gets that statement (issue 21).
    /// Two rounds of two writers each, so that two batches in a row can
    /// form (the first one seals a queued member, which is when the
    /// authorizer is set, and caches litepool's `COMMIT`); in the second
    /// round one write is the rogue. The rounds run one after the other:
    /// four writes racing at once cost loom 700,000 schedules.
    fn a_cached_commit_cannot_end_a_later_batch(property) {
        // Three threads in all (two at a time), so loom's preemption bound applies.
        model::<B>(property, 3, 2, true, |db, batcher| {
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let first = inserter(&db, &batcher, &acks, 1, 1);
            write_row(&db, &*batcher, &acks, 3);
            first.join().unwrap();
            let other = inserter(&db, &batcher, &acks, 2, 1);
            let rogue = batcher.write(&mut |c| {
                c.insert()?;
                c.execute_cached(Statement::Commit)
            });
            assert!(rogue.is_err(), "a write that committed by itself was acknowledged");
            other.join().unwrap();
            // The rogue row has no id: whatever happened to it, every other
            // caller's row is committed exactly when it was acknowledged.
            assert_committed_is_acknowledged(&db, &acks);
        });
    }

    /// No COMMIT holds more writes than the cap: under loom three writers
    /// and a cap of one; under shuttle twelve writers and a cap of eight, so
    /// that a batch can overflow it only with nine writers queued at once.
    fn batches_hold_at_most_cap_writes(property) {
        let cap = pick(1, 8);
        model::<B>(property, WRITERS + 1, cap, true, move |db, batcher| {
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let others = inserters(&db, &batcher, &acks, WRITERS);
            write_row(&db, &*batcher, &acks, 1);
            others.into_iter().for_each(|t| _ = t.join().unwrap());
            let largest = db.largest_commit();
            assert!(largest <= cap, "a COMMIT held {largest} writes with a cap of {cap}");
            assert_committed_is_acknowledged(&db, &acks);
        });
    }

    /// Writers queued behind a write that fails all get the connection, in
    /// turn, and are committed: the failing write holds it until [`QUEUED`]
    /// writers wait (two under loom, five under shuttle), then fails.
    fn a_failing_write_loses_nobody_queued_behind_it(property) {
        model::<B>(property, QUEUED + 1, CAP, true, |db, batcher| {
            let acks: Acked = Arc::new(Mutex::new(Vec::new()));
            let mut queued = Vec::new();
            let failed = batcher.write(&mut |c| {
                c.insert()?;
                queued = inserters(&db, &batcher, &acks, QUEUED);
                until_queued(&*batcher, QUEUED);
                c.fail()
            });
            assert!(failed.is_err(), "a failing write was acknowledged");
            let acknowledged = acknowledged_by(queued);
            assert_eq!(acknowledged, QUEUED, "a write queued behind a failing one failed");
            assert_committed_is_acknowledged(&db, &acks);
        });
    }

    /// A queued writer is never passed: a writer that finds the connection
    /// free runs at once only while nobody is queued, and a batch that ends
    /// with writers queued hands the connection to the first. Batches of
    /// two; while the first write runs, one writer queues and then another
    /// (the batch takes the first, so the second is still queued when it
    /// ends); and a writer that comes back 70 times, released while the
    /// first batch runs. Shuttle only: a writer passed again and again
    /// takes more steps than loom explores.
    #[cfg(shuttle)]
    fn a_queued_writer_is_never_passed(property) {
        const TURNS: usize = 70;
        // Five times the iterations: a strategy that frees the writer at
        // the end of a batch lets the returning writer pass only in a
        // window a few scheduling points wide.
        model_times::<B>(property, 4, 2, 5, move |_, batcher| {
            let order = Arc::new(Mutex::new(Vec::new()));
            // Writes `times` times, each recording `name` inside its work,
            // which runs on the writer connection: the order recorded is
            // the order of writes.
            let writer = |name: &'static str, times: usize| {
                let (batcher, order) = (batcher.clone(), order.clone());
                move || {
                    for _ in 0..times {
                        let order = order.clone();
                        let write = Box::leak(Box::new(move |c: &FakeConnection| {
                            order.lock().unwrap().push(name);
                            c.insert()
                        }));
                        batcher.write(write).expect("a patient writer writes");
                    }
                }
            };
            // The returning writer waits for this, blocked, not yielding: under
            // PCT a thread that yields loses priority, and the returning writer
            // must keep the priority it was born with, so that PCT often runs it
            // ahead of the woken writer: the schedule repeated passing needs.
            let go = Arc::new((Mutex::new(false), Condvar::new()));
            let returning = {
                let (go, write) = (go.clone(), writer("returning", TURNS));
                thread::spawn(move || {
                    let mut started = go.0.lock().unwrap();
                    while !*started {
                        started = go.1.wait(started).unwrap();
                    }
                    drop(started);
                    write();
                })
            };
            let mut queued = Vec::new();
            batcher
                .write(&mut |c| {
                    c.insert()?;
                    // The connection is held until both have queued.
                    queued.push(thread::spawn(writer("first queued", 1)));
                    until_queued(&*batcher, 1);
                    queued.push(thread::spawn(writer("queued", 1)));
                    until_queued(&*batcher, 2);
                    *go.0.lock().unwrap() = true;
                    go.1.notify_one();
                    Ok(())
                })
                .expect("the first write");
            returning.join().unwrap();
            queued.into_iter().for_each(|t| t.join().unwrap());
            let order = order.lock().unwrap();
            let after_first = order.iter().skip_while(|w| **w != "first queued").skip(1);
            let passes = after_first.take_while(|w| **w == "returning").count();
            assert!(passes == 0, "the queued writer was passed by {passes} writes");
        });
    }
}
