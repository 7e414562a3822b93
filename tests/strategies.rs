//! What every strategy promises, checked on each in turn with real SQLite:
//! the write path commits or rolls back as a whole, a transaction never
//! outlives the call that opened it, and a panic leaves nothing behind.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex};
use std::thread;

use litepool::strategy::Sizing;
use litepool::{AccessExt, JournalMode, SqliteManager, strategy};
use support::{Sqlite, TempDb, count_items, create_items, wait_until};

fn each_strategy(test: impl Fn(&str, &Sqlite)) {
    let db = TempDb::new();
    for strategy in strategy::all::<SqliteManager>() {
        let access = (strategy.open)(db.manager(&format!("{}.db", strategy.name)), Sizing::pool_size(2))
            .expect("open strategy");
        create_items(&*access).unwrap();
        test(strategy.name, &*access);
    }
}

fn insert(c: &rusqlite::Connection, value: i64) -> litepool::Result<()> {
    c.execute("INSERT INTO items (value) VALUES (?1)", [value])?;
    Ok(())
}

/// An error inside `write` rolls back every row the work inserted.
#[test]
fn a_failed_write_leaves_none_of_its_rows() {
    each_strategy(|name, access| {
        let err = access
            .write(|c| {
                insert(c, 1)?;
                insert(c, 2)?;
                Ok(c.execute("INSERT INTO items (id, value) VALUES (1, 3)", [])?)
            })
            .unwrap_err();
        assert!(err.is_constraint(), "{name}: {err}");
        assert_eq!(count_items(access).unwrap(), 0, "{name}: a failed write left rows");
    });
}

/// A write runs inside a transaction that litepool opened.
#[test]
fn the_write_path_runs_in_a_transaction() {
    each_strategy(|name, access| {
        let autocommit = access.write(|c| Ok(c.is_autocommit())).unwrap();
        assert!(!autocommit, "{name}: write ran outside a transaction");
        assert!(access.read(|c| Ok(c.is_autocommit())).unwrap(), "{name}: read ran inside one");
    });
}

/// A transaction the work opens and leaves open is rolled back when the call
/// returns; the next call does not inherit it.
#[test]
fn a_transaction_left_open_does_not_outlive_the_call() {
    each_strategy(|name, access| {
        access
            .read(|c| {
                // Split's readers are read-only: there the abandoned
                // transaction is a read; elsewhere it holds a write.
                let sql = if c.is_readonly(rusqlite::MAIN_DB)? {
                    "BEGIN; SELECT COUNT(*) FROM items;"
                } else {
                    "BEGIN; INSERT INTO items (value) VALUES (9);"
                };
                Ok(c.execute_batch(sql)?)
            })
            .unwrap();
        assert!(access.read(|c| Ok(c.is_autocommit())).unwrap(), "{name}: inherited a transaction");
        assert_eq!(count_items(access).unwrap(), 0, "{name}: the abandoned insert survived");
        // A write must not wait for an abandoned write lock either.
        access.write(|c| insert(c, 1)).unwrap();
    });
}

/// A panic inside `write`, after inserting, loses the rows, leaves no open
/// transaction, and the strategy keeps working at full capacity.
#[test]
fn a_panic_mid_write_leaves_nothing_behind() {
    each_strategy(|name, access| {
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            access.write(|c| -> litepool::Result<()> {
                insert(c, 1)?;
                panic!("planted panic mid-transaction");
            })
        }));
        assert!(panicked.is_err(), "{name}");
        assert_eq!(access.state().in_use, 0, "{name}: {:?}", access.state());
        assert!(access.read(|c| Ok(c.is_autocommit())).unwrap(), "{name}");
        assert_eq!(count_items(access).unwrap(), 0, "{name}: the panicked insert survived");
        access.write(|c| insert(c, 2)).unwrap();
        assert_eq!(count_items(access).unwrap(), 1, "{name}");
    });
}

/// A gate threads wait at until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// Opens the gate when dropped, so held threads end even if the test fails.
struct OpenOnDrop<'a>(&'a Gate);

impl Drop for OpenOnDrop<'_> {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// What a strategy's list entry promises is true of it, so the loom models
/// that run or skip on those promises check what the strategy really does:
///
/// * `wal_only`: it refuses a rollback journal with a config error, and only
///   then;
/// * `one_writer`: a read cannot write, and writes run on one connection;
/// * `counts_waiters`: a caller that finds no connection free shows in
///   `state().waiting`, and `close()` wakes it with a closed error.
#[test]
fn every_strategy_keeps_the_promises_its_entry_states() {
    let db = TempDb::new();
    for strategy in strategy::all::<SqliteManager>() {
        let name = strategy.name;
        let delete = db.manager(&format!("{name}-delete.db")).journal_mode(JournalMode::Delete);
        match (strategy.open)(delete, Sizing::pool_size(1)) {
            Ok(_) => {
                assert!(!strategy.wal_only, "{name} says it needs WAL, yet opened on a rollback journal")
            }
            Err(err) => {
                assert!(
                    strategy.wal_only,
                    "{name} refused a rollback journal but does not say it needs WAL: {err}"
                );
                assert!(err.is_config(), "{name}: {err}");
            }
        }

        let access = (strategy.open)(db.manager(&format!("{name}.db")), Sizing::pool_size(1)).unwrap();
        create_items(&*access).unwrap();
        if strategy.one_writer {
            let err = access.read(|c| insert(c, 1)).unwrap_err();
            assert!(err.is_read_only(), "{name}: a read could write: {err}");
            access.write(|c| Ok(c.execute_batch("PRAGMA cache_size = -2222")?)).unwrap();
            let mark: i64 =
                access.write(|c| Ok(c.query_row("PRAGMA cache_size", [], |r| r.get(0))?)).unwrap();
            assert_eq!(mark, -2222, "{name}: two writes ran on different connections");
        }
        if strategy.counts_waiters {
            assert_a_waiter_is_counted_and_woken_by_close(name, &*access);
        }
    }
}

/// Holds readers in `access` one more at a time until one waits; asserts it
/// is counted in `state().waiting` and that `close()` fails it.
fn assert_a_waiter_is_counted_and_woken_by_close(name: &str, access: &Sqlite) {
    let gate = Gate::default();
    let _open = OpenOnDrop(&gate);
    thread::scope(|s| {
        let mut readers = Vec::new();
        loop {
            assert!(readers.len() < 64, "{name}: 64 readers and none waits");
            readers.push(s.spawn(|| {
                access.read(|_| {
                    gate.wait();
                    Ok(())
                })
            }));
            let started = readers.len();
            wait_until(&format!("{name}: {started} readers each holding or waiting"), || {
                let state = access.state();
                state.in_use + state.waiting >= started
            });
            if access.state().waiting > 0 {
                break;
            }
        }
        access.close();
        let waiter = readers.pop().expect("the last reader waits");
        let err = waiter.join().unwrap().expect_err("a waiter succeeded after close()");
        assert!(err.is_closed(), "{name}: {err}");
        gate.open();
        for holder in readers {
            holder.join().unwrap().unwrap_or_else(|e| panic!("{name}: a holder failed: {e}"));
        }
    });
}
