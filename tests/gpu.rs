//! The GPU backend: the conformance suite on whatever adapter wgpu finds (lavapipe in CI), for
//! both kernels and for tiny submissions, sums that need many submissions, and the adapter
//! choice. Without an adapter every test here says it was skipped, and fails when
//! `PARSUM_REQUIRE_GPU=1`. (Failure injection — time-outs, map errors, a lost device — is tested
//! inside the crate, where its hooks live.)
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

fn kernel(kernel: GpuKernel, max_batch_elements: u64) -> GpuOptions {
    GpuOptions::default()
        .kernel(kernel)
        .max_batch_elements(max_batch_elements)
}

conformance!(
    gpu_default,
    gpu(GpuOptions::default()),
    "PARSUM_REQUIRE_GPU"
);
conformance!(
    gpu_u32_tiny_batches,
    gpu(kernel(GpuKernel::U32Pairs, 4093)),
    "PARSUM_REQUIRE_GPU"
);
conformance!(
    gpu_u32,
    gpu(kernel(GpuKernel::U32Pairs, 1 << 32)),
    "PARSUM_REQUIRE_GPU"
);
// Lavapipe offers SHADER_INT64, so CI runs this variant too (it is required there).
conformance!(
    gpu_native_u64,
    gpu(kernel(GpuKernel::NativeU64, 1 << 32)),
    "PARSUM_REQUIRE_GPU"
);
conformance!(
    gpu_native_u64_tiny_batches,
    gpu(kernel(GpuKernel::NativeU64, 1531)),
    "PARSUM_REQUIRE_GPU"
);

#[cfg(feature = "gpu")]
mod gpu_only {
    use super::*;
    use common::{check, oracle, skip};
    use parsum::{AdapterChoice, Backend, SumRequest};

    fn required(test: &str, options: GpuOptions) -> Option<Gpu> {
        let g = gpu(options);
        if g.is_none() {
            skip(test, "a GPU adapter", "PARSUM_REQUIRE_GPU");
        }
        g
    }

    #[test]
    fn more_than_2_pow_32_elements_in_many_submissions() {
        for k in [GpuKernel::U32Pairs, GpuKernel::NativeU64] {
            let Some(g) = required("more_than_2_pow_32", kernel(k, 1 << 28)) else {
                return;
            };
            // Starts below a multiple of 2^32, ends past the next one: every submission is
            // bounded and stops at those multiples, chunks span submissions.
            let start = (7u64 << 32) - 1_234_567;
            let n = (1u64 << 32) + 4_321;
            let report = check(&g, SumRequest::new(start..start + n).unwrap().chunks(3));
            assert_eq!(report.sum, oracle(start, n as u128));
            assert_eq!(report.chunks, 3);
        }
    }

    #[test]
    fn the_native_kernel_runs_where_int64_is_offered() {
        let Some(g) = required("native_kernel", GpuOptions::default()) else {
            return;
        };
        if !g.has_int64() {
            skip("native_kernel", "SHADER_INT64", "PARSUM_REQUIRE_GPU_INT64");
            let err = Gpu::with_options(kernel(GpuKernel::NativeU64, 1 << 32)).unwrap_err();
            assert!(matches!(err, Error::GpuUnavailable(_)), "{err:?}");
            return;
        }
        let g = gpu(kernel(GpuKernel::NativeU64, 1 << 32)).expect("int64 is offered");
        assert_eq!(&*g.info().kernel, "gpu/native-u64");
        check(
            &g,
            SumRequest::new(u64::MAX - 5_000_000..=u64::MAX)
                .unwrap()
                .chunks(11),
        );
    }

