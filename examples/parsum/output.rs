//! What the CLI prints: text for people, one JSON object per run for programs.

use std::time::Duration;

use parsum::ChosenBy;
use serde_json::json;

use crate::Runs;

/// Min, median and max of the timed runs.
pub struct Timing {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub runs: usize,
}

impl Timing {
    pub fn of(times: &[Duration]) -> Self {
        let mut s: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if !n.is_multiple_of(2) {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Self {
            min: s[0],
            median,
            max: s[n - 1],
            runs: n,
        }
    }
}

fn rate(elements: u128, seconds: f64) -> f64 {
    elements as f64 / seconds.max(1e-12)
}

pub fn json(runs: &Runs, kernel: Option<Duration>, explain: Option<String>) -> String {
    let report = &runs.report;
    let t = Timing::of(&runs.times);
    let elements = report.range.len();
    let mut obj = json!({
        "backend": report.backend.kind.as_str(),
        "kernel": &*report.backend.kernel,
        "device": &*report.backend.device,
        "threads": report.backend.threads,
        "start": report.range.start().to_string(),
        "end": report.range.end().to_string(),
        "elements": elements.to_string(),
        "chunks": report.chunks,
        "sum": report.sum.to_string(),
        "expected": report.expected.to_string(),
        "verified": report.verified,
        "seconds": t.median,
        "elements_per_second": rate(elements, t.median),
        "chosen_by": runs.choice.as_ref().map_or("explicit", |c| c.chosen_by.as_str()),
    });
    if let Some(k) = kernel {
        obj["kernel_seconds"] = json!(k.as_secs_f64());
        obj["kernel_elements_per_second"] = json!(rate(elements, k.as_secs_f64()));
    }
    if let Some(c) = &runs.choice {
        let (predicted, basis) = c.predicted;
        obj["predicted_seconds"] = json!(predicted.as_secs_f64());
        obj["predicted_from"] = json!(basis.as_str());
        if let Some(why) = &c.fallback {
            obj["fallback"] = json!(why);
        }
        obj["cold"] = json!(c.cold);
    }
    if let Some(text) = explain {
        obj["explain"] = json!(text);
    }
    if let Some(w) = runs.warm_up {
        obj["runs"] = json!(t.runs);
        obj["seconds_min"] = json!(t.min);
        obj["seconds_max"] = json!(t.max);
        obj["warm_up_seconds"] = json!(w.as_secs_f64());
        let on: serde_json::Map<String, serde_json::Value> = (runs.ran_on.iter())
            .map(|(k, n)| (k.to_string(), json!(n)))
            .collect();
        obj["runs_on"] = on.into();
    }
    obj.to_string()
}

pub fn human(runs: &Runs, kernel: Option<Duration>) -> String {
    let report = &runs.report;
    let t = Timing::of(&runs.times);
    let b = &report.backend;
    let elements = report.range.len();
    let mut out = String::new();
    let threads = if b.threads == 1 {
        "1 thread".to_string()
    } else {
        format!("{} threads", b.threads)
    };
    out += &format!(
        "backend  {} ({}, {threads}) on {}\n",
        b.kind, b.kernel, b.device
    );
    // "1 element, 1 chunk", not "1 elements, 1 chunks".
    let count =
        |n: u128, what: &str| format!("{} {what}{}", group(n), if n == 1 { "" } else { "s" });
    out += &format!(
        "range    {}..{} ({}, {})\n",
        group(report.range.start()),
        group(report.range.end()),
        count(elements, "element"),
        count(u128::from(report.chunks), "chunk")
    );
    if let Some(c) = &runs.choice {
        let how = match c.chosen_by {
            ChosenBy::Explored => "explored (measuring a backend that could be faster here)",
            ChosenBy::Forced => "forced by PARSUM_BACKEND",
            _ => "predicted fastest",
        };
        let predicted = Some(c.predicted)
            .map(|(t, basis)| {
                format!(
                    ", predicted {} s ({})",
                    secs(t.as_secs_f64()),
                    basis.as_str()
                )
            })
            .unwrap_or_default();
        out += &format!("chosen   {how}{predicted}\n");
    }
    out += &format!("sum      {}\n", group(report.sum));
    if report.verified {
        out += &format!(
            "check    ok: every chunk and the total equal n·(a+b)/2 = {}\n",
            group(report.expected)
        );
    } else {
        out += &format!(
            "check    skipped (--no-verify); closed form n·(a+b)/2 = {}{}\n",
            group(report.expected),
            if report.sum == report.expected {
                " (same)"
            } else {
                " (DIFFERS)"
            }
        );
    }
    match runs.warm_up {
        Some(w) => {
            out += &format!(
                "time     median {} s, min {} s, max {} s over {} run(s), after a warm-up of {} s\n",
                secs(t.median),
                secs(t.min),
                secs(t.max),
                t.runs,
                secs(w.as_secs_f64())
            )
        }
        None => out += &format!("time     {} s\n", secs(t.median)),
    }
    if runs.ran_on.len() > 1 {
        let on: Vec<String> = (runs.ran_on.iter())
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        out += &format!(
            "runs     {} (auto measured other backends too; the times include every run)\n",
            on.join(", ")
        );
    }
    out += &format!("speed    {} elements/s\n", si(rate(elements, t.median)));
    if let Some(k) = kernel {
        out += &format!(
            "kernel   {} s on the device (last run, timestamp queries): {} elements/s\n",
            secs(k.as_secs_f64()),
            si(rate(elements, k.as_secs_f64()))
        );
    }
    out
}

/// 1234567 -> "1,234,567".
pub fn group(v: u128) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() * 4 / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3}")
    } else {
        format!("{s:.6}")
    }
}

