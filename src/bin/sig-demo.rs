//! sig-demo: the lecture notes' signal program (section B4), a handler for SIGSEGV, and one
//! subcommand for each kind of signal the section names. Each subcommand is a lesson of
//! `ipc_lab::signal` (src/signal/), which this binary parses the command line for and runs.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ipc_lab::cli::{self, Common};
use ipc_lab::signal::{
    self, Fault, SigNum, fpe, list, list_pid, no_handler, pending, segv, send, threads,
    uncatchable, wait,
};
use ipc_lab::ui::{Ui, UsageError};

const ABOUT: &str =
    "Signals: the lecture notes' SIGSEGV handler, and every kind of signal they name";

const AFTER_HELP: &str = "\
Lecture notes: B4 Unix Signal: an asynchronous notification, handled by the default action or by
a handler of the program's own (for some signals only).

With no subcommand it is exactly the notes' program: it registers a handler for SIGSEGV, makes
an invalid memory access, and the handler prints `Memory access blows up!` and exits 1.

Examples:
  sig-demo                        the notes' program (exit 1)
  sig-demo segv --no-handler      the default action: killed by SIGSEGV (the shell shows 139)
  sig-demo fpe                    an arithmetic error: a real division by zero
  sig-demo wait                   prints its PID; signal it from another terminal
  sig-demo send 4242 USR1 --value 7   kill, or sigqueue with a value
  sig-demo uncatchable            SIGKILL and SIGSTOP refuse a handler
  sig-demo pending                blocked signals: standard ones do not queue, real-time ones do
  sig-demo threads                to the process: any one thread that does not block it runs the
                                  handler; pthread_kill picks the thread
  sig-demo list                   every signal, its default action, whether it can be caught
  sig-demo list --pid 4242        what process 4242 catches, blocks, ignores, has pending";

#[derive(Debug, Parser)]
#[command(name = "sig-demo", version, about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    fault: FaultArgs,

    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Clone, clap::Args)]
struct FaultArgs {
    /// No handler: the default action, which kills the process (and may dump core)
    #[arg(long)]
    no_handler: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The notes' program (the default): a SIGSEGV handler, then an invalid memory access
    Segv(FaultArgs),

    /// An arithmetic error: a handler for SIGFPE, then a real integer division by zero
    Fpe(FaultArgs),

    /// Print this process's PID, then report every signal it receives, with its sender
    Wait {
        /// Exit after N signals
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        count: Option<u32>,
    },

    /// Try to handle and to ignore SIGKILL and SIGSTOP, then show them on a child
    Uncatchable,

    /// Block a signal, send it N times, unblock: a standard signal arrives once, a real-time
    /// signal N times
    Pending {
        /// How many times to send each signal
        #[arg(long, value_name = "N", default_value_t = 5,
              value_parser = clap::value_parser!(u32).range(1..=100))]
        times: u32,
    },

    /// A signal to the process or to one thread: which thread runs the handler
    ///
    /// Two worker threads and the main thread share one handler for SIGUSR1. A signal sent to the
    /// process (kill) runs it in any one thread that does not block the signal; one sent to a
    /// thread (pthread_kill, tgkill in the kernel) runs it in that thread, and waits for that
    /// thread while it blocks the signal. Threads are named by number; --explain shows their
    /// kernel ids (tids).
    ///
    /// Lecture notes: B4 Unix Signal, "sent to a process or thread".
    ///
    /// Example: sig-demo --explain threads
    Threads,

    /// A table of the signals: number, name, default action, whether it can be caught
    List {
        /// Instead, show the signals process PID catches, blocks, ignores and has pending
        #[arg(long, value_name = "PID", value_parser = clap::value_parser!(i32).range(1..))]
        pid: Option<i32>,
    },

    /// Send SIGNAL to process PID: kill(2), or sigqueue(3) with --value
    Send {
        /// The process
        #[arg(value_parser = clap::value_parser!(i32).range(1..))]
        pid: i32,
        /// The signal: TERM, SIGUSR1, 10, RTMIN+1, ...
        #[arg(value_parser = signal::parse_signal)]
        signal: SigNum,
        /// Send it with this value (sigqueue); `sig-demo wait` shows it
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        value: Option<i32>,
    },
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    let ui = Ui::new("sig-demo", args.common.color, args.common.explain);
    // --no-handler belongs to the notes' program (or segv, fpe); --explain and --color go anywhere.
    if args.command.is_some() && args.fault.no_handler {
        return ui.finish(Err(UsageError(
            "--no-handler goes after segv or fpe (sig-demo segv --no-handler), or alone".into(),
        )
        .into()));
    }
    let result = match &args.command {
        None => fault(Fault::Segv, &args.fault, &ui),
        Some(Command::Segv(f)) => fault(Fault::Segv, f, &ui),
        Some(Command::Fpe(f)) => fault(Fault::Fpe, f, &ui),
        Some(Command::Wait { count }) => wait::run(&wait::Args { count: *count }, &ui),
        Some(Command::Uncatchable) => uncatchable::run(&uncatchable::Args {}, &ui),
        Some(Command::Pending { times }) => pending::run(&pending::Args { times: *times }, &ui),
        Some(Command::Threads) => threads::run(&threads::Args {}, &ui),
        Some(Command::List { pid: None }) => list::run(&list::Args {}, &ui),
        Some(Command::List { pid: Some(pid) }) => list_pid::run(&list_pid::Args { pid: *pid }, &ui),
        Some(Command::Send { pid, signal, value }) => send::run(
            &send::Args {
                pid: *pid,
                signal: *signal,
                value: *value,
            },
            &ui,
        ),
    };
    ui.finish(result)
}

/// The notes' program and its kin: a handler, or with --no-handler the default action.
fn fault(fault: Fault, args: &FaultArgs, ui: &Ui) -> anyhow::Result<()> {
    match (fault, args.no_handler) {
        (_, true) => no_handler::run(&no_handler::Args { fault }, ui),
        (Fault::Segv, false) => segv::run(&segv::Args {}, ui),
        (Fault::Fpe, false) => fpe::run(&fpe::Args {}, ui),
    }
}
