//! Why [`crate::Auto`] picks what it picks: every candidate's prediction, what it rests on, and
//! the buckets behind it.

use std::fmt;
use std::time::Duration;

use crate::backend::{BackendInfo, Basis, ChosenBy};

/// One size bucket of one candidate, as measured.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BucketReport {
    /// The element counts the bucket holds (`lo..=hi`).
    pub elements: (u128, u128),
    /// Runs in its centre (older ones fade: at most 32).
    pub runs: f64,
    /// Typical time of a run.
    pub centre: Duration,
    /// Spread as a factor: e^σ of ln t (1.10 means ±10 %).
    pub spread: f64,
    /// Gross outliers counted apart.
    pub outliers: f64,
}

/// One candidate in an [`Explanation`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CandidateReport {
    /// The backend.
    pub info: BackendInfo,
    /// Its predicted time for the request, and what the prediction rests on.
    pub predicted: Option<(Duration, Basis)>,
    /// Uncertainty of the prediction, as a factor ≥ 1.
    pub uncertainty: f64,
    /// The request's bucket and the nearest measured ones.
    pub buckets: Vec<BucketReport>,
    /// Its measured cost per chunk.
    pub chunk_cost: Option<Duration>,
    /// Why it is out of the running, if it is.
    pub failed: Option<String>,
}

/// Why [`crate::Auto`] picks what it picks for one request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Explanation {
    /// The request's size.
    pub elements: u128,
    /// Its chunks.
    pub chunks: u64,
    /// Every candidate.
    pub candidates: Vec<CandidateReport>,
    /// The backend the next such request runs on, if any is usable.
    pub picked: Option<BackendInfo>,
    /// How it would be chosen: by prediction, to explore, or forced.
    pub chosen_by: Option<ChosenBy>,
    /// Why, in words.
    pub reason: String,
    /// Where the observations came from (calibrated now, read from a file, given).
    pub origin: String,
    /// GPU adapters that could not be used, with the reason.
    pub skipped: Vec<String>,
}

fn short(d: Duration) -> String {
    let s = d.as_secs_f64();
    match s {
        s if s >= 1.0 => format!("{s:.3} s"),
        s if s >= 1e-3 => format!("{:.3} ms", s * 1e3),
        s => format!("{:.2} µs", s * 1e6),
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "auto for {} elements in {} chunks (observations {}):",
            self.elements, self.chunks, self.origin
        )?;
        for c in &self.candidates {
            let mark = if self.picked.as_ref() == Some(&c.info) {
                "*"
            } else {
                " "
            };
            write!(f, " {mark} {:<6} {:<18} ", c.info.kind, c.info.kernel)?;
            match (&c.failed, c.predicted) {
                (Some(why), _) => write!(f, "out: {why}")?,
                (None, Some((t, basis))) => write!(
                    f,
                    "predicted {:>11} {:<12} (×{:.2} either way)",
                    short(t),
                    basis.as_str(),
                    c.uncertainty
                )?,
                (None, None) => write!(f, "nothing measured")?,
            }
            if let Some(k) = c.chunk_cost {
                write!(f, ", {} per chunk", short(k))?;
            }
            writeln!(f, " on {}", c.info.device)?;
            for b in &c.buckets {
                writeln!(
                    f,
                    "       {:>9.3e}..{:<9.3e} elements: {:>5.1} runs, centre {:>11}, spread ±{:.0}%{}",
                    b.elements.0 as f64,
                    b.elements.1 as f64,
                    b.runs,
                    short(b.centre),
                    (b.spread - 1.0) * 100.0,
                    if b.outliers >= 0.5 {
                        format!(", {:.1} outliers", b.outliers)
                    } else {
                        String::new()
                    }
                )?;
            }
        }
        for s in &self.skipped {
            writeln!(f, "   skipped GPU: {s}")?;
        }
        write!(f, "picked: ")?;
        match (&self.picked, self.chosen_by) {
            (Some(p), Some(by)) => write!(f, "{} ({}) — {}", p.kind, by.as_str(), self.reason),
            _ => write!(f, "nothing — {}", self.reason),
        }
    }
}
