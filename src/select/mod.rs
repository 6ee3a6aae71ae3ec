//! [`Auto`]: runs each sum on whichever backend is fastest for its size on this machine.
//!
//! ```
//! use parsum::{Auto, AutoOptions, CacheSetting, SumRequest};
//! let auto = Auto::with_options(AutoOptions { cache: CacheSetting::Off, gpu: false, ..Default::default() })?;
//! let report = SumRequest::new(0..1_000_000)?.run(&auto)?;
//! assert_eq!(report.sum, 499_999_500_000);
//! // Which backend ran, and why.
//! let selection = report.selection.expect("auto reports its choice");
//! assert_eq!(Some(report.backend.kind), auto.pick(1_000_000).map(|b| b.kind));
//! println!("{}", auto.explain(1_000_000));
//! # let _ = selection;
//! # Ok::<(), parsum::Error>(())
//! ```
//!
//! On first use `Auto` finds the usable backends (scalar, simd, and one [`crate::Gpu`] per usable
//! adapter), measures each at growing sizes (at most [`AutoOptions::calibration_budget`] in all,
//! device creation excluded) and keeps a [`CostModel`] per backend. Each request then goes to the
//! backend with the lowest predicted time for its size. Calibrations are cached on disk per machine
//! and backend set (see [`cache::default_dir`]). If the chosen GPU fails, the sum is redone on the
//! best CPU backend and that GPU is not chosen again in this process.

pub mod cache;
pub mod model;

use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use model::CostModel;

use crate::backend::gpu_options::GpuOptions;
use crate::backend::{Backend, BackendInfo, BackendKind};
use crate::error::{Error, Result};
use crate::verify::ChunkSink;
use crate::{Gpu, Scalar, Simd};

/// Where calibrations are kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CacheSetting {
    /// [`cache::default_dir`] (`PARSUM_CACHE_DIR` or the user's cache directory).
    #[default]
    Default,
    /// This directory.
    Dir(PathBuf),
    /// Always calibrate, never read or write a file.
    Off,
}

/// How [`Auto`] is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoOptions {
    /// Where calibrations are kept.
    pub cache: CacheSetting,
    /// Always use this kind of backend (what `PARSUM_BACKEND` sets); `None` chooses by size.
    pub force: Option<BackendKind>,
    /// Most time calibration may take, device creation excluded.
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
    /// The defaults, with `force` taken from `PARSUM_BACKEND` (`scalar`, `simd`, `gpu` or `auto`).
    pub fn from_env() -> Result<Self> {
        let force = match std::env::var("PARSUM_BACKEND") {
            Ok(v) => parse_override(&v)?,
            Err(_) => None,
        };
        Ok(Self {
            force,
            ..Self::default()
        })
    }
}

/// Reads a `PARSUM_BACKEND` value: `scalar`, `simd`, `gpu`, or `auto`/empty for no override.
pub fn parse_override(value: &str) -> Result<Option<BackendKind>> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(None),
        "scalar" => Ok(Some(BackendKind::Scalar)),
        "simd" => Ok(Some(BackendKind::Simd)),
        "gpu" => Ok(Some(BackendKind::Gpu)),
        other => Err(Error::Config(format!(
            "PARSUM_BACKEND={other}: expected scalar, simd, gpu or auto"
        ))),
    }
}

/// How the backend of one sum was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChosenBy {
    /// Lowest predicted time for the size.
    Auto,
    /// `PARSUM_BACKEND` / [`AutoOptions::force`].
    Override,
}

impl ChosenBy {
    /// `auto` or `PARSUM_BACKEND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Override => "PARSUM_BACKEND",
        }
    }
}

/// What [`Auto`] did for one sum; found in [`crate::SumReport::selection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// How the backend that ran was chosen.
    pub chosen_by: ChosenBy,
    /// Its predicted time.
    pub predicted: Option<Duration>,
    /// When the first choice failed: what failed, and that the sum was redone.
    pub fallback: Option<String>,
}

