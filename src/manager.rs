//! What a strategy manages: a [`Manager`] opens connections, and a
//! [`Transactional`] connection can begin, commit and roll back.
//!
//! The strategies are generic over these two traits for one reason: so the
//! loom models can swap SQLite for a fake connection that reports any
//! concurrent use (`litepool::fake`, built under `cfg(loom)`). A real file
//! lock or SQLite busy wait inside a loom model would hang it, because loom
//! runs every model thread on one OS thread.
//!
//! [`SqliteManager`] is the real one. Its setup order is deliberate (see
//! `SQLITE-FACTS.md`): `busy_timeout` before anything else on each
//! connection, so that even the setup statements wait for locks instead of
//! failing; `journal_mode` exactly once, in [`Manager::prepare`], before any
//! strategy opens its connections, because switching to WAL needs an exclusive
//! lock that `busy_timeout` does not wait for, and several new connections
//! setting it at once get "database is locked".

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::sync::{Arc, AtomicBool, Ordering, UnmodeledArc, UnmodeledMutex};
use crate::write_queue::WriteQueue;

/// A connection whose transactions a strategy can control.
///
/// The write path of every strategy is `begin_immediate`, the caller's
/// work, then `commit` (or `rollback` on error); a connection coming back
/// with `in_transaction()` true is reset before anyone else gets it.
pub trait Transactional: Send + 'static {
    /// Starts a write transaction that takes the write lock now (SQLite's
    /// `BEGIN IMMEDIATE`), so it cannot fail later when upgrading a read.
    fn begin_immediate(&self) -> Result<()>;
    /// Commits the open transaction.
    fn commit(&self) -> Result<()>;
    /// Rolls back the open transaction.
    fn rollback(&self) -> Result<()>;
    /// Whether a transaction is open (SQLite: not in autocommit mode).
    fn in_transaction(&self) -> bool;

    /// Opens litepool's savepoint, [`MEMBER_SAVEPOINT`], inside the open
    /// transaction: the group strategy runs each caller's work after the
    /// first in one, so that a failing caller's rows can be undone alone.
    /// The default refuses (a connection type without savepoints cannot be
    /// used by [`GroupCommit`](crate::GroupCommit)).
    ///
    /// The three savepoint statements are prepared afresh each time, never
    /// from the statement cache: litepool prepares them while its [`Seal`]
    /// is lifted, and a cached copy would let the work run them sealed,
    /// unchecked, through `prepare_cached` of the same text.
    fn savepoint(&self) -> Result<()> {
        Err(no_savepoints())
    }

    /// Releases litepool's savepoint, keeping its rows in the transaction.
    fn release_savepoint(&self) -> Result<()> {
        Err(no_savepoints())
    }

    /// Undoes everything since litepool's savepoint, and releases it.
    fn rollback_to_savepoint(&self) -> Result<()> {
        Err(no_savepoints())
    }

    /// litepool's savepoint statements ready for the members of one batch,
    /// for a caller that runs many members in a row (the async facade's
    /// writer). They run only while the seal is lifted. The default runs
    /// [`savepoint`](Transactional::savepoint) and its siblings each time;
    /// a connection can prepare the three statements once instead, as
    /// long as the work cannot reach them (never through a statement cache
    /// the work shares, for the reason `savepoint` gives).
    fn member_savepoints(&self) -> Result<Box<dyn MemberSavepoints + '_>> {
        Ok(Box::new(EachTime(self)))
    }

    /// Installs the group strategy's authorizer for one batch: while `seal`
    /// is engaged, statements that would end the transaction or reach past
    /// the work's own rows (`BEGIN`, `COMMIT`, `ROLLBACK`, and `RELEASE` or
    /// `ROLLBACK TO` of any savepoint the sealed work did not open,
    /// litepool's included) fail instead of running, however and whenever
    /// they were prepared, so that one caller's work cannot commit, or
    /// undo, the rows of the others it shares a transaction with. What is
    /// refused is [`Seal::allows`]'s to say; the connection's part is to
    /// ask it at every prepare, and to expire every statement prepared
    /// before (SQLite does both when an authorizer is set).
    fn install_seal(&mut self, _seal: &Seal) -> Result<()> {
        Err(no_savepoints())
    }

    /// Removes the authorizer [`install_seal`](Transactional::install_seal)
    /// set (expiring every statement prepared under it). A connection whose
    /// removal failed must not be used again.
    fn remove_seal(&mut self) -> Result<()> {
        Err(no_savepoints())
    }

    /// Installs `stop` on the connection: from now on, while it is raised,
    /// every statement the connection steps fails with `SQLITE_INTERRUPT`
    /// (within a few of SQLite's VM steps), whoever runs it. The async
    /// facade installs one on each reader when it opens it, and raises it
    /// only while the read whose caller gave up is running (see [`Stop`]).
    /// The default refuses: a dropped read on such a connection then runs to
    /// its end, and only its answer is thrown away.
    fn install_stop(&mut self, _stop: &Stop) -> Result<()> {
        Err(Error::unsupported("stopping a running read (Transactional::install_stop)"))
    }

    /// Whether a statement on the connection is still stepping (started
    /// and not reset or finalized): such a connection may hold a read
    /// snapshot open in autocommit, and is not handed to anyone else. The
    /// default says no.
    fn is_stepping(&self) -> bool {
        false
    }
}

