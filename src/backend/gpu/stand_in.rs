//! The GPU backend when parsum is built without the `gpu` feature: the same API, and every attempt
//! to make one says why there is none.

use std::time::Duration;

use super::options::{AdapterSummary, GpuKernel, GpuOptions};
use crate::backend::{Backend, BackendInfo};
use crate::error::{Error, Result};
use crate::verify::ChunkSink;

/// The GPU backend; without the `gpu` feature no value of it can exist.
#[derive(Debug)]
pub enum Gpu {}

impl Gpu {
    /// Always [`Error::NotCompiled`].
    pub fn new() -> Result<Self> {
        Self::with_options(GpuOptions::default())
    }

    /// Always [`Error::NotCompiled`].
    pub fn with_options(_options: GpuOptions) -> Result<Self> {
        Err(Error::NotCompiled {
            backend: "gpu",
            feature: "gpu",
        })
    }

    /// No adapters without the `gpu` feature.
    pub fn adapters() -> Result<Vec<AdapterSummary>> {
        Ok(Vec::new())
    }

    /// Always [`Error::NotCompiled`].
    pub fn default_adapter() -> Result<AdapterSummary> {
        Self::new().map(|gpu| match gpu {})
    }

    /// The kernel in use.
    pub fn kernel(&self) -> GpuKernel {
        match *self {}
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterSummary {
        match *self {}
    }

    /// Kernel time of the last call.
    pub fn last_kernel_time(&self) -> Option<Duration> {
        match *self {}
    }

    /// Whether the device has timestamp queries.
    pub fn has_timestamps(&self) -> bool {
        match *self {}
    }

    /// Whether the device offers 64-bit shader integers.
    pub fn has_int64(&self) -> bool {
        match *self {}
    }
}

impl Backend for Gpu {
    fn info(&self) -> &BackendInfo {
        match *self {}
    }

    fn sum_chunks(&self, _sink: &ChunkSink<'_>) -> Result<()> {
        match *self {}
    }
}
