//! System V shared memory (lecture notes, section B1) as safe types.
//!
//! The notes list five steps; the types carry them so that the last two cannot be forgotten:
//!
//! | step | the notes                      | here                                            |
//! |------|--------------------------------|-------------------------------------------------|
//! | 1    | create or locate M             | [`Segment::create`] (owner), [`ShmId::lookup`]  |
//! | 2    | attach M                       | [`ShmId::attach`] returns an [`Attachment`]     |
//! | 3    | read from or write to M        | [`Attachment::load`], [`Attachment::store`]     |
//! | 4    | detach M                       | [`Attachment::detach`], or dropping it          |
//! | 5    | destroy M                      | [`Segment::remove`], or dropping the owner      |
//!
//! Memory another process writes is only touched through atomics, never through `&mut`.
//! The layout the notes' master and slave agree on lives in [`layout`].

use std::ffi::CString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use anyhow::Context as _;

use crate::sys::{SysError, local_time};
use crate::ui::HintExt as _;
use nix::errno::Errno;

/// The key that asks for a new segment no other process can look up by key.
pub const IPC_PRIVATE: libc::key_t = libc::IPC_PRIVATE;

/// Linux marks a segment that IPC_RMID was called on, but which is still attached, with this bit
/// of `shm_perm.mode` (`SHM_DEST` in linux/shm.h; the libc crate does not export it).
const SHM_DEST: u32 = 0o1000;

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
pub fn another_users_key_hint(key: libc::key_t) -> Option<String> {
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
    pub fn flags_text(&self) -> String {
        let excl = if self.exclusive { "IPC_EXCL|" } else { "" };
        format!("IPC_CREAT|{excl}{:04o}", self.perms & 0o777)
    }

    /// The call as C source writes it: `shmget(IPC_PRIVATE, 40, IPC_CREAT|0600)`.
    pub fn call_text(&self) -> String {
        format!(
            "shmget({}, {}, {})",
            key_text(self.key),
            self.size,
            self.flags_text()
        )
    }
}

