//! Termination signals (SIGINT, SIGTERM, SIGHUP): caught so that the main flow can clean up (remove
//! a segment, unlink a queue) and then exit by the signal, so that the shell sees the true cause.
//! The handler only records the signal and writes a byte to a pipe (the self-pipe trick); a
//! program waits with [`Termination::sleep`] or puts [`Termination::wake_fd`] in its poll set.

use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

use super::poll::poll_timeout;

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The signals a terminal or a supervisor sends to end a program politely.
pub(crate) const TERMINATION_SIGNALS: [Signal; 3] =
    [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

extern "C" fn on_termination(signo: libc::c_int) {
    // Only async-signal-safe work here: an atomic store and write(2), errno preserved.
    let saved = Errno::last_raw();
    let _ = RECEIVED.compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst);
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one valid byte on our stack. The
        // pipe is non-blocking, so a full pipe (already woken) cannot block the handler.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    Errno::set_raw(saved);
}

/// Catches SIGINT, SIGTERM and SIGHUP so that the main flow can clean up before it exits by the
/// signal. The handler only records the signal and wakes [`Termination::sleep`] through a pipe
/// (the self-pipe trick), so a signal that lands just before a sleep starts is not missed.
/// Handlers are installed without SA_RESTART: a blocking call returns EINTR instead of waiting on.
#[derive(Debug)]
pub struct Termination {
    wake_read: OwnedFd,
    _wake_write: OwnedFd,
}

impl Termination {
    /// Install the handlers (once per process).
    pub fn install() -> anyhow::Result<Termination> {
        if INSTALLED.swap(true, Ordering::SeqCst) {
            anyhow::bail!("the termination handlers are already installed in this process");
        }
        let (wake_read, wake_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .context("cannot create the wake-up pipe for signals")?;
        WAKE_FD.store(wake_write.as_raw_fd(), Ordering::SeqCst);
        let action = SigAction::new(
            SigHandler::Handler(on_termination),
            SaFlags::empty(),
            SigSet::empty(),
        );
        for sig in TERMINATION_SIGNALS {
            // SAFETY: the handler only touches atomics and calls write(2), both async-signal-safe.
            unsafe { signal::sigaction(sig, &action) }
                .with_context(|| format!("cannot install a handler for {}", sig.as_str()))?;
        }
        Ok(Termination {
            wake_read,
            _wake_write: wake_write,
        })
    }

    /// The first termination signal received so far, if any.
    pub fn received(&self) -> Option<Signal> {
        Signal::try_from(RECEIVED.load(Ordering::SeqCst)).ok()
    }

    /// `Err(Interrupted)` once a termination signal has arrived.
    pub fn check(&self) -> Result<(), Interrupted> {
        match self.received() {
            Some(sig) => Err(Interrupted(sig)),
            None => Ok(()),
        }
    }

    /// The error that ends a run woken by a termination signal ([`Interrupted`]).
    pub fn interrupted(&self) -> anyhow::Error {
        match self.check() {
            Err(interrupted) => interrupted.into(),
            Ok(()) => anyhow::anyhow!("woken up, yet no termination signal was received"),
        }
    }

    /// Sleep for `duration`, or until a termination signal arrives; returns that signal.
    pub fn sleep(&self, duration: Duration) -> Option<Signal> {
        let deadline = Instant::now() + duration;
        loop {
            if let Some(sig) = self.received() {
                return Some(sig);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let timeout = poll_timeout(left);
            let mut fds = [PollFd::new(self.wake_read.as_fd(), PollFlags::POLLIN)];
            // EINTR and readiness both lead back to the check above.
            let _ = poll(&mut fds, timeout);
        }
    }

    /// The read end of the wake-up pipe: readable once a termination signal has arrived, for
    /// adding to a `poll` set beside what the program waits on.
    pub(crate) fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_read.as_fd()
    }
}

/// The first termination signal received, where the [`Termination`] value is out of reach
/// (deep in a measured loop); None before one arrives or when none is installed.
pub(crate) fn termination_received() -> Option<Signal> {
    Signal::try_from(RECEIVED.load(Ordering::Relaxed)).ok()
}

/// The error a long run (a measurement, a count split over processes) stops with once a
/// termination signal has arrived, deep in a loop that only sees [`termination_received`]: the
/// main flow then ends by the signal ([`Termination::interrupted`]).
#[derive(Debug)]
pub(crate) struct Stopped;

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the measurement was stopped")
    }
}

impl std::error::Error for Stopped {}

/// Exit by `sig`, so that the parent (a shell) sees the true cause: the default action is
/// restored and the signal raised. Should it not end the process, exit with 128 + N.
pub(crate) fn exit_by_signal(sig: Signal) -> ! {
    let _ = io::stdout().flush();
    // SAFETY: restoring the default action of a signal installs no Rust code as a handler.
    let _ = unsafe { signal::signal(sig, SigHandler::SigDfl) };
    let mut set = SigSet::empty();
    set.add(sig);
    let _ = set.thread_unblock();
    let _ = signal::raise(sig);
    std::process::exit(128 + sig as i32)
}

/// A termination signal ended the run after the cleanup was done; the binary exits by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted(pub Signal);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted by {}", self.0.as_str())
    }
}

impl std::error::Error for Interrupted {}
