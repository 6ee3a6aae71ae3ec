//! What [`crate::Auto`] has seen: for each backend, its run times per size bucket, with robust
//! statistics, and its cost per chunk. Plain data: no clock, no threads, no files.
//!
//! A bucket is a half-octave of element counts (`[2^e, 1.5·2^e)` and `[1.5·2^e, 2^(e+1))`). Its
//! statistics are over ln(seconds), the scale on which run-time noise is symmetric:
//! - **count, centre, spread**: a running mean and variance of ln t, whose weight is capped at
//!   [`CAP`] so that the newest runs always count at least 1/32 (a machine that changes is
//!   followed);
//! - **gross outliers** (slower or faster than the centre by more than both ±50 % and three
//!   spreads, e.g. a run that shared its cores) are kept out of the centre and counted apart;
//! - **reset**: over the last ~8 runs, runs more than 50 % slower (or faster) than the centre are
//!   counted against the others; when the slow (or fast) ones dominate — at least 3, and 1.5× all
//!   the rest — the bucket starts again from their mean, as StarPU's history models reset a
//!   bucket whose errors outnumber its samples (one-sided, so that noise in both directions
//!   does not add up to a reset);
//! - **robust start**: until a bucket holds [`TRUSTED`] runs, a run more than 2.5× slower than the
//!   rest counts as an outlier, and one more than 2.5× faster restarts the bucket (the earlier
//!   runs were the outliers): run-time noise is one-sided.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Size buckets: half-octaves of 1..=2^64.
pub const CLASSES: usize = 129;
/// Most weight a bucket's mean carries: older runs fade once it is reached.
pub const CAP: f64 = 32.0;
/// Runs after which a bucket's centre is trusted.
pub const TRUSTED: f64 = 3.0;
/// Spread assumed for a bucket with fewer than two runs (ln scale: ±35 %).
pub const DEFAULT_SPREAD: f64 = 0.3;
/// Smallest spread assumed, however alike the runs were.
const SPREAD_FLOOR: f64 = 0.02;
/// ln(1.5): the ±50 % band of the reset rule.
const BAND: f64 = 0.405_465_108_108_164_4;
/// ln(2.5): how far off an early run must be to be set aside.
const EARLY_OUTLIER: f64 = 0.916_290_731_874_155;
/// Runs remembered by the reset rule's counts.
const WINDOW: f64 = 8.0;

/// The size bucket of `n` elements.
pub fn size_class(n: u128) -> usize {
    if n <= 1 {
        return 0;
    }
    let e = 127 - n.leading_zeros() as usize;
    let upper_half = e > 0 && (n >> (e - 1)) & 1 == 1;
    (2 * e + usize::from(upper_half)).min(CLASSES - 1)
}

/// Chunk-count classes: 0 for up to [`FEW_CHUNKS`] chunks (every default plan), then one per
/// factor of four.
pub const CHUNK_CLASSES: usize = 30;
/// See [`CHUNK_CLASSES`].
pub const FEW_CHUNKS: u64 = 128;

/// The chunk-count class of `chunks`.
pub fn chunk_class(chunks: u64) -> usize {
    if chunks <= FEW_CHUNKS {
        return 0;
    }
    let e = 63 - chunks.leading_zeros() as usize;
    (1 + (e - 7) / 2).min(CHUNK_CLASSES - 1)
}

/// The element counts of bucket `class`: `lo..=hi`.
pub fn class_bounds(class: usize) -> (u128, u128) {
    let e = class / 2;
    let base = 1u128 << e;
    match (class % 2, e) {
        (_, 0) => (1, 1),
        (0, _) => (base, base + (base >> 1) - 1),
        _ => (base + (base >> 1), (base << 1) - 1),
    }
}

