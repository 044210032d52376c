//! The kernel side of faults (notes B4, "memory error, arithmetic error"): the notes' handler,
//! installed over std's own, the default action restored, and real faults made (a write to a
//! PROT_NONE page, a hardware division by zero). Used by the lessons [`super::segv`],
//! [`super::fpe`] and [`super::no_handler`].

use nix::errno::Errno;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

use crate::sys::SysError;

/// What the notes' handler prints.
pub(crate) const SEGV_MESSAGE: &str = "Memory access blows up!\n";
/// What our arithmetic-error handler prints, in the notes' words.
pub(crate) const FPE_MESSAGE: &str = "Arithmetic error blows up!\n";

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
pub(crate) fn install_fault_handler(sig: Signal) -> Result<(), SysError> {
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
pub(crate) fn handler_text(h: SigHandler) -> &'static str {
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
pub(crate) fn invalid_memory_access() -> anyhow::Result<()> {
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
pub(crate) fn divide_by_zero() -> anyhow::Result<()> {
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
        use anyhow::Context as _;
        signal::raise(Signal::SIGFPE).context("cannot raise SIGFPE")?;
    }
    anyhow::bail!("the division by zero did not trap")
}

/// A fault that a lesson makes for real: the notes' memory error, or an arithmetic error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An invalid memory access: SIGSEGV (the notes' program).
    Segv,
    /// An integer division by zero: SIGFPE.
    Fpe,
}

impl Fault {
    /// The signal the kernel sends for it.
    pub(crate) fn signal(self) -> Signal {
        match self {
            Fault::Segv => Signal::SIGSEGV,
            Fault::Fpe => Signal::SIGFPE,
        }
    }

    /// What the program does to make it.
    pub(crate) fn what(self) -> &'static str {
        match self {
            Fault::Segv => "an invalid memory access",
            Fault::Fpe => "an integer division by zero",
        }
    }

    /// Make it: [`invalid_memory_access`] or [`divide_by_zero`]. Returns only if the CPU did
    /// not trap, or the signal was handled by returning (which ours never does).
    pub(crate) fn make(self) -> anyhow::Result<()> {
        match self {
            Fault::Segv => invalid_memory_access(),
            Fault::Fpe => divide_by_zero(),
        }
    }
}
