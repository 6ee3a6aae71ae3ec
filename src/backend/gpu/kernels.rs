//! The two kernel variants: building their pipelines, checking them on the device, and the fixed
//! rule that picks one — native-u64 where the device offers `SHADER_INT64`, else u32-pairs (and
//! u32-pairs too when native-u64 fails its self-test).

use super::batches::{BatchLimits, Batches};
use super::buffers::{Buffers, bind_group_layout};
use super::device::Device;
use super::options::GpuKernel;
use super::submit::{Pipelines, submit};
use crate::chunk::{ChunkPlan, Chunking};
use crate::error::{Error, Result};
use crate::range::SumRange;

fn pipelines(dev: &Device, layout: &wgpu::BindGroupLayout, kernel: GpuKernel) -> Pipelines {
    let device = &dev.device;
    let variant = match kernel {
        GpuKernel::U32Pairs => include_str!("../../../shaders/sum_run_u32.wgsl"),
        GpuKernel::NativeU64 => include_str!("../../../shaders/sum_run_u64.wgsl"),
    };
    let source = [include_str!("../../../shaders/range_sum.wgsl"), variant].join("\n");
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(kernel.name()),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("range_sum"),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    let make = |entry_point| {
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
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

/// Just above 2^63, and a multiple of 2^32 that chunks around it cross.
const MID: u64 = (1 << 63) + (1 << 32);

/// Run once on every kernel before it is used, so a device that computes wrong sums in any of the
/// shader's paths is refused at set-up: chunks across a multiple of 2^32, values above 2^63,
/// one-element chunks, and the [`long_run_cases`].
pub(super) fn self_test(dev: &Device, bufs: &Buffers, pipelines: &Pipelines) -> Result<()> {
    let short = [
        (SumRange::new(MID - 5000..MID + 3000)?, 7, dev.limits),
        (SumRange::new(u64::MAX - 99..=u64::MAX)?, 100, dev.limits),
    ];
    for (range, chunks, limits) in short.into_iter().chain(long_run_cases(dev.limits)) {
        let plan = ChunkPlan::new(range, Chunking::Count(chunks))?;
        let mut sums = Vec::new();
        let mut partial = 0u128;
        for batch in Batches::new(&plan, limits) {
            let (got, _) = submit(dev, bufs, pipelines, &batch)?;
            batch.gather(got, &mut partial, &mut sums);
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
    }
    Ok(())
}

/// Runs of hundreds of values in batches of one workgroup at most, with chunk counts that give
/// one boundary per 256-value run, runs shrunk to 128 values for it, and runs added piece by piece.
pub(super) fn long_run_cases(device: BatchLimits) -> [(SumRange, u64, BatchLimits); 3] {
    let limits = BatchLimits {
        target_groups: 1,
        ..device
    };
    let range = SumRange::new(MID - 50_000..MID + 50_003).expect("a valid range");
    [7, 400, 5000].map(|chunks| (range, chunks, limits))
}

/// Builds the buffers and pipelines and picks the kernel: the first candidate (`forced`, else by
/// the device's features) that passes its self-test, which also warms it up.
pub(super) fn choose(
    dev: &Device,
    forced: Option<GpuKernel>,
) -> Result<(GpuKernel, Pipelines, Buffers)> {
    let unavailable =
        |what: String| Error::GpuUnavailable(format!("{}: {what}", dev.adapter.describe()));
    if forced == Some(GpuKernel::NativeU64) && !dev.int64 {
        return Err(unavailable(
            "the native-u64 kernel needs SHADER_INT64, which this adapter lacks".into(),
        ));
    }
    let scope = dev.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let layout = bind_group_layout(&dev.device);
    let buffers = Buffers::new(dev, &layout);
    let candidates = match forced {
        Some(k) => vec![k],
        None if dev.int64 => vec![GpuKernel::NativeU64, GpuKernel::U32Pairs],
        None => vec![GpuKernel::U32Pairs],
    };
    let built: Vec<(GpuKernel, Pipelines)> = candidates
        .into_iter()
        .map(|k| (k, pipelines(dev, &layout, k)))
        .collect();
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(unavailable(format!("pipeline set-up failed: {e}")));
    }
    let mut failures = Vec::new();
    for (kernel, pipelines) in built {
        match self_test(dev, &buffers, &pipelines) {
            Ok(()) => return Ok((kernel, pipelines, buffers)),
            Err(Error::Gpu(e)) => failures.push(format!("{}: {e}", kernel.name())),
            Err(e) => return Err(e),
        }
    }
    Err(unavailable(format!(
        "no kernel passed its self-test ({})",
        failures.join("; ")
    )))
}