/// Statistics of one bucket (or of the per-chunk cost), over ln(seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Runs in the centre (capped at [`CAP`]).
    pub weight: f64,
    /// Mean of ln(seconds) over them.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    /// Mean ln(elements) of the runs: where the bucket sits on the size axis.
    pub ln_n: f64,
    /// Mean ln(chunks) of the runs (for size buckets, whose times include their chunks).
    #[serde(default)]
    pub ln_c: f64,
    /// Gross outliers, fading like the weight.
    pub gross: f64,
    /// Their mean ln(time ÷ centre).
    pub gross_ln: f64,
    /// Recent runs within ±50 % of the centre.
    pub near: f64,
    /// Recent runs over 50 % slower.
    pub slow: f64,
    /// Their mean ln(time ÷ centre).
    pub slow_ln: f64,
    /// Recent runs over 50 % faster.
    pub fast: f64,
    /// Their mean ln(time ÷ centre).
    pub fast_ln: f64,
    /// ln(seconds) of the first two runs, kept until the third so that the median of three can
    /// set the start.
    #[serde(default)]
    pub early: [f64; 2],
    /// The start has been settled by the median of three: later runs are judged by the centre
    /// alone (settling again would drop the same early run at every third run).
    #[serde(default)]
    pub settled: bool,
}

/// What [`Stats::add`] did with a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Averaged into the centre.
    Inlier,
    /// Counted apart.
    Outlier,
    /// The bucket started again from this run.
    Reset,
}

impl Stats {
    fn first(ln_t: f64, ln_n: f64, ln_c: f64) -> Self {
        Self {
            weight: 1.0,
            mean: ln_t,
            ln_n,
            ln_c,
            early: [ln_t, 0.0],
            near: 1.0,
            ..Self::default()
        }
    }

    /// True when the bucket holds at least one run.
    pub fn is_observed(&self) -> bool {
        self.weight > 0.0
    }

    /// Spread of ln t (a standard deviation; [`DEFAULT_SPREAD`] before two runs).
    pub fn spread(&self) -> f64 {
        if self.weight >= 2.0 {
            (self.m2 / (self.weight - 1.0))
                .max(0.0)
                .sqrt()
                .max(SPREAD_FLOOR)
        } else {
            DEFAULT_SPREAD
        }
    }

    /// Typical time of one run, in seconds (the geometric mean of the inliers).
    pub fn centre(&self) -> f64 {
        self.mean.exp()
    }

    /// Expected time of one run: the lognormal mean e^(μ+σ²/2) of the runs in the centre, so
    /// that of two buckets with the same centre the one that spreads more costs more. Gross
    /// outliers stay out: at a few per hundred runs, a bucket's count of them says more about
    /// luck than about the backend.
    pub fn expected(&self) -> f64 {
        self.expected_ln().exp()
    }

    /// ln of [`Stats::expected`], without the exp and ln of going through it.
    pub fn expected_ln(&self) -> f64 {
        let s = self.spread();
        self.mean + s * s / 2.0
    }

    /// Adds one run of `seconds` over `elements`.
    pub fn add(&mut self, seconds: f64, elements: f64) -> Added {
        self.add_with(seconds, elements, 1.0)
    }

