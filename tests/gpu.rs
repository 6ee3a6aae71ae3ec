//! The GPU backend: the conformance suite on whatever adapter wgpu finds (lavapipe in CI), sums
//! that need many submissions, and the failure paths. Without an adapter every test here says it
//! was skipped, and fails when `PARSUM_REQUIRE_GPU=1`.
#![allow(clippy::reversed_empty_ranges)] // reversed ranges are what the suite feeds in

mod common;

use parsum::{Error, Gpu, GpuKernel, GpuOptions};

/// A GPU backend with `options`, or `None` with the reason printed.
fn gpu(options: GpuOptions) -> Option<Gpu> {
    match Gpu::with_options(options) {
        Ok(g) => {
            eprintln!("gpu tests run on {}", g.adapter().describe());
            Some(g)
        }
        Err(e) => {
            eprintln!("no GPU backend: {e}");
            None
        }
    }
}

fn small_batches(max_batch_elements: u64) -> GpuOptions {
    GpuOptions {
        max_batch_elements,
        ..GpuOptions::default()
    }
}

fn kernel(kernel: GpuKernel, max_batch_elements: u64) -> GpuOptions {
    GpuOptions {
        kernel: Some(kernel),
        ..small_batches(max_batch_elements)
    }
}

conformance!(
    gpu_default,
    gpu(GpuOptions::default()),
    "PARSUM_REQUIRE_GPU"
);
conformance!(
    gpu_u32_tiny_batches,
    gpu(kernel(GpuKernel::U32Pairs, 1000)),
    "PARSUM_REQUIRE_GPU"
);
// Lavapipe offers SHADER_INT64, so CI runs this variant too; elsewhere it may be skipped.
conformance!(
    gpu_native_u64,
    gpu(kernel(GpuKernel::NativeU64, 1 << 32)),
    "PARSUM_REQUIRE_GPU"
);

#[cfg(feature = "gpu")]
mod gpu_only {
    use super::*;
    use common::{available, check, oracle};
    use parsum::SumRequest;

    fn required(options: GpuOptions) -> Option<Gpu> {
        available("gpu", gpu(options), "PARSUM_REQUIRE_GPU")
    }

    #[test]
    fn more_than_2_pow_32_elements_in_many_submissions() {
        for k in [GpuKernel::U32Pairs, GpuKernel::NativeU64] {
            let Some(g) = required(kernel(k, 1 << 28)) else {
                return;
            };
            // Starts below a 2^32 boundary of the low half, ends past the next one: every
            // submission is bounded, segments cross low-half wraps, chunks span submissions.
            let start = (7u64 << 32) - 1_234_567;
            let n = (1u64 << 32) + 4_321;
            let report = check(&g, SumRequest::new(start..start + n).unwrap().chunks(3));
            assert_eq!(report.sum, oracle(start, n as u128));
            assert_eq!(report.chunks, 3);
        }
    }

    #[test]
    fn auto_kernel_choice_is_measured() {
        let Some(g) = required(GpuOptions::default()) else {
            return;
        };
        let timed = g.calibration();
        if !timed.is_empty() {
            assert_eq!(timed.len(), 2);
            let fastest = timed.iter().min_by_key(|(_, t)| *t).unwrap().0;
            assert_eq!(g.kernel(), fastest, "{timed:?}");
        }
        use parsum::Backend;
        assert_eq!(g.info().kernel, format!("gpu/{}", g.kernel().name()));
    }

    #[test]
    fn near_the_top_of_the_domain_in_small_submissions() {
        let Some(g) = required(small_batches(1 << 16)) else {
            return;
        };
        check(
            &g,
            SumRequest::new(u64::MAX - 3_000_000..=u64::MAX)
                .unwrap()
                .chunks(5),
        );
    }

    #[test]
    fn kernel_time_is_reported_where_timestamps_exist() {
        let Some(g) = required(GpuOptions::default()) else {
            return;
        };
        check(&g, SumRequest::new(0..100_000_000).unwrap());
        if let Some(t) = g.last_kernel_time() {
            assert!(t.as_nanos() > 0, "a kernel of 10^8 adds cannot take 0 ns");
        }
    }

    #[test]
    fn a_lost_device_is_an_error_not_a_panic() {
        let Some(g) = required(GpuOptions::default()) else {
            return;
        };
        check(&g, SumRequest::new(0..1000).unwrap());
        g.lose_device();
        for _ in 0..2 {
            let err = SumRequest::new(0..1_000_000).unwrap().run(&g).unwrap_err();
            assert!(matches!(err, Error::DeviceLost(_)), "{err:?}");
        }
    }

    #[test]
    fn unknown_adapter_name_says_what_exists() {
        let err = Gpu::with_adapter("no-such-adapter-xyz").unwrap_err();
        let Error::GpuUnavailable(msg) = err else {
            panic!("{err:?}");
        };
        assert!(
            msg.contains("no-such-adapter-xyz") && msg.contains("found"),
            "{msg}"
        );
    }

    #[test]
    fn zero_batch_size_is_an_error() {
        assert!(Gpu::with_options(small_batches(0)).is_err());
    }
}

#[cfg(not(feature = "gpu"))]
#[test]
fn without_the_feature_the_gpu_says_so() {
    let err = Gpu::new().unwrap_err();
    assert_eq!(
        err,
        Error::NotCompiled {
            backend: "gpu",
            feature: "gpu"
        }
    );
    assert!(err.to_string().contains("built without the `gpu` feature"));
    assert!(parsum::adapters().is_empty());
}
