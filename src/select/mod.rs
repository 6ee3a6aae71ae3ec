//! [`Auto`]: runs each request on whichever backend is fastest for it on this machine, and learns
//! from the sums it runs — the one place in parsum where timings are learnt.
//!
//! Built from small parts, dependencies pointing down: [`options`] (how it is built, the
//! environment), [`model`] (priors), [`history`] (the entries), [`policy`] (the pure choice),
//! [`cache`] (the entries on disk) and [`explain`]. This file wires them to real backends and the
//! clock: a request's footprint is looked up (a known one's choice is a memo), the backend runs
//! (made first if it is the GPU, which is opened only once a request could go to it), its time
//! becomes a sample, and now and then the entries are saved. If the GPU fails, the request is run
//! again on the CPU and the GPU is not chosen again.

mod cache;
mod explain;
mod history;
mod model;
mod options;
mod policy;
#[cfg(test)]
mod tests;

use std::borrow::Borrow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use explain::Explanation;
pub use history::Basis;
pub use model::CostModel;
pub use options::{AutoOptions, CacheSetting};
pub use policy::ChosenBy;

use self::cache::{Saved, Store};
use self::explain::Line;
use self::history::{CHUNKS, Entries, Footprint, SIZES};
use self::policy::{Decision, EXPLORE_RUNS, Prediction, SHARE};
use crate::backend::{Backend, BackendKind};
use crate::chunk::{ChunkPlan, Chunking};
use crate::error::{Error, Result};
use crate::range::SumRange;
use crate::request::{Runner, SumReport, SumRequest};
use crate::{Gpu, GpuOptions, Scalar, Simd};

/// Sums predicted shorter than this are recorded only every [`SAMPLE_EVERY`]th call (and timed
/// only then, unless the caller wants the time): two clock reads and a record cost as much as
/// such a sum.
const SAMPLE_BELOW: f64 = 20e-6;
const SAMPLE_EVERY: u32 = 8;
/// Observations between looks at the clock for a save; saves are at most [`SAVE_EVERY`] apart
/// (the first comes with the first observation, so a one-shot process teaches too).
const SAVE_CHECK: u32 = 64;
const SAVE_EVERY: Duration = Duration::from_secs(10);

/// How one sum's backend was chosen; see [`AutoReport`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Choice {
    /// Why this backend ran.
    pub chosen_by: ChosenBy,
    /// Its predicted time, and what the prediction rests on.
    pub predicted: Option<(Duration, Basis)>,
    /// When the first choice (a GPU) failed or could not be opened: what happened, and where the
    /// sum was run instead.
    pub fallback: Option<String>,
    /// This was the backend's first sum in this [`Auto`] (its time is a sample all the same).
    pub cold: bool,
}

/// What [`Auto`] returns: the [`SumReport`] (also reachable through `Deref`) and how it chose.
///
/// ```
/// use parsum::{Auto, AutoOptions, CacheSetting, SumRequest};
/// let auto = Auto::with_options(AutoOptions::default().cache(CacheSetting::Off).gpu(false))?;
/// let report = SumRequest::new(0..1_000_000)?.run(&auto)?;
/// assert_eq!(report.sum, 499_999_500_000);
/// println!("{} ({})", report.backend.kind, report.choice.chosen_by.as_str());
/// # Ok::<(), parsum::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AutoReport {
    /// The sum and the backend that ran it.
    pub report: SumReport,
    /// How that backend was chosen.
    pub choice: Choice,
}

impl std::ops::Deref for AutoReport {
    type Target = SumReport;
    fn deref(&self) -> &SumReport {
        &self.report
    }
}

impl Borrow<SumReport> for AutoReport {
    fn borrow(&self) -> &SumReport {
        &self.report
    }
}

/// A candidate's backend: made with the Auto, or — the GPU — when first chosen.
enum Member {
    Made(Box<dyn Backend>),
    Gpu(Box<OnceLock<Result<Gpu>>>),
}

