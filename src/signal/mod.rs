//! Unix signals (lecture notes, section B4): asynchronous notifications, handled by the default
//! action or by a handler of the program's own.
//!
//! The lessons, one idea of the notes each, in the order of the lab sheet's chapter 4
//! (`docs/04-signals.md`, and `docs/deeper/04-signals.md`); `sig-demo` runs each one:
//!
//! | lesson | the idea | `sig-demo` |
//! |--------|----------|------------|
//! | [`segv`] | the notes' program: a user supplied handler for SIGSEGV, a real invalid memory access | (no subcommand), `segv` |
//! | [`no_handler`] | the default action: a fault ends the process (the shell shows 139) | `--no-handler`, `segv --no-handler`, `fpe --no-handler` |
//! | [`fpe`] | an arithmetic error: a handler for SIGFPE, a real division by zero | `fpe` |
//! | [`wait`] | a process reports each signal it receives, with its sender; stop and continue | `wait` |
//! | [`send`] | sending a signal: kill, or sigqueue with a value | `send` |
//! | [`uncatchable`] | SIGKILL and SIGSTOP refuse a handler and SIG_IGN | `uncatchable` |
//! | [`pending`] | blocked signals: a standard one arrives once, real-time ones queue | `pending` |
//! | [`threads`] | sent to the process: any thread that does not block it; sent to a thread: that thread | `threads` |
//! | [`list`] | the table of signals: default actions, which can be caught | `list` |
//! | [`list_pid`] | what a process catches, blocks, ignores and has pending | `list --pid` |
//!
//! The kernel side, which the lessons use (the lessons forbid `unsafe`: where it is needed, it is
//! here, each block with a SAFETY line): this file (signals by name and number, /proc's signal
//! sets), `fault.rs` (the notes' handler, the default action, real faults), `recorder.rs`
//! (handlers that only store, over the lock-free `ring.rs`), `delivery.rs` (send, block,
//! pending, wait), `per_thread.rs` (a signal and the threads of a process) and `wakeups.rs`
//! (SIGCHLD and a SIGALRM tick that end a blocked wait, for `bench`).
//!
//! The traps the kernel side keeps away from the lessons (see design.md):
//! - std installs its own SIGSEGV/SIGBUS handler (stack-overflow detection) on an alternate stack:
//!   our fault handler is installed with raw sigaction and SA_ONSTACK, and the default-action
//!   lesson restores SIG_DFL first.
//! - A SIGSEGV handler that returns re-runs the faulting instruction: ours writes with write(2)
//!   and leaves with _exit.
//! - Faults are real: a volatile write to a PROT_NONE page, an x86-64 `idiv` by zero.
//! - Handlers only store to atomics and write(2); everything is printed by the main flow.

mod delivery;
mod fault;
mod per_thread;
mod recorder;
mod ring;
mod wakeups;

pub mod fpe;
pub mod list;
pub mod list_pid;
pub mod no_handler;
pub mod pending;
pub mod segv;
pub mod send;
pub mod threads;
pub mod uncatchable;
pub mod wait;

pub(crate) use delivery::{pending, wait_info};
pub use fault::{Fault, no_core_dump, restore_default};
pub(crate) use wakeups::{Ticker, child_ended, forget_ended_children, watch_children};

use anyhow::Context as _;
use nix::sys::signal::Signal;

/// What the notes print when `signal` fails.
pub(crate) const REGISTER_FAILED: &str = "Failed to register handler";

// ---------------------------------------------------------------------------------------------
// The notes' program, for a program of one's own (examples/sig_segv.rs)

/// The notes' `signal(SIGSEGV, myOwnHandler)`: from now on a memory error runs the notes'
/// handler, which writes `Memory access blows up!` and a newline on stdout and exits 1. It is
/// installed with sigaction and SA_ONSTACK over std's own SIGSEGV handler (fault.rs).
pub fn handle_memory_errors() -> Result<(), crate::sys::SysError> {
    fault::install_fault_handler(Signal::SIGSEGV)
}

/// The notes' `*ip = 123`: a real invalid memory access, a write to a page mapped with no access
/// (Rust may not write through a null pointer). The kernel answers with SIGSEGV; this returns
/// only if the CPU did not fault.
pub fn invalid_memory_access() -> anyhow::Result<()> {
    fault::invalid_memory_access()
}

// ---------------------------------------------------------------------------------------------
// Signals by name and number

/// A signal number, standard (1 to 31) or real-time (SIGRTMIN to SIGRTMAX).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SigNum(pub i32);

pub fn rtmin() -> i32 {
    libc::SIGRTMIN()
}

