//! The default action: no handler, and a fault ends the process.
//!
//! Notes, B4 Unix Signal: "recipient of the signal must handle signal via: default set of signal
//! handlers OR user supplied handler". Here it is the first: `sig-demo segv --no-handler` (or
//! `--no-handler` alone, or `fpe --no-handler`) makes the same fault as the notes' program with
//! no handler of its own, and the kernel's default action for a fault ends the process, which
//! may dump core. The shell shows 128 + the signal's number: 139 for SIGSEGV, 136 for SIGFPE.
//!
//! Rust installs its own SIGSEGV handler (to report a stack overflow), which would catch the
//! fault first: the lesson restores SIG_DFL, as `signal(SIGSEGV, SIG_DFL)` would, and says what
//! it replaced. It also sets RLIMIT_CORE to 0 (`ulimit -c 0`), so that no core file is left
//! behind; the status stays the same.
//!
//! Lab sheet: docs/04-signals.md, "The default action: --no-handler"; docs/deeper/04-signals.md,
//! "The default action, narrated: --explain" and "Exit statuses as the shell shows them".
#![forbid(unsafe_code)]

use nix::sys::signal::Signal;

use super::fault::{Fault, handler_text, no_core_dump, restore_default};
use super::segv::make;
use crate::ui::Ui;

/// Which fault to make with no handler.
#[derive(Debug, Clone)]
pub struct Args {
    pub fault: Fault,
}

/// Restore the default action, then make the fault: the kernel ends the process by the signal,
/// so this returns only with an error.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let sig = args.fault.signal();
    let status = 128 + sig as i32;
    ui.step(
        1,
        &format!("no handler: {} takes its default action", sig.as_str()),
    );
    let old = restore_default(sig)?;
    ui.call(
        &format!("signal({}, SIG_DFL)", sig.as_str()),
        handler_text(old),
    );
    if sig == Signal::SIGSEGV {
        ui.meaning("the old handler was std's own, which reports a stack overflow");
    }
    no_core_dump()?;
    ui.call("setrlimit(RLIMIT_CORE, 0)", 0);
    ui.meaning("no core file is written (ulimit -c 0); a collector in core_pattern (|...) still gets the dump");
    ui.meaning("the default action of a fault: the process ends, and may dump core");
    ui.note(&format!(
        "no handler: {} will end this process (the shell shows {status})",
        sig.as_str()
    ));
    make(args.fault, false, ui)
}
