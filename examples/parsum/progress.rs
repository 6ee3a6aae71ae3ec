//! A progress bar for sums that take over a second; nothing at all for shorter ones.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use parsum::Progress;

/// Runs shorter than this never show a bar.
const SHOW_AFTER: Duration = Duration::from_secs(1);

pub struct Bar {
    started: Instant,
    total: u64,
    quiet: bool,
    bar: OnceLock<ProgressBar>,
}

impl Bar {
    /// A bar for `total` chunks; `quiet` (JSON output) keeps it off even on a terminal.
    pub fn new(total: u64, quiet: bool) -> Self {
        Self {
            started: Instant::now(),
            total,
            quiet,
            bar: OnceLock::new(),
        }
    }

    /// Called from the backend's threads after every chunk.
    pub fn update(&self, p: Progress) {
        if self.quiet || self.started.elapsed() < SHOW_AFTER {
            return;
        }
        let bar = self.bar.get_or_init(|| {
            let bar = ProgressBar::new(self.total).with_elapsed(self.started.elapsed());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} chunks, eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        bar.set_position(p.chunks_done);
    }

    pub fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}
