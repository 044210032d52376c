//! mq-recv: the receiving side of message passing (lecture notes, section B2): `receive(MB, msg)`
//! from one or more mailboxes, a mailbox of its own (direct naming), or a network port.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ipc_lab::cli::{self, Common, QueueArgs};
use ipc_lab::mq::{Access, attr, net, receive};
use ipc_lab::ui::Ui;

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
    if args.attr {
        return ui.finish(attr::run(
            &attr::Args {
                queues: args.queues,
            },
            &ui,
        ));
    }
    let lesson = receive::Args {
        queues: args.queues,
        mine: args.mine,
        from: args.from,
        listen: args.listen,
        show_wire: args.show_wire,
        verbose: args.verbose,
        count: args.count,
        nonblock: args.nonblock,
        timeout: args.timeout,
        hold: args.hold,
        unlink: args.unlink,
        options: args.queue.create_options(Access::Receive),
        sized: args.queue.sized(),
    };
    ui.finish(receive::run(&lesson, &ui))
}
