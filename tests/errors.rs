//! Error mapping, driven by the real SQLite conditions: each row of the
//! table makes SQLite fail in one way, on the write path of a real
//! strategy, and checks the `ErrorKind` it became, that exactly one
//! predicate says so, the SQLite code behind it, and the advice in its
//! message. Then the parts of `Error` a caller builds on: `source()`,
//! `sqlite_error()`, `extended_code()`, `with_hint`, `with_context`.

mod support;

use std::fs;

use litepool::rusqlite::{self, Connection};
use litepool::{AccessExt, Error, ErrorKind, Pool, SqliteManager};
use support::TempDb;

/// Every predicate of `err`, by name, with its answer.
fn predicates(err: &Error) -> [(ErrorKind, bool); 9] {
    [
        (ErrorKind::PoolExhausted, err.is_timeout()),
        (ErrorKind::Closed, err.is_closed()),
        (ErrorKind::Busy, err.is_busy()),
        (ErrorKind::Full, err.is_full()),
        (ErrorKind::ReadOnly, err.is_read_only()),
        (ErrorKind::Config, err.is_config()),
        (ErrorKind::Open, err.is_open()),
        (ErrorKind::Constraint, err.is_constraint()),
        (ErrorKind::Corrupt, err.is_corrupt()),
    ]
}

/// Asserts that `err` is of `kind`, that the one predicate for `kind` (if
/// it has one) is the only one true, and that its message carries `advice`.
fn assert_kind(what: &str, err: &Error, kind: ErrorKind, advice: &str) {
    assert_eq!(err.kind(), kind, "{what}: {err}");
    for (of, says) in predicates(err) {
        assert_eq!(says, of == kind, "{what}: is_{of:?}() says {says} for a {kind:?} error: {err}");
    }
    assert!(err.to_string().contains(advice), "{what}: no {advice:?} in: {err}");
    assert_eq!(err.message(), err.to_string(), "{what}");
}

fn pool(path: &std::path::Path) -> Pool<SqliteManager> {
    Pool::builder().max_size(2).open(SqliteManager::file(path)).unwrap()
}

/// One row: a SQLite condition made on purpose, the kind it must map to,
/// the primary SQLite code behind it, and the advice the message gives.
struct Row {
    condition: &'static str,
    kind: ErrorKind,
    /// `None` where rusqlite reports the error as its own (a syntax error
    /// is `SqlInputError`, with the offset, not a bare `SqliteFailure`).
    code: Option<rusqlite::ErrorCode>,
    advice: &'static str,
    make: fn(&TempDb) -> Error,
}

fn write_error(pool: &Pool<SqliteManager>, sql: &str) -> Error {
    pool.write(|c| Ok(c.execute_batch(sql)?)).unwrap_err()
}