    /// Adds one run of `seconds` over `elements` in `chunks` chunks.
    pub fn add_with(&mut self, seconds: f64, elements: f64, chunks: f64) -> Added {
        let (x, y) = (seconds.max(1e-12).ln(), elements.max(1.0).ln());
        let z = chunks.max(1.0).ln();
        if !self.is_observed() {
            *self = Self::first(x, y, z);
            return Added::Inlier;
        }
        let dev = x - self.mean;
        let far = dev.abs() > BAND;
        let keep = 1.0 - 1.0 / WINDOW;
        self.near *= keep;
        self.slow *= keep;
        self.fast *= keep;
        if dev > BAND {
            self.slow_ln = (self.slow_ln * self.slow + dev) / (self.slow + 1.0);
            self.slow += 1.0;
        } else if dev < -BAND {
            self.fast_ln = (self.fast_ln * self.fast + dev) / (self.fast + 1.0);
            self.fast += 1.0;
        } else {
            self.near += 1.0;
        }
        if self.weight < TRUSTED {
            if dev < -EARLY_OUTLIER {
                *self = Self::first(x, y, z);
                return Added::Reset;
            }
            if dev > EARLY_OUTLIER {
                self.note_gross(dev);
                return Added::Outlier;
            }
        } else {
            for (side, side_ln, rest) in [
                (self.slow, self.slow_ln, self.near + self.fast),
                (self.fast, self.fast_ln, self.near + self.slow),
            ] {
                if side >= 3.0 && side >= 1.5 * rest {
                    *self = Self::first(self.mean + side_ln, y, z);
                    return Added::Reset;
                }
            }
            if far && dev.abs() > 3.0 * self.spread() {
                self.note_gross(dev);
                return Added::Outlier;
            }
        }
        if self.weight > CAP - 1.0 {
            let f = (CAP - 1.0) / self.weight;
            self.weight *= f;
            self.m2 *= f;
        }
        self.gross *= 1.0 - 1.0 / CAP;
        let w = self.weight + 1.0;
        self.mean += dev / w;
        self.m2 += dev * (x - self.mean);
        self.ln_n += (y - self.ln_n) / w;
        self.ln_c += (z - self.ln_c) / w;
        self.weight = w;
        if w == 2.0 {
            self.early[1] = x;
        } else if w == TRUSTED && !self.settled {
            return self.settle_start(x);
        }
        Added::Inlier
    }

    /// At the third run: the median of the first three sets the centre, and a run more than
    /// ±50 % off it becomes an outlier after all.
    fn settle_start(&mut self, third: f64) -> Added {
        self.settled = true;
        let mut runs = [self.early[0], self.early[1], third];
        runs.sort_by(f64::total_cmp);
        let median = runs[1];
        let kept: Vec<f64> = runs
            .into_iter()
            .filter(|x| (x - median).abs() <= BAND)
            .collect();
        if kept.len() == 3 {
            return Added::Inlier;
        }
        for x in runs.iter().filter(|x| (*x - median).abs() > BAND) {
            self.note_gross(x - median);
        }
        let k = kept.len() as f64;
        let mean = kept.iter().sum::<f64>() / k;
        self.m2 = kept.iter().map(|x| (x - mean) * (x - mean)).sum();
        self.mean = mean;
        self.weight = k;
        Added::Inlier
    }

    fn note_gross(&mut self, dev: f64) {
        self.gross_ln = (self.gross_ln * self.gross + dev) / (self.gross + 1.0);
        self.gross = (self.gross + 1.0).min(CAP);
    }

    /// The statistics of both sets of runs together (capped like one bucket).
    pub fn merge(&self, other: &Stats) -> Stats {
        if !other.is_observed() {
            return *self;
        }
        if !self.is_observed() {
            return *other;
        }
        let (a, b) = (self, other);
        let w = a.weight + b.weight;
        let d = b.mean - a.mean;
        let mut m = Stats {
            weight: w,
            mean: a.mean + d * b.weight / w,
            m2: a.m2 + b.m2 + d * d * a.weight * b.weight / w,
            ln_n: (a.ln_n * a.weight + b.ln_n * b.weight) / w,
            ln_c: (a.ln_c * a.weight + b.ln_c * b.weight) / w,
            gross: a.gross + b.gross,
            gross_ln: if a.gross + b.gross > 0.0 {
                (a.gross_ln * a.gross + b.gross_ln * b.gross) / (a.gross + b.gross)
            } else {
                0.0
            },
            near: (a.near + b.near).min(WINDOW),
            slow: (a.slow + b.slow).min(WINDOW),
            slow_ln: if a.slow + b.slow > 0.0 {
                (a.slow_ln * a.slow + b.slow_ln * b.slow) / (a.slow + b.slow)
            } else {
                0.0
            },
            fast: (a.fast + b.fast).min(WINDOW),
            fast_ln: if a.fast + b.fast > 0.0 {
                (a.fast_ln * a.fast + b.fast_ln * b.fast) / (a.fast + b.fast)
            } else {
                0.0
            },
            // Two starts pooled below three runs keep both first runs for the median; three or
            // more pooled runs are a start already.
            early: if w < TRUSTED {
                [a.early[0], b.early[0]]
            } else {
                a.early
            },
            settled: w >= TRUSTED || a.settled || b.settled,
        };
        if m.weight > CAP {
            let f = CAP / m.weight;
            m.weight = CAP;
            m.m2 *= f;
        }
        m.gross = m.gross.min(CAP);
        m
    }

