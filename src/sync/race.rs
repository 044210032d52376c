//! A race's segment, its start gate, and how a race is told: what every race of this folder
//! shares.
//!
//! The racing processes meet at a start gate in the segment, so that they really run at the
//! same time, each on a CPU of its own where there are CPUs enough. The segment and the
//! semaphore set belong to the run ([`Race`], an owner as [`crate::shm::Segment`] is): they are
//! removed on every way out. Lab sheet: chapter 5, "Walk-through: two processes, one counter"
//! (the segment "holds the counter, the settings and a start gate").

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use nix::errno::Errno;

use super::{MAX_PROCS, SemId, SemaphoreSet, SyncMode};
use crate::shm::{Access, Attachment, CreateOptions, Segment, ShmId};
use crate::sys::{Child, Termination};
use crate::ui::{Interrupted, Ui};

/// Where things are in a race segment, in 64-bit words.
pub(super) mod at {
    /// "ipc-race" in ASCII: a segment that is not a race segment is refused by `--join`.
    pub const MAGIC: usize = 0;
    /// 0 closed, 1 open, 2 called off (the run ended before the start).
    pub(crate) const GATE: usize = 1;
    /// Workers at the gate, and workers done.
    pub(crate) const ARRIVED: usize = 2;
    pub(crate) const FINISHED: usize = 3;
    /// The settings, for processes that join: sync code, increments each, workers, semaphore
    /// set id + 1 (0: none), the creator's PID.
    pub const SYNC: usize = 4;
    pub(crate) const INCREMENTS: usize = 5;
    pub(crate) const WORKERS: usize = 6;
    pub(crate) const SEMID: usize = 7;
    pub const HOST: usize = 8;
    /// When the race starts and when its last worker finished (CLOCK_MONOTONIC, ns).
    pub(crate) const START_AT: usize = 9;
    pub(crate) const END_AT: usize = 10;
    /// The shared counter, alone on its cache line.
    pub(crate) const COUNTER: usize = 16;
    /// One slot per worker: its PID once it has arrived, [`super::SLOT_DONE`] once it has
    /// finished (so that a finished process that has exited is not taken for one that died).
    pub(crate) const PIDS: usize = 24;
    /// The torn-record race: the record (fields, then their sum) on cache lines of its own,
    /// and what the reader found.
    pub(crate) const RECORD: usize = 96;
    pub(crate) const FIELDS: usize = 7;
    pub const STOP: usize = 112;
    pub(crate) const WRITES: usize = 113;
    pub(crate) const READS: usize = 114;
    pub(crate) const TORN: usize = 115;
    pub(crate) const FIRST_TORN: usize = 120;
    /// Words in the segment.
    pub(crate) const WORDS: usize = 128;
}

pub(super) const MAGIC: u64 = u64::from_be_bytes(*b"ipc-race");
pub(super) const SLOT_DONE: u64 = u64::MAX;
pub(super) const GATE_CLOSED: u64 = 0;
pub(super) const GATE_OPEN: u64 = 1;
pub(super) const GATE_CALLED_OFF: u64 = 2;

/// The size of a race segment in bytes.
pub(crate) const SEGMENT_SIZE: usize = at::WORDS * 8;

/// What a worker tells its parent when its part failed.
pub(super) const WORKER_FAILED: i32 = 1;

/// A race's segment and semaphore set, attached; both removed when it is dropped.
pub(crate) struct Race {
    pub(super) attachment: Attachment,
    segment: Segment,
    semaphores: Option<SemaphoreSet>,
    pub(super) sync: SyncMode,
}

impl Race {
    /// Create the segment (and, for [`SyncMode::Semaphore`], a semaphore set used as a mutex)
    /// with `perms`, and attach it.
    pub fn create(sync: SyncMode, perms: u32) -> anyhow::Result<Race> {
        let segment = Segment::create(&CreateOptions {
            perms,
            ..CreateOptions::private(SEGMENT_SIZE)
        })
        .context("cannot create the shared counter's segment")?;
        let attachment = segment.id().attach(Access::ReadWrite)?;
        let semaphores = match sync {
            SyncMode::Semaphore => Some(SemaphoreSet::mutex(perms)?),
            _ => None,
        };
        let race = Race {
            attachment,
            segment,
            semaphores,
            sync,
        };
        let w = race.words();
        w[at::SYNC].store(sync.code(), Ordering::Relaxed);
        w[at::SEMID].store(
            race.semaphores
                .as_ref()
                .map_or(0, |s| s.id().raw() as u64 + 1),
            Ordering::Relaxed,
        );
        w[at::HOST].store(u64::from(std::process::id()), Ordering::Relaxed);
        w[at::MAGIC].store(MAGIC, Ordering::Release);
        Ok(race)
    }

