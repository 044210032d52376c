//! Exercise `shm-slave`: the notes' slave (B1). It prints `Shared memory id for attachment: `,
//! reads the id the master printed, attaches the segment, reads three values into shm[1..=3],
//! sets the flag shm[0] = 1 last, and detaches. lab-check runs ipc-lab's `shm-master` as the
//! other side. Also here, for `shm-master` too: [`Peer`], a reference program run beside the
//! student's, and the segment's row in /proc/sysvipc/shm.

#![forbid(unsafe_code)]

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::run::{self, End, Ended, Sink, drain, text_of};
use super::{Check, Exercise, Failure, Lab};
use crate::shm::{Access, Attachment, CreateOptions, Segment, ShmId};

/// The notes' prompt, printed before the id is read (no newline: the id is typed after it).
pub const PROMPT: &str = "Shared memory id for attachment: ";

/// The values lab-check types.
const VALUES: [i32; 3] = [17, -4, 2024];

pub static EXERCISE: Exercise = Exercise {
    name: "shm-slave",
    section: "B1 Shared memory: the notes' slave",
    task: "the notes' slave: read the master's segment id, attach, write three values, then the flag",
    usage: "PROGRAM",
    timeout: Duration::from_secs(10),
    checks: &[
        Check {
            name: "prompt",
            points: 2,
            asks: "prints exactly \"Shared memory id for attachment: \" before it reads the id",
            see: "docs/01-shared-memory.md#walk-through-the-notes-dialogue",
        },
        Check {
            name: "values",
            points: 3,
            asks: "the three values typed reach shm-master, which prints them",
            see: "docs/01-shared-memory.md#the-c-programs-beside-the-rust-ones",
        },
        Check {
            name: "flag-last",
            points: 3,
            asks: "writes the three values into shm[1..3] first, then shm[0] = 1",
            see: "docs/01-shared-memory.md#values-first-flag-last",
        },
        Check {
            name: "bad-id",
            points: 2,
            asks: "given an id that is no segment, prints an error and exits non-zero",
            see: "docs/01-shared-memory.md#errors-you-will-meet",
        },
    ],
    run,
};

/// The master's first line, as the notes print it.
pub fn id_line(id: i32) -> String {
    format!("Shared Memory Id = {id}\n")
}

/// The master's lines for `values`, as the notes print them.
pub fn read_lines(values: &[i32]) -> String {
    values
        .iter()
        .map(|v| format!("Read {v} from shared memory.\n"))
        .collect()
}

/// The id in a line `Shared Memory Id = N` (its newline included or not).
pub(crate) fn parse_id_line(line: &str) -> Option<i32> {
    line.strip_suffix('\n')
        .unwrap_or(line)
        .strip_prefix("Shared Memory Id = ")?
        .parse()
        .ok()
}

/// The segment's row in /proc/sysvipc/shm (key shmid perms size cpid lpid nattch uid ...).
fn segment_row(id: i32) -> Option<Vec<String>> {
    let id = id.to_string();
    crate::sys::sysvipc_rows("shm")
        .into_iter()
        .find(|row| row.get(1) == Some(&id))
}

/// How many processes have segment `id` attached (/proc/sysvipc/shm's nattch); None: no segment.
pub fn nattch(id: i32) -> Option<u64> {
    segment_row(id)?.get(6)?.parse().ok()
}

/// Segment `id`'s permission bits (/proc/sysvipc/shm's perms, octal); None: no such segment.
pub fn mode(id: i32) -> Option<u32> {
    segment_row(id).and_then(|row| u32::from_str_radix(row.get(2)?, 8).ok().map(|m| m & 0o777))
}

/// Whether process `pid` is waiting in one of the system calls `calls` now (its main thread,
/// per /proc/PID/syscall: the call's number first, or `running`).
pub(crate) fn in_syscall(pid: i32, calls: &[libc::c_long]) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|text| {
        matches!(crate::procs::parse_syscall(&text),
                 Some(crate::procs::Syscall::In { nr, .. }) if calls.contains(&nr))
    })
}

/// Whether process `pid` has segment `id` attached: /proc/PID/maps lists a `/SYSV` mapping
/// whose inode is the segment's id.
pub(crate) fn has_attached(pid: i32, id: i32) -> bool {
    let id = id.to_string();
    std::fs::read_to_string(format!("/proc/{pid}/maps")).is_ok_and(|maps| {
        maps.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(4) == Some(&id.as_str())
                && fields.get(5).is_some_and(|path| path.starts_with("/SYSV"))
        })
    })
}

