//! mq-send: the sending side of message passing (lecture notes, section B2): `send(MB, msg)` to a
//! mailbox, `send(P, msg)` to a process (direct naming), or to a mailbox on another machine.

use std::io::{self, IsTerminal};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, parser::ValueSource};
use ipc_lab::cli::{self, Common, QueueArgs};
use ipc_lab::mq::net::{self, Ending, Remote, Status};
use ipc_lab::mq::{
    self, Access, Mailbox, NamedBy, OpenOptions, Outcome, PRIO_MAX, QueueName, Wait,
};
use ipc_lab::sys::Termination;
use ipc_lab::ui::{self, Bound, HintExt as _, Line, StdinLines, Ui, UsageError};
use nix::errno::Errno;

const ABOUT: &str =
    "Send messages to a POSIX message queue (a mailbox), a process, or a network port";

const AFTER_HELP: &str = "\
Lecture notes: B2 Message Passing: send(MB, msg), direct and indirect naming, blocking and not.

Each MESSAGE argument is one message, sent as its bytes (no trailing NUL). With no MESSAGE, each
line of standard input is one message. Put -- before a message that starts with a dash.
The receiver (mq-recv) makes the queue; --create makes it here instead, so the kernel can hold
messages before any receiver runs.

Examples:
  mq-send /lab-$USER hello world  two messages to mailbox /lab-$USER (indirect naming)
  mq-send -p 5 /lab-$USER urgent  priority 5: received before everything below 5
  mq-send --to 4242 hi            direct: to the mailbox of process 4242 (mq-recv --mine); into
                                  its pair mailbox for this PID if it has one (mq-recv --from)
  mq-send -n /lab-$USER more      non-blocking: a full queue is an error, not a wait
  mq-send --timeout 2 /lab-$USER more
                                  wait at most 2 s for room
  mq-send -c --maxmsg 3 /lab-$USER a b
                                  make the queue (3 messages at most) if it is missing
  seq 5 | mq-send /lab-$USER      five messages, one per line
  mq-send --host lab-pc-2:7000 hi to `mq-recv --listen 0.0.0.0:7000` on another machine

Queue names are shared by every user of the machine: end yours in your login name ($USER).";

#[derive(Debug, Parser)]
#[command(name = "mq-send", version, about = ABOUT, after_help = AFTER_HELP,
          override_usage = "mq-send [OPTIONS] QUEUE [MESSAGE]...\n       \
                            mq-send [OPTIONS] --to PID [MESSAGE]...\n       \
                            mq-send [OPTIONS] --host HOST:PORT [MESSAGE]...")]
struct Args {
    /// The queue (a leading / is added if missing), then the messages; with --to or --host,
    /// only messages
    #[arg(value_name = "QUEUE|MESSAGE")]
    words: Vec<String>,

    /// Direct naming: send to the mailbox of process PID (started as `mq-recv --mine`)
    #[arg(long, value_name = "PID", conflicts_with = "host",
          value_parser = clap::value_parser!(u32).range(1..))]
    to: Option<u32>,

    /// Send over the network to `mq-recv --listen PORT` on HOST
    #[arg(long, value_name = "HOST:PORT", value_parser = net::parse_remote)]
    host: Option<String>,

    /// Priority of the messages: 0 to 32767, higher is received first
    #[arg(short, long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=PRIO_MAX as i64))]
    priority: u32,

    /// Do not wait: a full queue is an error
    #[arg(short, long, conflicts_with = "timeout")]
    nonblock: bool,

    /// Wait at most SECS for room in a full queue
    #[arg(long, value_name = "SECS", value_parser = cli::parse_seconds)]
    timeout: Option<Duration>,

    /// Create the queue if it does not exist (size it with --maxmsg and --msgsize)
    #[arg(short, long, conflicts_with_all = ["to", "host"])]
    create: bool,

    /// With --create: fail if the queue exists already
    #[arg(long, requires = "create")]
    exclusive: bool,

    #[command(flatten)]
    queue: QueueArgs,

    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    let (args, matches) = cli::command_line::<Args>();
    let ui = Ui::new("mq-send", args.common.color, args.common.explain);
    let perms_given = matches.value_source("perms") == Some(ValueSource::CommandLine);
    ui.finish(run(&args, perms_given, &ui))
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// Where the messages go.
enum Target {
    Queue(QueueName),
    /// Direct naming: a process's own mailbox.
    Process(u32, QueueName),
    Host(String),
}

