//! Our binaries, run: the command for one, processes whose output is read line by line with
//! time limits, runs to their end (bounded), exit statuses as a shell shows them, and what
//! /proc says a process waits in or has pending.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread;
use std::time::{Duration, Instant};

/// How long any test waits for anything before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The path of one of our binaries.
pub fn bin(name: &str) -> PathBuf {
    default_termination_actions();
    assert_cmd::cargo::cargo_bin(name)
}

/// The programs the tests start inherit this process's signal dispositions. A test run started
/// under nohup (SIGHUP ignored), or in the background of a script (SIGINT ignored), would hand
/// them an ignored termination signal, which a program rightly keeps ignoring: the tests look
/// at the programs as a terminal starts them, with every termination signal at its default.
fn default_termination_actions() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for sig in [
            nix::sys::signal::Signal::SIGHUP,
            nix::sys::signal::Signal::SIGINT,
            nix::sys::signal::Signal::SIGTERM,
            nix::sys::signal::Signal::SIGQUIT,
        ] {
            ipc_lab::signal::restore_default(sig).expect("restore a default signal action");
        }
    });
}

/// A command for one of our binaries, with colour left to the test.
pub fn cmd(name: &str) -> Command {
    let mut c = Command::new(bin(name));
    c.env_remove("CLICOLOR_FORCE").env("NO_COLOR", "1");
    c
}

/// [`cmd`] for one of our binaries, with these arguments.
pub fn cmd_with(name: &str, args: &[&str]) -> Command {
    let mut c = cmd(name);
    c.args(args);
    c
}

/// The status as a shell's `$?` shows it: the exit code, or 128 + the signal that ended it.
pub fn shell_status(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .expect("a process ends by exit or by signal")
}

/// Poll `check` until it holds or PATIENCE runs out.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn lines_of(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        loop {
            // Bytes, not read_line: junk a test feeds may come back as invalid UTF-8.
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx
                        .send(String::from_utf8_lossy(&line).into_owned())
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// A running process whose stdout and stderr are read line by line, with time limits.
/// Dropping it kills it (a test that fails midway leaves no process behind).
pub struct Running {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    pub out: String,
    pub err: String,
}

impl Running {
    pub fn spawn(command: &mut Command) -> Running {
        Running::spawn_io(command, Stdio::piped(), Stdio::piped())
    }

    /// Spawn with `stdin` as the process's standard input (a file, say); `stdin` is then None
    /// unless it is `Stdio::piped()`.
    pub fn spawn_reading(command: &mut Command, stdin: Stdio) -> Running {
        Running::spawn_io(command, stdin, Stdio::piped())
    }

    /// Like [`Running::spawn`], with `stdout` as the process's standard output (a pipe whose
    /// reader is gone, /dev/full); unless it is piped, `out` stays empty.
    pub fn spawn_with_stdout(command: &mut Command, stdout: Stdio) -> Running {
        Running::spawn_io(command, Stdio::piped(), stdout)
    }

    fn spawn_io(command: &mut Command, stdin: Stdio, stdout: Stdio) -> Running {
        let mut child = command
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdin = child.stdin.take();
        let stdout = match child.stdout.take() {
            Some(out) => lines_of(out),
            None => channel().1,
        };
        let stderr = lines_of(child.stderr.take().unwrap());
        Running {
            child,
            stdin,
            stdout,
            stderr,
            out: String::new(),
            err: String::new(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Read stdout until a line contains `needle`; returns that line.
    pub fn wait_stdout(&mut self, needle: &str) -> String {
        Self::wait_on(
            &self.stdout,
            &mut self.out,
            needle,
            "stdout",
            &self.err,
            PATIENCE,
        )
    }

    /// Read stderr until a line contains `needle`; returns that line.
    pub fn wait_stderr(&mut self, needle: &str) -> String {
        Self::wait_stderr_within(self, needle, PATIENCE)
    }

    /// Read stderr until a line contains `needle`, for at most `within` (for what comes only
    /// after a bound of the program's own has passed); returns that line.
    pub fn wait_stderr_within(&mut self, needle: &str, within: Duration) -> String {
        Self::wait_on(
            &self.stderr,
            &mut self.err,
            needle,
            "stderr",
            &self.out,
            within,
        )
    }

    fn wait_on(
        rx: &Receiver<String>,
        seen: &mut String,
        needle: &str,
        name: &str,
        other: &str,
        within: Duration,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    seen.push_str(&line);
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {needle:?} on {name} in time; {name} so far: {seen:?}; other: {other:?}"
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{name} closed before {needle:?}; {name}: {seen:?}; other: {other:?}")
                }
            }
        }
    }

