//! The example binary: exit codes, JSON fields, number forms, hostile input, Ctrl-C, closed pipes.
//! The binary is built on demand, so `cargo test --test cli` runs on its own.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        // Always ask cargo: a no-op when the binary is current, a rebuild when it is stale.
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "--quiet", "--example", "parsum"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if !cfg!(feature = "gpu") {
            build.arg("--no-default-features");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the example failed");
        let mut p = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
        p = target.unwrap_or_else(|| p.join("target"));
        p.push("debug");
        p.push("examples");
        p.push(format!("parsum{}", std::env::consts::EXE_SUFFIX));
        assert!(p.exists(), "{} missing", p.display());
        p
    })
}

/// Auto's history file in a cache directory (debug builds keep their own).
const FILE: &str = if cfg!(debug_assertions) {
    "auto-history-debug.json"
} else {
    "auto-history.json"
};

fn cache_dir() -> PathBuf {
    std::env::temp_dir().join(format!("parsum-cli-cache-{}", std::process::id()))
}

/// The example with a private cache and no backend override.
fn command(args: &[&str]) -> Command {
    let mut c = Command::new(exe());
    c.args(args)
        .env("PARSUM_BACKEND", "")
        .env("PARSUM_CACHE_DIR", cache_dir())
        .env_remove("RAYON_NUM_THREADS")
        .env_remove("WGPU_BACKEND")
        .env_remove("WGPU_ADAPTER_NAME")
        .env_remove("WGPU_POWER_PREF");
    c
}

