//! Running a one-thread kernel over a chunk plan: on the calling thread alone, or — for sums of
//! at least [`SHARE_FROM`] elements, by a fixed rule — with the helpers of a [`Pool`].
//!
//! Alone, long chunks are summed in pieces of at most [`MAX_PIECE`] elements (so cancellation is
//! seen within about a millisecond), their partials buffered on the stack: nothing is allocated.
//!
//! Shared, pieces of whole [`UNIT`]s are handed out from an atomic cursor, largest first. The
//! calling thread starts at once and never waits for a helper that has not started, and no thread
//! ever blocks on another's lock (on a virtual machine a thread blocked on a futex can take a
//! millisecond to run again): helpers keep what they sum until the calling thread, which alone
//! puts cut chunks together and talks to the sink, collects it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::pool::{Pool, Task};
use crate::backend::lock;
use crate::chunk::ChunkPlan;
use crate::error::Result;
use crate::verify::ChunkSink;

/// A one-thread kernel: the exact sum of `first..=last` (`first <= last`).
pub(crate) trait Kernel: Fn(u64, u64) -> u128 + Copy + Send + Sync + 'static {}
impl<F: Fn(u64, u64) -> u128 + Copy + Send + Sync + 'static> Kernel for F {}

/// Elements in the smallest piece: a few microseconds of work.
const UNIT: u128 = 1 << 16;
/// Elements in the largest piece: bounds how long a cancellation or the final wait takes.
const MAX_PIECE: u128 = 1 << 22;
/// Sums of at least this many elements are shared: two of the smallest pieces, so a helper that
/// arrives in time halves them.
pub(crate) const SHARE_FROM: u128 = 2 * UNIT;
/// Partials buffered before they go to the sink in one call.
const BUFFER: usize = 256;

/// Sums every chunk of `sink.plan()` with `kernel`, sharing the work with `pool`'s helpers when
/// the sum is long enough.
pub(crate) fn sum_plan(
    sink: &ChunkSink<'_>,
    kernel: impl Kernel,
    pool: Option<&Pool>,
) -> Result<()> {
    let plan = *sink.plan();
    if let Some(pool) = pool
        && plan.range().len() >= SHARE_FROM
    {
        let shared = Arc::new(Shared {
            plan,
            kernel,
            cursor: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            done: (0..pool.helpers()).map(|_| Mutex::default()).collect(),
            helpers: AtomicUsize::new(0),
        });
        if let Some(generation) = pool.post(Arc::clone(&shared) as Arc<dyn Task>) {
            let result = drive(sink, &shared);
            shared.stop.store(true, Ordering::SeqCst);
            pool.retract(generation);
            return result;
        }
    }
    alone(sink, &plan, kernel)
}

fn alone(sink: &ChunkSink<'_>, plan: &ChunkPlan, kernel: impl Kernel) -> Result<()> {
    // Partials of chunks `first..first + len`, waiting to go to the sink in one call.
    let (mut sums, mut first, mut len) = ([0u128; BUFFER], 0u64, 0usize);
    // Elements summed since the sink last heard from us.
    let mut since = 0u128;
    for chunk in plan.iter() {
        let mut sum = 0u128;
        let mut at = chunk.first;
        loop {
            let end = chunk.last.min(at.saturating_add(MAX_PIECE as u64 - 1));
            sum += kernel(at, end);
            since += (end - at) as u128 + 1;
            if end == chunk.last {
                sums[len] = sum;
                len += 1;
            }
            if len == BUFFER || since >= MAX_PIECE {
                sink.accept_from(first, &sums[..len])?;
                (first, len) = (first + len as u64, 0);
                since = if since >= MAX_PIECE { 0 } else { since };
            }
            if end == chunk.last {
                break;
            }
            at = end + 1;
        }
    }
    sink.accept_from(first, &sums[..len])
}

/// What one piece gave: its run of whole chunks, and the parts of chunks it cut (at most two).
#[derive(Default)]
struct Piece {
    first: u64,
    run: Vec<u128>,
    parts: Vec<(u64, u128, u128)>,
}

/// Sums the elements at offsets `a..b` of `plan`.
fn sum_piece(plan: &ChunkPlan, kernel: impl Kernel, a: u128, b: u128) -> Piece {
    let start = plan.range().start();
    let mut piece = Piece::default();
    for chunk in plan.iter_from(plan.chunk_at(a)) {
        let (c_off, c_end) = (chunk.first as u128 - start, chunk.last as u128 + 1 - start);
        let (x, y) = (a.max(c_off), b.min(c_end));
        let sum = kernel((start + x) as u64, (start + y - 1) as u64);
        if x == c_off && y == c_end {
            if piece.run.is_empty() {
                piece.first = chunk.index;
            }
            piece.run.push(sum);
        } else {
            piece.parts.push((chunk.index, sum, y - x));
        }
        if c_end >= b {
            break;
        }
    }
    piece
}