impl Target {
    fn name(&self) -> Option<&QueueName> {
        match self {
            Target::Queue(name) | Target::Process(_, name) => Some(name),
            Target::Host(_) => None,
        }
    }
}

/// Where the message bodies come from.
enum Source<'a> {
    Args(&'a [String]),
    Stdin,
}

fn gather<'a>(args: &'a Args, perms_given: bool, ui: &Ui) -> anyhow::Result<(Target, Source<'a>)> {
    if !args.create && (args.queue.sized() || perms_given) {
        return Err(usage(
            "--maxmsg, --msgsize and --perms size a new queue: add --create (-c), or leave them out",
        ));
    }
    let (target, messages) = if let Some(pid) = args.to {
        // receive(P1, msg): a receiver started with `--mine --from MY-PID` made a pair mailbox
        // for this process; otherwise its general one.
        let me = std::process::id();
        let pair = QueueName::for_pair(pid, me);
        let name = if mq::exists(&pair) {
            pair
        } else {
            QueueName::for_pid(pid)
        };
        (Target::Process(pid, name), &args.words[..])
    } else if let Some(host) = &args.host {
        (Target::Host(host.clone()), &args.words[..])
    } else {
        let Some(first) = args.words.first() else {
            return Err(usage(
                "name a queue: mq-send QUEUE MESSAGE... (or --to PID, or --host HOST:PORT)",
            ));
        };
        let name = QueueName::parse(first)?;
        if name.slash_added {
            ui.meaning(&format!(
                "{first:?} has no leading /: the queue is {name}, as mq_open(3) wants it"
            ));
        }
        (Target::Queue(name), &args.words[1..])
    };
    let source = if messages.is_empty() {
        if io::stdin().is_terminal() {
            ui.note("type one message per line; Ctrl-D ends");
        }
        Source::Stdin
    } else {
        Source::Args(messages)
    };
    Ok((target, source))
}

fn run(args: &Args, perms_given: bool, ui: &Ui) -> anyhow::Result<()> {
    let (target, source) = gather(args, perms_given, ui)?;
    let term = Termination::install()?;
    let wait = Wait::chosen(args.nonblock, args.timeout);
    match &target {
        Target::Host(host) => send_remote(args, ui, &term, host, source, wait),
        _ => send_local(args, ui, &term, &target, source, wait),
    }
}

