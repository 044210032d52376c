//! What the kernel keeps of a segment: `shmctl(id, IPC_STAT, &buf)`, which `ipcs -m -i ID` shows
//! too, and `--inspect` prints after each step (`inspect.rs`).

use anyhow::Context as _;

use super::ShmId;
use crate::sys::SysError;

/// Linux marks a segment that IPC_RMID was called on, but which is still attached, with this bit
/// of `shm_perm.mode` (`SHM_DEST` in linux/shm.h; the libc crate does not export it).
const SHM_DEST: u32 = 0o1000;

impl ShmId {
    /// The segment's status (`shmctl(id, IPC_STAT, &buf)`); needs read permission.
    pub(crate) fn stat(self) -> anyhow::Result<Status> {
        // SAFETY: shmid_ds is plain old data, so all zeroes is a valid value.
        let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: ds is a valid, writable shmid_ds for the kernel to fill in.
        let rc = unsafe { libc::shmctl(self.0, libc::IPC_STAT, &mut ds) };
        if rc == -1 {
            return Err(SysError::last("shmctl"))
                .with_context(|| format!("cannot read the status of segment {self}"));
        }
        Ok(Status::from_ds(self, &ds))
    }
}

/// What `shmctl(IPC_STAT)` tells about a segment (`ipcs -m -i ID` shows the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub id: ShmId,
    pub key: libc::key_t,
    pub size: usize,
    /// Permission bits (0o600).
    pub mode: u32,
    /// IPC_RMID was called while processes were still attached.
    pub marked_for_destruction: bool,
    pub owner_uid: u32,
    pub owner_gid: u32,
    pub creator_uid: u32,
    /// The process that created it.
    pub creator_pid: i32,
    /// The last process that attached or detached.
    pub last_pid: i32,
    /// How many attachments there are, across all processes.
    pub attached: u64,
    /// Unix times of the last attach, last detach (None: never) and last change.
    pub attach_time: Option<i64>,
    pub detach_time: Option<i64>,
    pub change_time: i64,
}

impl Status {
    fn from_ds(id: ShmId, ds: &libc::shmid_ds) -> Status {
        let mode = u32::from(ds.shm_perm.mode);
        let when = |t: libc::time_t| (t != 0).then_some(t);
        Status {
            id,
            key: ds.shm_perm.__key,
            size: ds.shm_segsz,
            mode: mode & 0o777,
            marked_for_destruction: mode & SHM_DEST != 0,
            owner_uid: ds.shm_perm.uid,
            owner_gid: ds.shm_perm.gid,
            creator_uid: ds.shm_perm.cuid,
            creator_pid: ds.shm_cpid,
            last_pid: ds.shm_lpid,
            attached: ds.shm_nattch,
            attach_time: when(ds.shm_atime),
            detach_time: when(ds.shm_dtime),
            change_time: ds.shm_ctime,
        }
    }
}
