//! [`Auto`] and its parts, dependencies pointing down: `options` (how it is built), `model`
//! (priors), `history` (the entries), `policy` (the pure choice), `cache` (the entries on disk),
//! `explain`. This file wires them to real backends and the clock.

mod cache;
mod explain;
mod history;
mod model;
mod options;
mod policy;

use std::borrow::Borrow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use explain::Explanation;
pub use history::Basis;
pub use model::CostModel;
pub use options::AutoOptions;
pub use policy::ChosenBy;

use self::cache::Store;
use self::history::{CHUNKS, Entries, Footprint, SIZES};
use self::model::secs;
use self::policy::{Decision, EXPLORE_RUNS, Prediction, SHARE};
use crate::backend::cpu::{Scalar, Simd};
use crate::backend::gpu::{Gpu, GpuOptions};
use crate::backend::{Backend, BackendKind};
use crate::chunk::{ChunkPlan, default_chunks};
use crate::error::{Error, Result};
use crate::files::shown;
use crate::request::{Runner, SumReport, SumRequest};

/// Sums predicted shorter than this are recorded (and timed, unless the caller wants the time)
/// on the first call at a footprint and then one call in [`SAMPLE_EVERY`]: two clock reads and a
/// record cost as much as such a sum.
const SAMPLE_BELOW: f64 = 20e-6;
const SAMPLE_EVERY: u32 = 8;
/// Saves are at most this far apart (the first comes with the first record, so a one-shot
/// process teaches too), the clock looked at every 64 records.
const SAVE_EVERY: Duration = Duration::from_secs(10);
const SHORT_LOCK_WAIT: Duration = Duration::from_millis(100);

/// What [`Auto`] returns: the [`SumReport`] (also reachable through `Deref`) and how the backend
/// was chosen.
///
/// ```
/// use parsum::{Auto, AutoOptions, SumRequest};
/// let auto = Auto::with_options(AutoOptions::default().cache(None).gpu(false))?;
/// let report = SumRequest::new(0..1_000_000)?.run(&auto)?;
/// assert_eq!(report.sum, 499_999_500_000);
/// println!("{} ({})", report.backend.kind, report.chosen_by.as_str());
/// # Ok::<(), parsum::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AutoReport {
    /// The sum and the backend that ran it.
    pub report: SumReport,
    /// Why this backend ran.
    pub chosen_by: ChosenBy,
    /// Its predicted time, and what the prediction rests on.
    pub predicted: (Duration, Basis),
    /// When the first choice (a GPU) failed or could not be opened: what happened, and where the
    /// sum ran instead.
    pub fallback: Option<String>,
    /// This was the backend's first sum in this [`Auto`] (its time is a sample all the same).
    pub cold: bool,
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
    /// What put it out for good, once something has.
    failure: OnceLock<Error>,
    warm: AtomicBool,
}

/// A known footprint's choice, valid while the history's version stands.
#[derive(Clone, Copy)]
struct Memo {
    version: u64,
    decision: Decision,
    seconds: f64,
    basis: Basis,
    samples: f64,
}

#[derive(Clone, Default)]
struct Place {
    /// Re-check credit earned here, and spent by each candidate (see `policy`).
    earned: f64,
    spent: Vec<f64>,
    memo: Option<Memo>,
    calls: u32,
}

struct Learner {
    entries: Vec<Entries>,
    places: Vec<Place>,
    /// Bumped whenever a prediction may have moved: memos older than it are stale.
    version: u64,
    /// How far predictions moved (centre plus doubt, ln scale) since the last bump.
    drift: f64,
    records: u32,
    saved_at: Option<Instant>,
    /// How long a save waits for another process's: after one waited in vain (a process stuck
    /// holding the lock), [`SHORT_LOCK_WAIT`] — still a hundred saves' time — until a save works.
    lock_wait: Duration,
    /// Where the history came from (see [`Auto::history`]).
    origin: String,
}

type Predictions = Vec<Option<Prediction>>;

