//! The conformance suite, once per backend and once per SIMD kernel this CPU runs (the others are
//! visible skips here; CI runs them on emulated CPUs, see `.ci/run`).
#![allow(clippy::reversed_empty_ranges)] // reversed ranges are what these tests feed in

mod common;

use parsum::{LaneKernel, Scalar, Simd};

conformance!(scalar, Some(Scalar::new()));
conformance!(simd, Some(Simd::new()));
conformance!(simd_two_threads, Simd::with_threads(2).ok());
conformance!(simd_one_thread, Simd::with_threads(1).ok());
conformance!(simd_wide_kernel, Simd::new().kernel(LaneKernel::Wide).ok());
conformance!(
    simd_avx2_kernel,
    Simd::new().kernel(LaneKernel::Avx2).ok(),
    "PARSUM_REQUIRE_AVX2"
);
conformance!(
    simd_avx512_kernel,
    Simd::new().kernel(LaneKernel::Avx512).ok(),
    "PARSUM_REQUIRE_AVX512"
);
// Auto over every backend here (lavapipe's GPU too, where there is one): whichever it picks, the
// same exact sums — and no cache, so runs of the suite do not teach each other.
conformance!(
    auto,
    parsum::Auto::with_options(parsum::AutoOptions::default().cache(None)).ok()
);
