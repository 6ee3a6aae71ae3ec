//! Helper threads that stay, in the manner of libgomp's workers: after a task, and when they
//! start, they spin for [`BLOCKTIME`] watching for the next one, then sleep until a post wakes
//! them. Why: on this project's virtual machines a thread asleep on a futex took up to 1.8 ms to
//! wake, while a helper still spinning from the previous sum joins the next within a microsecond.
//! With more threads than CPUs they sleep at once (libgomp throttles its spin there to about a
//! thousand loops): a spinning helper then holds a CPU another thread needs (1023 helpers on 2
//! CPUs spun 0.5 s after each sum). Each pool judges this by its own threads: two pools that fit
//! one at a time may still spin side by side, for a millisecond after a sum.
//! A helper that finds itself on the CPU of the thread that posted the task, or when it starts on
//! the CPU of the thread that started it, moves to another (on Linux, where there is a CPU for
//! each thread): two threads on one CPU go at one core's speed.

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
    /// The CPU the task was posted from, where a helper should not sum it.
    poster: Option<usize>,
    shutdown: bool,
}

/// `helpers` resident threads, from a rayon pool of their own.
pub(crate) struct Pool {
    board: Arc<Board>,
    /// Whether there is a CPU for each thread, so that a helper moving off its caller's CPU
    /// gains one (with more threads than CPUs, moving would only be undone by the scheduler),
    /// and a spinning helper takes no CPU another thread needs.
    spread: bool,
    /// The process that started the threads: a forked child has none of them.
    pid: u32,
    threads: rayon::ThreadPool,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("helpers", &self.helpers())
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
            .map_err(|e| {
                Error::Unavailable(format!("simd: its thread pool could not be started ({e})"))
            })?;
        let board = Arc::new(Board::default());
        let spread = helpers < std::thread::available_parallelism().map_or(1, |n| n.get());
        // A helper that starts on this thread's CPU moves off it at once, as one that finds a
        // task there does: else it spins there beside the first sums, which ran at one core's
        // speed for their first 3 ms (10^7 elements: 0.72 ms a sum, 0.37 once it had moved).
        // This thread notes its CPU as it waits: the scheduler may move it meanwhile.
        let home = Arc::new(AtomicUsize::new(usize::MAX));
        let note_home = || {
            if let Some(cpu) = this_cpu().filter(|_| spread) {
                home.store(cpu, Ordering::SeqCst);
            }
        };
        note_home();
        // Wait (a while at most) for the helpers to run. Yielding, not sleeping: a new thread
        // may be queued on this CPU, and a thread that sleeps may wake on a helper's.
        let started = Arc::new(AtomicUsize::new(0));
        for _ in 0..helpers {
            let (board, started, home) =
                (Arc::clone(&board), Arc::clone(&started), Arc::clone(&home));
            threads.spawn(move || {
                if let Some(cpu) = this_cpu().filter(|&c| c == home.load(Ordering::SeqCst)) {
                    leave(cpu);
                }
                started.fetch_add(1, Ordering::SeqCst);
                resident(&board, blocktime(spread))
            });
        }
        let since = Instant::now();
        while started.load(Ordering::SeqCst) < helpers && since.elapsed() < START_WAIT {
            std::thread::yield_now();
            note_home();
        }
        Ok(Self {
            board,
            spread,
            pid: std::process::id(),
            threads,
        })
    }

    /// Resident helper threads.
    pub(crate) fn helpers(&self) -> usize {
        self.threads.current_num_threads()
    }

    /// Offers `task` to every helper; returns the post's generation, for [`Pool::retract`].
    /// `None` in a process forked from the one that started the helpers: they do not exist here
    /// (and a lock one of them held at the fork would never be released).
    pub(crate) fn post(&self, task: Arc<dyn Task>) -> Option<u64> {
        if std::process::id() != self.pid {
            return None;
        }
        let poster = if self.spread { this_cpu() } else { None };
        let mut slot = lock(&self.board.slot);
        (slot.task, slot.poster) = (Some(task), poster);
        drop(slot);
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

/// How long helpers spin before they sleep: only where every thread has a CPU of its own (see
/// the module's doc).
fn blocktime(spread: bool) -> Duration {
    if spread { BLOCKTIME } else { Duration::ZERO }
}

/// The CPU the calling thread runs on, where that can be known.
fn this_cpu() -> Option<usize> {
    #[cfg(target_os = "linux")]
    return nix::sched::sched_getcpu().ok();
    #[cfg(not(target_os = "linux"))]
    None
}

/// Moves the calling thread off CPU `cpu`, if it may run on another, and leaves it free to run
/// on the CPUs it could before (a thread moved stays where it was put while that CPU has nothing
/// else to run). Should the allowed CPUs change in between, the kernel's own update of the mask
/// stands where the restore fails.
fn leave(cpu: usize) {
    #[cfg(target_os = "linux")]
    {
        use nix::sched::{sched_getaffinity, sched_setaffinity};
        let me = nix::unistd::Pid::from_raw(0);
        if let Ok(allowed) = sched_getaffinity(me)
            && let Some(others) = without(allowed, cpu)
            && sched_setaffinity(me, &others).is_ok()
            // Not where someone else (`taskset -a -p`) has set the mask meanwhile.
            && sched_getaffinity(me) == Ok(others)
        {
            let _ = sched_setaffinity(me, &allowed);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

/// `set` less `cpu`, unless that leaves it empty.
#[cfg(target_os = "linux")]
fn without(mut set: nix::sched::CpuSet, cpu: usize) -> Option<nix::sched::CpuSet> {
    use nix::sched::CpuSet;
    set.unset(cpu).ok()?;
    (0..CpuSet::count())
        .any(|c| set.is_set(c) == Ok(true))
        .then_some(set)
}

fn resident(board: &Board, blocktime: Duration) {
    let mut seen = board.generation.load(Ordering::Acquire);
    loop {
        let until = Instant::now() + blocktime;
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
            (slot.task.clone(), slot.poster)
        };
        if let (Some(task), poster) = task {
            // The fixed rule that keeps two threads from summing on one CPU: a helper that finds
            // itself on the CPU the task was posted from moves off it before it helps. This VM's
            // scheduler put them together now and then (a new thread beside its parent, a woken
            // one beside the waker) and took 5–30 ms to part them, the sum at one core's speed.
            if let Some(cpu) = poster.filter(|&p| this_cpu() == Some(p)) {
                leave(cpu);
            }
            task.help();
        }
    }
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;
    use nix::sched::{CpuSet, sched_getaffinity};

    fn set(cpus: &[usize]) -> CpuSet {
        let mut set = CpuSet::new();
        cpus.iter().for_each(|&c| set.set(c).unwrap());
        set
    }

    /// Helpers spin (and move off their caller's CPU) only when every thread, the caller's
    /// included, has a CPU: one more and they sleep at once.
    #[test]
    fn helpers_spin_only_where_every_thread_has_a_cpu() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let spin = |helpers| blocktime(Pool::new(helpers).unwrap().spread);
        assert_eq!(spin(cpus), Duration::ZERO);
        assert_eq!(spin(cpus + 3), Duration::ZERO);
        if cpus > 1 {
            assert_eq!(spin(cpus - 1), BLOCKTIME);
        }
    }

    #[test]
    fn a_cpu_is_left_only_for_another_one() {
        assert_eq!(without(set(&[0, 1, 5]), 1), Some(set(&[0, 5])));
        assert_eq!(without(set(&[0, 5]), 3), Some(set(&[0, 5])));
        assert_eq!(without(set(&[2]), 2), None);
        assert_eq!(without(set(&[2]), CpuSet::count()), None);
    }

    /// A helper that leaves a CPU may run on every CPU it could before, whatever it left.
    #[test]
    fn leaving_a_cpu_keeps_the_threads_cpus() {
        std::thread::spawn(|| {
            let me = nix::unistd::Pid::from_raw(0);
            let before = sched_getaffinity(me).unwrap();
            leave(this_cpu().unwrap());
            assert_eq!(sched_getaffinity(me).unwrap(), before);
            leave(CpuSet::count() + 1);
            assert_eq!(sched_getaffinity(me).unwrap(), before);
        })
        .join()
        .unwrap();
    }
}
