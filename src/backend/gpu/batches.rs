//! Cutting a chunk plan into GPU submissions: pure arithmetic, built and tested without a GPU.
//!
//! A batch is one submission: at most 2^32 consecutive values, never across a multiple of 2^32 (so
//! the shader never carries into a value's high half), cut into segments (the pieces of chunks in
//! it). The shader spreads the batch's elements evenly over invocations, so its work grows with
//! elements + chunks, not chunks × workgroup size; a segment that crosses a workgroup boundary
//! leaves one partial per workgroup, which a second dispatch adds up (one workgroup per
//! *crossing*). Batches also bound each submission's work (no driver watchdog trips), the grid
//! (65535 workgroups per dimension, folded into rows) and the buffer sizes.

use crate::chunk::ChunkPlan;

/// Invocations per workgroup; must match `WG` in `shaders/range_sum.wgsl`.
pub(crate) const WORKGROUP: u32 = 256;
/// Most values in one batch: offsets within a batch fit a u32.
pub(crate) const MAX_BATCH: u64 = 1 << 32;
/// Segments per batch by default: a 1 MiB table of starts and 4 MiB of sums.
pub(crate) const MAX_SEGMENTS: usize = 1 << 18;
/// Fewest values one invocation adds, on every device: one 16-value trip of the shader's loop.
pub(crate) const MIN_PER_INVOCATION: u32 = 16;
/// Most values one invocation adds on a GPU: each invocation has a fixed cost, and no submission
/// may run for long.
pub(crate) const MAX_PER_INVOCATION: u32 = 16384;
/// Most values one invocation adds on a CPU device: no watchdog there, and workgroups cost more.
pub(crate) const MAX_PER_INVOCATION_CPU: u32 = 65536;
/// How far a batch may shrink the run per invocation so that no run holds more than one segment
/// boundary (see `one_cut`); past this, adding piece by piece measured faster.
pub(crate) const MAX_SHRINK: u32 = 2;
/// Workgroups a batch aims for on a GPU: a few waves on a large one.
pub(crate) const TARGET_GROUPS: u64 = 8192;
/// Workgroups a batch aims for on a CPU device: a few per core, as each costs a CPU far more.
pub(crate) const TARGET_GROUPS_CPU: u64 = 16;

/// Limits of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchLimits {
    /// Most elements in one submission, 1 to [`MAX_BATCH`].
    pub(crate) max_elements: u64,
    /// Most segments in one submission, at least 1.
    pub(crate) max_segments: usize,
    /// Most workgroups per grid dimension on the device.
    pub(crate) max_groups_per_dim: u32,
    /// Workgroups a batch aims for ([`TARGET_GROUPS`] or [`TARGET_GROUPS_CPU`]).
    pub(crate) target_groups: u64,
    /// Most values one invocation adds ([`MAX_PER_INVOCATION`] or [`MAX_PER_INVOCATION_CPU`]);
    /// rounded down to a power of two, at least [`MIN_PER_INVOCATION`].
    pub(crate) max_per_invocation: u32,
}

impl BatchLimits {
    /// Limits for a GPU (`cpu_device` false) or a CPU device such as lavapipe.
    pub(crate) fn new(max_elements: u64, max_groups_per_dim: u32, cpu_device: bool) -> Self {
        let (target_groups, max_per_invocation) = if cpu_device {
            (TARGET_GROUPS_CPU, MAX_PER_INVOCATION_CPU)
        } else {
            (TARGET_GROUPS, MAX_PER_INVOCATION)
        };
        Self {
            max_elements: max_elements.clamp(1, MAX_BATCH),
            max_segments: MAX_SEGMENTS,
            max_groups_per_dim: max_groups_per_dim.max(1),
            target_groups,
            max_per_invocation,
        }
    }

    /// Most workgroups a batch can have (sizes the edge-partials buffer), allowing for runs
    /// shrunk by up to [`MAX_SHRINK`] to hold one boundary each.
    pub(crate) fn max_groups(&self) -> u64 {
        let elements = self.max_elements.clamp(1, MAX_BATCH);
        let groups = |k: u32| elements.div_ceil(WORKGROUP as u64 * k as u64);
        let most = self.target_groups.max(groups(most_per_invocation(self))) * MAX_SHRINK as u64;
        most.min(groups(MIN_PER_INVOCATION)).max(1)
    }
}

