//! `--bench`: every backend over sizes from 10^3 up and over chunk counts, each measurement capped
//! by time; then a table (and optionally a plot) of throughput, speedup over scalar, the cost of
//! a chunk, and auto's pick against the fastest.

use std::path::Path;
use std::time::{Duration, Instant};

use std::borrow::Borrow;

use parsum::{
    Auto, Backend, BackendInfo, BackendKind, Chunking, Runner, SumRange, SumReport, SumRequest,
};
use serde_json::json;

use crate::output::{duration, si};
use crate::{Failure, interrupt, out};

/// Timed runs of one size stop once they add up to this (but never before `MIN_RUNS`, so that one
/// run slowed by the machine, or one of auto's explorations, is not the median) or after
/// `MAX_RUNS` (an odd count).
const ENOUGH: Duration = Duration::from_millis(300);
const MIN_RUNS: usize = 3;
const MAX_RUNS: usize = 201;
/// A backend's next size (10× larger) is skipped when it would take longer than this once.
const LONGEST_RUN: Duration = Duration::from_secs(3);
/// Chunk counts of the chunk axis.
const CHUNK_COUNTS: [u64; 4] = [1, 100, 10_000, 1_000_000];
/// Elements of the chunk axis (less when `--bench-max` is smaller).
const CHUNK_AXIS_ELEMENTS: u128 = 1_000_000_000;

