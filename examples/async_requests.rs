//! litepool from async Rust: a tokio program whose "requests" read and
//! write through `litepool::tokio::AsyncPool`, some with a deadline, as a
//! web handler's timeout would impose. A request that gives up on its
//! answer learns from `cancel()` whether its write will never run, or had
//! started (and then runs to its outcome: committed or not applied at
//! all). At the end the stored rows are checked against what the requests
//! were told.
//!
//! ```sh
//! cargo run --example async_requests --features tokio
//! cargo test --example async_requests   # `cargo test` runs it too
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use litepool::SqliteManager;
use litepool::tokio::{Answer, AsyncPool, Cancelled};

/// What one request heard.
enum Heard {
    Committed(i64),
    NeverRan,
    MayHaveCommitted(i64),
}

async fn request(pool: AsyncPool<SqliteManager>, id: i64, deadline: Option<Duration>) -> Heard {
    let mut answer: Answer<()> = pool.write(move |c| {
        c.execute("INSERT INTO orders (id, total) VALUES (?1, ?2)", (id, id * 10))?;
        Ok(())
    });
    let Some(deadline) = deadline else {
        answer.await.expect("a write with no deadline commits");
        return Heard::Committed(id);
    };
    tokio::select! {
        outcome = &mut answer => {
            outcome.expect("the write commits");
            Heard::Committed(id)
        }
        () = tokio::time::sleep(deadline) => match answer.cancel() {
            Cancelled::NeverRan => Heard::NeverRan,
            Cancelled::Started | Cancelled::Finished => Heard::MayHaveCommitted(id),
        },
    }
}

fn run() -> Result<(usize, usize, usize), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("orders.db");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build()?;
    runtime.block_on(async {
        let pool = AsyncPool::builder().readers(2).open(SqliteManager::file(&path))?;
        pool.write(|c| Ok(c.execute_batch("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)")?))
            .await?;
        let requests: Vec<_> = (0..200)
            .map(|id| {
                let deadline = (id % 3 == 0).then(|| Duration::from_micros((id % 50) as u64));
                tokio::spawn(request(pool.clone(), id, deadline))
            })
            .collect();
        let (mut committed, mut never_ran, mut maybe) = (BTreeSet::new(), 0, BTreeSet::new());
        for request in requests {
            match request.await? {
                Heard::Committed(id) => _ = committed.insert(id),
                Heard::NeverRan => never_ran += 1,
                Heard::MayHaveCommitted(id) => _ = maybe.insert(id),
            }
        }
        pool.close().await;
        let conn = rusqlite::Connection::open(&path)?;
        let stored: BTreeSet<i64> =
            conn.prepare("SELECT id FROM orders")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        // Every acknowledged write is stored; nothing is stored that was
        // neither acknowledged nor started before its request gave up.
        assert!(committed.is_subset(&stored));
        assert!(stored.iter().all(|id| committed.contains(id) || maybe.contains(id)));
        Ok((committed.len(), never_ran, maybe.len()))
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (committed, never_ran, maybe) = run()?;
    println!(
        "200 requests: {committed} committed, {never_ran} gave up before their write started (never ran), {maybe} gave up after it started (ran to its outcome)"
    );
    Ok(())
}

#[test]
fn every_request_hears_the_truth() {
    let (committed, never_ran, maybe) = run().expect("the example runs");
    assert_eq!(committed + never_ran + maybe, 200);
}
