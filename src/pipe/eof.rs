//! End of file (lecture notes, B3 Unix Pipe): "a communication channel with two ends (write into
//! and read from)"; in the notes' program the child runs `close(pipeFd[WRITE_END])` before it
//! reads. A reader sees end of file (read returns 0) only once every write end is closed, its own
//! copy too: with `--keep-write-end` it would wait forever, and gives up after a timeout instead.
//!
//! Lab sheet: chapter 3 (`docs/03-pipes.md`), "End of file: eof".

#![forbid(unsafe_code)]

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::sys::wait::WaitStatus;

use super::common::{child_failed, wait_child, write_all};
use crate::pipe::{self, Pipe};
use crate::sys::{self, SysError, Termination, fd_number};
use crate::ui::{self, Ui, out_line};

/// Whether the reader keeps a write end of its own.
#[derive(Debug, Clone)]
pub struct Args {
    /// The reader keeps its own copy of the write end: the classic hang.
    pub keep_write_end: bool,
    /// With `keep_write_end`: how long the reader waits before it gives up.
    pub timeout: Duration,
}

/// The parent writes and closes; the child reads until end of file (or gives up).
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    let Args {
        keep_write_end,
        timeout,
    } = *args;
    let term = Termination::install()?;
    let Pipe { read, write } = pipe::pipe(false)?;
    let w = fd_number(&write);
    let message = b"Hello There!";
    let mut child = sys::fork(|| {
        // The child's copy of the write end: closed, unless asked to keep it.
        if !keep_write_end {
            sys::close_in_child(&write);
        }
        let run = || -> anyhow::Result<()> {
            let mut total = 0;
            let mut buf = [0u8; 100];
            loop {
                // Only the hang is cut short: without a write end of its own, end of file comes.
                let deadline = keep_write_end.then(|| Instant::now() + timeout);
                let waited = sys::wait_any(
                    &[(read.as_fd(), nix::poll::PollFlags::POLLIN)],
                    deadline,
                    None,
                )?;
                if waited.timed_out {
                    out_line(format_args!(
                        "child: read has waited {} s for more and would wait forever: this process still holds a write end (fd {w}), so the pipe never reports end of file",
                        timeout.as_secs_f64()
                    ))?;
                    return Ok(());
                }
                let n = nix::unistd::read(read.as_fd(), &mut buf).map_err(|errno| SysError {
                    call: "read",
                    errno,
                })?;
                if n == 0 {
                    out_line(format_args!(
                        "child: read returns 0 after {}: end of file, every write end is closed",
                        ui::counted(total as u64, "byte")
                    ))?;
                    return Ok(());
                }
                total += n;
                ui::out_bytes_line(
                    &format!("child: read {}: ", ui::counted(n as u64, "byte")),
                    &buf[..n],
                )?;
            }
        };
        match run() {
            Ok(()) => 0,
            Err(e) => child_failed(ui, e),
        }
    })?;
    drop(read);
    out_line(format_args!(
        "parent: writes {}, then closes its write end",
        ui::counted(message.len() as u64, "byte")
    ))?;
    write_all(write.as_fd(), message, Some(&term))?;
    drop(write);
    ui.call(&format!("close({w})"), 0);
    let status = wait_child(&mut child, &term, ui)?;
    Ok(if matches!(status, WaitStatus::Exited(_, 0)) {
        0
    } else {
        1
    })
}
