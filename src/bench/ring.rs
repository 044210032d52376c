//! The shared-memory channel of shm-spin and shm-sem (chapter 1's segment): a private System V
//! segment with, in each direction, a ring of message slots and the words that count what was
//! written and what was copied out.

#![forbid(unsafe_code)]

use anyhow::Context as _;

use super::Mode;

use crate::shm::{Access, Attachment, CreateOptions, RingLayout, RingReader, RingWriter, Segment};

/// Where things are in a shared-memory channel, in bytes.
pub(super) mod lay {
    /// The counts of messages written into each direction's ring (by its writer) and read out
    /// of it (by its reader), each followed by the claim of that end. Each process writes one
    /// cache line of its own: the parent, which writes direction 0 and reads direction 1, the
    /// first; the child the second. So the line a process waits on also brings it the other's
    /// count of messages read: a ping-pong moves one line each way per message, and no line is
    /// written by both.
    pub(crate) const SEQ: [usize; 2] = [0, 64];
    pub(crate) const DONE: [usize; 2] = [80, 16];
    /// Per direction (shm-sem): "full" (messages waiting) and "empty" (free slots).
    pub(crate) const FULL: [usize; 2] = [256, 320];
    pub(crate) const EMPTY: [usize; 2] = [384, 448];
    /// The data: a ring of slots for each direction.
    pub(crate) const DATA: usize = 4096;
}

/// How big each direction's ring is in a stream, per mechanism. A spinning reader copies a
/// message out while it is still in the cache it was written through, so a small ring (16 KiB,
/// four 4 KiB slots) streams fastest: a big one is written to memory and read back. A sleeping
/// reader needs room to run behind: with a few slots the writer would block, and pay a wake-up,
/// every few messages. A ping-pong never has more than one message in flight each way, so its
/// ring has one slot: the same cache line carries every message, as in the C programs, where a
/// ring would bring each message on a line of its own.
#[derive(Clone, Copy)]
pub(super) struct Ring {
    /// The bytes a ring aims at: more slots for small messages, within the bounds below.
    bytes: usize,
    min_slots: usize,
    max_slots: usize,
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

impl Ring {
    /// A ring that aims at `bytes` each way, with `min_slots` to `max_slots` slots.
    pub(super) const fn new(bytes: usize, min_slots: usize, max_slots: usize) -> Ring {
        Ring {
            bytes,
            min_slots,
            max_slots,
        }
    }

    /// The bytes from one slot to the next for messages of `size` bytes (a cache line each at
    /// least), and how many slots each way.
    pub(super) fn slots(&self, size: usize, mode: Mode) -> (usize, usize) {
        let stride = size.max(1).next_multiple_of(64);
        let slots = match mode {
            Mode::Latency => 1,
            _ => (self.bytes / stride).clamp(self.min_slots, self.max_slots),
        };
        (stride, slots)
    }
}

impl ShmChannel {
    pub(super) fn create(size: usize, mode: Mode, ring: Ring) -> anyhow::Result<ShmChannel> {
        let (stride, slots) = ring.slots(size, mode);
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

    /// Where the ring of direction `dir` lies.
    fn layout(&self, dir: usize) -> RingLayout {
        RingLayout {
            written: lay::SEQ[dir],
            read: lay::DONE[dir],
            data: lay::DATA + dir * self.slots * self.stride,
            stride: self.stride,
            slots: self.slots,
        }
    }

    /// One process's ends: it writes the ring of direction `dir` and reads the other one.
    pub(super) fn ends(&self, dir: usize) -> anyhow::Result<(RingWriter<'_>, RingReader<'_>)> {
        Ok((
            self.attachment.ring_writer(&self.layout(dir))?,
            self.attachment.ring_reader(&self.layout(1 - dir))?,
        ))
    }
}
