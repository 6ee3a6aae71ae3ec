//! Auto wired to backends: fakes whose cost does not matter (nothing here compares times — the
//! choosing itself is tested in virtual time by `tests/simulate.rs`), the saved observations and
//! every kind of bad cache file, fallback, the override, and explanations.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parsum::select::cache;
use parsum::{
    Auto, AutoOptions, Backend, BackendInfo, BackendKind, Basis, CacheSetting, ChosenBy, ChunkSink,
    CostModel, Error, Ran, Result, SumRequest,
};

/// A backend that reports true partials (by the closed form: it stands in for a device, its
/// speed is what the tests set through priors) and can fail after some chunks.
struct Fake {
    name: &'static str,
    kind: BackendKind,
    fail_after: Option<usize>,
    /// How long each call takes at least.
    delay: Duration,
    calls: AtomicUsize,
}

fn fake(name: &'static str, kind: BackendKind) -> Fake {
    Fake {
        name,
        kind,
        fail_after: None,
        delay: Duration::ZERO,
        calls: AtomicUsize::new(0),
    }
}

impl Backend for Fake {
    fn info(&self) -> BackendInfo {
        BackendInfo::new(self.kind, self.name, "fake device", 1)
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<Ran> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(self.delay);
        for (i, c) in sink.plan().iter().enumerate() {
            if self.fail_after == Some(i) {
                return Err(Error::DeviceLost(format!("{} fell over", self.name)));
            }
            sink.accept(c.index, c.closed_form())?;
        }
        Ok(Ran::new(self.info()))
    }
}

/// latency and rate as a prior.
fn prior(latency_us: f64, per_second: f64) -> CostModel {
    CostModel::from_rate(Duration::from_secs_f64(latency_us * 1e-6), per_second)
}

fn with_priors(list: Vec<(Fake, CostModel)>, force: Option<BackendKind>) -> Auto {
    Auto::with_models(
        list.into_iter()
            .map(|(b, m)| (Box::new(b) as Box<dyn Backend>, m))
            .collect(),
        force,
    )
}

#[test]
fn priors_decide_until_runs_are_measured() {
    // cpu: 1 µs + 1 G/s; gpu: 1 ms + 100 G/s. They cross near 10^6.
    let auto = with_priors(
        vec![
            (fake("cpu", BackendKind::Simd), prior(1.0, 1e9)),
            (fake("gpu", BackendKind::Gpu), prior(1000.0, 1e11)),
        ],
        None,
    );
    for (n, want) in [
        (1u128, BackendKind::Simd),
        (1_000, BackendKind::Simd),
        (100_000, BackendKind::Simd),
        (100_000_000, BackendKind::Gpu),
        (1 << 64, BackendKind::Gpu),
    ] {
        assert_eq!(auto.pick(n).map(|b| b.kind), Some(want), "n = {n}");
    }
    let e = auto.explain(100_000_000);
    assert_eq!(e.picked.as_ref().map(|b| b.kind), Some(BackendKind::Gpu));
    assert!(e.reason.contains("lowest predicted time"), "{}", e.reason);
    assert!(
        e.candidates
            .iter()
            .all(|c| c.predicted.unwrap().1 == Basis::Prior),
        "{e}"
    );
    let report = SumRequest::new(0..10_000).unwrap().run(&auto).unwrap();
    assert_eq!(report.backend.kind, BackendKind::Simd);
    let selection = report.selection.unwrap();
    assert_eq!(selection.chosen_by, ChosenBy::Auto);
    assert_eq!(selection.predicted.unwrap().1, Basis::Prior);
}