struct Candidate {
    backend: Box<dyn Backend>,
    info: BackendInfo,
    model: Option<CostModel>,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl Candidate {
    fn usable(&self) -> bool {
        self.model.is_some() && !self.failed.load(Ordering::Relaxed)
    }

    fn fail(&self, why: String) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
        self.failed.store(true, Ordering::Relaxed);
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The self-choosing backend. See the [module docs](self).
pub struct Auto {
    candidates: Vec<Candidate>,
    force: Option<BackendKind>,
    calibration: String,
    skipped: Vec<String>,
}

impl fmt::Debug for Auto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let infos: Vec<&BackendInfo> = self.candidates.iter().map(|c| &c.info).collect();
        f.debug_struct("Auto")
            .field("candidates", &infos)
            .field("force", &self.force)
            .field("calibration", &self.calibration)
            .finish()
    }
}

fn identity(info: &BackendInfo) -> String {
    format!(
        "{}/{} on {} x{}",
        info.kind, info.kernel, info.device, info.threads
    )
}

impl Auto {
    /// Every usable backend, `PARSUM_BACKEND` honoured, calibrations cached in the user's cache
    /// directory.
    pub fn new() -> Result<Self> {
        Self::with_options(AutoOptions::from_env()?)
    }

    /// Scalar, simd and (with `options.gpu`) one GPU backend per usable adapter — Vulkan, Metal
    /// or DX12 ones, GL ones only when there is no other.
    pub fn with_options(options: AutoOptions) -> Result<Self> {
        let mut backends: Vec<Box<dyn Backend>> =
            vec![Box::new(Scalar::new()), Box::new(Simd::new())];
        let mut skipped = Vec::new();
        if options.gpu {
            let adapters = crate::adapters();
            let native = adapters.iter().any(|a| a.api != "Gl");
            for a in adapters.iter().filter(|a| !native || a.api != "Gl") {
                match Gpu::with_options(GpuOptions {
                    adapter: Some(a.name.clone()),
                    api: Some(a.api.clone()),
                    ..GpuOptions::default()
                }) {
                    Ok(gpu) => backends.push(Box::new(gpu)),
                    Err(e) => skipped.push(format!("{}: {e}", a.describe())),
                }
            }
            if adapters.is_empty() {
                skipped.push(match Gpu::new() {
                    Err(e) => e.to_string(),
                    Ok(_) => "no adapter listed".into(),
                });
            }
        }
        let mut auto = Self::with_backends(backends, &options)?;
        auto.skipped = skipped;
        Ok(auto)
    }

    /// These backends, calibrated (or read from the cache) under `options`.
    pub fn with_backends(backends: Vec<Box<dyn Backend>>, options: &AutoOptions) -> Result<Self> {
        let infos: Vec<BackendInfo> = backends.iter().map(|b| b.info()).collect();
        let ids: Vec<String> = infos.iter().map(identity).collect();
        let key = cache::key(&ids);
        let path = match &options.cache {
            CacheSetting::Default => cache::default_dir().map(|d| cache::file(&d, &key)),
            CacheSetting::Dir(d) => Some(cache::file(d, &key)),
            CacheSetting::Off => None,
        };
        let cached = path.as_deref().and_then(|p| cache::read(p, &key, &ids));
        let (models, calibration): (Vec<Result<CostModel>>, String) = match cached {
            Some(models) => (
                models.into_iter().map(Ok).collect(),
                format!(
                    "read from {}",
                    path.as_ref().expect("read from a path").display()
                ),
            ),
            None => {
                let started = Instant::now();
                let mut models = Vec::with_capacity(backends.len());
                for (i, b) in backends.iter().enumerate() {
                    let left = options.calibration_budget.saturating_sub(started.elapsed());
                    let share = left / (backends.len() - i) as u32;
                    models.push(model::calibrate(b.as_ref(), share));
                }
                let took = started.elapsed();
                let mut note = format!("measured now in {} ms", took.as_millis());
                if let (Some(p), true) = (&path, models.iter().all(Result::is_ok)) {
                    let ok: Vec<CostModel> = models.iter().flatten().cloned().collect();
                    match cache::write(p, &key, &ids, &ok) {
                        Ok(()) => note += &format!(", saved to {}", p.display()),
                        Err(e) => note += &format!(", not saved ({}: {e})", p.display()),
                    }
                }
                (models, note)
            }
        };
        let candidates = backends
            .into_iter()
            .zip(infos)
            .zip(models)
            .map(|((backend, info), model)| {
                let failure = model
                    .as_ref()
                    .err()
                    .map(|e| format!("calibration failed: {e}"));
                Candidate {
                    backend,
                    info,
                    failed: AtomicBool::new(failure.is_some()),
                    failure: Mutex::new(failure),
                    model: model.ok(),
                }
            })
            .collect();
        Ok(Self {
            candidates,
            force: options.force,
            calibration,
            skipped: Vec::new(),
        })
    }

