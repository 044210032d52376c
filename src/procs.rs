//! Why processes need IPC at all (section A of the notes): processes are isolated from each
//! other by default, each with its own memory, so cooperating ones must share a region on
//! purpose; and one reason to cooperate is computational speedup, the same work split over
//! processes that run in parallel.
//!
//! - [`isolation`]: a forked child changes a plain variable and a word of a shared segment; the
//!   parent sees only the shared change, though the plain variable sits at the same address in
//!   both processes.
//! - [`speedup`]: counting primes, split over N forked processes that each write their count
//!   into a slot of one shared segment, timed against one process doing it all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::pipe::{self, Child};
use crate::shm::{Access, Attachment, CreateOptions, Segment};

/// The most worker processes [`speedup`] forks at once.
pub const MAX_PROCS: usize = 64;

/// A private segment of `words` 64-bit words, marked for removal as soon as it is attached:
/// the kernel frees it with the last detach, however the processes end.
struct Shared {
    _segment: Segment,
    attachment: Attachment,
}

impl Shared {
    fn new(words: usize) -> anyhow::Result<Shared> {
        let segment = Segment::create(&CreateOptions::private(words * 8))
            .context("cannot create the shared segment")?;
        let attachment = segment.id().attach(Access::ReadWrite)?;
        segment.id().remove()?;
        Ok(Shared {
            _segment: segment,
            attachment,
        })
    }

    fn id(&self) -> i32 {
        self._segment.id().as_raw()
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        &self
            .attachment
            .as_atomics_u64()
            .expect("attached read-write")[i]
    }
}

/// What each process saw in [`isolation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// The segment's id (already removed: it went with the last detach).
    pub segment_id: i32,
    /// The address of the plain variable (the same in the parent and in the child).
    pub plain_address: usize,
    /// The address the shared word is attached at.
    pub shared_address: usize,
    pub child_pid: i32,
    /// The parent's view once the child has ended.
    pub parent_plain: u64,
    pub parent_shared: u64,
}

/// The plain and shared values before the fork, and what the child writes into both.
pub const BEFORE: u64 = 1;
pub const CHILD_WRITES: u64 = 2;

/// Fork a child that sets a plain variable and a shared word from [`BEFORE`] to
/// [`CHILD_WRITES`]. `before_fork` is told the segment's id, where it is attached and where the
/// plain variable is; `child_says` runs in the child after its writes (to print what it did,
/// with its pid, the addresses and the values it sees). The parent waits for the child, then
/// reads both.
pub fn isolation(
    before_fork: impl FnOnce(i32, usize, usize),
    child_says: impl FnOnce(i32, usize, usize, u64, u64),
    stop: impl Fn() -> bool,
) -> anyhow::Result<Isolation> {
    let shared = Shared::new(1)?;
    let word = shared.word(0);
    word.store(BEFORE, Ordering::SeqCst);
    let mut plain: u64 = BEFORE;
    let plain_address = std::ptr::addr_of!(plain) as usize;
    let shared_address = shared.attachment.addr();
    before_fork(shared.id(), shared_address, plain_address);
    let mut child = pipe::fork(|| {
        // black_box: the store must really happen in this process's own copy.
        plain = std::hint::black_box(CHILD_WRITES);
        word.store(CHILD_WRITES, Ordering::SeqCst);
        let me = std::process::id() as i32;
        child_says(
            me,
            std::ptr::addr_of!(plain) as usize,
            shared_address,
            std::hint::black_box(plain),
            word.load(Ordering::SeqCst),
        );
        0
    })?;
    let child_pid = child.pid().as_raw();
    let status = match child.wait_unless(&stop)? {
        Some(status) => status,
        None => {
            child.kill();
            return Err(crate::bench::Stopped.into());
        }
    };
    anyhow::ensure!(
        pipe::shell_status(status) == 0,
        "the child process {}",
        pipe::describe(status)
    );
    Ok(Isolation {
        segment_id: shared.id(),
        plain_address,
        shared_address,
        child_pid,
        parent_plain: std::hint::black_box(plain),
        parent_shared: word.load(Ordering::SeqCst),
    })
}

/// Whether `n` is prime, by trial division: deliberately plain work for the CPU.
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n < 4 {
        return true;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// The numbers in a block: workers take whole blocks in turn.
pub const BLOCK: u64 = 4096;

/// The primes below `below` that worker `k` of `procs` counts: blocks of [`BLOCK`] numbers
/// dealt out in turn (block k, k + procs, ...), so that each worker gets small and large numbers
/// alike, and about the same work. (Dealing out single numbers would give one of two workers
/// all the even ones, and nothing to do.)
pub fn count_share(below: u64, k: usize, procs: usize) -> u64 {
    (k as u64 * BLOCK..below)
        .step_by(BLOCK as usize * procs)
        .map(|start| {
            (start..(start + BLOCK).min(below))
                .filter(|&n| is_prime(n))
                .count() as u64
        })
        .sum()
}

/// One row of [`speedup`]: the work split over `procs` processes.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeedRow {
    pub procs: usize,
    /// The segment the counts were left in (already removed), and the workers' pids.
    pub segment_id: i32,
    pub pids: Vec<i32>,
    /// The primes found: the sum of the workers' counts, read from the shared segment.
    pub primes: u64,
    /// Each worker's count, as it left it in its slot.
    pub counts: Vec<u64>,
    pub elapsed: Duration,
}

/// Count the primes below `below` with `procs` forked workers, each writing its count into its
/// own slot of a shared segment; the parent waits for all of them and adds the slots up.
/// `stop` is asked while waiting: a termination signal kills the workers.
pub fn speedup(below: u64, procs: usize, stop: impl Fn() -> bool) -> anyhow::Result<SpeedRow> {
    anyhow::ensure!(
        (1..=MAX_PROCS).contains(&procs),
        "{procs} processes: from 1 to {MAX_PROCS}"
    );
    let shared = Shared::new(procs)?;
    // Slots start at a value no count can have, so that a worker that never wrote is seen.
    for k in 0..procs {
        shared.word(k).store(u64::MAX, Ordering::SeqCst);
    }
    let start = Instant::now();
    let mut workers: Vec<Child> = Vec::with_capacity(procs);
    for k in 0..procs {
        let slot = shared.word(k);
        workers.push(pipe::fork(|| {
            slot.store(count_share(below, k, procs), Ordering::SeqCst);
            0
        })?);
    }
    for worker in &mut workers {
        let status = match worker.wait_unless(&stop)? {
            Some(status) => status,
            None => {
                // Dropping the others kills them too.
                worker.kill();
                return Err(crate::bench::Stopped.into());
            }
        };
        anyhow::ensure!(
            pipe::shell_status(status) == 0,
            "a worker process {}",
            pipe::describe(status)
        );
    }
    let elapsed = start.elapsed();
    let counts: Vec<u64> = (0..procs)
        .map(|k| shared.word(k).load(Ordering::SeqCst))
        .collect();
    anyhow::ensure!(
        counts.iter().all(|&c| c != u64::MAX),
        "a worker ended without writing its count"
    );
    Ok(SpeedRow {
        procs,
        segment_id: shared.id(),
        pids: workers.iter().map(|w| w.pid().as_raw()).collect(),
        primes: counts.iter().sum(),
        counts,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        let small: Vec<u64> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(small, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert_eq!(count_share(100_000, 0, 1), 9592);
    }

    #[test]
    fn shares_add_up_whatever_the_split() {
        for procs in 1..=7 {
            let total: u64 = (0..procs).map(|k| count_share(10_000, k, procs)).sum();
            assert_eq!(total, 1229, "{procs} shares");
        }
    }
}
