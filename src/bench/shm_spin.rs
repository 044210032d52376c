//! shm-spin: shared memory that never sleeps. The notes (B1): "only the initial steps, the
//! create and attach shared memory region involves the OS": after that the writer copies a
//! message into a slot of the ring and stores a sequence number; the reader spins on that number
//! (a pause hint between looks, `sched_yield` now and then) and copies the message out. No
//! system call per message.

#![forbid(unsafe_code)]

use super::pair::Pair;
use super::ring::{Ring, ShmChannel};
use super::{End, PeerGone, Timed, check_stop};
use crate::shm::{RingReader, RingWriter};

pub(super) const SPIN_RING: Ring = Ring::new(16 << 10, 2, 256);

/// shm-spin: one end, writing one ring and reading the other. A full ring (for the writer) or
/// an empty one (for the reader) is waited out by spinning.
struct SpinEnd<'a> {
    tx: RingWriter<'a>,
    rx: RingReader<'a>,
}

/// Spins (each with a pause hint) before giving the CPU away with sched_yield: on two CPUs the
/// other side answers well within them; on one CPU the other side cannot run until this one
/// yields, and spinning on would burn a whole time slice (milliseconds) per message.
pub(super) const SPINS_PER_YIELD: u32 = 128;

/// Yields between two looks at the stop flag.
const YIELDS_PER_CHECK: u32 = 256;

/// Try `attempt` until it succeeds: a pause hint between two tries, a yield every
/// [`SPINS_PER_YIELD`], and now and then a look at the stop flag and at the child (once it has
/// ended, one last try decides).
fn spin_until(mut attempt: impl FnMut() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let mut spins = 0u32;
    while !attempt()? {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(SPINS_PER_YIELD) {
            let _ = nix::sched::sched_yield();
            if spins.is_multiple_of(SPINS_PER_YIELD * YIELDS_PER_CHECK) {
                check_stop()?;
                if crate::signal::child_ended() {
                    return if attempt()? {
                        Ok(())
                    } else {
                        Err(PeerGone.into())
                    };
                }
            }
        }
    }
    Ok(())
}

impl End for SpinEnd<'_> {
    fn send(&mut self, msg: &[u8]) -> anyhow::Result<()> {
        let tx = &mut self.tx;
        spin_until(|| tx.try_send(msg))
    }

    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<()> {
        let rx = &mut self.rx;
        spin_until(|| rx.try_recv(buf))
    }
}

/// Make the two ends, fork, and run `x` on both sides (see [`super::pair`]).
pub(super) fn exchange(pair: Pair<'_>) -> anyhow::Result<Timed> {
    let ch = ShmChannel::create(pair.size, pair.mode, SPIN_RING)?;
    let end = |dir| {
        let (tx, rx) = ch.ends(dir)?;
        Ok(SpinEnd { tx, rx })
    };
    pair.run(|_| end(0), || end(1))
}
