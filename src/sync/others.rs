//! A race across terminals, the first terminal's side (`shm-race counter --others K`): make the
//! race, print its segment's id, wait at the gate for K processes started by hand, race with
//! them, and print the count.
//!
//! The notes: "process P1 creates shared memory region M", "process P2 attaches memory region M
//! to its own memory space", and "must ensure that no two processes are performing a write
//! operation at once ⟹ data corruption". The other side is [`super::join`]. Lab sheet:
//! chapter 5, "Walk-through: two processes, one counter" (terminal 1).

#![forbid(unsafe_code)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::SyncMode;
use super::counter::{self, CounterResult};
use super::cures::{self, created, what_increments_are};
use super::race::{
    GATE_CALLED_OFF, LIMITS_HINT, Race, SLOT_DONE, alive, at, check_procs, finished, interrupted,
    open, removed, spread, start_on_time, times, what_goes,
};
use crate::sys::Termination;
use crate::ui::{self, HintExt as _, Ui, UsageError, out_line};

/// `shm-race counter --others K`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// How the processes synchronise: exactly one (a race with others is one race).
    pub syncs: Vec<SyncMode>,
    /// How many processes from other terminals race with this one.
    pub others: u32,
    /// How many times each process adds 1.
    pub increments: u64,
    /// Permission bits of the segment and the semaphore set.
    pub perms: u32,
}

impl Race {
    /// A race whose workers are this process and `procs - 1` others, each started by hand with
    /// `shm-race counter --join ID` (see [`super::join`]). `waiting` is told how many are still
    /// awaited whenever that changes; `stop` ends the wait or the run early (`Ok(None)`).
    fn counter_with_others(
        &self,
        procs: u32,
        increments: u64,
        mut waiting: impl FnMut(u32),
        stop: impl Fn() -> bool,
    ) -> anyhow::Result<Option<CounterResult>> {
        check_procs(procs)?;
        anyhow::ensure!(
            procs >= 2,
            "a race with other terminals needs 2 processes or more"
        );
        let w = self.words();
        w[at::INCREMENTS].store(increments, Ordering::Relaxed);
        w[at::WORKERS].store(u64::from(procs), Ordering::Release);
        // This process takes slot 0; the others take slots as they arrive.
        spread(0);
        w[at::PIDS].store(u64::from(std::process::id()), Ordering::Relaxed);
        w[at::ARRIVED].fetch_add(1, Ordering::AcqRel);
        let mut last_told = None;
        loop {
            let arrived = w[at::ARRIVED].load(Ordering::Acquire) as u32;
            if arrived >= procs {
                break;
            }
            if last_told != Some(arrived) {
                waiting(procs - arrived);
                last_told = Some(arrived);
            }
            if stop() {
                w[at::GATE].store(GATE_CALLED_OFF, Ordering::Release);
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        waiting(0);
        // Processes in other terminals look at the gate between yields: give them time.
        open(w, Duration::from_millis(20));
        start_on_time(w);
        if let Err(err) = cures::run(w, self.sync, self.semaphore_id(), increments, &stop) {
            if stop() {
                return Ok(None);
            }
            return Err(err);
        }
        if stop() {
            return Ok(None);
        }
        finished(w);
        loop {
            if w[at::FINISHED].load(Ordering::Acquire) as u32 >= procs {
                break;
            }
            if stop() {
                return Ok(None);
            }
            if let Some(pid) = (1..procs as usize)
                .map(|slot| w[at::PIDS + slot].load(Ordering::Acquire))
                .filter(|pid| *pid != SLOT_DONE)
                .map(|pid| pid as i32)
                .find(|pid| *pid > 0 && !alive(*pid))
            {
                anyhow::bail!(
                    "process {pid} ended before finishing its increments: the count is incomplete"
                );
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(Some(self.counted(procs, increments)))
    }
}

/// `shm-race counter --others K`: print the segment's id, wait for K processes that join, race
/// with them, and print the count.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let term = Termination::install()?;
    let [sync] = args.syncs[..] else {
        return Err(UsageError(
            "--others runs one race at a time: give --sync none, semaphore or atomic".into(),
        )
        .into());
    };
    let procs = args.others + 1;
    let race = Race::create(sync, args.perms).hint(LIMITS_HINT)?;
    created(ui, &race, args.perms);
    let id = race.segment_id();
    // A closed stdout (no one can read the id) ends the wait, quietly.
    let printed: std::cell::RefCell<anyhow::Result<()>> = std::cell::RefCell::new(Ok(()));
    let waiting = |left: u32| {
        if left == procs - 1 && printed.borrow().is_ok() {
            *printed.borrow_mut() = out_line(format_args!("Shared Memory Id = {id}"));
        }
        if left > 0 {
            ui.note(&format!(
                "waiting for {}: run `shm-race counter --join {id}` in another terminal",
                ui::counted(left, "more process")
            ));
        } else {
            ui.note(&format!("all {procs} processes are here: go"));
        }
    };
    ui.step(
        2,
        &format!(
            "wait for {} at the start gate",
            ui::counted(procs - 1, "other process")
        ),
    );
    ui.meaning("this process races too; the others come from `shm-race counter --join`");
    let narrate = |left: u32| {
        waiting(left);
        if left == 0 {
            ui.step(
                3,
                &format!(
                    "open the gate: every process adds 1, {}",
                    times(args.increments)
                ),
            );
            what_increments_are(ui, sync);
        }
    };
    let result = race.counter_with_others(procs, args.increments, narrate, || {
        term.received().is_some() || printed.borrow().is_err()
    });
    let Some(result) = result? else {
        if term.received().is_none() {
            drop(race);
            return printed.into_inner();
        }
        return Err(interrupted(ui, &term, race));
    };
    counter::title(procs, args.increments)?;
    out_line(format_args!("{}", counter::row(&result)))?;
    ui.step(4, &format!("compare, then remove {}", what_goes(&race)));
    counter::explain(ui, &result);
    removed(ui, race)
}
