// The tutorial's unsafe example in Rust: one connection shared by two threads
// through an Arc. rusqlite's Connection is Send but not Sync (it holds a
// RefCell), so this must not compile.
use std::sync::Arc;
use std::thread;

use litepool::rusqlite::Connection;

fn main() {
    let shared = Arc::new(Connection::open_in_memory().unwrap());
    let other = Arc::clone(&shared);
    let adder = thread::spawn(move || other.execute("INSERT INTO items (name) VALUES ('a')", []));
    shared.execute("INSERT INTO items (name) VALUES ('b')", []).unwrap();
    adder.join().unwrap().unwrap();
}
