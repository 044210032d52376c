//! Closing is not removing: the mailbox stays in the kernel (lecture notes, B2 Message Passing:
//! "Message k has to be stored in kernel memory space"; "Message is sent or receiver from message
//! storage, a.k.a. port (msg not sent directly to processes)"). Lab sheet:
//! docs/02-message-passing.md, "The kernel holds the messages" and "Ctrl-C and what stays in the
//! kernel"; docs/deeper/02-message-passing.md, "A queue outlives its name".
//!
//! When `mq-recv` ends, on success, error, Ctrl-C, SIGTERM or SIGHUP, it closes each mailbox
//! (mq_close lets go of the descriptor) and removes only those it owns (mq_unlink removes the
//! name): a queue named with `--unlink`, a mailbox of its own (`--mine`), one it made when the
//! set-up failed. Any other stays, with what waits in it, for the next receiver.
#![forbid(unsafe_code)]

use std::os::fd::AsRawFd;

use super::{Inbox, Mailbox, QueueName, pairs};
use crate::ui::{Interrupted, Ui};

/// Step 3: close the mailboxes of `inbox` (and `general`, open beside them with `--from`),
/// removing those this run owns, and say what stays in the kernel; after `result`, the run's.
pub(crate) fn run(
    inbox: Inbox,
    general: Option<Mailbox>,
    from: Option<u32>,
    result: anyhow::Result<()>,
    ui: &Ui,
) -> anyhow::Result<()> {
    let mut names: Vec<(QueueName, i32, bool)> = inbox
        .mailboxes()
        .iter()
        .map(|m| (m.name().clone(), m.as_fd().as_raw_fd(), m.unlinks()))
        .collect();
    let step = if result.is_ok() {
        "close the mailbox"
    } else {
        "clean up"
    };
    ui.step(3, step);
    let mut closed = inbox.close();
    if let Some(general) = general {
        pairs::close_general(
            general,
            from.unwrap_or_default(),
            &mut names,
            &mut closed,
            ui,
        );
    }
    match &closed {
        Ok(removed) => {
            for (name, fd, unlinks) in &names {
                ui.call(&format!("mq_close({fd})"), 0);
                if removed.contains(name) {
                    ui.call(&format!("mq_unlink(\"{name}\")"), 0);
                } else if !*unlinks {
                    ui.meaning(&format!(
                        "{name} stays in the kernel: what is sent now waits for the next receiver (--unlink removes it)"
                    ));
                }
            }
        }
        // A failed clean-up after a run that failed is reported here; after one that
        // succeeded, it is the run's error, reported once by Ui::finish.
        Err(e) if result.is_err() => ui.report(e),
        Err(_) => {}
    }
    if let Err(Some(Interrupted(sig))) =
        result.as_ref().map_err(|e| e.downcast_ref::<Interrupted>())
    {
        let removed = closed.as_ref().map(Vec::as_slice).unwrap_or_default();
        let what = if removed.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = removed.iter().map(QueueName::to_string).collect();
            format!(": removed {}", list.join(", "))
        };
        ui.note(&format!("{}{what}", Interrupted(*sig)));
    }
    result?;
    closed.map(|_| ())
}
