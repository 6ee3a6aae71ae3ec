//! The GPU backend: a WGSL compute shader (`shaders/range_sum.wgsl` plus one of the `sum_run_*`
//! variants) run through wgpu.
//!
//! One readable path, as in wgpu's hello_compute: `adapter` finds the adapter, `device` opens
//! it, `kernels` builds the pipelines and picks the kernel, `buffers` holds what every call
//! reuses, and `submit` runs one batch (see [`crate::backend::batch`] for how a plan is cut into
//! batches). A call writes a few parameters and a segment table, dispatches, and reads back one
//! 128-bit sum per segment.
//!
//! ```no_run
//! use parsum::{Gpu, Simd, SumRequest};
//! let gpu = Gpu::new()?; // Err(GpuUnavailable) on a machine without a usable adapter
//! let request = SumRequest::new(0..10_000_000_000)?;
//! assert_eq!(request.run(&gpu)?.sum, request.run(&Simd::new())?.sum);
//! # Ok::<(), parsum::Error>(())
//! ```

pub(crate) mod adapter;
mod buffers;
mod device;
mod kernels;
mod submit;
#[cfg(test)]
mod tests;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::batch::Batches;
use super::gpu_options::{AdapterSummary, GpuKernel, GpuOptions};
use super::{Backend, BackendInfo, BackendKind, Ran};
use crate::error::{Error, Result};
use crate::verify::ChunkSink;

pub use adapter::adapters;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The wgpu compute backend. Made once, shared by reference: calls from several threads take
/// turns on the device.
pub struct Gpu {
    dev: device::Device,
    kernel: GpuKernel,
    timings: Vec<(GpuKernel, Duration)>,
    pipelines: submit::Pipelines,
    /// Buffers and per-call state, behind the lock that serialises calls.
    state: Mutex<State>,
    /// Device time of the last call, apart from `state`: an observer running inside a call may
    /// ask for it without waiting on the call's own lock.
    last_kernel: Mutex<Option<Duration>>,
}

struct State {
    buffers: buffers::Buffers,
    #[cfg(test)]
    fault: Option<submit::Fault>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("adapter", &self.dev.adapter)
            .field("kernel", &self.kernel)
            .field("limits", &self.dev.limits)
            .finish_non_exhaustive()
    }
}

impl Gpu {
    /// The adapter wgpu's environment variables point at (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME`,
    /// `WGPU_POWER_PREF`), else the high-performance one.
    pub fn new() -> Result<Self> {
        Self::with_options(GpuOptions::default())
    }

    /// The adapter at `index` in [`adapters`] (what `--list` shows).
    pub fn with_adapter_index(index: usize) -> Result<Self> {
        Self::with_options(
            GpuOptions::default().adapter(super::gpu_options::AdapterChoice::Index(index)),
        )
    }

    /// Full control over adapter, kernel, submission size and cache.
    pub fn with_options(options: GpuOptions) -> Result<Self> {
        if options.max_batch_elements == 0 {
            return Err(Error::Config(
                "GpuOptions::max_batch_elements must be at least 1".into(),
            ));
        }
        let (summary, adapter) = adapter::choose(&options.adapter)?;
        Self::on_adapter(&adapter, summary, &options)
    }

    /// A backend on an adapter already found (Auto enumerates once and opens each).
    pub(crate) fn on_adapter(
        adapter: &wgpu::Adapter,
        summary: AdapterSummary,
        options: &GpuOptions,
    ) -> Result<Self> {
        let dev = device::Device::open(adapter, summary, options.max_batch_elements)?;
        let chosen = kernels::choose(&dev, options.kernel, &options.cache)?;
        Ok(Self {
            dev,
            kernel: chosen.kernel,
            timings: chosen.timings,
            pipelines: chosen.pipelines,
            state: Mutex::new(State {
                buffers: chosen.buffers,
                #[cfg(test)]
                fault: None,
            }),
            last_kernel: Mutex::new(None),
        })
    }

    /// The kernel in use.
    pub fn kernel(&self) -> GpuKernel {
        self.kernel
    }

