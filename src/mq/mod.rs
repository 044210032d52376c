//! POSIX message queues (lecture notes, section B2 Message Passing) as a mailbox type, and the
//! lessons that show it.
//!
//! The notes' indirect communication, `send(MB, msg)` and `receive(MB, msg)`: messages go to a
//! mailbox (a "port") that the kernel keeps, not to a process. A [`Mailbox`] is an open queue;
//! dropping it closes the descriptor (`mq_close`); the queue itself lives on in the kernel until
//! [`unlink`] removes it, so messages sent with no receiver running wait there.
//!
//! The safe types, a file each beside this one: `name.rs` ([`QueueName`]), `mailbox.rs`
//! ([`Mailbox`], [`OpenOptions`], [`unlink`], [`exists`]), `inbox.rs` (several mailboxes at
//! once, and a network port that feeds the first), `owner.rs` (who owns a queue, and its mode)
//! and `hints.rs` (advice for a queue that would not open); here, the limits and what a send or
//! receive returns.
//!
//! The lessons, one idea of the notes each; each file's comment quotes the notes and names its
//! sections of the lab sheet (`docs/02-message-passing.md`, and `docs/deeper/`):
//!
//! | file | the idea | shown by |
//! |------|----------|----------|
//! | `send.rs` | `send(MB, msg)`: the sender names a mailbox, not a process; a full one makes it wait | `mq-send QUEUE MESSAGE...`, `-n`, `--timeout`, `-p` |
//! | `receive.rs` | `receive(MB, msg)`: the oldest message of the highest priority, from one mailbox or several | `mq-recv QUEUE...`, `-n`, `--timeout`, `-v` |
//! | `open.rs` | the mailbox is the kernel's: the receiver makes it, or the sender with `-c` | `mq-recv QUEUE`, `mq-send -c` |
//! | `unlink.rs` | closing is not removing: what stays in the kernel | `mq-recv --unlink` |
//! | `hold.rs` | messages wait while nobody receives: a sender blocked, priorities among those waiting | `mq-recv --hold` |
//! | `size.rs` | a message is limited in size: one per argument or line, at most `mq_msgsize` | `mq-send` (EMSGSIZE) |
//! | `attr.rs` | the limits of a queue and of the system | `mq-recv --attr` |
//! | `direct.rs` | direct naming, `send(P2, msg)`: a mailbox named after its process | `mq-send --to PID`, `mq-recv --mine` |
//! | `pairs.rs` | `receive(P1, msg)`: the receiver names its sender | `mq-recv --mine --from PID` |
//! | `net/listen.rs`, `net/connect.rs`, `net/show_wire.rs` | port X on host A to port Y on host B, and what the network carries ([`net`]) | `mq-recv --listen`, `mq-send --host`, `--show-wire` |

use std::time::{Duration, Instant};

use anyhow::Context as _;

pub mod attr;
pub mod direct;
mod hints;
mod hold;
mod inbox;
mod mailbox;
mod name;
pub mod net;
mod open;
mod owner;
mod pairs;
pub mod receive;
pub mod send;
mod size;
mod unlink;

pub(crate) use hints::{NamedBy, open_hint, taken_by_another_user};
pub(crate) use inbox::Inbox;
pub use mailbox::{Access, Mailbox, OpenOptions, exists, unlink};
pub use name::QueueName;
pub(crate) use name::name_of_ones_own;
pub(crate) use owner::ownership_of;
pub(crate) use owner::{Ownership, made_by};

/// The longest name after the leading `/` (NAME_MAX).
pub const NAME_MAX: usize = 255;
/// The highest priority Linux accepts (MQ_PRIO_MAX - 1).
pub const PRIO_MAX: u32 = 32767;
/// The largest message any queue takes: Linux's HARD_MSGSIZEMAX, 16 MiB, a bound even with
/// CAP_SYS_RESOURCE.
pub(crate) const MSGSIZE_HARD_MAX: usize = 16 * 1024 * 1024;

