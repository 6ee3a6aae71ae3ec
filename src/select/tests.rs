//! Auto's learning in virtual time: the real `decide` and `observe` (memo, credit, entries), fed
//! times from cost models with bounded noise instead of the clock. Every assertion is a bound the
//! policy states (`policy.rs`), checked for many seeds, with the noise's own bound folded in: a
//! run takes its model's time × a factor in [1, 1 + NOISE], so an entry's centre lies within
//! that factor of the truth and no run is ever an error or restarts an entry (ln(1 + NOISE) <
//! ln 1.5, the band).

use std::collections::BTreeMap;
use std::time::Duration;

use super::history::{Entry, FEW, YOUNG};
use super::policy::{EXPLORE_RUNS, PRIOR_PRICE, SHARE};
use super::*;
use crate::backend::BackendInfo;
use crate::verify::ChunkSink;

const NOISE: f64 = 0.3;

/// A stand-in that is never run: the simulation only decides and observes.
struct Idle(BackendInfo);

impl Backend for Idle {
    fn info(&self) -> &BackendInfo {
        &self.0
    }
    fn sum_chunks(&self, _: &ChunkSink<'_>) -> Result<()> {
        unreachable!("the simulation never runs a backend")
    }
}

/// A small deterministic generator (xorshift), so every seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// e^x for x uniform in [-ln(span), ln(span)].
    fn factor(&mut self, span: f64) -> f64 {
        ((2.0 * self.next() - 1.0) * span.ln()).exp()
    }
}

fn model(latency: f64, rate: f64) -> CostModel {
    CostModel::from_rate(Duration::from_secs_f64(latency), rate)
}

/// An Auto over fakes with `priors`.
fn auto(priors: &[CostModel]) -> Auto {
    let members = priors
        .iter()
        .map(|&m| {
            let info = BackendInfo::new(BackendKind::Simd, "fake", "virtual", 1);
            (Box::new(Idle(info)) as Box<dyn Backend>, m)
        })
        .collect();
    Auto::with_models(members, None)
}

/// What happened over one run of the simulation at one size.
#[derive(Default, Debug)]
struct Outcome {
    /// Each decision: the candidate, how it was chosen, the re-check price it paid.
    picks: Vec<(usize, ChosenBy, f64)>,
    /// Virtual seconds of re-checks, past those a prior predicted.
    recheck_seconds: f64,
    /// The leader's prediction, summed over every decision: what re-check credit is earned from.
    leader_predicted: f64,
}

fn simulate(auto: &Auto, truth: &[CostModel], n: u128, decisions: usize, rng: &mut Rng) -> Outcome {
    let mut out = Outcome::default();
    let chunks = default_chunks(n);
    for _ in 0..decisions {
        let (d, _, basis, record) = auto.decide(n, chunks).unwrap();
        let lead = {
            let l = auto.learner().unwrap();
            auto.choose(&l, n, chunks).unwrap().1[d.leader]
                .unwrap()
                .seconds
        };
        out.leader_predicted += lead;
        let t = truth[d.index].seconds(n, chunks) * (1.0 + NOISE * rng.next());
        // A re-check whose cost only a prior predicted is the one the bound on hidden candidates
        // covers, not the share.
        if d.price > 0.0 && basis != Basis::Prior {
            out.recheck_seconds += t;
        }
        out.picks.push((d.index, d.chosen_by, d.price));
        // As `execute` does: a candidate's first run is cold, and a short unsampled run is not
        // recorded.
        let cold = !auto.candidates[d.index].warm.swap(true, Ordering::Relaxed);
        if record || cold || t >= SAMPLE_BELOW {
            auto.observe(d.index, n, chunks, Duration::from_secs_f64(t), cold);
        }
    }
    out
}

