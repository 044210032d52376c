//! proc-demo: why processes need IPC (section A of the notes): they are isolated by default,
//! and cooperating ones can split work for a speedup, through a region they share on purpose;
//! and what a process is (section B's opening): its context, as /proc shows it. The lessons are
//! in `src/procs/`: `isolation.rs`, `speedup.rs`, `context.rs`.

#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ipc_lab::cli::{self, Common};
use ipc_lab::procs::{self, context, isolation, speedup};
use ipc_lab::ui::Ui;

const ABOUT: &str = "Processes are isolated by default; cooperating, they can split work";

const AFTER_HELP: &str = "\
Lecture notes: A. Motivation: processes \"are usually isolated from each other by default
(i.e. isolated memory space)\", so IPC is needed to share; one reason to cooperate is
\"computational speedup: good in systems supporting parallelism\".
B. Communication Mechanisms: a process has a \"memory region (address space), CPU state,
list of open files, resources like I/O devices\": it is \"an entire context in which a
program operates in\".

Examples:
  proc-demo isolation                 a child changes a plain variable and a shared one:
                                      the parent sees only the shared change
  proc-demo speedup                   count primes with 1, 2 and 4 processes, timed
  proc-demo speedup --procs 1,2 --below 200000
  proc-demo context                   a child asleep in read on a pipe: its address space,
                                      saved CPU state, open files and limits, from /proc
  proc-demo context --hold 60         the same, then the child sleeps on for 60 s: look at
                                      /proc/PID yourself meanwhile";

#[derive(Debug, Parser)]
#[command(name = "proc-demo", version, about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    #[command(subcommand)]
    command: Command,

    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// fork, then the child writes a plain variable and a word of a shared segment; the parent
    /// reads both
    Isolation,

    /// Count the primes below a number with 1, 2, ... processes, each writing its count into a
    /// shared segment; time each against one process
    Speedup {
        /// How many processes to split the work over, comma-separated (1 to 64 each)
        #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "1,2,4",
              value_parser = clap::value_parser!(u32).range(1..=procs::MAX_PROCS as i64))]
        procs: Vec<u32>,

        /// Count the primes below this number (the work: more takes longer)
        #[arg(long, value_name = "N", default_value = "5000000",
              value_parser = clap::value_parser!(u64).range(2..=1_000_000_000))]
        below: u64,
    },

    /// Fork a child that sleeps in read on a pipe; show its context from /proc/PID (address
    /// space, CPU state saved at the system call, open files, limits); then release and reap it
    Context {
        /// Keep the child asleep this many seconds after the report, to look at /proc/PID
        #[arg(long, value_name = "SECONDS", value_parser = cli::parse_seconds)]
        hold: Option<Duration>,
    },
}

fn main() -> ExitCode {
    let args: Args = ipc_lab::cli::parse_args();
    let ui = Ui::new("proc-demo", args.common.color, args.common.explain);
    ui.finish(run(&args, &ui))
}

fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    match &args.command {
        Command::Isolation => isolation::run(&isolation::Args, ui),
        Command::Speedup { procs, below } => {
            let procs = procs.iter().map(|&p| p as usize).collect();
            speedup::run(
                &speedup::Args {
                    procs,
                    below: *below,
                },
                ui,
            )
        }
        Command::Context { hold } => context::run(&context::Args { hold: *hold }, ui),
    }
}
