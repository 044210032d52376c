//! Exercise `pipe-hello`: the notes' pipe program (B3). The parent writes "Hello There!" into a
//! pipe; the child reads it and prints `Proc 0 read: Hello There!` (fork returned 0 in the
//! child). The notes' parent does not wait for its child: lab-check, a subreaper, is handed a
//! child left so, and says so.

#![forbid(unsafe_code)]

use std::time::Duration;

use super::{Check, Exercise, Failure, Lab};

/// The line the notes' program prints.
pub const LINE: &str = "Proc 0 read: Hello There!\n";

pub static EXERCISE: Exercise = Exercise {
    name: "pipe-hello",
    section: "B3 Unix pipe: the notes' program",
    task: "the notes' pipe program: the parent writes \"Hello There!\", the child reads and prints it",
    usage: "PROGRAM",
    timeout: Duration::from_secs(5),
    checks: &[
        Check {
            name: "output",
            points: 3,
            asks: "prints exactly \"Proc 0 read: Hello There!\" and a newline",
            see: "docs/03-pipes.md#the-notes-program",
        },
        Check {
            name: "ends",
            points: 1,
            asks: "ends by itself, every process of it",
            see: "docs/03-pipes.md#end-of-file-eof",
        },
        Check {
            name: "waits",
            points: 2,
            asks: "the parent waits for its child (wait or waitpid) before it ends",
            see: "docs/03-pipes.md#why-the-parent-should-wait",
        },
    ],
    run,
};

fn run(lab: &mut Lab) -> anyhow::Result<()> {
    lab.explain(
        "output",
        "run the program on a terminal and compare what it prints with the notes' line",
    );
    let ended = lab.start(&[])?.finish()?;
    let timeout = lab.timeout;
    if ended.output == LINE {
        lab.pass("output");
    } else {
        let hint = if ended.output.trim_end() == LINE.trim_end() {
            "the line must end with exactly one newline: printf(\"Proc %d read: %s\\n\", pid, buf)"
        } else if ended.output.contains("Hello There!") && !ended.output.contains("Proc 0") {
            "the child prints the line, with fork's return value, which is 0 in the child: print \
             it in the else branch, where pid == 0"
        } else if ended.output.is_empty() {
            "nothing was printed: the child must read from the pipe's read end (fd[0]) after \
             closing its write end, then printf what it read; the parent writes strlen(str) + 1 \
             bytes, the '\\0' included"
        } else {
            "the child prints \"Proc %d read: %s\\n\" with fork's result and the buffer it read"
        };
        lab.fail(
            "output",
            Failure::new(format!("output {LINE:?}"), ended.shown(), hint),
        );
    }
    lab.explain(
        "ends",
        "the program and its child must end by themselves within the time limit",
    );
    match ended.end {
        super::run::End::TimedOut => lab.fail(
            "ends",
            Failure::new(
                "the program ends",
                ended.end.describe(timeout),
                "a read waits while any write end of the pipe is open: close the write end in \
                 the child before reading, and in the parent once written",
            ),
        ),
        super::run::End::Killed(sig) => lab.fail(
            "ends",
            Failure::new(
                "the program ends with an exit status",
                format!("killed by {}", sig.as_str()),
                "a crash: check pipe's and fork's results, and read into a buffer big enough \
                 (char buf[100])",
            ),
        ),
        super::run::End::Exited(_) => lab.pass("ends"),
    }
    lab.explain(
        "waits",
        "lab-check is a subreaper: a child whose parent ended without waiting for it is handed \
         to lab-check",
    );
    if ended.orphans.is_empty() {
        lab.pass("waits");
    } else {
        lab.fail(
            "waits",
            Failure::new(
                "the parent reaps its child (no child is left to lab-check)",
                format!(
                    "the parent ended first; lab-check reaped its child (pid {})",
                    ended
                        .orphans
                        .iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "call wait(NULL) in the parent after closing its write end: a child nobody \
                 waits for is a zombie until init reaps it, and the shell's prompt can come \
                 back before the child's line",
            ),
        );
    }
    Ok(())
}
