//! Unix signals (lecture notes, section B4): asynchronous notifications, handled by the default
//! action or by a handler of the program's own.
//!
//! The traps this module keeps away from the binaries (see design.md):
//! - std installs its own SIGSEGV/SIGBUS handler (stack-overflow detection) on an alternate stack:
//!   our fault handler is installed with raw sigaction and SA_ONSTACK, and the default-action
//!   demo restores SIG_DFL first.
//! - A SIGSEGV handler that returns re-runs the faulting instruction: ours writes with write(2)
//!   and leaves with _exit.
//! - Faults are real: a volatile write to a PROT_NONE page, an x86-64 `idiv` by zero.
//! - Handlers only store to atomics and write(2); everything is printed by the main flow.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::PollFlags;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::Pid;

use crate::sys::SysError;

/// What the notes' handler prints.
pub(crate) const SEGV_MESSAGE: &str = "Memory access blows up!\n";
/// What our arithmetic-error handler prints, in the notes' words.
pub(crate) const FPE_MESSAGE: &str = "Arithmetic error blows up!\n";
/// What the notes print when `signal` fails.
pub const REGISTER_FAILED: &str = "Failed to register handler";

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

    /// Whether it is a real-time signal (these queue: each one sent is delivered).
    pub fn is_realtime(self) -> bool {
        self.0 >= rtmin() && self.0 <= rtmax()
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
pub enum Action {
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
pub fn standard() -> Vec<(Signal, Action, &'static str)> {
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
pub fn catchable(sig: SigNum) -> bool {
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

// ---------------------------------------------------------------------------------------------
// Faults: the notes' program

extern "C" fn on_fault(signo: libc::c_int) {
    let msg = if signo == libc::SIGFPE {
        FPE_MESSAGE
    } else {
        SEGV_MESSAGE
    };
    // SAFETY: write(2) and _exit(2) are async-signal-safe; the message is a static string. The
    // handler must not return: the faulting instruction would run again.
    unsafe {
        libc::write(1, msg.as_ptr().cast(), msg.len());
        libc::_exit(1);
    }
}

/// Install the notes' handler for SIGSEGV or SIGFPE: print the message, exit 1. Raw sigaction
/// with SA_ONSTACK, replacing std's own handler, so that it runs on the alternate stack that std
/// set up (a stack overflow would have no stack left for it otherwise).
pub fn install_fault_handler(sig: Signal) -> Result<(), SysError> {
    let action = SigAction::new(
        SigHandler::Handler(on_fault),
        SaFlags::SA_ONSTACK,
        SigSet::empty(),
    );
    // SAFETY: the handler only calls write(2) and _exit(2), both async-signal-safe.
    unsafe { signal::sigaction(sig, &action) }
        .map(|_| ())
        .map_err(|errno| SysError {
            call: "sigaction",
            errno,
        })
}

/// Restore a signal's default action (SIG_DFL); for SIGSEGV this removes std's handler too.
/// Returns the disposition it replaced, as signal(2) does.
pub fn restore_default(sig: Signal) -> Result<SigHandler, SysError> {
    // SAFETY: SIG_DFL runs no code of ours.
    unsafe { signal::signal(sig, SigHandler::SigDfl) }.map_err(|errno| SysError {
        call: "signal",
        errno,
    })
}

/// How `signal(2)` would show a disposition it returns.
pub fn handler_text(h: SigHandler) -> &'static str {
    match h {
        SigHandler::SigDfl => "SIG_DFL",
        SigHandler::SigIgn => "SIG_IGN",
        _ => "the old handler",
    }
}

/// Turn core dumps off for this process (RLIMIT_CORE = 0), so that a demo of a default action
/// leaves no core file behind; the shell still shows the same status.
pub fn no_core_dump() -> Result<(), SysError> {
    let limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads the struct we pass; lowering the soft limit needs no privilege.
    let mut rc = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &limit) };
    if rc != 0 {
        // The hard limit may be lower than infinity: keep it, lower only the soft one.
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass, which is valid and writable.
        unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut old) };
        let limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: old.rlim_max,
        };
        // SAFETY: as above.
        rc = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &limit) };
    }
    Errno::result(rc).map(|_| ()).map_err(|errno| SysError {
        call: "setrlimit",
        errno,
    })
}

