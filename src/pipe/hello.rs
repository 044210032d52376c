//! The notes' program (lecture notes, B3 Unix Pipe, System Calls). A pipe "is a communication
//! channel with two ends (write into and read from), which can be shared between 2 processes and
//! has a producer-consumer relationship"; `pipe(fd)` returns "an array of file descriptors":
//! "`fd[0]` => reading end", "`fd[1]` => writing end". The parent writes "Hello There!" and its
//! NUL, the child it forked reads them and prints `Proc 0 read: Hello There!`: byte for byte what
//! the notes' C program prints. Unlike the C parent, this one waits for its child.
//!
//! Lab sheet: chapter 3 (`docs/03-pipes.md`), "The notes' program" and "Why the parent should
//! wait"; the narration (`--explain`) in `docs/deeper/03-pipes.md`, "Watching the steps".

#![forbid(unsafe_code)]

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::sys::wait::WaitStatus;

use super::common::{child_failed, wait_child, write_all};
use crate::pipe::{self, Pipe};
use crate::sys::{self, SysError, Termination, fd_number};
use crate::ui::{self, Ui};

/// What the notes' program sends.
#[derive(Debug, Clone)]
pub struct Args {
    /// The text the parent writes, followed by its NUL (the notes send "Hello There!").
    pub message: String,
}

/// Run the notes' program; the exit status is 0, or the child's when it failed.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    ui.step(
        1,
        "create the pipe: a bounded byte buffer in the kernel with two ends",
    );
    let Pipe { read, write } = pipe::pipe(false)?;
    let (r, w) = (fd_number(&read), fd_number(&write));
    ui.call(
        "pipe(pipeFd)",
        format!("0: pipeFd[0] = {r} (read end), pipeFd[1] = {w} (write end)"),
    );
    ui.step(2, "fork: the child gets copies of both ends");
    let mut message = args.message.as_bytes().to_vec();
    message.push(0);
    let mut child = sys::fork(|| {
        // The child: close(write end), read, print.
        sys::close_in_child(&write);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 100];
        loop {
            match nix::unistd::read(read.as_fd(), &mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(Errno::EINTR) => {}
                Err(errno) => {
                    return child_failed(
                        ui,
                        anyhow::Error::new(SysError {
                            call: "read",
                            errno,
                        })
                        .context("the child cannot read from the pipe"),
                    );
                }
            }
        }
        // printf("%s") stops at the NUL the parent sent.
        let text = buf.split(|&b| b == 0).next().unwrap_or_default();
        // fork() returned 0 in the child: the notes print that value.
        match ui::out_bytes_line("Proc 0 read: ", text) {
            Ok(()) => 0,
            Err(e) => child_failed(ui, e),
        }
    })?;
    ui.call(
        "fork()",
        format!("{} in the parent, 0 in the child", child.pid()),
    );
    ui.meaning(&format!(
        "the child closes fd {w} (it only reads), reads fd {r} and prints what it got"
    ));
    ui.step(
        3,
        "the parent: close the read end, write, close the write end",
    );
    drop(read);
    ui.call(&format!("close({r})"), 0);
    write_all(write.as_fd(), &message, Some(&term))?;
    ui.call(
        &format!(
            "write({w}, {:?}, {})",
            String::from_utf8_lossy(&message),
            message.len()
        ),
        message.len(),
    );
    drop(write);
    ui.call(&format!("close({w})"), 0);
    ui.meaning("the child's read now sees end of file once it has taken the bytes");
    ui.step(4, "wait for the child (the notes' parent does not: its child may print after the shell's prompt)");
    let status = wait_child(&mut child, &term, ui)?;
    Ok(match status {
        WaitStatus::Exited(_, 0) => 0,
        other => sys::shell_status(other).max(1),
    })
}
