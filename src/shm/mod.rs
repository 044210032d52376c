//! System V shared memory (lecture notes, section B1) as safe types.
//!
//! The notes list five steps; the types carry them so that the last two cannot be forgotten:
//!
//! | step | the notes                      | here                                            |
//! |------|--------------------------------|-------------------------------------------------|
//! | 1    | create or locate M             | [`Segment::create`] (owner), `ShmId::lookup`  |
//! | 2    | attach M                       | [`ShmId::attach`] returns an [`Attachment`]     |
//! | 3    | read from or write to M        | [`Attachment::load`], [`Attachment::store`]     |
//! | 4    | detach M                       | [`Attachment::detach`], or dropping it          |
//! | 5    | destroy M                      | [`Segment::remove`], or dropping the owner      |
//!
//! Memory another process writes is only touched through atomics, never through `&mut`.
//! The layout the notes' master and slave agree on lives in [`layout`].
//!
//! This file holds the keys, [`CreateOptions`], [`ShmId`] and the owner [`Segment`];
//! `attachment.rs` the guard [`Attachment`], `status.rs` what `shmctl(IPC_STAT)` says. The
//! lessons, a file each, are what `shm-master` and `shm-slave` run:
//!
//! | lesson file         | the idea                                                           |
//! |---------------------|--------------------------------------------------------------------|
//! | [`master`]          | the notes' master: create, attach, clear the flag, print the id, wait, read |
//! | `detach_destroy.rs` | steps 4 and 5, and destroying early (`--remove-early`): the kernel frees M with the last detach |
//! | [`slave`]           | the notes' slave: locate, attach, values first and flag last, detach (`--linger`) |
//! | `dialogue.rs`       | the slave's prompt, and the id and values read as scanf reads them |
//! | `check.rs`          | `--check`: refuse a segment another user could read or forge       |
//! | `inspect.rs`        | `--inspect`: what the kernel keeps of M after each step (nattch)   |

use std::ffi::CString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::Context as _;

use crate::sys::SysError;
use crate::ui::HintExt as _;
use nix::errno::Errno;

mod attachment;
pub(crate) mod check;
pub(crate) mod detach_destroy;
pub(crate) mod dialogue;
pub(crate) mod inspect;
pub mod layout;
pub mod master;
mod ring;
pub mod slave;
mod status;

pub use attachment::{Access, Attachment};
pub use ring::{RingLayout, RingReader, RingWriter};
pub(crate) use status::Status;

/// The key that asks for a new segment no other process can look up by key.
pub(crate) const IPC_PRIVATE: libc::key_t = libc::IPC_PRIVATE;

/// The key for a path and a project id, computed from the path's inode and device numbers
/// (ftok(3)): two programs that agree on a path and an id agree on the key, with no id to pass.
pub fn ftok(path: &Path, proj: u8) -> anyhow::Result<libc::key_t> {
    anyhow::ensure!(proj != 0, "the project id for ftok must be 1 to 255");
    let c_path = CString::new(path.as_os_str().as_bytes())
        .with_context(|| format!("the path {} contains a NUL byte", path.display()))?;
    // SAFETY: c_path is a valid NUL-terminated string for the duration of the call.
    let key = unsafe { libc::ftok(c_path.as_ptr(), libc::c_int::from(proj)) };
    if key == -1 {
        return Err(SysError::last("ftok"))
            .with_context(|| format!("cannot make a key from {}", path.display()));
    }
    Ok(key)
}

/// A key as the notes and ipcs write it: `IPC_PRIVATE` or `0x0000162e`.
pub fn key_text(key: libc::key_t) -> String {
    if key == IPC_PRIVATE {
        "IPC_PRIVATE".to_string()
    } else {
        format!("{:#010x}", key as u32)
    }
}

/// Who holds a key: the segment that has it, its owner and its mode, as /proc/sysvipc/shm lists
/// them (every user may read that table, whatever the segment's mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyHolder {
    pub id: ShmId,
    pub owner_uid: u32,
    pub mode: u32,
}

