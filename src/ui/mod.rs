//! Layer 1: what every binary says and how it ends: narration (`--explain`, `--inspect`), colour,
//! errors and hints, exit codes, what goes to stdout, and standard input read within a bound. It
//! builds on [`crate::sys`] only.
//!
//! A binary is thin: it parses its arguments with clap ([`crate::cli`]), builds a [`Ui`], and
//! hands its `run` function to [`Ui::finish`], which turns the result into an exit status:
//!
//! | outcome                                   | exit status                          |
//! |-------------------------------------------|--------------------------------------|
//! | success, or stdout closed early (`| head`) | 0                                   |
//! | a message taken and not written out (`Undelivered`), even to a closed pipe | 1 |
//! | a failure (`error: ...` + `hint: ...`)     | 1                                   |
//! | bad input ([`UsageError`]; clap's own)     | 2                                   |
//! | SIGINT / SIGTERM / SIGHUP ([`Interrupted`])| the signal re-raised: 130 / 143 / 129 |
//!
//! | file           | what                                                                    |
//! |----------------|-------------------------------------------------------------------------|
//! | `narration.rs` | [`Ui`]: steps, calls, meanings, status lines, notes, errors; wrapping    |
//! | `colour.rs`    | [`ColorChoice`] per stream, and the [`Painter`]                          |
//! | `errors.rs`    | [`UsageError`], [`Hint`], `Undelivered`, [`error_lines`], [`one_line`] |
//! | `output.rs`    | stdout: `out_line` and its kin, a closed pipe a quiet end             |
//! | `input.rs`     | stdin: [`StdinLines`] and [`StdinWords`], each read within a [`Bound`]   |

mod colour;
mod errors;
mod input;
mod narration;
mod output;

pub use colour::{ColorChoice, Painter, Stream, Tone};
pub(crate) use errors::Undelivered;
pub use errors::{Hint, HintExt, UsageError, error_lines, one_line};
pub(crate) use errors::{is_broken_pipe, one_line_bytes};
pub use input::{Bound, Line, StdinLines, StdinWords, Word};
pub(crate) use input::{ENTER_MAX, NUMBER_MAX};
pub use narration::{Ui, wrap_line};
pub use output::out_raw;
pub(crate) use output::{out_bytes_line, out_line, out_prompt, out_taken_line, stdout_writable};

/// A termination signal ended the run ([`crate::sys`] makes it; [`Ui::finish`] exits by it).
pub use crate::sys::Interrupted;
/// `1 message`, `2 messages` ([`crate::sys`] needs it for its own hints).
pub use crate::sys::counted;

/// Exit status for a failure.
pub(crate) const EXIT_FAILURE: u8 = 1;

/// Exit status for bad input (clap uses the same).
pub(crate) const EXIT_USAGE: u8 = 2;
