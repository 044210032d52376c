//! The latency chart (`--plot FILE.svg`): median round trip per mechanism, log scale, a bar per
//! CPU placement, drawn with plotters into an SVG file.
//!
//! Lab sheet: `docs/06-measuring.md`, "The chart: --plot".

#![forbid(unsafe_code)]

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Mode, Pin, Row};
use crate::ui::UsageError;

/// `--plot FILE`, looked at before any measuring: the chart draws latency, so latency must be
/// among `modes`; the file is SVG; and it can be written there.
pub(super) fn check_option(plot: &Path, modes: &[Mode]) -> anyhow::Result<()> {
    if !modes.contains(&Mode::Latency) {
        return Err(UsageError(
            "--plot draws latency: measure latency (ipc-bench latency or all)".into(),
        )
        .into());
    }
    if plot.extension().is_none_or(|e| e != "svg") {
        return Err(UsageError(format!(
            "--plot writes SVG: give a file name ending in .svg, not {}",
            plot.display()
        ))
        .into());
    }
    // Found out now, not after minutes of measuring: a file that exists must be writable;
    // one that does not is made and removed again (which finds a missing or read-only
    // directory, a file in place of a directory, a name too long, ...).
    let probe = match std::fs::metadata(plot) {
        Ok(meta) if meta.is_dir() => Err(std::io::Error::from_raw_os_error(libc::EISDIR)),
        Ok(_) => std::fs::OpenOptions::new()
            .append(true)
            .open(plot)
            .map(drop),
        Err(_) => std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(plot)
            .and_then(|_| std::fs::remove_file(plot)),
    };
    if let Err(e) = probe {
        return Err(UsageError(format!(
            "--plot {}: cannot write the chart there: {}",
            plot.display(),
            crate::sys::io_error("open", e)
        ))
        .into());
    }
    Ok(())
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the chart: {e}")
}

/// A figure in µs as a student reads it: 0.22, 4.9, 39, 120.
fn figure(us: f64) -> String {
    if us < 1.0 {
        format!("{us:.2}")
    } else if us < 10.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.0}")
    }
}

/// Median round-trip latency per mechanism (bars, log scale) with a whisker to p99, one bar
/// per CPU placement, for the smallest message size measured (signals carry none).
pub(super) fn latency_svg(
    path: &std::path::Path,
    rows: &[Row],
    machine: &str,
) -> anyhow::Result<()> {
    let measured: Vec<&Row> = rows.iter().filter(|r| r.stats.is_some()).collect();
    anyhow::ensure!(
        !measured.is_empty(),
        "no latency was measured: nothing to draw"
    );
    let size = measured
        .iter()
        .filter(|r| r.size > 0)
        .map(|r| r.size)
        .min()
        .unwrap_or(0);
    let chosen: Vec<&Row> = measured
        .into_iter()
        .filter(|r| r.size == size || r.size == 0)
        .collect();
    let mut mechs: Vec<&str> = Vec::new();
    let mut pins: Vec<Option<Pin>> = Vec::new();
    for r in &chosen {
        if !mechs.contains(&r.what.as_str()) {
            mechs.push(&r.what);
        }
        if !pins.contains(&r.pin) {
            pins.push(r.pin);
        }
    }
    let us = |ns: f64| ns / 1e3;
    let lo = chosen
        .iter()
        .filter_map(|r| r.stats.map(|s| us(s.min)))
        .fold(f64::INFINITY, f64::min);
    let hi = chosen
        .iter()
        .filter_map(|r| r.stats.map(|s| us(s.p99_shown().unwrap_or(s.median))))
        .fold(0.0, f64::max);
    // Room above the highest whisker for the legend, in the top-left corner: on a log
    // scale, a share of the height is a factor of the range.
    let (lo, top) = (lo.max(1e-3) / 2.0, hi * 1.3);
    let legend = (20.0 * pins.len() as f64 + 24.0) / 400.0;
    let hi = top * ((top / lo).ln() * legend / (1.0 - legend)).exp();

    // Write to a string first: a failure leaves no half-written file.
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 540)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let title = format!(
            "Round-trip latency, {} messages (median, whisker to p99; log scale)",
            if size > 0 {
                format!("{size}-byte")
            } else {
                "empty".into()
            }
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0f64..mechs.len() as f64, (lo..hi).log_scale())
            .map_err(err)?;
        let names = mechs.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(mechs.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 1e-6 && i < names.len() {
                    names[i].to_string()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| {
                let text = format!("{y:.2}");
                text.trim_end_matches('0').trim_end_matches('.').to_string()
            })
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .y_desc("µs per round trip")
            .x_desc(machine)
            .draw()
            .map_err(err)?;
        let palette = [
            RGBColor(70, 130, 180),
            RGBColor(230, 120, 40),
            RGBColor(90, 160, 90),
        ];
        let width = 0.8 / pins.len() as f64;
        for (k, pin) in pins.iter().enumerate() {
            let color = palette[k % palette.len()];
            let x0 = |r: &Row| {
                let i = mechs.iter().position(|m| *m == r.what).unwrap_or(0) as f64;
                i + 0.1 + k as f64 * width
            };
            let these: Vec<&&Row> = chosen.iter().filter(|r| r.pin == *pin).collect();
            chart
                .draw_series(these.iter().filter_map(|r| {
                    r.stats.map(|s| {
                        Rectangle::new(
                            [(x0(r), lo), (x0(r) + width * 0.9, us(s.median))],
                            color.filled(),
                        )
                    })
                }))
                .map_err(err)?
                .label(match pin {
                    Some(Pin::Same) => "both on one CPU (--pin same)",
                    Some(Pin::Cross) => "on two CPUs (--pin cross)",
                    _ => "where the scheduler puts them (--pin none)",
                })
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                });
            chart
                .draw_series(these.iter().filter_map(|r| {
                    let s = r.stats?;
                    let mid = x0(r) + width * 0.45;
                    let p99 = s.p99_shown()?;
                    Some(PathElement::new(
                        vec![(mid, us(s.median)), (mid, us(p99))],
                        BLACK,
                    ))
                }))
                .map_err(err)?;
            // The median, written inside the top of its bar.
            let inside = ("sans-serif", 14)
                .into_font()
                .color(&WHITE)
                .pos(Pos::new(HPos::Center, VPos::Top));
            chart
                .draw_series(these.iter().filter_map(|r| {
                    r.stats.map(|s| {
                        let mid = x0(r) + width * 0.45;
                        Text::new(figure(us(s.median)), (mid, us(s.median)), inside.clone())
                    })
                }))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    std::fs::write(path, svg)
        .map_err(|e| crate::sys::io_error("write", e))
        .map_err(|e| e.context(format!("cannot write the chart to {}", path.display())))
}
