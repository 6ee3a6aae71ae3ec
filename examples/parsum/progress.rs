//! A progress bar for sums that take over a second; nothing at all for shorter ones. It shows
//! elements, not chunks, and its own estimate of the time left: the bar starts a second into
//! the sum, after work it did not see, so indicatif's own rate (from the bar's start) was 0.
//! Under `--repeat` one bar covers every run, the warm-up included, and its estimate is for all.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
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
    /// Runs finished, of `runs`.
    run: AtomicU32,
    runs: u32,
}

/// Time left at the rate since the start: `elapsed` for `done` of `total` elements (`None` when
/// nothing is done yet, or it would not fit a `Duration`).
pub fn eta(elapsed: Duration, done: u128, total: u128) -> Option<Duration> {
    let left = elapsed.as_secs_f64() * (total.checked_sub(done)? as f64 / done as f64);
    Duration::try_from_secs_f64(left).ok().filter(|_| done > 0)
}

impl Bar {
    /// A bar for `runs` runs of one sum, unless `quiet` (JSON output) keeps it off even on a
    /// terminal.
    pub fn new(quiet: bool, runs: u32) -> Self {
        Self {
            started: Instant::now(),
            quiet,
            bar: OnceLock::new(),
            run: AtomicU32::new(0),
            runs: runs.max(1),
        }
    }

    /// Called between runs: the next updates are the next run's.
    pub fn next_run(&self) {
        self.run.fetch_add(1, Ordering::Relaxed);
    }

    /// Called from the backend's threads as chunks finish.
    pub fn update(&self, p: Progress) {
        let elapsed = self.started.elapsed();
        if self.quiet || elapsed < SHOW_AFTER {
            return;
        }
        let bar = self.bar.get_or_init(|| {
            let bar = ProgressBar::new(STEPS).with_elapsed(elapsed);
            let style = ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {msg}")
                .expect("valid template")
                .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        let (position, message) = self.state(
            elapsed,
            (p.elements_done, p.elements_total),
            (p.chunks_done, p.chunks_total),
        );
        bar.set_position(position);
        bar.set_message(message);
    }

    /// The bar's position (of [`STEPS`]) and message, `elapsed` into the first run, with
    /// `(done, total)` elements and chunks in this run.
    fn state(
        &self,
        elapsed: Duration,
        elements: (u128, u128),
        chunks: (u64, u64),
    ) -> (u64, String) {
        let (elements_done, elements_total) = elements;
        let run = self.run.load(Ordering::Relaxed).min(self.runs - 1);
        // At most 2^64 elements a run and 2^32 runs: no overflow in u128.
        let total = elements_total * u128::from(self.runs);
        let done = elements_total * u128::from(run) + elements_done;
        let left = eta(elapsed, done, total).map_or("?".into(), |t| format!("{}s", t.as_secs()));
        let of_runs = match self.runs {
            1 => String::new(),
            n => format!("run {}/{n}, ", run + 1),
        };
        let message = format!("{of_runs}{}/{} chunks, eta {left}", chunks.0, chunks.1);
        ((done * u128::from(STEPS) / total.max(1)) as u64, message)
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
    fn under_repeat_one_bar_covers_every_run() {
        let bar = Bar::new(false, 4);
        let s = Duration::from_secs;
        // Half of the first of four runs in a second: seven more seconds.
        assert_eq!(
            bar.state(s(1), (50, 100), (5, 10)),
            (125, "run 1/4, 5/10 chunks, eta 7s".into())
        );
        bar.next_run();
        bar.next_run();
        // Two runs and a half in five seconds: three more.
        assert_eq!(
            bar.state(s(5), (50, 100), (5, 10)),
            (625, "run 3/4, 5/10 chunks, eta 3s".into())
        );
        let once = Bar::new(false, 1);
        assert_eq!(
            once.state(s(3), (100, 100), (10, 10)),
            (1000, "10/10 chunks, eta 0s".into())
        );
    }

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
