//! Isolated by default. The notes (A. Motivation): processes "are usually isolated from each
//! other by default (i.e. isolated memory space)", so it is "hard for cooperating processes to
//! share info" and "IPC mechanisms are needed". A forked child writes a plain variable and a word
//! of a shared segment; the parent sees only the shared change, though the plain variable sits
//! at the same address in both processes.
//!
//! Lab sheet: `docs/00-why-ipc.md`, "Isolated by default: proc-demo isolation".

#![forbid(unsafe_code)]

use std::sync::atomic::Ordering;

use crate::sys::Stopped;
use crate::ui::{Ui, out_line};

use super::Shared;

/// What `proc-demo isolation` takes: nothing.
#[derive(Debug, Clone, Default)]
pub struct Args;

/// What each process saw in [`isolation`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Isolation {
    /// The address of the plain variable (the same in the parent and in the child).
    plain_address: usize,
    /// The address the shared word is attached at.
    shared_address: usize,
    child_pid: i32,
    /// The parent's view once the child has ended.
    parent_plain: u64,
    parent_shared: u64,
}

/// The plain and shared values before the fork, and what the child writes into both.
const BEFORE: u64 = 1;
const CHILD_WRITES: u64 = 2;

/// Fork a child that sets a plain variable and a shared word from [`BEFORE`] to
/// [`CHILD_WRITES`]. `before_fork` is told the segment's id, where it is attached and where the
/// plain variable is; `child_says` runs in the child after its writes (to print what it did,
/// with its pid, the addresses and the values it sees). The parent waits for the child, then
/// reads both.
fn isolation(
    before_fork: impl FnOnce(i32, usize, usize),
    child_says: impl FnOnce(i32, usize, usize, u64, u64),
    stop: impl Fn() -> bool,
) -> anyhow::Result<Isolation> {
    let shared = Shared::new(1)?;
    let word = shared.word(0);
    word.store(BEFORE, Ordering::SeqCst);
    let mut plain: u64 = BEFORE;
    let plain_address = std::ptr::addr_of!(plain) as usize;
    let shared_address = shared.attachment.addr();
    before_fork(shared.id(), shared_address, plain_address);
    let mut child = crate::sys::fork(|| {
        // black_box: the store must really happen in this process's own copy.
        plain = std::hint::black_box(CHILD_WRITES);
        word.store(CHILD_WRITES, Ordering::SeqCst);
        let me = std::process::id() as i32;
        child_says(
            me,
            std::ptr::addr_of!(plain) as usize,
            shared_address,
            std::hint::black_box(plain),
            word.load(Ordering::SeqCst),
        );
        0
    })?;
    let child_pid = child.pid().as_raw();
    let status = match child.wait_unless(&stop)? {
        Some(status) => status,
        None => {
            child.kill();
            return Err(Stopped.into());
        }
    };
    anyhow::ensure!(
        crate::sys::shell_status(status) == 0,
        "the child process {}",
        crate::sys::describe(status)
    );
    Ok(Isolation {
        plain_address,
        shared_address,
        child_pid,
        parent_plain: std::hint::black_box(plain),
        parent_shared: word.load(Ordering::SeqCst),
    })
}

/// `proc-demo isolation`: the lines of both processes on stdout, the calls under `--explain`.
pub fn run(_args: &Args, ui: &Ui) -> anyhow::Result<()> {
    super::guarded(ui, |term| {
        let stop = || term.received().is_some();
        show(ui, &stop)
    })
}

fn show(ui: &Ui, stop: &dyn Fn() -> bool) -> anyhow::Result<()> {
    out_line(format_args!(
        "before fork: plain = {BEFORE}, shared = {BEFORE}"
    ))?;
    let seen = isolation(
        |id, shared_at, plain_at| {
            ui.step(1, "a shared segment, and a plain variable");
            ui.call("shmget(IPC_PRIVATE, 8, IPC_CREAT | 0600)", id);
            ui.call(&format!("shmat({id}, NULL, 0)"), format!("{shared_at:#x}"));
            ui.call(&format!("shmctl({id}, IPC_RMID, NULL)"), 0);
            ui.meaning("marked for removal at once: it goes with the last detach");
            ui.act(&format!(
                "plain = {BEFORE} (at {plain_at:#x}); shared = {BEFORE}"
            ));
            ui.step(
                2,
                "fork: the child gets a copy of the parent's memory; the segment is mapped into it, not copied",
            );
        },
        |pid, plain_at, shared_at, plain, shared| {
            let _ = out_line(format_args!(
                "child  (pid {pid}): plain = {plain} at {plain_at:#x}, shared = {shared} at {shared_at:#x}"
            ));
        },
        stop,
    )?;
    ui.call("fork()", seen.child_pid);
    ui.act(&format!(
        "in the child: plain = {CHILD_WRITES}; shared = {CHILD_WRITES}"
    ));
    ui.call(
        &format!("waitpid({}, &status, 0)", seen.child_pid),
        seen.child_pid,
    );
    ui.step(3, "the parent reads both");
    out_line(format_args!(
        "parent (pid {}): plain = {} at {:#x}, shared = {} at {:#x}",
        std::process::id(),
        seen.parent_plain,
        seen.plain_address,
        seen.parent_shared,
        seen.shared_address
    ))?;
    anyhow::ensure!(
        seen.parent_plain == BEFORE && seen.parent_shared == CHILD_WRITES,
        "expected plain = {BEFORE} and shared = {CHILD_WRITES} in the parent"
    );
    out_line(format_args!(
        "the child's plain = {CHILD_WRITES} went to its own copy, at the same address: each process has its own memory"
    ))?;
    out_line(format_args!(
        "its shared = {CHILD_WRITES} is seen by the parent: only a region shared on purpose is common"
    ))?;
    Ok(())
}
