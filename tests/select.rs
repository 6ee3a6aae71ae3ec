//! The selector: fake backends of known cost, the on-disk cache, fallback, the override, and on
//! this machine the choice between simd and the GPU at 10^9 elements.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parsum::{
    Auto, AutoOptions, Backend, BackendInfo, BackendKind, CacheSetting, ChosenBy, ChunkSink,
    CostModel, Error, Result, SumRequest,
};

/// A backend that takes `fixed + n × per_element` (by sleeping) and reports true partials.
struct Fake {
    name: &'static str,
    kind: BackendKind,
    fixed: Duration,
    per_element: Duration,
    /// Fail with a GPU error after this many chunks (for the fallback tests).
    fail_after: Option<usize>,
    calls: AtomicUsize,
}

fn fake(name: &'static str, kind: BackendKind, fixed_us: u64, ps_per_element: u64) -> Fake {
    Fake {
        name,
        kind,
        fixed: Duration::from_micros(fixed_us),
        per_element: Duration::from_nanos(1) * ps_per_element as u32 / 1000,
        fail_after: None,
        calls: AtomicUsize::new(0),
    }
}

impl Backend for Fake {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: self.kind,
            kernel: self.name.into(),
            device: "fake device".into(),
            threads: 1,
        }
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let n = sink.plan().range().len() as f64;
        std::thread::sleep(self.fixed + self.per_element.mul_f64(n));
        for (i, c) in sink.plan().iter().enumerate() {
            if self.fail_after == Some(i) {
                return Err(Error::DeviceLost(format!("{} fell over", self.name)));
            }
            sink.accept(c.index, c.closed_form())?;
        }
        Ok(())
    }
}

fn models(list: Vec<(Fake, CostModel)>) -> Vec<(Box<dyn Backend>, CostModel)> {
    list.into_iter()
        .map(|(b, m)| (Box::new(b) as Box<dyn Backend>, m))
        .collect()
}

