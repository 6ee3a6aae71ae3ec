//! Why [`crate::Auto`] picks what it picks: every candidate's prediction, what it rests on, and
//! the entry behind it.

use std::fmt;
use std::time::Duration;

use super::history::Basis;
use super::model::secs;
use super::policy::ChosenBy;
use crate::backend::BackendKind;

/// One candidate, as [`Explanation`] shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    pub kind: BackendKind,
    pub kernel: String,
    pub device: String,
    /// Predicted time, its basis, the factor it may be off by.
    pub predicted: Option<(Duration, Basis, f64)>,
    /// The request's own entry (cold, for a backend not run yet in this Auto): samples, centre,
    /// spread factor, errors, cold.
    pub entry: Option<(f64, Duration, f64, f64, bool)>,
    pub failed: Option<String>,
}

/// What the next request of a size and chunk count would run on, and why; `--explain` prints it.
///
/// ```
/// use parsum::{Auto, AutoOptions};
/// let auto = Auto::with_options(AutoOptions::default().cache(None).gpu(false))?;
/// let text = auto.explain(1_000_000).to_string();
/// assert!(text.starts_with("auto for 1000000 elements in 15 chunks"));
/// assert!(text.contains("picked: "));
/// # Ok::<(), parsum::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub(crate) elements: u128,
    pub(crate) chunks: u64,
    pub(crate) origin: String,
    pub(crate) lines: Vec<Line>,
    /// The candidate picked, the leader, and how; or why there is none.
    pub(crate) decision: Result<(usize, usize, ChosenBy), String>,
}

fn short(d: Duration) -> String {
    // Each boundary lowered by half the next unit's last digit: 0.9999996 s is "1.000 s", not
    // "1000.000 ms".
    match d.as_secs_f64() {
        s if s >= 0.999_999_5 => format!("{s:.3} s"),
        s if s >= 0.999_995e-3 => format!("{:.3} ms", s * 1e3),
        s => format!("{:.2} µs", s * 1e6),
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |n: u128| if n == 1 { "" } else { "s" };
        writeln!(
            f,
            "auto for {} element{} in {} chunk{} (history {}):",
            self.elements,
            s(self.elements),
            self.chunks,
            s(self.chunks.into()),
            self.origin
        )?;
        let picked = self.decision.as_ref().ok().map(|d| d.0);
        for (i, l) in self.lines.iter().enumerate() {
            let mark = if picked == Some(i) { "*" } else { " " };
            write!(f, " {mark} {:<22} ", l.kernel)?;
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
            if let Some((runs, centre, spread, errors, cold)) = l.entry {
                let (spread, here) = ((spread - 1.0) * 100.0, if cold { "cold" } else { "here" });
                writeln!(
                    f,
                    "       {here}: {runs:.1} runs, centre {}, spread ±{spread:.0}%, {errors:.1} errors",
                    short(centre)
                )?;
            }
        }
        let kind = |i: usize| self.lines[i].kind;
        let (index, leader, by) = match &self.decision {
            Ok(d) => *d,
            Err(why) => return write!(f, "picked: nothing — {why}"),
        };
        write!(f, "picked: {} — ", by.as_str())?;
        match by {
            ChosenBy::Forced => write!(f, "PARSUM_BACKEND forces {}", kind(index)),
            ChosenBy::Explored => write!(
                f,
                "exploring {}: it could be faster here, or its bounded re-check is due; the leader is {}",
                kind(index),
                kind(leader)
            ),
            ChosenBy::Predicted => {
                // The leader's rule: the lowest predicted time × the factor it may be off by,
                // capped as `secs` caps a duration, so the ratio below stays finite.
                let worst = |i: usize| {
                    let p = self.lines[i].predicted;
                    p.map_or(f64::INFINITY, |(t, _, doubt)| {
                        (t.as_secs_f64() * doubt).min(1e9)
                    })
                };
                let others = (0..self.lines.len())
                    .filter(|&j| j != index && self.lines[j].predicted.is_some());
                match others.min_by(|&a, &b| worst(a).total_cmp(&worst(b))) {
                    Some(j) => write!(
                        f,
                        "{} has the lowest predicted time allowing for its doubt, {} against {} for {} ({:.1}x)",
                        kind(index),
                        short(secs(worst(index))),
                        short(secs(worst(j))),
                        kind(j),
                        worst(j) / worst(index).max(1e-12)
                    ),
                    None => write!(f, "{} is the only usable backend", kind(index)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_times_round_into_the_next_unit() {
        let cases = [
            (0.999_999_6, "1.000 s"),
            (0.999_999_4, "999.999 ms"),
            (999.999_6e-6, "1.000 ms"),
            (999.994e-6, "999.99 µs"),
            (2.5, "2.500 s"),
            (12e-9, "0.01 µs"),
        ];
        for (s, text) in cases {
            assert_eq!(short(Duration::from_secs_f64(s)), text, "{s}");
        }
    }

    #[test]
    fn the_leader_is_named_by_its_rule() {
        // Scalar leads with the longer prediction, measured surely; simd's could be 2.6× off.
        let line = |kind, us: u64, doubt| Line {
            kind,
            kernel: kind.to_string(),
            device: "here".into(),
            predicted: Some((Duration::from_micros(us), Basis::Measured, doubt)),
            entry: None,
            failed: None,
        };
        let e = Explanation {
            elements: 1_000_000,
            chunks: 15,
            origin: "off".into(),
            lines: vec![
                line(BackendKind::Scalar, 100, 1.0),
                line(BackendKind::Simd, 89, 2.6),
            ],
            decision: Ok((0, 0, ChosenBy::Predicted)),
        };
        let text = e.to_string();
        assert!(
            text.ends_with("scalar has the lowest predicted time allowing for its doubt, 100.00 µs against 231.40 µs for simd (2.3x)"),
            "{text}"
        );
    }
}