impl KeyHolder {
    /// The segment that has `key` now, if one has.
    pub fn of(key: libc::key_t) -> Option<KeyHolder> {
        // key shmid perms size cpid lpid nattch uid ...; the key in signed decimal.
        crate::sys::sysvipc_rows("shm").into_iter().find_map(|row| {
            let listed: i64 = row.first()?.parse().ok()?;
            (listed as u32 == key as u32).then_some(())?;
            Some(KeyHolder {
                id: ShmId(row.get(1)?.parse().ok()?),
                mode: u32::from_str_radix(row.get(2)?, 8).ok()? & 0o777,
                owner_uid: row.get(7)?.parse().ok()?,
            })
        })
    }
}

/// The advice for a key that a segment of another user has: `another user has key 0x00001234:
/// pick another key, or --ftok a file of your own (segment 7, owner uid 1001, mode 0600)`. None
/// when no segment has the key, or when it is this user's own.
pub(crate) fn another_users_key_hint(key: libc::key_t) -> Option<String> {
    let holder = KeyHolder::of(key)?;
    (holder.owner_uid != crate::sys::effective_uid()).then(|| {
        format!(
            "another user has key {}: pick another key, or --ftok a file of your own (segment {}, owner uid {}, mode {:04o})",
            key_text(key),
            holder.id,
            holder.owner_uid,
            holder.mode
        )
    })
}

/// How a segment is created: `shmget(key, size, IPC_CREAT [| IPC_EXCL] | perms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOptions {
    pub key: libc::key_t,
    pub size: usize,
    /// Permission bits, e.g. 0o600.
    pub perms: u32,
    /// Fail with EEXIST rather than reuse a segment that already has this key.
    pub exclusive: bool,
}

impl CreateOptions {
    /// The notes' master: `shmget(IPC_PRIVATE, size, IPC_CREAT | 0600)`.
    pub fn private(size: usize) -> CreateOptions {
        CreateOptions {
            key: IPC_PRIVATE,
            size,
            perms: 0o600,
            exclusive: false,
        }
    }

    fn flags(&self) -> libc::c_int {
        let mut flags = libc::IPC_CREAT | (self.perms & 0o777) as libc::c_int;
        if self.exclusive {
            flags |= libc::IPC_EXCL;
        }
        flags
    }

    /// The flags as C source writes them: `IPC_CREAT|IPC_EXCL|0600`.
    pub(crate) fn flags_text(&self) -> String {
        let excl = if self.exclusive { "IPC_EXCL|" } else { "" };
        format!("IPC_CREAT|{excl}{:04o}", self.perms & 0o777)
    }

    /// The call as C source writes it: `shmget(IPC_PRIVATE, 40, IPC_CREAT|0600)`.
    pub(crate) fn call_text(&self) -> String {
        format!(
            "shmget({}, {}, {})",
            key_text(self.key),
            self.size,
            self.flags_text()
        )
    }
}

/// The identifier of a segment: what `shmget` returns and `ipcs -m` lists in its shmid column.
/// Anyone who knows it (and has the permission) can attach: it is not a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShmId(i32);

impl fmt::Display for ShmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ShmId {
    /// The number the kernel gave it.
    pub fn as_raw(self) -> i32 {
        self.0
    }

    /// An id as a user typed it or another process printed it; nothing is checked yet.
    pub fn from_raw(id: i32) -> ShmId {
        ShmId(id)
    }

    pub fn raw(self) -> i32 {
        self.0
    }

    /// Step 1, "locate": the segment that has `key` (`shmget(key, 0, 0)`).
    pub(crate) fn lookup(key: libc::key_t) -> anyhow::Result<ShmId> {
        // SAFETY: shmget takes plain integers and touches no memory of ours.
        let id = unsafe { libc::shmget(key, 0, 0) };
        if id == -1 {
            return Err(SysError::last("shmget"))
                .with_context(|| format!("cannot find a segment with key {}", key_text(key)));
        }
        Ok(ShmId(id))
    }
    /// Step 5: destroy the segment (`shmctl(id, IPC_RMID, NULL)`). It disappears once no process
    /// is attached; until then it is "marked for destruction".
    pub fn remove(self) -> anyhow::Result<()> {
        // SAFETY: IPC_RMID takes no buffer.
        let rc = unsafe { libc::shmctl(self.0, libc::IPC_RMID, std::ptr::null_mut()) };
        if rc == -1 {
            return Err(SysError::last("shmctl"))
                .with_context(|| format!("cannot remove segment {self}"));
        }
        Ok(())
    }

