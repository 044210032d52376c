//! shm-spin: shared memory that never sleeps. The notes (B1): "only the initial steps, the
//! create and attach shared memory region involves the OS": after that the writer copies a
//! message into a slot of the ring and stores a sequence number; the reader spins on that number
//! (a pause hint between looks, `sched_yield` now and then) and copies the message out. No
//! system call per message.

#![forbid(unsafe_code)]

use std::sync::atomic::Ordering;

use super::pair::run_pair;
use super::ring::{Ring, ShmChannel};
use super::{End, Exchange, Timed, check_peer, check_stop};

pub(super) const SPIN_RING: Ring = Ring {
    bytes: 16 << 10,
    min_slots: 2,
    max_slots: 256,
};

/// shm-spin: one end. Messages are numbered; the writer of direction d bumps SEQ[d] after
/// copying message n into its slot, and waits while the ring is full, which it knows from the
/// other side's acknowledgement word (`done[d]` = messages the reader has copied out).
struct SpinEnd<'a> {
    ch: &'a ShmChannel,
    /// The direction this end sends on.
    dir: usize,
    sent: u64,
    received: u64,
    /// The last counts seen of the other side: messages it has freed from this end's ring,
    /// and messages written into the ring this end reads.
    freed: u64,
    available: u64,
}

/// Spins (each with a pause hint) before giving the CPU away with sched_yield: on two CPUs the
/// other side answers well within them; on one CPU the other side cannot run until this one
/// yields, and spinning on would burn a whole time slice (milliseconds) per message.
pub(super) const SPINS_PER_YIELD: u32 = 128;

/// Yields between two looks at the stop flag.
const YIELDS_PER_CHECK: u32 = 256;

fn spin_until(mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let mut spins = 0u32;
    while !ready() {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(SPINS_PER_YIELD) {
            let _ = nix::sched::sched_yield();
            if spins.is_multiple_of(SPINS_PER_YIELD * YIELDS_PER_CHECK) {
                check_stop()?;
                check_peer(&mut ready)?;
            }
        }
    }
    Ok(())
}

impl End for SpinEnd<'_> {
    fn send(&mut self, msg: &[u8]) -> anyhow::Result<()> {
        let (ch, d) = (self.ch, self.dir);
        let sent = self.sent;
        // The reader's count is only looked at when the ring may be full: every look at a word
        // the other CPU writes costs a cache-line transfer.
        if sent - self.freed >= ch.slots as u64 {
            let mut freed = self.freed;
            spin_until(|| {
                freed = ch.done(d).load(Ordering::Acquire);
                sent - freed < ch.slots as u64
            })?;
            self.freed = freed;
        }
        ch.attachment.write_bytes(ch.slot(d, sent), msg)?;
        self.sent += 1;
        ch.seq(d).store(self.sent, Ordering::Release);
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<()> {
        let (ch, d) = (self.ch, 1 - self.dir);
        let want = self.received + 1;
        if self.available < want {
            let mut available = self.available;
            spin_until(|| {
                available = ch.seq(d).load(Ordering::Acquire);
                available >= want
            })?;
            self.available = available;
        }
        ch.attachment.read_bytes(ch.slot(d, self.received), buf)?;
        self.received = want;
        ch.done(d).store(want, Ordering::Release);
        Ok(())
    }
}

/// Make the two ends, fork, and run `x` on both sides (see [`super::pair`]).
pub(super) fn exchange(
    size: usize,
    child_cpu: Option<usize>,
    x: &dyn Exchange,
    msg: &mut [u8],
) -> anyhow::Result<Timed> {
    let ch = ShmChannel::create(size, SPIN_RING)?;
    run_pair(
        child_cpu,
        || {
            Ok(SpinEnd {
                ch: &ch,
                dir: 0,
                sent: 0,
                received: 0,
                freed: 0,
                available: 0,
            })
        },
        || {
            Ok(SpinEnd {
                ch: &ch,
                dir: 1,
                sent: 0,
                received: 0,
                freed: 0,
                available: 0,
            })
        },
        x,
        msg,
    )
}
