//! What a process is. The notes (B. Communication Mechanisms): "processes have the following:
//! memory region allocated to itself (address space), CPU state, list of open files, resources
//! like I/O devices. A process is an entire context in which a program operates in." A forked
//! child sleeps in `read` on an empty pipe; its parent reads the child's context from /proc/PID
//! (address space, the CPU state saved when it entered the kernel, open files, resource limits),
//! then releases the child with one byte and reaps it.
//!
//! Lab sheet: `docs/00-why-ipc.md`, "What a process is: proc-demo context".

#![forbid(unsafe_code)]

use std::time::Duration;

use crate::sys::Termination;
use crate::ui::{self, Ui, out_line};

use super::{Context, READ_SYSCALL, Sleeper, Syscall};

/// What `proc-demo context` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// Keep the child asleep this long after the report, to look at /proc/PID meanwhile.
    pub hold: Option<Duration>,
}

/// `proc-demo context`: the child's context on stdout, the calls under `--explain`.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    super::guarded(ui, |term| report(ui, args.hold, term))
}

/// `fd 3, buffer 0x7ffd... (in its stack), count 1` for read where its number is known; the six
/// raw arguments otherwise.
fn arguments(ctx: &Context, nr: i64, args: &[u64; 6]) -> String {
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

fn report(ui: &Ui, hold: Option<Duration>, term: &Termination) -> anyhow::Result<()> {
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
        crate::sys::describe(status)
    ))?;
    anyhow::ensure!(
        crate::sys::shell_status(status) == 0,
        "the child {}",
        crate::sys::describe(status)
    );
    out_line(format_args!(
        "all of this is the child's context: the kernel keeps it while the child sleeps, and loads its registers back onto a CPU to run it again (a context switch)"
    ))?;
    Ok(())
}
