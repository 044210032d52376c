//! Steps 2 to 4 of the notes: attach M to the process memory space, read from or write to it,
//! detach it. [`ShmId::attach`] returns an [`Attachment`], a guard whose `Drop` detaches.
//!
//! The memory is shared with other processes, so it is only reached through atomics (and the
//! ring's copies of slots handed over by atomics, `ring.rs`), never through a Rust reference to
//! plain data (`&mut` least of all).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use anyhow::Context as _;
use nix::errno::Errno;

use super::ShmId;
use crate::sys::SysError;
use crate::ui::HintExt as _;

/// Read-write, or read-only (`SHM_RDONLY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

impl ShmId {
    /// Step 2: map the segment into this process (`shmat(id, NULL, flags)`).
    pub fn attach(self, access: Access) -> anyhow::Result<Attachment> {
        let flags = match access {
            Access::ReadWrite => 0,
            Access::ReadOnly => libc::SHM_RDONLY,
        };
        // SAFETY: a null address lets the kernel choose where to map; no memory of ours is
        // touched by the call itself.
        let addr = unsafe { libc::shmat(self.0, std::ptr::null(), flags) };
        if addr as isize == -1 {
            let err = SysError::last("shmat");
            let own_mode = (err.errno == Errno::EACCES)
                .then(|| self.own_mode_hint(access))
                .flatten();
            let err = Err(err).with_context(|| format!("cannot attach segment {self}"));
            return match own_mode {
                Some(hint) => err.hint(hint),
                None => err,
            };
        }
        let addr = NonNull::new(addr).context("shmat returned a null address")?;
        let mut attachment = Attachment {
            id: self,
            addr,
            len: 0,
            access,
            attached: true,
        };
        // The size comes from the kernel, not from what the caller believes.
        attachment.len = self.stat()?.size;
        Ok(attachment)
    }

    /// For a segment of this user's own that refused an attach (EACCES): its mode keeps out its
    /// owner too (`--perms 400` and a read-write attach, say). Read from /proc/sysvipc/shm, which
    /// needs no permission on the segment. None for another user's segment: the caller knows
    /// best what to say of that.
    fn own_mode_hint(self, access: Access) -> Option<String> {
        let row = crate::sys::sysvipc_rows("shm")
            .into_iter()
            .find(|f| f.get(1).is_some_and(|id| *id == self.0.to_string()))?;
        // key shmid perms size cpid lpid nattch uid ...
        let mode = u32::from_str_radix(row.get(2)?, 8).ok()? & 0o777;
        let uid: u32 = row.get(7)?.parse().ok()?;
        if uid != crate::sys::effective_uid() {
            return None;
        }
        let (needs, call) = match access {
            Access::ReadWrite => ("read and write", "a read-write shmat"),
            Access::ReadOnly => ("read", "shmat with SHM_RDONLY"),
        };
        Some(format!(
            "segment {self} is yours, but its mode {mode:04o} does not let even its owner {needs} it, which {call} needs: make it with --perms 600"
        ))
    }
}

/// A segment mapped into this process (step 2). Dropping it detaches (step 4).
///
/// The memory is shared with other processes, so it is only reached through atomic loads and
/// stores of 32-bit words (the C programs' `int`), never through a Rust reference to plain data.
#[derive(Debug)]
pub struct Attachment {
    id: ShmId,
    addr: NonNull<libc::c_void>,
    len: usize,
    access: Access,
    attached: bool,
}

impl Attachment {
    pub fn id(&self) -> ShmId {
        self.id
    }

    /// Where the segment is mapped in this process; another process sees it elsewhere.
    pub fn addr(&self) -> usize {
        self.addr.as_ptr() as usize
    }

    /// Where the mapping starts, for the safe types of this module that copy into it.
    pub(super) fn base(&self) -> *mut u8 {
        self.addr.as_ptr().cast()
    }

