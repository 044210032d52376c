//! Advice for a queue that would not open: from the errno, and from who owns the queue where
//! that can be seen.

use nix::errno::Errno;

use super::{Limits, Ownership, QueueName, made_by, name_of_ones_own, ownership_of};

/// Who chose a queue's name, for the advice on one that would not open: a user who typed it
/// may pick another; a name the program made (a process's own mailbox, named after its pid)
/// cannot be changed by its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamedBy {
    /// Typed by the user (`mq-send /lab ...`).
    User,
    /// Made by the program (`--mine`, `--to PID`, a benchmark's queues).
    Program,
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
pub(crate) fn open_hint(errno: Option<Errno>, name: &QueueName, named_by: NamedBy) -> String {
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
pub(crate) fn taken_by_another_user(name: &QueueName) -> Option<String> {
    ownership_of(name)
        .filter(|o| !o.is_mine())
        .map(|o| another_users_name_hint(name, o))
}
