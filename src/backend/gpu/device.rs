//! Opening a device on an adapter, and keeping watch over it: a lost device and errors nobody
//! captured are recorded by callbacks and turned into errors on the next call.

use std::sync::{Arc, Mutex};

use super::batches::BatchLimits;
use super::options::AdapterSummary;
use crate::backend::lock;
use crate::error::{Error, Result};

/// A wgpu device and queue with what parsum needs to know about them.
pub(super) struct Device {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    /// The device offers 64-bit shader integers (the native-u64 kernel can run).
    pub int64: bool,
    /// Nanoseconds per timestamp tick, when the device has timestamp queries.
    pub timestamp_period: Option<f64>,
    pub limits: BatchLimits,
    pub(super) lost: Arc<Mutex<Option<String>>>,
    uncaptured: Arc<Mutex<Option<String>>>,
}

/// Bytes of one 128-bit partial (four u32 limbs).
pub(super) const PARTIAL: u64 = 16;

impl Device {
    pub(super) fn open(
        adapter: &wgpu::Adapter,
        summary: AdapterSummary,
        max_batch_elements: u64,
    ) -> Result<Self> {
        let offered = adapter.features();
        let wanted = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SHADER_INT64;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("parsum"),
            required_features: offered & wanted,
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
        let cpu_device = adapter.get_info().device_type == wgpu::DeviceType::Cpu;
        let mut limits = BatchLimits::new(
            max_batch_elements,
            device_limits.max_compute_workgroups_per_dimension,
            cpu_device,
        );
        // Shrink batches until every buffer fits the storage binding limit.
        let binding = device_limits.max_storage_buffer_binding_size;
        while limits.max_segments as u64 * PARTIAL > binding && limits.max_segments > 1 {
            limits.max_segments /= 2;
        }
        while 2 * limits.max_groups() * PARTIAL > binding && limits.max_elements > 1 {
            limits.max_elements /= 2;
        }
        Ok(Self {
            timestamp_period: offered
                .contains(wgpu::Features::TIMESTAMP_QUERY)
                .then(|| queue.get_timestamp_period() as f64),
            device,
            queue,
            adapter: summary,
            int64: offered.contains(wgpu::Features::SHADER_INT64),
            limits,
            lost,
            uncaptured,
        })
    }

    /// An error no error scope caught since the last look (validation of a mapped buffer, …).
    pub(super) fn take_uncaptured(&self) -> Option<String> {
        lock(&self.uncaptured).take()
    }

    /// `Err(DeviceLost)` once the device is gone: it never comes back.
    pub(super) fn check_alive(&self) -> Result<()> {
        match lock(&self.lost).as_ref() {
            Some(why) => Err(Error::DeviceLost(format!("{}: {why}", self.adapter.name))),
            None => Ok(()),
        }
    }

    /// A failure seen mid-call: a lost device if the device says so, else a plain GPU error.
    pub(super) fn failure(&self, what: impl std::fmt::Display) -> Error {
        let _ = self.device.poll(wgpu::PollType::Poll);
        match self.check_alive() {
            Err(lost) => lost,
            Ok(()) => Error::Gpu(format!("{}: {what}", self.adapter.name)),
        }
    }
}
