//! Auto given wrong priors, on the real CPU backends: how many sums it takes to find out.
//!
//! `cargo run --release --example priors` runs three scenarios at 10^7 elements (100 chunks):
//! 1. scalar's prior claims it 30× faster than it is, so it goes first: its measured runs
//!    overrule it;
//! 2. both priors are off, in opposite directions: once scalar is measured far off its prior,
//!    simd, whose prior is within its doubt (4×) of scalar's measured time, is tried;
//! 3. the priors hide simd (said to be 10^4× slower than it is, scalar's prior right): Auto finds
//!    it by the bounded re-check of candidates never measured (within 200 runs: PRIOR_PRICE ×
//!    (k − 1) ÷ SHARE).
//!
//! Each prints the run at which simd became Auto's steady choice. Timings are this machine's;
//! nothing here is a test (`src/select/tests.rs` runs such scenarios in virtual time).

use std::time::Duration;

use parsum::{Auto, Backend, BackendKind, CostModel, Scalar, Simd, SumRequest};

const N: u64 = 10_000_000;
const RUNS: usize = 400;

fn scenario(name: &str, scalar: CostModel, simd: CostModel) -> Result<(), parsum::Error> {
    let auto = Auto::with_models(
        vec![
            (Box::new(Scalar::new()) as Box<dyn Backend>, scalar),
            (Box::new(Simd::new()), simd),
        ],
        None,
    );
    let request = SumRequest::new(0..N)?;
    let mut picks = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let report = request.run(&auto)?;
        picks.push(report.backend.kind);
    }
    // The first run from which every pick is simd.
    let settled = picks
        .iter()
        .rposition(|&k| k != BackendKind::Simd)
        .map_or(0, |i| i + 1);
    let first = picks.iter().position(|&k| k == BackendKind::Simd);
    let scalar_runs = picks.iter().filter(|&&k| k == BackendKind::Scalar).count();
    println!(
        "{name}: simd first run at {}, steady from run {} of {RUNS}; scalar ran {scalar_runs} times",
        first.map_or("never".into(), |i| (i + 1).to_string()),
        settled + 1,
    );
    Ok(())
}

fn main() -> Result<(), parsum::Error> {
    // Scalar said to run 10^11 elements/s (30× too fast), simd's prior about right.
    scenario(
        "a prior that puts a much slower backend first",
        CostModel::from_rate(Duration::ZERO, 1e11),
        CostModel::from_rate(Duration::ZERO, 2e10),
    )?;
    // Both off, in opposite directions: scalar said 30× too fast, simd 25× too slow.
    scenario(
        "every prior wrong",
        CostModel::from_rate(Duration::ZERO, 1e11),
        CostModel::from_rate(Duration::ZERO, 1e9),
    )?;
    // Simd said to take 1000 s per 10^9 elements: never worth trying on its prior alone.
    scenario(
        "a prior that hides the fastest backend",
        CostModel::from_rate(Duration::ZERO, 3e9),
        CostModel::from_rate(Duration::ZERO, 1e6),
    )?;
    Ok(())
}
