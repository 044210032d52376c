//! SIGKILL and SIGSTOP: no handler, no ignoring, always their default action.
//!
//! Notes, B4 Unix Signal: a user supplied handler is "applicable for some signals only"; "common
//! signals include: `kill`, `stop`, `continue`". The lesson asks the kernel for a handler
//! (`signal(SIGKILL, myOwnHandler)`) and for SIG_IGN, for SIGKILL and for SIGSTOP: each is
//! refused with EINVAL, and it prints the notes' "Failed to register handler" for each. Then a
//! child that tried the same, in vain, is stopped by SIGSTOP, continued by SIGCONT and killed by
//! SIGKILL, each change as its parent's waitpid (WUNTRACED, WCONTINUED) reports it.
//!
//! Why the kernel refuses: these two are the way to stop or end any process of one's own,
//! whatever it does with its signals; so no process can escape them.
//!
//! Lab sheet: docs/04-signals.md, "SIGKILL and SIGSTOP: uncatchable"; docs/deeper/04-signals.md,
//! "SIGKILL in the notes' program: sig_kill".
#![forbid(unsafe_code)]

use nix::sys::wait::WaitStatus;

use super::delivery::{send, wait_change};
use super::recorder::{try_handle, try_ignore};
use super::{REGISTER_FAILED, SigNum};
use crate::sys;
use crate::ui::{Ui, out_line};

/// The lesson takes no options.
#[derive(Debug, Clone, Default)]
pub struct Args {}

/// Try, and fail, to handle or ignore SIGKILL and SIGSTOP; then stop, continue and kill a child.
pub fn run(_args: &Args, ui: &Ui) -> anyhow::Result<()> {
    for sig in [libc::SIGKILL, libc::SIGSTOP] {
        let s = SigNum(sig);
        for (what, result) in [("myOwnHandler", try_handle(s)), ("SIG_IGN", try_ignore(s))] {
            match result {
                Err(e) => out_line(format_args!(
                    "signal({}, {what}): {REGISTER_FAILED}: {e}",
                    s.name()
                ))?,
                Ok(()) => anyhow::bail!("the kernel accepted {what} for {}", s.name()),
            }
        }
    }
    ui.meaning("SIGKILL and SIGSTOP always take their default action: the kernel refuses (EINVAL)");
    let mut child = sys::fork(|| {
        // The child tries too, then waits for what comes.
        let _ = try_handle(SigNum(libc::SIGKILL));
        let _ = try_ignore(SigNum(libc::SIGSTOP));
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    })?;
    let cpid = child.pid();
    out_line(format_args!(
        "child {cpid} runs (it tried to handle SIGKILL and ignore SIGSTOP, in vain)"
    ))?;
    for (sig, expect) in [
        (libc::SIGSTOP, "stopped"),
        (libc::SIGCONT, "continued"),
        (libc::SIGKILL, "killed"),
    ] {
        send(cpid.as_raw(), SigNum(sig), None)?;
        let status = wait_change(cpid)?;
        let said = match status {
            WaitStatus::Stopped(_, s) => format!("stopped by {}", s.as_str()),
            WaitStatus::Continued(_) => "continued".to_string(),
            other => sys::describe(other),
        };
        out_line(format_args!(
            "sent {} to child {cpid}: waitpid says {said}",
            SigNum(sig).name()
        ))?;
        anyhow::ensure!(said.starts_with(expect), "expected the child {expect}");
        if sig == libc::SIGKILL {
            child.mark_reaped(status);
        }
    }
    Ok(())
}