    /// These backends with given cost models, no calibration (for tests and for callers who
    /// measured elsewhere).
    pub fn with_models(
        backends: Vec<(Box<dyn Backend>, CostModel)>,
        force: Option<BackendKind>,
    ) -> Self {
        let candidates = backends
            .into_iter()
            .map(|(backend, model)| Candidate {
                info: backend.info(),
                backend,
                model: Some(model),
                failed: AtomicBool::new(false),
                failure: Mutex::new(None),
            })
            .collect();
        Self {
            candidates,
            force,
            calibration: "given".into(),
            skipped: Vec::new(),
        }
    }

    /// Index of the backend for `n` elements among those still usable, and how it was chosen.
    fn choose(&self, n: u128, cpu_only: bool) -> Result<(usize, ChosenBy)> {
        let usable = |c: &Candidate| c.usable() && !(cpu_only && c.info.kind == BackendKind::Gpu);
        if let Some(kind) = self.force {
            return self
                .candidates
                .iter()
                .position(|c| c.info.kind == kind && usable(c))
                .map(|i| (i, ChosenBy::Override))
                .ok_or_else(|| self.unavailable(kind));
        }
        self.candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| usable(c))
            .map(|(i, c)| (i, c.model.as_ref().map_or(f64::INFINITY, |m| m.predict(n))))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| (i, ChosenBy::Auto))
            .ok_or_else(|| Error::Config("no usable backend".into()))
    }

    fn unavailable(&self, kind: BackendKind) -> Error {
        let mut why: Vec<String> = self
            .candidates
            .iter()
            .filter(|c| c.info.kind == kind)
            .filter_map(Candidate::failure)
            .collect();
        why.extend(self.skipped.iter().cloned());
        let why = if why.is_empty() {
            "none found".into()
        } else {
            why.join("; ")
        };
        match kind {
            BackendKind::Gpu => Error::GpuUnavailable(format!("PARSUM_BACKEND=gpu: {why}")),
            other => Error::Config(format!("PARSUM_BACKEND={other}: {why}")),
        }
    }

    /// The backend a sum of `n` elements would run on now.
    pub fn pick(&self, n: u128) -> Option<&BackendInfo> {
        self.choose(n, false)
            .ok()
            .map(|(i, _)| &self.candidates[i].info)
    }

    /// Every candidate backend's description, usable or not.
    pub fn backends(&self) -> impl Iterator<Item = &BackendInfo> {
        self.candidates.iter().map(|c| &c.info)
    }

    /// Every candidate backend that is still usable, to run directly (as `--bench` does).
    pub fn members(&self) -> impl Iterator<Item = &dyn Backend> {
        self.candidates
            .iter()
            .filter(|c| c.usable())
            .map(|c| c.backend.as_ref())
    }

    /// The measurements and the reasoning behind the choice for `n` elements.
    pub fn explain(&self, n: u128) -> Explanation {
        let choice = self.choose(n, false);
        let candidates = self
            .candidates
            .iter()
            .map(|c| CandidateReport {
                info: c.info.clone(),
                predicted: c
                    .model
                    .as_ref()
                    .map(|m| Duration::from_secs_f64(m.predict(n))),
                points: c.model.as_ref().map_or(Vec::new(), |m| m.points().to_vec()),
                failed: c.failure(),
            })
            .collect::<Vec<_>>();
        let (picked, reason) = match &choice {
            Ok((i, ChosenBy::Override)) => (
                Some(self.candidates[*i].info.clone()),
                format!("PARSUM_BACKEND forces {}", self.candidates[*i].info.kind),
            ),
            Ok((i, ChosenBy::Auto)) => {
                let mine = candidates[*i].predicted.unwrap_or_default();
                let runner_up = candidates
                    .iter()
                    .enumerate()
                    .filter(|(j, c)| *j != *i && c.failed.is_none())
                    .filter_map(|(_, c)| c.predicted.map(|p| (c, p)))
                    .min_by_key(|(_, p)| *p);
                let reason = match runner_up {
                    Some((c, p)) => format!(
                        "lowest predicted time: {:?} against {:?} for {} ({:.1}x slower)",
                        mine,
                        p,
                        c.info.kind,
                        p.as_secs_f64() / mine.as_secs_f64().max(1e-12)
                    ),
                    None => "the only usable backend".into(),
                };
                (Some(self.candidates[*i].info.clone()), reason)
            }
            Err(e) => (None, e.to_string()),
        };
        Explanation {
            elements: n,
            candidates,
            picked,
            reason,
            calibration: self.calibration.clone(),
            skipped: self.skipped.clone(),
        }
    }
}

