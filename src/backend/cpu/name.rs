//! The CPU's model name, which the CPU backends report as their device.

/// The CPU's model name, for [`crate::BackendInfo::device`]. Read when a backend is made, never
/// kept in a process-wide cell: a child forked mid-initialisation must not wait on one forever.
pub(crate) fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH))
}
