//! Synchronisation on shared memory: the notes' warning (section B1) made visible.
//!
//! The notes say shared memory needs synchronisation, "no two processes performing a write at
//! once, or data corruption". This module has the two classic corruptions and their cures:
//!
//! | race                       | what goes wrong                          | cure                      |
//! |----------------------------|------------------------------------------|---------------------------|
//! | [`Race::counter`]: `n++`   | two processes load the same value, both store value+1: an update is lost | a [`SemaphoreSet`] around the increment, or one atomic add |
//! | [`Race::torn`]: a record   | a reader copies a record while a writer is half way through rewriting it | a semaphore around both; an atomic per field is not enough |
//!
//! The racing processes are forked children (or, for the counter, processes started in other
//! terminals with `shm-race counter --join ID`); they meet at a start gate in the segment, so
//! they really run at the same time. The segment and the semaphore set belong to the run: they are
//! removed on every way out, and a worker killed while holding the semaphore gives it back
//! (SEM_UNDO), so the others are not left waiting for ever.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use nix::errno::Errno;

use crate::shm::{Access, Attachment, CreateOptions, Segment, ShmId};
use crate::sys::Child;
use crate::sys::SysError;
use crate::ui::HintExt as _;

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
    pub fn set_value(self, index: u16, value: i32) -> anyhow::Result<()> {
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
    pub fn post(self, index: u16) -> anyhow::Result<()> {
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
    pub fn mutex(perms: u32) -> anyhow::Result<SemaphoreSet> {
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
    pub const SIZE: usize = std::mem::size_of::<libc::sem_t>();
    pub const ALIGN: usize = std::mem::align_of::<libc::sem_t>();

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
    pub fn post(&self) -> Result<(), Errno> {
        // SAFETY: as for `wait`.
        if unsafe { libc::sem_post(self.sem) } == -1 {
            return Err(Errno::last());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The races

/// How the racing processes synchronise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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

/// Where things are in a race segment, in 64-bit words.
mod at {
    /// "ipc-race" in ASCII: a segment that is not a race segment is refused by `--join`.
    pub const MAGIC: usize = 0;
    /// 0 closed, 1 open, 2 called off (the run ended before the start).
    pub const GATE: usize = 1;
    /// Workers at the gate, and workers done.
    pub const ARRIVED: usize = 2;
    pub const FINISHED: usize = 3;
    /// The settings, for processes that join: sync code, increments each, workers, semaphore
    /// set id + 1 (0: none), the creator's PID.
    pub const SYNC: usize = 4;
    pub const INCREMENTS: usize = 5;
    pub const WORKERS: usize = 6;
    pub const SEMID: usize = 7;
    pub const HOST: usize = 8;
    /// When the race starts and when its last worker finished (CLOCK_MONOTONIC, ns).
    pub const START_AT: usize = 9;
    pub const END_AT: usize = 10;
    /// The shared counter, alone on its cache line.
    pub const COUNTER: usize = 16;
    /// One slot per worker: its PID once it has arrived, [`super::SLOT_DONE`] once it has
    /// finished (so that a finished process that has exited is not taken for one that died).
    pub const PIDS: usize = 24;
    /// The torn-record race: the record (fields, then their sum) on cache lines of its own,
    /// and what the reader found.
    pub const RECORD: usize = 96;
    pub const FIELDS: usize = 7;
    pub const STOP: usize = 112;
    pub const WRITES: usize = 113;
    pub const READS: usize = 114;
    pub const TORN: usize = 115;
    pub const FIRST_TORN: usize = 120;
    /// Words in the segment.
    pub const WORDS: usize = 128;
}

const MAGIC: u64 = u64::from_be_bytes(*b"ipc-race");
const SLOT_DONE: u64 = u64::MAX;
const GATE_CLOSED: u64 = 0;
const GATE_OPEN: u64 = 1;
const GATE_CALLED_OFF: u64 = 2;

/// The size of a race segment in bytes.
pub const SEGMENT_SIZE: usize = at::WORDS * 8;

/// Words in the torn-race record: the fields, then their sum.
pub(crate) const RECORD_WORDS: usize = at::FIELDS + 1;

/// What a counter race found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterResult {
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
    pub fn lost_percent(&self) -> f64 {
        self.lost() as f64 * 100.0 / self.expected().max(1) as f64
    }

    /// Nanoseconds per increment, over all processes.
    pub fn ns_per_increment(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e9 / self.expected().max(1) as f64
    }
}

/// What a torn-record race found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornResult {
    pub sync: SyncMode,
    /// Copies the reader made, and how many of them were torn.
    pub reads: u64,
    pub torn: u64,
    /// Records the writer wrote meanwhile.
    pub writes: u64,
    /// The first torn copy, word for word (fields, then the sum).
    pub first_torn: Option<[u64; RECORD_WORDS]>,
    pub elapsed: Duration,
}

/// Whether a copy of the record is whole: every field the same number, and the last word their
/// sum. A copy made while the writer was half way through has fields from two writes.
pub(crate) fn record_is_whole(copy: &[u64; RECORD_WORDS]) -> bool {
    let fields = &copy[..at::FIELDS];
    let sum = fields.iter().fold(0u64, |a, f| a.wrapping_add(*f));
    fields.iter().all(|f| *f == fields[0]) && copy[at::FIELDS] == sum
}

/// What a worker tells its parent when its part failed.
const WORKER_FAILED: i32 = 1;

/// A race's segment and semaphore set, attached; both removed when it is dropped.
pub struct Race {
    attachment: Attachment,
    segment: Segment,
    semaphores: Option<SemaphoreSet>,
    sync: SyncMode,
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

    pub fn segment_id(&self) -> ShmId {
        self.segment.id()
    }

    pub fn semaphore_id(&self) -> Option<SemId> {
        self.semaphores.as_ref().map(SemaphoreSet::id)
    }

    fn words(&self) -> &[AtomicU64] {
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

    /// N forked processes each add 1 to one counter `increments` times, synchronised by
    /// `self`'s [`SyncMode`]. `stop` is asked while waiting for them: a termination signal ends the
    /// race early (the workers are killed and reaped), with `Ok(None)`.
    pub fn counter(
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
                let w = words(&self.attachment);
                if !arrive(w, slot) {
                    return WORKER_FAILED;
                }
                match add(w, sync, sem, increments, &|| false) {
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

    /// A race whose workers are this process and `procs - 1` others, each started by hand with
    /// `shm-race counter --join ID` (see [`Joined`]). `waiting` is told how many are still
    /// awaited whenever that changes; `stop` ends the wait or the run early (`Ok(None)`).
    pub fn counter_with_others(
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
        if let Err(err) = add(w, self.sync, self.semaphore_id(), increments, &stop) {
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

    /// What a finished counter race found: the counter, and the time from start to last end.
    fn counted(&self, procs: u32, increments: u64) -> CounterResult {
        let w = self.words();
        CounterResult {
            sync: self.sync,
            procs,
            increments,
            got: w[at::COUNTER].load(Ordering::Acquire),
            elapsed: race_time(w),
        }
    }

    /// A forked writer rewrites a record of [`RECORD_WORDS`] words over and over (every field
    /// the write's number, then their sum) while a forked reader copies it out `reads` times
    /// and counts the copies that are not whole. With [`SyncMode::Semaphore`] both hold the
    /// semaphore around their part. `Ok(None)` when `stop` ended it early.
    pub fn torn(&self, reads: u64, stop: impl Fn() -> bool) -> anyhow::Result<Option<TornResult>> {
        anyhow::ensure!(
            self.sync != SyncMode::Atomic,
            "the torn-record race takes --sync none or semaphore: no single atomic instruction \
             writes a whole record"
        );
        let sem = self.semaphore_id();
        let w = self.words();
        w[at::WORKERS].store(2, Ordering::Relaxed);
        let writer = crate::sys::fork(|| {
            let w = words(&self.attachment);
            if !arrive(w, 0) {
                return WORKER_FAILED;
            }
            let mut n = 0u64;
            while w[at::STOP].load(Ordering::Relaxed) == 0 {
                n += 1;
                let guard = match sem.map(|s| s.lock(0, || false)).transpose() {
                    Ok(guard) => guard,
                    Err(_) => return WORKER_FAILED,
                };
                for f in 0..at::FIELDS {
                    w[at::RECORD + f].store(n, Ordering::Relaxed);
                }
                w[at::RECORD + at::FIELDS]
                    .store(n.wrapping_mul(at::FIELDS as u64), Ordering::Relaxed);
                if let Some(guard) = guard
                    && guard.release().is_err()
                {
                    return WORKER_FAILED;
                }
            }
            w[at::WRITES].store(n, Ordering::Release);
            finished(w);
            0
        })?;
        let reader = crate::sys::fork(|| {
            let w = words(&self.attachment);
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

    /// Wait for `procs` forked workers at the gate, then open it for a start 2 ms later (by
    /// which time this process sleeps in waitpid and leaves the CPUs to the workers). False
    /// when `stop` said so first. A worker that ended before arriving fails the run.
    fn open_gate(
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

/// A worker that joined a race another terminal's process created (`--join ID`).
pub struct Joined {
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
        let semaphore = (semid > 0).then(|| SemId((semid - 1) as i32));
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
        if let Err(err) = add(w, self.sync, self.semaphore, self.increments, &stop) {
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

fn check_procs(procs: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_PROCS).contains(&procs),
        "a race takes 1 to {MAX_PROCS} processes, not {procs}"
    );
    Ok(())
}

fn words(att: &Attachment) -> &[AtomicU64] {
    att.as_atomics_u64()
        .filter(|w| w.len() >= at::WORDS)
        .expect("a race segment is attached read-write and is SEGMENT_SIZE bytes")
}

/// Whether a process still runs (`kill(pid, 0)`; EPERM means it does, as another user's).
fn alive(pid: i32) -> bool {
    pid > 0
        && !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(Errno::ESRCH)
        )
}

/// A forked worker takes its slot and waits at the gate, spinning (with a yield, so that
/// workers outnumbering CPUs still all get there). False if the race was called off.
fn arrive(w: &[AtomicU64], slot: u32) -> bool {
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
fn spread(slot: u32) {
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
fn start_on_time(w: &[AtomicU64]) {
    let start = w[at::START_AT].load(Ordering::Acquire);
    while now_ns() < start {
        std::hint::spin_loop();
    }
}

/// A worker is done: count it and push the end time forward.
fn finished(w: &[AtomicU64]) {
    w[at::END_AT].fetch_max(now_ns(), Ordering::AcqRel);
    w[at::FINISHED].fetch_add(1, Ordering::AcqRel);
}

/// From the start time to the last worker's end.
fn race_time(w: &[AtomicU64]) -> Duration {
    let start = w[at::START_AT].load(Ordering::Acquire);
    let end = w[at::END_AT].load(Ordering::Acquire);
    Duration::from_nanos(end.saturating_sub(start))
}

/// Open the gate for a start `lead` from now.
fn open(w: &[AtomicU64], lead: Duration) {
    w[at::START_AT].store(now_ns() + lead.as_nanos() as u64, Ordering::Relaxed);
    w[at::GATE].store(GATE_OPEN, Ordering::Release);
}

/// One worker's increments. `stop` is asked every few thousand increments.
fn add(
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
        let guard = match sem.map(|s| s.lock(0, || false)).transpose() {
            Ok(guard) => guard,
            Err(_) => return WORKER_FAILED,
        };
        let copy: [u64; RECORD_WORDS] =
            std::array::from_fn(|i| w[at::RECORD + i].load(Ordering::Relaxed));
        if let Some(guard) = guard
            && guard.release().is_err()
        {
            return WORKER_FAILED;
        }
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

/// Reap every worker; a worker that failed fails the run. `Ok(false)` when `stop` said so
/// first (the workers are then killed and reaped as `children` is dropped).
fn reap(children: &mut [Child], stop: &impl Fn() -> bool) -> anyhow::Result<bool> {
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

    // The races themselves fork, which the multi-threaded test harness cannot do safely:
    // tests/sync.rs runs them through shm-race.

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
