//! One core, one add per element.

use super::name::cpu_name;
use super::pieces;
use crate::backend::{Backend, BackendInfo, BackendKind};
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
#[derive(Debug, Clone)]
pub struct Scalar {
    info: BackendInfo,
}

impl Scalar {
    /// The scalar backend (nothing to set up).
    pub fn new() -> Self {
        Self {
            info: BackendInfo::new(BackendKind::Scalar, "scalar/add-carry", cpu_name(), 1),
        }
    }
}

impl Default for Scalar {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for Scalar {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        pieces::sum_plan(sink, sum_inclusive, None)
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