#[test]
fn wrong_priors_are_overturned_and_rechecks_stay_within_their_share() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let k = 2 + (seed % 3) as usize;
        let (mut truth, mut priors) = (Vec::new(), Vec::new());
        for _ in 0..k {
            let (latency, rate) = (1e-6 * rng.factor(100.0), 1e10 * rng.factor(100.0));
            truth.push(model(latency, rate));
            // Priors off by up to 1000× either way, in latency and rate apart.
            priors.push(model(
                latency * rng.factor(1000.0),
                rate * rng.factor(1000.0),
            ));
        }
        let n = (1u128 << 10) << (seed % 30);
        let c = default_chunks(n);
        let a = auto(&priors);
        let out = simulate(&a, &truth, n, 3000, &mut rng);
        let best = truth
            .iter()
            .map(|m| m.seconds(n, c))
            .fold(f64::INFINITY, f64::min);
        // Every candidate runs within the hidden-candidate bound: its capped price is earned
        // within PRIOR_PRICE (k - 1) / SHARE decisions, the leader's prediction moving by at most
        // the noise meanwhile; plus the exploration rounds of the others.
        let bound = (PRIOR_PRICE * (k - 1) as f64 * (1.0 + NOISE) / SHARE).ceil() as usize
            + k * EXPLORE_RUNS as usize;
        let first: Vec<usize> = (0..k)
            .map(|i| {
                out.picks
                    .iter()
                    .position(|p| p.0 == i)
                    .unwrap_or(usize::MAX)
            })
            .collect();
        for (i, &at) in first.iter().enumerate() {
            assert!(
                at <= bound,
                "seed {seed}: candidate {i} first ran at {at} > {bound}"
            );
        }
        // Once all have run and been explored, a predicted pick is within the noise and a
        // one-sample doubt (e^0.3) of the fastest.
        let settled = first.iter().max().unwrap() + k * EXPLORE_RUNS as usize;
        let within = (1.0 + NOISE) * 0.3f64.exp();
        for (at, &(i, by, _)) in out.picks.iter().enumerate().skip(settled) {
            let t = truth[i].seconds(n, c);
            assert!(
                by != ChosenBy::Predicted || t <= within * best,
                "seed {seed} at {at}: {t} vs {best}"
            );
        }
        // Explorations: each candidate is explored while it has under EXPLORE_RUNS warm samples
        // here (its first run, cold, is not one), and no entry resets under this noise.
        let explored = out
            .picks
            .iter()
            .filter(|p| p.1 == ChosenBy::Explored && p.2 == 0.0)
            .count();
        assert!(
            explored <= k * (EXPLORE_RUNS as usize + 1),
            "seed {seed}: {explored} explorations"
        );
        // Re-checks (past each candidate's first, whose cost its prior hid) cost at most SHARE of
        // the leader's predicted time, × the noise: a measured candidate runs within (1 + NOISE)
        // of its prediction.
        assert!(
            out.recheck_seconds <= (1.0 + NOISE) * SHARE * out.leader_predicted,
            "seed {seed}: re-checks {} of {}",
            out.recheck_seconds,
            out.leader_predicted
        );
    }
}

#[test]
fn a_hidden_fastest_backend_is_found_within_the_bound() {
    for seed in 1..=50u64 {
        let mut rng = Rng(seed * 7919);
        // The fastest by far, hidden by a prior 10^4× too slow.
        let truth = [model(1e-6, 1e9), model(1e-6, 1e11)];
        let priors = [truth[0], model(1e-2, 1e7)];
        let a = auto(&priors);
        let out = simulate(&a, &truth, 1 << 24, 400, &mut rng);
        let found = out.picks.iter().position(|p| p.0 == 1).expect("found");
        let bound = (PRIOR_PRICE / SHARE * (1.0 + NOISE)).ceil() as usize + 1;
        assert!(found <= bound, "seed {seed}: found at {found} > {bound}");
        // From then on the fastest leads.
        let after = &out.picks[found + EXPLORE_RUNS as usize + 1..];
        assert!(
            after
                .iter()
                .filter(|p| p.1 == ChosenBy::Predicted)
                .all(|p| p.0 == 1),
            "seed {seed}"
        );
    }
}

#[test]
fn a_prior_that_puts_a_slow_backend_first_is_corrected_at_its_first_warm_run() {
    let truth = [model(1e-6, 1e11), model(1e-6, 1e9)];
    // Backend 1 claims to be 10^4× faster than it is. Its first run is cold, and a slow cold
    // run does not prove a prior wrong (the first run may pay for waking the device); nor do
    // fewer than EXPLORE_RUNS warm runs against a prior with no neighbours to side with them:
    // it runs once cold and EXPLORE_RUNS times warm, then never again here.
    let priors = [truth[0], model(1e-8, 1e13)];
    let a = auto(&priors);
    let out = simulate(&a, &truth, 1 << 24, 20, &mut Rng(3));
    let runs = 1 + EXPLORE_RUNS as usize;
    assert!(
        out.picks[..runs].iter().all(|p| p.0 == 1),
        "{:?}",
        out.picks
    );
    assert!(
        out.picks[runs..].iter().all(|p| p.0 == 0),
        "{:?}",
        out.picks
    );
}

