//! Why processes need IPC at all (section A of the notes): processes are isolated from each
//! other by default, each with its own memory, so cooperating ones must share a region on
//! purpose; and one reason to cooperate is computational speedup, the same work split over
//! processes that run in parallel. And what a process is (section B's opening): its context.
//!
//! The lessons, each a `run(&Args, &Ui)` that `proc-demo` calls:
//!
//! - [`isolation`]: a forked child changes a plain variable and a word of a shared segment; the
//!   parent sees only the shared change, though the plain variable sits at the same address in
//!   both processes.
//! - [`speedup`]: counting primes, split over N forked processes that each write their count
//!   into a slot of one shared segment, timed against one process doing it all.
//! - [`context`]: a child asleep in `read`, and its context as /proc shows it to its parent:
//!   address space, the CPU state saved when it entered the kernel, open files, resource limits.
//!
//! Beside them: here, a private segment of words for forked processes, and termination caught
//! for every lesson; `sleeper.rs`, the child asleep in `read` on a pipe, released and reaped;
//! `procfs.rs`, a process's context as /proc/PID shows it, and its parsers.

use std::sync::atomic::AtomicU64;

use anyhow::Context as _;

use crate::shm::{Access, Attachment, CreateOptions, Segment};
use crate::sys::Termination;
use crate::ui::{Interrupted, Ui};

pub mod context;
pub mod isolation;
mod procfs;
mod sleeper;
pub mod speedup;

pub(crate) use procfs::{Context, READ_SYSCALL, Syscall, parse_syscall};
pub(crate) use sleeper::Sleeper;
pub use speedup::{BLOCK, MAX_PROCS, count_share};

/// A private segment of `words` 64-bit words, marked for removal as soon as it is attached:
/// the kernel frees it with the last detach, however the processes end.
struct Shared {
    _segment: Segment,
    attachment: Attachment,
}

impl Shared {
    fn new(words: usize) -> anyhow::Result<Shared> {
        let segment = Segment::create(&CreateOptions::private(words * 8))
            .context("cannot create the shared segment")?;
        let attachment = segment.id().attach(Access::ReadWrite)?;
        segment.id().remove()?;
        Ok(Shared {
            _segment: segment,
            attachment,
        })
    }

    fn id(&self) -> i32 {
        self._segment.id().as_raw()
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        &self
            .attachment
            .as_atomics_u64()
            .expect("attached read-write")[i]
    }
}

/// Run a lesson with SIGINT, SIGTERM and SIGHUP caught: the lesson kills and reaps the
/// processes it made, and the run then ends by the signal.
fn guarded(ui: &Ui, lesson: impl FnOnce(&Termination) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let term = Termination::install()?;
    let result = lesson(&term);
    if let Some(sig) = term.received() {
        ui.note(&format!(
            "{}: the processes are killed and reaped; the segment went with them",
            Interrupted(sig)
        ));
        return Err(term.interrupted());
    }
    result
}