struct Candidate {
    kind: BackendKind,
    /// What its entries are saved under.
    identity: String,
    prior: CostModel,
    member: Member,
    /// Why it is out for good, once it is.
    failure: OnceLock<String>,
    /// It has run in this Auto.
    warm: AtomicBool,
}

/// A known footprint's choice, valid while the history's version stands.
#[derive(Clone, Copy)]
struct Memo {
    version: u64,
    leader: usize,
    seconds: f64,
    basis: Basis,
    due: f64,
    /// The leader's samples at the footprint: until there are a few, every run is recorded.
    samples: f64,
}

#[derive(Clone, Copy, Default)]
struct Place {
    /// Re-check credit earned here (see [`policy`]).
    earned: f64,
    memo: Option<Memo>,
    calls: u32,
}

struct Learner {
    entries: Vec<Entries>,
    /// Per candidate and footprint: re-check credit spent.
    spent: Vec<Vec<f64>>,
    places: Vec<Place>,
    /// Bumped whenever a prediction may have moved: memos older than it are stale.
    version: u64,
    /// The adapter the GPU candidate's entries were measured on.
    adapter: Option<String>,
    unsaved: u32,
    saved_at: Option<Instant>,
}

fn index(f: Footprint) -> usize {
    f.chunks * SIZES + f.size
}

/// Seconds as a `Duration`, whatever the float.
fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() {
        s.clamp(0.0, 1e9)
    } else {
        1e9
    })
}

/// Chunks of the default plan for `n` elements.
fn default_chunks(n: u128) -> u64 {
    SumRange::from_bounds(0, n.min(1 << 64))
        .and_then(|r| ChunkPlan::new(r, Chunking::Default))
        .map_or(1, |p| p.len())
}

/// Runs each request on the backend fastest for its size and chunk count on this machine, and
/// learns from the sums it runs: the one place in parsum where timings are learnt.
///
/// A request's footprint (size class, chunk class) is looked up; each backend's prediction is
/// its entry there, else one interpolated from nearby entries, else its prior. The fastest runs,
/// except for bounded exploration and re-checks (`docs/selection.md` states the bounds); its
/// time becomes a sample. The GPU is opened only once a request is sent to it; if it fails, the
/// request runs again on the CPU and the GPU is not chosen again. The history is kept in the
/// cache directory, merged entry by entry with other processes'.
///
/// ```
/// use parsum::{Auto, AutoOptions, CacheSetting, Scalar, SumRequest};
/// let auto = Auto::with_options(AutoOptions::default().cache(CacheSetting::Off).gpu(false))?;
/// let request = SumRequest::new(0..1_000_000)?;
/// assert_eq!(request.run(&auto)?.sum, request.run(&Scalar::new())?.sum);
/// println!("{}", auto.explain(1_000_000));
/// # Ok::<(), parsum::Error>(())
/// ```
pub struct Auto {
    candidates: Vec<Candidate>,
    force: Option<BackendKind>,
    learner: Mutex<Learner>,
    cache: Option<PathBuf>,
    origin: String,
    /// The process that made it (checked only where a fork could hurt).
    pid: u32,
}

impl std::fmt::Debug for Auto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<BackendKind> = self.candidates.iter().map(|c| c.kind).collect();
        f.debug_struct("Auto")
            .field("candidates", &kinds)
            .field("force", &self.force)
            .finish_non_exhaustive()
    }
}

impl Auto {
    /// Scalar, simd and the GPU, the environment honoured (`PARSUM_BACKEND`,
    /// `RAYON_NUM_THREADS`, wgpu's variables), the history kept in the user's cache directory.
    pub fn new() -> Result<Self> {
        Self::with_options(AutoOptions::from_env()?)
    }

