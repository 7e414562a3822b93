//! The fake connection against real SQLite: a model is only as true as
//! its fake.
//!
//! The loom and shuttle models run the real strategies over
//! `litepool::fake`. Where the fake behaves differently from SQLite, a
//! model proves a property of another database: issue 21 found a batched
//! write that committed the others' rows through litepool's own cached
//! `COMMIT`, which no model could find because the fake had no statement
//! cache. This test runs random sequences of the operations the models use
//! (litepool's transaction calls and seal, the work's statements freshly
//! prepared or through the statement cache, inserts that succeed or fail,
//! a failure that rolls the whole transaction back, a connection handed
//! back mid-transaction) through a [`FakeConnection`] and through a real
//! SQLite connection, and after each step compares: the result (Ok, or the
//! error's kind), whether a transaction is open, and the rows another
//! connection sees.
//!
//! `PROPTEST_CASES` raises the number of sequences (64 by default, 256 in
//! CI); failures are kept in `proptest-regressions/fidelity.txt`.

mod support;

use std::time::Duration;

use litepool::fake::{FakeConnection, FakeDatabase, FakeManager, Statement};
use litepool::strategy::{MEMBER_SAVEPOINT, Manager, Seal, Transactional};
use litepool::{ErrorKind, SqliteManager};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rusqlite::Connection;
use support::{TempDb, item_ids, within};

/// One step of a sequence.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// litepool's own calls (`Transactional`), through its cached statements.
    BeginImmediate,
    Commit,
    Rollback,
    Savepoint,
    ReleaseSavepoint,
    RollbackToSavepoint,
    /// The batch's authorizer set (`install_seal`) or removed.
    InstallSeal,
    RemoveSeal,
    /// The batch's switch engaged around a caller's work, or lifted.
    Engage,
    Lift,
    /// The work's statement, prepared freshly or through the cache.
    Execute(Statement, bool),
    /// The work caching a statement without running it.
    PrepareCached(Statement),
    /// `INSERT` of an id (ids repeat, so some fail on the primary key).
    Insert(usize),
    /// `INSERT OR ROLLBACK`: a taken id rolls the whole transaction back.
    InsertOrRollback(usize),
    /// A statement that fails (invalid SQL): nothing changes.
    Fail,
    /// The connection handed back: the manager's `reset`, which rolls back
    /// an open transaction.
    Reset,
}

/// Savepoint names the work uses: litepool's, and two of its own in two
/// spellings (SQLite compares them without case).
const NAMES: [&str; 4] = [MEMBER_SAVEPOINT, "a", "A", "b"];

fn statement() -> impl Strategy<Value = Statement> {
    let name = prop::sample::select(NAMES.as_slice());
    prop_oneof![
        Just(Statement::Begin),
        Just(Statement::BeginImmediate),
        Just(Statement::Commit),
        Just(Statement::Rollback),
        name.clone().prop_map(Statement::Savepoint),
        name.clone().prop_map(Statement::Release),
        name.prop_map(Statement::RollbackTo),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::BeginImmediate),
        2 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        2 => Just(Op::Savepoint),
        1 => Just(Op::ReleaseSavepoint),
        1 => Just(Op::RollbackToSavepoint),
        1 => Just(Op::InstallSeal),
        1 => Just(Op::RemoveSeal),
        2 => Just(Op::Engage),
        1 => Just(Op::Lift),
        6 => (statement(), any::<bool>()).prop_map(|(s, cached)| Op::Execute(s, cached)),
        1 => statement().prop_map(Op::PrepareCached),
        4 => (0..6usize).prop_map(Op::Insert),
        1 => (0..6usize).prop_map(Op::InsertOrRollback),
        1 => Just(Op::Fail),
        1 => Just(Op::Reset),
    ]
}

/// What one step did, as a model can see it.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    result: Result<(), ErrorKind>,
    in_transaction: bool,
    /// The ids another connection sees committed.
    committed: Vec<usize>,
}

/// The real side: a connection to a fresh file, and the manager that opened it.
struct Real {
    manager: SqliteManager,
    conn: Connection,
    seal: Seal,
    path: std::path::PathBuf,
}

