//! What Auto has measured, StarPU style: one [`Entry`] per backend and footprint — the request's
//! size class (half-octaves of 1..=2^64) and chunk class (≤ 128 chunks, then factors of 4) — and
//! the one rule that keeps it, [`Entry::add`]. Plain data: no clock, no threads, no files.
//!
//! An entry holds ln(measured time ÷ the backend's prior) — ln(time), shifted so that runs of
//! different sizes in one class compare — as a count, a centre and a spread, and an error count.
//! An estimate comes from the request's own entry; else it is interpolated between the nearest
//! measured classes (or carried from the nearest one, with doubt growing with the distance); else
//! it is the prior's.

use std::collections::BTreeMap;

/// Size classes: half-octaves of 1..=2^64.
pub(crate) const SIZES: usize = 129;
/// Chunk classes: up to 128 chunks (every default plan), then one per factor of four.
pub(crate) const CHUNKS: usize = 30;
/// Most samples an entry's centre stands for: older ones fade, so a machine that changes is
/// followed.
const CAP: f64 = 32.0;
/// ln(1.5): a run more than 1.5× off the centre, either way, is not a sample.
const BAND: f64 = 0.405_465_108_108_164_4;
/// Errors that restart an entry from the run that made the last one (fewer for an entry of fewer
/// samples: errors reaching the samples, as in StarPU).
const RESET_AT: f64 = 3.0;
/// Samples up to which an entry is young: a run far faster than its centre restarts it at once.
pub(crate) const YOUNG: f64 = 3.0;
/// Spread assumed below two samples, and the least assumed (ln scale).
const FIRST_SPREAD: f64 = 0.3;
const SPREAD_FLOOR: f64 = 0.05;
/// Doubt added per size class and per chunk class between a request and the entry it leans on.
const SIZE_DOUBT: f64 = 0.05;
const CHUNK_DOUBT: f64 = 0.2;
/// Runs below which an entry is not trusted to be slower than its neighbours say.
pub(crate) const FEW: f64 = 3.0;
/// Doubt of a prior nothing has checked: it may be 4× off either way; no estimate doubts more,
/// but for an entry of fewer than [`FEW`] runs slower than its neighbours.
pub(crate) const PRIOR_DOUBT: f64 = 1.386_294_361_119_890_6;

/// Where a request falls: ordered by warmth, chunk class, then size class. A backend's first run
/// in a process is cold (threads, code and vector units not yet awake): it is kept in cold
/// entries, which predict cold runs (a process's first request) and bound warm ones from above
/// only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Footprint {
    pub cold: bool,
    pub chunks: usize,
    pub size: usize,
}

impl Footprint {
    pub(crate) fn of(n: u128, chunks: u64) -> Self {
        let e = 127 - n.max(1).leading_zeros() as usize;
        let size = if e == 0 {
            0
        } else {
            2 * e + ((n >> (e - 1)) & 1) as usize
        };
        let c = 63 - chunks.max(1).leading_zeros() as usize;
        let chunks = if c < 7 || chunks == 128 {
            0
        } else {
            1 + (c - 7) / 2
        };
        Self {
            cold: false,
            chunks: chunks.min(CHUNKS - 1),
            size: size.min(SIZES - 1),
        }
    }

    /// The same footprint, for a cold run or a warm one.
    pub(crate) fn cold(self, cold: bool) -> Self {
        Self { cold, ..self }
    }

    /// Position in a dense table of every footprint.
    pub(crate) fn index(self) -> usize {
        self.chunks * SIZES + self.size
    }
}

/// One backend's runs at one footprint, over ln(time ÷ prior).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Entry {
    /// Samples in the centre (at most [`CAP`]); 0 for an entry never measured.
    pub count: f64,
    /// Their mean.
    pub mean: f64,
    /// Their sum of squared deviations from the mean.
    pub m2: f64,
    /// Recent errors (runs more than 1.5× off), fading as samples come in.
    pub errors: f64,
    /// When it was last saved (Unix seconds; 0: never), for merging with other processes' files.
    pub updated: u64,
    /// Changed since it was last saved.
    pub touched: bool,
}

impl Entry {
    /// An entry of one run.
    pub(crate) fn first(x: f64) -> Self {
        Self {
            count: 1.0,
            mean: x,
            touched: true,
            ..Self::default()
        }
    }