struct Shared<K> {
    plan: ChunkPlan,
    kernel: K,
    /// Units handed out so far (the whole domain is 2^48 units).
    cursor: AtomicU64,
    /// Helpers between their first claim and handing in the last piece they claimed.
    in_flight: AtomicUsize,
    /// Set once the calling thread is done (finished or failed): helpers take nothing more.
    stop: AtomicBool,
    /// Each helper's summed pieces, collected by the calling thread: one lock per helper, which
    /// only that helper and the collector take, the collector never waiting for it.
    done: Vec<Mutex<Vec<Piece>>>,
    helpers: AtomicUsize,
}

impl<K: Kernel> Shared<K> {
    /// The next piece's element offsets, if any is left.
    fn claim(&self) -> Option<(u128, u128)> {
        let (n, most) = (self.plan.range().len(), (MAX_PIECE / UNIT) as u64);
        let (units, threads) = (n.div_ceil(UNIT) as u64, self.done.len() as u64 + 1);
        let end = |at: u64| at + ((units - at) / (4 * threads)).clamp(1, most);
        let at = self
            .cursor
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |at| {
                (at < units && !self.stop.load(Ordering::SeqCst)).then(|| end(at))
            })
            .ok()?;
        Some((at as u128 * UNIT, (end(at) as u128 * UNIT).min(n)))
    }
}

impl<K: Kernel> Task for Shared<K> {
    /// A helper's part: take pieces until none is left or the caller is done.
    fn help(&self) {
        let me = self.helpers.fetch_add(1, Ordering::SeqCst);
        let Some(done) = self.done.get(me) else {
            return;
        };
        // Raised before the first claim and lowered after the last piece is in: the caller, once
        // its own claim fails, waits for every piece claimed before that.
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        while let Some((a, b)) = self.claim() {
            let piece = sum_piece(&self.plan, self.kernel, a, b);
            lock(done).push(piece);
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The calling thread's side: the chunks cut by pieces, put together, and the sink.
struct Collector<'s, 'a> {
    sink: &'s ChunkSink<'a>,
    /// Chunks cut by pieces: chunk → (sum so far, elements covered).
    open: BTreeMap<u64, (u128, u128)>,
}

impl Collector<'_, '_> {
    fn take(&mut self, piece: Piece) -> Result<()> {
        if !piece.run.is_empty() {
            self.sink.accept_from(piece.first, &piece.run)?;
        }
        for (chunk, sum, covered) in piece.parts {
            let open = self.open.entry(chunk).or_default();
            open.0 += sum;
            open.1 += covered;
            if open.1 == self.sink.plan().chunk(chunk).len() {
                self.sink.accept(chunk, open.0)?;
                self.open.remove(&chunk);
            }
        }
        Ok(())
    }

    /// Hands in what helpers have summed; with `wait`, only a lock a helper holds this instant
    /// is skipped.
    fn collect<K: Kernel>(&mut self, shared: &Shared<K>, wait: bool) -> Result<()> {
        for done in &shared.done {
            let pieces = match done.try_lock() {
                Ok(mut d) => std::mem::take(&mut *d),
                Err(_) if wait => std::mem::take(&mut *lock(done)),
                Err(_) => continue,
            };
            for piece in pieces {
                self.take(piece)?;
            }
        }
        self.sink.check_cancelled()
    }
}

/// The calling thread's part: sum pieces while any is left, then collect the helpers' last ones.
fn drive<K: Kernel>(sink: &ChunkSink<'_>, shared: &Shared<K>) -> Result<()> {
    let mut collector = Collector {
        sink,
        open: BTreeMap::new(),
    };
    while let Some((a, b)) = shared.claim() {
        collector.take(sum_piece(&shared.plan, shared.kernel, a, b))?;
        collector.collect(shared, false)?;
    }
    // Every piece is claimed: wait only for those helpers are still summing, spinning first (a
    // piece takes well under a millisecond), then giving the core away.
    let started = Instant::now();
    while shared.in_flight.load(Ordering::SeqCst) > 0 {
        if started.elapsed() < Duration::from_micros(200) {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    collector.collect(shared, true)
}
