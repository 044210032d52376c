//! shm-slave: the lecture notes' slave program (section B1): attach the master's segment, write the
//! values, set the ready flag, detach. The lesson is src/shm/slave.rs.

#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ipc_lab::cli::{self, Common, KeyArgs};
use ipc_lab::shm::{layout, slave};
use ipc_lab::ui::Ui;

const ABOUT: &str = "Attach shm-master's shared memory segment and write values into it";

const AFTER_HELP: &str = "\
Lecture notes: B1 Shared Memory, the slave program (steps 1 to 4; step 5 is the master's).

With no arguments it asks for the id, then reads the values, from standard input, separated by
spaces or newlines, as the notes' program does with scanf. Whatever is given on the command line
is not read from standard input.

Examples:
  shm-slave                       exactly the notes' program: type the id, then 3 values
  shm-slave 32768 5 7 -9          id and values on the command line
  shm-slave --key 0x1234 5 7 -9   find the segment by key (shm-master --key 0x1234)
  shm-slave --explain --inspect 32768 5 7 -9
  shm-slave --check 32768 5 7 -9  refuse a segment another user could read or forge
  shm-slave --linger 10 32768 1 2 3   stay attached 10 s: watch `ipcs -m` meanwhile";

#[derive(Debug, Parser)]
#[command(name = "shm-slave", version, about = ABOUT, after_help = AFTER_HELP,
          allow_negative_numbers = true)]
struct Args {
    /// The segment id shm-master printed (with --key or --ftok: the first value)
    #[arg(value_name = "ID")]
    id: Option<String>,

    /// The values to write: whole numbers, negatives allowed (the rest are read from stdin)
    #[arg(value_name = "VALUE")]
    values: Vec<String>,

    /// How many values to write (1 to 9), as the master's --count
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..=layout::MAX_VALUES as i64))]
    count: u8,

    #[command(flatten)]
    naming: KeyArgs,

    /// Show the segment's status on stderr after each step
    #[arg(long)]
    inspect: bool,

    /// Before writing, check that the segment is the 40 bytes shm-master makes, belongs to
    /// you, and is closed to other users (mode 0600 or tighter); refuse to write otherwise
    #[arg(long)]
    check: bool,

    /// Stay attached for SECS after writing, before detaching (watch nattch with ipcs -m)
    #[arg(long, value_name = "SECS", value_parser = cli::parse_seconds)]
    linger: Option<Duration>,

    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    let args: Args = ipc_lab::cli::parse_args();
    let ui = Ui::new("shm-slave", args.common.color, args.common.explain);
    ui.finish(run(&args, &ui))
}

fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let key = args.naming.resolve(ui)?;
    slave::run(
        &slave::Args {
            key,
            id: args.id.clone(),
            values: args.values.clone(),
            count: usize::from(args.count),
            inspect: args.inspect,
            check: args.check,
            linger: args.linger,
            parse_id: cli::parse_ipc_id,
            parse_value: cli::parse_int,
        },
        ui,
    )
}
