//! Running a one-thread kernel over a chunk plan: on the calling thread alone, or — for sums of
//! at least [`SHARE_FROM`] elements, by a fixed rule — with the helpers of a [`Pool`].
//!
//! Alone, long chunks are summed in pieces of at most [`MAX_PIECE`] elements (so cancellation is
//! seen within about a millisecond), their partials buffered on the stack: nothing is allocated.
//!
//! Shared, pieces of whole [`UNIT`]s are handed out from an atomic cursor, largest first. The
//! calling thread starts at once, never waits for a helper that has not started, and takes over a
//! piece a helper is far slower with than it would be. No thread waits on another's lock but for
//! a claim or a hand-in (on a virtual machine a thread blocked on a futex can take a millisecond
//! to run again): helpers keep what they sum until the calling thread, which alone puts cut
//! chunks together and talks to the sink, collects it. A helper whose desk is full waits for
//! that, as one does that holds [`MOST_WAITING`] partials.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
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
/// Most partials a helper leaves waiting on its desk before it waits for the calling thread to
/// collect them, and about the most one piece holds: else helpers faster than the calling thread
/// feeds the sink would hold every partial of the sum (10^9 one-element chunks on 64 threads took
/// 12.7 GB).
const MOST_WAITING: usize = 1 << 16;
/// Room for pieces waiting to be collected, made with the helpers' desks and shared out between
/// them, but at least [`DESK_ROOM`] a desk: a helper waits when its desk is full, so it never
/// allocates to hand a piece in. Desks that grew as helpers handed in left hundreds of 1,025
/// threads on 2 CPUs waiting on the allocator's lock, and the process alive 30 s after Ctrl-C.
/// One helper may run 256 pieces (up to 2^30 elements) ahead of a calling thread that lost its
/// CPU.
const ROOM: usize = 256;
/// The least room on one desk: 1,023 helpers on 2 CPUs each summed some ten pieces between the
/// calling thread's turns.
const DESK_ROOM: usize = 16;

/// The room on each desk of a sum with `helpers`.
fn room(helpers: usize) -> usize {
    (ROOM / helpers.max(1)).max(DESK_ROOM)
}

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
        let room = room(pool.helpers());
        let shared = Arc::new(Shared {
            plan,
            kernel,
            cursor: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            desks: (0..pool.helpers())
                .map(|_| Mutex::new(Desk::new(room)))
                .collect(),
            helpers: AtomicUsize::new(0),
        });
        // The calling thread's first piece is claimed before the helpers are told: woken helpers
        // that ran before it (more threads than CPUs) claimed every piece, and it had no pace by
        // which to judge one of them late.
        if let Some(first) = shared.claim()
            && let Some(generation) = pool.post(Arc::clone(&shared) as Arc<dyn Task>)
        {
            let result = drive(sink, &shared, first);
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

/// What one piece gave: its run of whole chunks, and the parts of chunks it cut — the first
/// cut after its start, the last before its end — held inline: with 1,023 helpers on 2 CPUs,
/// 526 of the 1,025 threads, the calling thread and Ctrl-C's among them, were found waiting on
/// the allocator's lock, most for a piece's list of parts.
#[derive(Default)]
struct Piece {
    first: u64,
    run: Vec<u128>,
    parts: [Option<(u64, u128, u128)>; 2],
}

impl Piece {
    /// Partials it holds: its whole chunks and its cut ones.
    fn partials(&self) -> usize {
        self.run.len() + self.parts.iter().flatten().count()
    }
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
            // Slot 0: the first chunk, cut at the piece's start (and maybe at its end); slot 1:
            // the last chunk, cut only at the piece's end.
            piece.parts[usize::from(x == c_off)] = Some((chunk.index, sum, y - x));
        }
        if c_end >= b {
            break;
        }
    }
    piece
}

/// A helper's desk, which only it and the calling thread touch: the piece it is summing (element
/// offsets, and when it claimed them) and those it has summed, waiting to be collected.
struct Desk {
    current: Option<(u128, u128, Instant)>,
    done: Vec<Piece>,
}

impl Desk {
    /// A desk with room for `room` pieces.
    fn new(room: usize) -> Self {
        Self {
            current: None,
            done: Vec::with_capacity(room),
        }
    }