impl Real {
    fn open(db: &TempDb) -> Real {
        let manager = db.manager("fidelity.db");
        manager.prepare().expect("prepare the file");
        let conn = manager.connect().expect("connect");
        conn.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER)").expect("create");
        Real { manager, conn, seal: Seal::new(), path: db.path("fidelity.db") }
    }

    fn step(&mut self, op: Op) -> Seen {
        let c = &mut self.conn;
        let sql = |s: Statement| s.sql();
        let result: litepool::Result<()> = match op {
            Op::BeginImmediate => c.begin_immediate(),
            Op::Commit => Transactional::commit(c),
            Op::Rollback => Transactional::rollback(c),
            Op::Savepoint => Transactional::savepoint(c),
            Op::ReleaseSavepoint => c.release_savepoint(),
            Op::RollbackToSavepoint => c.rollback_to_savepoint(),
            Op::InstallSeal => c.install_seal(&self.seal),
            Op::RemoveSeal => c.remove_seal(),
            Op::Engage => {
                self.seal.engage();
                Ok(())
            }
            Op::Lift => {
                self.seal.lift();
                Ok(())
            }
            Op::Execute(s, false) => {
                c.prepare(&sql(s)).and_then(|mut st| st.execute([])).map(drop).map_err(Into::into)
            }
            Op::Execute(s, true) => {
                c.prepare_cached(&sql(s)).and_then(|mut st| st.execute([])).map(drop).map_err(Into::into)
            }
            Op::PrepareCached(s) => c.prepare_cached(&sql(s)).map(drop).map_err(Into::into),
            Op::Insert(id) => {
                c.execute("INSERT INTO items (id) VALUES (?1)", [id as i64]).map(drop).map_err(Into::into)
            }
            Op::InsertOrRollback(id) => c
                .execute("INSERT OR ROLLBACK INTO items (id) VALUES (?1)", [id as i64])
                .map(drop)
                .map_err(Into::into),
            Op::Fail => c.execute("SELEC 1", []).map(drop).map_err(Into::into),
            Op::Reset => self.manager.reset(c),
        };
        let committed = item_ids(&self.path).into_iter().map(|id| id as usize).collect();
        Seen { result: result.map_err(|e| e.kind()), in_transaction: c.in_transaction(), committed }
    }
}

/// The fake side.
struct Fake {
    db: FakeDatabase,
    manager: FakeManager,
    conn: FakeConnection,
    seal: Seal,
}

impl Fake {
    fn open() -> Fake {
        let db = FakeDatabase::new();
        let manager = db.manager();
        let conn = manager.connect().expect("connect");
        Fake { db, manager, conn, seal: Seal::new() }
    }

    fn step(&mut self, op: Op) -> Seen {
        let c = &mut self.conn;
        let result = match op {
            Op::BeginImmediate => c.begin_immediate(),
            Op::Commit => c.commit(),
            Op::Rollback => c.rollback(),
            Op::Savepoint => c.savepoint(),
            Op::ReleaseSavepoint => c.release_savepoint(),
            Op::RollbackToSavepoint => c.rollback_to_savepoint(),
            Op::InstallSeal => c.install_seal(&self.seal),
            Op::RemoveSeal => c.remove_seal(),
            Op::Engage => {
                self.seal.engage();
                Ok(())
            }
            Op::Lift => {
                self.seal.lift();
                Ok(())
            }
            Op::Execute(s, false) => c.execute(s),
            Op::Execute(s, true) => c.execute_cached(s),
            Op::PrepareCached(s) => c.prepare_cached(s),
            Op::Insert(id) => c.insert_id(id),
            Op::InsertOrRollback(id) => c.insert_or_rollback(id),
            Op::Fail => c.fail(),
            Op::Reset => self.manager.reset(c),
        };
        Seen {
            result: result.map_err(|e| e.kind()),
            in_transaction: c.in_transaction(),
            committed: self.db.committed_ids(),
        }
    }
}

