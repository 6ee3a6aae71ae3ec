//! The lane kernels behind [`crate::Simd`], and the run-time choice of their instruction set.
//!
//! Every kernel adds every value into vector lanes in a form LLVM cannot fold into n·(a+b)/2 (see
//! `docs/design.md`): `avx512` and `avx2` count each lane's carry-outs (AVX2, lacking an unsigned
//! 64-bit compare, on lanes biased by 2^63); `wide` adds 32-bit halves into separate lanes, as
//! SSE2 has no 64-bit compare at all. `wide` fixes its instructions when it is compiled, so the
//! x86 kernels are plain arrays in `#[target_feature]` functions, picked at run time.
//!
//! Soundness: a [`LaneKernel`] is only a name. The `#[target_feature]` code is reachable only
//! through [`Lanes`], whose one constructor checks the CPU first.

use super::scalar;
use crate::error::{Error, Result};

/// One implementation of the lane kernel, by name. Naming one is always safe; running it checks
/// that this CPU has what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LaneKernel {
    /// 32 u64 lanes, carry counting, compiled for AVX-512F (x86-64, detected at run time).
    Avx512,
    /// 16 u64 lanes, carry counting on biased lanes, compiled for AVX2 (x86-64, detected at run
    /// time).
    Avx2,
    /// 2 × `wide::u64x4`, split halves, with the instructions `wide` was compiled for (SSE2 on a
    /// default x86-64 build, NEON on aarch64). Runs everywhere.
    Wide,
}

impl LaneKernel {
    /// Every kernel, fastest first where available.
    pub const ALL: [LaneKernel; 3] = [Self::Avx512, Self::Avx2, Self::Wide];

    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.is_available())
            .unwrap_or(Self::Wide)
    }

    /// Every kernel this CPU runs, fastest first.
    pub fn available() -> Vec<Self> {
        Self::ALL.into_iter().filter(|k| k.is_available()).collect()
    }

    /// Short name, as in `simd/avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512",
            Self::Avx2 => "avx2",
            Self::Wide => "wide",
        }
    }

    /// The CPU feature the kernel is compiled for (`""` for `Wide`).
    pub fn feature(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512f",
            Self::Avx2 => "avx2",
            Self::Wide => "",
        }
    }

    /// Whether this CPU can run the kernel (the answer is cached by the standard library).
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx512 | Self::Avx2 => false,
            Self::Wide => true,
        }
    }

    /// The kernel, ready to run, or [`Error::KernelUnavailable`] on a CPU without its feature.
    pub(crate) fn checked(self) -> Result<Lanes> {
        if self.is_available() {
            Ok(Lanes(self))
        } else {
            Err(Error::KernelUnavailable {
                kernel: self.name(),
                feature: self.feature(),
            })
        }
    }

    /// Adds `first..=last` on the calling thread.
    ///
    /// [`Error::KernelUnavailable`] on a CPU without the kernel's feature, and
    /// [`Error::InvalidRange`] when `first > last`: never a wrong number, never an illegal
    /// instruction.
    ///
    /// ```
    /// use parsum::LaneKernel;
    /// let wide = LaneKernel::Wide.sum_inclusive(1, 100)?;
    /// assert_eq!(wide, 5050);
    /// for kernel in LaneKernel::ALL {
    ///     match kernel.sum_inclusive(u64::MAX - 999, u64::MAX) {
    ///         Ok(sum) => assert_eq!(sum, parsum::closed_form(u64::MAX - 999, u64::MAX)),
    ///         Err(e) => assert!(!kernel.is_available(), "{e}"),
    ///     }
    /// }
    /// assert!(LaneKernel::Wide.sum_inclusive(5, 4).is_err());
    /// # Ok::<(), parsum::Error>(())
    /// ```
    pub fn sum_inclusive(self, first: u64, last: u64) -> Result<u128> {
        if first > last {
            return Err(Error::InvalidRange {
                start: first as u128,
                end: last as u128 + 1,
            });
        }
        Ok(self.checked()?.sum(first, last))
    }
}

