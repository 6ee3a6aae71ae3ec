//! Cutting a chunk plan into GPU batches: pure arithmetic, testable without a GPU.
//!
//! A batch is one submission: segments (pieces of chunks) that the shader spreads over workgroups.
//! Batches bound each submission's work (so no long sum trips a driver watchdog), the workgroup
//! grid (65535 per dimension, folded into rows) and the buffer sizes.

use crate::chunk::ChunkPlan;

/// Invocations per workgroup; must match `WG` in `shaders/range_sum.wgsl`.
pub const WORKGROUP: u32 = 256;
/// Longest segment: keeps every offset inside a segment within a u32 in the shader.
pub const MAX_SEGMENT: u64 = 1 << 31;
/// Segments per batch: the shader finds its segment by binary search over them.
pub const MAX_SEGMENTS: usize = 4096;
/// Fewest and most values one invocation adds.
pub const MIN_PER_INVOCATION: u32 = 16;
/// See [`MIN_PER_INVOCATION`].
pub const MAX_PER_INVOCATION: u32 = 4096;
/// Workgroups a batch aims for on a GPU: a few waves on a large one.
pub const TARGET_GROUPS: u64 = 8192;
/// Workgroups a batch aims for on a CPU device (lavapipe): a few per core, since each workgroup
/// costs a CPU implementation far more to start than a GPU.
pub const TARGET_GROUPS_CPU: u64 = 64;

/// Limits of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most elements in one submission.
    pub max_elements: u64,
    /// Most workgroups per grid dimension on the device.
    pub max_groups_per_dim: u32,
    /// Workgroups a batch aims for ([`TARGET_GROUPS`] or [`TARGET_GROUPS_CPU`]).
    pub target_groups: u64,
}

impl BatchLimits {
    /// Most workgroups a batch can have: sizes the partials buffer.
    pub fn max_groups(&self) -> u64 {
        self.max_elements
            .div_ceil(WORKGROUP as u64 * MIN_PER_INVOCATION as u64)
            + MAX_SEGMENTS as u64
    }
}

/// A piece of one chunk, summed by `groups` workgroups from `group_base` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The chunk it belongs to.
    pub chunk: u64,
    /// First value.
    pub first: u64,
    /// Number of values, 1 to [`MAX_SEGMENT`].
    pub len: u32,
    /// First workgroup of the segment within the batch.
    pub group_base: u32,
    /// Workgroups the segment spans.
    pub groups: u32,
    /// True when this is the chunk's last segment.
    pub ends_chunk: bool,
}

/// One submission's worth of segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The segments, in plan order.
    pub segments: Vec<Segment>,
    /// Values each invocation adds.
    pub per_invocation: u32,
    /// Workgroups in the batch.
    pub total_groups: u32,
    /// Workgroups per row of the grid (`x`); rows are `y`.
    pub groups_per_row: u32,
}

impl Batch {
    /// The `(x, y)` workgroup grid.
    pub fn grid(&self) -> (u32, u32) {
        (
            self.groups_per_row,
            self.total_groups.div_ceil(self.groups_per_row),
        )
    }
}

