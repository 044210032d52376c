//! Exercise `pipeline`: the shell's `|` by hand (B3). `PROGRAM 'CMD1 ARGS' 'CMD2 ARGS'` runs
//! CMD1 | CMD2 with pipe, fork, dup2 and execvp, waits for both children and exits with CMD2's
//! status, as `sh -c 'CMD1 | CMD2'` does; lab-check runs both on a terminal and compares. A run
//! that hangs is looked at before it is killed: which process still holds which end of the pipe
//! (/proc/PID/fd and fdinfo), so the report names the descriptor that was left open.

#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

use super::run::{End, Ended, Run};
use super::{Check, Exercise, Failure, Lab};

pub static EXERCISE: Exercise = Exercise {
    name: "pipeline",
    section: "B3 Unix pipe: the shell's |",
    task: "run CMD1 | CMD2 with pipe, fork, dup2 and execvp; exit with CMD2's status, as sh does",
    usage: "PROGRAM 'CMD1 ARGS' 'CMD2 ARGS'",
    timeout: Duration::from_secs(5),
    checks: &[
        Check {
            name: "same-as-shell",
            points: 4,
            asks: "pipelines print what sh prints and end with sh's exit status",
            see: "docs/03-pipes.md#how-the-shell-builds-a--b",
        },
        Check {
            name: "closes-ends",
            points: 2,
            asks: "`echo hi | cat` prints hi and ends: no write end is left open in the parent or a child",
            see: "docs/03-pipes.md#end-of-file-eof",
        },
        Check {
            name: "sigpipe",
            points: 2,
            asks: "`yes | head -n 1` prints y and ends: yes gets SIGPIPE once head is gone",
            see: "docs/03-pipes.md#a-reader-that-is-gone-broken",
        },
        Check {
            name: "missing-command",
            points: 2,
            asks: "a command that cannot be run: an error on stderr, and sh's status (127 for CMD2)",
            see: "docs/03-pipes.md#the-exit-status-of-a-pipeline",
        },
        Check {
            name: "waits",
            points: 1,
            asks: "the parent waits for both children (waitpid) before it exits",
            see: "docs/03-pipes.md#how-the-shell-builds-a--b",
        },
    ],
    run,
};

/// The pipelines of `same-as-shell`: each needs no quoting, and each says something different.
pub(crate) const SAME_AS_SHELL: &[(&str, &str)] = &[
    ("echo hello world", "tr a-z A-Z"),
    ("seq 5", "sort -r"),
    ("ls /", "wc -l"),
    ("seq 3", "false"),
    ("false", "cat"),
];

/// A command no system has.
pub(crate) const MISSING: &str = "no-such-command-xyz";

/// The hint for a hang on end of file, in the brief's words.
const WRITE_END_OPEN: &str =
    "a write end is still open: close unused ends in the parent and in each child";

/// The hint for a writer that never gets SIGPIPE.
const READ_END_OPEN: &str = "a read end is still open, so yes never gets SIGPIPE: close the read \
                             end in the parent and in the first child";

/// A process that held an end of the pipe when a run hung.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    pub pid: i32,
    /// Its name (/proc/PID/comm): `cat`, or the student's program's.
    pub name: String,
    pub fd: i32,
    /// Whether it is the program itself, the parent of both commands.
    pub parent: bool,
}

impl Holder {
    fn describe(&self) -> String {
        if self.parent {
            format!(
                "your program, the parent (pid {}, fd {})",
                self.pid, self.fd
            )
        } else {
            format!("{} (pid {}, fd {})", self.name, self.pid, self.fd)
        }
    }
}

fn describe_all(holders: &[Holder]) -> String {
    holders
        .iter()
        .map(Holder::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a hung run showed at its deadline, before lab-check killed it.
#[derive(Debug, Default, Clone)]
pub(crate) struct OpenEnds {
    /// The processes holding a write end of the pipe CMD2 reads (CMD2 still running).
    pub write: Vec<Holder>,
    /// The processes holding a read end of the pipe CMD1 writes (CMD1 still running).
    pub read: Vec<Holder>,
}

/// One run of the student's program on a pipeline.
#[derive(Debug)]
struct Student {
    ended: Ended,
    open: OpenEnds,
}

/// The first word of a command: the program's name, as /proc/PID/comm shows it once exec'd.
fn program_name(cmd: &str) -> &str {
    cmd.split(' ').find(|w| !w.is_empty()).unwrap_or("")
}

/// The processes of process group `pgid`, with their names (/proc/PID/stat and comm).
fn group_members(pgid: i32) -> Vec<(i32, String)> {
    let mut members = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return members;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the name in parentheses: state, ppid, pgrp.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
        if pgrp == Some(pgid) && state != "Z" {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|n| n.trim_end().to_string())
                .unwrap_or_default();
            members.push((pid, name));
        }
    }
    members
}

