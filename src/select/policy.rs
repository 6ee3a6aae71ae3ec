//! The decisions: predictions from a history, the choice of a backend for a request, and what a
//! finished run teaches. Pure: observations in, choices out — no clock, no threads, no files — so
//! the tests drive it through thousands of requests in virtual time.
//!
//! **Predicting** a backend's time for `n` elements in `c` chunks: the elements' part from its
//! bucket of `n` when measured there (moved along the local slope within the bucket); else
//! interpolated on the log-log line between the nearest measured buckets below and above; beyond
//! the largest measured bucket, a line latency + n ÷ rate fitted (least relative squares) to the
//! largest four buckets; below the smallest, that bucket's time; with nothing measured, the
//! caller's prior. Plus `c` × the backend's measured cost per chunk. Each prediction carries an
//! uncertainty factor `u` that grows from measured to interpolated to extrapolated to prior.
//!
//! **Choosing**: the leader is the candidate with the lowest score: its expected time (the
//! lognormal mean e^(μ+σ²/2) of its runs plus its outliers' share) times its uncertainty `u`. Of
//! two backends with the same typical time, the one whose runs spread more, or that ran fewer
//! times, scores worse. The leader runs, except:
//! - a candidate that *could win* — whose optimistic time (prediction ÷ `u`) beats the leader's
//!   prediction — and has fewer than [`Policy::explore_runs`] runs at this bucket runs first, to
//!   be measured. As its runs add up, `u` shrinks to e^(spread/√runs) and the optimistic time
//!   comes to meet the real one: a slower candidate stops being tried after a run or two, one
//!   within noise of the leader is run until the two are told apart (cubecl drops a candidate
//!   once it is 1.5× the leader, after two confirming samples).
//! - every run at a bucket earns it [`Policy::explore_share`] of its time as credit; when the
//!   credit covers a slower candidate's predicted time, that candidate is re-checked (the one
//!   longest unseen there first) and the credit spent. Re-checks therefore cost at most that share
//!   of the time spent at a bucket (0.5 %), as predicted: the credit is earned at the leader's
//!   predicted time and spent at the candidate's, so a re-check that runs slower than predicted
//!   costs more — once, since its measured time then corrects the prediction.
//! - a candidate known only from the caller's prior (never run anywhere) is priced at most
//!   [`Policy::prior_cap`] × the leader's time, and is re-checked at the latest
//!   [`Policy::prior_runs`] runs after it last ran at the bucket: a prior that hides the fastest
//!   backend is found within 200 runs at that bucket. A prior that measured runs (two or more at a
//!   bucket) prove wrong by a factor widens the uncertainty of every prior-only prediction by that
//!   factor, up to [`Policy::prior_cap`]: the caller's numbers may all be off.

use super::history::{Added, BackendHistory, History, TRUSTED, chunk_class, size_class};
use super::model::MAX_SECONDS;
use crate::backend::{Basis, ChosenBy};

/// The knobs of the policy (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Share of the time run at a bucket that re-checks of slower candidates may take.
    pub explore_share: f64,
    /// Runs at a bucket below which a candidate that could win is tried.
    pub explore_runs: f64,
    /// Most that a candidate known only from a prior is assumed to cost, as a multiple of the
    /// leader's time.
    pub prior_cap: f64,
    /// Runs at a bucket after which a candidate known only from a prior is re-checked there.
    pub prior_runs: u64,
    /// Uncertainty of a prediction interpolated between neighbouring buckets.
    pub interpolated: f64,
    /// Uncertainty just past the largest measured bucket (growing with the distance).
    pub extrapolated: f64,
    /// Uncertainty of a caller's prior.
    pub prior: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            explore_share: 0.005,
            explore_runs: 12.0,
            prior_cap: 8.0,
            prior_runs: 200,
            interpolated: 1.15,
            extrapolated: 1.25,
            prior: 2.0,
        }
    }
}