/// litepool's savepoint, [`MEMBER_SAVEPOINT`], opened and ended for one
/// member of a batch after another ([`Transactional::member_savepoints`]).
pub trait MemberSavepoints {
    /// `SAVEPOINT`: opens it.
    fn open(&mut self) -> Result<()>;
    /// `RELEASE`: keeps the member's rows in the transaction.
    fn release(&mut self) -> Result<()>;
    /// `ROLLBACK TO`, then `RELEASE`: undoes the member's rows alone.
    fn undo(&mut self) -> Result<()>;
}

/// The savepoint statements run through a connection's
/// [`Transactional`] methods each time (prepared afresh each time).
pub(crate) struct EachTime<'c, C: ?Sized>(pub(crate) &'c C);

impl<C: Transactional + ?Sized> MemberSavepoints for EachTime<'_, C> {
    fn open(&mut self) -> Result<()> {
        self.0.savepoint()
    }

    fn release(&mut self) -> Result<()> {
        self.0.release_savepoint()
    }

    fn undo(&mut self) -> Result<()> {
        self.0.rollback_to_savepoint()
    }
}

/// The three statements prepared once, outside rusqlite's statement cache
/// (so the work, which shares the connection, cannot run them), kept for
/// one run of members and finalized when it ends.
struct Prepared<'c> {
    open: rusqlite::Statement<'c>,
    release: rusqlite::Statement<'c>,
    rollback_to: rusqlite::Statement<'c>,
}

impl MemberSavepoints for Prepared<'_> {
    fn open(&mut self) -> Result<()> {
        self.open.execute([])?;
        Ok(())
    }

    fn release(&mut self) -> Result<()> {
        self.release.execute([])?;
        Ok(())
    }

    fn undo(&mut self) -> Result<()> {
        self.rollback_to.execute([])?;
        self.release()
    }
}

/// The async facade's way to stop one running read: a flag the reader's
/// connection checks as its statements step (for [`rusqlite::Connection`],
/// a progress handler every [`Stop::STEPS`] VM steps).
///
/// Why a flag and not `sqlite3_interrupt`: an interrupt is a call on the
/// connection, and one that arrives after the read it was meant for has
/// ended hits whatever runs next on that connection (iTwin PR #1156 and
/// turso #1833 were bitten by exactly that); and an interrupt with no
/// statement running is forgotten, so a read made of many short statements
/// would run on. The flag is raised only under the lock of the job it
/// belongs to, while that job is running, and lowered after the job's
/// outcome is published and before the next job starts, so it can only
/// ever stop the job it was raised for (`src/tokio/job.rs`). Raising it is
/// an atomic store: safe while the connection is closing, or closed.
#[derive(Clone, Debug)]
pub struct Stop {
    raised: Arc<AtomicBool>,
}

