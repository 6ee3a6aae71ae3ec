//! The GPU backend: a WGSL compute shader (`shaders/range_sum.wgsl` plus one of the `sum_run_*`
//! variants) run through wgpu.
//!
//! Adapter, device, pipeline and buffers are made once in [`Gpu::new`]; a call writes a few
//! parameters, dispatches, and reads back one 128-bit sum per segment (16 bytes per chunk for
//! ordinary plans). WGSL has no u64, so
//! the portable kernel adds each value as a pair of u32 halves with counted carries; where the
//! device offers 64-bit integers a native-u64 kernel is timed against it and the faster kept.
//!
//! ```no_run
//! use parsum::{Gpu, Simd, SumRequest};
//! let gpu = Gpu::new()?; // Err(GpuUnavailable) on a machine without a usable adapter
//! let request = SumRequest::new(0..10_000_000_000)?;
//! assert_eq!(request.run(&gpu)?.sum, request.run(&Simd::new())?.sum);
//! # Ok::<(), parsum::Error>(())
//! ```

mod adapter;
pub mod batch;

use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use batch::{Batch, BatchLimits, Batches, MAX_SEGMENTS};

use super::gpu_options::{AdapterSummary, GpuKernel, GpuOptions};
use super::{Backend, BackendInfo, BackendKind};
use crate::error::{Error, Result};
use crate::verify::ChunkSink;

pub use adapter::adapters;

/// Longest wait for one submission before the call gives up (a healthy batch takes milliseconds).
const SUBMISSION_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes of one workgroup partial (four u32 limbs).
const PARTIAL: u64 = 16;
/// Bytes at the start of the readback buffer that hold the two pass timestamps.
const STAMPS: u64 = 16;
/// Kernel calibration stops doubling its size once one run takes this long.
const CALIBRATION_TIME: Duration = Duration::from_millis(2);

fn shader_source(kernel: GpuKernel) -> String {
    let variant = match kernel {
        GpuKernel::U32Pairs => include_str!("../../../shaders/sum_run_u32.wgsl"),
        GpuKernel::NativeU64 => include_str!("../../../shaders/sum_run_u64.wgsl"),
    };
    format!(
        "{}\n{variant}",
        include_str!("../../../shaders/range_sum.wgsl")
    )
}

/// The wgpu compute backend. Made once, shared by reference: calls from several threads take
/// turns on the device.
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipeline: wgpu::ComputePipeline,
    /// Adds each segment's workgroup partials on the device.
    reduce: wgpu::ComputePipeline,
    kernel: GpuKernel,
    calibration: Vec<(GpuKernel, Duration)>,
    adapter: AdapterSummary,
    limits: BatchLimits,
    /// Nanoseconds per timestamp tick, when the device has timestamp queries.
    timestamp_period: Option<f64>,
    lost: Arc<Mutex<Option<String>>>,
    uncaptured: Arc<Mutex<Option<String>>>,
    state: Mutex<State>,
}

