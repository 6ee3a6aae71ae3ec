//! # parsum
//!
//! Exact chunked summation of u64 ranges — on one core, on every core with SIMD lanes, or on a GPU
//! through wgpu — with every result checked against the closed form n·(a+b)/2.
//!
//! It answers a well-known tutorial that summed 1..10^9 in Python in 20.7 s, and in ~7 s after
//! splitting the range into 100 chunks on a process pool. Here the backends really add every
//! element (none of them computes the formula), and the formula only checks their work.
//!
//! ```
//! // The whole job in one line: sum, verified, on the fastest backend for the size.
//! let total = parsum::sum(1..=1_000_000_000)?;
//! assert_eq!(total, 500_000_000_500_000_000);
//!
//! // Explicit backends give the same exact answer: parallel == sequential.
//! use parsum::{Scalar, Simd, SumRequest};
//! let request = SumRequest::new(u64::MAX - 999_999..=u64::MAX)?.chunks(100);
//! let sequential = request.run(&Scalar::new())?;
//! let parallel = request.run(&Simd::with_threads(2)?)?;
//! assert_eq!(sequential.sum, parallel.sum);
//! assert!(parallel.sum > u64::MAX as u128);
//! # Ok::<(), parsum::Error>(())
//! ```
//!
//! A request ([`SumRequest`]) checks its range ([`SumRange`]) and plans its chunks
//! ([`ChunkPlan`]); a [`Backend`] sums them into a [`ChunkSink`], which verifies every partial;
//! [`Auto`] picks the backend for each request and learns from what it runs.

#![warn(missing_docs)]

mod backend;
mod chunk;
mod env;
mod error;
mod files;
mod range;
mod request;
mod select;
mod verify;

pub use backend::cpu::{LaneKernel, Scalar, Simd};
pub use backend::gpu::{AdapterChoice, AdapterSummary, Gpu, GpuKernel, GpuOptions};
pub use backend::{Backend, BackendInfo, BackendKind};
pub use chunk::{Chunk, ChunkPlan, Chunking, Chunks, DEFAULT_CHUNKS};
pub use error::{Error, Result};
pub use range::{SumRange, closed_form};
pub use request::{Runner, SumReport, SumRequest};
pub use select::{Auto, AutoOptions, AutoReport, Basis, ChosenBy, CostModel, Explanation};
pub use verify::{ChunkSink, Progress};

use std::ops::RangeBounds;

/// Sums `range` exactly, verified against the closed form, on the fastest backend for its size
/// ([`Auto::global`]).
///
/// ```
/// assert_eq!(parsum::sum(1..=100)?, 5050);
/// assert_eq!(parsum::sum(..0)?, 0);
/// assert!(parsum::sum(10..=5).is_err());
/// # Ok::<(), parsum::Error>(())
/// ```
pub fn sum(range: impl RangeBounds<u64>) -> Result<u128> {
    Auto::global()?.sum(&SumRequest::new(range)?)
}
