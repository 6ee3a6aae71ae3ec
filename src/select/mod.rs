//! [`Auto`]: runs each sum on whichever backend is fastest for it on this machine, and learns from
//! every sum it runs.
//!
//! ```
//! use parsum::{Auto, AutoOptions, CacheSetting, Scalar, SumRequest};
//! let auto = Auto::with_options(AutoOptions::default().cache(CacheSetting::Off).gpu(false))?;
//! let request = SumRequest::new(0..1_000_000)?;
//! let report = request.run(&auto)?;
//! assert_eq!(report.sum, request.run(&Scalar::new())?.sum);
//! // Which backend ran, and why.
//! let selection = report.selection.expect("auto reports its choice");
//! println!("{} ({})", report.backend.kind, selection.chosen_by.as_str());
//! println!("{}", auto.explain(1_000_000));
//! # Ok::<(), parsum::Error>(())
//! ```
//!
//! Built from small parts, dependencies pointing down:
//! - [`options`]: [`AutoOptions`] and the environment (`PARSUM_BACKEND`, …);
//! - candidates: scalar, simd and one [`crate::Gpu`] per usable adapter (found by the GPU
//!   backend);
//! - [`history`]: every backend's run times per size bucket, with robust statistics;
//! - [`policy`]: pure — predictions, the choice for a request, what a run teaches, exploration;
//! - [`calibrate`]: the first-use measurements;
//! - [`cache`]: the observations on disk, merged across processes;
//! - [`explain`]: why a pick is what it is.
//!
//! `Auto` wires the policy to real backends and the clock: each request goes to the candidate the
//! policy picks, its time is recorded as an observation, and every so often the observations are
//! saved. If the chosen GPU fails, the sum is redone on the best CPU backend and that GPU is not
//! chosen again in this process.

pub mod cache;
pub mod calibrate;
pub mod explain;
pub mod history;
pub mod model;
pub mod options;
pub mod policy;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use explain::{BucketReport, CandidateReport, Explanation};
pub use model::CostModel;
pub use options::{AutoOptions, backend_override, check_environment, parse_override};

use self::history::{History, class_bounds, size_class};
use self::policy::{Decision, Policy, Prediction};
use crate::backend::{Backend, BackendInfo, BackendKind, ChosenBy, Ran, Selection};
use crate::chunk::{ChunkPlan, Chunking};
use crate::error::{Error, Result};
use crate::range::SumRange;
use crate::verify::ChunkSink;
use crate::{Scalar, Simd};

/// New runs after which Auto saves (when [`SAVE_EVERY`] has also passed), besides on drop.
const SAVE_AFTER_RUNS: u64 = 64;
/// See [`SAVE_AFTER_RUNS`].
const SAVE_EVERY: Duration = Duration::from_secs(10);
/// A backend's first run in a process is recorded when it took at least this long: its warm-up
/// (waking threads, first touches; a GPU's pipelines are built and tested at set-up) is then a
/// few percent of it at most.
const COLD_ENOUGH: Duration = Duration::from_millis(20);
/// A backend with fewer measured buckets than this is calibrated at first use.
const KNOWN_BUCKETS: usize = calibrate::ALWAYS as usize;

struct Candidate {
    backend: Box<dyn Backend>,
    info: BackendInfo,
    identity: String,
    /// Its first run in this process has happened (recorded only if it took [`COLD_ENOUGH`]).
    warm: AtomicBool,
    failure: Mutex<Option<String>>,
}

/// A run's time as an observation: a clock too coarse to see it still counts it, as 1 ns.
fn seconds(took: Duration) -> f64 {
    took.as_secs_f64().max(1e-9)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Candidate {
    fn new(backend: Box<dyn Backend>) -> Self {
        Self {
            info: backend.info(),
            identity: backend.identity(),
            backend,
            warm: AtomicBool::new(false),
            failure: Mutex::new(None),
        }
    }

    fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
    }

    fn fail(&self, why: String) {
        *lock(&self.failure) = Some(why);
    }
}