    /// Whether its helper must wait for the calling thread to collect before it sums more: no
    /// room for another piece, or [`MOST_WAITING`] partials waiting.
    fn full(&self) -> bool {
        self.done.len() == self.done.capacity() || self.waiting() >= MOST_WAITING
    }

    /// Partials in `done`.
    fn waiting(&self) -> usize {
        self.done.iter().map(Piece::partials).sum()
    }
}

/// A desk, unless its helper holds it this instant (claiming or handing in a piece).
fn try_desk(desk: &Mutex<Desk>) -> Option<MutexGuard<'_, Desk>> {
    match desk.try_lock() {
        Ok(d) => Some(d),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

struct Shared<K> {
    plan: ChunkPlan,
    kernel: K,
    /// Units handed out so far (the whole domain is 2^48 units).
    cursor: AtomicU64,
    /// Set once the calling thread is done (finished or failed): helpers take nothing more.
    stop: AtomicBool,
    /// One per helper: a helper claims a piece and notes it there under the desk's lock, so once
    /// the cursor is spent the calling thread sees every piece still out.
    desks: Vec<Mutex<Desk>>,
    helpers: AtomicUsize,
}

impl<K: Kernel> Shared<K> {
    /// The next piece's element offsets, if any is left.
    fn claim(&self) -> Option<(u128, u128)> {
        let n = self.plan.range().len();
        // Pieces of at most MAX_PIECE elements, and of about MOST_WAITING chunks or fewer.
        let shortest = n / u128::from(self.plan.len()).max(1);
        let most = (MAX_PIECE.min(shortest * MOST_WAITING as u128) / UNIT).max(1) as u64;
        let (units, threads) = (n.div_ceil(UNIT) as u64, self.desks.len() as u64 + 1);
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
        let Some(desk) = self.desks.get(me) else {
            return;
        };
        loop {
            while lock(desk).full() && !self.stop.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            let now = Instant::now();
            let (a, b) = {
                let mut d = lock(desk);
                let Some((a, b)) = self.claim() else { return };
                d.current = Some((a, b, now));
                (a, b)
            };
            let piece = sum_piece(&self.plan, self.kernel, a, b);
            let mut d = lock(desk);
            // Handed in, unless the calling thread took the piece over meanwhile.
            if d.current.take().is_some() {
                d.done.push(piece);
            }
        }
    }
}

/// The calling thread's side: its own pieces, the chunks cut by pieces put together, and the sink.
struct Collector<'s, 'a> {
    sink: &'s ChunkSink<'a>,
    /// Chunks cut by pieces: chunk → (sum so far, elements covered).
    open: BTreeMap<u64, (u128, u128)>,
    /// Empty between calls, made with a desk's room: a desk's pieces moved in never grow it.
    taken: Vec<Piece>,
    /// Elements this thread summed, and the time that took: its pace.
    summed: u128,
    busy: Duration,
}

impl Collector<'_, '_> {
    /// Sums elements `a..b` on this thread.
    fn sum<K: Kernel>(&mut self, shared: &Shared<K>, a: u128, b: u128) -> Result<()> {
        let started = Instant::now();
        let piece = sum_piece(&shared.plan, shared.kernel, a, b);
        (self.summed, self.busy) = (self.summed + (b - a), self.busy + started.elapsed());
        self.take(piece)
    }

    /// Hands `piece` to the sink, holding the chunks it cut until they are whole. Cancellation is
    /// looked for after every piece, not only where the sink hears of one (a piece inside a long
    /// chunk reaches it only with the chunk's last): with more threads than CPUs this thread
    /// runs in turns (1,025 threads on 2 CPUs: a turn about every 1.5 s).
    fn take(&mut self, piece: Piece) -> Result<()> {
        if !piece.run.is_empty() {
            self.sink.accept_from(piece.first, &piece.run)?;
        }
        for (chunk, sum, covered) in piece.parts.into_iter().flatten() {
            let open = self.open.entry(chunk).or_default();
            open.0 += sum;
            open.1 += covered;
            if open.1 == self.sink.plan().chunk(chunk).len() {
                self.sink.accept(chunk, open.0)?;
                self.open.remove(&chunk);
            }
        }
        self.sink.check_cancelled()
    }

    /// Takes the pieces moved into `taken` from a desk. Moved, not swapped: the desk's list and
    /// this one keep their room, so where chunks are longer than pieces no piece costs an
    /// allocation, or a free into the helper's allocator arena.
    fn take_taken(&mut self) -> Result<()> {
        let mut taken = std::mem::take(&mut self.taken);
        for piece in taken.drain(..) {
            self.take(piece)?;
        }
        self.taken = taken;
        Ok(())
    }

    /// Hands in what helpers have summed, but from a desk its helper holds this instant.
    fn collect<K: Kernel>(&mut self, shared: &Shared<K>) -> Result<()> {
        for desk in &shared.desks {
            if let Some(mut d) = try_desk(desk) {
                self.taken.append(&mut d.done);
            }
            self.take_taken()?;
        }
        Ok(())
    }

    /// Whether a helper's piece of `elements`, out for `out`, is overdue: out twice as long as
    /// this thread would take to sum it (this thread has summed a piece: its first is its own).
    fn overdue(&self, elements: u128, out: Duration) -> bool {
        out.as_secs_f64() * self.summed as f64 >= 2.0 * elements as f64 * self.busy.as_secs_f64()
    }
}

/// The calling thread's part: sum `first` and then pieces while any is left, then collect the
/// helpers' last ones.
fn drive<K: Kernel>(sink: &ChunkSink<'_>, shared: &Shared<K>, first: (u128, u128)) -> Result<()> {
    let mut collector = Collector {
        sink,
        open: BTreeMap::new(),
        taken: Vec::with_capacity(room(shared.desks.len())),
        summed: 0,
        busy: Duration::ZERO,
    };
    let mut piece = Some(first);
    while let Some((a, b)) = piece {
        collector.sum(shared, a, b)?;
        collector.collect(shared)?;
        piece = shared.claim();
    }
    // Every piece is claimed: wait only for those helpers are still summing, spinning first (a
    // piece takes well under a millisecond), then giving the core away. A piece overdue is taken
    // over and summed here (the helper's sum of it, when it comes, is dropped): a helper whose
    // CPU was taken by another process or the hypervisor costs the sum a piece's time or two —
    // unless it was taken in the instant the helper held its desk. (Two threads at 10^6 elements
    // ran 0.7× as fast as one for minutes on this project's VM.) A desk with no piece out is
    // final, as its helper can claim no more: its pieces are handed in then.
    let mut waiting = vec![true; shared.desks.len()];
    let started = Instant::now();
    while waiting.contains(&true) {
        // Also where no piece is taken: a helper off its CPU while it holds its desk.
        sink.check_cancelled()?;
        for (desk, waiting) in shared.desks.iter().zip(&mut waiting) {
            let Some(mut d) = try_desk(desk).filter(|_| *waiting) else {
                continue;
            };
            match d.current {
                Some((a, b, since)) if collector.overdue(b - a, since.elapsed()) => {
                    d.current = None;
                    drop(d);
                    collector.sum(shared, a, b)?;
                }
                Some(_) => {}
                None => {
                    collector.taken.append(&mut d.done);
                    drop(d);
                    *waiting = false;
                    collector.take_taken()?;
                }
            }
        }
        if started.elapsed() < Duration::from_micros(200) {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    sink.check_cancelled()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::scalar::sum_inclusive;
    use crate::request::SumRequest;
    use std::cell::Cell;

    /// The range whose pieces stall on a helper (each case's its own, so that a helper late from
    /// one case cannot stall in the next); the first element of the first piece that stalled; how
    /// many stalled; whether one has gone on since.
    static STALL: Mutex<Option<(u64, u64)>> = Mutex::new(None);
    static HELD_AT: Mutex<Option<u64>> = Mutex::new(None);
    static STALLED: AtomicUsize = AtomicUsize::new(0);
    static WENT_ON: AtomicBool = AtomicBool::new(false);
    /// Longest a helper is held, above the calling thread's waits (10 s each): a sum that waits
    /// for its helper fails the test instead of hanging.
    const HOLD: Duration = Duration::from_secs(60);
    const WAIT: Duration = Duration::from_secs(10);
    thread_local! {
        static CALLER: Cell<bool> = const { Cell::new(false) };
    }

    fn wait_for(done: impl Fn() -> bool) {
        let until = Instant::now() + WAIT;
        while !done() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// On a helper, a piece of the range in [`STALL`] is held until the test lets it go (or for
    /// [`HOLD`]): a helper whose CPU was taken away. The calling thread first waits until one is
    /// held, so that there is a piece to take over; taking it over, it lets the helper go and
    /// gives it time to hand the piece in, so that a late sum not dropped would reach the sink.
    fn stalling(first: u64, last: u64) -> u128 {
        let stall = *lock(&STALL);
        if CALLER.with(Cell::get) {
            wait_for(|| stall.is_none() || STALLED.load(Ordering::SeqCst) > 0);
            if stall.is_some() && *lock(&HELD_AT) == Some(first) {
                *lock(&STALL) = None;
                wait_for(|| WENT_ON.load(Ordering::SeqCst));
                std::thread::sleep(Duration::from_millis(20));
            }
        } else if let Some(range) = stall.filter(|&(lo, hi)| lo <= first && last <= hi) {
            lock(&HELD_AT).get_or_insert(first);
            STALLED.fetch_add(1, Ordering::SeqCst);
            let held = Instant::now();
            while *lock(&STALL) == Some(range) && held.elapsed() < HOLD {
                std::thread::sleep(Duration::from_millis(1));
            }
            WENT_ON.store(true, Ordering::SeqCst);
        }
        sum_inclusive(first, last)
    }

    /// Every piece's partials, for pieces inside a chunk, across chunks, ending on a boundary
    /// and at the domain's end: its cut ends inline (the start's cut first), the whole chunks
    /// between in its run, each the closed form of its elements.
    #[test]
    fn a_piece_holds_its_cut_ends_inline_and_its_whole_chunks_in_a_run() {
        let u = UNIT as u64;
        // Ten units in four chunks of 2.5 units, and the same ending at u64::MAX.
        for start in [1u64 << 40, u64::MAX - (10 * u - 1)] {
            let plan = SumRequest::new(start..=start + (10 * u - 1)).unwrap();
            let plan = plan.chunks(4).plan().unwrap();
            let c: Vec<_> = (0..4).map(|i| plan.chunk(i)).collect();
            let at = |off: u64| start + off;
            let part = |i: usize, first: u64, last: u64| {
                Some((
                    i as u64,
                    crate::range::closed_form(first, last),
                    u128::from(last - first) + 1,
                ))
            };
            let cases = [
                // Inside chunk 0, cut at both ends; inside it from its start.
                (3, u, 0, vec![], [part(0, at(3), at(u - 1)), None]),
                (0, u, 0, vec![], [None, part(0, at(0), at(u - 1))]),
                // From inside chunk 1 to inside chunk 3: chunk 2 whole.
                (
                    3 * u + u / 2,
                    9 * u,
                    2,
                    vec![2],
                    [
                        part(1, at(3 * u + u / 2), c[1].last),
                        part(3, c[3].first, at(9 * u - 1)),
                    ],
                ),
                // From inside chunk 0 to inside chunk 1: two cuts, no whole chunk.
                (
                    u,
                    3 * u,
                    0,
                    vec![],
                    [
                        part(0, at(u), c[0].last),
                        part(1, c[1].first, at(3 * u - 1)),
                    ],
                ),
                // Ending on chunk 2's end: chunk 2 whole; to the domain's end: chunks 2 and 3.
                (
                    3 * u,
                    7 * u + u / 2,
                    2,
                    vec![2],
                    [part(1, at(3 * u), c[1].last), None],
                ),
                (
                    3 * u,
                    10 * u,
                    2,
                    vec![2, 3],
                    [part(1, at(3 * u), c[1].last), None],
                ),
            ];
            // Partials each case holds: its whole chunks and its cut ones.
            let partials = [1, 1, 3, 2, 2, 3];
            for ((a, b, first, whole, parts), partials) in cases.into_iter().zip(partials) {
                let piece = sum_piece(&plan, sum_inclusive, a.into(), b.into());
                let run: Vec<u128> = whole.iter().map(|&i| c[i].closed_form()).collect();
                assert_eq!(
                    (piece.first, &piece.run, piece.parts),
                    (first, &run, parts),
                    "{a}..{b}"
                );
                assert_eq!(piece.partials(), partials, "{a}..{b}");
                if whole.is_empty() {
                    assert_eq!(piece.run.capacity(), 0, "{a}..{b}: nothing to allocate for");
                }
            }
        }
    }

    /// A helper far ahead of a calling thread that never collects stops at its bound — of
    /// partials (2^24 one-element chunks), or of pieces (one chunk of 2^32 elements: over a
    /// thousand pieces), its desk never grown — and goes on once told the sum is done.
    #[test]
    fn a_helper_leaves_at_most_its_bound_waiting() {
        for (n, chunks) in [(1u128 << 24, 1u64 << 24), (1 << 32, 1)] {
            let plan = SumRequest::new(0..n as u64).unwrap().chunks(chunks).plan();
            let shared = Arc::new(Shared {
                plan: plan.unwrap(),
                // The bound does not depend on the kernel: the closed form fills the desk at once.
                kernel: crate::range::closed_form,
                cursor: AtomicU64::new(0),
                stop: AtomicBool::new(false),
                desks: vec![Mutex::new(Desk::new(room(1)))],
                helpers: AtomicUsize::new(0),
            });
            let made = lock(&shared.desks[0]).done.capacity();
            let helper = std::thread::spawn({
                let shared = Arc::clone(&shared);
                move || shared.help()
            });
            wait_for(|| lock(&shared.desks[0]).full());
            assert!(lock(&shared.desks[0]).full(), "the desk never filled");
            // A helper that did not wait would have summed all of it by now.
            std::thread::sleep(Duration::from_millis(200));
            let (held, pieces) = {
                let d = lock(&shared.desks[0]);
                (d.waiting(), d.done.len())
            };
            if chunks == 1 {
                assert_eq!(pieces, made, "{held} partials waiting");
            } else {
                assert!(held >= MOST_WAITING, "{held}");
                assert!(held < 2 * MOST_WAITING, "{held} partials waiting");
            }
            shared.stop.store(true, Ordering::SeqCst);
            helper.join().unwrap();
            let d = lock(&shared.desks[0]);
            assert_eq!(d.done.capacity(), made, "the desk grew");
            assert_eq!(d.done.iter().map(Piece::partials).sum::<usize>(), held);
        }
    }

    #[test]
    fn a_stalled_helper_is_not_waited_for_and_its_late_sum_is_dropped() {
        CALLER.with(|c| c.set(true));
        // More helpers than CPUs too: they sleep at once, and woken ones may run before the
        // calling thread claims a piece.
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        for helpers in [1, 3, cpus + 3] {
            let pool = Pool::new(helpers).unwrap();
            let cases = [
                (u64::MAX - SHARE_FROM as u64, SHARE_FROM, 1),
                (1 << 40, 1 << 20, 7),
                (7 + helpers as u64, 10 * UNIT + 5, 1000),
            ];
            for (first, n, chunks) in cases {
                let last = first + (n - 1) as u64;
                let plan = SumRequest::new(first..=last).unwrap().chunks(chunks).plan();
                let plan = plan.unwrap();
                let expected = n * (first as u128 + last as u128) / 2;
                let run = || {
                    // Verified: the sink refuses a chunk given twice, or one left out.
                    let sink = ChunkSink::new(&plan, true, None, None);
                    sum_plan(&sink, stalling, Some(&pool)).unwrap();
                    sink.finish().unwrap()
                };
                *lock(&HELD_AT) = None;
                STALLED.store(0, Ordering::SeqCst);
                WENT_ON.store(false, Ordering::SeqCst);
                *lock(&STALL) = Some((first, last));
                // Exact, a held helper's piece taken over and its own sum of it dropped.
                assert_eq!(run(), expected, "{helpers} {n}");
                assert!(
                    STALLED.load(Ordering::SeqCst) > 0,
                    "{n}: no helper was held"
                );
                // Let go by the takeover, not by the hold running out.
                assert_eq!(
                    *lock(&STALL),
                    None,
                    "{helpers} {n}: the sum waited for its helper"
                );
                // Helpers late or not, the next sum is exact too.
                assert_eq!(run(), expected, "{helpers} {n}");
            }
        }
    }
}
