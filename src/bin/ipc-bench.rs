//! ipc-bench: measure the notes' speed claims (sections B1 and B2) on this machine: round-trip
//! latency, streaming throughput and the physical floor, for shared memory, pipes, sockets,
//! message queues and signals, with the two processes on one CPU or on two.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use ipc_lab::bench::{self, Mech, Mode, Pin, Row, Settings};
use ipc_lab::cli::Common;
use ipc_lab::sys::Termination;
use ipc_lab::ui::{Ui, UsageError, out_line};

const ABOUT: &str =
    "Measure IPC: latency, throughput and the floor, per mechanism and CPU placement";

const AFTER_HELP: &str = "\
Lecture notes: B1 (shared memory is \"very fast\": the kernel is involved only at set-up) and B2
(message passing is \"inefficient\": a system call for every send and receive). Measure both.

Two processes (a parent and a forked child) exchange messages; every message is copied in and
out, as write and read do. Where they run decides the figures: on one CPU (--pin same) they take
turns; on two (--pin cross) every message must wake the other CPU.

Examples:
  ipc-bench --quick                         a first look: every mode, small counts
  ipc-bench latency --mech pipe,shm-spin    round trips, both placements
  ipc-bench throughput --size 4096 --pin none
  ipc-bench floor                           what no IPC can beat
  ipc-bench latency --format json           one JSON object per line
  ipc-bench latency --quick --plot lat.svg  a chart: latency per mechanism, log scale";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    /// Ping-pong: every round trip timed
    Latency,
    /// A one-way stream, one acknowledgement at the end
    Throughput,
    /// A clock read, a null system call, a pipe inside one process, memcpy
    Floor,
    /// All three
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Aligned columns with a bar per row
    Table,
    /// One JSON object per line
    Json,
    /// Comma-separated values with a header line
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PinChoice {
    None,
    Same,
    Cross,
    /// none, same and cross
    All,
}

#[derive(Debug, Parser)]
#[command(name = "ipc-bench", version, about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    /// What to measure
    #[arg(value_enum, default_value_t = Which::All)]
    mode: Which,

    /// Mechanisms, comma-separated (default: all)
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST")]
    mech: Vec<Mech>,

    /// Message sizes in bytes, comma-separated (1 to 16777216)
    #[arg(long, value_delimiter = ',', value_name = "LIST", default_value = "64,4096,65536",
          value_parser = parse_size)]
    size: Vec<usize>,

    /// Where the two processes run, comma-separated: none (the scheduler decides), same (one
    /// CPU), cross (two CPUs), all
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "LIST",
        default_value = "same,cross"
    )]
    pin: Vec<PinChoice>,

    /// Timed round trips (latency) or messages (throughput) per row [default: 10000 and
    /// 20000; --quick: 300 and 1000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    count: Option<u64>,

    /// Round trips or messages before timing starts [default: a tenth of the count]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    warmup: Option<u64>,

    /// Small counts: for CI and a first look (figures are rougher)
    #[arg(long)]
    quick: bool,

    /// How to print the results
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Table)]
    format: Format,

    /// Also draw the latency per mechanism (log scale, one bar per placement) into this SVG file
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,

    #[command(flatten)]
    common: Common,
}

fn parse_size(text: &str) -> Result<usize, String> {
    let n: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a size in bytes such as 64 or 4096, got {text:?}"))?;
    if n == 0 || n > bench::MAX_SIZE {
        return Err(format!(
            "expected a size from 1 to {} bytes, got {text:?}",
            bench::MAX_SIZE
        ));
    }
    Ok(n)
}

fn main() -> ExitCode {
    let args: Args = ipc_lab::cli::parse_args();
    let ui = Ui::new("ipc-bench", args.common.color, args.common.explain);
    ui.finish(run(&args, &ui))
}

fn dedup<T: PartialEq + Copy>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn settings(args: &Args, mode: Mode) -> Settings {
    let default = match (mode, args.quick) {
        (Mode::Latency, false) => 10_000,
        (Mode::Latency, true) => 300,
        (Mode::Throughput, false) => 20_000,
        (Mode::Throughput, true) => 1_000,
        (Mode::Floor, false) => 200_000,
        (Mode::Floor, true) => 4_000,
    };
    let count = args.count.unwrap_or(default);
    let mechs = if args.mech.is_empty() {
        Mech::ALL.to_vec()
    } else {
        dedup(args.mech.iter().copied())
    };
    let pins = dedup(args.pin.iter().flat_map(|p| match p {
        PinChoice::None => vec![Pin::None],
        PinChoice::Same => vec![Pin::Same],
        PinChoice::Cross => vec![Pin::Cross],
        PinChoice::All => vec![Pin::None, Pin::Same, Pin::Cross],
    }));
    Settings {
        mechs,
        sizes: dedup(args.size.iter().copied()),
        pins,
        count,
        warmup: args.warmup.unwrap_or(count / 10),
    }
}

fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let term = Termination::install()?;
    if let Some(plot) = &args.plot {
        if args.mode == Which::Throughput || args.mode == Which::Floor {
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
                ipc_lab::sys::io_error("open", e)
            ))
            .into());
        }
    }
    if let Some(count) = args.count
        && count > bench::MAX_SAMPLES
        && matches!(args.mode, Which::Latency | Which::All)
    {
        return Err(UsageError(format!(
            "--count {count}: latency keeps every round trip's time (8 bytes each), so it takes at most {}; throughput and floor take up to 100000000",
            bench::MAX_SAMPLES
        ))
        .into());
    }
    let modes: &[Mode] = match args.mode {
        Which::Latency => &[Mode::Latency],
        Which::Throughput => &[Mode::Throughput],
        Which::Floor => &[Mode::Floor],
        Which::All => &[Mode::Floor, Mode::Latency, Mode::Throughput],
    };
    let mut out = Output::new(args.format);
    out.header(ui, &bench::machine(), args, modes)?;
    let mut latency_rows = Vec::new();
    for (step, &mode) in (1..).zip(modes) {
        let s = settings(args, mode);
        explain(ui, mode, &s, step);
        out.begin(mode, &s)?;
        // A row that cannot be printed (stdout closed) ends the run there.
        let mut each = |row: &Row| out.row(row);
        let result = match mode {
            Mode::Latency => bench::latency(&s, &mut each),
            Mode::Throughput => bench::throughput(&s, &mut each),
            Mode::Floor => bench::floor(&s, &mut each),
        };
        if term.received().is_some() {
            // The rows measured so far in this mode are still worth seeing.
            let _ = out.end();
            ui.note("stopped: the child process is reaped, and nothing the run made is left");
            return Err(term.interrupted());
        }
        let rows = result?;
        out.end()?;
        if mode == Mode::Latency {
            latency_rows = rows;
        }
    }
    if let Some(plot) = &args.plot {
        ipc_lab::bench::plot::latency_svg(plot, &latency_rows, &bench::machine())?;
        ui.note(&format!("latency chart written to {}", plot.display()));
    }
    Ok(())
}

/// `--explain`: how a mode's rows are measured, before they are.
fn explain(ui: &Ui, mode: Mode, s: &Settings, step: u32) {
    if !ui.explaining() {
        return;
    }
    match mode {
        Mode::Floor => {
            ui.step(
                step,
                "floor: one process, no IPC: what no mechanism can beat",
            );
            for line in bench::floor_recipe() {
                ui.meaning(&line);
            }
        }
        Mode::Latency | Mode::Throughput => {
            let what = if mode == Mode::Latency {
                "round trips, each timed"
            } else {
                "messages streamed one way, timed as a whole"
            };
            ui.step(
                step,
                &format!(
                    "{mode}: {} {what}, after {} warm-up, for each placement, mechanism and size",
                    s.count, s.warmup
                ),
            );
            for &pin in &s.pins {
                ui.meaning(&bench::placement(pin));
            }
            let size = s.sizes.first().copied().unwrap_or(64);
            for &mech in &s.mechs {
                if mode == Mode::Throughput && !mech.carries_data() {
                    continue;
                }
                ui.meaning(&format!(
                    "{mech} ({} bytes here):",
                    if mech.carries_data() { size } else { 0 }
                ));
                for line in bench::recipe(mech, mode, size) {
                    match line.strip_prefix("- ") {
                        Some(sentence) => ui.meaning(&format!("  {sentence}")),
                        None => ui.act(&format!("  {line}")),
                    }
                }
            }
        }
    }
}

/// How the rows are printed, and the table's pending rows (the bars need the whole table).
struct Output {
    format: Format,
    pending: Vec<Row>,
}

impl Output {
    fn new(format: Format) -> Output {
        Output {
            format,
            pending: Vec::new(),
        }
    }

    fn header(&self, ui: &Ui, machine: &str, args: &Args, modes: &[Mode]) -> anyhow::Result<()> {
        let describe = |m: Mode| {
            let s = settings(args, m);
            match m {
                Mode::Latency => {
                    format!("latency {} round trips after {} warm-up", s.count, s.warmup)
                }
                Mode::Throughput => {
                    format!("throughput {} messages after {} warm-up", s.count, s.warmup)
                }
                Mode::Floor => format!("floor {} operations", bench::floor_ops(s.count)),
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

    fn begin(&mut self, mode: Mode, _s: &Settings) -> anyhow::Result<()> {
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

    fn row(&mut self, row: &Row) -> anyhow::Result<()> {
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

    fn end(&mut self) -> anyhow::Result<()> {
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