impl Stop {
    /// How often (in SQLite VM steps) a reader's progress handler looks at
    /// its stop. SQLite also asks the handler when a statement returns, so
    /// a statement of fewer steps is stopped too, once it has taken as many.
    pub const STEPS: i32 = 8;

    /// A lowered stop.
    pub fn new() -> Stop {
        Stop { raised: Arc::new(AtomicBool::new(false)) }
    }

    /// Whether statements must stop now: what the connection asks.
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// Raises the stop: the running statement, and every later one, fails
    /// until it is lowered.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
    }

    /// Lowers the stop.
    pub fn lower(&self) {
        self.raised.store(false, Ordering::SeqCst);
    }
}

impl Default for Stop {
    fn default() -> Stop {
        Stop::new()
    }
}

/// The switch of the group strategy's seal, shared between litepool (which
/// engages it around each batched caller's work, and lifts it for its own
/// statements) and the authorizer of the batch's connection.
///
/// Why a switch, and not an authorizer per caller: SQLite expires every
/// prepared statement of a connection whenever its authorizer changes, so
/// an authorizer set and removed around each caller's work made every
/// statement be prepared again for every caller (issue 21's seal); an
/// authorizer set once per batch costs one expiry per batch. Statements
/// prepared while the switch is engaged are checked when prepared, and
/// stay checked: a cached statement prepared under the batch's authorizer
/// was prepared sealed, and litepool's own statements, prepared lifted,
/// are never cached (see [`Transactional::savepoint`]); anything cached
/// before the batch was expired when the authorizer was set, and is
/// checked again when it next runs.
#[derive(Clone, Debug, Default)]
pub struct Seal {
    state: UnmodeledArc<UnmodeledMutex<SealState>>,
}

#[derive(Debug, Default)]
struct SealState {
    engaged: bool,
    /// The savepoints the work sealed now has opened, by name, lower case.
    opened: Vec<String>,
}