/// Whether process `pid` is waiting for input: in read(2).
fn reading(pid: i32) -> bool {
    in_syscall(pid, &[libc::SYS_read])
}

/// A reference program (shm-master, shm-slave) run beside the student's, stdout and stderr
/// read as they come. Dropping it kills and reaps it, on every path. It is started with
/// [`run::spawn_peer`], so the reaping of orphans when a student's run ends leaves it alone.
#[derive(Debug)]
pub(crate) struct Peer {
    name: &'static str,
    child: Child,
    output: Sink,
    errors: Sink,
    readers: Vec<JoinHandle<()>>,
    /// Reaped: its status (None: someone else reaped it).
    ended: Option<Option<ExitStatus>>,
}

impl Peer {
    /// Start ipc-lab's `name` with `args`.
    pub fn start(lab: &Lab, name: &'static str, args: &[String]) -> anyhow::Result<Peer> {
        let path = run::reference(name)?;
        lab.explain(
            "peer",
            &format!("start the reference {}", run::shell_words(&path, args)),
        );
        Peer::start_path(name, &path, args)
    }

    fn start_path(name: &'static str, path: &Path, args: &[String]) -> anyhow::Result<Peer> {
        let mut cmd = Command::new(path);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("CLICOLOR_FORCE")
            .env("NO_COLOR", "1");
        // Started as a peer, so that lab-check never takes it for an orphan to reap.
        let mut child = run::spawn_peer(&mut cmd)
            .with_context(|| format!("cannot run the reference program {}", path.display()))?;
        let output = Sink::default();
        let errors = Sink::default();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(drain(out, Arc::clone(&output)));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(drain(err, Arc::clone(&errors)));
        }
        Ok(Peer {
            name,
            child,
            output,
            errors,
            readers,
            ended: None,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What it printed on stdout so far.
    pub fn output(&self) -> String {
        text_of(&self.output)
    }

    /// What it printed on stderr so far.
    pub fn errors(&self) -> String {
        text_of(&self.errors)
    }

    /// Whether it has ended (reaped now if so).
    pub(crate) fn has_ended(&mut self) -> bool {
        if self.ended.is_none() {
            match self.child.try_wait() {
                Ok(Some(status)) => self.ended = Some(Some(status)),
                Ok(None) => {}
                // Reaped by someone else (lab-check's reaper of orphans): ended.
                Err(_) => self.ended = Some(None),
            }
            if self.ended.is_some() {
                self.join_readers();
            }
        }
        self.ended.is_some()
    }

    /// Its exit status, once ended and reaped by us.
    pub fn status(&self) -> Option<ExitStatus> {
        self.ended.flatten()
    }

    /// Wait until `done` holds of its stdout (Ok(true)), or it ends or `until` passes without
    /// that (Ok(false)).
    pub(crate) fn wait_output(
        &mut self,
        until: Instant,
        mut done: impl FnMut(&str) -> bool,
    ) -> anyhow::Result<bool> {
        loop {
            if done(&self.output()) {
                return Ok(true);
            }
            if self.has_ended() {
                return Ok(done(&self.output()));
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            run::nap()?;
        }
    }

    /// Wait until it ends (Ok(true)) or `until` passes or `give_up` holds (Ok(false)).
    pub fn wait_end(
        &mut self,
        until: Instant,
        mut give_up: impl FnMut() -> bool,
    ) -> anyhow::Result<bool> {
        loop {
            if self.has_ended() {
                return Ok(true);
            }
            if Instant::now() >= until || give_up() {
                return Ok(self.has_ended());
            }
            run::nap()?;
        }
    }

    /// Send it `sig` (SIGSTOP, SIGCONT), unless it has ended.
    pub fn signal(&mut self, sig: Signal) -> anyhow::Result<()> {
        if !self.has_ended() {
            kill(Pid::from_raw(self.pid()), sig)
                .with_context(|| format!("cannot send {} to {}", sig.as_str(), self.name))?;
        }
        Ok(())
    }

    /// Kill it (if it runs) and reap it.
    pub fn stop(&mut self) {
        if !self.has_ended() {
            let _ = self.child.kill();
            self.ended = Some(self.child.wait().ok());
            self.join_readers();
        }
    }

    fn join_readers(&mut self) {
        // Its pipes close when it ends (the reference programs start no children).
        let until = Instant::now() + Duration::from_millis(200);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.readers.retain(|r| !r.is_finished());
    }

    /// How it ended, in words, with what it printed on stderr.
    pub fn describe(&self) -> String {
        let how = match self.status() {
            Some(status) => match status.code() {
                Some(code) => format!("exit status {code}"),
                None => match status.signal().map(Signal::try_from) {
                    Some(Ok(sig)) => format!("killed by {}", sig.as_str()),
                    _ => "killed by a signal".to_string(),
                },
            },
            None if self.ended.is_some() => "ended".to_string(),
            None => "still running".to_string(),
        };
        let errors = self.errors();
        if errors.trim().is_empty() {
            format!("{} {how}", self.name)
        } else {
            format!("{} {how}, stderr {:?}", self.name, errors)
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// ipc-lab's shm-master, with the id it printed; dropping it kills it and removes its segment
/// (which it destroys itself unless killed).
struct Master {
    peer: Peer,
    id: i32,
}

impl Master {
    /// Start `shm-master --interval 0.001` and read its id line; the segment's flag is clear
    /// once that line is printed.
    fn start(lab: &Lab, until: Instant) -> anyhow::Result<Master> {
        let args = ["--interval".to_string(), "0.001".to_string()];
        let mut peer = Peer::start(lab, "shm-master", &args)?;
        peer.wait_output(until, |out| out.contains('\n'))?;
        let out = peer.output();
        let id = out.lines().next().and_then(parse_id_line);
        match id {
            Some(id) => Ok(Master { peer, id }),
            None => {
                peer.stop();
                Err(anyhow::anyhow!(
                    "the reference shm-master printed no segment id: output {:?}; {}",
                    out,
                    peer.describe()
                ))
            }
        }
    }

    /// Attach its segment read-only, to look at the flag.
    fn watch(&self) -> anyhow::Result<Attachment> {
        ShmId::from_raw(self.id).attach(Access::ReadOnly)
    }

    /// What it printed after its id line.
    fn reads(&self) -> String {
        let out = self.peer.output();
        out.strip_prefix(&id_line(self.id))
            .unwrap_or(&out)
            .to_string()
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.peer.stop();
        let segment = ShmId::from_raw(self.id);
        if segment.exists() {
            let _ = segment.remove();
        }
    }
}

fn values_line(values: &[i32]) -> String {
    values
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A hint for a slave that ended or hung before it got as far as the check needed.
fn hint_for_end(end: End) -> &'static str {
    match end {
        End::Killed(_) => {
            "a crash: check shmat's result against (void *)-1 before using it, and scanf into \
             the address of an int (scanf(\"%d\", &shmid))"
        }
        End::TimedOut => {
            "it never went on: read the id with scanf(\"%d\", &shmid), then the three values \
             with scanf(\"%d\", &input), one at a time"
        }
        End::Exited(_) => {
            "read the id with scanf(\"%d\", &shmid), attach with shmat(shmid, NULL, 0), then \
             read the three values and write them into shm[1], shm[2], shm[3]"
        }
    }
}

fn run(lab: &mut Lab) -> anyhow::Result<()> {
    if !prompt(lab)? {
        return Ok(());
    }
    flag_last(lab)?;
    values(lab)?;
    bad_id(lab)?;
    Ok(())
}

/// Fail every check in `checks` with the run's end: it ended (or hung) before they could be
/// looked at.
fn fail_unreached(lab: &mut Lab, checks: &[&str], what: &str, ended: &Ended) {
    let timeout = lab.timeout;
    for check in checks {
        let asks = lab.exercise.checks.iter().find(|c| c.name == *check);
        let expected = asks.map_or("", |c| c.asks);
        lab.fail(
            check,
            Failure::new(
                expected,
                format!("{what}: {}; {}", ended.end.describe(timeout), ended.shown()),
                hint_for_end(ended.end),
            ),
        );
    }
}

/// `prompt`: once the slave waits for input, what it printed must be the notes' prompt. A slave
/// that never waits for input fails every check here (Ok(false)): the other runs would only
/// wait as long for it.
fn prompt(lab: &mut Lab) -> anyhow::Result<bool> {
    lab.explain(
        "prompt",
        "run the slave; once it waits for input, what it printed must be the notes' prompt",
    );
    let mut slave = lab.start(&[])?;
    let pid = slave.pid();
    if !slave.wait_until(|| reading(pid))? {
        let ended = slave.finish()?;
        if ended.end == End::TimedOut {
            fail_unreached(
                lab,
                &["prompt", "values", "flag-last", "bad-id"],
                "it never waited for the id",
                &ended,
            );
            return Ok(false);
        }
        fail_unreached(lab, &["prompt"], "it never waited for the id", &ended);
        return Ok(true);
    }
    // It waits for input: the prompt was written before (stdio flushes stdout before it reads
    // stdin from a terminal). Wait until it has come through, or what came differs from it.
    slave.wait_output(|out| out.len() >= PROMPT.len() || !PROMPT.starts_with(out))?;
    let shown = slave.output();
    // Its part is done: dropping the run kills it.
    drop(slave);
    if shown == PROMPT {
        lab.pass("prompt");
    } else {
        let hint = if shown.trim_end() == PROMPT.trim_end() {
            "no newline after the prompt, and keep its final space: \
             printf(\"Shared memory id for attachment: \")"
        } else if PROMPT.starts_with(&shown) {
            "print the whole prompt before reading the id: \
             printf(\"Shared memory id for attachment: \") then scanf(\"%d\", &shmid)"
        } else {
            "print the notes' prompt exactly, and nothing before it: \
             printf(\"Shared memory id for attachment: \")"
        };
        lab.fail(
            "prompt",
            Failure::new(
                format!("output {PROMPT:?} while it waits for the id"),
                format!("output {shown:?} while it waits for the id"),
                hint,
            ),
        );
    }
    Ok(true)
}

/// `flag-last`, against `shm-master --interval 0.001`: the master is held while the slave
/// attaches and waits for the values; then shm[0] must still be 0. Then the master looks every
/// millisecond while the values are typed: it must print them.
fn flag_last(lab: &mut Lab) -> anyhow::Result<()> {
    let until = Instant::now() + lab.timeout;
    let mut master = Master::start(lab, until)?;
    let id = master.id;
    let watch = master.watch()?;
    lab.explain(
        "flag-last",
        &format!(
            "hold shm-master (segment {id}), run the slave and type the id; once the slave has \
             attached (its /proc/PID/maps lists the segment) and waits for the values, the \
             flag shm[0] must still be 0; then continue the master, which looks every \
             millisecond, and type the values: it must print them"
        ),
    );
    // The master can neither take the flag nor destroy the segment before lab-check has looked.
    master.peer.signal(Signal::SIGSTOP)?;
    let mut slave = lab.start(&[])?;
    let pid = slave.pid();
    slave.type_line(&id.to_string())?;
    let attached = slave.wait_until(|| has_attached(pid, id) && reading(pid))?;
    if !attached {
        master.peer.stop();
        let ended = slave.finish()?;
        fail_unreached(
            lab,
            &["flag-last"],
            &format!("after the id {id} was typed, it never attached and waited for the values"),
            &ended,
        );
        return Ok(());
    }
    let flag = watch.load(0, Ordering::Acquire).unwrap_or(0);
    if flag != 0 {
        lab.fail(
            "flag-last",
            Failure::new(
                "shm[0] is 0 while the slave waits for the values",
                format!("shm[0] was {flag} once it had attached, before any value was typed"),
                "set shm[0] = 1 after writing the three values: the master reads them the \
                 moment it sees the flag",
            ),
        );
    }
    master.peer.signal(Signal::SIGCONT)?;
    slave.type_line(&values_line(&VALUES))?;
    // The master ends once it sees the flag; a slave that ended without setting it never lets it.
    let mut slave_done = false;
    master.peer.wait_end(until, || {
        slave_done = slave_done || slave.has_ended().unwrap_or(true);
        slave_done && watch.load(0, Ordering::Acquire) == Some(0)
    })?;
    master.peer.stop();
    drop(watch);
    let reads = master.reads();
    let expected = read_lines(&VALUES);
    if !reads.is_empty() && reads != expected {
        let hint = if reads.contains("Read 0 from") {
            "the master read 0: it saw the flag before the values were there. Set shm[0] = 1 \
             after writing the three values: the master reads them the moment it sees the flag"
        } else {
            "write the values into shm[1], shm[2], shm[3], then set shm[0] = 1"
        };
        lab.fail(
            "flag-last",
            Failure::new(
                format!("shm-master --interval 0.001 prints {expected:?}"),
                format!("it printed {reads:?}"),
                hint,
            ),
        );
    }
    let _ = slave.finish()?;
    lab.pass("flag-last");
    Ok(())
}

/// `values`: the master is stopped while the slave runs (it cannot look at the flag early), and
/// continued once the slave has ended: it must print the values typed, on separate lines here.
fn values(lab: &mut Lab) -> anyhow::Result<()> {
    let until = Instant::now() + lab.timeout;
    let mut master = Master::start(lab, until)?;
    let id = master.id;
    let watch = master.watch()?;
    lab.explain(
        "values",
        &format!(
            "stop shm-master (segment {id}); run the slave, type the id and the values {}, \
             {}, {} on lines of their own; once it has ended, continue the master: it must \
             print them",
            VALUES[0], VALUES[1], VALUES[2]
        ),
    );
    master.peer.signal(Signal::SIGSTOP)?;
    let mut slave = lab.start(&[])?;
    slave.type_line(&id.to_string())?;
    for v in VALUES {
        slave.type_line(&v.to_string())?;
    }
    // Until it ends, or its time is up.
    slave.wait_until(|| false)?;
    let flag = watch.load(0, Ordering::Acquire).unwrap_or(0);
    drop(watch);
    let expected = read_lines(&VALUES);
    let mut failure = None;
    if flag == 0 {
        master.peer.stop();
        let ended = slave.finish()?;
        let timeout = lab.timeout;
        let (happened, hint) = match ended.end {
            End::Exited(_) => (
                format!(
                    "it ended ({}) with shm[0] still 0: the master would wait for ever; {}",
                    ended.end.describe(timeout),
                    ended.shown()
                ),
                "after writing shm[1], shm[2] and shm[3], set shm[0] = 1: the master waits \
                 for that flag"
                    .to_string(),
            ),
            end => (
                format!("{}; {}", end.describe(timeout), ended.shown()),
                hint_for_end(end).to_string(),
            ),
        };
        failure = Some((happened, hint));
    } else {
        master.peer.signal(Signal::SIGCONT)?;
        master
            .peer
            .wait_output(Instant::now() + lab.timeout, |_| false)?;
        master.peer.stop();
        let ended = slave.finish()?;
        let reads = master.reads();
        if reads != expected {
            failure = Some((
                format!(
                    "the master printed {reads:?} ({}); the slave: {}, {}",
                    master.peer.describe(),
                    ended.end.describe(lab.timeout),
                    ended.shown()
                ),
                "read the three values with scanf(\"%d\", &input), one at a time, and write \
                 them into shm[1], shm[2], shm[3] (shm[0] is the flag)"
                    .to_string(),
            ));
        }
    }
    match failure {
        None => lab.pass("values"),
        Some((happened, hint)) => lab.fail(
            "values",
            Failure::new(format!("shm-master prints {expected:?}"), happened, hint),
        ),
    }
    Ok(())
}

/// `bad-id`: a segment made and removed by lab-check has an id no segment has; the slave must say
/// it cannot attach and exit non-zero.
fn bad_id(lab: &mut Lab) -> anyhow::Result<()> {
    let mut gone = Segment::create(&CreateOptions::private(40))
        .context("cannot make a segment to take its id")?;
    let id = gone.id().as_raw();
    gone.remove()?;
    lab.explain(
        "bad-id",
        &format!(
            "type {id}, the id of a segment lab-check made and removed, and three values: \
             shmat fails, the slave must say so and exit non-zero"
        ),
    );
    let mut slave = lab.start(&[])?;
    slave.type_line(&id.to_string())?;
    slave.type_line(&values_line(&VALUES))?;
    let ended = slave.finish()?;
    let said = ended.output.strip_prefix(PROMPT).unwrap_or(&ended.output);
    let said = !said.trim().is_empty() || !ended.errors.trim().is_empty();
    let expected = "an error line, and a non-zero exit status";
    let happened = format!("{}; {}", ended.end.describe(lab.timeout), ended.shown());
    let failure = match ended.end {
        End::Exited(0) => Some(
            "exit(1) when shmat fails: the shell, and the person who typed the id, must be \
             told it did not work",
        ),
        End::Killed(_) => Some(
            "check shmat's result against (void *)-1 before using it: shmat returns \
             (void *) -1, not NULL, when it fails, and writing through it crashes",
        ),
        End::TimedOut => Some(
            "when shmat fails, print \"Error: Cannot attach!\" and exit(1) at once; do not read \
             the values",
        ),
        End::Exited(_) if !said => {
            Some("say why it ends: printf(\"Error: Cannot attach!\\n\") before exit(1)")
        }
        End::Exited(_) => None,
    };
    match failure {
        None => lab.pass("bad-id"),
        Some(hint) => lab.fail("bad-id", Failure::new(expected, happened, hint)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lines_parse_as_the_notes_print_them() {
        assert_eq!(parse_id_line("Shared Memory Id = 32768\n"), Some(32768));
        assert_eq!(parse_id_line(&id_line(7)), Some(7));
        assert_eq!(parse_id_line("Shared memory id = 7\n"), None);
        assert_eq!(parse_id_line("Shared Memory Id = 7 \n"), None);
        assert_eq!(
            read_lines(&[1, -2]),
            "Read 1 from shared memory.\nRead -2 from shared memory.\n"
        );
    }
}
