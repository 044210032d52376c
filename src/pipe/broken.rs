//! A reader that is gone (lecture notes, B3 Unix Pipe): a pipe "has a producer-consumer
//! relationship"; with no consumer left, a write to it gets SIGPIPE, whose default action ends the
//! writer (the shell shows 128 + 13 = 141). With SIGPIPE ignored the write fails with EPIPE instead,
//! which is what a Rust program gets unless it resets SIGPIPE.
//!
//! Lab sheet: chapter 3 (`docs/03-pipes.md`), "A reader that is gone: broken" and "Rust programs
//! ignore SIGPIPE"; `docs/deeper/03-pipes.md`, "Rust programs and SIGPIPE, in full".

#![forbid(unsafe_code)]

use std::io::Write as _;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::common::wait_child;
use crate::pipe::{self, Pipe};
use crate::sys::{self, Termination};
use crate::ui::{self, Ui, out_line};

/// What the writer does with SIGPIPE.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Ignore SIGPIPE: the write fails with EPIPE instead.
    pub ignore_sigpipe: bool,
}

/// Write to a pipe whose reader is gone. Without `ignore_sigpipe` this does not return: SIGPIPE
/// ends the process (an `Err` if something kept it alive).
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    let ignore_sigpipe = args.ignore_sigpipe;
    let term = Termination::install()?;
    let Pipe { read, write } = pipe::pipe(false)?;
    let mut child = sys::fork(|| 0)?;
    drop(read);
    let status = wait_child(&mut child, &term, ui)?;
    out_line(format_args!(
        "parent: the reader (child {}) {} without reading: no process holds the read end now",
        child.pid(),
        sys::describe(status)
    ))?;
    let message = b"Hello There!\0";
    if ignore_sigpipe {
        sys::ignore(Signal::SIGPIPE)?;
        out_line(format_args!(
            "parent: SIGPIPE is ignored; writes {} to the pipe",
            ui::counted(message.len() as u64, "byte")
        ))?;
        match nix::unistd::write(write.as_fd(), message) {
            Err(Errno::EPIPE) => {
                out_line(format_args!(
                    "parent: write fails with EPIPE (Broken pipe): the writer lives on and can react"
                ))?;
                Ok(0)
            }
            other => anyhow::bail!("expected EPIPE, but write returned {other:?}"),
        }
    } else {
        // Rust ignores SIGPIPE; a C program (and this demo) has its default action: terminate.
        sys::default_action(Signal::SIGPIPE)?;
        out_line(format_args!(
            "parent: writes {}: the kernel sends SIGPIPE, whose default action ends the writer (the shell shows 128 + 13 = 141)",
            ui::counted(message.len() as u64, "byte")
        ))?;
        let _ = std::io::stdout().flush();
        let result = nix::unistd::write(write.as_fd(), message);
        // Still alive: something caught or blocked SIGPIPE.
        anyhow::bail!("the write returned {result:?} and SIGPIPE did not end this process")
    }
}