/// The adapter a GPU candidate opens, as `--explain` names it before (or without) opening it
/// (quoted and escaped: the name is the environment's, and may hold control characters).
fn wanted_adapter() -> String {
    match crate::env::var("WGPU_ADAPTER_NAME") {
        Ok(Some(name)) if !name.trim().is_empty() => format!("the adapter named {name:?}"),
        Ok(_) => "the default adapter".into(),
        Err(e) => e.to_string(),
    }
}

/// Runs each request on the backend fastest for its size and chunk count on this machine, and
/// learns from the sums it runs: the one place in parsum where timings are learnt.
///
/// A request's footprint (size class, chunk class) is looked up; each backend's prediction is its
/// entry there, else one interpolated from nearby entries, else its prior. The fastest runs,
/// except for bounded exploration and re-checks (`docs/selection.md` states the bounds), and its
/// time becomes a sample. The GPU is opened only once a request goes to it; if it fails, the
/// request runs again on the CPU and the GPU is not chosen again. The history is kept in the
/// cache directory, merged entry by entry with other processes'.
///
/// ```
/// use parsum::{Auto, AutoOptions, Scalar, SumRequest};
/// let auto = Auto::with_options(AutoOptions::default().cache(None).gpu(false))?;
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
    /// The process that made it: checked where a fork could hurt.
    pid: u32,
}

impl std::fmt::Debug for Auto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<BackendKind> = self.candidates.iter().map(|c| c.kind).collect();
        f.debug_struct("Auto")
            .field("candidates", &kinds)
            .finish_non_exhaustive()
    }
}

impl Auto {
    /// Scalar, simd and the GPU, the environment honoured (`PARSUM_BACKEND`,
    /// `RAYON_NUM_THREADS`, wgpu's variables), the history kept in the user's cache directory.
    pub fn new() -> Result<Self> {
        Self::with_options(AutoOptions::from_env()?)
    }

    /// The [`Auto`] behind [`crate::sum`], made on first use and never dropped.
    pub fn global() -> Result<&'static Auto> {
        static GLOBAL: OnceLock<Result<Auto>> = OnceLock::new();
        if GLOBAL.get().is_none() {
            // Made outside the cell, so a fork while it is being made leaves no lock behind.
            let _ = GLOBAL.set(Auto::new());
        }
        GLOBAL
            .get()
            .expect("set above")
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Scalar, simd and (with `options.gpu`) the GPU wgpu's variables point at — only those of
    /// the forced kind when `options.force` is set.
    pub fn with_options(options: AutoOptions) -> Result<Self> {
        let wanted = |k| options.force.is_none_or(|f| f == k);
        let mut members = Vec::new();
        let mut made = |b: Box<dyn Backend>| {
            let i = b.info();
            let id = format!("{}|{}|{}|{}", i.kind, i.kernel, i.device, i.threads);
            members.push((id, CostModel::builtin(i.kind, i.threads), Member::Made(b)));
        };
        if wanted(BackendKind::Scalar) {
            made(Box::<Scalar>::default());
        }
        if wanted(BackendKind::Simd) {
            made(Box::<Simd>::default());
        }
        if options.gpu && wanted(BackendKind::Gpu) {
            // The adapter wgpu's variables select, known before wgpu is touched, keyed by the
            // CPU model too: machines of different CPUs may share a home directory.
            let mut id = format!("gpu|default|{}", crate::backend::cpu::cpu_name());
            for k in ["WGPU_ADAPTER_NAME", "WGPU_BACKEND", "WGPU_POWER_PREF"] {
                if let Ok(Some(v)) = crate::env::var(k) {
                    id += &format!("|{k}={v}");
                }
            }
            members.push((
                id,
                CostModel::builtin(BackendKind::Gpu, 1),
                Member::Gpu(Box::default()),
            ));
        }
        let cache = options.cache.map(|d| d.join(cache::FILE));
        let (store, origin) = match &cache {
            None => (Store::new(), "off".to_string()),
            Some(path) => match cache::load(path) {
                // A missing file reads as an empty history; it is not one read.
                Ok(store) if store.is_empty() && std::fs::symlink_metadata(path).is_err() => {
                    (store, format!("none yet at {}", shown(path)))
                }
                Ok(store) => (store, format!("read from {}", shown(path))),
                Err(why) => (Store::new(), why),
            },
        };
        let auto = Self::build(members, options.force, cache, origin);
        auto.adopt(&store, false);
        Ok(auto)
    }

