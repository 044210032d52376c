//! POSIX message queues (lecture notes, section B2) as a mailbox type.
//!
//! The notes' indirect communication, `send(MB, msg)` and `receive(MB, msg)`: messages go to a
//! mailbox (a "port") that the kernel keeps, not to a process. A [`Mailbox`] is an open queue;
//! dropping it closes the descriptor (`mq_close`); the queue itself lives on in the kernel until
//! [`unlink`] removes it, so messages sent with no receiver running wait there.
//!
//! Waiting is done with `poll(2)` on the queue's descriptor, which Linux makes pollable, beside an
//! optional wake-up descriptor (`sys::Termination::wake_fd`). The descriptor itself is always
//! non-blocking, so a blocking send or receive is: try, and if the queue is full (empty), poll
//! until it has room (a message), a deadline passes, or a termination signal arrives. A
//! signal can never be lost between a check and a blocking call.

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::mqueue::{self, MQ_OFlag, MqAttr, MqdT};
use nix::poll::PollFlags;
use nix::sys::stat::Mode;

use crate::sys::SysError;
use crate::ui::{HintExt as _, UsageError};

pub mod net;

/// The longest name after the leading `/` (NAME_MAX).
pub const NAME_MAX: usize = 255;
/// The highest priority Linux accepts (MQ_PRIO_MAX - 1).
pub const PRIO_MAX: u32 = 32767;
/// The largest message any queue takes: Linux's HARD_MSGSIZEMAX, 16 MiB, a bound even with
/// CAP_SYS_RESOURCE.
pub const MSGSIZE_HARD_MAX: usize = 16 * 1024 * 1024;

/// A queue name as mq_open(3) wants it: `/` and 1 to 255 characters, none of them `/` or NUL.
/// Two names are equal when they name the same queue, however they were typed.
#[derive(Debug, Clone)]
pub struct QueueName {
    name: String,
    /// The user wrote it without the leading `/`, which was added.
    pub slash_added: bool,
}

impl QueueName {
    /// Check a name a user typed; a missing leading `/` is added (and recorded).
    pub fn parse(text: &str) -> Result<QueueName, UsageError> {
        let (body, slash_added) = match text.strip_prefix('/') {
            Some(body) => (body, false),
            None => (text, true),
        };
        let bad = |why: &str| {
            UsageError(format!(
                "{text:?} is not a queue name: {why} (a name is / and 1 to {NAME_MAX} bytes, e.g. /lab)"
            ))
        };
        if body.is_empty() {
            return Err(bad("it is empty"));
        }
        if body.contains('/') {
            return Err(bad("only the leading / may be a slash"));
        }
        if body.contains('\0') {
            return Err(bad("it contains a NUL byte"));
        }
        if body.len() > NAME_MAX {
            return Err(bad(&format!("it is {} bytes long", body.len())));
        }
        Ok(QueueName {
            name: format!("/{body}"),
            slash_added,
        })
    }

    /// The name of a process's own mailbox, for direct naming: `/ipc-lab-pid-<PID>`.
    pub fn for_pid(pid: u32) -> QueueName {
        QueueName {
            name: format!("/ipc-lab-pid-{pid}"),
            slash_added: false,
        }
    }

    /// The name of a pair mailbox, for `receive(P1, msg)`: what process `sender` sends to
    /// process `receiver`, and nothing else: `/ipc-lab-pid-<RECEIVER>-from-<SENDER>`.
    pub fn for_pair(receiver: u32, sender: u32) -> QueueName {
        QueueName {
            name: format!("/ipc-lab-pid-{receiver}-from-{sender}"),
            slash_added: false,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    fn c_name(&self) -> CString {
        CString::new(self.name.as_str()).expect("checked: no NUL")
    }
}

impl PartialEq for QueueName {
    fn eq(&self, other: &QueueName) -> bool {
        self.name == other.name
    }
}

impl Eq for QueueName {}

impl std::hash::Hash for QueueName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl fmt::Display for QueueName {
    /// The name as it is shown, on stdout as on stderr: a control character in it is escaped
    /// (`/x\u{1b}]0;...`), so that a name cannot play a terminal's control sequence.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::ui::one_line(&self.name))
    }
}

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
    pub fn call_text(&self, name: &QueueName) -> String {
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

/// The attributes of a queue (`mq_getattr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes {
    pub max_messages: i64,
    pub message_size: i64,
    /// Messages waiting in the queue now.
    pub current_messages: i64,
}

impl Attributes {
    /// What a new queue is, for the note that says it was made: `created queue /lab (10
    /// messages of up to 8192 bytes, mode 0600)`.
    pub fn created_note(&self, name: &QueueName, perms: u32) -> String {
        format!(
            "created queue {name} ({} of up to {} bytes, mode {perms:04o})",
            crate::ui::counted(self.max_messages as u64, "message"),
            self.message_size
        )
    }
}

/// A message taken from a queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub body: Vec<u8>,
    pub priority: u32,
}

