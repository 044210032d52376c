//! Demos that fork, run to their end and checked for children left behind (their stdout read,
//! or a pipe whose reader goes early), and the assertions the binaries' tests share on such a
//! run (success, the end by a signal, usage errors, --version, --help).

use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::children::{
    ChildWatch, ProcId, adopt_orphans, assert_nothing_left, tag_command, tagged_processes,
};
use super::process::{PATIENCE, Running, cmd_with, shell_status};

/// A demo binary that runs: tagged, its children recorded. Should a test fail midway, dropping it
/// kills the demo (`run`, even when stopped) and then whatever carries its tag (`tag`), orphans
/// included.
pub struct Demo {
    pub run: Running,
    pub tag: Tag,
    pub watch: ChildWatch,
}

/// Who a termination signal goes to: the program alone (`kill PID`), or its whole process group
/// (`kill -- -PGID`), as a terminal's Ctrl-C or hang-up reaches a foreground job. A program
/// signalled as a group leads a group of its own (see [`Demo::start_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Process,
    Group,
}

impl Target {
    pub const BOTH: [Target; 2] = [Target::Process, Target::Group];

    /// Send `sig` to process `pid`, or to the group it leads.
    #[track_caller]
    pub fn send(self, pid: i32, sig: Signal) {
        let pid = Pid::from_raw(pid);
        match self {
            Target::Process => nix::sys::signal::kill(pid, sig),
            Target::Group => nix::sys::signal::killpg(pid, sig),
        }
        .unwrap_or_else(|e| panic!("kill {sig} {self:?} {pid}: {e}"));
    }
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
    pub pid: i32,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The children seen while it ran (one that lived less than a millisecond may be missing).
    pub children: Vec<ProcId>,
}

impl Demo {
    /// One of our binaries with these arguments, started.
    pub fn start(name: &str, args: &[&str]) -> Demo {
        Demo::start_cmd(cmd_with(name, args))
    }

    pub fn start_cmd(command: Command) -> Demo {
        Demo::start_with_stdout(command, Stdio::piped())
    }

    /// Like [`Demo::start_cmd`], with `stdout` as the program's standard output (a pipe of the
    /// test's own); unless it is piped, what the program writes there is not in `run.out`.
    pub fn start_with_stdout(mut command: Command, stdout: Stdio) -> Demo {
        adopt_orphans();
        let tag = Tag(tag_command(&mut command));
        let run = Running::spawn_with_stdout(&mut command, stdout);
        let watch = ChildWatch::start(run.pid());
        Demo { run, tag, watch }
    }

    /// `command` started; as the leader of a process group of its own when it is to be
    /// signalled as a group.
    pub fn start_for(mut command: Command, target: Target) -> Demo {
        if target == Target::Group {
            command.process_group(0);
        }
        Demo::start_cmd(command)
    }

    pub fn pid(&self) -> i32 {
        self.run.pid()
    }

    /// Send `sig` to `target`, then wait (bounded) for the end: the run, and the time from the
    /// signal to the program's exit (not to the end of the checks that follow it).
    #[track_caller]
    pub fn end_by_signal(mut self, sig: Signal, target: Target) -> (Ran, Duration) {
        let sent = Instant::now();
        target.send(self.pid(), sig);
        while self.run.child.try_wait().expect("try_wait").is_none() && sent.elapsed() < PATIENCE {
            thread::sleep(Duration::from_millis(2));
        }
        let took = sent.elapsed();
        (self.finish(), took)
    }

    /// Wait (bounded) for the end; then check that nothing it started is left.
    #[track_caller]
    pub fn finish(self) -> Ran {
        let Demo {
            mut run,
            tag,
            watch,
        } = self;
        let pid = run.pid();
        let status = run.finish();
        let children = watch.stop();
        assert_nothing_left(&tag.0, &children);
        Ran {
            pid,
            status,
            stdout: std::mem::take(&mut run.out),
            stderr: std::mem::take(&mut run.err),
            children,
        }
    }
}

