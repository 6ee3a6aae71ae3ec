//! SIMD lanes on every core: rayon spreads chunks (and pieces of long chunks) over threads, and
//! each piece runs the [`LaneKernel`] the CPU supports best.
//!
//! ```
//! use parsum::{Scalar, Simd, SumRequest};
//! let request = SumRequest::new(1_000..5_000_000)?.chunks(7);
//! let parallel = request.run(&Simd::with_threads(2)?)?;
//! let sequential = request.run(&Scalar::new())?;
//! assert_eq!(parallel.sum, sequential.sum);
//! # Ok::<(), parsum::Error>(())
//! ```

use rayon::prelude::*;

use super::lanes::LaneKernel;
use super::{Backend, BackendInfo, BackendKind, cpu_name};
use crate::error::{Error, Result};
use crate::verify::ChunkSink;

/// Longest run one rayon task sums: long chunks are cut into pieces of this size so that even a
/// one-chunk plan keeps every thread busy, and cancellation is seen within a few milliseconds.
const PIECE: u128 = 1 << 24;
/// Ranges up to this many elements are summed on the calling thread: handing work to the pool
/// costs microseconds, more than the ~10 µs this many adds take on one core.
const INLINE: u128 = 1 << 18;

/// The multi-core SIMD backend.
#[derive(Debug)]
pub struct Simd {
    kernel: LaneKernel,
    pool: Option<rayon::ThreadPool>,
}

impl Simd {
    /// Every core (rayon's global pool) and the best kernel this CPU runs.
    pub fn new() -> Self {
        Self {
            kernel: LaneKernel::detect(),
            pool: None,
        }
    }

    /// Exactly `threads` worker threads, in a pool of the backend's own.
    pub fn with_threads(threads: usize) -> Result<Self> {
        if threads == 0 {
            return Err(Error::Threads("the thread count must be at least 1".into()));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("parsum-simd-{i}"))
            .build()
            .map_err(|e| Error::Threads(e.to_string()))?;
        Ok(Self {
            kernel: LaneKernel::detect(),
            pool: Some(pool),
        })
    }

    /// Uses `kernel` instead of the detected one (to compare kernels); errors if this CPU lacks it.
    pub fn kernel(mut self, kernel: LaneKernel) -> Result<Self> {
        if !kernel.is_available() {
            return Err(Error::Threads(format!(
                "the {} kernel needs CPU features this machine lacks",
                kernel.name()
            )));
        }
        self.kernel = kernel;
        Ok(self)
    }

    /// Worker threads in use.
    pub fn threads(&self) -> usize {
        self.pool
            .as_ref()
            .map_or_else(rayon::current_num_threads, |p| p.current_num_threads())
    }

    fn sum_chunk(&self, sink: &ChunkSink<'_>, index: u64) -> Result<()> {
        let chunk = sink.plan().chunk(index);
        let pieces = chunk.len().div_ceil(PIECE) as u64;
        let partial = (0..pieces)
            .into_par_iter()
            .map(|p| {
                sink.check_cancelled()?;
                let first = chunk.first as u128 + p as u128 * PIECE;
                let last = (first + PIECE - 1).min(chunk.last as u128);
                Ok(self.kernel.sum_inclusive(first as u64, last as u64))
            })
            .try_reduce(|| 0, |a, b| Ok(a + b))?;
        sink.accept(index, partial)
    }
}

impl Default for Simd {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for Simd {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Simd,
            kernel: format!("simd/{}", self.kernel.name()),
            device: cpu_name(),
            threads: self.threads(),
        }
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        let plan = sink.plan();
        if plan.range().len() <= INLINE {
            for chunk in plan.iter() {
                sink.accept(
                    chunk.index,
                    self.kernel.sum_inclusive(chunk.first, chunk.last),
                )?;
            }
            return Ok(());
        }
        let n = plan.len();
        let run = || {
            (0..n)
                .into_par_iter()
                .try_for_each(|i| self.sum_chunk(sink, i))
        };
        match &self.pool {
            Some(pool) => pool.install(run),
            None => run(),
        }
    }
}
