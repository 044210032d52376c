//! Named pipes (FIFOs), the safe types: what is at a path, looked at once and held by a handle
//! (`O_PATH|O_NOFOLLOW`, then `fstat`), a FIFO made exclusively with `mkfifo`, and its ends opened
//! through the handle, so that nobody can swap the path in between. The lessons that use them are
//! [`fifo`](super::fifo) (`fifo-read`, `fifo-write`) and [`anon`](super::anon). Safe code only:
//! nix wraps every call it makes.

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use anyhow::Context as _;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::sys;
use crate::sys::SysError;

/// What is at a path, looked at once: the object itself (not a link to it), held open, so that
/// every check and the open that follows are about this one object, whatever the path is made to
/// name meanwhile.
#[derive(Debug)]
pub(crate) struct FoundFifo {
    /// `open(path, O_PATH|O_NOFOLLOW)`: a handle on the object that allows no read or write.
    handle: OwnedFd,
    /// The owner's uid and the permission bits (fstat on the handle).
    pub owner: u32,
    pub mode: u32,
    dev: u64,
    ino: u64,
}

/// Where a FIFO's path leads, for [`find_fifo`].
#[derive(Debug)]
pub(crate) enum AtPath {
    /// Nothing is there: it may be made.
    Nothing,
    /// A FIFO, held.
    Fifo(FoundFifo),
}

/// Look at `path` once, without following a symbolic link (`O_PATH|O_NOFOLLOW`, then `fstat` on
/// that descriptor): a FIFO, nothing, or an error that names what is there instead. A check of
/// the path followed by an open by name would let another user swap the path for a link to a
/// file of yours in between; a check of the descriptor cannot be fooled so.
pub(crate) fn find_fifo(path: &Path) -> anyhow::Result<AtPath> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let handle = match nix::fcntl::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(AtPath::Nothing),
        Err(errno) => {
            return Err(SysError {
                call: "open",
                errno,
            })
            .with_context(|| format!("cannot look at {}", path.display()));
        }
    };
    let st = nix::sys::stat::fstat(handle.as_fd())
        .map_err(sys("fstat"))
        .with_context(|| format!("cannot fstat {}", path.display()))?;
    match st.st_mode as libc::mode_t & libc::S_IFMT {
        libc::S_IFIFO => Ok(AtPath::Fifo(FoundFifo {
            handle,
            owner: st.st_uid,
            mode: st.st_mode as u32 & 0o777,
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
        })),
        libc::S_IFLNK => anyhow::bail!(
            "{} is a symbolic link, which is not followed (another user could point it at a file of yours): give the FIFO's own path, or a new path (it will be made)",
            path.display()
        ),
        _ => anyhow::bail!(
            "{} exists and is not a FIFO: give a new path (it will be made) or a FIFO",
            path.display()
        ),
    }
}

/// `mkfifo(path, mode)`: make a FIFO, exclusively (it fails with EEXIST if anything is there),
/// and hold it as [`find_fifo`] does. What is found at the path afterwards must be a FIFO of
/// this user's, or the path was taken over at once, which is an error.
pub(crate) fn make_fifo(path: &Path, mode: u32) -> anyhow::Result<FoundFifo> {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(mode as _))
        .map_err(sys("mkfifo"))
        .with_context(|| format!("cannot create the FIFO {}", path.display()))?;
    match find_fifo(path)? {
        AtPath::Fifo(fifo) if fifo.owner == crate::sys::effective_uid() => Ok(fifo),
        _ => anyhow::bail!(
            "{} was replaced right after it was made: another user may be at work in that directory",
            path.display()
        ),
    }
}

/// The owner of whatever is at `path` (not following a link), for an error that names it.
pub(crate) fn owner_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|m| m.uid())
}

impl FoundFifo {
    /// The descriptor number of the handle, for narration.
    pub(crate) fn handle_number(&self) -> RawFd {
        self.handle.as_raw_fd()
    }

    /// Open one end of this very FIFO: `open("/proc/self/fd/N", O_RDONLY or O_WRONLY)` reopens
    /// the object the handle holds, whatever the path names now. Without `nonblock` this waits
    /// until the other end is opened too, and a termination signal (handlers without
    /// SA_RESTART) ends the wait: `Ok(None)`. With `nonblock` it returns at once for reading,
    /// and fails with `ENXIO` for writing unless a reader has it open already.
    pub fn open(&self, write: bool, nonblock: bool) -> anyhow::Result<Option<OwnedFd>> {
        let mut flags = if write {
            OFlag::O_WRONLY
        } else {
            OFlag::O_RDONLY
        } | OFlag::O_CLOEXEC;
        if nonblock {
            flags |= OFlag::O_NONBLOCK;
        }
        let link = self.reopen_path();
        match nix::fcntl::open(link.as_str(), flags, Mode::empty()) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::EINTR) if !nonblock => Ok(None),
            Err(errno) => Err(SysError {
                call: "open",
                errno,
            })
            .with_context(|| format!("cannot open the FIFO (through {link})")),
        }
    }

    /// The path that reopens the handle's object: `/proc/self/fd/N`.
    pub(crate) fn reopen_path(&self) -> String {
        format!("/proc/self/fd/{}", self.handle.as_raw_fd())
    }

    /// Whether `path` still names this very FIFO (same device and inode), without following a
    /// link: so that a FIFO this run made is removed only while it is still the one it made.
    pub(crate) fn is_at(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(path).is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino)
    }

    /// The warning for a FIFO another user owns and opened to others, in chapter 5's words.
    pub(crate) fn exposure(&self, path: &Path) -> Option<String> {
        crate::sys::exposure_warning(
            &format!("FIFO {}", path.display()),
            self.owner,
            self.mode,
            crate::sys::effective_uid(),
            "read what is written into it",
            "write into it what its reader reads",
        )
    }
}
