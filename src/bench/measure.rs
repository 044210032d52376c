//! `ipc-bench` as a whole. The notes' two claims, shared memory "very fast" (B1) and message
//! passing "inefficient as it requires OS intervention" (B2), measured on this machine: the
//! floor, then latency, then throughput (as asked), each mode's rows printed as they come, then
//! the latency chart.
//!
//! Lab sheet: `docs/06-measuring.md`, "How ipc-bench measures".

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::formats::{Format, Output};
use super::{
    MAX_SAMPLES, Mech, Mode, Pin, Row, Settings, explain, floor, latency, plot, throughput,
};
use crate::sys::Termination;
use crate::ui::{Ui, UsageError};

/// What `ipc-bench` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// What to measure, in this order.
    pub modes: Vec<Mode>,
    /// The mechanisms, in this order (none: all of them); repeats are measured once.
    pub mechs: Vec<Mech>,
    /// Message sizes in bytes; repeats are measured once.
    pub sizes: Vec<usize>,
    /// Where the two processes run; repeats are measured once.
    pub pins: Vec<Pin>,
    /// Timed round trips (latency) or messages (throughput) per row; None: the mode's default.
    pub count: Option<u64>,
    /// Round trips or messages before timing starts; None: a tenth of the count.
    pub warmup: Option<u64>,
    /// Small counts: for CI and a first look.
    pub quick: bool,
    pub format: Format,
    /// Also draw the latency chart into this SVG file.
    pub plot: Option<PathBuf>,
}

/// `items` in their order, each once.
fn dedup<T: PartialEq + Copy>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// What one mode runs: each mode has its own default count (smaller with `--quick`).
pub(super) fn settings(args: &Args, mode: Mode) -> Settings {
    let default = match (mode, args.quick) {
        (Mode::Latency, false) => 10_000,
        (Mode::Latency, true) => 300,
        (Mode::Throughput, false) => 20_000,
        (Mode::Throughput, true) => 1_000,
        (Mode::Floor, false) => 200_000,
        (Mode::Floor, true) => 4_000,
    };
    let count = args.count.unwrap_or(default);
    let mechs = if args.mechs.is_empty() {
        Mech::ALL.to_vec()
    } else {
        dedup(args.mechs.iter().copied())
    };
    let pins = dedup(args.pins.iter().copied());
    Settings {
        mechs,
        sizes: dedup(args.sizes.iter().copied()),
        pins,
        count,
        warmup: args.warmup.unwrap_or(count / 10),
    }
}

/// `ipc-bench`: the modes asked for, in order, each row printed as it comes (the table at the
/// end of each mode), then the chart. A termination signal ends the run by the signal, once the
/// child is reaped and the rows measured so far are printed.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let term = Termination::install()?;
    if let Some(plot) = &args.plot {
        plot::check_option(plot, &args.modes)?;
    }
    if let Some(count) = args.count {
        if count > MAX_SAMPLES && args.modes.contains(&Mode::Latency) {
            return Err(UsageError(format!(
                "--count {count}: latency keeps every round trip's time (8 bytes each), so it takes at most {MAX_SAMPLES}; throughput and floor take up to 100000000"
            ))
            .into());
        }
    }
    let modes: &[Mode] = &args.modes;
    let mut out = Output::new(args.format);
    out.header(ui, &machine(), args, modes)?;
    settle();
    let mut latency_rows = Vec::new();
    for (step, &mode) in (1..).zip(modes) {
        let s = settings(args, mode);
        explain::plan(ui, mode, &s, step);
        out.begin(mode, &s)?;
        // A row that cannot be printed (stdout closed) ends the run there.
        let mut each = |row: &Row| out.row(row);
        let result = match mode {
            Mode::Latency => latency::run(&s, &mut each),
            Mode::Throughput => throughput::run(&s, &mut each),
            Mode::Floor => floor::run(&s, &mut each),
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
        plot::latency_svg(plot, &latency_rows, &machine())?;
        ui.note(&format!("latency chart written to {}", plot.display()));
    }
    Ok(())
}

/// The longest a run waits for the machine to settle before it measures.
const SETTLE: Duration = Duration::from_millis(300);

/// Wait, [`SETTLE`] at the most, until no other process is running (two looks in a row, 2 ms
/// apart, or a termination signal). A process that starts with this one, such as the program
/// reading its output in a pipeline (`ipc-bench --format json | jq`), would otherwise take a
/// CPU from the first measurement, and the figures would show it, not the mechanism. A machine
/// that stays busy is not waited for longer: the figures are then what it gives.
fn settle() {
    let start = Instant::now();
    let mut quiet = 0;
    while quiet < 2 && start.elapsed() < SETTLE && crate::sys::termination_received().is_none() {
        match crate::sys::running_now() {
            Some(n) if n <= 1 => quiet += 1,
            Some(_) => quiet = 0,
            None => return,
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One line about the machine: kernel, architecture, CPUs and their model.
fn machine() -> String {
    let uname = nix::sys::utsname::uname().ok();
    let kernel = uname.as_ref().map_or_else(
        || "unknown kernel".to_string(),
        |u| {
            format!(
                "{} {} {}",
                u.sysname().to_string_lossy(),
                u.release().to_string_lossy(),
                u.machine().to_string_lossy()
            )
        },
    );
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cpus = crate::sys::allowed_cpus().len();
    format!(
        "{kernel}, {cpus} CPU{} usable ({} online), {model}",
        if cpus == 1 { "" } else { "s" },
        crate::sys::online_cpus()
    )
}