/// Read-write, or read-only (`SHM_RDONLY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
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
    pub fn lookup(key: libc::key_t) -> anyhow::Result<ShmId> {
        // SAFETY: shmget takes plain integers and touches no memory of ours.
        let id = unsafe { libc::shmget(key, 0, 0) };
        if id == -1 {
            return Err(SysError::last("shmget"))
                .with_context(|| format!("cannot find a segment with key {}", key_text(key)));
        }
        Ok(ShmId(id))
    }

    /// The segment's status (`shmctl(id, IPC_STAT, &buf)`); needs read permission.
    pub fn stat(self) -> anyhow::Result<Status> {
        // SAFETY: shmid_ds is plain old data, so all zeroes is a valid value.
        let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: ds is a valid, writable shmid_ds for the kernel to fill in.
        let rc = unsafe { libc::shmctl(self.0, libc::IPC_STAT, &mut ds) };
        if rc == -1 {
            return Err(SysError::last("shmctl"))
                .with_context(|| format!("cannot read the status of segment {self}"));
        }
        Ok(Status::from_ds(self, &ds))
    }

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
    pub fn remove_unless_gone(&mut self) -> anyhow::Result<bool> {
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
    pub fn is_removed(&self) -> bool {
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

/// What [`Attachment::write_bytes`] and [`Attachment::read_bytes`] move per volatile access:
/// a 16-byte vector register where there is one (x86_64 always has SSE2), else two words.
#[cfg(target_arch = "x86_64")]
type Lane = std::arch::x86_64::__m128i;
#[cfg(not(target_arch = "x86_64"))]
type Lane = [u64; 2];
const LANE: usize = std::mem::size_of::<Lane>();
/// Lanes per block: a block is one cache line, loaded in full before it is stored, so that the
/// loads of a block overlap (a volatile copy lane by lane runs at half memcpy's speed; by
/// blocks it keeps up with it).
const LANES: usize = 4;
const BLOCK: usize = LANE * LANES;

/// For a copy of `len` bytes to or from shared address `addr`: how many bytes come before the
/// first lane boundary (done one at a time), and how many whole blocks follow them. What is
/// left after the blocks goes lane by lane, then byte by byte.
fn split(addr: usize, len: usize) -> (usize, usize) {
    let head = (addr.next_multiple_of(LANE) - addr).min(len);
    (head, (len - head) / BLOCK)
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
    pub fn as_atomics(&self) -> Option<&[AtomicI32]> {
        (self.access == Access::ReadWrite).then(|| self.atomics())
    }

    /// The words of a read-write attachment as 64-bit atomics (a counter that must not wrap,
    /// a record of sequence numbers); None when attached read-only.
    pub fn as_atomics_u64(&self) -> Option<&[AtomicU64]> {
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

    /// Copy `src` into the segment from byte `offset` on, with volatile stores (bytes up to a
    /// 16-byte boundary, then a cache line at a time, then 16 bytes, then bytes): the way to fill a
    /// buffer that another process reads once a flag or a semaphore says it may. Fails past
    /// the end or on a read-only attachment.
    pub fn write_bytes(&self, offset: usize, src: &[u8]) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.access == Access::ReadWrite,
            "segment {} is attached read-only",
            self.id
        );
        self.check_range(offset, src.len())?;
        // SAFETY: offset is within the mapping (checked above).
        let dst = unsafe { self.addr.as_ptr().cast::<u8>().add(offset) };
        let (head, blocks) = split(dst as usize, src.len());
        let lanes_end = head + blocks * BLOCK + (src.len() - head - blocks * BLOCK) / LANE * LANE;
        for i in (0..head).chain(lanes_end..src.len()) {
            // SAFETY: one byte within the mapping, which is writable. A volatile store makes no
            // reference to memory another process may touch.
            unsafe { dst.add(i).write_volatile(src[i]) };
        }
        let lane_at = |i: usize| {
            // SAFETY: the caller keeps i + LANE within src, a valid slice of ours, which is
            // read unaligned.
            unsafe { src.as_ptr().add(i).cast::<Lane>().read_unaligned() }
        };
        let mut i = head;
        while i + BLOCK <= lanes_end {
            let block: [Lane; LANES] = std::array::from_fn(|k| lane_at(i + k * LANE));
            for (k, lane) in block.into_iter().enumerate() {
                // SAFETY: the lane is within the mapping (i + BLOCK <= len) and LANE-aligned
                // (`split`).
                unsafe { dst.add(i + k * LANE).cast::<Lane>().write_volatile(lane) };
            }
            i += BLOCK;
        }
        while i < lanes_end {
            // SAFETY: as for a block's lanes.
            unsafe { dst.add(i).cast::<Lane>().write_volatile(lane_at(i)) };
            i += LANE;
        }
        Ok(())
    }

    /// Copy from the segment, from byte `offset` on, into `dst`, with volatile loads (as
    /// [`Attachment::write_bytes`] stores). Fails past the end.
    pub fn read_bytes(&self, offset: usize, dst: &mut [u8]) -> anyhow::Result<()> {
        self.check_range(offset, dst.len())?;
        // SAFETY: offset is within the mapping (checked above).
        let src = unsafe { self.addr.as_ptr().cast::<u8>().cast_const().add(offset) };
        let (head, blocks) = split(src as usize, dst.len());
        let lanes_end = head + blocks * BLOCK + (dst.len() - head - blocks * BLOCK) / LANE * LANE;
        for i in (0..head).chain(lanes_end..dst.len()) {
            // SAFETY: one byte within the mapping.
            dst[i] = unsafe { src.add(i).read_volatile() };
        }
        let out = dst.as_mut_ptr();
        let mut i = head;
        while i + BLOCK <= lanes_end {
            let block: [Lane; LANES] = std::array::from_fn(|k| {
                // SAFETY: the lane is within the mapping (i + BLOCK <= len) and LANE-aligned
                // (`split`).
                unsafe { src.add(i + k * LANE).cast::<Lane>().read_volatile() }
            });
            for (k, lane) in block.into_iter().enumerate() {
                // SAFETY: within dst, a valid, writable slice of ours, written unaligned.
                unsafe { out.add(i + k * LANE).cast::<Lane>().write_unaligned(lane) };
            }
            i += BLOCK;
        }
        while i < lanes_end {
            // SAFETY: as for a block's lanes.
            unsafe {
                let lane = src.add(i).cast::<Lane>().read_volatile();
                out.add(i).cast::<Lane>().write_unaligned(lane);
            }
            i += LANE;
        }
        Ok(())
    }

    fn check_range(&self, offset: usize, len: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "bytes {offset} to {} are past the end of segment {} ({} bytes)",
            offset.saturating_add(len),
            self.id,
            self.len
        );
        Ok(())
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

/// What `shmctl(IPC_STAT)` tells about a segment (`ipcs -m -i ID` shows the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub id: ShmId,
    pub key: libc::key_t,
    pub size: usize,
    /// Permission bits (0o600).
    pub mode: u32,
    /// IPC_RMID was called while processes were still attached.
    pub marked_for_destruction: bool,
    pub owner_uid: u32,
    pub owner_gid: u32,
    pub creator_uid: u32,
    /// The process that created it.
    pub creator_pid: i32,
    /// The last process that attached or detached.
    pub last_pid: i32,
    /// How many attachments there are, across all processes.
    pub attached: u64,
    /// Unix times of the last attach, last detach (None: never) and last change.
    pub attach_time: Option<i64>,
    pub detach_time: Option<i64>,
    pub change_time: i64,
}

impl Status {
    fn from_ds(id: ShmId, ds: &libc::shmid_ds) -> Status {
        let mode = u32::from(ds.shm_perm.mode);
        let when = |t: libc::time_t| (t != 0).then_some(t);
        Status {
            id,
            key: ds.shm_perm.__key,
            size: ds.shm_segsz,
            mode: mode & 0o777,
            marked_for_destruction: mode & SHM_DEST != 0,
            owner_uid: ds.shm_perm.uid,
            owner_gid: ds.shm_perm.gid,
            creator_uid: ds.shm_perm.cuid,
            creator_pid: ds.shm_cpid,
            last_pid: ds.shm_lpid,
            attached: ds.shm_nattch,
            attach_time: when(ds.shm_atime),
            detach_time: when(ds.shm_dtime),
            change_time: ds.shm_ctime,
        }
    }
}

impl Status {
    /// What makes this segment unsafe to write for user `uid`, who expects `size` bytes made
    /// by themselves (`shm-slave --check`): another size (not the segment expected), another
    /// owner or creator (who could read or rewrite it at will), or permission bits that let
    /// group or others in (who could forge the values or the ready flag). Empty when none.
    pub fn trust_problems(&self, size: usize, uid: u32) -> Vec<String> {
        let mut problems = Vec::new();
        if self.size != size {
            problems.push(format!(
                "it is {} bytes, not the {size} bytes expected",
                self.size
            ));
        }
        if self.owner_uid != uid || self.creator_uid != uid {
            problems.push(format!(
                "it belongs to uid {} (created by uid {}), not to you (uid {uid})",
                self.owner_uid, self.creator_uid
            ));
        }
        if self.mode & 0o077 != 0 {
            problems.push(match crate::sys::others_access(self.mode) {
                Some(who) => format!("its mode {:04o} lets {who} it", self.mode),
                // Execute bits only: they give no access to a segment, yet it is not the mode
                // this user's master makes.
                None => format!(
                    "its mode {:04o} has group or other bits set (expected 0600)",
                    self.mode
                ),
            });
        }
        problems
    }
}

impl fmt::Display for Status {
    /// One line for `--inspect`:
    /// `segment 7: key IPC_PRIVATE, 40 bytes, mode 0600, owner uid 1000, creator pid 4242,
    /// last attach/detach by pid 4242, nattch 1, attached 10:00:01, detached never, changed 10:00:00`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = |t: Option<i64>| t.map_or_else(|| "never".to_string(), local_time);
        write!(
            f,
            "segment {}: key {}, {} bytes, mode {:04o}, owner uid {}, creator pid {}, \
             last attach/detach by pid {}, nattch {}, attached {}, detached {}, changed {}",
            self.id,
            key_text(self.key),
            self.size,
            self.mode,
            self.owner_uid,
            self.creator_pid,
            self.last_pid,
            self.attached,
            time(self.attach_time),
            time(self.detach_time),
            local_time(self.change_time),
        )?;
        if self.marked_for_destruction {
            write!(f, ", marked for destruction (it goes with the last detach)")?;
        }
        Ok(())
    }
}

