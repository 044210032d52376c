//! Lost updates: N processes each add 1 to one counter in a shared segment M times, and the
//! count comes out short (`shm-race counter`).
//!
//! The notes: "must ensure that no two processes are performing a write operation at once
//! ⟹ data corruption"; shared memory is "Error prone". The processes are forked here and meet
//! at the race's start gate (`race.rs`); each increment is one of the three ways of
//! `cures.rs`. Lab sheet: chapter 5, "Why n++ loses updates" (`shm-race counter`) and "The cures and
//! their cost" (`--sync all`).

#![forbid(unsafe_code)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::SyncMode;
use super::cures::{self, created, what_increments_are};
use super::race::{
    self, LIMITS_HINT, Race, WORKER_FAILED, arrive, at, check_procs, finished, human, human_ns,
    interrupted, race_time, reap, removed, times, what_goes,
};
use crate::sys::Termination;
use crate::ui::{self, HintExt as _, Ui, out_line};

/// `shm-race counter`: the races to run, one after the other, each a row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// How many processes race (forked here).
    pub procs: u32,
    /// How many times each process adds 1.
    pub increments: u64,
    /// How the processes synchronise, a race for each.
    pub syncs: Vec<SyncMode>,
    /// Permission bits of the segment and the semaphore set.
    pub perms: u32,
}

/// What a counter race found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CounterResult {
    pub sync: SyncMode,
    pub procs: u32,
    pub increments: u64,
    /// What the counter said at the end.
    pub got: u64,
    /// From the gate opening to the last worker finishing.
    pub elapsed: Duration,
}

impl CounterResult {
    pub fn expected(&self) -> u64 {
        u64::from(self.procs) * self.increments
    }

    /// Increments that vanished; 0 when the count is exact.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.got)
    }

    /// Lost, as a percentage of expected.
    pub(crate) fn lost_percent(&self) -> f64 {
        self.lost() as f64 * 100.0 / self.expected().max(1) as f64
    }

    /// Nanoseconds per increment, over all processes.
    pub(crate) fn ns_per_increment(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e9 / self.expected().max(1) as f64
    }
}

impl Race {
    /// N forked processes each add 1 to one counter `increments` times, synchronised by
    /// `self`'s [`SyncMode`]. `stop` is asked while waiting for them: a termination signal ends the
    /// race early (the workers are killed and reaped), with `Ok(None)`.
    pub(super) fn counter(
        &self,
        procs: u32,
        increments: u64,
        stop: impl Fn() -> bool,
    ) -> anyhow::Result<Option<CounterResult>> {
        check_procs(procs)?;
        let w = self.words();
        w[at::INCREMENTS].store(increments, Ordering::Relaxed);
        w[at::WORKERS].store(u64::from(procs), Ordering::Relaxed);
        let sem = self.semaphore_id();
        let sync = self.sync;
        let mut children = Vec::new();
        for slot in 0..procs {
            children.push(crate::sys::fork(|| {
                let w = race::words(&self.attachment);
                if !arrive(w, slot) {
                    return WORKER_FAILED;
                }
                match cures::run(w, sync, sem, increments, &|| false) {
                    Ok(()) => {
                        finished(w);
                        0
                    }
                    Err(_) => WORKER_FAILED,
                }
            })?);
        }
        if !self.open_gate(procs, &stop, &mut children)? {
            return Ok(None);
        }
        if !reap(&mut children, &stop)? {
            return Ok(None);
        }
        Ok(Some(self.counted(procs, increments)))
    }

    /// What a finished counter race found: the counter, and the time from start to last end.
    pub(super) fn counted(&self, procs: u32, increments: u64) -> CounterResult {
        let w = self.words();
        CounterResult {
            sync: self.sync,
            procs,
            increments,
            got: w[at::COUNTER].load(Ordering::Acquire),
            elapsed: race_time(w),
        }
    }
}

/// The counter table's title and column header.
pub(super) fn title(procs: u32, increments: u64) -> anyhow::Result<()> {
    out_line(format_args!(
        "{} x {} of one counter in shared memory",
        ui::counted(procs, "process"),
        ui::counted(increments, "increment")
    ))?;
    out_line(format_args!("{}", head()))
}

fn head() -> String {
    format!(
        "{:<9} {:>10} {:>11} {:>11} {:>7} {:>11} {:>14}",
        "sync", "expected", "got", "lost", "lost %", "time", "per increment"
    )
}

pub(super) fn row(r: &CounterResult) -> String {
    format!(
        "{:<9} {:>10} {:>11} {:>11} {:>6.1}% {:>11} {:>14}",
        r.sync.name(),
        r.expected(),
        r.got,
        r.lost(),
        r.lost_percent(),
        human(r.elapsed),
        human_ns(r.ns_per_increment()),
    )
}

/// What the count means: updates lost, none lost by luck, or exact.
pub(super) fn explain(ui: &Ui, r: &CounterResult) {
    if r.lost() > 0 {
        ui.meaning(&format!(
            "{} of {} increments were overwritten by another process's store: lost updates",
            r.lost(),
            r.expected()
        ));
    } else if r.sync == SyncMode::None {
        ui.meaning(
            "nothing was lost this time: the processes did not overlap (too few increments, or \
             one CPU). Try more --increments",
        );
    } else {
        ui.meaning("exact: no two increments overlapped");
    }
}

/// `shm-race counter`: a race for each of `args.syncs`, a row of the table each.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let term = Termination::install()?;
    let stop = || term.received().is_some();
    title(args.procs, args.increments)?;
    for &sync in &args.syncs {
        let race = Race::create(sync, args.perms).hint(LIMITS_HINT)?;
        created(ui, &race, args.perms);
        ui.step(
            2,
            &format!("fork {} to race", ui::counted(args.procs, "process")),
        );
        ui.meaning("each waits at a start gate in the segment, so that all really start together");
        ui.step(
            3,
            &format!(
                "open the gate: every process adds 1, {}",
                times(args.increments)
            ),
        );
        what_increments_are(ui, sync);
        let Some(result) = race.counter(args.procs, args.increments, stop)? else {
            return Err(interrupted(ui, &term, race));
        };
        out_line(format_args!("{}", row(&result)))?;
        ui.step(4, &format!("compare, then remove {}", what_goes(&race)));
        explain(ui, &result);
        removed(ui, race)?;
    }
    Ok(())
}
