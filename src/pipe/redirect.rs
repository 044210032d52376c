//! The shell's `|` built by hand (lecture notes, B3 Unix Pipe): "Unix shell provides the `|`
//! symbol as a "link" for input and output channels of one process to another", "output of
//! command A is passed in as an input for command B", "piping in shell is achieved using the
//! mechanism internally"; and from Other Unix Pipes, `dup2()`. `CMD1 | CMD2`: pipe, two forks,
//! `dup2` of an end onto stdout and stdin, the unused ends closed, exec, and a wait for both.
//!
//! Lab sheet: chapter 3 (`docs/03-pipes.md`), "How the shell builds A | B", "The shell's | by
//! hand: redirect" and "The exit status of a pipeline"; `docs/deeper/03-pipes.md`, "redirect,
//! narrated" and "A failing first command".

#![forbid(unsafe_code)]

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;

use super::common::{child_failed, fd_table, show_stopped, wait_child};
use crate::pipe::{self, Pipe};
use crate::sys::{self, Child, Termination, fd_number};
use crate::ui::{Ui, UsageError};

fn words(cmd: &str, which: &str) -> anyhow::Result<Vec<CString>> {
    let words = shlex::split(cmd).ok_or_else(|| {
        // The two things shlex refuses: an open quote, and a backslash with nothing after it.
        let trailing = cmd.len() - cmd.trim_end_matches('\\').len();
        let why = if trailing % 2 == 1 {
            "it ends with a lone backslash (write \\\\ for a backslash itself)"
        } else {
            "a quote is not closed"
        };
        UsageError(format!("{which} {cmd:?} cannot be split into words: {why}"))
    })?;
    if words.is_empty() {
        return Err(UsageError(format!("{which} is empty: give a command such as 'ls -l'")).into());
    }
    words
        .into_iter()
        .map(|w| {
            CString::new(w).map_err(|_| UsageError(format!("{which} contains a NUL byte")).into())
        })
        .collect()
}

fn show_argv(argv: &[CString]) -> String {
    let parts: Vec<String> = argv
        .iter()
        .map(|a| format!("{:?}", a.to_string_lossy()))
        .collect();
    parts.join(", ")
}

/// In a child of redirect: put `end` on `target` (1: stdout, 0: stdin), drop both pipe ends,
/// exec. Only returns the status to exit with when exec failed. With `hold` (--explain) it stops
/// right after fork and again just before exec, so that the parent can read its descriptor
/// table at both points.
fn exec_with(
    end: BorrowedFd<'_>,
    target: i32,
    ends: &Pipe,
    argv: &[CString],
    hold: bool,
    ui: &Ui,
) -> i32 {
    if hold {
        sys::stop_self();
    }
    if let Err(e) = sys::dup2(end, target) {
        return child_failed(ui, e);
    }
    sys::close_in_child(&ends.read);
    sys::close_in_child(&ends.write);
    if hold {
        sys::stop_self();
    }
    let errno = sys::exec(argv);
    let name = argv[0].to_string_lossy();
    ui.report(&anyhow::anyhow!(
        "cannot run {name:?}: {} ({errno:?})",
        errno.desc()
    ));
    // As a shell: 127 when the command is not found, 126 when it cannot be run.
    if errno == Errno::ENOENT { 127 } else { 126 }
}

/// One child of redirect, as the parent narrates it: `end` goes onto `target` (`stream`), both
/// pipe ends are closed, the program is exec'd. The calls are told by the parent, which knows the
/// plan, so that the narration stays in order; with --explain the tables between them are the
/// child's real ones, read while it is stopped.
struct Plan<'a> {
    /// `child 1 (seq 5)`
    who: String,
    end: i32,
    target: i32,
    stream: &'a str,
    which: &'a str,
    argv: &'a [CString],
}

