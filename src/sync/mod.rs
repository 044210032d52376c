//! Synchronisation on shared memory: the notes' warning (section B1) made visible.
//!
//! The notes say shared memory needs synchronisation, "must ensure that no two processes are
//! performing a write operation at once ⟹ data corruption". This folder has the two classic
//! corruptions and their cures, a lesson file each (`shm-race` runs them):
//!
//! | lesson                 | what goes wrong                          | cure                      |
//! |------------------------|------------------------------------------|---------------------------|
//! | [`counter`]: `n++`     | two processes load the same value, both store value+1: an update is lost | a `SemaphoreSet` around the increment, or one atomic add (`cures.rs`) |
//! | [`torn`]: a record     | a reader copies a record while a writer is half way through rewriting it | a semaphore around both; an atomic per field is not enough |
//! | [`others`] and [`join`] | the counter race, with processes started by hand in other terminals (`shm-race counter --others K`, `--join ID`) | as for the counter |
//!
//! The racing processes meet at a start gate in the segment (`race.rs`), so they really run at
//! the same time. The segment and the semaphore set belong to the run: they are removed on every
//! way out, and a worker killed while holding the semaphore gives it back (SEM_UNDO), so the
//! others are not left waiting for ever.
//!
//! This file holds the safe types: a System V semaphore set ([`SemId`], `SemaphoreSet`, a
//! critical section as a [`SemGuard`]), a POSIX semaphore inside a segment
//! (`SharedSemaphore`), and the ways a race synchronises ([`SyncMode`]).

use std::fmt;

use anyhow::Context as _;
use nix::errno::Errno;

use crate::sys::SysError;
use crate::ui::HintExt as _;

pub mod counter;
pub(crate) mod cures;
pub mod join;
pub mod others;
pub(crate) mod race;
pub mod torn;

// ---------------------------------------------------------------------------------------------
// System V semaphores

/// `struct sembuf` flags: SEM_UNDO makes the kernel undo this process's operations when it
/// ends, so a process killed inside the critical section releases it.
const SEM_UNDO: libc::c_short = 0x1000;

/// The fourth argument of semctl(2), which the caller must define (`union semun`).
#[repr(C)]
union Semun {
    val: libc::c_int,
    buf: *mut libc::semid_ds,
}

/// The identifier of a semaphore set, as `semget` returns it and `ipcs -s` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SemId(i32);

impl fmt::Display for SemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl SemId {
    /// An id another process passed on (through a segment, say); nothing is checked yet.
    pub fn from_raw(id: i32) -> SemId {
        SemId(id)
    }

    pub fn raw(self) -> i32 {
        self.0
    }

    /// `semctl(id, index, SETVAL, value)`: a mutex starts at 1 (free).
    pub(crate) fn set_value(self, index: u16, value: i32) -> anyhow::Result<()> {
        let arg = Semun { val: value };
        // SAFETY: SETVAL reads the `val` member of the union passed by value; no memory of ours
        // is written.
        let rc = unsafe { libc::semctl(self.0, libc::c_int::from(index), libc::SETVAL, arg) };
        if rc == -1 {
            return Err(SysError::last("semctl"))
                .with_context(|| format!("cannot set semaphore {index} of set {self}"));
        }
        Ok(())
    }

    /// `semctl(id, index, GETVAL)`: the semaphore's value now.
    pub fn value(self, index: u16) -> anyhow::Result<i32> {
        // SAFETY: GETVAL takes no fourth argument and touches no memory of ours.
        let rc = unsafe { libc::semctl(self.0, libc::c_int::from(index), libc::GETVAL) };
        if rc == -1 {
            return Err(SysError::last("semctl"))
                .with_context(|| format!("cannot read semaphore {index} of set {self}"));
        }
        Ok(rc)
    }

    /// How many semaphores the set has (`semctl(id, 0, IPC_STAT)`); fails once it is removed.
    pub fn count(self) -> anyhow::Result<usize> {
        // SAFETY: semid_ds is plain old data, so all zeroes is a valid value.
        let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
        let arg = Semun { buf: &mut ds };
        // SAFETY: IPC_STAT writes one semid_ds through `buf`, which points at `ds`, alive and
        // writable for the whole call.
        let rc = unsafe { libc::semctl(self.0, 0, libc::IPC_STAT, arg) };
        if rc == -1 {
            return Err(SysError::last("semctl"))
                .with_context(|| format!("cannot read the status of semaphore set {self}"));
        }
        Ok(ds.sem_nsems as usize)
    }

    /// Whether the kernel still has this set (`/proc/sysvipc/sem`, readable by every user).
    pub fn exists(self) -> bool {
        crate::sys::sysvipc_lists("sem", self.0)
    }

