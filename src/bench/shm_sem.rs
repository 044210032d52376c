//! shm-sem: the same rings as shm-spin, with a "full" and an "empty" process-shared POSIX
//! semaphore per direction kept in the segment (chapters 1 and 5): a reader with nothing to read
//! sleeps in `sem_wait`, and the writer's `sem_post` wakes it.

#![forbid(unsafe_code)]

use nix::errno::Errno;

use super::pair::run_pair;
use super::ring::{Ring, ShmChannel, lay};
use super::{End, Exchange, Timed, check_peer, check_stop};
use crate::sync::SharedSemaphore;
use crate::sys::SysError;

pub(super) const SEM_RING: Ring = Ring {
    bytes: 256 << 10,
    min_slots: 8,
    max_slots: 256,
};

/// shm-sem: the same rings, with a "full" and an "empty" counting semaphore per direction.
struct SemEnd<'a> {
    ch: &'a ShmChannel,
    full: [SharedSemaphore<'a>; 2],
    empty: [SharedSemaphore<'a>; 2],
    dir: usize,
    sent: u64,
    received: u64,
}

/// `sem.wait()`, woken by a termination signal or by the child's end (when nothing will ever
/// be posted again).
fn sem_wait(sem: &SharedSemaphore) -> anyhow::Result<()> {
    loop {
        match sem.wait() {
            Ok(()) => return Ok(()),
            Err(Errno::EINTR) => {
                check_stop()?;
                // sem_wait may report EINTR even when a post came first: take that one.
                if crate::signal::child_ended() && sem.try_wait().is_ok() {
                    return Ok(());
                }
                check_peer(|| false)?;
            }
            Err(errno) => {
                return Err(SysError {
                    call: "sem_wait",
                    errno,
                }
                .into());
            }
        }
    }
}

fn sem_post(sem: &SharedSemaphore) -> anyhow::Result<()> {
    sem.post().map_err(|errno| {
        SysError {
            call: "sem_post",
            errno,
        }
        .into()
    })
}

impl End for SemEnd<'_> {
    fn send(&mut self, msg: &[u8]) -> anyhow::Result<()> {
        let d = self.dir;
        sem_wait(&self.empty[d])?;
        self.ch
            .attachment
            .write_bytes(self.ch.slot(d, self.sent), msg)?;
        self.sent += 1;
        sem_post(&self.full[d])
    }

    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<()> {
        let d = 1 - self.dir;
        sem_wait(&self.full[d])?;
        self.ch
            .attachment
            .read_bytes(self.ch.slot(d, self.received), buf)?;
        self.received += 1;
        sem_post(&self.empty[d])
    }
}

/// Make the two ends, fork, and run `x` on both sides (see [`super::pair`]).
pub(super) fn exchange(
    size: usize,
    child_cpu: Option<usize>,
    x: &dyn Exchange,
    msg: &mut [u8],
) -> anyhow::Result<Timed> {
    let ch = ShmChannel::create(size, SEM_RING)?;
    let att = &ch.attachment;
    let full = [
        SharedSemaphore::init(att, lay::FULL[0], 0)?,
        SharedSemaphore::init(att, lay::FULL[1], 0)?,
    ];
    let empty = [
        SharedSemaphore::init(att, lay::EMPTY[0], ch.slots as u32)?,
        SharedSemaphore::init(att, lay::EMPTY[1], ch.slots as u32)?,
    ];
    let end = |dir| SemEnd {
        ch: &ch,
        full,
        empty,
        dir,
        sent: 0,
        received: 0,
    };
    run_pair(child_cpu, || Ok(end(0)), || Ok(end(1)), x, msg)
}