    pub(crate) fn segment_id(&self) -> ShmId {
        self.segment.id()
    }

    pub(crate) fn semaphore_id(&self) -> Option<SemId> {
        self.semaphores.as_ref().map(SemaphoreSet::id)
    }

    pub(super) fn words(&self) -> &[AtomicU64] {
        words(&self.attachment)
    }

    /// Remove the semaphore set and the segment now (the segment goes with the last detach),
    /// and hear of a failure; dropping does the same quietly.
    pub fn remove(mut self) -> anyhow::Result<()> {
        if let Some(sems) = self.semaphores.as_mut() {
            sems.remove()?;
        }
        self.segment.remove()
    }

    /// Wait for `procs` forked workers at the gate, then open it for a start 2 ms later (by
    /// which time this process sleeps in waitpid and leaves the CPUs to the workers). False
    /// when `stop` said so first. A worker that ended before arriving fails the run.
    pub(super) fn open_gate(
        &self,
        procs: u32,
        stop: &impl Fn() -> bool,
        children: &mut [Child],
    ) -> anyhow::Result<bool> {
        let w = self.words();
        while (w[at::ARRIVED].load(Ordering::Acquire) as u32) < procs {
            if stop() {
                w[at::GATE].store(GATE_CALLED_OFF, Ordering::Release);
                return Ok(false);
            }
            for child in children.iter_mut() {
                if let Some(status) = child.try_wait()? {
                    w[at::GATE].store(GATE_CALLED_OFF, Ordering::Release);
                    if stop() {
                        return Ok(false);
                    }
                    anyhow::bail!(
                        "worker {} {} before the start",
                        child.pid(),
                        crate::sys::describe(status)
                    );
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        open(w, Duration::from_millis(2));
        Ok(true)
    }
}

pub(super) fn check_procs(procs: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_PROCS).contains(&procs),
        "a race takes 1 to {MAX_PROCS} processes, not {procs}"
    );
    Ok(())
}

pub(super) fn words(att: &Attachment) -> &[AtomicU64] {
    att.as_atomics_u64()
        .filter(|w| w.len() >= at::WORDS)
        .expect("a race segment is attached read-write and is SEGMENT_SIZE bytes")
}

/// Whether a process still runs (`kill(pid, 0)`; EPERM means it does, as another user's).
pub(super) fn alive(pid: i32) -> bool {
    pid > 0
        && !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(Errno::ESRCH)
        )
}

/// A forked worker takes its slot and waits at the gate, spinning (with a yield, so that
/// workers outnumbering CPUs still all get there). False if the race was called off.
pub(super) fn arrive(w: &[AtomicU64], slot: u32) -> bool {
    spread(slot);
    w[at::PIDS + slot as usize].store(u64::from(std::process::id()), Ordering::Relaxed);
    w[at::ARRIVED].fetch_add(1, Ordering::AcqRel);
    loop {
        match w[at::GATE].load(Ordering::Acquire) {
            GATE_OPEN => break,
            GATE_CALLED_OFF => return false,
            _ => {
                std::hint::spin_loop();
                std::thread::yield_now();
            }
        }
    }
    start_on_time(w);
    true
}

/// Put the worker in `slot` on a CPU of its own (slot modulo the CPUs this process may use):
/// two workers left on one CPU's run queue take turns instead of racing. Best effort: where
/// the affinity cannot be set, the scheduler decides.
pub(super) fn spread(slot: u32) {
    let cpus = crate::sys::allowed_cpus();
    if cpus.len() >= 2 {
        let _ = crate::sys::pin_to_set(&[cpus[slot as usize % cpus.len()]]);
    }
}

