//! The [`Backend`] trait and what a backend says about itself.
//!
//! A backend sums the chunks of a [`ChunkPlan`](crate::ChunkPlan) and hands each partial to a
//! [`ChunkSink`], which verifies it: backends never check themselves and never compute the closed
//! form. What ran comes back as a [`Ran`], so nothing above has to be told through the sink.

pub mod batch;
mod cpu_run;
mod crew;
#[cfg(feature = "gpu")]
pub mod gpu;
#[cfg(not(feature = "gpu"))]
#[path = "gpu_stub.rs"]
pub mod gpu;
pub mod gpu_options;
pub mod lanes;
mod report;
pub mod scalar;
pub mod simd;

use std::fmt;

pub use report::{Basis, ChosenBy, Ran, Selection};

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
    /// [`crate::Auto`], which runs each sum on one of the others.
    Auto,
}

impl BackendKind {
    /// The lower-case name used on the command line and in JSON: `scalar`, `simd`, `gpu`, `auto`.
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
#[non_exhaustive]
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

impl BackendInfo {
    /// A description, for backends written outside parsum.
    pub fn new(
        kind: BackendKind,
        kernel: impl Into<String>,
        device: impl Into<String>,
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
/// [`ChunkSink::accept`] (or a run of consecutive ones to [`ChunkSink::accept_run`]), in any
/// order and from any thread; they stop and return the first error the sink gives.
/// [`crate::SumRequest::run`] plans, verifies and totals around them.
///
/// ```
/// use parsum::{Backend, BackendInfo, BackendKind, ChunkSink, Ran, Result, Scalar, SumRequest};
///
/// /// One element at a time, in u128: slow, but a backend all the same.
/// struct Plain;
/// impl Backend for Plain {
///     fn info(&self) -> BackendInfo {
///         BackendInfo::new(BackendKind::Scalar, "plain", "this CPU", 1)
///     }
///     fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<Ran> {
///         for chunk in sink.plan().iter() {
///             let sum = (chunk.first..=chunk.last).fold(0u128, |a, v| a + v as u128);
///             sink.accept(chunk.index, sum)?;
///         }
///         Ok(Ran::new(self.info()))
///     }
/// }
/// let report = SumRequest::new(1..=100)?.run(&Plain)?;
/// assert_eq!(report.sum, 5050);
/// assert_eq!(report.sum, SumRequest::new(1..=100)?.run(&Scalar::new())?.sum);
/// # Ok::<(), parsum::Error>(())
/// ```
pub trait Backend: Send + Sync {
    /// Describes the backend.
    fn info(&self) -> BackendInfo;

    /// Sums every chunk of `sink.plan()`, hands each partial to `sink`, and says what ran.
    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<Ran>;

    /// What identifies this backend's speed across runs, for [`crate::Auto`]'s saved
    /// observations: by default kind, kernel, device and threads. A backend whose kernel is
    /// picked by a race (the GPU) leaves the kernel out, so the key cannot flip.
    fn identity(&self) -> String {
        let i = self.info();
        format!("{}|{}|{}|{}", i.kind, i.kernel, i.device, i.threads)
    }
}

impl<B: Backend + ?Sized> Backend for &B {
    fn info(&self) -> BackendInfo {
        (**self).info()
    }
    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<Ran> {
        (**self).sum_chunks(sink)
    }
    fn identity(&self) -> String {
        (**self).identity()
    }
}

impl<B: Backend + ?Sized> Backend for Box<B> {
    fn info(&self) -> BackendInfo {
        (**self).info()
    }
    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<Ran> {
        (**self).sum_chunks(sink)
    }
    fn identity(&self) -> String {
        (**self).identity()
    }
}

impl<B: Backend + ?Sized> Backend for std::sync::Arc<B> {
    fn info(&self) -> BackendInfo {
        (**self).info()
    }
    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<Ran> {
        (**self).sum_chunks(sink)
    }
    fn identity(&self) -> String {
        (**self).identity()
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
