//! shm-master: the lecture notes' master program (section B1), and the options that show each of
//! its five steps.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use ipc_lab::cli::{self, Common, KeyArgs};
use ipc_lab::shm::{self, Access, Attachment, CreateOptions, IPC_PRIVATE, Segment, layout};
use ipc_lab::sys::Termination;
use ipc_lab::ui::{HintExt as _, Interrupted, Ui, out_line};

const ABOUT: &str = "Create a shared memory segment and wait for shm-slave to write values into it";

const AFTER_HELP: &str = "\
Lecture notes: B1 Shared Memory, the master program (steps 1 to 5).

With no options it prints on stdout what the notes' program prints, byte for byte, and exits \
with the same status. What it does differently from the notes' C master:
- The order: it attaches the segment and clears the ready flag (steps 2 and 3) before it \
prints \"Shared Memory Id = N\". The C master prints the id right after shmget, before it \
attaches, and clears the flag after that: a slave quick enough to write in between has its \
flag wiped, and that master waits for ever.
- The wait: it looks at the flag at once, then every --interval seconds (3 by default, as the \
C master's sleep(3)), with an acquire load where C reads a plain int. Like the C master, it \
does not wait for the slave to attach or to detach: the flag alone ends the wait (--inspect \
shows nattch at each look).
- Ctrl-C, SIGTERM or SIGHUP while it waits: it detaches and destroys the segment, then exits \
by the signal. The C master dies and leaves the segment behind (`ipcs -m` lists it).
- A failed attach: it destroys the segment it made; the C master exits and leaves it.
- The removal (step 5): a segment someone else removed already (`ipcrm`) is told on stderr, \
not a failure; any other failure to remove it is an error with exit status 1, where the C \
master ignores what shmctl returns and exits with 0.
- Each line of stdout is written at once, into a pipe too (the C master's id line waits in \
stdio's buffer there until it exits).
- On a failure it adds `error:` and `hint:` lines on stderr to the C master's one line.

Examples:
  shm-master                      the notes' program: prints the id, looks at the flag every 3 s
  shm-master --explain --inspect  narrate each step and show the segment's status
  shm-master --interval 0.2 --timeout 60 --count 5
  shm-master --key 0x1234         a known key instead of IPC_PRIVATE (shm-slave --key 0x1234)
  shm-master --remove-early       mark for destruction at once: nothing leaks, even on SIGKILL

Then, in a second terminal: shm-slave (type the id and the values), or shm-slave ID V1 V2 V3.";

#[derive(Debug, Parser)]
#[command(name = "shm-master", version, about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    /// Seconds between two looks at the ready flag (fractions allowed)
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = cli::parse_seconds)]
    interval: Duration,

    /// Give up after SECS without a slave: error, segment destroyed, exit 1
    #[arg(long, value_name = "SECS", value_parser = cli::parse_seconds)]
    timeout: Option<Duration>,

    /// How many values to read after the flag (1 to 9: the 40-byte segment holds 9)
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..=layout::MAX_VALUES as i64))]
    count: u8,

    #[command(flatten)]
    naming: KeyArgs,

    /// Permission bits of the segment, in octal
    #[arg(long, value_name = "OCTAL", default_value = "600", value_parser = cli::parse_perms)]
    perms: u32,

    /// Show the segment's status on stderr after each step and whenever nattch changes
    #[arg(long)]
    inspect: bool,

    /// Mark the segment for destruction right after attaching (step 5 early): it lives while
    /// attached and vanishes with the last detach, even if this process is killed
    #[arg(long)]
    remove_early: bool,

    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    let args: Args = ipc_lab::cli::parse_args();
    let ui = Ui::new("shm-master", args.common.color, args.common.explain);
    ui.finish(run(&args, &ui))
}

/// Print the segment's status (`--inspect`), or that it is gone.
fn inspect(args: &Args, ui: &Ui, id: shm::ShmId) -> Option<u64> {
    if !args.inspect {
        return None;
    }
    match id.stat() {
        Ok(st) => {
            ui.inspect(&st.to_string());
            Some(st.attached)
        }
        Err(_) => {
            ui.inspect(&format!("segment {id}: gone"));
            None
        }
    }
}

fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let term = Termination::install()?;

    // Step 1: create.
    let key = args.naming.resolve(ui)?.unwrap_or(IPC_PRIVATE);
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
            let hint = match ipc_lab::sys::errno_of(&err) {
                Some(nix::errno::Errno::EEXIST) => shm::another_users_key_hint(key)
                    .unwrap_or_else(|| format!(
                        "a segment with key {0} exists already, left by a run that was killed or made by another user: `ipcs -m` shows it and its owner; if it is yours, `ipcrm -M {0}` removes it",
                        shm::key_text(key)
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
    inspect(args, ui, id);

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
    let mut last_nattch = inspect(args, ui, id);

    if args.remove_early {
        ui.step(5, "destroy M early (--remove-early)");
        segment.remove()?;
        ui.call(&format!("shmctl({id}, IPC_RMID, NULL)"), 0);
        ui.meaning(
            "marked for destruction: it lives while attached and vanishes with the last detach, \
             even if this process is killed with SIGKILL. Linux still lets the slave attach by id \
             (other Unix systems refuse).",
        );
        last_nattch = inspect(args, ui, id);
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
                finish_early(ui, attachment, segment)?;
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
            finish_early(ui, attachment, segment)?;
            ui.note(&format!(
                "{}: detached and destroyed segment {id}",
                Interrupted(sig)
            ));
            return Err(Interrupted(sig).into());
        }
        if args.inspect {
            let now = id.stat().ok().map(|st| st.attached);
            if now != last_nattch {
                last_nattch = inspect(args, ui, id);
            }
        }
    }
    ui.meaning(&format!(
        "shm[0] is {}: the slave has written; reading {} values is a plain memory read",
        attachment
            .load(layout::FLAG, std::sync::atomic::Ordering::Acquire)
            .unwrap_or(0),
        args.count
    ));
    inspect(args, ui, id);
    for value in layout::values(&attachment, usize::from(args.count)) {
        out_line(format_args!("Read {value} from shared memory."))?;
    }

    // Steps 4 and 5.
    detach(ui, attachment)?;
    inspect(args, ui, id);
    destroy(ui, &mut segment)?;
    inspect(args, ui, id);
    Ok(())
}

fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

fn detach(ui: &Ui, attachment: Attachment) -> anyhow::Result<()> {
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

fn destroy(ui: &Ui, segment: &mut Segment) -> anyhow::Result<()> {
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

/// Steps 4 and 5 on the way out of a wait that did not end with a message.
fn finish_early(ui: &Ui, attachment: Attachment, mut segment: Segment) -> anyhow::Result<()> {
    detach(ui, attachment)?;
    destroy(ui, &mut segment).context("cannot clean up")
}
