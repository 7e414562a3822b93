//! What every strategy promises, checked on each in turn with real SQLite:
//! the write path commits or rolls back as a whole, a transaction never
//! outlives the call that opened it, and a panic leaves nothing behind.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use litepool::{AccessExt, Sizing, SqliteManager, strategies};
use support::{Sqlite, TempDb, count_items, create_items};

fn each_strategy(test: impl Fn(&str, &Sqlite)) {
    let db = TempDb::new();
    for strategy in strategies::<SqliteManager>() {
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