impl Backend for Auto {
    fn info(&self) -> BackendInfo {
        let kinds: Vec<&str> = self
            .candidates
            .iter()
            .map(|c| c.info.kind.as_str())
            .collect();
        BackendInfo {
            kind: BackendKind::Auto,
            kernel: "auto".into(),
            device: format!("chooses among {}", kinds.join(", ")),
            threads: self
                .candidates
                .iter()
                .map(|c| c.info.threads)
                .max()
                .unwrap_or(1),
        }
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        let n = sink.plan().range().len();
        let (i, chosen_by) = self.choose(n, false)?;
        let first = &self.candidates[i];
        let predicted = |c: &Candidate| {
            c.model
                .as_ref()
                .map(|m| Duration::from_secs_f64(m.predict(n)))
        };
        let err = match first.backend.sum_chunks(sink) {
            Ok(()) => {
                sink.record_choice(
                    first.info.clone(),
                    Selection {
                        chosen_by,
                        predicted: predicted(first),
                        fallback: None,
                    },
                );
                return Ok(());
            }
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) if first.info.kind != BackendKind::Gpu || chosen_by == ChosenBy::Override => {
                return Err(e);
            }
            Err(e) => e,
        };
        first.fail(err.to_string());
        let (j, _) = self.choose(n, true)?;
        let second = &self.candidates[j];
        let why = format!(
            "{} on {} failed ({err}); redone on {} and not chosen again",
            first.info.kind, first.info.device, second.info.kind
        );
        log::warn!("parsum: {why}");
        sink.restart();
        second.backend.sum_chunks(sink)?;
        sink.record_choice(
            second.info.clone(),
            Selection {
                chosen_by,
                predicted: predicted(second),
                fallback: Some(why),
            },
        );
        Ok(())
    }
}

/// One candidate in an [`Explanation`].
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateReport {
    /// The backend.
    pub info: BackendInfo,
    /// Its predicted time for the size asked about.
    pub predicted: Option<Duration>,
    /// Its calibration points (elements, seconds).
    pub points: Vec<(u128, f64)>,
    /// Why it is out of the running, if it is.
    pub failed: Option<String>,
}

/// Why [`Auto`] picks what it picks for one size.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The size asked about.
    pub elements: u128,
    /// Every candidate with its prediction.
    pub candidates: Vec<CandidateReport>,
    /// The backend picked, if any is usable.
    pub picked: Option<BackendInfo>,
    /// Why.
    pub reason: String,
    /// Where the cost models came from.
    pub calibration: String,
    /// GPU adapters that could not be used, with the reason.
    pub skipped: Vec<String>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "auto for {} elements (calibration {}):",
            self.elements, self.calibration
        )?;
        for c in &self.candidates {
            let mark = if self.picked.as_ref() == Some(&c.info) {
                "*"
            } else {
                " "
            };
            let fastest = c
                .points
                .iter()
                .map(|&(n, t)| n as f64 / t)
                .fold(0.0, f64::max);
            write!(f, " {mark} {:<6} {:<20} ", c.info.kind, c.info.kernel)?;
            match (c.predicted, &c.failed) {
                (_, Some(why)) => write!(f, "out: {why}")?,
                (Some(p), None) => write!(f, "predicted {p:>12.3?}")?,
                (None, None) => write!(f, "no model")?,
            }
            writeln!(
                f,
                "  ({} points, best {:.3e} elem/s) on {}",
                c.points.len(),
                fastest,
                c.info.device
            )?;
        }
        for s in &self.skipped {
            writeln!(f, "   skipped GPU: {s}")?;
        }
        write!(f, "picked: ")?;
        match &self.picked {
            Some(p) => write!(f, "{} — {}", p.kind, self.reason),
            None => write!(f, "nothing — {}", self.reason),
        }
    }
}
