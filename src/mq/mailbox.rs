//! The mailbox: a queue opened with mq_open(3), sent to (mq_send) and received from
//! (mq_receive); closed when dropped (mq_close), and removed (mq_unlink) when this run owns it.
//!
//! Waiting is done with `poll(2)` on the queue's descriptor, which Linux makes pollable, beside an
//! optional wake-up descriptor (`sys::Termination::wake_fd`). The descriptor itself is always
//! non-blocking, so a blocking send or receive is: try, and if the queue is full (empty), poll
//! until it has room (a message), a deadline passes, or a termination signal arrives. A
//! signal can never be lost between a check and a blocking call.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use anyhow::Context as _;
use nix::errno::Errno;
use nix::mqueue::{self, MQ_OFlag, MqAttr, MqdT};
use nix::poll::PollFlags;
use nix::sys::stat::Mode;

use super::{Attributes, Message, Outcome, PRIO_MAX, QueueName, Wait, made_by};
use crate::sys::SysError;
use crate::ui::{HintExt as _, UsageError};

/// Which ends of the mailbox this process uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Send,
    Receive,
    Both,
}

/// How to open a queue: `mq_open(name, flags, perms, &attr)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    pub access: Access,
    /// O_CREAT: make the queue if it does not exist.
    pub create: bool,
    /// O_EXCL with O_CREAT: fail if it exists.
    pub exclusive: bool,
    /// For a new queue: how many messages it holds, and how big each may be.
    pub max_messages: i64,
    pub message_size: i64,
    /// For a new queue: permission bits, e.g. 0o600.
    pub perms: u32,
}

impl OpenOptions {
    /// Open an existing queue for `access`.
    pub fn existing(access: Access) -> OpenOptions {
        OpenOptions {
            access,
            create: false,
            exclusive: false,
            max_messages: 10,
            message_size: 8192,
            perms: 0o600,
        }
    }

    /// Open or make a queue with the given capacity, owner-only.
    pub fn create(access: Access, max_messages: i64, message_size: i64) -> OpenOptions {
        OpenOptions {
            create: true,
            max_messages,
            message_size,
            ..OpenOptions::existing(access)
        }
    }

    fn flags(&self) -> MQ_OFlag {
        let mut flags = match self.access {
            Access::Send => MQ_OFlag::O_WRONLY,
            Access::Receive => MQ_OFlag::O_RDONLY,
            Access::Both => MQ_OFlag::O_RDWR,
        } | MQ_OFlag::O_NONBLOCK
            | MQ_OFlag::O_CLOEXEC;
        if self.create {
            flags |= MQ_OFlag::O_CREAT;
        }
        if self.create && self.exclusive {
            flags |= MQ_OFlag::O_EXCL;
        }
        flags
    }

    /// The call as C source writes it (the descriptor's O_NONBLOCK is ours, see the module).
    pub(crate) fn call_text(&self, name: &QueueName) -> String {
        let mut flags = match self.access {
            Access::Send => "O_WRONLY",
            Access::Receive => "O_RDONLY",
            Access::Both => "O_RDWR",
        }
        .to_string();
        if self.create {
            flags.push_str("|O_CREAT");
            if self.exclusive {
                flags.push_str("|O_EXCL");
            }
            format!(
                "mq_open(\"{name}\", {flags}, {:04o}, {{mq_maxmsg={}, mq_msgsize={}}})",
                self.perms, self.max_messages, self.message_size
            )
        } else {
            format!("mq_open(\"{name}\", {flags})")
        }
    }
}

/// An open message queue. Dropping it closes the descriptor; the queue stays in the kernel.
#[derive(Debug)]
pub struct Mailbox {
    name: QueueName,
    mqd: Option<MqdT>,
    created: bool,
    message_size: usize,
    unlink_on_drop: bool,
}