/// Runs `ops` on both sides, failing at the first step whose outcome differs.
fn compare(ops: &[Op]) -> Result<(), TestCaseError> {
    let db = TempDb::new();
    let mut real = Real::open(&db);
    let mut fake = Fake::open();
    for (at, &op) in ops.iter().enumerate() {
        let (sqlite, model) = (real.step(op), fake.step(op));
        prop_assert_eq!(
            &sqlite,
            &model,
            "step {} ({:?}) of {:?}: SQLite (left) and the fake (right) differ",
            at,
            op,
            ops
        );
    }
    Ok(())
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/fidelity.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Random sequences: the fake does what SQLite does, step by step. Inside
/// `within`: a fake whose write lock were taken twice would hang, not fail.
#[test]
fn the_fake_does_what_sqlite_does() {
    within(Duration::from_secs(240), "the fidelity sequences", || {
        let mut runner = proptest::test_runner::TestRunner::new(config());
        let ops = prop::collection::vec(op(), 1..40);
        if let Err(e) = runner.run(&ops, |ops| compare(&ops)) {
            panic!("{e}");
        }
    });
}

/// The sequences behind the bug issue 21 reports, and the holes around it,
/// spelled out: each must agree on both sides whatever the random runs
/// draw.
#[test]
fn the_seal_against_cached_statements_agrees_with_sqlite() {
    use Op::*;
    use Statement as S;
    let m = MEMBER_SAVEPOINT;
    let cases: &[&[Op]] = &[
        // litepool's COMMIT cached unsealed, then run by sealed work.
        &[
            BeginImmediate,
            Insert(1),
            Commit,
            BeginImmediate,
            Insert(2),
            Savepoint,
            InstallSeal,
            Engage,
            Execute(S::Commit, true),
        ],
        // The same with ROLLBACK, and with RELEASE/ROLLBACK TO of litepool's savepoint.
        &[
            BeginImmediate,
            Rollback,
            BeginImmediate,
            Insert(1),
            Savepoint,
            InstallSeal,
            Engage,
            Execute(S::Rollback, true),
        ],
        &[
            BeginImmediate,
            Savepoint,
            ReleaseSavepoint,
            Insert(1),
            Savepoint,
            InstallSeal,
            Engage,
            Execute(S::Release(m), true),
            Lift,
            RemoveSeal,
            ReleaseSavepoint,
            Commit,
        ],
        &[
            BeginImmediate,
            Savepoint,
            RollbackToSavepoint,
            Savepoint,
            Insert(1),
            InstallSeal,
            Engage,
            Execute(S::RollbackTo(m), true),
        ],
        // A statement the work cached unsealed, run sealed.
        &[
            PrepareCached(S::Commit),
            BeginImmediate,
            Insert(1),
            Savepoint,
            InstallSeal,
            Engage,
            Execute(S::Commit, true),
        ],
        // A savepoint left open before the seal is not the sealed work's.
        &[
            BeginImmediate,
            Execute(S::Savepoint("a"), false),
            Insert(1),
            Savepoint,
            InstallSeal,
            Engage,
            Execute(S::RollbackTo("a"), true),
        ],
        // The work's own savepoints are its to end, in either spelling.
        &[
            BeginImmediate,
            Savepoint,
            InstallSeal,
            Engage,
            Execute(S::Savepoint("a"), true),
            Insert(1),
            Execute(S::RollbackTo("A"), true),
            Execute(S::Release("a"), false),
            Lift,
            RemoveSeal,
            ReleaseSavepoint,
            Commit,
        ],
        // A savepoint outside a transaction begins one; its RELEASE commits.
        &[
            Savepoint,
            Insert(3),
            ReleaseSavepoint,
            Execute(S::Savepoint("a"), true),
            Insert(4),
            Execute(S::RollbackTo("a"), true),
            Execute(S::Release("a"), true),
        ],
        // INSERT OR ROLLBACK of a taken id ends everything.
        &[Insert(1), BeginImmediate, Insert(2), Savepoint, InsertOrRollback(1), Commit],
        // Handed back mid-transaction.
        &[BeginImmediate, Insert(5), Reset, Insert(5)],
        // One authorizer for a batch of two sealed callers (issue 23):
        // litepool's savepoint statements, prepared lifted, are not in
        // the cache for the second caller's work to run sealed.
        &[
            BeginImmediate,
            Insert(1),
            InstallSeal,
            Savepoint,
            Engage,
            Insert(2),
            Lift,
            ReleaseSavepoint,
            Savepoint,
            Engage,
            Execute(S::Release(m), true),
            Execute(S::RollbackTo(m), true),
            Insert(3),
            Lift,
            ReleaseSavepoint,
            RemoveSeal,
            Commit,
        ],
        // What one sealed caller cached (its own savepoint's RELEASE) runs
        // unchecked for the next: the savepoint is gone, so it fails.
        &[
            BeginImmediate,
            InstallSeal,
            Savepoint,
            Engage,
            Execute(S::Savepoint("a"), true),
            Execute(S::Release("a"), true),
            Lift,
            ReleaseSavepoint,
            Savepoint,
            Engage,
            Execute(S::Release("a"), true),
            Execute(S::Commit, true),
            Lift,
            RemoveSeal,
            Execute(S::Commit, true),
        ],
        // ... unless the batch's first write left one of that name open.
        &[
            BeginImmediate,
            Execute(S::Savepoint("a"), false),
            Insert(1),
            InstallSeal,
            Savepoint,
            Engage,
            Execute(S::Savepoint("a"), true),
            Execute(S::Release("a"), true),
            Lift,
            ReleaseSavepoint,
            Savepoint,
            Engage,
            Insert(2),
            Execute(S::Release("a"), true),
            Lift,
            ReleaseSavepoint,
            RollbackToSavepoint,
        ],
    ];
    for ops in cases {
        compare(ops).unwrap_or_else(|e| panic!("{e}"));
    }
}