/// Make a real invalid memory access: a write to a page mapped with no access (PROT_NONE). The
/// kernel answers with SIGSEGV.
pub fn invalid_memory_access() -> anyhow::Result<()> {
    // SAFETY: an anonymous private mapping of one page, with no file; mmap's result is checked.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    anyhow::ensure!(
        page != libc::MAP_FAILED,
        "cannot map a page to fault on: {}",
        Errno::last()
    );
    // SAFETY: the pointer is to a page we own, mapped PROT_NONE: the write traps in the kernel,
    // which raises SIGSEGV before any byte is stored. Volatile, so it is not optimised away.
    unsafe { std::ptr::write_volatile(page.cast::<i32>(), 123) };
    anyhow::bail!("the write to a PROT_NONE page did not fault")
}

/// Divide by zero in hardware: x86-64's `idiv` traps, and the kernel raises SIGFPE. (Rust's own
/// `/` checks for zero and panics instead, so the instruction is written out.) Elsewhere the
/// instruction does not trap, and the signal is raised with raise(3).
pub fn divide_by_zero() -> anyhow::Result<()> {
    #[cfg(target_arch = "x86_64")]
    {
        let divisor: i32 = std::hint::black_box(0);
        // SAFETY: idiv reads edx:eax and the divisor register and writes eax and edx, which are
        // declared; with a zero divisor it traps (#DE) and the kernel delivers SIGFPE.
        unsafe {
            std::arch::asm!(
                "cdq",
                "idiv {d:e}",
                d = in(reg) divisor,
                inout("eax") 123 => _,
                out("edx") _,
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        signal::raise(Signal::SIGFPE).context("cannot raise SIGFPE")?;
    }
    anyhow::bail!("the division by zero did not trap")
}

// ---------------------------------------------------------------------------------------------
// A recorder of signals: handlers that only store, a main flow that reports

/// One signal received, with what the kernel said about its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub signo: SigNum,
    /// The sending process and its real user id (0 when the kernel sent it).
    pub pid: i32,
    pub uid: u32,
    /// How it was sent (si_code): SI_USER (kill), SI_QUEUE (sigqueue), SI_KERNEL, ...
    pub code: i32,
    /// The value sent with sigqueue.
    pub value: Option<i32>,
}

/// A ring of `N` slots that signal handlers fill and one main flow drains, in the order the
/// handlers took them. Tickets count up for ever: the handler that takes ticket `t` fills slot
/// `t % N` and publishes it by storing `t + 1` in that slot's `seq`; the main flow takes tickets
/// in order from `tail`, and advances it once it has copied the slot out, which gives the slot
/// back. So the ring never fills while the main flow keeps up, however many signals come in a
/// lifetime. A handler that finds `N` tickets not yet taken (a burst faster than the main flow
/// drains) counts the signal as lost and stores nothing.
///
/// Only lock-free atomics are used, which are async-signal-safe: a handler may interrupt the
/// main flow, or another handler (nested, or in another thread), at any point. The payload lives
/// in arrays beside the ring, indexed by [`Ring::slot`].
struct Ring<const N: usize> {
    /// Tickets handed out.
    head: AtomicUsize,
    /// Tickets taken by the main flow (its slots free again).
    tail: AtomicUsize,
    /// For each slot, the ticket stored there, plus one, once it is filled.
    seq: [AtomicUsize; N],
    /// Signals that found the ring full.
    lost: AtomicUsize,
}

impl<const N: usize> Ring<N> {
    const fn new() -> Ring<N> {
        Ring {
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            seq: [const { AtomicUsize::new(0) }; N],
            lost: AtomicUsize::new(0),
        }
    }

    /// The slot of ticket `t`.
    fn slot(t: usize) -> usize {
        t % N
    }

    /// In a handler: take the next ticket, or count a loss when all `N` slots hold tickets the
    /// main flow has not taken. A slot is reused only once the main flow has taken the ticket
    /// before it there, so a handler never writes to a slot being read.
    fn reserve(&self) -> Option<usize> {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let tail = self.tail.load(Ordering::Acquire);
            if head.wrapping_sub(tail) >= N {
                self.lost.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match self.head.compare_exchange_weak(
                head,
                head.wrapping_add(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(head),
                Err(now) => head = now,
            }
        }
    }

    /// In a handler: ticket `t`'s slot is filled.
    fn publish(&self, t: usize) {
        self.seq[Self::slot(t)].store(t.wrapping_add(1), Ordering::Release);
    }

    /// In the main flow: the next ticket, once its handler has filled its slot.
    fn ready(&self) -> Option<usize> {
        let t = self.tail.load(Ordering::Relaxed);
        (self.seq[Self::slot(t)].load(Ordering::Acquire) == t.wrapping_add(1)).then_some(t)
    }

    /// In the main flow: ticket `t` (from [`Ring::ready`]) is copied out; its slot is free.
    fn taken(&self, t: usize) {
        self.tail.store(t.wrapping_add(1), Ordering::Release);
    }

    /// Signals that found the ring full, so far.
    fn lost(&self) -> usize {
        self.lost.load(Ordering::Relaxed)
    }
}

/// How many signals the recorder holds that the main flow has not yet taken.
pub const SLOTS: usize = 1024;
static RING: Ring<SLOTS> = Ring::new();
static SIGNO: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
static PID: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
static UID: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];
static CODE: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
static VALUE: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
/// Signals lost to a full ring, by signal number (0 unused).
static LOST_BY_SIGNAL: [AtomicUsize; 65] = [const { AtomicUsize::new(0) }; 65];
static RECORDER_WAKE: AtomicI32 = AtomicI32::new(-1);
static RECORDER_INSTALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(signo: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let saved = Errno::last_raw();
    // Reserve a slot (a handler interrupted by another signal gets the next one), fill it, and
    // publish it last: the main flow reads a slot only once it is ready.
    match RING.reserve() {
        Some(t) => {
            let slot = Ring::<SLOTS>::slot(t);
            SIGNO[slot].store(signo, Ordering::Relaxed);
            let (mut pid, mut uid, mut code, mut value) = (0, 0, 0, 0);
            if !info.is_null() {
                // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t for this delivery;
                // si_pid, si_uid and si_value read the union members the kernel filled for kill,
                // sigqueue and tgkill (for other codes they hold zeros or unused data, read as
                // ints).
                (pid, uid, code, value) = unsafe {
                    (
                        (*info).si_pid(),
                        (*info).si_uid(),
                        (*info).si_code,
                        (*info).si_value().sival_ptr as usize as i32,
                    )
                };
            }
            // Every field is stored, so nothing of the slot's last signal is left in it.
            PID[slot].store(pid, Ordering::Relaxed);
            UID[slot].store(uid, Ordering::Relaxed);
            CODE[slot].store(code, Ordering::Relaxed);
            VALUE[slot].store(value, Ordering::Relaxed);
            RING.publish(t);
        }
        None => {
            if let Some(count) = usize::try_from(signo)
                .ok()
                .and_then(|n| LOST_BY_SIGNAL.get(n))
            {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let fd = RECORDER_WAKE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; one byte from our stack to a non-blocking pipe.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    Errno::set_raw(saved);
}

/// Records the signals it catches, with their sender, in the order they arrive; the main flow
/// takes them out with [`Recorder::next`] and reports them. Its handlers store into atomics and
/// write one byte to a pipe, nothing else (no allocation, no lock, no printing). It holds up to
/// [`SLOTS`] signals not yet taken, for as long as the process lives: each one taken frees its
/// slot. Signals that come while all are full are counted, by signal, and [`Recorder::next`]
/// reports them as [`Next::Lost`].
#[derive(Debug)]
pub struct Recorder {
    wake_read: OwnedFd,
    _wake_write: OwnedFd,
    /// Of the signals lost, how many were reported already, by signal number.
    lost_reported: [usize; 65],
}

/// Signals that came while the recorder was full, and were not recorded: how many of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    /// Each signal lost, with how many times, lowest number first.
    pub signals: Vec<(SigNum, usize)>,
}

impl Lost {
    /// How many signals in all.
    pub fn count(&self) -> usize {
        self.signals.iter().map(|(_, n)| n).sum()
    }

    /// Whether `sig` is among them.
    pub fn contains(&self, sig: SigNum) -> bool {
        self.signals.iter().any(|(s, _)| *s == sig)
    }
}

/// What [`Recorder::next`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Signal(Received),
    /// Signals came while all [`SLOTS`] were full (faster than the main flow took them), since
    /// the last report: they were not recorded.
    Lost(Lost),
    TimedOut,
}

impl Recorder {
    /// Install the recording handler for each of `signals` (once per process).
    pub fn install(signals: &[SigNum]) -> anyhow::Result<Recorder> {
        anyhow::ensure!(
            !RECORDER_INSTALLED.swap(true, Ordering::SeqCst),
            "the signal recorder is already installed in this process"
        );
        let (wake_read, wake_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .context("cannot create the wake-up pipe for signals")?;
        RECORDER_WAKE.store(wake_write.as_raw_fd(), Ordering::SeqCst);
        for &sig in signals {
            record(sig)?;
        }
        Ok(Recorder {
            wake_read,
            _wake_write: wake_write,
            lost_reported: [0; 65],
        })
    }

    /// How many signals the handlers have recorded so far (those lost aside).
    pub fn recorded(&self) -> usize {
        RING.head.load(Ordering::SeqCst)
    }

    /// The signals lost since the last report, if any.
    fn newly_lost(&mut self) -> Option<Lost> {
        let mut signals = Vec::new();
        for (n, count) in LOST_BY_SIGNAL.iter().enumerate() {
            let now = count.load(Ordering::Relaxed);
            let new = now.wrapping_sub(self.lost_reported[n]);
            if new > 0 {
                self.lost_reported[n] = now;
                signals.push((SigNum(n as i32), new));
            }
        }
        (!signals.is_empty()).then_some(Lost { signals })
    }

    /// The next signal recorded, waiting until `deadline` (`None`: as long as it takes); or the
    /// signals lost since the last report, as soon as there are any.
    pub fn next(&mut self, deadline: Option<Instant>) -> anyhow::Result<Next> {
        loop {
            if let Some(lost) = self.newly_lost() {
                return Ok(Next::Lost(lost));
            }
            if let Some(t) = RING.ready() {
                let i = Ring::<SLOTS>::slot(t);
                let code = CODE[i].load(Ordering::Relaxed);
                let received = Received {
                    signo: SigNum(SIGNO[i].load(Ordering::Relaxed)),
                    pid: PID[i].load(Ordering::Relaxed),
                    uid: UID[i].load(Ordering::Relaxed),
                    code,
                    value: (code == libc::SI_QUEUE).then(|| VALUE[i].load(Ordering::Relaxed)),
                };
                RING.taken(t);
                return Ok(Next::Signal(received));
            }
            let waited = crate::sys::wait_any(
                &[(self.wake_read.as_fd(), PollFlags::POLLIN)],
                deadline,
                None,
            )?;
            if waited.ready(0, PollFlags::POLLIN) {
                let mut buf = [0u8; 64];
                let _ = nix::unistd::read(self.wake_read.as_fd(), &mut buf);
            } else if waited.timed_out {
                return Ok(Next::TimedOut);
            }
        }
    }

    /// Readable when a signal has been recorded (for a poll beside other descriptors).
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_read.as_fd()
    }
}

/// Install the recording handler for one signal (SA_SIGINFO: the kernel passes the sender).
/// The error is the kernel's, e.g. EINVAL for SIGKILL and SIGSTOP.
pub fn record(sig: SigNum) -> Result<(), SysError> {
    let mut act: libc::sigaction = unsafe_zeroed_sigaction();
    let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = on_signal;
    act.sa_sigaction = handler as usize;
    act.sa_flags = libc::SA_SIGINFO;
    raw_sigaction(sig, &act)
}

fn unsafe_zeroed_sigaction() -> libc::sigaction {
    // SAFETY: sigaction is plain old data; all zeroes is an empty mask, no flags, SIG_DFL.
    unsafe { std::mem::zeroed() }
}

fn raw_sigaction(sig: SigNum, act: &libc::sigaction) -> Result<(), SysError> {
    // SAFETY: `act` is a valid sigaction; its handler, if any, is on_signal, which only stores to
    // atomics and calls write(2). The old action is not asked for (null).
    let rc = unsafe { libc::sigaction(sig.0, act, std::ptr::null_mut()) };
    Errno::result(rc).map(|_| ()).map_err(|errno| SysError {
        call: "sigaction",
        errno,
    })
}

/// Try to ignore a signal (SIG_IGN), as a program may for SIGPIPE; SIGKILL and SIGSTOP refuse.
pub fn try_ignore(sig: SigNum) -> Result<(), SysError> {
    let mut act = unsafe_zeroed_sigaction();
    act.sa_sigaction = libc::SIG_IGN;
    raw_sigaction(sig, &act)
}

/// Try to install the notes' kind of handler (`signal(sig, handler)`) for any signal.
pub fn try_handle(sig: SigNum) -> Result<(), SysError> {
    record(sig)
}

/// Block or unblock signals for this thread (sigprocmask).
pub fn set_blocked(signals: &[SigNum], block: bool) -> anyhow::Result<()> {
    let mut set = unsafe_zeroed_sigset();
    for s in signals {
        // SAFETY: `set` is a valid sigset_t (sigemptyset's all-zero form on Linux); sigaddset
        // checks the number and fails with EINVAL for one out of range.
        let rc = unsafe { libc::sigaddset(&mut set, s.0) };
        Errno::result(rc).map_err(|errno| SysError {
            call: "sigaddset",
            errno,
        })?;
    }
    let how = if block {
        libc::SIG_BLOCK
    } else {
        libc::SIG_UNBLOCK
    };
    // SAFETY: a valid set to apply; the old mask is not asked for (null).
    let rc = unsafe { libc::sigprocmask(how, &set, std::ptr::null_mut()) };
    Errno::result(rc)
        .map_err(|errno| SysError {
            call: "sigprocmask",
            errno,
        })
        .context("cannot change the blocked signals")?;
    Ok(())
}

/// The signals pending for this process (sigpending).
pub fn pending() -> anyhow::Result<Vec<SigNum>> {
    let mut set: libc::sigset_t = unsafe_zeroed_sigset();
    // SAFETY: sigpending fills the sigset_t we pass, which is valid and writable.
    let rc = unsafe { libc::sigpending(&mut set) };
    Errno::result(rc).map_err(|errno| SysError {
        call: "sigpending",
        errno,
    })?;
    Ok((1..=rtmax())
        // SAFETY: sigismember reads a valid, initialised sigset_t.
        .filter(|&n| unsafe { libc::sigismember(&set, n) } == 1)
        .map(SigNum)
        .collect())
}

fn unsafe_zeroed_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is plain old data; all zeroes is the empty set.
    unsafe { std::mem::zeroed() }
}

/// Send a signal: kill(2), or sigqueue(3) with a value.
pub fn send(pid: i32, sig: SigNum, value: Option<i32>) -> Result<(), SysError> {
    let rc = match value {
        // SAFETY: kill with plain integers.
        None => unsafe { libc::kill(pid, sig.0) },
        Some(v) => {
            let val = libc::sigval {
                sival_ptr: v as isize as *mut libc::c_void,
            };
            // SAFETY: sigqueue with plain integers and a sigval passed by value.
            unsafe { libc::sigqueue(pid, sig.0, val) }
        }
    };
    Errno::result(rc).map(|_| ()).map_err(|errno| SysError {
        call: if value.is_some() { "sigqueue" } else { "kill" },
        errno,
    })
}

/// A limit as `ulimit` shows it: a number, or `unlimited`.
pub fn limit_text(limit: u64) -> String {
    if limit == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        limit.to_string()
    }
}