impl Mailbox {
    /// Open (or create) a queue. Whether this call made it is [`Mailbox::created`].
    pub fn open(name: &QueueName, options: &OpenOptions) -> anyhow::Result<Mailbox> {
        let c_name = name.c_name();
        let mode = Mode::from_bits_truncate((options.perms & 0o777) as _);
        // nix reads an uninitialised attribute when given None with O_CREAT: always pass one.
        let attr = MqAttr::new(0, options.max_messages as _, options.message_size as _, 0);
        // Try without O_CREAT first, so that we know whether it was this call that made it.
        let existing = OpenOptions {
            create: false,
            ..*options
        };
        let (mqd, created) =
            match mqueue::mq_open(c_name.as_c_str(), existing.flags(), mode, Some(&attr)) {
                Ok(mqd) if !(options.create && options.exclusive) => (mqd, false),
                Ok(mqd) => {
                    let _ = mqueue::mq_close(mqd);
                    return Err(SysError {
                        call: "mq_open",
                        errno: Errno::EEXIST,
                    })
                    .with_context(|| format!("cannot create queue {name}"));
                }
                Err(Errno::ENOENT) if options.create => {
                    match mqueue::mq_open(c_name.as_c_str(), options.flags(), mode, Some(&attr)) {
                        Ok(mqd) => (mqd, true),
                        // Another process made it in between: use theirs, unless exclusive.
                        Err(Errno::EEXIST) if !options.exclusive => (
                            mqueue::mq_open(c_name.as_c_str(), existing.flags(), mode, Some(&attr))
                                .map_err(|errno| SysError {
                                    call: "mq_open",
                                    errno,
                                })
                                .with_context(|| format!("cannot open queue {name}"))?,
                            false,
                        ),
                        Err(errno) => {
                            return Err(SysError {
                                call: "mq_open",
                                errno,
                            })
                            .with_context(|| format!("cannot create queue {name}"));
                        }
                    }
                }
                Err(errno) => {
                    return Err(SysError {
                        call: "mq_open",
                        errno,
                    })
                    .with_context(|| format!("cannot open queue {name}"));
                }
            };
        if created {
            // mq_open applies the umask (022 takes write away from group and others): set the
            // permissions asked for exactly, as the creator meant them.
            if let Err(errno) = nix::sys::stat::fchmod(mqd.as_fd(), mode) {
                let _ = mqueue::mq_close(mqd);
                let _ = mqueue::mq_unlink(c_name.as_c_str());
                return Err(SysError {
                    call: "fchmod",
                    errno,
                })
                .with_context(|| format!("cannot set the permissions of queue {name}"));
            }
        }
        let mut mailbox = Mailbox {
            name: name.clone(),
            mqd: Some(mqd),
            created,
            message_size: 0,
            unlink_on_drop: false,
        };
        mailbox.message_size = mailbox.attributes()?.message_size as usize;
        Ok(mailbox)
    }

    pub(crate) fn name(&self) -> &QueueName {
        &self.name
    }

    /// Whether opening it made the queue.
    pub fn created(&self) -> bool {
        self.created
    }

    fn mqd(&self) -> &MqdT {
        self.mqd.as_ref().expect("open until dropped")
    }

    /// The largest message the queue takes (mq_msgsize), in bytes.
    pub(crate) fn message_size(&self) -> usize {
        self.message_size
    }

    /// Remove the queue when this mailbox is dropped (or [`Mailbox::close`]d), whatever the way
    /// out: this run owns it.
    pub(crate) fn unlink_when_done(&mut self) {
        self.unlink_on_drop = true;
    }

    /// Undo [`Mailbox::unlink_when_done`]: the queue stays in the kernel.
    pub(crate) fn keep_when_done(&mut self) {
        self.unlink_on_drop = false;
    }

    /// Whether closing will also remove the queue.
    pub(crate) fn unlinks(&self) -> bool {
        self.unlink_on_drop
    }

