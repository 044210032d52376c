//! What one process does with its signals: those it catches, blocks, ignores, and has pending.
//!
//! Notes, B4 Unix Signal: "recipient of the signal must handle signal via: default set of signal
//! handlers OR user supplied handler". Which one a process chose, for each signal, the kernel
//! shows in /proc/PID/status, as bit masks: SigCgt (a handler of its own: caught), SigIgn
//! (ignored), and every other signal takes its default action; SigBlk (blocked by its mask) and
//! SigPnd with ShdPnd (sent, not yet delivered: pending, for the thread or the whole process).
//! `sig-demo list --pid PID` reads them ([`super::proc_sets`]) and names each signal.
//!
//! Try it on a `sig-demo wait` (it catches seven signals), on a stopped process (a signal sent
//! to it stays pending until SIGCONT), or on your shell (it ignores some, such as SIGQUIT).
//!
//! Lab sheet: docs/deeper/04-signals.md, "What a process catches, blocks and ignores: list --pid".
#![forbid(unsafe_code)]

use super::proc_sets;
use crate::ui::{HintExt as _, Ui, out_line};

/// The process to look at.
#[derive(Debug, Clone)]
pub struct Args {
    pub pid: i32,
}

/// Print the process's name, then its four sets, one per line.
pub fn run(args: &Args, _ui: &Ui) -> anyhow::Result<()> {
    let pid = args.pid;
    let sets = match proc_sets(pid) {
        Ok(s) => s,
        Err(e) => {
            return Err(e).hint(format!(
                "is process {pid} running? `ps -p {pid}` shows it; `sig-demo wait` prints its PID"
            ));
        }
    };
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    out_line(format_args!("process {pid} ({})", comm.trim()))?;
    for (what, list) in [
        ("caught", &sets.caught),
        ("blocked", &sets.blocked),
        ("ignored", &sets.ignored),
        ("pending", &sets.pending),
    ] {
        let names: Vec<String> = list.iter().map(|s| s.name()).collect();
        let shown = if names.is_empty() {
            "(none)".to_string()
        } else {
            names.join(" ")
        };
        out_line(format_args!("  {what:<8} {shown}"))?;
    }
    Ok(())
}
