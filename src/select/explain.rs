//! Why [`crate::Auto`] picks what it picks: every candidate's prediction, what it rests on, and
//! the entry behind it.

use std::fmt;
use std::time::Duration;

use super::history::Basis;
use super::policy::ChosenBy;

/// One candidate, as [`Explanation`] shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    pub name: String,
    pub device: String,
    pub predicted: Option<(Duration, Basis, f64)>,
    /// The request's own entry: samples, centre, spread factor, errors.
    pub entry: Option<(f64, Duration, f64, f64)>,
    pub failed: Option<String>,
    pub picked: bool,
}

/// What the next request of a size and chunk count would run on, and why; shown by `--explain`.
///
/// ```
/// use parsum::{Auto, AutoOptions, CacheSetting};
/// let auto = Auto::with_options(AutoOptions::default().cache(CacheSetting::Off).gpu(false))?;
/// let text = auto.explain(1_000_000).to_string();
/// assert!(text.starts_with("auto for 1000000 elements in 15 chunks"));
/// assert!(text.contains("picked: "));
/// # Ok::<(), parsum::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub(crate) elements: u128,
    pub(crate) chunks: u64,
    pub(crate) lines: Vec<Line>,
    pub(crate) chosen_by: Option<ChosenBy>,
    pub(crate) reason: String,
    pub(crate) origin: String,
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
            "auto for {} elements in {} chunks (history {}):",
            self.elements, self.chunks, self.origin
        )?;
        for l in &self.lines {
            let mark = if l.picked { "*" } else { " " };
            write!(f, " {mark} {:<22} ", l.name)?;
            match (&l.failed, l.predicted) {
                (Some(why), _) => write!(f, "out: {why}")?,
                (None, Some((t, basis, doubt))) => write!(
                    f,
                    "predicted {:>11} {:<8} (×{doubt:.2} either way)",
                    short(t),
                    basis.as_str()
                )?,
                (None, None) => write!(f, "not considered")?,
            }
            writeln!(f, " on {}", l.device)?;
            if let Some((runs, centre, spread, errors)) = l.entry {
                writeln!(
                    f,
                    "       here: {runs:.1} runs, centre {}, spread ±{:.0}%, {errors:.1} errors",
                    short(centre),
                    (spread - 1.0) * 100.0
                )?;
            }
        }
        match self.chosen_by {
            Some(by) => write!(f, "picked: {} — {}", by.as_str(), self.reason),
            None => write!(f, "picked: nothing — {}", self.reason),
        }
    }
}
