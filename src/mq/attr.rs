//! The limits of a queue and of the system (lecture notes, B2 Message Passing, Cons: "harder to
//! use as the message is usually limited by size and/or format"; "Message k has to be stored in
//! kernel memory space"). Lab sheet: docs/02-message-passing.md, "The kernel holds the messages"
//! and "Messages are limited in size and format"; docs/deeper/02-message-passing.md, "The limits
//! in detail".
//!
//! `mq-recv --attr QUEUE...` prints what mq_getattr(3) says of each queue: how many messages it
//! holds (mq_maxmsg), how big each may be (mq_msgsize), both fixed when it was made, and how many
//! wait in it now (mq_curmsgs); then the system's limits from /proc/sys/fs/mqueue, which bound
//! what a user without privilege may ask for. It receives nothing.
#![forbid(unsafe_code)]

use nix::errno::Errno;

use super::{Access, Limits, Mailbox, NamedBy, OpenOptions, QueueName, open_hint, receive};
use crate::ui::{self, HintExt as _, Ui};

/// What `mq-recv --attr` is asked for.
#[derive(Debug, Clone)]
pub struct Args {
    /// The queues, as typed.
    pub queues: Vec<String>,
}

/// `mq-recv --attr QUEUE...`: each queue's attributes, then the system's limits, on stdout.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let names = receive::names(&args.queues, false, ui)?;
    attributes(&names, ui)
}

/// Each queue's attributes (mq_getattr), then the system's limits.
fn attributes(names: &[QueueName], ui: &Ui) -> anyhow::Result<()> {
    for name in names {
        let mailbox = match Mailbox::open(name, &OpenOptions::existing(Access::Receive)) {
            Ok(m) => m,
            Err(err) => {
                let errno = crate::sys::errno_of(&err);
                let hint = match errno {
                    Some(Errno::ENOENT) => format!(
                        "no queue is called {name} yet: `mq-recv {name}` makes it (or `mq-send -c {name} MESSAGE`)"
                    ),
                    _ => open_hint(errno, name, NamedBy::User),
                };
                return Err(err).hint(hint);
            }
        };
        let a = mailbox.attributes()?;
        ui.call(&format!("mq_getattr({name})"), 0);
        ui::out_line(format_args!("queue {name}"))?;
        ui::out_line(format_args!(
            "  mq_maxmsg        {:<8} the most messages it holds",
            a.max_messages
        ))?;
        ui::out_line(format_args!(
            "  mq_msgsize       {:<8} the largest message, in bytes",
            a.message_size
        ))?;
        ui::out_line(format_args!(
            "  mq_curmsgs       {:<8} messages waiting now",
            a.current_messages
        ))?;
    }
    let l = Limits::read()?;
    ui::out_line(format_args!("system limits (/proc/sys/fs/mqueue)"))?;
    for (field, value, what) in [
        (
            "msg_max",
            l.msg_max,
            "the largest mq_maxmsg without privilege",
        ),
        (
            "msgsize_max",
            l.msgsize_max,
            "the largest mq_msgsize without privilege",
        ),
        (
            "msg_default",
            l.msg_default,
            "mq_maxmsg of a queue made without attributes",
        ),
        (
            "msgsize_default",
            l.msgsize_default,
            "mq_msgsize of a queue made without attributes",
        ),
        ("queues_max", l.queues_max, "queues on the whole system"),
    ] {
        ui::out_line(format_args!("  {field:<16} {value:<8} {what}"))?;
    }
    Ok(())
}
