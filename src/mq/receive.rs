//! `receive(MB, msg)`: the receiver takes messages from a mailbox (lecture notes, B2 Message
//! Passing, indirect communication: "format send(MB, msg) and receive(MB, msg)", "possible for one
//! mailbox to be shared amongst multiple processes"; and "Both B and A have mailboxes for specific
//! senders"). Lab sheet: docs/02-message-passing.md, "Walk-through: a mailbox", "Priorities" and
//! "Many receivers on one mailbox"; docs/deeper/02-message-passing.md, "Every case of waiting".
//!
//! `mq-recv QUEUE...`: open (or make, `open.rs`) each mailbox, then take message after
//! message (mq_receive: the oldest of the highest priority), each printed as one line on stdout;
//! with several mailboxes, from whichever has one, in turn (`inbox.rs`). An empty mailbox
//! makes the receiver wait, or with `-n` fail, or with `--timeout` give up. Then close
//! (`unlink.rs`).
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::net::{self, PortEvent};
use super::{Inbox, OpenOptions, Outcome, QueueName, Wait, direct, hold, open};
use crate::sys::Termination;
use crate::ui::{self, HintExt as _, Interrupted, Ui, UsageError};

/// What `mq-recv` is asked to do.
#[derive(Debug, Clone)]
pub struct Args {
    /// The queues, as typed.
    pub queues: Vec<String>,
    /// `--mine`: a mailbox named after this process (`direct.rs`).
    pub mine: bool,
    /// `--from PID`: only that process's messages (`pairs.rs`).
    pub from: Option<u32>,
    /// `--listen [ADDR:]PORT`: a network port feeds the first mailbox (`net/listen.rs`).
    pub listen: Option<SocketAddr>,
    /// `--show-wire`: every byte that arrives at the port (`net/show_wire.rs`).
    pub show_wire: bool,
    /// `-v`: each message's priority and size before its body.
    pub verbose: bool,
    /// `--count N`: end after N messages.
    pub count: Option<u64>,
    /// `-n`: an empty queue is an error, not a wait.
    pub nonblock: bool,
    /// `--timeout SECS`: wait at most this long for each message.
    pub timeout: Option<Duration>,
    /// `--hold`: take nothing until Enter (`hold.rs`).
    pub hold: bool,
    /// `--unlink`: remove the queues when done (`unlink.rs`).
    pub unlink: bool,
    /// How to make a queue that is missing (`--maxmsg`, `--msgsize`, `--perms`).
    pub options: OpenOptions,
    /// `--maxmsg` or `--msgsize` was given.
    pub sized: bool,
}

/// The queue names typed, checked; none is a usage error unless `own` (a mailbox of this
/// process's own, or a port) stands in.
pub(crate) fn names(queues: &[String], own: bool, ui: &Ui) -> anyhow::Result<Vec<QueueName>> {
    let mut names = Vec::new();
    for text in queues {
        let name = QueueName::parse(text)?;
        if name.slash_added {
            ui.meaning(&format!(
                "{text:?} has no leading /: the queue is {name}, as mq_open(3) wants it"
            ));
        }
        if names.contains(&name) {
            return Err(UsageError(format!("queue {name} is named twice")).into());
        }
        names.push(name);
    }
    if names.is_empty() && !own {
        return Err(UsageError(
            "name a queue to receive from (mq-recv /lab), or use --mine or --listen PORT".into(),
        )
        .into());
    }
    Ok(names)
}

