//! How [`crate::Auto`] is built, and the environment variables every path reads the same way.

use std::time::Duration;

use crate::backend::BackendKind;
use crate::env::var;
use crate::error::{Error, Result};
use crate::store::CacheSetting;

/// How [`crate::Auto`] is built.
///
/// ```
/// use std::time::Duration;
/// use parsum::{AutoOptions, CacheSetting};
/// let options = AutoOptions::default()
///     .cache(CacheSetting::Off)
///     .gpu(false)
///     .calibration_budget(Duration::from_millis(50));
/// assert!(!options.gpu);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AutoOptions {
    /// Where observations (and the GPU kernel choice) are kept.
    pub cache: CacheSetting,
    /// Always use this kind of backend (what `PARSUM_BACKEND` sets); `None` chooses by request.
    pub force: Option<BackendKind>,
    /// Time the first-use calibration aims to stay within (device creation excluded). Checked
    /// before every measured run; the warm-ups and the three smallest sizes are run whatever it
    /// says.
    pub calibration_budget: Duration,
    /// Look for GPU adapters.
    pub gpu: bool,
}

impl Default for AutoOptions {
    fn default() -> Self {
        Self {
            cache: CacheSetting::Default,
            force: None,
            calibration_budget: Duration::from_millis(200),
            gpu: true,
        }
    }
}

impl AutoOptions {
    /// The defaults, with `force` taken from `PARSUM_BACKEND`; every environment variable parsum
    /// reads is checked (see [`check_environment`]).
    pub fn from_env() -> Result<Self> {
        check_environment()?;
        Ok(Self {
            force: backend_override()?,
            ..Self::default()
        })
    }

    /// Sets [`AutoOptions::cache`].
    pub fn cache(mut self, cache: CacheSetting) -> Self {
        self.cache = cache;
        self
    }

    /// Sets [`AutoOptions::force`].
    pub fn force(mut self, kind: Option<BackendKind>) -> Self {
        self.force = kind;
        self
    }

    /// Sets [`AutoOptions::calibration_budget`].
    pub fn calibration_budget(mut self, budget: Duration) -> Self {
        self.calibration_budget = budget;
        self
    }

    /// Sets [`AutoOptions::gpu`].
    pub fn gpu(mut self, on: bool) -> Self {
        self.gpu = on;
        self
    }
}

/// Reads a `PARSUM_BACKEND` value: `scalar`, `simd`, `gpu`, or `auto`/empty for no override.
pub fn parse_override(value: &str) -> Result<Option<BackendKind>> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(None),
        "scalar" => Ok(Some(BackendKind::Scalar)),
        "simd" => Ok(Some(BackendKind::Simd)),
        "gpu" => Ok(Some(BackendKind::Gpu)),
        _ => Err(Error::Config(format!(
            "PARSUM_BACKEND={}: expected scalar, simd, gpu or auto",
            value.trim()
        ))),
    }
}

/// `PARSUM_BACKEND`, read: unset, empty or `auto` is no override.
pub fn backend_override() -> Result<Option<BackendKind>> {
    var("PARSUM_BACKEND")?.map_or(Ok(None), |v| parse_override(&v))
}

/// Checks the environment variables parsum reads — `PARSUM_BACKEND`, `RAYON_NUM_THREADS` (1 to
/// [`crate::backend::simd::MAX_THREADS`], or 0 for every core, as rayon reads it) and wgpu's
/// `WGPU_BACKEND`, `WGPU_ADAPTER_NAME`, `WGPU_POWER_PREF` — and names the first bad one.
///
/// ```
/// // Whatever this machine's environment holds, the answer is a value, never a panic.
/// let _ = parsum::select::check_environment();
/// ```
pub fn check_environment() -> Result<()> {
    backend_override()?;
    if let Some(v) = var("RAYON_NUM_THREADS")? {
        let max = crate::backend::simd::MAX_THREADS;
        match v.trim().parse::<usize>() {
            Ok(n) if n <= max => {}
            _ => {
                return Err(Error::Config(format!(
                    "RAYON_NUM_THREADS={v}: expected a thread count from 1 to {max} (0: every core)"
                )));
            }
        }
    }
    #[cfg(feature = "gpu")]
    crate::backend::gpu::adapter::check_environment()?;
    Ok(())
}
