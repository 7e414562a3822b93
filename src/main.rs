//! The litepool stress tool. With no arguments it runs the tutorial's
//! scenario through every strategy on a temporary database file: 10 threads
//! each insert one row, then 5 threads count; the final count must be 10.

use std::process::ExitCode;
use std::time::Instant;

use litepool::{Access, AccessExt, Result, Sizing, SqliteManager, strategies};

const WRITERS: i64 = 10;
const COUNTERS: usize = 5;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("litepool: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool> {
    let dir = tempfile::tempdir().map_err(|e| {
        litepool::Error::new(
            litepool::ErrorKind::Open,
            format!("cannot create a temporary directory: {e}"),
        )
    })?;
    println!(
        "{:<12} {:>7} {:>5} {:>9} {:>10}",
        "strategy", "threads", "rows", "verified", "time"
    );
    let mut all_verified = true;
    for strategy in strategies::<SqliteManager>() {
        let manager = SqliteManager::file(dir.path().join(format!("{}.db", strategy.name)));
        let access = (strategy.open)(manager, Sizing::default())?;
        let started = Instant::now();
        let rows = tutorial_scenario(&*access)?;
        let elapsed = started.elapsed();
        let verified = rows == WRITERS;
        all_verified &= verified;
        println!(
            "{:<12} {:>7} {:>5} {:>9} {:>10.2?}",
            strategy.name,
            WRITERS as usize + COUNTERS,
            rows,
            if verified { "yes" } else { "NO" },
            elapsed
        );
    }
    Ok(all_verified)
}

/// The tutorial's scenario: each of 10 threads inserts one row, then 5
/// threads count. Returns the final count.
fn tutorial_scenario(access: &dyn Access<Connection = rusqlite::Connection>) -> Result<i64> {
    access.write(|c| {
        Ok(c.execute_batch(
            "DROP TABLE IF EXISTS items; CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)",
        )?)
    })?;
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|i| {
                s.spawn(move || {
                    access.write(|c| {
                        Ok(c.execute(
                            "INSERT INTO items (id, name) VALUES (?1, ?2)",
                            (i, format!("Item-{i}")),
                        )?)
                    })
                })
            })
            .collect();
        writers
            .into_iter()
            .try_for_each(|h| h.join().expect("writer thread panicked").map(drop))
    })?;
    std::thread::scope(|s| {
        let counters: Vec<_> = (0..COUNTERS).map(|_| s.spawn(|| count(access))).collect();
        counters
            .into_iter()
            .try_for_each(|h| h.join().expect("counter thread panicked").map(drop))
    })?;
    count(access)
}

fn count(access: &dyn Access<Connection = rusqlite::Connection>) -> Result<i64> {
    access.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))?))
}