/// A predicted time and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Expected seconds.
    pub seconds: f64,
    /// What the elements' part rests on.
    pub basis: Basis,
    /// Multiplicative uncertainty, ≥ 1.
    pub uncertainty: f64,
    /// Runs at the request's own bucket.
    pub samples: f64,
}

impl Prediction {
    /// Pessimistic: what the leader is chosen by, so that a backend measured a few times must
    /// beat one measured often by more than its doubt.
    pub fn score(&self) -> f64 {
        self.seconds * self.uncertainty
    }

    /// Optimistic: what decides whether a candidate could win.
    pub fn optimistic(&self) -> f64 {
        self.seconds / self.uncertainty
    }
}

/// The largest factor by which a caller's prior missed what its backend measured, over every
/// backend with both (1 when none has): buckets of two runs or more against the prior at their
/// size and chunk count. At most `cap`, so that a prior-only candidate is never tried while
/// predicted slower than `cap` × the leader.
fn prior_miss(history: &History, cap: f64) -> f64 {
    let mut worst: f64 = 0.0;
    for i in 0..history.len() {
        let h = history.backend(i);
        let Some(prior) = h.prior else { continue };
        for class in h.observed().iter() {
            let b = h.bucket(class);
            if b.weight < 2.0 {
                continue;
            }
            let said = prior.seconds(b.ln_n.exp() as u128, b.ln_c.exp().round() as u64);
            if said > 0.0 {
                worst = worst.max((b.expected_ln() - said.ln()).abs());
            }
        }
    }
    worst.exp().min(cap.max(1.0))
}

/// The choice for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The candidate to run.
    pub index: usize,
    /// Why.
    pub chosen_by: ChosenBy,
    /// Its prediction.
    pub predicted: Option<Prediction>,
    /// The candidate with the best score (the one run unless exploring).
    pub leader: usize,
    /// The request's size bucket.
    pub class: usize,
    /// The leader's predicted seconds: a share of it is earned as exploration credit.
    pub leader_seconds: f64,
    /// Exploration credit this choice spends.
    pub credit_spent: f64,
}

/// A candidate already run at a bucket is tried again only while its estimate there is within
/// this factor of the leader's: one that measured clearly slower is left to the re-checks.
const RETRY_RATIO: f64 = 1.3;

/// ln(2.5): a bucket of few runs this much slower than its neighbours is not believed yet.
const EARLY_OUTLIER: f64 = 0.916_290_731_874_155;

/// Least spread assumed when judging how sure a bucket is: a few alike runs prove little.
const SPREAD_FLOOR: f64 = 0.1;

/// Requests of at least this many chunks, of at most [`CHUNK_BOUND`] elements each, teach the
/// per-chunk cost.
const CHUNKY: u64 = 64;
/// See [`CHUNKY`]: so few elements per chunk that the elements' share, and any error in it,
/// is small.
const CHUNK_BOUND: u128 = 8;