/// The history and when it was last saved, behind one lock.
struct Learned {
    history: History,
    runs_since_save: u64,
    saved_at: Instant,
}

/// The self-choosing backend. See the [module docs](self).
pub struct Auto {
    candidates: Vec<Candidate>,
    force: Option<BackendKind>,
    policy: Policy,
    learned: Mutex<Learned>,
    cache: Option<PathBuf>,
    origin: Mutex<String>,
    skipped: Vec<String>,
}

impl fmt::Debug for Auto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let infos: Vec<&BackendInfo> = self.candidates.iter().map(|c| &c.info).collect();
        f.debug_struct("Auto")
            .field("candidates", &infos)
            .field("force", &self.force)
            .field("origin", &*lock(&self.origin))
            .finish()
    }
}

/// Chunks of the default plan for `n` elements.
fn default_chunks(n: u128) -> u64 {
    SumRange::from_bounds(0, n.min(crate::range::DOMAIN_END))
        .and_then(|r| ChunkPlan::new(r, Chunking::Auto))
        .map_or(1, |p| p.len())
}

impl Auto {
    /// Every usable backend, the environment honoured (`PARSUM_BACKEND`, `RAYON_NUM_THREADS`,
    /// wgpu's variables), observations kept in the user's cache directory.
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
            let (gpus, why) = crate::backend::gpu::for_auto(&options.cache)?;
            backends.extend(gpus.into_iter().map(|g| Box::new(g) as Box<dyn Backend>));
            skipped = why;
        }
        let mut auto = Self::with_backends(backends, &options)?;
        auto.skipped = skipped;
        Ok(auto)
    }

    /// These backends, with the observations saved for them, and calibrated where there are
    /// none.
    pub fn with_backends(backends: Vec<Box<dyn Backend>>, options: &AutoOptions) -> Result<Self> {
        if backends.is_empty() {
            return Err(Error::Config("Auto needs at least one backend".into()));
        }
        let candidates: Vec<Candidate> = backends.into_iter().map(Candidate::new).collect();
        let mut history = History::new(vec![None; candidates.len()]);
        let cache = cache::path(&options.cache);
        let mut origin = String::new();
        if let Some(path) = &cache {
            match cache::load(path) {
                Ok(saved) => {
                    let mut found = 0;
                    for (i, c) in candidates.iter().enumerate() {
                        if let Some(s) = saved.get(&c.identity) {
                            history.backend_mut(i).rebase(s);
                            found += 1;
                        }
                    }
                    if found > 0 {
                        origin = format!("read from {}", path.display());
                    }
                }
                Err(why) => origin = why,
            }
        }
        let auto = Self {
            candidates,
            force: options.force,
            policy: Policy::default(),
            learned: Mutex::new(Learned {
                history,
                runs_since_save: 0,
                saved_at: Instant::now(),
            }),
            cache,
            origin: Mutex::new(origin),
            skipped: Vec::new(),
        };
        auto.calibrate_unknown(options.calibration_budget);
        Ok(auto)
    }

    /// These backends with the caller's cost models as priors: no calibration, no cache. The
    /// models are replaced by what Auto measures as it runs (see [`policy`] for how fast).
    pub fn with_models(
        backends: Vec<(Box<dyn Backend>, CostModel)>,
        force: Option<BackendKind>,
    ) -> Self {
        let (candidates, priors): (Vec<Candidate>, Vec<Option<CostModel>>) = backends
            .into_iter()
            .map(|(b, m)| (Candidate::new(b), Some(m)))
            .unzip();
        Self {
            candidates,
            force,
            policy: Policy::default(),
            learned: Mutex::new(Learned {
                history: History::new(priors),
                runs_since_save: 0,
                saved_at: Instant::now(),
            }),
            cache: None,
            origin: Mutex::new("given as priors".into()),
            skipped: Vec::new(),
        }
    }

    /// Calibrates the candidates with too few measured buckets, and saves.
    fn calibrate_unknown(&self, budget: Duration) {
        let unknown: Vec<usize> = {
            let learned = lock(&self.learned);
            (0..self.candidates.len())
                .filter(|&i| learned.history.backend(i).observed().iter().count() < KNOWN_BUCKETS)
                .collect()
        };
        if unknown.is_empty() {
            return;
        }
        let started = Instant::now();
        let backends: Vec<&dyn Backend> = unknown
            .iter()
            .map(|&i| self.candidates[i].backend.as_ref())
            .collect();
        let failures = calibrate::calibrate(&backends, budget, |j, n, chunks, t| {
            let mut learned = lock(&self.learned);
            self.policy
                .observe(&mut learned.history, unknown[j], n, chunks, seconds(t));
        });
        for (j, failure) in failures.into_iter().enumerate() {
            let c = &self.candidates[unknown[j]];
            c.warm.store(true, Ordering::Relaxed);
            if let Some(e) = failure {
                c.fail(format!("calibration failed: {e}"));
            }
        }
        let mut note = format!(
            "calibrated now for {} backend(s) in {} ms",
            unknown.len(),
            started.elapsed().as_millis()
        );
        match self.save() {
            Some(Ok(path)) => note += &format!(", saved to {}", path.display()),
            Some(Err(e)) => note += &format!(", not saved ({e})"),
            None => {}
        }
        let mut origin = lock(&self.origin);
        *origin = if origin.is_empty() {
            note
        } else {
            format!("{origin}; {note}")
        };
    }

    /// Writes this process's new observations into the cache file, merged with what is there.
    /// `None` without a cache.
    pub fn save(&self) -> Option<std::io::Result<PathBuf>> {
        let path = self.cache.clone()?;
        let mut learned = lock(&self.learned);
        let fresh: Vec<(String, history::Saved)> = self
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (c.identity.clone(), learned.history.backend(i).fresh_saved()))
            .collect();
        let result = cache::save(&path, &fresh).map(|merged| {
            for (i, c) in self.candidates.iter().enumerate() {
                let h = learned.history.backend_mut(i);
                h.clear_fresh();
                if let Some(saved) = merged.get(&c.identity) {
                    h.rebase(saved);
                }
            }
            path
        });
        learned.runs_since_save = 0;
        learned.saved_at = Instant::now();
        Some(result)
    }

    fn usable(&self, cpu_only: bool) -> Vec<bool> {
        self.candidates
            .iter()
            .map(|c| {
                c.failure().is_none()
                    && !(cpu_only && c.info.kind == BackendKind::Gpu)
                    && self.force.is_none_or(|k| k == c.info.kind)
            })
            .collect()
    }

    fn decide(&self, n: u128, chunks: u64, cpu_only: bool, commit: bool) -> Result<Decision> {
        let usable = self.usable(cpu_only);
        let mut learned = lock(&self.learned);
        let decision = self
            .policy
            .decide(&learned.history, n, chunks, &usable, self.force.is_some())
            .ok_or_else(|| match self.force {
                Some(kind) => self.unavailable(kind),
                None if self.candidates.is_empty() => {
                    Error::Unavailable("no usable backend: Auto was given none".into())
                }
                None => Error::Unavailable(format!(
                    "no usable backend: {}",
                    self.candidates
                        .iter()
                        .filter_map(|c| c.failure().map(|f| format!("{}: {f}", c.info.kind)))
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
            })?;
        if commit {
            self.policy.commit(&mut learned.history, &decision);
        }
        Ok(decision)
    }

    fn unavailable(&self, kind: BackendKind) -> Error {
        let mut why: Vec<String> = self
            .candidates
            .iter()
            .filter(|c| c.info.kind == kind)
            .filter_map(Candidate::failure)
            .collect();
        if kind == BackendKind::Gpu {
            why.extend(self.skipped.iter().cloned());
        }
        let why = if why.is_empty() {
            "none found".into()
        } else {
            why.join("; ")
        };
        match kind {
            BackendKind::Gpu => Error::GpuUnavailable(format!("forced gpu: {why}")),
            other => Error::Unavailable(format!("forced {other}: {why}")),
        }
    }

    /// The backend Auto considers fastest for `n` elements in the default chunks (a run may
    /// explore another one instead; its report says so).
    pub fn pick(&self, n: u128) -> Option<&BackendInfo> {
        self.pick_for(n, default_chunks(n))
    }

    /// The backend Auto considers fastest for `n` elements in `chunks` chunks.
    pub fn pick_for(&self, n: u128, chunks: u64) -> Option<&BackendInfo> {
        let usable = self.usable(false);
        let learned = lock(&self.learned);
        self.policy
            .decide(&learned.history, n, chunks, &usable, self.force.is_some())
            .map(|d| &self.candidates[d.leader].info)
    }

    /// Every candidate backend's description, usable or not.
    pub fn backends(&self) -> impl Iterator<Item = &BackendInfo> {
        self.candidates.iter().map(|c| &c.info)
    }

    /// Every candidate backend that is still usable, to run directly (as `--bench` does).
    pub fn members(&self) -> impl Iterator<Item = &dyn Backend> {
        self.candidates
            .iter()
            .filter(|c| c.failure().is_none())
            .map(|c| c.backend.as_ref())
    }

    /// Observations recorded so far (calibration included), for tests and tools.
    pub fn observations(&self) -> u64 {
        lock(&self.learned).history.recorded()
    }

    /// What the next request of `n` elements in the default chunks would run on, and why.
    pub fn explain(&self, n: u128) -> Explanation {
        self.explain_for(n, default_chunks(n))
    }

    /// What the next request of `n` elements in `chunks` chunks would run on, and why.
    pub fn explain_for(&self, n: u128, chunks: u64) -> Explanation {
        let decision = self.decide(n, chunks, false, false);
        let learned = lock(&self.learned);
        let class = size_class(n);
        let report = |i: usize, c: &Candidate| {
            let h = learned.history.backend(i);
            let p: Option<Prediction> = self.policy.predict(h, n, chunks);
            let seen = h.observed();
            let mut classes = vec![];
            if let Some(lo) = seen.at_or_below(class) {
                classes.push(lo);
            }
            if let Some(hi) = seen.at_or_above(class) {
                classes.push(hi);
            }
            classes.dedup();
            let buckets = classes
                .into_iter()
                .map(|k| {
                    let b = h.bucket(k);
                    BucketReport {
                        elements: class_bounds(k),
                        runs: b.weight,
                        centre: Duration::from_secs_f64(b.centre().min(model::MAX_SECONDS)),
                        spread: b.spread().exp(),
                        outliers: b.gross,
                    }
                })
                .collect();
            let k = Some(*h.chunk_cost_overall()).filter(|k| k.is_observed());
            CandidateReport {
                info: c.info.clone(),
                predicted: p.map(|p| (secs(p.seconds), p.basis)),
                uncertainty: p.map_or(1.0, |p| p.uncertainty),
                buckets,
                chunk_cost: k.map(|k| secs(k.centre())),
                failed: c.failure(),
            }
        };
        let candidates: Vec<CandidateReport> = self
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| report(i, c))
            .collect();
        drop(learned);
        let (picked, chosen_by, reason) = match &decision {
            Ok(d) => {
                let mine = &candidates[d.index];
                let reason = match d.chosen_by {
                    ChosenBy::Override => format!("PARSUM_BACKEND forces {}", mine.info.kind),
                    ChosenBy::Explore => format!(
                        "exploring: {} is not measured enough at this size to rule it out \
                         (or its bounded re-check is due); the leader is {}",
                        mine.info.kind, candidates[d.leader].info.kind
                    ),
                    _ => {
                        let own = mine.predicted.map(|(t, _)| t).unwrap_or_default();
                        let runner_up = candidates
                            .iter()
                            .enumerate()
                            .filter(|(j, c)| *j != d.index && c.failed.is_none())
                            .filter_map(|(_, c)| c.predicted.map(|(t, _)| (c, t)))
                            .min_by_key(|(_, t)| *t);
                        let basis = mine.predicted.map_or("", |(_, b)| b.as_str());
                        match runner_up {
                            Some((c, t)) => format!(
                                "lowest predicted time ({basis}): {} against {} for {} \
                                 ({:.1}x slower)",
                                short(own),
                                short(t),
                                c.info.kind,
                                t.as_secs_f64() / own.as_secs_f64().max(1e-12)
                            ),
                            None => "the only usable backend".into(),
                        }
                    }
                };
                (Some(mine.info.clone()), Some(d.chosen_by), reason)
            }
            Err(e) => (None, None, e.to_string()),
        };
        Explanation {
            elements: n,
            chunks,
            candidates,
            picked,
            chosen_by,
            reason,
            origin: lock(&self.origin).clone(),
            skipped: self.skipped.clone(),
        }
    }

    /// Records a finished run, and saves now and then.
    fn learn(&self, i: usize, n: u128, chunks: u64, took: Duration) {
        // A backend's first run in a process pays for warming it up: not a fair sample, unless
        // it ran long enough for that to be noise — so a process that runs one long sum (the
        // CLI) still teaches what it saw.
        if !self.candidates[i].warm.swap(true, Ordering::Relaxed) && took < COLD_ENOUGH {
            return;
        }
        let save_due = {
            let mut learned = lock(&self.learned);
            self.policy
                .observe(&mut learned.history, i, n, chunks, seconds(took));
            learned.runs_since_save += 1;
            self.cache.is_some()
                && learned.runs_since_save >= SAVE_AFTER_RUNS
                && learned.saved_at.elapsed() >= SAVE_EVERY
        };
        if save_due {
            let _ = self.save();
        }
    }

    fn selection(decision: &Decision) -> Selection {
        Selection::new(
            decision.chosen_by,
            decision.predicted.map(|p| (secs(p.seconds), p.basis)),
        )
    }
}