#[test]
fn a_known_footprint_is_a_lookup_until_something_moves() {
    let truth = [model(1e-7, 2e10), model(1e-6, 1e9)];
    let a = auto(&truth);
    let n = 1 << 12;
    simulate(&a, &truth, n, 50, &mut Rng(5));
    let version = a.learner().unwrap().version;
    let chunks = default_chunks(n);
    let memo = |a: &Auto| a.learner().unwrap().places[Footprint::of(n, chunks).index()].memo;
    assert!(memo(&a).is_some_and(|m| m.version == version && m.decision.leader == 0));
    for _ in 0..10 {
        let (d, ..) = a.decide(n, chunks).unwrap();
        assert_eq!((d.index, d.chosen_by), (0, ChosenBy::Predicted));
    }
    assert_eq!(
        a.learner().unwrap().version,
        version,
        "deciding changed nothing"
    );
    // Short sums are sampled: one decision in SAMPLE_EVERY asks for a record.
    let timed = (0..64).filter(|_| a.decide(n, chunks).unwrap().3).count();
    assert_eq!(timed, 64 / SAMPLE_EVERY as usize);
    // A long one is always recorded.
    assert!(a.decide(1 << 30, 100).unwrap().3);
}

#[test]
fn an_empty_request_explores_nothing_and_books_nothing() {
    // Backend 1 is unmeasured and could beat the leader: a one-element request explores it.
    let a = auto(&[model(1e-6, 1e9), model(2e-6, 1e9)]);
    let (d, _, _, record) = a.decide(0, 0).unwrap();
    assert_eq!(
        (d.index, d.chosen_by, d.price),
        (0, ChosenBy::Predicted, 0.0)
    );
    assert!(!record);
    assert_eq!(a.explain(0).decision, Ok((0, 0, ChosenBy::Predicted)));
    // Explained in the chunks its plan has: none for no element, at most one per element.
    assert!(
        a.explain(0)
            .to_string()
            .starts_with("auto for 0 elements in 0 chunks")
    );
    let one = a.explain_for(1, 5).to_string();
    assert!(one.starts_with("auto for 1 element in 1 chunk "), "{one}");
    let ten = a.explain_for(10, u64::MAX).to_string();
    assert!(
        ten.starts_with("auto for 10 elements in 10 chunks"),
        "{ten}"
    );
    let place = a.learner().unwrap().places[Footprint::of(1, 1).index()].clone();
    assert_eq!(
        (place.calls, place.earned, place.memo.is_none()),
        (0, 0.0, true)
    );
    let (d, ..) = a.decide(1, 1).unwrap();
    assert_eq!((d.index, d.chosen_by), (1, ChosenBy::Explored));
}

#[test]
fn the_gpu_candidate_is_not_opened_while_it_cannot_win() {
    // With CPU backends measured fast and the GPU measured slow at this size, picking never
    // opens the GPU: only a request that goes to it does.
    let options = AutoOptions::default().cache(None);
    let a = Auto::with_options(options).unwrap();
    let gpu = a
        .candidates
        .iter()
        .position(|c| c.kind == BackendKind::Gpu)
        .unwrap();
    let n = 1000;
    for _ in 0..5 {
        let (d, ..) = a.decide(n, 1).unwrap();
        assert_ne!(
            d.index, gpu,
            "a 1000-element sum could not go to a GPU by its prior"
        );
        a.observe(d.index, n, 1, Duration::from_nanos(100), false);
    }
    let Member::Gpu(cell) = &a.candidates[gpu].member else {
        unreachable!()
    };
    assert!(cell.get().is_none(), "the GPU was opened");
}

#[test]
fn forced_kinds_build_nothing_else() {
    let a = Auto::with_options(
        AutoOptions::default()
            .cache(None)
            .force(Some(BackendKind::Simd)),
    )
    .unwrap();
    assert_eq!(a.candidates.len(), 1);
    assert_eq!(a.candidates[0].kind, BackendKind::Simd);
    let (d, ..) = a.decide(1 << 30, 100).unwrap();
    assert_eq!(d.chosen_by, ChosenBy::Forced);
}