/// The pipe (its inode) that descriptor `fd` of process `pid` refers to.
fn pipe_inode(pid: i32, fd: i32) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let link = link.to_str()?;
    link.strip_prefix("pipe:[")?.strip_suffix(']')?.parse().ok()
}

/// The access mode of descriptor `fd` of `pid` (O_RDONLY 0, O_WRONLY 1, O_RDWR 2).
fn access_mode(pid: i32, fd: i32) -> Option<u32> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())?;
    Some(flags & 3)
}

/// The members of group `pgid` that hold an end of pipe `inode`: write ends if `write`, else
/// read ends.
fn holders(pgid: i32, members: &[(i32, String)], inode: u64, write: bool) -> Vec<Holder> {
    let mut found = Vec::new();
    for (pid, name) in members {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let mut fds: Vec<i32> = fds
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        fds.sort_unstable();
        for fd in fds {
            if pipe_inode(*pid, fd) != Some(inode) {
                continue;
            }
            let held = match access_mode(*pid, fd) {
                Some(1) => write,
                Some(0) => !write,
                Some(_) => true,
                None => false,
            };
            if held {
                found.push(Holder {
                    pid: *pid,
                    name: name.clone(),
                    fd,
                    parent: *pid == pgid,
                });
            }
        }
    }
    found
}

/// Look at a hung run of `cmd1 | cmd2`: who holds the write ends of the pipe CMD2 reads, and
/// the read ends of the pipe CMD1 writes.
pub(crate) fn open_ends(pgid: i32, cmd1: &str, cmd2: &str) -> OpenEnds {
    let members = group_members(pgid);
    let find = |name: &str, fd: i32| {
        members
            .iter()
            .filter(|(pid, n)| *pid != pgid && n == name)
            .find_map(|(pid, _)| pipe_inode(*pid, fd))
    };
    let mut open = OpenEnds::default();
    if let Some(inode) = find(program_name(cmd2), 0) {
        open.write = holders(pgid, &members, inode, true);
    }
    if let Some(inode) = find(program_name(cmd1), 1) {
        open.read = holders(pgid, &members, inode, false);
    }
    open
}

/// `sh -c 'CMD1 | CMD2'`, run as the student's program is (on a terminal, its own group).
pub fn shell(cmd1: &str, cmd2: &str, timeout: Duration) -> anyhow::Result<Ended> {
    let line = format!("{cmd1} | {cmd2}");
    Run::start(Path::new("/bin/sh"), &["-c".to_string(), line], timeout)?.finish()
}

fn run_student(lab: &Lab, cmd1: &str, cmd2: &str) -> anyhow::Result<Student> {
    // Two arguments, as the student types them: `./pipeline 'seq 5' 'sort -r'`.
    let mut run = lab.start(&[cmd1.to_string(), cmd2.to_string()])?;
    // Until it ends, or its deadline: a hung run is looked at before it is killed.
    run.wait_until(|| false)?;
    let open = if run.has_ended()? {
        OpenEnds::default()
    } else {
        open_ends(run.pid(), cmd1, cmd2)
    };
    Ok(Student {
        ended: run.finish()?,
        open,
    })
}

/// `output "..", exit status N`.
fn shown(ended: &Ended, timeout: Duration) -> String {
    format!("{}, {}", ended.shown(), ended.end.describe(timeout))
}

/// What a hang looked like, and the hint for it.
fn hang(student: &Student, cmd2: &str, timeout: Duration) -> (String, String) {
    let name = program_name(cmd2);
    let mut happened = shown(&student.ended, timeout);
    let mut hint = String::new();
    if !student.open.write.is_empty() {
        happened.push_str(&format!(
            "; {name} was waiting for end of file while a write end of its pipe was open in: {}",
            describe_all(&student.open.write)
        ));
        hint.push_str(WRITE_END_OPEN);
        if student.open.write.iter().any(|h| h.parent) {
            hint.push_str("; the parent must close(fd[1]) once both children are forked");
        }
        if student.open.write.iter().any(|h| !h.parent) {
            hint.push_str("; each child must close both fd[0] and fd[1] after dup2, before execvp");
        }
    }
    if !student.open.read.is_empty() {
        happened.push_str(&format!(
            "; the writer was waiting for room in its pipe while a read end was open in: {}",
            describe_all(&student.open.read)
        ));
        if !hint.is_empty() {
            hint.push_str("; and ");
        }
        hint.push_str(READ_END_OPEN);
    }
    if hint.is_empty() {
        hint = format!(
            "{WRITE_END_OPEN} ({name} reads until end of file); and the parent must not wait for \
             a child before both are forked"
        );
    }
    (happened, hint)
}