#[test]
fn every_sum_is_an_observation() {
    let auto = with_priors(
        vec![
            (fake("cpu", BackendKind::Scalar), prior(1.0, 1e9)),
            (fake("other", BackendKind::Simd), prior(1.0, 1e8)),
        ],
        None,
    );
    assert_eq!(auto.observations(), 0);
    // A backend's first run in a process is its warm-up, recorded only if it ran long (20 ms: a
    // preempted run may); every later run is an observation. Only counts are asserted: how a run
    // lands in its bucket (centre, outlier, reset) depends on the wall clock.
    let mut warmed = std::collections::HashSet::new();
    for i in 0..12 {
        let before = auto.observations();
        let report = SumRequest::new(0..5_000).unwrap().run(&auto).unwrap();
        let added = auto.observations() - before;
        if warmed.insert(report.backend.kind) {
            assert!(added <= 1, "run {i} on {}: {added}", report.backend.kind);
        } else {
            assert_eq!(added, 1, "run {i} on {}", report.backend.kind);
        }
    }
    let recorded = auto.observations();
    assert!((12 - 2..=12).contains(&recorded), "{recorded}");
    let e = auto.explain(5_000);
    let kept: f64 = e
        .candidates
        .iter()
        .flat_map(|c| c.buckets.iter().map(|b| b.runs + b.outliers))
        .sum();
    // Outliers fade and a reset starts a bucket again, so the buckets hold at most what was
    // recorded — and never nothing.
    assert!(
        kept >= 1.0 && kept <= recorded as f64 + 1e-9,
        "{kept} of {recorded}: {e}"
    );
    let scalar = e
        .candidates
        .iter()
        .find(|c| c.info.kind == BackendKind::Scalar)
        .unwrap();
    assert!(!scalar.buckets.is_empty(), "{e}");
}

/// A first run long enough that its warm-up is noise is an observation: a process that runs one
/// sum (the CLI) still teaches. `sleep` lasts at least as long as asked, so this holds on any load.
#[test]
fn a_long_first_run_is_an_observation() {
    let mut slow = fake("cpu", BackendKind::Scalar);
    slow.delay = Duration::from_millis(30);
    let auto = with_priors(vec![(slow, prior(1.0, 1e9))], None);
    SumRequest::new(0..5_000).unwrap().run(&auto).unwrap();
    assert_eq!(auto.observations(), 1);
}

fn options(dir: &Path) -> AutoOptions {
    AutoOptions::default()
        .cache(CacheSetting::Dir(dir.to_path_buf()))
        .gpu(false)
        .calibration_budget(Duration::from_millis(50))
}

fn pair() -> Vec<Box<dyn Backend>> {
    vec![
        Box::new(fake("first", BackendKind::Scalar)),
        Box::new(fake("second", BackendKind::Simd)),
    ]
}

#[test]
fn observations_are_saved_read_and_merged() {
    let dir = tempfile::tempdir().unwrap();
    let first = Auto::with_backends(pair(), &options(dir.path())).unwrap();
    let origin = first.explain(1).origin;
    assert!(origin.starts_with("calibrated now"), "{origin}");
    assert!(origin.contains("saved to"), "{origin}");
    let calibrated = first.observations();
    assert!(calibrated > 0);
    for _ in 0..10 {
        SumRequest::new(0..3_000).unwrap().run(&first).unwrap();
    }
    assert_eq!(first.observations(), calibrated + 10);
    // What the buckets hold depends on the wall clock (a slow run is set aside as an outlier);
    // what is asserted is that the second process reads exactly what the first one held.
    let held = |auto: &Auto| -> Vec<(u128, f64, f64)> {
        auto.explain(3_000)
            .candidates
            .iter()
            .flat_map(|c| c.buckets.iter().map(|b| (b.elements.0, b.runs, b.outliers)))
            .collect()
    };
    let before = held(&first);
    assert!(
        before.iter().any(|b| b.1 >= 1.0),
        "{}",
        first.explain(3_000)
    );
    drop(first); // saves what it learnt since

    // Same backends: read back, no calibration, and the runs of the first process are there.
    let second = Auto::with_backends(pair(), &options(dir.path())).unwrap();
    assert!(second.explain(1).origin.starts_with("read from"));
    assert_eq!(second.observations(), 0, "nothing was run to calibrate");
    let after = held(&second);
    assert_eq!(before.len(), after.len(), "{}", second.explain(3_000));
    for (b, a) in before.iter().zip(&after) {
        assert!(
            b.0 == a.0 && (b.1 - a.1).abs() < 1e-9 && (b.2 - a.2).abs() < 1e-9,
            "{before:?} saved, {after:?} read"
        );
    }

    // Another backend set: the new backend is calibrated, the known ones are not re-measured.
    let mut three = pair();
    three.push(Box::new(fake("third", BackendKind::Gpu)));
    let other = Auto::with_backends(three, &options(dir.path())).unwrap();
    let origin = other.explain(1).origin;
    assert!(origin.contains("calibrated now for 1 backend"), "{origin}");
}