/// The attributes of a queue (`mq_getattr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes {
    pub max_messages: i64,
    pub message_size: i64,
    /// Messages waiting in the queue now.
    pub current_messages: i64,
}

impl Attributes {
    /// What a new queue is, for the note that says it was made: `created queue /lab (10
    /// messages of up to 8192 bytes, mode 0600)`.
    pub(crate) fn created_note(&self, name: &QueueName, perms: u32) -> String {
        format!(
            "created queue {name} ({} of up to {} bytes, mode {perms:04o})",
            crate::ui::counted(self.max_messages as u64, "message"),
            self.message_size
        )
    }
}

/// A message taken from a queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub body: Vec<u8>,
    pub priority: u32,
}

/// How long a send or receive may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Until it can go ahead (or the wake-up descriptor fires).
    Block,
    /// Not at all: a full (empty) queue is [`Outcome::WouldBlock`].
    NonBlock,
    /// Until this much time has passed.
    For(Duration),
}

impl Wait {
    /// The wait a command line asks for: `-n` (no wait), `--timeout SECS`, or neither (block).
    pub(crate) fn chosen(nonblock: bool, timeout: Option<Duration>) -> Wait {
        match (nonblock, timeout) {
            (true, _) => Wait::NonBlock,
            (false, Some(t)) => Wait::For(t),
            (false, None) => Wait::Block,
        }
    }

    /// When a wait that starts now must end (`None`: never, or not at all).
    pub(crate) fn deadline(self) -> Option<Instant> {
        match self {
            Wait::For(d) => Some(Instant::now() + d),
            _ => None,
        }
    }
}

/// What became of a send or receive that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    Done(T),
    /// Non-blocking, and the queue was full (send) or empty (receive).
    WouldBlock,
    /// The time given with [`Wait::For`] passed first.
    TimedOut,
    /// The wake-up descriptor became readable first (a termination signal).
    Woken,
}

/// The system's limits, from /proc/sys/fs/mqueue (what an unprivileged user may ask for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most messages a queue may hold (msg_max).
    pub msg_max: i64,
    /// The largest message size (msgsize_max).
    pub msgsize_max: i64,
    /// What a queue created without attributes gets (msg_default, msgsize_default).
    pub msg_default: i64,
    pub msgsize_default: i64,
    /// How many queues the system allows (queues_max).
    pub queues_max: i64,
}

impl Limits {
    pub fn read() -> anyhow::Result<Limits> {
        let read = |name: &str| -> anyhow::Result<i64> {
            let path = format!("/proc/sys/fs/mqueue/{name}");
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
            text.trim()
                .parse()
                .with_context(|| format!("{path} holds {text:?}, not a number"))
        };
        Ok(Limits {
            msg_max: read("msg_max")?,
            msgsize_max: read("msgsize_max")?,
            msg_default: read("msg_default")?,
            msgsize_default: read("msgsize_default")?,
            queues_max: read("queues_max")?,
        })
    }
}

/// A queue name of a unit test's own, unique in the test run, removed when dropped.
#[cfg(test)]
pub(crate) struct TestQueue(pub(crate) QueueName);

#[cfg(test)]
impl TestQueue {
    pub(crate) fn new() -> TestQueue {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        TestQueue(QueueName::parse(&format!("/ipc-lab-unit-{}-{n}", std::process::id())).unwrap())
    }
}

#[cfg(test)]
impl Drop for TestQueue {
    fn drop(&mut self) {
        let _ = unlink(&self.0);
    }
}

/// A queue of a unit test's own, made with room for `max` messages of `size` bytes.
#[cfg(test)]
pub(crate) fn both(q: &TestQueue, max: i64, size: i64) -> Mailbox {
    Mailbox::open(&q.0, &OpenOptions::create(Access::Both, max, size)).unwrap()
}