    fn op(self, index: u16, delta: libc::c_short) -> Result<(), SysError> {
        let mut buf = libc::sembuf {
            sem_num: index,
            sem_op: delta,
            sem_flg: SEM_UNDO,
        };
        // SAFETY: one valid, writable sembuf, and nsops says one.
        let rc = unsafe { libc::semop(self.0, &mut buf, 1) };
        if rc == -1 {
            return Err(SysError::last("semop"));
        }
        Ok(())
    }

    /// P, or wait: `semop(id, {index, -1, SEM_UNDO})`, which sleeps while the value is 0. A
    /// signal interrupts the sleep (semop is never restarted); unless `stop` says so, it waits
    /// again (a stopped and continued process sees EINTR too).
    pub fn wait(self, index: u16, stop: impl Fn() -> bool) -> anyhow::Result<()> {
        loop {
            match self.op(index, -1) {
                Ok(()) => return Ok(()),
                Err(SysError {
                    errno: Errno::EINTR,
                    ..
                }) if !stop() => {}
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!("cannot wait on semaphore {index} of set {self}")
                    });
                }
            }
        }
    }

    /// V, or signal: `semop(id, {index, +1, SEM_UNDO})`, which wakes a waiter.
    pub(crate) fn post(self, index: u16) -> anyhow::Result<()> {
        self.op(index, 1)
            .with_context(|| format!("cannot post semaphore {index} of set {self}"))
    }

    /// Wait, and post again when the guard is dropped: a critical section.
    pub fn lock(self, index: u16, stop: impl Fn() -> bool) -> anyhow::Result<SemGuard> {
        self.wait(index, stop)?;
        Ok(SemGuard { id: self, index })
    }

    /// `semctl(id, 0, IPC_RMID)`: the set goes at once, and processes waiting on it wake with
    /// EIDRM.
    pub fn remove(self) -> anyhow::Result<()> {
        // SAFETY: IPC_RMID takes no fourth argument.
        let rc = unsafe { libc::semctl(self.0, 0, libc::IPC_RMID) };
        if rc == -1 {
            return Err(SysError::last("semctl"))
                .with_context(|| format!("cannot remove semaphore set {self}"));
        }
        Ok(())
    }
}

/// A critical section: the semaphore was taken, and is given back when this is dropped.
#[derive(Debug)]
pub struct SemGuard {
    id: SemId,
    index: u16,
}

impl SemGuard {
    /// Leave the critical section now, and hear of a failure.
    pub fn release(self) -> anyhow::Result<()> {
        let result = self.id.post(self.index);
        std::mem::forget(self);
        result
    }
}

impl Drop for SemGuard {
    fn drop(&mut self) {
        let _ = self.id.post(self.index);
    }
}

/// A semaphore set this process created: dropping it removes it.
#[derive(Debug)]
pub(crate) struct SemaphoreSet {
    id: SemId,
    removed: bool,
}

impl SemaphoreSet {
    /// `semget(IPC_PRIVATE, count, IPC_CREAT | perms)`: a new set of `count` semaphores, each 0.
    pub fn create(count: u16, perms: u32) -> anyhow::Result<SemaphoreSet> {
        // SAFETY: semget takes plain integers and touches no memory of ours.
        let id = unsafe {
            libc::semget(
                libc::IPC_PRIVATE,
                libc::c_int::from(count),
                libc::IPC_CREAT | (perms & 0o777) as libc::c_int,
            )
        };
        if id == -1 {
            let err = SysError::last("semget");
            let hint = crate::sys::sysv_limit_hint("sem", Some(err.errno), u64::from(count));
            let err = anyhow::Error::new(err)
                .context(format!("cannot create a set of {count} semaphore(s)"));
            return match hint {
                Some(hint) => Err(err).hint(hint),
                None => Err(err),
            };
        }
        Ok(SemaphoreSet {
            id: SemId(id),
            removed: false,
        })
    }

    /// A set of one semaphore used as a mutex: created, then set to 1 (free).
    pub(crate) fn mutex(perms: u32) -> anyhow::Result<SemaphoreSet> {
        let set = SemaphoreSet::create(1, perms)?;
        set.id.set_value(0, 1)?;
        Ok(set)
    }

    pub fn id(&self) -> SemId {
        self.id
    }

    /// Remove it now; calling it again does nothing.
    pub fn remove(&mut self) -> anyhow::Result<()> {
        if !self.removed {
            self.removed = true;
            self.id.remove()?;
        }
        Ok(())
    }
}

impl Drop for SemaphoreSet {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

// ---------------------------------------------------------------------------------------------
// POSIX semaphores in shared memory

/// A POSIX semaphore that lives inside a shared segment (`sem_init(sem, 1, value)`: shared
/// between processes), so that the processes attached to the segment (or forked after it was
/// attached) can wait on it and post it. Unlike a System V set it is no kernel object of its
/// own: it goes with the segment. The value is copied into a forked child with the mapping, and
/// names the same semaphore there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SharedSemaphore<'a> {
    sem: *mut libc::sem_t,
    _segment: std::marker::PhantomData<&'a crate::shm::Attachment>,
}

