//! `n++` three ways: as C compiles it (updates are lost), and its two cures, a semaphore around
//! it and one atomic instruction.
//!
//! The notes: "must ensure that no two processes are performing a write operation at once
//! ⟹ data corruption", and among the disadvantages of shared memory, "Synchronization: shared
//! resource but we need to synchronize access". [`run`] is one racing process's increments, the
//! way its [`SyncMode`] says; [`holding`] is the semaphore cure for a record of several words;
//! [`created`] tells how a race's semaphore is made. Lab sheet:
//! chapter 5, "Why n++ loses updates" and "The cures and their cost".

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use super::race::{Race, at};
use super::{SemId, SyncMode};
use crate::shm::CreateOptions;
use crate::ui::Ui;

/// One worker's increments. `stop` is asked every few thousand increments.
pub(super) fn run(
    w: &[AtomicU64],
    sync: SyncMode,
    sem: Option<SemId>,
    increments: u64,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<()> {
    let counter = &w[at::COUNTER];
    let mut left = increments;
    while left > 0 {
        let batch = left.min(4096);
        match (sync, sem) {
            (SyncMode::None, _) => {
                for _ in 0..batch {
                    // `shm[0]++` as the CPU runs it: load, add, store, with room in between
                    // for another process's store, which this one then overwrites.
                    let value = counter.load(Ordering::Relaxed);
                    counter.store(value.wrapping_add(1), Ordering::Relaxed);
                }
            }
            (SyncMode::Atomic, _) => {
                for _ in 0..batch {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
            (SyncMode::Semaphore, Some(sem)) => {
                for _ in 0..batch {
                    // The same load and store, but only one process at a time gets between P
                    // and V. semop is a system call, a full barrier: the next holder sees
                    // this store.
                    let guard = sem.lock(0, stop)?;
                    let value = counter.load(Ordering::Relaxed);
                    counter.store(value.wrapping_add(1), Ordering::Relaxed);
                    guard.release()?;
                }
            }
            (SyncMode::Semaphore, None) => anyhow::bail!("the race has no semaphore set"),
        }
        left -= batch;
        if stop() {
            anyhow::bail!("stopped");
        }
    }
    Ok(())
}

/// Do `part` holding the race's semaphore, if it has one: the cure for a torn record. None when
/// taking the semaphore or giving it back failed.
pub(super) fn holding<T>(sem: Option<SemId>, part: impl FnOnce() -> T) -> Option<T> {
    let guard = sem.map(|s| s.lock(0, || false)).transpose().ok()?;
    let done = part();
    match guard {
        Some(guard) => guard.release().ok().map(|()| done),
        None => Some(done),
    }
}

/// What an increment is, said once before a counter race starts.
pub(super) fn what_increments_are(ui: &Ui, sync: SyncMode) {
    ui.meaning(match sync {
        SyncMode::None => {
            "each increment is a load, an add and a store: two processes can load the same \
             value, and the second store overwrites the first. That update is lost"
        }
        SyncMode::Semaphore => {
            "each increment is semop P, load, add, store, semop V: one process at a time, at the \
             cost of two system calls per increment"
        }
        SyncMode::Atomic => {
            "each increment is one atomic add (lock xadd): the CPU does the load, add and store \
             as one, so nothing is lost and no system call is made"
        }
    });
}

/// Narrate creating a race's segment and semaphore set.
pub(super) fn created(ui: &Ui, race: &Race, perms: u32) {
    ui.step(1, "create the shared memory region M and what guards it");
    let options = CreateOptions {
        perms,
        ..CreateOptions::private(super::race::SEGMENT_SIZE)
    };
    ui.call(&options.call_text(), race.segment_id());
    match race.semaphore_id() {
        Some(sem) => {
            ui.call(
                &format!("semget(IPC_PRIVATE, 1, IPC_CREAT|{:04o})", perms & 0o777),
                sem,
            );
            ui.call(&format!("semctl({sem}, 0, SETVAL, 1)"), 0);
            ui.meaning(
                "a set of one System V semaphore, set to 1: free. P (semop -1) takes it, waiting \
                 while it is 0; V (semop +1) gives it back. SEM_UNDO gives it back should the \
                 holder die",
            );
        }
        None => ui.meaning("no semaphore: the processes only share the segment"),
    }
}
