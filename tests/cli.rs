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

fn parsum(args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .env("PARSUM_BACKEND", "")
        .output()
        .unwrap()
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
    let out = Command::new(exe())
        .args(["--backend", "gpu", "--end", "1000"])
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
