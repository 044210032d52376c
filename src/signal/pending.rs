//! Blocked signals stay pending: a standard signal is one bit and arrives once, however often it
//! was sent; a real-time signal queues, and each one sent arrives, with its value.
//!
//! Notes, B4 Unix Signal: a signal is an "asynchronous notification regarding an event that is
//! sent to a process or thread". How many notifications arrive? The lesson blocks SIGUSR1
//! (sigprocmask), sends it to itself N times with kill, shows what is pending (sigpending), and
//! unblocks it: the handler runs once. Then the same with SIGRTMIN, sent with sigqueue and the
//! values 1 to N: the handler runs N times and sees each value, in order.
//!
//! Queued signals take room in the kernel: it holds at most RLIMIT_SIGPENDING of them per user
//! (`ulimit -i`), and a sigqueue past it fails with EAGAIN; the error then names the limit, its
//! value and how to raise it.
//!
//! Lab sheet: docs/deeper/04-signals.md, "Standard signals do not queue: pending".
#![forbid(unsafe_code)]

use std::time::Instant;

use nix::errno::Errno;

use super::delivery::{limit_text, queued_signal_limit, send, set_blocked};
use super::recorder::{Next, Recorder};
use super::wait::report_lost;
use super::{SigNum, rtmin};
use crate::sys::SysError;
use crate::ui::{self, Ui, out_line};

/// How often to send each signal.
#[derive(Debug, Clone)]
pub struct Args {
    /// 1 to 100 (the recorder holds 1024 signals not yet reported).
    pub times: u32,
}

/// For SIGUSR1, then SIGRTMIN: block, send `times` times, show what is pending, unblock, and
/// count the handler's runs.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let times = args.times;
    let usr1 = SigNum(libc::SIGUSR1);
    let rt = SigNum(rtmin());
    let mut recorder = Recorder::install(&[usr1, rt])?;
    let me = std::process::id() as i32;
    for (sig, queued) in [(usr1, false), (rt, true)] {
        set_blocked(&[sig], true)?;
        ui.call(&format!("sigprocmask(SIG_BLOCK, {{{}}})", sig.name()), 0);
        for i in 1..=times {
            if let Err(e) = send(me, sig, queued.then_some(i as i32)) {
                return Err(not_queued(e, sig, i, times));
            }
        }
        out_line(format_args!(
            "{} blocked, then sent to this process {} ({})",
            sig.name(),
            ui::counted(times, "time"),
            if queued {
                "sigqueue, values 1 to N"
            } else {
                "kill"
            }
        ))?;
        let pending: Vec<String> = super::pending()?.iter().map(|s| s.name()).collect();
        out_line(format_args!("pending now: {}", pending.join(" ")))?;
        set_blocked(&[sig], false)?;
        ui.call(&format!("sigprocmask(SIG_UNBLOCK, {{{}}})", sig.name()), 0);
        let mut runs = Vec::new();
        loop {
            match recorder.next(Some(Instant::now()))? {
                Next::Signal(r) => runs.push(r),
                // At most 100 of each are sent: the recorder holds 1024.
                Next::Lost(lost) => report_lost(&lost, ui)?,
                Next::TimedOut => break,
            }
        }
        if queued {
            let values: Vec<String> = runs
                .iter()
                .map(|r| r.value.map_or("-".into(), |v| v.to_string()))
                .collect();
            out_line(format_args!(
                "unblocked: the handler ran {}, values {} (real-time signals queue: each one sent arrives)",
                ui::counted(runs.len() as u64, "time"),
                values.join(" ")
            ))?;
        } else {
            out_line(format_args!(
                "unblocked: the handler ran {} (a standard signal is one pending bit: however often it is sent while blocked, it arrives once)",
                ui::counted(runs.len() as u64, "time")
            ))?;
        }
    }
    Ok(())
}

/// The error when sending signal `i` of `times` failed: the call named, and for EAGAIN the
/// limit that stopped it, `ulimit -i`, with its value now and how to raise it.
fn not_queued(e: SysError, sig: SigNum, i: u32, times: u32) -> anyhow::Error {
    let call = e.call;
    let errno = e.errno;
    let err = anyhow::Error::new(e).context(format!(
        "{call}: cannot send {} to this process, signal {i} of {times} ({} sent before it)",
        sig.name(),
        i - 1
    ));
    if errno != Errno::EAGAIN {
        return err;
    }
    let hint = match queued_signal_limit() {
        Ok((soft, hard)) => format!(
            "the kernel holds at most RLIMIT_SIGPENDING queued signals (sent with sigqueue, or \
             real-time) per user until they are delivered, its other processes' included; this \
             process's limit is {} (hard limit {}): `ulimit -i` shows it, `ulimit -i N` raises \
             it up to the hard limit; or send fewer with --times",
            limit_text(soft),
            limit_text(hard)
        ),
        Err(e) => format!(
            "the kernel holds at most RLIMIT_SIGPENDING signals queued for each user ({e:#}): \
             `ulimit -i` shows it, `ulimit -i N` raises it; or send fewer with --times"
        ),
    };
    err.context(ui::Hint(hint))
}
