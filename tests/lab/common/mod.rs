//! Helpers shared by the integration tests: our binaries, processes whose output is read with a
//! time limit, exit statuses as a shell shows them, and the kernel's table of segments.
#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
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

/// The status as a shell's `$?` shows it: the exit code, or 128 + the signal that ended it.
pub fn shell_status(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .expect("a process ends by exit or by signal")
}

/// A key no other test (nor another run of this suite) uses: pid and a counter.
pub fn unique_key() -> i32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) & 0xff;
    (0x5a00_0000 | ((std::process::id() & 0xffff) << 8) | n) as i32
}

/// One row of /proc/sysvipc/shm, which every user may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRow {
    pub key: i32,
    pub id: i32,
    pub perms: u32,
    pub size: usize,
    pub nattch: u64,
}

pub fn segment(id: i32) -> Option<SegmentRow> {
    let table = std::fs::read_to_string("/proc/sysvipc/shm").expect("read /proc/sysvipc/shm");
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.get(1)?.parse::<i32>().ok()? == id).then(|| SegmentRow {
            key: f[0].parse().unwrap(),
            id,
            perms: u32::from_str_radix(f[2], 8).unwrap(),
            size: f[3].parse().unwrap(),
            nattch: f[6].parse().unwrap(),
        })
    })
}

pub fn segment_exists(id: i32) -> bool {
    segment(id).is_some()
}

/// The /proc/sysvipc/shm lines of the segments that one of `pids` created (the `cpid` column):
/// what a run left, whatever else the machine holds.
pub fn segments_created_by(pids: &[i32]) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/sysvipc/shm").expect("read /proc/sysvipc/shm");
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let cpid = header
        .iter()
        .position(|h| *h == "cpid")
        .expect("a cpid column in /proc/sysvipc/shm");
    lines
        .filter(|line| {
            line.split_whitespace()
                .nth(cpid)
                .and_then(|p| p.parse::<i32>().ok())
                .is_some_and(|p| pids.contains(&p))
        })
        .map(str::to_string)
        .collect()
}

/// Remove a segment a test made or a killed process left (ignores one already gone).
pub fn remove_segment(id: i32) {
    let _ = Command::new("ipcrm")
        .args(["-m", &id.to_string()])
        .stderr(Stdio::null())
        .status();
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
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!(
                    "process did not end in time; stdout {:?}, stderr {:?}",
                    self.out, self.err
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
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

/// A master started with `args`, once it has printed its id. Dropping it also removes the
/// segment, should a failing test leave one.
pub struct Master {
    pub run: Running,
    pub id: i32,
}

impl Master {
    pub fn start(args: &[&str]) -> Master {
        let mut c = cmd("shm-master");
        c.args(args);
        let mut run = Running::spawn(&mut c);
        let line = run.wait_stdout("Shared Memory Id = ");
        let id = line
            .trim_end()
            .strip_prefix("Shared Memory Id = ")
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad id line {line:?}"));
        Master { run, id }
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if let Ok(None) = self.run.child.try_wait() {
            let _ = self.run.child.kill();
            let _ = self.run.child.wait();
        }
        remove_segment(self.id);
    }
}

/// The three lines the notes' master prints for 5, 7, -9.
pub fn read_lines(values: &[i32]) -> String {
    values
        .iter()
        .map(|v| format!("Read {v} from shared memory.\n"))
        .collect()
}

/// Whether tests can act as another user: root with setpriv (util-linux).
pub fn can_drop_to_nobody() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && Command::new("setpriv")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A command that runs one of our binaries as the user nobody.
pub fn as_nobody(name: &str) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin(name))
        .env("NO_COLOR", "1");
    c
}

