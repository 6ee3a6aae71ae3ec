//! The CPU backends: [`Scalar`] (one add per element on the calling thread) and [`Simd`] (lane
//! kernels on the calling thread and the helpers of a [`pool`]), sharing one way of cutting a
//! plan into pieces ([`pieces`]).

mod lanes;
mod pieces;
mod pool;
mod scalar;
mod simd;

pub use lanes::LaneKernel;
pub use scalar::Scalar;
pub use simd::Simd;

/// A one-thread kernel: the exact sum of `first..=last` (`first <= last`).
pub(crate) trait Kernel: Fn(u64, u64) -> u128 + Copy + Send + Sync + 'static {}
impl<F: Fn(u64, u64) -> u128 + Copy + Send + Sync + 'static> Kernel for F {}

/// The CPU's model name, for [`crate::BackendInfo::device`]. Read when a backend is made, never
/// kept in a process-wide cell: a child forked mid-initialisation must not wait on one forever.
pub(crate) fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH))
}
