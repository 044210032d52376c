//! `dup` (lecture notes, B3 Unix Pipe, Other Unix Pipes): "possible to attach and change the
//! standard communications channels to one of the pipes => redirect `stdin` / `stdout` from one
//! program to another": `dup()`, `dup2()`. A child runs `close(1)` then `dup(fd[1])`, which takes
//! the lowest free number, 1: what it prints goes into the pipe, and the parent reads it back.
//!
//! Lab sheet: `docs/deeper/03-pipes.md`, "The lowest free number: dup" (and chapter 3, "How the
//! shell builds A | B").

#![forbid(unsafe_code)]

use std::os::fd::AsFd;

use nix::sys::wait::WaitStatus;

use super::common::{LineReader, child_failed, wait_child};
use crate::pipe::{self, Pipe};
use crate::sys::{self, Termination, fd_number};
use crate::ui::{self, Ui, out_line};

/// `dup` takes no options.
#[derive(Debug, Clone, Default)]
pub struct Args;

/// A child's stdout made the pipe's write end with close(1) and dup; the parent reads it back.
pub fn run(_args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    ui.step(1, "a pipe: the child's stdout is to go into it");
    let Pipe { read, write } = pipe::pipe(false)?;
    let (r, w) = (fd_number(&read), fd_number(&write));
    ui.call(
        "pipe(fd)",
        format!("0: fd[0] = {r} (read end), fd[1] = {w} (write end)"),
    );
    out_line(format_args!(
        "parent: pipe(fd) = 0: fd[0] = {r}, fd[1] = {w}; the child makes fd[1] its stdout with close(1) and dup({w})"
    ))?;
    ui.step(
        2,
        "fork: the child puts the write end on its stdout with close(1) and dup(fd[1]), then prints",
    );
    let mut child = sys::fork(|| {
        sys::close_in_child(&read);
        // Before the close: what it does is told afterwards, through the new stdout.
        let closed = match sys::close_stream_in_child(1) {
            Ok(()) => "0".to_string(),
            Err(errno) => format!("-1 ({errno:?})"),
        };
        let copy = match sys::dup(write.as_fd()) {
            Ok(n) => n,
            Err(e) => return child_failed(ui, e),
        };
        // The original is not needed any more: fd 1 is the write end now (unless dup landed
        // elsewhere, which the lines below would show by not arriving).
        sys::close_in_child(&write);
        let run = || -> anyhow::Result<()> {
            out_line(format_args!("close(1) = {closed}"))?;
            out_line(format_args!("dup({w}) = {copy}"))?;
            out_line(format_args!("Hello There!"))?;
            Ok(())
        };
        match run() {
            Ok(()) => 0,
            Err(e) => child_failed(ui, e),
        }
    })?;
    let pid = child.pid();
    ui.call("fork()", pid);
    ui.call(&format!("  in child {pid}: close({r})"), 0);
    ui.call(&format!("  in child {pid}: close(1)"), 0);
    ui.call(&format!("  in child {pid}: dup({w})"), 1);
    ui.meaning(
        "  dup takes the lowest free number: 1, just closed; stdout (fd 1) is now the pipe's write end",
    );
    ui.call(&format!("  in child {pid}: close({w})"), 0);
    ui.meaning(
        "  dup2(fd[1], 1) would do close and dup in one call, onto the number given (pipe-demo redirect)",
    );
    ui.step(
        3,
        "the parent closes its write end and reads the child's stdout",
    );
    drop(write);
    ui.call(&format!("close({w})"), 0);
    let mut lines = LineReader::new(read.as_fd());
    while let Some(line) = lines.next_line()? {
        term.check()?;
        ui::out_bytes_line(&format!("parent: read from fd {r}: "), &line)?;
    }
    out_line(format_args!(
        "parent: end of file on fd {r}: the child's stdout was the last write end, and it has closed"
    ))?;
    let status = wait_child(&mut child, &term, ui)?;
    Ok(match status {
        WaitStatus::Exited(_, 0) => 0,
        other => sys::shell_status(other).max(1),
    })
}
