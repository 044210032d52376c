//! How the rows are printed: a table with a bar per row (printed at the end of each mode, as
//! the bars need the whole table's range), one JSON object per line, or CSV with a header line.
//! The data formats keep stdout to data: their header goes to stderr.

#![forbid(unsafe_code)]

use super::floor::floor_ops;
use super::measure::{Args, settings};
use super::{Mode, Pin, Row, Settings};
use crate::ui::{Ui, out_line};

/// How the rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns with a bar per row.
    Table,
    /// One JSON object per line.
    Json,
    /// Comma-separated values with a header line.
    Csv,
}

/// How the rows are printed, and the table's pending rows (the bars need the whole table).
pub(super) struct Output {
    format: Format,
    pending: Vec<Row>,
}

impl Output {
    pub(super) fn new(format: Format) -> Output {
        Output {
            format,
            pending: Vec::new(),
        }
    }

    pub(super) fn header(
        &self,
        ui: &Ui,
        machine: &str,
        args: &Args,
        modes: &[Mode],
    ) -> anyhow::Result<()> {
        let describe = |m: Mode| {
            let s = settings(args, m);
            match m {
                Mode::Latency => {
                    format!("latency {} round trips after {} warm-up", s.count, s.warmup)
                }
                Mode::Throughput => {
                    format!("throughput {} messages after {} warm-up", s.count, s.warmup)
                }
                Mode::Floor => format!("floor {} operations", floor_ops(s.count)),
            }
        };
        let what: Vec<String> = modes.iter().map(|m| describe(*m)).collect();
        let s = settings(args, Mode::Latency);
        let pins: Vec<&str> = s.pins.iter().map(|p| p.name()).collect();
        let line1 = format!("ipc-bench: {machine}");
        // Floor runs in one process: placing two means nothing to it.
        let pin = if modes == [Mode::Floor] {
            String::new()
        } else {
            format!("; pin {}", pins.join(","))
        };
        let line2 = format!(
            "settings: {}{pin}{}",
            what.join("; "),
            if args.quick {
                "; --quick: rough figures"
            } else {
                ""
            }
        );
        match self.format {
            Format::Table => {
                out_line(format_args!("{line1}"))?;
                out_line(format_args!("{line2}"))?;
            }
            // Data formats keep stdout to data: the header goes to stderr.
            Format::Json | Format::Csv => {
                ui.note(machine);
                ui.note(&line2);
            }
        }
        if self.format == Format::Csv {
            out_line(format_args!(
                "mech,mode,size,count,pin,min_ns,median_ns,p99_ns,p999_ns,mean_ns,msgs_per_s,mb_per_s,cpu_ns_per_msg,unsupported"
            ))?;
        }
        Ok(())
    }

    pub(super) fn begin(&mut self, mode: Mode, _s: &Settings) -> anyhow::Result<()> {
        if self.format != Format::Table {
            return Ok(());
        }
        out_line(format_args!(""))?;
        match mode {
            Mode::Latency => {
                out_line(format_args!(
                    "latency: one round trip (there and back), in µs; cpu: CPU time of both processes per round trip"
                ))?;
                out_line(format_args!(
                    "{:<9} {:<5} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
                    "mech", "pin", "size", "min", "median", "p99", "p99.9", "mean", "cpu"
                ))?;
            }
            Mode::Throughput => {
                out_line(format_args!(
                    "throughput: a one-way stream, each message copied out; cpu: CPU time of both processes per message, in µs"
                ))?;
                out_line(format_args!(
                    "{:<9} {:<5} {:>6} {:>11} {:>9} {:>8}",
                    "mech", "pin", "size", "msgs/s", "MB/s", "cpu"
                ))?;
            }
            Mode::Floor => {
                out_line(format_args!(
                    "floor: what no IPC can beat, one process, in ns per operation (batches of many)"
                ))?;
                out_line(format_args!(
                    "{:<9} {:>6} {:>8} {:>8} {:>8} {:>8}",
                    "what", "size", "min", "median", "p99", "mean"
                ))?;
            }
        }
        Ok(())
    }

    pub(super) fn row(&mut self, row: &Row) -> anyhow::Result<()> {
        match self.format {
            Format::Table => {
                // The bars need the table's range: print at the end of the mode.
                self.pending.push(row.clone());
                Ok(())
            }
            Format::Json => out_line(format_args!("{}", json(row))),
            Format::Csv => out_line(format_args!("{}", csv(row))),
        }
    }

