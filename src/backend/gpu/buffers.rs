//! The buffers every call reuses, sized once for the device's batch limits, and their bind group.

use super::device::{Device, PARTIAL};

/// Bytes at the start of the readback buffer that hold the two pass timestamps.
pub(super) const STAMPS: u64 = 16;
/// Bytes of the parameter block (twelve u32, see `Params` in `shaders/range_sum.wgsl`).
pub(super) const PARAMS: u64 = 48;

pub(super) struct Buffers {
    pub params: wgpu::Buffer,
    /// Offset of each segment's first value (u32 each).
    pub starts: wgpu::Buffer,
    /// (segment, first workgroup, last workgroup, 0) for every crossing.
    pub crossings: wgpu::Buffer,
    /// Each segment's 128-bit sum: copied to `readback`.
    pub sums: wgpu::Buffer,
    pub readback: wgpu::Buffer,
    pub bind_group: wgpu::BindGroup,
    /// The pass's timestamps, when the device has timestamp queries.
    pub stamps: Option<(wgpu::QuerySet, wgpu::Buffer)>,
    /// Workgroup edge partials: written by `main`, read by `reduce`, never by the host.
    _edges: wgpu::Buffer,
    /// The failure the next submissions provoke.
    #[cfg(test)]
    pub fault: Option<Fault>,
}

pub(super) fn bind_group_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
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
    use wgpu::BufferBindingType::{Storage, Uniform};
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("range_sum"),
        entries: &[
            entry(0, Uniform),
            entry(1, Storage { read_only: true }),
            entry(2, Storage { read_only: true }),
            entry(3, Storage { read_only: false }),
            entry(4, Storage { read_only: false }),
        ],
    })
}

impl Buffers {
    pub(super) fn new(dev: &Device, layout: &wgpu::BindGroupLayout) -> Self {
        use wgpu::BufferUsages as U;
        let buffer = |label, size: u64, usage| {
            dev.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size.max(16),
                usage,
                mapped_at_creation: false,
            })
        };
        let segments = dev.limits.max_segments as u64;
        let groups = dev.limits.max_groups();
        let sum_bytes = segments * PARTIAL;
        let params = buffer("params", PARAMS, U::UNIFORM | U::COPY_DST);
        let starts = buffer("starts", segments * 4, U::STORAGE | U::COPY_DST);
        let crossings = buffer("crossings", groups * 16, U::STORAGE | U::COPY_DST);
        let edges = buffer("edges", 2 * groups * PARTIAL, U::STORAGE);
        let sums = buffer("sums", sum_bytes, U::STORAGE | U::COPY_SRC);
        let readback = buffer("readback", STAMPS + sum_bytes, U::MAP_READ | U::COPY_DST);
        let bind_group = dev.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("range_sum"),
            layout,
            entries: &[&params, &starts, &crossings, &edges, &sums]
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect::<Vec<_>>(),
        });
        let stamps = dev.timestamp_period.map(|_| {
            let set = dev.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pass time"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let resolve = buffer("stamps", STAMPS, U::QUERY_RESOLVE | U::COPY_SRC);
            (set, resolve)
        });
        Self {
            params,
            starts,
            crossings,
            sums,
            readback,
            bind_group,
            stamps,
            _edges: edges,
            #[cfg(test)]
            fault: None,
        }
    }
}

/// Failures the tests provoke on purpose.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// Wait zero seconds for the submission (a real time-out while it still runs).
    TimeOut,
    /// Report the map as failed after it succeeded (the buffer is left mapped).
    MapError,
}
