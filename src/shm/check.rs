//! `shm-slave --check`: before writing, make sure the segment is the one expected and that no
//! other user can read it or forge what is in it; refuse to write otherwise.
//!
//! The notes (section A): "may come across a lack of security if IPC is done without encryption
//! or when multiple processes can access the shared memory space". A segment id is no secret
//! (`ipcs -m` lists them all), so what keeps others out is the segment's owner and mode, which
//! `shmctl(IPC_STAT)` tells. Lab sheet: chapter 5, "Security: the notes' pair, secured and
//! attacked"; the deeper page, "The slave checks first: --check".

#![forbid(unsafe_code)]

use super::{Attachment, Status, layout};
use crate::ui::{HintExt as _, Ui};

impl Status {
    /// What makes this segment unsafe to write for user `uid`, who expects `size` bytes made
    /// by themselves (`shm-slave --check`): another size (not the segment expected), another
    /// owner or creator (who could read or rewrite it at will), or permission bits that let
    /// group or others in (who could forge the values or the ready flag). Empty when none.
    pub(crate) fn trust_problems(&self, size: usize, uid: u32) -> Vec<String> {
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

/// `--check`: the segment must be the size shm-master makes, ours, and closed to others.
pub fn run(ui: &Ui, attachment: &Attachment) -> anyhow::Result<()> {
    let id = attachment.id();
    let uid = nix::unistd::geteuid().as_raw();
    let st = id.stat()?;
    ui.call(&format!("shmctl({id}, IPC_STAT, &buf)"), 0);
    ui.meaning("--check: is it the segment expected, and is it closed to other users?");
    let problems = st.trust_problems(layout::SIZE, uid);
    if problems.is_empty() {
        ui.meaning(&format!(
            "{} bytes, owned and created by uid {uid} (you), mode {:04o}: no other user \
             (root aside) can read or write it",
            st.size, st.mode
        ));
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "refusing to write to segment {id}: {}",
        problems.join("; ")
    ))
    .hint(
        "a segment others can write could hold forged values or a forged ready flag: start \
         shm-master with the default --perms 600, as yourself, or leave out --check to write anyway",
    )
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