    /// True when every field is finite and plausible (times from 1 ps to ~30 years, spreads
    /// below e^5, counts within their caps): what a cache file must hold to be believed.
    pub fn is_sane(&self) -> bool {
        let fields = [
            self.weight,
            self.mean,
            self.m2,
            self.ln_n,
            self.ln_c,
            self.gross,
            self.gross_ln,
            self.near,
            self.slow,
            self.slow_ln,
            self.fast,
            self.fast_ln,
            self.early[0],
            self.early[1],
        ];
        fields.iter().all(|f| f.is_finite())
            && self.weight > 0.0
            && self.weight <= CAP
            && (-27.7..=20.8).contains(&self.mean)
            && self.m2 >= 0.0
            && self.m2 <= 25.0 * self.weight
            && (0.0..=45.0).contains(&self.ln_n)
            && (0.0..=45.0).contains(&self.ln_c)
            && (0.0..=CAP).contains(&self.gross)
            && (-30.0..=30.0).contains(&self.gross_ln)
            && [self.near, self.slow, self.fast]
                .iter()
                .all(|c| (0.0..=WINDOW).contains(c))
            && (0.0..=30.0).contains(&self.slow_ln)
            && (-30.0..=0.0).contains(&self.fast_ln)
            && self.early.iter().all(|e| (-30.0..=30.0).contains(e))
    }
}

/// A set of size classes as a bit mask, with the nearest member below or above a class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassSet([u64; 3]);

impl ClassSet {
    fn insert(&mut self, c: usize) {
        self.0[c / 64] |= 1 << (c % 64);
    }

    /// Whether `c` is in the set.
    pub fn contains(&self, c: usize) -> bool {
        self.0[c / 64] >> (c % 64) & 1 == 1
    }

    /// The largest member ≤ `c`.
    pub fn at_or_below(&self, c: usize) -> Option<usize> {
        let (mut word, bit) = (c / 64, c % 64);
        let mut bits = self.0[word] & (u64::MAX >> (63 - bit));
        loop {
            if bits != 0 {
                return Some(word * 64 + 63 - bits.leading_zeros() as usize);
            }
            if word == 0 {
                return None;
            }
            word -= 1;
            bits = self.0[word];
        }
    }

    /// The smallest member ≥ `c`.
    pub fn at_or_above(&self, c: usize) -> Option<usize> {
        let (mut word, bit) = (c / 64, c % 64);
        let mut bits = self.0[word] & (u64::MAX << bit);
        loop {
            if bits != 0 {
                return Some(word * 64 + bits.trailing_zeros() as usize);
            }
            word += 1;
            if word >= self.0.len() {
                return None;
            }
            bits = self.0[word];
        }
    }

    /// Members, in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..CLASSES).filter(|&c| self.contains(c))
    }
}

/// Statistics per size class, with the runs of this process kept apart until they are saved.
#[derive(Debug, Clone)]
pub struct Buckets {
    stats: Vec<Stats>,
    /// The runs of this process not yet saved (merged into the file on save).
    fresh: Vec<Stats>,
    observed: ClassSet,
}

impl Default for Buckets {
    fn default() -> Self {
        Self {
            stats: vec![Stats::default(); CLASSES],
            fresh: vec![Stats::default(); CLASSES],
            observed: ClassSet::default(),
        }
    }
}