/// `command` with its stdout on a pipe whose reader takes `keep` lines and goes (at once, for
/// 0), as `| head -n KEEP` does; run to its end (bounded), nothing it started left behind. The
/// run's `stdout` is what the reader took.
#[track_caller]
pub fn run_with_stdout_closed_after(command: Command, keep: usize) -> Ran {
    let (reader, writer) = std::io::pipe().expect("pipe");
    // With nothing to take, the reader is gone before the program starts: its first write fails.
    let reader = (keep > 0).then_some(reader);
    let demo = Demo::start_with_stdout(command, Stdio::from(writer));
    let mut taken = String::new();
    if let Some(reader) = reader {
        let mut lines = BufReader::new(reader);
        for n in 1..=keep {
            let before = taken.len();
            lines.read_line(&mut taken).expect("a line");
            assert!(taken.ends_with('\n'), "line {n}: {:?}", &taken[before..]);
        }
    }
    let mut ran = demo.finish();
    ran.stdout = taken;
    ran
}

/// `command` with its stdout on a pipe whose reader is already gone, run to its end (bounded),
/// nothing it started left behind.
#[track_caller]
pub fn run_with_stdout_closed(command: Command) -> Ran {
    run_with_stdout_closed_after(command, 0)
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

/// The words of `line`, a row of a table whose columns line up with its header `head`.
#[track_caller]
pub fn row_words<'a>(line: &'a str, head: &str) -> Vec<&'a str> {
    assert_eq!(
        line.chars().count(),
        head.chars().count(),
        "the columns line up with the header: {line:?}"
    );
    line.split_whitespace().collect()
}

/// Ended by signal `sig` (not by an exit with 128 + sig), which the shell shows as 128 + sig.
#[track_caller]
pub fn assert_ended_by(ran: &Ran, sig: i32) {
    assert_eq!(
        (ran.status.signal(), code(ran)),
        (Some(sig), 128 + sig),
        "{:?}: {}",
        ran.status,
        ran.stderr
    );
}

/// `text` (what a program said) ends with `end`; `what` names the case, should it not.
#[track_caller]
pub fn assert_ends_with(text: &str, end: &str, what: &str) {
    assert!(
        text.ends_with(end),
        "{what}: {end:?} is not at the end of: {text}"
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

/// Each of `cases`, and an unknown subcommand and an unknown option (which every binary with
/// subcommands refuses), is a usage error that points to `--help`.
#[track_caller]
pub fn assert_usage_errors(cases: &[&[&str]], run: impl Fn(&[&str]) -> Ran) {
    for args in [&["bogus"][..], &["--bogus"][..]].iter().chain(cases) {
        let ran = run(args);
        assert_usage_error(&ran, &format!("{args:?}"));
        assert!(
            ran.stderr.contains("For more information, try '--help'."),
            "{args:?}: {}",
            ran.stderr
        );
    }
}

/// What `args` (a `--help`) prints: exit 0, nothing on stderr, and each of `wanted` in it.
#[track_caller]
pub fn assert_help(args: &[&str], wanted: &[&str], run: impl Fn(&[&str]) -> Ran) -> String {
    let ran = run(args);
    assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""), "{args:?}");
    for want in wanted {
        assert!(
            ran.stdout.contains(want),
            "{args:?}: {want:?} missing: {}",
            ran.stdout
        );
    }
    ran.stdout
}

/// `--help` and `-h`: each as [`assert_help`], with a line for each of `subs`; returns the long
/// help.
#[track_caller]
pub fn assert_top_help(wanted: &[&str], subs: &[&str], run: impl Fn(&[&str]) -> Ran) -> String {
    let [long, _] = ["--help", "-h"].map(|flag| {
        let help = assert_help(&[flag], wanted, &run);
        for sub in subs {
            assert!(
                help.contains(&format!("\n  {sub} ")),
                "{flag}: {sub} missing: {help}"
            );
        }
        help
    });
    long
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