    /// Whether the kernel still has this segment: read from `/proc/sysvipc/shm`, which every user
    /// may read, so it also answers for segments whose status we may not read ourselves.
    pub fn exists(self) -> bool {
        crate::sys::sysvipc_lists("shm", self.0)
    }
}

/// A segment this process created and owns: dropping it destroys it (step 5), unless
/// [`Segment::keep`] hands it over.
#[derive(Debug)]
pub struct Segment {
    id: ShmId,
    removed: bool,
}

impl Segment {
    /// Step 1, "create": `shmget(key, size, IPC_CREAT | perms)`.
    pub fn create(options: &CreateOptions) -> anyhow::Result<Segment> {
        // SAFETY: shmget takes plain integers and touches no memory of ours.
        let id = unsafe { libc::shmget(options.key, options.size, options.flags()) };
        if id == -1 {
            let err = SysError::last("shmget");
            // A limit reached is named here, where the size is known (callers may add their
            // own advice for the other errors).
            let hint = match err.errno {
                Errno::ENOSPC | Errno::EINVAL => {
                    crate::sys::sysv_limit_hint("shm", Some(err.errno), options.size as u64)
                }
                _ => None,
            };
            let err = anyhow::Error::new(err).context(format!(
                "cannot create a {}-byte segment with key {}",
                options.size,
                key_text(options.key)
            ));
            return match hint {
                Some(hint) => Err(err).hint(hint),
                None => Err(err),
            };
        }
        Ok(Segment {
            id: ShmId(id),
            removed: false,
        })
    }

    pub fn id(&self) -> ShmId {
        self.id
    }

    /// Step 5 now (IPC_RMID). Calling it again does nothing. The segment lives on while
    /// attachments remain, and vanishes with the last detach, whoever makes it.
    pub fn remove(&mut self) -> anyhow::Result<()> {
        if !self.removed {
            self.id.remove()?;
            self.removed = true;
        }
        Ok(())
    }

