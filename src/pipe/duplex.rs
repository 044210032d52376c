//! One way or both (lecture notes, B3 Unix Pipe, Semantic): "pipes may be half-duplex and
//! unidirectional: one write end and one read end", "pipes may be full-duplex and bidirectional".
//! One pipe carries requests one way only; two pipes, one each way, carry requests and answers.
//!
//! Lab sheet: `docs/deeper/03-pipes.md`, "One way or both: duplex".

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::wait::WaitStatus;

use super::common::{LineReader, child_failed, wait_child, write_all};
use crate::pipe::{self, Pipe};
use crate::sys::{self, Termination};
use crate::ui::{self, Ui, out_line};

/// How many requests.
#[derive(Debug, Clone)]
pub struct Args {
    /// Requests (and, with two pipes, responses).
    pub rounds: u32,
}

/// One pipe one way, then two pipes both ways.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    let rounds = args.rounds;
    let term = Termination::install()?;
    // Half duplex: one pipe, parent to child.
    out_line(format_args!("half duplex: one pipe, parent -> child"))?;
    let Pipe { read, write } = pipe::pipe(false)?;
    let mut child = fork_child(ui, || {
        // Without this the child would hold a write end itself and never see end of file.
        sys::close_in_child(&write);
        let mut lines = LineReader::new(read.as_fd());
        let mut n = 0u32;
        while let Some(line) = lines.next_line()? {
            n += 1;
            out_line(format_args!(
                "child: got {:?}",
                String::from_utf8_lossy(&line)
            ))?;
        }
        out_line(format_args!(
            "child: end of file after {}; it cannot answer on this pipe",
            ui::counted(n, "request")
        ))?;
        Ok(())
    })?;
    drop(read);
    for i in 1..=rounds {
        if let Err(err) = write_all(
            write.as_fd(),
            format!("request {i}\n").as_bytes(),
            Some(&term),
        ) {
            // The child is gone (its stdout was closed, say): its exit status tells below.
            if sys::errno_of(&err) == Some(Errno::EPIPE) {
                break;
            }
            return Err(err);
        }
    }
    close_and_wait(write, &mut child, &term, ui)?;

    // Full duplex: two pipes, one each way.
    out_line(format_args!(
        "full duplex: two pipes, parent -> child and child -> parent"
    ))?;
    let down = pipe::pipe(false)?;
    let up = pipe::pipe(false)?;
    let mut child = fork_child(ui, || {
        sys::close_in_child(&down.write);
        sys::close_in_child(&up.read);
        let mut lines = LineReader::new(down.read.as_fd());
        while let Some(line) = lines.next_line()? {
            let text = String::from_utf8_lossy(&line);
            let answer = text.replacen("ping", "pong", 1);
            let mut data = answer.into_bytes();
            data.push(b'\n');
            write_all(up.write.as_fd(), &data, None)?;
        }
        Ok(())
    })?;
    let Pipe {
        read: down_read,
        write: down_write,
    } = down;
    let Pipe {
        read: up_read,
        write: up_write,
    } = up;
    drop((down_read, up_write));
    let mut answers = LineReader::new(up_read.as_fd());
    for i in 1..=rounds {
        let request = format!("ping {i}");
        write_all(
            down_write.as_fd(),
            format!("{request}\n").as_bytes(),
            Some(&term),
        )?;
        let Some(answer) = answers.next_line()? else {
            anyhow::bail!("the child closed its pipe before answering {request:?}");
        };
        out_line(format_args!(
            "parent: sent {request:?}, got {:?}",
            String::from_utf8_lossy(&answer)
        ))?;
    }
    close_and_wait(down_write, &mut child, &term, ui)?;
    out_line(format_args!(
        "parent: {} over two pipes",
        ui::counted(rounds, "round trip")
    ))?;
    Ok(0)
}

/// Fork a child that runs `work`; an error it meets is reported as the child's, and ends it.
fn fork_child(ui: &Ui, work: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<sys::Child> {
    sys::fork(|| match work() {
        Ok(()) => 0,
        Err(e) => child_failed(ui, e),
    })
}

/// Close the parent's write end, so that the child reads end of file, and wait for the child,
/// which must exit 0.
fn close_and_wait(
    write: OwnedFd,
    child: &mut sys::Child,
    term: &Termination,
    ui: &Ui,
) -> anyhow::Result<()> {
    drop(write);
    let status = wait_child(child, term, ui)?;
    anyhow::ensure!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "the child {}",
        sys::describe(status)
    );
    Ok(())
}
