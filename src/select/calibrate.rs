//! First-use calibration: real, verified sums on every backend that has no history yet, so Auto
//! has something to judge by before its first request.
//!
//! Each backend is warmed up with up to five unrecorded runs (a backend's first runs in a process
//! pay for pipelines, threads and cold caches), then measured at 2^10, 2^12, 2^14, … elements,
//! interleaved size by size — every backend twice at one size, back to back (after one more
//! unrecorded run where a run takes under 100 µs), before any goes on — and twice at 2^10
//! elements in 2^10 one-element chunks (its cost per chunk). A backend stops growing once a run
//! takes [`LONG_ENOUGH`] or its next run would not fit its fair share of the budget left; the
//! budget is checked before every measured run, inside a size too. The warm-ups and the three
//! smallest sizes are run whatever the budget (at most about nine runs of a backend, the warm-ups
//! stopping at the first that takes 5 ms), so every backend — the GPU included — has points to
//! be judged by.
//!
//! [`plan`] is the procedure with the clock and the runs handed in, so that the tests run it in
//! virtual time; [`calibrate`] runs it on real backends.

use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::chunk::Chunking;
use crate::error::{Error, Result};
use crate::request::SumRequest;

/// A backend stops growing its size once one run takes this long.
pub const LONG_ENOUGH: Duration = Duration::from_millis(5);
/// Unrecorded runs per backend before the first measured one. One is not enough: sums of a
/// microsecond measured 2–3× their steady time for the first few runs of a process (cold
/// caches and branch predictors), enough to hide which backend is faster at small sizes.
const WARM_UPS: usize = 5;
/// Sizes whose last run took less than this get an unrecorded run before their measured ones.
const SHORT: Duration = Duration::from_micros(100);
/// Smallest calibration size.
pub const FIRST_SIZE: u128 = 1 << 10;
/// Largest calibration size.
const LAST_SIZE: u128 = 1 << 36;
/// Sizes measured whatever the budget and however long a run takes: the three smallest, so that a
/// calibrated backend always has the buckets Auto needs to count it as known (a loaded machine
/// does not mean a calibration at every start).
pub const ALWAYS: u32 = 3;

/// The calibration procedure over `count` backends: `now()` is the time spent so far,
/// `run(i, n, chunking)` sums `0..n` on backend `i` and returns its time and chunk count, and
/// every measured run goes to `record(i, n, chunks, time)`. Returns, per backend, why it failed.
pub fn plan(
    count: usize,
    budget: Duration,
    mut now: impl FnMut() -> Duration,
    mut run: impl FnMut(usize, u128, Chunking) -> Result<(Duration, u64)>,
    mut record: impl FnMut(usize, u128, u64, Duration),
) -> Vec<Option<Error>> {
    let mut failed: Vec<Option<Error>> = vec![None; count];
    let mut last = vec![Duration::ZERO; count];
    for i in 0..count {
        for _ in 0..WARM_UPS {
            match run(i, FIRST_SIZE, Chunking::Auto) {
                Ok((t, _)) => last[i] = t,
                Err(e) => {
                    failed[i] = Some(e);
                    break;
                }
            }
            if last[i] >= LONG_ENOUGH {
                break;
            }
        }
    }
    let mut active: Vec<usize> = (0..count).filter(|&i| failed[i].is_none()).collect();
    // A backend's fair share of the budget left.
    let share_of = |spent: Duration, active: &[usize]| {
        budget.saturating_sub(spent) / active.len().max(1) as u32
    };
    let mut step = 0u32;
    while !active.is_empty() {
        let n = FIRST_SIZE << (2 * step);
        // The faster of a size's two runs decides: one slow run does not end a backend's growth.
        let mut fastest = vec![Duration::MAX; count];
        for i in active.clone() {
            // A short sum right after another backend's runs finds cold caches: one unrecorded
            // run first, where that costs next to nothing (an error shows again below).
            if last[i] < SHORT && (step < ALWAYS || last[i] * 4 <= share_of(now(), &active)) {
                let _ = run(i, n, Chunking::Auto);
            }
            for rep in 0..2 {
                let predicted = last[i].saturating_mul(if rep == 0 && step > 0 { 4 } else { 1 });
                let share = share_of(now(), &active);
                if step >= ALWAYS && predicted > share {
                    active.retain(|&j| j != i);
                    break;
                }
                match run(i, n, Chunking::Auto) {
                    Ok((t, chunks)) => {
                        record(i, n, chunks, t);
                        fastest[i] = fastest[i].min(t);
                        last[i] = fastest[i];
                    }
                    Err(e) => {
                        failed[i] = Some(e);
                        active.retain(|&j| j != i);
                        break;
                    }
                }
            }
        }
        if step == 0 {
            // The cost of a chunk: the same 2^10 elements in one-element chunks.
            for &i in &active {
                for _ in 0..2 {
                    match run(i, FIRST_SIZE, Chunking::Length(1)) {
                        Ok((t, chunks)) => record(i, FIRST_SIZE, chunks, t),
                        Err(e) => failed[i] = Some(e),
                    }
                }
            }
            active.retain(|&i| failed[i].is_none());
        }
        if step + 1 >= ALWAYS {
            active.retain(|&i| last[i] < LONG_ENOUGH);
        }
        step += 1;
        if FIRST_SIZE << (2 * step) > LAST_SIZE {
            break;
        }
    }
    failed
}

/// Calibrates real `backends` on the clock; see [`plan`].
pub fn calibrate(
    backends: &[&dyn Backend],
    budget: Duration,
    record: impl FnMut(usize, u128, u64, Duration),
) -> Vec<Option<Error>> {
    let started = Instant::now();
    plan(
        backends.len(),
        budget,
        || started.elapsed(),
        |i, n, chunking| {
            let request =
                SumRequest::from_range(crate::SumRange::from_bounds(0, n)?).chunking(chunking);
            let report = request.run(backends[i])?;
            Ok((report.elapsed, report.chunks))
        },
        record,
    )
}
