//! Running a one-thread kernel over a chunk plan: on the calling thread, and for long sums also on
//! the helper threads of a [`Crew`].
//!
//! The range is handed out in pieces (consecutive elements, possibly many small chunks or part of
//! a long one) from a shared cursor, largest first (a quarter of what is left per thread, down to
//! [`MIN_PIECE`]). The calling thread starts on the first piece at once and never waits for a
//! helper that has not started: helpers only take pieces that are left when they wake. So a sum is
//! never slower than the calling thread alone by more than the cost of waking the helpers and, at
//! the end, of waiting for the pieces they claimed (at most one [`MAX_PIECE`] each, longer only if
//! the host deschedules a helper mid-piece); whether that is worth paying is decided from costs
//! measured on this machine ([`Tuning`]).
//!
//! Chunks cut by piece boundaries are put together from their pieces; every chunk's partial goes
//! to the sink once, complete, in runs of consecutive chunks (one lock per run).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::crew::{Crew, Task};
use crate::chunk::ChunkPlan;
use crate::error::Result;
use crate::verify::ChunkSink;

/// Smallest piece handed out: ~5 µs of work for the SIMD kernel, so claiming one is cheap.
pub(crate) const MIN_PIECE: u128 = 1 << 16;
/// Largest piece: bounds how long a cancellation waits (~0.3 ms for SIMD, ~1 ms for scalar).
pub(crate) const MAX_PIECE: u128 = 1 << 22;
/// Most chunks in one piece, so that plans of many small chunks are shared out too.
const MAX_PIECE_CHUNKS: u64 = 1 << 12;

/// A one-thread kernel: the exact sum of `first..=last`.
pub(crate) trait Kernel: Copy + Send + Sync + 'static {
    fn sum(self, first: u64, last: u64) -> u128;
}

/// How fast the calling thread sums, as a running average: with the crew's typical wake-up time it
/// decides when helpers are worth waking.
#[derive(Debug)]
pub(crate) struct Tuning {
    /// Elements per second of one thread (f64 bits).
    rate: AtomicU64,
    /// Sums run alone that might have been worth helpers, since helpers last ran.
    skipped: AtomicU64,
}

/// Per-chunk cost assumed when deciding whether to spawn (verification plus a kernel call).
const CHUNK_SECONDS: f64 = 20e-9;
/// Every this many sums that ran alone but came close to the threshold, helpers run anyway, so
/// that a wake-up time once measured high is measured again.
const PROBE_EVERY: u64 = 16;

impl Tuning {
    /// A starting guess of 2 × 10^9 elements/s, replaced by measurements after the first runs.
    pub(crate) fn new() -> Self {
        Self {
            rate: AtomicU64::new(2e9f64.to_bits()),
            skipped: AtomicU64::new(0),
        }
    }

    fn rate(&self) -> f64 {
        f64::from_bits(self.rate.load(Ordering::Relaxed))
    }

    /// Running average with weight 1/8 for the new value (races only lose a sample).
    fn note_rate(&self, value: f64) {
        if value.is_finite() && value > 0.0 {
            let old = self.rate();
            self.rate
                .store((old + (value - old) / 8.0).to_bits(), Ordering::Relaxed);
        }
    }

    /// Seconds one thread would take for `elements` in `chunks` chunks.
    fn alone(&self, elements: u128, chunks: u64) -> f64 {
        elements as f64 / self.rate() + chunks as f64 * CHUNK_SECONDS
    }

    /// Whether helpers pay for themselves: the work alone must outlast their typical wake-up by
    /// half again (else it is nearly done before they arrive). Posting costs the calling thread
    /// only a notify, so near the threshold helpers are tried now and then.
    fn worth_helpers(&self, elements: u128, chunks: u64, wake: Duration) -> bool {
        let alone = self.alone(elements, chunks);
        let threshold = 1.5 * wake.as_secs_f64() + 5e-6;
        if alone >= threshold {
            self.skipped.store(0, Ordering::Relaxed);
            return true;
        }
        alone >= threshold / 10.0
            && self.skipped.fetch_add(1, Ordering::Relaxed) % PROBE_EVERY == PROBE_EVERY - 1
    }

