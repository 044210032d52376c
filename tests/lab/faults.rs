//! Fault injection: every binary, stopped at every place it waits, is sent SIGINT, SIGTERM and
//! SIGHUP, to itself (`kill PID`) and to its whole process group (as a terminal's Ctrl-C or
//! hang-up is). Each time it must end promptly (within [`PROMPTLY`]) by that very signal, which
//! the shell shows as 128 + N; leave none of its segments, queues, semaphore sets or FIFOs; and
//! leave no child behind, neither running nor unreaped (its children are recorded while it runs,
//! and this process adopts orphans: see [`assert_nothing_left`]). What it did not make (a queue
//! the test made, a queue `mq-recv` keeps by design) must still be there.
//!
//! The suite is one table, [`rows`]: a binary and its arguments, how the test knows it has
//! reached its wait point (a line on stdout or stderr, the system call it waits in per
//! /proc/PID/syscall, its children appearing), and what it owns. Each mechanism's module gives
//! its binaries' rows (`shm::fault_rows`, `mq::fault_rows`, ...) with what they need to reach
//! their wait points; this module has the rest. Every row meets every signal and both targets,
//! two cases at a time. Names are this run's own (pid and a counter), no test expects the
//! machine to have no IPC objects, and whatever a failing case leaves is removed when its
//! [`Fixture`] is dropped.
//!
//! One cell is not a termination by design: `sig-demo wait` reports SIGHUP and waits on (the lab
//! sheet has the student send it `kill -HUP`); the case checks the report, then ends it with
//! SIGTERM.
//!
//! Then SIGKILL, which no program can clean up after: the tests show what it leaves (shm-master's
//! segment, mq-recv's and mq-send's queues, shm-race's segment and semaphore set, pipe-demo's
//! FIFO), that the remedies the lab sheet gives (`ipcrm -m ID`, `ipcrm -M KEY`, `ipcrm -s ID`,
//! `mq-recv --unlink -n NAME`, `rm`) remove it, and that `shm-master --remove-early`, shm-slave,
//! ipc-bench and proc-demo leave nothing.
//!
//! Every signal sent to a program under test is counted; each test prints its count.

use std::cell::Cell;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::panic::AssertUnwindSafe;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::bench::{bench_mq, bench_sem, long_latency};
use crate::common::*;
use crate::mq::{created_then_poll, own_mailbox};
use crate::pipe::fifo_open_waits;
use crate::procs::workers_count;
use crate::shm::{master_polls, slave_lingers, test_segment};
use crate::sync::{LONG_SEMAPHORE_RACE, race_runs};
use crate::{bench, mq, pipe, procs, shm, signal, sync};
use ipc_lab::mq::QueueName;
use ipc_lab::shm::Segment;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

// ---------------------------------------------------------------------------------------------
// Faults

/// The signals a terminal or a supervisor sends to end a program politely.
const SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// How soon a program must end after a termination signal.
const PROMPTLY: Duration = Duration::from_secs(3);

thread_local! {
    /// The signals this thread has sent to programs under test (the faults injected).
    static SENT: Cell<usize> = const { Cell::new(0) };
}

/// How many faults this thread has injected so far.
fn faults_sent() -> usize {
    SENT.with(Cell::get)
}

/// Send `sig` to `pid`, or to its process group (every program under test leads its own).
fn inject(pid: i32, sig: Signal, target: Target) {
    SENT.with(|n| n.set(n.get() + 1));
    target.send(pid, sig);
}

// ---------------------------------------------------------------------------------------------
// The kernel's tables

pub(crate) const POLL: &[i64] = &[libc::SYS_poll, libc::SYS_ppoll];
pub(crate) const READ: &[i64] = &[libc::SYS_read];
pub(crate) const WRITE: &[i64] = &[libc::SYS_write];
pub(crate) const WAITPID: &[i64] = &[libc::SYS_wait4];