impl Policy {
    /// The expected time of a request of `n` elements in the chunk count typical of its size
    /// bucket (size buckets hold whole runs, their chunks included), and that count's ln.
    fn sized(&self, h: &BackendHistory, n: u128) -> Option<(Prediction, f64, Option<f64>)> {
        let class = size_class(n);
        let x = (n.max(1) as f64).ln();
        let seen = h.observed();
        let point = |c: usize| {
            let b = h.bucket(c);
            (b.ln_n, b.expected_ln())
        };
        let samples = h.bucket(class).weight;
        if seen.contains(class) {
            let b = h.bucket(class);
            let (bx, by) = point(class);
            let lower = class.checked_sub(1).and_then(|c| seen.at_or_below(c));
            let upper = seen.at_or_above(class + 1);
            // Within a bucket, follow the slope towards the nearest measured neighbour.
            let other = if x >= bx {
                upper.or(lower)
            } else {
                lower.or(upper)
            };
            let slope = other
                .map(point)
                .filter(|(ox, _)| (ox - bx).abs() > 1e-6)
                .map_or(0.5, |(ox, oy)| ((oy - by) / (ox - bx)).clamp(0.0, 1.2));
            let mut y = by + slope * (x - bx);
            let mut runs = b.weight;
            // A bucket with few runs leans on its measured neighbours, as if they had run once
            // here: one unlucky run cannot stand alone.
            if b.weight < TRUSTED
                && let (Some(lo), Some(hi)) = (lower, upper)
            {
                let ((ax, ay), (cx, cy)) = (point(lo), point(hi));
                if cx - ax > 1e-9 {
                    let f = ((x - ax) / (cx - ax)).clamp(0.0, 1.0);
                    let between = ay + f * (cy - ay);
                    // Far slower than both neighbours say: most likely an outlier (noise makes
                    // runs slower, not faster), so the neighbours speak alone until more runs.
                    y = if y - between > EARLY_OUTLIER {
                        between
                    } else {
                        (y * b.weight + between) / (b.weight + 1.0)
                    };
                    runs += 1.0;
                }
            }
            let p = Prediction {
                seconds: y.exp(),
                basis: if b.weight >= TRUSTED {
                    Basis::Measured
                } else {
                    Basis::Interpolated
                },
                uncertainty: (b.spread().max(h.typical_spread()).max(SPREAD_FLOOR) / runs.sqrt())
                    .exp(),
                samples,
            };
            return Some((p, b.ln_c, None));
        }
        let below = seen.at_or_below(class);
        let above = seen.at_or_above(class);
        match (below, above) {
            (Some(lo), Some(hi)) => {
                let ((ax, ay), (bx, by)) = (point(lo), point(hi));
                let f = if bx - ax > 1e-9 {
                    ((x - ax) / (bx - ax)).clamp(0.0, 1.0)
                } else {
                    0.5
                };
                let gap = (hi - lo) as f64;
                let ln_c = h.bucket(lo).ln_c + f * (h.bucket(hi).ln_c - h.bucket(lo).ln_c);
                let p = Prediction {
                    seconds: (ay + f * (by - ay)).exp(),
                    basis: Basis::Interpolated,
                    uncertainty: (self.interpolated + 0.05 * (gap - 2.0).max(0.0)).min(2.0),
                    samples,
                };
                Some((p, ln_c, None))
            }
            (Some(lo), None) => {
                // Fitted on the elements' share alone: chunk counts grow with size in default
                // plans, and their cost must not pass for a rate.
                let (k, _) = self.chunk_seconds(h, n);
                let top = h.bucket(lo);
                let lx = top.ln_n;
                let t_top = (top.expected() - k * top.ln_c.exp()).max(0.1 * top.expected());
                let fit = self.fit_top(h, lo, k);
                let seconds = fit.map_or_else(
                    || t_top * (x - lx).exp(),
                    |(latency, per_element)| latency + per_element * n as f64,
                );
                // Every octave past the largest measured bucket adds 10 % of doubt.
                let octaves = ((x - lx) / std::f64::consts::LN_2).max(0.0);
                let p = Prediction {
                    seconds,
                    basis: Basis::Extrapolated,
                    uncertainty: (self.extrapolated * (1.0 + 0.1 * octaves)).min(4.0),
                    samples,
                };
                // Where even the largest measured size was mostly latency (or chunks), the rate
                // was never seen: the elements could take as little as that size's.
                let rate_seen = fit.is_some_and(|(latency, per_element)| {
                    per_element * lx.exp() >= latency && t_top > 0.2 * top.expected()
                });
                Some((p, 0.0, (!rate_seen).then_some(t_top)))
            }
            (None, Some(hi)) => {
                let p = Prediction {
                    seconds: h.bucket(hi).expected(),
                    basis: Basis::Extrapolated,
                    uncertainty: self.extrapolated,
                    samples,
                };
                Some((p, h.bucket(hi).ln_c, None))
            }
            (None, None) => h.prior.map(|p| {
                let p = Prediction {
                    seconds: p.seconds(n, 0),
                    basis: Basis::Prior,
                    uncertainty: self.prior,
                    samples,
                };
                (p, 0.0, None)
            }),
        }
    }

