//! Messages wait in the mailbox while nobody receives (lecture notes, B2 Message Passing:
//! "Synchronization → behaviour of sending and receiving operations"; "Message k has to be stored
//! in kernel memory space"). Lab sheet: docs/02-message-passing.md, "Send to a full queue,
//! blocking" and "Priorities"; docs/deeper/02-message-passing.md, "Letting messages pile up:
//! --hold".
//!
//! `mq-recv --hold` opens its mailbox and takes nothing until Enter is pressed (or its input
//! ends). Meanwhile what senders send waits in the queue: a full queue holds a sender blocked for
//! as long as the receiver likes, and messages that wait together come out by priority, the
//! highest first, whatever the order they were sent in. A network port goes on putting what
//! arrives into the mailbox.
#![forbid(unsafe_code)]

use std::io;
use std::os::fd::AsFd;

use super::net::PortEvent;
use super::{Inbox, Outcome};
use crate::sys::Termination;
use crate::ui::{self, Bound, Line, StdinLines, Ui};

/// Receive nothing until Enter, then say how many messages wait.
pub(crate) fn run(
    inbox: &mut Inbox,
    term: &Termination,
    events: &mut dyn FnMut(PortEvent),
    ui: &Ui,
) -> anyhow::Result<()> {
    ui.note("holding: press Enter to start receiving (messages wait in the mailbox meanwhile)");
    let stdin = io::stdin();
    match inbox.hold(stdin.as_fd(), Some(term.wake_fd()), events)? {
        Outcome::Woken => return Err(term.interrupted()),
        _ => {
            let enter = Bound {
                max: ui::ENTER_MAX,
                what: "Enter, to start receiving".into(),
                why: "more than a key press needs".into(),
                hint: "press Enter to start receiving; from a file or a pipe, give a short \
                       first line, or none (the end of input starts it too)"
                    .into(),
            };
            if StdinLines::new().next(&enter, Some(term.wake_fd()))? == Line::Woken {
                return Err(term.interrupted());
            }
        }
    }
    let waiting: i64 = inbox
        .mailboxes()
        .iter()
        .filter_map(|m| m.attributes().ok())
        .map(|a| a.current_messages)
        .sum();
    ui.note(&format!("receiving: {waiting} waiting"));
    Ok(())
}
