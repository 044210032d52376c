//! Sending a signal to another process: kill(2), or sigqueue(3) with a value.
//!
//! Notes, B4 Unix Signal: a signal is an "asynchronous notification regarding an event that is
//! sent to a process"; "common signals include: `kill`, `stop`, `continue`". `sig-demo send PID
//! SIGNAL` is the shell's `kill -SIGNAL PID` as a system call: `kill(pid, sig)`. With `--value
//! N` it calls `sigqueue(pid, sig, {sival_int = N})` instead, and the value travels with the
//! signal: the receiver's handler, installed with SA_SIGINFO, finds it in si_value (a `sig-demo
//! wait` prints it), with the sender's PID and user in si_pid and si_uid.
//!
//! A process may signal only the processes of its own user (root, any): otherwise EPERM. A PID
//! with no process is ESRCH. Queued signals are bounded per user (`ulimit -i`): past that,
//! sigqueue fails with EAGAIN. Each error comes with a hint of what to do.
//!
//! Lab sheet: docs/deeper/04-signals.md, "Sending signals: send"; docs/04-signals.md, "A process
//! that reports its signals: wait".
#![forbid(unsafe_code)]

use nix::errno::Errno;

use super::SigNum;
use crate::ui::{HintExt as _, Ui, out_line};

/// What to send, and to whom.
#[derive(Debug, Clone)]
pub struct Args {
    /// The process: 1 or more.
    pub pid: i32,
    pub signal: SigNum,
    /// Send with sigqueue, carrying this value; `None`: kill.
    pub value: Option<i32>,
}

/// Send the signal; say what was sent, or why it could not be.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let (pid, sig, value) = (args.pid, args.signal, args.value);
    if let Err(e) = super::delivery::send(pid, sig, value) {
        let hint = match e.errno {
            Errno::ESRCH => {
                format!("no process {pid} is running: `sig-demo wait` prints a PID to use")
            }
            Errno::EPERM => format!(
                "process {pid} belongs to another user: only its owner (or root) may signal it"
            ),
            Errno::EAGAIN => {
                "too many queued signals: the receiver's queue is full (ulimit -i)".into()
            }
            _ => "see kill(2) and sigqueue(3)".into(),
        };
        return Err(anyhow::Error::new(e))
            .map_err(|e| e.context(format!("cannot send {} to process {pid}", sig.name())))
            .hint(hint);
    }
    ui.call(
        &match value {
            Some(v) => format!("sigqueue({pid}, {}, {{sival_int = {v}}})", sig.name()),
            None => format!("kill({pid}, {})", sig.name()),
        },
        0,
    );
    match value {
        Some(v) => out_line(format_args!(
            "sent {} to process {pid} with value {v}",
            sig.name_and_number()
        )),
        None => out_line(format_args!(
            "sent {} to process {pid}",
            sig.name_and_number()
        )),
    }
}
