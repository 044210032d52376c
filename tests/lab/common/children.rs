//! Processes left behind: what /proc says of a process, the tag every process a test starts
//! carries (and its descendants with it), a watch that records a process's children while it
//! runs, and the check after a run that nothing it started is left, neither running nor
//! unreaped.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::process::{PATIENCE, eventually};

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