/// Buffers reused by every call, behind the lock that serialises calls.
struct State {
    params: wgpu::Buffer,
    segments: wgpu::Buffer,
    /// Workgroup partials: written by `main`, read by `reduce`, never by the host.
    _partials: wgpu::Buffer,
    segment_sums: wgpu::Buffer,
    readback: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    stamps: Option<(wgpu::QuerySet, wgpu::Buffer)>,
    last_kernel: Option<Duration>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("adapter", &self.adapter)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Gpu {
    /// The adapter wgpu's environment variables point at, else the high-performance one.
    pub fn new() -> Result<Self> {
        Self::with_options(GpuOptions::default())
    }

    /// The adapter whose name contains `name` (case-insensitive).
    pub fn with_adapter(name: &str) -> Result<Self> {
        Self::with_options(GpuOptions {
            adapter: Some(name.to_string()),
            ..GpuOptions::default()
        })
    }

    /// Full control over adapter choice and submission size.
    pub fn with_options(options: GpuOptions) -> Result<Self> {
        if options.max_batch_elements == 0 {
            return Err(Error::Gpu("max_batch_elements must be at least 1".into()));
        }
        let instance = adapter::instance();
        let chosen = adapter::choose(
            &instance,
            options.adapter.as_deref(),
            options.api.as_deref(),
        )?;
        let summary = AdapterSummary::of(&chosen.get_info());
        let offered = chosen.features();
        let stamps = offered.contains(wgpu::Features::TIMESTAMP_QUERY);
        let int64 = offered.contains(wgpu::Features::SHADER_INT64);
        if options.kernel == Some(GpuKernel::NativeU64) && !int64 {
            return Err(Error::GpuUnavailable(format!(
                "{}: the native-u64 kernel needs SHADER_INT64, which this adapter lacks",
                summary.describe()
            )));
        }
        let required_features =
            offered & (wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SHADER_INT64);
        let (device, queue) = pollster::block_on(chosen.request_device(&wgpu::DeviceDescriptor {
            label: Some("parsum"),
            required_features,
            required_limits: wgpu::Limits::downlevel_defaults(),
            ..Default::default()
        }))
        .map_err(|e| Error::GpuUnavailable(format!("{}: {e}", summary.describe())))?;

        let lost = Arc::new(Mutex::new(None));
        let on_lost = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            *lock(&on_lost) = Some(format!("{reason:?}: {message}"));
        });
        let uncaptured = Arc::new(Mutex::new(None));
        let on_error = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            *lock(&on_error) = Some(e.to_string());
        }));

        let device_limits = device.limits();
        let mut limits = BatchLimits {
            max_elements: options.max_batch_elements,
            max_groups_per_dim: device_limits.max_compute_workgroups_per_dimension,
            target_groups: if chosen.get_info().device_type == wgpu::DeviceType::Cpu {
                batch::TARGET_GROUPS_CPU
            } else {
                batch::TARGET_GROUPS
            },
        };
        // Shrink batches until the partials buffer fits the storage binding limit.
        while limits.max_groups() * PARTIAL > device_limits.max_storage_buffer_binding_size
            && limits.max_elements > 1
        {
            limits.max_elements /= 2;
        }

        let candidates: Vec<GpuKernel> = match options.kernel {
            Some(k) => vec![k],
            None if int64 => vec![GpuKernel::U32Pairs, GpuKernel::NativeU64],
            None => vec![GpuKernel::U32Pairs],
        };
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = bind_group_layout(&device);
        let pipelines: Vec<(GpuKernel, wgpu::ComputePipeline)> = candidates
            .iter()
            .map(|&k| (k, make_pipeline(&device, &layout, k, "main")))
            .collect();
        let reduce = make_pipeline(&device, &layout, GpuKernel::U32Pairs, "reduce");
        let state = State::new(&device, &layout, &limits, stamps);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::GpuUnavailable(format!(
                "{}: pipeline set-up failed: {e}",
                summary.describe()
            )));
        }
        let timestamp_period = stamps.then(|| queue.get_timestamp_period() as f64);
        let mut pipelines = pipelines.into_iter();
        let (kernel, pipeline) = pipelines.next().expect("at least one candidate kernel");
        let mut gpu = Self {
            device,
            queue,
            pipeline,
            reduce,
            kernel,
            calibration: Vec::new(),
            adapter: summary,
            limits,
            timestamp_period,
            lost,
            uncaptured,
            state: Mutex::new(state),
        };
        for (kernel, pipeline) in pipelines {
            gpu.calibrate(kernel, pipeline)?;
        }
        Ok(gpu)
    }

    /// Times the kernel in use against `challenger` on the same range and keeps the faster. A
    /// challenger whose sum is wrong is dropped, whatever its speed.
    fn calibrate(&mut self, challenger: GpuKernel, pipeline: wgpu::ComputePipeline) -> Result<()> {
        let mut n: u64 = 1 << 22;
        let incumbent = loop {
            let t = self.time_range(&self.pipeline, n)?;
            if t >= CALIBRATION_TIME || n >= self.limits.max_elements.min(1 << 32) {
                break t.min(self.time_range(&self.pipeline, n)?);
            }
            n *= 2;
        };
        let theirs = match self.time_range(&pipeline, n) {
            Ok(t) => t.min(self.time_range(&pipeline, n)?),
            Err(Error::Gpu(_)) => Duration::MAX,
            Err(e) => return Err(e),
        };
        self.calibration = vec![(self.kernel, incumbent), (challenger, theirs)];
        if theirs < incumbent {
            self.pipeline = pipeline;
            self.kernel = challenger;
        }
        Ok(())
    }

    /// Device time (wall time without timestamp queries) of one verified sum of `0..n`.
    fn time_range(&self, pipeline: &wgpu::ComputePipeline, n: u64) -> Result<Duration> {
        let range = crate::SumRange::new(0..n)?;
        let plan = crate::ChunkPlan::new(range, crate::Chunking::Count(1))?;
        let mut st = lock(&self.state);
        let started = std::time::Instant::now();
        let mut kernel = Duration::ZERO;
        let mut total = 0u128;
        for batch in Batches::new(&plan, self.limits) {
            let (sums, time) = self.run_batch(&mut st, pipeline, &batch)?;
            kernel += time.unwrap_or_default();
            total += sums.iter().sum::<u128>();
        }
        if total != range.closed_form() {
            return Err(Error::Gpu(format!("calibration sum of 0..{n} was wrong")));
        }
        Ok(if self.timestamp_period.is_some() {
            kernel
        } else {
            started.elapsed()
        })
    }

    /// The kernel in use.
    pub fn kernel(&self) -> GpuKernel {
        self.kernel
    }

    /// The set-up's kernel timings (kernel, time of one sum), when both kernels were timed.
    pub fn calibration(&self) -> &[(GpuKernel, Duration)] {
        &self.calibration
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    /// Time the device spent in the shader during the last call (from timestamp queries), when
    /// the device offers them. The rest of a call's time is set-up, submission and readback.
    pub fn last_kernel_time(&self) -> Option<Duration> {
        lock(&self.state).last_kernel
    }

    /// Destroys the device, as a driver reset would. Every later call returns
    /// [`Error::DeviceLost`]. For exercising failure paths.
    pub fn lose_device(&self) {
        self.device.destroy();
        let _ = self.device.poll(wgpu::PollType::Poll);
        let mut lost = lock(&self.lost);
        if lost.is_none() {
            *lost = Some("device destroyed".into());
        }
    }

    fn check_alive(&self) -> Result<()> {
        match lock(&self.lost).as_ref() {
            Some(reason) => Err(Error::DeviceLost(format!(
                "{}: {reason}",
                self.adapter.name
            ))),
            None => Ok(()),
        }
    }

    /// A failure seen mid-call: a lost device if the device says so, else a plain GPU error.
    fn failure(&self, what: impl std::fmt::Display) -> Error {
        let _ = self.device.poll(wgpu::PollType::Poll);
        match self.check_alive() {
            Err(lost) => lost,
            Ok(()) => Error::Gpu(format!("{}: {what}", self.adapter.name)),
        }
    }

    /// Runs one batch; returns each segment's exact sum and the kernel time.
    fn run_batch(
        &self,
        st: &mut State,
        pipeline: &wgpu::ComputePipeline,
        batch: &Batch,
    ) -> Result<(Vec<u128>, Option<Duration>)> {
        let params = [
            batch.total_groups,
            batch.segments.len() as u32,
            batch.per_invocation,
            batch.groups_per_row,
        ];
        let segments: Vec<[u32; 4]> = batch
            .segments
            .iter()
            .map(|s| [s.first as u32, (s.first >> 32) as u32, s.len, s.group_base])
            .collect();
        let sums_bytes = batch.segments.len() as u64 * PARTIAL;

        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        self.queue
            .write_buffer(&st.params, 0, bytemuck::cast_slice(&params));
        self.queue
            .write_buffer(&st.segments, 0, bytemuck::cast_slice(&segments));
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let timestamp_writes =
                st.stamps
                    .as_ref()
                    .map(|(set, _)| wgpu::ComputePassTimestampWrites {
                        query_set: set,
                        beginning_of_pass_write_index: Some(0),
                        end_of_pass_write_index: Some(1),
                    });
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("range_sum"),
                timestamp_writes,
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &st.bind_group, &[]);
            let (x, y) = batch.grid();
            pass.dispatch_workgroups(x, y, 1);
            pass.set_pipeline(&self.reduce);
            pass.dispatch_workgroups(batch.segments.len() as u32, 1, 1);
        }
        if let Some((set, resolve)) = &st.stamps {
            encoder.resolve_query_set(set, 0..2, resolve, 0);
            encoder.copy_buffer_to_buffer(resolve, 0, &st.readback, 0, STAMPS);
        }
        encoder.copy_buffer_to_buffer(&st.segment_sums, 0, &st.readback, STAMPS, sums_bytes);
        let submission = self.queue.submit([encoder.finish()]);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(self.failure(e));
        }

        let span = STAMPS + sums_bytes;
        let (tx, rx) = mpsc::channel();
        st.readback
            .map_async(wgpu::MapMode::Read, 0..span, move |r| drop(tx.send(r)));
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: Some(SUBMISSION_TIMEOUT),
            })
            .map_err(|e| self.failure(format!("waiting for the GPU: {e}")))?;
        rx.recv_timeout(SUBMISSION_TIMEOUT)
            .map_err(|_| self.failure("the readback was never mapped"))?
            .map_err(|e| self.failure(format!("mapping the readback: {e}")))?;
        if let Some(e) = lock(&self.uncaptured).take() {
            st.readback.unmap();
            return Err(self.failure(e));
        }

        let (sums, kernel) = {
            let view = st
                .readback
                .get_mapped_range(0..span)
                .map_err(|e| self.failure(format!("reading the readback: {e}")))?;
            let words: &[u32] = bytemuck::cast_slice(&view);
            let kernel = self.timestamp_period.map(|period| {
                let begin = words[0] as u64 | (words[1] as u64) << 32;
                let end = words[2] as u64 | (words[3] as u64) << 32;
                Duration::from_nanos((end.saturating_sub(begin) as f64 * period) as u64)
            });
            let sums = words[(STAMPS / 4) as usize..]
                .chunks_exact(4)
                .map(|w| {
                    w[0] as u128
                        | (w[1] as u128) << 32
                        | (w[2] as u128) << 64
                        | (w[3] as u128) << 96
                })
                .collect();
            (sums, kernel)
        };
        st.readback.unmap();
        Ok((sums, kernel))
    }
}