/// The rows of /proc/sysvipc/shm, split into fields.
fn shm_rows() -> Vec<Vec<String>> {
    let table = std::fs::read_to_string("/proc/sysvipc/shm").expect("read /proc/sysvipc/shm");
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// The ids of the segments that one of `pids` created (the `cpid` column, the fifth).
fn segments_created_by(pids: &[i32]) -> Vec<i32> {
    shm_rows()
        .iter()
        .filter(|f| {
            f.get(4)
                .and_then(|p| p.parse::<i32>().ok())
                .is_some_and(|p| pids.contains(&p))
        })
        .filter_map(|f| f.get(1)?.parse().ok())
        .collect()
}

/// The id of the segment that has `key` now, if any.
fn segment_with_key(key: i32) -> Option<i32> {
    shm_rows()
        .iter()
        .find_map(|f| (f.first()?.parse::<i32>().ok()? == key).then(|| f.get(1)?.parse().ok())?)
}

/// Remove a segment or a semaphore set with the library's own call (no ipcrm needed).
fn remove_sysv(segment: Option<i32>, set: Option<i32>) {
    // SAFETY: IPC_RMID takes no buffer; an id that is gone fails with EINVAL, ignored.
    unsafe {
        if let Some(id) = segment {
            libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
        }
        if let Some(id) = set {
            libc::semctl(id, 0, libc::IPC_RMID);
        }
    }
}

/// The queues of ipc-bench process `pid` that exist now (`/ipc-bench-<pid>-<n>-down|up`).
fn bench_queues_of(pid: i32) -> Vec<String> {
    (0..16)
        .flat_map(|n| ["down", "up"].map(|dir| format!("/ipc-bench-{pid}-{n}-{dir}")))
        .filter(|name| ipc_lab::mq::exists(&QueueName::parse(name).expect("a queue name")))
        .collect()
}

fn ipcrm_installed() -> bool {
    Command::new("ipcrm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ---------------------------------------------------------------------------------------------
// The program under test

/// What the program's standard output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Out {
    /// A pipe read as it comes.
    Read,
    /// A pipe of 4096 bytes that nobody reads (a `| less` that does not scroll): once it is
    /// full, a write to stdout waits.
    Stalled,
}

/// Bytes read from a stream as they come, and whether it has ended.
#[derive(Clone, Default)]
pub(crate) struct Collected {
    bytes: Arc<Mutex<Vec<u8>>>,
    ended: Arc<AtomicBool>,
}

impl Collected {
    /// A stream that is not read (a stalled stdout): ended from the start.
    fn none() -> Collected {
        let c = Collected::default();
        c.ended.store(true, Ordering::SeqCst);
        c
    }

    fn of(mut stream: impl Read + Send + 'static) -> Collected {
        let c = Collected::default();
        let c2 = c.clone();
        thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match stream.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => c2.bytes.lock().unwrap().extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            c2.ended.store(true, Ordering::SeqCst);
        });
        c
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned()
    }

    /// Wait (bounded) for the stream's end: what was written before an exit is then all here.
    fn wait_end(&self) {
        let start = Instant::now();
        while !self.ended.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(2));
        }
    }
}

/// A program under test: tagged (see [`tag_command`]), leading a process group of its own, its
/// children recorded while it runs. Dropping it kills it and whatever carries its tag.
pub(crate) struct Subject {
    what: String,
    child: Child,
    tag: Tag,
    watch: Option<ChildWatch>,
    stdin: Option<ChildStdin>,
    out: Collected,
    pub(crate) err: Collected,
    /// The read end of a stalled stdout, held (and never read) while the program runs.
    _stalled: Option<OwnedFd>,
}

