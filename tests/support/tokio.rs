//! The async facade's properties (`src/tokio.rs`), model-checked over the
//! fake connection: loom explores every interleaving of the facade's real
//! threads (its writer and reader) with the caller's, shuttle samples them.
//! Each property is one guarantee (G1 to G7, listed in EVIDENCE.md, "The
//! async facade"). The planted bugs
//! ([`Plant`]) are switched on in the facade's *real* code, one per pool,
//! and each must make its property fail ([`CAUGHT_BY`]).

use std::future::Future;

use crate::support::checker::{Arc, AtomicBool, Condvar, Mutex, Ordering, check};
use litepool::fake::{FakeDatabase, FakeManager};
use litepool::tokio::{AsyncPool, Cancelled, Plant};

/// Polls `future` to its end on the model's thread (the checker parks it
/// until a litepool thread wakes it).
pub fn block_on<F: Future>(future: F) -> F::Output {
    #[cfg(loom)]
    return loom::future::block_on(future);
    #[cfg(shuttle)]
    return shuttle::future::block_on(future);
}

fn open(db: &FakeDatabase, plant: Plant) -> AsyncPool<FakeManager> {
    AsyncPool::builder().readers(1).plant(plant).open(db.manager()).expect("open the async pool")
}

/// Holds a job's work in place until the model opens it.
#[derive(Clone)]
struct Gate(Arc<(Mutex<(bool, bool)>, Condvar)>);

impl Gate {
    fn new() -> Gate {
        Gate(Arc::new((Mutex::new((false, false)), Condvar::new())))
    }

    fn pass(&self) {
        let (lock, cv) = &*self.0;
        let mut state = lock.lock().unwrap();
        state.0 = true;
        cv.notify_all();
        while !state.1 {
            state = cv.wait(state).unwrap();
        }
    }

    fn entered(&self) {
        let (lock, cv) = &*self.0;
        let mut state = lock.lock().unwrap();
        while !state.0 {
            state = cv.wait(state).unwrap();
        }
    }

    fn open(&self) {
        let (lock, cv) = &*self.0;
        lock.lock().unwrap().1 = true;
        cv.notify_all();
    }
}

/// G1: a write whose answer is given up before it started never runs
/// (whatever moment the caller gives up at, against the writer taking it).
pub fn a_job_given_up_before_it_started_never_runs(plant: Plant) {
    check("a_job_given_up_before_it_started_never_runs", 3, move || {
        let db = FakeDatabase::new();
        let pool = open(&db, plant);
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let write = pool.write(move |c| {
            r.store(true, Ordering::SeqCst);
            c.insert_id(1)
        });
        let verdict = write.cancel();
        block_on(pool.close());
        if verdict == Cancelled::NeverRan {
            assert!(!ran.load(Ordering::SeqCst), "a job given up before it started ran");
            assert!(!db.is_committed(1), "a write given up before it started was stored");
        }
    });
}

/// G4: a write given up while it waits behind a running one (for the
/// writer, or for a batch) had not started, and never runs.
pub fn a_write_given_up_while_waiting_never_runs(plant: Plant) {
    check("a_write_given_up_while_waiting_never_runs", 3, move || {
        let db = FakeDatabase::new();
        let pool = open(&db, plant);
        let gate = Gate::new();
        let g = gate.clone();
        let first = pool.write(move |c| {
            g.pass();
            c.insert_id(1)
        });
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let waiting = pool.write(move |c| {
            r.store(true, Ordering::SeqCst);
            c.insert_id(2)
        });
        gate.entered();
        assert_eq!(waiting.cancel(), Cancelled::NeverRan, "a write waiting behind a running one had started");
        gate.open();
        block_on(first).expect("the first write commits");
        block_on(pool.close());
        assert!(!ran.load(Ordering::SeqCst), "a write given up while waiting ran");
        assert!(db.is_committed(1) && !db.is_committed(2));
    });
}

/// G2: giving up on a read stops at most that read: a read nobody gave up
/// on, run next on the same connection, is never stopped.
pub fn a_stop_stops_only_its_own_read(plant: Plant) {
    check("a_stop_stops_only_its_own_read", 3, move || {
        let db = FakeDatabase::new();
        let pool = open(&db, plant);
        let given_up = pool.read(|c| c.query());
        let next = pool.read(|c| c.query());
        given_up.cancel();
        block_on(next).expect("a read nobody gave up on was stopped");
        block_on(pool.close());
    });
}

