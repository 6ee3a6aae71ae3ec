//! The GPU backend: a WGSL segmented reduction (`shaders/`) through wgpu, and without the `gpu`
//! feature a stand-in whose every constructor says why there is no GPU.

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

/// Checks every wgpu environment variable parsum reads, so a bad one is reported before any work
/// (a no-op without the `gpu` feature).
pub(crate) fn check_environment() -> crate::error::Result<()> {
    #[cfg(feature = "gpu")]
    {
        adapter::backends()?;
        adapter::adapter_name_from_env()?;
        adapter::power_preference()?;
    }
    Ok(())
}