impl Subject {
    /// Start `command` with a stdin this test keeps open and writes nothing to (a read waits)
    /// and `stdout`.
    fn start(what: String, mut command: Command, stdout: Out) -> Subject {
        adopt_orphans();
        let tag = Tag(tag_command(&mut command));
        command
            .process_group(0)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped());
        let stalled = match stdout {
            Out::Read => {
                command.stdout(Stdio::piped());
                None
            }
            Out::Stalled => {
                let (read, write) =
                    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
                nix::fcntl::fcntl(&write, nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096))
                    .expect("F_SETPIPE_SZ");
                command.stdout(Stdio::from(write));
                Some(read)
            }
        };
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: spawn: {e}"));
        // The write end of a stalled stdout lives on in `command` until it is dropped here.
        drop(command);
        let watch = Some(ChildWatch::start(child.id() as i32));
        let out = child
            .stdout
            .take()
            .map(Collected::of)
            .unwrap_or_else(Collected::none);
        let err = Collected::of(child.stderr.take().expect("piped stderr"));
        Subject {
            what,
            stdin: child.stdin.take(),
            child,
            tag,
            watch,
            out,
            err,
            _stalled: stalled,
        }
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    #[track_caller]
    fn fail(&mut self, why: String) -> ! {
        panic!(
            "{}: {why}; stdout {:?}; stderr {:?}",
            self.what,
            self.out.text(),
            self.err.text()
        )
    }

    /// Wait (bounded) until `check` holds; the program must not end meanwhile.
    #[track_caller]
    pub(crate) fn wait_until(&mut self, what: &str, mut check: impl FnMut(&mut Subject) -> bool) {
        let start = Instant::now();
        while !check(self) {
            if !self.running() {
                let status = self.child.try_wait().ok().flatten();
                self.fail(format!("ended ({status:?}) before {what}"));
            }
            if start.elapsed() > PATIENCE {
                let call = syscall_of(self.pid());
                self.fail(format!(
                    "timed out waiting for {what} (in syscall {call:?})"
                ));
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Wait until stdout holds `needle` (a prompt with no newline counts); returns stdout.
    #[track_caller]
    pub(crate) fn wait_out(&mut self, needle: &str) -> String {
        let what = format!("{needle:?} on stdout");
        self.wait_until(&what, |s| s.out.text().contains(needle));
        self.out.text()
    }

    /// Wait until stderr holds `needle`; returns stderr.
    #[track_caller]
    pub(crate) fn wait_err(&mut self, needle: &str) -> String {
        let what = format!("{needle:?} on stderr");
        self.wait_until(&what, |s| s.err.text().contains(needle));
        self.err.text()
    }

    /// Wait until the program's main thread waits in one of `calls`.
    #[track_caller]
    pub(crate) fn wait_in(&mut self, calls: &[i64]) {
        let pid = self.pid();
        let what = format!("a wait in system call {calls:?}");
        self.wait_until(&what, |_| {
            syscall_of(pid).is_some_and(|c| calls.contains(&c))
        });
    }

    /// Wait until `n` children have been seen, each still running; returns them.
    #[track_caller]
    pub(crate) fn wait_children(&mut self, n: usize) -> Vec<ProcId> {
        let what = format!("{n} child process(es)");
        self.wait_until(&what, |s| s.children().len() >= n);
        self.children()
    }

    pub(crate) fn children(&self) -> Vec<ProcId> {
        self.watch
            .as_ref()
            .map(ChildWatch::seen)
            .unwrap_or_default()
    }

    /// Wait (bounded) for the end; returns the status and the time since `sent`.
    #[track_caller]
    fn end(&mut self, sent: Instant) -> (ExitStatus, Duration) {
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let took = sent.elapsed();
                drop(self.stdin.take());
                self.out.wait_end();
                self.err.wait_end();
                return (status, took);
            }
            // Twice the limit is long enough to tell "slow" from "not at all".
            if sent.elapsed() > 2 * PROMPTLY {
                let call = syscall_of(self.pid());
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.fail(format!(
                    "still running {:?} after the signal (in syscall {call:?})",
                    2 * PROMPTLY
                ));
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// After the end: every child recorded is gone and was reaped by the program, and nothing
    /// that carries its tag is left (see [`assert_nothing_left`]); returns the children.
    #[track_caller]
    fn assert_nothing_left(&mut self) -> Vec<ProcId> {
        let children = self.watch.take().map(ChildWatch::stop).unwrap_or_default();
        assert_nothing_left(&self.tag.0, &children);
        children
    }
}

impl Drop for Subject {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = nix::sys::signal::killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Then `tag`, dropped next, kills whatever else carries it.
    }
}

// ---------------------------------------------------------------------------------------------
// What a case makes, and what the program under test owns

/// The names a case uses and what it made for the program, all removed when it is dropped,
/// however the case ends: the helpers it started are ended politely (so that they clean up),
/// then what the program under test made is removed if the case failed.
pub(crate) struct Fixture {
    pub(crate) key: i32,
    pub(crate) queue: QueueGuard,
    pub(crate) queue2: QueueGuard,
    /// The program's own mailbox (`/ipc-lab-pid-PID`), once its pid is known.
    pub(crate) mailbox: Option<QueueGuard>,
    pub(crate) fifo: TempPath,
    /// A 40-byte segment the test made (with `key`) for shm-slave; it must outlive the slave.
    pub(crate) segment: Option<Segment>,
    /// `HOST:PORT` of a helper `mq-recv --listen`.
    pub(crate) host: String,
    /// The id of a helper's race, for `shm-race counter --join`.
    pub(crate) race: i32,
    /// The pid of a helper `mq-recv --mine`, for `mq-send --to`.
    pub(crate) peer: u32,
    /// What the program under test made, as it said: checked gone after the signal.
    pub(crate) segments: Vec<i32>,
    pub(crate) sets: Vec<i32>,
    /// Processes the case runs beside the program (a receiver, a race's host).
    pub(crate) helpers: Vec<Running>,
    pub(crate) helper_queues: Vec<QueueGuard>,
    pub(crate) helper_segments: Vec<i32>,
    pub(crate) helper_sets: Vec<i32>,
    /// FIFO ends the test holds.
    pub(crate) fds: Vec<OwnedFd>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            key: unique_key(),
            queue: QueueGuard::new(),
            queue2: QueueGuard::new(),
            mailbox: None,
            fifo: TempPath::new("faults.fifo"),
            segment: None,
            host: String::new(),
            race: -1,
            peer: 0,
            segments: Vec::new(),
            sets: Vec::new(),
            helpers: Vec::new(),
            helper_queues: Vec::new(),
            helper_segments: Vec::new(),
            helper_sets: Vec::new(),
            fds: Vec::new(),
        }
    }

    /// A row's argument with its placeholders filled in.
    fn expand(&self, arg: &str) -> String {
        arg.replace("{key}", &format!("{:#x}", self.key as u32))
            .replace(
                "{seg}",
                &self
                    .segment
                    .as_ref()
                    .map_or(-1, |s| s.id().raw())
                    .to_string(),
            )
            .replace("{queue}", self.queue.as_str())
            .replace("{queue2}", self.queue2.as_str())
            .replace("{fifo}", self.fifo.as_str())
            .replace("{host}", &self.host)
            .replace("{race}", &self.race.to_string())
            .replace("{peer}", &self.peer.to_string())
            .replace("{big}", &"x".repeat(8000))
    }

    /// Start a helper and keep it until the case is over.
    pub(crate) fn helper(&mut self, bin: &str, args: &[&str]) -> &mut Running {
        self.helpers.push(Running::spawn(&mut cmd_with(bin, args)));
        self.helpers.last_mut().unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.fds.clear();
        for h in &mut self.helpers {
            if let Ok(None) = h.child.try_wait() {
                let _ = nix::sys::signal::kill(Pid::from_raw(h.pid()), Signal::SIGTERM);
                let start = Instant::now();
                while h.child.try_wait().ok().flatten().is_none()
                    && start.elapsed() < Duration::from_secs(5)
                {
                    thread::sleep(Duration::from_millis(2));
                }
            }
        }
        self.helpers.clear();
        for id in &self.helper_segments {
            if segment_exists(*id) {
                remove_sysv(Some(*id), None);
            }
        }
        for id in &self.helper_sets {
            if semaphore_set_exists(*id) {
                remove_sysv(None, Some(*id));
            }
        }
        if thread::panicking() {
            for id in &self.segments {
                remove_sysv(Some(*id), None);
            }
            for id in &self.sets {
                remove_sysv(None, Some(*id));
            }
            if self.segment.is_none() {
                remove_sysv(segment_with_key(self.key), None);
            }
        }
        // Then the guards: queues unlinked, the FIFO removed, the test's segment destroyed.
    }
}