/// `mq-recv QUEUE...` (or `--mine`, or `--listen PORT`): receive until `--count`, or a signal.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let names = names(&args.queues, args.mine || args.listen.is_some(), ui)?;
    let term = Termination::install()?;
    // The port first: a port that cannot be had leaves no mailbox made for it.
    let port = match args.listen {
        Some(addr) => Some(net::listen::bind(addr, args.show_wire)?),
        None => None,
    };

    ui.step(
        1,
        "open the mailbox: the receiver owns its port, so it creates it if need be",
    );
    let mut mailboxes = Vec::new();
    // With --from: this process's general mailbox, open but not received from.
    let mut general = None;
    // Direct naming, or a port with no queue named: a mailbox of this process's own.
    let own = args.mine || (args.listen.is_some() && names.is_empty());
    if own {
        let (mailbox, beside) = direct::open_mine(args, ui)?;
        mailboxes.push(mailbox);
        general = beside;
    }
    for name in &names {
        let port_fed = mailboxes.is_empty() && args.listen.is_some();
        let options = open::options_for(&args.options, port_fed);
        let mut mailbox = open::to_receive(name, &options, args.sized, ui)?;
        // Until the set-up is complete, a queue this run made goes if anything fails.
        if args.unlink || mailbox.created() {
            mailbox.unlink_when_done();
        }
        mailboxes.push(mailbox);
    }
    if let (Some(port), Some(addr)) = (&port, args.listen) {
        net::listen::run(port, addr, mailboxes[0].name(), args.show_wire, ui);
    }
    if !args.unlink {
        for mailbox in mailboxes.iter_mut().skip(usize::from(own)) {
            mailbox.keep_when_done();
        }
    }
    let mut inbox = Inbox::new(mailboxes, port);
    let result = take_all(args, ui, &term, &mut inbox);
    super::unlink::run(inbox, general, args.from, result, ui)
}

/// Step 2: take messages until `--count` of them have come, printing each.
fn take_all(args: &Args, ui: &Ui, term: &Termination, inbox: &mut Inbox) -> anyhow::Result<()> {
    let mut events = |event: PortEvent| net::listen::tell(event, ui);
    if args.hold {
        hold::run(inbox, term, &mut events, ui)?;
    }
    let wait = Wait::chosen(args.nonblock, args.timeout);
    let several = inbox.mailboxes().len() > 1;
    ui.step(
        2,
        "receive: take the oldest message of the highest priority",
    );
    let mut received: u64 = 0;
    while args.count.is_none_or(|n| received < n) {
        match inbox.receive(wait, Some(term.wake_fd()), &mut events)? {
            Outcome::Done((k, message)) => {
                received += 1;
                let mailbox = &inbox.mailboxes()[k];
                ui.call(
                    &format!(
                        "mq_receive({}, buf, {}, &prio)",
                        mailbox.as_fd().as_raw_fd(),
                        mailbox.message_size()
                    ),
                    format!("{}, prio = {}", message.body.len(), message.priority),
                );
                let mut prefix = String::new();
                if several {
                    prefix.push_str(&format!("{}: ", mailbox.name()));
                }
                if args.verbose {
                    prefix.push_str(&format!(
                        "priority {}, {}: ",
                        message.priority,
                        ui::counted(message.body.len() as u64, "byte")
                    ));
                }
                // Taken from the queue, the message exists nowhere else now: if it cannot be
                // printed (stdout closed, a reader gone, a disk full, a signal), it goes to
                // stderr, and the run fails.
                if let Err(err) = ui::out_taken_line(&prefix, &message.body) {
                    ui.note(&format!(
                        "the message taken from {} was: {}",
                        ui::one_line(mailbox.name().as_str()),
                        ui::one_line_bytes(&message.body)
                    ));
                    if err.downcast_ref::<Interrupted>().is_some() {
                        return Err(err);
                    }
                    return Err(err).hint(
                        "the message is above, on stderr; mq-recv prints each message it takes, so run it with its standard output open and read to the end",
                    );
                }
            }
            Outcome::WouldBlock => {
                return Err(anyhow::anyhow!(
                    "{} empty{}: -n/--nonblock does not wait (EAGAIN)",
                    queues_text(inbox),
                    after(received)
                ))
                .hint("send something first (mq-send QUEUE MESSAGE), or drop -n to wait for it");
            }
            Outcome::TimedOut => {
                return Err(anyhow::anyhow!(
                    "no message arrived within {} s{} (ETIMEDOUT)",
                    args.timeout.unwrap_or_default().as_secs_f64(),
                    after(received)
                ))
                .hint(
                    "is a sender running? Raise --timeout, or drop it to wait as long as it takes",
                );
            }
            Outcome::Woken => return Err(term.interrupted()),
        }
    }
    Ok(())
}

fn queues_text(inbox: &Inbox) -> String {
    let names: Vec<String> = inbox
        .mailboxes()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    match names.as_slice() {
        [one] => format!("queue {one} is"),
        many => format!("queues {} are all", many.join(", ")),
    }
}

fn after(received: u64) -> String {
    match received {
        0 => String::new(),
        n => format!(" after {}", ui::counted(n, "message")),
    }
}