/// One of our binaries run as the user nobody, with the mqueue file system mounted on `dir` in
/// a mount namespace of its own (`unshare -m`, gone with the process), so that the program
/// can see who owns a queue it may not open, whatever this machine mounts. None when that
/// cannot be done here (not root, no setpriv or unshare, or the mount refused).
pub fn as_nobody_seeing_queues(name: &str, dir: &TempDir) -> Option<Command> {
    const SCRIPT: &str = "mount -t mqueue none \"$0\" && exec \"$@\"";
    if !can_drop_to_nobody() {
        return None;
    }
    let mountable = Command::new("unshare")
        .args(["-m", "sh", "-c", SCRIPT])
        .arg(&dir.path)
        .arg("true")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mountable {
        return None;
    }
    let mut c = Command::new("unshare");
    c.args(["-m", "sh", "-c", SCRIPT])
        .arg(&dir.path)
        .args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .arg(bin(name))
        .env("NO_COLOR", "1");
    Some(c)
}

/// Run a command to its end with its stderr on a terminal `columns` wide (a pseudo-terminal,
/// as a tmux pane is), stdin empty and stdout a pipe; the terminal's `\r\n` are read as `\n`.
/// Bounded by PATIENCE, as [`output_of`].
pub fn output_with_stderr_on_terminal(command: &mut Command, columns: u16) -> Finished {
    let size = nix::pty::Winsize {
        ws_row: 24,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(pty.slave))
        .spawn()
        .expect("spawn");
    // The command held the only other copy of the terminal's slave side: with it gone, the
    // master reads end of file (EIO) once the program has ended.
    command.stderr(Stdio::null());
    let terminal = std::fs::File::from(pty.master);
    let reader = |mut stream: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                bytes.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("piped")));
    let stderr = reader(Box::new(terminal));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process did not end in time");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Finished {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader").replace("\r\n", "\n"),
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

// ---------------------------------------------------------------------------------------------
// POSIX message queues (tests/mq.rs)

/// A queue name no other test (nor another run of this suite) uses: `/ipc-lab-test-<pid>-<n>`.
pub fn unique_queue() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("/ipc-lab-test-{}-{n}", std::process::id())
}

/// A queue name a test owns: dropping the guard removes the queue (mq_unlink), however the test
/// ends, so that a failed assertion leaves nothing behind. It does not create the queue.
pub struct QueueGuard {
    pub name: String,
}

impl QueueGuard {
    /// A fresh name of this test's own.
    pub fn new() -> QueueGuard {
        QueueGuard {
            name: unique_queue(),
        }
    }

    /// The mailbox `mq-recv --mine` (or `--listen` with no queue) makes for process `pid`.
    pub fn for_pid(pid: u32) -> QueueGuard {
        QueueGuard {
            name: ipc_lab::mq::QueueName::for_pid(pid).as_str().to_string(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    fn queue_name(&self) -> ipc_lab::mq::QueueName {
        ipc_lab::mq::QueueName::parse(&self.name).expect("a valid test queue name")
    }

    /// Whether the queue exists (asked of the kernel, without creating it).
    pub fn exists(&self) -> bool {
        ipc_lab::mq::exists(&self.queue_name())
    }

    fn open(&self) -> ipc_lab::mq::Mailbox {
        use ipc_lab::mq::{Access, Mailbox, OpenOptions};
        Mailbox::open(&self.queue_name(), &OpenOptions::existing(Access::Receive))
            .unwrap_or_else(|e| panic!("open {}: {e:#}", self.name))
    }

    /// The queue's attributes now (mq_getattr); the queue must exist.
    pub fn attributes(&self) -> ipc_lab::mq::Attributes {
        self.open().attributes().expect("mq_getattr")
    }

    /// The queue's permission bits, from fstat(2) on its descriptor (no /dev/mqueue needed).
    pub fn mode(&self) -> u32 {
        let mailbox = self.open();
        let stat = nix::sys::stat::fstat(mailbox.as_fd()).expect("fstat on a queue");
        stat.st_mode as u32 & 0o777
    }
}

impl Drop for QueueGuard {
    fn drop(&mut self) {
        if let Ok(name) = std::ffi::CString::new(self.name.as_str()) {
            let _ = nix::mqueue::mq_unlink(name.as_c_str());
        }
    }
}

/// Whether the mqueue file system is mounted in this mount namespace (at /dev/mqueue as a rule;
/// scripts/private-ipc.sh mounts its namespace's at a directory of its own): the programs look
/// there for the owner of a queue they may not open.
pub fn mqueue_listed() -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(2) == Some("mqueue"))
    })
}

