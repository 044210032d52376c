//! Torn reads: a writer rewrites a record of several words while a reader copies it out, and
//! some copies hold half of one write and half of the next (`shm-race torn`).
//!
//! The notes: "possible memory model is one that of producer-consumer ⟹ need to agree how data
//! is structured", and "must ensure that no two processes are performing a write operation at
//! once ⟹ data corruption". A semaphore around the whole write and the whole copy cures it; an
//! atomic per word does not. Lab sheet: chapter 5, "Torn records", "The cures and their cost".

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::cures::{created, holding};
use super::race::{
    self, LIMITS_HINT, Race, WORKER_FAILED, arrive, at, finished, human, interrupted, race_time,
    reap, removed, times, what_goes,
};
use super::{SemId, SyncMode};
use crate::sys::Termination;
use crate::ui::{HintExt as _, Ui, UsageError, out_line};

/// `shm-race torn`: the races to run, one after the other, each a row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// How the writer and the reader synchronise, a race for each (atomic alone is refused).
    pub syncs: Vec<SyncMode>,
    /// How many copies the reader makes.
    pub reads: u64,
    /// Permission bits of the segment and the semaphore set.
    pub perms: u32,
}

/// Words in the torn-race record: the fields, then their sum.
pub(crate) const RECORD_WORDS: usize = at::FIELDS + 1;

/// What a torn-record race found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TornResult {
    pub sync: SyncMode,
    /// Copies the reader made, how many of them were torn, and records written meanwhile.
    pub reads: u64,
    pub torn: u64,
    pub writes: u64,
    /// The first torn copy, word for word (fields, then the sum).
    pub first_torn: Option<[u64; RECORD_WORDS]>,
    pub elapsed: Duration,
}

/// Whether a copy of the record is whole: every field the same number, the last word their sum
/// (a copy made while the writer was half way through has fields from two writes).
pub(crate) fn record_is_whole(copy: &[u64; RECORD_WORDS]) -> bool {
    let fields = &copy[..at::FIELDS];
    let sum = fields.iter().fold(0u64, |a, f| a.wrapping_add(*f));
    fields.iter().all(|f| *f == fields[0]) && copy[at::FIELDS] == sum
}

impl Race {
    /// A forked writer rewrites a record of [`RECORD_WORDS`] words over and over (every field
    /// the write's number, then their sum) while a forked reader copies it out `reads` times and
    /// counts the copies that are not whole; with a semaphore both hold it around their part.
    /// `Ok(None)` when `stop` ended it early.
    fn torn(&self, reads: u64, stop: impl Fn() -> bool) -> anyhow::Result<Option<TornResult>> {
        anyhow::ensure!(
            self.sync != SyncMode::Atomic,
            "the torn-record race takes --sync none or semaphore: no single atomic instruction \
             writes a whole record"
        );
        let sem = self.semaphore_id();
        let w = self.words();
        w[at::WORKERS].store(2, Ordering::Relaxed);
        let writer = crate::sys::fork(|| {
            let w = race::words(&self.attachment);
            if !arrive(w, 0) {
                return WORKER_FAILED;
            }
            let mut n = 0u64;
            while w[at::STOP].load(Ordering::Relaxed) == 0 {
                n += 1;
                let written = holding(sem, || {
                    for f in 0..at::FIELDS {
                        w[at::RECORD + f].store(n, Ordering::Relaxed);
                    }
                    w[at::RECORD + at::FIELDS]
                        .store(n.wrapping_mul(at::FIELDS as u64), Ordering::Relaxed);
                });
                if written.is_none() {
                    return WORKER_FAILED;
                }
            }
            w[at::WRITES].store(n, Ordering::Release);
            finished(w);
            0
        })?;
        let reader = crate::sys::fork(|| {
            let w = race::words(&self.attachment);
            if !arrive(w, 1) {
                return WORKER_FAILED;
            }
            let code = read_records(w, sem, reads);
            w[at::STOP].store(1, Ordering::Release);
            finished(w);
            code
        })?;
        let mut children = vec![writer, reader];
        if !self.open_gate(2, &stop, &mut children)? {
            return Ok(None);
        }
        if !reap(&mut children, &stop)? {
            return Ok(None);
        }
        let elapsed = race_time(w);
        let torn = w[at::TORN].load(Ordering::Acquire);
        let first_torn = (torn > 0)
            .then(|| std::array::from_fn(|i| w[at::FIRST_TORN + i].load(Ordering::Relaxed)));
        Ok(Some(TornResult {
            sync: self.sync,
            reads: w[at::READS].load(Ordering::Acquire),
            torn,
            writes: w[at::WRITES].load(Ordering::Acquire),
            first_torn,
            elapsed,
        }))
    }
}

