//! A progress bar for sums that take over a second; nothing at all for shorter ones. It shows
//! elements, not chunks, and its own estimate of the time left: the bar starts a second into
//! the sum, after work it did not see, so indicatif's own rate (from the bar's start) was 0.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use parsum::Progress;

/// Runs shorter than this never show a bar.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// Steps of the bar.
const STEPS: u64 = 1000;

pub struct Bar {
    started: Instant,
    quiet: bool,
    bar: OnceLock<ProgressBar>,
}

/// Time left at the rate since the start: `elapsed` for `done` of `total` elements (`None` when
/// nothing is done yet, or it would not fit a `Duration`).
pub fn eta(elapsed: Duration, done: u128, total: u128) -> Option<Duration> {
    let left = elapsed.as_secs_f64() * (total.checked_sub(done)? as f64 / done as f64);
    Duration::try_from_secs_f64(left).ok().filter(|_| done > 0)
}

impl Bar {
    /// A bar, unless `quiet` (JSON output) keeps it off even on a terminal.
    pub fn new(quiet: bool) -> Self {
        Self {
            started: Instant::now(),
            quiet,
            bar: OnceLock::new(),
        }
    }

    /// Called from the backend's threads as chunks finish.
    pub fn update(&self, p: Progress) {
        let elapsed = self.started.elapsed();
        if self.quiet || elapsed < SHOW_AFTER {
            return;
        }
        let bar = self.bar.get_or_init(|| {
            let bar = ProgressBar::new(STEPS).with_elapsed(elapsed);
            let style = ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {msg}")
                .expect("valid template")
                .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        let left = eta(elapsed, p.elements_done, p.elements_total)
            .map_or("?".into(), |t| format!("{}s", t.as_secs()));
        bar.set_position((p.elements_done * STEPS as u128 / p.elements_total.max(1)) as u64);
        bar.set_message(format!(
            "{}/{} chunks, eta {left}",
            p.chunks_done, p.chunks_total
        ));
    }

    pub fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_follows_the_elements_done() {
        let s = Duration::from_secs;
        // A quarter done in a second: three seconds to go, whenever the bar appeared.
        assert_eq!(eta(s(1), 25, 100), Some(s(3)));
        assert_eq!(eta(s(4), 100, 100), Some(s(0)));
        assert_eq!(eta(s(1), 0, 100), None);
        assert_eq!(eta(s(1), 5, 4), None);
        // The whole domain's sizes do not overflow.
        assert_eq!(eta(s(1), 1 << 60, 1 << 64), Some(s(15)));
        assert_eq!(eta(s(1), 1, 1 << 40), Some(s((1 << 40) - 1)));
        assert_eq!(eta(s(2), 1, 1 << 64), None, "past what a Duration holds");
    }
}
