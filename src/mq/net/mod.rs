//! Message passing across machines (lecture notes, section B2: "port X on host A can communicate
//! with port Y on host B"): a mailbox given a TCP port.
//!
//! The receiving side ([`Port`]) puts every message that arrives over the network into its local
//! mailbox, a POSIX queue, and answers each one; the receiving program then takes messages from
//! the mailbox as it takes local ones. So a message from another machine has the same semantics
//! as a local one: the same priorities (highest first among those waiting), the same capacity,
//! and a sender that blocks while the mailbox is full, because the answer waits until the message
//! is in. The sending side is [`Remote`].
//!
//! The wire format, all integers big-endian:
//!
//! | who        | what                 | bytes                                                       |
//! |------------|----------------------|-------------------------------------------------------------|
//! | receiver   | greeting, on connect | `ipcl`, version (1), message size (u32), capacity (u32)     |
//! | sender     | a message            | `ipcl`, flags (bit 0: non-blocking), priority (u16), length (u32), body |
//! | receiver   | the answer to each   | status (u8), detail (u32)                                   |
//!
//! The receiver reads a body only after checking its length against the mailbox's message size,
//! so a peer can never make it allocate more than one message. A peer that sends anything else,
//! an oversize length or a priority out of range is answered with the reason and disconnected.
//!
//! Nothing is encrypted or authenticated: the bodies cross the network as they are, among the
//! header bytes, and whoever can reach the port can send a message. [`Port::show_wire`] makes the
//! port report every byte it reads ([`PortEvent::Arrived`]), and [`hex_dump`] shows them.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::poll::PollFlags;

use super::{Mailbox, Outcome, PRIO_MAX, Wait};
use crate::ui::Hint;

/// The first bytes of a greeting and of every message.
pub const MAGIC: [u8; 4] = *b"ipcl";
/// The protocol version in the greeting.
pub const VERSION: u8 = 1;
/// A greeting: magic, version, message size, capacity.
pub const GREETING_LEN: usize = 13;
/// A message header: magic, flags, priority, length.
pub const HEADER_LEN: usize = 11;
/// An answer: status, detail.
pub const ANSWER_LEN: usize = 5;
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
pub const IDLE_LIMIT: Duration = Duration::from_secs(10);
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

const FLAG_NONBLOCK: u8 = 1;
/// poll(2): the peer closed its end for writing (Linux; nix has no name for it).
const POLLRDHUP: PollFlags = PollFlags::from_bits_retain(libc::POLLRDHUP);

/// The receiver's answer to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It is in the mailbox.
    Delivered,
    /// Non-blocking, and the mailbox was full; detail: its capacity.
    Full,
    /// Longer than the mailbox takes; detail: the message size.
    TooBig,
    /// Priority above 32767; detail: the highest allowed.
    BadPriority,
    /// Not a message header; the connection is closed.
    Malformed,
    /// Not put into the mailbox: the receiver cannot hand messages out (its output failed);
    /// detail: the errno of that failure. The connection is closed.
    Undeliverable,
}

impl Status {
    fn code(self) -> u8 {
        match self {
            Status::Delivered => 0,
            Status::Full => 1,
            Status::TooBig => 2,
            Status::BadPriority => 3,
            Status::Malformed => 4,
            Status::Undeliverable => 5,
        }
    }

    fn from_code(code: u8) -> Option<Status> {
        Some(match code {
            0 => Status::Delivered,
            1 => Status::Full,
            2 => Status::TooBig,
            3 => Status::BadPriority,
            4 => Status::Malformed,
            5 => Status::Undeliverable,
            _ => return None,
        })
    }
}

/// What the receiver tells a sender when it connects: how big a message may be, and how many
/// the mailbox holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    pub message_size: u32,
    pub max_messages: u32,
}

impl Greeting {
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        let mut b = [0u8; GREETING_LEN];
        b[..4].copy_from_slice(&MAGIC);
        b[4] = VERSION;
        b[5..9].copy_from_slice(&self.message_size.to_be_bytes());
        b[9..13].copy_from_slice(&self.max_messages.to_be_bytes());
        b
    }

    /// Check a greeting; the error says what was wrong with it.
    pub fn decode(b: &[u8; GREETING_LEN]) -> Result<Greeting, String> {
        if b[..4] != MAGIC {
            return Err(format!(
                "it does not speak the ipc-lab message protocol: its first bytes are {}",
                show_bytes(&b[..4])
            ));
        }
        if b[4] != VERSION {
            return Err(format!(
                "it speaks version {} of the protocol, this program version {VERSION}",
                b[4]
            ));
        }
        Ok(Greeting {
            message_size: u32::from_be_bytes(b[5..9].try_into().expect("4 bytes")),
            max_messages: u32::from_be_bytes(b[9..13].try_into().expect("4 bytes")),
        })
    }
}

/// A message's header as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub nonblock: bool,
    pub priority: u32,
    pub length: u32,
}

/// Why a receiver refused a peer's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: Status,
    pub detail: u32,
    /// For the receiver's log.
    pub why: String,
}

