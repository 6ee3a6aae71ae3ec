//! One core, one add per element.

use super::{Backend, BackendInfo, BackendKind, cpu_name};
use crate::error::Result;
use crate::verify::ChunkSink;

/// Elements summed between two looks at the cancellation flag (about 0.1 s at 3.5 G/s).
const CANCEL_STRIDE: u64 = 1 << 28;

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

impl Backend for Scalar {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Scalar,
            kernel: "scalar/add-carry".into(),
            device: cpu_name(),
            threads: 1,
        }
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        for chunk in sink.plan().iter() {
            let mut partial = 0u128;
            let mut first = chunk.first;
            loop {
                let last = chunk.last.min(first.saturating_add(CANCEL_STRIDE - 1));
                partial += sum_inclusive(first, last);
                if last == chunk.last {
                    break;
                }
                sink.check_cancelled()?;
                first = last + 1;
            }
            sink.accept(chunk.index, partial)?;
        }
        Ok(())
    }
}

/// Adds `first..=last` one element at a time. `first <= last`.
///
/// LLVM rewrites a plain `for v in first..=last { acc += v }` into n·(a+b)/2, even with a u128
/// accumulator. An add whose carry-out is counted separately is an add/adc chain it does not
/// recognise as a sum of an induction variable, so every element really is added.
#[inline]
pub(crate) fn sum_inclusive(first: u64, last: u64) -> u128 {
    debug_assert!(first <= last);
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