/// The bodies, one at a time: each argument, or each line of stdin without its line ending
/// (`\n` or `\r\n`), at most `bound` bytes (the largest message the mailbox takes: a longer
/// line is refused as soon as that much of it has come, never read on to its end). A termination
/// signal while waiting for a line ends it as [`ui::Interrupted`].
fn for_each_body(
    source: Source<'_>,
    term: &Termination,
    bound: &Bound,
    mut f: impl FnMut(usize, Option<usize>, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match source {
        Source::Args(messages) => {
            for (i, m) in messages.iter().enumerate() {
                f(i + 1, Some(messages.len()), m.as_bytes())?;
            }
        }
        Source::Stdin => {
            let mut lines = StdinLines::new();
            let mut n = 0;
            loop {
                match lines.next(bound, Some(term.wake_fd()))? {
                    Line::Text(line) => {
                        n += 1;
                        f(n, None, &line)?;
                    }
                    Line::End => break,
                    Line::Woken => return Err(term.interrupted()),
                }
            }
        }
    }
    Ok(())
}

/// "message 2 of 3" or, from stdin, "line 2".
fn which(n: usize, total: Option<usize>) -> String {
    match total {
        Some(1) => "the message".into(),
        Some(total) => format!("message {n} of {total}"),
        None => format!("the message on line {n}"),
    }
}

fn send_local(
    args: &Args,
    ui: &Ui,
    term: &Termination,
    target: &Target,
    source: Source<'_>,
    wait: Wait,
) -> anyhow::Result<()> {
    let name = target.name().expect("a local target has a queue name");
    let options = if args.create {
        OpenOptions {
            exclusive: args.exclusive,
            ..args.queue.create_options(Access::Send)
        }
    } else {
        OpenOptions::existing(Access::Send)
    };

    ui.step(1, "open the mailbox for sending");
    if let Target::Process(pid, name) = target {
        let me = std::process::id();
        if *name == QueueName::for_pid(*pid) {
            ui.meaning(&format!(
                "direct naming: process {pid}'s mailbox is {name} (made by `mq-recv --mine`); it has no mailbox for me (PID {me}), so this is its general one"
            ));
        } else {
            ui.meaning(&format!(
                "direct naming both ways: process {pid} takes only the messages of the processes it names; {name} is its mailbox for mine (PID {me}, made by `mq-recv --mine --from {me}`)"
            ));
        }
    }
    let mut mailbox = match Mailbox::open(name, &options) {
        Ok(m) => m,
        Err(err) => {
            let errno = ipc_lab::sys::errno_of(&err);
            let named_by = match target {
                Target::Process(..) => NamedBy::Program,
                _ => NamedBy::User,
            };
            let hint = match (target, errno) {
                (Target::Process(pid, _), Some(Errno::ENOENT)) => process_hint(*pid),
                (_, Some(Errno::EEXIST)) => mq::taken_by_another_user(name).unwrap_or_else(|| {
                    format!(
                        "queue {name} exists already, {}: drop --exclusive to use it, or pick another name",
                        mq::made_by(name)
                    )
                }),
                _ => mq::open_hint(errno, name, named_by),
            };
            return Err(err).hint(hint);
        }
    };
    let fd = mailbox.as_fd().as_raw_fd();
    ui.call(&options.call_text(name), fd);
    let attr = mailbox.attributes()?;
    if !mailbox.created() {
        let owner = mailbox.ownership()?;
        if let Target::Process(pid, _) = target {
            check_process_mailbox(*pid, name, owner)?;
        }
        if let Some(warning) = owner.exposure(name) {
            ui.warn(&warning);
        }
        if args.queue.sized() {
            ui.note(&format!(
                "queue {name} exists already ({} messages of up to {} bytes): --maxmsg and --msgsize apply only to a new queue",
                attr.max_messages, attr.message_size
            ));
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

    ui.step(2, "send: the kernel copies each message into the queue");
    let mut sent = 0usize;
    let bound = Bound {
        max: mailbox.message_size(),
        what: "a message".into(),
        why: format!("the most queue {name} takes (mq_msgsize)"),
        hint: too_long_hint(name, mailbox.message_size(), mailbox.created()),
    };
    let result = for_each_body(source, term, &bound, |n, total, body| {
        let outcome = mailbox
            .send(body, args.priority, wait, Some(term.wake_fd()))
            .map_err(|err| {
                let hint = match ipc_lab::sys::errno_of(&err) {
                    Some(Errno::EMSGSIZE) => Some(too_long_hint(
                        name,
                        mailbox.message_size(),
                        mailbox.created(),
                    )),
                    _ => None,
                };
                let err = if total.is_some_and(|t| t > 1) || total.is_none() {
                    err.context(which(n, total))
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
                which(n, total)
            ))
            .hint(format!(
                "start a receiver (mq-recv {name}) to make room, or drop -n to wait for it"
            )),
            Outcome::TimedOut => Err(anyhow::anyhow!(
                "queue {name} stayed full for {} s (ETIMEDOUT); {} was not sent",
                args.timeout.unwrap_or_default().as_secs_f64(),
                which(n, total)
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
                    which(n, total)
                ));
                Err(interrupted.into())
            }
        }
    });
    ui.step(3, "close the mailbox");
    let removed = mailbox.close()?;
    ui.call(&format!("mq_close({fd})"), 0);
    if removed {
        ui.note(&format!(
            "removed queue {name}, which this run made and sent nothing to"
        ));
    } else if result.is_ok() {
        ui.meaning(&format!(
            "the messages wait in {name} until a receiver takes them, whether or not this process still runs"
        ));
    }
    result
}

/// An errno a receiver sent as a number, as the house format names it: `Broken pipe (EPIPE)`.
fn errno_text(code: u32) -> String {
    match i32::try_from(code).map(Errno::from_raw) {
        Ok(errno) if errno != Errno::UnknownErrno => format!("{} ({errno:?})", errno.desc()),
        _ => format!("error {code}"),
    }
}

/// The advice for a message longer than queue `name` takes (`size`, its mq_msgsize): a queue
/// that exists already keeps the size it was made with, whatever --msgsize says now.
fn too_long_hint(name: &QueueName, size: usize, created: bool) -> String {
    if created {
        format!(
            "queue {name} takes messages of up to {size} bytes (mq_msgsize): send less, or make the queue with a bigger --msgsize"
        )
    } else {
        format!(
            "queue {name} exists with messages of up to {size} bytes (mq_msgsize), fixed when it was made (--msgsize sizes a new queue only): send less, or remove it (`mq-recv -n --unlink {name}`) and make it again with a bigger --msgsize"
        )
    }
}

/// Direct naming: the mailbox of process `pid` must be that process's, made by its user. A
/// mailbox of that name made by another user (in wait for the pid, say) is not sent to.
fn check_process_mailbox(pid: u32, name: &QueueName, owner: mq::Ownership) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
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
fn process_hint(pid: u32) -> String {
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

fn send_remote(
    args: &Args,
    ui: &Ui,
    term: &Termination,
    host: &str,
    source: Source<'_>,
    wait: Wait,
) -> anyhow::Result<()> {
    ui.step(1, "connect to the mailbox's port on the other machine");
    let Some(mut remote) = Remote::connect(host, args.timeout, Some(term.wake_fd()))? else {
        return Err(term.interrupted());
    };
    let addr = remote.addr();
    let greeting = remote.greeting();
    ui.call(&format!("connect({host})"), addr);
    ui.meaning(&format!(
        "the receiver's mailbox holds up to {} messages of up to {} bytes",
        greeting.max_messages, greeting.message_size
    ));

    ui.step(
        2,
        "send: each message goes into the mailbox, and the receiver confirms it",
    );
    let mut sent = 0usize;
    // The receiver closes a connection idle for net::IDLE_LIMIT (lines from stdin come when
    // they are typed): connect again, to the same HOST:PORT.
    let reconnect = |remote: &mut Remote| -> anyhow::Result<()> {
        ui.meaning(&format!(
            "{addr} closed the connection while it was idle: connect again"
        ));
        let Some(again) = Remote::connect(host, args.timeout, Some(term.wake_fd()))? else {
            return Err(term.interrupted());
        };
        ui.call(&format!("connect({host})"), again.addr());
        *remote = again;
        Ok(())
    };
    // `after_idle`: the connection has been idle since its last answer. Should the receiver
    // close it as idle just as the message leaves, it read none of it (an idle connection is
    // one with nothing to read): send it again on a new connection.
    let send = |remote: &mut Remote,
                bodies: &[&[u8]],
                first: usize,
                total: Option<usize>,
                sent: &mut usize,
                after_idle: bool|
     -> anyhow::Result<()> {
        let mut outcome = remote.send_batch(bodies, args.priority, wait, Some(term.wake_fd()))?;
        if after_idle && outcome == (0, Ending::Closed) {
            reconnect(remote)?;
            outcome = remote.send_batch(bodies, args.priority, wait, Some(term.wake_fd()))?;
        }
        let (delivered, ending) = outcome;
        for body in &bodies[..delivered] {
            ui.call(
                &format!(
                    "send({addr}, {:?}, {}, {})",
                    String::from_utf8_lossy(body),
                    body.len(),
                    args.priority
                ),
                "delivered",
            );
        }
        *sent += delivered;
        // The message the batch stopped at, counted from 1 (`first` messages came before it).
        let n = first + delivered + 1;
        match ending {
            Ending::Done => Ok(()),
            Ending::Refused {
                status: Status::Full,
                detail,
            } => Err(anyhow::anyhow!(
                "the mailbox at {addr} is full ({}): -n/--nonblock does not wait (EAGAIN); {} was not sent",
                ui::counted(detail, "message"),
                which(n, total)
            ))
            .hint("wait for the receiver to take some, or drop -n to wait for room"),
            Ending::Refused {
                status: Status::Undeliverable,
                detail,
            } => Err(anyhow::anyhow!(
                "{addr} did not deliver {}: the receiver cannot pass messages on (its output fails: {}), so it did not put it into the mailbox",
                which(n, total),
                errno_text(detail)
            ))
            .hint("is mq-recv's standard output closed, or a pipe nobody reads? Start it again with its output open"),
            Ending::Refused { status, detail } => Err(anyhow::anyhow!(
                "{addr} refused {}: {}",
                which(n, total),
                match status {
                    Status::TooBig => format!("it takes messages of up to {detail} bytes (EMSGSIZE)"),
                    Status::BadPriority => format!("priorities go from 0 to {detail}"),
                    _ => "it could not read it as a message".into(),
                }
            )),
            Ending::TimedOut => Err(anyhow::anyhow!(
                "no answer from {addr} within {} s: its mailbox stayed full (ETIMEDOUT); {} was not sent",
                args.timeout.unwrap_or_default().as_secs_f64(),
                which(n, total)
            ))
            .hint("is the receiver taking messages? Raise --timeout, or drop it to wait"),
            Ending::Woken => {
                let err = term.interrupted();
                ui.note(&format!(
                    "{err} while waiting for {addr}: {} sent; {} was not confirmed",
                    *sent,
                    which(n, total)
                ));
                Err(err)
            }
            Ending::Closed => Err(anyhow::anyhow!(
                "{addr} closed the connection before answering {} (was mq-recv stopped?)",
                which(n, total)
            )),
        }
    };
    let too_big = |n: usize, total: Option<usize>, len: usize, size: u32| {
        let err = anyhow::anyhow!(
            "cannot send a {len}-byte message to {addr}: Message too long (EMSGSIZE)"
        );
        Err(if total == Some(1) {
            err
        } else {
            err.context(which(n, total))
        })
        .hint(format!(
            "the mailbox at {addr} takes messages of up to {size} bytes: send less"
        ))
    };
    match source {
        Source::Args(messages) => {
            // All at once, as local sends in a row: those before an oversize one still go.
            let bodies: Vec<&[u8]> = messages.iter().map(|m| m.as_bytes()).collect();
            let fit = bodies
                .iter()
                .position(|b| b.len() > greeting.message_size as usize)
                .unwrap_or(bodies.len());
            let total = Some(bodies.len());
            send(&mut remote, &bodies[..fit], 0, total, &mut sent, false)?;
            if fit < bodies.len() {
                return too_big(fit + 1, total, bodies[fit].len(), greeting.message_size);
            }
        }
        Source::Stdin => {
            // The peer says how big a message its mailbox takes; no queue takes more than
            // 16 MiB, whatever a peer says.
            let max = (greeting.message_size as usize).min(mq::MSGSIZE_HARD_MAX);
            let bound = Bound {
                max,
                what: "a message".into(),
                why: format!("the most the mailbox at {addr} takes"),
                hint: format!(
                    "the mailbox at {addr} takes messages of up to {max} bytes: send shorter lines"
                ),
            };
            for_each_body(Source::Stdin, term, &bound, |n, total, body| {
                // Closed while idle: no message was in flight, so nothing is lost or sent twice.
                let after_idle = n > 1;
                if after_idle && remote.closed_meanwhile() {
                    reconnect(&mut remote)?;
                }
                let size = remote.greeting().message_size;
                if body.len() > size as usize {
                    return too_big(n, total, body.len(), size);
                }
                send(&mut remote, &[body], n - 1, total, &mut sent, after_idle)
            })?;
        }
    }
    ui.step(3, "close the connection");
    ui.meaning(&format!(
        "{} delivered into the mailbox at {addr}",
        ui::counted(sent as u64, "message")
    ));
    Ok(())
}