/// One backend at one size and chunk count.
pub struct Row {
    pub info: BackendInfo,
    pub elements: u128,
    pub chunks: u64,
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
    /// Auto's own median time at this size, run as a backend: choosing, recording and any
    /// exploration or re-check included (but its first run there, the uncounted warm-up).
    pub seconds: f64,
    /// The fastest backend's time ÷ auto's time, the two run in turn.
    pub ratio: f64,
    /// The fastest backend's time ÷ the time of the backend auto picks, each run alone: the
    /// quality of the choice without the cost of choosing.
    pub pick_ratio: Option<f64>,
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

/// Median seconds of verified sums of `0..n` in `chunking` on `backend`, after one warm-up run
/// that is not counted (a backend's first run pays its set-up).
fn measure(backend: &dyn Backend, n: u128, chunking: Chunking) -> Result<(f64, u64), Failure> {
    let request = SumRequest::from_range(SumRange::from_bounds(0, n)?)
        .chunking(chunking)
        .cancel_on(&interrupt::STOP);
    let (medians, chunks) = interleaved(&[&|| once(backend, &request)])?;
    Ok((medians[0], chunks))
}

/// One verified run: its seconds and chunks.
fn once<R: Runner + ?Sized>(runner: &R, request: &SumRequest<'_>) -> Result<(f64, u64), Failure> {
    let report = request.run(runner)?;
    let report: &SumReport = report.borrow();
    Ok((report.elapsed.as_secs_f64(), report.chunks))
}

type Timed<'a> = &'a dyn Fn() -> Result<(f64, u64), Failure>;

/// Each of `runs` once uncounted, then all of them in turn, the order reversed every other
/// round (so that they meet the same state of the machine, and none always follows another),
/// until their time adds up to [`ENOUGH`] each (after [`MIN_RUNS`] rounds) or [`MAX_RUNS`]
/// rounds: the median seconds of each, and the chunks of the first.
fn interleaved(runs: &[Timed<'_>]) -> Result<(Vec<f64>, u64), Failure> {
    let chunks = runs[0]()?.1;
    for r in &runs[1..] {
        r()?;
    }
    let mut times = vec![Vec::new(); runs.len()];
    let started = Instant::now();
    let enough = ENOUGH * runs.len() as u32;
    while times[0].len() < MIN_RUNS || (times[0].len() < MAX_RUNS && started.elapsed() < enough) {
        let mut order: Vec<usize> = (0..runs.len()).collect();
        if times[0].len() % 2 == 1 {
            order.reverse();
        }
        for i in order {
            times[i].push(runs[i]()?.0);
        }
    }
    Ok((times.into_iter().map(median).collect(), chunks))
}

struct Results {
    sizes: Vec<Row>,
    chunks: Vec<Row>,
    picks: Vec<Pick>,
}

fn measure_all(auto: &Auto, largest: u128) -> Result<Results, Failure> {
    let mut sizes = Vec::new();
    let mut chunk_rows = Vec::new();
    let axis = largest.min(CHUNK_AXIS_ELEMENTS);
    let backends = auto.backends();
    // A GPU left out of the comparison is said to be, with why (a forced CPU has none to leave).
    if !backends.iter().any(|b| b.info().kind == BackendKind::Gpu)
        && let Err(why @ parsum::Error::GpuUnavailable(_)) = auto.backend(BackendKind::Gpu)
    {
        out::note(&format!("note: the gpu is not compared: {why}"));
    }
    for &backend in &backends {
        let info = backend.info().clone();
        let mut n: u128 = 1_000;
        while n <= largest {
            let (seconds, chunks) = measure(backend, n, Chunking::Default)?;
            sizes.push(Row {
                info: info.clone(),
                elements: n,
                chunks,
                seconds,
            });
            if Duration::from_secs_f64(seconds * 10.0) > LONGEST_RUN {
                break;
            }
            n *= 10;
        }
        // A backend too slow for the chunk axis's elements in one chunk (judged from its largest
        // size) skips the axis.
        let largest_row = sizes.iter().rev().find(|r| r.info == info);
        if let Some(r) = largest_row
            && r.elements < axis
            && Duration::from_secs_f64((r.seconds * (axis / r.elements) as f64).min(1e9))
                > LONGEST_RUN * 2
        {
            continue;
        }
        // Time is elements + chunks × a chunk's cost: the cost of a chunk comes from the last two
        // counts, and a count whose run would take too long is skipped (with those after it).
        let mut measured: Vec<(u64, f64)> = Vec::new();
        for c in CHUNK_COUNTS.into_iter().filter(|&c| c as u128 <= axis) {
            if let [.., (c1, t1), (c2, t2)] = measured[..] {
                let per_chunk = ((t2 - t1) / (c2 - c1) as f64).max(0.0);
                let predicted = t2 + per_chunk * (c - c2) as f64;
                if Duration::from_secs_f64(predicted.min(1e9)) > LONGEST_RUN * 2 {
                    break;
                }
            }
            let (seconds, chunks) = measure(backend, axis, Chunking::Count(c))?;
            chunk_rows.push(Row {
                info: info.clone(),
                elements: axis,
                chunks,
                seconds,
            });
            measured.push((c, seconds));
        }
    }
    let mut ns: Vec<u128> = sizes.iter().map(|r| r.elements).collect();
    ns.sort();
    ns.dedup();
    // Auto itself at every size: what a caller of Auto gets, its choosing, recording and
    // re-checks included, timed in turn with the fastest backend (one of auto's own, so both
    // share threads and device): a ratio within one stretch of the machine's time.
    let mut picks = Vec::new();
    for n in ns {
        let here: Vec<&Row> = sizes.iter().filter(|r| r.elements == n).collect();
        let measured = backends.iter().filter_map(|b| {
            let row = here.iter().find(|r| r.info == *b.info())?;
            Some((b, row))
        });
        let Some((best, fastest)) = measured.min_by(|a, b| a.1.seconds.total_cmp(&b.1.seconds))
        else {
            continue;
        };
        let request =
            SumRequest::from_range(SumRange::from_bounds(0, n)?).cancel_on(&interrupt::STOP);
        let (m, _) = interleaved(&[&|| once(*best, &request), &|| once(auto, &request)])?;
        let (best_seconds, seconds) = (m[0], m[1]);
        let Some(picked) = auto.pick(n) else { continue };
        let pick_ratio = here
            .iter()
            .find(|r| r.info.kind == picked)
            .map(|r| fastest.seconds / r.seconds);
        picks.push(Pick {
            pick_ratio,
            elements: n,
            picked,
            fastest: fastest.info.kind,
            seconds,
            ratio: best_seconds / seconds,
        });
    }
    Ok(Results {
        sizes,
        chunks: chunk_rows,
        picks,
    })
}

/// Fails early, before minutes of measuring, when the plot cannot be written where asked.
fn check_plot_path(path: &Path) -> Result<(), Failure> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if path.is_dir() {
        return Err(Failure::Output(format!(
            "cannot write {}: it is a directory",
            path.display()
        )));
    }
    let why = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "is not a directory".to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".into(),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => "is under a file".into(),
        Err(e) => format!("cannot be reached ({e})"),
    };
    Err(Failure::Output(format!(
        "cannot write {}: {} {why}",
        path.display(),
        dir.display()
    )))
}

