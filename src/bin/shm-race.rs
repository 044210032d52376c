//! shm-race: the notes' warning that shared memory needs synchronisation (section B1), shown:
//! lost updates on a shared counter and torn reads of a shared record, then both cured.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use ipc_lab::cli::{self, Common};
use ipc_lab::shm::{CreateOptions, ShmId};
use ipc_lab::sync::{self, CounterResult, Joined, Race, SyncMode, TornResult};
use ipc_lab::sys::Termination;
use ipc_lab::ui::{self, HintExt as _, Interrupted, Ui, UsageError, out_line};

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
    let term = Termination::install()?;
    match &args.command {
        Command::Counter(c) => match c.join {
            Some(id) => join(ui, &term, ShmId::from_raw(id)),
            None => counter(c, ui, &term),
        },
        Command::Torn(t) => torn(t, ui, &term),
    }
}

/// `3.10 ms`, `812 ms`, `15.5 ns`: three significant figures and a unit that fits.
fn human(d: Duration) -> String {
    human_ns(d.as_secs_f64() * 1e9)
}

fn human_ns(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let text = if value < 10.0 {
        format!("{value:.2}")
    } else if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    };
    format!("{text} {unit}")
}

/// Narrate creating a race's segment and semaphore set.
fn created(ui: &Ui, race: &Race, perms: u32) {
    ui.step(1, "create the shared memory region M and what guards it");
    let options = CreateOptions {
        perms,
        ..CreateOptions::private(sync::SEGMENT_SIZE)
    };
    ui.call(&options.call_text(), race.segment_id());
    match race.semaphore_id() {
        Some(sem) => {
            ui.call(
                &format!("semget(IPC_PRIVATE, 1, IPC_CREAT|{:04o})", perms & 0o777),
                sem,
            );
            ui.call(&format!("semctl({sem}, 0, SETVAL, 1)"), 0);
            ui.meaning(
                "a set of one System V semaphore, set to 1: free. P (semop -1) takes it, waiting \
                 while it is 0; V (semop +1) gives it back. SEM_UNDO gives it back should the \
                 holder die",
            );
        }
        None => ui.meaning("no semaphore: the processes only share the segment"),
    }
}

/// What removing a race takes away: the segment, and the semaphore set if it has one.
fn what_goes(race: &Race) -> &'static str {
    if race.semaphore_id().is_some() {
        "the segment and the semaphore set"
    } else {
        "the segment"
    }
}

fn removed(ui: &Ui, race: Race) -> anyhow::Result<()> {
    let (seg, sem) = (race.segment_id(), race.semaphore_id());
    race.remove()?;
    if let Some(sem) = sem {
        ui.call(&format!("semctl({sem}, 0, IPC_RMID)"), 0);
    }
    ui.call(&format!("shmctl({seg}, IPC_RMID, NULL)"), 0);
    Ok(())
}

/// The note and error after a termination signal ended a race: the race is dropped first, so
/// its workers are reaped and its segment and semaphore set removed.
fn interrupted(ui: &Ui, term: &Termination, race: Race) -> anyhow::Error {
    let (seg, sem) = (race.segment_id(), race.semaphore_id());
    drop(race);
    let sem = sem.map_or(String::new(), |s| format!(" and semaphore set {s}"));
    if let Some(sig) = term.received() {
        ui.note(&format!(
            "{}: the race is called off; segment {seg}{sem} removed",
            Interrupted(sig)
        ));
    }
    term.interrupted()
}

fn what_increments_are(ui: &Ui, sync: SyncMode) {
    ui.meaning(match sync {
        SyncMode::None => {
            "each increment is a load, an add and a store: two processes can load the same \
             value, and the second store overwrites the first. That update is lost"
        }
        SyncMode::Semaphore => {
            "each increment is semop P, load, add, store, semop V: one process at a time, at the \
             cost of two system calls per increment"
        }
        SyncMode::Atomic => {
            "each increment is one atomic add (lock xadd): the CPU does the load, add and store \
             as one, so nothing is lost and no system call is made"
        }
    });
}

/// The counter table's title and column header.
fn counter_title(procs: u32, increments: u64) -> anyhow::Result<()> {
    out_line(format_args!(
        "{} x {} of one counter in shared memory",
        ui::counted(procs, "process"),
        ui::counted(increments, "increment")
    ))?;
    out_line(format_args!("{}", counter_head()))
}