    /// The set-up's kernel timings (kernel, device time of one sum), when both kernels were
    /// raced; empty when the kernel was forced or remembered from an earlier race.
    pub fn calibration(&self) -> &[(GpuKernel, Duration)] {
        &self.timings
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.dev.adapter
    }

    /// Time the device spent in the shader during the last call (from timestamp queries), when
    /// the device offers them. The rest of a call's time is set-up, submission and readback.
    pub fn last_kernel_time(&self) -> Option<Duration> {
        *lock(&self.last_kernel)
    }

    /// Whether the device has timestamp queries (so [`Gpu::last_kernel_time`] is measured).
    pub fn has_timestamps(&self) -> bool {
        self.dev.timestamp_period.is_some()
    }

    /// Whether the device offers 64-bit shader integers (the native-u64 kernel).
    pub fn has_int64(&self) -> bool {
        self.dev.int64
    }
}

impl Backend for Gpu {
    fn info(&self) -> BackendInfo {
        BackendInfo::new(
            BackendKind::Gpu,
            format!("gpu/{}", self.kernel.name()),
            self.dev.adapter.describe(),
            1,
        )
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<Ran> {
        let st = lock(&self.state);
        self.dev.check_alive()?;
        *lock(&self.last_kernel) = None;
        let mut kernel: Option<Duration> = None;
        // The chunk being put together from segments, and a run of finished chunks.
        let mut partial = 0u128;
        let mut run_first = 0u64;
        let mut run: Vec<u128> = Vec::new();
        for batch in Batches::new(sink.plan(), self.dev.limits) {
            sink.check_cancelled()?;
            let (sums, time) = submit::run_batch(
                &self.dev,
                &st.buffers,
                &self.pipelines,
                &batch,
                #[cfg(test)]
                st.fault,
            )?;
            if let Some(t) = time {
                *kernel.get_or_insert(Duration::ZERO) += t;
            }
            for (segment, sum) in batch.segments.iter().zip(sums) {
                // A faulty device's garbage must reach the sink as a mismatch, not overflow.
                partial = partial.wrapping_add(sum);
                if segment.ends_chunk {
                    if run.is_empty() {
                        run_first = segment.chunk;
                    }
                    run.push(std::mem::take(&mut partial));
                }
            }
            sink.accept_run(run_first, &run)?;
            run.clear();
        }
        *lock(&self.last_kernel) = kernel;
        Ok(Ran::new(self.info()))
    }

    fn identity(&self) -> String {
        format!("gpu|{}", self.dev.adapter.identity())
    }
}

/// Every GPU backend Auto should consider: the adapters on the APIs `WGPU_BACKEND` allows, those
/// named like `WGPU_ADAPTER_NAME` if it is set, and GL ones only when nothing else is there.
/// Returns the backends and, for each adapter left out, why.
pub(crate) fn for_auto(cache: &crate::store::CacheSetting) -> Result<(Vec<Gpu>, Vec<String>)> {
    let all = adapter::all()?;
    let mut skipped = Vec::new();
    if all.is_empty() {
        skipped.push(format!(
            "wgpu found no adapter on {:?}; on Linux install a Vulkan driver \
             (e.g. Debian's libvulkan1 and mesa-vulkan-drivers)",
            adapter::backends()?
        ));
    }
    let named: Vec<&(AdapterSummary, wgpu::Adapter)> = match adapter::adapter_name_from_env()? {
        Some(name) => {
            let found = adapter::matching(&all, &name);
            if found.is_empty() && !all.is_empty() {
                skipped.push(format!("WGPU_ADAPTER_NAME={name} matches no adapter"));
            }
            found
        }
        None => all.iter().collect(),
    };
    let native = named.iter().any(|(s, _)| !s.is_gl());
    let options = GpuOptions::default().cache(cache.clone());
    let mut gpus = Vec::new();
    for (summary, adapter) in named {
        if native && summary.is_gl() {
            skipped.push(format!(
                "{}: GL, used only without another API",
                summary.describe()
            ));
            continue;
        }
        match Gpu::on_adapter(adapter, summary.clone(), &options) {
            Ok(gpu) => gpus.push(gpu),
            Err(e) => skipped.push(format!("{}: {e}", summary.describe())),
        }
    }
    Ok((gpus, skipped))
}