/// A [`LaneKernel`] this CPU has been checked to run: the only way to its `#[target_feature]`
/// code. Made by [`LaneKernel::checked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Lanes(LaneKernel);

impl Lanes {
    /// The kernel's name.
    pub(crate) fn kernel(self) -> LaneKernel {
        self.0
    }

    /// Adds `first..=last` (`first <= last`; reversed bounds give 0).
    pub(crate) fn sum(self, first: u64, last: u64) -> u128 {
        if first > last {
            return 0;
        }
        let n = (last - first) as u128 + 1;
        let lanes = self.width() as u128;
        // The vector loop covers `n / lanes` steps of `lanes` values; the rest is added one by one.
        let mut total = 0u128;
        let mut at = first as u128;
        let mut left = n / lanes;
        while left > 0 {
            // u64 steps per call; only the whole domain in one call needs more than one round.
            let now = left.min(u64::MAX as u128 / lanes) as u64;
            total += self.steps(at as u64, now);
            at += now as u128 * lanes;
            left -= now as u128;
        }
        if at <= last as u128 {
            total += scalar::sum_inclusive(at as u64, last);
        }
        total
    }

    fn width(self) -> usize {
        match self.0 {
            LaneKernel::Avx512 => AVX512_LANES,
            LaneKernel::Avx2 => AVX2_LANES,
            LaneKernel::Wide => WIDE_LANES,
        }
    }

    /// Sums `width * steps` consecutive values from `first` (all of them ≤ u64::MAX).
    fn steps(self, first: u64, steps: u64) -> u128 {
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a `Lanes(Avx512)` is only made by `LaneKernel::checked`, which has just
            // confirmed with `is_x86_feature_detected!("avx512f")` that this CPU has AVX-512F.
            LaneKernel::Avx512 => unsafe { x86::carry_avx512(first, steps) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a `Lanes(Avx2)` is only made by `LaneKernel::checked`, which has just
            // confirmed with `is_x86_feature_detected!("avx2")` that this CPU has AVX2.
            LaneKernel::Avx2 => unsafe { x86::carry_avx2(first, steps) },
            #[cfg(not(target_arch = "x86_64"))]
            LaneKernel::Avx512 | LaneKernel::Avx2 => {
                unreachable!("`checked` refuses x86 kernels on other targets")
            }
            LaneKernel::Wide => split_wide(first, steps),
        }
    }
}

/// 32 lanes: four zmm registers per array; 16 and 64 lanes measured slower.
const AVX512_LANES: usize = 32;
/// 16 lanes: three arrays of four ymm registers fit AVX2's sixteen; 32 lanes spill.
const AVX2_LANES: usize = 16;
/// 8 lanes: three arrays of four xmm registers fit SSE2's sixteen; 32 lanes spill.
const WIDE_LANES: usize = 8;

