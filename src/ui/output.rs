//! Standard output: each line written at once with write(2) (a pipe sees it as the program says
//! it), a closed pipe a quiet end, a termination signal an end to a wait for room; and what was
//! taken for good (a message) never lost without a word ([`out_taken_line`]).

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::PollFlags;
use nix::sys::signal::Signal;

use super::errors::Undelivered;
use crate::sys::{Interrupted, termination_received};

/// Set while the last thing written to stdout is a prompt awaiting input on the same line.
pub(super) static PROMPT_PENDING: AtomicBool = AtomicBool::new(false);

/// Write one line to stdout and flush it at once, so a pipe sees it as the program says it.
pub(crate) fn out_line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    PROMPT_PENDING.store(false, Ordering::Relaxed);
    write_stdout(format!("{args}\n").as_bytes())
}

/// Copy raw bytes (data passing through, not a line of ours) to stdout, as `out_line` writes:
/// a termination signal ends a wait for room.
pub fn out_raw(bytes: &[u8]) -> anyhow::Result<()> {
    write_stdout(bytes)
}

/// Write all of `bytes` to stdout with write(2), std's buffer flushed first. Unlike std's
/// `write_all`, which retries a write a signal interrupted, a termination signal that cuts a
/// write short ends it ([`Interrupted`]): a program blocked on a full stdout (a reader that
/// stopped reading) can still be stopped and clean up. A write that completes is a success even
/// when a signal came meanwhile: the line is out, and the caller's next wait sees the signal
/// and cleans up with its own words. A closed pipe is EPIPE, which [`Ui::finish`] takes as a
/// quiet end.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    write_all_stdout(bytes).map_err(|failure| match failure {
        WriteFailure::Interrupted(sig) => Interrupted(sig).into(),
        WriteFailure::Errno(errno) => anyhow::Error::new(crate::sys::SysError {
            call: "write",
            errno,
        })
        .context("cannot write to standard output"),
    })
}

/// Why a write to stdout stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteFailure {
    Interrupted(Signal),
    Errno(Errno),
}

fn write_all_stdout(bytes: &[u8]) -> Result<(), WriteFailure> {
    let mut out = io::stdout().lock();
    out.flush()
        .map_err(|e| WriteFailure::Errno(e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)))?;
    write_all_unless_ended(out.as_fd(), bytes, termination_received)
}

/// The loop of [`write_all_stdout`], on any descriptor, with the signal check passed in.
fn write_all_unless_ended(
    fd: BorrowedFd<'_>,
    bytes: &[u8],
    ended: impl Fn() -> Option<Signal>,
) -> Result<(), WriteFailure> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let written = nix::unistd::write(fd, rest);
        if written == Ok(rest.len()) {
            return Ok(());
        }
        // A signal that comes once some bytes are written cuts the write short (no EINTR);
        // one that comes before any is written fails it with EINTR. Either way, stop here.
        if let Some(sig) = ended() {
            return Err(WriteFailure::Interrupted(sig));
        }
        match written {
            Ok(n) => rest = &rest[n..],
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(WriteFailure::Errno(errno)),
        }
    }
    Ok(())
}

/// Write one line of something taken for good (a message received from a queue: no one else
/// can take it now) after a text prefix. Any failure is an error, a closed pipe included
/// ([`Undelivered`]): `cannot write message to standard output: Broken pipe (EPIPE)`. A stdout
/// that was closed when the program started fails with EBADF, as write(2) on it would have (std
/// put /dev/null there, which would swallow the message). A termination signal during the write
/// is [`Interrupted`]. Either way the caller still holds the message, to save it elsewhere.
pub(crate) fn out_taken_line(prefix: &str, body: &[u8]) -> anyhow::Result<()> {
    PROMPT_PENDING.store(false, Ordering::Relaxed);
    let result = if crate::sys::closed_at_start(1) {
        Err(WriteFailure::Errno(Errno::EBADF))
    } else {
        let mut line = Vec::with_capacity(prefix.len() + body.len() + 1);
        line.extend_from_slice(prefix.as_bytes());
        line.extend_from_slice(body);
        line.push(b'\n');
        write_all_stdout(&line)
    };
    result.map_err(|failure| match failure {
        WriteFailure::Interrupted(sig) => Interrupted(sig).into(),
        WriteFailure::Errno(errno) => anyhow::Error::new(crate::sys::SysError {
            call: "write",
            errno,
        })
        .context(Undelivered(
            "cannot write message to standard output".into(),
        )),
    })
}

/// Whether stdout can take what is written to it now, as far as can be told without writing:
/// EBADF when it was closed at start or is open only for reading, EPIPE when it is a pipe or
/// a socket with no reader left (EIO for a terminal that hung up). A full pipe is fine: its
/// reader is only slow. A receiver asks this before it accepts a message it must hand out.
pub(crate) fn stdout_writable() -> Result<(), Errno> {
    if crate::sys::closed_at_start(1) {
        return Err(Errno::EBADF);
    }
    let out = io::stdout();
    let fd = out.as_fd();
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL)?;
    if OFlag::from_bits_retain(flags) & OFlag::O_ACCMODE == OFlag::O_RDONLY {
        return Err(Errno::EBADF);
    }
    let polled = crate::sys::wait_any(&[(fd, PollFlags::POLLOUT)], Some(Instant::now()), None)?;
    let events = polled
        .revents
        .first()
        .copied()
        .unwrap_or(PollFlags::empty());
    if events.contains(PollFlags::POLLNVAL) {
        Err(Errno::EBADF)
    } else if events.intersects(PollFlags::POLLERR | PollFlags::POLLHUP) {
        Err(if out.is_terminal() {
            Errno::EIO
        } else {
            Errno::EPIPE
        })
    } else {
        Ok(())
    }
}

/// Write one line of raw bytes (a message body, perhaps not UTF-8) after a text prefix, and
/// flush it.
pub(crate) fn out_bytes_line(prefix: &str, body: &[u8]) -> anyhow::Result<()> {
    PROMPT_PENDING.store(false, Ordering::Relaxed);
    let mut line = Vec::with_capacity(prefix.len() + body.len() + 1);
    line.extend_from_slice(prefix.as_bytes());
    line.extend_from_slice(body);
    line.push(b'\n');
    write_stdout(&line)
}

/// Write a prompt (no newline) to stdout and flush it.
pub(crate) fn out_prompt(text: &str) -> anyhow::Result<()> {
    PROMPT_PENDING.store(true, Ordering::Relaxed);
    write_stdout(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_completes_is_done_though_a_signal_came() {
        // The race once seen: a termination signal that arrives while a line is written, yet
        // the whole line goes out. The line is written, and the caller's next wait (which
        // narrates the clean-up) is left to see the signal.
        let (read, write) = nix::unistd::pipe().unwrap();
        let result = write_all_unless_ended(write.as_fd(), b"Shared Memory Id = 7\n", || {
            Some(Signal::SIGTERM)
        });
        assert!(result.is_ok(), "{result:?}");
        drop(write);
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(read), &mut got).unwrap();
        assert_eq!(got, b"Shared Memory Id = 7\n");
    }

    #[test]
    fn a_write_that_fails_names_the_error_not_the_signal_that_did_not_come() {
        let (read, write) = nix::unistd::pipe().unwrap();
        drop(read);
        // SIGPIPE is ignored in a Rust program: the write fails with EPIPE.
        let failure = write_all_unless_ended(write.as_fd(), b"x\n", || None);
        assert_eq!(failure, Err(WriteFailure::Errno(Errno::EPIPE)));
    }
}