/// Every kind of cache file Auto may meet: Auto builds, sums right, and says it ignored it.
#[test]
fn a_bad_cache_is_ignored_or_repaired_never_trusted() {
    let good = tempfile::tempdir().unwrap();
    drop(Auto::with_backends(pair(), &options(good.path())).unwrap());
    let valid = std::fs::read_to_string(good.path().join(cache::FILE)).unwrap();
    let contents: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("truncated", valid[..valid.len() / 2].to_string()),
        ("random bytes", "\u{7}\u{0}\u{1b}[2J garbage\u{ff}".into()),
        ("NaN", valid.replacen("\"mean\":", "\"mean\":NaN,\"x\":", 1)),
        (
            "1e300",
            valid
                .replace("\"mean\":-", "\"mean\":1e300,\"y\":-")
                .replace("\"weight\":", "\"weight\":1e300,\"w\":"),
        ),
        (
            "negative",
            valid.replace("\"weight\":", "\"weight\":-5,\"w\":"),
        ),
        (
            "another version",
            valid.replace("\"parsum\":\"", "\"parsum\":\"0.0.0-"),
        ),
        ("huge", "[".repeat(2 << 20)),
    ];
    for (what, text) in contents {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(cache::FILE), &text).unwrap();
        let auto = Auto::with_backends(pair(), &options(dir.path())).unwrap();
        let origin = auto.explain(1).origin;
        assert!(origin.contains("calibrated now"), "{what}: {origin}");
        let report = SumRequest::new(7..1_000_007).unwrap().run(&auto).unwrap();
        assert_eq!(report.sum, common::oracle(7, 1_000_000), "{what}");
        drop(auto);
        // The file is whole again.
        let repaired = cache::load(&dir.path().join(cache::FILE));
        assert!(repaired.is_ok_and(|m| m.len() == 2), "{what}");
    }
    #[cfg(unix)]
    for target in ["/dev/zero", "/nonexistent"] {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(target, dir.path().join(cache::FILE)).unwrap();
        let auto = Auto::with_backends(pair(), &options(dir.path())).unwrap();
        assert_eq!(
            SumRequest::new(0..1000).unwrap().run(&auto).unwrap().sum,
            499_500
        );
    }
}

#[cfg(unix)]
#[test]
fn a_named_pipe_for_a_cache_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let pipe = dir.path().join(cache::FILE);
    let made = std::process::Command::new("mkfifo").arg(&pipe).status();
    assert!(made.is_ok_and(|s| s.success()));
    let auto = Auto::with_backends(pair(), &options(dir.path())).unwrap();
    assert!(auto.explain(1).origin.contains("not a regular file"));
}

#[test]
fn an_unwritable_cache_is_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "a file where a directory should be").unwrap();
    let auto = Auto::with_backends(pair(), &options(&file.join("sub"))).unwrap();
    assert!(auto.explain(1).origin.contains("not saved"));
    assert_eq!(
        SumRequest::new(0..1000).unwrap().run(&auto).unwrap().sum,
        499_500
    );
}

#[test]
fn a_failing_gpu_falls_back_to_the_cpu_and_is_not_chosen_again() {
    let mut gpu = fake("flaky-gpu", BackendKind::Gpu);
    gpu.fail_after = Some(3);
    let auto = with_priors(
        vec![
            (fake("cpu", BackendKind::Scalar), prior(1.0, 1e9)),
            (gpu, prior(10.0, 1e12)),
        ],
        None,
    );
    assert_eq!(auto.pick(1_000_000).unwrap().kind, BackendKind::Gpu);
    let report = SumRequest::new(0..1_000_000)
        .unwrap()
        .chunks(10)
        .run(&auto)
        .unwrap();
    assert_eq!(report.sum, common::oracle(0, 1_000_000));
    assert_eq!(report.backend.kind, BackendKind::Scalar);
    let why = report.selection.unwrap().fallback.unwrap();
    assert!(
        why.contains("fell over") && why.contains("redone on scalar"),
        "{why}"
    );
    assert_eq!(auto.pick(1_000_000).unwrap().kind, BackendKind::Scalar);
    let e = auto.explain(1_000_000);
    assert!(
        e.candidates
            .iter()
            .any(|c| c.failed.as_deref().is_some_and(|f| f.contains("fell over")))
    );
    let again = SumRequest::new(0..1_000_000).unwrap().run(&auto).unwrap();
    assert!(again.selection.unwrap().fallback.is_none());
}

