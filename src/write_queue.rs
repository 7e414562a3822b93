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
//! **Fairness, and its bound.** Waiters form a line in arrival order, and
//! only the writer at its head can be handed the turn. A writer that
//! arrives while the turn is free may take it past the head (it is already
//! running, where the head would first have to be woken, which costs more
//! than a small write), but only [`OVERTAKING_BOUND`] times in a row and
//! only while the head has waited less than [`FAIR_AFTER`]; then the turn
//! is handed to the head directly. So a writer is overtaken at most
//! `OVERTAKING_BOUND` times while it is at the head of the line, and never
//! by a writer that arrived after it and had to wait. The loom models
//! check that bound (`tests/loom_write_queue.rs`; under loom the time limit
//! never fires, so the count alone is checked); `with_overtaking_bound(0)`
//! makes the queue strictly first in, first out.
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

use std::collections::VecDeque;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::manager::Manager;
use crate::sync::{
    Arc, AtomicBool, Condvar, Mutex, MutexGuard, Ordering, UnmodeledArc, UnmodeledMutex, UnmodeledWeak,
    has_elapsed,
};

/// How many turns a writer arriving at a free turn may take past the head
/// of the line in a row, by default.
pub const OVERTAKING_BOUND: usize = 64;

/// How long the head of the line may wait before the turn is handed to it
/// directly, whatever the count (writers that each take milliseconds, as in
/// a rollback journal or under `synchronous = FULL`, are overtaken at most
/// once each).
pub const FAIR_AFTER: Duration = Duration::from_millis(10);

/// The line of writers of one database file. Strategies share it through
/// [`Manager::write_queue`] and wait in it through [`Writers`].
pub struct WriteQueue {
    bound: usize,
    line: Mutex<Line>,
}

/// Everything the queue's lock protects.
struct Line {
    /// Whether a writer holds the turn.
    held: bool,
    /// Writers waiting, in arrival order.
    waiting: VecDeque<Waiter>,
    /// The ticket of the waiter the turn was handed to, until it takes it.
    handed_to: Option<u64>,
    /// Turns taken past the head of the line since it became the head.
    overtaken: usize,
    next_ticket: u64,
}

struct Waiter {
    ticket: u64,
    /// When it became the head of the line (`None` until then).
    head_since: Option<Instant>,
    /// Whether it was woken and has not yet looked: a release that frees
    /// the turn need not wake it again (saving a system call per overtake).
    woken: bool,
    /// Its own condition variable: a release wakes exactly the writer it
    /// concerns, not the whole line.
    wake: Arc<Condvar>,
}

impl WriteQueue {
    /// A queue whose arriving writers may overtake the head of the line up
    /// to [`OVERTAKING_BOUND`] times.
    pub fn new() -> WriteQueue {
        WriteQueue::with_overtaking_bound(OVERTAKING_BOUND)
    }

    /// A queue whose arriving writers may overtake the head of the line up
    /// to `bound` times in a row; 0 is strictly first in, first out.
    pub fn with_overtaking_bound(bound: usize) -> WriteQueue {
        WriteQueue {
            bound,
            line: Mutex::new(Line {
                held: false,
                waiting: VecDeque::new(),
                handed_to: None,
                overtaken: 0,
                next_ticket: 0,
            }),
        }
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
        self.line.lock().waiting.len()
    }

    /// Waits for a turn up to `timeout`, unless `closed` is set first. The
    /// clock is read only once a wait begins: an uncontended turn is one
    /// lock round trip.
    fn wait_turn(&self, closed: &AtomicBool, timeout: Duration) -> Result<(), Refusal> {
        let mut line = self.line.lock();
        if closed.load(Ordering::Acquire) {
            return Err(Refusal::Closed);
        }
        if self.may_take(&line) {
            line.overtaken += usize::from(!line.waiting.is_empty());
            line.held = true;
            return Ok(());
        }
        let ticket = line.next_ticket;
        line.next_ticket += 1;
        let wake = Arc::new(Condvar::new());
        let now = Instant::now();
        // `None`: the deadline overflows an `Instant`; wait for ever.
        let deadline = now.checked_add(timeout);
        let head_since = line.waiting.is_empty().then_some(now);
        line.waiting.push_back(Waiter { ticket, head_since, woken: false, wake: wake.clone() });
        let mut timed_out = false;
        loop {
            // A turn handed over is taken even if the wait has just timed
            // out or the strategy closed: leaving without it would strand
            // everyone behind. A closed strategy's writer passes it on.
            if line.handed_to == Some(ticket) {
                line.handed_to = None;
                if closed.load(Ordering::Acquire) {
                    drop(line);
                    self.release();
                    return Err(Refusal::Closed);
                }
                return Ok(());
            }
            if closed.load(Ordering::Acquire) {
                self.leave(&mut line, ticket);
                return Err(Refusal::Closed);
            }
            let at_head = line.waiting.front().map(|w| w.ticket) == Some(ticket);
            if at_head && !line.held {
                line.waiting.pop_front();
                self.became_head(&mut line);
                line.held = true;
                return Ok(());
            }
            if timed_out {
                let ahead = self.leave(&mut line, ticket);
                return Err(Refusal::TimedOut { ahead });
            }
            // Going back to sleep: the next release must wake it again.
            if let Some(me) = line.waiting.iter_mut().find(|w| w.ticket == ticket) {
                me.woken = false;
            }
            line = match deadline {
                Some(deadline) => {
                    let (line, expired) = wake.wait_until(line, deadline);
                    timed_out = expired;
                    line
                }
                None => wake.wait(line),
            };
        }
    }

