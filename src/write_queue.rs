//! The write queue: one per database file in the process, so that writers
//! take turns in arrival order instead of polling inside SQLite.
//!
//! SQLite admits one writer at a time, and a connection that finds the write
//! lock taken waits in its busy handler, which sleeps and polls (1, 2, 5, 10
//! … up to 100 ms between tries). That handler is not fair: a writer that
//! keeps waking just after someone else took the lock can wait past any busy
//! timeout while the others commit, and fails with "database is locked"
//! (measured: `tests/write_queue.rs` and the claims ledger). So every
//! strategy's write path first takes a *turn* here, and only the holder of
//! the turn asks SQLite for the write lock: inside one process at most one
//! connection competes for it, and nobody polls.
//!
//! **Fairness, and its bound.** Writers wait in the crate's one fair
//! line (`src/line.rs`): arrival order, one wake-up per hand-off, and a
//! writer already running may take a free turn past the head of the line
//! at most [`WriteQueue::OVERTAKING_BOUND`] times in a row and only while
//! the head has waited less than [`WriteQueue::FAIR_AFTER`]. The loom
//! models check that bound (`tests/loom_write_queue.rs`);
//! `with_overtaking_bound(0)` makes the queue strictly first in, first out.
//!
//! **Deadlines and close.** A writer waits at most its strategy's write
//! timeout (for [`SqliteManager`], the busy timeout), then leaves the line
//! with an [`ErrorKind::Busy`] error; a turn handed to it as it gave up is
//! taken, not stranded. [`Writers::close`] wakes and fails every waiter of
//! one strategy, and leaves the writers of other strategies on the same file
//! in line. A turn is released when its [`Turn`] drops, during a panic too.
//!
//! [`SqliteManager`]: crate::SqliteManager
//! [`ErrorKind::Busy`]: crate::ErrorKind::Busy

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::line::{Line, Refusal};
use crate::sync::{AtomicBool, Mutex, Ordering, UnmodeledArc, UnmodeledMutex, UnmodeledWeak};

/// The line of writers of one database file. Strategies share it through
/// [`Manager::write_queue`](crate::strategy::Manager::write_queue) and wait in it
/// through [`Writers`].
pub struct WriteQueue {
    line: Mutex<Line>,
}

impl WriteQueue {
    /// How many turns a writer arriving at a free turn may take past the
    /// head of the line in a row, by default.
    pub const OVERTAKING_BOUND: usize = Line::OVERTAKING_BOUND;

    /// How long the head of the line may wait before the turn is handed to
    /// it directly, whatever the count (writers that each take
    /// milliseconds, as in a rollback journal or under `synchronous =
    /// FULL`, are overtaken at most once each).
    pub const FAIR_AFTER: Duration = Line::FAIR_AFTER;

    /// A queue whose arriving writers may overtake the head of the line up
    /// to [`OVERTAKING_BOUND`](WriteQueue::OVERTAKING_BOUND) times.
    pub fn new() -> WriteQueue {
        WriteQueue::with_overtaking_bound(WriteQueue::OVERTAKING_BOUND)
    }

    /// A queue whose arriving writers may overtake the head of the line up
    /// to `bound` times in a row; 0 is strictly first in, first out.
    pub fn with_overtaking_bound(bound: usize) -> WriteQueue {
        WriteQueue { line: Mutex::new(Line::new(bound)) }
    }

    /// The queue of the database file at `path`, shared by everything in
    /// this process that writes to that file, whatever path names it: files
    /// are told apart by device and inode (on other systems, by canonical
    /// path). A path that names no file (an in-memory database, a URI) gets
    /// a queue of its own.
    pub fn for_file(path: &Path) -> UnmodeledArc<WriteQueue> {
        static QUEUES: UnmodeledMutex<Vec<(FileId, UnmodeledWeak<WriteQueue>)>> =
            UnmodeledMutex::new(Vec::new());
        let Some(id) = FileId::of(path) else {
            return UnmodeledArc::new(WriteQueue::new());
        };
        let mut queues = QUEUES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        queues.retain(|(_, queue)| queue.strong_count() > 0);
        if let Some(queue) = queues.iter().find(|(known, _)| *known == id).and_then(|(_, q)| q.upgrade()) {
            return queue;
        }
        let queue = UnmodeledArc::new(WriteQueue::new());
        queues.push((id, UnmodeledArc::downgrade(&queue)));
        queue
    }

    /// Writers waiting now (not counting the one holding the turn).
    pub fn waiting(&self) -> usize {
        self.line.lock().waiting()
    }