    /// The one rule: a run within 1.5× of the centre either way is a sample (a capped running
    /// mean and variance); one further off is an error; when errors reach the samples (at most
    /// [`RESET_AT`]), the entry starts again from this run. A young entry (at most [`YOUNG`]
    /// samples) starts again at once from a run more than 1.5× faster than its centre: its few
    /// samples may all be a slow spell (a backend's first warm runs), and a run cannot be made
    /// faster than the backend is by a preemption or a busy core.
    pub(crate) fn add(&mut self, x: f64) {
        self.touched = true;
        let dev = x - self.mean;
        let restart = (dev < -BAND && self.count <= YOUNG)
            || (dev.abs() > BAND && self.errors + 1.0 >= self.count.min(RESET_AT));
        if self.count == 0.0 || restart {
            *self = Self::first(x);
            return;
        }
        if dev.abs() > BAND {
            self.errors += 1.0;
            return;
        }
        if self.count > CAP - 1.0 {
            let f = (CAP - 1.0) / self.count;
            self.count *= f;
            self.m2 *= f;
        }
        self.count += 1.0;
        self.mean += dev / self.count;
        self.m2 += dev * (x - self.mean);
        // Runs of one time make m2 decay towards subnormals, which cost ~100× per operation.
        if self.m2 < f64::MIN_POSITIVE {
            self.m2 = 0.0;
        }
        self.errors *= 0.5;
    }

    /// Spread of ln(time): a standard deviation, [`FIRST_SPREAD`] below two samples.
    pub(crate) fn spread(&self) -> f64 {
        if self.count < 2.0 {
            return FIRST_SPREAD;
        }
        (self.m2 / (self.count - 1.0))
            .max(0.0)
            .sqrt()
            .max(SPREAD_FLOOR)
    }

    /// What a file must hold to be believed: finite, within the caps, a centre within e^±60.
    pub(crate) fn is_sane(&self) -> bool {
        (1.0..=CAP).contains(&self.count)
            && self.mean.abs() <= 60.0
            && (0.0..=100.0 * CAP).contains(&self.m2)
            && (0.0..=RESET_AT).contains(&self.errors)
    }
}

/// What an estimate rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Basis {
    /// Runs at the request's own size and chunk class.
    Measured,
    /// Runs at nearby classes, interpolated between them or carried from the nearest.
    Nearby,
    /// Only the backend's prior: nothing measured yet.
    Prior,
}

impl Basis {
    /// `measured`, `nearby` or `prior`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Measured => "measured",
            Self::Nearby => "nearby",
            Self::Prior => "prior",
        }
    }
}

/// An estimate of ln(time ÷ prior) for one footprint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    pub ln_ratio: f64,
    /// ln of the factor the estimate may be off by, either way.
    pub doubt: f64,
    /// Samples at the footprint itself.
    pub samples: f64,
    pub basis: Basis,
}

/// One backend's measured entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Entries(BTreeMap<Footprint, Entry>);

impl Entries {
    /// `f`'s entry (never measured: count 0).
    pub(crate) fn get(&self, f: Footprint) -> Entry {
        self.0.get(&f).copied().unwrap_or_default()
    }

    /// Adds a run to `f`'s entry (see [`Entry::add`]).
    pub(crate) fn add(&mut self, f: Footprint, x: f64) {
        self.0.entry(f).or_default().add(x);
    }

    /// Puts `e` (a measured entry, from a file) at `f`.
    pub(crate) fn set(&mut self, f: Footprint, e: Entry) {
        self.0.insert(f, e);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Footprint, &Entry)> {
        self.0.iter()
    }

    /// Marks `f`'s entry, if there is one, as changed since the last save.
    pub(crate) fn touch(&mut self, f: Footprint) {
        if let Some(e) = self.0.get_mut(&f) {
            e.touched = true;
        }
    }

    /// Marks every entry saved.
    pub(crate) fn untouch(&mut self) {
        self.0.values_mut().for_each(|e| e.touched = false);
    }

    /// The estimate (ln ratio, doubt) that `e` alone gives.
    fn own(e: &Entry) -> (f64, f64) {
        (e.mean, e.spread() / e.count.sqrt())
    }

    /// Interpolated or carried along the sizes of chunk class `row` of entries as warm as `cold`
    /// says (but the entry at `skip`), if it holds any.
    fn along(
        &self,
        cold: bool,
        row: usize,
        size: usize,
        skip: Option<usize>,
    ) -> Option<(f64, f64)> {
        let at = |size| Footprint {
            cold,
            chunks: row,
            size,
        };
        let other = |(g, _): &(&Footprint, &Entry)| Some(g.size) != skip;
        let below = self.0.range(at(0)..=at(size)).rev().find(other);
        let above = self.0.range(at(size)..=at(SIZES)).find(other);
        match (below, above) {
            (Some((lo, a)), Some((hi, b))) if lo != hi => {
                let ((a, da), (b, db)) = (Self::own(a), Self::own(b));
                let t = (size - lo.size) as f64 / (hi.size - lo.size) as f64;
                let gap = (size - lo.size).min(hi.size - size) as f64;
                Some((a + t * (b - a), da + t * (db - da) + SIZE_DOUBT * gap))
            }
            (Some((f, e)), _) | (None, Some((f, e))) => {
                let (r, d) = Self::own(e);
                Some((r, d + SIZE_DOUBT * f.size.abs_diff(size) as f64))
            }
            (None, None) => None,
        }
    }

