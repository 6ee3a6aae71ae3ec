//! Ranges of u64 values and their exact closed-form sums.

use std::ops::{Bound, RangeBounds};

use crate::error::{Error, Result};

/// One past `u64::MAX`: the exclusive end of the whole domain.
pub(crate) const DOMAIN_END: u128 = 1u128 << 64;

/// A checked range of u64 values, `start..start + len`, possibly the whole domain `0..=u64::MAX`.
///
/// Its length is a `u128` because the whole domain has 2^64 elements, one more than a u64 holds.
///
/// ```
/// use parsum::SumRange;
/// let all = SumRange::new(..)?;
/// assert_eq!(all.len(), 1u128 << 64);
/// assert_eq!(all.closed_form(), (1u128 << 127) - (1u128 << 63));
/// assert!(SumRange::new(5..3).is_err());
/// # Ok::<(), parsum::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SumRange {
    start: u128,
    end: u128,
}

impl SumRange {
    /// Checks any `RangeBounds<u64>` (`a..b`, `a..=b`, `a..`, `..=b`, `..`).
    ///
    /// A reversed range is [`Error::InvalidRange`], never a silent empty sum.
    pub fn new(range: impl RangeBounds<u64>) -> Result<Self> {
        let start = match range.start_bound() {
            Bound::Included(&a) => a as u128,
            Bound::Excluded(&a) => a as u128 + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&b) => b as u128 + 1,
            Bound::Excluded(&b) => b as u128,
            Bound::Unbounded => DOMAIN_END,
        };
        Self::from_bounds(start, end)
    }

    /// Checks `start..end` given as u128 bounds, so an exclusive end of 2^64 can be written.
    pub fn from_bounds(start: u128, end: u128) -> Result<Self> {
        if start > end || end > DOMAIN_END {
            return Err(Error::InvalidRange { start, end });
        }
        Ok(Self { start, end })
    }

    /// First element (equal to `end()` when empty).
    pub fn start(&self) -> u128 {
        self.start
    }

    /// One past the last element.
    pub fn end(&self) -> u128 {
        self.end
    }

    /// Number of elements, up to 2^64.
    pub fn len(&self) -> u128 {
        self.end - self.start
    }

    /// True when the range holds no element.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The first and last elements, or `None` when empty.
    pub fn first_last(&self) -> Option<(u64, u64)> {
        (!self.is_empty()).then(|| (self.start as u64, (self.end - 1) as u64))
    }

    /// The exact sum of the range, n·(a+b)/2, computed without overflow.
    pub fn closed_form(&self) -> u128 {
        self.first_last()
            .map_or(0, |(first, last)| closed_form(first, last))
    }
}

/// The exact sum of `first..=last` by the closed form n·(first+last)/2, for any u64 bounds.
///
/// The even factor is halved before multiplying, so no intermediate exceeds u128: the whole domain
/// gives 2^127 − 2^63. Returns 0 when `first > last`.
///
/// ```
/// assert_eq!(parsum::closed_form(1, 100), 5050);
/// assert_eq!(parsum::closed_form(0, u64::MAX), (1u128 << 127) - (1u128 << 63));
/// ```
pub fn closed_form(first: u64, last: u64) -> u128 {
    if first > last {
        return 0;
    }
    let n = (last - first) as u128 + 1;
    let ends = first as u128 + last as u128;
    // n·(first+last) can reach 2^129; one of the two factors is even, so halve it first.
    if n.is_multiple_of(2) {
        (n / 2) * ends
    } else {
        n * (ends / 2)
    }
}