fn bind_group_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("range_sum"),
        entries: &[
            entry(0, wgpu::BufferBindingType::Uniform),
            entry(1, wgpu::BufferBindingType::Storage { read_only: true }),
            entry(2, wgpu::BufferBindingType::Storage { read_only: false }),
            entry(3, wgpu::BufferBindingType::Storage { read_only: false }),
        ],
    })
}

fn make_pipeline(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    kernel: GpuKernel,
    entry_point: &str,
) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(kernel.name()),
        source: wgpu::ShaderSource::Wgsl(shader_source(kernel).into()),
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("range_sum"),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(kernel.name()),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some(entry_point),
        compilation_options: Default::default(),
        cache: None,
    })
}

impl State {
    fn new(
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        limits: &BatchLimits,
        stamps: bool,
    ) -> Self {
        use wgpu::BufferUsages as U;
        let buffer = |label, size, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        let partial_bytes = limits.max_groups() * PARTIAL;
        let params = buffer("params", 16, U::UNIFORM | U::COPY_DST);
        let segments = buffer(
            "segments",
            MAX_SEGMENTS as u64 * 16,
            U::STORAGE | U::COPY_DST,
        );
        let partials = buffer("partials", partial_bytes, U::STORAGE);
        let sums_bytes = MAX_SEGMENTS as u64 * PARTIAL;
        let segment_sums = buffer("segment sums", sums_bytes, U::STORAGE | U::COPY_SRC);
        let readback = buffer("readback", STAMPS + sums_bytes, U::MAP_READ | U::COPY_DST);
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("range_sum"),
            layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: params.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: segments.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: partials.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: segment_sums.as_entire_binding(),
                },
            ],
        });
        let stamps = stamps.then(|| {
            let set = device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pass time"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let resolve = buffer("stamps", STAMPS, U::QUERY_RESOLVE | U::COPY_SRC);
            (set, resolve)
        });
        Self {
            params,
            segments,
            _partials: partials,
            segment_sums,
            readback,
            bind_group,
            stamps,
            last_kernel: None,
        }
    }
}

impl Backend for Gpu {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Gpu,
            kernel: format!("gpu/{}", self.kernel.name()),
            device: self.adapter.describe(),
            threads: 1,
        }
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        let mut st = lock(&self.state);
        self.check_alive()?;
        st.last_kernel = None;
        let mut kernel: Option<Duration> = None;
        let mut chunk_sum = 0u128;
        for batch in Batches::new(sink.plan(), self.limits) {
            sink.check_cancelled()?;
            let (sums, time) = self.run_batch(&mut st, &self.pipeline, &batch)?;
            if let Some(t) = time {
                *kernel.get_or_insert(Duration::ZERO) += t;
            }
            for (segment, sum) in batch.segments.iter().zip(sums) {
                chunk_sum += sum;
                if segment.ends_chunk {
                    sink.accept(segment.chunk, chunk_sum)?;
                    chunk_sum = 0;
                }
            }
        }
        st.last_kernel = kernel;
        Ok(())
    }
}