/// What a program owns (must be gone after it ends) or must leave in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Thing {
    /// The segments it named (`Shared Memory Id = N`, or `shmget(...) = N` with --explain).
    Segments,
    /// A segment with the fixture's key.
    Key,
    /// The semaphore sets it named (`semget(...) = N` with --explain).
    Sets,
    Queue,
    Queue2,
    /// Its own mailbox, `/ipc-lab-pid-PID`.
    Mailbox,
    Fifo,
    /// ipc-bench's queues, `/ipc-bench-PID-N-down|up`.
    BenchQueues,
    /// The segment the test made for shm-slave.
    TestSegment,
}

/// Which of `things` exist now.
fn existing(f: &Fixture, pid: i32, things: &[Thing]) -> Vec<String> {
    let mut found = Vec::new();
    for thing in things {
        match thing {
            Thing::Segments => found.extend(
                f.segments
                    .iter()
                    .filter(|id| segment_exists(**id))
                    .map(|id| format!("segment {id}")),
            ),
            Thing::Key => found.extend(
                segment_with_key(f.key).map(|id| format!("segment {id} with key {:#x}", f.key)),
            ),
            Thing::Sets => found.extend(
                f.sets
                    .iter()
                    .filter(|id| semaphore_set_exists(**id))
                    .map(|id| format!("semaphore set {id}")),
            ),
            Thing::Queue => found.extend(f.queue.exists().then(|| f.queue.name.clone())),
            Thing::Queue2 => found.extend(f.queue2.exists().then(|| f.queue2.name.clone())),
            Thing::Mailbox => found.extend(
                f.mailbox
                    .as_ref()
                    .filter(|m| m.exists())
                    .map(|m| m.name.clone()),
            ),
            Thing::Fifo => found.extend(f.fifo.exists().then(|| f.fifo.as_str().to_string())),
            Thing::BenchQueues => found.extend(bench_queues_of(pid)),
            Thing::TestSegment => found.extend(
                f.segment
                    .as_ref()
                    .filter(|s| segment_exists(s.id().raw()))
                    .map(|s| format!("test segment {}", s.id())),
            ),
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// The table

/// One row of the table: a program waiting somewhere.
pub(crate) struct Row {
    pub(crate) bin: &'static str,
    /// Where it waits, in a few words.
    pub(crate) waits: &'static str,
    pub(crate) args: &'static [&'static str],
    pub(crate) stdout: Out,
    /// Made before the program starts (a queue to fill, a helper to talk to).
    pub(crate) prepare: fn(&mut Fixture),
    /// Returns once the program waits; notes what it made in the fixture.
    pub(crate) ready: fn(&mut Subject, &mut Fixture),
    /// What must be gone after it ends.
    pub(crate) owns: &'static [Thing],
    /// What must still be there (made by the test, or kept by design).
    pub(crate) keeps: &'static [Thing],
    /// Signals it reports and survives by design (then SIGTERM ends it).
    pub(crate) survives: &'static [Signal],
    /// What it must say on stderr on the way out (placeholders as in `args`): a message it took
    /// and could not print, say.
    pub(crate) says: &'static [&'static str],
}

impl Row {
    fn name(&self) -> String {
        format!("{} {} ({})", self.bin, self.args.join(" "), self.waits)
    }
}

fn nothing(_: &mut Fixture) {}

/// A row of `bin` waiting somewhere, with its stdout read, that needs nothing made for it, owns
/// and keeps nothing, and survives no signal: a module's row sets what differs,
/// `Row { owns: &[Thing::Queue], ..row(...) }`.
pub(crate) fn row(
    bin: &'static str,
    waits: &'static str,
    args: &'static [&'static str],
    ready: fn(&mut Subject, &mut Fixture),
) -> Row {
    const NONE: &[Thing] = &[];
    const NO_SIGNAL: &[Signal] = &[];
    Row {
        bin,
        waits,
        args,
        stdout: Out::Read,
        prepare: nothing,
        ready,
        owns: NONE,
        keeps: NONE,
        survives: NO_SIGNAL,
        says: &[],
    }
}

