//! shm-master: the lecture notes' master program (section B1), and the options that show each of
//! its five steps. The lesson is src/shm/master.rs.

#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ipc_lab::cli::{self, Common, KeyArgs};
use ipc_lab::shm::{layout, master};
use ipc_lab::ui::Ui;

const ABOUT: &str = "Create a shared memory segment and wait for shm-slave to write values into it";

const AFTER_HELP: &str = "\
Lecture notes: B1 Shared Memory, the master program (steps 1 to 5).

With no options it prints on stdout what the notes' program prints, byte for byte, and exits \
with the same status. What it does differently from the notes' C master:
- The order: it attaches the segment and clears the ready flag (steps 2 and 3) before it \
prints \"Shared Memory Id = N\". The C master prints the id right after shmget, before it \
attaches, and clears the flag after that: a slave quick enough to write in between has its \
flag wiped, and that master waits for ever.
- The wait: it looks at the flag at once, then every --interval seconds (3 by default, as the \
C master's sleep(3)), with an acquire load where C reads a plain int. Like the C master, it \
does not wait for the slave to attach or to detach: the flag alone ends the wait (--inspect \
shows nattch at each look).
- Ctrl-C, SIGTERM or SIGHUP while it waits: it detaches and destroys the segment, then exits \
by the signal. The C master dies and leaves the segment behind (`ipcs -m` lists it).
- A failed attach: it destroys the segment it made; the C master exits and leaves it.
- The removal (step 5): a segment someone else removed already (`ipcrm`) is told on stderr, \
not a failure; any other failure to remove it is an error with exit status 1, where the C \
master ignores what shmctl returns and exits with 0.
- Each line of stdout is written at once, into a pipe too (the C master's id line waits in \
stdio's buffer there until it exits).
- On a failure it adds `error:` and `hint:` lines on stderr to the C master's one line.

Examples:
  shm-master                      the notes' program: prints the id, looks at the flag every 3 s
  shm-master --explain --inspect  narrate each step and show the segment's status
  shm-master --interval 0.2 --timeout 60 --count 5
  shm-master --key 0x1234         a known key instead of IPC_PRIVATE (shm-slave --key 0x1234)
  shm-master --remove-early       mark for destruction at once: nothing leaks, even on SIGKILL

Then, in a second terminal: shm-slave (type the id and the values), or shm-slave ID V1 V2 V3.";

#[derive(Debug, Parser)]
#[command(name = "shm-master", version, about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    /// Seconds between two looks at the ready flag (fractions allowed)
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = cli::parse_seconds)]
    interval: Duration,

    /// Give up after SECS without a slave: error, segment destroyed, exit 1
    #[arg(long, value_name = "SECS", value_parser = cli::parse_seconds)]
    timeout: Option<Duration>,

    /// How many values to read after the flag (1 to 9: the 40-byte segment holds 9)
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..=layout::MAX_VALUES as i64))]
    count: u8,

    #[command(flatten)]
    naming: KeyArgs,

    /// Permission bits of the segment, in octal
    #[arg(long, value_name = "OCTAL", default_value = "600", value_parser = cli::parse_perms)]
    perms: u32,

    /// Show the segment's status on stderr after each step and whenever nattch changes
    #[arg(long)]
    inspect: bool,

    /// Mark the segment for destruction right after attaching (step 5 early): it lives while
    /// attached and vanishes with the last detach, even if this process is killed
    #[arg(long)]
    remove_early: bool,

    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    let args: Args = ipc_lab::cli::parse_args();
    let ui = Ui::new("shm-master", args.common.color, args.common.explain);
    ui.finish(run(&args, &ui))
}

fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let key = args.naming.resolve(ui)?;
    master::run(
        &master::Args {
            key,
            interval: args.interval,
            timeout: args.timeout,
            count: usize::from(args.count),
            perms: args.perms,
            inspect: args.inspect,
            remove_early: args.remove_early,
        },
        ui,
    )
}
