//! `send(MB, msg)`: the sender names a mailbox, not a process (lecture notes, B2 Message Passing,
//! indirect communication: "Message is sent or receiver from message storage, a.k.a. port (msg
//! not sent directly to processes)", "format send(MB, msg) and receive(MB, msg)"; and "all send
//! and receive operations need to go through the OS via a system call"). Lab sheet:
//! docs/02-message-passing.md, "Walk-through: a mailbox", "Synchronisation: when send and receive
//! wait" and "Priorities".
//!
//! `mq-send QUEUE MESSAGE...`: open the mailbox for sending (`open.rs`), copy each message
//! into it with its priority (mq_send; a full queue makes the sender wait, or with `-n` fail, or
//! with `--timeout` give up), close it. The messages wait in the kernel until a receiver takes
//! them, whether or not the sender still runs.
#![forbid(unsafe_code)]

use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::errno::Errno;

use super::size::{self, Source};
use super::{Mailbox, OpenOptions, Outcome, QueueName, Wait};
use crate::sys::Termination;
use crate::ui::{self, HintExt as _, Ui, UsageError};

/// What `mq-send` is asked to do.
#[derive(Debug, Clone)]
pub struct Args {
    /// The queue, then the messages; with `to` or `host`, only the messages.
    pub words: Vec<String>,
    /// `--to PID`, direct naming: [`super::direct::run`] sends.
    pub to: Option<u32>,
    /// `--host HOST:PORT`, a mailbox on another machine: [`super::net::connect::run`] sends.
    pub host: Option<String>,
    /// 0 to 32767, higher is received first.
    pub priority: u32,
    /// `-n`: a full queue is an error, not a wait.
    pub nonblock: bool,
    /// `--timeout SECS`: wait at most this long for room.
    pub timeout: Option<Duration>,
    /// `--create` (and `--exclusive`): make the queue so if it is missing.
    pub create: Option<OpenOptions>,
    /// `--maxmsg` or `--msgsize` was given.
    pub sized: bool,
    /// `--perms` was given.
    pub perms_given: bool,
}

impl Args {
    /// How long a send may wait for room: `-n`, `--timeout`, or as long as it takes.
    pub(crate) fn wait(&self) -> Wait {
        Wait::chosen(self.nonblock, self.timeout)
    }
}

/// The mailbox the messages go to.
pub(crate) enum Target {
    /// Named by the user: indirect naming.
    Queue(QueueName),
    /// Direct naming: a process's own mailbox (`direct.rs`).
    Process(u32, QueueName),
}

impl Target {
    pub(crate) fn name(&self) -> &QueueName {
        match self {
            Target::Queue(name) | Target::Process(_, name) => name,
        }
    }
}

/// The options that size a new queue need `--create`.
pub(crate) fn check_sizes(args: &Args) -> anyhow::Result<()> {
    if args.create.is_none() && (args.sized || args.perms_given) {
        return Err(UsageError(
            "--maxmsg, --msgsize and --perms size a new queue: add --create (-c), or leave them out"
                .into(),
        )
        .into());
    }
    Ok(())
}

/// `mq-send QUEUE MESSAGE...`: send to the mailbox the user names.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    check_sizes(args)?;
    let Some(first) = args.words.first() else {
        return Err(UsageError(
            "name a queue: mq-send QUEUE MESSAGE... (or --to PID, or --host HOST:PORT)".into(),
        )
        .into());
    };
    let name = QueueName::parse(first)?;
    if name.slash_added {
        ui.meaning(&format!(
            "{first:?} has no leading /: the queue is {name}, as mq_open(3) wants it"
        ));
    }
    let source = Source::of(&args.words[1..], ui);
    let term = Termination::install()?;
    send(args, ui, &term, &Target::Queue(name), source)
}

/// Open the mailbox, send each message, close it.
pub(crate) fn send(
    args: &Args,
    ui: &Ui,
    term: &Termination,
    target: &Target,
    source: Source<'_>,
) -> anyhow::Result<()> {
    let name = target.name();
    let wait = args.wait();
    ui.step(1, "open the mailbox for sending");
    let (mut mailbox, attr) = super::open::to_send(args, target, ui)?;
    let fd = mailbox.as_fd().as_raw_fd();

    ui.step(2, "send: the kernel copies each message into the queue");
    let mut sent = 0usize;
    let bound = size::bound(name, &mailbox);
    let result = size::for_each_body(source, term, &bound, |n, total, body| {
        let outcome = mailbox
            .send(body, args.priority, wait, Some(term.wake_fd()))
            .map_err(|err| {
                let hint = match crate::sys::errno_of(&err) {
                    Some(Errno::EMSGSIZE) => Some(size::too_long_hint(
                        name,
                        mailbox.message_size(),
                        mailbox.created(),
                    )),
                    _ => None,
                };
                let err = if total.is_some_and(|t| t > 1) || total.is_none() {
                    err.context(size::which(n, total))
                } else {
                    err
                };
                match hint {
                    Some(h) => err.context(ui::Hint(h)),
                    None => err,
                }
            })?;
        match outcome {
            Outcome::Done(()) => {
                sent += 1;
                mailbox.keep_when_done();
                ui.call(
                    &format!(
                        "mq_send({fd}, {:?}, {}, {})",
                        String::from_utf8_lossy(body),
                        body.len(),
                        args.priority
                    ),
                    0,
                );
                Ok(())
            }
            Outcome::WouldBlock => Err(anyhow::anyhow!(
                "queue {name} is full ({}): -n/--nonblock does not wait (EAGAIN); {} was not sent",
                ui::counted(attr.max_messages as u64, "message"),
                size::which(n, total)
            ))
            .hint(format!(
                "start a receiver (mq-recv {name}) to make room, or drop -n to wait for it"
            )),
            Outcome::TimedOut => Err(anyhow::anyhow!(
                "queue {name} stayed full for {} s (ETIMEDOUT); {} was not sent",
                args.timeout.unwrap_or_default().as_secs_f64(),
                size::which(n, total)
            ))
            .hint(format!(
                "is a receiver running? (mq-recv {name}) Raise --timeout, or drop it to wait as long as it takes"
            )),
            Outcome::Woken => {
                let Err(interrupted) = term.check() else {
                    anyhow::bail!("woken with no signal received");
                };
                ui.note(&format!(
                    "{interrupted} while waiting for room in {name}: {sent} sent; {} was not",
                    size::which(n, total)
                ));
                Err(interrupted.into())
            }
        }
    });
    ui.step(3, "close the mailbox");
    close(mailbox, fd, result.is_ok(), ui)?;
    result
}

/// Close the mailbox: the messages sent stay in the queue; a queue this run made and sent
/// nothing to goes.
fn close(mailbox: Mailbox, fd: i32, sent_all: bool, ui: &Ui) -> anyhow::Result<()> {
    let name = mailbox.name().clone();
    let removed = mailbox.close()?;
    ui.call(&format!("mq_close({fd})"), 0);
    if removed {
        ui.note(&format!(
            "removed queue {name}, which this run made and sent nothing to"
        ));
    } else if sent_all {
        ui.meaning(&format!(
            "the messages wait in {name} until a receiver takes them, whether or not this process still runs"
        ));
    }
    Ok(())
}
