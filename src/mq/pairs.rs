//! Direct naming both ways: `receive(P1, msg)`, the receiver names its sender (lecture notes, B2
//! Message Passing, direct communication: "format send(P2, msg) and receive(P1, msg)", "one link
//! per pair of comms processes, need to know the identity of the other party"). Lab sheet:
//! docs/deeper/02-message-passing.md, "Naming the sender: --from".
//!
//! `mq-recv --mine --from P1` makes one more mailbox, a pair mailbox named after both processes,
//! `/ipc-lab-pid-<MINE>-from-<P1>`, and receives only from it. `mq-send --to PID` looks for the
//! pair mailbox for its own PID first, and sends to the general one when there is none. Another
//! sender's message is not refused: it waits in the general mailbox, untaken, and the receiver
//! says so when it ends. The sender is known by the name it opens, not checked by the kernel.
#![forbid(unsafe_code)]

use std::os::fd::AsRawFd;

use super::{Mailbox, OpenOptions, QueueName, exists, open};
use crate::ui::{self, Ui};

/// `mq-recv --mine --from FROM`: make this process's (`pid`) mailbox for the messages of process
/// `from`, removed when the run ends; `general` stays open beside it, but is not read.
pub(crate) fn run(
    pid: u32,
    from: u32,
    general: &QueueName,
    options: &OpenOptions,
    sized: bool,
    ui: &Ui,
) -> anyhow::Result<Mailbox> {
    let pair = QueueName::for_pair(pid, from);
    let mut only = open::to_receive(&pair, options, sized, ui)?;
    only.unlink_when_done();
    ui.note(&format!(
        "my PID is {pid}; I take only messages from process {from}: its `mq-send --to {pid} MESSAGE` goes into {pair}; other senders' messages wait in {general}, not taken"
    ));
    ui.meaning("direct naming both ways: the receiver names its sender, as receive(P1, msg)");
    Ok(only)
}

/// The mailbox `mq-send --to PID` sends to: the pair mailbox process `pid` made for this
/// process (`mq-recv --mine --from MY-PID`), or else its general one.
pub(crate) fn mailbox_for(pid: u32) -> QueueName {
    let me = std::process::id();
    let pair = QueueName::for_pair(pid, me);
    if exists(&pair) {
        pair
    } else {
        QueueName::for_pid(pid)
    }
}

/// What the sender's step 1 means when process `pid` has a pair mailbox, `name`, for it.
pub(crate) fn explain(pid: u32, name: &QueueName, ui: &Ui) {
    let me = std::process::id();
    ui.meaning(&format!(
        "direct naming both ways: process {pid} takes only the messages of the processes it names; {name} is its mailbox for mine (PID {me}, made by `mq-recv --mine --from {me}`)"
    ));
}

/// Close the general mailbox at the end of a `--from` run, saying how many messages of other
/// senders waited in it untaken; it goes with them. Adds it to `names` (closed, and whether it
/// is removed), and to what `closed` removed.
pub(crate) fn close_general(
    general: Mailbox,
    from: u32,
    names: &mut Vec<(QueueName, i32, bool)>,
    closed: &mut anyhow::Result<Vec<QueueName>>,
    ui: &Ui,
) {
    let name = general.name().clone();
    let fd = general.as_fd().as_raw_fd();
    let waiting = general.attributes().map_or(0, |a| a.current_messages);
    if waiting > 0 {
        ui.note(&format!(
            "{} from other senders waited in {name}, not taken (--from {from} takes only that process's); they go with the mailbox",
            ui::counted(waiting as u64, "message"),
        ));
    }
    names.push((name.clone(), fd, true));
    match (general.close(), &mut *closed) {
        (Ok(true), Ok(removed)) => removed.push(name),
        (Err(e), Ok(_)) => *closed = Err(e),
        _ => {}
    }
}
