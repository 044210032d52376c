//! A ring of message slots in a segment, with one writer and one reader (each in a process of
//! its own): the writer copies a message into the next free slot and then publishes it by
//! storing how many messages it has written; the reader waits for that count to pass the
//! messages it has read, copies the next one out, and frees its slot by storing how many it has
//! read. `ipc-bench`'s `shm-spin` and `shm-sem` stream through it.
//!
//! Each slot belongs to one side at a time, and the two counts hand it over: the writer fills a
//! slot only after an acquire load of the read count showed it freed, the reader copies a slot
//! out only after an acquire load of the write count showed it filled, and each hands the slot
//! back with a release store of its own count. So while a side copies, nobody else touches
//! those bytes, and the copy can be a plain `memcpy` (`copy_nonoverlapping`) instead of volatile
//! accesses: no data race, and no Rust reference to the shared bytes is made.
//!
//! Only one writer and one reader may use a ring at a time, and the ring checks it: each end
//! claims its side with a compare-and-swap on a word of the segment when it is made (before the
//! fork or after it, but in one process only), and releases it when dropped.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Access, Attachment};

/// Where a ring lies in a segment, in bytes from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingLayout {
    /// Two 8-byte words the writer writes: the messages written, then the writer's claim (best
    /// on a cache line only the writer writes).
    pub written: usize,
    /// Two 8-byte words the reader writes: the messages read, then the reader's claim.
    pub read: usize,
    /// The first slot; slots follow each other every `stride` bytes.
    pub data: usize,
    /// Bytes from one slot to the next: at least the largest message.
    pub stride: usize,
    /// How many slots.
    pub slots: usize,
}

/// The two count words of one side (its count, then its claim) and the slots.
struct Side<'a> {
    count: &'a AtomicU64,
    claim: &'a AtomicU64,
    /// The other side's count.
    other: &'a AtomicU64,
    /// The first slot, within the attachment `'a` borrows.
    data: NonNull<u8>,
    stride: usize,
    slots: usize,
}

impl<'a> Side<'a> {
    fn claim(
        att: &'a Attachment,
        ring: &RingLayout,
        own: usize,
        other: usize,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            att.access() == Access::ReadWrite,
            "segment {} is attached read-only: a ring needs read-write",
            att.id()
        );
        anyhow::ensure!(
            ring.slots > 0 && ring.stride > 0,
            "a ring needs a slot of a byte at least"
        );
        let words = att.as_atomics_u64().unwrap_or_default();
        let word = |offset: usize| {
            anyhow::ensure!(
                offset.is_multiple_of(8) && offset / 8 + 1 < words.len(),
                "the ring's count words at byte {offset} are not two aligned words of segment {} ({} bytes)",
                att.id(),
                att.len()
            );
            Ok((&words[offset / 8], &words[offset / 8 + 1]))
        };
        let end = ring
            .slots
            .checked_mul(ring.stride)
            .and_then(|bytes| bytes.checked_add(ring.data));
        let Some(end) = end.filter(|end| *end <= att.len()) else {
            anyhow::bail!(
                "the ring's slots are past the end of segment {} ({} bytes)",
                att.id(),
                att.len()
            );
        };
        // The slots are copied with plain memcpy: no count word may lie among them.
        anyhow::ensure!(
            [own, other]
                .iter()
                .all(|&word| word.saturating_add(16) <= ring.data || word >= end),
            "the ring's count words lie among its slots (bytes {} to {end})",
            ring.data
        );
        let (count, claim) = word(own)?;
        let (other, _) = word(other)?;
        let me = u64::from(std::process::id());
        claim
            .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|pid| anyhow::anyhow!("process {pid} already holds this end of the ring"))?;
        // SAFETY: data <= len (checked above), so the pointer stays within the mapping, which
        // is not null.
        let data = unsafe { NonNull::new_unchecked(att.base().add(ring.data)) };
        Ok(Side {
            count,
            claim,
            other,
            data,
            stride: ring.stride,
            slots: ring.slots,
        })
    }

    /// The slot of message `index` (counted from 0, wrapping at `slots`).
    fn slot(&self, index: usize) -> *mut u8 {
        // SAFETY: index < slots, and the slots lie within the mapping (checked in `claim`).
        unsafe { self.data.as_ptr().add(index * self.stride) }
    }
}

impl Drop for Side<'_> {
    fn drop(&mut self) {
        self.claim.store(0, Ordering::Release);
    }
}

/// The writer's end of a ring.
pub struct RingWriter<'a> {
    side: Side<'a>,
    written: u64,
    /// The reader's count as last seen: it only grows, so the slots it freed stay free.
    freed: u64,
    next: usize,
}

/// The reader's end of a ring.
pub struct RingReader<'a> {
    side: Side<'a>,
    read: u64,
    /// The writer's count as last seen.
    available: u64,
    next: usize,
}

impl Attachment {
    /// The writer's end of the ring at `ring`. Fails if the ring does not fit the segment, the
    /// attachment is read-only, or another writer holds the ring.
    pub(crate) fn ring_writer(&self, ring: &RingLayout) -> anyhow::Result<RingWriter<'_>> {
        let side = Side::claim(self, ring, ring.written, ring.read)?;
        let written = side.count.load(Ordering::Acquire);
        Ok(RingWriter {
            freed: side.other.load(Ordering::Acquire),
            next: (written % ring.slots as u64) as usize,
            written,
            side,
        })
    }

    /// The reader's end of the ring at `ring` (as [`Attachment::ring_writer`]).
    pub(crate) fn ring_reader(&self, ring: &RingLayout) -> anyhow::Result<RingReader<'_>> {
        let side = Side::claim(self, ring, ring.read, ring.written)?;
        let read = side.count.load(Ordering::Acquire);
        Ok(RingReader {
            available: side.other.load(Ordering::Acquire),
            next: (read % ring.slots as u64) as usize,
            read,
            side,
        })
    }
}

