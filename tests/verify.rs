//! The sink verifies what backends report: fake backends that lie are caught.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use parsum::{
    Backend, BackendInfo, BackendKind, ChunkSink, Error, Progress, Result, Scalar, SumRequest,
};

fn info() -> &'static BackendInfo {
    static INFO: std::sync::OnceLock<BackendInfo> = std::sync::OnceLock::new();
    INFO.get_or_init(|| BackendInfo::new(BackendKind::Scalar, "liar", "test", 1))
}

/// Reports chunk partials computed by `f(chunk, true_partial)`, for chunks `which` selects.
struct Liar<F: Fn(u64, u128) -> Option<(u64, u128)> + Send + Sync>(F);

impl<F: Fn(u64, u128) -> Option<(u64, u128)> + Send + Sync> Backend for Liar<F> {
    fn info(&self) -> &BackendInfo {
        info()
    }
    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        for c in sink.plan().iter() {
            if let Some((index, partial)) = (self.0)(c.index, c.closed_form()) {
                sink.accept(index, partial)?;
            }
        }
        Ok(())
    }
}

#[test]
fn wrong_partial_names_the_chunk() {
    let liar = Liar(|i, p| Some((i, if i == 2 { p + 1 } else { p })));
    let err = SumRequest::new(0..100)
        .unwrap()
        .chunks(4)
        .run(&liar)
        .unwrap_err();
    assert_eq!(
        err,
        Error::Mismatch {
            chunk: 2,
            first: 50,
            last: 74,
            got: 1551,
            expected: 1550
        }
    );
    // With verification off, a wrong partial is passed through (the CLI says so).
    let report = SumRequest::new(0..100)
        .unwrap()
        .chunks(4)
        .verify(false)
        .run(&liar)
        .unwrap();
    assert_eq!(report.sum, report.expected + 1);
    assert!(!report.verified);
}

#[test]
fn skipped_and_duplicated_chunks_are_caught() {
    let skip = Liar(|i, p| (i != 1).then_some((i, p)));
    let err = SumRequest::new(0..100)
        .unwrap()
        .chunks(4)
        .run(&skip)
        .unwrap_err();
    assert_eq!(
        err,
        Error::MissingChunks {
            got: 3,
            expected: 4
        }
    );
    // Chunk 0 (the value 0) reported twice, chunk 1 never: each report is right on its own.
    let dup = Liar(|i, p| Some(if i == 1 { (0, 0) } else { (i, p) }));
    let err = SumRequest::new(0..4)
        .unwrap()
        .chunks(4)
        .run(&dup)
        .unwrap_err();
    assert_eq!(err, Error::DuplicateChunk { chunk: 0 });
    // The hard case: 3..8 in three chunks is {3,4}=7, {5,6}=11, {7}=7. Chunk 0 reported twice
    // and chunk 2 never gives the right count and the right total; only the indices tell.
    let twin = Liar(|i, p| Some(if i == 2 { (0, p) } else { (i, p) }));
    let err = SumRequest::new(3..8)
        .unwrap()
        .chunks(3)
        .run(&twin)
        .unwrap_err();
    assert_eq!(err, Error::DuplicateChunk { chunk: 0 });
    // A wrong partial with verification off: passed through, and an overflowing one cannot panic.
    let huge = Liar(|_, _| Some((0, u128::MAX)));
    let report = SumRequest::new(0..1)
        .unwrap()
        .verify(false)
        .run(&huge)
        .unwrap();
    assert_eq!(report.sum, u128::MAX);
    let out_of_plan = Liar(|i, p| Some((i + 10, p)));
    assert!(matches!(
        SumRequest::new(0..4).unwrap().chunks(4).run(&out_of_plan),
        Err(Error::MissingChunks { .. })
    ));
}

