//! One sum from start to finish: check the range, plan the chunks, let a backend add them up,
//! verify every partial and the total against the closed form.

use std::borrow::Borrow;
use std::ops::RangeBounds;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::backend::{Backend, BackendInfo};
use crate::chunk::{ChunkPlan, Chunking};
use crate::error::Result;
use crate::range::SumRange;
use crate::verify::{ChunkSink, Progress};

/// A sum to run: the range, how to chunk it, whether to verify, and optional progress and
/// cancellation hooks.
///
/// ```
/// use parsum::{Simd, SumRequest};
/// let report = SumRequest::new(0..=u32::MAX as u64)?.chunks(100).run(&Simd::new())?;
/// assert_eq!(report.sum, report.expected);
/// assert!(report.verified);
/// # Ok::<(), parsum::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct SumRequest<'a> {
    range: SumRange,
    chunking: Chunking,
    verify: bool,
    cancel: Option<&'a AtomicBool>,
    observer: Option<&'a (dyn Fn(Progress) + Sync)>,
}

impl<'a> SumRequest<'a> {
    /// A request for `range`, default chunking, verification on.
    pub fn new(range: impl RangeBounds<u64>) -> Result<Self> {
        Ok(Self::from_range(SumRange::new(range)?))
    }

    /// A request for an already checked range.
    pub fn from_range(range: SumRange) -> Self {
        Self {
            range,
            chunking: Chunking::Default,
            verify: true,
            cancel: None,
            observer: None,
        }
    }

    /// Cut the range into `n` near-equal chunks (0 is an error when run).
    pub fn chunks(self, n: u64) -> Self {
        self.chunking(Chunking::Count(n))
    }

    /// Cut the range into chunks of `len` elements, the last one shorter (0 is an error when
    /// run).
    pub fn chunk_len(self, len: u128) -> Self {
        self.chunking(Chunking::Length(len))
    }

    /// Set the chunking directly.
    pub fn chunking(mut self, chunking: Chunking) -> Self {
        self.chunking = chunking;
        self
    }

    /// Check each chunk and the total against the closed form (on by default).
    pub fn verify(mut self, on: bool) -> Self {
        self.verify = on;
        self
    }

    /// Stop between pieces of work once `flag` is set; the run then returns `Error::Cancelled`.
    pub fn cancel_on(mut self, flag: &'a AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Call `observer` after every batch of finished chunks (from the thread that verified them).
    pub fn observe(mut self, observer: &'a (dyn Fn(Progress) + Sync)) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The range to sum.
    pub fn range(&self) -> SumRange {
        self.range
    }

    /// The chunk plan this request makes.
    pub fn plan(&self) -> Result<ChunkPlan> {
        ChunkPlan::new(self.range, self.chunking)
    }

    /// Runs the sum on `runner`: any [`Backend`], or [`crate::Auto`] (whose report also says how
    /// it chose).
    pub fn run<R: Runner + ?Sized>(&self, runner: &R) -> Result<R::Report> {
        runner.run(self)
    }

    /// Sums `plan` (this request's) on `backend`: the verified total and, when `timed`, the
    /// time it took (zero otherwise: reading the clock costs as much as a short sum).
    pub(crate) fn sum_on(
        &self,
        plan: &ChunkPlan,
        backend: &(impl Backend + ?Sized),
        timed: bool,
    ) -> Result<(u128, Duration)> {
        let sink = ChunkSink::new(plan, self.verify, self.cancel, self.observer);
        let started = timed.then(Instant::now);
        backend.sum_chunks(&sink)?;
        let elapsed = started.map_or(Duration::ZERO, |t| t.elapsed());
        Ok((sink.finish()?, elapsed))
    }

    /// The report of a sum of `plan` on `backend`.
    pub(crate) fn report(
        &self,
        plan: &ChunkPlan,
        sum: u128,
        elapsed: Duration,
        backend: &BackendInfo,
    ) -> SumReport {
        SumReport {
            range: self.range,
            chunks: plan.len(),
            sum,
            expected: self.range.closed_form(),
            verified: self.verify,
            elapsed,
            backend: backend.clone(),
        }
    }
}

/// What runs a [`SumRequest`]: every [`Backend`], and [`crate::Auto`], which picks one.
pub trait Runner {
    /// What a run returns: a [`SumReport`], or one that holds it.
    type Report: Borrow<SumReport>;

    /// Runs `request` (what [`SumRequest::run`] calls).
    fn run(&self, request: &SumRequest<'_>) -> Result<Self::Report>;
}

impl<B: Backend + ?Sized> Runner for B {
    type Report = SumReport;

    fn run(&self, request: &SumRequest<'_>) -> Result<SumReport> {
        let plan = request.plan()?;
        let (sum, elapsed) = request.sum_on(&plan, self, true)?;
        Ok(request.report(&plan, sum, elapsed, self.info()))
    }
}

/// The outcome of a [`SumRequest`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SumReport {
    /// The range summed.
    pub range: SumRange,
    /// Chunks it was cut into.
    pub chunks: u64,
    /// The sum the backend computed.
    pub sum: u128,
    /// The closed form of the range.
    pub expected: u128,
    /// True when every chunk and the total were checked against the closed form (and matched:
    /// a mismatch is an error, not a report).
    pub verified: bool,
    /// Time spent in the backend.
    pub elapsed: Duration,
    /// The backend that ran it (for [`crate::Auto`], the one it chose).
    pub backend: BackendInfo,
}

impl SumReport {
    /// Elements per second over `elapsed`.
    pub fn elements_per_second(&self) -> f64 {
        self.range.len() as f64 / self.elapsed.as_secs_f64().max(1e-12)
    }
}
