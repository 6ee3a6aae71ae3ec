//! Ranges, the closed form and chunk plans.
#![allow(clippy::reversed_empty_ranges)] // reversed ranges are what these tests feed in

use parsum::{ChunkPlan, Chunking, Error, SumRange, closed_form};

const DOMAIN_END: u128 = 1 << 64;

#[test]
fn range_forms() {
    let r = SumRange::new(3..=7).unwrap();
    assert_eq!((r.start(), r.end(), r.len()), (3, 8, 5));
    assert_eq!(SumRange::new(..).unwrap().len(), 1u128 << 64);
    assert_eq!(SumRange::new(5..).unwrap().end(), DOMAIN_END);
    assert_eq!(SumRange::new(..=u64::MAX).unwrap().len(), 1u128 << 64);
    assert!(SumRange::new(5..5).unwrap().is_empty());
    use std::ops::Bound::*;
    let r = SumRange::new((Excluded(u64::MAX), Unbounded)).unwrap();
    assert!(r.is_empty());
}

#[test]
fn reversed_ranges_are_errors() {
    #[allow(clippy::reversed_empty_ranges)]
    let r = SumRange::new(10..5);
    assert_eq!(r, Err(Error::InvalidRange { start: 10, end: 5 }));
    assert!(SumRange::new(10..=8).is_err());
    assert!(SumRange::from_bounds(0, DOMAIN_END + 1).is_err());
    assert!(
        SumRange::from_bounds(DOMAIN_END, DOMAIN_END)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn closed_form_exact_everywhere() {
    assert_eq!(closed_form(0, u64::MAX), (1u128 << 127) - (1u128 << 63));
    assert_eq!(
        SumRange::new(..).unwrap().closed_form(),
        (1u128 << 127) - (1u128 << 63)
    );
    assert_eq!(closed_form(u64::MAX, u64::MAX), u64::MAX as u128);
    assert_eq!(closed_form(1, 1_000_000_000), 500_000_000_500_000_000);
    assert_eq!(closed_form(5, 4), 0);
    // Odd and even lengths at the top of the domain, against n·a + n(n−1)/2.
    for n in 1..50u128 {
        let first = u64::MAX - n as u64 + 1;
        assert_eq!(
            closed_form(first, u64::MAX),
            n * first as u128 + n * (n - 1) / 2
        );
    }
}

/// Chunks follow each other without gap; near-equal plans differ by at most one element.
fn assert_covers(plan: &ChunkPlan, near_equal: bool) {
    let range = plan.range();
    let mut next = range.start();
    let mut total = 0u128;
    let (mut shortest, mut longest) = (u128::MAX, 0);
    for (i, c) in plan.iter().enumerate() {
        assert_eq!(c.index, i as u64);
        assert_eq!(c.first as u128, next);
        next = c.last as u128 + 1;
        total += c.closed_form();
        shortest = shortest.min(c.len());
        longest = longest.max(c.len());
    }
    assert_eq!(next, range.end().max(range.start()));
    assert_eq!(total, range.closed_form());
    if !plan.is_empty() && near_equal {
        assert!(
            longest - shortest <= 1,
            "chunk lengths differ by more than one"
        );
    }
    // The iterator, indexing and offsets agree.
    for (i, c) in plan.iter().enumerate().step_by(97) {
        assert_eq!(plan.chunk(i as u64), c);
        let offset = c.first as u128 - range.start();
        assert_eq!(plan.offset_of(i as u64), offset);
        assert_eq!(plan.chunk_at(offset), i as u64);
        assert_eq!(plan.chunk_at(offset + c.len() - 1), i as u64);
    }
}

#[test]
fn plans_cover_their_range() {
    for (range, chunking, chunks) in [
        (0..1000u64, Chunking::Count(7), 7),
        (0..1000, Chunking::Count(5000), 1000),
        (0..1000, Chunking::Length(300), 4),
        (0..1000, Chunking::Length(1000), 1),
        (0..1000, Chunking::Length(5000), 1),
        (0..1000, Chunking::Default, 1),
        (0..10_000_000, Chunking::Default, 100),
        (0..1_000_000, Chunking::Default, 15),
        (0..0, Chunking::Count(3), 0),
    ] {
        let plan = ChunkPlan::new(SumRange::new(range.clone()).unwrap(), chunking).unwrap();
        assert_eq!(plan.len(), chunks, "{range:?} {chunking:?}");
        assert_covers(&plan, !matches!(chunking, Chunking::Length(_)));
    }
}

#[test]
fn whole_domain_plans() {
    let all = SumRange::new(..).unwrap();
    let plan = ChunkPlan::new(all, Chunking::Count(1)).unwrap();
    assert_eq!(plan.chunk(0).len(), 1u128 << 64);
    assert_eq!((plan.chunk(0).first, plan.chunk(0).last), (0, u64::MAX));
    let plan = ChunkPlan::new(all, Chunking::Count(3)).unwrap();
    assert_covers(&plan, true);
    let plan = ChunkPlan::new(all, Chunking::Length(1 << 62)).unwrap();
    assert_eq!(plan.len(), 4);
    assert_covers(&plan, false);
    // One-element chunks over the whole domain: u64::MAX chunks, the last of two.
    let plan = ChunkPlan::new(all, Chunking::Length(1)).unwrap();
    assert_eq!(plan.len(), u64::MAX);
    assert_eq!(plan.chunk(0).len(), 1);
    let last = plan.chunk(u64::MAX - 1);
    assert_eq!((last.first, last.last), (u64::MAX - 1, u64::MAX));
    assert_eq!(plan.iter_from(u64::MAX - 1).next(), Some(last));
    let plan = ChunkPlan::new(all, Chunking::Count(u64::MAX)).unwrap();
    assert_eq!(plan.len(), u64::MAX);
    assert_eq!(plan.chunk(0).len(), 2);
    assert_eq!(plan.chunk(u64::MAX - 1).last, u64::MAX);
}

#[test]
fn chunk_len_gives_chunks_of_that_length_and_a_shorter_last() {
    let plan = ChunkPlan::new(SumRange::new(0..100).unwrap(), Chunking::Length(30)).unwrap();
    let lens: Vec<u128> = plan.iter().map(|c| c.len()).collect();
    assert_eq!(lens, [30, 30, 30, 10]);
    assert_covers(&plan, false);
    let plan = ChunkPlan::new(SumRange::new(7..107).unwrap(), Chunking::Length(25)).unwrap();
    assert_eq!(plan.iter().map(|c| c.len()).collect::<Vec<_>>(), [25; 4]);
}

#[test]
fn zero_chunks_is_an_error() {
    let r = SumRange::new(0..10).unwrap();
    assert_eq!(
        ChunkPlan::new(r, Chunking::Count(0)),
        Err(Error::ZeroChunks)
    );
    assert_eq!(
        ChunkPlan::new(r, Chunking::Length(0)),
        Err(Error::ZeroChunks)
    );
}