    /// Elements per second of one thread, as measured.
    pub(crate) fn measured_rate(&self) -> f64 {
        self.rate()
    }
}

/// The sums of one piece: a run of complete chunks, and the parts of chunks it cut.
#[derive(Default)]
struct PieceSums {
    run_first: u64,
    run: Vec<u128>,
    /// (chunk, partial sum, elements covered): at most the head and the tail of the piece.
    parts: Vec<(u64, u128, u128)>,
}

/// Sums the elements at offsets `a..b` of `plan`.
fn sum_piece(plan: &ChunkPlan, kernel: impl Kernel, a: u128, b: u128) -> PieceSums {
    let start = plan.range().start();
    let mut out = PieceSums::default();
    for chunk in plan.iter_from(plan.chunk_at(a)) {
        let c_off = chunk.first as u128 - start;
        let c_end = c_off + chunk.len();
        let (x, y) = (a.max(c_off), b.min(c_end));
        let sum = kernel.sum((start + x) as u64, (start + y - 1) as u64);
        if x == c_off && y == c_end {
            if out.run.is_empty() {
                out.run_first = chunk.index;
            }
            out.run.push(sum);
        } else {
            out.parts.push((chunk.index, sum, y - x));
        }
        if c_end >= b {
            break;
        }
    }
    out
}

/// Chunks cut by piece boundaries, and finished runs waiting for the calling thread.
#[derive(Default)]
struct Assembly {
    open: BTreeMap<u64, (u128, u128)>,
    ready: Vec<(u64, Vec<u128>)>,
}

impl Assembly {
    /// Adds a piece's parts; chunks they complete become ready.
    fn add_parts(&mut self, plan: &ChunkPlan, parts: &[(u64, u128, u128)]) {
        for &(chunk, sum, covered) in parts {
            let entry = self.open.entry(chunk).or_insert((0, 0));
            entry.0 += sum;
            entry.1 += covered;
            if entry.1 == plan.offset_of(chunk + 1) - plan.offset_of(chunk) {
                let (sum, _) = self.open.remove(&chunk).unwrap_or_default();
                self.ready.push((chunk, vec![sum]));
            }
        }
    }
}

/// Hands pieces out.
struct Cursor {
    next: u128,
    end: u128,
    threads: u128,
}

impl Cursor {
    fn claim(&mut self, plan: &ChunkPlan) -> Option<(u128, u128)> {
        if self.next >= self.end {
            return None;
        }
        let a = self.next;
        let size = ((self.end - a) / (4 * self.threads)).clamp(MIN_PIECE, MAX_PIECE);
        let mut b = (a + size).min(self.end);
        let chunk_cap = plan.chunk_at(a).saturating_add(MAX_PIECE_CHUNKS);
        if chunk_cap < plan.len() {
            b = b.min(plan.offset_of(chunk_cap));
        }
        self.next = b;
        Some((a, b))
    }
}

/// Runs `kernel` over every chunk of `sink.plan()`, handing every chunk's partial to `sink`; with
/// a `crew`, its helpers join in when the sum is long enough to be worth waking them.
pub(crate) fn run(
    sink: &ChunkSink<'_>,
    kernel: impl Kernel,
    crew: Option<&Crew>,
    tuning: &Arc<Tuning>,
) -> Result<()> {
    let plan = *sink.plan();
    let n = plan.range().len();
    if n == 0 {
        return Ok(());
    }
    if let Some(crew) = crew
        && tuning.worth_helpers(n, plan.len(), crew.typical_wake())
    {
        return run_shared(sink, plan, kernel, crew, tuning);
    }
    let mut cursor = Cursor {
        next: 0,
        end: n,
        threads: 1,
    };
    let mut assembly = Assembly::default();
    while let Some((a, b)) = cursor.claim(&plan) {
        let started = Instant::now();
        let piece = sum_piece(&plan, kernel, a, b);
        note_rate(tuning, &piece, b - a, started);
        sink.accept_run(piece.run_first, &piece.run)?;
        assembly.add_parts(&plan, &piece.parts);
        for (first, partials) in assembly.ready.drain(..) {
            sink.accept_run(first, &partials)?;
        }
        sink.check_cancelled()?;
    }
    Ok(())
}