/// The table: every binary, every place it waits. Each mechanism's module gives the rows of its
/// binaries (`fault_rows`), beside its other tests: a new binary adds its rows there.
fn rows() -> Vec<Row> {
    [
        shm::fault_rows(),
        mq::fault_rows(),
        pipe::fault_rows(),
        signal::fault_rows(),
        sync::fault_rows(),
        procs::fault_rows(),
        bench::fault_rows(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

// ---------------------------------------------------------------------------------------------
// One case: a row, a signal, a target

/// Run the row to its wait point, send `sig` to `target`, and check the end. Returns the time
/// from the signal to the end.
fn run_case(row: &Row, sig: Signal, target: Target) -> Duration {
    let what = format!("{} <- {sig} to {target:?}", row.name());
    let mut f = Fixture::new();
    (row.prepare)(&mut f);
    let mut c = cmd(row.bin);
    c.args(row.args.iter().map(|a| f.expand(a)));
    let mut s = Subject::start(what.clone(), c, row.stdout);
    let pid = s.pid();
    (row.ready)(&mut s, &mut f);
    for child in s.children() {
        assert!(child.exists(), "{what}: child {} runs", child.pid);
    }

    let mut sent = Instant::now();
    inject(pid, sig, target);
    let mut ended_by = sig;
    if row.survives.contains(&sig) {
        s.wait_out(&format!("received {} ({})", sig.as_str(), sig as i32));
        thread::sleep(Duration::from_millis(20));
        assert!(s.running(), "{what}: it reports {sig} and carries on");
        sent = Instant::now();
        inject(pid, Signal::SIGTERM, target);
        ended_by = Signal::SIGTERM;
    }
    let (status, took) = s.end(sent);
    let children = s.assert_nothing_left();
    let stderr = s.err.text();

    assert!(took < PROMPTLY, "{what}: ended {took:?} after the signal");
    assert_eq!(
        (status.signal(), shell_status(status)),
        (Some(ended_by as i32), 128 + ended_by as i32),
        "{what}: {status:?}; stderr {stderr:?}"
    );
    assert_no_panic(&stderr);
    assert!(!stderr.contains("error:"), "{what}: {stderr}");
    for needle in row.says {
        let needle = f.expand(needle);
        assert!(
            stderr.contains(&needle),
            "{what}: no {needle:?} in {stderr:?}"
        );
    }

    // Nothing it made is left: no segment that it or a child created, nor what it named.
    let mut pids = vec![pid];
    pids.extend(children.iter().map(|c| c.pid));
    let created = segments_created_by(&pids);
    f.segments.extend(created.iter().copied());
    assert_eq!(created, Vec::<i32>::new(), "{what}: segments it created");
    assert_eq!(
        existing(&f, pid, row.owns),
        Vec::<String>::new(),
        "{what}: left behind"
    );
    let kept = existing(&f, pid, row.keeps);
    assert_eq!(kept.len(), row.keeps.len(), "{what}: kept only {kept:?}");
    took
}

/// The result of one case, for the summary.
struct Outcome {
    row: usize,
    sig: Signal,
    target: Target,
    /// The signals the case sent (two where the first is survived by design).
    faults: usize,
    result: Result<Duration, String>,
}

/// Run `cases` (indices into `table`, a signal, a target) two at a time, each caught on its own
/// so that one failure does not hide the others.
fn run_cases(table: &[Row], cases: &[(usize, Signal, Target)]) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(row, sig, target)) = cases.get(i) else {
                        break;
                    };
                    let before = faults_sent();
                    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        run_case(&table[row], sig, target)
                    }))
                    .map_err(|e| {
                        e.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "panicked".into())
                    });
                    outcomes.lock().unwrap().push(Outcome {
                        row,
                        sig,
                        target,
                        faults: faults_sent() - before,
                        result,
                    });
                }
            });
        }
    });
    outcomes.into_inner().unwrap()
}