/// A piece of one chunk inside a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// The chunk it belongs to.
    pub(crate) chunk: u64,
    /// Offset of its first value from the batch's first value.
    pub(crate) start: u32,
    /// True when this is the chunk's last segment.
    pub(crate) ends_chunk: bool,
}

/// A segment spanning several workgroups: the second dispatch adds up their partials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Crossing {
    /// Index of the segment in its batch.
    pub(crate) segment: u32,
    /// Workgroup holding the segment's first value.
    pub(crate) first_group: u32,
    /// Workgroup holding its last value.
    pub(crate) last_group: u32,
}

/// One submission's worth of values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Value at offset 0.
    pub(crate) first: u64,
    /// Values in the batch, 1 to [`MAX_BATCH`].
    pub(crate) len: u64,
    /// The segments, in order; the first starts at offset 0.
    pub(crate) segments: Vec<Segment>,
    /// Values each invocation adds (a power of two).
    pub(crate) per_invocation: u32,
    /// True when no invocation's run holds more than one segment boundary: the shader then adds
    /// each run in one uniform loop (see `shaders/range_sum.wgsl`).
    pub(crate) one_cut: bool,
    /// Workgroups in the batch.
    pub(crate) groups: u32,
    /// Workgroups per row of the grid (`x`); rows are `y`.
    pub(crate) groups_per_row: u32,
    /// Segments that the second dispatch puts together.
    pub(crate) crossings: Vec<Crossing>,
}

impl Batch {
    /// The `(x, y)` workgroup grid of `count` workgroups.
    pub(crate) fn grid(&self, count: u32) -> (u32, u32) {
        (
            self.groups_per_row.min(count.max(1)),
            count.div_ceil(self.groups_per_row).max(1),
        )
    }

    /// Offset of the last value of segment `i`.
    pub(crate) fn segment_end(&self, i: usize) -> u32 {
        match self.segments.get(i + 1) {
            Some(next) => next.start - 1,
            None => (self.len - 1) as u32,
        }
    }

    /// Adds each segment's sum into `partial` and moves each chunk it finishes onto `done`;
    /// wrapping, so a faulty device's garbage reaches the sink as a mismatch, not an overflow.
    pub(crate) fn gather(&self, sums: Vec<u128>, partial: &mut u128, done: &mut Vec<u128>) {
        for (segment, sum) in self.segments.iter().zip(sums) {
            *partial = partial.wrapping_add(sum);
            if segment.ends_chunk {
                done.push(std::mem::take(partial));
            }
        }
    }
}

/// `limits.max_per_invocation` as a power of two, at least [`MIN_PER_INVOCATION`].
fn most_per_invocation(limits: &BatchLimits) -> u32 {
    let most = limits.max_per_invocation.max(MIN_PER_INVOCATION);
    1 << most.ilog2()
}

/// Values per invocation for a batch of `elements`: enough invocations for `target_groups`.
fn per_invocation(elements: u64, limits: &BatchLimits) -> u32 {
    let want = elements.div_ceil(WORKGROUP as u64 * limits.target_groups.max(1));
    let most = most_per_invocation(limits);
    (want.next_power_of_two().min(most as u64) as u32).max(MIN_PER_INVOCATION)
}

/// The run per invocation for `segments` (starts, in a batch of `len` values) and whether no
/// run holds more than one segment boundary. Two boundaries in one run need a segment shorter than
/// the run that is neither the batch's first nor its last, so runs no longer than the shortest
/// such segment hold one boundary at most.
fn runs(len: u64, segments: &[Segment], limits: &BatchLimits) -> (u32, bool) {
    let k = per_invocation(len, limits);
    let shortest = segments
        .windows(3)
        .map(|w| w[2].start - w[1].start)
        .min()
        .unwrap_or(u32::MAX);
    if shortest >= k {
        return (k, true);
    }
    // Segments are never empty (each takes at least one value), so `shortest` ≥ 1.
    let shrunk = 1u32 << shortest.max(1).ilog2();
    if shrunk >= MIN_PER_INVOCATION && shrunk as u64 * MAX_SHRINK as u64 >= k as u64 {
        (shrunk, true)
    } else {
        (k, false)
    }
}

/// Iterates over the batches of a plan.
pub(crate) struct Batches<'a> {
    plan: &'a ChunkPlan,
    limits: BatchLimits,
    chunk: u64,
    /// Next value of the current chunk (as u128: a chunk may end at u64::MAX).
    next: u128,
}

