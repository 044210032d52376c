//! Exercise `mq-receive`: receive(MB, msg) from the notes' message passing (B2). The program
//! opens an existing POSIX queue (mq_open O_RDONLY), receives N messages (mq_receive: the
//! highest priority first, the oldest first within a priority), prints each message's text on a
//! line of its own, closes the queue and removes it (mq_unlink).
//!
//! lab-check plays the sender, as `mq-send -c` would: it makes the queue and fills it before the
//! program starts, through the library mq-send is built on. Each queue has a name of its own
//! (`/lab-check-<pid>-<n>`) and is removed, if the program did not, on every way out.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::run::{End, Ended};
use super::{Check, Exercise, Failure, Lab};
use crate::mq::{self, Access, Mailbox, OpenOptions, QueueName, Wait};

pub static EXERCISE: Exercise = Exercise {
    name: "mq-receive",
    section: "B2 Message passing: receive(MB, msg) from a mailbox",
    task: "receive N messages from a POSIX queue, highest priority first, print them, remove the queue",
    usage: "PROGRAM QUEUE N",
    timeout: Duration::from_secs(5),
    checks: &[
        Check {
            name: "order",
            points: 4,
            asks: "prints the N messages in the kernel's order: highest priority first, oldest first within one",
            see: "docs/02-message-passing.md#priorities",
        },
        Check {
            name: "exact-text",
            points: 2,
            asks: "prints each message's text exactly (the length mq_receive returns), one per line",
            see: "docs/02-message-passing.md#the-c-programs-beside-the-rust-ones",
        },
        Check {
            name: "removed",
            points: 2,
            asks: "removes the queue when done (mq_unlink)",
            see: "docs/02-message-passing.md#ctrl-c-and-what-stays-in-the-kernel",
        },
        Check {
            name: "buffer-size",
            points: 2,
            asks: "receives from a queue of the largest message size (a buffer of mq_msgsize bytes)",
            see: "docs/02-message-passing.md#messages-are-limited-in-size-and-format",
        },
    ],
    run,
};

/// The message size of the queues of every check but buffer-size.
const SMALL_MSGSIZE: i64 = 64;

/// What the order check sends, in this order: (text, priority).
const MIXED: &[(&str, u32)] = &[("low", 1), ("high", 9), ("mid", 5), ("high2", 9)];

/// The hint for a receive buffer smaller than the queue's messages.
const EMSGSIZE_HINT: &str = "mq_receive needs a buffer of at least the queue's mq_msgsize, or it \
     fails with EMSGSIZE (Message too long), whatever the message's length: ask mq_getattr, then \
     malloc attr.mq_msgsize bytes";

/// The hint for a message printed beyond the length mq_receive returned.
const JUNK_HINT: &str = "a message has no '\\0' at its end: mq_receive returns its length, and the \
     buffer holds what earlier messages left after it; print exactly len bytes, \
     printf(\"%.*s\\n\", (int) len, buf), or set buf[len] = '\\0' in a buffer of \
     mq_msgsize + 1 bytes";

/// One run: the queue lab-check filled, the program's arguments, what it must print.
struct Case<'a> {
    message_size: i64,
    messages: &'a [(&'a str, u32)],
    count: usize,
}

impl Case<'_> {
    /// What the program must print: the first `count` messages in the kernel's order.
    fn expected(&self) -> String {
        let mut sorted: Vec<(usize, &(&str, u32))> = self.messages.iter().enumerate().collect();
        // Highest priority first; within one, the order of sending (a stable sort keeps it).
        sorted.sort_by_key(|(_, (_, prio))| std::cmp::Reverse(*prio));
        sorted
            .iter()
            .take(self.count)
            .map(|(_, (text, _))| format!("{text}\n"))
            .collect()
    }
}

/// What a run showed, and whether it left its queue.
struct Outcome {
    ended: Ended,
    /// The command, as a shell would run it.
    command: String,
    queue: QueueName,
    /// The queue was still there after the run (lab-check then removed it).
    queue_left: bool,
    /// Other objects it left (in a private namespace only), removed.
    others: Vec<String>,
}

/// A queue name of this run's own: `/lab-check-<pid>-<n>`.
fn unique_name() -> anyhow::Result<QueueName> {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Ok(QueueName::parse(&format!(
        "/lab-check-{}-{n}",
        std::process::id()
    ))?)
}

