//! A sender connected to a [`Port`](super::Port): the bytes it has sent so far, read a header
//! and then a body at a time and checked before any is kept, and the answers it has yet to read.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::Instant;

use nix::poll::PollFlags;

use super::wire::answer;
use super::{
    HEADER_LEN, Header, IDLE_LIMIT, MAX_UNREAD, Outlet, POLLRDHUP, PortEvent, Refusal, Status,
};
use crate::mq::{Mailbox, Outcome, Wait};

/// A connected sender.
#[derive(Debug)]
pub(super) struct Peer {
    pub(super) stream: TcpStream,
    pub(super) addr: SocketAddr,
    /// The header being read.
    pub(super) head: Vec<u8>,
    /// The header read and checked, and the body so far.
    pub(super) frame: Option<(Header, Vec<u8>)>,
    /// Answers not yet written.
    pub(super) unsent: Vec<u8>,
    /// Disconnect once the answers are out.
    pub(super) closing: bool,
    pub(super) delivered: u64,
    pub(super) gone: bool,
    /// When a byte last went either way (at first: when it connected).
    pub(super) active: Instant,
    /// Some byte of a message has arrived.
    pub(super) sent_any: bool,
}

impl Peer {
    /// The complete message waiting to go into the mailbox, if any.
    pub(super) fn complete(&self) -> bool {
        self.frame
            .as_ref()
            .is_some_and(|(h, body)| body.len() == h.length as usize)
    }

    /// Whether it waits for room in the mailbox: then the receiver makes it wait, and it is
    /// neither idle nor to be evicted.
    pub(super) fn waiting_for_room(&self) -> bool {
        self.complete() && !self.closing
    }

    /// When it counts as idle, unless a byte goes either way before.
    pub(super) fn idle_deadline(&self) -> Option<Instant> {
        (!self.gone && !self.waiting_for_room()).then(|| self.active + IDLE_LIMIT)
    }

    /// Why an idle connection is closed, for the receiver's log: the bound it passed.
    pub(super) fn idle_why(&self) -> String {
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
    pub(super) fn partial(&self) -> Option<String> {
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

    pub(super) fn flush(&mut self, events: &mut dyn FnMut(PortEvent)) {
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

    pub(super) fn drop_with(&mut self, why: &str, events: &mut dyn FnMut(PortEvent)) {
        if !self.gone {
            self.gone = true;
            events(PortEvent::Dropped {
                peer: self.addr,
                why: why.to_string(),
            });
        }
    }

    pub(super) fn refuse(&mut self, refusal: Refusal, events: &mut dyn FnMut(PortEvent)) {
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
    pub(super) fn take_in(
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
