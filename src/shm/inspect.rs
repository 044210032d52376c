//! `--inspect`: what the kernel keeps of a segment, after each step: its size and mode, who made
//! it, how many processes have it attached (nattch), when they last attached and detached, and
//! whether it is marked for destruction.
//!
//! The notes: "5. Destroy M as only 1 process is required to do this (can occur only if M is not
//! attached to any other processes)": nattch is the count the kernel waits on, and a segment
//! destroyed while attached is shown "marked for destruction" until its last detach. Lab sheet:
//! chapter 1, "Watching the steps: --explain and --inspect".

#![forbid(unsafe_code)]

use std::fmt;

use super::{ShmId, Status, key_text};
use crate::sys::local_time;
use crate::ui::Ui;

/// Print the segment's status on stderr, or `segment ID: gone` followed by `gone` (why, if the
/// caller knows) once the kernel has no such segment. Returns nattch, None when it is gone.
pub fn run(ui: &Ui, id: ShmId, gone: &str) -> Option<u64> {
    match id.stat() {
        Ok(st) => {
            ui.inspect(&st.to_string());
            Some(st.attached)
        }
        Err(_) => {
            ui.inspect(&format!("segment {id}: gone{gone}"));
            None
        }
    }
}

/// While a process waits: print the status again only when nattch is no longer `last` (a slave
/// attached or detached meanwhile). Returns nattch as it is now.
pub(crate) fn if_nattch_changed(ui: &Ui, id: ShmId, last: Option<u64>) -> Option<u64> {
    let now = id.stat().ok().map(|st| st.attached);
    if now != last { run(ui, id, "") } else { last }
}

impl fmt::Display for Status {
    /// One line for `--inspect`:
    /// `segment 7: key IPC_PRIVATE, 40 bytes, mode 0600, owner uid 1000, creator pid 4242,
    /// last attach/detach by pid 4242, nattch 1, attached 10:00:01, detached never, changed 10:00:00`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = |t: Option<i64>| t.map_or_else(|| "never".to_string(), local_time);
        write!(
            f,
            "segment {}: key {}, {} bytes, mode {:04o}, owner uid {}, creator pid {}, \
             last attach/detach by pid {}, nattch {}, attached {}, detached {}, changed {}",
            self.id,
            key_text(self.key),
            self.size,
            self.mode,
            self.owner_uid,
            self.creator_pid,
            self.last_pid,
            self.attached,
            time(self.attach_time),
            time(self.detach_time),
            local_time(self.change_time),
        )?;
        if self.marked_for_destruction {
            write!(f, ", marked for destruction (it goes with the last detach)")?;
        }
        Ok(())
    }
}
