//! Message passing across machines (lecture notes, section B2: "port X on host A can communicate
//! with port Y on host B"): a mailbox given a TCP port.
//!
//! The receiving side (`port.rs`) puts every message that arrives over the network into its
//! local mailbox, a POSIX queue, and answers each one; the receiving program then takes messages
//! from the mailbox as it takes local ones. So a message from another machine has the same
//! semantics as a local one: the same priorities (highest first among those waiting), the same
//! capacity, and a sender that blocks while the mailbox is full, because the answer waits until
//! the message is in. The sending side is `remote.rs`.
//!
//! The safe types, a file each: `wire.rs` (the wire format: [`Greeting`], [`Header`], the
//! answer's [`Status`]), `port.rs` (the listening port), `peer.rs` (each sender connected to it)
//! and `remote.rs` (a connection to a port); here, the bounds every connection keeps to, and the
//! parsers of `--listen` and `--host`. The lessons: `listen.rs` (`mq-recv --listen`),
//! [`connect`] (`mq-send --host`) and `show_wire.rs` (`mq-recv --show-wire`).
//!
//! Nothing is encrypted or authenticated: the bodies cross the network as they are, among the
//! header bytes, and whoever can reach the port can send a message. `--show-wire` makes the port
//! report every byte it reads, and shows them as `hexdump -C` does.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use nix::poll::PollFlags;

use super::PRIO_MAX;

pub mod connect;
pub(crate) mod listen;
mod peer;
mod port;
mod remote;
mod show_wire;
mod wire;

pub(crate) use port::Port;
pub(crate) use remote::{Ending, Remote};
pub use wire::{ANSWER_LEN, GREETING_LEN, Greeting, HEADER_LEN, Header, MAGIC, Refusal, Status};

/// The most senders connected at once. A newcomer beyond them takes the place of the one idle
/// longest (preferring one that has delivered nothing), so that connections that send nothing
/// cannot lock real senders out; only when every one of them waits for room in the mailbox is
/// the newcomer turned away.
pub(crate) const MAX_PEERS: usize = 64;
/// How long a sender may send nothing before it is disconnected: from its connection, or from
/// the last byte that went either way. An honest sender sends its message at once after the
/// greeting, which it waits for at most [`GREETING_WAIT`]; twice that leaves room for a greeting
/// and a message that each cross a slow network. A sender that waits for room in a full mailbox
/// is not idle: the receiver makes it wait. `mq-send` reading its messages from a terminal
/// connects again when its connection was closed meanwhile.
pub(crate) const IDLE_LIMIT: Duration = Duration::from_secs(10);
/// How long the port stops accepting when accept(2) fails for want of a descriptor (EMFILE,
/// ENFILE) and no connection can be closed to make one: the waiting connection stays in the
/// kernel's queue, and polling the listener meanwhile would only spin.
pub(crate) const ACCEPT_PAUSE: Duration = Duration::from_secs(1);
/// Answers a peer may leave unread before it is disconnected.
const MAX_UNREAD: usize = 64 * 1024;
/// How long a sender waits for the greeting of what it connected to.
pub(crate) const GREETING_WAIT: Duration = Duration::from_secs(5);
/// How long a sender waits to connect when no --timeout says otherwise.
pub(crate) const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// poll(2): the peer closed its end for writing (Linux; nix has no name for it).
const POLLRDHUP: PollFlags = PollFlags::from_bits_retain(libc::POLLRDHUP);

/// A non-blocking socket call that did nothing this time (would block, or a signal came).
fn try_again(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// A socket call that found the connection closed by the other side (reset, or no reader).
fn gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// `--host HOST:PORT`: where a remote mailbox listens. HOST is a name or an address (an IPv6
/// one in brackets), PORT a number from 1 to 65535; whether the name resolves is found out when
/// connecting.
pub fn parse_remote(text: &str) -> Result<String, String> {
    let bad = || {
        format!("expected HOST:PORT (e.g. lab-pc-2:7000, 127.0.0.1:7000, [::1]:7000), got {text:?}")
    };
    let (host, port) = text.trim().rsplit_once(':').ok_or_else(bad)?;
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        }
    };
    let port_ok =
        port.parse::<u16>().is_ok_and(|p| p > 0) && port.bytes().all(|b| b.is_ascii_digit());
    if host_ok && port_ok {
        Ok(text.trim().to_string())
    } else {
        Err(bad())
    }
}