/// A statement the seal has a say in, as an authorizer sees it prepared.
#[non_exhaustive]
#[derive(Clone, Copy, Debug)]
pub enum Guarded<'a> {
    /// `BEGIN`, `COMMIT`/`END` or `ROLLBACK` (not `ROLLBACK TO`).
    Transaction,
    /// `SAVEPOINT name`.
    Savepoint(&'a str),
    /// `RELEASE name` or `ROLLBACK TO name`.
    EndSavepoint(&'a str),
}

impl Seal {
    /// A lifted seal.
    pub fn new() -> Seal {
        Seal::default()
    }

    /// Engages the seal for the next caller's work, which starts with no
    /// savepoint of its own.
    pub fn engage(&self) {
        let mut state = self.lock();
        state.engaged = true;
        state.opened.clear();
    }

    /// Lifts the seal: litepool's own statements run.
    pub fn lift(&self) {
        self.lock().engaged = false;
    }

    /// Whether a statement prepared now may run: lifted, anything; engaged,
    /// no `BEGIN`, `COMMIT` or `ROLLBACK`, no `RELEASE` or `ROLLBACK TO`
    /// of a savepoint the work did not open since the seal was engaged,
    /// and no savepoint named as litepool's, [`MEMBER_SAVEPOINT`] (names
    /// compared as SQLite does, without case). Records a savepoint the
    /// sealed work opens.
    pub fn allows(&self, statement: Guarded<'_>) -> bool {
        let mut state = self.lock();
        if !state.engaged {
            return true;
        }
        match statement {
            Guarded::Transaction => false,
            // A savepoint of litepool's name would be the one litepool's
            // ROLLBACK TO undoes, leaving the work's earlier rows in.
            Guarded::Savepoint(name) if name.eq_ignore_ascii_case(MEMBER_SAVEPOINT) => false,
            Guarded::Savepoint(name) => {
                state.opened.push(name.to_ascii_lowercase());
                true
            }
            Guarded::EndSavepoint(name) => state.opened.iter().any(|own| own.eq_ignore_ascii_case(name)),
        }
    }

    fn lock(&self) -> impl std::ops::DerefMut<Target = SealState> + '_ {
        // A panic while locked cannot leave the state half-changed.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The savepoint the group strategy runs a batched caller's work in: a name
/// no user will pick.
pub const MEMBER_SAVEPOINT: &str = "litepool_group_member_5f2c";

// litepool's three savepoint statements, spelled once (the name above).
const SAVEPOINT_SQL: &str = "SAVEPOINT litepool_group_member_5f2c";
const RELEASE_SQL: &str = "RELEASE litepool_group_member_5f2c";
const ROLLBACK_TO_SQL: &str = "ROLLBACK TO litepool_group_member_5f2c";

fn no_savepoints() -> Error {
    Error::unsupported("this connection type has no savepoints, which the group strategy (GroupCommit) needs")
}

/// Opens, checks and resets the connections of one database.
pub trait Manager: Send + Sync + 'static {
    /// The connection type this manager opens.
    type Connection: Transactional;

    /// Runs once, before a strategy opens its first connection: settings
    /// that belong to the database rather than to a connection, and early
    /// validation so that a bad path fails at build time, not at first use.
    fn prepare(&self) -> Result<()> {
        Ok(())
    }

    /// Opens one connection and runs its per-connection setup.
    fn connect(&self) -> Result<Self::Connection>;

    /// Whether a returned connection must be thrown away instead of reused.
    fn is_broken(&self, _conn: &Self::Connection) -> bool {
        false
    }

    /// Makes a connection that came back mid-transaction, or from a
    /// panicking thread, fit for the next user. An error means: discard it.
    fn reset(&self, conn: &Self::Connection) -> Result<()> {
        if conn.in_transaction() { conn.rollback() } else { Ok(()) }
    }

    /// A manager for read-only connections to the same database, for
    /// strategies that keep readers apart from the writer
    /// ([`SplitPool`](crate::SplitPool)). The default refuses.
    fn read_only(&self) -> Result<Self>
    where
        Self: Sized,
    {
        Err(Error::unsupported("this manager cannot open read-only connections, which SplitPool needs"))
    }

    /// The write queue this manager's writers take turns in, shared by
    /// every strategy opened on the same database in this process (see
    /// [`WriteQueue`]). `None` lets writers go straight to SQLite's busy
    /// handler, as they did before litepool had a queue. The default is a
    /// queue of the strategy's own: its writers take turns, but two
    /// strategies on one file do not; a manager that knows its database's
    /// identity returns [`WriteQueue::for_file`], as [`SqliteManager`] does.
    fn write_queue(&self) -> Option<UnmodeledArc<WriteQueue>> {
        Some(UnmodeledArc::new(WriteQueue::new()))
    }

    /// How long a writer waits for its turn in the write queue before it
    /// fails with [`ErrorKind::Busy`](crate::ErrorKind::Busy) (default 5 s, SQLite's busy timeout in
    /// rusqlite).
    fn write_timeout(&self) -> Duration {
        Duration::from_secs(5)
    }

    /// Adds what this manager knows to an error (the busy timeout, say).
    fn explain(&self, error: Error) -> Error {
        error
    }
}

impl Transactional for Connection {
    // Cached statements: the write path runs these for every write, and
    // parsing them each time costs more than the bookkeeping around them.
    fn begin_immediate(&self) -> Result<()> {
        self.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(())
    }

    fn commit(&self) -> Result<()> {
        self.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }

    fn rollback(&self) -> Result<()> {
        self.prepare_cached("ROLLBACK")?.execute([])?;
        Ok(())
    }

    fn in_transaction(&self) -> bool {
        !self.is_autocommit()
    }

    fn savepoint(&self) -> Result<()> {
        self.execute(SAVEPOINT_SQL, [])?;
        Ok(())
    }

    fn release_savepoint(&self) -> Result<()> {
        self.execute(RELEASE_SQL, [])?;
        Ok(())
    }

    fn rollback_to_savepoint(&self) -> Result<()> {
        self.execute(ROLLBACK_TO_SQL, [])?;
        self.release_savepoint()
    }

    /// SQLite asks the authorizer whenever it prepares a statement, and
    /// expires every prepared statement of the connection when one is set
    /// or removed. The authorizer belongs to the connection, so a sealed
    /// write that writes to another database on another connection nests
    /// safely.
    fn install_seal(&mut self, seal: &Seal) -> Result<()> {
        use rusqlite::hooks::{AuthAction, AuthContext, Authorization, TransactionOperation};
        let seal = seal.clone();
        let authorize = move |context: AuthContext<'_>| {
            let guarded = match context.action {
                AuthAction::Transaction { .. } => Guarded::Transaction,
                AuthAction::Savepoint { operation: TransactionOperation::Begin, savepoint_name } => {
                    Guarded::Savepoint(savepoint_name)
                }
                AuthAction::Savepoint { savepoint_name, .. } => Guarded::EndSavepoint(savepoint_name),
                _ => return Authorization::Allow,
            };
            if seal.allows(guarded) { Authorization::Allow } else { Authorization::Deny }
        };
        self.authorizer(Some(authorize))?;
        Ok(())
    }

    fn remove_seal(&mut self) -> Result<()> {
        use rusqlite::hooks::{AuthContext, Authorization};
        self.authorizer(None::<fn(AuthContext<'_>) -> Authorization>)?;
        Ok(())
    }

    fn is_stepping(&self) -> bool {
        self.is_busy()
    }

    /// Prepared with `prepare`, not `prepare_cached`: the work cannot
    /// fetch them by their text. Prepared while the seal is lifted; when
    /// an authorizer change expires them, SQLite prepares them again as
    /// they next run, which is again while the seal is lifted.
    fn member_savepoints(&self) -> Result<Box<dyn MemberSavepoints + '_>> {
        Ok(Box::new(Prepared {
            open: self.prepare(SAVEPOINT_SQL)?,
            release: self.prepare(RELEASE_SQL)?,
            rollback_to: self.prepare(ROLLBACK_TO_SQL)?,
        }))
    }

    fn install_stop(&mut self, stop: &Stop) -> Result<()> {
        let stop = stop.clone();
        self.progress_handler(Stop::STEPS, Some(move || stop.is_raised()))?;
        Ok(())
    }
}

/// SQLite's journal modes that litepool sets (`PRAGMA journal_mode`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalMode {
    /// Write-ahead log: readers and the one writer do not block each other.
    Wal,
    /// Rollback journal, SQLite's default: a reader blocks a writer's commit.
    Delete,
}