/// This process's limit on queued signals, `getrlimit(RLIMIT_SIGPENDING)` (`ulimit -i`): (soft,
/// hard). The kernel holds at most the soft limit of signals queued for this process's user and
/// not yet delivered, counting those sent with sigqueue and real-time ones; a sigqueue past it
/// fails with EAGAIN.
pub fn queued_signal_limit() -> anyhow::Result<(u64, u64)> {
    let (soft, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_SIGPENDING)
            .map_err(|errno| SysError {
                call: "getrlimit",
                errno,
            })
            .context("cannot read the limit on queued signals (RLIMIT_SIGPENDING)")?;
    Ok((soft, hard))
}

/// The real user id of this process.
pub fn uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// Wait for a child to change state: stopped, continued, or ended (waitpid with WUNTRACED and
/// WCONTINUED).
pub fn wait_change(pid: Pid) -> anyhow::Result<nix::sys::wait::WaitStatus> {
    use nix::sys::wait::{WaitPidFlag, waitpid};
    loop {
        match waitpid(pid, Some(WaitPidFlag::WUNTRACED | WaitPidFlag::WCONTINUED)) {
            Ok(status) => return Ok(status),
            Err(Errno::EINTR) => {}
            Err(errno) => {
                return Err(SysError {
                    call: "waitpid",
                    errno,
                })
                .context("cannot wait for the child");
            }
        }
    }
}

