//! An arithmetic error: a handler for SIGFPE, then a real integer division by zero.
//!
//! Notes, B4 Unix Signal: "common signals include: `kill`, `stop`, `continue`, memory error,
//! arithmetic error". The notes' program shows the memory error; this is the same program for
//! the arithmetic one. An integer division by zero makes the processor trap, and the kernel
//! sends SIGFPE (the name, "floating-point exception", is historical: it is sent for integer
//! errors too). The handler, in the style of the notes' `myOwnHandler`, prints "Arithmetic error
//! blows up!" and exits 1; like theirs it must not return, or the division would run again.
//!
//! Rust's own `/` checks the divisor and panics before the processor can trap, so the division
//! is the processor's instruction written out (`idiv` on x86-64, see `Fault::make` in
//! fault.rs); where a division by zero does not trap (ARM returns 0), SIGFPE is raised instead.
//! A floating-point division by zero traps nowhere: `1.0 / 0.0` is infinity. Without the
//! handler, the default action ends the process, and the shell shows 136, 128 + 8 (see
//! [`super::no_handler`]).
//!
//! The two steps are the notes' program's: `register` and `make` of [`super::segv`],
//! with SIGFPE where the notes have SIGSEGV.
//!
//! Lab sheet: docs/deeper/04-signals.md, "An arithmetic error: fpe".
#![forbid(unsafe_code)]

use super::fault::Fault;
use super::segv::{make, register};
use crate::ui::Ui;

/// The lesson takes no options.
#[derive(Debug, Clone, Default)]
pub struct Args {}

/// Register the handler for SIGFPE, then divide by zero: the handler ends the process with
/// status 1, so this returns only with an error.
pub fn run(_args: &Args, ui: &Ui) -> anyhow::Result<()> {
    register(Fault::Fpe, ui)?;
    make(Fault::Fpe, true, ui)
}