    /// These backends with the caller's cost models as priors, and no cache. What Auto measures
    /// replaces the models as it runs (`docs/selection.md` says how fast).
    pub fn with_models(
        backends: Vec<(Box<dyn Backend>, CostModel)>,
        force: Option<BackendKind>,
    ) -> Self {
        let members = backends
            .into_iter()
            .enumerate()
            .map(|(i, (b, prior))| (format!("model {i}"), prior, Member::Made(b)))
            .collect();
        Self::build(members, force, None, "given as priors".into())
    }

    fn build(
        members: Vec<(String, CostModel, Member)>,
        force: Option<BackendKind>,
        cache: Option<PathBuf>,
        origin: String,
    ) -> Self {
        let count = members.len();
        let candidates = members
            .into_iter()
            .map(|(identity, prior, member)| Candidate {
                kind: match &member {
                    Member::Made(b) => b.info().kind,
                    Member::Gpu(_) => BackendKind::Gpu,
                },
                identity,
                prior,
                member,
                failure: OnceLock::new(),
                warm: AtomicBool::new(false),
            })
            .collect();
        Self {
            candidates,
            force,
            learner: Mutex::new(Learner {
                entries: vec![Entries::default(); count],
                places: vec![Place::default(); SIZES * CHUNKS],
                version: 0,
                records: 0,
                saved_at: None,
                drift: 0.0,
                lock_wait: crate::files::LOCK_WAIT,
                origin,
            }),
            cache,
            pid: std::process::id(),
        }
    }

