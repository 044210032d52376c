//! Steps 2 to 4 of the notes: attach M to the process memory space, read from or write to it,
//! detach it. [`ShmId::attach`] returns an [`Attachment`], a guard whose `Drop` detaches.
//!
//! The memory is shared with other processes, so it is only reached through atomics and
//! volatile copies, never through a Rust reference to plain data (`&mut` least of all).

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
}