impl RingWriter<'_> {
    /// How many messages this ring holds at most.
    pub fn slots(&self) -> usize {
        self.side.slots
    }

    /// Copy `msg` into the next slot and publish it; false, with nothing done, while the ring
    /// is full. Fails if `msg` is longer than a slot.
    pub(crate) fn try_send(&mut self, msg: &[u8]) -> anyhow::Result<bool> {
        let side = &self.side;
        anyhow::ensure!(
            msg.len() <= side.stride,
            "a message of {} bytes does not fit a slot of {}",
            msg.len(),
            side.stride
        );
        // The reader's count is only looked at when the ring may be full: every look at a word
        // the other CPU writes costs a cache-line transfer.
        if self.written - self.freed >= side.slots as u64 {
            self.freed = side.other.load(Ordering::Acquire);
            if self.written - self.freed >= side.slots as u64 {
                return Ok(false);
            }
        }
        // SAFETY: the slot is within the mapping and holds msg.len() <= stride bytes. It is free:
        // the acquire load of the reader's count above (or an earlier one) showed the reader
        // done with it, and the reader touches it again only after the release store below
        // hands it over. So nothing else reads or writes these bytes during the copy, and no
        // reference to them is made.
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), side.slot(self.next), msg.len()) };
        self.written += 1;
        self.next = if self.next + 1 == side.slots {
            0
        } else {
            self.next + 1
        };
        side.count.store(self.written, Ordering::Release);
        Ok(true)
    }
}

impl RingReader<'_> {
    /// Copy the next message into `buf` (its length is the message's) and free its slot; false,
    /// with nothing done, while the ring is empty. Fails if `buf` is longer than a slot.
    pub(crate) fn try_recv(&mut self, buf: &mut [u8]) -> anyhow::Result<bool> {
        let side = &self.side;
        anyhow::ensure!(
            buf.len() <= side.stride,
            "a buffer of {} bytes is longer than a slot of {}",
            buf.len(),
            side.stride
        );
        if self.available == self.read {
            self.available = side.other.load(Ordering::Acquire);
            if self.available == self.read {
                return Ok(false);
            }
        }
        // SAFETY: the slot is within the mapping and buf.len() <= stride. It is filled and
        // ours: the acquire load of the writer's count showed it written, and the writer
        // touches it again only after the release store below frees it. So nothing else writes
        // these bytes during the copy, and no reference to them is made.
        unsafe { std::ptr::copy_nonoverlapping(side.slot(self.next), buf.as_mut_ptr(), buf.len()) };
        self.read += 1;
        self.next = if self.next + 1 == side.slots {
            0
        } else {
            self.next + 1
        };
        side.count.store(self.read, Ordering::Release);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::{CreateOptions, Segment};

    fn layout(slots: usize, stride: usize) -> RingLayout {
        RingLayout {
            written: 0,
            read: 64,
            data: 128,
            stride,
            slots,
        }
    }

    #[test]
    fn messages_come_out_in_order_and_a_full_ring_refuses_until_one_is_read() {
        let seg = Segment::create(&CreateOptions::private(4096)).unwrap();
        let att = seg.id().attach(Access::ReadWrite).unwrap();
        let ring = layout(3, 16);
        let mut w = att.ring_writer(&ring).unwrap();
        let mut r = att.ring_reader(&ring).unwrap();
        let mut buf = [0u8; 5];
        assert!(!r.try_recv(&mut buf).unwrap(), "empty ring");
        for n in 0..3u8 {
            assert!(w.try_send(&[n; 5]).unwrap());
        }
        assert!(!w.try_send(&[9; 5]).unwrap(), "full ring");
        for round in 0..10u8 {
            assert!(r.try_recv(&mut buf).unwrap());
            assert_eq!(buf, [round; 5]);
            assert!(w.try_send(&[round + 3; 5]).unwrap());
        }
    }

    #[test]
    fn a_second_end_of_one_side_a_read_only_attachment_and_bad_sizes_are_refused() {
        let seg = Segment::create(&CreateOptions::private(4096)).unwrap();
        let att = seg.id().attach(Access::ReadWrite).unwrap();
        let ring = layout(4, 64);
        let w = att.ring_writer(&ring).unwrap();
        let err = att.ring_writer(&ring).err().unwrap().to_string();
        assert!(err.contains("already holds"), "{err}");
        drop(w);
        let mut w = att.ring_writer(&ring).unwrap();
        assert!(w.try_send(&[0; 65]).is_err());
        let mut r = att.ring_reader(&ring).unwrap();
        assert!(r.try_recv(&mut [0; 65]).is_err());
        assert!(att.ring_reader(&layout(100, 64)).is_err(), "past the end");
        let over_words = RingLayout {
            data: 0,
            ..layout(4, 64)
        };
        let err = att.ring_reader(&over_words).err().unwrap().to_string();
        assert!(err.contains("count words lie among its slots"), "{err}");
        let ro = seg.id().attach(Access::ReadOnly).unwrap();
        assert!(ro.ring_reader(&layout(4, 64)).is_err());
    }
}
