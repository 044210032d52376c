//! What the lessons of this folder share: reads and writes of a pipe's ends that a termination
//! signal can end (Ctrl-C ends a demo that waits), lines read from a descriptor, waiting for a
//! child, a child's error told as the parent would tell it, and for `--explain` a process's
//! descriptor table as /proc shows it (a stopped child's too: the notes' "Standard Communication
//! Channels" and the pipe's ends among them). No lesson of its own: the notes' words are in the
//! lesson files that use these.

#![forbid(unsafe_code)]

use std::os::fd::BorrowedFd;

use anyhow::Context as _;
use nix::errno::Errno;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::pipe;
use crate::sys::{self, Child, SysError, Termination};
use crate::ui::{self, Ui};

/// Read what is there (at most `buf.len()` bytes), waiting as long as it takes; a termination
/// signal ends the wait as [`ui::Interrupted`], and so does one that came while data kept
/// arriving (a read that finds data is never interrupted).
pub(super) fn read_fd(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    term: &Termination,
) -> anyhow::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) => {
                term.check()?;
                return Ok(n);
            }
            Err(Errno::EINTR) => term.check()?,
            Err(errno) => {
                return Err(SysError {
                    call: "read",
                    errno,
                })
                .context("cannot read from the pipe");
            }
        }
    }
}

/// Wait until `fd` has data (or end of file) with poll beside the signal wake-up, then read: a
/// termination signal ends the wait at once, even after a partial line.
pub(super) fn read_when_ready(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    term: &Termination,
) -> anyhow::Result<usize> {
    loop {
        let waited = sys::wait_any(
            &[(fd, nix::poll::PollFlags::POLLIN)],
            None,
            Some(term.wake_fd()),
        )?;
        if waited.woken {
            return Err(term.interrupted());
        }
        if waited.ready(0, nix::poll::PollFlags::POLLIN) {
            return read_fd(fd, buf, term);
        }
    }
}

/// Write all of `data`, waiting for room as long as it takes; in the parent a termination
/// signal ends the wait (children, with the default actions, simply end).
pub(super) fn write_all(
    fd: BorrowedFd<'_>,
    mut data: &[u8],
    term: Option<&Termination>,
) -> anyhow::Result<()> {
    while !data.is_empty() {
        let written = nix::unistd::write(fd, data);
        // A signal that comes once some bytes are written cuts the write short, with no EINTR.
        term.map_or(Ok(()), Termination::check)?;
        match written {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(errno) => {
                return Err(SysError {
                    call: "write",
                    errno,
                })
                .context("cannot write to the pipe");
            }
        }
    }
    Ok(())
}

/// Wait for a child; a termination signal ends the wait as [`ui::Interrupted`] (the child is
/// then killed and reaped when dropped).
pub(super) fn wait_child(
    child: &mut Child,
    term: &Termination,
    ui: &Ui,
) -> anyhow::Result<WaitStatus> {
    let Some(status) = child.wait_unless(|| term.received().is_some())? else {
        return Err(term.interrupted());
    };
    // Ctrl-C reaches the whole job: the child may die of it before the parent's wait is
    // interrupted. That is the signal's doing, not a failure of the child.
    term.check()?;
    ui.call(&format!("waitpid({})", child.pid()), sys::describe(status));
    Ok(status)
}

/// `the writer reaped` or `all 8 writers reaped`.
pub(super) fn all_reaped(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("the {noun} reaped")
    } else {
        format!("all {} reaped", ui::counted(n, noun))
    }
}

/// In a child: report an error on stderr, as the parent would, and return the exit status. A
/// closed stdout (`| head`) ends it quietly, as it ends the parent.
pub(super) fn child_failed(ui: &Ui, err: anyhow::Error) -> i32 {
    if ui::is_broken_pipe(&err) {
        return 0;
    }
    ui.report(&err);
    1
}

/// Lines from a descriptor, read a buffer at a time.
pub(super) struct LineReader<'a> {
    fd: BorrowedFd<'a>,
    buf: Vec<u8>,
    ended: bool,
}

impl<'a> LineReader<'a> {
    pub(super) fn new(fd: BorrowedFd<'a>) -> Self {
        LineReader {
            fd,
            buf: Vec::new(),
            ended: false,
        }
    }

    pub(super) fn next_line(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                return Ok(Some(line));
            }
            if self.ended {
                return Ok((!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf)));
            }
            let mut chunk = [0u8; 4096];
            match nix::unistd::read(self.fd, &mut chunk) {
                Ok(0) => self.ended = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(Errno::EINTR) => {}
                Err(errno) => {
                    return Err(SysError {
                        call: "read",
                        errno,
                    })
                    .context("cannot read from the pipe");
                }
            }
        }
    }
}

/// `--explain`: a descriptor table in one line, read from /proc: this process's (`None`) or a
/// stopped child's. `0 -> /dev/pts/3  1 -> pipe:[1234] (write end)  3 -> pipe:[77] (cloexec)`:
/// the ends of the lab's pipe (`lab`, its `pipe:[INODE]`) are named, and close-on-exec ones
/// marked.
pub(super) fn fd_table(pid: Option<Pid>, lab: &str) -> anyhow::Result<String> {
    let cells: Vec<String> = pipe::descriptors(pid)?
        .iter()
        .map(|d| {
            let mut notes = Vec::new();
            if d.target == lab {
                notes.push(match d.access {
                    pipe::Access::Read => "read end",
                    pipe::Access::Write => "write end",
                    pipe::Access::ReadWrite => "read and write",
                });
            }
            if d.cloexec {
                notes.push("cloexec");
            }
            if notes.is_empty() {
                format!("{} -> {}", d.number, d.target)
            } else {
                format!("{} -> {} ({})", d.number, d.target, notes.join(", "))
            }
        })
        .collect();
    Ok(cells.join("  "))
}

/// `--explain`: wait until `child` stops itself, show its descriptor table as `who`, and let it
/// go on. A child that ended instead shows nothing (its status is reported when it is reaped).
pub(super) fn show_stopped(
    child: &mut Child,
    who: &str,
    lab: &str,
    term: &Termination,
    ui: &Ui,
) -> anyhow::Result<()> {
    match child.wait_stopped(|| term.received().is_some())? {
        None => Err(term.interrupted()),
        Some(sys::Halt::Ended(_)) => Ok(()),
        Some(sys::Halt::Stopped) => {
            let table = fd_table(Some(child.pid()), lab);
            child.resume()?;
            ui.meaning(&format!("  {who}: {}", table?));
            Ok(())
        }
    }
}
