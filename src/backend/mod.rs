//! The [`Backend`] trait and what a backend says about itself.
//!
//! A backend sums the chunks of a [`ChunkPlan`](crate::ChunkPlan) and hands each partial to a
//! [`ChunkSink`], which verifies it: backends never check themselves and never compute the closed
//! form. A backend behaves the same for the same request: none of them learns timings.

pub(crate) mod cpu;
pub(crate) mod gpu;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::Result;
use crate::verify::ChunkSink;

/// Which family a backend belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum BackendKind {
    /// One core, one add per element.
    Scalar,
    /// SIMD lanes on every core (the calling thread and resident helper threads).
    Simd,
    /// A WGSL compute shader through wgpu.
    Gpu,
}

impl BackendKind {
    /// The lower-case name used on the command line and in JSON: `scalar`, `simd`, `gpu`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scalar => "scalar",
            Self::Simd => "simd",
            Self::Gpu => "gpu",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a backend is and where it runs. Cheap to clone (its strings are shared).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct BackendInfo {
    /// The backend's family.
    pub kind: BackendKind,
    /// The kernel or variant in use, e.g. `simd/avx512` or `gpu/u32-pairs`.
    pub kernel: Arc<str>,
    /// The device: the CPU's model name, or the GPU adapter's name and API.
    pub device: Arc<str>,
    /// Threads that sum on the CPU (1 for scalar and GPU backends).
    pub threads: usize,
}

impl BackendInfo {
    /// A description, for backends written outside parsum.
    pub fn new(
        kind: BackendKind,
        kernel: impl Into<Arc<str>>,
        device: impl Into<Arc<str>>,
        threads: usize,
    ) -> Self {
        Self {
            kind,
            kernel: kernel.into(),
            device: device.into(),
            threads,
        }
    }
}

/// A way of summing chunks of a u64 range. Made once, shared by reference across threads.
///
/// Implementors add every element of every chunk (no closed form) and hand each partial to
/// [`ChunkSink::accept`] (or consecutive ones to [`ChunkSink::accept_from`]), in any order and
/// from any thread; they stop and return the first error the sink gives.
/// [`SumRequest::run`](crate::SumRequest::run) plans, verifies and totals around them.
///
/// ```
/// use parsum::{Backend, BackendInfo, BackendKind, ChunkSink, Result, Scalar, SumRequest};
///
/// /// One element at a time, in u128: slow, but a backend all the same.
/// struct Plain(BackendInfo);
/// impl Backend for Plain {
///     fn info(&self) -> &BackendInfo {
///         &self.0
///     }
///     fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
///         for chunk in sink.plan().iter() {
///             let sum = (chunk.first..=chunk.last).fold(0u128, |a, v| a + v as u128);
///             sink.accept(chunk.index, sum)?;
///         }
///         Ok(())
///     }
/// }
/// let plain = Plain(BackendInfo::new(BackendKind::Scalar, "plain", "this CPU", 1));
/// let report = SumRequest::new(1..=100)?.run(&plain)?;
/// assert_eq!(report.sum, 5050);
/// assert_eq!(report.sum, SumRequest::new(1..=100)?.run(&Scalar::new())?.sum);
/// # Ok::<(), parsum::Error>(())
/// ```
pub trait Backend: Send + Sync {
    /// Describes the backend.
    fn info(&self) -> &BackendInfo;

    /// Sums every chunk of `sink.plan()` and hands each partial to `sink`.
    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()>;
}

macro_rules! forward {
    ($($t:ty),*) => {$(
        impl<B: Backend + ?Sized> Backend for $t {
            fn info(&self) -> &BackendInfo {
                (**self).info()
            }
            fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
                (**self).sum_chunks(sink)
            }
        }
    )*};
}
forward!(&B, Box<B>, Arc<B>);

/// Locks `m`, whatever a panicking holder left behind.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