    /// The expected time of the elements of `n` alone (the typical chunks' share taken off).
    fn elements(&self, h: &BackendHistory, n: u128) -> Option<Prediction> {
        let (mut p, ln_c, _) = self.sized(h, n)?;
        let (k, _) = self.chunk_seconds(h, n);
        p.seconds = (p.seconds - k * ln_c.exp()).max(0.1 * p.seconds);
        Some(p)
    }

    /// latency + n × per_element through the largest (up to four) buckets up to `top`, their
    /// chunks' share (at `per_chunk` seconds each) taken off, in least relative squares; `None`
    /// when they do not make a rising line.
    fn fit_top(&self, h: &BackendHistory, top: usize, per_chunk: f64) -> Option<(f64, f64)> {
        if let Some(fit) = h.remembered_fit(top, per_chunk) {
            return fit;
        }
        let fit = self.fit_top_afresh(h, top, per_chunk);
        h.remember_fit(top, per_chunk, fit);
        fit
    }

    fn fit_top_afresh(&self, h: &BackendHistory, top: usize, per_chunk: f64) -> Option<(f64, f64)> {
        let seen = h.observed();
        let mut points = Vec::with_capacity(4);
        let mut c = Some(top);
        while let Some(class) = c {
            if points.len() == 4 {
                break;
            }
            let b = h.bucket(class);
            let t = b.expected();
            points.push((b.ln_n.exp(), (t - per_chunk * b.ln_c.exp()).max(0.1 * t)));
            c = class.checked_sub(1).and_then(|k| seen.at_or_below(k));
        }
        if points.len() < 2 {
            return None;
        }
        // Minimise Σ ((L + a·n)/t − 1)²: normal equations in p = 1/t, q = n/t.
        let (mut pp, mut pq, mut qq, mut p1, mut q1) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(n, t) in &points {
            let (p, q) = (1.0 / t, n / t);
            pp += p * p;
            pq += p * q;
            qq += q * q;
            p1 += p;
            q1 += q;
        }
        let det = pp * qq - pq * pq;
        if det.abs() > 1e-12 * pp * qq {
            let latency = (p1 * qq - q1 * pq) / det;
            let per_element = (pp * q1 - pq * p1) / det;
            if latency >= 0.0 && per_element > 0.0 {
                return Some((latency, per_element));
            }
        }
        // No latency: proportional through the points.
        let per_element = q1 / qq;
        (per_element > 0.0 && per_element.is_finite()).then_some((0.0, per_element))
    }

    /// Seconds per chunk at `n` elements and whether it was measured near this size: the cost
    /// measured at the nearest size within two octaves, leaning on the cost over every size as if
    /// that had been measured twice there; else the cost over every size; else the prior's.
    fn chunk_seconds(&self, h: &BackendHistory, n: u128) -> (f64, bool) {
        let all = h.chunk_cost_overall();
        if !all.is_observed() {
            return (h.prior.map_or(0.0, |p| p.chunk_seconds()), false);
        }
        let class = size_class(n);
        let k = h.chunk_costs();
        match k.nearest(class).filter(|&c| c.abs_diff(class) <= 4) {
            Some(c) => {
                let b = k.get(c);
                let ln = (b.weight * b.expected_ln() + 2.0 * all.expected_ln()) / (b.weight + 2.0);
                (ln.exp(), true)
            }
            None => (all.expected(), false),
        }
    }

