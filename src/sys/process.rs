//! Processes: `fork` with a [`Child`] that is reaped at the latest when dropped, the ways a child
//! ends (`exit`, `_exit`, `execvp`) and how a shell reports it, stopping and continuing a child,
//! and the signal dispositions a child inherits (SIGPIPE ignored in every Rust program).
//!
//! Forking is safe for the child because the binaries that fork are single-threaded: [`fork`]
//! checks that before it forks.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use super::error::SysError;

/// The error of `call`, from the errno it failed with (for `map_err`).
fn failed(call: &'static str) -> impl FnOnce(Errno) -> SysError {
    move |errno| SysError { call, errno }
}

/// Set a signal's disposition to its default action (SIG_DFL), e.g. SIGPIPE, which Rust
/// programs ignore and a forked child inherits ignored, also across exec.
pub(crate) fn default_action(sig: Signal) -> anyhow::Result<()> {
    // SAFETY: installing SIG_DFL runs no code of ours in a handler.
    unsafe { signal::signal(sig, SigHandler::SigDfl) }
        .map_err(failed("signal"))
        .with_context(|| format!("cannot restore the default action of {}", sig.as_str()))?;
    Ok(())
}

/// Ignore a signal (SIG_IGN).
pub fn ignore(sig: Signal) -> anyhow::Result<()> {
    // SAFETY: SIG_IGN runs no code of ours in a handler.
    unsafe { signal::signal(sig, SigHandler::SigIgn) }
        .map_err(failed("signal"))
        .with_context(|| format!("cannot ignore {}", sig.as_str()))?;
    Ok(())
}

/// A forked child, reaped at the latest when dropped (killed first if it still runs), so that
/// none outlives the demo and none is left a zombie.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    status: Option<WaitStatus>,
}

/// Where `Child::wait_stopped` found a child: stopped, or ended (and reaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Halt {
    Stopped,
    Ended(WaitStatus),
}

/// How a child ended, as a shell reports it.
pub fn shell_status(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => 1,
    }
}

/// What a shell would say of a child's end: `exited 0`, `killed by SIGPIPE`.
pub fn describe(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exited {code}"),
        WaitStatus::Signaled(_, sig, core) => {
            format!(
                "killed by {}{}",
                sig.as_str(),
                if core { " (core dumped)" } else { "" }
            )
        }
        other => format!("{other:?}"),
    }
}

impl Child {
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Wait for the child to end (`waitpid`), retrying after a signal interrupts the wait.
    pub fn wait(&mut self) -> anyhow::Result<WaitStatus> {
        loop {
            if let Some(status) = self.wait_unless(|| false)? {
                return Ok(status);
            }
        }
    }

    /// Wait for the child to end, unless `stop` says so when a signal interrupts the wait
    /// (`None`); `stop` is asked before the wait too.
    pub(crate) fn wait_unless(
        &mut self,
        stop: impl Fn() -> bool,
    ) -> anyhow::Result<Option<WaitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        loop {
            if stop() {
                return Ok(None);
            }
            match waitpid(self.pid, None) {
                Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                    self.status = Some(status);
                    return Ok(Some(status));
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => {
                    return Err(SysError {
                        call: "waitpid",
                        errno,
                    })
                    .with_context(|| format!("cannot wait for child {}", self.pid));
                }
            }
        }
    }

    /// Wait until the child stops ([`stop_self`]) or ends, with `waitpid(pid, WUNTRACED)`;
    /// `None` when `stop` says so (asked before the wait and whenever a signal interrupts it).
    pub(crate) fn wait_stopped(&mut self, stop: impl Fn() -> bool) -> anyhow::Result<Option<Halt>> {
        if let Some(status) = self.status {
            return Ok(Some(Halt::Ended(status)));
        }
        loop {
            if stop() {
                return Ok(None);
            }
            match waitpid(self.pid, Some(nix::sys::wait::WaitPidFlag::WUNTRACED)) {
                Ok(WaitStatus::Stopped(..)) => return Ok(Some(Halt::Stopped)),
                Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                    self.status = Some(status);
                    return Ok(Some(Halt::Ended(status)));
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => {
                    return Err(SysError {
                        call: "waitpid",
                        errno,
                    })
                    .with_context(|| format!("cannot wait for child {} to stop", self.pid));
                }
            }
        }
    }

    /// Let a stopped child go on (`kill(pid, SIGCONT)`).
    pub(crate) fn resume(&self) -> anyhow::Result<()> {
        signal::kill(self.pid, Signal::SIGCONT)
            .map_err(failed("kill"))
            .with_context(|| format!("cannot continue child {}", self.pid))
    }

    /// Whether it has ended, without waiting (`waitpid(pid, WNOHANG)`); reaps it if so.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<WaitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        match waitpid(self.pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                self.status = Some(status);
                Ok(Some(status))
            }
            Ok(_) | Err(Errno::EINTR) => Ok(None),
            Err(errno) => Err(SysError {
                call: "waitpid",
                errno,
            })
            .with_context(|| format!("cannot check on child {}", self.pid)),
        }
    }

    /// Record that the child was reaped elsewhere (a waitpid of the caller's own returned its
    /// end), so that dropping it does not wait again.
    pub(crate) fn mark_reaped(&mut self, status: WaitStatus) {
        if matches!(status, WaitStatus::Exited(..) | WaitStatus::Signaled(..)) {
            self.status = Some(status);
        }
    }

    /// Kill the child (SIGKILL) unless it has ended, and reap it.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = signal::kill(self.pid, Signal::SIGKILL);
            let _ = self.wait();
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

