//! The mailbox is the kernel's (lecture notes, B2 Message Passing: "Message k has to be stored in
//! kernel memory space"; "all send and receive operations need to go through the OS via a system
//! call"). Lab sheet: docs/02-message-passing.md, "Walk-through: a mailbox" and "The kernel holds
//! the messages".
//!
//! mq_open(3) gives a descriptor for a queue the kernel keeps; with O_CREAT it makes the queue,
//! and only then do the size (`--maxmsg`, `--msgsize`) and the mode (`--perms`) apply. The
//! receiver owns its mailbox, so `mq-recv` makes a queue that is missing and `mq-send` opens one
//! that exists (`-c` makes it, so that the kernel holds messages before any receiver runs).
#![forbid(unsafe_code)]

use std::os::fd::AsRawFd;

use nix::errno::Errno;

use super::direct;
use super::send::{self, Target};
use super::{
    Access, Attributes, Mailbox, NamedBy, OpenOptions, QueueName, made_by, open_hint,
    taken_by_another_user,
};
use crate::ui::{HintExt as _, Ui};

/// Open the mailbox `mq-send` sends to (made if `--create` asks, and then removed should this
/// run fail before it sends), with what it holds.
pub(crate) fn to_send(
    args: &send::Args,
    target: &Target,
    ui: &Ui,
) -> anyhow::Result<(Mailbox, Attributes)> {
    let name = target.name();
    let options = args
        .create
        .unwrap_or_else(|| OpenOptions::existing(Access::Send));
    if let Target::Process(pid, name) = target {
        direct::explain(*pid, name, ui);
    }
    let mut mailbox = match Mailbox::open(name, &options) {
        Ok(m) => m,
        Err(err) => {
            let errno = crate::sys::errno_of(&err);
            let named_by = match target {
                Target::Process(..) => NamedBy::Program,
                _ => NamedBy::User,
            };
            let hint = match (target, errno) {
                (Target::Process(pid, _), Some(Errno::ENOENT)) => direct::no_mailbox_hint(*pid),
                (_, Some(Errno::EEXIST)) => taken_by_another_user(name).unwrap_or_else(|| {
                    format!(
                        "queue {name} exists already, {}: drop --exclusive to use it, or pick another name",
                        made_by(name)
                    )
                }),
                _ => open_hint(errno, name, named_by),
            };
            return Err(err).hint(hint);
        }
    };
    ui.call(&options.call_text(name), mailbox.as_fd().as_raw_fd());
    let attr = mailbox.attributes()?;
    if !mailbox.created() {
        let owner = mailbox.ownership()?;
        if let Target::Process(pid, _) = target {
            direct::check_owner(*pid, name, owner)?;
        }
        if let Some(warning) = owner.exposure(name) {
            ui.warn(&warning);
        }
        if args.sized {
            sized_note(name, &attr, ui);
        }
    }
    if mailbox.created() {
        ui.note(&attr.created_note(name, options.perms));
        ui.meaning("the kernel keeps it, and what is sent to it, until a receiver comes");
        // Nothing sent yet: should this run fail, the queue it made goes with it.
        mailbox.unlink_when_done();
    } else {
        ui.meaning(&format!(
            "{name} holds up to {} messages of up to {} bytes; {} waiting now",
            attr.max_messages, attr.message_size, attr.current_messages
        ));
    }
    Ok((mailbox, attr))
}

/// Open (or make) a mailbox `mq-recv` receives from. `sized`: `--maxmsg` or `--msgsize` was
/// given, which a queue that exists already does not take.
pub(crate) fn to_receive(
    name: &QueueName,
    options: &OpenOptions,
    sized: bool,
    ui: &Ui,
) -> anyhow::Result<Mailbox> {
    let mailbox = match Mailbox::open(name, options) {
        Ok(m) => m,
        Err(err) => {
            let errno = crate::sys::errno_of(&err);
            let hint = if errno == Some(Errno::EEXIST) && options.exclusive {
                format!(
                    "{name} is this process's own mailbox, yet it exists already, {}: it is made only where nothing is, so that nobody else reads what is sent to this process. Remove it if it is yours (`mq-recv -n --unlink {name}`), left by a run that was killed",
                    made_by(name)
                )
            } else {
                // A mailbox of this process's own (made exclusively) is named after its pid.
                let named_by = if options.exclusive {
                    NamedBy::Program
                } else {
                    NamedBy::User
                };
                open_hint(errno, name, named_by)
            };
            return Err(err).hint(hint);
        }
    };
    let attr = mailbox.attributes()?;
    // The call that opened it: Mailbox::open tries without O_CREAT first.
    let used = OpenOptions {
        create: mailbox.created(),
        ..*options
    };
    ui.call(&used.call_text(name), mailbox.as_fd().as_raw_fd());
    if mailbox.created() {
        ui.note(&attr.created_note(name, options.perms));
        ui.meaning("the kernel keeps the queue and its messages until someone unlinks it");
    } else {
        ui.meaning(&format!(
            "{name} exists: it holds up to {} messages of up to {} bytes; {} waiting now",
            attr.max_messages, attr.message_size, attr.current_messages
        ));
        if let Some(warning) = mailbox.ownership()?.exposure(name) {
            ui.warn(&warning);
        }
        if sized {
            sized_note(name, &attr, ui);
        }
    }
    Ok(mailbox)
}

/// The options for one mailbox a receiver opens: the one a port feeds is also written to.
pub(crate) fn options_for(options: &OpenOptions, port_fed: bool) -> OpenOptions {
    OpenOptions {
        access: if port_fed {
            Access::Both
        } else {
            Access::Receive
        },
        ..*options
    }
}

/// `--maxmsg` and `--msgsize` size a new queue only.
fn sized_note(name: &QueueName, attr: &Attributes, ui: &Ui) {
    ui.note(&format!(
        "queue {name} exists already ({} messages of up to {} bytes): --maxmsg and --msgsize apply only to a new queue",
        attr.max_messages, attr.message_size
    ));
}
