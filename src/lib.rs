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
//! Layers, each depending only on those above it: [`error`](Error), ranges ([`SumRange`]),
//! chunk plans ([`ChunkPlan`]), the verifying sink ([`ChunkSink`]), the [`backend`]s, requests
//! ([`SumRequest`]), and [`select`] ([`Auto`]).

#![warn(missing_docs)]

pub mod backend;
mod chunk;
mod env;
mod error;
mod range;
mod request;
pub mod select;
pub mod store;
mod verify;

pub use backend::batch;
pub use backend::gpu::{Gpu, adapters};
pub use backend::gpu_options::{AdapterChoice, AdapterSummary, GpuKernel, GpuOptions};
pub use backend::lanes::{LaneKernel, Lanes};
pub use backend::scalar::Scalar;
pub use backend::simd::Simd;
pub use backend::{Backend, BackendInfo, BackendKind, Basis, ChosenBy, Ran, Selection};
pub use chunk::{Chunk, ChunkPlan, Chunking, Chunks, DEFAULT_CHUNKS, MIN_AUTO_CHUNK};
pub use error::{Error, Result};
pub use range::{DOMAIN_END, SumRange, closed_form};
pub use request::{SumReport, SumRequest};
pub use select::{Auto, AutoOptions, CandidateReport, CostModel, Explanation};
pub use store::CacheSetting;
pub use verify::{ChunkSink, Progress};

use std::ops::RangeBounds;
use std::sync::OnceLock;

/// Sums `range` exactly, verified against the closed form, on the fastest backend for its size.
///
/// The first call builds one process-wide [`Auto`] (finding the backends, and calibrating them
/// unless saved observations fit); every later call only picks, runs and records.
///
/// ```
/// assert_eq!(parsum::sum(1..=100)?, 5050);
/// assert_eq!(parsum::sum(..0)?, 0);
/// assert!(parsum::sum(10..=5).is_err());
/// # Ok::<(), parsum::Error>(())
/// ```
pub fn sum(range: impl RangeBounds<u64>) -> Result<u128> {
    Ok(SumRequest::new(range)?.run(global()?)?.sum)
}

/// The process-wide [`Auto`] behind [`sum`], built on first use.
///
/// It lives until the process ends and is never dropped, so it saves what it learnt every 64 runs
/// (at most every 10 s) and at calibration, not at exit; build an [`Auto`] of your own to have it
/// save when dropped.
pub fn global() -> Result<&'static Auto> {
    static AUTO: OnceLock<Result<Auto>> = OnceLock::new();
    AUTO.get_or_init(Auto::new).as_ref().map_err(Clone::clone)
}
