//! socket: a Unix stream socket pair (`socketpair`, the notes' B2 "socket interface"), one
//! socket each: a message is a `write` and a `read`, as through a pipe.

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::os::unix::net::UnixStream;

use anyhow::Context as _;

use super::Timed;
use super::pair::Pair;
use super::pipe::Stream;

/// Make the two ends, fork, and run `x` on both sides (see [`super::pair`]).
pub(super) fn exchange(pair: Pair<'_>) -> anyhow::Result<Timed> {
    let sockets = UnixStream::pair().map_err(|e| crate::sys::io_error("socketpair", e))?;
    let ends = Cell::new(Some(sockets));
    let stream = |mine: UnixStream| -> anyhow::Result<_> {
        let inp = mine
            .try_clone()
            .map_err(|e| crate::sys::io_error("dup", e))?;
        Ok(Stream { out: mine, inp })
    };
    pair.run(
        |_| stream(ends.take().context("the sockets are taken")?.0),
        || stream(ends.take().context("the sockets are taken")?.1),
    )
}