pub fn rtmax() -> i32 {
    libc::SIGRTMAX()
}

impl SigNum {
    /// `SIGUSR1`, `SIGRTMIN+2`.
    pub fn name(self) -> String {
        if let Ok(sig) = Signal::try_from(self.0) {
            return sig.as_str().to_string();
        }
        let (min, max) = (rtmin(), rtmax());
        match self.0 {
            n if n == min => "SIGRTMIN".into(),
            n if n == max => "SIGRTMAX".into(),
            n if n > min && n < max && n - min <= max - n => format!("SIGRTMIN+{}", n - min),
            n if n > min && n < max => format!("SIGRTMAX-{}", max - n),
            n => format!("signal {n}"),
        }
    }

    /// `SIGUSR1 (10)`.
    pub(crate) fn name_and_number(self) -> String {
        format!("{} ({})", self.name(), self.0)
    }
}

/// Read a signal as a user writes it: `USR1`, `SIGUSR1`, `usr1`, `10`, `RTMIN+2`, `SIGRTMAX-1`.
pub fn parse_signal(text: &str) -> Result<SigNum, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "{text:?} is not a signal: give a name such as TERM, SIGUSR1 or RTMIN+1, or a number from 1 to 31 or {} to {} (`sig-demo list` shows them)",
            rtmin(),
            rtmax()
        )
    };
    if let Ok(n) = t.parse::<i32>() {
        if (1..=rtmax()).contains(&n) && (n < 32 || n >= rtmin()) {
            return Ok(SigNum(n));
        }
        return Err(bad());
    }
    let upper = t.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Ok(sig) = format!("SIG{name}").parse::<Signal>() {
        return Ok(SigNum(sig as i32));
    }
    // RTMIN, RTMIN+n, RTMAX, RTMAX-n: the sign given is the only one allowed, then digits.
    let rt = |base: i32, rest: &str, sign: i32| -> Result<SigNum, String> {
        let off: i32 = if rest.is_empty() {
            0
        } else if rest.bytes().all(|b| b.is_ascii_digit()) {
            rest.parse().map_err(|_| bad())?
        } else {
            return Err(bad());
        };
        let n = off
            .checked_mul(sign)
            .and_then(|o| base.checked_add(o))
            .ok_or_else(bad)?;
        if (rtmin()..=rtmax()).contains(&n) {
            Ok(SigNum(n))
        } else {
            Err(bad())
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return match rest.strip_prefix('+') {
            Some(digits) if !digits.is_empty() => rt(rtmin(), digits, 1),
            None if rest.is_empty() => rt(rtmin(), "", 1),
            _ => Err(bad()),
        };
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return match rest.strip_prefix('-') {
            Some(digits) if !digits.is_empty() => rt(rtmax(), digits, -1),
            None if rest.is_empty() => rt(rtmax(), "", -1),
            _ => Err(bad()),
        };
    }
    Err(bad())
}

/// What a signal does when nobody handles it (signal(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Terminate,
    Core,
    Stop,
    Continue,
    Ignore,
}

impl Action {
    pub fn word(self) -> &'static str {
        match self {
            Action::Terminate => "terminate",
            Action::Core => "core",
            Action::Stop => "stop",
            Action::Continue => "continue",
            Action::Ignore => "ignore",
        }
    }
}

