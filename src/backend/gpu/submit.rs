//! One batch from start to finish: write its tables, encode both dispatches, submit, wait, read
//! the segment sums back. Whatever fails, the readback buffer is left unmapped with no map pending,
//! so the next call on the same device starts clean.

use std::sync::mpsc;
use std::time::Duration;

use super::batches::Batch;
use super::buffers::{Buffers, STAMPS};
use super::device::{Device, PARTIAL};
use crate::error::Result;

/// Longest wait for one submission before the call gives up (a healthy batch takes milliseconds).
pub(super) const SUBMISSION_TIMEOUT: Duration = Duration::from_secs(60);

/// Unmaps the readback buffer when dropped, if a map was asked for: a pending map is cancelled,
/// a finished one released.
struct MapGuard<'a>(&'a wgpu::Buffer);

impl Drop for MapGuard<'_> {
    fn drop(&mut self) {
        self.0.unmap();
    }
}

/// The two compute pipelines of the kernel in use.
pub(super) struct Pipelines {
    pub main: wgpu::ComputePipeline,
    pub reduce: wgpu::ComputePipeline,
}

/// Runs one batch; returns each segment's exact sum and the pass's device time.
pub(super) fn submit(
    dev: &Device,
    bufs: &Buffers,
    pipelines: &Pipelines,
    batch: &Batch,
) -> Result<(Vec<u128>, Option<Duration>)> {
    let crossings = batch.crossings.len() as u32;
    let params: [u32; 12] = [
        batch.first as u32,
        (batch.first >> 32) as u32,
        (batch.len - 1) as u32,
        batch.segments.len() as u32,
        batch.per_invocation,
        batch.groups,
        batch.groups_per_row,
        crossings,
        batch.one_cut as u32,
        0,
        0,
        0,
    ];
    let starts: Vec<u32> = batch.segments.iter().map(|s| s.start).collect();
    let crossing_rows: Vec<[u32; 4]> = batch
        .crossings
        .iter()
        .map(|c| [c.segment, c.first_group, c.last_group, 0])
        .collect();
    let sums_bytes = batch.segments.len() as u64 * PARTIAL;

    let scope = dev.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let queue = &dev.queue;
    queue.write_buffer(&bufs.params, 0, bytemuck::cast_slice(&params));
    queue.write_buffer(&bufs.starts, 0, bytemuck::cast_slice(&starts));
    if !crossing_rows.is_empty() {
        queue.write_buffer(&bufs.crossings, 0, bytemuck::cast_slice(&crossing_rows));
    }
    let mut encoder = dev.device.create_command_encoder(&Default::default());
    let timestamp_writes = bufs
        .stamps
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
    pass.set_bind_group(0, &bufs.bind_group, &[]);
    pass.set_pipeline(&pipelines.main);
    let (x, y) = batch.grid(batch.groups);
    pass.dispatch_workgroups(x, y, 1);
    if crossings > 0 {
        pass.set_pipeline(&pipelines.reduce);
        let (x, y) = batch.grid(crossings);
        pass.dispatch_workgroups(x, y, 1);
    }
    drop(pass);
    if let Some((set, resolve)) = &bufs.stamps {
        encoder.resolve_query_set(set, 0..2, resolve, 0);
        encoder.copy_buffer_to_buffer(resolve, 0, &bufs.readback, 0, STAMPS);
    }
    encoder.copy_buffer_to_buffer(&bufs.sums, 0, &bufs.readback, STAMPS, sums_bytes);
    let submission = queue.submit([encoder.finish()]);
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(dev.failure(e));
    }

    let span = STAMPS + sums_bytes;
    let (tx, rx) = mpsc::channel();
    bufs.readback
        .map_async(wgpu::MapMode::Read, 0..span, move |r| drop(tx.send(r)));
    let _guard = MapGuard(&bufs.readback);
    let timeout = SUBMISSION_TIMEOUT;
    #[cfg(test)]
    let timeout = match bufs.fault {
        Some(super::buffers::Fault::TimeOut) => Duration::ZERO,
        _ => timeout,
    };
    dev.device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: Some(timeout),
        })
        .map_err(|e| dev.failure(format!("waiting for the GPU: {e}")))?;
    #[cfg(test)]
    if bufs.fault == Some(super::buffers::Fault::TimeOut) {
        // The submission finished within the zero wait: fail the same way regardless.
        return Err(dev.failure("waiting for the GPU: timed out (injected)"));
    }
    rx.recv_timeout(timeout)
        .map_err(|_| dev.failure("the readback was never mapped"))?
        .map_err(|e| dev.failure(format!("mapping the readback: {e}")))?;
    #[cfg(test)]
    if bufs.fault == Some(super::buffers::Fault::MapError) {
        return Err(dev.failure("mapping the readback: failed (injected)"));
    }
    if let Some(e) = dev.take_uncaptured() {
        return Err(dev.failure(e));
    }
    let view = bufs
        .readback
        .get_mapped_range(0..span)
        .map_err(|e| dev.failure(format!("reading the readback: {e}")))?;
    let words: &[u32] = bytemuck::cast_slice(&view);
    let kernel = dev.timestamp_period.map(|period| {
        let begin = words[0] as u64 | (words[1] as u64) << 32;
        let end = words[2] as u64 | (words[3] as u64) << 32;
        Duration::from_nanos((end.saturating_sub(begin) as f64 * period) as u64)
    });
    let sums = words[(STAMPS / 4) as usize..]
        .chunks_exact(4)
        .map(|w| w[0] as u128 | (w[1] as u128) << 32 | (w[2] as u128) << 64 | (w[3] as u128) << 96)
        .collect();
    Ok((sums, kernel))
}
