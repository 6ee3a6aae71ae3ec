//! One conformance suite for every backend, [`parsum::Auto`] included: `conformance!(name, expr)`
//! instantiates it for a runner built by `expr`, an `Option<impl Runner>` (`None` = not available
//! on this machine: every test then says it was skipped, and fails when the environment variable
//! named as the third argument is `1`).
#![allow(dead_code)]

use std::borrow::Borrow;

use parsum::{Runner, SumReport, SumRequest};

/// A runner of any kind, as the suite holds it.
pub type Sum = Box<dyn Fn(&SumRequest<'_>) -> parsum::Result<SumReport> + Send + Sync>;

/// `runner`, boxed for the suite.
pub fn boxed<R: Runner + Send + Sync + 'static>(runner: R) -> Sum {
    Box::new(move |request| request.run(&runner).map(|r| r.borrow().clone()))
}

/// An oracle independent of the library's closed form: n·first + n(n−1)/2, for short ranges.
pub fn oracle(first: u64, n: u128) -> u128 {
    if n == 0 {
        return 0;
    }
    n * first as u128 + n * (n - 1) / 2
}

/// Sums `request` on `runner` and checks it against `oracle` and the report's own fields.
pub fn check<R: Runner + ?Sized>(runner: &R, request: SumRequest<'_>) -> SumReport {
    let range = request.range();
    let report = request
        .run(runner)
        .unwrap_or_else(|e| panic!("{range:?}: {e}"));
    let report: SumReport = report.borrow().clone();
    let want = oracle(range.start() as u64, range.len());
    assert_eq!(report.sum, want, "{range:?} on {:?}", report.backend);
    assert_eq!(report.expected, want);
    assert!(report.verified);
    report
}

/// Whether the environment says `what` must be present.
pub fn required(required_by: &str) -> bool {
    std::env::var(required_by).is_ok_and(|v| v == "1")
}

/// Says that `test` is skipped because `what` is missing — or panics when `required_by=1`.
pub fn skip(test: &str, what: &str, required_by: &str) {
    assert!(
        !required(required_by),
        "{test}: {what} unavailable but {required_by}=1"
    );
    eprintln!(
        "SKIPPED {test}: {what} unavailable on this machine (set {required_by}=1 to fail instead)"
    );
}