    /// From the nearest chunk class of entries as warm as `f`, `f`'s own left out.
    fn nearby(&self, f: Footprint) -> Option<(f64, f64)> {
        let held = |r: &usize| {
            let first = Footprint {
                cold: f.cold,
                chunks: *r,
                size: 0,
            };
            let next = self.0.range(first..).next();
            next.is_some_and(|(g, _)| g.cold == f.cold && g.chunks == *r)
        };
        let row = (0..CHUNKS)
            .filter(held)
            .min_by_key(|r| r.abs_diff(f.chunks))?;
        let (x, d) = self.along(f.cold, row, f.size, (row == f.chunks).then_some(f.size))?;
        Some((x, d + CHUNK_DOUBT * row.abs_diff(f.chunks) as f64))
    }

    /// The estimate at `f`: its own entry; else, cold, the warm estimate (a cold run is never
    /// faster); else from nearby warm entries or the prior, its centre capped, warm, by this
    /// footprint's cold centre: a cold run bounds a warm one from above, never from below (a cold
    /// sum of 10^3 elements took 15× a warm one). Doubt never exceeds the prior's, but for an
    /// entry of few runs slower than its neighbours: it may doubt down to their centre.
    pub(crate) fn estimate(&self, f: Footprint) -> Estimate {
        let estimate = |(ln_ratio, doubt): (f64, f64), samples, basis| Estimate {
            ln_ratio,
            doubt: f64::min(doubt, PRIOR_DOUBT),
            samples,
            basis,
        };
        if let Some(e) = self.0.get(&f) {
            let (ln_ratio, doubt) = Self::own(e);
            let mut measured = estimate((ln_ratio, doubt), e.count, Basis::Measured);
            // An entry of few runs is not trusted to be slower than its neighbours say — a warm
            // one, without neighbours, than its prior: its doubt reaches down to their centre, so
            // the backend is explored again. One run slowed by a preemption (32× here) kept the
            // fastest backend out of every later process; a cold one, out of every later one-shot
            // process. A cold entry leans on cold neighbours only: its prior and warm runs say
            // nothing of a first run's cost, and lavapipe's GPU, slow cold and doubted down to
            // its prior, was explored by 5–12 one-shot processes in a row.
            if e.count < FEW {
                let around = match self.nearby(f) {
                    Some((x, _)) => x,
                    None if f.cold => ln_ratio,
                    None => 0.0,
                };
                measured.doubt = measured.doubt.max(ln_ratio - around);
            }
            return measured;
        }
        if f.cold {
            return self.estimate(f.cold(false));
        }
        let mut guess = match self.nearby(f) {
            Some(x) => estimate(x, 0.0, Basis::Nearby),
            None => estimate((0.0, PRIOR_DOUBT), 0.0, Basis::Prior),
        };
        // Only the centre is capped: the warm run may be far faster than the cold one, so the
        // guess keeps its doubt (and with it its exploration) and its basis.
        if let Some(cold) = self.0.get(&f.cold(true)) {
            guess.ln_ratio = guess.ln_ratio.min(cold.mean);
        }
        guess
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprints_cover_the_domain() {
        assert_eq!(
            Footprint::of(0, 0),
            Footprint {
                cold: false,
                chunks: 0,
                size: 0
            }
        );
        assert_eq!(Footprint::of(1 << 64, u64::MAX).size, SIZES - 1);
        assert_eq!(Footprint::of(1 << 64, u64::MAX).chunks, CHUNKS - 1);
        assert_eq!(Footprint::of(1000, 100).chunks, 0);
        assert_eq!(Footprint::of(1000, 129).chunks, 1);
        // Half-octaves: 2^40 and 1.4·2^40 share a class, 1.5·2^40 starts the next.
        let size = |n: u128| Footprint::of(n, 1).size;
        assert_eq!(size(1 << 40), size((1 << 40) + (1 << 38)));
        assert_eq!(size((1 << 40) + (1 << 39)), size(1 << 40) + 1);
        assert_eq!(size(1 << 41), size(1 << 40) + 2);
    }

    #[test]
    fn samples_average_errors_reset() {
        let mut e = Entry::default();
        e.add(0.0);
        e.add(0.1);
        e.add(-0.1);
        assert_eq!(e.count, 3.0);
        assert!(e.mean.abs() < 1e-12 && e.spread() > 0.05);
        // Two runs 3× off are errors, not samples; a third restarts the entry from it.
        e.add(1.1);
        e.add(1.1);
        assert_eq!((e.count, e.errors), (3.0, 2.0));
        e.add(1.1);
        assert_eq!((e.count, e.mean), (1.0, 1.1));
        // One error in four runs fades: it never adds up to a reset.
        let mut e = Entry::first(0.0);
        e.add(0.0);
        e.add(0.0);
        for i in 1..1000 {
            e.add(if i % 4 == 0 { 1.0 } else { 0.0 });
            assert!(e.mean.abs() < 1e-9, "reset at {i}");
        }
        assert_eq!(e.count, CAP);
    }

    #[test]
    fn a_young_entry_is_overturned_by_one_faster_run_a_firm_one_by_three() {
        // One sample slowed by a preemption is overturned by the next run.
        let mut e = Entry::first(2.0);
        e.add(0.0);
        assert_eq!((e.count, e.mean), (1.0, 0.0));
        // Three consistent slow samples (a backend's first warm runs) are overturned by one run
        // far faster; one far slower is an error.
        let mut e = Entry::first(1.0);
        e.add(1.0);
        e.add(1.0);
        e.add(2.0);
        assert_eq!((e.count, e.errors), (3.0, 1.0));
        e.add(0.0);
        assert_eq!((e.count, e.mean), (1.0, 0.0));
        // A firm entry keeps its centre through a fast outlier: three are needed either way.
        let mut e = Entry::first(1.0);
        (0..9).for_each(|_| e.add(1.0));
        e.add(0.0);
        e.add(0.0);
        assert_eq!((e.count, e.mean, e.errors), (10.0, 1.0, 2.0));
        e.add(0.0);
        assert_eq!((e.count, e.mean), (1.0, 0.0));
    }

    #[test]
    fn estimates_come_from_the_entry_then_neighbours_then_the_prior() {
        let mut h = Entries::default();
        let f = |size, chunks| Footprint {
            cold: false,
            chunks,
            size,
        };
        assert_eq!(h.estimate(f(40, 0)).basis, Basis::Prior);
        h.add(f(30, 0), 1.0);
        h.add(f(50, 0), 2.0);
        let own = h.estimate(f(30, 0));
        assert_eq!((own.basis, own.ln_ratio), (Basis::Measured, 1.0));
        let mid = h.estimate(f(40, 0));
        assert_eq!(mid.basis, Basis::Nearby);
        assert!((mid.ln_ratio - 1.5).abs() < 1e-12 && mid.doubt > own.doubt);
        let beyond = h.estimate(f(60, 0));
        assert_eq!(beyond.ln_ratio, 2.0);
        // Another chunk class leans on this one, more doubtfully.
        let other = h.estimate(f(40, 3));
        assert_eq!(other.ln_ratio, mid.ln_ratio);
        assert!(other.doubt > mid.doubt && other.doubt <= PRIOR_DOUBT);
    }

    #[test]
    fn cold_entries_bound_warm_runs_from_above_only() {
        let mut h = Entries::default();
        let warm = Footprint::of(1 << 20, 1);
        let cold = warm.cold(true);
        // A cold run slower than the prior says nothing of warm runs; one faster caps them.
        h.add(cold, 2.0);
        assert_eq!(h.estimate(warm).basis, Basis::Prior);
        let mut capped = Entries::default();
        capped.add(cold, -2.0);
        let e = capped.estimate(warm);
        // Only the centre: the warm run may be far faster, so the prior's doubt stays.
        assert_eq!(
            (e.basis, e.ln_ratio, e.doubt),
            (Basis::Prior, -2.0, PRIOR_DOUBT)
        );
        h.add(warm, 0.5);
        assert_eq!(h.estimate(warm).ln_ratio, 0.5);
        assert_eq!(h.estimate(cold).ln_ratio, 2.0);
        // Cold, elsewhere: the warm estimate.
        assert_eq!(
            h.estimate(Footprint::of(1 << 30, 1).cold(true)).ln_ratio,
            0.5
        );
    }

    #[test]
    fn nonsense_is_not_sane() {
        let ok = Entry::first(0.5);
        assert!(ok.is_sane());
        for bad in [
            Entry { count: 0.0, ..ok },
            Entry { count: 33.0, ..ok },
            Entry {
                mean: f64::NAN,
                ..ok
            },
            Entry { mean: 1e300, ..ok },
            Entry { m2: -1.0, ..ok },
            Entry {
                errors: f64::INFINITY,
                ..ok
            },
        ] {
            assert!(!bad.is_sane(), "{bad:?}");
        }
    }
}