    /// The learner's state. A lock that is not free is waited for — unless this process was
    /// forked while another thread held it: then it will never come free.
    fn learner(&self) -> Result<MutexGuard<'_, Learner>> {
        match self.learner.try_lock() {
            Ok(l) => Ok(l),
            Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
            Err(TryLockError::WouldBlock) if std::process::id() != self.pid => Err(Error::Unavailable(
                "this Auto was in use by another thread when the process was forked: make a new one".into(),
            )),
            Err(TryLockError::WouldBlock) => Ok(self.learner.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }

    /// Takes `store`'s entries for this Auto's backends, but for those changed here since it was
    /// read (with `keep_touched`).
    fn adopt(&self, store: &Store, keep_touched: bool) {
        let Ok(mut l) = self.learner() else { return };
        for (i, c) in self.candidates.iter().enumerate() {
            for (&f, &e) in store.get(&c.identity).into_iter().flatten() {
                if !(keep_touched && l.entries[i].get(f).touched) {
                    l.entries[i].set(f, e);
                }
            }
        }
        l.version += 1;
    }

    /// Writes the history into the cache file, merged entry by entry with what is there (where
    /// another process's entries are newer, they are kept, and taken here); when nothing was learnt
    /// since the last save, nothing is written or read, and the path comes back as it is. `None`
    /// without a cache.
    pub fn save(&self) -> Option<std::io::Result<PathBuf>> {
        let path = self.cache.clone()?;
        let (ours, wait): (Store, Duration) = {
            let Ok(mut l) = self.learner() else {
                return Some(Err(std::io::Error::other("forked while in use")));
            };
            if !l.entries.iter().any(|e| e.iter().any(|(_, e)| e.touched)) {
                return Some(Ok(path));
            }
            l.saved_at = Some(Instant::now());
            let ours = (self.candidates.iter().zip(&l.entries))
                .map(|(c, e)| {
                    (
                        c.identity.clone(),
                        e.iter().map(|(f, e)| (*f, *e)).collect(),
                    )
                })
                .collect();
            l.entries.iter_mut().for_each(Entries::untouch);
            (ours, l.lock_wait)
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match cache::save(&path, &ours, now, wait) {
            Ok(merged) => {
                if let Ok(mut l) = self.learner() {
                    l.lock_wait = crate::files::LOCK_WAIT;
                    // A file that was not taken has now been replaced, and merged with.
                    l.origin = format!("read from {}", shown(&path));
                }
                self.adopt(&merged, true);
                Some(Ok(path))
            }
            Err(e) => {
                // Nothing was written: what was to be saved waits for the next save.
                if let Ok(mut l) = self.learner() {
                    if e.kind() == std::io::ErrorKind::WouldBlock {
                        l.lock_wait = SHORT_LOCK_WAIT;
                    }
                    for (c, entries) in self.candidates.iter().zip(l.entries.iter_mut()) {
                        let ours = ours.get(&c.identity).into_iter().flatten();
                        ours.filter(|(_, e)| e.touched)
                            .for_each(|(&f, _)| entries.touch(f));
                    }
                }
                Some(Err(e))
            }
        }
    }

    /// Where the history came from: `read from <path>`, `none yet at <path>`, `off` (no cache),
    /// `given as priors` ([`Auto::with_models`]), or why the file was not taken (a file of
    /// another version, or not a history, is replaced at the next save). Once a save has merged
    /// with the file, `read from <path>`.
    ///
    /// ```
    /// use parsum::{Auto, AutoOptions};
    /// let auto = Auto::with_options(AutoOptions::default().cache(None).gpu(false))?;
    /// assert_eq!(auto.history(), "off");
    /// # Ok::<(), parsum::Error>(())
    /// ```
    pub fn history(&self) -> String {
        self.learner()
            .map_or_else(|e| e.to_string(), |l| l.origin.clone())
    }

    fn usable(&self, i: usize) -> bool {
        let c = &self.candidates[i];
        c.failure.get().is_none() && self.force.is_none_or(|k| k == c.kind)
    }

    /// Every usable candidate's prediction for `n` elements in `chunks` chunks, and the choice.
    /// This Auto's first request at a footprint is predicted as it will run: a backend not run yet
    /// by its cold entries (so a one-shot process chooses for a one-shot run); every later one as
    /// the process goes on, by warm entries (so a backend slow only cold is not kept out). An
    /// empty request teaches nothing (it is never recorded), so it explores nothing: the leader
    /// runs it.
    fn choose(&self, l: &Learner, elements: u128, chunks: u64) -> Result<(Decision, Predictions)> {
        let (n, chunks) = (elements.max(1), chunks.max(1));
        let f = Footprint::of(n, chunks);
        let place = &l.places[f.index()];
        let first = place.calls <= 1;
        let predictions: Predictions = (0..self.candidates.len())
            .map(|i| {
                let c = &self.candidates[i];
                let e = l.entries[i].estimate(f.cold(first && !c.warm.load(Ordering::Relaxed)));
                self.usable(i).then(|| Prediction {
                    seconds: c.prior.seconds(n, chunks) * e.ln_ratio.exp(),
                    doubt: e.doubt,
                    samples: e.samples,
                    basis: e.basis,
                    spent: place.spent.get(i).copied().unwrap_or(0.0),
                })
            })
            .collect();
        let mut d = policy::decide(&predictions, place.earned).ok_or_else(|| self.none_usable())?;
        if elements == 0 {
            (d.index, d.chosen_by, d.price) = (d.leader, ChosenBy::Predicted, 0.0);
        }
        if self.force.is_some() {
            d.chosen_by = ChosenBy::Forced;
        }
        Ok((d, predictions))
    }

    /// The choice for `n` elements in `chunks` chunks — a lookup for a known footprint — booked:
    /// with its prediction, and whether to record its time.
    fn decide(&self, n: u128, chunks: u64) -> Result<(Decision, Duration, Basis, bool)> {
        let mut l = self.learner()?;
        if n == 0 {
            // Nothing is booked: an empty request's choice must not stand in for its footprint's.
            let (d, predictions) = self.choose(&l, n, chunks)?;
            let p = predictions[d.index].expect("usable");
            return Ok((d, secs(p.seconds), p.basis, false));
        }
        let f = Footprint::of(n, chunks);
        let version = l.version;
        let place = &mut l.places[f.index()];
        place.calls = place.calls.wrapping_add(1);
        // Memos never hold an exploration, so one rule serves both paths.
        let sample = place.calls % SAMPLE_EVERY == 1;
        let record = |d: &Decision, seconds, samples| {
            sample
                || seconds >= SAMPLE_BELOW
                || samples < EXPLORE_RUNS
                || d.chosen_by == ChosenBy::Explored
        };
        let memo = place
            .memo
            .filter(|m| m.version == version && self.usable(m.decision.index));
        if let Some(m) = memo.filter(|m| place.earned + SHARE * m.seconds < m.decision.due) {
            place.earned += SHARE * m.seconds;
            let record = record(&m.decision, m.seconds, m.samples);
            return Ok((m.decision, secs(m.seconds), m.basis, record));
        }
        let (d, predictions) = self.choose(&l, n, chunks)?;
        let (lead, p) = (
            predictions[d.leader].expect("usable"),
            predictions[d.index].expect("usable"),
        );
        let basis = p.basis;
        let place = &mut l.places[f.index()];
        place.earned += SHARE * lead.seconds;
        place.memo = (d.chosen_by != ChosenBy::Explored && place.calls > 1).then_some(Memo {
            version,
            decision: d,
            seconds: p.seconds,
            basis,
            samples: p.samples,
        });
        if d.price > 0.0 {
            let spent = &mut l.places[f.index()].spent;
            spent.resize(self.candidates.len(), 0.0);
            spent[d.index] += d.price;
        }
        Ok((d, secs(p.seconds), basis, record(&d, p.seconds, p.samples)))
    }

    fn none_usable(&self) -> Error {
        // Forced: that kind's own error, as its first request had it.
        let forced = self
            .candidates
            .iter()
            .filter(|c| Some(c.kind) == self.force);
        if let Some(f) = forced.filter_map(|c| c.failure.get()).next() {
            return f.clone();
        }
        let why: Vec<String> = (self.candidates.iter())
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

    /// Puts candidate `i` out for good.
    fn fail(&self, i: usize, why: Error) {
        let _ = self.candidates[i].failure.set(why);
        if let Ok(mut l) = self.learner() {
            l.version += 1;
        }
    }

    /// Takes back the call count (not the credit) [`Auto::decide`] booked for a request that ran
    /// on nothing (its GPU failed): the request runs again, and is still the first at its
    /// footprint where it was.
    fn ran_nothing(&self, n: u128, chunks: u64) {
        if let (true, Ok(mut l)) = (n > 0, self.learner()) {
            let place = &mut l.places[Footprint::of(n, chunks).index()];
            place.calls = place.calls.wrapping_sub(1);
        }
    }

    /// Candidate `i`'s backend, opening the GPU on first use (never in a forked child: its device,
    /// or the opening of it, belongs to the parent).
    fn open(&self, i: usize) -> Result<&dyn Backend> {
        let cell = match &self.candidates[i].member {
            Member::Made(b) => return Ok(b.as_ref()),
            Member::Gpu(cell) => cell,
        };
        let opened = if std::process::id() != self.pid {
            Err(Error::GpuUnavailable(
                "this Auto was made before the process was forked".into(),
            ))
        } else {
            cell.get_or_init(|| Gpu::with_options(GpuOptions::default()))
                .as_ref()
                .map_err(Clone::clone)
        };
        opened
            .map(|g| g as &dyn Backend)
            .inspect_err(|e| self.fail(i, e.clone()))
    }

    fn observe(&self, i: usize, n: u128, chunks: u64, took: Duration, cold: bool) {
        let x = (took.as_secs_f64().max(1e-9) / self.candidates[i].prior.seconds(n, chunks)).ln();
        let save = {
            let Ok(mut l) = self.learner() else { return };
            // Choices are memoised while no prediction they rest on moves: memos are dropped
            // after a cold run (it also caps warm predictions), while an entry has at most 3
            // samples (new, reset or being explored), and once records have moved predictions
            // (centre plus doubt) by 1 % in all since the last drop.
            let (f, entries) = (Footprint::of(n, chunks).cold(cold), &mut l.entries[i]);
            let before = entries.estimate(f);
            entries.add(f, x);
            let after = entries.estimate(f);
            l.drift +=
                (after.ln_ratio - before.ln_ratio).abs() + (after.doubt - before.doubt).abs();
            if cold || after.samples <= EXPLORE_RUNS || l.drift > 0.01 {
                l.version += 1;
                l.drift = 0.0;
            }
            l.records = l.records.wrapping_add(1);
            let due = |t: Instant| l.records.is_multiple_of(64) && t.elapsed() >= SAVE_EVERY;
            self.cache.is_some() && l.saved_at.is_none_or(due)
        };
        if save {
            let _ = self.save();
        }
    }

    /// Runs `request` (planned as `plan`) on the backend chosen for it; its time is zero unless
    /// `timed`, recorded or the backend's first run.
    fn execute(
        &self,
        request: &SumRequest<'_>,
        plan: &ChunkPlan,
        timed: bool,
    ) -> Result<AutoReport> {
        let (n, chunks) = (plan.range().len(), plan.len());
        let mut fallback: Option<String> = None;
        loop {
            let (d, predicted, basis, record) = self.decide(n, chunks)?;
            let c = &self.candidates[d.index];
            let backend = match self.open(d.index) {
                Ok(b) => b,
                Err(e) if self.force.is_none() => {
                    fallback = Some(format!("{} could not be opened ({e})", c.kind));
                    self.ran_nothing(n, chunks);
                    continue;
                }
                Err(e) => return Err(e),
            };
            // An empty sum is never recorded, so it leaves the backend's first run to come.
            let cold =
                n > 0 && !c.warm.load(Ordering::Relaxed) && !c.warm.swap(true, Ordering::Relaxed);
            match request.sum_on(plan, backend, timed || record || cold) {
                Ok((sum, elapsed)) => {
                    // A sum timed anyway that proved long is recorded, whatever was predicted.
                    if n > 0 && (record || cold || elapsed.as_secs_f64() >= SAMPLE_BELOW) {
                        self.observe(d.index, n, chunks, elapsed, cold);
                    }
                    let fallback = fallback.map(|f| format!("{f}; run on {} instead", c.kind));
                    return Ok(AutoReport {
                        report: request.report(plan, sum, elapsed, backend.info()),
                        chosen_by: d.chosen_by,
                        predicted: (predicted, basis),
                        fallback,
                        cold,
                    });
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
                    // Out for good: later requests get "unavailable", not this sum's error.
                    // Still a GPU error (Python's explicit requests then open no second device).
                    let out = format!("it failed a sum ({e}), and this Auto no longer uses it");
                    self.fail(d.index, Error::GpuUnavailable(out));
                    self.ran_nothing(n, chunks);
                    fallback = Some(why);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs `request` and returns only its sum: a short sum is then timed only when its time is
    /// recorded (see [`crate::sum`], which calls this).
    ///
    /// ```
    /// use parsum::{Auto, AutoOptions, SumRequest};
    /// let auto = Auto::with_options(AutoOptions::default().cache(None).gpu(false))?;
    /// assert_eq!(auto.sum(&SumRequest::new(1..=1000)?)?, 500_500);
    /// # Ok::<(), parsum::Error>(())
    /// ```
    pub fn sum(&self, request: &SumRequest<'_>) -> Result<u128> {
        Ok(self.execute(request, &request.plan()?, false)?.report.sum)
    }

    /// The backend Auto would pick for `n` elements in the default chunks (a run may explore
    /// another one instead; its report says so); `None` when none is usable.
    pub fn pick(&self, n: u128) -> Option<BackendKind> {
        let (d, _) = self
            .choose(&*self.learner().ok()?, n, default_chunks(n))
            .ok()?;
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

    /// The (first) member of kind `kind`, to run directly (sharing its threads and device): the
    /// GPU is opened if it was not yet. A GPU that failed to open or failed a sum is out of this
    /// `Auto` for good, and this says why.
    ///
    /// ```
    /// use parsum::{Auto, AutoOptions, BackendKind, SumRequest};
    /// let auto = Auto::with_options(AutoOptions::default().cache(None).gpu(false))?;
    /// let simd = auto.backend(BackendKind::Simd)?;
    /// assert_eq!(SumRequest::new(1..=10)?.run(simd)?.sum, 55);
    /// assert!(auto.backend(BackendKind::Gpu).is_err());
    /// # Ok::<(), parsum::Error>(())
    /// ```
    pub fn backend(&self, kind: BackendKind) -> Result<&dyn Backend> {
        let i = (self.candidates.iter().position(|c| c.kind == kind))
            .ok_or_else(|| Error::Unavailable(format!("this Auto has no {kind} backend")))?;
        match self.candidates[i].failure.get() {
            Some(why) => Err(why.clone()),
            None => self.open(i),
        }
    }

    /// What the next request of `n` elements in the default chunks would run on, and why.
    pub fn explain(&self, n: u128) -> Explanation {
        self.explain_for(n, default_chunks(n))
    }

    /// What the next request of `n` elements in `chunks` chunks would run on, and why (in as
    /// many chunks as its plan has: at most one per element).
    pub fn explain_for(&self, n: u128, chunks: u64) -> Explanation {
        let chunks = u128::from(chunks).min(n) as u64;
        let (n1, c1) = (n.max(1), chunks.max(1));
        let f = Footprint::of(n1, c1);
        let forked = "forked while in use".to_string();
        let (mut lines, mut decision, mut origin) = (Vec::new(), Err(forked.clone()), forked);
        if let Ok(l) = self.learner() {
            origin.clone_from(&l.origin);
            let (d, predictions) = match self.choose(&l, n, chunks) {
                Ok((d, p)) => (Ok((d.index, d.leader, d.chosen_by)), p),
                Err(err) => (Err(err.to_string()), vec![None; self.candidates.len()]),
            };
            decision = d;
            for (i, c) in self.candidates.iter().enumerate() {
                let info = match &c.member {
                    Member::Made(b) => Some(b.info()),
                    Member::Gpu(cell) => cell.get().and_then(|g| g.as_ref().ok()).map(|g| g.info()),
                };
                let (kernel, device) = match info {
                    Some(i) => (i.kernel.to_string(), i.device.to_string()),
                    None if c.failure.get().is_some() => ("gpu".into(), wanted_adapter()),
                    None => (
                        "gpu".into(),
                        format!("{} (not opened yet)", wanted_adapter()),
                    ),
                };
                let cold = !c.warm.load(Ordering::Relaxed);
                let e = l.entries[i].get(f.cold(cold));
                let centre = secs(c.prior.seconds(n1, c1) * e.mean.exp());
                lines.push(explain::Line {
                    kind: c.kind,
                    kernel,
                    device,
                    predicted: predictions[i].map(|p| (secs(p.seconds), p.basis, p.doubt.exp())),
                    entry: (e.count > 0.0)
                        .then(|| (e.count, centre, e.spread().exp(), e.errors, cold)),
                    failed: c.failure.get().map(Error::to_string),
                });
            }
        }
        Explanation {
            elements: n,
            chunks,
            origin,
            lines,
            decision,
        }
    }
}

impl Runner for Auto {
    type Report = AutoReport;

    fn run(&self, request: &SumRequest<'_>) -> Result<AutoReport> {
        self.execute(request, &request.plan()?, true)
    }
}

impl Drop for Auto {
    fn drop(&mut self) {
        let _ = self.save();
    }
}

#[cfg(test)]
mod tests;