    /// Waits for a turn up to `timeout`, unless `closed` is set first.
    fn wait_turn(&self, closed: &AtomicBool, timeout: Duration) -> Result<(), Refusal> {
        let (_, taken) =
            Line::wait(self.line.lock(), |line| line, |_| closed.load(Ordering::Acquire), timeout);
        taken
    }

    /// The turn's holder is done: the turn goes to the head of the line if
    /// it is due, or is freed for whoever comes first within the bound.
    fn release(&self) {
        self.line.lock().release(false);
    }

    /// Wakes every waiter, so that those whose strategy closed leave.
    fn wake_all(&self) {
        self.line.lock().wake_all();
    }
}

impl Default for WriteQueue {
    fn default() -> WriteQueue {
        WriteQueue::new()
    }
}

impl fmt::Debug for WriteQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line.lock();
        f.debug_struct("WriteQueue")
            .field("held", &line.is_held())
            .field("waiting", &line.waiting())
            .field("overtaking_bound", &line.bound())
            .finish()
    }
}

/// The right to write, until dropped. It owns a handle to its queue, so a
/// strategy can keep it past the call that took it (the group strategy
/// holds one for a whole batch of callers' writes).
#[must_use = "the turn is released when this is dropped"]
pub struct Turn {
    /// `None` when the manager opted out of the queue.
    queue: Option<UnmodeledArc<WriteQueue>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(queue) = &self.queue {
            queue.release();
        }
    }
}

impl fmt::Debug for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turn").finish_non_exhaustive()
    }
}

/// One strategy's place in its database's [`WriteQueue`]: the queue, how
/// long its writers wait, and whether it is closed.
///
/// A strategy holds one, takes a [`Turn`] before it asks for a connection to
/// write on, and closes it in its `close()`:
///
/// ```
/// use litepool::SqliteManager;
/// use litepool::strategy::{prepare, writers};
///
/// let dir = tempfile::tempdir()?;
/// let manager = SqliteManager::file(dir.path().join("q.db"));
/// prepare(&manager)?;
/// let writers = writers(&manager, "mine");
/// let turn = writers.turn()?; // every other writer to q.db in this process waits
/// drop(turn);
/// writers.close();
/// assert!(writers.turn().unwrap_err().is_closed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Writers {
    /// `None`: the manager opted out; writers go straight to SQLite.
    queue: Option<UnmodeledArc<WriteQueue>>,
    timeout: Duration,
    closed: AtomicBool,
    what: &'static str,
}

impl Writers {
    /// A place in `queue` (`None`: no queue, writers go straight to
    /// SQLite) whose writers wait up to `timeout`, for the strategy called
    /// `what` (named in its errors). A strategy usually takes its manager's
    /// queue and timeout with [`writers`](crate::strategy::writers).
    pub fn new(queue: Option<UnmodeledArc<WriteQueue>>, timeout: Duration, what: &'static str) -> Writers {
        Writers { queue, timeout, closed: AtomicBool::new(false), what }
    }

    /// Waits for this writer's turn, up to the write timeout. Fails with a
    /// closed error once [`close`](Writers::close) was called, and with a
    /// busy error if the timeout passes first.
    pub fn turn(&self) -> Result<Turn> {
        let Some(queue) = &self.queue else {
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::closed(self.what));
            }
            return Ok(Turn { queue: None });
        };
        match queue.wait_turn(&self.closed, self.timeout) {
            // A turn handed over as the strategy closed: passed on as the
            // `Turn` drops.
            Ok(()) => {
                let turn = Turn { queue: Some(queue.clone()) };
                match self.closed.load(Ordering::Acquire) {
                    true => Err(Error::closed(self.what)),
                    false => Ok(turn),
                }
            }
            Err(Refusal::Closed) => Err(Error::closed(self.what)),
            Err(Refusal::TimedOut { ahead }) => Err(Error::waited_in_line(
                self.what,
                "its turn to write",
                self.timeout,
                ahead,
                "this process's write queue for the database",
            )),
        }
    }

    /// Fails this strategy's waiting writers and every later
    /// [`turn`](Writers::turn); other strategies on the same file go on.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(queue) = &self.queue {
            queue.wake_all();
        }
    }
}

impl fmt::Debug for Writers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writers")
            .field("queue", &self.queue)
            .field("timeout", &self.timeout)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// A file's identity: what stays the same whichever path names it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum FileId {
    #[cfg(unix)]
    Inode { device: u64, inode: u64 },
    #[cfg(not(unix))]
    Canonical(std::path::PathBuf),
}

impl FileId {
    fn of(path: &Path) -> Option<FileId> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
            Some(FileId::Inode { device: meta.dev(), inode: meta.ino() })
        }
        #[cfg(not(unix))]
        {
            std::fs::canonicalize(path).ok().filter(|p| p.is_file()).map(FileId::Canonical)
        }
    }
}