/// How long a send or receive may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Until it can go ahead (or the wake-up descriptor fires).
    Block,
    /// Not at all: a full (empty) queue is [`Outcome::WouldBlock`].
    NonBlock,
    /// Until this much time has passed.
    For(Duration),
}

impl Wait {
    /// The wait a command line asks for: `-n` (no wait), `--timeout SECS`, or neither (block).
    pub fn chosen(nonblock: bool, timeout: Option<Duration>) -> Wait {
        match (nonblock, timeout) {
            (true, _) => Wait::NonBlock,
            (false, Some(t)) => Wait::For(t),
            (false, None) => Wait::Block,
        }
    }

    /// When a wait that starts now must end (`None`: never, or not at all).
    pub fn deadline(self) -> Option<Instant> {
        match self {
            Wait::For(d) => Some(Instant::now() + d),
            _ => None,
        }
    }
}

/// What became of a send or receive that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    Done(T),
    /// Non-blocking, and the queue was full (send) or empty (receive).
    WouldBlock,
    /// The time given with [`Wait::For`] passed first.
    TimedOut,
    /// The wake-up descriptor became readable first (a termination signal).
    Woken,
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

    pub fn name(&self) -> &QueueName {
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
    pub fn message_size(&self) -> usize {
        self.message_size
    }

    /// Remove the queue when this mailbox is dropped (or [`Mailbox::close`]d), whatever the way
    /// out: this run owns it.
    pub fn unlink_when_done(&mut self) {
        self.unlink_on_drop = true;
    }

    /// Undo [`Mailbox::unlink_when_done`]: the queue stays in the kernel.
    pub fn keep_when_done(&mut self) {
        self.unlink_on_drop = false;
    }

    /// Whether closing will also remove the queue.
    pub fn unlinks(&self) -> bool {
        self.unlink_on_drop
    }

    /// Close the descriptor, and remove the queue if this run owns it; says whether it removed it.
    pub fn close(mut self) -> anyhow::Result<bool> {
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
    pub fn set_blocking(&self) -> anyhow::Result<()> {
        mqueue::mq_remove_nonblock(self.mqd())
            .map(drop)
            .map_err(|errno| SysError {
                call: "mq_setattr",
                errno,
            })
            .with_context(|| format!("cannot make queue {} blocking", self.name))
    }

    /// One `mq_send` at priority 0, no poll and no copy: for a measured loop.
    pub fn send_raw(&self, body: &[u8]) -> Result<(), Errno> {
        mqueue::mq_send(self.mqd(), body, 0)
    }

    /// One `mq_receive` into `buf` (at least the message size): the length received.
    pub fn receive_raw(&self, buf: &mut [u8]) -> Result<usize, Errno> {
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

/// Who chose a queue's name, for the advice on one that would not open: a user who typed it
/// may pick another; a name the program made (a process's own mailbox, named after its pid)
/// cannot be changed by its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedBy {
    /// Typed by the user (`mq-send /lab ...`).
    User,
    /// Made by the program (`--mine`, `--to PID`, a benchmark's queues).
    Program,
}

/// A name of this user's own in place of `name`: `/lab-alice`, after the login name of the
/// real user ([`crate::sys::login_name`]); shortened to fit NAME_MAX, and `/lab-alice-2` for a
/// name that is already `/lab-alice`.
pub(crate) fn name_of_ones_own(name: &QueueName) -> QueueName {
    // A login name holds no `/` or NUL; should one ever, it is left out rather than break
    // the name.
    let login: String = crate::sys::login_name()
        .chars()
        .filter(|c| *c != '/' && *c != '\0')
        .collect();
    let body = &name.as_str()[1..];
    let suffix = if body.ends_with(&format!("-{login}")) {
        "-2".to_string()
    } else {
        format!("-{login}")
    };
    let mut keep = NAME_MAX.saturating_sub(suffix.len()).min(body.len());
    while !body.is_char_boundary(keep) {
        keep -= 1;
    }
    let own = format!("/{}{suffix}", &body[..keep]);
    QueueName::parse(&own).unwrap_or_else(|_| name.clone())
}

/// The advice for a queue name that another user holds (`owner` where it could be seen):
/// `another user has /lab: pick another name, such as /lab-alice (owner uid 1001, mode 0600)`.
pub(crate) fn another_users_name_hint(name: &QueueName, owner: Ownership) -> String {
    format!(
        "another user has {name}: pick another name, such as {} (owner {})",
        name_of_ones_own(name),
        owner.text()
    )
}

/// The advice for a queue this user may not open and whose owner cannot be seen (the mqueue
/// file system is not mounted, and the queue is closed to this user): another user's, most
/// likely, or this user's own with a mode that keeps its owner out too.
fn unseen_owner_hint(name: &QueueName) -> String {
    format!(
        "queue {name} exists, but its permissions keep you out: if another user has {name}, pick another name, such as {}; else it is yours, with a mode that denies you too (where the mqueue file system is mounted, `ls -l /dev/mqueue` shows each queue's owner and mode)",
        name_of_ones_own(name)
    )
}

/// Advice for a queue named by `named_by` that would not open, from the errno.
pub fn open_hint(errno: Option<Errno>, name: &QueueName, named_by: NamedBy) -> String {
    let limits = Limits::read().ok();
    match errno {
        Some(Errno::ENOENT) => format!(
            "no queue is called {name}: start `mq-recv {name}` first (the receiver makes its mailbox), or pass --create"
        ),
        Some(Errno::EACCES) | Some(Errno::EPERM) => match (ownership_of(name), named_by) {
            (Some(o), _) if o.is_mine() => format!(
                "queue {name} is yours, but its mode {:04o} keeps you out too: remove it (`mq-recv -n --unlink {name}`) and make it again with --perms 600",
                o.mode
            ),
            (Some(o), NamedBy::User) => another_users_name_hint(name, o),
            (Some(o), NamedBy::Program) => format!(
                "queue {name} belongs to another user ({}), and its permissions keep you out (600 is owner-only; the creator chooses with --perms)",
                o.text()
            ),
            (None, NamedBy::User) => unseen_owner_hint(name),
            (None, NamedBy::Program) => format!(
                "queue {name} exists, but its permissions keep you out: it is another user's, or yours with a mode that denies you too (where the mqueue file system is mounted, `ls -l /dev/mqueue` shows each queue's owner and mode)"
            ),
        },
        Some(Errno::EEXIST) => match (ownership_of(name), named_by) {
            (Some(o), NamedBy::User) if !o.is_mine() => another_users_name_hint(name, o),
            _ => format!(
                "queue {name} exists already, {}: pick another name, or, if it is yours and no longer needed, remove it (`mq-recv -n --unlink {name}`)",
                made_by(name)
            ),
        },
        Some(Errno::EINVAL) => match limits {
            Some(l) => format!(
                "the kernel refused the size: without privilege a queue may hold up to {} messages (msg_max) of up to {} bytes (msgsize_max), see /proc/sys/fs/mqueue",
                l.msg_max, l.msgsize_max
            ),
            None => "the kernel refused the size: see the limits in /proc/sys/fs/mqueue".into(),
        },
        Some(Errno::ENOSPC) => format!(
            "too many queues: the system allows {} (fs.mqueue.queues_max, /proc/sys/fs/mqueue/queues_max); remove the ones you no longer need (`mq-recv --unlink NAME` ends by removing NAME), or raise the limit (root: `sysctl -w fs.mqueue.queues_max=N`)",
            limits.map_or("a limited number".into(), |l| l.queues_max.to_string())
        ),
        Some(Errno::EMFILE) => crate::sys::descriptor_limit_hint().unwrap_or_else(|| "this user's budget of queue memory is spent (RLIMIT_MSGQUEUE, `ulimit -q` bytes, counting every queue's messages x their size): remove queues you no longer need (`mq-recv --unlink NAME`), make them smaller (--maxmsg, --msgsize), or raise the budget (`ulimit -q`, root for more than the hard limit)".to_string()),
        Some(Errno::ENFILE) => "the system has too many files open: close some, then try again".to_string(),
        _ => format!("check the name {name}, and the limits in /proc/sys/fs/mqueue"),
    }
}

/// The advice for an exclusive create (O_EXCL) of a name the user typed that exists already:
/// the one for another user's name where the owner is another user, else None (the caller
/// knows what to say of a queue of this user's own).
pub fn taken_by_another_user(name: &QueueName) -> Option<String> {
    ownership_of(name)
        .filter(|o| !o.is_mine())
        .map(|o| another_users_name_hint(name, o))
}

/// What a receiver takes messages from: one or more mailboxes (the notes' "mailboxes for
/// specific senders"), and perhaps a network port that feeds the first of them.
///
/// [`Inbox::receive`] takes the next message from whichever mailbox has one (poll(2) on all the
/// descriptors), in turn so that no mailbox starves another; in each mailbox the kernel's order
/// holds, highest priority first. Messages arriving at the port are put into the mailbox before
/// any is taken out, so a burst from the network is ordered by priority like a local one.
#[derive(Debug)]
pub struct Inbox {
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

    pub fn port(&self) -> Option<&net::Port> {
        self.port.as_ref()
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

/// Who owns a queue, and its permission bits (what `ls -l /dev/mqueue` shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    pub uid: u32,
    pub mode: u32,
}

impl Ownership {
    fn of_stat(st: &libc::stat) -> Ownership {
        Ownership {
            uid: st.st_uid,
            mode: st.st_mode & 0o777,
        }
    }

    /// Whether the effective user of this process owns it.
    pub fn is_mine(&self) -> bool {
        self.uid == crate::sys::effective_uid()
    }

    /// `uid 1001, mode 0666`, for a message that names who made a queue.
    pub fn text(&self) -> String {
        format!("uid {}, mode {:04o}", self.uid, self.mode)
    }

    /// The warning for a queue another user owns and opened to others (chapter 5's words); None
    /// for a queue of this user's, or one closed to all but its owner.
    pub fn exposure(&self, name: &QueueName) -> Option<String> {
        crate::sys::exposure_warning(
            &format!("queue {name}"),
            self.uid,
            self.mode,
            crate::sys::effective_uid(),
            "take out what is sent to it",
            "put messages in it",
        )
    }
}

impl Mailbox {
    /// The queue's owner and mode, from fstat(2) on its descriptor.
    pub fn ownership(&self) -> anyhow::Result<Ownership> {
        let st = nix::sys::stat::fstat(self.as_fd())
            .map_err(|errno| SysError {
                call: "fstat",
                errno,
            })
            .with_context(|| format!("cannot fstat queue {}", self.name))?;
        Ok(Ownership::of_stat(&st))
    }
}

/// The owner and mode of the queue called `name`, for a message about a queue this run did not
/// open: from the mqueue file system where it is mounted (`/dev/mqueue/NAME`, or wherever
/// /proc/self/mounts lists it), or else from a descriptor opened for a moment (which takes
/// read or write permission). None when neither can tell (no such queue, or one closed to this
/// user with the mqueue file system mounted nowhere).
pub(crate) fn ownership_of(name: &QueueName) -> Option<Ownership> {
    let listed = mqueue_mounts()
        .into_iter()
        .find_map(|dir| nix::sys::stat::lstat(&dir.join(&name.as_str()[1..])).ok());
    if let Some(st) = listed {
        return Some(Ownership::of_stat(&st));
    }
    [MQ_OFlag::O_RDONLY, MQ_OFlag::O_WRONLY]
        .into_iter()
        .find_map(|access| {
            let mqd = mqueue::mq_open(
                name.c_name().as_c_str(),
                access | MQ_OFlag::O_NONBLOCK | MQ_OFlag::O_CLOEXEC,
                Mode::empty(),
                None,
            )
            .ok()?;
            let st = nix::sys::stat::fstat(mqd.as_fd()).ok();
            let _ = mqueue::mq_close(mqd);
            st.map(|st| Ownership::of_stat(&st))
        })
}

/// Where the mqueue file system is mounted in this mount namespace: each mount point of type
/// mqueue in /proc/self/mounts, the latest first (a mount made for a private IPC namespace, as
/// scripts/private-ipc.sh makes, comes after the one it inherited); /dev/mqueue, its usual
/// place, when that table cannot be read.
fn mqueue_mounts() -> Vec<std::path::PathBuf> {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return vec!["/dev/mqueue".into()];
    };
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let point = fields.nth(1)?;
            (fields.next()? == "mqueue").then(|| unescape_mount_point(point).into())
        })
        .rev()
        .collect()
}