    /// The segment's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn access(&self) -> Access {
        self.access
    }

    /// How many whole 32-bit words the segment holds.
    pub fn words(&self) -> usize {
        self.len / std::mem::size_of::<i32>()
    }

    fn atomics(&self) -> &[AtomicI32] {
        // SAFETY: the mapping is `len` bytes long, page-aligned (so aligned for i32), and stays
        // mapped while `self` lives: the slice cannot outlive the borrow of `self`. Other
        // processes may write to it at any time, which is exactly what atomics allow; we never
        // create a non-atomic reference to it.
        unsafe { std::slice::from_raw_parts(self.addr.as_ptr().cast::<AtomicI32>(), self.words()) }
    }

    /// The word at `index` (an `int` in the C programs), or None past the end.
    pub fn load(&self, index: usize, order: Ordering) -> Option<i32> {
        self.atomics().get(index).map(|w| w.load(order))
    }

    /// Store `value` in the word at `index`. Fails past the end or on a read-only attachment
    /// (where the CPU would fault).
    pub fn store(&self, index: usize, value: i32, order: Ordering) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.access == Access::ReadWrite,
            "segment {} is attached read-only",
            self.id
        );
        let word = self.atomics().get(index).with_context(|| {
            format!(
                "word {index} is past the end of segment {} ({} bytes)",
                self.id, self.len
            )
        })?;
        word.store(value, order);
        Ok(())
    }

    /// The words of a read-write attachment as atomics, for read-modify-write operations
    /// (`fetch_add`, `compare_exchange`); None when attached read-only.
    pub(crate) fn as_atomics(&self) -> Option<&[AtomicI32]> {
        (self.access == Access::ReadWrite).then(|| self.atomics())
    }

    /// The words of a read-write attachment as 64-bit atomics (a counter that must not wrap,
    /// a record of sequence numbers); None when attached read-only.
    pub(crate) fn as_atomics_u64(&self) -> Option<&[AtomicU64]> {
        (self.access == Access::ReadWrite).then(|| {
            // SAFETY: as for `atomics`: the mapping is page-aligned (so aligned for u64), at
            // least `len / 8 * 8` bytes long and mapped while `self` lives; other processes
            // may write it at any time, which atomics allow.
            unsafe {
                std::slice::from_raw_parts(
                    self.addr.as_ptr().cast::<AtomicU64>(),
                    self.len / std::mem::size_of::<u64>(),
                )
            }
        })
    }

    /// Step 4: unmap the segment (`shmdt(addr)`).
    pub fn detach(mut self) -> anyhow::Result<()> {
        self.detach_now()
    }

    fn detach_now(&mut self) -> anyhow::Result<()> {
        if !self.attached {
            return Ok(());
        }
        self.attached = false;
        // SAFETY: addr is what shmat returned and has not been detached; every slice made from
        // it borrowed `self`, so none is alive here.
        let rc = unsafe { libc::shmdt(self.addr.as_ptr()) };
        if rc == -1 {
            return Err(SysError::last("shmdt"))
                .with_context(|| format!("cannot detach segment {}", self.id));
        }
        Ok(())
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let _ = self.detach_now();
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CreateOptions, Segment, layout};
    use super::*;

    fn private_segment() -> Segment {
        Segment::create(&CreateOptions::private(layout::SIZE)).expect("create a private segment")
    }

    #[test]
    fn read_only_attachment_refuses_stores() {
        let seg = private_segment();
        let rw = seg.id().attach(Access::ReadWrite).unwrap();
        let ro = seg.id().attach(Access::ReadOnly).unwrap();
        rw.store(3, 42, Ordering::Release).unwrap();
        assert_eq!(ro.load(3, Ordering::Acquire), Some(42));
        assert!(ro.store(3, 1, Ordering::Release).is_err());
        assert!(ro.as_atomics().is_none());
        assert_eq!(rw.as_atomics().map(<[_]>::len), Some(10));
        assert_eq!(ro.load(10, Ordering::Relaxed), None, "past the end");
        assert!(rw.store(10, 1, Ordering::Relaxed).is_err());
    }
}