/// The memory layout the notes' master and slave agree on: ten native-endian `int`s (40 bytes).
/// Word 0 is the ready flag; words 1 to N hold the values.
///
/// The writer stores the values first and sets the flag last with a release store; the reader
/// loads the flag with an acquire load. So a reader that sees the flag set sees every value.
pub mod layout {
    use super::*;

    /// The size the notes' master asks for: `shmget(IPC_PRIVATE, 40, ...)`.
    pub const SIZE: usize = 40;
    /// Ten `int`s.
    pub const WORDS: usize = SIZE / std::mem::size_of::<i32>();
    /// `shm[0]`: 0 while the master waits, 1 once the slave has written.
    pub const FLAG: usize = 0;
    /// Values fit after the flag.
    pub const MAX_VALUES: usize = WORDS - 1;
    /// What the notes' programs exchange.
    pub const DEFAULT_VALUES: usize = 3;

    /// The bytes the flag and `count` values need.
    pub fn bytes_needed(count: usize) -> usize {
        (count + 1) * std::mem::size_of::<i32>()
    }

    /// The master's `shm[0] = 0`.
    pub fn clear_flag(att: &Attachment) -> anyhow::Result<()> {
        att.store(FLAG, 0, Ordering::Release)
    }

    /// Whether the slave has set the flag (acquire load: the values are visible once it is).
    pub fn is_ready(att: &Attachment) -> bool {
        att.load(FLAG, Ordering::Acquire)
            .is_some_and(|flag| flag != 0)
    }

