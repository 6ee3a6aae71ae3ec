//! `--plot`: throughput against size, log-log, one line per backend, auto's picks marked.

use std::path::Path;

use plotters::prelude::*;

use crate::bench::{Pick, Row};

const COLOURS: [RGBColor; 5] = [RED, BLUE, GREEN, MAGENTA, CYAN];

/// Draws into memory, then writes the file: plotters' own file backend writes when it is dropped,
/// where a failed write (a full disk) is lost.
pub fn write(path: &Path, rows: &[Row], picks: &[Pick]) -> Result<(), Box<dyn std::error::Error>> {
    let mut svg = String::new();
    draw(&mut svg, rows, picks)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // Opened non-blocking: a FIFO nobody reads fails at once (ENXIO) instead of waiting for a
    // reader for good; one that is read (`--plot >(gzip > p.svg.gz)`) is then written to as
    // any file, blocking again.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ENXIO)
            && std::fs::metadata(path)
                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()))
        {
            return std::io::Error::other("a FIFO that nobody reads");
        }
        e
    })?;
    #[cfg(unix)]
    {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        let flags = OFlag::from_bits_truncate(fcntl(&file, FcntlArg::F_GETFL)?);
        fcntl(&file, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    }
    std::io::Write::write_all(&mut &file, svg.as_bytes())?;
    Ok(())
}

fn draw(svg: &mut String, rows: &[Row], picks: &[Pick]) -> Result<(), Box<dyn std::error::Error>> {
    let max_n = rows.iter().map(|r| r.elements).max().unwrap_or(1_000) as f64;
    let rates: Vec<f64> = rows.iter().map(Row::rate).collect();
    let (lo, hi) = rates
        .iter()
        .fold((f64::MAX, 1.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let root = SVGBackend::with_string(svg, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "parsum: throughput against size (auto's picks circled)",
            ("sans-serif", 22),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (1_000f64..max_n * 1.5).log_scale(),
            (lo.min(hi) / 2.0..hi * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("elements")
        .y_desc("elements per second")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .y_label_formatter(&|y| format!("{y:.0e}"))
        .draw()?;
    let mut seen: Vec<String> = Vec::new();
    for r in rows {
        let label = format!("{} ({})", r.info.kind, r.info.kernel);
        if !seen.contains(&label) {
            seen.push(label);
        }
    }
    for (i, label) in seen.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| format!("{} ({})", r.info.kind, r.info.kernel) == *label)
            .map(|r| (r.elements as f64, r.rate()))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        let picked: Vec<(f64, f64)> = picks
            .iter()
            .filter_map(|p| {
                rows.iter().find(|r| {
                    r.elements == p.elements
                        && r.info.kind == p.picked
                        && format!("{} ({})", r.info.kind, r.info.kernel) == *label
                })
            })
            .map(|r| (r.elements as f64, r.rate()))
            .collect();
        chart.draw_series(
            picked
                .iter()
                .map(|&p| Circle::new(p, 9, BLACK.stroke_width(2))),
        )?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}
