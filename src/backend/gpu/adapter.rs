//! Finding GPU adapters: the wgpu environment variables read the same way for every path
//! (`Gpu::new`, `--backend gpu`, any caller), a bad value named in an error, adapters told apart by
//! their position in the list, never by a name that two cards may share — and OpenGL touched only
//! where no Vulkan, Metal or DX12 adapter exists (Mesa's GL driver crashed under a memory limit
//! that Vulkan met with a clean error).

use std::sync::atomic::{AtomicU32, Ordering};

use super::options::{AdapterChoice, AdapterSummary};
use crate::env::var;
use crate::error::{Error, Result};

/// An adapter, with its summary.
type Found = (AdapterSummary, wgpu::Adapter);

/// The graphics APIs by the names `WGPU_BACKEND` takes (wgpu's own), the one parsum prints first.
const APIS: [(wgpu::Backends, &[&str]); 4] = [
    (wgpu::Backends::VULKAN, &["vulkan", "vk"]),
    (wgpu::Backends::METAL, &["metal", "mtl"]),
    (wgpu::Backends::DX12, &["dx12", "d3d12"]),
    (wgpu::Backends::GL, &["gl", "gles", "opengl"]),
];

/// The APIs `WGPU_BACKEND` allows; every API when it is unset or names none (blank, or only
/// commas: empty items are skipped).
pub(crate) fn backends() -> Result<wgpu::Backends> {
    let list = var("WGPU_BACKEND")?.unwrap_or_default();
    let mut out = wgpu::Backends::empty();
    for item in list.split(',').filter(|i| !i.trim().is_empty()) {
        let item = item.trim().to_ascii_lowercase();
        let Some(api) = api(&item) else {
            let offered = wgpu::Instance::enabled_backend_features() - wgpu::Backends::NOOP;
            return Err(Error::Config(format!(
                "WGPU_BACKEND={list}: '{item}' is not a graphics API (expected a comma \
                 list of vulkan, metal, dx12, gl; this build offers {})",
                api_names(offered)
            )));
        };
        out |= api;
    }
    Ok(if out.is_empty() {
        wgpu::Backends::all()
    } else {
        out
    })
}

/// The API wgpu names `name` (lower case), by its name or an alias.
fn api(name: &str) -> Option<wgpu::Backends> {
    APIS.iter()
        .find(|(_, n)| n.contains(&name))
        .map(|(b, _)| *b)
}

/// The graphics APIs in `set` as `WGPU_BACKEND` names them: "vulkan, dx12 or gl".
fn api_names(set: wgpu::Backends) -> String {
    let names: Vec<&str> = APIS
        .iter()
        .filter_map(|(b, n)| set.contains(*b).then_some(n[0]))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "no graphics API".into(),
    }
}

/// `WGPU_ADAPTER_NAME`, when set and not empty.
pub(crate) fn adapter_name_from_env() -> Result<Option<String>> {
    Ok(var("WGPU_ADAPTER_NAME")?.filter(|v| !v.trim().is_empty()))
}

pub(super) fn power_preference() -> Result<wgpu::PowerPreference> {
    // Quoted as set, as every variable's error quotes it.
    let v = var("WGPU_POWER_PREF")?.unwrap_or_default();
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "high" => Ok(wgpu::PowerPreference::HighPerformance),
        "low" => Ok(wgpu::PowerPreference::LowPower),
        "none" => Ok(wgpu::PowerPreference::None),
        _ => Err(Error::Config(format!(
            "WGPU_POWER_PREF={v}: expected high, low or none"
        ))),
    }
}

/// The process that first made a wgpu instance: a process forked from it must not use wgpu (a
/// driver's state does not survive `fork`), so it is refused there with a reason, never hung.
static INSTANCE_PID: AtomicU32 = AtomicU32::new(0);

/// `Err` in a process forked after wgpu was used.
pub(crate) fn check_not_forked() -> Result<()> {
    let first = INSTANCE_PID.load(Ordering::Relaxed);
    if first != 0 && first != std::process::id() {
        return Err(Error::GpuUnavailable(format!(
            "wgpu was used in process {first} before this one was forked from it; \
             a forked child cannot use the GPU (start it with 'spawn' or 'forkserver')"
        )));
    }
    Ok(())
}