/// Make the queue (exclusively: it is ours), fill it, run the program on it, and see what it
/// left. The queue is removed on every way out: the mailbox unlinks it when dropped.
fn run_case(lab: &Lab, case: &Case) -> anyhow::Result<Outcome> {
    let before = lab.objects();
    let name = unique_name()?;
    let options = OpenOptions {
        exclusive: true,
        ..OpenOptions::create(
            Access::Send,
            case.messages.len().max(1) as i64,
            case.message_size,
        )
    };
    let mut mailbox = Mailbox::open(&name, &options)?;
    mailbox.unlink_when_done();
    for (text, prio) in case.messages {
        match mailbox.send(text.as_bytes(), *prio, Wait::NonBlock, None)? {
            mq::Outcome::Done(()) => {}
            other => anyhow::bail!("cannot fill queue {name}: the send ended {other:?}"),
        }
    }
    let args = vec![name.as_str().to_string(), case.count.to_string()];
    let command = super::run::shell_words(&lab.program.path, &args);
    let ended = lab.start(&args)?.finish()?;
    let queue_left = mq::exists(&name);
    let own = super::ipc::Object::PosixQueue(name.as_str().trim_start_matches('/').to_string());
    let others = lab
        .remove_leftovers(&before)
        .into_iter()
        .filter(|o| *o != own.describe())
        .collect();
    drop(mailbox);
    Ok(Outcome {
        ended,
        command,
        queue: name,
        queue_left,
        others,
    })
}

/// Whether `output` has the expected messages, in order, one per line, each perhaps followed by
/// junk (that is exact-text's to judge, not order's).
fn same_messages(output: &str, expected: &str) -> bool {
    let got: Vec<&str> = output.lines().collect();
    let want: Vec<&str> = expected.lines().collect();
    output.ends_with('\n')
        && got.len() == want.len()
        && got.iter().zip(&want).all(|(g, w)| g.starts_with(w))
}

/// What happened, in words: the output, stderr, and how it ended.
fn happened(outcome: &Outcome, timeout: Duration) -> String {
    let mut text = format!("`{}`: {}", outcome.command, outcome.ended.shown());
    text.push_str(&format!("; {}", outcome.ended.end.describe(timeout)));
    if outcome.ended.end == End::TimedOut {
        text.push_str(" (the output is what it printed before: it was waiting, blocked)");
    }
    text
}

/// The hint for a run whose output is not the expected one, where the cause shows.
fn output_hint(outcome: &Outcome, count: usize) -> Option<String> {
    let ended = &outcome.ended;
    if ended.errors.contains("Message too long") {
        return Some(EMSGSIZE_HINT.to_string());
    }
    if ended.end == End::TimedOut {
        let hint = if ended.output.lines().count() >= count {
            format!(
                "the program printed N = {count} messages and went on waiting for more: \
                 mq_receive waits while the queue is empty; receive exactly N messages \
                 (atoi(argv[2])), then close and unlink the queue"
            )
        } else {
            format!(
                "the program was still waiting when lab-check killed it, its output incomplete: \
                 mq_receive waits while the queue is empty; receive exactly N = {count} messages \
                 from the queue named argv[1], then stop"
            )
        };
        return Some(hint);
    }
    if let End::Killed(sig) = ended.end {
        return Some(format!(
            "killed by {}: check mq_open's result against (mqd_t) -1 and malloc's against NULL, \
             and receive into a buffer of attr.mq_msgsize bytes",
            sig.as_str()
        ));
    }
    if ended.output.is_empty() && ended.end == End::Exited(0) {
        return Some(format!(
            "nothing was printed: open the queue named argv[1], receive N messages (here {count}) \
             with mq_receive, and print each with printf(\"%.*s\\n\", (int) len, buf)"
        ));
    }
    if ended.output.is_empty() && ended.errors.contains("mq_open") {
        return Some(
            "mq_open failed: open the existing queue named argv[1] with mq_open(argv[1], \
             O_RDONLY); lab-check made it and filled it before starting the program"
                .to_string(),
        );
    }
    None
}

