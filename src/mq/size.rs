//! A message is limited in size (lecture notes, B2 Message Passing, Cons: "harder to use as the
//! message is usually limited by size and/or format"). Lab sheet: docs/02-message-passing.md,
//! "Messages are limited in size and format"; docs/deeper/02-message-passing.md, "The limits in
//! detail".
//!
//! A message is a body of bytes of at most the queue's `mq_msgsize`, fixed when the queue was
//! made (`--msgsize` sizes a new queue only); a longer one is refused with EMSGSIZE. `mq-send`
//! sends each argument as one message, or each line of standard input without its line ending,
//! and reads a line only up to that bound: a longer line is refused as soon as that much of it
//! has come, never read on to its end.
#![forbid(unsafe_code)]

use std::io::{self, IsTerminal};
use std::net::SocketAddr;

use super::{Mailbox, QueueName};
use crate::sys::Termination;
use crate::ui::{Bound, HintExt as _, Line, StdinLines, Ui};

/// Where the message bodies come from.
pub(crate) enum Source<'a> {
    Args(&'a [String]),
    Stdin,
}

impl<'a> Source<'a> {
    /// The messages of the command line, or with none, the lines of standard input (and on a
    /// terminal, a note that says so).
    pub(crate) fn of(messages: &'a [String], ui: &Ui) -> Source<'a> {
        if messages.is_empty() {
            if io::stdin().is_terminal() {
                ui.note("type one message per line; Ctrl-D ends");
            }
            Source::Stdin
        } else {
            Source::Args(messages)
        }
    }
}

/// The bodies, one at a time: each argument, or each line of stdin without its line ending
/// (`\n` or `\r\n`), at most `bound` bytes (the largest message the mailbox takes: a longer
/// line is refused as soon as that much of it has come, never read on to its end). A termination
/// signal while waiting for a line ends it as [`crate::ui::Interrupted`].
pub(crate) fn for_each_body(
    source: Source<'_>,
    term: &Termination,
    bound: &Bound,
    mut f: impl FnMut(usize, Option<usize>, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match source {
        Source::Args(messages) => {
            for (i, m) in messages.iter().enumerate() {
                f(i + 1, Some(messages.len()), m.as_bytes())?;
            }
        }
        Source::Stdin => {
            let mut lines = StdinLines::new();
            let mut n = 0;
            loop {
                match lines.next(bound, Some(term.wake_fd()))? {
                    Line::Text(line) => {
                        n += 1;
                        f(n, None, &line)?;
                    }
                    Line::End => break,
                    Line::Woken => return Err(term.interrupted()),
                }
            }
        }
    }
    Ok(())
}

/// "message 2 of 3" or, from stdin, "line 2".
pub(crate) fn which(n: usize, total: Option<usize>) -> String {
    match total {
        Some(1) => "the message".into(),
        Some(total) => format!("message {n} of {total}"),
        None => format!("the message on line {n}"),
    }
}

/// The bound of a line of stdin: the largest message `mailbox` takes.
pub(crate) fn bound(name: &QueueName, mailbox: &Mailbox) -> Bound {
    Bound {
        max: mailbox.message_size(),
        what: "a message".into(),
        why: format!("the most queue {name} takes (mq_msgsize)"),
        hint: too_long_hint(name, mailbox.message_size(), mailbox.created()),
    }
}

/// The advice for a message longer than queue `name` takes (`size`, its mq_msgsize): a queue
/// that exists already keeps the size it was made with, whatever --msgsize says now.
pub(crate) fn too_long_hint(name: &QueueName, size: usize, created: bool) -> String {
    if created {
        format!(
            "queue {name} takes messages of up to {size} bytes (mq_msgsize): send less, or make the queue with a bigger --msgsize"
        )
    } else {
        format!(
            "queue {name} exists with messages of up to {size} bytes (mq_msgsize), fixed when it was made (--msgsize sizes a new queue only): send less, or remove it (`mq-recv -n --unlink {name}`) and make it again with a bigger --msgsize"
        )
    }
}

/// The bound of a line of stdin for a mailbox across the network: what its receiver says it
/// takes, and never more than any queue takes (16 MiB), whatever a peer says.
pub(crate) fn remote_bound(addr: SocketAddr, message_size: u32) -> Bound {
    let max = (message_size as usize).min(super::MSGSIZE_HARD_MAX);
    Bound {
        max,
        what: "a message".into(),
        why: format!("the most the mailbox at {addr} takes"),
        hint: format!(
            "the mailbox at {addr} takes messages of up to {max} bytes: send shorter lines"
        ),
    }
}

/// Message `n` is `len` bytes, more than the mailbox at `addr` takes (`size`).
pub(crate) fn remote_too_big(
    addr: SocketAddr,
    n: usize,
    total: Option<usize>,
    len: usize,
    size: u32,
) -> anyhow::Result<()> {
    let err =
        anyhow::anyhow!("cannot send a {len}-byte message to {addr}: Message too long (EMSGSIZE)");
    Err(if total == Some(1) {
        err
    } else {
        err.context(which(n, total))
    })
    .hint(format!(
        "the mailbox at {addr} takes messages of up to {size} bytes: send less"
    ))
}