/// `sigwaitinfo`: take one of `set`'s signals, which the caller keeps blocked, sleeping until
/// one is pending; its number. A handled signal outside the set interrupts it (EINTR).
pub(crate) fn wait_info(set: &nix::sys::signal::SigSet) -> Result<i32, Errno> {
    // SAFETY: `set` is a valid sigset_t; a null siginfo pointer asks for no details.
    let signo = unsafe { libc::sigwaitinfo(set.as_ref(), std::ptr::null_mut()) };
    if signo == -1 {
        return Err(Errno::last());
    }
    Ok(signo)
}

// ---------------------------------------------------------------------------------------------
// Signals and threads: which thread runs the handler

/// How many runs of the thread recorder's handler it holds that the main flow has not taken.
const THREAD_SLOTS: usize = 64;
static THREAD_RING: Ring<THREAD_SLOTS> = Ring::new();
static THREAD_TID: [AtomicI32; THREAD_SLOTS] = [const { AtomicI32::new(0) }; THREAD_SLOTS];
static THREAD_CODE: [AtomicI32; THREAD_SLOTS] = [const { AtomicI32::new(0) }; THREAD_SLOTS];
static THREAD_INSTALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_thread_signal(
    _signo: libc::c_int,
    info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    let saved = Errno::last_raw();
    if let Some(t) = THREAD_RING.reserve() {
        let slot = Ring::<THREAD_SLOTS>::slot(t);
        // SAFETY: gettid(2) is a plain system call, async-signal-safe; it names the thread the
        // kernel chose to run this handler in.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
        THREAD_TID[slot].store(tid, Ordering::Relaxed);
        let code = if info.is_null() {
            0
        } else {
            // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t; si_code is always set.
            unsafe { (*info).si_code }
        };
        THREAD_CODE[slot].store(code, Ordering::Relaxed);
        THREAD_RING.publish(t);
    }
    Errno::set_raw(saved);
}

