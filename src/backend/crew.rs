//! Helper threads that stay. Between sums each one waits on a condition variable; after helping
//! it keeps watching for the next task for a moment, spinning, before it goes back to waiting.
//!
//! Why not a fresh rayon spawn per sum: on this project's virtual machines a spawn into a
//! sleeping pool took 0.05–1.8 ms to start, and even a condition variable's wake-up was measured
//! from 25 µs to over 0.7 ms (the other virtual CPU has to be scheduled again by the host). A
//! helper that is still spinning from the previous sum starts within a microsecond, so sums in a
//! row — the common case in a loop or a benchmark — share their work at once. The threads come
//! from a rayon pool of the crew's own, each running one resident loop until the crew is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long a helper watches for the next task after one, before it waits on the condvar.
const LINGER: Duration = Duration::from_micros(200);

/// Work the crew can help with.
pub(crate) trait Task: Send + Sync {
    /// Called on a helper thread once it wakes to the task.
    fn help(&self);
}

struct Board {
    state: Mutex<State>,
    posted: Condvar,
    /// The generation, readable without the lock by spinning helpers.
    generation: AtomicU64,
    /// ln(nanoseconds) from a post to a helper waking to it, as a running mean (f64 bits): late
    /// wakes (after the task was done) count too.
    wake_ln: AtomicU64,
}

struct State {
    /// Bumped at every post, so a helper helps with each task once.
    generation: u64,
    task: Option<Arc<dyn Task>>,
    posted_at: Instant,
    shutdown: bool,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `helpers` resident threads.
pub(crate) struct Crew {
    board: Arc<Board>,
    helpers: usize,
    _pool: rayon::ThreadPool,
}

impl std::fmt::Debug for Crew {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crew")
            .field("helpers", &self.helpers)
            .field("typical_wake", &self.typical_wake())
            .finish()
    }
}

impl Crew {
    /// Starts `helpers` threads (at least one).
    pub(crate) fn new(helpers: usize) -> Result<Self> {
        let helpers = helpers.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(helpers)
            .thread_name(|i| format!("parsum-simd-{i}"))
            .build()
            .map_err(|e| Error::Threads(e.to_string()))?;
        let board = Arc::new(Board {
            state: Mutex::new(State {
                generation: 0,
                task: None,
                posted_at: Instant::now(),
                shutdown: false,
            }),
            posted: Condvar::new(),
            generation: AtomicU64::new(0),
            // A starting guess of 50 µs until wake-ups are measured.
            wake_ln: AtomicU64::new(50e3f64.ln().to_bits()),
        });
        for _ in 0..helpers {
            let board = Arc::clone(&board);
            pool.spawn(move || resident(&board));
        }
        Ok(Self {
            board,
            helpers,
            _pool: pool,
        })
    }

    /// Resident helper threads.
    pub(crate) fn helpers(&self) -> usize {
        self.helpers
    }

    /// The typical time from a post to a helper starting (a geometric mean of the measured ones).
    pub(crate) fn typical_wake(&self) -> Duration {
        let ln = f64::from_bits(self.board.wake_ln.load(Ordering::Relaxed));
        Duration::from_secs_f64((ln.exp() * 1e-9).min(1.0))
    }

    /// Wakes every helper to `task`; returns the post's generation, for [`Crew::retract`].
    pub(crate) fn post(&self, task: Arc<dyn Task>) -> u64 {
        let mut st = lock(&self.board.state);
        st.generation += 1;
        st.task = Some(task);
        st.posted_at = Instant::now();
        self.board
            .generation
            .store(st.generation, Ordering::Release);
        let generation = st.generation;
        drop(st);
        self.board.posted.notify_all();
        generation
    }

    /// Takes the task of post `generation` down, so that a helper that wakes late finds nothing
    /// to do — unless another thread sharing the backend has posted since: its task stays.
    pub(crate) fn retract(&self, generation: u64) {
        let mut st = lock(&self.board.state);
        if st.generation == generation {
            st.task = None;
        }
    }
}

impl Drop for Crew {
    fn drop(&mut self) {
        lock(&self.board.state).shutdown = true;
        self.board.generation.fetch_add(1, Ordering::Release);
        self.board.posted.notify_all();
    }
}

impl Board {
    fn note_wake(&self, since: Instant) {
        let ln = (since.elapsed().as_nanos().max(1) as f64).ln();
        let old = f64::from_bits(self.wake_ln.load(Ordering::Relaxed));
        self.wake_ln
            .store((old + (ln - old) / 8.0).to_bits(), Ordering::Relaxed);
    }
}

fn resident(board: &Board) {
    let mut seen = 0;
    let mut linger_until: Option<Instant> = None;
    loop {
        // Fresh from a task: watch the generation without the lock for a moment.
        if let Some(until) = linger_until.take() {
            while board.generation.load(Ordering::Acquire) == seen && Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        let (task, posted_at) = {
            let mut st = lock(&board.state);
            while st.generation == seen && !st.shutdown {
                st = board.posted.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.shutdown {
                return;
            }
            seen = st.generation;
            (st.task.clone(), st.posted_at)
        };
        board.note_wake(posted_at);
        if let Some(task) = task {
            task.help();
            linger_until = Some(Instant::now() + LINGER);
        }
    }
}
