//! Helper threads that stay, in the manner of libgomp's workers: after a task, and when they
//! start, they spin for [`BLOCKTIME`] watching for the next one, then sleep until a post wakes
//! them. Why: on this project's virtual machines a thread asleep on a futex took up to 1.8 ms to
//! wake, while a helper still spinning from the previous sum joins the next within a microsecond.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::backend::lock;
use crate::error::{Error, Result};

/// How long a helper spins for the next task before it sleeps.
pub(crate) const BLOCKTIME: Duration = Duration::from_millis(1);

/// Longest wait for the helpers to start.
const START_WAIT: Duration = Duration::from_millis(20);

/// Work the helpers can join.
pub(crate) trait Task: Send + Sync {
    /// Called on a helper thread once it sees the task.
    fn help(&self);
}

#[derive(Default)]
struct Board {
    slot: Mutex<Slot>,
    posted: Condvar,
    /// Bumped at every post, read without the lock by spinning helpers.
    generation: AtomicU64,
    /// Helpers waiting on `posted`: a post notifies only when there are some.
    sleepers: AtomicUsize,
}

#[derive(Default)]
struct Slot {
    task: Option<Arc<dyn Task>>,
    shutdown: bool,
}

/// `helpers` resident threads, from a rayon pool of their own.
pub(crate) struct Pool {
    board: Arc<Board>,
    helpers: usize,
    /// The process that started the threads: a forked child has none of them.
    pid: u32,
    _threads: rayon::ThreadPool,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("helpers", &self.helpers)
            .finish()
    }
}

impl Pool {
    /// Starts `helpers` threads (at least one).
    pub(crate) fn new(helpers: usize) -> Result<Self> {
        let helpers = helpers.max(1);
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(helpers)
            .thread_name(|i| format!("parsum-simd-{i}"))
            .build()
            .map_err(|e| Error::Threads(e.to_string()))?;
        let board = Arc::new(Board::default());
        // Wait (a while at most) for the helpers to run: a new thread may start on its parent's
        // core and wait there for another while the parent keeps busy.
        let started = Arc::new(AtomicUsize::new(0));
        for _ in 0..helpers {
            let (board, started) = (Arc::clone(&board), Arc::clone(&started));
            threads.spawn(move || {
                started.fetch_add(1, Ordering::SeqCst);
                resident(&board)
            });
        }
        // Then sleep a moment: waking while the helpers spin, this thread is put on a core they
        // leave idle rather than sharing one with them (seen for a third of fresh processes).
        let since = Instant::now();
        while started.load(Ordering::SeqCst) < helpers && since.elapsed() < START_WAIT {
            std::thread::sleep(Duration::from_micros(50));
        }
        std::thread::sleep(Duration::from_micros(100));
        Ok(Self {
            board,
            helpers,
            pid: std::process::id(),
            _threads: threads,
        })
    }

    /// Resident helper threads.
    pub(crate) fn helpers(&self) -> usize {
        self.helpers
    }

    /// Offers `task` to every helper; returns the post's generation, for [`Pool::retract`].
    /// `None` in a process forked from the one that started the helpers: they do not exist here
    /// (and a lock one of them held at the fork would never be released).
    pub(crate) fn post(&self, task: Arc<dyn Task>) -> Option<u64> {
        if std::process::id() != self.pid {
            return None;
        }
        lock(&self.board.slot).task = Some(task);
        // Bumped with the lock released: a spinning helper takes the lock the moment it sees this.
        let generation = self.board.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if self.board.sleepers.load(Ordering::SeqCst) > 0 {
            // Taking the lock waits for a helper between counting itself and waiting.
            drop(lock(&self.board.slot));
            self.board.posted.notify_all();
        }
        Some(generation)
    }

    /// Takes the task of post `generation` down, so a helper that comes late finds nothing to do —
    /// unless another thread sharing the backend has posted since: its task stays.
    pub(crate) fn retract(&self, generation: u64) {
        let mut slot = lock(&self.board.slot);
        if self.board.generation.load(Ordering::Relaxed) == generation {
            slot.task = None;
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        lock(&self.board.slot).shutdown = true;
        self.board.generation.fetch_add(1, Ordering::Release);
        self.board.posted.notify_all();
    }
}

fn resident(board: &Board) {
    let mut seen = board.generation.load(Ordering::Acquire);
    loop {
        let until = Instant::now() + BLOCKTIME;
        let mut spins = 0u32;
        while board.generation.load(Ordering::Acquire) == seen {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && Instant::now() >= until {
                break;
            }
        }
        let task = {
            let mut slot = lock(&board.slot);
            board.sleepers.fetch_add(1, Ordering::SeqCst);
            while board.generation.load(Ordering::SeqCst) == seen && !slot.shutdown {
                slot = board.posted.wait(slot).unwrap_or_else(|e| e.into_inner());
            }
            board.sleepers.fetch_sub(1, Ordering::SeqCst);
            if slot.shutdown {
                return;
            }
            seen = board.generation.load(Ordering::Acquire);
            slot.task.clone()
        };
        if let Some(task) = task {
            task.help();
        }
    }
}
