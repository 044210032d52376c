//! shm-race: the notes' warning that shared memory needs synchronisation (section B1), shown:
//! lost updates on a shared counter and torn reads of a shared record, then both cured. The
//! lessons are in src/sync/: counter.rs, others.rs, join.rs, torn.rs.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use ipc_lab::cli::{self, Common};
use ipc_lab::shm::ShmId;
use ipc_lab::sync::{self, SyncMode, counter, join, others, torn};
use ipc_lab::ui::Ui;

const ABOUT: &str =
    "Processes racing on shared memory: lost updates and torn reads, then semaphores and atomics";

const AFTER_HELP: &str = "\
Lecture notes: B1 Shared Memory: \"no two processes performing a write at once, or data
corruption\"; shared memory is \"error prone\" without synchronisation.

Examples:
  shm-race counter                        2 processes add 1 to one counter 100000 times each:
                                          without synchronisation updates are lost
  shm-race counter --sync semaphore       the same, exact, with a System V semaphore
  shm-race counter --sync all             none, semaphore and atomic, timed, as a table
  shm-race counter --others 1             race a process in another terminal, which runs
  shm-race counter --join ID              (ID: the segment id the first one printed)
  shm-race torn                           a reader copies a record a writer is rewriting
  shm-race torn --sync semaphore          no torn copies";

#[derive(Debug, Parser)]
#[command(name = "shm-race", version, about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    #[command(subcommand)]
    command: Command,

    #[command(flatten)]
    common: Common,
}

/// `--sync`: one way, or all of them in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SyncChoice {
    /// No synchronisation: plain loads and stores
    None,
    /// A System V semaphore around each critical section (semop P and V)
    Semaphore,
    /// One atomic instruction per update (counter only: a record is more than one word)
    Atomic,
    /// Each that applies, in turn, as a table
    All,
}

impl SyncChoice {
    fn modes(self) -> Vec<SyncMode> {
        match self {
            SyncChoice::None => vec![SyncMode::None],
            SyncChoice::Semaphore => vec![SyncMode::Semaphore],
            SyncChoice::Atomic => vec![SyncMode::Atomic],
            SyncChoice::All => SyncMode::ALL.to_vec(),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// N processes each add 1 to one counter in a shared segment M times: expected, got, lost
    Counter(CounterArgs),

    /// A writer rewrites a record (7 equal fields and their sum) while a reader copies it out
    Torn(TornArgs),
}

#[derive(Debug, clap::Args)]
struct CounterArgs {
    /// How many processes race (forked here)
    #[arg(long, value_name = "N", default_value_t = 2, conflicts_with_all = ["others", "join"],
          value_parser = clap::value_parser!(u32).range(1..=i64::from(sync::MAX_PROCS)))]
    procs: u32,

    /// How many times each process adds 1
    #[arg(long, value_name = "M", default_value_t = 100_000, conflicts_with = "join",
          value_parser = clap::value_parser!(u64).range(1..=10_000_000_000))]
    increments: u64,

    /// How the processes synchronise: none, semaphore, atomic, or all three in turn
    #[arg(long, value_enum, value_name = "HOW", default_value_t = SyncChoice::None,
          conflicts_with = "join")]
    sync: SyncChoice,

    /// Race K processes started by hand in other terminals (`shm-race counter --join ID`);
    /// this one races too
    #[arg(long, value_name = "K", conflicts_with = "join",
          value_parser = clap::value_parser!(u32).range(1..i64::from(sync::MAX_PROCS)))]
    others: Option<u32>,

    /// Join the race whose segment id another terminal's `shm-race counter --others K`
    /// printed; its settings come from there
    #[arg(long, value_name = "ID", value_parser = cli::parse_ipc_id)]
    join: Option<i32>,

    /// Permission bits of the segment and the semaphore set, in octal
    #[arg(long, value_name = "OCTAL", default_value = "600", value_parser = cli::parse_perms,
          conflicts_with = "join")]
    perms: u32,
}

#[derive(Debug, clap::Args)]
struct TornArgs {
    /// How the writer and the reader synchronise: none, semaphore, or both in turn
    #[arg(long, value_enum, value_name = "HOW", default_value_t = SyncChoice::None)]
    sync: SyncChoice,

    /// How many copies the reader makes
    #[arg(long, value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000_000))]
    reads: u64,

    /// Permission bits of the segment and the semaphore set, in octal
    #[arg(long, value_name = "OCTAL", default_value = "600", value_parser = cli::parse_perms)]
    perms: u32,
}

fn main() -> ExitCode {
    let args: Args = ipc_lab::cli::parse_args();
    let ui = Ui::new("shm-race", args.common.color, args.common.explain);
    ui.finish(run(&args, &ui))
}

fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    match &args.command {
        Command::Counter(c) => match (c.join, c.others) {
            (Some(id), _) => join::run(
                &join::Args {
                    id: ShmId::from_raw(id),
                },
                ui,
            ),
            (None, Some(others)) => others::run(
                &others::Args {
                    syncs: c.sync.modes(),
                    others,
                    increments: c.increments,
                    perms: c.perms,
                },
                ui,
            ),
            (None, None) => counter::run(
                &counter::Args {
                    procs: c.procs,
                    increments: c.increments,
                    syncs: c.sync.modes(),
                    perms: c.perms,
                },
                ui,
            ),
        },
        Command::Torn(t) => torn::run(
            &torn::Args {
                syncs: t.sync.modes(),
                reads: t.reads,
                perms: t.perms,
            },
            ui,
        ),
    }
}