    /// Step 5 as [`Segment::remove`], but a segment someone else removed already (`ipcrm`, or
    /// another process's IPC_RMID, and then the last detach) is no failure: there is nothing
    /// left to destroy. Returns whether this call destroyed it (false: it was gone).
    pub(crate) fn remove_unless_gone(&mut self) -> anyhow::Result<bool> {
        match self.remove() {
            Ok(()) => Ok(true),
            Err(err)
                if matches!(
                    crate::sys::errno_of(&err),
                    Some(Errno::EINVAL) | Some(Errno::EIDRM)
                ) && !self.id.exists() =>
            {
                self.removed = true;
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }

    /// Whether [`Segment::remove`] has marked it already.
    pub(crate) fn is_removed(&self) -> bool {
        self.removed
    }

    /// Give up ownership: the segment outlives this process and this value.
    pub fn keep(mut self) -> ShmId {
        self.removed = true;
        self.id
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.id.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private_segment() -> Segment {
        Segment::create(&CreateOptions::private(layout::SIZE)).expect("create a private segment")
    }

    #[test]
    fn create_attach_write_read_detach_destroy() {
        let mut seg = private_segment();
        let id = seg.id();
        let st = id.stat().unwrap();
        assert_eq!(st.size, 40);
        assert_eq!(st.mode, 0o600);
        assert_eq!(st.attached, 0);
        assert_eq!(st.creator_pid, std::process::id() as i32);
        assert!(!st.marked_for_destruction);

        let master = id.attach(Access::ReadWrite).unwrap();
        let slave = id.attach(Access::ReadWrite).unwrap();
        assert_ne!(master.addr(), slave.addr(), "two mappings, two addresses");
        assert_eq!(id.stat().unwrap().attached, 2);

        layout::clear_flag(&master).unwrap();
        assert!(!layout::is_ready(&master));
        layout::post(&slave, &[5, 7, -9]).unwrap();
        assert!(layout::is_ready(&master));
        assert_eq!(layout::values(&master, 3), vec![5, 7, -9]);

        slave.detach().unwrap();
        assert_eq!(id.stat().unwrap().attached, 1);
        drop(master);
        assert_eq!(id.stat().unwrap().attached, 0);
        seg.remove().unwrap();
        seg.remove().unwrap(); // twice is fine
        assert!(!id.exists());
        assert!(id.stat().is_err());
    }

    #[test]
    fn dropping_the_owner_destroys_and_keep_does_not() {
        let seg = private_segment();
        let id = seg.id();
        assert!(id.exists());
        drop(seg);
        assert!(!id.exists());

        let kept = private_segment().keep();
        assert!(kept.exists());
        kept.remove().unwrap();
        assert!(!kept.exists());
    }

    #[test]
    fn removed_while_attached_is_marked_and_goes_with_the_last_detach() {
        let mut seg = private_segment();
        let id = seg.id();
        let att = id.attach(Access::ReadWrite).unwrap();
        seg.remove().unwrap();
        let st = id.stat().unwrap();
        assert!(st.marked_for_destruction);
        assert_eq!(st.attached, 1);
        assert!(st.to_string().contains("marked for destruction"));
        // Linux still lets a process attach by id.
        let again = id.attach(Access::ReadOnly).unwrap();
        drop(att);
        assert!(id.exists());
        drop(again);
        assert!(!id.exists());
    }

    #[test]
    fn keyed_segment_is_found_by_key_and_exclusive_refuses_a_second() {
        let key = 0x1a00_0000 | (std::process::id() as i32 & 0xffff);
        let opts = CreateOptions {
            key,
            size: 40,
            perms: 0o640,
            exclusive: true,
        };
        let seg = Segment::create(&opts).unwrap();
        assert_eq!(ShmId::lookup(key).unwrap(), seg.id());
        assert_eq!(seg.id().stat().unwrap().mode, 0o640);
        let err = Segment::create(&opts).unwrap_err();
        assert_eq!(crate::sys::errno_of(&err), Some(nix::errno::Errno::EEXIST));
        // Who holds the key, from the table every user may read; a key of one's own is no
        // other user's.
        assert_eq!(
            KeyHolder::of(key),
            Some(KeyHolder {
                id: seg.id(),
                owner_uid: crate::sys::effective_uid(),
                mode: 0o640
            })
        );
        assert_eq!(another_users_key_hint(key), None);
        assert_eq!(
            opts.call_text(),
            format!("shmget({}, 40, IPC_CREAT|IPC_EXCL|0640)", key_text(key))
        );
    }

    #[test]
    fn ftok_is_stable_and_refuses_missing_paths() {
        let a = ftok(Path::new("/"), 1).unwrap();
        assert_eq!(a, ftok(Path::new("/"), 1).unwrap());
        assert_ne!(a, ftok(Path::new("/"), 2).unwrap());
        assert!(ftok(Path::new("/no/such/path/here"), 1).is_err());
        assert!(ftok(Path::new("/"), 0).is_err());
    }

    #[test]
    fn missing_segment_errors_name_the_errno() {
        let err = ShmId::from_raw(i32::MAX)
            .attach(Access::ReadWrite)
            .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            format!(
                "cannot attach segment {}: Invalid argument (EINVAL)",
                i32::MAX
            )
        );
    }

    #[test]
    fn texts() {
        assert_eq!(key_text(IPC_PRIVATE), "IPC_PRIVATE");
        assert_eq!(key_text(0x162e), "0x0000162e");
        assert_eq!(key_text(-1), "0xffffffff");
        assert_eq!(
            CreateOptions::private(40).call_text(),
            "shmget(IPC_PRIVATE, 40, IPC_CREAT|0600)"
        );
    }
}
