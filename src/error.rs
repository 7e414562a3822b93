//! One error type for everything litepool returns.
//!
//! Callers branch on what happened, not on SQLite's numeric codes: each
//! [`ErrorKind`] has a predicate (`is_busy()`, `is_timeout()`, …), and every
//! message says what happened and what to do about it, for example
//! `pool exhausted: 4 of 4 connections in use after waiting 30s; raise
//! max_size or return connections sooner`. The underlying `rusqlite::Error`,
//! where there is one, is the error's [`source`](std::error::Error::source).

use std::fmt;
use std::path::Path;
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
    /// The work given to the async facade (`litepool::tokio`) panicked; the
    /// panic's message is in the error's. Whatever it wrote was undone.
    Panicked,
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

    /// A copy for each member of a batch: the same kind and message (the
    /// source stays with the original).
    pub(crate) fn copy(&self) -> Error {
        Error::new(self.kind, self.message.clone())
    }

    /// A manager or connection type that cannot do what a strategy needs.
    pub(crate) fn unsupported(what: &str) -> Error {
        Error::config(what)
    }

    pub(crate) fn empty_path() -> Error {
        Error::config("database path is empty; pass a file path such as \"app.db\"")
    }

    pub(crate) fn path_is_a_directory(path: &Path) -> Error {
        Error::new(
            ErrorKind::Open,
            format!(
                "cannot open database {:?}: it is a directory; pass the path of a file inside it",
                path.display()
            ),
        )
    }

    /// SQLite could not open (or read) the database at `path`.
    pub(crate) fn cannot_open(err: rusqlite::Error, path: &Path) -> Error {
        Error::from(err).with_context(format!("cannot open database {:?}", path.display()))
    }

    pub(crate) fn only_read_only(path: &Path) -> Error {
        Error::new(
            ErrorKind::ReadOnly,
            format!(
                "database {:?} can only be opened read-only (check the file's and its directory's \
                 permissions); make it writable, or open it with OpenFlags::SQLITE_OPEN_READ_ONLY and \
                 only read",
                path.display()
            ),
        )
    }

    pub(crate) fn journal_mode_kept(path: &Path, kept: &str, wanted: &str) -> Error {
        Error::config(format!(
            "database {:?} stayed in journal mode {kept:?} when {wanted:?} was asked for; another \
             process may hold it open in that mode, or it is an in-memory database",
            path.display()
        ))
    }

    /// The manager's `with_init` hook failed with `e`.
    pub(crate) fn init_failed(e: rusqlite::Error) -> Error {
        Error::new(
            ErrorKind::Init,
            format!("the with_init hook failed on a new connection: {e}; fix the hook"),
        )
        .with_source(e)
    }

    pub(crate) fn read_only_file_not_in_wal(path: &Path, mode: &str) -> Error {
        Error::config(format!(
            "SplitPool and GroupCommit need WAL, but {:?} is in journal mode {mode:?} and the manager \
             opens it read-only, so litepool cannot switch it; switch it to WAL with a read-write \
             manager first, or read it through a Pool",
            path.display()
        ))
    }

    /// A WAL-only strategy over a manager that `sets` another journal mode.
    pub(crate) fn needs_wal(path: &Path, sets: &str) -> Error {
        Error::config(format!(
            "SplitPool needs WAL, but the manager for {:?} {sets}: in a rollback journal a reader \
             blocks the writer's commit and the writer blocks new readers; use \
             journal_mode(JournalMode::Wal), the default",
            path.display()
        ))
    }

    #[cfg(not(any(loom, shuttle)))]
    /// The stress engine was asked to join a table no stress run made.
    pub(crate) fn not_a_stress_table(table: &str, prefix: &str) -> Error {
        Error::config(format!(
            "{table:?} is not a stress run's table (those are named {prefix}<digits>); a run writes only \
             into a table it created"
        ))
    }

    #[cfg(not(any(loom, shuttle)))]
    pub(crate) fn no_stress_rows(table: &str) -> Error {
        Error::config(format!("the stress run's table {table:?} does not exist or holds no preloaded rows"))
    }

    #[cfg(not(any(loom, shuttle)))]
    /// A strategy under the stress engine broke its contract (`what` it did).
    pub(crate) fn strategy_broke(what: &str) -> Error {
        Error::new(ErrorKind::Internal, format!("the strategy {what}"))
    }

    pub(crate) fn zero_max_size() -> Error {
        Error::config(
            "max_size must be at least 1, got 0: a pool without connections could never hand one out",
        )
    }

    pub(crate) fn min_idle_above_max_size(min_idle: usize, max_size: usize) -> Error {
        Error::config(format!(
            "min_idle ({min_idle}) is larger than max_size ({max_size}); lower min_idle or raise max_size"
        ))
    }

    pub(crate) fn zero_batch_cap() -> Error {
        Error::config(
            "a batch cap of 0 would commit nothing; use 1 for one COMMIT per write, or more to batch",
        )
    }

    /// A batched write's work ran a statement the seal refused
    /// (`SQLITE_AUTH`): what the group strategy refuses, and why
    /// (`savepoint`: the name of litepool's own).
    pub(crate) fn refused_in_batch(e: Error, savepoint: &str) -> Error {
        Error::new(
            ErrorKind::Sql,
            format!(
                "{e}: the group strategy refuses BEGIN, COMMIT and ROLLBACK inside a batched write, \
                 RELEASE or ROLLBACK TO of any savepoint the write did not open itself, and a savepoint \
                 named as litepool's ({savepoint}), because other callers' rows share its \
                 transaction; return an error to undo this write instead"
            ),
        )
    }

    /// A batched write failed (`first`), and undoing it alone failed too.
    pub(crate) fn undo_in_batch_failed(first: Error, undo: &Error) -> Error {
        Error::new(
            first.kind,
            format!(
                "{first}; undoing this write alone failed too ({undo}), so its whole batch was rolled back"
            ),
        )
    }

    /// What every member of a batch hears when the batch's transaction
    /// was rolled back before its `COMMIT`, because of `why`.
    pub(crate) fn batch_rolled_back(why: &str) -> Error {
        Error::new(
            ErrorKind::Aborted,
            format!(
                "this write was not applied: the transaction it was batched in with other writes was \
                 rolled back before it committed, because of another write in the batch ({why}); \
                 retrying it is safe"
            ),
        )
    }

    /// What every member of a batch hears when litepool could not remove
    /// the batch's seal before its `COMMIT` (`e`): the connection cannot
    /// be trusted, so it was closed, which rolled the batch back.
    pub(crate) fn seal_not_removed(e: &Error) -> Error {
        Error::new(
            ErrorKind::Aborted,
            format!(
                "this write was not applied: litepool could not remove the seal of the batch it was in \
                 ({e}), so it closed the connection, which rolled the batch back; retrying it is safe"
            ),
        )
    }

    /// What every member of a batch hears when its `COMMIT` failed.
    pub(crate) fn batch_commit_failed(e: &Error) -> Error {
        Error::new(e.kind, format!("the COMMIT of this write's batch failed, so it was not applied: {e}"))
    }

    /// What every member of a batch hears when the thread running the
    /// batch unwound before its `COMMIT` (a panic outside any caller's
    /// work): the connection was closed, which rolled the batch back.
    pub(crate) fn batch_runner_panicked() -> Error {
        Error::new(
            ErrorKind::Aborted,
            "this write was not applied: the thread running its batch panicked outside any write's \
             work (in a manager callback, say) before the batch's COMMIT, and the batch was rolled \
             back; retrying it is safe",
        )
    }

    /// A member of batch `number` found the batch ended without its outcome.
    pub(crate) fn outcome_lost(number: u64) -> Error {
        Error::new(
            ErrorKind::Internal,
            format!(
                "group commit lost the outcome of batch {number}, which this write joined: whether it \
                 committed is unknown, so look for its rows before retrying it. This is a bug in \
                 litepool; please report it"
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

    /// What an async caller hears when its work panicked (on litepool's
    /// thread, where the panic was caught): what it did was undone.
    #[cfg(any(feature = "tokio", loom, shuttle))]
    pub(crate) fn work_panicked(panic: &(dyn std::any::Any + Send), write: bool) -> Error {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a payload that is not a string".to_owned());
        let undone = if write { "nothing it wrote was committed" } else { "the read was abandoned" };
        Error::new(
            ErrorKind::Panicked,
            format!("the work panicked: {what}; {undone}, and the connection is ready for the next caller"),
        )
    }

    /// What an async write hears when the writer thread could not be kept
    /// going (it could not be started).
    #[cfg(any(feature = "tokio", loom, shuttle))]
    pub(crate) fn cannot_start_thread(what: &str, e: &std::io::Error) -> Error {
        Error::new(
            ErrorKind::Internal,
            format!("litepool could not start its {what} thread: {e}; the facade is closed"),
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
