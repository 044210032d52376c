//! proc-demo: why processes need IPC (section A of the notes): they are isolated by default,
//! and cooperating ones can split work for a speedup, through a region they share on purpose;
//! and what a process is (section B's opening): its context, as /proc shows it.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ipc_lab::cli::{self, Common};
use ipc_lab::procs::{self, BEFORE, CHILD_WRITES, READ_SYSCALL, Sleeper, SpeedRow, Syscall};
use ipc_lab::sys::Termination;
use ipc_lab::ui::{self, Ui, UsageError, out_line};

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
    let term = Termination::install()?;
    let stop = || term.received().is_some();
    let result = match &args.command {
        Command::Isolation => isolation(ui, &stop),
        Command::Speedup { procs, below } => speedup(ui, procs, *below, &stop),
        Command::Context { hold } => context(ui, *hold, &term),
    };
    if let Some(sig) = term.received() {
        ui.note(&format!(
            "{}: the processes are killed and reaped; the segment went with them",
            ui::Interrupted(sig)
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
        ui::counted(cpus as u64, "CPU")
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
            ui::counted(one.procs as u64, "process"),
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

/// `fd 3, buffer 0x7ffd... (in its stack), count 1` for read where its number is known; the six
/// raw arguments otherwise.
fn arguments(ctx: &procs::Context, nr: i64, args: &[u64; 6]) -> String {
    if Some(nr) == READ_SYSCALL {
        format!(
            "fd {}, buffer {:#x} (in {}), count {}",
            args[0],
            args[1],
            ctx.place(args[1]),
            args[2]
        )
    } else {
        let raw: Vec<String> = args.iter().map(|a| format!("{a:#x}")).collect();
        raw.join(" ")
    }
}

fn context(ui: &Ui, hold: Option<Duration>, term: &Termination) -> anyhow::Result<()> {
    let stop = || term.received().is_some();
    let me = std::process::id();
    let mut sleeper = Sleeper::fork()?;
    let pid = sleeper.pid();
    let (r, w) = (sleeper.read_fd, sleeper.write_fd);
    ui.step(1, "a pipe, then a child that reads from it");
    ui.call("pipe(fd)", 0);
    ui.act(&format!("fd[0] = {r} (read end), fd[1] = {w} (write end)"));
    ui.call("fork()", pid);
    ui.act(&format!(
        "in the child: close every descriptor but 0, 1, 2 and {r}; read({r}, buf, 1)"
    ));
    ui.meaning("the pipe is empty: the kernel puts the child to sleep inside read");
    if !sleeper.wait_asleep(stop)? {
        return Err(term.interrupted());
    }
    ui.step(
        2,
        &format!("the parent reads the child's context from /proc/{pid}"),
    );
    ui.act(&format!(
        "/proc/{pid}/stat: state S, sleeping; /proc/{pid}/syscall: in read"
    ));
    let ctx = sleeper.context()?;
    ui.act(&format!(
        "read /proc/{pid}/maps, status, syscall, stat, limits; readlink /proc/{pid}/fd/*"
    ));
    ui.meaning("the kernel keeps each process's context, and shows it as files in /proc");

    out_line(format_args!(
        "child (pid {pid}) of proc-demo (pid {me}): asleep in read on a pipe from its parent"
    ))?;
    out_line(format_args!(
        "address space, from /proc/{pid}/maps and /proc/{pid}/status:"
    ))?;
    let program = ctx.program();
    match (program.first(), program.last()) {
        (Some(first), Some(last)) => out_line(format_args!(
            "  program: {:#x}-{:#x}, {} of {}",
            first.start,
            last.end,
            ui::counted(program.len() as u64, "mapping"),
            ctx.exe
        ))?,
        _ => out_line(format_args!("  program: not mapped under {}", ctx.exe))?,
    }
    for (label, name) in [("heap", "[heap]"), ("stack", "[stack]")] {
        match ctx.named(name) {
            Some(m) => out_line(format_args!(
                "  {label}: {:#x}-{:#x}, {} kB {name}",
                m.start,
                m.end,
                (m.end - m.start) / 1024
            ))?,
            None => out_line(format_args!("  {label}: none mapped"))?,
        }
    }
    out_line(format_args!(
        "  in all: {}, VmSize {} kB, of which {} kB in memory (VmRSS)",
        ui::counted(ctx.maps.len() as u64, "mapping"),
        ctx.vm_size_kb,
        ctx.vm_rss_kb
    ))?;
    out_line(format_args!(
        "CPU state, saved when it entered the kernel, from /proc/{pid}/syscall and /proc/{pid}/stat:"
    ))?;
    out_line(format_args!("  state: {}", ctx.state))?;
    let arch = std::env::consts::ARCH;
    let registers = |sp: u64, pc: u64| -> anyhow::Result<()> {
        out_line(format_args!(
            "  stack pointer: {sp:#x} (in {})",
            ctx.place(sp)
        ))?;
        out_line(format_args!(
            "  program counter: {pc:#x} (in {})",
            ctx.place(pc)
        ))
    };
    match ctx.syscall {
        Ok(Syscall::In { nr, args, sp, pc }) => {
            match READ_SYSCALL {
                Some(read) if nr == read => {
                    out_line(format_args!("  system call: {nr}, read on {arch}"))?
                }
                _ => out_line(format_args!(
                    "  system call: {nr} (numbers differ between architectures; this is {arch})"
                ))?,
            }
            out_line(format_args!("  arguments: {}", arguments(&ctx, nr, &args)))?;
            registers(sp, pc)?;
        }
        Ok(Syscall::NotInCall { sp, pc }) => {
            out_line(format_args!("  system call: none (blocked outside one)"))?;
            registers(sp, pc)?;
        }
        Ok(Syscall::Running) => out_line(format_args!(
            "  system call: none, it was running: no saved state to show"
        ))?,
        Err(errno) => out_line(format_args!(
            "  system call: not shown: reading /proc/{pid}/syscall was refused ({errno:?}): it needs ptrace access to the child"
        ))?,
    }
    out_line(format_args!("  last ran on CPU: {}", ctx.last_cpu))?;
    out_line(format_args!(
        "  context switches: {} voluntary, {} involuntary",
        ctx.voluntary_switches, ctx.involuntary_switches
    ))?;
    out_line(format_args!("open files, from /proc/{pid}/fd:"))?;
    for (n, target) in &ctx.fds {
        if *n == r && *target == sleeper.read_link {
            out_line(format_args!(
                "  {n} -> {target}: the read end of the pipe from its parent"
            ))?;
        } else {
            out_line(format_args!("  {n} -> {target}"))?;
        }
    }
    out_line(format_args!(
        "resources and their limits, from /proc/{pid}/limits:"
    ))?;
    for name in ["Max open files", "Max stack size", "Max processes"] {
        if let Some(l) = ctx.limit(name) {
            out_line(format_args!(
                "  {name}: soft {}, hard {} ({})",
                l.soft, l.hard, l.units
            ))?;
        }
    }
    if let Some(hold) = hold {
        ui.note(&format!(
            "the child (pid {pid}) sleeps on for {} s: look at /proc/{pid}/ meanwhile",
            hold.as_secs_f64()
        ));
        if term.sleep(hold).is_some() {
            return Err(term.interrupted());
        }
    }
    ui.step(3, "the parent releases the child, and reaps it");
    let Some(status) = sleeper.release(stop)? else {
        return Err(term.interrupted());
    };
    ui.call(&format!("write({w}, \"x\", 1)"), 1);
    ui.call(&format!("close({w})"), 0);
    ui.call(&format!("waitpid({pid}, &status, 0)"), pid);
    out_line(format_args!(
        "released: the parent wrote 1 byte into the pipe; the child's read returned with it"
    ))?;
    out_line(format_args!(
        "reaped: waitpid({pid}) = {pid}, {}",
        ipc_lab::sys::describe(status)
    ))?;
    anyhow::ensure!(
        ipc_lab::sys::shell_status(status) == 0,
        "the child {}",
        ipc_lab::sys::describe(status)
    );
    out_line(format_args!(
        "all of this is the child's context: the kernel keeps it while the child sleeps, and loads its registers back onto a CPU to run it again (a context switch)"
    ))?;
    Ok(())
}
