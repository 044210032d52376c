//! The table of signals: number, name, default action, and whether a handler can catch it.
//!
//! Notes, B4 Unix Signal: "recipient of the signal must handle signal via: default set of signal
//! handlers OR user supplied handler (which is applicable for some signals only)"; "common
//! signals include: `kill`, `stop`, `continue`, memory error, arithmetic error". The table shows
//! each of the 31 standard signals with its default action (signal(7)): terminate, core
//! (terminate and dump core), stop, continue, or ignore; and whether a handler can catch it: all
//! but SIGKILL and SIGSTOP. The notes' common signals are there: SIGKILL, SIGSTOP, SIGCONT,
//! SIGSEGV (memory error), SIGFPE (arithmetic error).
//!
//! A last line stands for the real-time signals, SIGRTMIN to SIGRTMAX: they terminate by
//! default, queue (each one sent arrives, see [`super::pending`]) and can carry a value.
//!
//! Lab sheet: docs/deeper/04-signals.md, "The table of signals: list".
#![forbid(unsafe_code)]

use super::{Action, SigNum, catchable, rtmax, rtmin, standard};
use crate::ui::{Ui, out_line};

/// The table takes no options.
#[derive(Debug, Clone, Default)]
pub struct Args {}

/// Print the table on stdout.
pub fn run(_args: &Args, _ui: &Ui) -> anyhow::Result<()> {
    out_line(format_args!(
        "{:>3}  {:<10} {:<10} {:<6} meaning",
        "#", "name", "default", "catch"
    ))?;
    for (sig, action, meaning) in standard() {
        let n = SigNum(sig as i32);
        out_line(format_args!(
            "{:>3}  {:<10} {:<10} {:<6} {meaning}",
            n.0,
            sig.as_str(),
            action.word(),
            if catchable(n) { "yes" } else { "no" }
        ))?;
    }
    out_line(format_args!(
        "{:>3}  {:<10} {:<10} {:<6} real-time signals {} to {}: they queue, and can carry a value",
        format!("{}+", rtmin()),
        "SIGRTMIN+n",
        Action::Terminate.word(),
        "yes",
        rtmin(),
        rtmax()
    ))?;
    Ok(())
}
