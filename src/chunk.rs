//! Splitting a range into chunks, as the tutorial split 1..10^9 into 100 steps.

use crate::error::{Error, Result};
use crate::range::{SumRange, closed_form};

/// How a range is cut into chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Chunking {
    /// [`DEFAULT_CHUNKS`] chunks, fewer for short ranges so no chunk is under [`MIN_AUTO_CHUNK`].
    #[default]
    Auto,
    /// This many chunks (at most one per element).
    Count(u64),
    /// Chunks of this many elements (the last one may be shorter).
    Length(u128),
}

/// Chunks per range under [`Chunking::Auto`]: the tutorial's 100.
pub const DEFAULT_CHUNKS: u64 = 100;
/// Under [`Chunking::Auto`] no chunk is shorter than this, so tiny ranges are not cut into crumbs.
pub const MIN_AUTO_CHUNK: u128 = 1 << 16;

/// One chunk of a plan: the non-empty inclusive run `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chunk {
    /// Position in the plan, from 0.
    pub index: u64,
    /// First element.
    pub first: u64,
    /// Last element (inclusive, so a chunk can end at `u64::MAX`).
    pub last: u64,
}

impl Chunk {
    /// Number of elements, 1 to 2^64.
    pub fn len(&self) -> u128 {
        (self.last - self.first) as u128 + 1
    }

    /// Always false: a chunk holds at least one element.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The chunk's exact sum by the closed form.
    pub fn closed_form(&self) -> u128 {
        closed_form(self.first, self.last)
    }
}

/// A range cut into `len()` chunks whose lengths differ by at most one; computed on demand, so a
/// plan of a billion chunks costs no memory.
///
/// ```
/// use parsum::{ChunkPlan, Chunking, SumRange};
/// let plan = ChunkPlan::new(SumRange::new(0..10)?, Chunking::Count(3))?;
/// let lens: Vec<u128> = plan.iter().map(|c| c.len()).collect();
/// assert_eq!(lens, [4, 3, 3]);
/// # Ok::<(), parsum::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkPlan {
    range: SumRange,
    chunks: u64,
    base: u128,
    longer: u64,
}

impl ChunkPlan {
    /// Plans `range` by `chunking`. Zero chunks or a zero length is [`Error::ZeroChunks`]; more
    /// chunks than elements gives one chunk per element; an empty range has no chunk.
    pub fn new(range: SumRange, chunking: Chunking) -> Result<Self> {
        let n = range.len();
        let wanted: u128 = match chunking {
            Chunking::Auto => (n / MIN_AUTO_CHUNK).clamp(1, DEFAULT_CHUNKS as u128),
            Chunking::Count(0) | Chunking::Length(0) => return Err(Error::ZeroChunks),
            Chunking::Count(c) => c as u128,
            Chunking::Length(l) => n.div_ceil(l).max(1),
        };
        // At most one chunk per element; a chunk count always fits u64 since n <= 2^64 and
        // a plan of 2^64 one-element chunks is capped to u64::MAX chunks (the last holds two).
        let chunks = wanted.min(n).min(u64::MAX as u128) as u64;
        if n == 0 {
            return Ok(Self {
                range,
                chunks: 0,
                base: 0,
                longer: 0,
            });
        }
        let base = n / chunks as u128;
        let longer = (n % chunks as u128) as u64;
        Ok(Self {
            range,
            chunks,
            base,
            longer,
        })
    }

    /// The planned range.
    pub fn range(&self) -> SumRange {
        self.range
    }

    /// Number of chunks (0 for an empty range).
    pub fn len(&self) -> u64 {
        self.chunks
    }

    /// True when the plan has no chunk (the range is empty).
    pub fn is_empty(&self) -> bool {
        self.chunks == 0
    }

    /// The `index`-th chunk. The first `n % chunks` chunks are one element longer.
    ///
    /// # Panics
    /// When `index >= self.len()`.
    pub fn chunk(&self, index: u64) -> Chunk {
        assert!(index < self.chunks, "chunk {index} out of {}", self.chunks);
        let i = index as u128;
        let offset = i * self.base + i.min(self.longer as u128);
        let len = self.base + u128::from(index < self.longer);
        let first = self.range.start() + offset;
        Chunk {
            index,
            first: first as u64,
            last: (first + len - 1) as u64,
        }
    }

    /// The chunks in order.
    pub fn iter(&self) -> impl Iterator<Item = Chunk> + '_ {
        (0..self.chunks).map(|i| self.chunk(i))
    }
}
