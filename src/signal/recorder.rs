//! A recorder of signals: handlers that only store, a main flow that reports. The lessons
//! [`super::wait`] and [`super::pending`] report what it records.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::PollFlags;

use super::SigNum;
use super::ring::Ring;
use crate::sys::SysError;

/// One signal received, with what the kernel said about its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Received {
    pub signo: SigNum,
    /// The sending process and its real user id (0 when the kernel sent it).
    pub pid: i32,
    pub uid: u32,
    /// How it was sent (si_code): SI_USER (kill), SI_QUEUE (sigqueue), SI_KERNEL, ...
    pub code: i32,
    /// The value sent with sigqueue.
    pub value: Option<i32>,
}

/// How many signals the recorder holds that the main flow has not yet taken.
pub(crate) const SLOTS: usize = 1024;
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
pub(crate) struct Recorder {
    wake_read: OwnedFd,
    _wake_write: OwnedFd,
    /// Of the signals lost, how many were reported already, by signal number.
    lost_reported: [usize; 65],
}

/// Signals that came while the recorder was full, and were not recorded: how many of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lost {
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
pub(crate) enum Next {
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
}

/// Install the recording handler for one signal (SA_SIGINFO: the kernel passes the sender).
/// The error is the kernel's, e.g. EINVAL for SIGKILL and SIGSTOP.
pub(crate) fn record(sig: SigNum) -> Result<(), SysError> {
    let mut act: libc::sigaction = unsafe_zeroed_sigaction();
    let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = on_signal;
    act.sa_sigaction = handler as usize;
    act.sa_flags = libc::SA_SIGINFO;
    raw_sigaction(sig, &act)
}

pub(crate) fn unsafe_zeroed_sigaction() -> libc::sigaction {
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
pub(crate) fn try_ignore(sig: SigNum) -> Result<(), SysError> {
    let mut act = unsafe_zeroed_sigaction();
    act.sa_sigaction = libc::SIG_IGN;
    raw_sigaction(sig, &act)
}

/// Try to install the notes' kind of handler (`signal(sig, handler)`) for any signal.
pub(crate) fn try_handle(sig: SigNum) -> Result<(), SysError> {
    record(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_and_stop_cannot_be_handled_or_ignored() {
        for sig in [libc::SIGKILL, libc::SIGSTOP] {
            assert_eq!(try_handle(SigNum(sig)).unwrap_err().errno, Errno::EINVAL);
            assert_eq!(try_ignore(SigNum(sig)).unwrap_err().errno, Errno::EINVAL);
        }
    }
}
