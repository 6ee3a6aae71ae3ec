//! The GPU backend: a WGSL segmented reduction (`shaders/`) through wgpu — `adapter` finds the
//! adapter, `device` opens it, `kernels` builds and checks the pipelines, `buffers` holds what
//! every call reuses, `batches` cuts a plan into submissions and `submit` runs one — and, without
//! the `gpu` feature, a stand-in whose every constructor says why there is no GPU.

mod options;

pub use options::{AdapterChoice, AdapterSummary, GpuKernel, GpuOptions};

#[cfg(feature = "gpu")]
mod adapter;
#[cfg(feature = "gpu")]
mod batches;
#[cfg(feature = "gpu")]
mod buffers;
#[cfg(feature = "gpu")]
mod device;
#[cfg(feature = "gpu")]
mod kernels;
#[cfg(feature = "gpu")]
mod submit;
#[cfg(all(test, feature = "gpu"))]
mod tests;
#[cfg(feature = "gpu")]
mod wgpu_backend;
#[cfg(feature = "gpu")]
pub use wgpu_backend::Gpu;

#[cfg(not(feature = "gpu"))]
mod stand_in;
#[cfg(not(feature = "gpu"))]
pub use stand_in::Gpu;

/// Checks wgpu's environment variables (a no-op without the `gpu` feature).
pub(crate) fn check_environment() -> crate::error::Result<()> {
    #[cfg(feature = "gpu")]
    adapter::check_environment()?;
    Ok(())
}
