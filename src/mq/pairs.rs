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

use super::{QueueName, exists};
use crate::ui::Ui;

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
