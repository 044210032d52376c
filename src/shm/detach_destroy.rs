//! Steps 4 and 5 of the master: detach M, then destroy it; and destroying it early
//! (`--remove-early`), which the kernel carries out only with the last detach.
//!
//! The notes: "4. Detach M from memory space after use" and "5. Destroy M as only 1 process is
//! required to do this (can occur only if M is not attached to any other processes)". In Rust
//! the owner [`Segment`] and the guard [`Attachment`] do both on every way out; here they are
//! done by hand, to be narrated. Lab sheet: chapter 1, "Steps 4 and 5 cannot be forgotten"; the
//! deeper page, "Destroy early: --remove-early".

#![forbid(unsafe_code)]

use anyhow::Context as _;

use super::{Attachment, Segment};
use crate::ui::Ui;

/// Step 5 right after step 2 (`--remove-early`): the segment is marked for destruction, and
/// lives on while attached.
pub fn early(ui: &Ui, segment: &mut Segment) -> anyhow::Result<()> {
    let id = segment.id();
    ui.step(5, "destroy M early (--remove-early)");
    segment.remove()?;
    ui.call(&format!("shmctl({id}, IPC_RMID, NULL)"), 0);
    ui.meaning(
        "marked for destruction: it lives while attached and vanishes with the last detach, \
         even if this process is killed with SIGKILL. Linux still lets the slave attach by id \
         (other Unix systems refuse).",
    );
    Ok(())
}

/// Step 4: `shmdt`, and whether the segment outlived it.
pub fn detach(ui: &Ui, attachment: Attachment) -> anyhow::Result<()> {
    ui.step(4, "detach M");
    let addr = attachment.addr();
    let id = attachment.id();
    attachment.detach()?;
    ui.call(&format!("shmdt({addr:#x})"), 0);
    if id.exists() {
        ui.meaning("the mapping is gone from this process; the segment itself still exists");
    } else {
        ui.meaning(
            "that was the last attachment of a segment marked for destruction: the kernel freed it",
        );
    }
    Ok(())
}

/// Step 5: `shmctl(IPC_RMID)`, unless done early, and whether the kernel freed the segment at
/// once. A segment someone else removed already is told, not failed.
pub fn destroy(ui: &Ui, segment: &mut Segment) -> anyhow::Result<()> {
    let id = segment.id();
    ui.step(5, "destroy M");
    if segment.is_removed() {
        ui.meaning("already marked for destruction (--remove-early): the last detach freed it");
        return Ok(());
    }
    if !segment.remove_unless_gone()? {
        ui.call(&format!("shmctl({id}, IPC_RMID, NULL)"), "-1 EINVAL");
        ui.note(&format!(
            "segment {id} was gone already: someone else removed it (`ipcrm`, or another process's IPC_RMID) and the last detach freed it; nothing is left to destroy"
        ));
        return Ok(());
    }
    ui.call(&format!("shmctl({id}, IPC_RMID, NULL)"), 0);
    if id.exists() {
        ui.meaning(
            "marked for destruction: another process is still attached, and the kernel frees \
             the segment when it detaches",
        );
    } else {
        ui.meaning("nothing else is attached, so the kernel freed the segment at once");
    }
    Ok(())
}

/// Steps 4 and 5 once the master has read the values; `after_each` runs after each of them
/// (`--inspect`).
pub fn run(
    ui: &Ui,
    attachment: Attachment,
    segment: &mut Segment,
    after_each: impl Fn(),
) -> anyhow::Result<()> {
    detach(ui, attachment)?;
    after_each();
    destroy(ui, segment)?;
    after_each();
    Ok(())
}

/// Steps 4 and 5 on the way out of a wait that did not end with a message (`--timeout`, a
/// termination signal).
pub(crate) fn on_the_way_out(
    ui: &Ui,
    attachment: Attachment,
    mut segment: Segment,
) -> anyhow::Result<()> {
    detach(ui, attachment)?;
    destroy(ui, &mut segment).context("cannot clean up")
}
