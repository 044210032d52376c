//! mq-recv: the receiving side of message passing (lecture notes, section B2): `receive(MB, msg)`
//! from one or more mailboxes, a mailbox of its own (direct naming), or a network port.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ipc_lab::cli::{self, Common, QueueArgs};
use ipc_lab::mq::net::{self, Port, PortEvent};
use ipc_lab::mq::{
    self, Access, Inbox, Limits, Mailbox, NamedBy, OpenOptions, Outcome, QueueName, Wait,
};
use ipc_lab::sys::Termination;
use ipc_lab::ui::{self, Bound, HintExt as _, Interrupted, Line, StdinLines, Ui, UsageError};

const ABOUT: &str =
    "Receive messages from POSIX message queues (mailboxes), or from a network port";

const AFTER_HELP: &str = "\
Lecture notes: B2 Message Passing: receive(MB, msg), mailboxes (ports), blocking and non-blocking.

The receiver owns its mailbox: a QUEUE that does not exist is created (mode 0600) and stays in
the kernel after mq-recv ends, holding what is sent meanwhile, unless --unlink removes it. Each
message's body is printed as one line on stdout, nothing else; with several queues each line
starts with its queue's name. It runs until --count messages have arrived, or Ctrl-C.

Examples:
  mq-recv /lab-$USER             receive from /lab-$USER (indirect: both sides name a mailbox)
  mq-recv --count 3 -v /lab-$USER
                                 three messages, with their priority and size
  mq-recv /a-$USER /b-$USER      a mailbox for each sender; lines say which
  mq-recv --mine                 direct: a mailbox named after this process (mq-send --to PID)
  mq-recv --mine --from 5151     direct both ways, receive(P1, msg): only process 5151's messages
  mq-recv -n /lab-$USER          non-blocking: an empty queue is an error, not a wait
  mq-recv --timeout 5 /lab-$USER wait at most 5 s for each message
  mq-recv --hold --maxmsg 3 /lab-$USER
                                 receive nothing until Enter: watch senders block on a full queue
  mq-recv --listen 7000          a network port: mq-send --host HOST:7000 MESSAGE
  mq-recv --listen 7000 --show-wire
                                 the same, and every byte that arrives, as the network carried it
  mq-recv --attr /lab-$USER      the queue's attributes and the system's limits
  mq-recv --unlink /lab-$USER    remove the queue when done

Queue names are shared by every user of the machine: end yours in your login name ($USER).";

#[derive(Debug, Parser)]
#[command(name = "mq-recv", version, about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    /// Queue names (a leading / is added if missing); created if they do not exist
    #[arg(value_name = "QUEUE")]
    queues: Vec<String>,

    /// Direct naming: receive in a mailbox named after this process's PID, and print the PID
    #[arg(long)]
    mine: bool,

    /// With --mine: receive(P1, msg), take only the messages of process PID (they go into a pair
    /// mailbox /ipc-lab-pid-MINE-from-PID; those of other senders wait in the general mailbox)
    #[arg(long, value_name = "PID", requires = "mine", conflicts_with = "listen",
          value_parser = clap::value_parser!(u32).range(1..))]
    from: Option<u32>,

    /// Also receive from the network on [ADDR:]PORT (default address 127.0.0.1; 0.0.0.0 for
    /// other machines; port 0 picks a free one)
    #[arg(long, value_name = "[ADDR:]PORT", value_parser = net::parse_listen)]
    listen: Option<SocketAddr>,

    /// With --listen: show on stderr every byte that arrives from a sender, as it arrived (a hex
    /// and text dump of each read): the message in clear among the protocol's header bytes
    #[arg(long, requires = "listen")]
    show_wire: bool,

    /// Show each message's priority and size before its body
    #[arg(short, long)]
    verbose: bool,

    /// Exit after N messages
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Do not wait: an empty queue is an error
    #[arg(short, long, conflicts_with = "timeout")]
    nonblock: bool,

    /// Wait at most SECS for each message
    #[arg(long, value_name = "SECS", value_parser = cli::parse_seconds)]
    timeout: Option<Duration>,

    /// Receive nothing until Enter is pressed (or input ends): messages pile up meanwhile
    #[arg(long)]
    hold: bool,

    /// Remove the queues when done (on success, error, Ctrl-C, SIGTERM or SIGHUP)
    #[arg(long)]
    unlink: bool,

    /// Print each queue's attributes and the system's limits, and exit (receives nothing)
    #[arg(long, conflicts_with_all = ["mine", "from", "listen", "show_wire", "verbose", "count",
          "nonblock", "timeout", "hold", "unlink"])]
    attr: bool,

    #[command(flatten)]
    queue: QueueArgs,

    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    let args: Args = ipc_lab::cli::parse_args();
    let ui = Ui::new("mq-recv", args.common.color, args.common.explain);
    ui.finish(run(&args, &ui))
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// The queue names from the command line, checked.
fn names(args: &Args, ui: &Ui) -> anyhow::Result<Vec<QueueName>> {
    let mut names = Vec::new();
    for text in &args.queues {
        let name = QueueName::parse(text)?;
        if name.slash_added {
            ui.meaning(&format!(
                "{text:?} has no leading /: the queue is {name}, as mq_open(3) wants it"
            ));
        }
        if names.contains(&name) {
            return Err(usage(format!("queue {name} is named twice")));
        }
        names.push(name);
    }
    if names.is_empty() && !args.mine && args.listen.is_none() {
        return Err(usage(
            "name a queue to receive from (mq-recv /lab), or use --mine or --listen PORT",
        ));
    }
    Ok(names)
}

fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let names = names(args, ui)?;
    if args.attr {
        return attributes(&names, ui);
    }
    let term = Termination::install()?;
    let options = args.queue.create_options(Access::Receive);
    // The port first: a port that cannot be had leaves no mailbox made for it.
    let mut port = args.listen.map(Port::bind).transpose()?;
    if let Some(port) = &mut port {
        if args.show_wire {
            port.show_wire();
        }
        // A sender is told "delivered" only while the messages can be printed.
        port.hand_out_to(net::Outlet {
            name: "standard output",
            check: ui::stdout_writable,
            hint: "mq-recv prints each message it takes: run it with its standard output open (a terminal, a file, or a pipe whose reader reads on)",
        });
    }

    ui.step(
        1,
        "open the mailbox: the receiver owns its port, so it creates it if need be",
    );
    let mut mailboxes = Vec::new();
    // With --from: this process's general mailbox, open but not received from.
    let mut general: Option<Mailbox> = None;
    // Direct naming, or a port with no queue named: a mailbox of this process's own.
    let own = args.mine || (args.listen.is_some() && names.is_empty());
    let pid = std::process::id();
    if own {
        // A mailbox named after this process is made by this process, or not at all: one that
        // exists already was made by someone else (another user, to read what is sent here).
        let mine = |port_fed: bool| OpenOptions {
            exclusive: true,
            ..options_for(&options, port_fed)
        };
        let name = QueueName::for_pid(pid);
        let mut mailbox = open(&name, &mine(args.listen.is_some()), args, ui)?;
        mailbox.unlink_when_done();
        if let Some(from) = args.from {
            // The general mailbox stays open, so that other senders find it, but is not read.
            let pair = QueueName::for_pair(pid, from);
            let mut only = open(&pair, &mine(false), args, ui)?;
            only.unlink_when_done();
            ui.note(&format!(
                "my PID is {pid}; I take only messages from process {from}: its `mq-send --to {pid} MESSAGE` goes into {pair}; other senders' messages wait in {name}, not taken"
            ));
            ui.meaning(
                "direct naming both ways: the receiver names its sender, as receive(P1, msg)",
            );
            general = Some(mailbox);
            mailboxes.push(only);
        } else {
            if args.mine {
                ui.note(&format!(
                    "my PID is {pid}; my mailbox is {name}: send with `mq-send --to {pid} MESSAGE`"
                ));
                ui.meaning("direct naming: the sender names this process, as send(P2, msg)");
            }
            mailboxes.push(mailbox);
        }
    }
    for name in &names {
        let port_fed = mailboxes.is_empty() && args.listen.is_some();
        let mut mailbox = open(name, &options_for(&options, port_fed), args, ui)?;
        // Until the set-up is complete, a queue this run made goes if anything fails.
        if args.unlink || mailbox.created() {
            mailbox.unlink_when_done();
        }
        mailboxes.push(mailbox);
    }
    if let (Some(port), Some(addr)) = (&port, args.listen) {
        let local = port.local_addr();
        ui.call(&format!("bind({addr}) + listen()"), local);
        let reach = if local.ip().is_loopback() {
            format!(
                " (this machine only: --listen 0.0.0.0:{} takes other machines)",
                local.port()
            )
        } else {
            String::new()
        };
        ui.note(&format!(
            "listening on {local}{reach}; messages from `mq-send --host HOST:{}` go into {}",
            local.port(),
            mailboxes[0].name()
        ));
        if args.show_wire {
            ui.note(
                "--show-wire: every byte a sender sends is shown as it arrives; nothing is encrypted, so anyone on the path between the machines can read it too (or send bytes of their own)",
            );
        }
    }
    if !args.unlink {
        for mailbox in mailboxes.iter_mut().skip(usize::from(own)) {
            mailbox.keep_when_done();
        }
    }
    let mut inbox = Inbox::new(mailboxes, port);
    let result = receive_all(args, ui, &term, &mut inbox);

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
        let name = general.name().clone();
        let fd = general.as_fd().as_raw_fd();
        let waiting = general.attributes().map_or(0, |a| a.current_messages);
        if waiting > 0 {
            ui.note(&format!(
                "{} from other senders waited in {name}, not taken (--from {} takes only that process's); they go with the mailbox",
                ui::counted(waiting as u64, "message"),
                args.from.unwrap_or_default()
            ));
        }
        names.push((name.clone(), fd, true));
        match (general.close(), &mut closed) {
            (Ok(true), Ok(removed)) => removed.push(name),
            (Err(e), Ok(_)) => closed = Err(e),
            _ => {}
        }
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