impl Buckets {
    /// The statistics of bucket `class`.
    pub fn get(&self, class: usize) -> &Stats {
        &self.stats[class]
    }

    /// Buckets holding runs.
    pub fn observed(&self) -> &ClassSet {
        &self.observed
    }

    /// The observed bucket nearest to `class` (the larger one on a tie).
    pub fn nearest(&self, class: usize) -> Option<usize> {
        let below = self.observed.at_or_below(class);
        let above = self.observed.at_or_above(class);
        match (below, above) {
            (Some(b), Some(a)) => Some(if class - b < a - class { b } else { a }),
            (b, a) => b.or(a),
        }
    }

    fn add(&mut self, class: usize, seconds: f64, elements: f64, chunks: f64) -> Added {
        self.fresh[class].add_with(seconds, elements, chunks);
        self.observed.insert(class);
        self.stats[class].add_with(seconds, elements, chunks)
    }

    fn has_fresh(&self) -> bool {
        self.fresh.iter().any(Stats::is_observed)
    }

    fn fresh_list(&self) -> Vec<(usize, Stats)> {
        (0..CLASSES)
            .filter(|&c| self.fresh[c].is_observed())
            .map(|c| (c, self.fresh[c]))
            .collect()
    }

    fn list(&self) -> Vec<(usize, Stats)> {
        self.observed.iter().map(|c| (c, self.stats[c])).collect()
    }

    fn clear_fresh(&mut self) {
        self.fresh.iter_mut().for_each(|s| *s = Stats::default());
    }

    /// Replaces the saved part with `saved` (only sane entries), keeping fresh runs on top.
    fn rebase(&mut self, saved: &[(usize, Stats)]) {
        self.stats.clone_from(&self.fresh);
        for &(class, stats) in saved {
            if class < CLASSES && stats.is_sane() {
                self.stats[class] = stats.merge(&self.fresh[class]);
            }
        }
        self.observed = ClassSet::default();
        for c in 0..CLASSES {
            if self.stats[c].is_observed() {
                self.observed.insert(c);
            }
        }
    }
}

/// Everything seen of one backend.
#[derive(Debug, Clone)]
pub struct BackendHistory {
    /// The caller's model, used where nothing is measured.
    pub prior: Option<super::CostModel>,
    elements: Buckets,
    /// Seconds per chunk, per size class: a chunk can cost less where more threads share them.
    chunks: Buckets,
    /// Seconds per chunk over every size: what a size with few measurements leans on.
    chunk_all: Stats,
    /// Requests of many chunks, per (size class, chunk class): the ratio of their time to what
    /// the elements and chunk costs predicted, so that what those two miss is learnt where it
    /// shows.
    mixed: BTreeMap<(usize, usize), Stats>,
    fresh_mixed: BTreeMap<(usize, usize), Stats>,
    /// A line fitted past the largest buckets — (top bucket, per-chunk cost bits, fit) — kept
    /// until the buckets change: fitting costs a dozen `exp`s, and choosing runs at every sum.
    fit_memo: OnceLock<FitMemo>,
}

/// See [`BackendHistory::fit_memo`].
type FitMemo = (usize, u64, Option<(f64, f64)>);

impl BackendHistory {
    /// The fit remembered for `top` and `per_chunk`, if the buckets have not changed since.
    pub(crate) fn remembered_fit(&self, top: usize, per_chunk: f64) -> Option<Option<(f64, f64)>> {
        self.fit_memo
            .get()
            .filter(|&&(t, k, _)| t == top && k == per_chunk.to_bits())
            .map(|&(_, _, fit)| fit)
    }

    /// Remembers a fit (see [`BackendHistory::remembered_fit`]).
    pub(crate) fn remember_fit(&self, top: usize, per_chunk: f64, fit: Option<(f64, f64)>) {
        // The first fit since the buckets changed is kept (one size asked again and again is
        // the case that matters); a OnceLock keeps the history shareable between threads.
        let _ = self.fit_memo.set((top, per_chunk.to_bits(), fit));
    }

