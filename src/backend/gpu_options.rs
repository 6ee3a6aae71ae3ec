//! The GPU backend's settings and adapter descriptions, present with or without the `gpu` feature.

/// How [`crate::Gpu`] picks its adapter and sizes its submissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuOptions {
    /// Adapter to use: a case-insensitive part of its name. `None` honours `WGPU_ADAPTER_NAME`,
    /// then `WGPU_POWER_PREF` (high performance by default).
    pub adapter: Option<String>,
    /// Most elements one submission adds (default 2^32: about 2 ms on an H100, so no long sum
    /// trips a driver watchdog). Smaller values force more submissions.
    pub max_batch_elements: u64,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            adapter: None,
            max_batch_elements: 1 << 32,
        }
    }
}

/// One adapter wgpu can see, as `--list` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Discrete, integrated, virtual, CPU or other.
    pub device_type: String,
    /// The graphics API: Vulkan, Metal, Dx12 or Gl.
    pub api: String,
    /// Driver name and version, where the driver says.
    pub driver: String,
}

impl AdapterSummary {
    /// `name (api, device type)`.
    pub fn describe(&self) -> String {
        format!("{} ({}, {})", self.name, self.api, self.device_type)
    }
}