/// Values per invocation for a batch of `elements`: enough invocations for `target_groups`.
fn per_invocation(elements: u64, target_groups: u64) -> u32 {
    let want = elements.div_ceil(WORKGROUP as u64 * target_groups.max(1));
    (want.next_power_of_two() as u32).clamp(MIN_PER_INVOCATION, MAX_PER_INVOCATION)
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
    /// The batches of `plan` under `limits` (`max_elements` must be at least 1).
    pub fn new(plan: &'a ChunkPlan, limits: BatchLimits) -> Self {
        let next = if plan.is_empty() {
            0
        } else {
            plan.chunk(0).first as u128
        };
        Self {
            plan,
            limits,
            chunk: 0,
            next,
        }
    }
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let max_segment = MAX_SEGMENT.min(self.limits.max_elements) as u128;
        let mut pieces: Vec<(u64, u64, u32, bool)> = Vec::new();
        let mut elements = 0u64;
        while self.chunk < self.plan.len() && pieces.len() < MAX_SEGMENTS {
            let room = (self.limits.max_elements - elements) as u128;
            if room == 0 {
                break;
            }
            let chunk = self.plan.chunk(self.chunk);
            let left = chunk.last as u128 + 1 - self.next;
            let len = left.min(max_segment).min(room);
            let ends_chunk = len == left;
            pieces.push((self.chunk, self.next as u64, len as u32, ends_chunk));
            elements += len as u64;
            if ends_chunk {
                self.chunk += 1;
                if self.chunk < self.plan.len() {
                    self.next = self.plan.chunk(self.chunk).first as u128;
                }
            } else {
                self.next += len;
            }
        }
        if pieces.is_empty() {
            return None;
        }
        let k = per_invocation(elements, self.limits.target_groups);
        let span = WORKGROUP as u64 * k as u64;
        let mut group_base = 0u64;
        let segments = pieces
            .into_iter()
            .map(|(chunk, first, len, ends_chunk)| {
                let groups = (len as u64).div_ceil(span);
                let s = Segment {
                    chunk,
                    first,
                    len,
                    group_base: group_base as u32,
                    groups: groups as u32,
                    ends_chunk,
                };
                group_base += groups;
                s
            })
            .collect();
        let total_groups = group_base as u32;
        Some(Batch {
            segments,
            per_invocation: k,
            total_groups,
            groups_per_row: total_groups.min(self.limits.max_groups_per_dim).max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunking;
    use crate::range::SumRange;

    const LIMITS: BatchLimits = BatchLimits {
        max_elements: 1 << 32,
        max_groups_per_dim: 65535,
        target_groups: TARGET_GROUPS,
    };

    fn all(plan: &ChunkPlan, limits: BatchLimits) -> Vec<Batch> {
        Batches::new(plan, limits).collect()
    }

    /// Segments cover every chunk in order, without gaps, within every limit.
    fn check(plan: &ChunkPlan, limits: BatchLimits) {
        let mut next_chunk = 0u64;
        let mut next_value: Option<u128> = None;
        for b in all(plan, limits) {
            let elements: u64 = b.segments.iter().map(|s| s.len as u64).sum();
            assert!(elements <= limits.max_elements);
            assert!(b.segments.len() <= MAX_SEGMENTS);
            assert!((b.total_groups as u64) <= limits.max_groups());
            let (x, y) = b.grid();
            assert!(x <= limits.max_groups_per_dim && y <= limits.max_groups_per_dim);
            assert!(x as u64 * y as u64 >= b.total_groups as u64);
            let span = WORKGROUP as u64 * b.per_invocation as u64;
            for s in &b.segments {
                assert_eq!(s.chunk, next_chunk);
                let c = plan.chunk(s.chunk);
                let first = next_value.unwrap_or(c.first as u128);
                assert_eq!(s.first as u128, first);
                assert!(s.len >= 1 && s.len as u64 <= MAX_SEGMENT);
                assert!(s.groups as u64 * span >= s.len as u64);
                assert!((s.groups as u64 - 1) * span < s.len as u64);
                let end = s.first as u128 + s.len as u128;
                if s.ends_chunk {
                    assert_eq!(end, c.last as u128 + 1);
                    next_chunk += 1;
                    next_value = None;
                } else {
                    next_value = Some(end);
                }
            }
        }
        assert_eq!(next_chunk, plan.len());
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
        check(&p, LIMITS);
    }

    #[test]
    fn covers_awkward_plans() {
        check(&plan(0..1, Chunking::Auto), LIMITS);
        check(&plan(0..0, Chunking::Auto), LIMITS);
        check(&plan(0..100_000, Chunking::Length(1)), LIMITS);
        check(
            &plan(u64::MAX - 1000..=u64::MAX, Chunking::Count(3)),
            LIMITS,
        );
        let small = BatchLimits {
            max_elements: 1000,
            max_groups_per_dim: 7,
            target_groups: TARGET_GROUPS_CPU,
        };
        check(&plan(5..100_005, Chunking::Count(3)), small);
        check(&plan(u64::MAX - 5000..=u64::MAX, Chunking::Count(4)), small);
    }

    #[test]
    fn whole_domain_splits_into_bounded_batches() {
        let p = plan(.., Chunking::Count(1));
        let mut batches = Batches::new(&p, LIMITS);
        let first = batches.next().unwrap();
        assert_eq!(first.segments.len(), 2);
        assert!(first.segments.iter().all(|s| s.len as u64 == MAX_SEGMENT));
        assert!(!first.segments[1].ends_chunk);
        let second = batches.next().unwrap();
        assert_eq!(second.segments[0].first, 1 << 32);
    }

    #[test]
    fn grid_folds_into_rows() {
        let limits = BatchLimits {
            max_elements: 1 << 32,
            max_groups_per_dim: 1000,
            target_groups: TARGET_GROUPS,
        };
        let p = plan(0..1 << 32, Chunking::Count(1));
        for b in all(&p, limits) {
            let (x, y) = b.grid();
            assert!(x <= 1000 && y <= 1000 && x * y >= b.total_groups);
        }
        check(&p, limits);
    }
}