    /// No runs yet; `prior` where given.
    pub fn new(prior: Option<super::CostModel>) -> Self {
        Self {
            prior,
            elements: Buckets::default(),
            chunks: Buckets::default(),
            chunk_all: Stats::default(),
            mixed: BTreeMap::new(),
            fresh_mixed: BTreeMap::new(),
            fit_memo: OnceLock::new(),
        }
    }

    /// The ratio statistics of requests of size class `class` in chunk class `chunk_class`.
    pub fn mixed(&self, class: usize, chunk_class: usize) -> Option<&Stats> {
        self.mixed.get(&(class, chunk_class))
    }

    /// The pooled ratio statistics of the many-chunk buckets near `(class, chunk_class)`: within
    /// two size classes and one chunk class.
    pub fn mixed_nearby(&self, class: usize, chunk_class: usize) -> Stats {
        let lo = (class.saturating_sub(2), 0);
        let hi = (class + 2, CHUNK_CLASSES);
        self.mixed
            .range(lo..=hi)
            .filter(|((_, k), _)| k.abs_diff(chunk_class) <= 1)
            .fold(Stats::default(), |all, (_, s)| all.merge(s))
    }

    /// Adds a many-chunk run's ratio of time to prediction.
    pub fn add_mixed(&mut self, class: usize, chunk_class: usize, ratio: f64) -> Added {
        let key = (class, chunk_class);
        self.fresh_mixed.entry(key).or_default().add(ratio, 1.0);
        self.mixed.entry(key).or_default().add(ratio, 1.0)
    }

    /// The statistics of size bucket `class`.
    pub fn bucket(&self, class: usize) -> &Stats {
        self.elements.get(class)
    }

    /// Size buckets holding runs.
    pub fn observed(&self) -> &ClassSet {
        self.elements.observed()
    }

    /// The per-chunk cost statistics, per size class.
    pub fn chunk_costs(&self) -> &Buckets {
        &self.chunks
    }

    /// The per-chunk cost statistics over every size.
    pub fn chunk_cost_overall(&self) -> &Stats {
        &self.chunk_all
    }

    /// The typical spread of this backend's runs: the mean spread of its buckets of two runs or
    /// more (weighted by runs), [`DEFAULT_SPREAD`] before there are any.
    pub fn typical_spread(&self) -> f64 {
        let (sum, weight) = self
            .observed()
            .iter()
            .map(|c| self.bucket(c))
            .filter(|b| b.weight >= 2.0)
            .fold((0.0, 0.0), |(s, w), b| {
                (s + b.spread() * b.weight, w + b.weight)
            });
        if weight > 0.0 {
            sum / weight
        } else {
            DEFAULT_SPREAD
        }
    }

    /// Adds a run of `elements` in `chunks` chunks to its size bucket.
    pub fn add_run(&mut self, class: usize, seconds: f64, elements: f64, chunks: f64) -> Added {
        self.fit_memo.take();
        self.elements.add(class, seconds, elements, chunks)
    }

    /// Adds one estimate of the cost of a chunk, from a run of size class `class`.
    pub fn add_chunk_cost(&mut self, class: usize, seconds: f64) {
        self.chunks.add(class, seconds, 1.0, 1.0);
        self.chunk_all.add(seconds, 1.0);
    }

    /// Runs recorded in this process and not yet saved.
    pub fn has_fresh(&self) -> bool {
        self.elements.has_fresh() || self.chunks.has_fresh() || !self.fresh_mixed.is_empty()
    }

    /// Replaces the saved part of the history with `saved` (read from a file), keeping the runs of
    /// this process on top.
    pub fn rebase(&mut self, saved: &Saved) {
        self.fit_memo.take();
        self.elements.rebase(&saved.buckets);
        self.chunks.rebase(&saved.chunks);
        self.mixed.clone_from(&self.fresh_mixed);
        for &((class, cc), stats) in &saved.mixed {
            if class < CLASSES && cc < CHUNK_CLASSES && stats.is_sane() {
                let fresh = self
                    .fresh_mixed
                    .get(&(class, cc))
                    .copied()
                    .unwrap_or_default();
                self.mixed.insert((class, cc), stats.merge(&fresh));
            }
        }
        self.chunk_all = self
            .chunks
            .observed()
            .iter()
            .fold(Stats::default(), |all, c| all.merge(self.chunks.get(c)));
    }

