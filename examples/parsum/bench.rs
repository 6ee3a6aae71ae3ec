//! `--bench`: every backend over sizes from 10^3 up, each size capped by time, then a table (and
//! optionally a plot) of throughput, speedup over scalar, and auto's pick against the fastest.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parsum::{Auto, Backend, BackendInfo, BackendKind, SumRequest};
use serde_json::json;

use crate::Failure;
use crate::output::si;

/// Timed runs of one size stop once they add up to this (or after `MAX_RUNS`).
const ENOUGH: Duration = Duration::from_millis(300);
const MAX_RUNS: usize = 15;
/// A backend's next size (10× larger) is skipped when it would take longer than this once.
const LONGEST_RUN: Duration = Duration::from_secs(3);

/// One backend at one size.
pub struct Row {
    pub info: BackendInfo,
    pub elements: u128,
    /// Median of the timed runs.
    pub seconds: f64,
}

impl Row {
    pub fn rate(&self) -> f64 {
        self.elements as f64 / self.seconds
    }
}

/// Auto's pick at one size, against the fastest measured backend there.
pub struct Pick {
    pub elements: u128,
    pub picked: BackendKind,
    pub fastest: BackendKind,
    /// Fastest's time ÷ picked's time: 1 when auto picked the fastest.
    pub ratio: Option<f64>,
}

fn median(mut s: Vec<f64>) -> f64 {
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Median seconds of verified sums of `0..n` on `backend`, after one warm-up for quick sizes.
fn measure(backend: &dyn Backend, n: u128, stop: &AtomicBool) -> Result<f64, Failure> {
    let request = SumRequest::from_range(parsum::SumRange::from_bounds(0, n)?).cancel_on(stop);
    let first = request.run(backend)?.elapsed;
    let mut times = Vec::new();
    if first >= ENOUGH {
        times.push(first.as_secs_f64());
    }
    let started = Instant::now();
    while times.len() < MAX_RUNS && (times.is_empty() || started.elapsed() < ENOUGH) {
        times.push(request.run(backend)?.elapsed.as_secs_f64());
    }
    Ok(median(times))
}

pub fn measure_all(
    auto: &Auto,
    largest: u128,
    stop: &AtomicBool,
) -> Result<(Vec<Row>, Vec<Pick>), Failure> {
    let mut rows = Vec::new();
    for backend in auto.members() {
        let info = backend.info();
        let mut n: u128 = 1_000;
        while n <= largest {
            let seconds = measure(backend, n, stop)?;
            rows.push(Row {
                info: info.clone(),
                elements: n,
                seconds,
            });
            if stop.load(Ordering::Relaxed) {
                return Err(Failure::Interrupted);
            }
            if Duration::from_secs_f64(seconds * 10.0) > LONGEST_RUN {
                break;
            }
            n *= 10;
        }
    }
    let mut sizes: Vec<u128> = rows.iter().map(|r| r.elements).collect();
    sizes.sort();
    sizes.dedup();
    let picks = sizes
        .into_iter()
        .filter_map(|n| {
            let here: Vec<&Row> = rows.iter().filter(|r| r.elements == n).collect();
            let fastest = here.iter().min_by(|a, b| a.seconds.total_cmp(&b.seconds))?;
            let picked = auto.pick(n)?;
            let ratio = here
                .iter()
                .find(|r| r.info == *picked)
                .map(|r| fastest.seconds / r.seconds);
            Some(Pick {
                elements: n,
                picked: picked.kind,
                fastest: fastest.info.kind,
                ratio,
            })
        })
        .collect();
    Ok((rows, picks))
}

pub fn run(
    auto: &Auto,
    largest: u128,
    as_json: bool,
    plot: Option<&Path>,
    stop: &AtomicBool,
) -> Result<(), Failure> {
    let started = Instant::now();
    let (rows, picks) = measure_all(auto, largest, stop)?;
    if let Some(path) = plot {
        crate::bench_plot::write(path, &rows, &picks)
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    if as_json {
        let rows_json: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "backend": r.info.kind.as_str(),
                    "kernel": r.info.kernel,
                    "device": r.info.device,
                    "elements": r.elements.to_string(),
                    "seconds": r.seconds,
                    "elements_per_second": r.rate(),
                })
            })
            .collect();
        let auto_json: Vec<_> = picks
            .iter()
            .map(|p| {
                json!({
                    "elements": p.elements.to_string(),
                    "picked": p.picked.as_str(),
                    "fastest": p.fastest.as_str(),
                    "ratio": p.ratio,
                })
            })
            .collect();
        println!(
            "{}",
            json!({"rows": rows_json, "auto": auto_json, "seconds": started.elapsed().as_secs_f64()})
        );
        return Ok(());
    }
    print!("{}", table(&rows, &picks));
    println!(
        "({:.1} s; each cell the median of verified sums of 0..n; G = 10^9 elements/s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn table(rows: &[Row], picks: &[Pick]) -> String {
    let mut kinds: Vec<&BackendInfo> = Vec::new();
    for r in rows {
        if !kinds.contains(&&r.info) {
            kinds.push(&r.info);
        }
    }
    let mut out = String::from("backends:\n");
    for b in &kinds {
        out += &format!(
            "  {:<6} {} on {}, {} thread(s)\n",
            b.kind, b.kernel, b.device, b.threads
        );
    }
    out += &format!("\n{:>10}", "elements");
    for b in &kinds {
        out += &format!(" {:>20}", b.kind.as_str());
    }
    out += &format!(" {:>8} {:>8} {:>11}\n", "fastest", "auto", "auto/best");
    for p in picks {
        out += &format!("{:>10}", format!("{:.0e}", p.elements as f64));
        let scalar = rows
            .iter()
            .find(|r| r.elements == p.elements && r.info.kind == BackendKind::Scalar)
            .map(|r| r.seconds);
        for b in &kinds {
            let cell = match rows
                .iter()
                .find(|r| r.elements == p.elements && r.info == **b)
            {
                Some(r) => {
                    let speedup = scalar
                        .map(|s| format!(" ({:.1}x)", s / r.seconds))
                        .unwrap_or_default();
                    format!("{}/s{speedup}", si(r.rate()))
                }
                None => "—".into(),
            };
            out += &format!(" {cell:>20}");
        }
        let ratio = p
            .ratio
            .map_or("—".to_string(), |r| format!("{:.0}%", r * 100.0));
        out += &format!(
            " {:>8} {:>8} {:>11}\n",
            p.fastest.as_str(),
            p.picked.as_str(),
            ratio
        );
    }
    out += "(speedup over scalar in brackets; auto/best = fastest's time ÷ the picked backend's time)\n";
    out
}
