//! shm-slave: the lecture notes' slave program (section B1): attach the master's segment, write the
//! values, set the ready flag, detach.

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ipc_lab::cli::{self, Common, KeyArgs};
use ipc_lab::shm::{self, Access, ShmId, layout};
use ipc_lab::sys::Termination;
use ipc_lab::ui::{
    self, Bound, HintExt as _, Interrupted, StdinWords, Ui, UsageError, Word, out_line, out_prompt,
};
use nix::errno::Errno;

const ABOUT: &str = "Attach shm-master's shared memory segment and write values into it";

const AFTER_HELP: &str = "\
Lecture notes: B1 Shared Memory, the slave program (steps 1 to 4; step 5 is the master's).

With no arguments it asks for the id, then reads the values, from standard input, separated by
spaces or newlines, as the notes' program does with scanf. Whatever is given on the command line
is not read from standard input.

Examples:
  shm-slave                       exactly the notes' program: type the id, then 3 values
  shm-slave 32768 5 7 -9          id and values on the command line
  shm-slave --key 0x1234 5 7 -9   find the segment by key (shm-master --key 0x1234)
  shm-slave --explain --inspect 32768 5 7 -9
  shm-slave --check 32768 5 7 -9  refuse a segment another user could read or forge
  shm-slave --linger 10 32768 1 2 3   stay attached 10 s: watch `ipcs -m` meanwhile";

#[derive(Debug, Parser)]
#[command(name = "shm-slave", version, about = ABOUT, after_help = AFTER_HELP,
          allow_negative_numbers = true)]
struct Args {
    /// The segment id shm-master printed (with --key or --ftok: the first value)
    #[arg(value_name = "ID")]
    id: Option<String>,

    /// The values to write: whole numbers, negatives allowed (the rest are read from stdin)
    #[arg(value_name = "VALUE")]
    values: Vec<String>,

    /// How many values to write (1 to 9), as the master's --count
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..=layout::MAX_VALUES as i64))]
    count: u8,

    #[command(flatten)]
    naming: KeyArgs,

    /// Show the segment's status on stderr after each step
    #[arg(long)]
    inspect: bool,

    /// Before writing, check that the segment is the 40 bytes shm-master makes, belongs to
    /// you, and is closed to other users (mode 0600 or tighter); refuse to write otherwise
    #[arg(long)]
    check: bool,

    /// Stay attached for SECS after writing, before detaching (watch nattch with ipcs -m)
    #[arg(long, value_name = "SECS", value_parser = cli::parse_seconds)]
    linger: Option<Duration>,

    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    let args: Args = ipc_lab::cli::parse_args();
    let ui = Ui::new("shm-slave", args.common.color, args.common.explain);
    ui.finish(run(&args, &ui))
}

/// Where the segment is: an id, or a key to look up.
enum Target {
    Id(ShmId),
    Key(libc::key_t),
}

/// Whitespace-separated words of standard input, read as they are needed, as scanf("%d") reads
/// them; each at most [`ui::NUMBER_MAX`] bytes (`bound` says what it is for the error).
struct Words {
    input: StdinWords,
    /// The rest of a word split further at a blank of Unicode's (U+00A0, say).
    pending: std::collections::VecDeque<String>,
}

impl Words {
    fn next(&mut self, bound: &Bound) -> anyhow::Result<Option<String>> {
        while self.pending.is_empty() {
            // No termination handler is installed yet: Ctrl-C ends the process by default.
            let word = match self.input.next(bound, None)? {
                Word::Text(word) => word,
                Word::End | Word::Woken => return Ok(None),
            };
            let word = String::from_utf8_lossy(&word);
            self.pending
                .extend(word.split_whitespace().map(str::to_string));
        }
        Ok(self.pending.pop_front())
    }
}

/// The bound on the id typed at the prompt.
fn id_bound() -> Bound {
    Bound {
        max: ui::NUMBER_MAX,
        what: "the segment id".into(),
        why: "more than any id needs (at most 10 digits)".into(),
        hint: "type the id that shm-master printed, or give it: shm-slave ID VALUE...".into(),
    }
}

/// The bound on value `nth` of `count` read from standard input.
fn value_bound(nth: usize, count: usize) -> Bound {
    Bound {
        max: ui::NUMBER_MAX,
        what: format!("value {nth} of {count}"),
        why: "more than any whole number needs (at most 11 characters)".into(),
        hint: format!(
            "type whole numbers from {} to {}, separated by spaces or newlines",
            i32::MIN,
            i32::MAX
        ),
    }
}

fn usage(message: String) -> anyhow::Error {
    UsageError(message).into()
}