    /// The model: the size bucket's time, moved by the chunk cost for the chunks this request
    /// has more (or fewer) than the bucket's runs had; and whether the chunk cost is measured.
    fn model(&self, h: &BackendHistory, n: u128, chunks: u64) -> Option<(Prediction, bool)> {
        let (mut p, ln_c, floor) = self.sized(h, n)?;
        let (k, measured) = self.chunk_seconds(h, n);
        let shift = k * (chunks as f64 - ln_c.exp());
        p.seconds = (p.seconds + shift).max(0.1 * p.seconds);
        if !measured && shift.abs() > 0.5 * p.seconds {
            // Mostly chunks, at a cost not measured near this size (threads may share chunks
            // here that they did not share there): a guess.
            p.uncertainty = p.uncertainty.max(self.prior);
        }
        if let Some(floor) = floor {
            // The optimistic end: the elements as fast as at the largest measured size.
            let low = floor + k * chunks as f64;
            p.uncertainty = p.uncertainty.max(p.seconds / low.max(1e-12));
        }
        Some((p, measured))
    }

    /// The predicted time of `n` elements in `chunks` chunks on a backend with history `h`.
    pub fn predict(&self, h: &BackendHistory, n: u128, chunks: u64) -> Option<Prediction> {
        let (mut p, _) = self.model(h, n, chunks)?;
        let cc = chunk_class(chunks);
        if cc == 0 {
            return Some(p);
        }
        // Many chunks: the elements and chunk costs make a model, and what requests of this size
        // and chunk count showed corrects it (leaning on the model as if it were one more run).
        match h.mixed(size_class(n), cc) {
            Some(r) => {
                let runs = r.weight + 0.5;
                p.seconds *= (r.expected_ln() * r.weight / runs).exp();
                let spread = r.spread().max(h.typical_spread()).max(SPREAD_FLOOR);
                p.uncertainty = (spread / runs.sqrt()).exp();
                p.samples = r.weight;
                p.basis = if r.weight >= TRUSTED && p.basis <= Basis::Interpolated {
                    Basis::Measured
                } else {
                    p.basis.max(Basis::Interpolated)
                };
            }
            None => {
                // Nothing here yet: what neighbouring sizes and chunk counts showed, half-trusted.
                let near = h.mixed_nearby(size_class(n), cc);
                if near.is_observed() {
                    let weight = near.weight.min(2.0);
                    p.seconds *= (near.expected_ln() * weight / (weight + 0.5)).exp();
                }
                p.samples = 0.0;
                p.basis = p.basis.max(Basis::Interpolated);
                p.uncertainty = p.uncertainty.max(self.interpolated);
            }
        }
        Some(p)
    }

