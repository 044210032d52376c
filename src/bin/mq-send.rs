//! mq-send: the sending side of message passing (lecture notes, section B2): `send(MB, msg)` to a
//! mailbox, `send(P, msg)` to a process (direct naming), or to a mailbox on another machine.

#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, parser::ValueSource};
use ipc_lab::cli::{self, Common, QueueArgs};
use ipc_lab::mq::{self, Access, OpenOptions, PRIO_MAX, net, send};
use ipc_lab::ui::Ui;

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
    let lesson = send::Args {
        words: args.words,
        to: args.to,
        host: args.host,
        priority: args.priority,
        nonblock: args.nonblock,
        timeout: args.timeout,
        create: args.create.then(|| OpenOptions {
            exclusive: args.exclusive,
            ..args.queue.create_options(Access::Send)
        }),
        sized: args.queue.sized(),
        perms_given: matches.value_source("perms") == Some(ValueSource::CommandLine),
    };
    // Direct naming (send(P2, msg)), a mailbox on another machine, or one the user names.
    let result = if lesson.to.is_some() {
        mq::direct::run(&lesson, &ui)
    } else if lesson.host.is_some() {
        net::connect::run(&lesson, &ui)
    } else {
        send::run(&lesson, &ui)
    };
    ui.finish(result)
}