fn run(lab: &mut Lab) -> anyhow::Result<()> {
    let timeout = lab.timeout;
    let mut runs: Vec<Outcome> = Vec::new();

    // order: four messages at three priorities, all received; then two of them.
    lab.explain(
        "order",
        "lab-check makes a queue and sends low (priority 1), high (9), mid (5), high2 (9), as \
         `mq-send -p N` would; the program must receive them in the kernel's order",
    );
    for count in [4, 2] {
        let case = Case {
            message_size: SMALL_MSGSIZE,
            messages: MIXED,
            count,
        };
        let expected = case.expected();
        let outcome = run_case(lab, &case)?;
        let output = &outcome.ended.output;
        let ended_by_itself = outcome.ended.end != End::TimedOut;
        if ended_by_itself && (*output == expected || same_messages(output, &expected)) {
            lab.pass("order");
        } else {
            let hint = output_hint(&outcome, count).unwrap_or_else(|| {
                if output.lines().count() > count {
                    format!(
                        "receive exactly N = {count} messages (argv[2]): the rest stay in the queue"
                    )
                } else {
                    "print the messages in the order mq_receive hands them over, one per line: \
                     the kernel gives the highest priority first, and the oldest first within a \
                     priority"
                        .to_string()
                }
            });
            lab.fail(
                "order",
                Failure::new(
                    format!("output {expected:?} (N = {count})"),
                    happened(&outcome, timeout),
                    hint,
                ),
            );
        }
        runs.push(outcome);
    }

    // exact-text: a long message, then a short one into the same buffer.
    lab.explain(
        "exact-text",
        "lab-check sends \"abcdefgh\" then \"xy\": a receiver that prints its buffer past the \
         length mq_receive returned shows what the first message left (\"xycdefgh\")",
    );
    let case = Case {
        message_size: SMALL_MSGSIZE,
        messages: &[("abcdefgh", 0), ("xy", 0)],
        count: 2,
    };
    let expected = case.expected();
    let outcome = run_case(lab, &case)?;
    let output = &outcome.ended.output;
    if *output == expected {
        lab.pass("exact-text");
    } else {
        let hint = if same_messages(output, &expected) {
            JUNK_HINT.to_string()
        } else if let Some(hint) = output_hint(&outcome, case.count) {
            hint
        } else if output.replace('\n', "") == expected.replace('\n', "") {
            "print each message on a line of its own: a '\\n' after each, printf(\"%.*s\\n\", \
             (int) len, buf)"
                .to_string()
        } else {
            format!("print each message's text as received, and nothing else; {JUNK_HINT}")
        };
        lab.fail(
            "exact-text",
            Failure::new(
                format!("output {expected:?}"),
                happened(&outcome, timeout),
                hint,
            ),
        );
    }
    runs.push(outcome);

    // buffer-size: a queue of the largest message size an ordinary user may make.
    let limits = mq::Limits::read()?;
    let big = limits.msgsize_max;
    lab.explain(
        "buffer-size",
        &format!(
            "lab-check makes a queue of {big}-byte messages (msgsize_max): a receive buffer \
             smaller than mq_msgsize fails with EMSGSIZE"
        ),
    );
    let case = Case {
        message_size: big,
        messages: &[("roomy", 0)],
        count: 1,
    };
    let expected = case.expected();
    let outcome = run_case(lab, &case)?;
    let output = &outcome.ended.output;
    if *output == expected || same_messages(output, &expected) {
        lab.pass("buffer-size");
    } else {
        let hint = if outcome.ended.errors.contains("Message too long")
            || (outcome.ended.end != End::Exited(0) && output.is_empty())
        {
            EMSGSIZE_HINT.to_string()
        } else {
            output_hint(&outcome, case.count).unwrap_or_else(|| {
                format!("print the one message, as in the other checks; {EMSGSIZE_HINT}")
            })
        };
        lab.fail(
            "buffer-size",
            Failure::new(
                format!("output {expected:?} from a queue whose mq_msgsize is {big}"),
                happened(&outcome, timeout),
                hint,
            ),
        );
    }
    runs.push(outcome);

    // removed: judged on the runs that ended well (a failed receive may leave the queue).
    lab.explain(
        "removed",
        "after each run that ended with exit status 0, lab-check tries to open the queue: it \
         must be gone (ENOENT)",
    );
    let good: Vec<&Outcome> = runs
        .iter()
        .filter(|o| o.ended.end == End::Exited(0))
        .collect();
    if good.is_empty() {
        lab.fail(
            "removed",
            Failure::new(
                EXERCISE.check("removed").asks,
                "not judged: no run of the program ended with exit status 0",
                "fix the failures above first",
            ),
        );
    } else if let Some(left) = good.iter().find(|o| o.queue_left) {
        lab.fail(
            "removed",
            Failure::new(
                format!("queue {} gone after the run", left.queue),
                format!(
                    "queue {} was still there after `{}` ended (lab-check removed it)",
                    left.queue, left.command
                ),
                "mq_close only closes the descriptor: the queue stays in the kernel, with any \
                 messages left in it, until mq_unlink(argv[1]) removes its name",
            ),
        );
    } else if let Some(left) = good.iter().find(|o| !o.others.is_empty()) {
        lab.fail(
            "removed",
            Failure::new(
                "no IPC object left after the run",
                format!(
                    "`{}` left {} (lab-check removed it)",
                    left.command,
                    left.others.join(", ")
                ),
                "open the queue named argv[1] without O_CREAT, and mq_unlink it when done",
            ),
        );
    } else {
        lab.pass("removed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_order() {
        let case = |count| Case {
            message_size: SMALL_MSGSIZE,
            messages: MIXED,
            count,
        };
        assert_eq!(case(4).expected(), "high\nhigh2\nmid\nlow\n");
        assert_eq!(case(2).expected(), "high\nhigh2\n");
    }

    #[test]
    fn junk_is_not_orders_business() {
        assert!(same_messages(
            "high\nhigh2\nmidh2\nlow2\n",
            "high\nhigh2\nmid\nlow\n"
        ));
        assert!(!same_messages("high2\nhigh\n", "high\nhigh2\n"));
        assert!(!same_messages("high\nhigh2\nmid\n", "high\nhigh2\n"));
        assert!(!same_messages("high", "high\n"));
    }
}
