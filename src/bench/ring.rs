//! The shared-memory channel of shm-spin and shm-sem (chapter 1's segment): a private System V
//! segment with, in each direction, a ring of message slots and the words that count what was
//! written and what was copied out.

#![forbid(unsafe_code)]

use std::sync::atomic::AtomicU64;

use anyhow::Context as _;

use crate::shm::{Access, Attachment, CreateOptions, Segment};

/// Where things are in a shared-memory channel, in bytes.
pub(super) mod lay {
    /// Per direction: messages written (by the writer), and messages copied out (by the
    /// reader), each word on a cache line of its own.
    pub const SEQ: [usize; 2] = [0, 64];
    pub const DONE: [usize; 2] = [128, 192];
    /// Per direction (shm-sem): "full" (messages waiting) and "empty" (free slots).
    pub const FULL: [usize; 2] = [256, 320];
    pub const EMPTY: [usize; 2] = [384, 448];
    /// The data: a ring of slots for each direction.
    pub const DATA: usize = 4096;
}

/// How big each direction's ring is, per mechanism. A spinning reader copies a message out
/// while it is still in the cache it was written through, so a small ring (16 KiB, four 4 KiB
/// slots) streams fastest: a big one is written to memory and read back. A sleeping reader
/// needs room to run behind: with a few slots the writer would block, and pay a wake-up,
/// every few messages.
#[derive(Clone, Copy)]
pub(super) struct Ring {
    /// The bytes a ring aims at: more slots for small messages, within the bounds below.
    pub(super) bytes: usize,
    pub(super) min_slots: usize,
    pub(super) max_slots: usize,
}

/// The shared-memory channel: in each direction a ring of message slots (see [`Ring`]).
/// Direction 0 is parent to child, 1 is child to parent.
pub(super) struct ShmChannel {
    _segment: Segment,
    pub(super) attachment: Attachment,
    /// The slot stride: the size rounded up to a cache line.
    stride: usize,
    /// Slots in each direction's ring.
    pub(super) slots: usize,
}

impl ShmChannel {
    pub(super) fn create(size: usize, ring: Ring) -> anyhow::Result<ShmChannel> {
        let stride = size.max(1).next_multiple_of(64);
        let slots = (ring.bytes / stride).clamp(ring.min_slots, ring.max_slots);
        let bytes = lay::DATA + 2 * slots * stride;
        let segment = Segment::create(&CreateOptions::private(bytes))
            .context("cannot create the benchmark's segment")?;
        let attachment = segment.id().attach(Access::ReadWrite)?;
        // The kernel may keep the segment after this process is killed, unless it is marked
        // now: it then goes with the last detach, whatever happens.
        segment.id().remove()?;
        Ok(ShmChannel {
            _segment: segment,
            attachment,
            stride,
            slots,
        })
    }

    pub(super) fn seq(&self, dir: usize) -> &AtomicU64 {
        &self
            .attachment
            .as_atomics_u64()
            .expect("attached read-write")[lay::SEQ[dir] / 8]
    }

    pub(super) fn slot(&self, dir: usize, n: u64) -> usize {
        lay::DATA + (dir * self.slots + (n as usize % self.slots)) * self.stride
    }
}

impl ShmChannel {
    /// Messages the reader of direction `dir` has copied out (it frees their slots).
    pub(super) fn done(&self, dir: usize) -> &AtomicU64 {
        &self
            .attachment
            .as_atomics_u64()
            .expect("attached read-write")[lay::DONE[dir] / 8]
    }
}