pub fn run(
    auto: &Auto,
    largest: Option<u128>,
    as_json: bool,
    plot: Option<&Path>,
) -> Result<(), Failure> {
    if let Some(path) = plot {
        check_plot_path(path)?;
    }
    // Not on to opening the GPU once Ctrl-C was pressed; nor on to printing.
    if interrupt::requested() {
        return Err(Failure::Interrupted);
    }
    let started = Instant::now();
    let results = measure_all(auto, largest.unwrap_or(1_000_000_000_000))?;
    if interrupt::requested() {
        return Err(Failure::Interrupted);
    }
    let took = started.elapsed().as_secs_f64();
    let text = if as_json {
        format!("{}\n", to_json(&results, took))
    } else {
        format!(
            "{}\n{}({took:.1} s; each cell the median of verified sums of 0..n; G = 10^9 elements/s)\n",
            table(&results.sizes, &results.picks),
            chunk_table(&results.chunks)
        )
    };
    // The results first: a plot that cannot be written must not lose them.
    out::print(&text)?;
    if let Some(path) = plot {
        crate::bench_plot::write(path, &results.sizes, &results.picks)
            .map_err(|e| Failure::Output(format!("cannot write {}: {e}", path.display())))?;
        if !as_json {
            out::note(&format!("plot written to {}", path.display()));
        }
    }
    Ok(())
}

fn per_chunk(rows: &[Row], r: &Row) -> Option<f64> {
    let one = rows
        .iter()
        .find(|o| o.info == r.info && o.chunks == 1)?
        .seconds;
    (r.chunks > 1).then(|| (r.seconds - one).max(0.0) / (r.chunks - 1) as f64)
}

fn to_json(r: &Results, took: f64) -> serde_json::Value {
    let row = |x: &Row| {
        json!({
            "backend": x.info.kind.as_str(),
            "kernel": &*x.info.kernel,
            "device": &*x.info.device,
            "elements": x.elements.to_string(),
            "chunks": x.chunks,
            "seconds": x.seconds,
            "elements_per_second": x.rate(),
        })
    };
    let chunks: Vec<_> = r
        .chunks
        .iter()
        .map(|x| {
            let mut v = row(x);
            v["seconds_per_chunk"] = json!(per_chunk(&r.chunks, x));
            v
        })
        .collect();
    let auto: Vec<_> = r
        .picks
        .iter()
        .map(|p| {
            json!({
                "elements": p.elements.to_string(),
                "picked": p.picked.as_str(),
                "fastest": p.fastest.as_str(),
                "seconds": p.seconds,
                "ratio": p.ratio,
                "pick_ratio": p.pick_ratio,
            })
        })
        .collect();
    json!({
        "rows": r.sizes.iter().map(row).collect::<Vec<_>>(),
        "chunks": chunks,
        "auto": auto,
        "seconds": took,
    })
}

