//! The example binary: exit codes, JSON fields, number forms.

use std::path::PathBuf;
use std::process::{Command, Output};

fn exe() -> PathBuf {
    // `cargo test` builds the examples next to the test binaries' `deps` folder.
    let mut p = std::env::current_exe().unwrap();
    p.pop();
    if p.ends_with("deps") {
        p.pop();
    }
    p.push("examples");
    p.push(format!("parsum{}", std::env::consts::EXE_SUFFIX));
    assert!(
        p.exists(),
        "{} missing: run `cargo test` (it builds examples)",
        p.display()
    );
    p
}

fn cache_dir() -> PathBuf {
    std::env::temp_dir().join(format!("parsum-cli-cache-{}", std::process::id()))
}

/// The example with a private calibration cache and no backend override.
fn command(args: &[&str]) -> Command {
    let mut c = Command::new(exe());
    c.args(args)
        .env("PARSUM_BACKEND", "")
        .env("PARSUM_CACHE_DIR", cache_dir());
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
    assert!(v["elements_per_second"].as_f64().unwrap() > 0.0);
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
fn every_number_form() {
    for (form, value) in [
        ("1000000", "1000000"),
        ("1_000_000", "1000000"),
        ("1e6", "1000000"),
        ("2.5e3", "2500"),
        ("2^20", "1048576"),
    ] {
        let v = json(&["--backend", "scalar", "--end", form]);
        assert_eq!(v["end"], value, "{form}");
    }
}

#[test]
fn repeat_reports_median_min_max() {
    let v = json(&["--backend", "scalar", "--end", "1e5", "--repeat", "3"]);
    assert_eq!(v["runs"], 3);
    let (min, med, max) = (
        v["seconds_min"].as_f64().unwrap(),
        v["seconds"].as_f64().unwrap(),
        v["seconds_max"].as_f64().unwrap(),
    );
    assert!(min <= med && med <= max);
}

#[test]
fn human_output_groups_digits() {
    let out = parsum(&["--backend", "scalar", "--start", "1", "--end", "1_000_001"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("500,000,500,000"), "{text}");
    assert!(text.contains("check    ok"), "{text}");
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    for args in [
        &["--end", "12abc"][..],
        &["--start", "10", "--end", "5"],
        &["--end", "2^64+1"],
        &["--end", "18446744073709551617"],
        &["--end", "1e30"],
        &["--end", "2.55e1"],
        &["--end", "-5"],
        &["--chunks", "0"],
        &["--threads", "0"],
        &["--backend", "abacus"],
        &["--repeat", "0"],
    ] {
        let out = parsum(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error:"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed a result");
    }
}

#[test]
fn forced_vulkan_without_a_driver_is_a_clean_error() {
    let out = command(&["--backend", "gpu", "--end", "1000"])
        .env("WGPU_BACKEND", "vulkan")
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("no GPU available"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn list_names_every_backend() {
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
    assert!(v["adapters"].is_array());
}

#[test]
fn gpu_json_matches_the_closed_form_when_a_gpu_exists() {
    let out = parsum(&[
        "--backend",
        "gpu",
        "--start",
        "4294967000",
        "--end",
        "4294968000",
        "--json",
    ]);
    if out.status.code() == Some(3) {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            std::env::var("PARSUM_REQUIRE_GPU").as_deref() != Ok("1"),
            "no GPU but PARSUM_REQUIRE_GPU=1: {err}"
        );
        eprintln!("SKIPPED: no GPU: {err}");
        return;
    }
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["backend"], "gpu");
    assert_eq!(v["sum"], v["expected"]);
    assert_eq!(v["sum"], "4294967499500");
}

#[test]
fn auto_is_the_default_and_names_what_ran() {
    let v = json(&["--end", "1e6"]);
    assert_eq!(v["chosen_by"], "auto");
    assert!(
        ["scalar", "simd", "gpu"].contains(&v["backend"].as_str().unwrap()),
        "{v}"
    );
    assert_eq!(v["sum"], "499999500000");
    let v = json(&["--backend", "simd", "--end", "1e6"]);
    assert_eq!(v["chosen_by"], "flag");
}

#[test]
fn parsum_backend_overrides_auto() {
    let out = command(&["--end", "1e6", "--json"])
        .env("PARSUM_BACKEND", "scalar")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["backend"].as_str(), v["chosen_by"].as_str()),
        (Some("scalar"), Some("PARSUM_BACKEND"))
    );
    let out = command(&["--end", "1e6"])
        .env("PARSUM_BACKEND", "abacus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PARSUM_BACKEND=abacus"));
}

#[test]
fn explain_shows_every_candidate_and_the_pick() {
    let out = parsum(&["--end", "1e7", "--explain"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("auto for 10000000 elements"), "{text}");
    assert!(
        text.contains("scalar") && text.contains("simd") && text.contains("picked: "),
        "{text}"
    );
    let out = parsum(&["--backend", "simd", "--explain"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bench_json_has_rows_and_auto() {
    let plot = cache_dir().join("bench.svg");
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
    assert!(rows.len() >= 6, "{v}");
    for r in rows {
        for key in ["backend", "elements", "seconds", "elements_per_second"] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    let auto = v["auto"].as_array().unwrap();
    assert_eq!(auto.len(), 3);
    for a in auto {
        let ratio = a["ratio"].as_f64().unwrap();
        assert!(ratio > 0.0 && ratio <= 1.0, "{a}");
        assert!(a["picked"].is_string() && a["fastest"].is_string());
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("polyline"),
        "not an SVG plot"
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_with_130() {
    let child = command(&[
        "--backend",
        "scalar",
        "--end",
        "1e13",
        "--chunks",
        "10000",
        "--json",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "a partial result was printed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
}