/// The values, from the command line first and then from stdin; each checked as it comes.
fn gather(args: &Args, ui: &Ui) -> anyhow::Result<(Target, Vec<i32>)> {
    let count = usize::from(args.count);
    let key = args.naming.resolve(ui)?;
    // With a key there is no id argument: every word is a value.
    let mut words = args.id.iter().chain(&args.values);
    let mut input = Words {
        input: StdinWords::new(),
        pending: Default::default(),
    };

    let target = if let Some(key) = key {
        Target::Key(key)
    } else if let Some(word) = words.next() {
        Target::Id(ShmId::from_raw(cli::parse_ipc_id(word).map_err(usage)?))
    } else {
        out_prompt("Shared memory id for attachment: ")?;
        match input.next(&id_bound())? {
            Some(word) => Target::Id(ShmId::from_raw(cli::parse_ipc_id(&word).map_err(usage)?)),
            None => {
                return Err(anyhow::anyhow!(
                    "no segment id: standard input ended before one was typed"
                ))
                .hint("type the id that shm-master printed, or give it: shm-slave ID VALUE...");
            }
        }
    };

    let given: Vec<&String> = words.collect();
    if given.len() > count {
        return Err(usage(format!(
            "{} values given but --count is {count}: give {count}, or pass --count {}",
            given.len(),
            given.len()
        )));
    }
    let mut values = Vec::with_capacity(count);
    for word in given {
        values.push(parse_value(word, values.len() + 1, count)?);
    }
    // In the notes' dialogue the values follow the prompted id with no prompt of their own;
    // when the id came from the command line, a person at a terminal is told what to type.
    let dialogue = key.is_none() && args.id.is_none();
    if !dialogue && values.len() < count && io::stdin().is_terminal() {
        ui.note(&format!(
            "type {} more value(s), separated by spaces or newlines",
            count - values.len()
        ));
    }
    while values.len() < count {
        match input.next(&value_bound(values.len() + 1, count))? {
            Some(word) => values.push(parse_value(&word, values.len() + 1, count)?),
            None => {
                return Err(anyhow::anyhow!(
                    "expected {count} values but standard input ended after {}",
                    values.len()
                ))
                .hint(format!(
                    "type {count} whole numbers, or give them: shm-slave ID V1 .. V{count}"
                ));
            }
        }
    }
    Ok((target, values))
}

fn parse_value(word: &str, nth: usize, count: usize) -> anyhow::Result<i32> {
    cli::parse_int(word).map_err(|e| usage(format!("value {nth} of {count}: {e}")))
}

fn inspect(args: &Args, ui: &Ui, id: ShmId) {
    if args.inspect {
        match id.stat() {
            Ok(st) => ui.inspect(&st.to_string()),
            Err(_) => ui.inspect(&format!(
                "segment {id}: gone (the master destroyed it, and this was the last detach)"
            )),
        }
    }
}

/// The hint for a segment we could not reach, from the errno; `key` when it was named by one.
fn attach_hint(errno: Option<Errno>, id: Option<ShmId>, key: Option<libc::key_t>) -> String {
    match errno {
        Some(Errno::EACCES) | Some(Errno::EPERM) => {
            if let Some(hint) = key.and_then(shm::another_users_key_hint) {
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

/// `--check`: the segment must be the size shm-master makes, ours, and closed to others.
fn check(ui: &Ui, attachment: &shm::Attachment) -> anyhow::Result<()> {
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

fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let (target, values) = gather(args, ui)?;
    // From here on the segment may be attached: catch termination signals to detach first.
    let term = Termination::install()?;

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
                ui.call(&format!("shmget({}, 0, 0)", shm::key_text(key)), id);
                ui.meaning("an existing key gives the id of the master's segment");
                id
            }
            Err(err) => {
                out_line(format_args!("Error: Cannot attach!"))?;
                let hint = attach_hint(ipc_lab::sys::errno_of(&err), None, Some(key));
                return Err(err).hint(hint);
            }
        },
    };
    inspect(args, ui, id);

    ui.step(2, "attach M to this process's address space");
    let attachment = match id.attach(Access::ReadWrite) {
        Ok(attachment) => attachment,
        Err(err) => {
            out_line(format_args!("Error: Cannot attach!"))?;
            let key = match target {
                Target::Key(key) => Some(key),
                Target::Id(_) => None,
            };
            let hint = attach_hint(ipc_lab::sys::errno_of(&err), Some(id), key);
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
    inspect(args, ui, id);
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
        check(ui, &attachment)?;
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
    inspect(args, ui, id);

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
        inspect(args, ui, id);
    }

    ui.step(4, "detach M");
    let addr = attachment.addr();
    attachment.detach()?;
    ui.call(&format!("shmdt({addr:#x})"), 0);
    ui.meaning("done; destroying the segment (step 5) is the master's job");
    inspect(args, ui, id);
    Ok(())
}