/// One run of the thread recorder's handler: the thread it ran in, and how the signal was sent
/// (si_code: SI_USER for kill, SI_TKILL for pthread_kill and tgkill).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RanIn {
    pub tid: i32,
    pub code: i32,
}

/// Records, for each delivery of a signal, the thread whose handler ran (its kernel thread id),
/// so that the main flow can tell where a signal went. The handler stores to atomics only. It
/// holds up to 64 runs not yet taken, for as long as the process lives; runs that come while all
/// are full are counted ([`ThreadRecorder::lost`]).
#[derive(Debug)]
pub struct ThreadRecorder {
    _installed: (),
}

impl ThreadRecorder {
    /// Install the recording handler for `sig` (once per process).
    pub fn install(sig: SigNum) -> anyhow::Result<ThreadRecorder> {
        anyhow::ensure!(
            !THREAD_INSTALLED.swap(true, Ordering::SeqCst),
            "the thread recorder is already installed in this process"
        );
        let mut act = unsafe_zeroed_sigaction();
        let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            on_thread_signal;
        act.sa_sigaction = handler as usize;
        act.sa_flags = libc::SA_SIGINFO;
        // SAFETY: `act` is a valid sigaction whose handler only calls gettid(2) and stores to
        // atomics; the old action is not asked for (null).
        let rc = unsafe { libc::sigaction(sig.0, &act, std::ptr::null_mut()) };
        Errno::result(rc).map_err(|errno| SysError {
            call: "sigaction",
            errno,
        })?;
        Ok(ThreadRecorder { _installed: () })
    }