/// Where to listen: `PORT` (this machine only, 127.0.0.1) or `ADDR:PORT` (`0.0.0.0:PORT` for
/// every interface, `[::1]:PORT` for IPv6).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!("expected PORT or ADDR:PORT (e.g. 7000, 0.0.0.0:7000, [::1]:7000), got {text:?}")
    })
}

/// Something that happened at the port, for the receiver to tell its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortEvent {
    Connected(SocketAddr),
    /// The peer hung up between messages.
    Closed {
        peer: SocketAddr,
        delivered: u64,
    },
    /// The peer was refused (and disconnected) for what it sent.
    Refused {
        peer: SocketAddr,
        why: String,
    },
    /// The connection ended badly: closed in the middle of a message, reset, not reading.
    Dropped {
        peer: SocketAddr,
        why: String,
    },
    /// What one read(2) took off the connection, byte for byte (only with [`Port::show_wire`]).
    Arrived {
        peer: SocketAddr,
        bytes: Vec<u8>,
    },
    /// accept(2) failed for want of a resource (no descriptor left), with no connection to
    /// close instead: new connections wait in the kernel's queue for `retry`.
    Paused {
        why: String,
        retry: Duration,
    },
}

/// Where the receiving program hands out the messages it takes (its stdout): the port checks
/// it before it accepts a message, so that a sender is told "not delivered" rather than have its
/// message go into a mailbox whose receiver cannot pass it on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outlet {
    /// For messages: "standard output".
    pub name: &'static str,
    /// Whether it takes writes now; the errno it would fail with.
    pub check: fn() -> Result<(), nix::errno::Errno>,
    /// Advice for the receiver's user once it has failed.
    pub hint: &'static str,
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::time::Duration;

    use super::*;
    use crate::mq::{Mailbox, Outcome, Wait};

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen("7000"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 7000)))
        );
        assert_eq!(
            parse_listen("0.0.0.0:7000"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 7000)))
        );
        assert!(parse_listen("[::1]:7000").is_ok());
        for bad in ["", "x", "70000", "1.2.3.4", "host:7000"] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_over_the_port_is_received_by_priority() {
        use crate::mq::{Access, Inbox, OpenOptions, TestQueue};
        let q = TestQueue::new();
        let mailbox = Mailbox::open(&q.0, &OpenOptions::create(Access::Both, 8, 64)).unwrap();
        let port = Port::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let target = port.local_addr().to_string();
        let mut inbox = Inbox::new(vec![mailbox], Some(port));
        let (done_read, done_write) = nix::unistd::pipe().unwrap();
        let sender = std::thread::spawn(move || {
            let mut remote = Remote::connect(&target, Some(Duration::from_secs(5)), None)
                .unwrap()
                .unwrap();
            assert_eq!(
                remote.greeting(),
                Greeting {
                    message_size: 64,
                    max_messages: 8
                }
            );
            let low = remote
                .send_batch(&[b"low-1", b"low-2"], 1, Wait::Block, None)
                .unwrap();
            let high = remote.send_batch(&[b"high"], 9, Wait::Block, None).unwrap();
            nix::unistd::write(&done_write, b"\n").unwrap();
            (low, high)
        });
        let mut events = Vec::new();
        // Take nothing until the sender has all its answers: the messages wait in the mailbox.
        assert_eq!(
            inbox
                .hold(done_read.as_fd(), None, &mut |e| events.push(e))
                .unwrap(),
            Outcome::Done(())
        );
        let (low, high) = sender.join().unwrap();
        assert_eq!((low, high), ((2, Ending::Done), (1, Ending::Done)));
        let mut got = Vec::new();
        for _ in 0..3 {
            match inbox
                .receive(Wait::For(Duration::from_secs(5)), None, &mut |e| {
                    events.push(e)
                })
                .unwrap()
            {
                Outcome::Done((0, m)) => got.push((m.priority, String::from_utf8(m.body).unwrap())),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            got,
            [(9, "high".into()), (1, "low-1".into()), (1, "low-2".into())]
        );
        assert!(matches!(events[0], PortEvent::Connected(_)), "{events:?}");
    }
}
