//! Demos that fork, run to their end and checked for children left behind, and the assertions
//! the binaries' tests share on such a run (success, usage errors, --version, --help).

use std::process::{Command, ExitStatus};

use super::children::{
    ChildWatch, ProcId, adopt_orphans, assert_nothing_left, tag_command, tagged_processes,
};
use super::process::{Running, shell_status};

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
