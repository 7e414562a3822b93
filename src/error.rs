//! One error type for everything litepool returns.
//!
//! Callers branch on what happened, not on SQLite's numeric codes: each
//! [`ErrorKind`] has a predicate (`is_busy()`, `is_timeout()`, …), and every
//! message says what happened and what to do about it, for example
//! `pool exhausted: 4 of 4 connections in use after waiting 30s; raise
//! max_size or return connections sooner`. The underlying `rusqlite::Error`,
//! where there is one, is the error's [`source`](std::error::Error::source).

use std::fmt;
use std::time::Duration;

/// Shorthand for `Result<T, litepool::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a caller can act on.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A setting is out of range (`max_size(0)`, an empty path, …).
    Config,
    /// The database could not be opened: missing directory, a directory
    /// given as the file, no permission.
    Open,
    /// The per-connection setup hook (`with_init`) failed.
    Init,
    /// Every pool connection stayed in use for the whole wait.
    PoolExhausted,
    /// The pool or connection was closed with `close()`.
    Closed,
    /// SQLite reported `SQLITE_BUSY` or `SQLITE_LOCKED`: another connection
    /// held a lock for longer than the busy timeout.
    Busy,
    /// `SQLITE_FULL`: the disk or `max_page_count` is full.
    Full,
    /// `SQLITE_READONLY`: a write to a database opened (or only openable)
    /// read-only.
    ReadOnly,
    /// `SQLITE_CORRUPT` or `SQLITE_NOTADB`: the file is damaged or is not a
    /// SQLite database.
    Corrupt,
    /// A constraint (`UNIQUE`, `NOT NULL`, `CHECK`, foreign key) was violated.
    Constraint,
    /// Any other error from SQLite or rusqlite, such as invalid SQL.
    Sql,
    /// The write was not applied because the transaction it shared with
    /// other callers' writes ([`GroupCommit`](crate::GroupCommit)) was
    /// rolled back by something one of them did (SQLite rolling the whole
    /// transaction back after `SQLITE_FULL`, say). Nothing of it was
    /// committed; retrying it is safe.
    Aborted,
    /// litepool found one of its own invariants broken (a bug): what
    /// happened to the operation is unknown, and the message says what to
    /// check before retrying it.
    Internal,
}