fn counter_head() -> String {
    format!(
        "{:<9} {:>10} {:>11} {:>11} {:>7} {:>11} {:>14}",
        "sync", "expected", "got", "lost", "lost %", "time", "per increment"
    )
}

fn counter_row(r: &CounterResult) -> String {
    format!(
        "{:<9} {:>10} {:>11} {:>11} {:>6.1}% {:>11} {:>14}",
        r.sync.name(),
        r.expected(),
        r.got,
        r.lost(),
        r.lost_percent(),
        human(r.elapsed),
        human_ns(r.ns_per_increment()),
    )
}

fn counter(args: &CounterArgs, ui: &Ui, term: &Termination) -> anyhow::Result<()> {
    let stop = || term.received().is_some();
    if let Some(others) = args.others {
        let [sync] = args.sync.modes()[..] else {
            return Err(UsageError(
                "--others runs one race at a time: give --sync none, semaphore or atomic".into(),
            )
            .into());
        };
        return counter_with_others(args, ui, term, sync, others + 1);
    }
    counter_title(args.procs, args.increments)?;
    for sync in args.sync.modes() {
        let race = Race::create(sync, args.perms).hint(LIMITS_HINT)?;
        created(ui, &race, args.perms);
        ui.step(
            2,
            &format!("fork {} to race", ui::counted(args.procs, "process")),
        );
        ui.meaning("each waits at a start gate in the segment, so that all really start together");
        ui.step(
            3,
            &format!(
                "open the gate: every process adds 1, {}",
                times(args.increments)
            ),
        );
        what_increments_are(ui, sync);
        let Some(result) = race.counter(args.procs, args.increments, stop)? else {
            return Err(interrupted(ui, term, race));
        };
        out_line(format_args!("{}", counter_row(&result)))?;
        ui.step(4, &format!("compare, then remove {}", what_goes(&race)));
        explain_counter(ui, &result);
        removed(ui, race)?;
    }
    Ok(())
}

fn explain_counter(ui: &Ui, r: &CounterResult) {
    if r.lost() > 0 {
        ui.meaning(&format!(
            "{} of {} increments were overwritten by another process's store: lost updates",
            r.lost(),
            r.expected()
        ));
    } else if r.sync == SyncMode::None {
        ui.meaning(
            "nothing was lost this time: the processes did not overlap (too few increments, or \
             one CPU). Try more --increments",
        );
    } else {
        ui.meaning("exact: no two increments overlapped");
    }
}

const LIMITS_HINT: &str = "`ipcs -l` shows the system's limits on segments and semaphore sets; \
                           `ipcs -m -s` lists what exists, and ipcrm removes what is unused";

fn counter_with_others(
    args: &CounterArgs,
    ui: &Ui,
    term: &Termination,
    sync: SyncMode,
    procs: u32,
) -> anyhow::Result<()> {
    let race = Race::create(sync, args.perms).hint(LIMITS_HINT)?;
    created(ui, &race, args.perms);
    let id = race.segment_id();
    // A closed stdout (no one can read the id) ends the wait, quietly.
    let printed: std::cell::RefCell<anyhow::Result<()>> = std::cell::RefCell::new(Ok(()));
    let waiting = |left: u32| {
        if left == procs - 1 && printed.borrow().is_ok() {
            *printed.borrow_mut() = out_line(format_args!("Shared Memory Id = {id}"));
        }
        if left > 0 {
            ui.note(&format!(
                "waiting for {}: run `shm-race counter --join {id}` in another terminal",
                ui::counted(left, "more process")
            ));
        } else {
            ui.note(&format!("all {procs} processes are here: go"));
        }
    };
    ui.step(
        2,
        &format!(
            "wait for {} at the start gate",
            ui::counted(procs - 1, "other process")
        ),
    );
    ui.meaning("this process races too; the others come from `shm-race counter --join`");
    let narrate = |left: u32| {
        waiting(left);
        if left == 0 {
            ui.step(
                3,
                &format!(
                    "open the gate: every process adds 1, {}",
                    times(args.increments)
                ),
            );
            what_increments_are(ui, sync);
        }
    };
    let result = race.counter_with_others(procs, args.increments, narrate, || {
        term.received().is_some() || printed.borrow().is_err()
    });
    let Some(result) = result? else {
        if term.received().is_none() {
            drop(race);
            return printed.into_inner();
        }
        return Err(interrupted(ui, term, race));
    };
    counter_title(procs, args.increments)?;
    out_line(format_args!("{}", counter_row(&result)))?;
    ui.step(4, &format!("compare, then remove {}", what_goes(&race)));
    explain_counter(ui, &result);
    removed(ui, race)
}

