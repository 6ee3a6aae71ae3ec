//! One core, one add per element.

use std::sync::{Arc, OnceLock};

use super::cpu_run::{self, Kernel, Tuning};
use super::{Backend, BackendInfo, BackendKind, Ran, cpu_name};
use crate::error::Result;
use crate::verify::ChunkSink;

/// The one-core backend: a plain loop, one 64-bit add (plus carry) per element.
///
/// ```
/// use parsum::{Scalar, SumRequest};
/// let report = SumRequest::new(0..1_000_000)?.run(&Scalar::new())?;
/// assert_eq!(report.sum, 499_999_500_000);
/// # Ok::<(), parsum::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Scalar;

impl Scalar {
    /// The scalar backend (nothing to set up).
    pub fn new() -> Self {
        Self
    }
}

#[derive(Clone, Copy)]
struct AddCarry;

impl Kernel for AddCarry {
    fn sum(self, first: u64, last: u64) -> u128 {
        sum_inclusive(first, last)
    }
}

impl Backend for Scalar {
    fn info(&self) -> BackendInfo {
        BackendInfo::new(BackendKind::Scalar, "scalar/add-carry", cpu_name(), 1)
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<Ran> {
        // Only the calling thread works, so the tuning is never consulted; one is shared.
        static TUNING: OnceLock<Arc<Tuning>> = OnceLock::new();
        let tuning = TUNING.get_or_init(|| Arc::new(Tuning::new()));
        cpu_run::run(sink, AddCarry, None, tuning)?;
        Ok(Ran::new(self.info()))
    }
}

/// Adds `first..=last` one element at a time (0 when `first > last`).
///
/// LLVM rewrites a plain `for v in first..=last { acc += v }` into n·(a+b)/2, even with a u128
/// accumulator. An add whose carry-out is counted separately is an add/adc chain it does not
/// recognise as a sum of an induction variable, so every element really is added.
#[inline]
pub(crate) fn sum_inclusive(first: u64, last: u64) -> u128 {
    if first > last {
        return 0;
    }
    let mut low = 0u64;
    let mut carries = 0u64;
    let mut v = first;
    loop {
        let (s, carry) = low.overflowing_add(v);
        low = s;
        carries += u64::from(carry);
        if v == last {
            break;
        }
        v += 1;
    }
    ((carries as u128) << 64) | low as u128
}
