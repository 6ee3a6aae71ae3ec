//! The two kernel variants: building their pipelines, checking them on the device, and choosing
//! between them — by a timing race the first time on an adapter, then by what was remembered, so
//! a process start does not race again and a cache key never depends on a race's outcome.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::buffers::{Buffers, bind_group_layout};
use super::device::Device;
use super::submit::{Pipelines, run_batch};
use crate::backend::batch::{BatchLimits, Batches};
use crate::backend::gpu_options::GpuKernel;
use crate::chunk::{ChunkPlan, Chunking};
use crate::error::{Error, Result};
use crate::range::SumRange;
use crate::store::{self, CacheSetting};

/// The race stops doubling its size once one run takes this long.
const RACE_TIME: Duration = Duration::from_millis(2);

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

pub(super) fn pipelines(
    dev: &Device,
    layout: &wgpu::BindGroupLayout,
    kernel: GpuKernel,
) -> Pipelines {
    let module = dev
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(kernel.name()),
            source: wgpu::ShaderSource::Wgsl(shader_source(kernel).into()),
        });
    let pipeline_layout = dev
        .device
        .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("range_sum"),
            bind_group_layouts: &[Some(layout)],
            immediate_size: 0,
        });
    let make = |entry_point| {
        dev.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.name()),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry_point),
                // Every workgroup variable is written before it is read (behind a barrier), so
                // the zeroing WebGPU would add to each workgroup is wasted work.
                compilation_options: wgpu::PipelineCompilationOptions {
                    zero_initialize_workgroup_memory: false,
                    ..Default::default()
                },
                cache: None,
            })
    };
    Pipelines {
        main: make("main"),
        reduce: make("reduce"),
    }
}

/// Sums `range` in `chunks` chunks with `pipelines`, in batches cut under `limits` (at most the
/// device's: its buffers are sized for those), and checks every chunk against the closed form;
/// returns the device time (wall time without timestamp queries).
pub(super) fn checked_sum(
    dev: &Device,
    bufs: &Buffers,
    pipelines: &Pipelines,
    range: SumRange,
    chunks: u64,
    limits: BatchLimits,
) -> Result<Duration> {
    let plan = ChunkPlan::new(range, Chunking::Count(chunks))?;
    let started = Instant::now();
    let mut kernel = Duration::ZERO;
    let mut sums = Vec::new();
    let mut partial = 0u128;
    for batch in Batches::new(&plan, limits) {
        let (got, time) = run_batch(
            dev,
            bufs,
            pipelines,
            &batch,
            #[cfg(test)]
            None,
        )?;
        kernel += time.unwrap_or_default();
        for (segment, sum) in batch.segments.iter().zip(got) {
            partial = partial.wrapping_add(sum);
            if segment.ends_chunk {
                sums.push(std::mem::take(&mut partial));
            }
        }
    }
    if sums.len() as u64 != plan.len() {
        return Err(Error::Gpu(format!(
            "{}: self-test read back {} chunk sums for {} chunks",
            dev.adapter.name,
            sums.len(),
            plan.len()
        )));
    }
    let wrong = plan.iter().zip(&sums).find(|(c, s)| c.closed_form() != **s);
    if let Some((chunk, sum)) = wrong {
        return Err(Error::Gpu(format!(
            "{}: self-test sum of {}..={} was {sum}, expected {}",
            dev.adapter.name,
            chunk.first,
            chunk.last,
            chunk.closed_form()
        )));
    }
    Ok(if dev.timestamp_period.is_some() {
        kernel
    } else {
        started.elapsed()
    })
}

/// A range whose chunks cross a multiple of 2^32, values above 2^63 and one-element chunks, and
/// runs of hundreds of values (one workgroup a batch) with a boundary in a later 16-value block —
/// one boundary per run, runs shrunk for it, and piece by piece: run once on every kernel before
/// it is used, so a device that computes wrong sums in any of the shader's paths is refused at
/// set-up.
pub(super) fn self_test(dev: &Device, bufs: &Buffers, pipelines: &Pipelines) -> Result<()> {
    let mid = (1u64 << 63) + (1 << 32);
    let limits = dev.limits;
    checked_sum(
        dev,
        bufs,
        pipelines,
        SumRange::new(mid - 5000..mid + 3000)?,
        7,
        limits,
    )?;
    checked_sum(
        dev,
        bufs,
        pipelines,
        SumRange::new(u64::MAX - 99..=u64::MAX)?,
        100,
        limits,
    )?;
    for (range, chunks, limits) in long_run_cases(limits) {
        checked_sum(dev, bufs, pipelines, range, chunks, limits)?;
    }
    Ok(())
}