/// The options for one mailbox: the one a port feeds is also written to.
fn options_for(options: &OpenOptions, port_fed: bool) -> OpenOptions {
    OpenOptions {
        access: if port_fed {
            Access::Both
        } else {
            Access::Receive
        },
        ..*options
    }
}

fn open(name: &QueueName, options: &OpenOptions, args: &Args, ui: &Ui) -> anyhow::Result<Mailbox> {
    let mailbox = match Mailbox::open(name, options) {
        Ok(m) => m,
        Err(err) => {
            let errno = ipc_lab::sys::errno_of(&err);
            let hint = if errno == Some(nix::errno::Errno::EEXIST) && options.exclusive {
                format!(
                    "{name} is this process's own mailbox, yet it exists already, {}: it is made only where nothing is, so that nobody else reads what is sent to this process. Remove it if it is yours (`mq-recv -n --unlink {name}`), left by a run that was killed",
                    mq::made_by(name)
                )
            } else {
                // A mailbox of this process's own (made exclusively) is named after its pid.
                let named_by = if options.exclusive {
                    NamedBy::Program
                } else {
                    NamedBy::User
                };
                mq::open_hint(errno, name, named_by)
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
        if args.queue.sized() {
            ui.note(&format!(
                "queue {name} exists already ({} messages of up to {} bytes): --maxmsg and --msgsize apply only to a new queue",
                attr.max_messages, attr.message_size
            ));
        }
    }
    Ok(mailbox)
}

fn receive_all(args: &Args, ui: &Ui, term: &Termination, inbox: &mut Inbox) -> anyhow::Result<()> {
    let mut events = |event: PortEvent| match event {
        PortEvent::Connected(peer) => ui.note(&format!("{peer} connected")),
        PortEvent::Closed { peer, delivered } => ui.note(&format!(
            "{peer} disconnected after {}",
            ui::counted(delivered, "message")
        )),
        PortEvent::Refused { peer, why } => ui.note(&format!("refused {peer}: {why}")),
        PortEvent::Dropped { peer, why } => ui.note(&format!("dropped {peer}: {why}")),
        PortEvent::Paused { why, retry } => ui.note(&format!(
            "cannot take a new connection ({why}); it waits, and is tried again in {} s",
            retry.as_secs_f64()
        )),
        PortEvent::Arrived { peer, bytes } => {
            ui.note(&format!(
                "{peer} sent {}:",
                ui::counted(bytes.len() as u64, "byte")
            ));
            for line in net::hex_dump(&bytes) {
                ui.note(&format!("  {line}"));
            }
        }
    };
    if args.hold {
        ui.note("holding: press Enter to start receiving (messages wait in the mailbox meanwhile)");
        let stdin = io::stdin();
        match inbox.hold(stdin.as_fd(), Some(term.wake_fd()), &mut events)? {
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

/// `--attr`: each queue's attributes, then the system's limits, on stdout.
fn attributes(names: &[QueueName], ui: &Ui) -> anyhow::Result<()> {
    for name in names {
        let mailbox = match Mailbox::open(name, &OpenOptions::existing(Access::Receive)) {
            Ok(m) => m,
            Err(err) => {
                let errno = ipc_lab::sys::errno_of(&err);
                let hint = match errno {
                    Some(nix::errno::Errno::ENOENT) => format!(
                        "no queue is called {name} yet: `mq-recv {name}` makes it (or `mq-send -c {name} MESSAGE`)"
                    ),
                    _ => mq::open_hint(errno, name, NamedBy::User),
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