    /// The slave's writes: `shm[i+1] = value` for each value, then `shm[0] = 1` (release).
    pub fn post(att: &Attachment, values: &[i32]) -> anyhow::Result<()> {
        anyhow::ensure!(
            att.len() >= bytes_needed(values.len()),
            "segment {} is {} bytes, too small for the flag and {} values ({} bytes)",
            att.id(),
            att.len(),
            values.len(),
            bytes_needed(values.len())
        );
        for (i, value) in values.iter().enumerate() {
            att.store(i + 1, *value, Ordering::Relaxed)?;
        }
        att.store(FLAG, 1, Ordering::Release)
    }

    /// The master's reads: `shm[1]` to `shm[count]`, after [`is_ready`] said yes.
    pub fn values(att: &Attachment, count: usize) -> Vec<i32> {
        (1..=count)
            .filter_map(|i| att.load(i, Ordering::Relaxed))
            .collect()
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

    #[test]
    fn post_refuses_a_segment_too_small() {
        let seg = Segment::create(&CreateOptions::private(8)).unwrap();
        let att = seg.id().attach(Access::ReadWrite).unwrap();
        let err = layout::post(&att, &[1, 2, 3]).unwrap_err();
        assert!(err.to_string().contains("too small"), "{err}");
        assert!(!layout::is_ready(&att), "nothing written");
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
    fn trust_problems_name_size_owner_and_mode() {
        let seg = Segment::create(&CreateOptions::private(40)).unwrap();
        let st = seg.id().stat().unwrap();
        let me = nix::unistd::geteuid().as_raw();
        assert!(st.trust_problems(40, me).is_empty());
        assert_eq!(
            st.trust_problems(48, me),
            ["it is 40 bytes, not the 48 bytes expected"]
        );
        let other = st.trust_problems(40, me + 1);
        assert_eq!(other.len(), 1);
        assert!(
            other[0].contains(&format!("not to you (uid {})", me + 1)),
            "{other:?}"
        );
        for (mode, text) in [
            (
                0o666,
                "its mode 0666 lets its group and every other user read and write it",
            ),
            (
                0o644,
                "its mode 0644 lets its group and every other user read it",
            ),
            (0o620, "its mode 0620 lets its group write it"),
            (
                0o642,
                "its mode 0642 lets its group read and every other user write it",
            ),
            (0o604, "its mode 0604 lets every other user read it"),
        ] {
            let open = Status { mode, ..st.clone() };
            assert_eq!(open.trust_problems(40, me), [text]);
        }
    }

    #[test]
    fn bytes_in_and_out_at_any_offset_and_length() {
        let seg = Segment::create(&CreateOptions::private(4096)).unwrap();
        let rw = seg.id().attach(Access::ReadWrite).unwrap();
        let ro = seg.id().attach(Access::ReadOnly).unwrap();
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        // Every alignment of the segment side and of our side, and lengths that end in the
        // head, in a block, in the lanes after the blocks and in the tail bytes.
        for offset in 0..20 {
            for ours in 0..3 {
                for len in [
                    0,
                    1,
                    5,
                    15,
                    16,
                    17,
                    63,
                    64,
                    65,
                    80,
                    127,
                    128,
                    143,
                    200,
                    999 - ours,
                ] {
                    let src = &data[ours..ours + len];
                    rw.write_bytes(0, &[0xee; 1024]).unwrap();
                    rw.write_bytes(offset, src).unwrap();
                    let mut back = vec![0u8; len + ours];
                    ro.read_bytes(offset, &mut back[ours..]).unwrap();
                    assert_eq!(
                        &back[ours..],
                        src,
                        "offset {offset}, ours +{ours}, len {len}"
                    );
                    let mut around = [0u8; 1];
                    if offset > 0 {
                        ro.read_bytes(offset - 1, &mut around).unwrap();
                        assert_eq!(around, [0xee], "byte before, offset {offset}, len {len}");
                    }
                    ro.read_bytes(offset + len, &mut around).unwrap();
                    assert_eq!(around, [0xee], "byte after, offset {offset}, len {len}");
                }
            }
        }
        let mut one = [0u8; 1];
        ro.read_bytes(4095, &mut one).unwrap();
        assert!(ro.read_bytes(4095, &mut [0u8; 2]).is_err());
        assert!(rw.write_bytes(4000, &data).is_err());
        assert!(ro.write_bytes(0, &data).is_err());
        assert!(rw.read_bytes(usize::MAX, &mut one).is_err());
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
        assert_eq!(layout::WORDS, 10);
        assert_eq!(layout::MAX_VALUES, 9);
        assert_eq!(layout::bytes_needed(3), 16);
    }
}
