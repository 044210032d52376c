//! A signal's way to a process: sent (kill, sigqueue) within the limit on queued signals,
//! blocked (sigprocmask), pending (sigpending), taken (sigwaitinfo); and a child's change of
//! state as its parent sees it (waitpid).

use anyhow::Context as _;
use nix::errno::Errno;
use nix::unistd::Pid;

use super::{SigNum, rtmax};
use crate::sys::SysError;

/// Block or unblock signals for this thread (sigprocmask).
pub(crate) fn set_blocked(signals: &[SigNum], block: bool) -> anyhow::Result<()> {
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
pub(crate) fn pending() -> anyhow::Result<Vec<SigNum>> {
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
pub(crate) fn send(pid: i32, sig: SigNum, value: Option<i32>) -> Result<(), SysError> {
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
pub(crate) fn limit_text(limit: u64) -> String {
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
pub(crate) fn queued_signal_limit() -> anyhow::Result<(u64, u64)> {
    let (soft, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_SIGPENDING)
            .map_err(|errno| SysError {
                call: "getrlimit",
                errno,
            })
            .context("cannot read the limit on queued signals (RLIMIT_SIGPENDING)")?;
    Ok((soft, hard))
}

/// Wait for a child to change state: stopped, continued, or ended (waitpid with WUNTRACED and
/// WCONTINUED).
pub(crate) fn wait_change(pid: Pid) -> anyhow::Result<nix::sys::wait::WaitStatus> {
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