/// A mount point as /proc/self/mounts writes it, its blanks and backslashes as octal escapes
/// (`\040` for a space), back to the path.
fn unescape_mount_point(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `made by uid 1001, mode 0666` where the owner of `name` can be found, else `made by a user
/// whose permissions keep you out`, for an error about a queue that exists.
pub fn made_by(name: &QueueName) -> String {
    match ownership_of(name) {
        Some(o) if o.is_mine() => format!("made by you ({})", o.text()),
        Some(o) => format!("made by another user ({})", o.text()),
        None => "made by a user whose permissions keep you from looking at it".to_string(),
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

/// The system's limits, from /proc/sys/fs/mqueue (what an unprivileged user may ask for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most messages a queue may hold (msg_max).
    pub msg_max: i64,
    /// The largest message size (msgsize_max).
    pub msgsize_max: i64,
    /// What a queue created without attributes gets (msg_default, msgsize_default).
    pub msg_default: i64,
    pub msgsize_default: i64,
    /// How many queues the system allows (queues_max).
    pub queues_max: i64,
}

impl Limits {
    pub fn read() -> anyhow::Result<Limits> {
        let read = |name: &str| -> anyhow::Result<i64> {
            let path = format!("/proc/sys/fs/mqueue/{name}");
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
            text.trim()
                .parse()
                .with_context(|| format!("{path} holds {text:?}, not a number"))
        };
        Ok(Limits {
            msg_max: read("msg_max")?,
            msgsize_max: read("msgsize_max")?,
            msg_default: read("msg_default")?,
            msgsize_default: read("msgsize_default")?,
            queues_max: read("queues_max")?,
        })
    }
}

/// A queue name of a unit test's own, unique in the test run, removed when dropped.
#[cfg(test)]
pub(crate) struct TestQueue(pub(crate) QueueName);

#[cfg(test)]
impl TestQueue {
    pub(crate) fn new() -> TestQueue {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        TestQueue(QueueName::parse(&format!("/ipc-lab-unit-{}-{n}", std::process::id())).unwrap())
    }
}

#[cfg(test)]
impl Drop for TestQueue {
    fn drop(&mut self) {
        let _ = unlink(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(q: &TestQueue, max: i64, size: i64) -> Mailbox {
        Mailbox::open(&q.0, &OpenOptions::create(Access::Both, max, size)).unwrap()
    }

    #[test]
    fn names() {
        let n = QueueName::parse("lab").unwrap();
        assert_eq!((n.as_str(), n.slash_added), ("/lab", true));
        let n = QueueName::parse("/lab").unwrap();
        assert_eq!((n.as_str(), n.slash_added), ("/lab", false));
        for bad in ["", "/", "/a/b", "a/b", "//", "/a\0b"] {
            assert!(QueueName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(QueueName::parse(&"x".repeat(255)).is_ok());
        let long = QueueName::parse(&"x".repeat(256)).unwrap_err();
        assert!(long.0.contains("256 bytes"), "{long}");
        assert_eq!(QueueName::for_pid(42).as_str(), "/ipc-lab-pid-42");
        assert_eq!(
            QueueName::parse("lab").unwrap(),
            QueueName::parse("/lab").unwrap(),
            "the same queue, however typed"
        );
    }

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
    fn a_name_of_ones_own_ends_with_the_login_name_and_fits() {
        let login = crate::sys::login_name();
        let own = |text: &str| name_of_ones_own(&QueueName::parse(text).unwrap());
        assert_eq!(own("/lab").as_str(), format!("/lab-{login}"));
        // Already one's own: another still.
        assert_eq!(
            own(&format!("/lab-{login}")).as_str(),
            format!("/lab-{login}-2")
        );
        // The longest name is shortened so that the suggestion is a name too.
        let long = format!("/{}", "q".repeat(NAME_MAX));
        let suggested = own(&long);
        assert_eq!(suggested.as_str().len(), NAME_MAX + 1);
        assert!(suggested.as_str().ends_with(&format!("q-{login}")));
        // Shortened at a character's boundary.
        let wide = format!("/{}", "é".repeat(NAME_MAX / 2));
        assert!(own(&wide).as_str().ends_with(&format!("-{login}")));
    }

    #[test]
    fn mount_points_are_read_back_from_their_escapes() {
        assert_eq!(unescape_mount_point("/dev/mqueue"), "/dev/mqueue");
        assert_eq!(unescape_mount_point("/tmp/a\\040b\\134c"), "/tmp/a b\\c");
        assert_eq!(unescape_mount_point("/x\\04"), "/x\\04");
        assert_eq!(unescape_mount_point("/x\\9999"), "/x\\9999");
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
