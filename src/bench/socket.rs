//! socket: a Unix stream socket pair (`socketpair`, the notes' B2 "socket interface"), one
//! socket each: a message is a `write` and a `read`, as through a pipe.

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::os::unix::net::UnixStream;

use anyhow::Context as _;

use super::pair::run_pair;
use super::pipe::Stream;
use super::{Exchange, Timed};

/// Make the two ends, fork, and run `x` on both sides (see [`super::pair`]).
pub(super) fn exchange(
    _size: usize,
    child_cpu: Option<usize>,
    x: &dyn Exchange,
    msg: &mut [u8],
) -> anyhow::Result<Timed> {
    let pair = UnixStream::pair().map_err(|e| crate::sys::io_error("socketpair", e))?;
    let ends = Cell::new(Some(pair));
    let stream = |mine: UnixStream| -> anyhow::Result<_> {
        let inp = mine
            .try_clone()
            .map_err(|e| crate::sys::io_error("dup", e))?;
        Ok(Stream { out: mine, inp })
    };
    run_pair(
        child_cpu,
        || stream(ends.take().context("the sockets are taken")?.0),
        || stream(ends.take().context("the sockets are taken")?.1),
        x,
        msg,
    )
}