fn line(fixed_us: u64, ps_per_element: u64) -> CostModel {
    CostModel::linear(
        Duration::from_micros(fixed_us),
        Duration::from_nanos(1) * ps_per_element as u32 / 1000,
    )
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("parsum-select-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn picks_the_cheapest_for_each_size() {
    // cpu: 1 µs + 1 ns/element; gpu: 1 ms + 10 ps/element. They cross near 10^6.
    let auto = Auto::with_models(
        models(vec![
            (fake("cpu", BackendKind::Simd, 0, 0), line(1, 1000)),
            (fake("gpu", BackendKind::Gpu, 0, 0), line(1000, 10)),
        ]),
        None,
    );
    for (n, want) in [
        (1u128, BackendKind::Simd),
        (1_000, BackendKind::Simd),
        (100_000, BackendKind::Simd),
        (10_000_000, BackendKind::Gpu),
        (1 << 64, BackendKind::Gpu),
    ] {
        assert_eq!(auto.pick(n).map(|b| b.kind), Some(want), "n = {n}");
    }
    let e = auto.explain(10_000_000);
    assert_eq!(e.picked.as_ref().map(|b| b.kind), Some(BackendKind::Gpu));
    assert!(e.reason.contains("lowest predicted time"), "{}", e.reason);
    let report = SumRequest::new(0..10_000).unwrap().run(&auto).unwrap();
    assert_eq!(report.backend.kind, BackendKind::Simd);
    assert_eq!(report.selection.unwrap().chosen_by, ChosenBy::Auto);
}

#[test]
fn calibration_measures_known_costs_and_is_cached() {
    let dir = temp_dir("cache");
    let options = AutoOptions {
        cache: CacheSetting::Dir(dir.clone()),
        gpu: false,
        ..AutoOptions::default()
    };
    let pair = || -> Vec<Box<dyn Backend>> {
        vec![
            // Cheap to start, 1 ns per element.
            Box::new(fake("quick-start", BackendKind::Scalar, 0, 1000)),
            // 3 ms to start, 10 ps per element.
            Box::new(fake("high-rate", BackendKind::Gpu, 3000, 10)),
        ]
    };
    let first = Auto::with_backends(pair(), &options).unwrap();
    let note = first.explain(1).calibration;
    assert!(note.starts_with("measured now"), "{note}");
    assert!(note.contains("saved to"), "{note}");
    assert_eq!(first.pick(1_000).unwrap().kind, BackendKind::Scalar);
    assert_eq!(first.pick(10_000_000_000).unwrap().kind, BackendKind::Gpu);

    // Same backends: read back, same choices, nothing run.
    let second = Auto::with_backends(pair(), &options).unwrap();
    assert!(second.explain(1).calibration.starts_with("read from"));
    assert_eq!(second.pick(1_000).unwrap().kind, BackendKind::Scalar);
    assert_eq!(second.pick(10_000_000_000).unwrap().kind, BackendKind::Gpu);

    // Another backend set: the file does not apply.
    let other = Auto::with_backends(
        vec![Box::new(fake("another", BackendKind::Scalar, 0, 1000))],
        &options,
    )
    .unwrap();
    assert!(other.explain(1).calibration.starts_with("measured now"));

    // A corrupt file is ignored and rewritten.
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::write(
            entry.unwrap().path(),
            "parsum-calibration v1\nkey\tnonsense\n",
        )
        .unwrap();
    }
    let again = Auto::with_backends(pair(), &options).unwrap();
    assert!(again.explain(1).calibration.starts_with("measured now"));
    assert!(
        Auto::with_backends(pair(), &options)
            .unwrap()
            .explain(1)
            .calibration
            .starts_with("read from")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unwritable_cache_is_not_fatal() {
    let file = temp_dir("file");
    std::fs::write(&file, "a file where a directory should be").unwrap();
    let options = AutoOptions {
        cache: CacheSetting::Dir(file.join("sub")),
        gpu: false,
        calibration_budget: Duration::from_millis(20),
        ..AutoOptions::default()
    };
    let auto = Auto::with_backends(
        vec![Box::new(fake("only", BackendKind::Scalar, 0, 0))],
        &options,
    )
    .unwrap();
    assert!(auto.explain(1).calibration.contains("not saved"));
    assert_eq!(
        SumRequest::new(0..1000).unwrap().run(&auto).unwrap().sum,
        499_500
    );
    let _ = std::fs::remove_file(&file);
}

#[test]
fn a_failing_gpu_falls_back_to_the_cpu_and_is_not_chosen_again() {
    let mut gpu = fake("flaky-gpu", BackendKind::Gpu, 0, 0);
    gpu.fail_after = Some(3);
    let auto = Auto::with_models(
        models(vec![
            (fake("cpu", BackendKind::Scalar, 0, 0), line(1, 1000)),
            (gpu, line(10, 1)),
        ]),
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
    let auto = Auto::with_models(
        models(vec![
            (fake("cpu", BackendKind::Scalar, 0, 0), line(1, 1000)),
            (fake("gpu", BackendKind::Gpu, 0, 0), line(10, 1)),
        ]),
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
    let mut gpu = fake("flaky-gpu", BackendKind::Gpu, 0, 0);
    gpu.fail_after = Some(0);
    let forced = Auto::with_models(
        models(vec![
            (fake("cpu", BackendKind::Scalar, 0, 0), line(1, 1)),
            (gpu, line(1, 1)),
        ]),
        Some(BackendKind::Gpu),
    );
    let err = SumRequest::new(0..1000).unwrap().run(&forced).unwrap_err();
    assert!(matches!(err, Error::DeviceLost(_)), "{err:?}");
    let no_gpu = Auto::with_models(
        models(vec![(fake("cpu", BackendKind::Scalar, 0, 0), line(1, 1))]),
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
    assert_eq!(parse_override("scalar").unwrap(), Some(BackendKind::Scalar));
    assert_eq!(parse_override("auto").unwrap(), None);
    assert_eq!(parse_override("").unwrap(), None);
    assert!(matches!(parse_override("abacus"), Err(Error::Config(_))));
}

/// On this machine, for 10^9 elements, auto picks the faster of simd and the GPU (lavapipe in
/// CI) — asserted only where they differ by more than 1.5×, so that it cannot flake.
#[test]
fn on_this_machine_auto_picks_the_faster_of_simd_and_gpu_at_1e9() {
    let options = AutoOptions {
        cache: CacheSetting::Off,
        ..AutoOptions::default()
    };
    let auto = Auto::with_options(options).unwrap();
    let gpu = auto.members().find(|b| b.info().kind == BackendKind::Gpu);
    let Some(gpu) = common::available("gpu", gpu, "PARSUM_REQUIRE_GPU") else {
        return;
    };
    let simd = auto
        .members()
        .find(|b| b.info().kind == BackendKind::Simd)
        .unwrap();
    let n = 1_000_000_000u64;
    let time = |b: &dyn Backend| {
        let r = SumRequest::new(0..n).unwrap();
        r.run(b).unwrap();
        (0..2).map(|_| r.run(b).unwrap().elapsed).min().unwrap()
    };
    let (t_simd, t_gpu) = (time(simd), time(gpu));
    let picked = auto.pick(n as u128).unwrap().kind;
    eprintln!(
        "10^9: simd {t_simd:?}, gpu {t_gpu:?}, auto picks {picked}\n{}",
        auto.explain(n as u128)
    );
    let ratio = t_simd.as_secs_f64() / t_gpu.as_secs_f64();
    if ratio > 1.5 {
        assert_eq!(picked, BackendKind::Gpu);
    } else if ratio < 1.0 / 1.5 {
        assert_eq!(picked, BackendKind::Simd);
    } else {
        eprintln!("within 1.5x of each other: either pick is fine");
    }
}