    /// The choice for `n` elements in `chunks` chunks among the `usable` candidates; with
    /// `forced`, only the leader among them (no exploration).
    pub fn decide(
        &self,
        history: &History,
        n: u128,
        chunks: u64,
        usable: &[bool],
        forced: bool,
    ) -> Option<Decision> {
        let class = size_class(n);
        let mut preds: Vec<Option<Prediction>> = (0..history.len())
            .map(|i| {
                usable[i]
                    .then(|| self.predict(history.backend(i), n, chunks))
                    .flatten()
            })
            .collect();
        if preds.iter().flatten().any(|p| p.basis == Basis::Prior) {
            // Priors that measured runs have proved wrong by a factor cast the same doubt on the
            // priors not yet run: the caller's numbers may all be off (units, another machine).
            let doubt = prior_miss(history, self.prior_cap);
            for p in preds.iter_mut().flatten() {
                if p.basis == Basis::Prior {
                    p.uncertainty = p.uncertainty.max(doubt);
                }
            }
        }
        let decision = |index, chosen_by, leader: usize, credit_spent| Decision {
            index,
            chosen_by,
            predicted: preds[index],
            leader,
            class,
            leader_seconds: preds[leader].map_or(0.0, |p| p.seconds),
            credit_spent,
        };
        // A usable candidate with no prediction at all cannot be judged until it has run.
        let unknown = (0..history.len()).find(|&i| usable[i] && preds[i].is_none());
        let leader = (0..history.len())
            .filter_map(|i| preds[i].map(|p| (i, p.score())))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i);
        let Some(leader) = leader else {
            return unknown.map(|i| {
                decision(
                    i,
                    if forced {
                        ChosenBy::Override
                    } else {
                        ChosenBy::Explore
                    },
                    i,
                    0.0,
                )
            });
        };
        if forced {
            return Some(decision(leader, ChosenBy::Override, leader, 0.0));
        }
        if let Some(i) = unknown {
            return Some(decision(i, ChosenBy::Explore, leader, 0.0));
        }
        let best = preds[leader].expect("the leader has a prediction").seconds;
        let others = || {
            (0..history.len())
                .filter(move |&i| i != leader)
                .filter_map(|i| preds[i].map(|p| (i, p)))
        };
        let could_win = others()
            .filter(|(_, p)| {
                p.samples < self.explore_runs
                    && p.optimistic() < best
                    && (p.samples == 0.0 || p.seconds < RETRY_RATIO * best)
            })
            .min_by(|a, b| a.1.optimistic().total_cmp(&b.1.optimistic()));
        if let Some((i, _)) = could_win {
            return Some(decision(i, ChosenBy::Explore, leader, 0.0));
        }
        let runs = history.runs[class];
        let unseen = |i: usize| runs - history.last_run[i][class].min(runs);
        let prior_due = others()
            .filter(|(i, p)| p.basis == Basis::Prior && unseen(*i) >= self.prior_runs)
            .max_by_key(|(i, _)| unseen(*i));
        if let Some((i, _)) = prior_due {
            return Some(decision(i, ChosenBy::Explore, leader, 0.0));
        }
        let credit = history.credit[class];
        let recheck = others()
            .filter_map(|(i, p)| {
                let cost = if p.basis == Basis::Prior {
                    p.seconds.min(self.prior_cap * best)
                } else {
                    p.seconds
                };
                (cost <= credit).then_some((i, cost))
            })
            .max_by_key(|&(i, _)| unseen(i));
        Some(match recheck {
            Some((i, cost)) => decision(i, ChosenBy::Explore, leader, cost),
            None => decision(leader, ChosenBy::Auto, leader, 0.0),
        })
    }

    /// Books a decision about to run: the bucket earns its share of the leader's time as
    /// exploration credit (calibration, which decides nothing, earns none) and spends what the
    /// decision explores with.
    pub fn commit(&self, history: &mut History, decision: &Decision) {
        let credit = &mut history.credit[decision.class];
        *credit += self.explore_share * decision.leader_seconds.min(MAX_SECONDS);
        *credit = (*credit - decision.credit_spent).max(0.0);
    }

    /// Learns from a finished run of candidate `i`: `seconds` for `n` elements in `chunks`
    /// chunks. Returns what became of the run in its bucket (`None` when it only taught the
    /// chunk cost).
    pub fn observe(
        &self,
        history: &mut History,
        i: usize,
        n: u128,
        chunks: u64,
        seconds: f64,
    ) -> Option<Added> {
        if !(seconds.is_finite() && seconds > 0.0) {
            return None;
        }
        let class = size_class(n);
        history.recorded += 1;
        history.runs[class] += 1;
        history.last_run[i][class] = history.runs[class];
        let h = history.backend_mut(i);
        // Mostly chunks (the calibration's one-element chunks, say): whatever is not the
        // elements is the chunks'. Unless that is a clear share of the run (the elements' time
        // itself may be off), it teaches nothing.
        if chunks >= CHUNKY
            && n <= CHUNK_BOUND * chunks as u128
            && let Some(f) = self
                .elements(h, n)
                .filter(|p| p.basis <= Basis::Interpolated)
        {
            let extra = seconds - f.seconds;
            if extra >= 0.3 * seconds {
                h.add_chunk_cost(class, extra / chunks as f64);
            }
        }
        // Many chunks: the run's time against the model teaches the correction for its size
        // and chunk count.
        let cc = chunk_class(chunks);
        if cc > 0
            && let Some((model, _)) = self.model(h, n, chunks)
        {
            h.add_mixed(class, cc, seconds / model.seconds.max(1e-12));
        }
        // A run of a default-like chunk count teaches its size bucket as it is (chunks and all).
        (cc == 0).then(|| h.add_run(class, seconds, n as f64, chunks as f64))
    }
}
