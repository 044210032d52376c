//! ipc-bench: measure the notes' speed claims (sections B1 and B2) on this machine: round-trip
//! latency, streaming throughput and the physical floor, for shared memory, pipes, sockets,
//! message queues and signals, with the two processes on one CPU or on two. The lessons are in
//! `src/bench/`: `floor.rs`, `latency.rs`, `throughput.rs`.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use ipc_lab::bench::{self, Mech, Mode, Pin};
use ipc_lab::cli::Common;
use ipc_lab::ui::Ui;

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
    ui.finish(bench::run(&bench_args(&args), &ui))
}

/// The command line, in the library's terms.
fn bench_args(args: &Args) -> bench::Args {
    bench::Args {
        modes: match args.mode {
            Which::Latency => vec![Mode::Latency],
            Which::Throughput => vec![Mode::Throughput],
            Which::Floor => vec![Mode::Floor],
            Which::All => vec![Mode::Floor, Mode::Latency, Mode::Throughput],
        },
        mechs: args.mech.clone(),
        sizes: args.size.clone(),
        pins: args
            .pin
            .iter()
            .flat_map(|p| match p {
                PinChoice::None => vec![Pin::None],
                PinChoice::Same => vec![Pin::Same],
                PinChoice::Cross => vec![Pin::Cross],
                PinChoice::All => vec![Pin::None, Pin::Same, Pin::Cross],
            })
            .collect(),
        count: args.count,
        warmup: args.warmup,
        quick: args.quick,
        format: match args.format {
            Format::Table => bench::Format::Table,
            Format::Json => bench::Format::Json,
            Format::Csv => bench::Format::Csv,
        },
        plot: args.plot.clone(),
    }
}
