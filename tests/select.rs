//! Auto wired to backends, through the public API: fakes whose speed does not matter (nothing here
//! compares times — the choosing itself is tested in virtual time inside the crate,
//! `src/select/tests.rs`), the history on disk and every kind of bad file, the GPU fallback, the
//! override, and explanations.

mod common;

use std::path::Path;
use std::time::Duration;

use parsum::{
    Auto, AutoOptions, Backend, BackendInfo, BackendKind, Basis, ChosenBy, ChunkSink, CostModel,
    Error, Result, SumRequest,
};

const FILE: &str = if cfg!(debug_assertions) {
    "auto-history-debug.json"
} else {
    "auto-history.json"
};

/// A backend that reports true partials (by the closed form: it stands in for a device, its
/// speed is what the tests set through priors) and can fail after some chunks.
struct Fake {
    info: BackendInfo,
    fail_after: Option<usize>,
}

fn fake(name: &'static str, kind: BackendKind) -> Fake {
    Fake {
        info: BackendInfo::new(kind, name, "fake device", 1),
        fail_after: None,
    }
}

impl Backend for Fake {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn sum_chunks(&self, sink: &ChunkSink<'_>) -> Result<()> {
        for (i, c) in sink.plan().iter().enumerate() {
            if self.fail_after == Some(i) {
                return Err(Error::DeviceLost(format!("{} fell over", self.info.kernel)));
            }
            sink.accept(c.index, c.closed_form())?;
        }
        Ok(())
    }
}

/// latency and rate as a prior.
fn prior(latency_us: f64, per_second: f64) -> CostModel {
    CostModel::from_rate(Duration::from_secs_f64(latency_us * 1e-6), per_second)
}

fn with_priors(list: Vec<(Fake, CostModel)>, force: Option<BackendKind>) -> Auto {
    let list = list
        .into_iter()
        .map(|(b, m)| (Box::new(b) as Box<dyn Backend>, m))
        .collect();
    Auto::with_models(list, force)
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
    for (n, want) in [(1_000u128, BackendKind::Simd), (1 << 36, BackendKind::Gpu)] {
        assert_eq!(auto.pick(n), Some(want), "{n}");
    }
    let report = SumRequest::new(0..1000).unwrap().run(&auto).unwrap();
    assert_eq!(report.sum, 499_500);
    assert_eq!(report.backend.kind, BackendKind::Simd);
    assert_eq!(report.chosen_by, ChosenBy::Predicted);
    assert_eq!(report.predicted.1, Basis::Prior);
    assert!(report.cold);
    // The next run at the same size is warm: the cold run bounds its predicted time from above
    // only (where it beat the prior), and the prediction still rests on the prior.
    let again = SumRequest::new(0..1000).unwrap().run(&auto).unwrap();
    let (took, prior) = (
        report.elapsed.as_secs_f64().max(1e-9),
        report.predicted.0.as_secs_f64(),
    );
    let (predicted, want) = (again.predicted.0.as_secs_f64(), took.min(prior));
    assert_eq!(again.predicted.1, Basis::Prior);
    assert!(
        (predicted - want).abs() <= want * 0.01 + 2e-9,
        "{predicted} {took} {prior}"
    );
    assert!(!again.cold);
    let third = SumRequest::new(0..1000).unwrap().run(&auto).unwrap();
    assert_eq!(third.predicted.1, Basis::Measured);
}

fn options(dir: &Path) -> AutoOptions {
    AutoOptions::default()
        .cache(Some(dir.to_path_buf()))
        .gpu(false)
}

/// The runs the explanation says the request's own entry holds, per candidate.
fn held(auto: &Auto, n: u128) -> Vec<String> {
    auto.explain(n)
        .to_string()
        .lines()
        .filter(|l| {
            ["here:", "cold:"]
                .iter()
                .any(|h| l.trim_start().starts_with(h))
        })
        .map(|l| l.split(" runs").next().unwrap().trim().to_string())
        .collect()
}