/// The standard signals: number, default action, and what they mean.
pub(crate) fn standard() -> Vec<(Signal, Action, &'static str)> {
    use Action::*;
    use Signal::*;
    vec![
        (
            SIGHUP,
            Terminate,
            "the terminal hung up, or a daemon is told to reload",
        ),
        (SIGINT, Terminate, "interrupt from the keyboard (Ctrl-C)"),
        (SIGQUIT, Core, "quit from the keyboard (Ctrl-\\)"),
        (SIGILL, Core, "illegal instruction"),
        (SIGTRAP, Core, "trace or breakpoint trap"),
        (SIGABRT, Core, "abort(3)"),
        (
            SIGBUS,
            Core,
            "bus error: bad memory access (e.g. past the end of a mapped file)",
        ),
        (
            SIGFPE,
            Core,
            "arithmetic error (e.g. integer division by zero)",
        ),
        (
            SIGKILL,
            Terminate,
            "kill: cannot be caught, blocked or ignored",
        ),
        (SIGUSR1, Terminate, "user-defined signal 1"),
        (SIGSEGV, Core, "invalid memory reference"),
        (SIGUSR2, Terminate, "user-defined signal 2"),
        (SIGPIPE, Terminate, "write to a pipe with no reader"),
        (SIGALRM, Terminate, "timer from alarm(2)"),
        (SIGTERM, Terminate, "termination request (kill's default)"),
        (
            SIGSTKFLT,
            Terminate,
            "stack fault on a coprocessor (unused)",
        ),
        (SIGCHLD, Ignore, "a child stopped or ended"),
        (SIGCONT, Continue, "continue if stopped"),
        (SIGSTOP, Stop, "stop: cannot be caught, blocked or ignored"),
        (SIGTSTP, Stop, "stop from the keyboard (Ctrl-Z)"),
        (SIGTTIN, Stop, "a background process read from the terminal"),
        (SIGTTOU, Stop, "a background process wrote to the terminal"),
        (SIGURG, Ignore, "urgent data on a socket"),
        (SIGXCPU, Core, "CPU time limit exceeded"),
        (SIGXFSZ, Core, "file size limit exceeded"),
        (SIGVTALRM, Terminate, "virtual timer expired"),
        (SIGPROF, Terminate, "profiling timer expired"),
        (SIGWINCH, Ignore, "the terminal window changed size"),
        (SIGIO, Terminate, "I/O is possible on a descriptor"),
        (SIGPWR, Terminate, "power failure"),
        (SIGSYS, Core, "bad system call"),
    ]
}

/// Whether a handler can be installed for it (all but SIGKILL and SIGSTOP).
pub(crate) fn catchable(sig: SigNum) -> bool {
    sig.0 != libc::SIGKILL && sig.0 != libc::SIGSTOP
}

/// The signal sets of a process, from /proc/PID/status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcSets {
    pub caught: Vec<SigNum>,
    pub blocked: Vec<SigNum>,
    pub ignored: Vec<SigNum>,
    pub pending: Vec<SigNum>,
}

fn mask_signals(hex: &str) -> Option<Vec<SigNum>> {
    let bits = u64::from_str_radix(hex.trim(), 16).ok()?;
    Some(
        (1..=64)
            .filter(|n| bits & (1u64 << (n - 1)) != 0)
            .map(SigNum)
            .collect(),
    )
}

/// Read a process's caught (SigCgt), blocked (SigBlk), ignored (SigIgn) and pending (SigPnd and
/// ShdPnd) signals.
pub fn proc_sets(pid: i32) -> anyhow::Result<ProcSets> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| crate::sys::io_error("open", e))
        .with_context(|| format!("cannot read {path}"))?;
    let mut sets = ProcSets::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let Some(list) = mask_signals(value) else {
            continue;
        };
        match key {
            "SigCgt" => sets.caught = list,
            "SigBlk" => sets.blocked = list,
            "SigIgn" => sets.ignored = list,
            "SigPnd" | "ShdPnd" => {
                for s in list {
                    if !sets.pending.contains(&s) {
                        sets.pending.push(s);
                    }
                }
            }
            _ => {}
        }
    }
    sets.pending.sort();
    Ok(sets)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parsing() {
        assert_eq!(parse_signal("USR1"), Ok(SigNum(libc::SIGUSR1)));
        assert_eq!(parse_signal("sigterm"), Ok(SigNum(libc::SIGTERM)));
        assert_eq!(parse_signal("9"), Ok(SigNum(9)));
        assert_eq!(parse_signal("RTMIN"), Ok(SigNum(rtmin())));
        assert_eq!(parse_signal("SIGRTMIN+2"), Ok(SigNum(rtmin() + 2)));
        assert_eq!(parse_signal("RTMAX-1"), Ok(SigNum(rtmax() - 1)));
        for bad in [
            "", "FOO", "0", "65", "-1", "RTMIN+99", "32", "RTMAX+1", "RTMIN++1", "RTMIN-1",
            "RTMAX-+1", "RTMIN+",
        ] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
        assert_eq!(SigNum(libc::SIGUSR1).name(), "SIGUSR1");
        assert_eq!(SigNum(rtmin() + 1).name(), "SIGRTMIN+1");
        assert_eq!(SigNum(rtmax()).name(), "SIGRTMAX");
        assert!(!catchable(SigNum(9)) && !catchable(SigNum(19)) && catchable(SigNum(15)));
    }

    #[test]
    fn masks_read_as_lists() {
        assert_eq!(
            mask_signals("0000000000004a02"),
            Some(vec![SigNum(2), SigNum(10), SigNum(12), SigNum(15)])
        );
        assert_eq!(mask_signals("zz"), None);
        let me = proc_sets(std::process::id() as i32).unwrap();
        assert!(me.pending.is_empty());
    }
}