impl JournalMode {
    fn as_sql(self) -> &'static str {
        match self {
            JournalMode::Wal => "wal",
            JournalMode::Delete => "delete",
        }
    }
}

/// `PRAGMA synchronous`: how often SQLite waits for the disk.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronous {
    /// Never waits: a power loss can corrupt the database.
    Off,
    /// Waits at checkpoints (in WAL): a power loss may lose the last
    /// commits, a process crash loses nothing.
    Normal,
    /// Waits at every commit.
    Full,
}

impl Synchronous {
    fn as_sql(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

type InitHook = dyn Fn(&Connection) -> rusqlite::Result<()> + Send + Sync;

/// Opens `rusqlite` connections to one database file.
///
/// Defaults: read-write, created if missing; `busy_timeout` 5 s (rusqlite's
/// own default); WAL; `synchronous = NORMAL`; foreign keys on.
///
/// ```
/// use std::time::Duration;
/// use litepool::{JournalMode, SqliteManager};
///
/// let dir = tempfile::tempdir()?;
/// let manager = SqliteManager::file(dir.path().join("app.db"))
///     .busy_timeout(Duration::from_secs(2))
///     .journal_mode(JournalMode::Wal)
///     .with_init(|conn| conn.execute_batch("PRAGMA cache_size = -4000"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SqliteManager {
    path: PathBuf,
    flags: OpenFlags,
    busy_timeout: Duration,
    synchronous: Synchronous,
    foreign_keys: bool,
    /// `None`: leave the database's journal mode as it is.
    journal_mode: Option<JournalMode>,
    init: Option<UnmodeledArc<InitHook>>,
    /// Whether writers take turns in the file's write queue.
    queued: bool,
}

impl SqliteManager {
    /// A manager for the database file at `path` (created if missing).
    pub fn file(path: impl AsRef<Path>) -> SqliteManager {
        SqliteManager {
            path: path.as_ref().to_path_buf(),
            flags: OpenFlags::default(),
            busy_timeout: Duration::from_secs(5),
            synchronous: Synchronous::Normal,
            foreign_keys: true,
            journal_mode: Some(JournalMode::Wal),
            init: None,
            queued: true,
        }
    }