    /// The runs of this process not yet saved.
    pub fn fresh_saved(&self) -> Saved {
        Saved {
            buckets: self.elements.fresh_list(),
            chunks: self.chunks.fresh_list(),
            mixed: self.fresh_mixed.iter().map(|(&k, &v)| (k, v)).collect(),
        }
    }

    /// Counts this process's runs as saved.
    pub fn clear_fresh(&mut self) {
        self.elements.clear_fresh();
        self.chunks.clear_fresh();
        self.fresh_mixed.clear();
    }

    /// The whole history, for saving.
    pub fn saved(&self) -> Saved {
        Saved {
            buckets: self.elements.list(),
            chunks: self.chunks.list(),
            mixed: self.mixed.iter().map(|(&k, &v)| (k, v)).collect(),
        }
    }
}

/// The histories of every candidate of one [`crate::Auto`], and the state of its exploration.
#[derive(Debug, Clone)]
pub struct History {
    backends: Vec<BackendHistory>,
    /// Per size class: seconds of exploration earned (a share of the time run there).
    pub(crate) credit: Vec<f64>,
    /// Per size class: runs recorded there.
    pub(crate) runs: Vec<u64>,
    /// Per backend and class: the class's run count when the backend last ran there.
    pub(crate) last_run: Vec<Vec<u64>>,
    /// Runs recorded so far, on every class.
    pub(crate) recorded: u64,
}

impl History {
    /// Empty histories, one per candidate, with the candidates' priors.
    pub fn new(priors: Vec<Option<super::CostModel>>) -> Self {
        let n = priors.len();
        Self {
            backends: priors.into_iter().map(BackendHistory::new).collect(),
            credit: vec![0.0; CLASSES],
            runs: vec![0; CLASSES],
            last_run: vec![vec![0; CLASSES]; n],
            recorded: 0,
        }
    }

    /// Candidates.
    pub fn len(&self) -> usize {
        self.backends.len()
    }

    /// True with no candidate.
    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// Candidate `i`'s history.
    pub fn backend(&self, i: usize) -> &BackendHistory {
        &self.backends[i]
    }

    /// Candidate `i`'s history, to change.
    pub fn backend_mut(&mut self, i: usize) -> &mut BackendHistory {
        &mut self.backends[i]
    }

    /// Runs recorded so far (calibration included).
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// Runs recorded in this process and not yet saved, on any candidate.
    pub fn has_fresh(&self) -> bool {
        self.backends.iter().any(BackendHistory::has_fresh)
    }
}