/// The outcome of one pipeline for `same-as-shell`: None when it matches sh.
fn compare(
    student: &Student,
    sh: &Ended,
    cmd1: &str,
    cmd2: &str,
    timeout: Duration,
) -> Option<Failure> {
    let expected = format!("as `sh -c '{cmd1} | {cmd2}'`: {}", shown(sh, timeout));
    let ended = &student.ended;
    if ended.output == sh.output && ended.end == sh.end {
        return None;
    }
    let hint = match ended.end {
        End::TimedOut => {
            let (happened, hint) = hang(student, cmd2, timeout);
            return Some(Failure::new(expected, happened, hint));
        }
        End::Killed(sig) => format!(
            "your program was killed by {}: check the results of pipe, fork and dup2, and end \
             each argv with NULL for execvp",
            sig.as_str()
        ),
        _ if ended.output == sh.output => match (ended.end, sh.end) {
            (End::Exited(0), _) => "the status of a pipeline is the last command's: \
                                    waitpid(reader, &status, 0), then exit with \
                                    WEXITSTATUS(status)"
                .to_string(),
            _ => "exit with the second child's status: WEXITSTATUS(status) of the status \
                  waitpid gave for CMD2, not CMD1's"
                .to_string(),
        },
        _ if ended.output.is_empty() => format!(
            "nothing came out: the second child runs {} with the read end on its stdin \
             (dup2(fd[0], 0)); the first writes into the pipe (dup2(fd[1], 1)); CMD2's output \
             goes to the program's own stdout",
            program_name(cmd2)
        ),
        _ => "split each argument on spaces into execvp's argv (the command first, NULL at the \
              end); the first child's stdout is the write end (dup2(fd[1], 1)), the second's \
              stdin the read end (dup2(fd[0], 0))"
            .to_string(),
    };
    Some(Failure::new(expected, shown(ended, timeout), hint))
}

/// Every run's orphans, for `waits`: only runs that ended by themselves count (lab-check
/// kills the group of one that hangs, and its children then come to lab-check).
#[derive(Debug, Default)]
struct Orphans {
    ended_runs: usize,
    left: Vec<(String, Vec<i32>)>,
}

impl Orphans {
    fn note(&mut self, cmd1: &str, cmd2: &str, ended: &Ended) {
        if let End::Exited(_) = ended.end {
            self.ended_runs += 1;
            if !ended.orphans.is_empty() {
                self.left
                    .push((format!("'{cmd1}' '{cmd2}'"), ended.orphans.clone()));
            }
        }
    }
}