/// G5: a write given up while it runs is not interrupted: it commits, and
/// so does the write batched with it.
pub fn a_write_given_up_while_running_fails_nobody(plant: Plant) {
    check("a_write_given_up_while_running_fails_nobody", 3, move || {
        let db = FakeDatabase::new();
        let pool = open(&db, plant);
        let given_up = pool.write(|c| {
            c.insert_id(1)?;
            c.insert_id(2)
        });
        let other = pool.write(|c| c.insert_id(3));
        let verdict = given_up.cancel();
        block_on(other).expect("a write batched with a given-up one failed");
        block_on(pool.close());
        match verdict {
            Cancelled::NeverRan => assert!(!db.is_committed(1) && !db.is_committed(2)),
            _ => {
                assert!(db.is_committed(1) && db.is_committed(2), "a started write did not run to its commit")
            }
        }
    });
}

/// G6: every job starts on a connection in autocommit, whatever the last
/// job on it left open.
pub fn every_job_starts_in_autocommit(plant: Plant) {
    check("every_job_starts_in_autocommit", 3, move || {
        let db = FakeDatabase::new();
        let pool = open(&db, plant);
        let left_open = pool.read(|c| c.begin_deferred());
        let next = pool.read(|c| Ok(litepool::strategy::Transactional::in_transaction(c)));
        block_on(left_open).expect("BEGIN on a reader");
        assert!(!block_on(next).expect("a read"), "a read started inside the last read's transaction");
        block_on(pool.close());
    });
}

/// G7 and close: close answers every waiting call, lets the running one
/// finish, and ends; no answer is lost and nothing hangs.
pub fn close_answers_every_call(plant: Plant) {
    check("close_answers_every_call", 3, move || {
        let db = FakeDatabase::new();
        let pool = open(&db, plant);
        let write = pool.write(|c| c.insert_id(1));
        let read = pool.read(|c| c.query());
        let closing = pool.close();
        let written = block_on(write);
        let read = block_on(read);
        block_on(closing);
        assert!(written.as_ref().is_ok_and(|()| db.is_committed(1)) || written.is_err_and(|e| e.is_closed()));
        assert!(read.is_ok() || read.is_err_and(|e| e.is_closed()));
        assert!(block_on(pool.write(|_| Ok(()))).is_err_and(|e| e.is_closed()));
        assert_eq!(db.opened(), db.closed(), "close() ended with a connection open");
    });
}

/// A property: a model of one guarantee, with a bug planted or not.
pub type Property = fn(Plant);

/// Each planted bug and the property that must catch it.
pub const CAUGHT_BY: [(Plant, &str, Property); 5] = [
    (
        Plant::CancelLeavesQueuedWork,
        "a_job_given_up_before_it_started_never_runs",
        a_job_given_up_before_it_started_never_runs,
    ),
    (
        Plant::WriterStartsAheadOfTime,
        "a_write_given_up_while_waiting_never_runs",
        a_write_given_up_while_waiting_never_runs,
    ),
    (Plant::StopLoweredBeforeTell, "a_stop_stops_only_its_own_read", a_stop_stops_only_its_own_read),
    (
        Plant::WriterStoppable,
        "a_write_given_up_while_running_fails_nobody",
        a_write_given_up_while_running_fails_nobody,
    ),
    (Plant::ReadHandedBackOpen, "every_job_starts_in_autocommit", every_job_starts_in_autocommit),
];

/// Runs `property` with `bug` planted and returns whether it failed.
pub fn caught(bug: Plant, property: Property) -> bool {
    std::panic::catch_unwind(move || property(bug)).is_err()
}

/// The suite, one test per property and one per planted bug.
#[allow(unused_macros)] // only the two facade suites expand it
macro_rules! tokio_suite {
    () => {
        use litepool::tokio::Plant;
        use support::tokio as facade;

        #[test]
        fn a_job_given_up_before_it_started_never_runs() {
            facade::a_job_given_up_before_it_started_never_runs(Plant::None);
        }

        #[test]
        fn a_write_given_up_while_waiting_never_runs() {
            facade::a_write_given_up_while_waiting_never_runs(Plant::None);
        }

        #[test]
        fn a_stop_stops_only_its_own_read() {
            facade::a_stop_stops_only_its_own_read(Plant::None);
        }

        #[test]
        fn a_write_given_up_while_running_fails_nobody() {
            facade::a_write_given_up_while_running_fails_nobody(Plant::None);
        }

        #[test]
        fn every_job_starts_in_autocommit() {
            facade::every_job_starts_in_autocommit(Plant::None);
        }

        #[test]
        fn close_answers_every_call() {
            facade::close_answers_every_call(Plant::None);
        }

        #[test]
        fn each_planted_bug_is_caught() {
            let missed: Vec<_> = facade::CAUGHT_BY
                .iter()
                .filter(|(bug, _, property)| !facade::caught(*bug, *property))
                .map(|(bug, name, _)| format!("{bug:?} (by {name})"))
                .collect();
            assert!(missed.is_empty(), "planted bugs no property caught: {missed:?}");
        }
    };
}
#[allow(unused_imports)]
pub(crate) use tokio_suite;