fn threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(Iterator::count)
}

/// `fork()`: run `child` in a new process, which then exits with what it returns (`_exit`, so
/// nothing of the parent's is flushed or dropped twice). The child is killed should the parent
/// die first (PR_SET_PDEATHSIG), also after it execs another program. In the child the termination signals
/// take their default actions again, so Ctrl-C ends it. SIGPIPE stays ignored, as in any Rust
/// program: a write to a pipe nobody reads fails with EPIPE, which the child can handle (a
/// closed stdout ends it quietly); [`exec`] restores SIGPIPE's default for the program it runs.
pub fn fork(child: impl FnOnce() -> i32) -> anyhow::Result<Child> {
    anyhow::ensure!(
        threads().is_none_or(|n| n == 1),
        "cannot fork safely: this process runs more than one thread"
    );
    // Whatever sits in stdout's buffer would be written twice, once by each process.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let parent = nix::unistd::getpid();
    // SAFETY: the process is single-threaded (checked above), so the child is a full copy with
    // no lock held by another thread: it may allocate and run any code. It leaves through
    // `_exit` and never returns into the parent's stack frames.
    match unsafe { nix::unistd::fork() }
        .map_err(failed("fork"))
        .context("cannot fork a child process")?
    {
        ForkResult::Parent { child } => Ok(Child {
            pid: child,
            status: None,
        }),
        ForkResult::Child => {
            // Should the parent die without reaping it (SIGKILL, say), the child dies too: no
            // child outlives the demo. Checked after, in case the parent died before.
            // SAFETY: prctl with integer arguments only.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
            if nix::unistd::getppid() != parent {
                exit_now(1);
            }
            for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
                let _ = default_action(sig);
            }
            // A signal that came between fork and the lines above was only recorded, in this
            // copy of the parent's handler state: it ends the child now.
            if let Some(sig) = super::termination_received() {
                super::exit_by_signal(sig);
            }
            let code = child();
            let _ = std::io::Write::flush(&mut std::io::stdout());
            exit_now(code)
        }
    }
}

/// In a forked child: close this process's copy of a descriptor that the parent owns (an
/// `OwnedFd`, or a `File` made of one: an end the child does not use). The child never drops
/// that owner: it leaves through `_exit`, so the descriptor is closed exactly once in each
/// process.
pub fn close_in_child(fd: &impl AsFd) {
    // SAFETY: the descriptor is open (its owner is borrowed, so alive); in this child process
    // nothing else closes it, because the child ends with _exit and runs no destructors.
    unsafe { libc::close(fd.as_fd().as_raw_fd()) };
}

/// In a forked child: stop (`raise(SIGSTOP)`) until the parent sends SIGCONT ([`Child::resume`]),
/// so that the parent can look at it as it is at this point (its descriptor table, say).
pub(crate) fn stop_self() {
    let _ = signal::raise(Signal::SIGSTOP);
}

/// `_exit(code)`: end this process at once, without running destructors or atexit handlers.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// `execvp(argv[0], argv)`: replace this process with a program found on PATH, with SIGPIPE's
/// default action restored first (an ignored signal stays ignored across exec, and C programs
/// such as `yes` rely on SIGPIPE to end). Returns only on failure, with the errno (the shell
/// then exits 127 for "not found", 126 otherwise).
pub fn exec(argv: &[CString]) -> Errno {
    let Some(program) = argv.first() else {
        return Errno::EINVAL;
    };
    if default_action(Signal::SIGPIPE).is_err() {
        return Errno::last();
    }
    let args: Vec<&CStr> = argv.iter().map(CString::as_c_str).collect();
    match nix::unistd::execvp(program, &args) {
        Ok(never) => match never {},
        Err(errno) => errno,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_status_of_a_signal_is_128_plus() {
        let pid = Pid::from_raw(1);
        assert_eq!(shell_status(WaitStatus::Exited(pid, 3)), 3);
        assert_eq!(
            shell_status(WaitStatus::Signaled(pid, Signal::SIGPIPE, false)),
            141
        );
        assert_eq!(
            describe(WaitStatus::Signaled(pid, Signal::SIGPIPE, false)),
            "killed by SIGPIPE"
        );
    }
}