/// The table as it came out: a line per row, a cell per signal and target; then the failures.
fn report(table: &[Row], outcomes: &[Outcome], started: Instant) -> Vec<String> {
    let cell = |row: usize, sig: Signal, target: Target| -> &'static str {
        match outcomes
            .iter()
            .find(|o| o.row == row && o.sig == sig && o.target == target)
        {
            None => "-",
            Some(Outcome { result: Err(_), .. }) => "FAIL",
            Some(_) if table[row].survives.contains(&sig) => "kept",
            Some(_) => "ok",
        }
    };
    eprintln!(
        "{:<10} {:<62} {:>9} {:>9} {:>9}",
        "binary", "waiting", "SIGINT", "SIGTERM", "SIGHUP"
    );
    for (i, row) in table.iter().enumerate() {
        if !outcomes.iter().any(|o| o.row == i) {
            continue;
        }
        let cells: Vec<String> = SIGNALS
            .iter()
            .map(|&sig| {
                format!(
                    "{}/{}",
                    cell(i, sig, Target::Process),
                    cell(i, sig, Target::Group)
                )
            })
            .collect();
        eprintln!(
            "{:<10} {:<62} {:>9} {:>9} {:>9}",
            row.bin, row.waits, cells[0], cells[1], cells[2]
        );
    }
    let slowest = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .max()
        .copied()
        .unwrap_or_default();
    eprintln!(
        "(each cell: to the process / to its process group; kept: reported and survived by \
         design, then ended by SIGTERM)"
    );
    eprintln!(
        "{} rows, {} cases, {} faults injected, slowest end after a signal {slowest:?}, {:.1} s",
        table
            .iter()
            .enumerate()
            .filter(|(i, _)| outcomes.iter().any(|o| o.row == *i))
            .count(),
        outcomes.len(),
        outcomes.iter().map(|o| o.faults).sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().cloned())
        .collect()
}

/// Every case of the rows `pick` chooses, the targets `targets` gives for each.
fn cases_of(table: &[Row], pick: impl Fn(&Row, Target) -> bool) -> Vec<(usize, Signal, Target)> {
    let mut cases = Vec::new();
    for (i, row) in table.iter().enumerate() {
        for sig in SIGNALS {
            for target in Target::BOTH {
                if pick(row, target) {
                    cases.push((i, sig, target));
                }
            }
        }
    }
    cases
}