#[macro_export]
macro_rules! conformance {
    ($name:ident, $make:expr) => {
        $crate::conformance!($name, $make, "PARSUM_REQUIRE_NOTHING");
    };
    ($name:ident, $make:expr, $required_by:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use parsum::{Error, SumRequest};
            use std::sync::atomic::{AtomicBool, Ordering};
            use std::sync::OnceLock;

            use $crate::common::{boxed, oracle, skip, Sum};

            fn backend() -> Option<&'static Sum> {
                static B: OnceLock<Option<Sum>> = OnceLock::new();
                B.get_or_init(|| $make.map(boxed)).as_ref()
            }

            fn check(b: &Sum, request: SumRequest<'_>) -> parsum::SumReport {
                let range = request.range();
                let report = b(&request).unwrap_or_else(|e| panic!("{range:?}: {e}"));
                let want = oracle(range.start() as u64, range.len());
                assert_eq!(report.sum, want, "{range:?} on {:?}", report.backend);
                assert_eq!(report.expected, want);
                assert!(report.verified);
                report
            }

            /// The backend, or a visible skip (a failure when it is required).
            macro_rules! with_backend {
                ($b:ident, $test:literal) => {
                    let Some($b) = backend() else {
                        skip(concat!(stringify!($name), "::", $test), stringify!($name), $required_by);
                        return;
                    };
                };
            }

            #[test]
            fn empty_ranges() {
                with_backend!(b, "empty_ranges");
                for r in [SumRequest::new(0..0), SumRequest::new(5..5), SumRequest::new(u64::MAX..u64::MAX)] {
                    let report = check(b, r.unwrap());
                    assert_eq!((report.sum, report.chunks), (0, 0));
                }
            }

            #[test]
            fn one_element() {
                with_backend!(b, "one_element");
                for v in [0, 1, 7, u32::MAX as u64, 1 << 32, u64::MAX - 1, u64::MAX] {
                    let report = check(b, SumRequest::new(v..=v).unwrap());
                    assert_eq!(report.sum, v as u128);
                }
            }

            #[test]
            fn crossing_2_pow_32_and_2_pow_63() {
                with_backend!(b, "crossing_2_pow_32_and_2_pow_63");
                for mid in [1u64 << 32, 1u64 << 63, 7u64 << 32] {
                    for chunks in [1, 3, 64, 1000] {
                        check(b, SumRequest::new(mid - 100_003..mid + 99_999).unwrap().chunks(chunks));
                    }
                }
            }

            #[test]
            fn ending_at_u64_max() {
                with_backend!(b, "ending_at_u64_max");
                check(b, SumRequest::new(u64::MAX - 300_000..=u64::MAX).unwrap().chunks(7));
                check(b, SumRequest::new(u64::MAX - 12_345..).unwrap());
                check(b, SumRequest::new((u64::MAX - 40)..=u64::MAX).unwrap().chunks(40));
                check(b, SumRequest::new((u64::MAX - 4000)..=u64::MAX).unwrap().chunk_len(1));
            }

            #[test]
            fn totals_above_u64_max() {
                with_backend!(b, "totals_above_u64_max");
                let report = check(b, SumRequest::new((1u64 << 50)..(1u64 << 50) + (1 << 16)).unwrap());
                assert!(report.sum > u64::MAX as u128);
                let report = check(b, SumRequest::new(u64::MAX - 2_000_000..u64::MAX).unwrap().chunks(3));
                assert!(report.sum > 1u128 << 84);
            }

            #[test]
            fn uneven_chunks_and_lengths() {
                with_backend!(b, "uneven_chunks_and_lengths");
                for chunks in [1, 2, 3, 7, 10, 99, 1000] {
                    check(b, SumRequest::new(12_345..12_345 + 1_000_003).unwrap().chunks(chunks));
                }
                check(b, SumRequest::new(3..1_000_000).unwrap().chunk_len(65_537));
                // Every length around the lane and workgroup widths, from an odd start.
                for n in (0..300u64).chain([1023, 1024, 1025, 4095, 4096, 4097, 65_535, 65_536, 65_537]) {
                    check(b, SumRequest::new(999_999_937..999_999_937 + n).unwrap());
                }
            }

            #[test]
            fn many_small_chunks() {
                with_backend!(b, "many_small_chunks");
                // One-element chunks, chunks of a few elements around lane widths, and chunks that
                // do not line up with any power of two — across a low-half wrap.
                let start = (3u64 << 32) - 150_001;
                for len in [1u128, 2, 3, 7, 31, 33, 255, 257, 4097] {
                    let report = check(b, SumRequest::new(start..start + 300_000).unwrap().chunk_len(len));
                    assert_eq!(report.chunks as u128, 300_000u128.div_ceil(len));
                }
                check(b, SumRequest::new(0..2_000_000).unwrap().chunks(100_000));
            }

            #[test]
            fn a_boundary_at_every_place_near_the_end() {
                with_backend!(b, "a_boundary_at_every_place_near_the_end");
                // Two chunks, the second 1 to 61 values long: the boundary falls in each quarter
                // and at every offset mod 16 of the last 63 values (700_031 = 63 mod 64) — inside
                // a partial last run and a partial unrolled block on the GPU, a partial lane group
                // on the CPU.
                let n = 700_031u64;
                for r in (1..63u64).step_by(3) {
                    check(b, SumRequest::new(7..7 + n).unwrap().chunk_len((n - r) as u128));
                }
                // Many chunks — longer than a 16-value run, and shorter (piece by piece on the
                // GPU) — ending at every offset of the last few values.
                for n in 16_000u64..16_016 {
                    for len in [5u128, 17, 1001] {
                        check(b, SumRequest::new(7..7 + n).unwrap().chunk_len(len));
                    }
                }
            }

            #[test]
            fn more_chunks_than_elements() {
                with_backend!(b, "more_chunks_than_elements");
                let report = check(b, SumRequest::new(10..15).unwrap().chunks(100));
                assert_eq!(report.chunks, 5);
                let report = check(b, SumRequest::new(0..1000).unwrap().chunk_len(1));
                assert_eq!(report.chunks, 1000);
            }

            #[test]
            fn inclusive_and_open_forms() {
                with_backend!(b, "inclusive_and_open_forms");
                assert_eq!(check(b, SumRequest::new(..=1000).unwrap()).sum, 500_500);
                assert_eq!(check(b, SumRequest::new(..1000).unwrap()).sum, 499_500);
                assert_eq!(check(b, SumRequest::new(1..=1000).unwrap()).sum, 500_500);
                let tail = check(b, SumRequest::new(u64::MAX - 999..).unwrap());
                assert_eq!(tail.sum, oracle(u64::MAX - 999, 1000));
            }

            #[test]
            fn ten_million_default_chunks() {
                with_backend!(b, "ten_million_default_chunks");
                let report = check(b, SumRequest::new(0..10_000_000).unwrap());
                assert_eq!(report.sum, 49_999_995_000_000);
                assert_eq!(report.chunks, parsum::DEFAULT_CHUNKS);
            }

            #[test]
            fn reversed_and_zero_chunks_are_errors() {
                with_backend!(b, "reversed_and_zero_chunks_are_errors");
                assert!(matches!(SumRequest::new(10..5), Err(Error::InvalidRange { .. })));
                let zero = b(&SumRequest::new(0..10).unwrap().chunks(0));
                assert_eq!(zero.unwrap_err(), Error::ZeroChunks);
            }

            #[test]
            fn shared_by_eight_threads() {
                with_backend!(b, "shared_by_eight_threads");
                std::thread::scope(|s| {
                    for t in 0..8u64 {
                        s.spawn(move || {
                            for k in 0..4u64 {
                                let start = (t << 60) + k * 1_000_003 + (u32::MAX as u64 - 500_000);
                                check(b, SumRequest::new(start..start + 300_000 + t * 17).unwrap().chunks(1 + t));
                            }
                        });
                    }
                });
            }

            /// The whole domain cannot be summed in any time a test has: the only way this
            /// returns is the flag, set once the sum is under way.
            #[test]
            fn cancellation_mid_run() {
                with_backend!(b, "cancellation_mid_run");
                for chunks in [1, 1_000_000] {
                    let flag = AtomicBool::new(false);
                    let (tx, rx) = std::sync::mpsc::channel();
                    let seen = std::sync::atomic::AtomicU64::new(0);
                    let result = std::thread::scope(|s| {
                        let worker = s.spawn(|| {
                            let _ = tx.send(());
                            let observer = |p: parsum::Progress| {
                                seen.store(p.chunks_done, Ordering::Relaxed);
                            };
                            b(&SumRequest::new(..).unwrap().chunks(chunks).cancel_on(&flag).observe(&observer))
                        });
                        rx.recv().unwrap();
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        flag.store(true, Ordering::Relaxed);
                        worker.join().unwrap()
                    });
                    assert_eq!(result.unwrap_err(), Error::Cancelled, "{chunks} chunks");
                    assert!(seen.load(Ordering::Relaxed) < chunks, "it stopped before the end");
                }
            }

            proptest::proptest! {
                #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
                #[test]
                fn random_ranges_match_the_closed_form(
                    start in proptest::prelude::any::<u64>(),
                    len in 0u64..200_000,
                    chunks in 1u64..40,
                    by_len in proptest::prelude::any::<bool>(),
                ) {
                    let Some(b) = backend() else {
                        skip(concat!(stringify!($name), "::random_ranges"), stringify!($name), $required_by);
                        return Ok(());
                    };
                    let start = start.min(u64::MAX - len);
                    let request = SumRequest::new(start..start + len).unwrap();
                    let request = if by_len { request.chunk_len(chunks as u128 * 7) } else { request.chunks(chunks) };
                    let report = b(&request).unwrap();
                    proptest::prop_assert_eq!(report.sum, oracle(start, len as u128));
                }
            }
        }
    };
}