/// A time in the unit that suits it, three figures: "412 ns", "3.21 µs", "1.25 s". The unit and
/// the decimals are chosen from the rounded text, so 0.99996 s is "1.00 s", never "1000 ms".
pub fn duration(s: f64) -> String {
    if s < 1e-9 {
        return "<1 ns".into();
    }
    let below = |text: &str, bound: f64| text.parse::<f64>().is_ok_and(|x| x < bound);
    let figures = |v: f64| {
        let (two, one) = (format!("{v:.2}"), format!("{v:.1}"));
        if below(&two, 10.0) {
            two
        } else if below(&one, 100.0) {
            one
        } else {
            format!("{v:.0}")
        }
    };
    for (scale, unit) in [(1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms")] {
        let text = figures(s / scale);
        if below(&text, 1000.0) {
            return format!("{text} {unit}");
        }
    }
    format!("{} s", figures(s))
}

/// 1.2e10 -> "12.00 G".
pub fn si(v: f64) -> String {
    let units = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    for (scale, unit) in units {
        if v >= scale {
            return format!("{:.2} {unit}", v / scale);
        }
    }
    format!("{v:.0}")
}

/// `--list`: every backend and GPU adapter, with the index `--adapter` takes.
pub fn list(as_json: bool) -> Result<String, crate::Failure> {
    use parsum::{Backend, Gpu, LaneKernel, Scalar, Simd};
    let (scalar, simd) = (Scalar::new(), Simd::new());
    let cpu = [scalar.info(), simd.info()];
    let adapters = Gpu::adapters()?;
    // What `--backend gpu` opens without --adapter; else why it opens none (the build,
    // WGPU_BACKEND, WGPU_ADAPTER_NAME, a missing driver), as it would say it.
    let default = Gpu::default_adapter().map(|a| a.index);
    let kernels: Vec<&str> = LaneKernel::available().iter().map(|k| k.name()).collect();
    if as_json {
        let backends: Vec<_> = cpu
            .iter()
            .map(|b| json!({"backend": b.kind.as_str(), "kernel": &*b.kernel, "device": &*b.device, "threads": b.threads}))
            .collect();
        let gpus: Vec<_> = adapters
            .iter()
            .map(|a| json!({"index": a.index, "name": a.name, "device_type": a.device_type, "api": a.api, "driver": a.driver, "pci": a.pci}))
            .collect();
        let mut v = json!({"backends": backends, "simd_kernels": kernels, "adapters": gpus});
        v["default_adapter"] = json!(default.as_ref().ok());
        if let Err(why) = &default {
            v["no_default_adapter"] = json!(why.to_string());
        }
        return Ok(format!("{v}\n"));
    }
    let mut out = String::from("backends:\n");
    for b in &cpu {
        out += &format!(
            "  {:<7} {} on {}, {} thread(s)\n",
            b.kind.as_str(),
            b.kernel,
            b.device,
            b.threads
        );
    }
    out += &format!(
        "  simd kernels on this CPU, fastest first: {}\n",
        kernels.join(", ")
    );
    for a in &adapters {
        out += &format!(
            "  gpu     [{}] {} — {} on {}{} (--adapter {}){}\n",
            a.index,
            a.name,
            a.device_type,
            a.api,
            if a.driver.is_empty() {
                String::new()
            } else {
                format!(", driver {}", a.driver)
            },
            a.index,
            if default.as_ref() == Ok(&a.index) {
                ", the default"
            } else {
                ""
            }
        );
    }
    if let Err(why) = &default {
        let which = if adapters.is_empty() {
            "none"
        } else {
            "no default"
        };
        out += &format!("  gpu     {which}: {why}\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parsum::{BackendKind, Scalar, SumRequest};

    fn runs(ran_on: Vec<(BackendKind, u32)>) -> Runs {
        let report = SumRequest::new(0..10).unwrap().run(&Scalar::new()).unwrap();
        let n: u32 = ran_on.iter().map(|r| r.1).sum();
        Runs {
            report,
            choice: None,
            times: vec![Duration::from_micros(5); n as usize],
            warm_up: Some(Duration::from_micros(9)),
            ran_on,
        }
    }

    #[test]
    fn runs_on_other_backends_are_counted_in_text_and_json() {
        let mixed = runs(vec![(BackendKind::Simd, 19), (BackendKind::Gpu, 1)]);
        let text = human(&mixed, None);
        assert!(
            text.contains("\nruns     simd 19, gpu 1 (auto measured"),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&json(&mixed, None, None)).unwrap();
        assert_eq!(v["runs_on"], json!({"simd": 19, "gpu": 1}));
        assert_eq!(v["runs"], 20);
        // One backend: no line, the same field.
        let one = runs(vec![(BackendKind::Scalar, 3)]);
        assert!(!human(&one, None).contains("\nruns "));
        let v: serde_json::Value = serde_json::from_str(&json(&one, None, None)).unwrap();
        assert_eq!(v["runs_on"], json!({"scalar": 3}));
    }

    #[test]
    fn rates_take_a_prefix_and_no_stray_space() {
        assert_eq!(si(0.0), "0");
        assert_eq!(si(999.4), "999");
        assert_eq!(si(7.994e6), "7.99 M");
        assert_eq!(si(2.05e10), "20.50 G");
    }

    #[test]
    fn durations_take_the_unit_that_suits_them() {
        let cases = [
            (0.0, "<1 ns"),
            (4.2e-10, "<1 ns"),
            (4.12e-7, "412 ns"),
            (3.214e-6, "3.21 µs"),
            (0.0123, "12.3 ms"),
            (1.25, "1.25 s"),
            (250.0, "250 s"),
            (0.99996, "1.00 s"),
            (9.996e-7, "1.00 µs"),
            (0.09996, "100 ms"),
            (9.996e-3, "10.0 ms"),
        ];
        for (s, text) in cases {
            assert_eq!(duration(s), text, "{s}");
        }
        // Next to every boundary, to the last bit: three figures, from 1 to 999 of a unit.
        for edge in [
            9.995e-9, 99.95e-9, 999.5e-9, 999.5e-6, 9.995e-3, 99.95e-3, 0.9995, 9.995,
        ] {
            let bits = f64::to_bits(edge);
            for s in (bits - 600..bits + 600).map(f64::from_bits) {
                let text = duration(s);
                let number = text.split(' ').next().unwrap();
                let v: f64 = number.parse().unwrap();
                assert!((1.0..1000.0).contains(&v), "{s}: {text}");
                let digits = number.chars().filter(char::is_ascii_digit).count();
                assert_eq!(digits, 3, "{s}: {text}");
            }
        }
    }
}
