//! Finding GPU adapters: the wgpu environment variables read the same way for every path
//! (`Gpu::new`, `--backend gpu`, Auto), a bad value named in an error, and adapters told apart by
//! their position in the list, never by a name that two cards may share.

use crate::backend::gpu_options::{AdapterChoice, AdapterSummary};
use crate::env::var;
use crate::error::{Error, Result};

/// The graphics APIs `WGPU_BACKEND` may name, as wgpu spells them.
const BACKEND_NAMES: &[(&str, wgpu::Backends)] = &[
    ("vulkan", wgpu::Backends::VULKAN),
    ("vk", wgpu::Backends::VULKAN),
    ("metal", wgpu::Backends::METAL),
    ("mtl", wgpu::Backends::METAL),
    ("dx12", wgpu::Backends::DX12),
    ("d3d12", wgpu::Backends::DX12),
    ("gl", wgpu::Backends::GL),
    ("gles", wgpu::Backends::GL),
    ("opengl", wgpu::Backends::GL),
];

/// The APIs `WGPU_BACKEND` allows (a comma list of vulkan, metal, dx12, gl); every API when it
/// is unset or empty.
pub(crate) fn backends() -> Result<wgpu::Backends> {
    let Some(list) = var("WGPU_BACKEND")?.filter(|v| !v.trim().is_empty()) else {
        return Ok(wgpu::Backends::all());
    };
    let mut out = wgpu::Backends::empty();
    for item in list.split(',') {
        let item = item.trim().to_ascii_lowercase();
        match BACKEND_NAMES.iter().find(|(n, _)| *n == item) {
            Some((_, b)) => out |= *b,
            None => {
                return Err(Error::Config(format!(
                    "WGPU_BACKEND={list}: '{item}' is not a graphics API \
                     (expected a comma list of vulkan, metal, dx12, gl)"
                )));
            }
        }
    }
    Ok(out)
}

/// `WGPU_ADAPTER_NAME`, when set and not empty.
pub(crate) fn adapter_name_from_env() -> Result<Option<String>> {
    Ok(var("WGPU_ADAPTER_NAME")?.filter(|v| !v.trim().is_empty()))
}

fn power_preference() -> Result<wgpu::PowerPreference> {
    match var("WGPU_POWER_PREF")?.as_deref().map(str::trim) {
        None | Some("") => Ok(wgpu::PowerPreference::HighPerformance),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "high" => Ok(wgpu::PowerPreference::HighPerformance),
            "low" => Ok(wgpu::PowerPreference::LowPower),
            "none" => Ok(wgpu::PowerPreference::None),
            _ => Err(Error::Config(format!(
                "WGPU_POWER_PREF={v}: expected high, low or none"
            ))),
        },
    }
}

/// Checks every wgpu environment variable parsum reads, so a bad one is reported before any work.
pub(crate) fn check_environment() -> Result<()> {
    backends()?;
    adapter_name_from_env()?;
    power_preference()?;
    Ok(())
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

impl AdapterSummary {
    pub(crate) fn of(index: usize, info: &wgpu::AdapterInfo) -> Self {
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let mut pci = format!("{:04x}:{:04x}", info.vendor, info.device);
        if !info.device_pci_bus_id.is_empty() {
            pci += &format!(" at {}", info.device_pci_bus_id);
        }
        Self {
            index,
            name: info.name.clone(),
            device_type: format!("{:?}", info.device_type),
            api: info.backend.to_str().to_string(),
            driver,
            pci,
        }
    }

    /// True for an adapter through OpenGL, which parsum uses only when nothing else is there.
    pub(crate) fn is_gl(&self) -> bool {
        self.api == wgpu::Backend::Gl.to_str()
    }
}

/// Every adapter wgpu finds on the APIs `WGPU_BACKEND` allows, in a stable order, with its index.
pub(crate) fn all() -> Result<Vec<(AdapterSummary, wgpu::Adapter)>> {
    let backends = backends()?;
    let found = pollster::block_on(instance(backends).enumerate_adapters(backends));
    Ok(found
        .into_iter()
        .enumerate()
        .map(|(i, a)| (AdapterSummary::of(i, &a.get_info()), a))
        .collect())
}

/// Every adapter wgpu finds, as [`crate::adapters`] lists them.
pub fn adapters() -> Result<Vec<AdapterSummary>> {
    Ok(all()?.into_iter().map(|(s, _)| s).collect())
}

fn listing(all: &[(AdapterSummary, wgpu::Adapter)]) -> String {
    if all.is_empty() {
        return "none".into();
    }
    all.iter()
        .map(|(s, _)| format!("[{}] {}", s.index, s.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The adapters whose name is `wanted` (case-insensitive), else those whose name contains it;
/// of those, the ones through GL only when there is no other (the same device is often listed
/// twice, through Vulkan and through GL, under one name).
pub(crate) fn matching<'a>(
    all: &'a [(AdapterSummary, wgpu::Adapter)],
    wanted: &str,
) -> Vec<&'a (AdapterSummary, wgpu::Adapter)> {
    let needle = wanted.trim().to_lowercase();
    let exact: Vec<_> = all
        .iter()
        .filter(|(s, _)| s.name.to_lowercase() == needle)
        .collect();
    let mut found = if exact.is_empty() {
        all.iter()
            .filter(|(s, _)| s.name.to_lowercase().contains(&needle))
            .collect()
    } else {
        exact
    };
    if found.iter().any(|(s, _)| !s.is_gl()) {
        found.retain(|(s, _)| !s.is_gl());
    }
    found
}

/// The adapter `choice` names, with its summary.
pub(crate) fn choose(choice: &AdapterChoice) -> Result<(AdapterSummary, wgpu::Adapter)> {
    let backends = backends()?;
    let tried = format!("{backends:?}");
    let by_name = |wanted: &str, from: &str| -> Result<(AdapterSummary, wgpu::Adapter)> {
        let all = all()?;
        let found = matching(&all, wanted);
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::GpuUnavailable(format!(
                "{from}: no adapter named like '{wanted}' on {tried}; found: {}",
                listing(&all)
            ))),
            several => Err(Error::GpuUnavailable(format!(
                "{from}: '{wanted}' matches {} adapters ({}); name one by its index instead",
                several.len(),
                several
                    .iter()
                    .map(|(s, _)| format!("[{}] {}", s.index, s.describe()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    };
    match choice {
        AdapterChoice::Index(i) => {
            let mut all = all()?;
            if *i < all.len() {
                Ok(all.swap_remove(*i))
            } else {
                Err(Error::GpuUnavailable(format!(
                    "no adapter at index {i} on {tried}; found: {}",
                    listing(&all)
                )))
            }
        }
        AdapterChoice::Name(name) => by_name(name, "adapter"),
        AdapterChoice::Default => {
            if let Some(name) = adapter_name_from_env()? {
                return by_name(&name, "WGPU_ADAPTER_NAME");
            }
            let instance = instance(backends);
            let adapter =
                pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: power_preference()?,
                    ..Default::default()
                }))
                .map_err(|e| {
                    Error::GpuUnavailable(format!(
                        "wgpu found no adapter on {tried} ({e}); on Linux install a Vulkan driver \
                     (e.g. Debian's libvulkan1 and mesa-vulkan-drivers)"
                    ))
                })?;
            // Its index in the list, so that it is named the same way as every other.
            let info = adapter.get_info();
            let index = all()?
                .iter()
                .position(|(_, a)| a.get_info() == info)
                .unwrap_or(0);
            Ok((AdapterSummary::of(index, &info), adapter))
        }
    }
}
