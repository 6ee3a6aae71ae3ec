//! SIMD lanes on every core: the calling thread and resident helper threads (a rayon pool of the
//! backend's own) share the range out in pieces, and each piece runs the [`LaneKernel`] the CPU
//! supports best.
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

use super::cpu_run::{self, Kernel, Tuning};
use super::crew::Crew;
use super::lanes::{LaneKernel, Lanes};
use super::{Backend, BackendInfo, BackendKind, Ran, cpu_name};
use crate::error::{Error, Result};
use crate::verify::ChunkSink;

/// Most threads [`Simd::with_threads`] accepts: far above any core count, far below what would
/// take seconds to start.
pub const MAX_THREADS: usize = 1024;

/// The multi-core SIMD backend.
///
/// Sums too short to pay for waking a helper run on the calling thread alone; the break-even
/// comes from costs measured on this machine as the backend runs (see
/// [`Simd::measured_costs`]).
#[derive(Debug)]
pub struct Simd {
    kernel: Lanes,
    /// `None`: the calling thread alone.
    crew: Option<Crew>,
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

/// Threads for "every core": `RAYON_NUM_THREADS` when it names a count from 1 to
/// [`MAX_THREADS`] (as rayon reads it), else the cores this process may use.
fn every_core() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=MAX_THREADS).contains(n))
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_THREADS)
        })
}

impl Simd {
    /// Every core (`RAYON_NUM_THREADS` or the core count) and the best kernel this CPU runs. If
    /// the helper threads cannot be started, the calling thread sums alone.
    pub fn new() -> Self {
        Self::with_threads(every_core()).unwrap_or_else(|_| Self {
            kernel: best(),
            crew: None,
            tuning: Arc::new(Tuning::new()),
        })
    }

    /// Exactly `threads` threads — the calling one and `threads - 1` resident helpers — from 1 to
    /// [`MAX_THREADS`].
    pub fn with_threads(threads: usize) -> Result<Self> {
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(Error::Threads(format!(
                "{threads} threads asked for: the thread count must be 1 to {MAX_THREADS}"
            )));
        }
        let crew = match threads {
            1 => None,
            n => Some(Crew::new(n - 1)?),
        };
        Ok(Self {
            kernel: best(),
            crew,
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
        self.crew.as_ref().map_or(1, |c| c.helpers() + 1)
    }

    /// Costs measured so far on this machine, which decide when helper threads are woken:
    /// (elements per second of one thread, typical time for a helper to start on a sum).
    pub fn measured_costs(&self) -> (f64, Duration) {
        (
            self.tuning.measured_rate(),
            self.crew
                .as_ref()
                .map_or(Duration::ZERO, |c| c.typical_wake()),
        )
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
        cpu_run::run(sink, self.kernel, self.crew.as_ref(), &self.tuning)?;
        Ok(Ran::new(self.info()))
    }
}