/// The monotonic clock, which every process on the machine shares, in nanoseconds.
fn now_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

/// Spin until the start time in the segment: by then the process that opened the gate has
/// gone to sleep, and every worker is on a CPU, so they truly start together.
pub(super) fn start_on_time(w: &[AtomicU64]) {
    let start = w[at::START_AT].load(Ordering::Acquire);
    while now_ns() < start {
        std::hint::spin_loop();
    }
}

/// A worker is done: count it and push the end time forward.
pub(super) fn finished(w: &[AtomicU64]) {
    w[at::END_AT].fetch_max(now_ns(), Ordering::AcqRel);
    w[at::FINISHED].fetch_add(1, Ordering::AcqRel);
}

/// From the start time to the last worker's end.
pub(super) fn race_time(w: &[AtomicU64]) -> Duration {
    let start = w[at::START_AT].load(Ordering::Acquire);
    let end = w[at::END_AT].load(Ordering::Acquire);
    Duration::from_nanos(end.saturating_sub(start))
}

/// Open the gate for a start `lead` from now.
pub(super) fn open(w: &[AtomicU64], lead: Duration) {
    w[at::START_AT].store(now_ns() + lead.as_nanos() as u64, Ordering::Relaxed);
    w[at::GATE].store(GATE_OPEN, Ordering::Release);
}

/// Reap every worker; a worker that failed fails the run. `Ok(false)` when `stop` said so
/// first (the workers are then killed and reaped as `children` is dropped).
pub(super) fn reap(children: &mut [Child], stop: &impl Fn() -> bool) -> anyhow::Result<bool> {
    for child in children.iter_mut() {
        let Some(status) = child.wait_unless(stop)? else {
            return Ok(false);
        };
        if crate::sys::shell_status(status) != 0 {
            // Ctrl-C reaches the workers too (the whole process group): then they died of the
            // signal this process is about to report.
            if stop() {
                return Ok(false);
            }
            anyhow::bail!("worker {} {}", child.pid(), crate::sys::describe(status));
        }
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// How a race is told

pub(super) const LIMITS_HINT: &str = "`ipcs -l` shows the system's limits on segments and semaphore sets; \
                           `ipcs -m -s` lists what exists, and ipcrm removes what is unused";

/// What removing a race takes away: the segment, and the semaphore set if it has one.
pub(super) fn what_goes(race: &Race) -> &'static str {
    if race.semaphore_id().is_some() {
        "the segment and the semaphore set"
    } else {
        "the segment"
    }
}

/// Remove the race, and narrate it.
pub(super) fn removed(ui: &Ui, race: Race) -> anyhow::Result<()> {
    let (seg, sem) = (race.segment_id(), race.semaphore_id());
    race.remove()?;
    if let Some(sem) = sem {
        ui.call(&format!("semctl({sem}, 0, IPC_RMID)"), 0);
    }
    ui.call(&format!("shmctl({seg}, IPC_RMID, NULL)"), 0);
    Ok(())
}

/// The note and error after a termination signal ended a race: the race is dropped first, so
/// its workers are reaped and its segment and semaphore set removed.
pub(super) fn interrupted(ui: &Ui, term: &Termination, race: Race) -> anyhow::Error {
    let (seg, sem) = (race.segment_id(), race.semaphore_id());
    drop(race);
    let sem = sem.map_or(String::new(), |s| format!(" and semaphore set {s}"));
    if let Some(sig) = term.received() {
        ui.note(&format!(
            "{}: the race is called off; segment {seg}{sem} removed",
            Interrupted(sig)
        ));
    }
    term.interrupted()
}

/// `3.10 ms`, `812 ms`, `15.5 ns`: three significant figures and a unit that fits.
pub(super) fn human(d: Duration) -> String {
    human_ns(d.as_secs_f64() * 1e9)
}

pub(super) fn human_ns(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let text = if value < 10.0 {
        format!("{value:.2}")
    } else if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    };
    format!("{text} {unit}")
}

/// `once`, `100000 times`.
pub(super) fn times(n: u64) -> String {
    if n == 1 {
        "once".into()
    } else {
        format!("{n} times")
    }
}
