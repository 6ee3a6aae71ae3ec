//! The [`Backend`] trait and what a backend says about itself.
//!
//! A backend sums the chunks of a [`ChunkPlan`](crate::ChunkPlan) and hands each partial to a [`ChunkSink`], which
//! verifies it: backends never check themselves and never compute the closed form.

#[cfg(feature = "gpu")]
pub mod gpu;
#[cfg(not(feature = "gpu"))]
#[path = "gpu_stub.rs"]
pub mod gpu;
pub mod gpu_options;
pub mod lanes;
pub mod scalar;
pub mod simd;

use std::fmt;

use crate::error::Result;
use crate::verify::ChunkSink;

/// Which family a backend belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackendKind {
    /// One core, one add per element.
    Scalar,
    /// SIMD lanes on every core (rayon).
    Simd,
    /// A WGSL compute shader through wgpu.
    Gpu,
    /// [`crate::Auto`], which runs each sum on one of the others.
    Auto,
}

impl BackendKind {
    /// The lower-case name used on the command line and in JSON: `scalar`, `simd`, `gpu`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scalar => "scalar",
            Self::Simd => "simd",
            Self::Gpu => "gpu",
            Self::Auto => "auto",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a backend is and where it runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackendInfo {
    /// The backend's family.
    pub kind: BackendKind,
    /// The kernel or variant in use, e.g. `simd/avx512` or `gpu/u32-pairs`.
    pub kernel: String,
    /// The device: the CPU's model name, or the GPU adapter's name and API.
    pub device: String,
    /// Worker threads on the CPU (1 for scalar and GPU backends).
    pub threads: usize,
}

/// A way of summing chunks of a u64 range. Made once, shared by reference across threads.
///
/// Implementors add every element of every chunk (no closed form) and call
/// [`ChunkSink::accept`] once per chunk, in any order and from any thread; they stop and return the
/// first error `accept` gives. [`crate::SumRequest::run`] plans, verifies and totals around them.
///
/// ```
/// use parsum::{Backend, Scalar, SumRequest};
/// let report = SumRequest::new(1..=100)?.run(&Scalar::new())?;
/// assert_eq!(report.sum, 5050);
/// assert_eq!(Scalar::new().info().kind, parsum::BackendKind::Scalar);
/// # Ok::<(), parsum::Error>(())
/// ```
pub trait Backend: Send + Sync {
    /// Describes the backend.
    fn info(&self) -> BackendInfo;

    /// Sums every chunk of `sink.plan()` and hands each partial to `sink`.
    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()>;
}

impl<B: Backend + ?Sized> Backend for &B {
    fn info(&self) -> BackendInfo {
        (**self).info()
    }
    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        (**self).sum_chunks(sink)
    }
}

impl<B: Backend + ?Sized> Backend for Box<B> {
    fn info(&self) -> BackendInfo {
        (**self).info()
    }
    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        (**self).sum_chunks(sink)
    }
}

impl<B: Backend + ?Sized> Backend for std::sync::Arc<B> {
    fn info(&self) -> BackendInfo {
        (**self).info()
    }
    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        (**self).sum_chunks(sink)
    }
}

/// The CPU's model name, for [`BackendInfo::device`] (read once: `info()` is on every call's path).
pub(crate) fn cpu_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH))
    })
    .clone()
}