/// One of our binaries run through `sh` with the given umask (mq_open applies the umask to the
/// permissions of a queue it creates, so tests about permissions fix it).
pub fn with_umask(umask: u32, name: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", &format!("umask {umask:03o} && exec \"$0\" \"$@\"")])
        .arg(bin(name))
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1");
    c
}

/// Whether process `pid` is waiting in poll(2) now (its main thread, per /proc/PID/syscall).
pub fn blocked_in_poll(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|s| {
        let nr = s.split_whitespace().next().unwrap_or("");
        nr == libc::SYS_poll.to_string() || nr == libc::SYS_ppoll.to_string()
    })
}

impl Running {
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

// ---------------------------------------------------------------------------------------------
// Paths, processes and their children (tests/pipe.rs)

/// A path in the temporary directory that no other test (nor another run of this suite) uses:
/// `<tmp>/ipc-lab-test-<pid>-<n>-<stem>`. Nothing is made there; whatever is there when the
/// guard is dropped is removed, however the test ends.
pub struct TempPath {
    pub path: PathBuf,
}

impl TempPath {
    pub fn new(stem: &str) -> TempPath {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ipc-lab-test-{}-{n}-{stem}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempPath { path }
    }

    pub fn as_str(&self) -> &str {
        self.path.to_str().expect("a UTF-8 temporary path")
    }

    /// Whether something (of any type) is at the path.
    pub fn exists(&self) -> bool {
        std::fs::symlink_metadata(&self.path).is_ok()
    }

    /// Whether a FIFO is at the path.
    pub fn is_fifo(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.file_type().is_fifo())
    }

    /// Make a FIFO at the path (mode 0600), as a user would with mkfifo(1).
    pub fn make_fifo(&self) {
        nix::unistd::mkfifo(&self.path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .unwrap_or_else(|e| panic!("mkfifo {}: {e}", self.as_str()));
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What /proc/PID/stat says of a process: its state letter, parent and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub ppid: i32,
    /// Clock ticks after boot: with the pid, it names one process (pids are reused).
    pub start: u64,
}

pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    parse_proc_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
    Some(ProcStat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// One process: its pid and start time, so that a pid reused by another process is not
/// mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcId {
    pub pid: i32,
    pub start: u64,
}

impl ProcId {
    /// The process that has this pid now, if any.
    pub fn of(pid: i32) -> Option<ProcId> {
        ProcId::read(pid).ok()
    }

    /// The process that has this pid now; an error of kind NotFound when there is none, another
    /// error when /proc could not be read.
    pub fn read(pid: i32) -> std::io::Result<ProcId> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let stat = parse_proc_stat(&text).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("/proc/{pid}/stat: {text:?}"),
            )
        })?;
        Ok(ProcId {
            pid,
            start: stat.start,
        })
    }

    /// Its state now, or `None` once it is gone (reaped: no such pid, or the pid reused).
    pub fn stat(&self) -> Option<ProcStat> {
        proc_stat(self.pid).filter(|s| s.start == self.start)
    }

    /// Whether it still exists, as a running process or as a zombie nobody has reaped.
    pub fn exists(&self) -> bool {
        self.stat().is_some()
    }

    /// Its command line, words joined by spaces (empty for a zombie).
    pub fn cmdline(&self) -> String {
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .map(|b| {
                b.split(|&c| c == 0)
                    .filter(|w| !w.is_empty())
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    }
}

/// The children of a process's main thread (/proc/PID/task/PID/children).
pub fn children_of(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The environment variable that marks every process a test starts, and so every process those
/// start in turn (fork and exec keep the environment): see [`tag_command`].
pub const TAG_VAR: &str = "IPC_LAB_TEST_TAG";

/// Mark `command` with a tag of its own; [`tagged_processes`] then finds it and all its
/// descendants, wherever they were reparented.
pub fn tag_command(command: &mut Command) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let tag = format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    command.env(TAG_VAR, &tag);
    tag
}

/// The live processes (zombies have no environment) that carry `tag`, with their command lines.
pub fn tagged_processes(tag: &str) -> Vec<(i32, String)> {
    let entry = format!("{TAG_VAR}={tag}").into_bytes();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == entry))
        })
        .map(|pid| {
            let line = ProcId::of(pid).map(|p| p.cmdline()).unwrap_or_default();
            (pid, line)
        })
        .collect()
}