    /// The next run of the handler not yet taken, if one has been recorded.
    pub fn take(&mut self) -> Option<RanIn> {
        let t = THREAD_RING.ready()?;
        let i = Ring::<THREAD_SLOTS>::slot(t);
        let ran = RanIn {
            tid: THREAD_TID[i].load(Ordering::Relaxed),
            code: THREAD_CODE[i].load(Ordering::Relaxed),
        };
        THREAD_RING.taken(t);
        Some(ran)
    }

    /// How many runs of the handler came while all 64 were held untaken, and were not recorded.
    pub fn lost(&self) -> usize {
        THREAD_RING.lost()
    }
}

/// The kernel's id of the calling thread (gettid): the process's PID for its main thread.
pub fn thread_id() -> i32 {
    nix::unistd::gettid().as_raw()
}

/// Block or unblock signals in the calling thread only (pthread_sigmask); the other threads
/// keep their own masks.
pub fn set_thread_blocked(signals: &[SigNum], block: bool) -> Result<(), SysError> {
    let mut set = SigSet::empty();
    for s in signals {
        let sig = Signal::try_from(s.0).map_err(|errno| SysError {
            call: "sigaddset",
            errno,
        })?;
        set.add(sig);
    }
    let how = if block {
        signal::SigmaskHow::SIG_BLOCK
    } else {
        signal::SigmaskHow::SIG_UNBLOCK
    };
    signal::pthread_sigmask(how, Some(&set), None).map_err(|errno| SysError {
        call: "pthread_sigmask",
        errno,
    })
}

