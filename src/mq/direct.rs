//! Direct naming: `send(P2, msg)` (lecture notes, B2 Message Passing, direct communication:
//! "Sender or receiver of message explicitly name the other party", "format send(P2, msg) and
//! receive(P1, msg)", "need to know the identity of the other party"). Lab sheet:
//! docs/02-message-passing.md, "Direct and indirect naming, side by side".
//!
//! POSIX queues have names, not owners, so a process's mailbox is named after it:
//! `mq-recv --mine` makes `/ipc-lab-pid-<PID>` and prints its PID; `mq-send --to PID` names the
//! process, and the program finds its mailbox. A mailbox of that name that exists already was
//! made by someone else (to read what is sent to the process, say): the receiver makes it only
//! where nothing is, and the sender sends only to one made by the user the process runs as.
#![forbid(unsafe_code)]

use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;

use super::send::{self, Target, check_sizes};
use super::size::Source;
use super::{Mailbox, OpenOptions, Ownership, QueueName, open, pairs, receive};
use crate::sys::Termination;
use crate::ui::Ui;

/// `mq-send --to PID MESSAGE...`: send to the mailbox of process PID.
pub fn run(args: &send::Args, ui: &Ui) -> anyhow::Result<()> {
    let Some(pid) = args.to else {
        return send::run(args, ui);
    };
    check_sizes(args)?;
    let name = pairs::mailbox_for(pid);
    let source = Source::of(&args.words, ui);
    let term = Termination::install()?;
    send::send(args, ui, &term, &Target::Process(pid, name), source)
}

/// What the sender's step 1 means: which of process `pid`'s mailboxes `name` is.
pub(crate) fn explain(pid: u32, name: &QueueName, ui: &Ui) {
    if *name != QueueName::for_pid(pid) {
        return pairs::explain(pid, name, ui);
    }
    let me = std::process::id();
    ui.meaning(&format!(
        "direct naming: process {pid}'s mailbox is {name} (made by `mq-recv --mine`); it has no mailbox for me (PID {me}), so this is its general one"
    ));
}

/// The mailbox of process `pid` must be that process's, made by its user. A mailbox of that
/// name made by another user (in wait for the pid, say) is not sent to.
pub(crate) fn check_owner(pid: u32, name: &QueueName, owner: Ownership) -> anyhow::Result<()> {
    let Ok(process) = std::fs::metadata(format!("/proc/{pid}")) else {
        // No such process now: the mailbox may wait for a receiver that comes back; the kernel
        // keeps what is sent.
        return Ok(());
    };
    if process.uid() != owner.uid {
        anyhow::bail!(
            "refusing to send to {name}: process {pid} runs as uid {}, but the mailbox was made by uid {} (mode {:04o}), so it is not that process's",
            process.uid(),
            owner.uid,
            owner.mode
        );
    }
    Ok(())
}

/// Why `mq-send --to PID` found no mailbox.
pub(crate) fn no_mailbox_hint(pid: u32) -> String {
    let alive = match i32::try_from(pid) {
        Ok(p) => !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None),
            Err(Errno::ESRCH)
        ),
        Err(_) => false,
    };
    if alive {
        format!(
            "process {pid} is running but has no mailbox: start the receiver as `mq-recv --mine`, and use the PID it prints"
        )
    } else {
        format!("no process {pid} is running: start `mq-recv --mine`, and use the PID it prints")
    }
}

/// `mq-recv --mine` (or `--listen` with no queue named): a mailbox named after this process,
/// made by this process or not at all, and removed when it ends. With `--from`, the pair
/// mailbox is the one received from, and the general one is returned beside it, open but not
/// read.
pub(crate) fn open_mine(
    args: &receive::Args,
    ui: &Ui,
) -> anyhow::Result<(Mailbox, Option<Mailbox>)> {
    // One that exists already was made by someone else (another user, to read what is sent
    // here): exclusive.
    let mine = |port_fed: bool| OpenOptions {
        exclusive: true,
        ..open::options_for(&args.options, port_fed)
    };
    let pid = std::process::id();
    let name = QueueName::for_pid(pid);
    let mut mailbox = open::to_receive(&name, &mine(args.listen.is_some()), args.sized, ui)?;
    mailbox.unlink_when_done();
    if let Some(from) = args.from {
        let only = pairs::run(pid, from, &name, &mine(false), args.sized, ui)?;
        return Ok((only, Some(mailbox)));
    }
    if args.mine {
        ui.note(&format!(
            "my PID is {pid}; my mailbox is {name}: send with `mq-send --to {pid} MESSAGE`"
        ));
        ui.meaning("direct naming: the sender names this process, as send(P2, msg)");
    }
    Ok((mailbox, None))
}