impl AdapterSummary {
    fn of(index: usize, info: &wgpu::AdapterInfo) -> Self {
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let bus = &info.device_pci_bus_id;
        let at = if bus.is_empty() { "" } else { " at " };
        Self {
            index,
            name: info.name.clone(),
            device_type: format!("{:?}", info.device_type),
            api: info.backend.to_str().to_string(),
            driver,
            pci: format!("{:04x}:{:04x}{at}{bus}", info.vendor, info.device),
        }
    }
}

/// Every adapter on the APIs `WGPU_BACKEND` allows (OpenGL only where there is no other), indexed.
pub(crate) fn all() -> Result<Vec<Found>> {
    let allowed = backends()?;
    let on = |apis: wgpu::Backends| -> Result<Vec<wgpu::Adapter>> {
        if apis.is_empty() {
            return Ok(Vec::new());
        }
        check_not_forked()?;
        let pid = std::process::id();
        let _ = INSTANCE_PID.compare_exchange(0, pid, Ordering::Relaxed, Ordering::Relaxed);
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = apis;
        let instance = wgpu::Instance::new(desc);
        Ok(pollster::block_on(instance.enumerate_adapters(apis)))
    };
    let mut found = on(allowed - wgpu::Backends::GL)?;
    if found.is_empty() {
        found = on(allowed & wgpu::Backends::GL)?;
    }
    Ok(found
        .into_iter()
        .enumerate()
        .map(|(i, a)| (AdapterSummary::of(i, &a.get_info()), a))
        .collect())
}

/// `[index] description` of each adapter, or `none`.
fn listing<'a>(found: impl IntoIterator<Item = &'a Found>) -> String {
    let items: Vec<_> = found
        .into_iter()
        .map(|(s, _)| format!("[{}] {}", s.index, s.describe()))
        .collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// The adapters whose name is `wanted` (case-insensitive), else those whose name contains it.
fn matching<'a>(all: &'a [Found], wanted: &str) -> Vec<&'a Found> {
    let needle = wanted.trim().to_lowercase();
    let name = |(s, _): &&Found| s.name.to_lowercase();
    let exact: Vec<_> = all.iter().filter(|f| name(f) == needle).collect();
    if !exact.is_empty() {
        return exact;
    }
    all.iter().filter(|f| name(f).contains(&needle)).collect()
}

/// The adapter `choice` names, with its summary.
pub(crate) fn choose(choice: &AdapterChoice) -> Result<Found> {
    if matches!(choice, AdapterChoice::Name(n) if n.trim().is_empty()) {
        return Err(Error::Config(
            "an empty adapter name matches every adapter: give a name or an index".into(),
        ));
    }
    // The APIs asked for that this platform's wgpu offers: no "metal" on Linux.
    let (asked, built) = (backends()?, wgpu::Instance::enabled_backend_features());
    let offered = api_names(built - wgpu::Backends::NOOP);
    let lacking = asked - built - wgpu::Backends::NOOP;
    let usable = api_names(asked & built);
    let tried = if !asked.intersects(built) {
        format!("{} (this build offers only {offered})", api_names(asked))
    } else if asked != wgpu::Backends::all() && !lacking.is_empty() {
        format!("{usable} ({}: not in this build)", api_names(lacking))
    } else {
        usable
    };
    let all = all()?;
    let missing = |what: String| {
        let hint = if all.is_empty() && (asked & built).contains(wgpu::Backends::VULKAN) {
            "; on Linux install a Vulkan driver (e.g. Debian's libvulkan1 and mesa-vulkan-drivers)"
        } else {
            ""
        };
        Error::GpuUnavailable(format!("{what} on {tried}; found: {}{hint}", listing(&all)))
    };
    let (wanted, from) = match choice {
        AdapterChoice::Index(i) if *i < all.len() => return Ok(all[*i].clone()),
        AdapterChoice::Index(i) => return Err(missing(format!("no adapter at index {i}"))),
        AdapterChoice::Name(name) => (name.clone(), "adapter"),
        AdapterChoice::Default => match adapter_name_from_env()? {
            Some(name) => (name, "WGPU_ADAPTER_NAME"),
            None => {
                let pref = power_preference()?;
                let best = (0..all.len()).min_by_key(|&i| preference(pref, &all[i].0.device_type));
                return match best {
                    Some(i) => Ok(all[i].clone()),
                    None => Err(missing("wgpu found no adapter".into())),
                };
            }
        },
    };
    match matching(&all, &wanted).as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(missing(format!("{from}: no adapter named like '{wanted}'"))),
        several => Err(Error::GpuUnavailable(format!(
            "{from}: '{wanted}' matches {} adapters ({}); {}",
            several.len(),
            listing(several.iter().copied()),
            if from == "adapter" {
                "name one by its index instead"
            } else {
                "choose one by its index instead (WGPU_ADAPTER_NAME takes names only)"
            }
        ))),
    }
}