fn secs(s: f64) -> Duration {
    // `clamp` lets NaN through, and `from_secs_f64(NaN)` panics.
    let s = if s.is_nan() { 0.0 } else { s };
    Duration::from_secs_f64(s.clamp(0.0, model::MAX_SECONDS))
}

fn short(d: Duration) -> String {
    format!("{d:.3?}")
}

impl Drop for Auto {
    fn drop(&mut self) {
        if lock(&self.learned).history.has_fresh() {
            let _ = self.save();
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
        BackendInfo::new(
            BackendKind::Auto,
            "auto",
            format!("chooses among {}", kinds.join(", ")),
            self.candidates
                .iter()
                .map(|c| c.info.threads)
                .max()
                .unwrap_or(1),
        )
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<Ran> {
        let plan = sink.plan();
        let (n, chunks) = (plan.range().len(), plan.len());
        let decision = self.decide(n.max(1), chunks.max(1), false, n > 0)?;
        let first = &self.candidates[decision.index];
        let started = Instant::now();
        let err = match first.backend.sum_chunks(sink) {
            Ok(_) => {
                if n > 0 {
                    self.learn(decision.index, n, chunks, started.elapsed());
                }
                return Ok(Ran::chosen(first.info.clone(), Self::selection(&decision)));
            }
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) if first.info.kind != BackendKind::Gpu || self.force.is_some() => {
                return Err(e);
            }
            Err(e) => e,
        };
        first.fail(err.to_string());
        let second = self.decide(n.max(1), chunks.max(1), true, false)?;
        let backup = &self.candidates[second.index];
        let why = format!(
            "{} on {} failed ({err}); redone on {} and not chosen again",
            first.info.kind, first.info.device, backup.info.kind
        );
        log::warn!("parsum: {why}");
        sink.restart();
        let started = Instant::now();
        backup.backend.sum_chunks(sink)?;
        self.learn(second.index, n, chunks, started.elapsed());
        let mut selection = Self::selection(&second);
        selection.fallback = Some(why);
        Ok(Ran::chosen(backup.info.clone(), selection))
    }
}