/// Records every child a process has while it runs, polling /proc every millisecond from a
/// thread (a child that lives less than that may be missed: [`tagged_processes`] is the
/// complete check of what is left).
pub struct ChildWatch {
    seen: std::sync::Arc<std::sync::Mutex<Vec<ProcId>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ChildWatch {
    pub fn start(parent: i32) -> ChildWatch {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let seen = Arc::new(Mutex::new(Vec::<ProcId>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            // Only a parent that is positively gone ends the watch: a look at /proc that fails
            // for another reason (this busy test process out of descriptors for a moment, say)
            // is tried again, or a long-lived child could go unseen.
            let me = loop {
                match ProcId::read(parent) {
                    Ok(me) => break me,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                    Err(_) if stop2.load(Ordering::Relaxed) => return,
                    Err(_) => thread::sleep(Duration::from_millis(1)),
                }
            };
            while !stop2.load(Ordering::Relaxed) {
                match ProcId::read(parent) {
                    Ok(now) if now != me => break,
                    Ok(_) => match me.stat() {
                        Some(s) if s.state == 'Z' || s.state == 'X' => break,
                        _ => {}
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => {}
                }
                let found: Vec<ProcId> = children_of(parent)
                    .into_iter()
                    .filter_map(ProcId::of)
                    .filter(|c| c.stat().is_some_and(|s| s.ppid == parent))
                    .collect();
                // Still the same process (its pid not reused meanwhile): the list is its own.
                if me.exists() {
                    let mut seen = seen2.lock().unwrap();
                    for c in found {
                        if !seen.contains(&c) {
                            seen.push(c);
                        }
                    }
                }
                thread::sleep(Duration::from_millis(1));
            }
        });
        ChildWatch {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Count `child` among the children seen, as a test that was told of it (the program
    /// reported its pid while it lived) knows it was one: the end of the run then checks it as
    /// it checks those the watch saw, however short a time the watch had to see it.
    pub fn add(&self, child: ProcId) {
        let mut seen = self.seen.lock().unwrap();
        if !seen.contains(&child) {
            seen.push(child);
        }
    }

    /// The children seen so far.
    pub fn seen(&self) -> Vec<ProcId> {
        self.seen.lock().unwrap().clone()
    }

    /// Wait (bounded) until at least `n` children have been seen; returns them.
    pub fn wait_for(&self, n: usize) -> Vec<ProcId> {
        eventually(&format!("{n} child process(es)"), || self.seen().len() >= n);
        self.seen()
    }

    /// Stop watching; returns every child seen.
    pub fn stop(mut self) -> Vec<ProcId> {
        self.halt();
        self.seen()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ChildWatch {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Make this test process the reaper of the orphans its children leave
/// (PR_SET_CHILD_SUBREAPER): a grandchild whose parent exits without waiting for it then
/// becomes this process's child instead of init's, so that [`assert_nothing_left`] can tell
/// that its parent did not reap it. Once per process; harmless to the other tests, whose
/// processes leave no orphans.
pub fn adopt_orphans() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        nix::sys::prctl::set_child_subreaper(true).expect("prctl(PR_SET_CHILD_SUBREAPER)")
    });
}

/// After a test's process has ended: check that it reaped each of its `children` (none was
/// handed on to this process, see [`adopt_orphans`]), and wait (bounded) until each is gone and
/// no process carrying `tag` is left. Whatever is left is killed and reaped, then the test fails.
#[track_caller]
pub fn assert_nothing_left(tag: &str, children: &[ProcId]) {
    let me = std::process::id() as i32;
    let orphans: Vec<String> = children
        .iter()
        .filter_map(|c| {
            let stat = c.stat().filter(|s| s.ppid == me)?;
            let line = format!("{} {stat:?} {:?}", c.pid, c.cmdline());
            let pid = nix::unistd::Pid::from_raw(c.pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            Some(line)
        })
        .collect();
    assert!(
        orphans.is_empty(),
        "children their parent did not reap (handed on to the test): {orphans:?}"
    );
    let start = Instant::now();
    loop {
        let alive: Vec<ProcId> = children.iter().copied().filter(ProcId::exists).collect();
        let tagged = tagged_processes(tag);
        if alive.is_empty() && tagged.is_empty() {
            return;
        }
        if start.elapsed() > PATIENCE {
            let states: Vec<String> = alive
                .iter()
                .map(|c| format!("{} {:?} {:?}", c.pid, c.stat(), c.cmdline()))
                .collect();
            for (pid, _) in &tagged {
                let pid_t = nix::unistd::Pid::from_raw(*pid);
                let _ = nix::sys::signal::kill(pid_t, nix::sys::signal::Signal::SIGKILL);
                // An orphan handed on to this process (see adopt_orphans) is reaped here.
                if proc_stat(*pid).is_some_and(|s| s.ppid == me) {
                    let _ = nix::sys::wait::waitpid(pid_t, None);
                }
            }
            panic!("processes left behind: children {states:?}, tagged {tagged:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` is waiting in open(2) now (its main thread, per /proc/PID/syscall),
/// as a FIFO's open waits for the other end (glibc's open(3) calls openat(2)).
pub fn blocked_in_open(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .is_ok_and(|s| s.split_whitespace().next() == Some(&libc::SYS_openat.to_string()))
}

/// Whether the effective capabilities of this process include `cap` (e.g. 24,
/// CAP_SYS_RESOURCE), per /proc/self/status.
pub fn has_capability(cap: u32) -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .is_some_and(|bits| bits & (1u64 << cap) != 0)
    })
}

// ---------------------------------------------------------------------------------------------
// Directories and core dumps (tests/signal.rs)

/// A directory of its own under the temporary directory that no other test (nor another run of
/// this suite) uses: `<tmp>/ipc-lab-test-<pid>-<n>-<stem>`, made empty; removed with whatever it
/// holds when the guard is dropped, however the test ends.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(stem: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ipc-lab-test-{}-{n}-{stem}.d", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempDir { path }
    }

    /// The names of what the directory holds now, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.path.display()))
            .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The shell words that raise the soft core-size limit (RLIMIT_CORE) to the hard one.
const CORE_LIMIT_UP: &str = "ulimit -c \"$(ulimit -H -c)\"";

/// One of our binaries run through `sh` with core dumps allowed (the soft RLIMIT_CORE raised to
/// the hard limit, `unlimited` on most systems): a test can then tell that the program itself
/// turns them off.
pub fn with_core_dumps(name: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", &format!("{CORE_LIMIT_UP} && exec \"$0\" \"$@\"")])
        .arg(bin(name))
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1");
    c
}

/// A shell that allows core dumps as [`with_core_dumps`] does, then kills itself with SIGSEGV:
/// what this system leaves in the working directory when a process does dump core.
pub fn dumping_core() -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", &format!("{CORE_LIMIT_UP} && kill -SEGV $$")]);
    c
}

/// Whether the kernel hands core dumps to a program (core_pattern starts with `|`) rather than
/// writing a file; such a program may be handed the dump whatever RLIMIT_CORE says.
pub fn core_dumps_go_to_a_program() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/core_pattern").is_ok_and(|p| p.starts_with('|'))
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

// ---------------------------------------------------------------------------------------------
// Demos that fork: runs checked for children left behind (tests/pipe.rs, tests/signal.rs)

/// A demo binary that runs: tagged, its children recorded. Should a test fail midway, dropping it
/// kills the demo (`run`, even when stopped) and then whatever carries its tag (`tag`), orphans
/// included.
pub struct Demo {
    pub run: Running,
    pub tag: Tag,
    pub watch: ChildWatch,
}

/// The tag of one run; dropping it kills every live process that still carries it.
pub struct Tag(pub String);

impl Drop for Tag {
    fn drop(&mut self) {
        for (pid, _) in tagged_processes(&self.0) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// A demo run to its end, after the check that it left nothing behind.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The children seen while it ran (one that lived less than a millisecond may be missing).
    pub children: Vec<ProcId>,
}

impl Demo {
    pub fn start_cmd(mut command: Command) -> Demo {
        adopt_orphans();
        let tag = Tag(tag_command(&mut command));
        let run = Running::spawn(&mut command);
        let watch = ChildWatch::start(run.pid());
        Demo { run, tag, watch }
    }

    pub fn pid(&self) -> i32 {
        self.run.pid()
    }

    /// Wait (bounded) for the end; then check that nothing it started is left.
    #[track_caller]
    pub fn finish(self) -> Ran {
        let Demo {
            mut run,
            tag,
            watch,
        } = self;
        let status = run.finish();
        let children = watch.stop();
        assert_nothing_left(&tag.0, &children);
        Ran {
            status,
            stdout: std::mem::take(&mut run.out),
            stderr: std::mem::take(&mut run.err),
            children,
        }
    }
}

/// The exit status of a run as a shell shows it.
pub fn code(ran: &Ran) -> i32 {
    shell_status(ran.status)
}

/// The whole stdout, exit 0, nothing on stderr.
#[track_caller]
pub fn assert_success(ran: &Ran, stdout: &str) {
    assert_eq!(
        (code(ran), ran.stdout.as_str(), ran.stderr.as_str()),
        (0, stdout, "")
    );
}

#[track_caller]
pub fn assert_no_panic(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

/// A usage error: exit 2, nothing on stdout, `error: ...` on stderr, no child forked.
#[track_caller]
pub fn assert_usage_error(ran: &Ran, what: &str) {
    assert_eq!(code(ran), 2, "{what}: {}", ran.stderr);
    assert_eq!(ran.stdout, "", "{what}");
    assert!(ran.stderr.starts_with("error: "), "{what}: {}", ran.stderr);
    assert_no_panic(&ran.stderr);
    assert!(ran.children.is_empty(), "{what}: {:?}", ran.children);
}

/// `--version` and `-V` print `NAME VERSION`, the package's.
#[track_caller]
pub fn assert_version(name: &str, run: impl Fn(&[&str]) -> Ran) {
    for flag in ["--version", "-V"] {
        let ran = run(&[flag]);
        assert_success(&ran, &format!("{name} {}\n", env!("CARGO_PKG_VERSION")));
    }
}

/// Each subcommand's `--help` mentions every one of its words (options, defaults, the notes'
/// section, examples).
#[track_caller]
pub fn assert_helps_mention(table: &[(&str, &[&str])], run: impl Fn(&[&str]) -> Ran) {
    for (sub, words) in table {
        let help = run(&[sub, "--help"]).stdout;
        for w in *words {
            assert!(help.contains(w), "{sub} --help lacks {w:?}: {help}");
        }
    }
}

/// Each subcommand's `--help`: its usage line, the common `--explain`, no child forked, and the
/// same text as `help SUB`.
#[track_caller]
pub fn assert_subcommand_helps(name: &str, subs: &[&str], run: impl Fn(&[&str]) -> Ran) {
    for sub in subs {
        let ran = run(&[sub, "--help"]);
        assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""), "{sub}");
        assert!(
            ran.stdout
                .contains(&format!("Usage: {name} {sub} [OPTIONS]")),
            "{sub}: {}",
            ran.stdout
        );
        assert!(ran.stdout.contains("--explain"), "{sub}");
        assert!(ran.children.is_empty(), "{sub} --help forks nothing");
        let same = run(&["help", sub]);
        assert_eq!(
            (code(&same), same.stdout.as_str()),
            (0, ran.stdout.as_str()),
            "help {sub}"
        );
    }
}