/// One backend's history as it is written to the cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    /// (size class, statistics) of every bucket with runs.
    pub buckets: Vec<(usize, Stats)>,
    /// (size class, statistics of the cost per chunk) where measured.
    #[serde(default)]
    pub chunks: Vec<(usize, Stats)>,
    /// ((size class, chunk class), statistics of time ÷ prediction) of many-chunk requests.
    #[serde(default)]
    pub mixed: Vec<((usize, usize), Stats)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_half_octaves() {
        assert_eq!(size_class(0), 0);
        assert_eq!(size_class(1), 0);
        assert_eq!(size_class(2), 2);
        assert_eq!(size_class(3), 3);
        assert_eq!(size_class(1024), 20);
        assert_eq!(size_class(1535), 20);
        assert_eq!(size_class(1536), 21);
        assert_eq!(size_class(1 << 64), 128);
        assert_eq!(size_class(u64::MAX as u128), 127);
        for c in 0..CLASSES {
            let (lo, hi) = class_bounds(c);
            if lo <= hi && c != 1 {
                assert_eq!(size_class(lo), c, "{c}");
                assert_eq!(size_class(hi), c, "{c}");
            }
        }
    }

    #[test]
    fn class_sets_find_neighbours() {
        let mut s = ClassSet::default();
        for c in [3, 64, 70, 128] {
            s.insert(c);
        }
        assert_eq!(s.at_or_below(2), None);
        assert_eq!(s.at_or_below(3), Some(3));
        assert_eq!(s.at_or_below(69), Some(64));
        assert_eq!(s.at_or_above(65), Some(70));
        assert_eq!(s.at_or_above(71), Some(128));
        assert_eq!(s.at_or_above(128), Some(128));
        assert_eq!(s.at_or_above(129 - 1), Some(128));
        assert_eq!(s.iter().collect::<Vec<_>>(), [3, 64, 70, 128]);
    }

    #[test]
    fn outliers_stay_out_of_the_centre() {
        let mut s = Stats::default();
        for i in 0..20 {
            let t = if i % 7 == 3 {
                5e-3
            } else {
                1e-3 * (1.0 + 0.01 * (i % 3) as f64)
            };
            s.add(t, 1e6);
        }
        assert!((s.centre() / 1e-3 - 1.0).abs() < 0.03, "{}", s.centre());
        assert!(s.gross >= 2.0);
    }

    #[test]
    fn a_slow_first_run_does_not_stick() {
        let mut s = Stats::default();
        s.add(5e-3, 1e6);
        assert_eq!(s.add(1e-3, 1e6), Added::Reset);
        s.add(1e-3, 1e6);
        assert!((s.centre() / 1e-3 - 1.0).abs() < 0.01);
    }

    #[test]
    fn a_lasting_change_resets_the_bucket() {
        let mut s = Stats::default();
        for _ in 0..40 {
            s.add(1e-3, 1e6);
        }
        let mut reset_after = None;
        for i in 1..=20 {
            if s.add(2.2e-3, 1e6) == Added::Reset {
                reset_after = Some(i);
                break;
            }
        }
        assert!(reset_after.is_some_and(|i| i <= 8), "{reset_after:?}");
        assert!((s.centre() / 2.2e-3 - 1.0).abs() < 0.01, "{}", s.centre());
    }

    #[test]
    fn an_early_outlier_is_dropped_once_and_the_bucket_is_trusted() {
        let mut s = Stats::default();
        s.add(1e-3, 1e6);
        s.add(2.1e-3, 1e6);
        for _ in 0..20 {
            s.add(1e-3, 1e6);
        }
        assert!(s.weight >= 20.0, "{s:?}");
        assert!(s.gross <= 1.0, "{s:?}");
        assert!((s.centre() - 1e-3).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn two_pooled_starts_settle_like_one() {
        let (mut a, mut b) = (Stats::default(), Stats::default());
        a.add(1e-3, 1e6);
        b.add(1e-3, 1e6);
        let mut m = a.merge(&b);
        assert_eq!(m.weight, 2.0);
        for _ in 0..60 {
            m.add(1e-3, 1e6);
        }
        assert!(m.weight >= TRUSTED && m.settled, "{m:?}");
        assert!(m.gross < 1e-9, "{m:?}");
        assert!((m.centre() - 1e-3).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn merge_pools_runs() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        let mut both = Stats::default();
        for i in 0..10 {
            let t = 1e-3 * (1.0 + 0.02 * i as f64);
            if i % 2 == 0 {
                a.add(t, 1e6);
            } else {
                b.add(t, 1e6);
            }
            both.add(t, 1e6);
        }
        let m = a.merge(&b);
        assert_eq!(m.weight, 10.0);
        assert!((m.mean - both.mean).abs() < 1e-9);
        assert!((m.m2 - both.m2).abs() < 1e-9);
        assert!(m.is_sane());
        let bad = Stats {
            mean: f64::NAN,
            ..m
        };
        assert!(!bad.is_sane());
    }
}