    /// Close the descriptor, and remove the queue if this run owns it; says whether it removed it.
    pub(crate) fn close(mut self) -> anyhow::Result<bool> {
        if let Some(mqd) = self.mqd.take() {
            mqueue::mq_close(mqd)
                .map_err(|errno| SysError {
                    call: "mq_close",
                    errno,
                })
                .with_context(|| format!("cannot close queue {}", self.name))?;
        }
        if std::mem::take(&mut self.unlink_on_drop) {
            unlink(&self.name)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The queue's attributes now (`mq_getattr`).
    pub fn attributes(&self) -> anyhow::Result<Attributes> {
        let attr = mqueue::mq_getattr(self.mqd())
            .map_err(|errno| SysError {
                call: "mq_getattr",
                errno,
            })
            .with_context(|| format!("cannot read the attributes of queue {}", self.name))?;
        Ok(Attributes {
            max_messages: attr.maxmsg() as i64,
            message_size: attr.msgsize() as i64,
            current_messages: attr.curmsgs() as i64,
        })
    }

    /// Send one message with a priority (0 to 32767; higher is received first).
    pub fn send(
        &self,
        body: &[u8],
        priority: u32,
        wait: Wait,
        wake: Option<BorrowedFd<'_>>,
    ) -> anyhow::Result<Outcome<()>> {
        anyhow::ensure!(
            priority <= PRIO_MAX,
            UsageError(format!(
                "priority {priority} is out of range: 0 to {PRIO_MAX}"
            ))
        );
        self.attempt(PollFlags::POLLOUT, wait, wake, || {
            mqueue::mq_send(self.mqd(), body, priority)
        })
        .map_err(|errno| SysError {
            call: "mq_send",
            errno,
        })
        .with_context(|| {
            format!(
                "cannot send a {}-byte message to queue {}",
                body.len(),
                self.name
            )
        })
    }

    /// Receive the oldest message of the highest priority.
    pub fn receive(
        &self,
        wait: Wait,
        wake: Option<BorrowedFd<'_>>,
    ) -> anyhow::Result<Outcome<Message>> {
        let mut buf = vec![0u8; self.message_size];
        let mut priority = 0u32;
        let outcome = self
            .attempt(PollFlags::POLLIN, wait, wake, || {
                mqueue::mq_receive(self.mqd(), &mut buf, &mut priority)
            })
            .map_err(|errno| SysError {
                call: "mq_receive",
                errno,
            })
            .with_context(|| format!("cannot receive from queue {}", self.name))?;
        Ok(match outcome {
            Outcome::Done(len) => {
                buf.truncate(len);
                Outcome::Done(Message {
                    body: buf,
                    priority,
                })
            }
            Outcome::WouldBlock => Outcome::WouldBlock,
            Outcome::TimedOut => Outcome::TimedOut,
            Outcome::Woken => Outcome::Woken,
        })
    }

    /// Try `op` on the non-blocking descriptor; while it would block, poll for `ready` as `wait`
    /// allows, with `wake` beside it.
    fn attempt<T>(
        &self,
        ready: PollFlags,
        wait: Wait,
        wake: Option<BorrowedFd<'_>>,
        mut op: impl FnMut() -> nix::Result<T>,
    ) -> Result<Outcome<T>, Errno> {
        let deadline = wait.deadline();
        loop {
            match op() {
                Ok(value) => return Ok(Outcome::Done(value)),
                Err(Errno::EAGAIN) => {}
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno),
            }
            if wait == Wait::NonBlock {
                return Ok(Outcome::WouldBlock);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Outcome::TimedOut);
            }
            let waited = crate::sys::wait_any(&[(self.mqd().as_fd(), ready)], deadline, wake)?;
            if waited.woken {
                return Ok(Outcome::Woken);
            }
        }
    }

    /// Make sends and receives on this descriptor block, as a C program's plain mq_open does
    /// (the mailbox is opened non-blocking, for polling beside a signal's wake-up).
    pub(crate) fn set_blocking(&self) -> anyhow::Result<()> {
        mqueue::mq_remove_nonblock(self.mqd())
            .map(drop)
            .map_err(|errno| SysError {
                call: "mq_setattr",
                errno,
            })
            .with_context(|| format!("cannot make queue {} blocking", self.name))
    }

    /// One `mq_send` at priority 0, no poll and no copy: for a measured loop.
    pub(crate) fn send_raw(&self, body: &[u8]) -> Result<(), Errno> {
        mqueue::mq_send(self.mqd(), body, 0)
    }

    /// One `mq_receive` into `buf` (at least the message size): the length received.
    pub(crate) fn receive_raw(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut priority = 0u32;
        mqueue::mq_receive(self.mqd(), buf, &mut priority)
    }

    /// The descriptor, for a poll over several mailboxes (readable: a message is waiting).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.mqd().as_fd()
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        if let Some(mqd) = self.mqd.take() {
            let _ = mqueue::mq_close(mqd);
        }
        if self.unlink_on_drop {
            let _ = unlink(&self.name);
        }
    }
}

