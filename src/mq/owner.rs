//! Who owns a queue, and its mode: from fstat(2) on an open descriptor, or from the mqueue file
//! system where it is mounted; for the warnings about another user's queue and the advice on
//! one that would not open.

use std::os::fd::AsFd;

use anyhow::Context as _;
use nix::mqueue::{self, MQ_OFlag};
use nix::sys::stat::Mode;

use super::{Mailbox, QueueName};
use crate::sys::SysError;

/// Who owns a queue, and its permission bits (what `ls -l /dev/mqueue` shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ownership {
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
    pub(crate) fn is_mine(&self) -> bool {
        self.uid == crate::sys::effective_uid()
    }

    /// `uid 1001, mode 0666`, for a message that names who made a queue.
    pub fn text(&self) -> String {
        format!("uid {}, mode {:04o}", self.uid, self.mode)
    }

    /// The warning for a queue another user owns and opened to others (chapter 5's words); None
    /// for a queue of this user's, or one closed to all but its owner.
    pub(crate) fn exposure(&self, name: &QueueName) -> Option<String> {
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
    pub(crate) fn ownership(&self) -> anyhow::Result<Ownership> {
        let st = nix::sys::stat::fstat(self.as_fd())
            .map_err(|errno| SysError {
                call: "fstat",
                errno,
            })
            .with_context(|| format!("cannot fstat queue {}", self.name()))?;
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
pub(crate) fn made_by(name: &QueueName) -> String {
    match ownership_of(name) {
        Some(o) if o.is_mine() => format!("made by you ({})", o.text()),
        Some(o) => format!("made by another user ({})", o.text()),
        None => "made by a user whose permissions keep you from looking at it".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_read_back_from_their_escapes() {
        assert_eq!(unescape_mount_point("/dev/mqueue"), "/dev/mqueue");
        assert_eq!(unescape_mount_point("/tmp/a\\040b\\134c"), "/tmp/a b\\c");
        assert_eq!(unescape_mount_point("/x\\04"), "/x\\04");
        assert_eq!(unescape_mount_point("/x\\9999"), "/x\\9999");
    }
}