impl<'a> SharedSemaphore<'a> {
    /// The bytes a semaphore takes in a segment (and its alignment).
    pub(crate) const SIZE: usize = std::mem::size_of::<libc::sem_t>();
    pub(crate) const ALIGN: usize = std::mem::align_of::<libc::sem_t>();

    /// Make a semaphore with `value` at byte `offset` of a read-write attachment.
    pub fn init(
        att: &'a crate::shm::Attachment,
        offset: usize,
        value: u32,
    ) -> anyhow::Result<SharedSemaphore<'a>> {
        anyhow::ensure!(
            att.as_atomics().is_some(),
            "segment {} is attached read-only",
            att.id()
        );
        anyhow::ensure!(
            offset.is_multiple_of(Self::ALIGN)
                && offset
                    .checked_add(Self::SIZE)
                    .is_some_and(|end| end <= att.len()),
            "a semaphore at byte {offset} does not fit segment {} ({} bytes, {}-byte aligned)",
            att.id(),
            att.len(),
            Self::ALIGN
        );
        let sem = (att.addr() + offset) as *mut libc::sem_t;
        // SAFETY: the semaphore's bytes are within the mapping and aligned (checked above),
        // and stay mapped while `att` is borrowed; pshared = 1 as the memory is shared.
        if unsafe { libc::sem_init(sem, 1, value) } == -1 {
            return Err(SysError::last("sem_init")).context("cannot make a shared semaphore");
        }
        Ok(SharedSemaphore {
            sem,
            _segment: std::marker::PhantomData,
        })
    }

    /// `sem_wait`: take one, sleeping while the value is 0. A signal's EINTR is returned.
    pub fn wait(&self) -> Result<(), Errno> {
        // SAFETY: `sem` was initialised by `init` and the mapping outlives `self`.
        if unsafe { libc::sem_wait(self.sem) } == -1 {
            return Err(Errno::last());
        }
        Ok(())
    }

    /// `sem_trywait`: take one if the value is above 0, else EAGAIN at once.
    pub fn try_wait(&self) -> Result<(), Errno> {
        // SAFETY: as for `wait`.
        if unsafe { libc::sem_trywait(self.sem) } == -1 {
            return Err(Errno::last());
        }
        Ok(())
    }

    /// `sem_post`: give one back, waking a waiter.
    pub(crate) fn post(&self) -> Result<(), Errno> {
        // SAFETY: as for `wait`.
        if unsafe { libc::sem_post(self.sem) } == -1 {
            return Err(Errno::last());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// How the racing processes synchronise

/// How the racing processes synchronise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Nothing: `n = n + 1` as a load and a store, as C compiles `shm[0]++`
    None,
    /// A System V semaphore around the critical section (semop P and V)
    Semaphore,
    /// One atomic read-modify-write instruction (`lock xadd` on x86-64)
    Atomic,
}

impl SyncMode {
    pub const ALL: [SyncMode; 3] = [SyncMode::None, SyncMode::Semaphore, SyncMode::Atomic];

    pub fn name(self) -> &'static str {
        match self {
            SyncMode::None => "none",
            SyncMode::Semaphore => "semaphore",
            SyncMode::Atomic => "atomic",
        }
    }

    fn code(self) -> u64 {
        match self {
            SyncMode::None => 0,
            SyncMode::Semaphore => 1,
            SyncMode::Atomic => 2,
        }
    }

    fn from_code(code: u64) -> Option<SyncMode> {
        SyncMode::ALL.into_iter().find(|s| s.code() == code)
    }
}

impl fmt::Display for SyncMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The most processes a race takes (each has a slot for its PID in the segment).
pub const MAX_PROCS: u32 = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mutex_counts_down_and_up_and_goes_when_dropped() {
        let set = SemaphoreSet::mutex(0o600).unwrap();
        let id = set.id();
        assert!(id.exists());
        assert_eq!(id.count().unwrap(), 1);
        assert_eq!(id.value(0).unwrap(), 1);
        let guard = id.lock(0, || false).unwrap();
        assert_eq!(id.value(0).unwrap(), 0);
        drop(guard);
        assert_eq!(id.value(0).unwrap(), 1);
        id.lock(0, || false).unwrap().release().unwrap();
        assert_eq!(id.value(0).unwrap(), 1);
        drop(set);
        assert!(!id.exists());
        let err = id.value(0).unwrap_err();
        assert_eq!(crate::sys::errno_of(&err), Some(Errno::EINVAL));
    }
}