const ROWS: &[Row] = &[
    Row {
        condition: "another connection holds the write lock (SQLITE_BUSY)",
        kind: ErrorKind::Busy,
        code: Some(rusqlite::ErrorCode::DatabaseBusy),
        advice: "raise the busy timeout",
        make: |db| {
            let path = db.path("busy.db");
            let pool =
                Pool::open(SqliteManager::file(&path).busy_timeout(std::time::Duration::ZERO)).unwrap();
            let holder = Connection::open(&path).unwrap();
            holder.execute_batch("BEGIN IMMEDIATE").unwrap();
            write_error(&pool, "CREATE TABLE t (x)")
        },
    },
    Row {
        condition: "a table dropped while the same connection reads it (SQLITE_LOCKED)",
        kind: ErrorKind::Busy,
        code: Some(rusqlite::ErrorCode::DatabaseLocked),
        advice: "raise the busy timeout",
        make: |db| {
            let pool = pool(&db.path("locked.db"));
            pool.write(|c| Ok(c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);")?))
                .unwrap();
            pool.write(|c| {
                let mut reading = c.prepare("SELECT x FROM t")?;
                let mut rows = reading.query([])?;
                rows.next()?;
                c.execute_batch("DROP TABLE t")?;
                Ok(())
            })
            .unwrap_err()
        },
    },
    Row {
        condition: "the database reached max_page_count (SQLITE_FULL)",
        kind: ErrorKind::Full,
        code: Some(rusqlite::ErrorCode::DiskFull),
        advice: "max_page_count",
        make: |db| {
            let pool = pool(&db.path("full.db"));
            pool.write(|c| Ok(c.execute_batch("CREATE TABLE t (x)")?)).unwrap();
            write_error(&pool, "PRAGMA max_page_count = 3; INSERT INTO t SELECT zeroblob(100000);")
        },
    },
    Row {
        condition: "a write under PRAGMA query_only (SQLITE_READONLY)",
        kind: ErrorKind::ReadOnly,
        code: Some(rusqlite::ErrorCode::ReadOnly),
        advice: "permissions",
        make: |db| {
            let pool = pool(&db.path("ro.db"));
            write_error(&pool, "PRAGMA query_only = ON; CREATE TABLE t (x);")
        },
    },
    Row {
        condition: "a file that is not a database (SQLITE_NOTADB)",
        kind: ErrorKind::Corrupt,
        code: Some(rusqlite::ErrorCode::NotADatabase),
        advice: "restore it from a backup",
        make: |db| {
            let path = db.path("text.db");
            fs::write(&path, "this is not a database, but it is long enough to have a header ".repeat(20))
                .unwrap();
            Pool::open(SqliteManager::file(&path)).unwrap_err()
        },
    },
    Row {
        condition: "a directory that does not exist (SQLITE_CANTOPEN)",
        kind: ErrorKind::Open,
        code: Some(rusqlite::ErrorCode::CannotOpen),
        advice: "check that the directory exists",
        make: |db| Pool::open(SqliteManager::file(db.path("missing/x.db"))).unwrap_err(),
    },
    Row {
        condition: "a UNIQUE violation (SQLITE_CONSTRAINT)",
        kind: ErrorKind::Constraint,
        code: Some(rusqlite::ErrorCode::ConstraintViolation),
        advice: "change the data or the schema",
        make: |db| {
            let pool = pool(&db.path("unique.db"));
            write_error(&pool, "CREATE TABLE t (x UNIQUE); INSERT INTO t VALUES (1), (1);")
        },
    },
    Row {
        condition: "a NOT NULL violation (SQLITE_CONSTRAINT)",
        kind: ErrorKind::Constraint,
        code: Some(rusqlite::ErrorCode::ConstraintViolation),
        advice: "change the data or the schema",
        make: |db| {
            let pool = pool(&db.path("notnull.db"));
            write_error(&pool, "CREATE TABLE t (x NOT NULL); INSERT INTO t VALUES (NULL);")
        },
    },
    Row {
        condition: "a CHECK violation (SQLITE_CONSTRAINT)",
        kind: ErrorKind::Constraint,
        code: Some(rusqlite::ErrorCode::ConstraintViolation),
        advice: "change the data or the schema",
        make: |db| {
            let pool = pool(&db.path("check.db"));
            write_error(&pool, "CREATE TABLE t (x CHECK (x > 0)); INSERT INTO t VALUES (0);")
        },
    },
    Row {
        condition: "a foreign key violation, foreign keys on by default (SQLITE_CONSTRAINT)",
        kind: ErrorKind::Constraint,
        code: Some(rusqlite::ErrorCode::ConstraintViolation),
        advice: "change the data or the schema",
        make: |db| {
            let pool = pool(&db.path("fk.db"));
            write_error(
                &pool,
                "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (p REFERENCES p(id)); \
                 INSERT INTO c VALUES (7);",
            )
        },
    },
    Row {
        condition: "a syntax error (SQLITE_ERROR)",
        kind: ErrorKind::Sql,
        code: None,
        advice: "the statement was not applied",
        make: |db| write_error(&pool(&db.path("sql.db")), "SELEC nonsense"),
    },
];

/// Each row's condition maps to its kind, its predicate alone, its SQLite
/// code (reachable through `source()`, `sqlite_error()` and
/// `extended_code()`), and its advice.
#[test]
fn every_sqlite_condition_maps_to_its_error_kind() {
    let db = TempDb::new();
    for row in ROWS {
        let err = (row.make)(&db);
        assert_kind(row.condition, &err, row.kind, row.advice);
        let sqlite =
            err.sqlite_error().unwrap_or_else(|| panic!("{}: no rusqlite error behind {err}", row.condition));
        assert_eq!(sqlite.sqlite_error_code(), row.code, "{}: {sqlite}", row.condition);
        if let Some(code) = sqlite.sqlite_error() {
            assert_eq!(err.extended_code(), Some(code.extended_code), "{}", row.condition);
        }
        let source = std::error::Error::source(&err).expect("source()");
        assert!(source.downcast_ref::<rusqlite::Error>().is_some(), "{}", row.condition);
        println!("ERROR-KIND | {} | `{:?}` | {:?} |", row.condition, err.kind(), err.extended_code());
    }
}

/// Errors litepool makes itself carry no SQLite error, and each has its
/// kind and predicate; `with_hint` appends and `with_context` prepends,
/// leaving the kind and the source alone.
#[test]
fn litepool_errors_and_their_builders() {
    let db = TempDb::new();
    let pool = Pool::builder().max_size(1).open(SqliteManager::file(db.path("own.db"))).unwrap();
    let held = pool.get().unwrap();
    let exhausted = pool.try_get().map(drop).unwrap_err();
    assert_kind("try_get on a full pool", &exhausted, ErrorKind::PoolExhausted, "raise max_size");
    drop(held);
    pool.close();
    let closed = pool.get().map(drop).unwrap_err();
    assert_kind("get after close", &closed, ErrorKind::Closed, "open a new one");
    let config = Pool::builder().max_size(0).open(SqliteManager::file(db.path("own.db"))).unwrap_err();
    assert_kind("max_size(0)", &config, ErrorKind::Config, "max_size must be at least 1");
    for err in [&exhausted, &closed, &config] {
        assert!(err.sqlite_error().is_none() && err.extended_code().is_none(), "{err}");
        assert!(std::error::Error::source(err).is_none(), "{err}");
    }

    let sqlite = Error::from(Connection::open_in_memory().unwrap().execute_batch("SELEC").unwrap_err());
    let built = sqlite.with_hint("a hint").with_context("while testing");
    assert!(built.to_string().starts_with("while testing: "), "{built}");
    assert!(built.to_string().ends_with("; a hint"), "{built}");
    assert_eq!(built.kind(), ErrorKind::Sql);
    assert!(built.sqlite_error().is_some(), "the source survives the builders");
    let debug = format!("{built:?}");
    assert!(debug.contains("kind: Sql") && debug.contains("source"), "{debug}");
    let custom = Error::new(ErrorKind::Init, "custom").with_source(std::io::Error::other("io"));
    assert_eq!(std::error::Error::source(&custom).unwrap().to_string(), "io");
    assert!(custom.sqlite_error().is_none(), "an io error is not a SQLite error");
}
