//! Exercise `sig-segv`: the notes' SIGSEGV program (B4). A handler installed with signal()
//! catches the fault of `*ip = 123` through a null pointer, prints `Memory access blows up!`
//! and exits with status 1, instead of the default action (death by SIGSEGV).

#![forbid(unsafe_code)]

use std::time::Duration;

use super::run::End;
use super::{Check, Exercise, Failure, Lab};

/// The line the notes' handler prints.
pub const LINE: &str = "Memory access blows up!\n";

pub static EXERCISE: Exercise = Exercise {
    name: "sig-segv",
    section: "B4 Unix signal: the notes' SIGSEGV handler",
    task: "the notes' SIGSEGV program: a handler catches a null-pointer write and exits 1",
    usage: "PROGRAM",
    timeout: Duration::from_secs(5),
    checks: &[
        Check {
            name: "message",
            points: 2,
            asks: "prints exactly \"Memory access blows up!\" and a newline",
            see: "docs/04-signals.md#the-notes-program",
        },
        Check {
            name: "exit-status",
            points: 2,
            asks: "exits with status 1 from the handler, not killed by SIGSEGV",
            see: "docs/04-signals.md#the-default-action---no-handler",
        },
        Check {
            name: "no-return",
            points: 2,
            asks: "the handler does not return (the faulting write would run again for ever)",
            see: "docs/04-signals.md#a-handler-must-not-return",
        },
    ],
    run,
};

fn run(lab: &mut Lab) -> anyhow::Result<()> {
    lab.explain(
        "message",
        "run the program on a terminal: its handler's line must be all it prints",
    );
    let ended = lab.start(&[])?.finish()?;
    let timeout = lab.timeout;
    // A handler that returns makes the write fault again and again: the line may come many
    // times, and the program never ends.
    let looped = ended.end == End::TimedOut;
    if ended.output == LINE {
        lab.pass("message");
    } else {
        let hint = if looped && ended.output.starts_with(LINE) {
            "the handler printed its line again and again: it returned, and the faulting write \
             ran again; end the handler with exit(1)"
        } else if ended.output.is_empty() && ended.end == End::Killed(nix::sys::signal::SIGSEGV) {
            "the handler never ran: install it with signal(SIGSEGV, myOwnHandler) before the \
             faulting write"
        } else {
            "the handler prints \"Memory access blows up!\\n\" when signo == SIGSEGV"
        };
        lab.fail(
            "message",
            Failure::new(format!("output {LINE:?}"), ended.shown(), hint),
        );
    }
    lab.explain(
        "exit-status",
        "the shell sees exit status 1: the handler called exit(1)",
    );
    match ended.end {
        End::Exited(1) => lab.pass("exit-status"),
        End::Killed(sig) => lab.fail(
            "exit-status",
            Failure::new(
                "exit status 1",
                format!("killed by {}", sig.as_str()),
                "the default action of SIGSEGV ran: install the handler with \
                 signal(SIGSEGV, myOwnHandler), check that it did not return SIG_ERR, and end \
                 the handler with exit(1)",
            ),
        ),
        End::Exited(code) => lab.fail(
            "exit-status",
            Failure::new(
                "exit status 1",
                format!("exit status {code}"),
                "the handler ends the program with exit(1): the notes' status for \"it blew up\"",
            ),
        ),
        End::TimedOut => lab.fail(
            "exit-status",
            Failure::new(
                "exit status 1",
                End::TimedOut.describe(timeout),
                "the program never ended: see no-return",
            ),
        ),
    }
    lab.explain(
        "no-return",
        "a handler that returns sends the program back to the faulting write: it never ends",
    );
    if looped {
        lab.fail(
            "no-return",
            Failure::new(
                "the program ends once the handler has run",
                End::TimedOut.describe(timeout),
                "a SIGSEGV handler must not return: the write through the null pointer runs \
                 again and faults again, for ever; call exit(1) in the handler",
            ),
        );
    } else {
        lab.pass("no-return");
    }
    Ok(())
}
