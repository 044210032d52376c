//! proc-demo: why processes need IPC (section A of the notes): they are isolated by default,
//! and cooperating ones can split work for a speedup, through a region they share on purpose.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ipc_lab::cli::{self, Common, Termination, Ui, UsageError, out_line};
use ipc_lab::procs::{self, BEFORE, CHILD_WRITES, SpeedRow};

const ABOUT: &str = "Processes are isolated by default; cooperating, they can split work";

const AFTER_HELP: &str = "\
Lecture notes: A. Motivation: processes \"are usually isolated from each other by default
(i.e. isolated memory space)\", so IPC is needed to share; one reason to cooperate is
\"computational speedup: good in systems supporting parallelism\".

Examples:
  proc-demo isolation                 a child changes a plain variable and a shared one:
                                      the parent sees only the shared change
  proc-demo speedup                   count primes with 1, 2 and 4 processes, timed
  proc-demo speedup --procs 1,2 --below 200000";

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
}

fn main() -> ExitCode {
    let args = Args::parse();
    let ui = Ui::new("proc-demo", &args.common);
    ui.finish(run(&args, &ui))
}

fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let term = Termination::install()?;
    let stop = || term.received().is_some();
    let result = match &args.command {
        Command::Isolation => isolation(ui, &stop),
        Command::Speedup { procs, below } => speedup(ui, procs, *below, &stop),
    };
    if let Some(sig) = term.received() {
        ui.note(&format!(
            "{}: the processes are killed and reaped; the segment went with them",
            cli::Interrupted(sig)
        ));
        return Err(term.interrupted());
    }
    result
}

fn isolation(ui: &Ui, stop: &dyn Fn() -> bool) -> anyhow::Result<()> {
    out_line(format_args!(
        "before fork: plain = {BEFORE}, shared = {BEFORE}"
    ))?;
    let seen = procs::isolation(
        |id, shared_at, plain_at| {
            ui.step(1, "a shared segment, and a plain variable");
            ui.call("shmget(IPC_PRIVATE, 8, IPC_CREAT | 0600)", id);
            ui.call(&format!("shmat({id}, NULL, 0)"), format!("{shared_at:#x}"));
            ui.call(&format!("shmctl({id}, IPC_RMID, NULL)"), 0);
            ui.meaning("marked for removal at once: it goes with the last detach");
            ui.act(&format!(
                "plain = {BEFORE} (at {plain_at:#x}); shared = {BEFORE}"
            ));
            ui.step(
                2,
                "fork: the child gets a copy of the parent's memory; the segment is mapped into it, not copied",
            );
        },
        |pid, plain_at, shared_at, plain, shared| {
            let _ = out_line(format_args!(
                "child  (pid {pid}): plain = {plain} at {plain_at:#x}, shared = {shared} at {shared_at:#x}"
            ));
        },
        stop,
    )?;
    ui.call("fork()", seen.child_pid);
    ui.act(&format!(
        "in the child: plain = {CHILD_WRITES}; shared = {CHILD_WRITES}"
    ));
    ui.call(
        &format!("waitpid({}, &status, 0)", seen.child_pid),
        seen.child_pid,
    );
    ui.step(3, "the parent reads both");
    out_line(format_args!(
        "parent (pid {}): plain = {} at {:#x}, shared = {} at {:#x}",
        std::process::id(),
        seen.parent_plain,
        seen.plain_address,
        seen.parent_shared,
        seen.shared_address
    ))?;
    anyhow::ensure!(
        seen.parent_plain == BEFORE && seen.parent_shared == CHILD_WRITES,
        "expected plain = {BEFORE} and shared = {CHILD_WRITES} in the parent"
    );
    out_line(format_args!(
        "the child's plain = {CHILD_WRITES} went to its own copy, at the same address: each process has its own memory"
    ))?;
    out_line(format_args!(
        "its shared = {CHILD_WRITES} is seen by the parent: only a region shared on purpose is common"
    ))?;
    Ok(())
}

fn speedup(ui: &Ui, procs: &[u32], below: u64, stop: &dyn Fn() -> bool) -> anyhow::Result<()> {
    let mut list: Vec<usize> = Vec::new();
    for &p in procs {
        if !list.contains(&(p as usize)) {
            list.push(p as usize);
        }
    }
    if list.is_empty() {
        return Err(UsageError("--procs: give at least one count".into()).into());
    }
    let cpus = ipc_lab::sys::allowed_cpus().len();
    out_line(format_args!(
        "counting the primes below {below}, split over processes that each write their count into one shared segment; {} usable here",
        cli::counted(cpus as u64, "CPU")
    ))?;
    out_line(format_args!(
        "{:>5} {:>10} {:>10} {:>8}",
        "procs", "primes", "time", "speedup"
    ))?;
    let mut base: Option<SpeedRow> = None;
    for (step, p) in (1..).zip(list) {
        let row = procs::speedup(below, p, stop)?;
        ui.step(
            step,
            &if p == 1 {
                "1 worker counts them all".to_string()
            } else {
                format!(
                    "{p} workers count, taking blocks of {} numbers in turn",
                    procs::BLOCK
                )
            },
        );
        let id = row.segment_id;
        ui.call(
            &format!("shmget(IPC_PRIVATE, {}, IPC_CREAT | 0600)", p * 8),
            id,
        );
        ui.act(&format!(
            "shmat({id}, NULL, 0): a slot of 8 bytes per worker"
        ));
        ui.call(&format!("shmctl({id}, IPC_RMID, NULL)"), 0);
        for (k, pid) in row.pids.iter().enumerate() {
            ui.call("fork()", pid);
            ui.act(&format!("worker {k}: slot[{k}] = {}", row.counts[k]));
        }
        for pid in &row.pids {
            ui.call(&format!("waitpid({pid}, &status, 0)"), pid);
        }
        ui.meaning(&format!(
            "their counts, from the segment's slots: {:?}",
            row.counts
        ));
        let one = base.get_or_insert_with(|| row.clone());
        anyhow::ensure!(
            row.primes == one.primes,
            "{p} processes found {} primes, {} found {}",
            row.primes,
            cli::counted(one.procs as u64, "process"),
            one.primes
        );
        let speedup = one.elapsed.as_secs_f64() / row.elapsed.as_secs_f64().max(1e-9);
        out_line(format_args!(
            "{:>5} {:>10} {:>8.3} s {:>8.2}",
            row.procs,
            row.primes,
            row.elapsed.as_secs_f64(),
            speedup
        ))?;
    }
    out_line(format_args!(
        "speedup: the first row's time over each row's: at best the number of processes, and no more than the CPUs that run them (noise moves it a little either way)"
    ))?;
    Ok(())
}