#[test]
fn the_history_is_saved_read_and_merged() {
    let dir = tempfile::tempdir().unwrap();
    let first = Auto::with_options(options(dir.path())).unwrap();
    assert!(first.explain(1).to_string().contains("history none yet at"));
    for _ in 0..6 {
        SumRequest::new(0..3_000).unwrap().run(&first).unwrap();
    }
    // The first record saved it.
    assert!(first.explain(1).to_string().contains("history read from"));
    assert!(!held(&first, 3_000).is_empty(), "{}", first.explain(3_000));
    drop(first); // saves what it learnt since its first save
    // The file holds warm and cold entries of 3000 elements (size class 2·11: 3000 < 1.5·2^11).
    let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows: Vec<&serde_json::Value> = file["backends"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["entries"].as_array().unwrap())
        .filter(|r| r[1] == 22)
        .collect();
    assert!(
        rows.iter().any(|r| r[0] == true) && rows.iter().any(|r| r[0] == false),
        "{text}"
    );
    // A second process reads them back (its backends cold, it shows the cold ones).
    let second = Auto::with_options(options(dir.path())).unwrap();
    let before = held(&second, 3_000);
    assert!(!before.is_empty(), "{}", second.explain(3_000));
    // Its runs at another size join the file; the first size's entries stay as they were.
    for _ in 0..3 {
        SumRequest::new(0..1 << 20).unwrap().run(&second).unwrap();
    }
    assert!(second.save().unwrap().is_ok());
    let third = Auto::with_options(options(dir.path())).unwrap();
    assert_eq!(held(&third, 3_000), before);
    assert!(!held(&third, 1 << 20).is_empty());
}

/// A cache directory behind a link to nothing is named as such, not read as a history not made
/// yet ("none yet"); sums still run, and the save says why it failed.
#[cfg(unix)]
#[test]
fn a_cache_directory_behind_a_dangling_link_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("cache");
    std::os::unix::fs::symlink(dir.path().join("missing"), &link).unwrap();
    let auto = Auto::with_options(options(&link)).unwrap();
    let origin = auto.history();
    assert!(
        origin.contains("not read") && origin.contains("is a link to nothing"),
        "{origin}"
    );
    let request = SumRequest::new(0..3_000).unwrap();
    assert_eq!(
        request.run(&auto).unwrap().sum,
        parsum::closed_form(0, 2_999)
    );
    let err = auto.save().unwrap().unwrap_err().to_string();
    assert!(err.contains("is a link to nothing"), "{err}");
}

/// Every kind of file Auto may meet: Auto builds, sums right, and says it ignored it.
#[test]
fn a_bad_history_is_ignored_or_repaired_never_trusted() {
    let good = tempfile::tempdir().unwrap();
    let auto = Auto::with_options(options(good.path())).unwrap();
    SumRequest::new(0..3_000).unwrap().run(&auto).unwrap();
    drop(auto);
    let valid = std::fs::read_to_string(good.path().join(FILE)).unwrap();
    let contents: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("truncated", valid[..valid.len() / 2].to_string()),
        ("random bytes", "\u{7}\u{0}\u{1b}[2J garbage\u{ff}".into()),
        ("NaN", valid.replacen("[", "[NaN,", 1)),
        ("1e300", valid.replace(",0.0,", ",1e300,")),
        ("negative", valid.replace("[", "[-5,")),
        (
            "another version",
            valid.replace("\"parsum\":\"", "\"parsum\":\"0.0.0-"),
        ),
        ("huge", "[".repeat(2 << 20)),
        (
            "a forged version",
            valid.replace("\"parsum\":\"", "\"parsum\":\"0.0.0-\\n\\u001b[2J"),
        ),
    ];
    for (what, text) in contents {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), &text).unwrap();
        let auto = Auto::with_options(options(dir.path())).unwrap();
        // A file not taken whole says what the next save does with it (entries not plausible
        // are dropped from one that is read); the oversized one is not even read.
        let said = auto.history();
        let why = match what {
            "NaN" | "1e300" | "negative" => None,
            "another version" => Some("written by parsum 0.0.0-"),
            // What the file says is shown escaped, on the one line.
            "a forged version" => Some("written by parsum 0.0.0-\\n\\u{1b}[2J"),
            "huge" => Some("2097152 bytes, more than the 1048576 parsum reads"),
            _ => Some("not a parsum history"),
        };
        if let Some(why) = why {
            let replaced = format!("ignored, and replaced at the next save: {why}");
            assert!(said.contains(&replaced), "{what}: {said}");
        }
        let report = SumRequest::new(7..1_000_007).unwrap().run(&auto).unwrap();
        assert_eq!(report.sum, common::oracle(7, 1_000_000), "{what}");
        // Its first record saved the history, over what could not be taken.
        let said = auto.history();
        assert!(said.starts_with("read from "), "{what}: {said}");
        // Nothing implausible was believed: no entry says a run took a time far from any real one.
        let e = auto.explain(1_000_000).to_string();
        assert!(!e.contains("inf") && !e.contains("NaN"), "{what}: {e}");
        drop(auto);
        // The file is whole again: a fresh Auto reads it without complaint.
        let again = Auto::with_options(options(dir.path())).unwrap();
        let origin = again.explain(1).to_string();
        assert!(origin.contains("history read from"), "{what}: {origin}");
    }
    #[cfg(unix)]
    for target in ["/dev/zero", "/nonexistent"] {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(target, dir.path().join(FILE)).unwrap();
        let auto = Auto::with_options(options(dir.path())).unwrap();
        let said = auto.history();
        let replaced =
            "ignored, and replaced at the next save: a symbolic link, not a regular file";
        assert!(said.ends_with(replaced), "{said}");
        let report = SumRequest::new(0..1000).unwrap().run(&auto).unwrap();
        assert_eq!(report.sum, 499_500);
        // As said: the link is now the history, and what it pointed at is as it was.
        assert!(
            std::fs::symlink_metadata(dir.path().join(FILE))
                .unwrap()
                .is_file()
        );
        assert!(!std::path::Path::new("/nonexistent").exists());
    }
}