    /// Wait (bounded) for the process to end; collect the rest of its output.
    pub fn finish(&mut self) -> ExitStatus {
        drop(self.stdin.take());
        let status = wait_bounded(&mut self.child, || {
            format!(
                "process did not end in time; stdout {:?}, stderr {:?}",
                self.out, self.err
            )
        });
        // The reader threads end at EOF, which follows the exit.
        for (rx, seen) in [(&self.stdout, &mut self.out), (&self.stderr, &mut self.err)] {
            while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
                seen.push_str(&line);
            }
        }
        status
    }

    /// Send a signal by number.
    pub fn signal(&self, sig: i32) {
        let rc = unsafe_free_kill(self.pid(), sig);
        assert!(rc, "kill -{sig} {}", self.pid());
    }

    /// Take the stdout lines that arrive within `within` (at least those already there); they
    /// are added to `out`. Returns how many came.
    pub fn stdout_lines_within(&mut self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        let mut n = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    self.out.push_str(&line);
                    n += 1;
                }
                Err(_) => return n,
            }
        }
    }

    /// The port of `mq-recv --listen 127.0.0.1:0`, from its line `listening on 127.0.0.1:PORT`.
    pub fn listening_port(&mut self) -> u16 {
        let line = self.wait_stderr("listening on 127.0.0.1:");
        line.split("listening on 127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
    }
}

/// Wait (bounded by PATIENCE) for `child` to end. One still running then is ended (SIGTERM,
/// with which our programs remove what they made; SIGKILL should that not do within two
/// seconds) and the test fails with the message `overdue` gives.
#[track_caller]
pub fn wait_bounded(child: &mut Child, overdue: impl FnOnce() -> String) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > PATIENCE {
            let _ = unsafe_free_kill(child.id() as i32, libc::SIGTERM);
            let ended = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if ended.elapsed() > Duration::from_secs(2) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                thread::sleep(Duration::from_millis(5));
            }
            panic!("{}", overdue());
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn unsafe_free_kill(pid: i32, sig: i32) -> bool {
    Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a command run to its end left: its status and its output.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Run a command to its end with `stdin` as its input, like `Command::output`, but bounded by
/// [`Running::finish`]: a process that does not end in time fails the test (never hangs).
pub fn output_of(command: &mut Command, stdin: &[u8]) -> Finished {
    let mut run = Running::spawn(command);
    // A process that exits before reading all its input is fine: ignore the broken pipe.
    let _ = std::io::Write::write_all(run.stdin.as_mut().unwrap(), stdin);
    let status = run.finish();
    Finished {
        status,
        stdout: std::mem::take(&mut run.out),
        stderr: std::mem::take(&mut run.err),
    }
}

/// Run a command to its end with /dev/zero as its standard input (endless NUL bytes, no newline
/// ever), bounded by [`Running::finish`]: a process that reads on for ever fails the test.
pub fn output_of_dev_zero(command: &mut Command) -> Finished {
    let zero = std::fs::File::open("/dev/zero").expect("open /dev/zero");
    let mut run = Running::spawn_reading(command, Stdio::from(zero));
    let status = run.finish();
    Finished {
        status,
        stdout: std::mem::take(&mut run.out),
        stderr: std::mem::take(&mut run.err),
    }
}

/// The system call the main thread of `pid` waits in now (/proc/PID/syscall), if any.
pub fn syscall_of(pid: i32) -> Option<i64> {
    std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether process `pid` is waiting in poll(2) now (its main thread, per /proc/PID/syscall).
pub fn blocked_in_poll(pid: i32) -> bool {
    syscall_of(pid).is_some_and(|nr| nr == libc::SYS_poll || nr == libc::SYS_ppoll)
}

/// Whether process `pid` is waiting in open(2) now (its main thread, per /proc/PID/syscall),
/// as a FIFO's open waits for the other end (glibc's open(3) calls openat(2)).
pub fn blocked_in_open(pid: i32) -> bool {
    syscall_of(pid) == Some(libc::SYS_openat)
}

/// /proc/sys/kernel/pid_max: pids stay below it, so no process ever has this one, and a signal
/// sent to it reaches nobody (ESRCH), whatever else runs meanwhile.
pub fn pid_never_used() -> i32 {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .expect("read /proc/sys/kernel/pid_max")
        .trim()
        .parse()
        .expect("a number")
}

/// The signals a /proc/PID/status line lists (`SigCgt`, `SigBlk`, `SigIgn`, `SigPnd`,
/// `ShdPnd`), as numbers; `None` once the process is gone.
pub fn proc_signal_set(pid: i32, field: &str) -> Option<Vec<i32>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    let bits = u64::from_str_radix(hex.trim(), 16).ok()?;
    Some((1..=64).filter(|n| bits & (1u64 << (n - 1)) != 0).collect())
}
