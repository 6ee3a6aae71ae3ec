//! Finding a GPU adapter the way wgpu's own tools do: `WGPU_BACKEND`, `WGPU_ADAPTER_NAME` and
//! `WGPU_POWER_PREF` are honoured, and a name can be asked for explicitly.

use crate::backend::gpu_options::AdapterSummary;
use crate::error::{Error, Result};

impl AdapterSummary {
    pub(crate) fn of(info: &wgpu::AdapterInfo) -> Self {
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            name: info.name.clone(),
            device_type: format!("{:?}", info.device_type),
            api: format!("{:?}", info.backend),
            driver,
        }
    }
}

pub(crate) fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

fn backends() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or_default()
}

/// Every adapter wgpu finds on the backends `WGPU_BACKEND` allows (all by default).
pub fn adapters() -> Vec<AdapterSummary> {
    let instance = instance();
    pollster::block_on(instance.enumerate_adapters(backends()))
        .iter()
        .map(|a| AdapterSummary::of(&a.get_info()))
        .collect()
}

/// The adapter named `name` (a case-insensitive substring), else `WGPU_ADAPTER_NAME`'s, else the
/// one wgpu prefers for `WGPU_POWER_PREF` (high performance by default).
pub(crate) fn choose(
    instance: &wgpu::Instance,
    name: Option<&str>,
    api: Option<&str>,
) -> Result<wgpu::Adapter> {
    let env_name = std::env::var("WGPU_ADAPTER_NAME").ok();
    let wanted = name.map(str::to_string).or(env_name);
    let tried = format!("backends {:?}", backends());
    if wanted.as_deref().is_some_and(|w| !w.is_empty()) || api.is_some() {
        let wanted = wanted.unwrap_or_default();
        let all = pollster::block_on(instance.enumerate_adapters(backends()));
        let names: Vec<String> = all
            .iter()
            .map(|a| AdapterSummary::of(&a.get_info()).describe())
            .collect();
        let needle = wanted.to_lowercase();
        let api_ok = |info: &wgpu::AdapterInfo| {
            api.is_none_or(|api| format!("{:?}", info.backend).eq_ignore_ascii_case(api))
        };
        return all
            .into_iter()
            .find(|a| {
                let info = a.get_info();
                info.name.to_lowercase().contains(&needle) && api_ok(&info)
            })
            .ok_or_else(|| {
                Error::GpuUnavailable(format!(
                    "no adapter named like '{wanted}'{} on {tried}; found: {}",
                    api.map(|a| format!(" on {a}")).unwrap_or_default(),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ))
            });
    }
    let power_preference =
        wgpu::PowerPreference::from_env().unwrap_or(wgpu::PowerPreference::HighPerformance);
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference,
        ..Default::default()
    }))
    .map_err(|e| {
        Error::GpuUnavailable(format!(
            "wgpu found no adapter on {tried} ({e}); on Linux install a Vulkan driver \
             (e.g. Debian's libvulkan1 and mesa-vulkan-drivers) or set WGPU_BACKEND"
        ))
    })
}