fn join(ui: &Ui, term: &Termination, id: ShmId) -> anyhow::Result<()> {
    ui.step(1, "attach the race's segment and take a place at the gate");
    let joined = match Joined::join(id) {
        Ok(joined) => joined,
        Err(err) => {
            let hint = match ipc_lab::sys::errno_of(&err) {
                Some(nix::errno::Errno::EACCES) => {
                    "the race's segment is closed to you: run both as the same user, or start \
                     the first with --perms 666"
                }
                _ => {
                    "give the id that `shm-race counter --others K` printed, while it waits; \
                     `ipcs -m` lists segments"
                }
            };
            return Err(err).hint(hint);
        }
    };
    ui.call(
        &format!("shmat({id}, NULL, 0)"),
        format!("{:#x}", joined.address()),
    );
    out_line(format_args!(
        "joined segment {id}: process {} of {}, sync {}, {}",
        joined.number(),
        joined.procs,
        joined.sync,
        ui::counted(joined.increments, "increment")
    ))?;
    ui.step(2, "wait at the gate, then add 1 again and again");
    what_increments_are(ui, joined.sync);
    if !joined.run(|| term.received().is_some())? {
        return Err(term.interrupted());
    }
    out_line(format_args!(
        "done: the counter read {} as this process finished; the first terminal prints the total",
        joined.counter()
    ))?;
    ui.step(3, "detach; the segment's creator removes it");
    Ok(())
}

fn torn_head() -> String {
    format!(
        "{:<9} {:>10} {:>10} {:>7} {:>11} {:>11}",
        "sync", "reads", "torn", "torn %", "writes", "time"
    )
}

fn torn_row(r: &TornResult) -> String {
    format!(
        "{:<9} {:>10} {:>10} {:>6.2}% {:>11} {:>11}",
        r.sync.name(),
        r.reads,
        r.torn,
        r.torn as f64 * 100.0 / r.reads.max(1) as f64,
        r.writes,
        human(r.elapsed),
    )
}

fn torn(args: &TornArgs, ui: &Ui, term: &Termination) -> anyhow::Result<()> {
    if args.sync == SyncChoice::Atomic {
        return Err(UsageError(
            "torn takes --sync none, semaphore or all: an atomic instruction writes one word, \
             and the record is 8 words"
                .into(),
        )
        .into());
    }
    let modes: Vec<SyncMode> = args
        .sync
        .modes()
        .into_iter()
        .filter(|m| *m != SyncMode::Atomic)
        .collect();
    out_line(format_args!(
        "a writer rewrites a record of 7 equal fields and their sum; a reader copies it {}",
        times(args.reads)
    ))?;
    out_line(format_args!("{}", torn_head()))?;
    let mut first_torn = Vec::new();
    for sync in modes {
        let race = Race::create(sync, args.perms).hint(LIMITS_HINT)?;
        created(ui, &race, args.perms);
        ui.step(2, "fork a writer and a reader");
        ui.meaning(match sync {
            SyncMode::Semaphore => {
                "both take the semaphore around their part: the reader never copies while the \
                 writer is half way through"
            }
            _ => {
                "the writer stores the 8 words one after another; the reader loads them one \
                 after another. Each word is atomic, the record is not"
            }
        });
        let Some(result) = race.torn(args.reads, || term.received().is_some())? else {
            return Err(interrupted(ui, term, race));
        };
        out_line(format_args!("{}", torn_row(&result)))?;
        if let Some(copy) = result.first_torn {
            first_torn.push((sync, copy));
        }
        ui.step(3, &format!("remove {}", what_goes(&race)));
        removed(ui, race)?;
    }
    for (sync, copy) in first_torn {
        let fields: Vec<String> = copy[..copy.len() - 1].iter().map(u64::to_string).collect();
        out_line(format_args!(
            "first torn copy ({sync}): {} | sum {}",
            fields.join(" "),
            copy[copy.len() - 1]
        ))?;
    }
    Ok(())
}

fn times(n: u64) -> String {
    if n == 1 {
        "once".into()
    } else {
        format!("{n} times")
    }
}
