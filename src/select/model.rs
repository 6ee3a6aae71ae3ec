//! A cost model: latency + elements × per-element + chunks × per-chunk. Every backend has one as
//! its prior — the caller's ([`crate::Auto::with_models`]) or a built-in guess — and Auto keeps
//! what it measures relative to it.

use std::time::Duration;

use crate::backend::BackendKind;

/// Longest time a model predicts, in seconds (about 31 years), and the shortest (a picosecond):
/// inputs outside are clamped, so no model can overflow a `Duration` or poison a comparison.
const MAX_SECONDS: f64 = 1e9;
const MIN_SECONDS: f64 = 1e-12;

/// A straight-line cost model.
///
/// ```
/// use std::time::Duration;
/// use parsum::CostModel;
/// let gpu = CostModel::from_rate(Duration::from_micros(100), 3.0e9)
///     .per_chunk(Duration::from_nanos(50));
/// assert!(gpu.predict(1_000_000_000, 100) > Duration::from_millis(300));
/// assert_eq!(
///     CostModel::linear(Duration::from_millis(1), Duration::from_nanos(2)).predict(1000, 1),
///     Duration::from_micros(1002)
/// );
/// // Nonsense in is clamped, never a panic.
/// assert!(CostModel::linear(Duration::MAX, Duration::MAX).predict(u64::MAX as u128, 1) > Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    latency: f64,
    per_element: f64,
    per_chunk: f64,
}

fn clamp(seconds: f64) -> f64 {
    if seconds.is_nan() {
        MAX_SECONDS
    } else {
        seconds.clamp(0.0, MAX_SECONDS)
    }
}

impl CostModel {
    /// `fixed + elements × per_element` (chunks free). A `Duration` cannot hold less than a
    /// nanosecond per element; [`CostModel::from_rate`] can.
    pub fn linear(fixed: Duration, per_element: Duration) -> Self {
        Self::from_rate(fixed, 1.0 / per_element.as_secs_f64())
    }

    /// `latency + elements ÷ elements_per_second` (chunks free); a rate that is not finite and
    /// positive means elements cost nothing.
    pub fn from_rate(latency: Duration, elements_per_second: f64) -> Self {
        let per_element = if elements_per_second.is_finite() && elements_per_second > 0.0 {
            1.0 / elements_per_second
        } else {
            0.0
        };
        Self {
            latency: clamp(latency.as_secs_f64()),
            per_element: clamp(per_element),
            per_chunk: 0.0,
        }
    }

    /// The same model with a cost per chunk.
    pub fn per_chunk(mut self, per_chunk: Duration) -> Self {
        self.per_chunk = clamp(per_chunk.as_secs_f64());
        self
    }

    /// Predicted time for `elements` in `chunks` chunks.
    pub fn predict(&self, elements: u128, chunks: u64) -> Duration {
        Duration::from_secs_f64(self.seconds(elements, chunks))
    }

    /// Predicted seconds, from a picosecond to [`MAX_SECONDS`].
    pub(crate) fn seconds(&self, elements: u128, chunks: u64) -> f64 {
        let s = self.latency + elements as f64 * self.per_element + chunks as f64 * self.per_chunk;
        clamp(s).max(MIN_SECONDS)
    }

    /// parsum's own guess for its backends, before anything is measured. Only its shape matters
    /// for long: measured times replace its level.
    pub(crate) fn builtin(kind: BackendKind, threads: usize) -> Self {
        let ns = |n: u64| Duration::from_nanos(n);
        match kind {
            BackendKind::Scalar => Self::from_rate(ns(50), 3e9).per_chunk(ns(10)),
            BackendKind::Simd => {
                Self::from_rate(ns(100), 1.5e10 * threads as f64).per_chunk(ns(15))
            }
            BackendKind::Gpu => Self::from_rate(ns(200_000), 1e11).per_chunk(ns(5)),
        }
    }
}

/// A predicted time in seconds as a [`Duration`]: at most 10^9 s (so no prediction overflows
/// one), and that for one that is not finite.
pub(crate) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() {
        s.clamp(0.0, 1e9)
    } else {
        1e9
    })
}
