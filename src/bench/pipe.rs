//! pipe: two pipes, one each way (chapter 3): a message is a `write` into one and a `read` from
//! it, each a system call that copies the bytes into the kernel and out again.

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::io::{Read, Write};

use anyhow::Context as _;

use super::pair::Pair;
use super::{End, PeerGone, Timed, check_stop};
use crate::pipe;

/// A byte stream (pipe or socket): write it all, read exactly a message. Each process owns
/// only the ends it uses, so that the other's end closing is seen (EOF, EPIPE) at once.
pub(super) struct Stream<W, R> {
    pub(super) out: W,
    pub(super) inp: R,
}

impl<W: Write, R: Read> End for Stream<W, R> {
    fn send(&mut self, msg: &[u8]) -> anyhow::Result<()> {
        let mut sent = 0;
        while sent < msg.len() {
            match self.out.write(&msg[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => check_stop()?,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)) => {
                    return Err(PeerGone.into());
                }
                Err(e) => return Err(crate::sys::io_error("write", e)),
            }
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<()> {
        let mut got = 0;
        while got < buf.len() {
            match self.inp.read(&mut buf[got..]) {
                Ok(0) => return Err(PeerGone.into()),
                Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => {
                    return Err(PeerGone.into());
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => check_stop()?,
                Err(e) => return Err(crate::sys::io_error("read", e)),
            }
        }
        Ok(())
    }
}

/// Make the two ends, fork, and run `x` on both sides (see [`super::pair`]).
pub(super) fn exchange(pair: Pair<'_>) -> anyhow::Result<Timed> {
    let (down, up) = (pipe::pipe(false)?, pipe::pipe(false)?);
    // Each process takes the four ends (its own copy of them, after the fork) and
    // closes the two it does not use.
    let ends = Cell::new(Some((down, up)));
    let file = std::fs::File::from;
    pair.run(
        |_| {
            let (down, up) = ends.take().context("the pipes are taken")?;
            Ok(Stream {
                out: file(down.write),
                inp: file(up.read),
            })
        },
        || {
            let (down, up) = ends.take().context("the pipes are taken")?;
            Ok(Stream {
                out: file(up.write),
                inp: file(down.read),
            })
        },
    )
}