#[cfg(unix)]
#[test]
fn a_named_pipe_for_a_history_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let pipe = dir.path().join(FILE);
    let made = std::process::Command::new("mkfifo").arg(&pipe).status();
    assert!(made.is_ok_and(|s| s.success()));
    let auto = Auto::with_options(options(dir.path())).unwrap();
    let replaced = "ignored, and replaced at the next save: not a regular file";
    assert!(auto.explain(1).to_string().contains(replaced));
    SumRequest::new(0..1000).unwrap().run(&auto).unwrap();
    assert!(std::fs::symlink_metadata(&pipe).unwrap().is_file());
}

#[test]
fn an_unwritable_cache_is_not_fatal_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "a file where a directory should be").unwrap();
    let auto = Auto::with_options(options(&file)).unwrap();
    assert_eq!(
        SumRequest::new(0..1000).unwrap().run(&auto).unwrap().sum,
        499_500
    );
    let err = auto.save().unwrap().unwrap_err();
    assert!(err.to_string().contains("is not a directory"), "{err}");
}

/// A cache directory's name comes from the environment: a newline in it is shown escaped, never
/// as a line of its own in `--explain` or an error.
#[cfg(unix)]
#[test]
fn a_control_character_in_the_cache_path_is_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = Auto::with_options(options(&dir.path().join("a\nnote: forged"))).unwrap();
    let said = fresh.history();
    assert!(
        said.ends_with(&format!("a\\nnote: forged/{FILE}")),
        "{said}"
    );
    let explained = fresh.explain(1).to_string();
    let first = explained.lines().next().unwrap();
    assert!(first.contains(&said), "{explained}");
    let file = dir.path().join("b\r\u{1b}[2J\u{202e}");
    std::fs::write(&file, "a file where a directory should be").unwrap();
    let auto = Auto::with_options(options(&file.join("c"))).unwrap();
    SumRequest::new(0..1000).unwrap().run(&auto).unwrap();
    let err = auto.save().unwrap().unwrap_err().to_string();
    assert!(
        err.contains("b\\r\\u{1b}[2J\\u{202e} is not a directory")
            && !err.contains(['\n', '\r', '\u{1b}', '\u{202e}']),
        "{err:?}"
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
    assert_eq!(auto.pick(1_000_000), Some(BackendKind::Gpu));
    let report = SumRequest::new(0..1_000_000)
        .unwrap()
        .chunks(10)
        .run(&auto)
        .unwrap();
    assert_eq!(report.sum, common::oracle(0, 1_000_000));
    assert_eq!(report.backend.kind, BackendKind::Scalar);
    let why = report.fallback.clone().unwrap();
    assert!(
        why.contains("fell over") && why.contains("run on scalar instead"),
        "{why}"
    );
    assert_eq!(auto.pick(1_000_000), Some(BackendKind::Scalar));
    assert!(
        auto.explain(1_000_000).to_string().contains("out: "),
        "{}",
        auto.explain(1_000_000)
    );
    let again = SumRequest::new(0..1_000_000).unwrap().run(&auto).unwrap();
    assert!(again.fallback.is_none());
    // Asked for directly, the GPU is out as unavailable, saying why (not the sum's own error).
    let out = auto.backend(BackendKind::Gpu).map(|_| ()).unwrap_err();
    assert!(
        matches!(&out, Error::GpuUnavailable(m) if m.contains("fell over") && m.contains("no longer")),
        "{out}"
    );
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
    assert_eq!(auto.pick(1 << 40), Some(BackendKind::Scalar));
    let report = SumRequest::new(0..100_000).unwrap().run(&auto).unwrap();
    assert_eq!(report.chosen_by, ChosenBy::Forced);
    assert!(
        auto.explain(5)
            .to_string()
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
        assert!(!auto.explain(n).to_string().is_empty());
    }
    for _ in 0..3 {
        let report = SumRequest::new(0..10_000).unwrap().run(&auto).unwrap();
        assert_eq!(report.sum, 49_995_000);
    }
}