    /// The one [`Auto`] behind [`crate::sum`], made on first use and never dropped (it saves what
    /// it learns as it goes).
    pub fn global() -> Result<&'static Auto> {
        static GLOBAL: OnceLock<Result<Auto>> = OnceLock::new();
        if let Some(auto) = GLOBAL.get() {
            return auto.as_ref().map_err(Clone::clone);
        }
        // Made outside the cell's lock, so a fork while it is being made leaves no lock behind.
        let _ = GLOBAL.set(Auto::new());
        GLOBAL
            .get()
            .expect("set above")
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Scalar, simd and (with `options.gpu`) the GPU wgpu's variables point at — only those of
    /// the forced kind when `options.force` is set. The GPU is opened when a request is first
    /// sent to it.
    pub fn with_options(options: AutoOptions) -> Result<Self> {
        let wanted = |k| options.force.is_none_or(|f| f == k);
        let mut members: Vec<(BackendKind, String, Member, CostModel)> = Vec::new();
        let mut made = |b: Box<dyn Backend>| {
            let i = b.info();
            let id = format!("{}|{}|{}|{}", i.kind, i.kernel, i.device, i.threads);
            let prior = CostModel::builtin(i.kind, i.threads);
            members.push((i.kind, id, Member::Made(b), prior));
        };
        if wanted(BackendKind::Scalar) {
            made(Box::<Scalar>::default());
        }
        if wanted(BackendKind::Simd) {
            made(Box::<Simd>::default());
        }
        if options.gpu && wanted(BackendKind::Gpu) {
            let id = ["WGPU_ADAPTER_NAME", "WGPU_BACKEND", "WGPU_POWER_PREF"]
                .iter()
                .filter_map(|k| {
                    crate::env::var(k)
                        .ok()
                        .flatten()
                        .map(|v| format!("{k}={v}"))
                })
                .fold("gpu|default".to_string(), |id, kv| format!("{id}|{kv}"));
            let prior = CostModel::builtin(BackendKind::Gpu, 1);
            members.push((BackendKind::Gpu, id, Member::Gpu(Box::default()), prior));
        }
        let cache = options.cache.dir().map(|d| d.join(cache::FILE));
        let (store, origin) = match &cache {
            None => (Store::new(), "off".to_string()),
            Some(path) => match cache::load(path) {
                Ok(store) => {
                    let origin = format!("read from {}", path.display());
                    (store, origin)
                }
                Err(why) => (Store::new(), why),
            },
        };
        let auto = Self::build(members, options.force, cache, origin);
        auto.adopt(&store, false);
        Ok(auto)
    }

    /// These backends with the caller's cost models as priors; no cache. What Auto measures
    /// replaces the models as it runs (see `docs/selection.md` for how fast).
    pub fn with_models(
        backends: Vec<(Box<dyn Backend>, CostModel)>,
        force: Option<BackendKind>,
    ) -> Self {
        let members = backends
            .into_iter()
            .enumerate()
            .map(|(i, (b, prior))| (b.info().kind, format!("model {i}"), Member::Made(b), prior))
            .collect();
        Self::build(members, force, None, "given as priors".into())
    }

    fn build(
        members: Vec<(BackendKind, String, Member, CostModel)>,
        force: Option<BackendKind>,
        cache: Option<PathBuf>,
        origin: String,
    ) -> Self {
        let count = members.len();
        let candidates = members
            .into_iter()
            .map(|(kind, identity, member, prior)| Candidate {
                kind,
                identity,
                prior,
                member,
                failure: OnceLock::new(),
                warm: AtomicBool::new(false),
            })
            .collect();
        let learner = Learner {
            entries: vec![Entries::default(); count],
            spent: vec![vec![0.0; SIZES * CHUNKS]; count],
            places: vec![Place::default(); SIZES * CHUNKS],
            version: 0,
            adapter: None,
            unsaved: 0,
            saved_at: None,
        };
        Self {
            candidates,
            force,
            learner: Mutex::new(learner),
            cache,
            origin,
            pid: std::process::id(),
        }
    }

