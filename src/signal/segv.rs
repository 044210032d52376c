//! The notes' program: a user supplied handler for SIGSEGV, then an invalid memory access.
//!
//! Notes, B4 Unix Signal: "recipient of the signal must handle signal via: default set of signal
//! handlers OR user supplied handler (which is applicable for some signals only)". Their program
//! registers `myOwnHandler` with `signal(SIGSEGV, myOwnHandler)`, printing "Failed to register
//! handler" if that fails, then writes through a pointer that leads nowhere (`*ip = 123`); the
//! handler prints "Memory access blows up!" and exits 1. `sig-demo` with no subcommand (or
//! `sig-demo segv`) prints the same bytes and exits with the same status.
//!
//! Two things differ from the C, neither seen on stdout. The fault is made for real, by a write
//! to a page mapped with no access (`Fault::make` in fault.rs), as dereferencing null is
//! undefined in Rust. And the handler is installed with sigaction and SA_ONSTACK over std's own
//! SIGSEGV handler. The handler must not return: the faulting instruction would run again, and
//! fault again.
//!
//! Lab sheet: docs/04-signals.md, "The notes' program"; docs/deeper/04-signals.md, "A real fault,
//! not a null pointer".
#![forbid(unsafe_code)]

use std::io::Write as _;

use super::REGISTER_FAILED;
use super::fault::{Fault, install_fault_handler};
use crate::ui::{Ui, out_line};

/// The notes' program takes no options.
#[derive(Debug, Clone, Default)]
pub struct Args {}

/// Register the handler, then make the invalid memory access: the handler ends the process
/// with status 1, so this returns only with an error.
pub fn run(_args: &Args, ui: &Ui) -> anyhow::Result<()> {
    register(Fault::Segv, ui)?;
    make(Fault::Segv, true, ui)
}

/// Step 1: `signal(SIG, myOwnHandler)`; on failure, print the notes' line and go on, as the
/// notes' program does.
pub(crate) fn register(fault: Fault, ui: &Ui) -> anyhow::Result<()> {
    let sig = fault.signal();
    ui.step(1, &format!("register a handler for {}", sig.as_str()));
    match install_fault_handler(sig) {
        Ok(()) => {
            ui.call(
                &format!("signal({}, myOwnHandler)", sig.as_str()),
                "the old handler",
            );
            ui.meaning(&format!(
                "from now on the kernel runs myOwnHandler when this process gets {}",
                sig.as_str()
            ));
        }
        Err(e) => {
            out_line(format_args!("{REGISTER_FAILED}"))?;
            ui.report(&anyhow::Error::new(e).context("sigaction"));
        }
    }
    Ok(())
}

/// Step 2: make the fault, with `handled` telling whether a handler of ours waits for it.
pub(crate) fn make(fault: Fault, handled: bool, ui: &Ui) -> anyhow::Result<()> {
    ui.step(2, &format!("make {}", fault.what()));
    ui.meaning(&format!(
        "the CPU traps, the kernel sends {}; {}",
        fault.signal().as_str(),
        if handled {
            "the handler prints and exits 1 (it must not return: the instruction would fault again)"
        } else {
            "nobody handles it"
        }
    ));
    let _ = std::io::stderr().flush();
    let _ = std::io::stdout().flush();
    fault.make()
}