#[test]
fn cancellation_stops_between_chunks() {
    let flag = AtomicBool::new(true);
    let err = SumRequest::new(0..10_000_000)
        .unwrap()
        .cancel_on(&flag)
        .run(&Scalar::new());
    assert_eq!(err.unwrap_err(), Error::Cancelled);
    flag.store(false, Ordering::Relaxed);
    let ok = SumRequest::new(0..10_000_000)
        .unwrap()
        .cancel_on(&flag)
        .run(&Scalar::new());
    assert!(ok.is_ok());
}

#[test]
fn runs_of_chunks_are_verified_one_by_one() {
    struct Runs;
    impl Backend for Runs {
        fn info(&self) -> &BackendInfo {
            info()
        }
        fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
            let mut partials: Vec<u128> = sink.plan().iter().map(|c| c.closed_form()).collect();
            partials[5] += 1;
            sink.accept_from(0, &partials)
        }
    }
    let err = SumRequest::new(0..100)
        .unwrap()
        .chunks(10)
        .run(&Runs)
        .unwrap_err();
    assert!(matches!(err, Error::Mismatch { chunk: 5, .. }), "{err:?}");
}

#[test]
fn observer_sees_every_chunk() {
    let seen = Mutex::new(Vec::<Progress>::new());
    let observer = |p: Progress| seen.lock().unwrap().push(p);
    // 2^24 elements: the scalar backend hands them over in several pieces.
    let n = 1u64 << 24;
    SumRequest::new(0..n)
        .unwrap()
        .chunks(1000)
        .observe(&observer)
        .run(&Scalar::new())
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert!(seen.len() > 1, "progress comes more than once");
    for w in seen.windows(2) {
        assert!(w[0].chunks_done < w[1].chunks_done);
        assert!(w[0].elements_done < w[1].elements_done);
    }
    let last = seen.last().unwrap();
    assert_eq!((last.chunks_done, last.chunks_total), (1000, 1000));
    assert_eq!(
        (last.elements_done, last.elements_total),
        (n as u128, n as u128)
    );
}

#[test]
fn observer_sees_small_sums_too() {
    let seen = Mutex::new(Vec::<Progress>::new());
    let observer = |p: Progress| seen.lock().unwrap().push(p);
    SumRequest::new(0..1000)
        .unwrap()
        .chunks(10)
        .observe(&observer)
        .run(&Scalar::new())
        .unwrap();
    let seen = seen.into_inner().unwrap();
    let last = seen.last().unwrap();
    assert_eq!((last.chunks_done, last.chunks_total), (10, 10));
    assert_eq!((last.elements_done, last.elements_total), (1000, 1000));
}

#[test]
fn chunks_in_any_order_are_counted_once() {
    /// Reports the chunks from last to first, and optionally one twice on the way.
    struct Backwards(Option<u64>);
    impl Backend for Backwards {
        fn info(&self) -> &BackendInfo {
            info()
        }
        fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
            let chunks: Vec<_> = sink.plan().iter().collect();
            for c in chunks.iter().rev() {
                sink.accept(c.index, c.closed_form())?;
                if self.0 == Some(c.index) {
                    let again = chunks[c.index as usize + 1];
                    sink.accept(again.index, again.closed_form())?;
                }
            }
            Ok(())
        }
    }
    let request = SumRequest::new(0..1000).unwrap().chunks(9);
    assert_eq!(request.run(&Backwards(None)).unwrap().sum, 499_500);
    // Chunk 4 reported again after chunk 3, when 4..9 form one run behind chunks 0..3.
    let err = request.run(&Backwards(Some(3))).unwrap_err();
    assert_eq!(err, Error::DuplicateChunk { chunk: 4 });
    // In order, then chunk 0 (0..=111, a right partial) again: below the in-order prefix.
    let again = Liar(|i, p| Some(if i == 8 { (0, 6216) } else { (i, p) }));
    assert_eq!(
        request.run(&again).unwrap_err(),
        Error::DuplicateChunk { chunk: 0 }
    );
}