/// A measurement, not a test of speed: what choosing and recording cost per call on a warm
/// footprint (`cargo test --release --lib choosing_and_recording -- --ignored --nocapture`).
#[test]
#[ignore]
fn choosing_and_recording_cost() {
    let truth = [model(1e-7, 2e10), model(1e-6, 1e9), model(2e-4, 1e11)];
    let a = auto(&truth);
    let (n, chunks) = (1000u128, 1u64);
    simulate(&a, &truth, n, 200, &mut Rng(9));
    let calls = 2_000_000;
    let started = std::time::Instant::now();
    for _ in 0..calls {
        let (d, ..) = a.decide(std::hint::black_box(n), chunks).unwrap();
        std::hint::black_box(d);
    }
    let choose = started.elapsed().as_secs_f64() / calls as f64;
    let started = std::time::Instant::now();
    for _ in 0..calls {
        a.observe(
            0,
            std::hint::black_box(n),
            chunks,
            Duration::from_nanos(150),
            false,
        );
    }
    let record = started.elapsed().as_secs_f64() / calls as f64;
    // As `execute` goes: decide, and record when asked (a record makes the next choice afresh).
    let started = std::time::Instant::now();
    for _ in 0..calls {
        let (d, _, _, record) = a.decide(std::hint::black_box(n), chunks).unwrap();
        if record {
            a.observe(d.index, n, chunks, Duration::from_nanos(150), false);
        }
    }
    let call = started.elapsed().as_secs_f64() / calls as f64;
    println!(
        "choose {:.1} ns, record {:.1} ns; per untimed short call {:.1} ns (one in {SAMPLE_EVERY} recorded)",
        choose * 1e9,
        record * 1e9,
        call * 1e9
    );
}

#[test]
fn a_slow_cold_first_run_does_not_keep_a_backend_out() {
    // Backend 0 is 2× faster warm, but its first run in the process is 10× slower (a cold
    // vector unit, say); backend 1 runs warm from the start. The cold run goes to a cold entry,
    // and backend 0 leads among warm runs.
    let truth = [model(1e-7, 2e10), model(1e-7, 1e10)];
    let a = auto(&truth);
    let (n, chunks) = (1u128 << 20, default_chunks(1 << 20));
    let mut picks = Vec::new();
    for _ in 0..50 {
        let (d, ..) = a.decide(n, chunks).unwrap();
        let cold = !a.candidates[d.index].warm.swap(true, Ordering::Relaxed);
        let t = truth[d.index].seconds(n, chunks) * if cold { 10.0 } else { 1.0 };
        a.observe(d.index, n, chunks, Duration::from_secs_f64(t), cold);
        picks.push(d.index);
    }
    assert!(picks[10..].iter().all(|&i| i == 0), "{picks:?}");
    // The cold run is kept apart: a fresh Auto given these entries would predict its cold cost.
    let l = a.learner().unwrap();
    let cold = l.entries[0].get(Footprint::of(n, chunks).cold(true));
    let warm = l.entries[0].get(Footprint::of(n, chunks));
    assert!(cold.count == 1.0 && warm.count > 3.0 && cold.mean > warm.mean + 2.0);
}

/// `processes` one-shot processes at 2^20 elements over `truth`, each a fresh Auto given the last
/// one's entries and making one (cold) run that takes `cold` × its true time. Planted: backend 0's
/// one cold run here and (if any) five at each neighbouring size class (ln ratios), backend 1's
/// five exact ones here. Each process's pick.
fn one_shot(
    truth: &[CostModel],
    (here, around): (f64, Option<f64>),
    cold: f64,
    processes: usize,
) -> Vec<(usize, ChosenBy)> {
    let (n, chunks) = (1u128 << 20, default_chunks(1 << 20));
    let f = Footprint::of(n, chunks).cold(true);
    let firm = |x| {
        let mut e = Entry::first(x);
        (0..4).for_each(|_| e.add(x));
        e
    };
    let mut ours = BTreeMap::from([(f, Entry::first(here))]);
    for (size, x) in around
        .into_iter()
        .flat_map(|x| [(f.size - 1, x), (f.size + 1, x)])
    {
        ours.insert(Footprint { size, ..f }, firm(x));
    }
    let mut store = Store::from([
        ("model 0".into(), ours),
        ("model 1".into(), [(f, firm(0.0))].into()),
    ]);
    let mut picks = Vec::new();
    for _ in 0..processes {
        let a = auto(truth);
        a.adopt(&store, false);
        let (d, ..) = a.decide(n, chunks).unwrap();
        assert!(!a.candidates[d.index].warm.swap(true, Ordering::Relaxed));
        let t = truth[d.index].seconds(n, chunks) * if d.index == 0 { cold } else { 1.0 };
        a.observe(d.index, n, chunks, Duration::from_secs_f64(t), true);
        picks.push((d.index, d.chosen_by));
        let l = a.learner().unwrap();
        let entries = a.candidates.iter().zip(&l.entries);
        store = entries
            .map(|(c, e)| {
                (
                    c.identity.clone(),
                    e.iter().map(|(f, e)| (*f, *e)).collect(),
                )
            })
            .collect();
    }
    picks
}