#[test]
fn explain_shows_the_entry_behind_a_pick() {
    let auto = with_priors(
        vec![
            (fake("cpu", BackendKind::Scalar), prior(1.0, 1e9)),
            (fake("fast", BackendKind::Simd), prior(1.0, 1e10)),
        ],
        None,
    );
    let text = auto.explain(4_096).to_string();
    assert!(
        text.contains("auto for 4096 elements in 1 chunk "),
        "{text}"
    );
    assert!(
        text.contains("prior") && text.contains("picked: "),
        "{text}"
    );
    for _ in 0..4 {
        SumRequest::new(0..4_096).unwrap().run(&auto).unwrap();
    }
    let text = auto.explain(4_096).to_string();
    assert!(
        text.contains("runs, centre") && text.contains("measured"),
        "{text}"
    );
    // Far past anything run: nearby entries carried, more doubtful.
    assert!(auto.explain(1 << 60).to_string().contains("nearby"));
}

/// A save that could not take the lock (another process held it) leaves what it was to save for
/// the next one: nothing learnt is dropped.
#[test]
fn a_save_that_failed_is_made_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let auto = Auto::with_options(options(dir.path())).unwrap();
    let lock = std::fs::File::create(dir.path().join(format!("{FILE}.lock"))).unwrap();
    lock.lock().unwrap();
    // The first record saves, waits for the lock, and gives up.
    assert_eq!(
        SumRequest::new(0..1000).unwrap().run(&auto).unwrap().sum,
        499_500
    );
    // After one save waited in vain, the next waits a tenth as long: a stuck process holding
    // the lock costs this one a second once.
    let err = auto.save().unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
    assert!(err.to_string().contains("(waited 0.1 s)"), "{err}");
    assert!(!dir.path().join(FILE).exists());
    // Once a save works, the next waits the whole second again.
    drop(lock);
    assert!(auto.save().unwrap().is_ok());
    let lock = std::fs::File::create(dir.path().join(format!("{FILE}.lock"))).unwrap();
    lock.lock().unwrap();
    SumRequest::new(0..10_000).unwrap().run(&auto).unwrap();
    let err = auto.save().unwrap().unwrap_err();
    assert!(err.to_string().contains("(waited 1 s)"), "{err}");
    drop(lock);
    // Dropped, the Auto saves only what is still to be saved: the failed saves' entries.
    drop(auto);
    let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows: usize = file["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["entries"].as_array().unwrap().len())
        .sum();
    assert!(rows >= 1, "{text}");
}

/// An Auto that only explains, picks and lists writes no history: there is nothing to keep.
#[test]
fn an_auto_that_learnt_nothing_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let auto = Auto::with_options(options(dir.path())).unwrap();
    assert!(auto.explain(1_000).to_string().contains("simd"));
    assert!(auto.pick(1_000).is_some());
    assert_eq!(auto.backends().len(), 2);
    assert!(auto.save().unwrap().is_ok());
    drop(auto);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // One sum is something learnt: it is written.
    let auto = Auto::with_options(options(dir.path())).unwrap();
    SumRequest::new(0..1000).unwrap().run(&auto).unwrap();
    drop(auto);
    assert!(dir.path().join(FILE).exists());
}