/// Remove a queue's name (`mq_unlink`): no one can open it any more, and it goes once the last
/// descriptor is closed. Messages still in it are lost.
pub fn unlink(name: &QueueName) -> anyhow::Result<()> {
    match mqueue::mq_unlink(name.c_name().as_c_str()) {
        Ok(()) => Ok(()),
        Err(errno) => {
            let err = Err(SysError {
                call: "mq_unlink",
                errno,
            })
            .with_context(|| format!("cannot remove queue {name}"));
            match errno {
                Errno::EACCES | Errno::EPERM => err.hint(format!(
                    "only a queue's owner (or root) may remove it; {name} was {}",
                    made_by(name)
                )),
                _ => err,
            }
        }
    }
}

/// Whether a queue of this name exists (without creating it, or needing /dev/mqueue mounted).
pub fn exists(name: &QueueName) -> bool {
    match mqueue::mq_open(
        name.c_name().as_c_str(),
        MQ_OFlag::O_RDONLY | MQ_OFlag::O_NONBLOCK | MQ_OFlag::O_CLOEXEC,
        Mode::empty(),
        None,
    ) {
        Ok(mqd) => {
            let _ = mqueue::mq_close(mqd);
            true
        }
        Err(errno) => errno != Errno::ENOENT,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::mq::{Limits, TestQueue, both};

    #[test]
    fn send_receive_close_unlink() {
        let q = TestQueue::new();
        assert!(!exists(&q.0));
        let mb = both(&q, 4, 64);
        assert!(mb.created());
        assert!(exists(&q.0));
        let other = Mailbox::open(&q.0, &OpenOptions::existing(Access::Send)).unwrap();
        assert!(!other.created());
        assert_eq!(
            other.send(b"hello", 3, Wait::NonBlock, None).unwrap(),
            Outcome::Done(())
        );
        assert_eq!(mb.attributes().unwrap().current_messages, 1);
        assert_eq!(
            mb.receive(Wait::NonBlock, None).unwrap(),
            Outcome::Done(Message {
                body: b"hello".to_vec(),
                priority: 3
            })
        );
        drop((mb, other));
        assert!(exists(&q.0), "closing leaves the queue in the kernel");
        unlink(&q.0).unwrap();
        assert!(!exists(&q.0));
        assert!(unlink(&q.0).is_err());
    }

    #[test]
    fn messages_wait_in_the_kernel_with_no_receiver() {
        let q = TestQueue::new();
        let sender = both(&q, 4, 64);
        sender.send(b"kept", 0, Wait::NonBlock, None).unwrap();
        drop(sender);
        let receiver = Mailbox::open(&q.0, &OpenOptions::existing(Access::Receive)).unwrap();
        let got = receiver.receive(Wait::NonBlock, None).unwrap();
        assert_eq!(
            got,
            Outcome::Done(Message {
                body: b"kept".to_vec(),
                priority: 0
            })
        );
    }

    #[test]
    fn highest_priority_first_fifo_within_one() {
        let q = TestQueue::new();
        let mb = both(&q, 8, 16);
        for (body, prio) in [
            ("a1", 1),
            ("c5", 5),
            ("a2", 1),
            ("b3", 3),
            ("c6", 5),
            ("z0", 0),
        ] {
            mb.send(body.as_bytes(), prio, Wait::NonBlock, None)
                .unwrap();
        }
        let mut order = Vec::new();
        while let Outcome::Done(m) = mb.receive(Wait::NonBlock, None).unwrap() {
            order.push(String::from_utf8(m.body).unwrap());
        }
        assert_eq!(order, ["c5", "c6", "b3", "a1", "a2", "z0"]);
    }

    #[test]
    fn full_and_empty_non_blocking_and_with_a_timeout() {
        let q = TestQueue::new();
        let mb = both(&q, 2, 16);
        assert_eq!(
            mb.receive(Wait::NonBlock, None).unwrap(),
            Outcome::WouldBlock
        );
        let t = Instant::now();
        assert_eq!(
            mb.receive(Wait::For(Duration::from_millis(100)), None)
                .unwrap(),
            Outcome::TimedOut
        );
        assert!(t.elapsed() >= Duration::from_millis(100));
        mb.send(b"1", 0, Wait::NonBlock, None).unwrap();
        mb.send(b"2", 0, Wait::NonBlock, None).unwrap();
        assert_eq!(
            mb.send(b"3", 0, Wait::NonBlock, None).unwrap(),
            Outcome::WouldBlock
        );
        assert_eq!(
            mb.send(b"3", 0, Wait::For(Duration::from_millis(50)), None)
                .unwrap(),
            Outcome::TimedOut
        );
        assert_eq!(mb.attributes().unwrap().current_messages, 2);
    }

    #[test]
    fn a_blocked_receive_wakes_for_a_message_and_for_the_wake_fd() {
        let q = TestQueue::new();
        let mb = both(&q, 2, 16);
        let name = q.0.clone();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let tx = Mailbox::open(&name, &OpenOptions::existing(Access::Send)).unwrap();
            tx.send(b"late", 7, Wait::Block, None).unwrap();
        });
        let got = mb.receive(Wait::Block, None).unwrap();
        assert_eq!(
            got,
            Outcome::Done(Message {
                body: b"late".to_vec(),
                priority: 7
            })
        );
        sender.join().unwrap();

        let (wake_read, wake_write) = nix::unistd::pipe().unwrap();
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            nix::unistd::write(&wake_write, b"x").unwrap();
        });
        assert_eq!(
            mb.receive(Wait::Block, Some(wake_read.as_fd())).unwrap(),
            Outcome::Woken
        );
        waker.join().unwrap();
    }

    #[test]
    fn errors_name_the_errno() {
        let q = TestQueue::new();
        let missing = Mailbox::open(&q.0, &OpenOptions::existing(Access::Receive)).unwrap_err();
        assert_eq!(crate::sys::errno_of(&missing), Some(Errno::ENOENT));
        let mb = both(&q, 2, 8);
        let big = mb.send(&[0u8; 9], 0, Wait::NonBlock, None).unwrap_err();
        assert_eq!(crate::sys::errno_of(&big), Some(Errno::EMSGSIZE));
        assert!(
            format!("{big:#}").contains("Message too long (EMSGSIZE)"),
            "{big:#}"
        );
        let prio = mb
            .send(b"x", PRIO_MAX + 1, Wait::NonBlock, None)
            .unwrap_err();
        assert!(prio.downcast_ref::<UsageError>().is_some());
        let mut opts = OpenOptions::create(Access::Both, 2, 8);
        opts.exclusive = true;
        let twice = Mailbox::open(&q.0, &opts).unwrap_err();
        assert_eq!(crate::sys::errno_of(&twice), Some(Errno::EEXIST));
        let limits = Limits::read().unwrap();
        let too_many = TestQueue::new();
        let over = Mailbox::open(
            &too_many.0,
            &OpenOptions::create(Access::Both, limits.msg_max + 1, 8),
        );
        // Root may exceed msg_max (CAP_SYS_RESOURCE); anyone else gets EINVAL.
        if let Err(e) = over {
            assert_eq!(crate::sys::errno_of(&e), Some(Errno::EINVAL));
        }
    }

    #[test]
    fn a_mailbox_that_owns_its_queue_removes_it() {
        let q = TestQueue::new();
        let mut mb = both(&q, 2, 8);
        mb.unlink_when_done();
        assert!(mb.unlinks());
        assert!(mb.close().unwrap());
        assert!(!exists(&q.0));
        let q2 = TestQueue::new();
        let mut mb = both(&q2, 2, 8);
        mb.unlink_when_done();
        drop(mb);
        assert!(!exists(&q2.0), "dropped on an error path: removed too");
        let q3 = TestQueue::new();
        let mut mb = both(&q3, 2, 8);
        mb.unlink_when_done();
        mb.keep_when_done();
        assert!(!mb.close().unwrap());
        assert!(exists(&q3.0));
    }

    #[test]
    fn call_text_reads_like_c() {
        let n = QueueName::parse("/lab").unwrap();
        assert_eq!(
            OpenOptions::create(Access::Receive, 10, 8192).call_text(&n),
            "mq_open(\"/lab\", O_RDONLY|O_CREAT, 0600, {mq_maxmsg=10, mq_msgsize=8192})"
        );
        assert_eq!(
            OpenOptions::existing(Access::Send).call_text(&n),
            "mq_open(\"/lab\", O_WRONLY)"
        );
    }
}
