//! Cutting a chunk plan into GPU submissions: pure arithmetic, built and tested without a GPU.
//!
//! A batch is one submission: a run of at most 2^32 consecutive values, cut into segments (the
//! pieces of chunks that fall into it). The shader spreads the batch's *elements* evenly over
//! invocations (`per_invocation` each, whatever the chunk boundaries), so its work grows with
//! elements + chunks, not with chunks × workgroup size:
//! - an invocation adds its own run; a segment wholly inside that run is written out at once;
//! - the parts of segments that cross invocation boundaries are combined in the workgroup (a
//!   segmented scan keyed by segment);
//! - a segment that crosses a workgroup boundary leaves one partial per workgroup, and a second
//!   dispatch adds those up — one workgroup per such *crossing*, listed here.
//!
//! Batches also bound each submission's work (so no long sum trips a driver watchdog), the
//! workgroup grid (65535 per dimension, folded into rows) and the buffer sizes.

use crate::chunk::ChunkPlan;

/// Invocations per workgroup; must match `WG` in `shaders/range_sum.wgsl`.
pub const WORKGROUP: u32 = 256;
/// Most values in one batch: offsets within a batch fit a u32.
pub const MAX_BATCH: u64 = 1 << 32;
/// Segments per batch by default: a 1 MiB table of starts and 4 MiB of sums.
pub const MAX_SEGMENTS: usize = 1 << 18;
/// Fewest and most values one invocation adds. The most is high because each invocation has a fixed
/// cost (segment lookups, the workgroup's reduction): on llvmpipe 4096 values per invocation ran
/// 1e9 values 1.12× slower than 16384 did.
pub const MIN_PER_INVOCATION: u32 = 16;
/// See [`MIN_PER_INVOCATION`].
pub const MAX_PER_INVOCATION: u32 = 16384;
/// Workgroups a batch aims for on a GPU: a few waves on a large one.
pub const TARGET_GROUPS: u64 = 8192;
/// Workgroups a batch aims for on a CPU device (lavapipe): a few per core, since each workgroup
/// costs a CPU implementation far more to start than a GPU.
pub const TARGET_GROUPS_CPU: u64 = 64;

/// Limits of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most elements in one submission, 1 to [`MAX_BATCH`].
    pub max_elements: u64,
    /// Most segments in one submission, at least 1.
    pub max_segments: usize,
    /// Most workgroups per grid dimension on the device.
    pub max_groups_per_dim: u32,
    /// Workgroups a batch aims for ([`TARGET_GROUPS`] or [`TARGET_GROUPS_CPU`]).
    pub target_groups: u64,
}

impl BatchLimits {
    /// Limits for a GPU (`cpu_device` false) or a CPU device such as lavapipe.
    pub fn new(max_elements: u64, max_groups_per_dim: u32, cpu_device: bool) -> Self {
        Self {
            max_elements: max_elements.clamp(1, MAX_BATCH),
            max_segments: MAX_SEGMENTS,
            max_groups_per_dim: max_groups_per_dim.max(1),
            target_groups: if cpu_device {
                TARGET_GROUPS_CPU
            } else {
                TARGET_GROUPS
            },
        }
    }

    /// Most workgroups a batch can have: sizes the edge-partials buffer. Below the clamps of
    /// `per_invocation` a batch gets at most `target_groups`; where it is clamped at
    /// [`MAX_PER_INVOCATION`], one group per 2^20 values.
    pub fn max_groups(&self) -> u64 {
        let elements = self.max_elements.clamp(1, MAX_BATCH);
        let per_group = |k: u32| WORKGROUP as u64 * k as u64;
        self.target_groups
            .max(elements.div_ceil(per_group(MAX_PER_INVOCATION)))
            .min(elements.div_ceil(per_group(MIN_PER_INVOCATION)))
            .max(1)
    }
}

/// A piece of one chunk inside a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The chunk it belongs to.
    pub chunk: u64,
    /// Offset of its first value from the batch's first value.
    pub start: u32,
    /// True when this is the chunk's last segment.
    pub ends_chunk: bool,
}

