//! Running a student's program as the student would: on a terminal, in its own process group,
//! bounded by a timeout, its leftover children reaped by lab-check (a subreaper) and reported.

#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::termios::{self, LocalFlags, OutputFlags, SetArg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::sys::{Interrupted, termination_received};
use crate::ui::HintExt as _;

/// How often the waits below look again (a process's output, its end, a segment's state).
pub(crate) const LOOK: Duration = Duration::from_millis(5);

/// Fail with [`Interrupted`] once a termination signal has arrived.
pub(crate) fn check_interrupted() -> anyhow::Result<()> {
    match termination_received() {
        Some(sig) => Err(Interrupted(sig).into()),
        None => Ok(()),
    }
}

/// Sleep for [`LOOK`], unless a termination signal has arrived.
pub(crate) fn nap() -> anyhow::Result<()> {
    check_interrupted()?;
    std::thread::sleep(LOOK);
    check_interrupted()
}

/// Make lab-check the reaper of its descendants: a process whose parent ends before it is
/// handed to lab-check, not to init, so lab-check sees a child its parent left unreaped.
pub fn become_subreaper() -> anyhow::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|errno| crate::sys::SysError {
            call: "prctl(PR_SET_CHILD_SUBREAPER)",
            errno,
        })
        .context("cannot become the reaper of the programs lab-check runs")
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it (lab-check did not send it).
    Killed(Signal),
    /// It was still running at its deadline: lab-check killed it and its process group.
    TimedOut,
}

impl End {
    fn of(status: ExitStatus) -> End {
        match (status.code(), status.signal()) {
            (Some(code), _) => End::Exited(code),
            (None, Some(sig)) => Signal::try_from(sig).map_or(End::Exited(128 + sig), End::Killed),
            (None, None) => End::Exited(-1),
        }
    }

    /// In words: "exit status 1", "killed by SIGSEGV", "still running after 5 s".
    pub fn describe(self, timeout: Duration) -> String {
        match self {
            End::Exited(code) => format!("exit status {code}"),
            End::Killed(sig) => format!("killed by {}", sig.as_str()),
            End::TimedOut => format!(
                "still running after {}: lab-check killed it",
                seconds(timeout)
            ),
        }
    }
}

/// `3 s`, `0.5 s`.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// What a run showed and how it ended.
#[derive(Debug, Clone)]
pub struct Ended {
    pub end: End,
    /// What it wrote on the terminal (its stdout), with the terminal's line ends as `\n`.
    pub output: String,
    /// What it wrote on stderr.
    pub errors: String,
    /// Processes it left behind: children it did not wait for, which lab-check reaped.
    pub orphans: Vec<i32>,
}

impl Ended {
    /// The run's output and errors, quoted for a report: `output: "..."`.
    pub fn shown(&self) -> String {
        let mut text = format!("output {:?}", self.output);
        if !self.errors.is_empty() {
            text.push_str(&format!(", stderr {:?}", self.errors));
        }
        text
    }
}

/// A growing buffer a reader thread fills from one stream of a program.
pub(super) type Sink = Arc<Mutex<Vec<u8>>>;

/// Copy `from` into `into` on a thread of its own, until end of file or an error.
pub(super) fn drain(mut from: impl Read + Send + 'static, into: Sink) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            // A pseudo-terminal's master reads EIO once every slave descriptor is closed.
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => into
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&buf[..n]),
            }
        }
    })
}

/// What `sink` holds so far, as text, with a terminal's line ends as `\n`.
pub(super) fn text_of(sink: &Sink) -> String {
    let bytes = sink.lock().unwrap_or_else(|p| p.into_inner()).clone();
    String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
}

/// A program running under lab-check: stdin and stdout a pseudo-terminal (as in a terminal
/// window: C's stdio flushes each line), stderr a pipe, its own process group.
#[derive(Debug)]
pub struct Run {
    child: Child,
    /// The terminal's master side: what we type goes in here.
    master: File,
    output: Sink,
    errors: Sink,
    readers: Vec<JoinHandle<()>>,
    deadline: Instant,
    timeout: Duration,
    ended: Option<End>,
}