/// The error type of every litepool operation.
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` whose message is `message`, with no source.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), source: None }
    }

    /// Attaches the lower-level error this one was caused by.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.source = Some(Box::new(source));
        self
    }

    /// Appends a sentence of advice or context to the message.
    pub fn with_hint(mut self, hint: impl fmt::Display) -> Error {
        self.message = format!("{}; {hint}", self.message);
        self
    }

    /// Puts `context` (what litepool was doing) in front of the message.
    pub fn with_context(mut self, context: impl fmt::Display) -> Error {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The whole message, as `Display` prints it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The pool had no free connection within the wait.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::PoolExhausted
    }

    /// The pool or connection was closed.
    pub fn is_closed(&self) -> bool {
        self.kind == ErrorKind::Closed
    }

    /// SQLite gave up waiting for another connection's lock.
    pub fn is_busy(&self) -> bool {
        self.kind == ErrorKind::Busy
    }

    /// The database or disk is full.
    pub fn is_full(&self) -> bool {
        self.kind == ErrorKind::Full
    }

    /// A write hit a read-only database.
    pub fn is_read_only(&self) -> bool {
        self.kind == ErrorKind::ReadOnly
    }

    /// A setting was out of range.
    pub fn is_config(&self) -> bool {
        self.kind == ErrorKind::Config
    }

    /// The database could not be opened.
    pub fn is_open(&self) -> bool {
        self.kind == ErrorKind::Open
    }

    /// A constraint was violated.
    pub fn is_constraint(&self) -> bool {
        self.kind == ErrorKind::Constraint
    }

    /// The file is corrupt or not a SQLite database.
    pub fn is_corrupt(&self) -> bool {
        self.kind == ErrorKind::Corrupt
    }

    /// The write's batch was rolled back because of another caller's write;
    /// retrying it is safe.
    pub fn is_aborted(&self) -> bool {
        self.kind == ErrorKind::Aborted
    }

    /// The underlying rusqlite error, if SQLite caused this one.
    pub fn sqlite_error(&self) -> Option<&rusqlite::Error> {
        self.source.as_ref()?.downcast_ref()
    }

    /// SQLite's extended result code (for example 5 `SQLITE_BUSY`, 517
    /// `SQLITE_BUSY_SNAPSHOT`), if SQLite caused this error.
    pub fn extended_code(&self) -> Option<i32> {
        match self.sqlite_error()? {
            rusqlite::Error::SqliteFailure(e, _) => Some(e.extended_code),
            _ => None,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    pub(crate) fn exhausted(in_use: usize, max_size: usize, waited: Option<Duration>) -> Error {
        let how = match waited {
            Some(d) => format!("after waiting {d:?}"),
            None => "and try_get does not wait".to_owned(),
        };
        Error::new(
            ErrorKind::PoolExhausted,
            format!(
                "pool exhausted: {in_use} of {max_size} connections in use {how}; \
                 raise max_size or return connections sooner"
            ),
        )
    }

    /// A writer that waited its whole write timeout in a line (`src/line.rs`)
    /// for `resource`, with `ahead` callers ahead of it in `line`.
    pub(crate) fn waited_in_line(
        what: &str,
        resource: &str,
        timeout: Duration,
        ahead: usize,
        line: &str,
    ) -> Error {
        Error::new(
            ErrorKind::Busy,
            format!(
                "{what} waited {timeout:?} for {resource} and did not get it: {ahead} writer(s) were ahead \
                 of it in {line}; keep write transactions short or raise the busy timeout"
            ),
        )
    }

    pub(crate) fn transaction_ended_by_work() -> Error {
        Error::new(
            ErrorKind::Sql,
            "the write's work ended litepool's transaction itself (a COMMIT or ROLLBACK inside \
             write, a trigger's RAISE(ROLLBACK), or an error such as SQLITE_FULL that SQLite \
             answered by rolling back); what ran after that was not part of one atomic write. \
             Do not end the transaction inside write, and return errors instead of ignoring them",
        )
    }

    /// The error of a call on a closed strategy ([`ErrorKind::Closed`]);
    /// `what` names it ("pool", say). For strategies written outside
    /// litepool.
    pub fn closed(what: &str) -> Error {
        Error::new(
            ErrorKind::Closed,
            format!("{what} is closed: close() was called on it; open a new one to go on"),
        )
    }
}

impl From<rusqlite::Error> for Error {
    /// Classifies a rusqlite error and says what to do about it.
    fn from(err: rusqlite::Error) -> Error {
        use rusqlite::ErrorCode as C;
        let (kind, advice) = match err.sqlite_error_code() {
            Some(C::DatabaseBusy | C::DatabaseLocked) => (
                ErrorKind::Busy,
                "another connection held the lock for longer than the busy timeout; \
                 keep write transactions short or raise the busy timeout",
            ),
            Some(C::DiskFull) => (
                ErrorKind::Full,
                "the transaction was rolled back; free disk space, delete rows \
                 or raise PRAGMA max_page_count",
            ),
            Some(C::ReadOnly) => (
                ErrorKind::ReadOnly,
                "check the file's and its directory's permissions, or open the \
                 database read-only and do not write",
            ),
            Some(C::NotADatabase | C::DatabaseCorrupt) => (
                ErrorKind::Corrupt,
                "the file is damaged or is not a SQLite database; restore it from \
                 a backup or point litepool at another file",
            ),
            Some(C::CannotOpen) => (
                ErrorKind::Open,
                "check that the directory exists and is writable and that the path \
                 names a file",
            ),
            Some(C::ConstraintViolation) => {
                (ErrorKind::Constraint, "the statement was not applied; change the data or the schema")
            }
            _ => (ErrorKind::Sql, "the statement was not applied"),
        };
        Error::new(kind, format!("{err}; {advice}")).with_source(err)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}