/// Pieces that are mostly elements time the kernel; pieces of many small chunks do not.
fn note_rate(tuning: &Tuning, piece: &PieceSums, elements: u128, started: Instant) {
    if elements >= MIN_PIECE && piece.run.len() + piece.parts.len() <= 4 {
        let secs = started.elapsed().as_secs_f64();
        if secs > 0.0 {
            tuning.note_rate(elements as f64 / secs);
        }
    }
}

struct Shared<K> {
    plan: ChunkPlan,
    kernel: K,
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

struct State {
    cursor: Cursor,
    in_flight: usize,
    assembly: Assembly,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<K: Kernel> Task for Shared<K> {
    /// A helper's part: take pieces until none is left (or the sum stopped), post the sums.
    fn help(&self) {
        loop {
            let (a, b) = {
                let mut st = lock(&self.state);
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Some(piece) = st.cursor.claim(&self.plan) else {
                    return;
                };
                st.in_flight += 1;
                piece
            };
            let piece = sum_piece(&self.plan, self.kernel, a, b);
            let mut st = lock(&self.state);
            st.assembly.add_parts(&self.plan, &piece.parts);
            if !piece.run.is_empty() {
                st.assembly.ready.push((piece.run_first, piece.run));
            }
            st.in_flight -= 1;
            drop(st);
            self.changed.notify_all();
        }
    }
}

/// The calling thread sums pieces alongside the crew's helpers and is the only one to talk to the
/// sink.
fn run_shared<K: Kernel>(
    sink: &ChunkSink<'_>,
    plan: ChunkPlan,
    kernel: K,
    crew: &Crew,
    tuning: &Arc<Tuning>,
) -> Result<()> {
    let shared = Arc::new(Shared {
        plan,
        kernel,
        state: Mutex::new(State {
            cursor: Cursor {
                next: 0,
                end: plan.range().len(),
                threads: crew.helpers() as u128 + 1,
            },
            in_flight: 0,
            assembly: Assembly::default(),
        }),
        changed: Condvar::new(),
        stop: AtomicBool::new(false),
    });
    let posted = crew.post(Arc::clone(&shared) as Arc<dyn Task>);
    let result = drive(sink, &shared, tuning);
    crew.retract(posted);
    if result.is_err() {
        shared.stop.store(true, Ordering::Relaxed);
    }
    result
}

fn drive<K: Kernel>(sink: &ChunkSink<'_>, shared: &Shared<K>, tuning: &Tuning) -> Result<()> {
    let plan = &shared.plan;
    loop {
        let (claimed, ready) = {
            let mut st = lock(&shared.state);
            let claimed = st.cursor.claim(plan);
            if claimed.is_some() {
                st.in_flight += 1;
            }
            (claimed, std::mem::take(&mut st.assembly.ready))
        };
        for (first, partials) in ready {
            sink.accept_run(first, &partials)?;
        }
        let Some((a, b)) = claimed else { break };
        let started = Instant::now();
        let piece = sum_piece(plan, shared.kernel, a, b);
        note_rate(tuning, &piece, b - a, started);
        let ready = {
            let mut st = lock(&shared.state);
            st.assembly.add_parts(plan, &piece.parts);
            st.in_flight -= 1;
            std::mem::take(&mut st.assembly.ready)
        };
        sink.accept_run(piece.run_first, &piece.run)?;
        for (first, partials) in ready {
            sink.accept_run(first, &partials)?;
        }
        sink.check_cancelled()?;
    }
    // Every piece is claimed: wait only for the ones helpers are still summing.
    loop {
        let ready = {
            let mut st = lock(&shared.state);
            while st.in_flight > 0 && st.assembly.ready.is_empty() {
                st = shared.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.in_flight == 0 && st.assembly.ready.is_empty() {
                return Ok(());
            }
            std::mem::take(&mut st.assembly.ready)
        };
        for (first, partials) in ready {
            sink.accept_run(first, &partials)?;
        }
        sink.check_cancelled()?;
    }
}
