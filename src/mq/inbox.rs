//! Receiving from several mailboxes at once, and from a network port that feeds the first.

use std::os::fd::BorrowedFd;
use std::time::Instant;

use nix::poll::PollFlags;

use super::{Mailbox, Message, Outcome, QueueName, Wait, net};
use crate::sys::SysError;

/// What a receiver takes messages from: one or more mailboxes (the notes' "mailboxes for
/// specific senders"), and perhaps a network port that feeds the first of them.
///
/// [`Inbox::receive`] takes the next message from whichever mailbox has one (poll(2) on all the
/// descriptors), in turn so that no mailbox starves another; in each mailbox the kernel's order
/// holds, highest priority first. Messages arriving at the port are put into the mailbox before
/// any is taken out, so a burst from the network is ordered by priority like a local one.
#[derive(Debug)]
pub(crate) struct Inbox {
    mailboxes: Vec<Mailbox>,
    port: Option<net::Port>,
    next: usize,
}

impl Inbox {
    /// `mailboxes` must not be empty; the port, if any, feeds the first one.
    pub fn new(mailboxes: Vec<Mailbox>, port: Option<net::Port>) -> Inbox {
        assert!(!mailboxes.is_empty(), "an inbox needs a mailbox");
        Inbox {
            mailboxes,
            port,
            next: 0,
        }
    }

    pub fn mailboxes(&self) -> &[Mailbox] {
        &self.mailboxes
    }

    /// Close every mailbox (removing those this run owns), in order; the names removed.
    pub fn close(self) -> anyhow::Result<Vec<QueueName>> {
        let mut removed = Vec::new();
        let mut first_error = None;
        for mailbox in self.mailboxes {
            let name = mailbox.name().clone();
            match mailbox.close() {
                Ok(true) => removed.push(name),
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(removed),
        }
    }

    /// The next message, and the index of the mailbox it came from.
    pub fn receive(
        &mut self,
        wait: Wait,
        wake: Option<BorrowedFd<'_>>,
        events: &mut dyn FnMut(net::PortEvent),
    ) -> anyhow::Result<Outcome<(usize, Message)>> {
        self.run(wait, wake, None, events)
    }

    /// Receive nothing until `until` is readable (say, Enter on stdin), while the port goes on
    /// putting arrivals into the mailbox: messages pile up, in priority order.
    pub fn hold(
        &mut self,
        until: BorrowedFd<'_>,
        wake: Option<BorrowedFd<'_>>,
        events: &mut dyn FnMut(net::PortEvent),
    ) -> anyhow::Result<Outcome<()>> {
        Ok(match self.run(Wait::Block, wake, Some(until), events)? {
            Outcome::Done(_) => Outcome::Done(()),
            Outcome::WouldBlock => Outcome::WouldBlock,
            Outcome::TimedOut => Outcome::TimedOut,
            Outcome::Woken => Outcome::Woken,
        })
    }

    fn run(
        &mut self,
        wait: Wait,
        wake: Option<BorrowedFd<'_>>,
        until: Option<BorrowedFd<'_>>,
        events: &mut dyn FnMut(net::PortEvent),
    ) -> anyhow::Result<Outcome<(usize, Message)>> {
        let deadline = wait.deadline();
        let n = self.mailboxes.len();
        loop {
            if let Some(port) = &mut self.port {
                port.service(&self.mailboxes[0], events)?;
            }
            if until.is_none() {
                for i in 0..n {
                    let k = (self.next + i) % n;
                    if let Outcome::Done(m) = self.mailboxes[k].receive(Wait::NonBlock, None)? {
                        self.next = (k + 1) % n;
                        return Ok(Outcome::Done((k, m)));
                    }
                }
                if wait == Wait::NonBlock {
                    return Ok(Outcome::WouldBlock);
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(Outcome::TimedOut);
                }
            }
            let mut set: Vec<(BorrowedFd<'_>, PollFlags)> = Vec::new();
            if let Some(until) = until {
                set.push((until, PollFlags::POLLIN));
            } else {
                set.extend(
                    self.mailboxes
                        .iter()
                        .map(|m| (m.as_fd(), PollFlags::POLLIN)),
                );
            }
            if let Some(port) = &self.port {
                if port.is_stuck() {
                    set.push((self.mailboxes[0].as_fd(), PollFlags::POLLOUT));
                }
                set.extend(port.poll_set());
            }
            // The port's own deadline (an idle sender's time up) ends the poll early.
            let until_port = self.port.as_ref().and_then(|p| p.next_deadline());
            let wake_at = match (deadline, until_port) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let waited = crate::sys::wait_any(&set, wake_at, wake).map_err(|errno| SysError {
                call: "poll",
                errno,
            })?;
            if waited.woken {
                return Ok(Outcome::Woken);
            }
            if until.is_some() && waited.ready(0, PollFlags::POLLIN) {
                return Ok(Outcome::Done((0, Message::default())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::mq::{TestQueue, both, exists};

    #[test]
    fn an_inbox_takes_from_every_mailbox_in_turn() {
        let (a, b) = (TestQueue::new(), TestQueue::new());
        let (ma, mb) = (both(&a, 4, 16), both(&b, 4, 16));
        for body in ["a1", "a2", "a3"] {
            ma.send(body.as_bytes(), 0, Wait::NonBlock, None).unwrap();
        }
        mb.send(b"b1", 0, Wait::NonBlock, None).unwrap();
        let mut inbox = Inbox::new(vec![ma, mb], None);
        let mut got = Vec::new();
        let mut no_events = |e| panic!("no port, yet {e:?}");
        while let Outcome::Done((k, m)) =
            inbox.receive(Wait::NonBlock, None, &mut no_events).unwrap()
        {
            got.push((k, String::from_utf8(m.body).unwrap()));
        }
        assert_eq!(
            got,
            [
                (0, "a1".into()),
                (1, "b1".into()),
                (0, "a2".into()),
                (0, "a3".into())
            ]
        );
        assert_eq!(
            inbox
                .receive(Wait::For(Duration::from_millis(20)), None, &mut no_events)
                .unwrap(),
            Outcome::TimedOut
        );
        assert_eq!(inbox.close().unwrap(), Vec::<QueueName>::new());
        assert!(exists(&a.0) && exists(&b.0), "closing keeps the queues");
    }
}