/// The self-test's sums with long runs: batches of one workgroup at most (so the device's buffers,
/// sized for more, hold them), and chunk counts that give one boundary per 256-value run, runs
/// shrunk to 128 values for it, and 256-value runs added piece by piece.
pub(super) fn long_run_cases(device: BatchLimits) -> [(SumRange, u64, BatchLimits); 3] {
    let mid = (1u64 << 63) + (1 << 32);
    let limits = BatchLimits {
        target_groups: 1,
        ..device
    };
    let range = SumRange::new(mid - 50_000..mid + 50_003).expect("a valid range");
    [7, 400, 5000].map(|chunks| (range, chunks, limits))
}

/// Times `a` against `b` on the same ranges, interleaved, best of two each; the faster wins. A
/// kernel whose sum is wrong loses whatever its speed.
pub(super) fn race(
    dev: &Device,
    bufs: &Buffers,
    (a, pa): (GpuKernel, &Pipelines),
    (b, pb): (GpuKernel, &Pipelines),
) -> Result<(GpuKernel, Vec<(GpuKernel, Duration)>)> {
    // At most 16 submissions a run, whatever `max_batch_elements` says: a tiny batch size must
    // not turn the race into millions of submissions.
    let most = dev.limits.max_elements.saturating_mul(16).min(1 << 32);
    if most < 1 << 16 {
        // Too little to time apart from noise: the first candidate (native-u64 where the device
        // has it), not remembered.
        return Ok((a, Vec::new()));
    }
    let mut n: u64 = (1 << 22).min(most);
    loop {
        let t = checked_sum(dev, bufs, pa, SumRange::new(0..n)?, 1, dev.limits)?;
        if t >= RACE_TIME || n >= most {
            break;
        }
        n *= 2;
    }
    let range = SumRange::new(0..n)?;
    let mut best = [Duration::MAX; 2];
    for _ in 0..2 {
        for (slot, p) in [(0, pa), (1, pb)] {
            match checked_sum(dev, bufs, p, range, 1, dev.limits) {
                Ok(t) => best[slot] = best[slot].min(t),
                Err(Error::Gpu(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    if best.iter().all(|&t| t == Duration::MAX) {
        return Err(Error::Gpu(format!(
            "{}: both kernels failed the timing race",
            dev.adapter.name
        )));
    }
    let timings = vec![(a, best[0]), (b, best[1])];
    Ok((if best[1] < best[0] { b } else { a }, timings))
}

/// What was remembered about kernel choices, one entry per adapter (by identity).
#[derive(Serialize, Deserialize, Default)]
struct Remembered {
    version: String,
    choices: Vec<(String, String)>,
}

/// At most this many adapters are remembered.
const MAX_REMEMBERED: usize = 64;

fn file(cache: &CacheSetting) -> Option<PathBuf> {
    let name = if cfg!(debug_assertions) {
        "gpu-kernels-debug.json"
    } else {
        "gpu-kernels.json"
    };
    cache.dir().map(|d| d.join(name))
}

fn load(path: &std::path::Path) -> Remembered {
    store::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Remembered>(&bytes).ok())
        .filter(|r| r.version == env!("CARGO_PKG_VERSION"))
        .unwrap_or_default()
}

/// The kernel remembered for this adapter, if any (and only one the device can run).
pub(super) fn remembered(cache: &CacheSetting, adapter: &str, int64: bool) -> Option<GpuKernel> {
    let path = file(cache)?;
    load(&path)
        .choices
        .iter()
        .find(|(a, _)| a == adapter)
        .and_then(|(_, k)| GpuKernel::from_name(k))
        .filter(|k| int64 || *k == GpuKernel::U32Pairs)
}

/// Remembers `kernel` for this adapter; failing to write only means racing again next time.
pub(super) fn remember(cache: &CacheSetting, adapter: &str, kernel: GpuKernel) {
    let Some(path) = file(cache) else { return };
    let mut r = load(&path);
    r.version = env!("CARGO_PKG_VERSION").into();
    r.choices.retain(|(a, _)| a != adapter);
    r.choices
        .push((adapter.to_string(), kernel.name().to_string()));
    let excess = r.choices.len().saturating_sub(MAX_REMEMBERED);
    r.choices.drain(..excess);
    if let Ok(bytes) = serde_json::to_vec_pretty(&r) {
        let _ = store::write(&path, &bytes);
    }
}

/// The layout, buffers and pipelines of a device, with the kernel chosen and checked.
pub(super) struct Chosen {
    pub kernel: GpuKernel,
    pub pipelines: Pipelines,
    pub buffers: Buffers,
    pub timings: Vec<(GpuKernel, Duration)>,
}

/// Builds what `dev` needs and picks the kernel: `forced`, else remembered, else raced.
pub(super) fn choose(
    dev: &Device,
    forced: Option<GpuKernel>,
    cache: &CacheSetting,
) -> Result<Chosen> {
    choose_from(dev, forced, cache, true)
}

/// [`choose`], consulting what was remembered only when `recall` is set.
fn choose_from(
    dev: &Device,
    forced: Option<GpuKernel>,
    cache: &CacheSetting,
    recall: bool,
) -> Result<Chosen> {
    if forced == Some(GpuKernel::NativeU64) && !dev.int64 {
        return Err(Error::GpuUnavailable(format!(
            "{}: the native-u64 kernel needs SHADER_INT64, which this adapter lacks",
            dev.adapter.describe()
        )));
    }
    let scope = dev.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let layout = bind_group_layout(&dev.device);
    let buffers = Buffers::new(dev, &layout);
    let identity = dev.adapter.identity();
    let known = forced.or_else(|| {
        recall
            .then(|| remembered(cache, &identity, dev.int64))
            .flatten()
    });
    let candidates: Vec<GpuKernel> = match known {
        Some(k) => vec![k],
        None if dev.int64 => vec![GpuKernel::NativeU64, GpuKernel::U32Pairs],
        None => vec![GpuKernel::U32Pairs],
    };
    let built: Vec<(GpuKernel, Pipelines)> = candidates
        .iter()
        .map(|&k| (k, pipelines(dev, &layout, k)))
        .collect();
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(Error::GpuUnavailable(format!(
            "{}: pipeline set-up failed: {e}",
            dev.adapter.describe()
        )));
    }
    // Every candidate must give right sums before it can be chosen (this also warms it up).
    let mut passed = Vec::new();
    let mut failures = Vec::new();
    for (k, p) in built {
        match self_test(dev, &buffers, &p) {
            Ok(()) => passed.push((k, p)),
            Err(Error::Gpu(e)) => failures.push(format!("{}: {e}", k.name())),
            Err(e) => return Err(e),
        }
    }
    let mut timings = Vec::new();
    let (kernel, pipelines) = match passed.len() {
        // A remembered kernel that no longer passes (a new driver, say): race afresh, and
        // remember the new winner instead.
        0 if forced.is_none() && known.is_some() => {
            return choose_from(dev, None, cache, false);
        }
        0 => {
            return Err(Error::GpuUnavailable(format!(
                "{}: no kernel passed its self-test ({})",
                dev.adapter.describe(),
                failures.join("; ")
            )));
        }
        1 => passed.pop().expect("one kernel"),
        _ => {
            let (b, pb) = passed.pop().expect("two kernels");
            let (a, pa) = passed.pop().expect("two kernels");
            let (winner, t) = race(dev, &buffers, (a, &pa), (b, &pb))?;
            if !t.is_empty() {
                remember(cache, &identity, winner);
            }
            timings = t;
            if winner == a { (a, pa) } else { (b, pb) }
        }
    };
    Ok(Chosen {
        kernel,
        pipelines,
        buffers,
        timings,
    })
}