impl Run {
    /// Start `program` with `args`, to be killed at `timeout` from now.
    pub fn start(program: &Path, args: &[String], timeout: Duration) -> anyhow::Result<Run> {
        let pty = nix::pty::openpty(None, None).context("cannot open a pseudo-terminal")?;
        // Typed input is not echoed (a person sees it once, where they typed it; here it would
        // be mixed into the output), and output line ends stay "\n".
        let mut attrs = termios::tcgetattr(pty.slave.as_fd()).context("tcgetattr")?;
        attrs.local_flags.remove(LocalFlags::ECHO);
        attrs.output_flags.remove(OutputFlags::ONLCR);
        termios::tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &attrs).context("tcsetattr")?;
        let slave: OwnedFd = pty.slave;
        let stdout = slave.try_clone().context("cannot duplicate the terminal")?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::from(slave))
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::piped())
            .process_group(0)
            .env_remove("CLICOLOR_FORCE")
            .env("NO_COLOR", "1");
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", program.display()))?;
        note_started(child.id());
        // The Command held the only other copies of the slave side: now only the program has it.
        drop(cmd);
        let output = Sink::default();
        let errors = Sink::default();
        let master = File::from(pty.master);
        let mut readers = vec![drain(
            master.try_clone().context("dup")?,
            Arc::clone(&output),
        )];
        if let Some(err) = child.stderr.take() {
            readers.push(drain(File::from(OwnedFd::from(err)), Arc::clone(&errors)));
        }
        Ok(Run {
            child,
            master,
            output,
            errors,
            readers,
            deadline: Instant::now() + timeout,
            timeout,
            ended: None,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// What it has written on the terminal so far.
    pub fn output(&self) -> String {
        text_of(&self.output)
    }

    /// Type `line` and Enter, as a person would.
    pub(crate) fn type_line(&mut self, line: &str) -> anyhow::Result<()> {
        // A program that has ended, or closed its input, cannot be typed to: not our failure.
        let _ = self.master.write_all(format!("{line}\n").as_bytes());
        Ok(())
    }

    /// Whether it has ended (and, if so, collect its status).
    pub(crate) fn has_ended(&mut self) -> anyhow::Result<bool> {
        if self.ended.is_none() {
            if let Some(status) = self.child.try_wait().context("waitpid")? {
                self.ended = Some(End::of(status));
            }
        }
        Ok(self.ended.is_some())
    }

    /// Wait until `done` holds of its output: Ok(true); or until it ends or its deadline
    /// passes without that: Ok(false).
    pub(crate) fn wait_output(
        &mut self,
        mut done: impl FnMut(&str) -> bool,
    ) -> anyhow::Result<bool> {
        loop {
            if done(&self.output()) {
                return Ok(true);
            }
            if self.has_ended()? {
                // Whatever it wrote before its end may still be on its way through the terminal.
                self.join_readers();
                return Ok(done(&self.output()));
            }
            if Instant::now() >= self.deadline {
                return Ok(false);
            }
            nap()?;
        }
    }

    /// Wait until `cond` holds (checked every few milliseconds) while it runs: Ok(true); or
    /// Ok(false) once it has ended or its deadline has passed.
    pub fn wait_until(&mut self, mut cond: impl FnMut() -> bool) -> anyhow::Result<bool> {
        loop {
            if cond() {
                return Ok(true);
            }
            if self.has_ended()? || Instant::now() >= self.deadline {
                return Ok(cond());
            }
            nap()?;
        }
    }

    fn join_readers(&mut self) {
        // A reader ends when every copy of its stream is closed; a descendant that lives on with
        // a copy keeps it open, so give up on it after a moment (the group is killed anyway).
        let until = Instant::now() + Duration::from_millis(200);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.readers.retain(|r| !r.is_finished());
    }

    /// Wait for its end, until its deadline; then kill its process group and every process it
    /// left behind. Returns how it ended, what it showed, and which children it left unreaped.
    pub fn finish(mut self) -> anyhow::Result<Ended> {
        let result = self.wait_end();
        let group = Pid::from_raw(self.pid());
        let orphans = if result.is_ok() && self.ended.is_some() {
            // It ended by itself. A child it left running (the notes' pipe program's child may
            // print after its parent has gone) is lab-check's now: it may finish its work until
            // the deadline, as it would in a terminal, and is reaped and reported.
            let orphans = reap_orphans(self.deadline.max(Instant::now()));
            let _ = killpg(group, Signal::SIGKILL);
            orphans
        } else {
            // Its deadline passed, or lab-check was interrupted: nothing of it runs on.
            let _ = killpg(group, Signal::SIGKILL);
            if self.ended.is_none() {
                let status = self.child.wait().context("waitpid")?;
                self.ended = Some(if result.is_ok() {
                    End::TimedOut
                } else {
                    End::of(status)
                });
            }
            reap_orphans(Instant::now())
        };
        result?;
        self.join_readers();
        Ok(Ended {
            end: self.ended.unwrap_or(End::TimedOut),
            output: self.output(),
            errors: text_of(&self.errors),
            orphans,
        })
    }

    fn wait_end(&mut self) -> anyhow::Result<()> {
        while !self.has_ended()? && Instant::now() < self.deadline {
            nap()?;
        }
        Ok(())
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.ended.is_none() {
            let _ = killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
            let _ = self.child.wait();
        }
        reap_orphans(Instant::now());
    }
}

/// The processes whose parent is this process, from /proc/self/task/*/children.
fn own_children() -> Vec<i32> {
    let mut pids = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                pids.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
    }
    pids
}

