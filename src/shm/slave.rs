//! The notes' slave program (`shm-slave`): read the id and the values, attach the master's
//! segment, write the values, set the ready flag, detach.
//!
//! The notes: "process P2 attaches memory region M to its own memory space", "any memory writes
//! to the region can be seen by all the other parties"; steps 1 ("locate"), 2, 3 and 4, while
//! step 5 is the master's. The values go first and the flag last, with a release store
//! (`super::layout::post`). With no options stdout is the C slave's, byte for byte. The dialogue
//! is `dialogue.rs`, `--check` is `check.rs`. Lab sheet: chapter 1, "Walk-through: the notes'
//! dialogue" and "Values first, flag last"; the deeper page, "Watching nattch from a third
//! terminal: --linger".

#![forbid(unsafe_code)]

use std::time::Duration;

use nix::errno::Errno;

use super::dialogue::{self, Target};
use super::{Access, ShmId, check, inspect, layout};
use crate::sys::Termination;
use crate::ui::{HintExt as _, Interrupted, Ui, out_line};

/// What `shm-slave` was asked for.
#[derive(Debug, Clone)]
pub struct Args {
    /// The key to find the segment by (`--key`, `--ftok`); then every word is a value.
    pub key: Option<libc::key_t>,
    /// The words of the command line: the id (without a key), then values; the rest are read
    /// from standard input.
    pub id: Option<String>,
    pub values: Vec<String>,
    /// How many values to write (the notes: 3).
    pub count: usize,
    /// Show the segment's status after each step (`inspect.rs`).
    pub inspect: bool,
    /// Refuse a segment another user could read or forge (`check.rs`).
    pub check: bool,
    /// Stay attached this long after writing, before detaching.
    pub linger: Option<Duration>,
    /// How a word becomes a segment id and a value: the parsers the command line's other
    /// numbers go through, so that both say the same of a bad one.
    pub parse_id: fn(&str) -> Result<i32, String>,
    pub parse_value: fn(&str) -> Result<i32, String>,
}

/// The hint for a segment we could not reach, from the errno; `key` when it was named by one.
fn attach_hint(errno: Option<Errno>, id: Option<ShmId>, key: Option<libc::key_t>) -> String {
    match errno {
        Some(Errno::EACCES) | Some(Errno::EPERM) => {
            if let Some(hint) = key.and_then(super::another_users_key_hint) {
                return hint;
            }
            "the segment belongs to another user and its permissions keep you out: `ipcs -m` shows its owner and perms".into()
        }
        Some(Errno::ENOENT) => {
            "no segment has that key: is shm-master running with the same --key or --ftok? `ipcs -m` lists keys".into()
        }
        _ => match id {
            Some(id) => format!(
                "is shm-master running, and is {id} the id it printed? `ipcs -m` lists segments"
            ),
            None => "is shm-master running? `ipcs -m` lists segments".into(),
        },
    }
}

/// `shm-slave`: the dialogue, then steps 1 to 4.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let (target, values) = dialogue::run(args, ui)?;
    // From here on the segment may be attached: catch termination signals to detach first.
    let term = Termination::install()?;
    let inspect_if_asked = |id: ShmId| {
        if args.inspect {
            inspect::run(
                ui,
                id,
                " (the master destroyed it, and this was the last detach)",
            );
        }
    };

    ui.step(1, "locate the shared memory region M");
    let id = match target {
        Target::Id(id) => {
            ui.meaning(&format!(
                "the master created it; its id {id} is all the slave needs"
            ));
            id
        }
        Target::Key(key) => match ShmId::lookup(key) {
            Ok(id) => {
                ui.call(&format!("shmget({}, 0, 0)", super::key_text(key)), id);
                ui.meaning("an existing key gives the id of the master's segment");
                id
            }
            Err(err) => {
                out_line(format_args!("Error: Cannot attach!"))?;
                let hint = attach_hint(crate::sys::errno_of(&err), None, Some(key));
                return Err(err).hint(hint);
            }
        },
    };
    inspect_if_asked(id);

    ui.step(2, "attach M to this process's address space");
    let attachment = match id.attach(Access::ReadWrite) {
        Ok(attachment) => attachment,
        Err(err) => {
            out_line(format_args!("Error: Cannot attach!"))?;
            let key = match target {
                Target::Key(key) => Some(key),
                Target::Id(_) => None,
            };
            let hint = attach_hint(crate::sys::errno_of(&err), Some(id), key);
            return Err(err).hint(hint);
        }
    };
    ui.call(
        &format!("shmat({id}, NULL, 0)"),
        format!("{:#x}", attachment.addr()),
    );
    ui.meaning(&format!(
        "the same segment, mapped at {:#x} in this process (the master sees it elsewhere)",
        attachment.addr()
    ));
    inspect_if_asked(id);
    if attachment.len() < layout::bytes_needed(values.len()) {
        return Err(anyhow::anyhow!(
            "segment {id} is {} bytes, too small for the flag and {} values ({} bytes)",
            attachment.len(),
            values.len(),
            layout::bytes_needed(values.len())
        ))
        .hint("is this the id shm-master printed? Its segments are 40 bytes");
    }

    if args.check {
        check::run(ui, &attachment)?;
    }

    ui.step(3, "write to M");
    layout::post(&attachment, &values)?;
    for (i, value) in values.iter().enumerate() {
        ui.act(&format!("shm[{}] = {value}", i + 1));
    }
    ui.act("shm[0] = 1");
    ui.meaning(
        "the values first, the flag last (a release store): the master, which reads the flag \
         with an acquire load, never sees a half-written message",
    );
    inspect_if_asked(id);

    if let Some(linger) = args.linger {
        ui.meaning(&format!(
            "staying attached for {} s: `ipcs -m` shows nattch counting this process",
            linger.as_secs_f64()
        ));
        if let Some(sig) = term.sleep(linger) {
            attachment.detach()?;
            ui.note(&format!("{}: detached from segment {id}", Interrupted(sig)));
            return Err(Interrupted(sig).into());
        }
        inspect_if_asked(id);
    }

    ui.step(4, "detach M");
    let addr = attachment.addr();
    attachment.detach()?;
    ui.call(&format!("shmdt({addr:#x})"), 0);
    ui.meaning("done; destroying the segment (step 5) is the master's job");
    inspect_if_asked(id);
    Ok(())
}