#[test]
fn the_override_is_honoured() {
    let auto = with_priors(
        vec![
            (fake("cpu", BackendKind::Scalar), prior(1.0, 1e9)),
            (fake("gpu", BackendKind::Gpu), prior(10.0, 1e12)),
        ],
        Some(BackendKind::Scalar),
    );
    assert_eq!(auto.pick(1 << 40).unwrap().kind, BackendKind::Scalar);
    let report = SumRequest::new(0..100_000).unwrap().run(&auto).unwrap();
    assert_eq!(report.selection.unwrap().chosen_by, ChosenBy::Override);
    assert!(
        auto.explain(5)
            .reason
            .contains("PARSUM_BACKEND forces scalar")
    );

    // A forced GPU that fails is an error, not a silent fallback; no GPU at all says so.
    let mut gpu = fake("flaky-gpu", BackendKind::Gpu);
    gpu.fail_after = Some(0);
    let forced = with_priors(
        vec![
            (fake("cpu", BackendKind::Scalar), prior(1.0, 1e9)),
            (gpu, prior(1.0, 1e9)),
        ],
        Some(BackendKind::Gpu),
    );
    let err = SumRequest::new(0..1000).unwrap().run(&forced).unwrap_err();
    assert!(matches!(err, Error::DeviceLost(_)), "{err:?}");
    let no_gpu = with_priors(
        vec![(fake("cpu", BackendKind::Scalar), prior(1.0, 1e9))],
        Some(BackendKind::Gpu),
    );
    let err = SumRequest::new(0..1000).unwrap().run(&no_gpu).unwrap_err();
    assert!(matches!(err, Error::GpuUnavailable(_)), "{err:?}");
}

#[test]
fn override_values() {
    use parsum::select::parse_override;
    assert_eq!(parse_override("SIMD").unwrap(), Some(BackendKind::Simd));
    assert_eq!(parse_override("gpu").unwrap(), Some(BackendKind::Gpu));
    assert_eq!(
        parse_override(" scalar ").unwrap(),
        Some(BackendKind::Scalar)
    );
    assert_eq!(parse_override("auto").unwrap(), None);
    assert_eq!(parse_override("").unwrap(), None);
    let err = parse_override("abacus").unwrap_err();
    assert!(err.to_string().contains("PARSUM_BACKEND=abacus"), "{err}");
}

#[test]
fn nonsense_models_never_panic() {
    let auto = with_priors(
        vec![
            (
                fake("slow", BackendKind::Scalar),
                CostModel::linear(Duration::MAX, Duration::MAX),
            ),
            (
                fake("odd", BackendKind::Simd),
                CostModel::from_rate(Duration::ZERO, f64::NAN).per_chunk(Duration::MAX),
            ),
        ],
        None,
    );
    for n in [0u128, 1, 1 << 40, 1 << 64] {
        let e = auto.explain(n);
        assert!(!e.to_string().is_empty());
    }
    for _ in 0..3 {
        let report = SumRequest::new(0..10_000).unwrap().run(&auto).unwrap();
        assert_eq!(report.sum, 49_995_000);
    }
}

#[test]
fn explain_shows_the_buckets_behind_a_pick() {
    let dir = tempfile::tempdir().unwrap();
    let auto = Auto::with_backends(pair(), &options(dir.path())).unwrap();
    let e = auto.explain(4_096);
    let text = e.to_string();
    assert!(
        text.contains("auto for 4096 elements in 1 chunks"),
        "{text}"
    );
    assert!(
        text.contains("runs, centre") && text.contains("spread"),
        "{text}"
    );
    assert!(e.candidates.iter().all(|c| !c.buckets.is_empty()), "{text}");
    assert!(
        e.candidates
            .iter()
            .all(|c| c.predicted.is_some_and(|(_, b)| b <= Basis::Interpolated)),
        "{text}"
    );
    assert!(e.chosen_by.is_some());
    // Far past anything calibrated: extrapolated.
    let far = auto.explain(1 << 60);
    assert!(
        far.candidates
            .iter()
            .all(|c| c.predicted.is_some_and(|(_, b)| b == Basis::Extrapolated)),
        "{far}"
    );
}