/// A segment whose values fall into more than one workgroup: the second dispatch adds its
/// partials from workgroups `first_group..=last_group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crossing {
    /// Index of the segment in its batch.
    pub segment: u32,
    /// Workgroup holding the segment's first value.
    pub first_group: u32,
    /// Workgroup holding its last value.
    pub last_group: u32,
}

/// One submission's worth of values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Value at offset 0.
    pub first: u64,
    /// Values in the batch, 1 to [`MAX_BATCH`].
    pub len: u64,
    /// The segments, in order; the first starts at offset 0.
    pub segments: Vec<Segment>,
    /// Values each invocation adds (a power of two).
    pub per_invocation: u32,
    /// Workgroups in the batch.
    pub groups: u32,
    /// Workgroups per row of the grid (`x`); rows are `y`.
    pub groups_per_row: u32,
    /// Segments that the second dispatch puts together.
    pub crossings: Vec<Crossing>,
}

impl Batch {
    /// The `(x, y)` workgroup grid of `count` workgroups.
    pub fn grid(&self, count: u32) -> (u32, u32) {
        (
            self.groups_per_row.min(count.max(1)),
            count.div_ceil(self.groups_per_row).max(1),
        )
    }

    /// Offset of the last value of segment `i`.
    pub fn segment_end(&self, i: usize) -> u32 {
        match self.segments.get(i + 1) {
            Some(next) => next.start - 1,
            None => (self.len - 1) as u32,
        }
    }
}

/// Values per invocation for a batch of `elements`: enough invocations for `target_groups`.
fn per_invocation(elements: u64, target_groups: u64) -> u32 {
    let want = elements.div_ceil(WORKGROUP as u64 * target_groups.max(1));
    (want.next_power_of_two().min(MAX_PER_INVOCATION as u64) as u32).max(MIN_PER_INVOCATION)
}

/// Iterates over the batches of a plan.
pub struct Batches<'a> {
    plan: &'a ChunkPlan,
    limits: BatchLimits,
    chunk: u64,
    /// Next value of the current chunk (as u128: a chunk may end at u64::MAX).
    next: u128,
}

impl<'a> Batches<'a> {
    /// The batches of `plan` under `limits`.
    pub fn new(plan: &'a ChunkPlan, limits: BatchLimits) -> Self {
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
        let mut segments = Vec::new();
        let mut len = 0u64;
        let mut chunks = self.plan.iter_from(self.chunk);
        while segments.len() < self.limits.max_segments && len < self.limits.max_elements {
            let Some(chunk) = chunks.next() else { break };
            let left = chunk.last as u128 + 1 - self.next;
            let take = left.min((self.limits.max_elements - len) as u128);
            let ends_chunk = take == left;
            segments.push(Segment {
                chunk: chunk.index,
                start: len as u32,
                ends_chunk,
            });
            len += take as u64;
            if ends_chunk {
                self.chunk += 1;
                self.next = chunk.last as u128 + 1;
            } else {
                self.next += take;
                break;
            }
        }
        let k = per_invocation(len, self.limits.target_groups);
        let span = WORKGROUP as u64 * k as u64;
        let groups = len.div_ceil(span) as u32;
        let mut batch = Batch {
            first,
            len,
            segments,
            per_invocation: k,
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
        let p = plan(0..1_000_000_000, Chunking::Auto);
        let b = all(&p, LIMITS);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].segments.len(), 100);
        assert_eq!(b[0].per_invocation, 512);
        // Every chunk boundary falls inside some workgroup: 100 segments, at most 100 crossings.
        assert!(b[0].crossings.len() <= 100);
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
        check(&plan(0..1, Chunking::Auto), LIMITS);
        check(&plan(0..0, Chunking::Auto), LIMITS);
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
        let cpu = BatchLimits {
            target_groups: TARGET_GROUPS_CPU,
            ..LIMITS
        };
        assert_eq!(
            Batches::new(&p, cpu).next().unwrap().per_invocation,
            MAX_PER_INVOCATION
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
        ] {
            let bound = limits.max_groups();
            for len in (0..=32)
                .map(|e| 1u64 << e)
                .chain([3, 1000, 999_999_937, (1 << 32) - 1])
            {
                let len = len.min(limits.max_elements);
                let k = per_invocation(len, limits.target_groups) as u64;
                assert!(len.div_ceil(WORKGROUP as u64 * k) <= bound, "{len}");
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