impl<'a> Batches<'a> {
    /// The batches of `plan` under `limits`.
    pub(crate) fn new(plan: &'a ChunkPlan, limits: BatchLimits) -> Self {
        let limits = BatchLimits {
            max_elements: limits.max_elements.clamp(1, MAX_BATCH),
            max_segments: limits.max_segments.max(1),
            ..limits
        };
        Self {
            plan,
            limits,
            chunk: 0,
            next: plan.range().start(),
        }
    }
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.chunk >= self.plan.len() {
            return None;
        }
        let first = self.next as u64;
        // Up to the next multiple of 2^32 at most.
        let room = MAX_BATCH - (first & (MAX_BATCH - 1));
        let max_elements = self.limits.max_elements.min(room);
        let mut segments = Vec::new();
        let mut len = 0u64;
        let mut chunks = self.plan.iter_from(self.chunk);
        while segments.len() < self.limits.max_segments && len < max_elements {
            let Some(chunk) = chunks.next() else { break };
            let left = chunk.last as u128 + 1 - self.next;
            let take = left.min((max_elements - len) as u128);
            let ends_chunk = take == left;
            segments.push(Segment {
                chunk: chunk.index,
                start: len as u32,
                ends_chunk,
            });
            len += take as u64;
            self.next += take;
            if !ends_chunk {
                break;
            }
            self.chunk += 1;
        }
        let (k, one_cut) = runs(len, &segments, &self.limits);
        let span = WORKGROUP as u64 * k as u64;
        let groups = len.div_ceil(span) as u32;
        let mut batch = Batch {
            first,
            len,
            segments,
            per_invocation: k,
            one_cut,
            groups,
            groups_per_row: groups.min(self.limits.max_groups_per_dim).max(1),
            crossings: Vec::new(),
        };
        batch.crossings = (0..batch.segments.len())
            .filter_map(|i| {
                let first_group = (batch.segments[i].start as u64 / span) as u32;
                let last_group = (batch.segment_end(i) as u64 / span) as u32;
                (first_group != last_group).then_some(Crossing {
                    segment: i as u32,
                    first_group,
                    last_group,
                })
            })
            .collect();
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunking;
    use crate::range::SumRange;

    const LIMITS: BatchLimits = BatchLimits {
        max_elements: MAX_BATCH,
        max_segments: MAX_SEGMENTS,
        max_groups_per_dim: 65535,
        target_groups: TARGET_GROUPS,
        max_per_invocation: MAX_PER_INVOCATION,
    };

    fn all(plan: &ChunkPlan, limits: BatchLimits) -> Vec<Batch> {
        Batches::new(plan, limits).collect()
    }

    /// Segments cover every chunk in order, without gaps, within every limit; the crossing list
    /// is exactly the segments that span workgroups.
    fn check(plan: &ChunkPlan, limits: BatchLimits) {
        let mut next_chunk = 0u64;
        let mut next_value = plan.range().start();
        let max_groups = limits.max_groups();
        for b in all(plan, limits) {
            assert!(b.len >= 1 && b.len <= limits.max_elements);
            assert_eq!(b.first as u128, next_value);
            assert_eq!(
                b.first >> 32,
                (b.first + (b.len - 1)) >> 32,
                "a batch never crosses a multiple of 2^32"
            );
            if b.one_cut {
                // No run holds two segment starts past its first value.
                let k = b.per_invocation as u64;
                for w in b.segments.windows(2).skip(1) {
                    let (x, y) = (w[0].start as u64, w[1].start as u64);
                    assert!(
                        x / k != y / k || x % k == 0,
                        "two cuts in one run: {x} {y} k={k}"
                    );
                }
            }
            assert!(!b.segments.is_empty() && b.segments.len() <= limits.max_segments);
            assert_eq!(b.segments[0].start, 0);
            assert!(b.groups as u64 <= max_groups, "{} > {max_groups}", b.groups);
            let span = WORKGROUP as u64 * b.per_invocation as u64;
            assert!(b.groups as u64 * span >= b.len && (b.groups as u64 - 1) * span < b.len);
            let (x, y) = b.grid(b.groups);
            assert!(x <= limits.max_groups_per_dim && y <= limits.max_groups_per_dim);
            assert!(x as u64 * y as u64 >= b.groups as u64);
            let mut crossing = 0;
            for (i, s) in b.segments.iter().enumerate() {
                assert_eq!(s.chunk, next_chunk);
                let end = b.segment_end(i);
                assert!(end >= s.start);
                let c = plan.chunk(s.chunk);
                let value_end = b.first as u128 + end as u128;
                if s.ends_chunk {
                    assert_eq!(value_end, c.last as u128);
                    next_chunk += 1;
                } else {
                    assert!(value_end < c.last as u128);
                    assert_eq!(
                        i + 1,
                        b.segments.len(),
                        "only a batch's last segment is cut"
                    );
                }
                let spans = s.start as u64 / span != end as u64 / span;
                if spans {
                    let cr = b.crossings[crossing];
                    assert_eq!(cr.segment as usize, i);
                    assert_eq!(cr.first_group as u64, s.start as u64 / span);
                    assert_eq!(cr.last_group as u64, end as u64 / span);
                    crossing += 1;
                }
            }
            assert_eq!(crossing, b.crossings.len());
            next_value = b.first as u128 + b.len as u128;
        }
        assert_eq!(next_chunk, plan.len());
        assert_eq!(next_value, plan.range().end().max(plan.range().start()));
    }

