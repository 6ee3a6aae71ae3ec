//! SIMD lanes on every core: the calling thread and rayon helpers share the range out in pieces,
//! and each piece runs the [`LaneKernel`] the CPU supports best.
//!
//! ```
//! use parsum::{Scalar, Simd, SumRequest};
//! let request = SumRequest::new(1_000..5_000_000)?.chunks(7);
//! let parallel = request.run(&Simd::with_threads(2)?)?;
//! let sequential = request.run(&Scalar::new())?;
//! assert_eq!(parallel.sum, sequential.sum);
//! # Ok::<(), parsum::Error>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use super::cpu_run::{self, Helpers, Kernel, Tuning};
use super::lanes::{LaneKernel, Lanes};
use super::{Backend, BackendInfo, BackendKind, Ran, cpu_name};
use crate::error::{Error, Result};
use crate::verify::ChunkSink;

/// Most threads [`Simd::with_threads`] accepts: far above any core count, far below what would
/// take seconds to start.
pub const MAX_THREADS: usize = 1024;

/// Who sums besides the calling thread.
#[derive(Debug)]
enum Workers {
    /// Rayon's current pool (the global one outside any pool).
    Rayon,
    /// A pool of the backend's own, of `threads - 1` helpers.
    Own(rayon::ThreadPool),
    /// Nobody: one thread.
    Alone,
}

/// The multi-core SIMD backend.
///
/// Sums too short to pay for waking a helper thread run on the calling thread alone; the
/// break-even comes from costs measured on this machine as the backend runs (see
/// [`Simd::measured_costs`]).
#[derive(Debug)]
pub struct Simd {
    kernel: Lanes,
    workers: Workers,
    tuning: Arc<Tuning>,
}

impl Kernel for Lanes {
    fn sum(self, first: u64, last: u64) -> u128 {
        Lanes::sum(self, first, last)
    }
}

fn best() -> Lanes {
    LaneKernel::detect()
        .checked()
        .or_else(|_| LaneKernel::Wide.checked())
        .expect("the portable kernel runs everywhere")
}

impl Simd {
    /// Every core (rayon's current pool: the global one, sized by `RAYON_NUM_THREADS` or the core
    /// count) and the best kernel this CPU runs.
    pub fn new() -> Self {
        Self {
            kernel: best(),
            workers: Workers::Rayon,
            tuning: Arc::new(Tuning::new()),
        }
    }

    /// Exactly `threads` threads — the calling one and `threads - 1` helpers in a pool of the
    /// backend's own — from 1 to [`MAX_THREADS`].
    pub fn with_threads(threads: usize) -> Result<Self> {
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(Error::Threads(format!(
                "{threads} threads asked for: the thread count must be 1 to {MAX_THREADS}"
            )));
        }
        let workers = if threads == 1 {
            Workers::Alone
        } else {
            Workers::Own(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads - 1)
                    .thread_name(|i| format!("parsum-simd-{i}"))
                    .build()
                    .map_err(|e| Error::Threads(e.to_string()))?,
            )
        };
        Ok(Self {
            kernel: best(),
            workers,
            tuning: Arc::new(Tuning::new()),
        })
    }

    /// Uses `kernel` instead of the detected one (to compare kernels);
    /// [`Error::KernelUnavailable`] if this CPU lacks it.
    pub fn kernel(mut self, kernel: LaneKernel) -> Result<Self> {
        self.kernel = kernel.checked()?;
        Ok(self)
    }

    /// The kernel in use.
    pub fn lane_kernel(&self) -> LaneKernel {
        self.kernel.kernel()
    }

    /// Threads that sum, the calling one included.
    pub fn threads(&self) -> usize {
        match &self.workers {
            Workers::Rayon => rayon::current_num_threads(),
            Workers::Own(pool) => pool.current_num_threads() + 1,
            Workers::Alone => 1,
        }
    }

    /// Costs measured so far on this machine, which decide when helper threads are used:
    /// (elements per second of one thread, time to wake a helper, time to spawn one).
    pub fn measured_costs(&self) -> (f64, Duration, Duration) {
        self.tuning.measured()
    }

    fn helpers(&self) -> Helpers<'_> {
        match &self.workers {
            Workers::Rayon => Helpers::Current,
            Workers::Own(pool) => Helpers::Pool(pool),
            Workers::Alone => Helpers::None,
        }
    }
}

impl Default for Simd {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for Simd {
    fn info(&self) -> BackendInfo {
        BackendInfo::new(
            BackendKind::Simd,
            format!("simd/{}", self.kernel.kernel().name()),
            cpu_name(),
            self.threads(),
        )
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<Ran> {
        cpu_run::run(sink, self.kernel, self.helpers(), &self.tuning)?;
        Ok(Ran::new(self.info()))
    }
}
