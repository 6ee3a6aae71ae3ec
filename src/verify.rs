//! The sink every backend hands its chunk partials to: it checks each one against the closed form,
//! adds them up, reports progress and carries the cancellation flag — and nothing else.
//!
//! Verification lives here, above the backends, so that a backend only sums and cannot skip it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::chunk::ChunkPlan;
use crate::error::{Error, Result};

/// Progress of one sum, as handed to an observer after each batch of finished chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Chunks finished so far.
    pub chunks_done: u64,
    /// Chunks in the plan.
    pub chunks_total: u64,
    /// Elements summed so far.
    pub elements_done: u128,
    /// Elements in the range.
    pub elements_total: u128,
}

/// Receives chunk partials from a backend (see [`crate::Backend::sum_chunks`]).
pub struct ChunkSink<'a> {
    plan: &'a ChunkPlan,
    verify: bool,
    cancel: Option<&'a AtomicBool>,
    observer: Option<&'a (dyn Fn(Progress) + Sync)>,
    state: Mutex<Tally>,
}

#[derive(Default)]
struct Tally {
    total: u128,
    chunks: u64,
    elements: u128,
    /// Chunks `0..done` are all reported: the common, in-order case, which needs no allocation.
    done: u64,
    /// Reported runs beyond `done`, as disjoint `start → end` (exclusive), merged as they touch:
    /// backends report in runs of consecutive chunks, so this stays small.
    ahead: BTreeMap<u64, u64>,
}

impl Tally {
    /// Marks `first..end` reported, or names a chunk in it that already was.
    fn mark(&mut self, first: u64, end: u64) -> Result<()> {
        if first < self.done {
            return Err(Error::DuplicateChunk { chunk: first });
        }
        let before = self
            .ahead
            .range(..=first)
            .next_back()
            .map(|(&s, &e)| (s, e));
        if before.is_some_and(|(_, e)| e > first) {
            return Err(Error::DuplicateChunk { chunk: first });
        }
        let after = self.ahead.range(first..).next().map(|(&s, &e)| (s, e));
        if let Some((s, _)) = after.filter(|&(s, _)| s < end) {
            return Err(Error::DuplicateChunk { chunk: s });
        }
        let (mut start, mut stop) = (first, end);
        if let Some((s, _)) = before.filter(|&(_, e)| e == first) {
            self.ahead.remove(&s);
            start = s;
        }
        if let Some((s, e)) = after.filter(|&(s, _)| s == end) {
            self.ahead.remove(&s);
            stop = e;
        }
        if start == self.done {
            self.done = stop;
        } else {
            self.ahead.insert(start, stop);
        }
        Ok(())
    }
}

impl<'a> ChunkSink<'a> {
    pub(crate) fn new(
        plan: &'a ChunkPlan,
        verify: bool,
        cancel: Option<&'a AtomicBool>,
        observer: Option<&'a (dyn Fn(Progress) + Sync)>,
    ) -> Self {
        Self {
            plan,
            verify,
            cancel,
            observer,
            state: Mutex::new(Tally::default()),
        }
    }

    /// Takes the partial sum of chunk `index`. Returns an error when the partial disagrees with
    /// the chunk's closed form (verification on) or the sum was cancelled: the backend must stop
    /// and return that error.
    pub fn accept(&self, index: u64, partial: u128) -> Result<()> {
        self.accept_from(index, &[partial])
    }

    /// Takes the partials of the consecutive chunks `first`, `first + 1`, …: one lock and one
    /// progress report for them all, so that many small chunks cost little.
    pub fn accept_from(&self, first: u64, partials: &[u128]) -> Result<()> {
        let count = partials.len() as u64;
        let end = first
            .checked_add(count)
            .filter(|&end| end <= self.plan.len())
            .ok_or(Error::MissingChunks {
                got: first.saturating_add(count),
                expected: self.plan.len(),
            })?;
        if count == 0 {
            return self.check_cancelled();
        }
        if self.verify {
            for (chunk, &partial) in self.plan.iter_from(first).zip(partials) {
                let expected = chunk.closed_form();
                if partial != expected {
                    return Err(Error::Mismatch {
                        chunk: chunk.index,
                        first: chunk.first,
                        last: chunk.last,
                        got: partial,
                        expected,
                    });
                }
            }
        }
        // Verified partials cannot overflow (any range's sum is below 2^127); unverified ones
        // from a faulty backend may, and must not panic.
        let sum = partials.iter().fold(0u128, |a, &p| a.wrapping_add(p));
        let elements = self.plan.offset_of(end) - self.plan.offset_of(first);
        let progress = {
            let mut tally = self.state.lock().unwrap_or_else(|e| e.into_inner());
            tally.mark(first, end)?;
            tally.total = tally.total.wrapping_add(sum);
            tally.chunks += count;
            tally.elements += elements;
            Progress {
                chunks_done: tally.chunks,
                chunks_total: self.plan.len(),
                elements_done: tally.elements,
                elements_total: self.plan.range().len(),
            }
        };
        if let Some(observe) = self.observer {
            observe(progress);
        }
        self.check_cancelled()
    }

    /// `Err(Cancelled)` once the caller's cancellation flag is set; backends call it between
    /// pieces of work that take long.
    pub fn check_cancelled(&self) -> Result<()> {
        match self.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }

    /// The plan the partials belong to.
    pub fn plan(&self) -> &ChunkPlan {
        self.plan
    }

    /// Closes the tally: every chunk must have been reported, and with verification on the total
    /// must equal the range's closed form.
    pub(crate) fn finish(self) -> Result<u128> {
        let tally = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        if tally.chunks != self.plan.len() {
            return Err(Error::MissingChunks {
                got: tally.chunks,
                expected: self.plan.len(),
            });
        }
        let expected = self.plan.range().closed_form();
        if self.verify && tally.total != expected {
            return Err(Error::TotalMismatch {
                got: tally.total,
                expected,
            });
        }
        Ok(tally.total)
    }
}
