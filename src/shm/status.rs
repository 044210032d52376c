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
    pub fn stat(self) -> anyhow::Result<Status> {
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
pub struct Status {
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

impl Status {
    /// What makes this segment unsafe to write for user `uid`, who expects `size` bytes made
    /// by themselves (`shm-slave --check`): another size (not the segment expected), another
    /// owner or creator (who could read or rewrite it at will), or permission bits that let
    /// group or others in (who could forge the values or the ready flag). Empty when none.
    pub fn trust_problems(&self, size: usize, uid: u32) -> Vec<String> {
        let mut problems = Vec::new();
        if self.size != size {
            problems.push(format!(
                "it is {} bytes, not the {size} bytes expected",
                self.size
            ));
        }
        if self.owner_uid != uid || self.creator_uid != uid {
            problems.push(format!(
                "it belongs to uid {} (created by uid {}), not to you (uid {uid})",
                self.owner_uid, self.creator_uid
            ));
        }
        if self.mode & 0o077 != 0 {
            problems.push(match crate::sys::others_access(self.mode) {
                Some(who) => format!("its mode {:04o} lets {who} it", self.mode),
                // Execute bits only: they give no access to a segment, yet it is not the mode
                // this user's master makes.
                None => format!(
                    "its mode {:04o} has group or other bits set (expected 0600)",
                    self.mode
                ),
            });
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CreateOptions, Segment};
    use super::*;

    #[test]
    fn trust_problems_name_size_owner_and_mode() {
        let seg = Segment::create(&CreateOptions::private(40)).unwrap();
        let st = seg.id().stat().unwrap();
        let me = nix::unistd::geteuid().as_raw();
        assert!(st.trust_problems(40, me).is_empty());
        assert_eq!(
            st.trust_problems(48, me),
            ["it is 40 bytes, not the 48 bytes expected"]
        );
        let other = st.trust_problems(40, me + 1);
        assert_eq!(other.len(), 1);
        assert!(
            other[0].contains(&format!("not to you (uid {})", me + 1)),
            "{other:?}"
        );
        for (mode, text) in [
            (
                0o666,
                "its mode 0666 lets its group and every other user read and write it",
            ),
            (
                0o644,
                "its mode 0644 lets its group and every other user read it",
            ),
            (0o620, "its mode 0620 lets its group write it"),
            (
                0o642,
                "its mode 0642 lets its group read and every other user write it",
            ),
            (0o604, "its mode 0604 lets every other user read it"),
        ] {
            let open = Status { mode, ..st.clone() };
            assert_eq!(open.trust_problems(40, me), [text]);
        }
    }
}