fn backends(rows: &[Row]) -> Vec<&BackendInfo> {
    let mut kinds: Vec<&BackendInfo> = Vec::new();
    for r in rows {
        if !kinds.contains(&&r.info) {
            kinds.push(&r.info);
        }
    }
    kinds
}

fn table(rows: &[Row], picks: &[Pick]) -> String {
    let kinds = backends(rows);
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
    out += &format!(
        " {:>8} {:>8} {:>10} {:>10}\n",
        "fastest", "auto", "pick/best", "auto/best"
    );
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
        let ratio = format!("{:.0}%", p.ratio * 100.0);
        let pick_ratio = p
            .pick_ratio
            .map_or("—".to_string(), |r| format!("{:.0}%", r * 100.0));
        out += &format!(
            " {:>8} {:>8} {:>10} {:>10}\n",
            p.fastest.as_str(),
            p.picked.as_str(),
            pick_ratio,
            ratio
        );
    }
    out += "(speedup over scalar in brackets; auto = its pick after running; pick/best = the fastest \
            backend's time ÷ the picked one's; auto/best = the fastest backend's time ÷ auto's own, \
            the two run in turn after one uncounted run each, auto's choosing, recording and \
            re-checks included)\n";
    out
}

fn chunk_table(rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let kinds = backends(rows);
    let mut counts: Vec<u64> = rows.iter().map(|r| r.chunks).collect();
    counts.sort();
    counts.dedup();
    let head = format!("{:.0e} elements in", first.elements as f64);
    let mut grid = vec![
        std::iter::once(head)
            .chain(kinds.iter().map(|b| b.kind.to_string()))
            .collect::<Vec<_>>(),
    ];
    for c in counts {
        let mut line = vec![match c {
            1 => "1 chunk".to_string(),
            c => format!("{:.0e} chunks", c as f64),
        }];
        for b in &kinds {
            line.push(match rows.iter().find(|r| r.chunks == c && r.info == **b) {
                Some(r) => match per_chunk(rows, r) {
                    Some(k) => format!("{} ({}/chunk)", duration(r.seconds), duration(k)),
                    None => duration(r.seconds),
                },
                None => "—".into(),
            });
        }
        grid.push(line);
    }
    // Columns as wide as their widest cell (Rust pads by characters: "µ" and "—" count one).
    let width = |i: usize| grid.iter().map(|l| l[i].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..grid[0].len()).map(width).collect();
    let mut out = String::new();
    for line in &grid {
        let cells: Vec<String> = (line.iter().zip(&widths))
            .map(|(cell, w)| format!("{cell:>w$}"))
            .collect();
        out += &cells.join("  ");
        out += "\n";
    }
    out += "(per chunk: the time above the one-chunk sum ÷ the extra chunks)\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use parsum::{Scalar, Simd};

    #[test]
    fn the_chunk_table_lines_up_and_names_sub_nanosecond_costs() {
        let backends = (Scalar::new(), Simd::new());
        let (scalar, simd) = (backends.0.info(), backends.1.info());
        let row = |info: &BackendInfo, chunks, seconds| Row {
            info: info.clone(),
            elements: 1_000_000_000,
            chunks,
            seconds,
        };
        let rows = [
            row(scalar, 1, 0.5),
            // 0.5 ns a chunk: a cost, yet under a nanosecond.
            row(scalar, 10_000, 0.5 + 5e-6),
            row(simd, 1, 2e-7),
            row(simd, 10_000, 0.0123),
        ];
        let text = chunk_table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("        1 chunk"), "{text}");
        assert!(lines[1].ends_with("200 ns"), "{text}");
        assert!(lines[2].contains("500 ms (<1 ns/chunk)"), "{text}");
        assert!(lines[2].ends_with("12.3 ms (1.23 µs/chunk)"), "{text}");
        // Every row of the table as wide as the header, in characters.
        let width = |l: &str| l.chars().count();
        assert!(
            lines[..3].iter().all(|l| width(l) == width(lines[0])),
            "{text}"
        );
    }
}
