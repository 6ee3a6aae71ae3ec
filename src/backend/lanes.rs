//! The lane kernel behind [`crate::Simd`], and the run-time choice of its instruction set.
//!
//! Each value is split into its 32-bit halves, and the halves are added into separate u64 lanes:
//! a lane takes at most 2^31 halves (each < 2^32) before it is flushed into a u128, so no add can
//! carry out, and the per-element work is three plain vector ops plus the increment. LLVM cannot
//! fold a masked or shifted induction variable into a formula, so every element is really added.
//!
//! `wide` fixes its instructions when `wide` itself is compiled (SSE2 only in a default x86-64
//! build), so compiling its types inside a `#[target_feature]` function does not widen them. The
//! same kernel over plain `[u64; LANES]` arrays does get AVX2/AVX-512 code inside such a function,
//! so on x86-64 those clones are picked at run time and `wide` serves every other target.

use super::scalar;

/// Lanes per step: eight 256-bit or four 512-bit vectors per accumulator, enough independent adds to
/// fill every vector port (16 lanes measured 12.6 G/s on one Zen core, 32 lanes 26.6 G/s).
pub const LANES: usize = 32;
/// Steps between flushes of the lane accumulators: each lane then holds < 2^31 · 2^32 = 2^63.
const MAX_STEPS: u64 = 1 << 31;

/// One implementation of the lane kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LaneKernel {
    /// `[u64; 16]` lanes compiled for AVX-512F (x86-64, detected at run time).
    Avx512,
    /// `[u64; 16]` lanes compiled for AVX2 (x86-64, detected at run time).
    Avx2,
    /// `wide::u64x4` lanes with the instructions `wide` was compiled for (SSE2 on a default
    /// x86-64 build, NEON on aarch64).
    Wide,
}

impl LaneKernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        Self::available()[0]
    }

    /// Every kernel this CPU runs, fastest first.
    pub fn available() -> Vec<Self> {
        let mut out = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                out.push(Self::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                out.push(Self::Avx2);
            }
        }
        out.push(Self::Wide);
        out
    }

    /// Short name, as in `simd/avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512",
            Self::Avx2 => "avx2",
            Self::Wide => "wide",
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        Self::available().contains(&self)
    }

    /// Adds `first..=last` on one thread. `first <= last`; the kernel must be available.
    pub fn sum_inclusive(self, first: u64, last: u64) -> u128 {
        debug_assert!(first <= last);
        let n = (last - first) as u128 + 1;
        let mut steps = (n / LANES as u128) as u64;
        let mut at = first as u128;
        let mut total = 0u128;
        while steps > 0 {
            let now = steps.min(MAX_STEPS);
            total += self.steps(at as u64, now);
            at += now as u128 * LANES as u128;
            steps -= now;
        }
        if at <= last as u128 {
            total += scalar::sum_inclusive(at as u64, last);
        }
        total
    }

    /// Sums `LANES * steps` consecutive values from `first` (which must all be ≤ u64::MAX).
    fn steps(self, first: u64, steps: u64) -> u128 {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx512` is only handed out by `available()` after the run-time check.
            Self::Avx512 => unsafe { x86::steps_avx512(first, steps) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx2` is only handed out by `available()` after the run-time check.
            Self::Avx2 => unsafe { x86::steps_avx2(first, steps) },
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx512 | Self::Avx2 => unreachable!("x86 kernel on another target"),
            Self::Wide => steps_wide(first, steps),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    #[target_feature(enable = "avx512f")]
    pub(super) fn steps_avx512(first: u64, steps: u64) -> u128 {
        super::steps_array(first, steps)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn steps_avx2(first: u64, steps: u64) -> u128 {
        super::steps_array(first, steps)
    }
}

/// The kernel over plain arrays; inlined into each `#[target_feature]` clone so that LLVM
/// vectorises it for that instruction set.
#[inline(always)]
fn steps_array(first: u64, steps: u64) -> u128 {
    let mut v: [u64; LANES] = std::array::from_fn(|j| first.wrapping_add(j as u64));
    let mut lo = [0u64; LANES];
    let mut hi = [0u64; LANES];
    for _ in 0..steps {
        for j in 0..LANES {
            lo[j] += v[j] & 0xFFFF_FFFF;
            hi[j] += v[j] >> 32;
            // The step after the last one may wrap past u64::MAX; its values are never added.
            v[j] = v[j].wrapping_add(LANES as u64);
        }
    }
    combine(&lo, &hi)
}

/// The same kernel in `wide` vectors.
fn steps_wide(first: u64, steps: u64) -> u128 {
    use wide::u64x4;
    const V: usize = LANES / 4;
    let mask = u64x4::splat(0xFFFF_FFFF);
    let stride = u64x4::splat(LANES as u64);
    let mut v: [u64x4; V] = std::array::from_fn(|k| {
        u64x4::new(std::array::from_fn(|j| {
            first.wrapping_add((4 * k + j) as u64)
        }))
    });
    let mut lo = [u64x4::ZERO; V];
    let mut hi = [u64x4::ZERO; V];
    for _ in 0..steps {
        for k in 0..V {
            lo[k] += v[k] & mask;
            hi[k] += v[k] >> 32;
            v[k] += stride;
        }
    }
    let flat =
        |a: [u64x4; V]| -> [u64; LANES] { std::array::from_fn(|i| a[i / 4].to_array()[i % 4]) };
    combine(&flat(lo), &flat(hi))
}

#[inline(always)]
fn combine(lo: &[u64; LANES], hi: &[u64; LANES]) -> u128 {
    let lo: u128 = lo.iter().map(|&x| x as u128).sum();
    let hi: u128 = hi.iter().map(|&x| x as u128).sum();
    lo + (hi << 32)
}