#[cfg(target_arch = "x86_64")]
mod x86 {
    // Only avx512f: with avx512dq also enabled LLVM turns the compare mask into a vector
    // (`vpmovm2q` + `vpsubq`), which measured 25 % slower than the masked subtract.
    #[target_feature(enable = "avx512f")]
    pub(super) fn carry_avx512(first: u64, steps: u64) -> u128 {
        carry_lanes::<{ super::AVX512_LANES }>(first, steps)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn carry_avx2(first: u64, steps: u64) -> u128 {
        carry_lanes_biased::<{ super::AVX2_LANES }>(first, steps)
    }

    /// Carry counting over plain arrays; inlined into a `#[target_feature]` clone so that LLVM
    /// vectorises it for that instruction set (unsigned compares: AVX-512).
    #[inline(always)]
    fn carry_lanes<const N: usize>(first: u64, steps: u64) -> u128 {
        let mut v: [u64; N] = std::array::from_fn(|j| first.wrapping_add(j as u64));
        let mut acc = [0u64; N];
        let mut carries = [0u64; N];
        for _ in 0..steps {
            for j in 0..N {
                let sum = acc[j].wrapping_add(v[j]);
                carries[j] += u64::from(sum < v[j]);
                acc[j] = sum;
                // The step after the last one may wrap past u64::MAX; its values are never added.
                v[j] = v[j].wrapping_add(N as u64);
            }
        }
        let low: u128 = acc.iter().map(|&a| a as u128).sum();
        let high: u128 = carries.iter().map(|&c| c as u128).sum();
        low + (high << 64)
    }

    /// Carry counting with signed compares: lanes hold `acc ^ 2^63` and `v ^ 2^63` (adding `v` to
    /// a biased accumulator keeps it biased, since flipping the top bit is adding 2^63), and the
    /// unsigned `acc + v < v` becomes a signed compare of the biased values.
    #[inline(always)]
    fn carry_lanes_biased<const N: usize>(first: u64, steps: u64) -> u128 {
        const BIAS: u64 = 1 << 63;
        let mut vb: [i64; N] =
            std::array::from_fn(|j| (first.wrapping_add(j as u64) ^ BIAS) as i64);
        let mut accb = [BIAS as i64; N];
        let mut carries = [0i64; N];
        for _ in 0..steps {
            for j in 0..N {
                let v = vb[j] ^ BIAS as i64;
                let sum = accb[j].wrapping_add(v);
                carries[j] += i64::from(sum < vb[j]);
                accb[j] = sum;
                vb[j] = vb[j].wrapping_add(N as i64);
            }
        }
        let low: u128 = accb.iter().map(|&a| (a as u64 ^ BIAS) as u128).sum();
        let high: u128 = carries.iter().map(|&c| c as u64 as u128).sum();
        low + (high << 64)
    }
}

/// Split halves in `wide` vectors: each lane holds < 2^31 · 2^32 = 2^63 before it is flushed.
fn split_wide(first: u64, steps: u64) -> u128 {
    use wide::u64x4;
    const V: usize = WIDE_LANES / 4;
    const FLUSH: u64 = 1 << 31;
    let mask = u64x4::splat(0xFFFF_FFFF);
    let stride = u64x4::splat(WIDE_LANES as u64);
    let mut v: [u64x4; V] = std::array::from_fn(|k| {
        u64x4::new(std::array::from_fn(|j| {
            first.wrapping_add((4 * k + j) as u64)
        }))
    });
    let mut total = 0u128;
    let mut left = steps;
    while left > 0 {
        let now = left.min(FLUSH);
        let mut lo = [u64x4::ZERO; V];
        let mut hi = [u64x4::ZERO; V];
        for _ in 0..now {
            for k in 0..V {
                lo[k] += v[k] & mask;
                hi[k] += v[k] >> 32;
                v[k] += stride;
            }
        }
        for k in 0..V {
            for (l, h) in lo[k].to_array().into_iter().zip(hi[k].to_array()) {
                total += l as u128 + ((h as u128) << 32);
            }
        }
        left -= now;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::closed_form;

    #[test]
    fn every_available_kernel_is_exact_at_the_edges() {
        for kernel in LaneKernel::available() {
            let lanes = kernel.checked().unwrap();
            for (first, last) in [
                (0, 0),
                (0, 1000),
                (u64::MAX - 100_000, u64::MAX),
                ((1 << 32) - 77, (1 << 32) + 5000),
                ((1 << 63) - 12_345, (1 << 63) + 54_321),
                (7, 7 + 31),
                (7, 7 + 32),
                (7, 7 + 33),
            ] {
                assert_eq!(
                    lanes.sum(first, last),
                    closed_form(first, last),
                    "{kernel:?} {first}..={last}"
                );
            }
        }
    }

    #[test]
    fn unavailable_kernels_are_refused() {
        for kernel in LaneKernel::ALL {
            let r = kernel.sum_inclusive(0, 100);
            if kernel.is_available() {
                assert_eq!(r, Ok(5050));
            } else {
                assert!(matches!(r, Err(Error::KernelUnavailable { .. })));
            }
        }
        assert!(matches!(
            LaneKernel::Wide.sum_inclusive(10, 9),
            Err(Error::InvalidRange { .. })
        ));
    }
}