    /// Whether a writer arriving now may take the turn: it is free, and
    /// nobody waits or the head of the line is not yet due.
    fn may_take(&self, line: &Line) -> bool {
        !line.held && line.handed_to.is_none() && (line.waiting.is_empty() || !self.head_is_due(line))
    }

    /// Whether the head of the line has been overtaken `bound` times, or has
    /// waited [`FAIR_AFTER`], since it became the head: then the turn is
    /// handed to it.
    fn head_is_due(&self, line: &Line) -> bool {
        line.overtaken >= self.bound
            || line
                .waiting
                .front()
                .and_then(|head| head.head_since)
                .is_some_and(|t| has_elapsed(t, FAIR_AFTER))
    }

    /// The turn's holder is done: hand the turn to the head of the line if
    /// it is due, otherwise free it and wake the head to take it (a writer
    /// already running may take it first, within the bound).
    fn release(&self) {
        let mut line = self.line.lock();
        line.held = false;
        let due = self.head_is_due(&line);
        let Some(head) = line.waiting.front_mut() else { return };
        if due || !head.woken {
            head.woken = true;
            head.wake.notify_one();
        }
        if due {
            let head = line.waiting.pop_front().expect("the head was just seen");
            line.handed_to = Some(head.ticket);
            line.held = true;
            self.became_head(&mut line);
        }
    }

    /// A new writer is at the head of the line (or nobody is): its count of
    /// overtakes starts at zero, its clock now.
    fn became_head(&self, line: &mut MutexGuard<'_, Line>) {
        line.overtaken = 0;
        if let Some(head) = line.waiting.front_mut() {
            head.head_since.get_or_insert_with(Instant::now);
        }
    }

    /// Takes `ticket` out of the line and returns how many were ahead of it.
    /// If it was the head and the turn is free, the new head is woken, or
    /// nobody would be.
    fn leave(&self, line: &mut MutexGuard<'_, Line>, ticket: u64) -> usize {
        let at = line.waiting.iter().position(|w| w.ticket == ticket).expect("a waiter leaves the line once");
        line.waiting.remove(at);
        if at == 0 {
            self.became_head(line);
            if let Some(head) = line.waiting.front().filter(|_| !line.held && line.handed_to.is_none()) {
                head.wake.notify_one();
            }
        }
        at + usize::from(line.held)
    }

    /// Wakes every waiter, so that those whose strategy closed leave.
    fn wake_all(&self) {
        let line = self.line.lock();
        for waiter in &line.waiting {
            waiter.wake.notify_one();
        }
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
            .field("held", &line.held)
            .field("waiting", &line.waiting.len())
            .field("overtaking_bound", &self.bound)
            .finish()
    }
}

/// Why a writer got no turn.
enum Refusal {
    Closed,
    TimedOut { ahead: usize },
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
/// use litepool::{SqliteManager, Writers, prepare};
///
/// let dir = tempfile::tempdir()?;
/// let manager = SqliteManager::file(dir.path().join("q.db"));
/// prepare(&manager)?;
/// let writers = Writers::new(&manager, "mine");
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
    /// `manager`'s queue and write timeout, for the strategy called `what`
    /// (named in its errors). Call it after [`prepare`](crate::prepare),
    /// when the database file exists.
    pub fn new<M: Manager>(manager: &M, what: &'static str) -> Writers {
        Writers {
            queue: manager.write_queue(),
            timeout: manager.write_timeout(),
            closed: AtomicBool::new(false),
            what,
        }
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
            Ok(()) => Ok(Turn { queue: Some(queue.clone()) }),
            Err(Refusal::Closed) => Err(Error::closed(self.what)),
            Err(Refusal::TimedOut { ahead }) => Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "{} waited {:?} for its turn to write and did not get it: {ahead} writer(s) in this \
                     process were ahead of it in the database's write queue; keep write transactions \
                     short or raise the busy timeout",
                    self.what, self.timeout
                ),
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
