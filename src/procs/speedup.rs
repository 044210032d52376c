//! Cooperating for speed. The notes (A. Motivation) give as the first reason for process
//! cooperation "computational speedup: good in systems supporting parallelism". The primes below
//! a number are counted by N forked workers, each writing its count into its own slot of one
//! shared segment, and timed against one process doing it all.
//!
//! Lab sheet: `docs/00-why-ipc.md`, "Cooperating for speed: proc-demo speedup".

#![forbid(unsafe_code)]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::sys::{Child, Stopped};
use crate::ui::{self, Ui, UsageError, out_line};

use super::Shared;

/// The most worker processes one row of the table forks at once.
pub const MAX_PROCS: usize = 64;

/// What `proc-demo speedup` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// How many processes to split the work over, a row each, in this order (repeats are
    /// measured once).
    pub procs: Vec<usize>,
    /// Count the primes below this number.
    pub below: u64,
}

/// Whether `n` is prime, by trial division: deliberately plain work for the CPU.
fn is_prime(n: u64) -> bool {
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
struct SpeedRow {
    procs: usize,
    /// The segment the counts were left in (already removed), and the workers' pids.
    segment_id: i32,
    pids: Vec<i32>,
    /// The primes found: the sum of the workers' counts, read from the shared segment.
    primes: u64,
    /// Each worker's count, as it left it in its slot.
    counts: Vec<u64>,
    elapsed: Duration,
}

/// Count the primes below `below` with `procs` forked workers, each writing its count into its
/// own slot of a shared segment; the parent waits for all of them and adds the slots up.
/// `stop` is asked while waiting: a termination signal kills the workers.
fn speedup(below: u64, procs: usize, stop: impl Fn() -> bool) -> anyhow::Result<SpeedRow> {
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
        workers.push(crate::sys::fork(|| {
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
                return Err(Stopped.into());
            }
        };
        anyhow::ensure!(
            crate::sys::shell_status(status) == 0,
            "a worker process {}",
            crate::sys::describe(status)
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

/// `proc-demo speedup`: a row per number of processes, timed; the calls under `--explain`.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    super::guarded(ui, |term| {
        let stop = || term.received().is_some();
        table(ui, &args.procs, args.below, &stop)
    })
}

fn table(ui: &Ui, procs: &[usize], below: u64, stop: &dyn Fn() -> bool) -> anyhow::Result<()> {
    let mut list: Vec<usize> = Vec::new();
    for &p in procs {
        if !list.contains(&p) {
            list.push(p);
        }
    }
    if list.is_empty() {
        return Err(UsageError("--procs: give at least one count".into()).into());
    }
    let cpus = crate::sys::allowed_cpus().len();
    out_line(format_args!(
        "counting the primes below {below}, split over processes that each write their count into one shared segment; {} usable here",
        ui::counted(cpus as u64, "CPU")
    ))?;
    out_line(format_args!(
        "{:>5} {:>10} {:>10} {:>8}",
        "procs", "primes", "time", "speedup"
    ))?;
    let mut base: Option<SpeedRow> = None;
    for (step, p) in (1..).zip(list) {
        let row = speedup(below, p, stop)?;
        ui.step(
            step,
            &if p == 1 {
                "1 worker counts them all".to_string()
            } else {
                format!("{p} workers count, taking blocks of {BLOCK} numbers in turn")
            },
        );
        let id = row.segment_id;
        ui.call(
            &format!("shmget(IPC_PRIVATE, {}, IPC_CREAT | 0600)", p * 8),
            id,
        );
        ui.act(&format!(
            "shmat({id}, NULL, 0): a slot of 8 bytes per worker"
        ));
        ui.call(&format!("shmctl({id}, IPC_RMID, NULL)"), 0);
        for (k, pid) in row.pids.iter().enumerate() {
            ui.call("fork()", pid);
            ui.act(&format!("worker {k}: slot[{k}] = {}", row.counts[k]));
        }
        for pid in &row.pids {
            ui.call(&format!("waitpid({pid}, &status, 0)"), pid);
        }
        ui.meaning(&format!(
            "their counts, from the segment's slots: {:?}",
            row.counts
        ));
        let one = base.get_or_insert_with(|| row.clone());
        anyhow::ensure!(
            row.primes == one.primes,
            "{p} processes found {} primes, {} found {}",
            row.primes,
            ui::counted(one.procs as u64, "process"),
            one.primes
        );
        let speedup = one.elapsed.as_secs_f64() / row.elapsed.as_secs_f64().max(1e-9);
        out_line(format_args!(
            "{:>5} {:>10} {:>8.3} s {:>8.2}",
            row.procs,
            row.primes,
            row.elapsed.as_secs_f64(),
            speedup
        ))?;
    }
    out_line(format_args!(
        "speedup: the first row's time over each row's: at best the number of processes, and no more than the CPUs that run them (noise moves it a little either way)"
    ))?;
    Ok(())
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