#[test]
fn a_cold_entry_of_few_runs_slower_than_its_cold_neighbours_is_run_again() {
    // Backend 0 is 2× faster than backend 1, cold or warm, but its one cold run here took 8× its
    // true time (a busy machine), while its cold runs at the sizes around say it is fast.
    // One-shot processes run it again: its true run restarts that young entry, and it leads.
    let truth = [model(1e-7, 2e10), model(1e-7, 1e10)];
    let picks = one_shot(&truth, (8f64.ln(), Some(0.0)), 1.0, 4);
    assert_eq!(picks[0], (0, ChosenBy::Explored), "{picks:?}");
    assert!(
        picks[1..].iter().all(|&p| p == (0, ChosenBy::Predicted)),
        "{picks:?}"
    );
    // With no cold neighbours (or slow ones) its slow cold run stands: a backend slow only on
    // its first run in a process is not run again by every one-shot process.
    for around in [None, Some(8f64.ln())] {
        let picks = one_shot(&truth, (8f64.ln(), around), 8.0, 6);
        assert!(
            picks.iter().all(|&p| p == (1, ChosenBy::Predicted)),
            "{around:?}: {picks:?}"
        );
    }
}

/// A backend that really adds every element, after a pause: its runs take at least `pause`.
struct Slow(BackendInfo, Duration);

impl Backend for Slow {
    fn info(&self) -> &BackendInfo {
        &self.0
    }
    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        std::thread::sleep(self.1);
        for c in sink.plan().iter() {
            sink.accept(c.index, (c.first..=c.last).map(u128::from).sum())?;
        }
        Ok(())
    }
}

#[test]
fn an_untimed_first_run_is_recorded_with_its_real_time() {
    // `Auto::sum` reads no clock for a short sum it does not sample, but a backend's first run is
    // always timed and recorded. Call 1 (sampled) runs A: B's cold entry says B is slow cold
    // (FEW runs at e^16 × its prior, 1.8 s; the real run, faster by far, restarts that entry).
    // Call 2 (not sampled) runs B, which its warm entry says is fast: B's first run, after a
    // pause, so its cold entry must now hold at least the pause.
    let pause = Duration::from_millis(2);
    let prior = model(1e-7, 1e10);
    let slow = |name, pause| {
        let info = BackendInfo::new(BackendKind::Scalar, name, "virtual", 1);
        (Box::new(Slow(info, pause)) as Box<dyn Backend>, prior)
    };
    let a = Auto::with_models(vec![slow("a", Duration::ZERO), slow("b", pause)], None);
    let request = SumRequest::new(1..=1000).unwrap();
    let chunks = request.plan().unwrap().len();
    let f = Footprint::of(1000, chunks);
    {
        let mut l = a.learner().unwrap();
        let mut fast = Entry::first(-3.0);
        (1..5).for_each(|_| fast.add(-3.0));
        l.entries[1].set(f, fast);
        // FEW runs: too many to doubt; at most YOUNG: so few that one fast run restarts them.
        const { assert!(FEW <= YOUNG) };
        let mut slow = Entry::first(16.0);
        (1..FEW as usize).for_each(|_| slow.add(16.0));
        l.entries[1].set(f.cold(true), slow);
        l.version += 1;
    }
    for _ in 0..2 {
        assert_eq!(a.sum(&request).unwrap(), 500_500);
    }
    let l = a.learner().unwrap();
    assert_eq!(l.entries[0].get(f.cold(true)).count, 1.0, "call 1 ran A");
    let cold = l.entries[1].get(f.cold(true));
    let least = (pause.as_secs_f64() / prior.seconds(1000, chunks)).ln();
    // Restarted from the real run: neither the seed nor an error beside it.
    assert!(
        cold.count == 1.0 && cold.errors == 0.0 && cold.mean >= least && cold.mean < 15.0,
        "{cold:?}"
    );
}