fn narrate_child(
    child: &mut Child,
    plan: &Plan<'_>,
    (r, w): (i32, i32),
    lab: &str,
    term: &Termination,
    ui: &Ui,
) -> anyhow::Result<()> {
    let pid = child.pid();
    let Plan {
        who,
        end,
        target,
        stream,
        which,
        argv,
    } = plan;
    ui.call("fork()", pid);
    if ui.explaining() {
        show_stopped(child, &format!("{who} after fork"), lab, term, ui)?;
    }
    ui.call(&format!("  in child {pid}: dup2({end}, {target})"), target);
    ui.meaning(&format!(
        "  its {stream} (fd {target}) is now the pipe's {which} end"
    ));
    ui.call(&format!("  in child {pid}: close({r}), close({w})"), 0);
    ui.meaning(&format!(
        "  unused ends closed: only fd {target} refers to the pipe now"
    ));
    if ui.explaining() {
        show_stopped(child, &format!("{who} before exec"), lab, term, ui)?;
    }
    ui.call(
        &format!(
            "  in child {pid}: execvp({:?}, [{}])",
            argv[0].to_string_lossy(),
            show_argv(argv)
        ),
        "nothing: it returns only if it fails",
    );
    Ok(())
}

/// The two commands of `CMD1 | CMD2`, each split into words as a shell would.
#[derive(Debug, Clone)]
pub struct Args {
    /// The writer: `ls -l /`.
    pub first: String,
    /// The reader: `wc -l`.
    pub second: String,
}

/// Run `CMD1 | CMD2`; the exit status is the last command's, as a shell's.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    let (first, second) = (args.first.as_str(), args.second.as_str());
    let argv1 = words(first, "CMD1")?;
    let argv2 = words(second, "CMD2")?;
    let term = Termination::install()?;
    let hold = ui.explaining();
    ui.step(1, "pipe: the channel from CMD1's stdout to CMD2's stdin");
    let ends = pipe::pipe(false)?;
    let (r, w) = (fd_number(&ends.read), fd_number(&ends.write));
    ui.call(
        "pipe(fd)",
        format!("0: fd[0] = {r} (read end), fd[1] = {w} (write end)"),
    );
    // The tables (--explain) name the ends of this pipe, and say which pipe is the signals'.
    let lab = if hold {
        sys::descriptor_link(ends.read.as_fd())?
    } else {
        String::new()
    };
    if hold {
        ui.meaning(&format!("parent after pipe(): {}", fd_table(None, &lab)?));
        let wake = sys::descriptor_link(term.wake_fd())?;
        let own: Vec<String> = pipe::descriptors(None)?
            .iter()
            .filter(|d| d.target == wake)
            .map(|d| d.number.to_string())
            .collect();
        ui.meaning(&format!(
            "{} pipe-demo's own pipe, which its signal handler writes to; cloexec: close-on-exec, closed by exec (pipe-demo makes its pipes so; the notes' pipe() does not)",
            match own.as_slice() {
                [] => String::new(),
                [one] => format!("{one} is"),
                many => format!("{} are", many.join(" and ")),
            }
        ));
    }

    ui.step(
        2,
        "fork the writer, which becomes CMD1 with its stdout on the pipe",
    );
    let mut writer = sys::fork(|| exec_with(ends.write.as_fd(), 1, &ends, &argv1, hold, ui))?;
    let plan = Plan {
        who: format!("child 1 ({first})"),
        end: w,
        target: 1,
        stream: "stdout",
        which: "write",
        argv: &argv1,
    };
    narrate_child(&mut writer, &plan, (r, w), &lab, &term, ui)?;

    ui.step(
        3,
        "fork the reader, which becomes CMD2 with its stdin on the pipe",
    );
    let mut reader = sys::fork(|| exec_with(ends.read.as_fd(), 0, &ends, &argv2, hold, ui))?;
    let plan = Plan {
        who: format!("child 2 ({second})"),
        end: r,
        target: 0,
        stream: "stdin",
        which: "read",
        argv: &argv2,
    };
    narrate_child(&mut reader, &plan, (r, w), &lab, &term, ui)?;

    ui.step(4, "the parent closes both ends: it uses neither");
    drop(ends);
    ui.call(&format!("close({r}), close({w})"), 0);
    if hold {
        ui.meaning(&format!(
            "parent after closing both ends: {}",
            fd_table(None, &lab)?
        ));
    }
    ui.meaning("had it kept the write end, CMD2 would never see end of file");

    ui.step(
        5,
        "wait for both; the pipeline's status is the last command's",
    );
    let _ = term.check();
    wait_child(&mut writer, &term, ui)?;
    let status = wait_child(&mut reader, &term, ui)?;
    term.check()?;
    Ok(sys::shell_status(status))
}