/// Send a signal to one thread of this process (pthread_kill, tgkill in the kernel): the thread
/// of `handle`, which is not yet joined, so its pthread_t is still valid.
pub fn send_to_thread<T>(handle: &std::thread::JoinHandle<T>, sig: SigNum) -> Result<(), SysError> {
    use std::os::unix::thread::JoinHandleExt as _;
    // SAFETY: the pthread_t comes from a JoinHandle that is borrowed, so the thread has been
    // neither joined nor detached: the id is valid (a thread that has ended but is not joined
    // can still be named). pthread_kill returns an error number instead of setting errno.
    let rc = unsafe { libc::pthread_kill(handle.as_pthread_t(), sig.0) };
    thread_result(rc)
}

/// Send a signal to the calling thread (pthread_kill(pthread_self(), sig)): its handler runs in
/// this thread before the call returns, unless the thread blocks it.
pub fn send_to_this_thread(sig: SigNum) -> Result<(), SysError> {
    // SAFETY: pthread_self() is always a valid id of the calling thread.
    let rc = unsafe { libc::pthread_kill(libc::pthread_self(), sig.0) };
    thread_result(rc)
}

fn thread_result(rc: libc::c_int) -> Result<(), SysError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(SysError {
            call: "pthread_kill",
            errno: Errno::from_raw(rc),
        })
    }
}

static CHILD_ENDED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_child(_signo: libc::c_int) {
    CHILD_ENDED.store(true, Ordering::SeqCst);
}

/// Catch SIGCHLD, without SA_RESTART, so that a parent blocked on its child (in sem_wait,
/// mq_receive, sigwaitinfo) is woken with EINTR when the child ends, and can tell by
/// [`child_ended`] that no answer will come.
pub(crate) fn watch_children() -> Result<(), SysError> {
    let action = SigAction::new(
        SigHandler::Handler(on_child),
        SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { signal::sigaction(Signal::SIGCHLD, &action) }
        .map(|_| ())
        .map_err(|errno| SysError {
            call: "sigaction",
            errno,
        })
}

/// Whether a child has ended since [`forget_ended_children`] (with [`watch_children`] on).
pub(crate) fn child_ended() -> bool {
    CHILD_ENDED.load(Ordering::SeqCst)
}

/// Start afresh before forking the next child.
pub(crate) fn forget_ended_children() {
    CHILD_ENDED.store(false, Ordering::SeqCst);
}

extern "C" fn on_tick(_signo: libc::c_int) {}

fn set_interval(period: Duration) -> Result<(), SysError> {
    let tv = libc::timeval {
        tv_sec: period.as_secs() as libc::time_t,
        tv_usec: period.subsec_micros() as libc::suseconds_t,
    };
    let timer = libc::itimerval {
        it_interval: tv,
        it_value: tv,
    };
    // SAFETY: a valid itimerval; the old value is not wanted (null).
    if unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) } == -1 {
        return Err(SysError::last("setitimer"));
    }
    Ok(())
}

