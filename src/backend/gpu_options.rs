//! The GPU backend's settings and adapter descriptions, present with or without the `gpu` feature.

/// The two WGSL kernels: `shaders/sum_run_u32.wgsl` and `shaders/sum_run_u64.wgsl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GpuKernel {
    /// u32 arithmetic with counted carries: runs on every device.
    U32Pairs,
    /// A native u64 counter whose halves are summed into u64s: needs `SHADER_INT64`.
    NativeU64,
}

impl GpuKernel {
    /// `u32-pairs` or `native-u64`.
    pub fn name(self) -> &'static str {
        match self {
            Self::U32Pairs => "u32-pairs",
            Self::NativeU64 => "native-u64",
        }
    }
}

/// How [`crate::Gpu`] picks its adapter and kernel and sizes its submissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuOptions {
    /// Adapter to use: a case-insensitive part of its name. `None` honours `WGPU_ADAPTER_NAME`,
    /// then `WGPU_POWER_PREF` (high performance by default).
    pub adapter: Option<String>,
    /// Graphics API the adapter must use: `Vulkan`, `Metal`, `Dx12` or `Gl` (case-insensitive);
    /// `None` takes any that `WGPU_BACKEND` allows.
    pub api: Option<String>,
    /// Most elements one submission adds (default 2^32: about 2 ms on an H100, so no long sum
    /// trips a driver watchdog). Smaller values force more submissions.
    pub max_batch_elements: u64,
    /// Kernel to use. `None` times both on the device when it offers 64-bit integers (a few
    /// milliseconds at set-up, each result checked) and keeps the faster; else `U32Pairs`.
    pub kernel: Option<GpuKernel>,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            adapter: None,
            api: None,
            max_batch_elements: 1 << 32,
            kernel: None,
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
