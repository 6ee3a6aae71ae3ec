//! How [`crate::Auto`] is built, and the environment variables every path reads the same way.

use std::path::PathBuf;

use crate::backend::BackendKind;
use crate::env::var;
use crate::error::{Error, Result};

/// How [`crate::Auto`] is built.
///
/// ```
/// use parsum::{AutoOptions, BackendKind};
/// let options = AutoOptions::default().cache(None).gpu(false).force(Some(BackendKind::Simd));
/// assert!(!options.gpu && options.cache.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AutoOptions {
    /// Where the history is kept: by default `PARSUM_CACHE_DIR`, else the user's cache directory
    /// (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%`
    /// on Windows) joined with `parsum`; `None`: nothing is read or written.
    pub cache: Option<PathBuf>,
    /// Always use this kind of backend (what `PARSUM_BACKEND` sets); `None` chooses by request.
    /// Backends of other kinds are then never made: a forced CPU never touches wgpu.
    pub force: Option<BackendKind>,
    /// Consider the GPU (opened only once a request goes to it).
    pub gpu: bool,
}

impl Default for AutoOptions {
    fn default() -> Self {
        Self {
            cache: crate::files::default_dir(),
            force: None,
            gpu: true,
        }
    }
}

impl AutoOptions {
    /// The defaults, with `force` from `PARSUM_BACKEND` (`scalar`, `simd`, `gpu`; `auto` or empty
    /// for none). Every environment variable parsum reads is checked first, and the first bad one
    /// is an [`Error::Config`] naming it: `PARSUM_BACKEND`, `RAYON_NUM_THREADS` (0 to 1024;
    /// empty or blank, like every variable here, is unset), `WGPU_BACKEND`, `WGPU_ADAPTER_NAME`, `WGPU_POWER_PREF`.
    pub fn from_env() -> Result<Self> {
        let max = crate::backend::cpu::Simd::MAX_THREADS;
        if let Some(v) = var("RAYON_NUM_THREADS")?.filter(|v| {
            let v = v.trim();
            !v.is_empty() && !v.parse::<usize>().is_ok_and(|n| n <= max)
        }) {
            return Err(Error::Config(format!(
                "RAYON_NUM_THREADS={v}: expected a thread count from 1 to {max} (0: every core)"
            )));
        }
        crate::backend::gpu::check_environment()?;
        let force = match var("PARSUM_BACKEND")? {
            None => None,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "auto" => None,
                "scalar" => Some(BackendKind::Scalar),
                "simd" => Some(BackendKind::Simd),
                "gpu" => Some(BackendKind::Gpu),
                _ => {
                    return Err(Error::Config(format!(
                        "PARSUM_BACKEND={v}: expected scalar, simd, gpu or auto"
                    )));
                }
            },
        };
        Ok(Self {
            force,
            ..Self::default()
        })
    }

    /// Sets [`AutoOptions::cache`].
    pub fn cache(mut self, dir: Option<PathBuf>) -> Self {
        self.cache = dir;
        self
    }

    /// Sets [`AutoOptions::force`].
    pub fn force(mut self, kind: Option<BackendKind>) -> Self {
        self.force = kind;
        self
    }

    /// Sets [`AutoOptions::gpu`].
    pub fn gpu(mut self, on: bool) -> Self {
        self.gpu = on;
        self
    }
}