    pub(super) fn end(&mut self) -> anyhow::Result<()> {
        if self.format != Format::Table {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let key = |r: &Row| match r.mode {
            Mode::Throughput => r.mb_per_s,
            _ => r.stats.map(|s| s.median),
        };
        let hi = rows
            .iter()
            .filter_map(key)
            .filter(|v| *v > 0.0)
            .fold(0.0, f64::max);
        for r in &rows {
            let bar = key(r).map_or(String::new(), |v| bar(v, hi));
            let pin = r.pin.map_or("", Pin::name);
            let line = if let Some(why) = &r.unsupported {
                if r.mode == Mode::Floor {
                    format!("{:<9} {:>6}  not measured: {why}", r.what, size_text(r))
                } else {
                    format!(
                        "{:<9} {:<5} {:>6}  not measured: {why}",
                        r.what,
                        pin,
                        size_text(r)
                    )
                }
            } else {
                match r.mode {
                    Mode::Latency => {
                        let s = r.stats.expect("a measured latency row has statistics");
                        let us = |ns: f64| format!("{:.2}", ns / 1e3);
                        // Too few samples for a percentile above the slowest one: "-".
                        let shown = |v: Option<f64>| v.map_or("-".to_string(), us);
                        format!(
                            "{:<9} {:<5} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {bar}",
                            r.what,
                            pin,
                            size_text(r),
                            us(s.min),
                            us(s.median),
                            shown(s.p99_shown()),
                            shown(s.p999_shown()),
                            us(s.mean),
                            r.cpu_ns_per_msg.map_or(String::new(), us),
                        )
                    }
                    Mode::Throughput => format!(
                        "{:<9} {:<5} {:>6} {:>11.0} {:>9.0} {:>8}  {bar}",
                        r.what,
                        pin,
                        r.size,
                        r.msgs_per_s.unwrap_or(0.0),
                        r.mb_per_s.unwrap_or(0.0),
                        r.cpu_ns_per_msg
                            .map_or(String::new(), |ns| format!("{:.2}", ns / 1e3)),
                    ),
                    Mode::Floor => {
                        let s = r.stats.expect("a measured floor row has statistics");
                        format!(
                            "{:<9} {:>6} {:>8.1} {:>8.1} {:>8} {:>8.1}  {bar}",
                            r.what,
                            size_text(r),
                            s.min,
                            s.median,
                            s.p99_shown().map_or("-".to_string(), |v| format!("{v:.1}")),
                            s.mean
                        )
                    }
                }
            };
            out_line(format_args!("{}", line.trim_end()))?;
        }
        Ok(())
    }
}

fn size_text(r: &Row) -> String {
    if r.size == 0 {
        "-".into()
    } else {
        r.size.to_string()
    }
}

/// A bar from 1 to 30 cells, on a log scale: the table's highest value `hi` gets 30 cells,
/// and every tenfold below it 10 fewer, so that equal figures get equal bars whatever the
/// other rows (three decades below `hi` and under, 1 cell).
fn bar(v: f64, hi: f64) -> String {
    let cells = if v > 0.0 && hi > 0.0 {
        30.0 - 10.0 * (hi / v).log10()
    } else {
        1.0
    };
    "█".repeat(cells.round().clamp(1.0, 30.0) as usize)
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn fields(r: &Row) -> Vec<(&'static str, Option<String>)> {
    let num = |v: Option<f64>| v.map(|v| format!("{v:.1}"));
    vec![
        ("mech", Some(json_str(&r.what))),
        ("mode", Some(json_str(r.mode.name()))),
        ("size", Some(r.size.to_string())),
        (
            "count",
            (r.unsupported.is_none()).then(|| r.count.to_string()),
        ),
        ("pin", r.pin.map(|p| json_str(p.name()))),
        ("min_ns", num(r.stats.map(|s| s.min))),
        ("median_ns", num(r.stats.map(|s| s.median))),
        ("p99_ns", num(r.stats.and_then(|s| s.p99_shown()))),
        ("p999_ns", num(r.stats.and_then(|s| s.p999_shown()))),
        ("mean_ns", num(r.stats.map(|s| s.mean))),
        ("msgs_per_s", num(r.msgs_per_s)),
        ("mb_per_s", num(r.mb_per_s)),
        ("cpu_ns_per_msg", num(r.cpu_ns_per_msg)),
        ("unsupported", r.unsupported.as_deref().map(json_str)),
    ]
}

fn json(r: &Row) -> String {
    let parts: Vec<String> = fields(r)
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("\"{k}\":{v}")))
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn csv(r: &Row) -> String {
    let cell = |(_, v): (&str, Option<String>)| -> String {
        let Some(v) = v else { return String::new() };
        // JSON strings become CSV cells: unquote, then quote again where CSV needs it.
        match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(text) => {
                let text = text.replace("\\\"", "\"").replace("\\\\", "\\");
                if text.contains([',', '"', '\n']) {
                    format!("\"{}\"", text.replace('"', "\"\""))
                } else {
                    text
                }
            }
            None => v,
        }
    };
    fields(r)
        .into_iter()
        .map(cell)
        .collect::<Vec<_>>()
        .join(",")
}