    /// The open flags (default: read-write, create, no mutex, URI).
    pub fn flags(mut self, flags: OpenFlags) -> SqliteManager {
        self.flags = flags;
        self
    }

    /// How long SQLite waits for another connection's lock before a
    /// statement fails with [`ErrorKind::Busy`](crate::ErrorKind::Busy). Zero means: fail at once.
    pub fn busy_timeout(mut self, timeout: Duration) -> SqliteManager {
        self.busy_timeout = timeout;
        self
    }

    /// `PRAGMA synchronous` for every connection.
    pub fn synchronous(mut self, synchronous: Synchronous) -> SqliteManager {
        self.synchronous = synchronous;
        self
    }

    /// `PRAGMA foreign_keys` for every connection.
    pub fn foreign_keys(mut self, on: bool) -> SqliteManager {
        self.foreign_keys = on;
        self
    }

    /// The journal mode, set once in [`Manager::prepare`].
    pub fn journal_mode(mut self, mode: JournalMode) -> SqliteManager {
        self.journal_mode = Some(mode);
        self
    }

    /// Leaves the database's journal mode as it is (for a database that
    /// other programs share, whose mode is theirs to choose).
    pub fn keep_journal_mode(mut self) -> SqliteManager {
        self.journal_mode = None;
        self
    }

    /// Runs `init` on every new connection, after litepool's own setup. If
    /// it fails, opening the connection fails with [`ErrorKind::Init`](crate::ErrorKind::Init).
    pub fn with_init<F>(mut self, init: F) -> SqliteManager
    where
        F: Fn(&Connection) -> rusqlite::Result<()> + Send + Sync + 'static,
    {
        self.init = Some(UnmodeledArc::new(init));
        self
    }

    /// Lets writers go straight to SQLite, which makes them wait in its
    /// busy handler, instead of taking turns in the file's [`WriteQueue`].
    /// That handler sleeps and polls and is not fair: under load a writer
    /// can wait past the busy timeout while others commit, and fail with
    /// "database is locked" (the claims ledger measures it). For measuring
    /// that, and for programs that order their writes themselves.
    pub fn without_write_queue(mut self) -> SqliteManager {
        self.queued = false;
        self
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configured busy timeout.
    pub fn busy_timeout_value(&self) -> Duration {
        self.busy_timeout
    }

    fn opens_read_only(&self) -> bool {
        self.flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY)
    }

    /// Opens a connection with the busy timeout already set: every later
    /// statement, setup included, waits for locks.
    fn open(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(&self.path, self.flags).map_err(|e| self.open_error(e))?;
        conn.busy_timeout(self.busy_timeout)?;
        Ok(conn)
    }

    fn open_error(&self, err: rusqlite::Error) -> Error {
        Error::cannot_open(err, &self.path)
    }
}

impl Manager for SqliteManager {
    type Connection = Connection;

