//! A race across terminals, the other terminals' side (`shm-race counter --join ID`): attach the
//! race's segment by the id the first terminal printed, take a place at the gate, and add 1 again
//! and again.
//!
//! The notes: "process P2 attaches memory region M to its own memory space", and "any memory
//! writes to the region can be seen by all the other parties": the settings come from the
//! segment, written there by the process that made it ([`super::others`]). Lab sheet: chapter 5,
//! "Walk-through: two processes, one counter" (terminal 2).

#![forbid(unsafe_code)]

use std::sync::atomic::Ordering;

use anyhow::Context as _;

use super::cures::{self, what_increments_are};
use super::race::{
    GATE_CALLED_OFF, GATE_CLOSED, GATE_OPEN, MAGIC, SEGMENT_SIZE, SLOT_DONE, alive, at, finished,
    spread, start_on_time, words,
};
use super::{SemId, SyncMode};
use crate::shm::{Access, Attachment, ShmId};
use crate::sys::Termination;
use crate::ui::{self, HintExt as _, Ui, out_line};

/// `shm-race counter --join ID`: every other setting comes from the race's segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Args {
    /// The id of the race's segment, as the first terminal printed it.
    pub id: ShmId,
}

/// A worker that joined a race another terminal's process created (`--join ID`).
pub(crate) struct Joined {
    attachment: Attachment,
    pub sync: SyncMode,
    pub increments: u64,
    pub procs: u32,
    pub host: i32,
    semaphore: Option<SemId>,
    slot: u32,
}

impl Joined {
    /// Attach the race segment `id`, check it is one, and take a place at the gate.
    pub fn join(id: ShmId) -> anyhow::Result<Joined> {
        let attachment = id.attach(Access::ReadWrite)?;
        anyhow::ensure!(
            attachment.len() >= SEGMENT_SIZE,
            "segment {id} is {} bytes, not a shm-race segment ({SEGMENT_SIZE} bytes)",
            attachment.len()
        );
        let w = words(&attachment);
        anyhow::ensure!(
            w[at::MAGIC].load(Ordering::Acquire) == MAGIC,
            "segment {id} is not a shm-race counter segment"
        );
        let procs = w[at::WORKERS].load(Ordering::Acquire) as u32;
        anyhow::ensure!(
            procs >= 2,
            "segment {id} belongs to a race that takes no other processes (it was started without --others)"
        );
        anyhow::ensure!(
            w[at::GATE].load(Ordering::Acquire) == GATE_CLOSED,
            "the race in segment {id} has started already, or was called off"
        );
        let sync = SyncMode::from_code(w[at::SYNC].load(Ordering::Relaxed))
            .context("the race segment names no known synchronisation")?;
        let semid = w[at::SEMID].load(Ordering::Relaxed);
        let semaphore = (semid > 0).then(|| SemId::from_raw((semid - 1) as i32));
        let slot = w[at::ARRIVED].fetch_add(1, Ordering::AcqRel) as u32;
        if slot >= procs {
            w[at::ARRIVED].fetch_sub(1, Ordering::AcqRel);
            anyhow::bail!("the race in segment {id} has all its {procs} processes already");
        }
        w[at::PIDS + slot as usize].store(u64::from(std::process::id()), Ordering::Release);
        Ok(Joined {
            sync,
            increments: w[at::INCREMENTS].load(Ordering::Relaxed),
            procs,
            host: w[at::HOST].load(Ordering::Relaxed) as i32,
            semaphore,
            slot,
            attachment,
        })
    }

    /// Where the race's segment is mapped in this process.
    pub fn address(&self) -> usize {
        self.attachment.addr()
    }

    /// Which of the race's processes this is (the creator is 1).
    pub fn number(&self) -> u32 {
        self.slot + 1
    }

    /// Wait at the gate, then do this process's increments. `Ok(false)` when `stop` said so,
    /// or the race was called off.
    pub fn run(&self, stop: impl Fn() -> bool) -> anyhow::Result<bool> {
        let w = words(&self.attachment);
        spread(self.slot);
        let mut spins = 0u32;
        loop {
            match w[at::GATE].load(Ordering::Acquire) {
                GATE_OPEN => break,
                GATE_CALLED_OFF => anyhow::bail!("the process that created the race called it off"),
                _ => {}
            }
            // A look at the stop flag is one atomic load: every time round, since each turn
            // yields the CPU, and on a busy machine a yield can last a whole time slice.
            if stop() {
                return Ok(false);
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(4096) && !alive(self.host) {
                anyhow::bail!(
                    "the process that created the race ({}) has ended",
                    self.host
                );
            }
            std::hint::spin_loop();
            std::thread::yield_now();
        }
        start_on_time(w);
        if let Err(err) = cures::run(w, self.sync, self.semaphore, self.increments, &stop) {
            if stop() {
                return Ok(false);
            }
            return Err(err);
        }
        if stop() {
            return Ok(false);
        }
        w[at::PIDS + self.slot as usize].store(SLOT_DONE, Ordering::Release);
        finished(w);
        Ok(true)
    }

    /// The counter now.
    pub fn counter(&self) -> u64 {
        words(&self.attachment)[at::COUNTER].load(Ordering::Acquire)
    }
}

/// `shm-race counter --join ID`: join the race, add, and say what the counter read.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let term = Termination::install()?;
    let id = args.id;
    ui.step(1, "attach the race's segment and take a place at the gate");
    let joined = match Joined::join(id) {
        Ok(joined) => joined,
        Err(err) => {
            let hint = match crate::sys::errno_of(&err) {
                Some(nix::errno::Errno::EACCES) => {
                    "the race's segment is closed to you: run both as the same user, or start \
                     the first with --perms 666"
                }
                _ => {
                    "give the id that `shm-race counter --others K` printed, while it waits; \
                     `ipcs -m` lists segments"
                }
            };
            return Err(err).hint(hint);
        }
    };
    ui.call(
        &format!("shmat({id}, NULL, 0)"),
        format!("{:#x}", joined.address()),
    );
    out_line(format_args!(
        "joined segment {id}: process {} of {}, sync {}, {}",
        joined.number(),
        joined.procs,
        joined.sync,
        ui::counted(joined.increments, "increment")
    ))?;
    ui.step(2, "wait at the gate, then add 1 again and again");
    what_increments_are(ui, joined.sync);
    if !joined.run(|| term.received().is_some())? {
        return Err(term.interrupted());
    }
    out_line(format_args!(
        "done: the counter read {} as this process finished; the first terminal prints the total",
        joined.counter()
    ))?;
    ui.step(3, "detach; the segment's creator removes it");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::{CreateOptions, Segment};
    use crate::sync::race::Race;

    // The races themselves fork, which the multi-threaded test harness cannot do safely:
    // tests/lab/sync.rs runs them through shm-race.

    #[test]
    fn joining_checks_the_segment() {
        let plain = Segment::create(&CreateOptions::private(SEGMENT_SIZE)).unwrap();
        let err = Joined::join(plain.id()).err().unwrap();
        assert!(err.to_string().contains("not a shm-race"), "{err}");
        let small = Segment::create(&CreateOptions::private(40)).unwrap();
        let err = Joined::join(small.id()).err().unwrap();
        assert!(err.to_string().contains("40 bytes"), "{err}");
        let race = Race::create(SyncMode::Atomic, 0o600).unwrap();
        let err = Joined::join(race.segment_id()).err().unwrap();
        assert!(err.to_string().contains("no other processes"), "{err}");
    }
}