/// `device_type`'s rank under `power` (lower first), as wgpu's own `request_adapter` ranks them:
/// `Other` (what OpenGL says of a desktop GPU) after both kinds of GPU but before a virtual one
/// or the CPU (llvmpipe).
fn preference(power: wgpu::PowerPreference, device_type: &str) -> usize {
    use wgpu::{DeviceType as D, PowerPreference as P};
    let order = match power {
        P::LowPower => [
            D::IntegratedGpu,
            D::DiscreteGpu,
            D::Other,
            D::VirtualGpu,
            D::Cpu,
        ],
        P::HighPerformance => [
            D::DiscreteGpu,
            D::IntegratedGpu,
            D::Other,
            D::VirtualGpu,
            D::Cpu,
        ],
        _ => return 0,
    };
    let found = order.iter().position(|d| format!("{d:?}") == device_type);
    found.unwrap_or(order.len())
}

#[cfg(test)]
mod tests {
    use super::{api, api_names, preference};
    use wgpu::{Backends, PowerPreference as P};

    #[test]
    fn wgpu_backend_takes_wgpu_s_names_and_aliases() {
        let vulkan = Some(Backends::VULKAN);
        assert_eq!((api("vulkan"), api("vk")), (vulkan, vulkan));
        let metal = Some(Backends::METAL);
        assert_eq!((api("metal"), api("mtl")), (metal, metal));
        let dx12 = Some(Backends::DX12);
        assert_eq!((api("dx12"), api("d3d12")), (dx12, dx12));
        for gl in ["gl", "gles", "opengl"] {
            assert_eq!(api(gl), Some(Backends::GL));
        }
        assert_eq!(api("webgpu"), None);
    }

    #[test]
    fn the_apis_tried_are_named_as_wgpu_backend_takes_them() {
        assert_eq!(api_names(Backends::all()), "vulkan, metal, dx12 or gl");
        assert_eq!(api_names(Backends::METAL), "metal");
        assert_eq!(api_names(Backends::VULKAN | Backends::GL), "vulkan or gl");
        assert_eq!(api_names(Backends::empty()), "no graphics API");
    }

    #[test]
    fn adapters_rank_as_wgpu_ranks_them_for_each_power_preference() {
        // wgpu-core's `get_order`: the preferred kind of GPU, the other, Other, virtual, CPU.
        assert_eq!(preference(P::HighPerformance, "DiscreteGpu"), 0);
        assert_eq!(preference(P::HighPerformance, "IntegratedGpu"), 1);
        assert_eq!(preference(P::LowPower, "IntegratedGpu"), 0);
        assert_eq!(preference(P::LowPower, "DiscreteGpu"), 1);
        // A desktop GPU on OpenGL (type Other) goes before llvmpipe (type Cpu).
        for power in [P::HighPerformance, P::LowPower] {
            assert_eq!(preference(power, "Other"), 2);
            assert_eq!(preference(power, "VirtualGpu"), 3);
            assert_eq!(preference(power, "Cpu"), 4);
        }
        // No preference: every adapter alike, so the first found wins.
        assert_eq!(
            preference(P::None, "Cpu"),
            preference(P::None, "DiscreteGpu")
        );
    }
}