    #[test]
    fn near_the_top_of_the_domain_in_small_submissions() {
        let Some(g) = required(
            "top_of_domain",
            GpuOptions::default().max_batch_elements(1 << 16),
        ) else {
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
    fn kernel_time_is_measured_where_timestamps_exist() {
        let Some(g) = required("kernel_time", GpuOptions::default()) else {
            return;
        };
        check(&g, SumRequest::new(0..100_000_000).unwrap());
        if !g.has_timestamps() {
            assert_eq!(g.last_kernel_time(), None);
            skip("kernel_time", "TIMESTAMP_QUERY", "PARSUM_REQUIRE_GPU");
            return;
        }
        let t = g.last_kernel_time().expect("timestamps are offered");
        assert!(t.as_nanos() > 0, "a kernel of 10^8 adds cannot take 0 ns");
    }

    #[test]
    fn a_million_one_element_chunks() {
        let Some(g) = required("a_million_chunks", GpuOptions::default()) else {
            return;
        };
        let report = check(
            &g,
            SumRequest::new((5 << 32) - 500_000..(5 << 32) + 500_000)
                .unwrap()
                .chunk_len(1),
        );
        assert_eq!(report.chunks, 1_000_000);
    }

    #[test]
    fn long_runs_per_invocation_cut_by_many_chunks() {
        // 2^28 values across a multiple of 2^32 (two submissions, more for 10^6 chunks): runs of
        // 32768–65536 values on lavapipe (64–128 on a GPU), so chunks a bit shorter than a run
        // (shrunk to hold one boundary, or piece by piece) and much shorter occur.
        for k in [GpuKernel::U32Pairs, GpuKernel::NativeU64] {
            let Some(g) = required("long_runs_cut_by_chunks", kernel(k, 1 << 32)) else {
                return;
            };
            let start = (9u64 << 32) - (1 << 27) - 17;
            for chunks in [13_421u64, 100_003, 1_000_003] {
                let request = SumRequest::new(start..start + (1 << 28)).unwrap();
                let report = check(&g, request.chunks(chunks));
                assert_eq!(report.chunks, chunks);
            }
        }
    }

    #[test]
    fn the_longest_runs_a_cpu_device_takes() {
        // 2^29 + 1 values in one submission: on lavapipe each invocation adds 65536 values, the
        // most it ever does; 100 chunks give one boundary per run, 13_000 runs shrunk to 32768,
        // 40_000 piece by piece. (A GPU takes 512-value runs here, one boundary each.)
        for k in [GpuKernel::U32Pairs, GpuKernel::NativeU64] {
            let Some(g) = required("longest_runs", kernel(k, 1 << 32)) else {
                return;
            };
            let start = (3u64 << 32) + 12_345;
            for chunks in [100u64, 13_000, 40_000] {
                let request = SumRequest::new(start..start + (1 << 29) + 1).unwrap();
                assert_eq!(check(&g, request.chunks(chunks)).chunks, chunks);
            }
        }
    }

    #[test]
    fn adapters_are_named_by_index() {
        let list = Gpu::adapters().unwrap();
        if list.is_empty() {
            skip("adapters_by_index", "a GPU adapter", "PARSUM_REQUIRE_GPU");
            return;
        }
        for (i, a) in list.iter().enumerate() {
            assert_eq!(a.index, i);
        }
        let g = gpu(GpuOptions::default().adapter(AdapterChoice::Index(0))).unwrap();
        assert_eq!(g.adapter().identity(), list[0].identity());
        // The default, found without opening it, is the adapter `Gpu::new` opens.
        let default = Gpu::default_adapter().unwrap();
        assert_eq!(gpu(GpuOptions::default()).unwrap().adapter(), &default);
        let err =
            Gpu::with_options(GpuOptions::default().adapter(AdapterChoice::Index(list.len())))
                .unwrap_err();
        assert!(
            matches!(&err, Error::GpuUnavailable(m) if m.contains("no adapter at index")),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_adapter_name_says_what_exists() {
        let err = Gpu::with_options(
            GpuOptions::default().adapter(AdapterChoice::Name("no-such-adapter-xyz".into())),
        )
        .unwrap_err();
        let Error::GpuUnavailable(msg) = err else {
            panic!("{err:?}");
        };
        assert!(
            msg.contains("no-such-adapter-xyz") && msg.contains("found"),
            "{msg}"
        );
    }

    #[test]
    fn an_empty_adapter_name_is_refused() {
        let err = Gpu::with_options(GpuOptions::default().adapter(AdapterChoice::Name(" ".into())))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.contains("empty")),
            "{err:?}"
        );
    }

    #[test]
    fn the_kernel_follows_the_device_features() {
        let Some(g) = required("kernel_rule", GpuOptions::default()) else {
            return;
        };
        let want = if g.has_int64() {
            GpuKernel::NativeU64
        } else {
            GpuKernel::U32Pairs
        };
        assert_eq!(g.kernel(), want);
    }

    #[test]
    fn zero_batch_size_is_an_error() {
        assert!(matches!(
            Gpu::with_options(GpuOptions::default().max_batch_elements(0)),
            Err(Error::Config(_))
        ));
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
    assert!(Gpu::adapters().unwrap().is_empty());
    assert_eq!(Gpu::default_adapter(), Err(err));
}
