//! The notes' master program (`shm-master`): create a segment, attach it, clear the ready flag,
//! print the id, wait for the slave's flag, print the values, detach and destroy.
//!
//! The notes: "process P1 creates shared memory region M"; "1. Create or locate a shared memory
//! region M", "2. Attach M to the process memory space", "3. Read from or write to memory space
//! M ⟹ values are visible to all processes that share M", then steps 4 and 5
//! (`detach_destroy.rs`). With no options stdout is the C master's, byte for byte; what it
//! does differently (the order of attach and print, the clean-up on every way out) is in
//! `shm-master --help`. Lab sheet: chapter 1, "Walk-through: the notes' dialogue" and "The C
//! programs beside the Rust ones".

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use super::{Access, CreateOptions, IPC_PRIVATE, Segment, ShmId, detach_destroy, inspect, layout};
use crate::sys::Termination;
use crate::ui::{HintExt as _, Interrupted, Ui, out_line};

/// What `shm-master` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The key to make the segment with (`--key`, `--ftok`); None for IPC_PRIVATE, as the notes.
    pub key: Option<libc::key_t>,
    /// Time between two looks at the ready flag (the notes' sleep(3)).
    pub interval: Duration,
    /// Give up after this long without a slave.
    pub timeout: Option<Duration>,
    /// How many values to read after the flag (the notes: 3).
    pub count: usize,
    /// Permission bits of the segment (the notes: 0600).
    pub perms: u32,
    /// Show the segment's status after each step (`inspect.rs`).
    pub inspect: bool,
    /// Do step 5 right after step 2 (`detach_destroy.rs`).
    pub remove_early: bool,
}

/// `shm-master`: steps 1 to 5.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let term = Termination::install()?;
    let inspect_if_asked = |id: ShmId| args.inspect.then(|| inspect::run(ui, id, "")).flatten();

    // Step 1: create.
    let key = args.key.unwrap_or(IPC_PRIVATE);
    let options = CreateOptions {
        key,
        size: layout::SIZE,
        perms: args.perms,
        // A named key may be left over from an earlier run: never adopt (and later destroy) it.
        exclusive: key != IPC_PRIVATE,
    };
    ui.step(1, "create the shared memory region M");
    let mut segment = match Segment::create(&options) {
        Ok(segment) => segment,
        Err(err) => {
            out_line(format_args!("Cannot create shared memory!"))?;
            let hint = match crate::sys::errno_of(&err) {
                Some(nix::errno::Errno::EEXIST) => super::another_users_key_hint(key)
                    .unwrap_or_else(|| format!(
                        "a segment with key {0} exists already, left by a run that was killed or made by another user: `ipcs -m` shows it and its owner; if it is yours, `ipcrm -M {0}` removes it",
                        super::key_text(key)
                    )),
                // A limit reached is named by Segment::create's own hint, which wins.
                _ => "`ipcs -l` shows the system's limits, `ipcs -m` the segments that exist"
                    .to_string(),
            };
            return Err(err).hint(hint);
        }
    };
    let id = segment.id();
    ui.call(&options.call_text(), id);
    ui.meaning(&format!(
        "the kernel made a {}-byte segment; id {id} names it to every process",
        layout::SIZE
    ));
    if args.perms & 0o077 != 0 {
        ui.meaning(&format!(
            "mode {:04o} opens it to {}: whoever learns the id (`ipcs -m` lists it) can attach \
             it and forge the values or the ready flag",
            args.perms,
            if args.perms & 0o007 != 0 {
                "every user"
            } else {
                "the group"
            }
        ));
    }
    inspect_if_asked(id);

    // Step 2: attach.
    ui.step(2, "attach M to this process's address space");
    let attachment = match id.attach(Access::ReadWrite) {
        Ok(attachment) => attachment,
        Err(err) => {
            // The notes' master has printed its id by now: stdout stays the same.
            out_line(format_args!("Shared Memory Id = {id}"))?;
            out_line(format_args!("Cannot attach shared memory!"))?;
            return Err(err);
        }
    };
    ui.call(
        &format!("shmat({id}, NULL, 0)"),
        format!("{:#x}", attachment.addr()),
    );
    ui.meaning(&format!(
        "the segment is mapped at {:#x} here; from now on it is plain memory, no system call needed",
        attachment.addr()
    ));
    let mut last_nattch = inspect_if_asked(id);

    if args.remove_early {
        detach_destroy::early(ui, &mut segment)?;
        last_nattch = inspect_if_asked(id);
    }

    // Step 3: the master's part of read/write.
    ui.step(3, "read from and write to M");
    layout::clear_flag(&attachment)?;
    ui.act("shm[0] = 0");
    ui.meaning(&format!(
        "the ready flag is cleared; only now is the id printed, so no slave can write before \
         it (the notes' master prints first, and can wipe an early slave's flag); then look \
         at shm[0] every {} s until the slave sets it",
        secs(args.interval)
    ));
    out_line(format_args!("Shared Memory Id = {id}"))?;
    let started = Instant::now();
    loop {
        if layout::is_ready(&attachment) {
            break;
        }
        let mut nap = args.interval;
        if let Some(timeout) = args.timeout {
            let waited = started.elapsed();
            if waited >= timeout {
                detach_destroy::on_the_way_out(ui, attachment, segment)?;
                return Err(anyhow::anyhow!(
                    "no slave set the ready flag of segment {id} within {} s; the segment is destroyed",
                    secs(timeout)
                ))
                .hint(format!(
                    "start shm-slave in another terminal and give it id {id}, or allow longer with --timeout"
                ));
            }
            nap = nap.min(timeout - waited);
        }
        if let Some(sig) = term.sleep(nap) {
            detach_destroy::on_the_way_out(ui, attachment, segment)?;
            ui.note(&format!(
                "{}: detached and destroyed segment {id}",
                Interrupted(sig)
            ));
            return Err(Interrupted(sig).into());
        }
        if args.inspect {
            last_nattch = inspect::if_nattch_changed(ui, id, last_nattch);
        }
    }
    ui.meaning(&format!(
        "shm[0] is {}: the slave has written; reading {} values is a plain memory read",
        attachment
            .load(layout::FLAG, std::sync::atomic::Ordering::Acquire)
            .unwrap_or(0),
        args.count
    ));
    inspect_if_asked(id);
    for value in layout::values(&attachment, args.count) {
        out_line(format_args!("Read {value} from shared memory."))?;
    }

    // Steps 4 and 5.
    detach_destroy::run(ui, attachment, &mut segment, || {
        inspect_if_asked(id);
    })
}

fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}
