//! The GPU backend's settings and adapter descriptions, present with or without the `gpu` feature.

/// The two WGSL kernels: `shaders/sum_run_u32.wgsl` and `shaders/sum_run_u64.wgsl`. Unless one is
/// asked for, the device's features decide: native-u64 where `SHADER_INT64` is offered (it ran
/// as fast or faster wherever both were measured), u32-pairs elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

/// Which adapter [`crate::Gpu`] uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AdapterChoice {
    /// `WGPU_ADAPTER_NAME` if set (as [`AdapterChoice::Name`]), else the adapter wgpu prefers for
    /// `WGPU_POWER_PREF` (`high` performance unless it says `low` or `none`). OpenGL adapters
    /// only where no Vulkan, Metal or DX12 one exists.
    #[default]
    Default,
    /// The adapter at this position of [`Gpu::adapters`](crate::Gpu::adapters) (what `--list`
    /// shows).
    Index(usize),
    /// The adapter with this name (case-insensitive); else the only one whose name contains it.
    /// Several partial matches are an error that lists them, never a silent pick.
    Name(String),
}

/// How [`crate::Gpu`] picks its adapter and kernel and sizes its submissions.
///
/// ```
/// use parsum::{AdapterChoice, GpuKernel, GpuOptions};
/// let options = GpuOptions::default()
///     .adapter(AdapterChoice::Index(0))
///     .kernel(GpuKernel::U32Pairs)
///     .max_batch_elements(1 << 28);
/// assert_eq!(options.max_batch_elements, 1 << 28);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GpuOptions {
    /// The adapter to use.
    pub adapter: AdapterChoice,
    /// Most elements one submission adds, 1 to 2^32 (default 2^32: about a millisecond on a large
    /// GPU, so no long sum trips a driver watchdog). Each submission has a fixed cost, so a limit
    /// far below the default makes long sums much slower.
    pub max_batch_elements: u64,
    /// Kernel to use; `None`: the one the device's features call for (see [`GpuKernel`]).
    pub kernel: Option<GpuKernel>,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            adapter: AdapterChoice::Default,
            max_batch_elements: 1 << 32,
            kernel: None,
        }
    }
}

impl GpuOptions {
    /// Sets [`GpuOptions::adapter`].
    pub fn adapter(mut self, adapter: AdapterChoice) -> Self {
        self.adapter = adapter;
        self
    }

    /// Sets [`GpuOptions::kernel`].
    pub fn kernel(mut self, kernel: GpuKernel) -> Self {
        self.kernel = Some(kernel);
        self
    }

    /// Sets [`GpuOptions::max_batch_elements`].
    pub fn max_batch_elements(mut self, elements: u64) -> Self {
        self.max_batch_elements = elements;
        self
    }
}

/// One adapter wgpu can see, as `--list` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AdapterSummary {
    /// Position in [`Gpu::adapters`](crate::Gpu::adapters): what [`AdapterChoice::Index`] and
    /// `--adapter` take.
    pub index: usize,
    /// The adapter's name, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Discrete, integrated, virtual, CPU or other.
    pub device_type: String,
    /// The graphics API: Vulkan, Metal, Dx12 or Gl.
    pub api: String,
    /// Driver name and version, where the driver says.
    pub driver: String,
    /// PCI vendor and device ids, and bus id where known: tells identical cards apart.
    pub pci: String,
}

impl AdapterSummary {
    /// `name (api, device type)`.
    pub fn describe(&self) -> String {
        format!("{} ({}, {})", self.name, self.api, self.device_type)
    }

    /// What identifies this adapter across processes: everything but the index, which may
    /// change when other adapters come and go.
    pub fn identity(&self) -> String {
        format!(
            "{} | {} | {} | {} | {}",
            self.name, self.api, self.device_type, self.driver, self.pci
        )
    }
}