impl Header {
    /// A message as it goes on the wire.
    pub fn frame(body: &[u8], priority: u32, nonblock: bool) -> Vec<u8> {
        let length = u32::try_from(body.len()).expect("a message is far below 4 GiB");
        let priority = u16::try_from(priority).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(&MAGIC);
        out.push(if nonblock { FLAG_NONBLOCK } else { 0 });
        out.extend_from_slice(&priority.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// Check a header against a mailbox that takes messages of up to `message_size` bytes.
    pub fn decode(b: &[u8; HEADER_LEN], message_size: u32) -> Result<Header, Refusal> {
        if b[..4] != MAGIC || b[4] & !FLAG_NONBLOCK != 0 {
            return Err(Refusal {
                status: Status::Malformed,
                detail: 0,
                why: format!(
                    "it sent {} where a message header starts with \"ipcl\" (is it mq-send --host?)",
                    show_bytes(&b[..])
                ),
            });
        }
        let priority = u32::from(u16::from_be_bytes([b[5], b[6]]));
        let length = u32::from_be_bytes(b[7..11].try_into().expect("4 bytes"));
        if priority > PRIO_MAX {
            return Err(Refusal {
                status: Status::BadPriority,
                detail: PRIO_MAX,
                why: format!("priority {priority} is out of range: 0 to {PRIO_MAX}"),
            });
        }
        if length > message_size {
            return Err(Refusal {
                status: Status::TooBig,
                detail: message_size,
                why: format!(
                    "a {length}-byte message, but the mailbox takes at most {message_size} bytes"
                ),
            });
        }
        Ok(Header {
            nonblock: b[4] & FLAG_NONBLOCK != 0,
            priority,
            length,
        })
    }
}

fn answer(status: Status, detail: u32) -> [u8; ANSWER_LEN] {
    let mut b = [0u8; ANSWER_LEN];
    b[0] = status.code();
    b[1..].copy_from_slice(&detail.to_be_bytes());
    b
}

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

/// Bytes as a reader can check them: printable ASCII in quotes, the rest in hex.
fn show_bytes(b: &[u8]) -> String {
    let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    let text: String = b.iter().map(|&x| printable(x)).collect();
    format!("{} ({text:?})", hex.join(" "))
}

/// A byte as text in a dump: printable ASCII as itself, anything else as `.`.
fn printable(x: u8) -> char {
    if x.is_ascii_graphic() || x == b' ' {
        x as char
    } else {
        '.'
    }
}

/// Bytes as `hexdump -C` shows them: for each 16, the offset, the bytes in hex (two groups of
/// 8), and the printable ones as text between bars, `.` for the others.
pub fn hex_dump(b: &[u8]) -> Vec<String> {
    b.chunks(16)
        .enumerate()
        .map(|(i, row)| {
            let mut hex = String::new();
            for k in 0..16 {
                if k == 8 {
                    hex.push(' ');
                }
                match row.get(k) {
                    Some(x) => hex.push_str(&format!("{x:02x} ")),
                    None => hex.push_str("   "),
                }
            }
            let text: String = row.iter().map(|&x| printable(x)).collect();
            format!("{:08x}  {hex} |{text}|", i * 16)
        })
        .collect()
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
pub enum PortEvent {
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
pub struct Outlet {
    /// For messages: "standard output".
    pub name: &'static str,
    /// Whether it takes writes now; the errno it would fail with.
    pub check: fn() -> Result<(), nix::errno::Errno>,
    /// Advice for the receiver's user once it has failed.
    pub hint: &'static str,
}

/// A connected sender.
#[derive(Debug)]
struct Peer {
    stream: TcpStream,
    addr: SocketAddr,
    /// The header being read.
    head: Vec<u8>,
    /// The header read and checked, and the body so far.
    frame: Option<(Header, Vec<u8>)>,
    /// Answers not yet written.
    unsent: Vec<u8>,
    /// Disconnect once the answers are out.
    closing: bool,
    delivered: u64,
    gone: bool,
    /// When a byte last went either way (at first: when it connected).
    active: Instant,
    /// Some byte of a message has arrived.
    sent_any: bool,
}

impl Peer {
    /// The complete message waiting to go into the mailbox, if any.
    fn complete(&self) -> bool {
        self.frame
            .as_ref()
            .is_some_and(|(h, body)| body.len() == h.length as usize)
    }

    /// Whether it waits for room in the mailbox: then the receiver makes it wait, and it is
    /// neither idle nor to be evicted.
    fn waiting_for_room(&self) -> bool {
        self.complete() && !self.closing
    }

    /// When it counts as idle, unless a byte goes either way before.
    fn idle_deadline(&self) -> Option<Instant> {
        (!self.gone && !self.waiting_for_room()).then(|| self.active + IDLE_LIMIT)
    }

    /// Why an idle connection is closed, for the receiver's log: the bound it passed.
    fn idle_why(&self) -> String {
        let secs = IDLE_LIMIT.as_secs();
        if let Some(part) = self.partial() {
            format!(
                "it sent nothing for {secs} s in the middle of a message ({part}): that message is dropped"
            )
        } else if !self.unsent.is_empty() {
            format!("it read no answer for {secs} s")
        } else if self.delivered > 0 {
            format!(
                "it sent nothing for {secs} s after its last message: an idle connection is closed, to keep room for other senders"
            )
        } else {
            format!(
                "it sent nothing for {secs} s after connecting: an idle connection is closed, to keep room for other senders"
            )
        }
    }

    /// The part of a message that has arrived, if any: `header 4 of 11 bytes`.
    fn partial(&self) -> Option<String> {
        match &self.frame {
            Some((h, body)) if !self.complete() => {
                Some(format!("body {} of {} bytes", body.len(), h.length))
            }
            Some(_) => None,
            None if !self.head.is_empty() => {
                Some(format!("header {} of {HEADER_LEN} bytes", self.head.len()))
            }
            None => None,
        }
    }

    fn flush(&mut self, events: &mut dyn FnMut(PortEvent)) {
        while !self.unsent.is_empty() && !self.gone {
            match self.stream.write(&self.unsent) {
                Ok(0) => self.drop_with("it closed the connection", events),
                Ok(n) => {
                    self.unsent.drain(..n);
                    self.active = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.drop_with(&e.to_string(), events),
            }
        }
        if !self.gone && self.unsent.len() > MAX_UNREAD {
            self.drop_with("it does not read the answers to its messages", events);
        }
        if !self.gone && self.closing && self.unsent.is_empty() {
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
            self.gone = true;
        }
    }

    fn drop_with(&mut self, why: &str, events: &mut dyn FnMut(PortEvent)) {
        if !self.gone {
            self.gone = true;
            events(PortEvent::Dropped {
                peer: self.addr,
                why: why.to_string(),
            });
        }
    }

    fn refuse(&mut self, refusal: Refusal, events: &mut dyn FnMut(PortEvent)) {
        self.unsent
            .extend_from_slice(&answer(refusal.status, refusal.detail));
        self.closing = true;
        events(PortEvent::Refused {
            peer: self.addr,
            why: refusal.why,
        });
    }

    /// Read what has arrived, putting complete messages into `mailbox`, until the socket has
    /// nothing more or a message must wait for room. Returns whether one is waiting for room.
    /// With `wire`, report each read's bytes as they arrived.
    fn take_in(
        &mut self,
        mailbox: &Mailbox,
        wire: bool,
        outlet: Option<&Outlet>,
        failed: &mut Option<nix::errno::Errno>,
        events: &mut dyn FnMut(PortEvent),
    ) -> io::Result<bool> {
        let message_size = u32::try_from(mailbox.message_size()).unwrap_or(u32::MAX);
        loop {
            if self.gone || self.closing {
                return Ok(false);
            }
            if self.complete() {
                // "Delivered" promises that the receiver passes the message on: not while it
                // cannot (its output closed). Then the sender hears so, and nothing goes in.
                let unusable = match (*failed, outlet) {
                    (Some(errno), Some(outlet)) => Some((errno, outlet)),
                    (None, Some(outlet)) => (outlet.check)().err().map(|errno| (errno, outlet)),
                    _ => None,
                };
                if let Some((errno, outlet)) = unusable {
                    *failed = Some(errno);
                    self.unsent
                        .extend_from_slice(&answer(Status::Undeliverable, errno as i32 as u32));
                    self.frame = None;
                    self.closing = true;
                    events(PortEvent::Refused {
                        peer: self.addr,
                        why: format!(
                            "its message cannot be passed on: {} fails ({} ({errno:?})), so it was not put into the mailbox, and the sender is told it was not delivered",
                            outlet.name,
                            errno.desc()
                        ),
                    });
                    return Ok(false);
                }
                let (header, body) = self.frame.as_ref().expect("complete");
                match mailbox
                    .send(body, header.priority, Wait::NonBlock, None)
                    .map_err(io::Error::other)?
                {
                    Outcome::Done(()) => {
                        self.unsent.extend_from_slice(&answer(Status::Delivered, 0));
                        self.delivered += 1;
                        self.frame = None;
                    }
                    _ if header.nonblock => {
                        let capacity = mailbox
                            .attributes()
                            .map(|a| a.max_messages as u32)
                            .unwrap_or(0);
                        self.unsent
                            .extend_from_slice(&answer(Status::Full, capacity));
                        self.frame = None;
                        events(PortEvent::Refused {
                            peer: self.addr,
                            why: format!(
                                "the mailbox is full ({}) and the sender asked not to wait (-n)",
                                crate::ui::counted(capacity, "message")
                            ),
                        });
                        // The sender stops at a refusal, so later messages on this connection
                        // are not for us: the same as a local sender that exits at EAGAIN.
                        self.closing = true;
                    }
                    _ => {
                        // Waiting for room. A sender that gives up (timeout, Ctrl-C) closes the
                        // connection: its message was never confirmed, so it must not arrive.
                        let hung_up = POLLRDHUP | PollFlags::POLLHUP | PollFlags::POLLERR;
                        let now = crate::sys::wait_any(
                            &[(self.stream.as_fd(), POLLRDHUP)],
                            Some(Instant::now()),
                            None,
                        )?;
                        if now.ready(0, hung_up) {
                            self.frame = None;
                            self.drop_with(
                                "it gave up waiting for room in the mailbox: its last message is not delivered",
                                events,
                            );
                            return Ok(false);
                        }
                        return Ok(true);
                    }
                }
                continue;
            }
            // Read the rest of the header, or of the body, and no more.
            let result = match &mut self.frame {
                None => {
                    let mut buf = [0u8; HEADER_LEN];
                    let want = HEADER_LEN - self.head.len();
                    let r = self.stream.read(&mut buf[..want]);
                    if let Ok(n) = r {
                        self.head.extend_from_slice(&buf[..n]);
                        if n > 0 {
                            self.active = Instant::now();
                            self.sent_any = true;
                        }
                        if wire && n > 0 {
                            events(PortEvent::Arrived {
                                peer: self.addr,
                                bytes: buf[..n].to_vec(),
                            });
                        }
                    }
                    r
                }
                Some((header, body)) => {
                    let want = header.length as usize - body.len();
                    let mut buf = vec![0u8; want.min(64 * 1024)];
                    let r = self.stream.read(&mut buf);
                    if let Ok(n) = r {
                        body.extend_from_slice(&buf[..n]);
                        if n > 0 {
                            self.active = Instant::now();
                        }
                        if wire && n > 0 {
                            events(PortEvent::Arrived {
                                peer: self.addr,
                                bytes: buf[..n].to_vec(),
                            });
                        }
                    }
                    r
                }
            };
            match result {
                Ok(0) => {
                    match self.partial() {
                        Some(partial) => self.drop_with(
                            &format!(
                                "it closed the connection in the middle of a message ({partial}): that message is dropped"
                            ),
                            events,
                        ),
                        None => {
                            self.gone = true;
                            events(PortEvent::Closed {
                                peer: self.addr,
                                delivered: self.delivered,
                            });
                        }
                    }
                    return Ok(false);
                }
                Ok(_) => {
                    if self.frame.is_none() && self.head.len() == HEADER_LEN {
                        let bytes: [u8; HEADER_LEN] =
                            self.head[..].try_into().expect("a whole header");
                        self.head.clear();
                        match Header::decode(&bytes, message_size) {
                            Ok(header) => {
                                self.frame =
                                    Some((header, Vec::with_capacity(header.length as usize)))
                            }
                            Err(refusal) => self.refuse(refusal, events),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.drop_with(&e.to_string(), events);
                    return Ok(false);
                }
            }
        }
    }
}

/// A mailbox's network port: listens, and puts what senders send into the mailbox.
#[derive(Debug)]
pub struct Port {
    listener: TcpListener,
    local: SocketAddr,
    peers: Vec<Peer>,
    /// A message is waiting for room in the mailbox.
    stuck: bool,
    /// Report every byte read ([`PortEvent::Arrived`]).
    wire: bool,
    /// Where the receiver hands messages out, checked before each one goes in.
    outlet: Option<Outlet>,
    /// How the outlet failed, once it has: every later message is refused too.
    outlet_failed: Option<nix::errno::Errno>,
    /// accept(2) found no descriptor and none could be freed: do not poll the listener before.
    paused_until: Option<Instant>,
    /// The pause was reported, and no connection has been accepted since.
    pause_reported: bool,
}

impl Port {
    /// Listen on `addr` (port 0: any free port; [`Port::local_addr`] says which).
    pub fn bind(addr: SocketAddr) -> anyhow::Result<Port> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| {
                let kind = e.kind();
                let e = crate::sys::io_error("bind", e).context(format!("cannot listen on {addr}"));
                let hint = match Some(kind) {
                    Some(io::ErrorKind::AddrInUse) => {
                        "another program is listening on that port: pick another, or `ss -ltnp` shows which"
                    }
                    Some(io::ErrorKind::PermissionDenied) => {
                        "ports below 1024 are for root: pick one from 1024 to 65535"
                    }
                    _ => "listen on PORT, 0.0.0.0:PORT or an address of this machine",
                };
                e.context(Hint(hint.into()))
            })?;
        listener
            .set_nonblocking(true)
            .context("cannot make the listening socket non-blocking")?;
        let local = listener.local_addr().context("cannot read the port")?;
        Ok(Port {
            listener,
            local,
            peers: Vec::new(),
            stuck: false,
            wire: false,
            outlet: None,
            outlet_failed: None,
            paused_until: None,
            pause_reported: false,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// From now on, report every byte read from a sender as a [`PortEvent::Arrived`]: what
    /// anyone on the path between the machines could read too.
    pub fn show_wire(&mut self) {
        self.wire = true;
    }

    /// From now on, accept a message only while `outlet` takes writes; once it fails, refuse
    /// each message with [`Status::Undeliverable`], and [`Port::service`] returns the error.
    pub fn hand_out_to(&mut self, outlet: Outlet) {
        self.outlet = Some(outlet);
    }

    /// Senders connected now.
    pub fn peers(&self) -> usize {
        self.peers.len()
    }

    /// When the port next needs [`Port::service`] though nothing is ready: an idle sender's
    /// time is up, or accepting may be tried again. Poll no longer than this.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.peers
            .iter()
            .filter_map(Peer::idle_deadline)
            .chain(self.paused_until)
            .min()
    }

    /// Whether a message is waiting for room in the mailbox (poll the mailbox for POLLOUT).
    pub fn is_stuck(&self) -> bool {
        self.stuck
    }

    /// What to poll: the listener, and each peer (for its messages and its unsent answers).
    pub fn poll_set(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        // While accepting is paused, a waiting connection would make poll return at once.
        let listen = if self.paused_until.is_some() {
            PollFlags::empty()
        } else {
            PollFlags::POLLIN
        };
        let mut set = vec![(self.listener.as_fd(), listen)];
        for peer in &self.peers {
            // A message waiting for room: watch only for the sender hanging up.
            let mut flags = if peer.complete() {
                POLLRDHUP
            } else {
                PollFlags::POLLIN
            };
            if !peer.unsent.is_empty() {
                flags |= PollFlags::POLLOUT;
            }
            set.push((peer.stream.as_fd(), flags));
        }
        set
    }

    /// Accept new senders, read what they sent, put complete messages into `mailbox` (without
    /// waiting) and answer them; disconnect senders idle for [`IDLE_LIMIT`]. Never blocks.
    /// Fails once the outlet ([`Port::hand_out_to`]) has failed, after answering the sender.
    pub fn service(
        &mut self,
        mailbox: &Mailbox,
        events: &mut dyn FnMut(PortEvent),
    ) -> anyhow::Result<()> {
        if self.paused_until.is_some_and(|t| Instant::now() >= t) {
            self.paused_until = None;
        }
        if self.paused_until.is_none() {
            self.accept_all(mailbox, events)?;
        }
        self.stuck = false;
        for peer in &mut self.peers {
            peer.flush(events);
            if peer.take_in(
                mailbox,
                self.wire,
                self.outlet.as_ref(),
                &mut self.outlet_failed,
                events,
            )? {
                self.stuck = true;
            }
            peer.flush(events);
        }
        // After reading: bytes that arrived while this process was not running are not idleness.
        let now = Instant::now();
        for peer in &mut self.peers {
            if peer.idle_deadline().is_some_and(|t| now >= t) {
                let why = peer.idle_why();
                peer.drop_with(&why, events);
            }
        }
        let before = self.peers.len();
        self.peers.retain(|p| !p.gone);
        if self.peers.len() < before {
            // Descriptors were freed: a connection waiting for one may be taken now.
            self.paused_until = None;
        }
        if let (Some(errno), Some(outlet)) = (self.outlet_failed, &self.outlet) {
            return Err(anyhow::Error::new(crate::sys::SysError {
                call: "write",
                errno,
            })
            .context(crate::ui::Undelivered(format!(
                "cannot write messages to {}",
                outlet.name
            )))
            .context(Hint(outlet.hint.into())));
        }
        Ok(())
    }

    /// The peer to disconnect for a newcomer: the one idle longest among those not waiting for
    /// room, preferring one that has delivered nothing, then one that has sent nothing.
    fn idlest(&self) -> Option<usize> {
        self.peers
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.gone && !p.waiting_for_room())
            .min_by_key(|(_, p)| (p.delivered > 0, p.sent_any, p.active))
            .map(|(i, _)| i)
    }

    /// Disconnect peer `i` at once (its descriptor is closed), saying why.
    fn evict(&mut self, i: usize, why: String, events: &mut dyn FnMut(PortEvent)) {
        let mut peer = self.peers.remove(i);
        peer.drop_with(&why, events);
    }

    fn accept_all(
        &mut self,
        mailbox: &Mailbox,
        events: &mut dyn FnMut(PortEvent),
    ) -> anyhow::Result<()> {
        loop {
            match self.listener.accept() {
                Ok((stream, addr)) => {
                    if self.peers.len() >= MAX_PEERS {
                        let Some(i) = self.idlest() else {
                            events(PortEvent::Refused {
                                peer: addr,
                                why: format!(
                                    "{MAX_PEERS} senders are connected already, each waiting for room in the mailbox"
                                ),
                            });
                            continue;
                        };
                        let idle = self.peers[i].active.elapsed().as_secs_f64();
                        self.evict(
                            i,
                            format!(
                                "{MAX_PEERS} senders are connected, and it had been idle longest ({idle:.1} s): its place goes to {addr}"
                            ),
                            events,
                        );
                    }
                    stream
                        .set_nonblocking(true)
                        .context("cannot make a connection non-blocking")?;
                    let _ = stream.set_nodelay(true);
                    let greeting = Greeting {
                        message_size: u32::try_from(mailbox.message_size()).unwrap_or(u32::MAX),
                        max_messages: mailbox
                            .attributes()?
                            .max_messages
                            .try_into()
                            .unwrap_or(u32::MAX),
                    };
                    self.pause_reported = false;
                    events(PortEvent::Connected(addr));
                    self.peers.push(Peer {
                        stream,
                        addr,
                        head: Vec::with_capacity(HEADER_LEN),
                        frame: None,
                        unsent: greeting.encode().to_vec(),
                        closing: false,
                        delivered: 0,
                        gone: false,
                        active: Instant::now(),
                        sent_any: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // No descriptor (or memory) for the connection: it stays queued in the kernel.
                // Close the idlest sender to make room; with none, stop polling the listener for
                // a while, which would otherwise report the same connection again at once.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                    ) =>
                {
                    // accept(2) takes a descriptor before it looks at the queue: EMFILE comes
                    // whether or not a connection waits. Close no sender for nothing.
                    if !self.connection_waiting()? {
                        return Ok(());
                    }
                    let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0));
                    let failed = format!("accept: {} ({errno:?})", errno.desc());
                    if let Some(i) = self.idlest() {
                        let idle = self.peers[i].active.elapsed().as_secs_f64();
                        self.evict(
                            i,
                            format!(
                                "{failed}: it had been idle longest ({idle:.1} s), and its descriptor goes to a new connection"
                            ),
                            events,
                        );
                        continue;
                    }
                    self.pause(failed, events);
                    return Ok(());
                }
                // A connection that failed before it was taken (ECONNABORTED, and the network
                // errors accept(2) passes on): it has left the queue, so try the next.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(
                            libc::ECONNABORTED
                                | libc::EPROTO
                                | libc::ENETDOWN
                                | libc::ENOPROTOOPT
                                | libc::EHOSTDOWN
                                | libc::ENONET
                                | libc::EHOSTUNREACH
                                | libc::EOPNOTSUPP
                                | libc::ENETUNREACH
                        )
                    ) => {}
                // Anything else may well come back at once: pause rather than spin.
                Err(e) => {
                    let why = match e.raw_os_error() {
                        Some(code) => {
                            let errno = nix::errno::Errno::from_raw(code);
                            format!("accept: {} ({errno:?})", errno.desc())
                        }
                        None => format!("accept: {e}"),
                    };
                    self.pause(why, events);
                    return Ok(());
                }
            }
        }
    }

    /// Whether a connection waits to be accepted (the listener is readable now).
    fn connection_waiting(&self) -> anyhow::Result<bool> {
        let now = crate::sys::wait_any(
            &[(self.listener.as_fd(), PollFlags::POLLIN)],
            Some(Instant::now()),
            None,
        )
        .context("cannot poll the listening socket")?;
        Ok(now.ready(0, PollFlags::POLLIN))
    }

    /// Stop polling the listener for [`ACCEPT_PAUSE`]; say so once until a connection is taken.
    fn pause(&mut self, why: String, events: &mut dyn FnMut(PortEvent)) {
        self.paused_until = Some(Instant::now() + ACCEPT_PAUSE);
        if !std::mem::replace(&mut self.pause_reported, true) {
            events(PortEvent::Paused {
                why,
                retry: ACCEPT_PAUSE,
            });
        }
    }
}

/// How a batch of messages sent to a remote mailbox ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// All were delivered.
    Done,
    /// The receiver refused the next one.
    Refused { status: Status, detail: u32 },
    /// No answer came within the time allowed.
    TimedOut,
    /// A termination signal arrived.
    Woken,
    /// The receiver closed (or reset) the connection before answering the next one: it was
    /// stopped, or closed the connection as idle just as the message left (then it read none
    /// of it).
    Closed,
}

/// A connection to a remote mailbox (`mq-recv --listen`).
#[derive(Debug)]
pub struct Remote {
    stream: TcpStream,
    addr: SocketAddr,
    greeting: Greeting,
}

impl Remote {
    /// Connect to `target` (`HOST:PORT`) and read its greeting. `Ok(None)`: a termination signal
    /// arrived while waiting.
    pub fn connect(
        target: &str,
        timeout: Option<Duration>,
        wake: Option<BorrowedFd<'_>>,
    ) -> anyhow::Result<Option<Remote>> {
        let addrs: Vec<SocketAddr> = target
            .to_socket_addrs()
            .with_context(|| format!("cannot find {target}"))
            .map_err(|e| {
                e.context(Hint(
                    "give HOST:PORT, e.g. 127.0.0.1:7000 or lab-pc-2:7000".into(),
                ))
            })?
            .collect();
        let wait = timeout.unwrap_or(CONNECT_WAIT);
        let mut last = None;
        let mut connected = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, wait) {
                Ok(stream) => {
                    connected = Some((stream, *addr));
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some((stream, addr)) = connected else {
            let err = last.unwrap_or_else(|| io::Error::other("the name has no address"));
            let hint = if err.kind() == io::ErrorKind::TimedOut {
                format!(
                    "nothing answered within {} s: is the host up, and the address right?",
                    wait.as_secs_f64()
                )
            } else {
                "is `mq-recv --listen PORT` running on that host, with that port? (It listens on 127.0.0.1 unless given an address such as 0.0.0.0:PORT)".to_string()
            };
            return Err(crate::sys::io_error("connect", err)
                .context(format!("cannot connect to {target}"))
                .context(Hint(hint)));
        };
        stream
            .set_nonblocking(true)
            .context("cannot make the connection non-blocking")?;
        let _ = stream.set_nodelay(true);
        let mut remote = Remote {
            stream,
            addr,
            greeting: Greeting {
                message_size: 0,
                max_messages: 0,
            },
        };
        let mut bytes = [0u8; GREETING_LEN];
        let greeting_wait = timeout.map_or(GREETING_WAIT, |t| t.min(GREETING_WAIT));
        let deadline = Instant::now() + greeting_wait;
        match remote.read_exact(&mut bytes, Some(deadline), wake)? {
            Read_::Done => {}
            Read_::Woken => return Ok(None),
            Read_::TimedOut => {
                return Err(anyhow::anyhow!(
                    "{addr} accepted the connection but sent no greeting within {} s",
                    greeting_wait.as_secs_f64()
                ))
                .context(Hint(
                    "is it `mq-recv --listen`? Another program may have that port".into(),
                ));
            }
            Read_::Closed(n) => {
                return Err(anyhow::anyhow!(
                    "{addr} closed the connection after {n} of the {GREETING_LEN} bytes of its greeting"
                ))
                .context(Hint(
                    "is it `mq-recv --listen`? It may be turning senders away (too many connected)".into(),
                ));
            }
        }
        remote.greeting = Greeting::decode(&bytes)
            .map_err(|why| anyhow::anyhow!("{addr} is not an mq-recv port: {why}"))
            .map_err(|e| e.context(Hint("check the port: `mq-recv --listen` prints it".into())))?;
        Ok(Some(remote))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the receiver said about its mailbox.
    pub fn greeting(&self) -> Greeting {
        self.greeting
    }

    /// Whether the receiver has closed the connection since its last answer (it closes one
    /// idle for [`IDLE_LIMIT`]), or broken it: between messages nothing else may arrive, so
    /// whatever can be read now (end of file, an error, stray bytes) means it is no use.
    pub fn closed_meanwhile(&mut self) -> bool {
        let mut byte = [0u8; 1];
        loop {
            return match self.stream.read(&mut byte) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                _ => true,
            };
        }
    }

    /// Send `bodies` with `priority`, all at once, then wait for an answer to each. `wait`:
    /// Block waits as long as the mailbox stays full, NonBlock asks the receiver to refuse
    /// instead, and For(d) gives up when no answer comes for d. Returns how many were
    /// delivered and how it ended.
    pub fn send_batch(
        &mut self,
        bodies: &[&[u8]],
        priority: u32,
        wait: Wait,
        wake: Option<BorrowedFd<'_>>,
    ) -> anyhow::Result<(usize, Ending)> {
        let nonblock = wait == Wait::NonBlock;
        let mut out = Vec::new();
        for body in bodies {
            out.extend_from_slice(&Header::frame(body, priority, nonblock));
        }
        let mut written = 0;
        let mut delivered = 0;
        let mut answer_buf = Vec::with_capacity(ANSWER_LEN);
        let mut deadline = wait.deadline();
        while delivered < bodies.len() {
            let mut flags = PollFlags::POLLIN;
            if written < out.len() {
                flags |= PollFlags::POLLOUT;
            }
            let waited = crate::sys::wait_any(&[(self.stream.as_fd(), flags)], deadline, wake)?;
            if waited.woken {
                return Ok((delivered, Ending::Woken));
            }
            if waited.timed_out {
                return Ok((delivered, Ending::TimedOut));
            }
            if written < out.len() {
                match self.stream.write(&out[written..]) {
                    Ok(n) => written += n,
                    Err(e) if try_again(&e) => {}
                    // Closed: write no more, but read on, for an answer it may have sent first
                    // (a refusal), up to the end of the connection.
                    Err(e) if gone(&e) => written = out.len(),
                    Err(e) => {
                        return Err(anyhow::Error::new(e)).with_context(|| {
                            format!("cannot send message {} to {}", delivered + 1, self.addr)
                        });
                    }
                }
            }
            let mut buf = [0u8; ANSWER_LEN];
            match self.stream.read(&mut buf[..ANSWER_LEN - answer_buf.len()]) {
                Ok(0) => return Ok((delivered, Ending::Closed)),
                Ok(n) => answer_buf.extend_from_slice(&buf[..n]),
                Err(e) if try_again(&e) => {}
                Err(e) if gone(&e) => return Ok((delivered, Ending::Closed)),
                Err(e) => {
                    return Err(anyhow::Error::new(e)).with_context(|| {
                        format!(
                            "lost the connection to {} at message {}",
                            self.addr,
                            delivered + 1
                        )
                    });
                }
            }
            if answer_buf.len() == ANSWER_LEN {
                let detail = u32::from_be_bytes(answer_buf[1..].try_into().expect("4 bytes"));
                let Some(status) = Status::from_code(answer_buf[0]) else {
                    anyhow::bail!(
                        "{} answered message {} with status {}, which this program does not know",
                        self.addr,
                        delivered + 1,
                        answer_buf[0]
                    );
                };
                answer_buf.clear();
                if status != Status::Delivered {
                    return Ok((delivered, Ending::Refused { status, detail }));
                }
                delivered += 1;
                // Progress: a timeout counts from the last answer.
                deadline = wait.deadline();
            }
        }
        Ok((delivered, Ending::Done))
    }

    fn read_exact(
        &mut self,
        buf: &mut [u8],
        deadline: Option<Instant>,
        wake: Option<BorrowedFd<'_>>,
    ) -> anyhow::Result<Read_> {
        let mut got = 0;
        while got < buf.len() {
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => return Ok(Read_::Closed(got)),
                Ok(n) => {
                    got += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(anyhow::Error::new(e))
                        .with_context(|| format!("lost the connection to {}", self.addr));
                }
            }
            let waited =
                crate::sys::wait_any(&[(self.stream.as_fd(), PollFlags::POLLIN)], deadline, wake)?;
            if waited.woken {
                return Ok(Read_::Woken);
            }
            if waited.timed_out {
                return Ok(Read_::TimedOut);
            }
        }
        Ok(Read_::Done)
    }
}

enum Read_ {
    Done,
    Closed(usize),
    TimedOut,
    Woken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_round_trip_and_refusals() {
        let g = Greeting {
            message_size: 8192,
            max_messages: 10,
        };
        assert_eq!(Greeting::decode(&g.encode()), Ok(g));
        let mut http = *b"HTTP/1.1 200 ";
        let err = Greeting::decode(&http).unwrap_err();
        assert!(err.contains("48 54 54 50 (\"HTTP\")"), "{err}");
        http[..4].copy_from_slice(&MAGIC);
        http[4] = 9;
        assert!(Greeting::decode(&http).unwrap_err().contains("version 9"));
    }

    #[test]
    fn header_round_trip() {
        let frame = Header::frame(b"hello", 300, true);
        assert_eq!(frame.len(), HEADER_LEN + 5);
        let head: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
        assert_eq!(
            Header::decode(&head, 8192),
            Ok(Header {
                nonblock: true,
                priority: 300,
                length: 5
            })
        );
        assert_eq!(&frame[HEADER_LEN..], b"hello");
    }

    #[test]
    fn headers_refused_for_garbage_size_and_priority() {
        let garbage: [u8; HEADER_LEN] = *b"GET / HTTP/";
        assert_eq!(
            Header::decode(&garbage, 8192).unwrap_err().status,
            Status::Malformed
        );
        let mut flags = Header::frame(b"", 0, false);
        flags[4] = 0x80;
        let head: [u8; HEADER_LEN] = flags[..].try_into().unwrap();
        assert_eq!(
            Header::decode(&head, 8192).unwrap_err().status,
            Status::Malformed
        );
        let mut huge: [u8; HEADER_LEN] = Header::frame(b"", 0, false)[..].try_into().unwrap();
        huge[7..].copy_from_slice(&u32::MAX.to_be_bytes());
        let refusal = Header::decode(&huge, 8192).unwrap_err();
        assert_eq!((refusal.status, refusal.detail), (Status::TooBig, 8192));
        assert!(refusal.why.contains("4294967295-byte"), "{}", refusal.why);
        let mut prio: [u8; HEADER_LEN] = Header::frame(b"", 0, false)[..].try_into().unwrap();
        prio[5..7].copy_from_slice(&40000u16.to_be_bytes());
        assert_eq!(
            Header::decode(&prio, 8192).unwrap_err().status,
            Status::BadPriority
        );
    }

    #[test]
    fn hex_dump_is_hexdump_c() {
        let mut frame = Header::frame(b"password=hunter2!", 0, false);
        frame.push(0x7f);
        assert_eq!(
            hex_dump(&frame),
            [
                // As `hexdump -C` prints these 29 bytes.
                "00000000  69 70 63 6c 00 00 00 00  00 00 11 70 61 73 73 77  |ipcl.......passw|",
                "00000010  6f 72 64 3d 68 75 6e 74  65 72 32 21 7f           |ord=hunter2!.|",
            ]
        );
        assert!(hex_dump(b"").is_empty());
    }

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

    #[test]
    fn status_codes_round_trip() {
        for s in [
            Status::Delivered,
            Status::Full,
            Status::TooBig,
            Status::BadPriority,
            Status::Malformed,
            Status::Undeliverable,
        ] {
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
        assert_eq!(Status::from_code(99), None);
    }
}
