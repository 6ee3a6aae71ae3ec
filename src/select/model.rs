//! A backend's cost model: measured (elements, seconds) points, interpolated.
//!
//! A straight line (fixed cost + elements ÷ throughput) misses devices whose rate grows with size —
//! a GPU's fixed cost is large and its rate climbs over several decades; lavapipe's workgroups cost
//! more when there are many — so the model keeps every calibration point and interpolates between
//! them, extending past the largest one at the marginal rate.

use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::error::Result;
use crate::request::SumRequest;

/// Predicted time of a backend for any number of elements.
#[derive(Debug, Clone, PartialEq)]
pub struct CostModel {
    points: Vec<(u128, f64)>,
}

impl CostModel {
    /// A model through `points` (elements, seconds); `None` when there is none or a time is not
    /// finite and positive.
    pub fn from_points(mut points: Vec<(u128, f64)>) -> Option<Self> {
        if points.is_empty()
            || points
                .iter()
                .any(|&(n, t)| n == 0 || !(t.is_finite() && t > 0.0))
        {
            return None;
        }
        points.sort_by_key(|&(n, _)| n);
        points.dedup_by_key(|&mut (n, _)| n);
        Some(Self { points })
    }

    /// The straight line `fixed + elements × per_element` (for fakes and tests).
    pub fn linear(fixed: Duration, per_element: Duration) -> Self {
        let at = |n: u128| fixed.as_secs_f64() + n as f64 * per_element.as_secs_f64();
        Self {
            points: vec![(1, at(1)), (1 << 40, at(1 << 40))],
        }
    }

    /// The measured points.
    pub fn points(&self) -> &[(u128, f64)] {
        &self.points
    }

    /// Predicted seconds for `n` elements.
    pub fn predict(&self, n: u128) -> f64 {
        let p = &self.points;
        let (n0, t0) = p[0];
        if n <= n0 {
            return t0;
        }
        if let Some(i) = p.iter().position(|&(m, _)| m >= n) {
            let (a, ta) = p[i - 1];
            let (b, tb) = p[i];
            return ta + (tb - ta) * ((n - a) as f64 / (b - a) as f64);
        }
        let (nl, tl) = p[p.len() - 1];
        let average = tl / nl as f64;
        let slope = match p.len() {
            1 => average,
            len => {
                let (np, tp) = p[len - 2];
                let marginal = (tl - tp) / (nl - np) as f64;
                // Noise can make the last step look free or negative: never trust it beyond
                // the average rate, and never below a quarter of it.
                marginal.clamp(average / 4.0, average)
            }
        };
        tl + (n - nl) as f64 * slope
    }
}

/// How long a calibration may run a backend at one size before it stops growing the size.
pub const LONG_ENOUGH: Duration = Duration::from_millis(5);
/// Smallest calibration size.
pub const FIRST_SIZE: u64 = 1_000;

/// Measures `backend` on `0..n` for n = 10^3, 4·10^3, … until one run takes [`LONG_ENOUGH`], the
/// size passes 2^36, or `budget` is spent; each size is run once to warm up and twice timed
/// (the faster counts). Every run is a real, verified sum.
pub fn calibrate(backend: &dyn Backend, budget: Duration) -> Result<CostModel> {
    let started = Instant::now();
    let mut points = Vec::new();
    let mut n = FIRST_SIZE;
    loop {
        let request = SumRequest::new(0..n)?;
        request.run(backend)?;
        let t = (0..2)
            .map(|_| request.run(backend).map(|r| r.elapsed))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .min()
            .unwrap_or_default();
        points.push((n as u128, t.as_secs_f64().max(1e-9)));
        if t >= LONG_ENOUGH || n >= 1 << 36 || started.elapsed() >= budget {
            break;
        }
        n *= 4;
    }
    Ok(CostModel::from_points(points).expect("at least one positive point"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_and_extends() {
        let m = CostModel::from_points(vec![(1000, 1e-4), (1_000_000, 2e-4), (1_000_000_000, 0.1)])
            .unwrap();
        assert_eq!(m.predict(10), 1e-4);
        assert!((m.predict(500_500) - 1.5e-4).abs() < 1e-9);
        // Past the last point at the marginal rate (≈ 1e-10 s per element here).
        let p = m.predict(2_000_000_000);
        assert!((p - 0.2).abs() < 1e-3, "{p}");
    }

    #[test]
    fn linear_is_fixed_plus_rate() {
        let m = CostModel::linear(Duration::from_millis(1), Duration::from_nanos(1));
        assert!((m.predict(1_000_000) - 0.002).abs() < 1e-6);
        assert!((m.predict(1 << 50) - (0.001 + (1u64 << 50) as f64 * 1e-9)).abs() < 1.0);
    }

    #[test]
    fn rejects_nonsense() {
        assert!(CostModel::from_points(vec![]).is_none());
        assert!(CostModel::from_points(vec![(0, 1.0)]).is_none());
        assert!(CostModel::from_points(vec![(5, f64::NAN)]).is_none());
    }
}