    /// The learner's state. A lock that cannot be had at once is waited for — unless this is a
    /// process forked while another thread held it, where it will never come free.
    fn learner(&self) -> Result<MutexGuard<'_, Learner>> {
        match self.learner.try_lock() {
            Ok(l) => Ok(l),
            Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
            Err(TryLockError::WouldBlock) if std::process::id() != self.pid => {
                Err(Error::Unavailable(
                    "this Auto was in use in another thread when the process was forked: \
                     make a new one in the child"
                        .into(),
                ))
            }
            Err(TryLockError::WouldBlock) => {
                Ok(self.learner.lock().unwrap_or_else(|e| e.into_inner()))
            }
        }
    }

    /// Replaces the entries of this Auto's backends with `store`'s, except those changed here
    /// since `store` was read (`keep_touched`).
    fn adopt(&self, store: &Store, keep_touched: bool) {
        let Ok(mut l) = self.learner() else { return };
        for (i, c) in self.candidates.iter().enumerate() {
            let Some(saved) = store.get(&c.identity) else {
                continue;
            };
            if c.kind == BackendKind::Gpu {
                l.adapter = saved.adapter.clone().or(l.adapter.take());
            }
            for (&f, &e) in &saved.entries {
                if !(keep_touched && l.entries[i].get(f).touched) {
                    l.entries[i].set(f, e);
                }
            }
        }
        l.version += 1;
    }

    /// Writes the history into the cache file, merged entry by entry with what is there (another
    /// process's newer entries are kept, and adopted here). `None` without a cache.
    pub fn save(&self) -> Option<std::io::Result<PathBuf>> {
        let path = self.cache.clone()?;
        let ours: Store = {
            let Ok(mut l) = self.learner() else {
                return Some(Err(std::io::Error::other("forked while in use")));
            };
            l.unsaved = 0;
            l.saved_at = Some(Instant::now());
            let adapter = l.adapter.clone();
            let store = self.candidates.iter().enumerate().map(|(i, c)| {
                let entries = l.entries[i].measured().map(|(f, e)| (f, *e)).collect();
                let adapter = (c.kind == BackendKind::Gpu)
                    .then(|| adapter.clone())
                    .flatten();
                (c.identity.clone(), Saved { adapter, entries })
            });
            let store = store.collect();
            for e in &mut l.entries {
                e.untouch();
            }
            store
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Some(cache::save(&path, &ours, now).map(|merged| {
            self.adopt(&merged, true);
            path
        }))
    }

    fn usable(&self, i: usize) -> bool {
        let c = &self.candidates[i];
        c.failure.get().is_none() && self.force.is_none_or(|k| k == c.kind)
    }

    fn predict(
        &self,
        l: &Learner,
        i: usize,
        n: u128,
        chunks: u64,
        f: Footprint,
    ) -> (Prediction, Basis) {
        let e = l.entries[i].estimate(f);
        let seconds = self.candidates[i].prior.seconds(n, chunks) * e.ln_ratio.exp();
        let p = Prediction {
            seconds,
            doubt: e.doubt,
            samples: e.samples,
            unmeasured: e.basis == Basis::Prior,
        };
        (p, e.basis)
    }

    /// The choice for `n` elements in `chunks` chunks, and whether to record its time.
    fn decide(&self, n: u128, chunks: u64) -> Result<(Decision, Duration, Basis, bool)> {
        let f = Footprint::of(n, chunks);
        let mut l = self.learner()?;
        let version = l.version;
        let place = &mut l.places[index(f)];
        place.calls = place.calls.wrapping_add(1);
        // The first call at a footprint is always recorded: a one-shot process teaches too.
        let sample = place.calls % SAMPLE_EVERY == 1;
        if let Some(m) = place
            .memo
            .filter(|m| m.version == version && self.force.is_none())
        {
            place.earned += SHARE * m.seconds;
            if place.earned < m.due && self.usable(m.leader) {
                let d = Decision {
                    index: m.leader,
                    leader: m.leader,
                    chosen_by: ChosenBy::Predicted,
                    price: 0.0,
                    due: m.due,
                };
                let record = sample || m.seconds >= SAMPLE_BELOW || m.samples < EXPLORE_RUNS;
                return Ok((d, secs(m.seconds), m.basis, record));
            }
            place.earned -= SHARE * m.seconds;
        }
        let preds: Vec<Option<(Prediction, Basis)>> = (0..self.candidates.len())
            .map(|i| self.usable(i).then(|| self.predict(&l, i, n, chunks, f)))
            .collect();
        let just: Vec<Option<Prediction>> = preds.iter().map(|p| p.map(|p| p.0)).collect();
        let spent: Vec<f64> = l.spent.iter().map(|s| s[index(f)]).collect();
        let earned = l.places[index(f)].earned;
        let Some(mut d) = policy::decide(&just, earned, &spent) else {
            return Err(self.none_usable());
        };
        let (lead, _) = preds[d.leader].expect("the leader is usable");
        l.places[index(f)].earned += SHARE * lead.seconds;
        if self.force.is_some() {
            d = Decision {
                index: d.leader,
                chosen_by: ChosenBy::Forced,
                ..d
            };
        }
        l.spent[d.index][index(f)] += d.price;
        let (p, basis) = preds[d.index].expect("the choice is usable");
        if d.chosen_by == ChosenBy::Predicted {
            l.places[index(f)].memo = Some(Memo {
                version,
                leader: d.leader,
                seconds: p.seconds,
                basis,
                due: d.due,
                samples: p.samples,
            });
        }
        let record = sample
            || p.seconds >= SAMPLE_BELOW
            || p.samples < EXPLORE_RUNS
            || d.chosen_by != ChosenBy::Predicted;
        Ok((d, secs(p.seconds), basis, record))
    }

    fn none_usable(&self) -> Error {
        let why: Vec<String> = self
            .candidates
            .iter()
            .filter(|c| self.force.is_none_or(|k| k == c.kind))
            .filter_map(|c| c.failure.get().map(|f| format!("{}: {f}", c.kind)))
            .collect();
        let why = if why.is_empty() {
            "none found".into()
        } else {
            why.join("; ")
        };
        match self.force {
            Some(BackendKind::Gpu) => Error::GpuUnavailable(format!("forced gpu: {why}")),
            Some(kind) => Error::Unavailable(format!("forced {kind}: {why}")),
            None => Error::Unavailable(format!("no usable backend: {why}")),
        }
    }

    /// Marks candidate `i` out for good.
    fn fail(&self, i: usize, why: String) {
        let _ = self.candidates[i].failure.set(why);
        if let Ok(mut l) = self.learner() {
            l.version += 1;
        }
    }

    /// Candidate `i`'s backend, opening the GPU on first use.
    fn open(&self, i: usize) -> Result<&dyn Backend> {
        let c = &self.candidates[i];
        let cell = match &c.member {
            Member::Made(b) => return Ok(b.as_ref()),
            Member::Gpu(cell) => cell,
        };
        if std::process::id() != self.pid {
            // Its device, or the opening of it, belongs to the parent.
            let e =
                Error::GpuUnavailable("this Auto was made before the process was forked".into());
            self.fail(i, e.to_string());
            return Err(e);
        }
        match cell.get_or_init(|| Gpu::with_options(GpuOptions::default())) {
            Ok(gpu) => {
                let actual = gpu.adapter().identity();
                if let Ok(mut l) = self.learner()
                    && l.adapter.as_ref() != Some(&actual)
                {
                    // Measured on another adapter (or nothing measured): start afresh.
                    if l.adapter.is_some() {
                        l.entries[i] = Entries::default();
                    }
                    l.adapter = Some(actual);
                    l.version += 1;
                }
                Ok(gpu)
            }
            Err(e) => {
                self.fail(i, e.to_string());
                Err(e.clone())
            }
        }
    }

    fn observe(&self, i: usize, n: u128, chunks: u64, took: Duration) {
        let x = (took.as_secs_f64().max(1e-9) / self.candidates[i].prior.seconds(n, chunks)).ln();
        let save = {
            let Ok(mut l) = self.learner() else { return };
            if l.entries[i].add(Footprint::of(n, chunks), x) {
                l.version += 1;
            }
            l.unsaved += 1;
            self.cache.is_some()
                && match l.saved_at {
                    None => true,
                    Some(t) => l.unsaved % SAVE_CHECK == 0 && t.elapsed() >= SAVE_EVERY,
                }
        };
        if save {
            let _ = self.save();
        }
    }

    /// Runs `request` (planned as `plan`) on the backend chosen for it: the sum, its time (zero
    /// when untimed), the candidate that ran and how it was chosen.
    fn execute(
        &self,
        request: &SumRequest<'_>,
        plan: &ChunkPlan,
        timed: bool,
    ) -> Result<(u128, Duration, usize, Choice)> {
        let (n, chunks) = (plan.range().len(), plan.len());
        let mut fallback: Option<String> = None;
        loop {
            let (d, predicted, basis, record) = self.decide(n.max(1), chunks.max(1))?;
            let c = &self.candidates[d.index];
            let backend = match self.open(d.index) {
                Ok(b) => b,
                Err(e) if self.force.is_none() => {
                    fallback = Some(format!("{} could not be opened ({e})", c.kind));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let cold = !c.warm.load(Ordering::Relaxed) && !c.warm.swap(true, Ordering::Relaxed);
            match request.sum_on(plan, backend, timed || record) {
                Ok((sum, elapsed)) => {
                    // A sum timed anyway that proved long is recorded whatever was predicted.
                    let record = record || elapsed.as_secs_f64() >= SAMPLE_BELOW;
                    if record && n > 0 {
                        self.observe(d.index, n, chunks, elapsed);
                    }
                    let choice = Choice {
                        chosen_by: d.chosen_by,
                        predicted: Some((predicted, basis)),
                        fallback: fallback.map(|f| format!("{f}; run on {} instead", c.kind)),
                        cold,
                    };
                    return Ok((sum, elapsed, d.index, choice));
                }
                Err(e)
                    if c.kind == BackendKind::Gpu
                        && self.force.is_none()
                        && e != Error::Cancelled =>
                {
                    let why = format!(
                        "{} on {} failed ({e}) and is not chosen again",
                        c.kind,
                        backend.info().device
                    );
                    log::warn!("parsum: {why}");
                    self.fail(d.index, e.to_string());
                    fallback = Some(why);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs `request` as [`SumRequest::run`] does, for callers who want only the sum: a short
    /// sum is then timed only now and then.
    pub(crate) fn sum_only(&self, request: &SumRequest<'_>) -> Result<u128> {
        Ok(self.execute(request, &request.plan()?, false)?.0)
    }

    /// The backend Auto would pick for `n` elements in the default chunks (a run may explore
    /// another one instead; its report says so); `None` when none is usable.
    pub fn pick(&self, n: u128) -> Option<BackendKind> {
        let chunks = default_chunks(n);
        let f = Footprint::of(n.max(1), chunks);
        let l = self.learner().ok()?;
        let preds: Vec<Option<Prediction>> = (0..self.candidates.len())
            .map(|i| {
                self.usable(i)
                    .then(|| self.predict(&l, i, n.max(1), chunks, f).0)
            })
            .collect();
        let spent: Vec<f64> = l.spent.iter().map(|s| s[index(f)]).collect();
        let d = policy::decide(&preds, 0.0, &spent)?;
        Some(self.candidates[d.leader].kind)
    }

    /// The backends, to run directly (as `--bench` does): the GPU is opened if it was not yet, and
    /// left out if it cannot be.
    pub fn backends(&self) -> Vec<&dyn Backend> {
        (0..self.candidates.len())
            .filter(|&i| self.usable(i))
            .filter_map(|i| self.open(i).ok())
            .collect()
    }

    /// What the next request of `n` elements in the default chunks would run on, and why.
    pub fn explain(&self, n: u128) -> Explanation {
        self.explain_for(n, default_chunks(n))
    }

    /// What the next request of `n` elements in `chunks` chunks would run on, and why.
    pub fn explain_for(&self, n: u128, chunks: u64) -> Explanation {
        let (n1, c1) = (n.max(1), chunks.max(1));
        let f = Footprint::of(n1, c1);
        let decision = self.decide_quietly(n1, c1, f);
        let Ok(l) = self.learner() else {
            return Explanation {
                elements: n,
                chunks,
                lines: Vec::new(),
                chosen_by: None,
                reason: "forked while in use".into(),
                origin: self.origin.clone(),
            };
        };
        let lines: Vec<Line> = self
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (p, basis) = self.predict(&l, i, n1, c1, f);
                let e = l.entries[i].get(f);
                let (name, device) = match &c.member {
                    Member::Made(b) => (b.info().kernel.to_string(), b.info().device.to_string()),
                    Member::Gpu(cell) => match cell.get() {
                        Some(Ok(g)) => (g.info().kernel.to_string(), g.info().device.to_string()),
                        _ => ("gpu".into(), "the default adapter (not opened yet)".into()),
                    },
                };
                let prior = c.prior.seconds(n1, c1);
                Line {
                    name,
                    device,
                    predicted: Some((secs(p.seconds), basis, p.doubt.exp())),
                    entry: (e.count > 0.0).then(|| {
                        (
                            e.count,
                            secs(prior * e.mean.exp()),
                            e.spread().exp(),
                            e.errors,
                        )
                    }),
                    failed: c.failure.get().cloned(),
                    picked: decision.as_ref().is_ok_and(|d| d.index == i),
                }
            })
            .collect();
        drop(l);
        let (chosen_by, reason) = match decision {
            Ok(d) => (Some(d.chosen_by), self.reason(&lines, &d)),
            Err(e) => (None, e.to_string()),
        };
        Explanation {
            elements: n,
            chunks,
            lines,
            chosen_by,
            reason,
            origin: self.origin.clone(),
        }
    }

    /// The decision for `f` without booking it.
    fn decide_quietly(&self, n: u128, chunks: u64, f: Footprint) -> Result<Decision> {
        let l = self.learner()?;
        let preds: Vec<Option<Prediction>> = (0..self.candidates.len())
            .map(|i| self.usable(i).then(|| self.predict(&l, i, n, chunks, f).0))
            .collect();
        let spent: Vec<f64> = l.spent.iter().map(|s| s[index(f)]).collect();
        let d = policy::decide(&preds, l.places[index(f)].earned, &spent)
            .ok_or_else(|| self.none_usable())?;
        Ok(match self.force {
            Some(_) => Decision {
                index: d.leader,
                chosen_by: ChosenBy::Forced,
                ..d
            },
            None => d,
        })
    }

    fn reason(&self, lines: &[Line], d: &Decision) -> String {
        let kind = |i: usize| self.candidates[i].kind;
        let time = |i: usize| lines[i].predicted.map_or(Duration::ZERO, |p| p.0);
        match d.chosen_by {
            ChosenBy::Forced => format!("PARSUM_BACKEND forces {}", kind(d.index)),
            ChosenBy::Explored => format!(
                "exploring {}: it could be faster here, or its bounded re-check is due; the leader is {}",
                kind(d.index),
                kind(d.leader)
            ),
            ChosenBy::Predicted => {
                let runner_up = (0..lines.len())
                    .filter(|&j| j != d.index && self.usable(j))
                    .min_by_key(|&j| time(j));
                match runner_up {
                    Some(j) => format!(
                        "{} has the lowest predicted time, {:.3?} against {:.3?} for {} ({:.1}x)",
                        kind(d.index),
                        time(d.index),
                        time(j),
                        kind(j),
                        time(j).as_secs_f64() / time(d.index).as_secs_f64().max(1e-12)
                    ),
                    None => format!("{} is the only usable backend", kind(d.index)),
                }
            }
        }
    }
}

impl Runner for Auto {
    type Report = AutoReport;

    fn run(&self, request: &SumRequest<'_>) -> Result<AutoReport> {
        let plan = request.plan()?;
        let (sum, elapsed, i, choice) = self.execute(request, &plan, true)?;
        let info = self.open(i)?.info();
        let report = request.report(&plan, sum, elapsed, info);
        Ok(AutoReport { report, choice })
    }
}

impl Drop for Auto {
    fn drop(&mut self) {
        let touched = self.learner().is_ok_and(|l| {
            l.entries
                .iter()
                .any(|e| e.measured().any(|(_, e)| e.touched))
        });
        if touched {
            let _ = self.save();
        }
    }
}