fn parsum(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = parsum(&all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn json_has_every_field() {
    let v = json(&["--backend", "simd", "--start", "1", "--end", "1000001"]);
    for key in [
        "backend",
        "device",
        "start",
        "end",
        "elements",
        "chunks",
        "sum",
        "expected",
        "verified",
        "seconds",
        "elements_per_second",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["backend"], "simd");
    assert_eq!(v["sum"], "500000500000");
    assert_eq!(v["expected"], "500000500000");
    assert_eq!(v["elements"], "1000000");
    assert_eq!(v["verified"], true);
}

#[test]
fn number_forms_and_the_top_of_the_domain() {
    let v = json(&["--backend", "scalar", "--start", "2^64", "--end", "2^64"]);
    assert_eq!(v["sum"], "0");
    let v = json(&[
        "--backend",
        "scalar",
        "--start",
        "18_446_744_073_709_551_000",
        "--end",
        "2^64",
    ]);
    assert_eq!(v["end"], "18446744073709551616");
    let n: u128 = 616;
    let first = (1u128 << 64) - n;
    assert_eq!(v["sum"], (n * first + n * (n - 1) / 2).to_string());
    let v = json(&[
        "--backend",
        "simd",
        "--end",
        "1e7",
        "--chunks",
        "7",
        "--threads",
        "2",
    ]);
    assert_eq!(
        (v["chunks"].as_u64(), v["threads"].as_u64()),
        (Some(7), Some(2))
    );
    assert_eq!(v["sum"], "49999995000000");
}

#[test]
fn every_number_form_on_every_numeric_flag() {
    for (form, value) in [
        ("1000000", "1000000"),
        ("1_000_000", "1000000"),
        ("1e6", "1000000"),
        ("2.5e3", "2500"),
        ("2^20", "1048576"),
        ("2.0", "2"),
        ("1000.", "1000"),
        ("1000e-3", "1"),
        ("5_000e-3", "5"),
    ] {
        let v = json(&["--backend", "scalar", "--end", form]);
        assert_eq!(v["end"], value, "{form}");
    }
    let v = json(&[
        "--backend",
        "simd",
        "--end",
        "1e4",
        "--threads",
        "2.0",
        "--repeat",
        "1e1",
    ]);
    assert_eq!(
        (v["threads"].as_u64(), v["runs"].as_u64()),
        (Some(2), Some(10))
    );
    let v = json(&["--backend", "scalar", "--end", "1e4", "--chunks", "2^4"]);
    assert_eq!(v["chunks"].as_u64(), Some(16));
}

/// More chunks than elements is one element a chunk, said on stderr; the sum is still right.
#[test]
fn more_chunks_than_elements_are_noted() {
    let out = parsum(&[
        "--backend",
        "scalar",
        "--end",
        "10",
        "--chunks",
        "100",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["chunks"].as_u64(), v["sum"].as_str()),
        (Some(10), Some("45")),
        "{v}"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("note: --chunks 100 is more than the 10 elements: one element a chunk"),
        "{err}"
    );
    // Not before a usage error: --threads goes with --backend simd only.
    let out = parsum(&["--end", "10", "--chunks", "100", "--threads", "2"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        out.status.code() == Some(2) && !err.contains("note:"),
        "{err}"
    );
    for args in [
        &["--end", "10", "--chunks", "10"][..],
        &["--end", "0", "--chunks", "5"],
    ] {
        let out = parsum(&[args, &["--backend", "scalar"]].concat());
        assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    }
}

#[test]
fn repeat_reports_every_run_and_the_warm_up() {
    for n in ["3", "1"] {
        let v = json(&["--backend", "scalar", "--end", "1e5", "--repeat", n]);
        assert_eq!(v["runs"].to_string(), n, "{v}");
        for key in ["seconds", "seconds_min", "seconds_max", "warm_up_seconds"] {
            assert!(v[key].as_f64().is_some_and(|s| s > 0.0), "{key}: {v}");
        }
    }
    let out = parsum(&["--backend", "scalar", "--end", "1e5", "--repeat", "1"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("over 1 run(s), after a warm-up of"), "{text}");
    let v = json(&["--backend", "scalar", "--end", "1e5", "--repeat", "3"]);
    assert_eq!(v["runs_on"], serde_json::json!({"scalar": 3}), "{v}");
    // Auto may measure other backends in some timed runs: each run is counted on the backend
    // that ran it, the last one's among them.
    let dir = tempfile::tempdir().unwrap();
    let out = command(&["--end", "1e6", "--repeat", "12", "--json"])
        .env("PARSUM_CACHE_DIR", dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let on = v["runs_on"].as_object().unwrap();
    assert_eq!(
        on.values().map(|n| n.as_u64().unwrap()).sum::<u64>(),
        12,
        "{v}"
    );
    assert!(
        on.keys()
            .all(|k| ["scalar", "simd", "gpu"].contains(&k.as_str())),
        "{v}"
    );
    assert!(on.contains_key(v["backend"].as_str().unwrap()), "{v}");
    // Without --repeat there is one run and no warm-up.
    let v = json(&["--backend", "scalar", "--end", "1e5"]);
    assert!(
        v.get("runs").is_none() && v.get("warm_up_seconds").is_none(),
        "{v}"
    );
}

#[test]
fn human_output_groups_digits_and_says_how_auto_chose() {
    let out = parsum(&["--backend", "scalar", "--start", "1", "--end", "1_000_001"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("500,000,500,000"), "{text}");
    assert!(text.contains("check    ok"), "{text}");
    assert!(text.contains("(1,000,000 elements, 15 chunks)"), "{text}");
    let out = parsum(&["--backend", "scalar", "--start", "7", "--end", "8"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("range    7..8 (1 element, 1 chunk)"),
        "{text}"
    );
    let out = parsum(&["--end", "1e6"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("chosen   "), "{text}");
}

/// An adapter index past any usize is an adapter that is not there (exit 3, as `--adapter 9`
/// on a machine of one), not a usage error; no GPU is opened to say so.
#[test]
fn an_index_past_usize_is_no_adapter() {
    let out = parsum(&["--backend", "gpu", "--adapter", " 99999999999999999999 "]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("no adapter at index 99999999999999999999 (see --list)"),
        "{err}"
    );
}

/// Bad input: exit 2, one `error:` line first, no result — and quickly (no input makes it work
/// before refusing).
#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    for (args, says) in [
        (&["--end", "12abc"][..], "not a number"),
        (&["--start", "10", "--end", "5"], "start 10 is after end 5"),
        (&["--end", "2^64+1"], "not a number"),
        (&["--end", "18446744073709551617"], "larger than 2^64"),
        (
            &["--end", "340282366920938463463374607431768211456"],
            "larger than 2^64",
        ),
        (&["--end", "1e99999999999"], "larger than 2^64"),
        (&["--end", "1e30"], "larger than 2^64"),
        (&["--end", "2.55e1"], "not a whole number"),
        (&["--end", "_1"], "not a number"),
        (&["--end", "1_"], "not a number"),
        (&["--end", "-5"], "'-5' has a minus sign"),
        (&["--start", "-1e9"], "'-1e9' has a minus sign"),
        (&["--chunks", "-3"], "'-3' has a minus sign"),
        (&["--end", "-2^32"], "'-2^32' has a minus sign"),
        (&["--end", "-1_000"], "'-1_000' has a minus sign"),
        (&["--repeat", "-.5"], "'-.5' has a minus sign"),
        (
            &["--end", "--json"],
            "'--json' is not a number: was a value left out?",
        ),
        (
            &["--threads", "-v"],
            "'-v' is not a number: was a value left out?",
        ),
        (&["--end", "1.5"], "'1.5' is not a whole number"),
        (&["--end", "25e-1"], "'25e-1' is not a whole number"),
        (&["--chunks", "0"], "at least 1"),
        (&["--chunks", "2^64"], "larger than"),
        (&["--threads", "0", "--backend", "simd"], "at least 1"),
        (
            &["--threads", "100000", "--backend", "simd"],
            "larger than 1024",
        ),
        (&["--threads", "2"], "--backend simd only"),
        (&["--repeat", "0"], "at least 1"),
        (&["--repeat", "4294967295"], "larger than 1000000"),
        (&["--backend", "abacus"], "invalid value"),
        (&["--adapter", "0"], "--backend gpu only"),
        (&["--backend", "gpu", "--adapter", ""], "empty adapter name"),
        (
            &["--backend", "gpu", "--adapter", "-1"],
            "'-1' has a minus sign: adapter indices start at 0",
        ),
        (
            &["--adapter", "--json", "--backend", "gpu"],
            "'--json' is not an adapter: was a value left out?",
        ),
        (
            &["--backend", "gpu", "--adapter", "  "],
            "empty adapter name",
        ),
        // A flag taken as another's value, a value after it: the value's error, not clap's
        // "unexpected argument '10'".
        (
            &["--chunks", "--end", "10"],
            "'--end' is not a number: was a value left out?",
        ),
        (
            &["--end", "9", "--start", "--end", "10"],
            "'--end' is not a number: was a value left out?",
        ),
        (
            &["--backend", "gpu", "--adapter", "--end", "10"],
            "'--end' is not an adapter: was a value left out?",
        ),
        (&["--end", "10", "20"], "unexpected argument '20'"),
        (&["--bench", "--start", "5"], "cannot be used"),
        (&["--bench", "--end", "1e6"], "cannot be used"),
        (&["--bench", "--repeat", "3"], "cannot be used"),
        (&["--bench", "--no-verify"], "cannot be used"),
        (&["--bench", "--explain"], "cannot be used"),
        (&["--bench", "--backend", "simd"], "cannot be used"),
        (&["--bench", "--bench-max", "0"], "below 1000"),
        (&["--bench-max", "1e6"], "--bench"),
        (&["--end", "5", "--plot", "x.svg"], "go with --bench"),
        (
            &["--bench-max", "1e4", "--backend", "scalar"],
            "go with --bench",
        ),
        (&["--list", "--plot", "x.svg"], "go with --bench"),
        (&["--list", "--bench"], "cannot be used"),
        (
            &["--backend", "simd", "--explain"],
            "--explain goes with --backend auto",
        ),
    ] {
        // The binary is built (once, by the first caller) before the clock starts.
        let mut cmd = command(args);
        let started = Instant::now();
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed a result");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{args:?} was slow to refuse"
        );
    }
}

#[test]
fn bad_environment_variables_exit_2_and_name_the_variable() {
    for (var, value, says) in [
        ("PARSUM_BACKEND", "abacus", "PARSUM_BACKEND=abacus"),
        // Quoted as set, not as read.
        ("PARSUM_BACKEND", " Abacus ", "PARSUM_BACKEND= Abacus :"),
        ("WGPU_POWER_PREF", " Max ", "WGPU_POWER_PREF= Max :"),
        ("RAYON_NUM_THREADS", "100000", "RAYON_NUM_THREADS=100000"),
        ("RAYON_NUM_THREADS", "lots", "RAYON_NUM_THREADS=lots"),
        ("WGPU_BACKEND", "nonsense", "WGPU_BACKEND=nonsense"),
        ("WGPU_POWER_PREF", "max", "WGPU_POWER_PREF=max"),
    ] {
        for args in [&["--end", "1e6"][..], &["--list"]] {
            let out = command(args).env(var, value).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{var}={value} {args:?}: {err}");
            assert!(err.contains(says), "{var}={value}: {err}");
            if var == "WGPU_BACKEND" && cfg!(all(feature = "gpu", target_os = "linux")) {
                assert!(err.contains("this build offers vulkan or gl"), "{err}");
            }
        }
    }
    // wgpu's aliases, in any case and spacing, are graphics APIs; empty items are skipped, and
    // a list of nothing but commas is unset, as blank is.
    for list in ["vk, MTL ,d3d12,gles,opengl", ",vk,,gl,", " , "] {
        let out = command(&["--end", "1000", "--backend", "scalar"])
            .env("WGPU_BACKEND", list)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{list:?}: {err}");
    }
    // Empty or blank is unset, for every variable (RAYON_NUM_THREADS was refused).
    for var in [
        "PARSUM_BACKEND",
        "RAYON_NUM_THREADS",
        "WGPU_BACKEND",
        "WGPU_ADAPTER_NAME",
        "WGPU_POWER_PREF",
    ] {
        for value in ["", " "] {
            let out = command(&["--end", "1e6", "--json"])
                .env(var, value)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{var}={value:?}: {err}");
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["sum"], "499999500000");
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let out = command(&["--end", "1000"])
            .env("PARSUM_BACKEND", std::ffi::OsStr::from_bytes(b"\xffgpu"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("not valid UTF-8"), "{err}");
    }
}

#[test]
fn a_missing_gpu_is_exit_3_whichever_way_it_is_asked_for() {
    let no_driver = |c: &mut Command| {
        c.env("WGPU_BACKEND", "vulkan")
            .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
            .env("VK_ICD_FILENAMES", "/nonexistent/icd.json");
    };
    let mut by_flag = command(&["--backend", "gpu", "--end", "1000"]);
    no_driver(&mut by_flag);
    let mut by_env = command(&["--end", "1000"]);
    no_driver(&mut by_env);
    by_env.env("PARSUM_BACKEND", "gpu");
    for mut c in [by_flag, by_env] {
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(
            err.contains("no GPU available") || err.contains("not available"),
            "{err}"
        );
        // Said once: a wrapped error does not repeat its prefix; the APIs tried by their names.
        assert!(err.matches("no GPU available").count() <= 1, "{err}");
        assert!(!err.contains("Backends("), "{err}");
        assert!(out.stdout.is_empty());
    }
    // An API this platform's wgpu lacks is named as such, with no hint to install a driver.
    if cfg!(all(feature = "gpu", target_os = "linux")) {
        let out = command(&["--backend", "gpu", "--end", "1000"])
            .env("WGPU_BACKEND", "metal")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(
            err.contains("on metal (this build offers only vulkan"),
            "{err}"
        );
        assert!(!err.contains("Vulkan driver"), "{err}");
        // --list says the same of its GPU line, not that no adapter exists.
        let out = command(&["--list"])
            .env("WGPU_BACKEND", "metal")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        let gpu = text.lines().find(|l| l.trim_start().starts_with("gpu"));
        assert!(
            gpu.is_some_and(|l| l.contains("on metal (this build offers only vulkan")),
            "{text}"
        );
        // --bench compares the CPU backends and says why the GPU is not among them.
        let out = command(&["--bench", "--bench-max", "1e4", "--json"])
            .env("WGPU_BACKEND", "metal")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(
            err.contains("the gpu is not compared: no GPU available")
                && err.contains("on metal (this build offers only vulkan"),
            "{err}"
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = v["rows"].as_array().unwrap();
        assert!(rows.iter().all(|r| r["backend"] != "gpu"), "{v}");
        assert!(rows.iter().any(|r| r["backend"] == "simd"), "{v}");
    }
}

#[test]
fn a_gpu_fallback_is_reported_whichever_run_it_came_in() {
    if !cfg!(all(feature = "gpu", target_os = "linux")) {
        return;
    }
    // No GPU on metal here: Auto chooses the GPU (with one CPU thread its prior leads at 10^7,
    // and nothing measured puts it out: it never runs), cannot open it, and runs a CPU backend
    // instead, in every new process.
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = command(args)
            .env("PARSUM_CACHE_DIR", dir.path())
            .env("WGPU_BACKEND", "metal")
            .env("RAYON_NUM_THREADS", "1")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let fell_back = |j: &serde_json::Value| {
        let on = format!("run on {} instead", j["backend"].as_str().unwrap());
        j["fallback"]
            .as_str()
            .is_some_and(|f| f.starts_with("gpu could not be opened") && f.ends_with(&on))
    };
    // Once the CPU backend it falls back to has run (in an earlier process), the sum it runs in
    // the GPU's place is predicted from that run, as the process's first at its size, and says so.
    let mut ran = Vec::new();
    let measured = (0..6).any(|_| {
        let j = run(&["--end", "1e7", "--json"]);
        let again = ran.contains(&j["backend"]);
        ran.push(j["backend"].clone());
        if ran.len() > 1 {
            assert!(fell_back(&j), "{j}");
        }
        again && fell_back(&j) && {
            assert_eq!(j["predicted_from"], "measured", "{j}");
            true
        }
    });
    assert!(measured, "{ran:?}");
    // With --repeat the GPU is tried in the warm-up, and the timed runs stay on the CPU: the
    // warning is still reported, naming where the warm-up ran instead (perhaps not where the
    // last timed run did).
    let repeated = run(&["--end", "1e7", "--json", "--repeat", "2"]);
    let why = repeated["fallback"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("gpu could not be opened")
            && ["scalar", "simd"]
                .map(|k| format!("run on {k} instead"))
                .iter()
                .any(|e| why.ends_with(e)),
        "{repeated}"
    );
}

#[test]
fn list_names_every_backend_and_the_adapter_indices() {
    let out = parsum(&["--list", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = v["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["backend"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["scalar", "simd"]);
    let adapters = v["adapters"].as_array().unwrap();
    for (i, a) in adapters.iter().enumerate() {
        assert_eq!(a["index"].as_u64(), Some(i as u64), "{a}");
    }
    // The adapter `--backend gpu` opens is named, by index, whenever there is one.
    let default = v["default_adapter"].as_u64();
    assert_eq!(default.is_some(), !adapters.is_empty(), "{v}");
    assert_eq!(
        v["no_default_adapter"].is_string(),
        default.is_none(),
        "{v}"
    );
    let text = String::from_utf8(parsum(&["--list"]).stdout).unwrap();
    let marked: Vec<&str> = text
        .lines()
        .filter(|l| l.ends_with(", the default"))
        .collect();
    match default {
        Some(i) => assert!(
            marked.len() == 1 && marked[0].contains(&format!("[{i}]")),
            "{text}"
        ),
        None => assert!(marked.is_empty(), "{text}"),
    }
}

/// Two adapters of one name (Mesa's lavapipe, listed twice): a name matches both, and the error
/// says how to choose — by index where the name came from `--adapter`, which takes one, and by
/// more of the name or by index where it came from `WGPU_ADAPTER_NAME`, which does not.
#[test]
fn two_adapters_of_one_name_are_chosen_by_index() {
    if !cfg!(feature = "gpu") {
        return; // the stand-in has no adapters to tell apart
    }
    let icds = Path::new("/usr/share/vulkan/icd.d");
    let found = std::fs::read_dir(icds).into_iter().flatten().flatten();
    let lavapipe = found.map(|e| e.path()).filter(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("lvp_icd"))
    });
    let Some(icd) = lavapipe.min() else {
        let required = std::env::var("PARSUM_REQUIRE_GPU").as_deref() == Ok("1");
        assert!(
            !required,
            "no lavapipe ICD in {} but PARSUM_REQUIRE_GPU=1",
            icds.display()
        );
        eprintln!("SKIPPED: no lavapipe ICD in {}", icds.display());
        return;
    };
    // Two files: the Vulkan loader reads one path once.
    let dir = tempfile::tempdir().unwrap();
    let copies = ["a.json", "b.json"].map(|f| dir.path().join(f));
    for c in &copies {
        std::fs::copy(&icd, c).unwrap();
    }
    let twice = format!("{}:{}", copies[0].display(), copies[1].display());
    let run = |args: &[&str], env: Option<&str>| {
        let mut c = command(args);
        c.env("VK_ICD_FILENAMES", &twice)
            .env("VK_DRIVER_FILES", &twice);
        if let Some(name) = env {
            c.env("WGPU_ADAPTER_NAME", name);
        }
        c.output().unwrap()
    };
    // Some Vulkan loaders list two manifests of one driver once: nothing to tell apart then.
    let out = run(&["--list", "--json"], None);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    if listed["adapters"].as_array().map(Vec::len) != Some(2) {
        eprintln!("SKIPPED: this Vulkan loader lists the two manifests as {listed}");
        return;
    }
    let gpu = ["--backend", "gpu", "--end", "1e4", "--json"];
    let out = run(&[&gpu[..], &["--adapter", "llvmpipe"]].concat(), None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("'llvmpipe' matches 2 adapters")
            && err.contains("name one by its index instead"),
        "{err}"
    );
    let out = run(&gpu, Some("llvmpipe"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("WGPU_ADAPTER_NAME: 'llvmpipe' matches 2 adapters"),
        "{err}"
    );
    assert!(
        err.contains("choose one by its index instead (WGPU_ADAPTER_NAME takes names only)"),
        "{err}"
    );
    // Digits only are an index (blanks around them aside); `+1` is a name, as in Python.
    let out = run(&[&gpu[..], &["--adapter", "+1"]].concat(), None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("no adapter named like '+1'"), "{err}");
    for index in ["0", " 1 "] {
        let out = run(
            &[&gpu[..], &["--adapter", index]].concat(),
            Some("llvmpipe"),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["sum"], "49995000", "{v}");
    }
    // --list names both, and no default while the variable matches both.
    let out = run(&["--list", "--json"], Some("llvmpipe"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["adapters"].as_array().map(Vec::len), Some(2), "{v}");
    assert!(v["default_adapter"].is_null(), "{v}");
}

/// `--list` honours `WGPU_ADAPTER_NAME` as `--backend gpu` does: an adapter it names is the
/// default; a name that matches none is said, with the adapters there are.
#[test]
fn list_names_the_adapter_wgpu_adapter_name_selects() {
    let list = |name: &str| {
        let out = command(&["--list", "--json"])
            .env("WGPU_ADAPTER_NAME", name)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let v = list("zzz-no-such-adapter");
    assert!(v["default_adapter"].is_null(), "{v}");
    let why = v["no_default_adapter"].as_str().unwrap();
    if !cfg!(feature = "gpu") {
        // The stand-in has no adapters, and says why.
        assert!(why.contains("feature"), "{v}");
        return;
    }
    assert!(
        why.contains("WGPU_ADAPTER_NAME: no adapter named like 'zzz-no-such-adapter'"),
        "{v}"
    );
    let out = command(&["--list"])
        .env("WGPU_ADAPTER_NAME", "zzz-no-such-adapter")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(", the default"), "{text}");
    assert!(
        text.contains("no adapter named like 'zzz-no-such-adapter'"),
        "{text}"
    );
    // Each adapter, named by its full name, is the default then.
    for a in v["adapters"].as_array().unwrap() {
        let name = a["name"].as_str().unwrap();
        if name.trim().is_empty() {
            continue; // a blank WGPU_ADAPTER_NAME is unset
        }
        let v = list(name);
        let index = a["index"].as_u64();
        // Two adapters of one name (two like cards) are told apart by index only.
        assert!(
            v["default_adapter"].as_u64() == index
                || v["no_default_adapter"]
                    .as_str()
                    .is_some_and(|w| w.contains("matches")),
            "{v}"
        );
    }
}

/// Whether `out` is a run refused for want of a GPU (exit 3): skipped then, but never under
/// `PARSUM_REQUIRE_GPU=1`.
fn no_gpu(out: &Output) -> bool {
    if out.status.code() != Some(3) {
        return false;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        std::env::var("PARSUM_REQUIRE_GPU").as_deref() != Ok("1"),
        "no GPU but PARSUM_REQUIRE_GPU=1: {err}"
    );
    eprintln!("SKIPPED: no GPU: {err}");
    true
}

#[test]
fn gpu_json_matches_the_closed_form_when_a_gpu_exists() {
    let out = parsum(&[
        "--backend",
        "gpu",
        "--adapter",
        "0",
        "--start",
        "4294967000",
        "--end",
        "4294968000",
        "--json",
    ]);
    if no_gpu(&out) {
        return;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["backend"], "gpu");
    assert_eq!(v["sum"], v["expected"]);
    assert_eq!(v["sum"], "4294967499500");
}

#[test]
fn auto_is_the_default_and_names_what_ran() {
    let v = json(&["--end", "1e6"]);
    assert!(
        ["predicted", "explored"].contains(&v["chosen_by"].as_str().unwrap()),
        "{v}"
    );
    assert!(
        ["scalar", "simd", "gpu"].contains(&v["backend"].as_str().unwrap()),
        "{v}"
    );
    assert!(v["predicted_from"].is_string(), "{v}");
    assert_eq!(v["sum"], "499999500000");
    // An empty range teaches nothing, so it is never run to explore.
    let v = json(&["--start", "7", "--end", "7"]);
    assert_eq!(
        (&v["sum"], &v["chosen_by"]),
        (&"0".into(), &"predicted".into()),
        "{v}"
    );
    let v = json(&["--backend", "simd", "--end", "1e6"]);
    assert_eq!(v["chosen_by"], "explicit");
}

#[test]
fn parsum_backend_overrides_auto() {
    let out = command(&["--end", "1e6", "--json", "-v"])
        .env("PARSUM_BACKEND", "scalar")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["backend"].as_str(), v["chosen_by"].as_str()),
        (Some("scalar"), Some("forced"))
    );
    // -v says so before the run.
    assert!(
        err.contains("on auto's choice (scalar, forced by PARSUM_BACKEND)"),
        "{err}"
    );
}

#[test]
fn explain_shows_every_candidate_and_the_pick() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        command(args)
            .env("PARSUM_CACHE_DIR", dir.path())
            .output()
            .unwrap()
    };
    assert!(run(&["--end", "1e7", "--repeat", "3"]).status.success());
    let out = run(&["--end", "1e7", "--explain"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("auto for 10000000 elements in 100 chunks"),
        "{text}"
    );
    assert!(
        text.contains("scalar") && text.contains("simd") && text.contains("picked: "),
        "{text}"
    );
    assert!(text.contains("runs, centre"), "{text}");
}

/// Every kind of bad cache file: the sum runs, is right, exits 0.
#[test]
fn corrupt_caches_give_exit_0_and_a_right_sum() {
    let fresh = |tag: &str| {
        let d = std::env::temp_dir().join(format!("parsum-cli-bad-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let file = FILE;
    type Make = Box<dyn Fn(&Path)>;
    let mut cases: Vec<(&str, Make)> = vec![
        ("empty", Box::new(|p| std::fs::write(p, "").unwrap())),
        (
            "garbage",
            Box::new(|p| std::fs::write(p, b"\x00\xffnot json").unwrap()),
        ),
        (
            "nonsense values",
            Box::new(|p| {
                // This version's format, so that the values themselves are what is refused
                // (the library tests do the same under the real backends' identities).
                let text = r#"{"format":3,"parsum":"VERSION","backends":[{"identity":"x","entries":[[false,40,0,-1,1e300,0,0,0],[true,40,0,5,NaN,0,0,0]]}]}"#;
                std::fs::write(p, text.replace("VERSION", env!("CARGO_PKG_VERSION"))).unwrap()
            }),
        ),
        (
            "huge",
            Box::new(|p| std::fs::write(p, vec![b'{'; 3 << 20]).unwrap()),
        ),
        (
            "a directory",
            Box::new(|p| std::fs::create_dir_all(p).unwrap()),
        ),
    ];
    #[cfg(unix)]
    {
        cases.push((
            "a link to /dev/zero",
            Box::new(|p| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
        ));
        cases.push((
            "a named pipe",
            Box::new(|p| {
                let made = Command::new("mkfifo").arg(p).status();
                assert!(made.is_ok_and(|s| s.success()));
            }),
        ));
    }
    for (what, make) in cases {
        let dir = fresh(&what.replace(' ', "-"));
        make(&dir.join(file));
        let out = command(&["--end", "1e6", "--json"])
            .env("PARSUM_CACHE_DIR", &dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{what}: {err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["sum"], "499999500000", "{what}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn bench_prints_results_before_the_plot_and_reports_io_errors_apart() {
    let plot = cache_dir().join("bench.svg");
    std::fs::create_dir_all(cache_dir()).unwrap();
    let out = parsum(&[
        "--bench",
        "--bench-max",
        "1e5",
        "--json",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let backends = rows
        .iter()
        .map(|r| r["backend"].as_str().unwrap())
        .collect::<std::collections::BTreeSet<_>>();
    assert!(
        backends.contains("scalar") && backends.contains("simd"),
        "{v}"
    );
    for r in rows {
        for key in [
            "backend",
            "elements",
            "chunks",
            "seconds",
            "elements_per_second",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    // The chunk axis: the same elements in 1, 100 and 10^4 chunks on every backend.
    let chunks = v["chunks"].as_array().unwrap();
    for b in &backends {
        let counts: Vec<u64> = chunks
            .iter()
            .filter(|r| r["backend"] == *b)
            .map(|r| r["chunks"].as_u64().unwrap())
            .collect();
        // A backend whose last count would take over 6 s skips the rest: a prefix, from 1.
        assert!(
            !counts.is_empty() && [1, 100, 10_000].starts_with(&counts),
            "{b}: {v}"
        );
    }
    let auto = v["auto"].as_array().unwrap();
    assert_eq!(auto.len(), 3);
    for a in auto {
        assert!(
            ["scalar", "simd", "gpu"].contains(&a["picked"].as_str().unwrap()),
            "{a}"
        );
        // Auto's own time was measured: a positive time and the ratio that follows from it.
        let (t, r) = (a["seconds"].as_f64().unwrap(), a["ratio"].as_f64().unwrap());
        assert!(t > 0.0 && r > 0.0 && r.is_finite(), "{a}");
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("polyline"),
        "not an SVG plot"
    );

    // An unwritable plot: exit 4 at once, before measuring anything.
    let out = parsum(&["--bench", "--plot", "/nonexistent/dir/b.svg"]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/dir does not exist"), "{err}");
    assert!(out.stdout.is_empty());
    let file = cache_dir().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = parsum(&["--bench", "--plot", file.join("b.svg").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("a-file is not a directory"), "{err}");
    let out = parsum(&["--bench", "--plot", cache_dir().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("it is a directory") && out.stdout.is_empty(),
        "{err}"
    );

    // A FIFO nobody reads would block the write for good: exit 4 once the results are out; one
    // that is read is written to.
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("plot.svg");
        let made = Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
        let bench = ["--bench", "--bench-max", "1e3", "--json", "--plot"];
        let run = || parsum(&[&bench[..], &[fifo.to_str().unwrap()]].concat());
        let out = run();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{err}");
        assert!(err.contains("a FIFO that nobody reads"), "{err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(!v["rows"].as_array().unwrap().is_empty());
        let reader = std::thread::spawn({
            let fifo = fifo.clone();
            move || std::fs::read_to_string(fifo).unwrap()
        });
        // Once the reader has it open, a writer is held open too, so that the reader sees the
        // end only after parsum's write.
        let until = Instant::now() + Duration::from_secs(60);
        let held = loop {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).custom_flags(libc::O_NONBLOCK);
            match options.open(&fifo) {
                Ok(f) => break f,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("the reader never opened the FIFO: {e}"),
            }
        };
        let out = run();
        drop(held);
        assert!(out.status.success(), "{out:?}");
        assert!(reader.join().unwrap().starts_with("<svg"));
    }

    // A plot that fails only when written (a full disk): exit 4, the results already printed.
    if Path::new("/dev/full").exists() {
        let out = parsum(&[
            "--bench",
            "--bench-max",
            "1e3",
            "--json",
            "--plot",
            "/dev/full",
        ]);
        assert_eq!(out.status.code(), Some(4));
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write /dev/full"));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(!v["rows"].as_array().unwrap().is_empty());
    }
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_quietly_and_a_full_disk_is_exit_4() {
    let mut child = command(&["--end", "1e6", "--explain"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before anything is written
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    if Path::new("/dev/full").exists() {
        let out = command(&["--end", "1e6"])
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Sends SIGINT once the program says (with `--verbose`) that the sum is running.
#[cfg(unix)]
fn interrupt_when_running(args: &[&str]) -> Output {
    let mut all = vec!["--verbose"];
    all.extend_from_slice(args);
    let mut child = command(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("the program ended before it said it was running: {seen}");
        }
        seen += &line;
        if line.starts_with("running:") {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let mut out = child.wait_with_output().unwrap();
    out.stderr = (seen + &rest).into_bytes();
    out
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_a_long_sum_with_130() {
    for args in [
        &[
            "--backend",
            "scalar",
            "--end",
            "1e13",
            "--chunks",
            "10000",
            "--json",
        ][..],
        &[
            "--backend",
            "simd",
            "--end",
            "2^64",
            "--chunks",
            "1",
            "--json",
        ],
        &[
            "--backend",
            "scalar",
            // Many short runs (about 30 s in all): Ctrl-C between runs as well as inside one.
            // Not an empty range: a million of those end in well under a second, before a
            // stalled test could send the signal.
            "--start",
            "5",
            "--end",
            "1e5",
            "--repeat",
            "1e6",
            "--json",
        ],
    ] {
        let out = interrupt_when_running(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "a partial result was printed");
        assert_eq!(err.matches("interrupted: no result").count(), 1, "{err}");
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_set_up_ends_promptly() {
    // A pool of 1024 threads takes a while to start: Ctrl-C stops the sum at its first piece.
    let mut child = command(&["--backend", "simd", "--threads", "1024", "--end", "2^64"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    // Whatever moment the signal hit — before the handler, during set-up or during the sum —
    // the process ends promptly and prints no result.
    let out = loop {
        if child.try_wait().unwrap().is_some() {
            break child.wait_with_output().unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "Ctrl-C was ignored"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(out.stdout.is_empty());
    assert_ne!(out.status.code(), Some(0));
}

/// Whether process `pid` has installed a SIGINT handler yet (Linux's `SigCgt` mask).
#[cfg(target_os = "linux")]
fn catches_sigint(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"));
    mask.and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|m| m & (1 << 1) != 0)
}

#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_while_a_gpu_compiles_its_shaders_is_130_never_a_crash() {
    // Ending the process under lavapipe's shader compiler, its shader cache cold, crashed it
    // (SIGSEGV, or LLVM's abort) in 10 of 30 tries: Ctrl-C now waits for the set-up to end.
    let out = parsum(&["--backend", "gpu", "--end", "10"]);
    if no_gpu(&out) {
        return;
    }
    // Set-up takes about 0.4 s cold: signals spread over it and just after.
    for delay in (0..12).map(|i| Duration::from_millis(40 * i)) {
        let shader_cache = tempfile::tempdir().unwrap();
        // A sum no GPU finishes before the last signal.
        let child = command(&["--backend", "gpu", "--end", "2^64", "--chunks", "1e6"])
            .env("XDG_CACHE_HOME", shader_cache.path())
            .env_remove("MESA_SHADER_CACHE_DISABLE")
            .env_remove("MESA_SHADER_CACHE_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !catches_sigint(child.id()) {
            assert!(started.elapsed() < Duration::from_secs(30), "no handler");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(delay);
        let sent = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(130),
            "signal after {delay:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "a result was printed: {err}");
        assert_eq!(err.matches("interrupted").count(), 1, "{err}");
    }
}

#[test]
fn a_relative_cache_dir_is_taken_from_the_current_directory() {
    let here = tempfile::tempdir().unwrap();
    let out = command(&["--end", "1e6", "--explain"])
        .env("PARSUM_CACHE_DIR", "my-cache")
        .current_dir(here.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = here.path().join("my-cache").join(FILE);
    assert!(file.is_file(), "{} missing", file.display());
    // Blank is unset: no directory named " " here.
    let out = command(&["--end", "1e6"])
        .env("PARSUM_CACHE_DIR", " ")
        .env("XDG_CACHE_HOME", here.path().join("xdg"))
        .current_dir(here.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!here.path().join(" ").exists());
    assert!(here.path().join("xdg").join("parsum").join(FILE).is_file());
}

#[test]
fn help_and_version_are_plain_and_into_a_full_disk_exit_4() {
    for flag in ["--help", "--version"] {
        // Into a pipe they work, with exit 0, in plain text (no terminal styling).
        let out = parsum(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("parsum"));
        assert!(!text.contains('\x1b'), "{flag}: {text:?}");
        if !Path::new("/dev/full").exists() {
            continue;
        }
        let out = command(&[flag])
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{flag}: {err}");
        assert!(err.contains("cannot write"), "{flag}: {err}");
    }
}

/// What `-v` was asked to say is output too: where standard error cannot take it, parsum stops
/// with exit 4, as for standard output.
#[test]
fn verbose_into_a_full_disk_exits_4() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    for backend in ["simd", "auto"] {
        let out = command(&["--end", "1000", "-v", "--backend", backend])
            .stderr(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4), "{backend}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains("499,500"),
            "{backend}: stopped before the sum: {text}"
        );
        // Without -v nothing was asked of standard error.
        let out = command(&["--end", "1000", "--backend", backend])
            .stderr(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{backend}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("sum      499,500"), "{backend}: {text}");
        // Standard error's reader gone is not a failure: standard output's may still be there.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = command(&["--end", "1000", "-v", "--backend", backend])
            .stderr(writer)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{backend}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("sum      499,500"), "{backend}: {text}");
    }
}

#[test]
fn a_cache_directory_that_is_a_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = command(&["--end", "1e6", "--explain"])
        .env("PARSUM_CACHE_DIR", &file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("is not a directory"), "{text}");
    assert!(!text.contains("os error 17"), "{text}");
}

/// Makes a history in `dir` (one run learns this machine's identities), then replaces the entries
/// of the backend whose identity starts with `prefix` by `entries`.
fn plant(dir: &Path, prefix: &str, entries: serde_json::Value) {
    let v = command(&["--end", "1e3", "--json"])
        .env("PARSUM_CACHE_DIR", dir)
        .output()
        .unwrap();
    assert!(v.status.success());
    let path = dir.join(FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut backends = file["backends"].as_array_mut().unwrap().iter_mut();
    let found = backends.find(|b| b["identity"].as_str().unwrap().starts_with(prefix));
    found.unwrap_or_else(|| panic!("no {prefix} in {text}"))["entries"] = entries;
    std::fs::write(&path, file.to_string()).unwrap();
}

/// A hostile history claiming scalar sums 10^6 elements in 10 ns: the one-shot processes that
/// believe it (one run each, as the CLI makes) record what it really took, and within 5 the
/// claim is overturned.
#[test]
fn a_planted_wrong_entry_is_overturned_within_five_one_shot_processes() {
    let dir = tempfile::tempdir().unwrap();
    let scalar_prior_10e6 = 50e-9 + 1e6 / 3e9 + 15.0 * 10e-9;
    let lie = (10e-9f64 / scalar_prior_10e6).ln();
    // Size class of 10^6 (2·19 + 1), default chunks, warm and cold: 32 samples each, a firm
    // centre, saved far in the future (so no merge prefers another entry).
    let entries = serde_json::json!([
        [false, 39, 0, 32.0, lie, 0.01, 0.0, 4_000_000_000u64],
        [true, 39, 0, 32.0, lie, 0.01, 0.0, 4_000_000_000u64]
    ]);
    plant(dir.path(), "scalar|", entries);
    // (backend, predicted, took) of each process.
    let mut runs = Vec::new();
    for _ in 0..5 {
        let out = command(&["--end", "1e6", "--json"])
            .env("PARSUM_CACHE_DIR", dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["sum"], "499999500000");
        let (p, t) = (
            v["predicted_seconds"].as_f64().unwrap(),
            v["seconds"].as_f64().unwrap(),
        );
        runs.push((v["backend"].as_str().unwrap().to_string(), p, t));
    }
    assert!(
        runs[0].0 == "scalar" && runs[0].1 < 1e-6,
        "the lie was believed at first: {runs:?}"
    );
    // Overturned: the fifth process either runs something else, or runs scalar no longer
    // predicting the lie's 10 ns (its own entry now holds what the runs took, ~300 µs).
    let (last, predicted, _) = &runs[4];
    assert!(
        last != "scalar" || *predicted > 1e-5,
        "still believed after 5 processes: {runs:?}"
    );
}

/// The Vulkan loader and libEGL say so on standard error when they start, if asked to: forced to
/// the CPU, parsum never starts either.
#[test]
fn forcing_the_cpu_never_touches_wgpu() {
    let traced = |c: &mut Command| {
        c.env("VK_LOADER_DEBUG", "all")
            .env("EGL_LOG_LEVEL", "debug");
    };
    let mut control = command(&["--backend", "gpu", "--end", "1e6"]);
    traced(&mut control);
    let control = control.output().unwrap();
    let started = |err: &str| err.contains("Vulkan Loader") || err.contains("libEGL");
    if !started(&String::from_utf8_lossy(&control.stderr)) {
        skip_no_loader();
        return;
    }
    for (flag, env) in [
        (Some("simd"), None),
        (None, Some("simd")),
        (None, Some("scalar")),
    ] {
        let mut args = vec!["--end", "1e9", "--json"];
        if let Some(b) = flag {
            args.extend(["--backend", b]);
        }
        let mut c = command(&args);
        traced(&mut c);
        if let Some(v) = env {
            c.env("PARSUM_BACKEND", v);
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(
            !started(&err),
            "{flag:?} {env:?} started a graphics API: {err}"
        );
    }
}

fn skip_no_loader() {
    assert!(
        std::env::var("PARSUM_REQUIRE_GPU").as_deref() != Ok("1"),
        "no Vulkan loader but PARSUM_REQUIRE_GPU=1"
    );
    eprintln!("SKIPPED: no Vulkan loader to watch");
}

/// A history that cannot be saved does not fail the sum or the bench; `-v` says why it was not
/// saved and names the file.
#[test]
fn a_history_that_cannot_be_saved_is_named_under_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let sum = ["--end", "1e5", "--json"];
    let bench = ["--bench", "--bench-max", "1e3", "--json"];
    for (args, verbose) in [(&sum[..], true), (&sum, false), (&bench, true)] {
        let mut args = args.to_vec();
        if verbose {
            args.push("-v");
        }
        let out = command(&args)
            .env("PARSUM_CACHE_DIR", &file)
            .output()
            .unwrap();
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if args.contains(&"--bench") {
            assert!(v["rows"].as_array().is_some_and(|r| !r.is_empty()), "{v}");
        } else {
            assert_eq!(v["sum"], "4999950000", "{v}");
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.contains("history was not saved"), verbose, "{err}");
        assert_eq!(err.contains("not a directory"), verbose, "{err}");
    }
    // A cache directory that is a link to itself: named, and said to lead nowhere.
    #[cfg(unix)]
    {
        let looped = dir.path().join("loop");
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        let out = command(&["--end", "1e5", "-v"])
            .env("PARSUM_CACHE_DIR", &looped)
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        let note = err.lines().find(|l| l.contains("history was not saved"));
        assert!(
            note.is_some_and(|l| l.contains(looped.to_str().unwrap()) && l.contains("a loop")),
            "{err}"
        );
    }
}

/// A history that is not read (another format) is named under `-v`, with what becomes of it: the
/// next save replaces it. A history that is read is named too.
#[test]
fn a_history_not_read_is_named_under_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    let run = || {
        let out = command(&["--end", "1e5", "-v"])
            .env("PARSUM_CACHE_DIR", dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    // No file yet: none read.
    let err = run();
    let none = format!("history: none yet at {}", path.display());
    assert!(err.contains(&none), "{err}");
    std::fs::write(&path, r#"{"format": 2, "parsum": "0.0.1", "backends": []}"#).unwrap();
    let err = run();
    let said = format!(
        "history: {} ignored, and replaced at the next save: written by parsum 0.0.1 (format 2)",
        path.display()
    );
    assert!(err.contains(&said), "{err}");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(file["parsum"], env!("CARGO_PKG_VERSION"), "{file}");
    let err = run();
    assert!(
        err.contains(&format!("history: read from {}", path.display())),
        "{err}"
    );
}

/// One run slowed 32× (a preemption) in the history, the only warm sample of simd at 10^6: the
/// next process does not trust it against simd's prior and runs simd again, replacing it.
#[test]
fn one_slow_sample_does_not_keep_a_backend_out() {
    let dir = tempfile::tempdir().unwrap();
    let planted = serde_json::json!([false, 39, 0, 1.0, 32f64.ln(), 0.0, 0.0, 4_000_000_000u64]);
    plant(dir.path(), "simd|", serde_json::json!([planted.clone()]));
    let path = dir.path().join(FILE);
    let out = command(&["--end", "1e6", "--repeat", "20", "--json"])
        .env("PARSUM_CACHE_DIR", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let simd = file["backends"].as_array().unwrap().iter();
    let simd = simd
        .filter(|b| b["identity"].as_str().unwrap().starts_with("simd|"))
        .flat_map(|b| b["entries"].as_array().unwrap())
        .find(|e| e[0] == false && e[1] == 39 && e[2] == 0)
        .unwrap();
    assert_ne!(
        simd.as_array().unwrap()[..7],
        planted.as_array().unwrap()[..7],
        "{file}"
    );
}
