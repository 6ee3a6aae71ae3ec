//! The SIMD kernels on the CPU they target. Natively this checks whatever this CPU runs; CI runs
//! the same binary under `qemu-x86_64 -cpu Haswell` (AVX2, no AVX-512) and `-cpu Westmere` (SSE
//! only) with `PARSUM_EXPECT_KERNEL` naming the kernel that CPU must get — so the AVX2 and
//! portable kernels are exercised where they are the best there is, and a kernel the CPU lacks
//! must be refused, never run. Sized for emulation (about 100× slower than native).
#![allow(clippy::reversed_empty_ranges)] // reversed bounds are what one test feeds in

mod common;

use parsum::{Backend, Error, LaneKernel, Simd, SumRequest, closed_form};

/// The kernel this CPU gets, checked against `PARSUM_EXPECT_KERNEL` when it is set.
#[test]
fn the_cpu_gets_the_kernel_it_should() {
    let detected = LaneKernel::detect();
    let available: Vec<&str> = LaneKernel::available().iter().map(|k| k.name()).collect();
    println!(
        "this CPU runs {available:?}; simd uses {}",
        Simd::new().info().kernel
    );
    if let Ok(expected) = std::env::var("PARSUM_EXPECT_KERNEL") {
        assert_eq!(detected.name(), expected, "available: {available:?}");
    }
    assert_eq!(Simd::new().lane_kernel(), detected);
}

/// Every kernel, on every CPU: a right sum where the CPU has it, a clear error where it has not.
#[test]
fn kernels_the_cpu_lacks_are_refused() {
    for kernel in LaneKernel::ALL {
        let got = kernel.sum_inclusive(u64::MAX - 999, u64::MAX);
        if kernel.is_available() {
            assert_eq!(got, Ok(closed_form(u64::MAX - 999, u64::MAX)), "{kernel:?}");
            assert!(Simd::with_threads(1).unwrap().kernel(kernel).is_ok());
        } else {
            assert!(
                matches!(got, Err(Error::KernelUnavailable { .. })),
                "{kernel:?}: {got:?}"
            );
            let refused = Simd::with_threads(1).unwrap().kernel(kernel);
            assert!(
                matches!(refused, Err(Error::KernelUnavailable { .. })),
                "{kernel:?}"
            );
        }
        assert!(matches!(
            kernel.sum_inclusive(10, 9),
            Err(Error::InvalidRange { .. }) | Err(Error::KernelUnavailable { .. })
        ));
    }
}

/// The conformance edges, small, on every kernel this CPU runs, one and two threads.
#[test]
fn every_available_kernel_is_exact() {
    for kernel in LaneKernel::available() {
        for threads in [1, 2] {
            let b = Simd::with_threads(threads).unwrap().kernel(kernel).unwrap();
            let check = |r: SumRequest<'_>| common::check(&b, r);
            for n in (0..70u64).chain([127, 128, 129, 1000, 4097]) {
                check(SumRequest::new(999_999_937..999_999_937 + n).unwrap());
                check(SumRequest::new(u64::MAX - n..=u64::MAX).unwrap());
            }
            for mid in [1u64 << 32, 1u64 << 63] {
                for chunks in [1, 3, 64] {
                    check(
                        SumRequest::new(mid - 5003..mid + 4999)
                            .unwrap()
                            .chunks(chunks),
                    );
                }
            }
            check(SumRequest::new(0..100_000).unwrap().chunk_len(7));
            let big = check(SumRequest::new((1 << 50)..(1 << 50) + 300_000).unwrap());
            assert!(big.sum > u64::MAX as u128);
        }
    }
}