    fn plan(range: impl std::ops::RangeBounds<u64>, chunking: Chunking) -> ChunkPlan {
        ChunkPlan::new(SumRange::new(range).unwrap(), chunking).unwrap()
    }

    #[test]
    fn one_billion_is_one_batch() {
        let p = plan(0..1_000_000_000, Chunking::Default);
        let b = all(&p, LIMITS);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].segments.len(), 100);
        assert_eq!(b[0].per_invocation, 512);
        // Every chunk boundary falls inside some workgroup: 100 segments, at most 100 crossings.
        assert!(b[0].crossings.len() <= 100);
        check(&p, LIMITS);
    }

    #[test]
    fn runs_hold_one_boundary_where_segments_allow() {
        let cpu = BatchLimits::new(MAX_BATCH, 65535, true);
        // 4·10^4 values a chunk: runs shrink from 2^16 to 2^15 so that each holds one boundary.
        let p = plan(0..1_000_000_000, Chunking::Count(25_000));
        let b = all(&p, cpu);
        assert_eq!(
            (b.len(), b[0].per_invocation, b[0].one_cut),
            (1, 32768, true)
        );
        check(&p, cpu);
        // 2·10^4 values a chunk: shrinking 4× is too much; piece by piece instead.
        let p = plan(0..1_000_000_000, Chunking::Count(50_000));
        let b = all(&p, cpu);
        assert_eq!((b[0].per_invocation, b[0].one_cut), (65536, false));
        // 10^4 values a chunk: piece by piece.
        let p = plan(0..1_000_000_000, Chunking::Count(100_000));
        let b = all(&p, cpu);
        assert_eq!((b[0].per_invocation, b[0].one_cut), (65536, false));
        check(&p, cpu);
        // Long chunks keep the run their size asks for.
        let p = plan(0..1_000_000_000, Chunking::Count(100));
        let b = all(&p, cpu);
        assert_eq!((b[0].per_invocation, b[0].one_cut), (65536, true));
        // 10^3 values a chunk: piece by piece.
        let p = plan(0..1_000_000_000, Chunking::Count(1_000_000));
        let b = all(&p, cpu);
        assert!(b.iter().all(|b| !b.one_cut));
        check(&p, cpu);
        check(&p, cpu);
        // A batch's short first or last segment (a chunk cut by the batch before or after) does
        // not shrink its runs: batches of 4·2^16 − 3 values start 3 values before a chunk ends,
        // batches of 4·2^16 + 5 end 5 values into one.
        for max_elements in [(4 << 16) - 3, (4 << 16) + 5] {
            let limits = BatchLimits {
                max_elements,
                target_groups: 1,
                ..cpu
            };
            let p = plan(0..40 << 16, Chunking::Length(1 << 16));
            let b = all(&p, limits);
            assert!(b.len() > 3);
            for b in &b[1..b.len() - 1] {
                assert!(b.segments.len() >= 5);
                let unshrunk = per_invocation(b.len, &limits);
                assert!(unshrunk >= 1024);
                assert_eq!((b.per_invocation, b.one_cut), (unshrunk, true));
            }
            check(&p, limits);
        }
    }

    #[test]
    fn batches_stop_at_multiples_of_2_to_32() {
        let p = plan(3_000_000_000..5_000_000_000, Chunking::Count(1));
        let b = all(&p, LIMITS);
        assert_eq!(b.len(), 2);
        assert_eq!(
            (b[0].first, b[0].len),
            (3_000_000_000, (1 << 32) - 3_000_000_000)
        );
        assert_eq!(b[1].first, 1 << 32);
        check(&p, LIMITS);
    }

    #[test]
    fn many_small_chunks_share_workgroups() {
        let p = plan(0..1_000_000, Chunking::Length(1));
        let b = all(&p, LIMITS);
        assert_eq!(b.len(), 4, "2^18 segments per batch");
        // One-element segments never cross a workgroup boundary.
        assert!(b.iter().all(|b| b.crossings.is_empty()));
        // Workgroups follow the elements, not the chunks: 2^18 values → 64 groups of 256 × 16.
        assert_eq!(b[0].groups, 64);
        check(&p, LIMITS);
    }

    #[test]
    fn covers_awkward_plans() {
        check(&plan(0..1, Chunking::Default), LIMITS);
        check(&plan(0..0, Chunking::Default), LIMITS);
        check(&plan(0..100_000, Chunking::Length(1)), LIMITS);
        check(&plan(0..1_000_000_000, Chunking::Count(100_000)), LIMITS);
        check(
            &plan(u64::MAX - 1000..=u64::MAX, Chunking::Count(3)),
            LIMITS,
        );
        let small = BatchLimits {
            max_elements: 1000,
            max_segments: 7,
            max_groups_per_dim: 7,
            target_groups: TARGET_GROUPS_CPU,
            max_per_invocation: MAX_PER_INVOCATION_CPU,
        };
        check(&plan(5..100_005, Chunking::Count(3)), small);
        check(&plan(5..100_005, Chunking::Length(13)), small);
        check(&plan(u64::MAX - 5000..=u64::MAX, Chunking::Count(4)), small);
    }

    #[test]
    fn whole_domain_splits_into_bounded_batches() {
        let p = plan(.., Chunking::Count(1));
        let mut batches = Batches::new(&p, LIMITS);
        let first = batches.next().unwrap();
        assert_eq!((first.len, first.segments.len()), (MAX_BATCH, 1));
        assert!(!first.segments[0].ends_chunk);
        let second = batches.next().unwrap();
        assert_eq!(second.first, 1 << 32);
        let gpu_target_cpu = BatchLimits {
            target_groups: TARGET_GROUPS_CPU,
            ..LIMITS
        };
        assert_eq!(
            Batches::new(&p, gpu_target_cpu)
                .next()
                .unwrap()
                .per_invocation,
            MAX_PER_INVOCATION
        );
        let cpu = BatchLimits::new(MAX_BATCH, 65535, true);
        assert_eq!(
            Batches::new(&p, cpu).next().unwrap().per_invocation,
            MAX_PER_INVOCATION_CPU
        );
    }

    #[test]
    fn max_groups_bounds_every_batch_size() {
        for limits in [
            LIMITS,
            BatchLimits {
                target_groups: TARGET_GROUPS_CPU,
                ..LIMITS
            },
            BatchLimits {
                max_elements: 100_000,
                ..LIMITS
            },
            BatchLimits::new(MAX_BATCH, 65535, true),
            BatchLimits::new(100_000, 65535, true),
            BatchLimits {
                max_per_invocation: 1000,
                ..LIMITS
            },
        ] {
            let bound = limits.max_groups();
            for len in (0..=32)
                .map(|e| 1u64 << e)
                .chain([3, 1000, 999_999_937, (1 << 32) - 1])
            {
                let len = len.min(limits.max_elements);
                let k = per_invocation(len, &limits) as u64;
                assert!(len.div_ceil(WORKGROUP as u64 * k) <= bound, "{len}");
                let shrunk = (k / MAX_SHRINK as u64).max(MIN_PER_INVOCATION as u64);
                assert!(len.div_ceil(WORKGROUP as u64 * shrunk) <= bound, "{len}");
            }
        }
    }

    #[test]
    fn grid_folds_into_rows() {
        let limits = BatchLimits {
            max_groups_per_dim: 1000,
            ..LIMITS
        };
        let p = plan(0..1 << 32, Chunking::Count(1));
        for b in all(&p, limits) {
            let (x, y) = b.grid(b.groups);
            assert!(x <= 1000 && y <= 1000 && x * y >= b.groups);
        }
        check(&p, limits);
    }
}
