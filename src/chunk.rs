//! Splitting a range into chunks, as the tutorial split 1..10^9 into 100 steps.

use crate::error::{Error, Result};
use crate::range::{SumRange, closed_form};

/// How a range is cut into chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Chunking {
    /// [`DEFAULT_CHUNKS`] near-equal chunks, fewer for short ranges so that no chunk is under
    /// 2^16 elements.
    #[default]
    Default,
    /// This many chunks whose lengths differ by at most one (at most one chunk per element).
    Count(u64),
    /// Chunks of exactly this many elements; the last one holds what is left, so it may be
    /// shorter. (One exception, for a plan no machine will finish: 2^64 chunks do not fit a
    /// `u64`, so one-element chunks over the whole domain give `u64::MAX` chunks, the last of two.)
    Length(u128),
}

/// Chunks per range under [`Chunking::Default`]: the tutorial's 100.
pub const DEFAULT_CHUNKS: u64 = 100;
/// Under [`Chunking::Default`] no chunk is shorter than this, so tiny ranges are not cut into crumbs.
const MIN_DEFAULT_CHUNK: u128 = 1 << 16;

/// Chunks of the default plan for `n` elements (1 when `n` is 0).
pub(crate) fn default_chunks(n: u128) -> u64 {
    (n / MIN_DEFAULT_CHUNK).clamp(1, DEFAULT_CHUNKS as u128) as u64
}

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

/// Where the chunk boundaries fall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Layout {
    /// The first `longer` chunks hold `base + 1` elements, the rest `base`.
    Even { base: u128, longer: u64 },
    /// Every chunk holds `len` elements except the last, which holds the rest.
    Fixed { len: u128 },
}

/// A range cut into chunks, computed on demand: a plan of a billion chunks costs no memory.
///
/// [`Chunking::Default`] and [`Chunking::Count`] give chunks whose lengths differ by at most one;
/// [`Chunking::Length`] gives chunks of exactly that length and a shorter last one.
///
/// ```
/// use parsum::{ChunkPlan, Chunking, SumRange};
/// let range = SumRange::new(0..100)?;
/// let lens = |c| -> parsum::Result<Vec<u128>> {
///     Ok(ChunkPlan::new(range, c)?.iter().map(|c| c.len()).collect())
/// };
/// assert_eq!(lens(Chunking::Count(3))?, [34, 33, 33]);
/// assert_eq!(lens(Chunking::Length(30))?, [30, 30, 30, 10]);
/// # Ok::<(), parsum::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkPlan {
    range: SumRange,
    chunks: u64,
    layout: Layout,
}

impl ChunkPlan {
    /// Plans `range` by `chunking`. Zero chunks or a zero length is [`Error::ZeroChunks`]; more
    /// chunks than elements gives one chunk per element; an empty range has no chunk.
    pub fn new(range: SumRange, chunking: Chunking) -> Result<Self> {
        let n = range.len();
        if matches!(chunking, Chunking::Count(0) | Chunking::Length(0)) {
            return Err(Error::ZeroChunks);
        }
        // n ≤ 2^64, so only one-element chunks over the whole domain ask for more than
        // u64::MAX chunks; that plan is capped there and its last chunk holds two elements.
        let cap = |wanted: u128| wanted.min(u64::MAX as u128) as u64;
        let even = |wanted: u128| {
            let chunks = cap(wanted.min(n));
            let (base, longer) = (n / chunks as u128, (n % chunks as u128) as u64);
            (chunks, Layout::Even { base, longer })
        };
        let (chunks, layout) = match chunking {
            _ if n == 0 => (0, Layout::Even { base: 0, longer: 0 }),
            Chunking::Length(len) => (cap(n.div_ceil(len)), Layout::Fixed { len }),
            Chunking::Count(c) => even(c as u128),
            Chunking::Default => even(default_chunks(n) as u128),
        };
        Ok(Self {
            range,
            chunks,
            layout,
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

    /// Offset from the range's start of the first element of chunk `index` (`index == len()`
    /// gives the range's length).
    pub fn offset_of(&self, index: u64) -> u128 {
        if index >= self.chunks {
            return self.range.len();
        }
        let i = index as u128;
        match self.layout {
            Layout::Even { base, longer } => i * base + i.min(longer as u128),
            Layout::Fixed { len } => i * len,
        }
    }

    /// Index of the chunk that holds the element at `offset` from the range's start.
    ///
    /// # Panics
    /// When `offset` is not below the range's length.
    pub fn chunk_at(&self, offset: u128) -> u64 {
        assert!(offset < self.range.len(), "offset {offset} out of range");
        let index = match self.layout {
            Layout::Even { base, longer } => {
                let split = longer as u128 * (base + 1);
                if offset < split {
                    offset / (base + 1)
                } else {
                    longer as u128 + (offset - split) / base
                }
            }
            Layout::Fixed { len } => offset / len,
        };
        index.min(self.chunks as u128 - 1) as u64
    }

    /// The `index`-th chunk.
    ///
    /// # Panics
    /// When `index >= self.len()`.
    pub fn chunk(&self, index: u64) -> Chunk {
        assert!(index < self.chunks, "chunk {index} out of {}", self.chunks);
        self.iter_from(index).next().expect("a chunk below len()")
    }

    /// The chunks in order.
    pub fn iter(&self) -> Chunks<'_> {
        self.iter_from(0)
    }

    /// The chunks from `index` on, in order (none when `index >= len()`).
    pub fn iter_from(&self, index: u64) -> Chunks<'_> {
        Chunks {
            plan: self,
            index: index.min(self.chunks),
            next_first: self.range.start() + self.offset_of(index),
        }
    }
}

/// Iterator over a plan's chunks; each step costs an add and a multiply, not a division.
#[derive(Debug, Clone)]
pub struct Chunks<'a> {
    plan: &'a ChunkPlan,
    index: u64,
    next_first: u128,
}

impl Iterator for Chunks<'_> {
    type Item = Chunk;

    fn next(&mut self) -> Option<Chunk> {
        let plan = self.plan;
        if self.index >= plan.chunks {
            return None;
        }
        let stop = plan.range.start() + plan.offset_of(self.index + 1);
        let chunk = Chunk {
            index: self.index,
            first: self.next_first as u64,
            last: (stop - 1) as u64,
        };
        self.index += 1;
        self.next_first = stop;
        Some(chunk)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.plan.chunks - self.index).unwrap_or(usize::MAX);
        (left, usize::try_from(self.plan.chunks - self.index).ok())
    }
}
