//! [`Gpu`]: the backend over wgpu. A call writes a few parameters and a segment table per batch,
//! dispatches, and reads back one 128-bit sum per segment.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::Duration;

use super::batches::Batches;
use super::options::{AdapterChoice, AdapterSummary, GpuKernel, GpuOptions};
use super::{adapter, buffers, device, kernels, submit};
use crate::backend::{Backend, BackendInfo, BackendKind, lock};
use crate::error::{Error, Result};
use crate::verify::ChunkSink;

/// Runs `f`, turning a panic inside wgpu into the error `wrap` makes of its message.
fn unpanicked<T>(f: impl FnOnce() -> Result<T>, wrap: impl FnOnce(String) -> Error) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let p = payload.as_ref();
        let text = p.downcast_ref::<&str>().map(|s| s.to_string());
        let text = text.or_else(|| p.downcast_ref::<String>().cloned());
        Err(wrap(text.unwrap_or_else(|| "no message".into())))
    })
}

/// The wgpu compute backend. Made once, shared by reference: calls from several threads take
/// turns on the device.
///
/// ```no_run
/// use parsum::{Gpu, Simd, SumRequest};
/// let gpu = Gpu::new()?; // Err(GpuUnavailable) on a machine without a usable adapter
/// let request = SumRequest::new(0..10_000_000_000)?;
/// assert_eq!(request.run(&gpu)?.sum, request.run(&Simd::new())?.sum);
/// # Ok::<(), parsum::Error>(())
/// ```
pub struct Gpu {
    pub(super) dev: device::Device,
    kernel: GpuKernel,
    pipelines: submit::Pipelines,
    info: BackendInfo,
    /// The buffers, behind the lock that serialises calls.
    pub(super) state: Mutex<buffers::Buffers>,
    /// Device time of the last call, apart from `state`: an observer running inside a call may
    /// ask for it without waiting on the call's own lock.
    last_kernel: Mutex<Option<Duration>>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("adapter", &self.dev.adapter)
            .field("kernel", &self.kernel)
            .finish_non_exhaustive()
    }
}

impl Gpu {
    /// The adapter wgpu's environment variables point at (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME`,
    /// `WGPU_POWER_PREF`), else the high-performance one.
    pub fn new() -> Result<Self> {
        Self::with_options(GpuOptions::default())
    }

    /// Full control over adapter, kernel and submission size. A panic inside wgpu while setting
    /// up is [`Error::GpuUnavailable`], never a crash.
    pub fn with_options(options: GpuOptions) -> Result<Self> {
        if options.max_batch_elements == 0 {
            return Err(Error::Config(
                "GpuOptions::max_batch_elements must be at least 1".into(),
            ));
        }
        unpanicked(
            || Self::open(&options),
            |m| Error::GpuUnavailable(format!("wgpu panicked while setting up: {m}")),
        )
    }

    fn open(options: &GpuOptions) -> Result<Self> {
        let (summary, adapter) = adapter::choose(&options.adapter)?;
        let dev = device::Device::open(&adapter, summary, options.max_batch_elements)?;
        let (kernel, pipelines, buffers) = kernels::choose(&dev, options.kernel)?;
        let name = format!("gpu/{}", kernel.name());
        let info = BackendInfo::new(BackendKind::Gpu, name, dev.adapter.describe(), 1);
        Ok(Self {
            kernel,
            pipelines,
            state: Mutex::new(buffers),
            last_kernel: Mutex::new(None),
            dev,
            info,
        })
    }

    /// Every adapter wgpu finds (those on OpenGL only where there is no other), with the index
    /// [`AdapterChoice::Index`](crate::AdapterChoice::Index) takes.
    pub fn adapters() -> Result<Vec<AdapterSummary>> {
        unpanicked(
            || Ok(adapter::all()?.into_iter().map(|(s, _)| s).collect()),
            |m| Error::GpuUnavailable(format!("wgpu panicked while listing adapters: {m}")),
        )
    }

    /// The adapter [`Gpu::new`] would open (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME` and
    /// `WGPU_POWER_PREF` honoured), found without opening it; the error says why there is none.
    pub fn default_adapter() -> Result<AdapterSummary> {
        unpanicked(
            || Ok(adapter::choose(&AdapterChoice::Default)?.0),
            |m| Error::GpuUnavailable(format!("wgpu panicked while listing adapters: {m}")),
        )
    }

    /// The kernel in use.
    pub fn kernel(&self) -> GpuKernel {
        self.kernel
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

    fn sum_batches(&self, sink: &ChunkSink<'_>, buffers: &buffers::Buffers) -> Result<()> {
        let mut shader_time: Option<Duration> = None;
        // The chunk being put together from segments, and a run of finished chunks.
        let mut partial = 0u128;
        let mut run: Vec<u128> = Vec::new();
        for batch in Batches::new(sink.plan(), self.dev.limits) {
            sink.check_cancelled()?;
            let (sums, time) = submit::submit(&self.dev, buffers, &self.pipelines, &batch)?;
            if let Some(t) = time {
                *shader_time.get_or_insert_default() += t;
            }
            batch.gather(sums, &mut partial, &mut run);
            // Only a batch's last segment may leave its chunk open: the run starts at the first.
            sink.accept_from(batch.segments[0].chunk, &run)?;
            run.clear();
        }
        *lock(&self.last_kernel) = shader_time;
        Ok(())
    }
}

impl Backend for Gpu {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        adapter::check_not_forked()?;
        let buffers = lock(&self.state);
        self.dev.check_alive()?;
        *lock(&self.last_kernel) = None;
        unpanicked(
            || self.sum_batches(sink, &buffers),
            |m| Error::Gpu(format!("{}: wgpu panicked: {m}", self.dev.adapter.name)),
        )
    }
}
