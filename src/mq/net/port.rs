//! The network port of a mailbox: listens, takes senders in, and puts what they send into the
//! mailbox.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use anyhow::Context as _;
use nix::poll::PollFlags;

use super::peer::Peer;
use super::{ACCEPT_PAUSE, Greeting, HEADER_LEN, MAX_PEERS, Outlet, POLLRDHUP, PortEvent};
use crate::mq::Mailbox;
use crate::ui::Hint;

/// A mailbox's network port: listens, and puts what senders send into the mailbox.
#[derive(Debug)]
pub(crate) struct Port {
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
    /// each message with [`Status::Undeliverable`](super::Status::Undeliverable), and
    /// [`Port::service`] returns the error.
    pub(crate) fn hand_out_to(&mut self, outlet: Outlet) {
        self.outlet = Some(outlet);
    }

    /// When the port next needs [`Port::service`] though nothing is ready: an idle sender's
    /// time is up, or accepting may be tried again. Poll no longer than this.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.peers
            .iter()
            .filter_map(Peer::idle_deadline)
            .chain(self.paused_until)
            .min()
    }

    /// Whether a message is waiting for room in the mailbox (poll the mailbox for POLLOUT).
    pub(crate) fn is_stuck(&self) -> bool {
        self.stuck
    }

    /// What to poll: the listener, and each peer (for its messages and its unsent answers).
    pub(crate) fn poll_set(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
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
    /// waiting) and answer them; disconnect senders idle for [`IDLE_LIMIT`](super::IDLE_LIMIT).
    /// Never blocks. Fails once the outlet ([`Port::hand_out_to`]) has failed, after answering
    /// the sender.
    pub(crate) fn service(
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