/// A SIGALRM every `period`, caught by a handler that does nothing, without SA_RESTART: it
/// ends any blocking call with EINTR, so that a process about to sleep on a wait just after a
/// signal or a child's end came (too late to interrupt it, too early to be seen by the check
/// before it) looks again within one period. Stopped and SIGALRM restored on drop. Timers are
/// not inherited by a forked child.
#[derive(Debug)]
pub(crate) struct Ticker {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Ticker {
    pub fn start(period: Duration) -> Result<Ticker, SysError> {
        let action = SigAction::new(
            SigHandler::Handler(on_tick),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler does nothing at all.
        unsafe { signal::sigaction(Signal::SIGALRM, &action) }.map_err(|errno| SysError {
            call: "sigaction",
            errno,
        })?;
        set_interval(period)?;
        Ok(Ticker {
            _not_send: std::marker::PhantomData,
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let _ = set_interval(Duration::ZERO);
        let _ = restore_default(Signal::SIGALRM);
    }
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
        assert!(SigNum(rtmin()).is_realtime());
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

    #[test]
    fn the_ring_reuses_slots_once_taken_and_counts_what_finds_it_full() {
        let ring: Ring<4> = Ring::new();
        assert_eq!(ring.ready(), None);
        // Filled in order, in any order of publishing; the fifth finds it full.
        let tickets: Vec<usize> = (0..4).map(|_| ring.reserve().unwrap()).collect();
        assert_eq!(tickets, [0, 1, 2, 3]);
        ring.publish(1);
        assert_eq!(ring.ready(), None, "ticket 0 first, once it is filled");
        ring.publish(0);
        assert_eq!((ring.reserve(), ring.lost()), (None, 1));
        assert_eq!(ring.ready(), Some(0));
        ring.taken(0);
        // Slot 0 is free again: ticket 4 goes there.
        assert_eq!(ring.reserve(), Some(4));
        assert_eq!((ring.reserve(), ring.lost()), (None, 2));
        for t in [2, 3, 4] {
            ring.publish(t);
        }
        for t in 1..=4 {
            assert_eq!(ring.ready(), Some(t));
            ring.taken(t);
        }
        assert_eq!(ring.ready(), None);
        // A long life, never more than 3 waiting: nothing more is lost.
        for round in 0..10_000 {
            let got: Vec<usize> = (0..3).map(|_| ring.reserve().unwrap()).collect();
            for &t in &got {
                ring.publish(t);
            }
            for &t in &got {
                assert_eq!(ring.ready(), Some(t), "round {round}");
                ring.taken(t);
            }
        }
        assert_eq!(ring.lost(), 2);
    }

    #[test]
    fn the_thread_recorder_records_every_run_of_a_long_life() {
        // A real-time signal no other test here uses, sent to this very thread: its handler runs
        // before pthread_kill returns. More runs than the recorder has slots, each taken.
        let sig = SigNum(rtmin() + 4);
        let mut recorder = ThreadRecorder::install(sig).unwrap();
        let me = thread_id();
        for i in 0..200 {
            send_to_this_thread(sig).unwrap();
            assert_eq!(
                recorder.take(),
                Some(RanIn {
                    tid: me,
                    code: libc::SI_TKILL
                }),
                "run {}",
                i + 1
            );
            assert_eq!(recorder.take(), None);
        }
    }

    #[test]
    fn kill_and_stop_cannot_be_handled_or_ignored() {
        for sig in [libc::SIGKILL, libc::SIGSTOP] {
            assert_eq!(try_handle(SigNum(sig)).unwrap_err().errno, Errno::EINVAL);
            assert_eq!(try_ignore(SigNum(sig)).unwrap_err().errno, Errno::EINVAL);
        }
    }
}
