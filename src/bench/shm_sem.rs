//! shm-sem: the same rings as shm-spin, with a "full" and an "empty" process-shared POSIX
//! semaphore per direction kept in the segment (chapters 1 and 5): a reader with nothing to read
//! sleeps in `sem_wait`, and the writer's `sem_post` wakes it.

#![forbid(unsafe_code)]

use nix::errno::Errno;

use super::pair::Pair;
use super::ring::{Ring, ShmChannel, lay};
use super::{End, Timed, check_peer, check_stop};
use crate::shm::{RingReader, RingWriter};
use crate::sync::SharedSemaphore;
use crate::sys::SysError;

pub(super) const SEM_RING: Ring = Ring::new(256 << 10, 8, 256);

/// shm-sem: the same rings, with a "full" and an "empty" counting semaphore per direction.
struct SemEnd<'a> {
    tx: RingWriter<'a>,
    rx: RingReader<'a>,
    full: [SharedSemaphore<'a>; 2],
    empty: [SharedSemaphore<'a>; 2],
    dir: usize,
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
        anyhow::ensure!(
            self.tx.try_send(msg)?,
            "the ring is full, though its semaphore counted a free slot"
        );
        sem_post(&self.full[d])
    }

    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<()> {
        let d = 1 - self.dir;
        sem_wait(&self.full[d])?;
        anyhow::ensure!(
            self.rx.try_recv(buf)?,
            "the ring is empty, though its semaphore counted a message"
        );
        sem_post(&self.empty[d])
    }
}

/// Make the two ends, fork, and run `x` on both sides (see [`super::pair`]).
pub(super) fn exchange(pair: Pair<'_>) -> anyhow::Result<Timed> {
    let ch = ShmChannel::create(pair.size, pair.mode, SEM_RING)?;
    let att = &ch.attachment;
    let full = [
        SharedSemaphore::init(att, lay::FULL[0], 0)?,
        SharedSemaphore::init(att, lay::FULL[1], 0)?,
    ];
    let empty = [
        SharedSemaphore::init(att, lay::EMPTY[0], ch.slots as u32)?,
        SharedSemaphore::init(att, lay::EMPTY[1], ch.slots as u32)?,
    ];
    let end = |dir| {
        let (tx, rx) = ch.ends(dir)?;
        Ok(SemEnd {
            tx,
            rx,
            full,
            empty,
            dir,
        })
    };
    pair.run(|_| end(0), || end(1))
}