/// The reader of the torn-record race: copy the record out `reads` times, count the copies
/// that are not whole and keep the first. Returns the worker's exit code.
fn read_records(w: &[AtomicU64], sem: Option<SemId>, reads: u64) -> i32 {
    // Copying before the writer has written anything would race nothing: wait for its first
    // write (on a busy machine the writer may start late).
    while w[at::RECORD].load(Ordering::Acquire) == 0 {
        std::hint::spin_loop();
        std::thread::yield_now();
    }
    let mut torn = 0u64;
    for done in 0..reads {
        let copied = holding(sem, || {
            std::array::from_fn(|i| w[at::RECORD + i].load(Ordering::Relaxed))
        });
        let Some(copy): Option<[u64; RECORD_WORDS]> = copied else {
            return WORKER_FAILED;
        };
        if !record_is_whole(&copy) {
            if torn == 0 {
                for (i, word) in copy.iter().enumerate() {
                    w[at::FIRST_TORN + i].store(*word, Ordering::Relaxed);
                }
            }
            torn += 1;
        }
        if done.is_multiple_of(4096) {
            w[at::READS].store(done, Ordering::Relaxed);
        }
    }
    w[at::TORN].store(torn, Ordering::Release);
    w[at::READS].store(reads, Ordering::Release);
    0
}

fn head() -> String {
    format!(
        "{:<9} {:>10} {:>10} {:>7} {:>11} {:>11}",
        "sync", "reads", "torn", "torn %", "writes", "time"
    )
}

fn row(r: &TornResult) -> String {
    format!(
        "{:<9} {:>10} {:>10} {:>6.2}% {:>11} {:>11}",
        r.sync.name(),
        r.reads,
        r.torn,
        r.torn as f64 * 100.0 / r.reads.max(1) as f64,
        r.writes,
        human(r.elapsed),
    )
}

/// `shm-race torn`: a race and a row for each of `args.syncs`, then each first torn copy.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let term = Termination::install()?;
    if args.syncs == [SyncMode::Atomic] {
        return Err(UsageError(
            "torn takes --sync none, semaphore or all: an atomic instruction writes one word, \
             and the record is 8 words"
                .into(),
        )
        .into());
    }
    out_line(format_args!(
        "a writer rewrites a record of 7 equal fields and their sum; a reader copies it {}",
        times(args.reads)
    ))?;
    out_line(format_args!("{}", head()))?;
    let mut first_torn = Vec::new();
    for &sync in args.syncs.iter().filter(|m| **m != SyncMode::Atomic) {
        let race = Race::create(sync, args.perms).hint(LIMITS_HINT)?;
        created(ui, &race, args.perms);
        ui.step(2, "fork a writer and a reader");
        ui.meaning(match sync {
            SyncMode::Semaphore => {
                "both take the semaphore around their part: the reader never copies while the \
                 writer is half way through"
            }
            _ => {
                "the writer stores the 8 words one after another; the reader loads them one \
                 after another. Each word is atomic, the record is not"
            }
        });
        let Some(result) = race.torn(args.reads, || term.received().is_some())? else {
            return Err(interrupted(ui, &term, race));
        };
        out_line(format_args!("{}", row(&result)))?;
        if let Some(copy) = result.first_torn {
            first_torn.push((sync, copy));
        }
        ui.step(3, &format!("remove {}", what_goes(&race)));
        removed(ui, race)?;
    }
    for (sync, copy) in first_torn {
        let fields: Vec<String> = copy[..copy.len() - 1].iter().map(u64::to_string).collect();
        out_line(format_args!(
            "first torn copy ({sync}): {} | sum {}",
            fields.join(" "),
            copy[copy.len() - 1]
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_and_torn_records() {
        let n = 41u64;
        let mut rec = [n; RECORD_WORDS];
        rec[at::FIELDS] = n * at::FIELDS as u64;
        assert!(record_is_whole(&rec));
        assert!(record_is_whole(&[0; RECORD_WORDS]));
        let mut torn = rec;
        torn[3] = n + 1;
        assert!(!record_is_whole(&torn));
        let mut bad_sum = rec;
        bad_sum[at::FIELDS] += 1;
        assert!(!record_is_whole(&bad_sum));
    }
}