/// The pids of lab-check's own children (the programs it started, which it waits for through
/// their `Child`): not orphans.
static STARTED: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn note_started(pid: u32) {
    STARTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(pid as i32);
}

fn started_here(pid: i32) -> bool {
    STARTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&pid)
}

/// Start a reference program (a peer of the student's program): lab-check's own child, which
/// the caller waits for, never taken for an orphan.
pub(crate) fn spawn_peer(cmd: &mut Command) -> std::io::Result<Child> {
    let child = cmd.spawn()?;
    note_started(child.id());
    Ok(child)
}

/// The children lab-check has been handed: its children it did not start.
fn orphans_now() -> Vec<i32> {
    own_children()
        .into_iter()
        .filter(|&p| !started_here(p))
        .collect()
}

/// Reap every child lab-check has been handed (a process whose parent ended without waiting
/// for it), waiting until `until` for those still running, then killing them. Returns their
/// pids. The programs lab-check started itself are left to their `Child`.
pub(crate) fn reap_orphans(until: Instant) -> Vec<i32> {
    let mut reaped = Vec::new();
    let flags = Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL);
    loop {
        let mut running = Vec::new();
        for pid in orphans_now() {
            match waitpid(Pid::from_raw(pid), flags) {
                Ok(WaitStatus::StillAlive) => running.push(pid),
                Ok(_) => reaped.push(pid),
                Err(Errno::EINTR) => running.push(pid),
                Err(_) => {}
            }
        }
        if running.is_empty() {
            return reaped;
        }
        if Instant::now() >= until || termination_received().is_some() {
            for &pid in &running {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            for pid in running {
                // Killed: it ends at once.
                while let Err(Errno::EINTR) = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::__WALL))
                {
                }
                reaped.push(pid);
            }
            // Killing one may have handed lab-check its children: look again.
            if orphans_now().is_empty() {
                return reaped;
            }
            continue;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A reference program: one of ipc-lab's binaries, beside lab-check.
pub fn reference(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find lab-check's own path")?;
    let path = me.with_file_name(name);
    if !path.is_file() {
        let folder = me
            .parent()
            .map_or(String::new(), |p| p.display().to_string());
        return Err(anyhow::anyhow!(
            "cannot find the reference program {name} in {folder}"
        ))
        .hint(
            "lab-check runs ipc-lab's own programs beside it: build or install them together \
             (cargo build, or cargo install --path .)",
        );
    }
    Ok(path)
}

/// A command as a shell would take it: `./slave 'a b'`.
pub(crate) fn shell_words(program: &Path, args: &[String]) -> String {
    let program = program.display().to_string();
    let words = std::iter::once(program.as_str()).chain(args.iter().map(String::as_str));
    shlex::try_join(words).unwrap_or_else(|_| format!("{program} {args:?}"))
}
