//! SIMD lanes on every core: the calling thread and resident helper threads share the range out in
//! pieces, and each piece runs the [`LaneKernel`] the CPU supports best.

use super::lanes::{LaneKernel, Lanes};
use super::name::cpu_name;
use super::pieces;
use super::pool::Pool;
use crate::backend::{Backend, BackendInfo, BackendKind};
use crate::error::{Error, Result};
use crate::verify::ChunkSink;

/// The multi-core SIMD backend.
///
/// Sums of 2^17 elements or more are shared with the helper threads; shorter ones run on the
/// calling thread alone. That rule is fixed: the backend measures nothing.
///
/// ```
/// use parsum::{Scalar, Simd, SumRequest};
/// let request = SumRequest::new(1_000..5_000_000)?.chunks(7);
/// let parallel = request.run(&Simd::with_threads(2)?)?;
/// let sequential = request.run(&Scalar::new())?;
/// assert_eq!(parallel.sum, sequential.sum);
/// # Ok::<(), parsum::Error>(())
/// ```
#[derive(Debug)]
pub struct Simd {
    kernel: Lanes,
    /// `None`: the calling thread alone.
    pool: Option<Pool>,
    info: BackendInfo,
}

fn best() -> Lanes {
    LaneKernel::detect()
        .checked()
        .or_else(|_| LaneKernel::Wide.checked())
        .expect("the portable kernel runs everywhere")
}

/// Threads for "every core": `RAYON_NUM_THREADS` when it names a count from 1 to
/// [`Simd::MAX_THREADS`] (as rayon reads it), else the cores this process may use.
fn every_core() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=Simd::MAX_THREADS).contains(n))
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(Simd::MAX_THREADS)
        })
}

impl Simd {
    /// Most threads [`Simd::with_threads`] accepts: far above any core count, far below what
    /// would take seconds to start.
    pub const MAX_THREADS: usize = 1024;

    /// Every core (`RAYON_NUM_THREADS` or the core count) and the best kernel this CPU runs. If
    /// the helper threads cannot be started, the calling thread sums alone.
    pub fn new() -> Self {
        Self::with_threads(every_core()).unwrap_or_else(|_| Self::build(best(), None))
    }

    /// Exactly `threads` threads — the calling one and `threads - 1` resident helpers — from 1 to
    /// [`Simd::MAX_THREADS`]: [`Error::Threads`] for a count outside that, [`Error::Unavailable`]
    /// when the helpers cannot be started.
    pub fn with_threads(threads: usize) -> Result<Self> {
        if !(1..=Self::MAX_THREADS).contains(&threads) {
            return Err(Error::Threads(format!(
                "{threads} threads asked for: the thread count must be 1 to {}",
                Self::MAX_THREADS
            )));
        }
        let pool = (threads > 1).then(|| Pool::new(threads - 1)).transpose()?;
        Ok(Self::build(best(), pool))
    }

    fn build(kernel: Lanes, pool: Option<Pool>) -> Self {
        let threads = pool.as_ref().map_or(1, |p| p.helpers() + 1);
        let name = format!("simd/{}", kernel.kernel().name());
        let info = BackendInfo::new(BackendKind::Simd, name, cpu_name(), threads);
        Self { kernel, pool, info }
    }

    /// Uses `kernel` instead of the detected one (to compare kernels);
    /// [`Error::KernelUnavailable`] if this CPU lacks it.
    pub fn kernel(self, kernel: LaneKernel) -> Result<Self> {
        Ok(Self::build(kernel.checked()?, self.pool))
    }

    /// The kernel in use.
    pub fn lane_kernel(&self) -> LaneKernel {
        self.kernel.kernel()
    }

    /// Threads that sum, the calling one included.
    pub fn threads(&self) -> usize {
        self.info.threads
    }
}

impl Default for Simd {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for Simd {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        let kernel = self.kernel;
        pieces::sum_plan(sink, move |a, b| kernel.sum(a, b), self.pool.as_ref())
    }
}