fn run(lab: &mut Lab) -> anyhow::Result<()> {
    let timeout = lab.timeout;
    let mut orphans = Orphans::default();

    lab.explain(
        "same-as-shell",
        "run each pipeline with sh -c and with your program, both on a terminal; compare what \
         each prints and its exit status",
    );
    for (cmd1, cmd2) in SAME_AS_SHELL {
        let sh = shell(cmd1, cmd2, timeout)?;
        let student = run_student(lab, cmd1, cmd2)?;
        orphans.note(cmd1, cmd2, &student.ended);
        match compare(&student, &sh, cmd1, cmd2, timeout) {
            None => lab.pass("same-as-shell"),
            Some(failure) => {
                // One pipeline is enough to show it; the next might hang as long again.
                lab.fail("same-as-shell", failure);
                break;
            }
        }
    }

    lab.explain(
        "closes-ends",
        "'echo hi' 'cat': cat reads until end of file, which comes only once every write end is \
         closed; a hung run is looked at (/proc/PID/fd) before it is killed",
    );
    // Not `true | cat`: "hi" shows that cat ran, so a program that runs nothing cannot pass.
    let student = run_student(lab, "echo hi", "cat")?;
    orphans.note("echo hi", "cat", &student.ended);
    match student.ended.end {
        End::Exited(0) if student.ended.output == "hi\n" => lab.pass("closes-ends"),
        End::TimedOut => {
            let (happened, hint) = hang(&student, "cat", timeout);
            lab.fail(
                "closes-ends",
                Failure::new("output \"hi\\n\", and the program ends", happened, hint),
            );
        }
        _ => lab.fail(
            "closes-ends",
            Failure::new(
                "output \"hi\\n\", exit status 0, as `echo hi | cat`",
                shown(&student.ended, timeout),
                "the second child runs cat with the read end on its stdin (dup2(fd[0], 0)); \
                 exit with cat's status",
            ),
        ),
    }

    lab.explain(
        "sigpipe",
        "'yes' 'head -n 1': head exits after one line; yes's next write then gets SIGPIPE, as \
         long as no process holds a read end any more",
    );
    let student = run_student(lab, "yes", "head -n 1")?;
    orphans.note("yes", "head -n 1", &student.ended);
    let expected = "output \"y\\n\", exit status 0 (head's)";
    match student.ended.end {
        End::Exited(0) if student.ended.output == "y\n" => lab.pass("sigpipe"),
        End::TimedOut => {
            let mut happened = shown(&student.ended, timeout);
            let hint = if student.open.read.is_empty() && !student.open.write.is_empty() {
                hang(&student, "head -n 1", timeout).1
            } else {
                if !student.open.read.is_empty() {
                    happened.push_str(&format!(
                        "; yes was waiting for room in the pipe while a read end was open in: {}",
                        describe_all(&student.open.read)
                    ));
                }
                READ_END_OPEN.to_string()
            };
            lab.fail("sigpipe", Failure::new(expected, happened, hint));
        }
        _ => lab.fail(
            "sigpipe",
            Failure::new(
                expected,
                shown(&student.ended, timeout),
                "the first child's stdout is the write end (dup2(fd[1], 1)), the second's stdin \
                 the read end; exit with head's status",
            ),
        ),
    }

    lab.explain(
        "missing-command",
        "a command that does not exist: execvp returns -1 in the child, which prints why on \
         stderr and _exit(127)s; compare the status with sh's",
    );
    for (cmd1, cmd2) in [(MISSING, "cat"), ("echo hi", MISSING)] {
        let sh = shell(cmd1, cmd2, timeout)?;
        let student = run_student(lab, cmd1, cmd2)?;
        orphans.note(cmd1, cmd2, &student.ended);
        let expected = format!(
            "as `sh -c '{cmd1} | {cmd2}'`: {}, and an error on stderr",
            sh.end.describe(timeout)
        );
        let failure = if student.ended.end == End::TimedOut {
            let (happened, hint) = hang(&student, cmd2, timeout);
            Some(Failure::new(
                expected,
                happened,
                format!(
                    "{hint}; when execvp fails the child must end there (_exit(127)), or it \
                     goes on with the parent's code"
                ),
            ))
        } else if student.ended.end != sh.end {
            Some(Failure::new(
                expected,
                shown(&student.ended, timeout),
                "execvp returns only when it failed: perror(argv[0]) and _exit(127) in the \
                 child; the pipeline's status is the second child's, WEXITSTATUS(status)",
            ))
        } else if student.ended.errors.trim().is_empty() {
            Some(Failure::new(
                expected,
                format!("{}, nothing on stderr", shown(&student.ended, timeout)),
                "say why on stderr when execvp fails: perror(argv[0]) before _exit(127)",
            ))
        } else {
            None
        };
        match failure {
            None => lab.pass("missing-command"),
            Some(f) => {
                lab.fail("missing-command", f);
                break;
            }
        }
    }

    lab.explain(
        "waits",
        "lab-check is a subreaper: a child whose parent exited without waiting for it is handed \
         to lab-check (runs that ended by themselves count)",
    );
    if let Some((args, pids)) = orphans.left.first() {
        lab.fail(
            "waits",
            Failure::new(
                "the parent reaps both children (none is left to lab-check)",
                format!(
                    "with {args}, the parent exited first; lab-check reaped {} (pid {})",
                    if pids.len() == 1 {
                        "its child"
                    } else {
                        "its children"
                    },
                    pids.iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "wait for both children with waitpid before exiting: waitpid(writer, NULL, 0), \
                 then waitpid(reader, &status, 0)",
            ),
        );
    } else if orphans.ended_runs == 0 {
        lab.fail(
            "waits",
            Failure::new(
                "the parent reaps both children",
                "not checked: no run ended by itself",
                "fix the failures above first",
            ),
        );
    } else {
        lab.pass("waits");
    }
    Ok(())
}