    /// Validates the path, checks that the file is a database that can be
    /// written (unless opened read-only), and sets the journal mode once.
    fn prepare(&self) -> Result<()> {
        if self.path.as_os_str().is_empty() {
            return Err(Error::empty_path());
        }
        if self.path.is_dir() {
            return Err(Error::path_is_a_directory(&self.path));
        }
        let conn = self.open()?;
        // Reading the schema makes SQLite read page 1: a file that is not a
        // database fails here, at build time, rather than at first use.
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
            .map_err(|e| Error::cannot_open(e, &self.path))?;
        if !self.opens_read_only() && conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(Error::only_read_only(&self.path));
        }
        if self.opens_read_only() {
            return Ok(());
        }
        let Some(wanted) = self.journal_mode.map(JournalMode::as_sql) else {
            return Ok(());
        };
        let current: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !current.eq_ignore_ascii_case(wanted) {
            let set: String = conn.query_row(&format!("PRAGMA journal_mode = {wanted}"), [], |r| r.get(0))?;
            if !set.eq_ignore_ascii_case(wanted) {
                return Err(Error::journal_mode_kept(&self.path, &set, wanted));
            }
        }
        Ok(())
    }

    fn connect(&self) -> Result<Connection> {
        let conn = self.open()?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {}; PRAGMA foreign_keys = {};",
            self.synchronous.as_sql(),
            if self.foreign_keys { "ON" } else { "OFF" }
        ))?;
        if let Some(init) = &self.init {
            init(&conn).map_err(Error::init_failed)?;
        }
        Ok(conn)
    }

    /// The same database, opened `SQLITE_OPEN_READ_ONLY` with `PRAGMA
    /// query_only`, leaving the journal mode alone. Refused unless this
    /// manager sets WAL: in a rollback journal readers and the writer block
    /// each other, and a split gains nothing. A manager that itself opens
    /// read-only cannot switch the file's mode, so its file must be in WAL
    /// already.
    fn read_only(&self) -> Result<SqliteManager> {
        if self.opens_read_only() {
            // `prepare` leaves the mode of a file opened read-only alone, so
            // a rollback-journal file would stay one: it must be in WAL
            // already.
            let conn = self.open()?;
            let mode: String =
                conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(|e| self.open_error(e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::read_only_file_not_in_wal(&self.path, &mode));
            }
        }
        if self.journal_mode != Some(JournalMode::Wal) {
            let sets = match self.journal_mode {
                Some(mode) => format!("sets journal mode {mode:?}"),
                None => "keeps the database's own journal mode".to_owned(),
            };
            return Err(Error::needs_wal(&self.path, &sets));
        }
        let mut readers = self.clone();
        readers.flags = (self.flags - OpenFlags::SQLITE_OPEN_READ_WRITE - OpenFlags::SQLITE_OPEN_CREATE)
            | OpenFlags::SQLITE_OPEN_READ_ONLY;
        readers.journal_mode = None;
        let user_init = self.init.clone();
        readers.init = Some(UnmodeledArc::new(move |conn: &Connection| {
            conn.execute_batch("PRAGMA query_only = ON")?;
            user_init.as_ref().map_or(Ok(()), |init| init(conn))
        }));
        Ok(readers)
    }

    /// The queue of the database file, shared by every strategy on it in
    /// this process, unless [`without_write_queue`](SqliteManager::without_write_queue).
    fn write_queue(&self) -> Option<UnmodeledArc<WriteQueue>> {
        self.queued.then(|| WriteQueue::for_file(&self.path))
    }

    /// The busy timeout: a writer waits as long for its turn as SQLite would
    /// for the lock.
    fn write_timeout(&self) -> Duration {
        self.busy_timeout
    }

    fn explain(&self, error: Error) -> Error {
        if error.is_busy() {
            error.with_hint(format!("the busy timeout is {:?}", self.busy_timeout))
        } else {
            error
        }
    }
}

impl fmt::Debug for SqliteManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteManager")
            .field("path", &self.path)
            .field("busy_timeout", &self.busy_timeout)
            .field("synchronous", &self.synchronous)
            .field("foreign_keys", &self.foreign_keys)
            .field("journal_mode", &self.journal_mode)
            .field("init", &self.init.is_some())
            .field("queued", &self.queued)
            .finish()
    }
}