#[track_caller]
fn run_table(pick: impl Fn(&Row, Target) -> bool) {
    let started = Instant::now();
    let table = rows();
    let cases = cases_of(&table, pick);
    assert!(!cases.is_empty());
    let outcomes = run_cases(&table, &cases);
    let failures = report(&table, &outcomes, started);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        outcomes.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_binary_waiting_anywhere_ends_by_each_termination_signal_and_leaves_nothing() {
    run_table(|_, _| true);
}

// ---------------------------------------------------------------------------------------------
// SIGKILL: what it leaves, and the remedies

/// Send SIGKILL to a subject that waits, and wait for its end (137).
fn kill_outright(s: &mut Subject) {
    let sent = Instant::now();
    inject(s.pid(), Signal::SIGKILL, Target::Process);
    let (status, _) = s.end(sent);
    assert_eq!(status.signal(), Some(9), "{}: {status:?}", s.what);
    assert_eq!(shell_status(status), 137);
}

/// After SIGKILL: its children die too (PR_SET_PDEATHSIG), orphaned to this process, which
/// reaps them; none runs on, and nothing carrying its tag is left.
fn assert_no_process_survives(s: &mut Subject) {
    let children = s.watch.take().map(ChildWatch::stop).unwrap_or_default();
    let me = std::process::id() as i32;
    eventually("the children to die", || {
        children.iter().all(|c| match c.stat() {
            None => true,
            Some(st) if st.state == 'Z' && st.ppid == me => {
                let _ = nix::sys::wait::waitpid(Pid::from_raw(c.pid), None);
                true
            }
            Some(_) => false,
        })
    });
    eventually("no process of the run", || {
        tagged_processes(&s.tag.0).is_empty()
    });
}

/// Run a remedy (ipcrm, mq-recv --unlink -n), bounded; returns its status and stderr.
fn remedy(command: &mut Command) -> (i32, String) {
    let out = output_of(command, b"");
    (shell_status(out.status), out.stderr)
}

/// `ipcrm ARGS`, or None when ipcrm is not installed (the test says it skipped it).
fn ipcrm(args: &[&str]) -> Option<(i32, String)> {
    if !ipcrm_installed() {
        eprintln!("skipped: ipcrm {} (ipcrm is not installed)", args.join(" "));
        return None;
    }
    Some(remedy(Command::new("ipcrm").args(args)))
}

fn start(bin: &str, args: &[String]) -> Subject {
    let mut c = cmd(bin);
    c.args(args);
    Subject::start(format!("{bin} {}", args.join(" ")), c, Out::Read)
}

fn words(args: &[&str], f: &Fixture) -> Vec<String> {
    args.iter().map(|a| f.expand(a)).collect()
}

#[test]
fn sigkill_leaves_the_masters_segment_and_ipcrm_removes_it_by_id_or_by_key() {
    let before = faults_sent();
    // By id: `ipcrm -m ID`.
    let mut f = Fixture::new();
    let mut s = start("shm-master", &[]);
    master_polls(&mut s, &mut f);
    let id = f.segments[0];
    kill_outright(&mut s);
    let left = segment(id).expect("SIGKILL leaves the segment");
    assert_eq!(left.nattch, 0, "nobody is attached: {left:?}");
    if let Some((code, err)) = ipcrm(&["-m", &id.to_string()]) {
        assert_eq!((code, err.as_str()), (0, ""), "ipcrm -m {id}");
        assert!(!segment_exists(id), "ipcrm -m removed it");
    }

    // By key: `ipcrm -M KEY`, as shm-master's own hint says.
    let mut f = Fixture::new();
    let mut s = start("shm-master", &words(&["--key", "{key}"], &f));
    master_polls(&mut s, &mut f);
    kill_outright(&mut s);
    assert_eq!(
        segment_with_key(f.key),
        Some(f.segments[0]),
        "left, key and all"
    );
    // The next master with that key is refused, and told what to do.
    let again = output_of(
        cmd("shm-master").args(words(&["--key", "{key}", "--timeout", "1"], &f)),
        b"",
    );
    assert_eq!(shell_status(again.status), 1);
    let key = format!("{:#010x}", f.key as u32);
    assert!(
        again
            .stderr
            .contains(&format!("`ipcrm -M {key}` removes it")),
        "{}",
        again.stderr
    );
    if let Some((code, err)) = ipcrm(&["-M", &key]) {
        assert_eq!((code, err.as_str()), (0, ""), "ipcrm -M {key}");
        assert_eq!(segment_with_key(f.key), None, "ipcrm -M removed it");
    }
    eprintln!("SIGKILL faults injected: {}", faults_sent() - before);
}

#[test]
fn sigkill_with_remove_early_leaves_no_segment() {
    let before = faults_sent();
    for args in [
        &["--remove-early"][..],
        &["--remove-early", "--key", "{key}"],
    ] {
        let mut f = Fixture::new();
        let mut s = start("shm-master", &words(args, &f));
        master_polls(&mut s, &mut f);
        let id = f.segments[0];
        let row = segment(id).expect("the segment, while the master waits");
        assert_eq!(row.key, 0, "marked for destruction, it has lost its key");
        kill_outright(&mut s);
        // The kernel detaches a dead process: the last detach frees a marked segment.
        eventually("the segment to go", || !segment_exists(id));
        assert_eq!(segment_with_key(f.key), None);
        assert_eq!(segments_created_by(&[s.pid()]), Vec::<i32>::new());
    }
    eprintln!("SIGKILL faults injected: {}", faults_sent() - before);
}

#[test]
fn sigkill_of_an_attached_slave_leaves_the_segment_to_its_owner_with_nattch_0() {
    let before = faults_sent();
    let mut f = Fixture::new();
    test_segment(&mut f);
    let mut s = start(
        "shm-slave",
        &words(&["--linger", "30", "{seg}", "1", "2", "3"], &f),
    );
    slave_lingers(&mut s, &mut f);
    kill_outright(&mut s);
    let id = f.segment.as_ref().unwrap().id().raw();
    // The kernel detached the dead slave; the segment is still its creator's to destroy.
    let row = segment(id).expect("the test's segment");
    assert_eq!(row.nattch, 0, "{row:?}");
    eprintln!("SIGKILL faults injected: {}", faults_sent() - before);
}

/// `mq-recv --unlink -n NAME`, the lab sheet's remedy for a queue left behind: it may complain
/// that the queue is empty (status 1), and removes it anyway.
#[track_caller]
fn unlink_with_mq_recv(name: &str) {
    let (code, err) = remedy(cmd("mq-recv").args(["--unlink", "-n", name]));
    assert!(
        code == 0 || (code == 1 && err.contains("(EAGAIN)")),
        "{code}: {err}"
    );
    let q = QueueName::parse(name).unwrap();
    assert!(
        !ipc_lab::mq::exists(&q),
        "mq-recv --unlink -n {name} removed it"
    );
}

#[test]
fn sigkill_leaves_the_queues_of_mq_recv_and_mq_send_and_mq_recv_unlink_removes_them() {
    let before = faults_sent();
    // mq-recv --unlink: the queue it would have removed on Ctrl-C.
    let mut f = Fixture::new();
    let args = words(&["--unlink", "--msgsize", "64", "{queue}"], &f);
    let mut s = start("mq-recv", &args);
    created_then_poll(&mut s, &mut f);
    kill_outright(&mut s);
    assert!(f.queue.exists(), "SIGKILL leaves {}", f.queue.as_str());
    unlink_with_mq_recv(f.queue.as_str());

    // mq-recv --mine: its own mailbox, named after its pid.
    let mut f = Fixture::new();
    let mut s = start("mq-recv", &words(&["--mine", "--msgsize", "64"], &f));
    own_mailbox(&mut s, &mut f);
    kill_outright(&mut s);
    let mailbox = f.mailbox.as_ref().unwrap();
    assert!(mailbox.exists(), "SIGKILL leaves {}", mailbox.as_str());
    unlink_with_mq_recv(mailbox.as_str());

    // mq-send -c, reading stdin, before it sent anything.
    let mut f = Fixture::new();
    let args = words(&["-c", "--msgsize", "64", "{queue}"], &f);
    let mut s = start("mq-send", &args);
    created_then_poll(&mut s, &mut f);
    kill_outright(&mut s);
    assert!(f.queue.exists(), "SIGKILL leaves {}", f.queue.as_str());
    unlink_with_mq_recv(f.queue.as_str());
    eprintln!("SIGKILL faults injected: {}", faults_sent() - before);
}

#[test]
fn sigkill_mid_race_leaves_the_segment_and_the_semaphore_set_and_ipcrm_removes_both() {
    let before = faults_sent();
    let mut f = Fixture::new();
    let mut s = start("shm-race", &words(LONG_SEMAPHORE_RACE, &f));
    race_runs(&mut s, &mut f);
    let (seg, set) = (f.segments[0], f.sets[0]);
    kill_outright(&mut s);
    // The workers die with it (PR_SET_PDEATHSIG): no process of the race runs on.
    assert_no_process_survives(&mut s);
    assert!(segment_exists(seg), "SIGKILL leaves segment {seg}");
    assert!(
        semaphore_set_exists(set),
        "SIGKILL leaves semaphore set {set}"
    );
    // Let the fixture remove them, should ipcrm not.
    match ipcrm(&["-m", &seg.to_string(), "-s", &set.to_string()]) {
        Some((code, err)) => {
            assert_eq!((code, err.as_str()), (0, ""), "ipcrm -m {seg} -s {set}");
            assert!(!segment_exists(seg) && !semaphore_set_exists(set));
        }
        None => remove_sysv(Some(seg), Some(set)),
    }
    eprintln!("SIGKILL faults injected: {}", faults_sent() - before);
}

#[test]
fn sigkill_leaves_the_fifo_pipe_demo_made_and_rm_removes_it() {
    let before = faults_sent();
    let mut f = Fixture::new();
    let mut s = start("pipe-demo", &words(&["fifo-read", "{fifo}"], &f));
    fifo_open_waits(&mut s, &mut f);
    kill_outright(&mut s);
    assert!(f.fifo.is_fifo(), "SIGKILL leaves {}", f.fifo.as_str());
    let (code, err) = remedy(Command::new("rm").arg(f.fifo.as_str()));
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(!f.fifo.exists());
    eprintln!("SIGKILL faults injected: {}", faults_sent() - before);
}

#[test]
fn sigkill_mid_run_leaves_nothing_of_ipc_bench_or_proc_demo() {
    let before = faults_sent();
    type Ready = fn(&mut Subject, &mut Fixture);
    let runs: [(&str, &[&str], Ready); 3] = [
        ("ipc-bench", long_latency!("shm-sem"), bench_sem),
        ("ipc-bench", long_latency!("mq"), bench_mq),
        (
            "proc-demo",
            &["speedup", "--procs", "2", "--below", "1000000000"],
            workers_count,
        ),
    ];
    for (bin, args, ready) in runs {
        let mut f = Fixture::new();
        let mut s = start(bin, &words(args, &f));
        ready(&mut s, &mut f);
        let children = s.children();
        kill_outright(&mut s);
        assert_no_process_survives(&mut s);
        // Its segment was marked for destruction and its queues unlinked as soon as the
        // processes had them: nothing is left once they are dead.
        let mut pids = vec![s.pid()];
        pids.extend(children.iter().map(|c| c.pid));
        eventually("the segment to go", || {
            segments_created_by(&pids).is_empty()
        });
        assert_eq!(
            bench_queues_of(s.pid()),
            Vec::<String>::new(),
            "{bin} {args:?}"
        );
    }
    eprintln!("SIGKILL faults injected: {}", faults_sent() - before);
}
