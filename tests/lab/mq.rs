//! mq-send and mq-recv as real processes: every option of both, every error, priority order,
//! a load of 8,000 messages through one queue, termination signals, another user refused, and
//! the network port (good and bad peers). Each test uses queues of its own (pid and counter) and
//! removes them however it ends (`QueueGuard`); queues are small where the size does not matter,
//! so that parallel runs stay within the per-user budget (`ulimit -q`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::thread;
use std::time::{Duration, Instant};

use crate::bad_input::{self, Bad, Want, try_bad_arguments};
use crate::common::*;
use crate::faults::{self, Fixture, POLL, Subject, WRITE};
use ipc_lab::mq::{Access, Limits, Mailbox, OpenOptions, QueueName, Wait};

fn send_cmd(args: &[&str]) -> Command {
    cmd_with("mq-send", args)
}

fn recv_cmd(args: &[&str]) -> Command {
    cmd_with("mq-recv", args)
}

/// mq-send with these arguments and nothing on stdin, run to its end.
fn send(args: &[&str]) -> Finished {
    output_of(&mut send_cmd(args), b"")
}

/// mq-send with these arguments and `input` on stdin.
fn send_stdin(args: &[&str], input: &str) -> Finished {
    output_of(&mut send_cmd(args), input.as_bytes())
}

/// mq-recv with these arguments, run to its end.
fn recv(args: &[&str]) -> Finished {
    output_of(&mut recv_cmd(args), b"")
}

fn code(out: &Finished) -> i32 {
    shell_status(out.status)
}

/// Exit 0 with nothing on stdout or stderr.
#[track_caller]
fn assert_quiet_success(out: &Finished) {
    assert_eq!(
        (code(out), out.stdout.as_str(), out.stderr.as_str()),
        (0, "", "")
    );
}

/// A failure: exit 1, and stderr that starts with `start`.
#[track_caller]
fn assert_failure(out: &Finished, start: &str) {
    assert_eq!(code(out), 1, "{}", out.stderr);
    assert!(out.stderr.starts_with(start), "{}", out.stderr);
}

/// A usage error: exit 2, nothing on stdout, `error: ...` on stderr, no panic.
#[track_caller]
fn assert_usage(out: &Finished, what: &str) {
    assert_eq!(code(out), 2, "{what}: {}", out.stderr);
    assert!(out.stderr.starts_with("error: "), "{what}: {}", out.stderr);
    assert_eq!(out.stdout, "", "{what}");
    assert_no_panic(&out.stderr);
}

/// Make a queue with the library (not with the binaries under test): `max` messages of up to
/// `size` bytes, mode 0600.
fn make_queue(q: &QueueGuard, max: i64, size: i64) {
    let name = QueueName::parse(q.as_str()).unwrap();
    let mailbox = Mailbox::open(&name, &OpenOptions::create(Access::Both, max, size)).unwrap();
    assert!(mailbox.created(), "{} is new", q.as_str());
}

/// Take every message waiting in `q` with `mq-recv -v -n`, as its stdout lines; checks that the
/// queue is empty afterwards.
fn drain_verbose(q: &QueueGuard) -> Vec<String> {
    let out = recv(&["-v", "-n", q.as_str()]);
    assert_eq!(code(&out), 1, "ends at the empty queue: {}", out.stderr);
    assert!(out.stderr.contains("(EAGAIN)"), "{}", out.stderr);
    assert_eq!(q.attributes().current_messages, 0);
    out.stdout.lines().map(str::to_string).collect()
}

fn verbose_line(priority: u32, body: &str) -> String {
    let n = body.len();
    let bytes = if n == 1 {
        "1 byte".to_string()
    } else {
        format!("{n} bytes")
    };
    format!("priority {priority}, {bytes}: {body}")
}

/// Spawn and wait (bounded) until the process is blocked in poll(2), its handlers installed.
fn spawn_blocked(command: &mut Command, ready_line: &str) -> Running {
    let mut run = Running::spawn(command);
    run.wait_stderr(ready_line);
    let pid = run.pid();
    eventually("the process to block in poll", || blocked_in_poll(pid));
    run
}

// ---------------------------------------------------------------------------------------------
// mq-send's options

#[test]
fn each_message_argument_is_one_message_with_its_exact_bytes() {
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    let bodies = ["hello", "", "two words", "ünï", "-dash"];
    // `--` before a message that starts with a dash, as the help says.
    let out = send(&[q.as_str(), "hello", "", "two words", "ünï", "--", "-dash"]);
    assert_quiet_success(&out);
    assert_eq!(q.attributes().current_messages, 5);
    let expected: Vec<String> = bodies.iter().map(|b| verbose_line(0, b)).collect();
    // The sizes are the bytes of each argument: no trailing NUL ("ünï" is 5 bytes of UTF-8).
    assert_eq!(expected[3], "priority 0, 5 bytes: ünï");
    assert_eq!(drain_verbose(&q), expected);
}

#[test]
fn each_line_of_stdin_is_one_message_without_its_line_ending() {
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    let input = "one\r\ntwo\n\n  spaced  \nwith\rinside\nlast, no newline";
    let out = send_stdin(&[q.as_str()], input);
    assert_quiet_success(&out);
    let bodies = [
        "one",
        "two",
        "",
        "  spaced  ",
        "with\rinside",
        "last, no newline",
    ];
    let expected: Vec<String> = bodies.iter().map(|b| verbose_line(0, b)).collect();
    assert_eq!(drain_verbose(&q), expected);

    // Empty input: nothing sent, and a queue made with -c for it is not left behind.
    let out = send_stdin(&[q.as_str()], "");
    assert_quiet_success(&out);
    assert_eq!(q.attributes().current_messages, 0);
    let fresh = QueueGuard::new();
    let out = send_stdin(&["-c", "--msgsize", "16", fresh.as_str()], "");
    assert_eq!(code(&out), 0, "{}", out.stderr);
    assert!(
        !fresh.exists(),
        "a queue this run made and sent nothing to is removed"
    );
}

#[test]
fn priority_goes_from_0_to_32767_and_anything_else_is_a_usage_error() {
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    assert_quiet_success(&send(&["-p", "32767", q.as_str(), "top"]));
    assert_quiet_success(&send(&["--priority", "0", q.as_str(), "bottom"]));
    assert_quiet_success(&send(&["--priority=12", q.as_str(), "middle"]));
    for bad in ["32768", "-1", "abc", "99999999999"] {
        let out = send(&["-p", bad, q.as_str(), "never"]);
        assert_usage(&out, &format!("-p {bad}"));
    }
    let out = send(&["-p", "32768", q.as_str(), "never"]);
    assert!(
        out.stderr.contains("32768 is not in 0..=32767"),
        "{}",
        out.stderr
    );
    assert_eq!(
        drain_verbose(&q),
        [
            verbose_line(32767, "top"),
            verbose_line(12, "middle"),
            verbose_line(0, "bottom")
        ],
        "only the valid sends went in"
    );
}

#[test]
fn nonblock_on_a_full_queue_fails_with_eagain_after_sending_what_fits() {
    let q = QueueGuard::new();
    make_queue(&q, 2, 64);
    let out = send(&["-n", q.as_str(), "a", "b", "c"]);
    let name = q.as_str();
    assert_eq!(code(&out), 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "error: queue {name} is full (2 messages): -n/--nonblock does not wait (EAGAIN); message 3 of 3 was not sent\n\
             hint: start a receiver (mq-recv {name}) to make room, or drop -n to wait for it\n"
        )
    );
    assert_eq!(
        drain_verbose(&q),
        [verbose_line(0, "a"), verbose_line(0, "b")]
    );

    // From stdin, the error names the line.
    let out = send_stdin(&["--nonblock", name], "1\n2\n3\n");
    assert_eq!(code(&out), 1);
    assert!(
        out.stderr
            .contains("(EAGAIN); the message on line 3 was not sent"),
        "{}",
        out.stderr
    );
}

#[test]
fn timeout_on_a_full_queue_gives_up_with_etimedout() {
    let q = QueueGuard::new();
    make_queue(&q, 1, 64);
    assert_quiet_success(&send(&[q.as_str(), "first"]));
    let name = q.as_str();
    let out = send(&["--timeout", "0.3", name, "late"]);
    assert_eq!(code(&out), 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "error: queue {name} stayed full for 0.3 s (ETIMEDOUT); the message was not sent\n\
             hint: is a receiver running? (mq-recv {name}) Raise --timeout, or drop it to wait as long as it takes\n"
        )
    );
    assert_eq!(drain_verbose(&q), [verbose_line(0, "first")]);

    for bad in [
        &["--timeout", "0", name, "x"][..],
        &["--timeout", "-1", name, "x"],
        &["--timeout", "soon", name, "x"],
        &["-n", "--timeout", "1", name, "x"],
    ] {
        let out = send(bad);
        assert_eq!(code(&out), 2, "{bad:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("error: "), "{bad:?}");
    }
}

#[test]
fn create_makes_the_queue_with_maxmsg_msgsize_and_perms() {
    let q = QueueGuard::new();
    let name = q.as_str();
    // A fixed umask (022 takes nothing from 640), so the mode is known.
    let out = output_of(
        with_umask(0o022, "mq-send").args([
            "-c",
            "--maxmsg",
            "3",
            "--msgsize",
            "16",
            "--perms",
            "640",
            name,
            "x",
        ]),
        b"",
    );
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (
            0,
            "",
            format!("mq-send: created queue {name} (3 messages of up to 16 bytes, mode 0640)\n")
                .as_str()
        )
    );
    assert_eq!(format!("{:o}", q.mode()), "640");
    let attr = recv(&["--attr", name]);
    assert_eq!(code(&attr), 0, "{}", attr.stderr);
    let lines: Vec<&str> = attr.stdout.lines().collect();
    assert_eq!(
        &lines[..4],
        [
            format!("queue {name}").as_str(),
            "  mq_maxmsg        3        the most messages it holds",
            "  mq_msgsize       16       the largest message, in bytes",
            "  mq_curmsgs       1        messages waiting now",
        ]
    );

    // -c on a queue that exists uses it as it is, and says so: the sizes of the first run stay.
    let out = send(&["--create", "--maxmsg", "5", "--msgsize", "64", name, "y"]);
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (
            0,
            "",
            format!(
                "mq-send: queue {name} exists already (3 messages of up to 16 bytes): --maxmsg and --msgsize apply only to a new queue\n"
            )
            .as_str()
        )
    );
    let a = q.attributes();
    assert_eq!(
        (a.max_messages, a.message_size, a.current_messages),
        (3, 16, 2)
    );

    // Without --maxmsg and --msgsize: the system's defaults.
    let fresh = QueueGuard::new();
    let limits = Limits::read().unwrap();
    let out = send(&["-c", fresh.as_str(), "z"]);
    assert_eq!(
        out.stderr,
        format!(
            "mq-send: created queue {} ({} messages of up to {} bytes, mode 0600)\n",
            fresh.as_str(),
            limits.msg_default,
            limits.msgsize_default
        )
    );
    let a = fresh.attributes();
    assert_eq!(
        (a.max_messages, a.message_size),
        (limits.msg_default, limits.msgsize_default)
    );
    assert_eq!(format!("{:o}", fresh.mode()), "600");
}

#[test]
fn exclusive_refuses_a_queue_that_exists_and_leaves_it_alone() {
    let q = QueueGuard::new();
    let name = q.as_str();
    let out = send(&["-c", "--exclusive", "--msgsize", "16", name, "a"]);
    assert_eq!(code(&out), 0, "{}", out.stderr);
    let out = send(&["-c", "--exclusive", "--msgsize", "16", name, "b"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        out.stderr,
        format!(
            "error: cannot create queue {name}: File exists (EEXIST)\n\
             hint: queue {name} exists already, made by you (uid {}, mode 0600): drop --exclusive to use it, or pick another name\n",
            nix::unistd::geteuid()
        )
    );
    assert!(q.exists(), "not this run's queue: not removed");
    assert_eq!(drain_verbose(&q), [verbose_line(0, "a")]);

    let out = send(&["--exclusive", name, "c"]);
    assert_eq!(code(&out), 2, "--exclusive needs --create: {}", out.stderr);
    assert!(out.stderr.contains("--create"), "{}", out.stderr);
}

#[test]
fn sizing_a_queue_without_create_is_a_usage_error() {
    let q = QueueGuard::new();
    for opts in [
        &["--maxmsg", "3"][..],
        &["--msgsize", "16"],
        &["--perms", "644"],
    ] {
        let mut args = opts.to_vec();
        args.extend([q.as_str(), "x"]);
        let out = send(&args);
        assert_eq!(
            (code(&out), out.stdout.as_str(), out.stderr.as_str()),
            (
                2,
                "",
                "error: --maxmsg, --msgsize and --perms size a new queue: add --create (-c), or leave them out\n"
            ),
            "{opts:?}"
        );
        assert!(!q.exists());
    }
}

#[test]
fn a_missing_queue_is_enoent_with_a_hint_and_nothing_is_created() {
    let q = QueueGuard::new();
    let name = q.as_str();
    let out = send(&[name, "hello"]);
    assert_eq!(code(&out), 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "error: cannot open queue {name}: No such file or directory (ENOENT)\n\
             hint: no queue is called {name}: start `mq-recv {name}` first (the receiver makes its mailbox), or pass --create\n"
        )
    );
    assert!(out.stderr.contains("start `mq-recv") && out.stderr.contains("--create"));
    assert!(!q.exists());

    // A name without the leading / means the same queue.
    let out = send(&[&name[1..], "hello"]);
    assert_eq!(code(&out), 1);
    assert!(
        out.stderr
            .contains(&format!("cannot open queue {name}: No such file")),
        "{}",
        out.stderr
    );
}

#[test]
fn to_pid_sends_to_the_mailbox_of_a_process_started_with_mine() {
    let mut receiver = Running::spawn(&mut recv_cmd(&[
        "--mine",
        "--count",
        "1",
        "-v",
        "--msgsize",
        "64",
    ]));
    let mailbox = QueueGuard::for_pid(receiver.pid() as u32);
    let line = receiver.wait_stderr("my PID is ");
    let pid: u32 = line
        .split("my PID is ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no PID in {line:?}"));
    assert_eq!(pid, receiver.pid() as u32);
    assert_eq!(
        line,
        format!(
            "mq-recv: my PID is {pid}; my mailbox is /ipc-lab-pid-{pid}: send with `mq-send --to {pid} MESSAGE`\n"
        )
    );
    assert!(mailbox.exists());
    let out = send(&["--to", &pid.to_string(), "hello"]);
    assert_quiet_success(&out);
    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(receiver.out, "priority 0, 5 bytes: hello\n");
    assert!(!mailbox.exists(), "its own mailbox goes with it");
}

#[test]
fn to_a_pid_without_a_mailbox_says_why() {
    // A running process with no mailbox: this test.
    let me = std::process::id();
    let _none = QueueGuard::for_pid(me);
    let out = send(&["--to", &me.to_string(), "hi"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        out.stderr,
        format!(
            "error: cannot open queue /ipc-lab-pid-{me}: No such file or directory (ENOENT)\n\
             hint: process {me} is running but has no mailbox: start the receiver as `mq-recv --mine`, and use the PID it prints\n"
        )
    );
    // A process that has ended.
    let mut done = Command::new("true").spawn().unwrap();
    done.wait().unwrap();
    let gone = done.id();
    let _none = QueueGuard::for_pid(gone);
    let out = send(&["--to", &gone.to_string(), "hi"]);
    assert_eq!(code(&out), 1);
    assert_ends_with(
        &out.stderr,
        &format!(
            "hint: no process {gone} is running: start `mq-recv --mine`, and use the PID it prints\n"
        ),
        "stderr",
    );
    for bad in [
        &["--to", "0", "hi"][..],
        &["--to", "x", "hi"],
        &["--to", "1", "--host", "127.0.0.1:1", "hi"],
        &["--to", "1", "-c", "hi"],
    ] {
        let out = send(bad);
        assert_eq!(code(&out), 2, "{bad:?}: {}", out.stderr);
    }
}

#[test]
fn usage_errors_of_mq_send() {
    let q = QueueGuard::new();
    for args in [
        &[][..],
        &["--bogus", q.as_str(), "x"],
        &["-c", "--maxmsg", "0", q.as_str(), "x"],
    ] {
        assert_usage(&send(args), &format!("{args:?}"));
    }
    let out = send(&[]);
    assert_eq!(
        out.stderr,
        "error: name a queue: mq-send QUEUE MESSAGE... (or --to PID, or --host HOST:PORT)\n"
    );
    assert!(!q.exists());
}

// ---------------------------------------------------------------------------------------------
// mq-recv's options

#[test]
fn recv_prints_one_line_per_message_and_nothing_else() {
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    assert_quiet_success(&send(&[q.as_str(), "a", "bee", "sea of words"]));
    let out = recv(&["--count", "3", q.as_str()]);
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (0, "a\nbee\nsea of words\n", "")
    );
    assert!(q.exists(), "without --unlink the queue stays");
    assert_eq!(q.attributes().current_messages, 0);
}

#[test]
fn recv_creates_a_missing_queue_that_stays_unless_unlink() {
    let q = QueueGuard::new();
    let name = q.as_str();
    let mut receiver = Running::spawn(&mut recv_cmd(&["--count", "1", "--msgsize", "64", name]));
    let line = receiver.wait_stderr("created queue");
    assert_eq!(
        line,
        format!("mq-recv: created queue {name} (10 messages of up to 64 bytes, mode 0600)\n")
    );
    assert!(q.exists());
    assert_quiet_success(&send(&[name, "hi"]));
    assert_eq!(shell_status(receiver.finish()), 0);
    assert_eq!(receiver.out, "hi\n");
    assert!(q.exists(), "the queue outlives its receiver");
    assert_eq!(q.attributes().message_size, 64);

    // --unlink: removed when done.
    assert_quiet_success(&send(&[name, "last"]));
    let out = recv(&["--unlink", "--count", "1", name]);
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (0, "last\n", "")
    );
    assert!(!q.exists(), "--unlink removed it");

    // --unlink also on an error (here -n on an empty queue it made).
    let out = recv(&["--unlink", "-n", "--msgsize", "64", name]);
    assert_eq!(code(&out), 1);
    assert!(out.stderr.contains("created queue"), "{}", out.stderr);
    assert!(
        !q.exists(),
        "--unlink removes it on the way out of an error"
    );

    // Without --msgsize: the system's defaults.
    let limits = Limits::read().unwrap();
    let out = recv(&["-n", name]);
    assert_failure(
        &out,
        &format!(
            "mq-recv: created queue {name} ({} messages of up to {} bytes, mode 0600)\n",
            limits.msg_default, limits.msgsize_default
        ),
    );
    assert!(q.exists(), "kept: no --unlink");
}

/// `mq-recv ARGS` with its stdout closed, as a shell's `mq-recv ARGS >&-` starts it.
fn recv_stdout_closed(args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", r#"exec "$0" "$@" >&-"#])
        .arg(bin("mq-recv"))
        .args(args)
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1");
    c
}

/// A pipe whose reader is gone (`| true` after it ended): a write to it fails with EPIPE.
fn pipe_without_reader() -> std::process::Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

/// What mq-recv says when it took a message from `queue` and could not print it.
fn saved_on_stderr(queue: &str, shown: &str, why: &str) -> String {
    format!(
        "mq-recv: the message taken from {queue} was: {shown}\n\
         error: cannot write message to standard output: {why}\n\
         hint: the message is above, on stderr; mq-recv prints each message it takes, so run it with its standard output open and read to the end\n"
    )
}

#[test]
fn a_message_taken_with_stdout_closed_fails_the_receiver_and_goes_to_stderr() {
    // `mq-recv /q >&-`: the message leaves the queue for good, so losing it silently (std puts
    // /dev/null on a closed stdout) would be the worst outcome. With --hold the same.
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    for hold in [false, true] {
        assert_quiet_success(&send(&[q.as_str(), "caf\u{e9}\ttab\x1b[31m", "next"]));
        let mut args = vec!["--count", "2", q.as_str()];
        if hold {
            args.insert(0, "--hold");
        }
        let out = output_of(&mut recv_stdout_closed(&args), b"\n");
        let held = if hold {
            "mq-recv: holding: press Enter to start receiving (messages wait in the mailbox meanwhile)\n\
             mq-recv: receiving: 2 waiting\n"
        } else {
            ""
        };
        assert_eq!(
            (code(&out), out.stdout.as_str(), out.stderr.as_str()),
            (
                1,
                "",
                format!(
                    "{held}{}",
                    saved_on_stderr(
                        q.as_str(),
                        "caf\u{e9}\\ttab\\u{1b}[31m",
                        "Bad file number (EBADF)"
                    )
                )
                .as_str()
            ),
            "hold: {hold}"
        );
        // It stopped at the first: the second still waits for a receiver.
        assert_eq!(drain_verbose(&q), [verbose_line(0, "next")], "hold: {hold}");
    }
}

#[test]
fn a_broken_pipe_on_stdout_fails_the_receiver_the_message_goes_to_stderr_and_unlink_still_removes_the_queue()
 {
    // Like `mq-recv --unlink /q | true`: the first line meets a broken pipe. Other programs end
    // quietly there (nothing is lost); a message taken from a queue would be.
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    assert_quiet_success(&send(&[q.as_str(), "a", "b"]));
    let mut receiver = Running::spawn_with_stdout(
        &mut recv_cmd(&["--unlink", "-n", q.as_str()]),
        pipe_without_reader(),
    );
    let status = receiver.finish();
    assert_eq!(
        (shell_status(status), receiver.err.as_str()),
        (
            1,
            saved_on_stderr(q.as_str(), "a", "Broken pipe (EPIPE)").as_str()
        )
    );
    assert!(!q.exists(), "--unlink removed it on the way out");
}

#[test]
fn verbose_shows_priority_and_size_before_each_body() {
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    assert_quiet_success(&send(&["-p", "3", q.as_str(), "x"]));
    assert_quiet_success(&send(&[q.as_str(), ""]));
    assert_quiet_success(&send(&["-p", "7", q.as_str(), "hello"]));
    let out = recv(&["--verbose", "--count", "3", q.as_str()]);
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (
            0,
            "priority 7, 5 bytes: hello\npriority 3, 1 byte: x\npriority 0, 0 bytes: \n",
            ""
        )
    );
}

#[test]
fn count_stops_after_n_messages_and_leaves_the_rest() {
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    assert_quiet_success(&send(&[q.as_str(), "m1", "m2", "m3", "m4", "m5"]));
    let out = recv(&["--count", "2", q.as_str()]);
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (0, "m1\nm2\n", "")
    );
    assert_eq!(q.attributes().current_messages, 3);
    for bad in ["0", "-1", "many"] {
        let out = recv(&["--count", bad, q.as_str()]);
        assert_eq!(code(&out), 2, "--count {bad}: {}", out.stderr);
    }
    assert_eq!(q.attributes().current_messages, 3);
}

#[test]
fn nonblock_on_an_empty_queue_fails_with_eagain() {
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    let name = q.as_str();
    let out = recv(&["-n", name]);
    assert_eq!(code(&out), 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "error: queue {name} is empty: -n/--nonblock does not wait (EAGAIN)\n\
             hint: send something first (mq-send QUEUE MESSAGE), or drop -n to wait for it\n"
        )
    );
    // What is there is printed first; the error counts it.
    assert_quiet_success(&send(&[name, "only"]));
    let out = recv(&["--nonblock", name]);
    assert_eq!((code(&out), out.stdout.as_str()), (1, "only\n"));
    assert!(
        out.stderr.starts_with(&format!(
            "error: queue {name} is empty after 1 message: -n/--nonblock does not wait (EAGAIN)\n"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn timeout_on_an_empty_queue_fails_with_etimedout() {
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    let out = recv(&["--timeout", "0.3", q.as_str()]);
    assert_eq!(code(&out), 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: no message arrived within 0.3 s (ETIMEDOUT)\n\
         hint: is a sender running? Raise --timeout, or drop it to wait as long as it takes\n"
    );
    // The time is for each message: two waiting, then the wait runs out.
    assert_quiet_success(&send(&[q.as_str(), "a", "b"]));
    let out = recv(&["--timeout", "0.3", q.as_str()]);
    assert_eq!((code(&out), out.stdout.as_str()), (1, "a\nb\n"));
    assert!(
        out.stderr
            .starts_with("error: no message arrived within 0.3 s after 2 messages (ETIMEDOUT)\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn attr_prints_each_queues_attributes_and_the_system_limits() {
    let q = QueueGuard::new();
    let other = QueueGuard::new();
    make_queue(&q, 3, 16);
    make_queue(&other, 2, 8);
    assert_quiet_success(&send(&[q.as_str(), "a", "b"]));
    let out = recv(&["--attr", q.as_str(), other.as_str()]);
    let l = Limits::read().unwrap();
    let expected = format!(
        "queue {}\n\
         \x20 mq_maxmsg        3        the most messages it holds\n\
         \x20 mq_msgsize       16       the largest message, in bytes\n\
         \x20 mq_curmsgs       2        messages waiting now\n\
         queue {}\n\
         \x20 mq_maxmsg        2        the most messages it holds\n\
         \x20 mq_msgsize       8        the largest message, in bytes\n\
         \x20 mq_curmsgs       0        messages waiting now\n\
         system limits (/proc/sys/fs/mqueue)\n\
         \x20 msg_max          {:<8} the largest mq_maxmsg without privilege\n\
         \x20 msgsize_max      {:<8} the largest mq_msgsize without privilege\n\
         \x20 msg_default      {:<8} mq_maxmsg of a queue made without attributes\n\
         \x20 msgsize_default  {:<8} mq_msgsize of a queue made without attributes\n\
         \x20 queues_max       {:<8} queues on the whole system\n",
        q.as_str(),
        other.as_str(),
        l.msg_max,
        l.msgsize_max,
        l.msg_default,
        l.msgsize_default,
        l.queues_max
    );
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (0, expected.as_str(), "")
    );
    assert_eq!(q.attributes().current_messages, 2, "--attr takes nothing");

    // A missing queue is an error, and --attr creates nothing.
    let missing = QueueGuard::new();
    let out = recv(&["--attr", missing.as_str()]);
    assert_failure(
        &out,
        &format!(
            "error: cannot open queue {}: No such file or directory (ENOENT)\nhint: ",
            missing.as_str()
        ),
    );
    assert_eq!(out.stdout, "");
    assert!(!missing.exists());

    for with in ["--unlink", "--count=1", "-n", "--hold", "--mine", "-v"] {
        let out = recv(&["--attr", with, q.as_str()]);
        assert_eq!(code(&out), 2, "--attr {with}: {}", out.stderr);
    }
    assert!(q.exists());
}

#[test]

fn attr_on_a_missing_queue_hints_only_at_what_mq_recv_can_do() {
    let missing = QueueGuard::new();
    let out = recv(&["--attr", missing.as_str()]);
    assert_eq!(code(&out), 1);
    let hint = out
        .stderr
        .lines()
        .find(|l| l.starts_with("hint: "))
        .expect("a hint");
    assert!(!hint.contains("--create"), "{hint}");
    let create = recv(&["--create", missing.as_str()]);
    assert_eq!(code(&create), 2, "mq-recv has no --create");
    assert!(!missing.exists());
}

#[test]
fn several_queues_at_once_label_each_line_with_its_queue() {
    let q1 = QueueGuard::new();
    let q2 = QueueGuard::new();
    make_queue(&q1, 10, 64);
    make_queue(&q2, 10, 64);
    let (n1, n2) = (q1.as_str(), q2.as_str());
    assert_quiet_success(&send(&[n1, "a1", "a2"]));
    assert_quiet_success(&send(&["-p", "4", n2, "b1"]));
    let out = recv(&["--count", "3", n1, n2]);
    assert_eq!((code(&out), out.stderr.as_str()), (0, ""));
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    // Within a queue its own order holds.
    let from_q1: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with(&format!("{n1}: ")))
        .collect();
    assert_eq!(from_q1, [format!("{n1}: a1"), format!("{n1}: a2")]);
    // Across queues the order is not promised: compare sorted.
    lines.sort();
    let mut expected = vec![
        format!("{n1}: a1"),
        format!("{n1}: a2"),
        format!("{n2}: b1"),
    ];
    expected.sort();
    assert_eq!(lines, expected);

    // With -v the label comes first; -n on all empty names them all.
    assert_quiet_success(&send(&[n2, "z"]));
    let out = recv(&["-v", "-n", n1, n2]);
    assert_eq!(code(&out), 1);
    assert_eq!(out.stdout, format!("{n2}: priority 0, 1 byte: z\n"));
    assert!(
        out.stderr.starts_with(&format!(
            "error: queues {n1}, {n2} are all empty after 1 message: -n/--nonblock does not wait (EAGAIN)\n"
        )),
        "{}",
        out.stderr
    );

    let out = recv(&["-n", n1, n1]);
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (
            2,
            "",
            format!("error: queue {n1} is named twice\n").as_str()
        )
    );
}

#[test]

fn the_same_queue_with_and_without_its_slash_is_named_twice() {
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    let name = q.as_str();
    // -n: should the check be missed, the run still ends.
    let out = recv(&["-n", "--unlink", name, &name[1..]]);
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (
            2,
            "",
            format!("error: queue {name} is named twice\n").as_str()
        )
    );
    assert!(q.exists(), "a usage error removes nothing");
}

#[test]
fn hold_receives_nothing_until_a_newline_then_takes_the_highest_priority_first() {
    let q = QueueGuard::new();
    let name = q.as_str();
    let mut receiver = Running::spawn(&mut recv_cmd(&[
        "--hold",
        "--count",
        "3",
        "-v",
        "--msgsize",
        "64",
        name,
    ]));
    receiver.wait_stderr("holding: press Enter to start receiving");
    for (p, body) in [("1", "low"), ("9", "high"), ("5", "mid")] {
        assert_quiet_success(&send(&["-p", p, name, body]));
    }
    assert_eq!(q.attributes().current_messages, 3, "all three wait");
    assert_eq!(
        receiver.stdout_lines_within(Duration::from_millis(200)),
        0,
        "nothing received while holding"
    );
    assert!(
        receiver.child.try_wait().unwrap().is_none(),
        "still holding"
    );
    receiver.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    receiver.wait_stderr("receiving: 3 waiting");
    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(
        receiver.out,
        "priority 9, 4 bytes: high\npriority 5, 3 bytes: mid\npriority 1, 3 bytes: low\n"
    );
}

#[test]
fn usage_errors_of_mq_recv() {
    let q = QueueGuard::new();
    let cases: &[&[&str]] = &[
        &[],
        &["--count", "0", "/x"],
        &["-n", "--timeout", "1", "/x"],
        &["--timeout", "0", "/x"],
        &["--listen", "70000", "/x"],
        &["--listen", "nowhere", "/x"],
        &["--show-wire", "/x"],
        &["--show-wire", "--mine"],
        &["--attr", "--show-wire", "--listen", "7000", "/x"],
        &["--maxmsg", "0", "/x"],
        &["--perms", "800", "/x"],
        &["--bogus"],
    ];
    for args in cases {
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "/x" { q.as_str() } else { a })
            .collect();
        assert_usage(&recv(&args), &format!("{args:?}"));
    }
    assert_eq!(
        recv(&[]).stderr,
        "error: name a queue to receive from (mq-recv /lab), or use --mine or --listen PORT\n"
    );
    let out = recv(&["--show-wire", q.as_str()]);
    assert!(
        out.stderr
            .starts_with("error: the following required arguments were not provided:\n  --listen"),
        "--show-wire names what it needs: {}",
        out.stderr
    );
    assert!(!q.exists(), "a usage error creates nothing");
}

// ---------------------------------------------------------------------------------------------
// Errors

// ---------------------------------------------------------------------------------------------
// Endless and very long input: refused at its bound

/// The two lines a line past the queue's message size gives (`created`: by this run).
fn too_long_for(name: &str, line: u32, size: usize, created: bool) -> String {
    let hint = if created {
        format!(
            "queue {name} takes messages of up to {size} bytes (mq_msgsize): send less, or make the queue with a bigger --msgsize"
        )
    } else {
        format!(
            "queue {name} exists with messages of up to {size} bytes (mq_msgsize), fixed when it was made (--msgsize sizes a new queue only): send less, or remove it (`mq-recv -n --unlink {name}`) and make it again with a bigger --msgsize"
        )
    };
    format!(
        "error: line {line} of standard input (a message) is longer than {size} bytes, the most queue {name} takes (mq_msgsize)\nhint: {hint}\n"
    )
}

/// `mq-send QUEUE < /dev/zero` once read on for ever (one line with no end). A line is at most
/// the queue's message size: past it, a usage error, and a queue this run made goes again.
#[test]
fn mq_send_from_dev_zero_is_refused_at_the_queues_message_size() {
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    let name = q.as_str();
    let out = output_of_dev_zero(&mut send_cmd(&[name]));
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (2, "", too_long_for(name, 1, 64, false).as_str())
    );
    assert_eq!(q.attributes().current_messages, 0, "nothing was sent");

    let made = QueueGuard::new();
    let name = made.as_str();
    let out = output_of_dev_zero(&mut send_cmd(&["-c", "--msgsize", "128", name]));
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (
            2,
            "",
            format!(
                "mq-send: created queue {name} (10 messages of up to 128 bytes, mode 0600)\n\
                 mq-send: removed queue {name}, which this run made and sent nothing to\n{}",
                too_long_for(name, 1, 128, true)
            )
            .as_str()
        )
    );
    assert!(!made.exists(), "the queue this run made is gone");
}

/// One line of 16 MB once took seconds (the line's end was searched for from its start after
/// every chunk) and was then refused by mq_send. It is refused as soon as it passes the queue's
/// message size; the lines before it are sent, those after it are not read.
#[test]
fn mq_send_refuses_a_16_mb_line_at_the_queues_message_size() {
    let q = QueueGuard::new();
    make_queue(&q, 10, 8192);
    let name = q.as_str();
    let mut input = b"first\n".to_vec();
    input.resize(input.len() + (16 << 20), b'x');
    input.extend_from_slice(b"\nlast\n");
    let out = output_of(&mut send_cmd(&[name]), &input);
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (2, "", too_long_for(name, 2, 8192, false).as_str())
    );
    assert_eq!(drain_verbose(&q), [verbose_line(0, "first")]);
}

/// `mq-recv --hold < /dev/zero` once waited on for ever for the end of the line that stands for
/// Enter. That line is at most 4096 bytes: past it, a usage error; nothing is received, and with
/// --unlink the queue this run made goes.
#[test]
fn mq_recv_hold_from_dev_zero_is_refused_at_4096_bytes() {
    let hold = "mq-recv: holding: press Enter to start receiving (messages wait in the mailbox meanwhile)\n";
    let refused = "error: line 1 of standard input (Enter, to start receiving) is longer than 4096 bytes, more than a key press needs\n\
                   hint: press Enter to start receiving; from a file or a pipe, give a short first line, or none (the end of input starts it too)\n";
    let q = QueueGuard::new();
    make_queue(&q, 10, 64);
    let name = q.as_str();
    let out = send(&[name, "waiting"]);
    assert_eq!(code(&out), 0, "{}", out.stderr);
    let out = output_of_dev_zero(&mut recv_cmd(&["--hold", name]));
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (2, "", format!("{hold}{refused}").as_str())
    );
    assert_eq!(drain_verbose(&q), [verbose_line(0, "waiting")], "untaken");

    let made = QueueGuard::new();
    let name = made.as_str();
    let out = output_of_dev_zero(&mut recv_cmd(&[
        "--hold",
        "--unlink",
        "--msgsize",
        "64",
        name,
    ]));
    assert_eq!(code(&out), 2, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_ends_with(&out.stderr, &format!("{hold}{refused}"), "stderr");
    assert!(!made.exists(), "--unlink: the queue this run made is gone");
}

#[test]
fn a_message_longer_than_msgsize_is_emsgsize_with_a_hint() {
    let q = QueueGuard::new();
    make_queue(&q, 10, 8);
    let name = q.as_str();
    let out = send(&[name, "12345678", "toolongmessage", "never"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        out.stderr,
        format!(
            "error: message 2 of 3: cannot send a 14-byte message to queue {name}: Message too long (EMSGSIZE)\n\
             hint: queue {name} exists with messages of up to 8 bytes (mq_msgsize), fixed when it was made (--msgsize sizes a new queue only): send less, or remove it (`mq-recv -n --unlink {name}`) and make it again with a bigger --msgsize\n"
        )
    );
    assert_eq!(
        drain_verbose(&q),
        [verbose_line(0, "12345678")],
        "the one before went in"
    );
    let out = send(&[name, "123456789"]);
    assert_failure(
        &out,
        &format!(
            "error: cannot send a 9-byte message to queue {name}: Message too long (EMSGSIZE)\n"
        ),
    );
}

#[test]
fn invalid_queue_names_are_usage_errors_for_both_binaries() {
    let long = "x".repeat(256);
    let slashed_long = format!("/{long}");
    for (name, why) in [
        ("", "it is empty"),
        ("/", "it is empty"),
        ("/a/b", "only the leading / may be a slash"),
        ("a/b", "only the leading / may be a slash"),
        (long.as_str(), "it is 256 bytes long"),
        (slashed_long.as_str(), "it is 256 bytes long"),
    ] {
        for out in [
            send(&[name, "x"]),
            recv(&["-n", name]),
            recv(&["--attr", name]),
        ] {
            assert_eq!(code(&out), 2, "{name:?}: {}", out.stderr);
            assert_eq!(out.stdout, "");
            assert!(
                out.stderr
                    .starts_with(&format!("error: {name:?} is not a queue name: {why}")),
                "{name:?}: {}",
                out.stderr
            );
        }
    }
    // 255 characters after the slash is the longest name, and it works.
    let q = QueueGuard {
        name: {
            let base = unique_queue();
            format!("{base}{}", "y".repeat(256 - base.len()))
        },
    };
    assert_eq!(q.as_str().len(), 256);
    let out = send(&["-c", "--msgsize", "8", q.as_str(), "ok"]);
    assert_eq!(code(&out), 0, "{}", out.stderr);
    assert_eq!(drain_verbose(&q), [verbose_line(0, "ok")]);
}

#[test]
fn another_user_is_refused_at_0600_with_eacces() {
    skip_unless_nobody!();
    // Made by root, owner-only, once by each binary.
    let by_send = QueueGuard::new();
    assert_eq!(
        code(&send(&["-c", "--msgsize", "64", by_send.as_str(), "mine"])),
        0
    );
    let by_recv = QueueGuard::new();
    let _receiver = spawn_blocked(
        &mut recv_cmd(&["--msgsize", "64", by_recv.as_str()]),
        "created queue",
    );
    for q in [&by_send, &by_recv] {
        let name = q.as_str();
        assert_eq!(format!("{:o}", q.mode()), "600");
        let out = output_of(as_nobody("mq-send").args([name, "intruder"]), b"");
        assert_eq!(code(&out), 1, "{}", out.stderr);
        // Who made it is told where the mqueue file system shows it (nobody may not open it);
        // either way, a name of nobody's own is suggested.
        let hint = if mqueue_listed() {
            another_users_hint(name, "nobody", 0, 0o600)
        } else {
            unseen_owner_hint(name, "nobody")
        };
        assert_eq!(
            out.stderr,
            format!("error: cannot open queue {name}: Permission denied (EACCES)\nhint: {hint}\n")
        );
        let out = output_of(as_nobody("mq-recv").args(["-n", name]), b"");
        assert_eq!(code(&out), 1, "{}", out.stderr);
        assert!(
            out.stderr.contains("Permission denied (EACCES)"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(drain_verbose(&by_send), [verbose_line(0, "mine")]);
}

/// The hint for a queue name that user `uid` holds with `mode`, as `login` is told it.
fn another_users_hint(name: &str, login: &str, uid: u32, mode: u32) -> String {
    format!(
        "another user has {name}: pick another name, such as {name}-{login} (owner uid {uid}, mode {mode:04o})"
    )
}

/// The hint for a queue that `login` may not open, where its owner cannot be seen (the mqueue
/// file system is mounted nowhere).
fn unseen_owner_hint(name: &str, login: &str) -> String {
    format!(
        "queue {name} exists, but its permissions keep you out: if another user has {name}, pick another name, such as {name}-{login}; else it is yours, with a mode that denies you too (where the mqueue file system is mounted, `ls -l /dev/mqueue` shows each queue's owner and mode)"
    )
}

#[test]
fn a_name_another_user_holds_is_met_with_a_name_of_ones_own() {
    let mount = TempDir::new("mqueue");
    let Some(_) = as_nobody_seeing_queues("mq-send", &mount) else {
        eprintln!(
            "skipped: needs root, setpriv and unshare to act as nobody with the queues' owners shown"
        );
        return;
    };
    let nobody = |name: &str, args: &[&str]| {
        let mut c = as_nobody_seeing_queues(name, &mount).expect("possible once");
        // The login name comes from the password database, not from $USER, which setpriv and
        // su leave as it was.
        c.env("USER", "root").args(args);
        output_of(&mut c, b"")
    };
    // Root's queue, owner-only: nobody may neither send, nor receive, nor read its attributes.
    let q = QueueGuard::new();
    let name = q.as_str();
    let out = send(&["-c", "--msgsize", "64", name, "mine"]);
    assert_eq!(code(&out), 0, "{}", out.stderr);
    let refused = format!(
        "error: cannot open queue {name}: Permission denied (EACCES)\nhint: {}\n",
        another_users_hint(name, "nobody", 0, 0o600)
    );
    for (binary, args) in [
        ("mq-send", &[name, "intruder"][..]),
        ("mq-recv", &["-n", name][..]),
        ("mq-recv", &["--attr", name][..]),
    ] {
        let out = nobody(binary, args);
        assert_eq!(
            (code(&out), out.stdout.as_str(), out.stderr.as_str()),
            (1, "", refused.as_str()),
            "{binary} {args:?}"
        );
    }
    assert_eq!(drain_verbose(&q), [verbose_line(0, "mine")]);

    // A name nobody holds, open to everyone: made exclusively by root, it is refused with a name
    // of root's own, and nobody's queue is left as it was.
    let theirs = QueueGuard::new();
    let name = theirs.as_str();
    let out = nobody("mq-send", &["-c", "--perms", "666", name, "theirs"]);
    assert_eq!(code(&out), 0, "{}", out.stderr);
    let out = send(&["-c", "--exclusive", name, "mine"]);
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .expect("a passwd entry for the test's user")
        .name;
    assert_eq!(
        (code(&out), out.stderr.clone()),
        (
            1,
            format!(
                "error: cannot create queue {name}: File exists (EEXIST)\nhint: {}\n",
                another_users_hint(name, &me, 65534, 0o666)
            )
        )
    );
    assert_eq!(theirs.attributes().current_messages, 1, "nothing sent");

    // A name the program made (a process's own mailbox) is not the user's to change: no other
    // name is suggested.
    let mut sleeper = Command::new("sleep").arg("60").spawn().expect("sleep");
    let pid = sleeper.id();
    let mailbox = QueueGuard::for_pid(pid);
    let out = send(&["-c", "--msgsize", "64", mailbox.as_str(), "made"]);
    assert_eq!(code(&out), 0, "{}", out.stderr);
    let out = nobody("mq-send", &["--to", &pid.to_string(), "x"]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(
        (code(&out), out.stderr),
        (
            1,
            format!(
                "error: cannot open queue {0}: Permission denied (EACCES)\nhint: queue {0} belongs to another user (uid 0, mode 0600), and its permissions keep you out (600 is owner-only; the creator chooses with --perms)\n",
                mailbox.as_str()
            )
        )
    );
}

#[test]
fn another_user_may_send_to_a_queue_made_with_perms_622() {
    skip_unless_nobody!();
    // umask 0: the mode is exactly --perms (see perms_are_the_mode_whatever_the_umask).
    let q = QueueGuard::new();
    let name = q.as_str();
    let out = output_of(
        with_umask(0, "mq-send").args(["-c", "--perms", "622", "--msgsize", "64", name, "root"]),
        b"",
    );
    assert_eq!(code(&out), 0, "{}", out.stderr);
    assert_eq!(format!("{:o}", q.mode()), "622");
    // Sent, with a word: root's queue lets every user put messages in it.
    let out = output_of(as_nobody("mq-send").args([name, "from nobody"]), b"");
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (
            0,
            "",
            format!(
                "warning: queue {name} belongs to uid 0, not to you (uid 65534), and its mode 0622 lets its group and every other user write it: anyone can put messages in it\n"
            )
            .as_str()
        )
    );
    // Write only: nobody may not receive.
    let out = output_of(as_nobody("mq-recv").args(["-n", name]), b"");
    assert_eq!(code(&out), 1);
    assert!(out.stderr.contains("(EACCES)"), "{}", out.stderr);
    assert_eq!(
        drain_verbose(&q),
        [verbose_line(0, "root"), verbose_line(0, "from nobody")]
    );
}

#[test]

fn perms_are_the_mode_whatever_the_umask() {
    for binary in ["mq-send", "mq-recv"] {
        let q = QueueGuard::new();
        let name = q.as_str();
        let mut c = with_umask(0o022, binary);
        if binary == "mq-send" {
            c.args(["-c", "--perms", "666", "--msgsize", "64", name, "root"]);
        } else {
            c.args(["-n", "--perms", "666", "--msgsize", "64", name]);
        }
        let out = output_of(&mut c, b"");
        assert!(out.stderr.contains("mode 0666"), "{binary}: {}", out.stderr);
        assert!(q.exists(), "{binary}: {}", out.stderr);
        assert_eq!(
            format!("{:o}", q.mode()),
            "666",
            "{binary}: the mode it said it made"
        );
        if can_drop_to_nobody() {
            let out = output_of(as_nobody("mq-send").args([name, "from nobody"]), b"");
            assert_eq!(code(&out), 0, "{binary}: {}", out.stderr);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Priority order

#[test]
fn highest_priority_first_and_fifo_within_a_priority() {
    let q = QueueGuard::new();
    let name = q.as_str();
    let sends = [
        (1, "a1"),
        (5, "c5"),
        (1, "a2"),
        (3, "b3"),
        (5, "c6"),
        (0, "z0"),
        (32767, "top"),
        (1, "a3"),
        (0, "z1"),
    ];
    // The first send makes the queue; then one mq-send per message, each with its priority.
    let out = send(&["-c", "--msgsize", "16", "-p", "1", name, "a1"]);
    assert_eq!(code(&out), 0, "{}", out.stderr);
    for (p, body) in &sends[1..] {
        assert_quiet_success(&send(&["-p", &p.to_string(), name, body]));
    }
    let out = recv(&["-v", "--count", "9", name]);
    assert_eq!(code(&out), 0, "{}", out.stderr);
    let expected: String = [
        (32767, "top"),
        (5, "c5"),
        (5, "c6"),
        (3, "b3"),
        (1, "a1"),
        (1, "a2"),
        (1, "a3"),
        (0, "z0"),
        (0, "z1"),
    ]
    .iter()
    .map(|(p, b)| verbose_line(*p, b) + "\n")
    .collect();
    assert_eq!(out.stdout, expected);
}

// ---------------------------------------------------------------------------------------------
// Load

#[test]
fn load_four_senders_three_receivers_every_message_exactly_once() {
    const SENDERS: usize = 4;
    const EACH: usize = 2000;
    const TOTAL: usize = SENDERS * EACH;
    let q = QueueGuard::new();
    let name = q.as_str();
    let started = Instant::now();
    let mut receivers = vec![Running::spawn(&mut recv_cmd(&[
        "--maxmsg",
        "10",
        "--msgsize",
        "64",
        name,
    ]))];
    receivers[0].wait_stderr("created queue");
    let a = q.attributes();
    assert_eq!((a.max_messages, a.message_size), (10, 64));
    for _ in 1..3 {
        receivers.push(Running::spawn(&mut recv_cmd(&[name])));
    }
    let mut senders: Vec<Running> = (1..=SENDERS)
        .map(|s| {
            let mut run = Running::spawn(&mut send_cmd(&[name]));
            let input: String = (0..EACH).map(|n| format!("s{s}-{n:05}\n")).collect();
            // 18 KB: fits in the pipe, so this does not wait for the sender.
            let mut stdin = run.stdin.take().unwrap();
            stdin.write_all(input.as_bytes()).unwrap();
            drop(stdin);
            run
        })
        .collect();

    // Read from all three until every message has come out (or the time runs out).
    let limit = Duration::from_secs(50);
    let mut seen = 0;
    while seen < TOTAL {
        assert!(
            started.elapsed() < limit,
            "only {seen} of {TOTAL} messages received in {limit:?}"
        );
        for r in &mut receivers {
            seen += r.stdout_lines_within(Duration::from_millis(5));
        }
    }
    for (i, s) in senders.iter_mut().enumerate() {
        assert_eq!(shell_status(s.finish()), 0, "sender {}: {}", i + 1, s.err);
        assert_eq!((s.out.as_str(), s.err.as_str()), ("", ""));
    }
    // Every message is out: end the receivers (a blocked receiver ends by SIGTERM).
    for r in &mut receivers {
        r.signal(15);
    }
    let mut all: Vec<String> = Vec::with_capacity(TOTAL);
    let mut shares = Vec::new();
    for (i, r) in receivers.iter_mut().enumerate() {
        assert_eq!(
            shell_status(r.finish()),
            143,
            "receiver {}: {}",
            i + 1,
            r.err
        );
        let lines: Vec<String> = r.out.lines().map(str::to_string).collect();
        // Each receiver sees each sender's messages in the order they were sent.
        for s in 1..=SENDERS {
            let prefix = format!("s{s}-");
            let mine: Vec<&String> = lines.iter().filter(|l| l.starts_with(&prefix)).collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "receiver {} got sender {s}'s messages out of order",
                i + 1
            );
        }
        shares.push(lines.len());
        all.extend(lines);
    }
    assert_eq!(all.len(), TOTAL, "no message twice, none extra");
    all.sort();
    let mut expected: Vec<String> = (1..=SENDERS)
        .flat_map(|s| (0..EACH).map(move |n| format!("s{s}-{n:05}")))
        .collect();
    expected.sort();
    assert!(all == expected, "the 8000 messages, each exactly once");
    assert_eq!(q.attributes().current_messages, 0);
    eprintln!(
        "load: {TOTAL} messages in {:?}, received {shares:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Termination signals

#[test]
fn a_blocked_receiver_with_unlink_ends_by_the_signal_at_once_and_removes_its_queue() {
    for (sig, sig_name, status) in [(2, "SIGINT", 130), (15, "SIGTERM", 143), (1, "SIGHUP", 129)] {
        let q = QueueGuard::new();
        let name = q.as_str();
        let mut receiver = spawn_blocked(
            &mut recv_cmd(&["--unlink", "--msgsize", "64", name]),
            "created queue",
        );
        assert!(q.exists());
        let sent = Instant::now();
        receiver.signal(sig);
        let st = receiver.finish();
        let took = sent.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "{sig_name}: ended in {took:?}"
        );
        assert_eq!(shell_status(st), status, "{sig_name}");
        assert_eq!(
            st.signal(),
            Some(sig),
            "{sig_name}: ended by the signal itself"
        );
        assert_eq!(receiver.out, "");
        assert_ends_with(
            &receiver.err,
            &format!("mq-recv: interrupted by {sig_name}: removed {name}\n"),
            sig_name,
        );
        assert!(!q.exists(), "{sig_name}: queue removed");
    }
}

#[test]
fn a_blocked_receiver_without_unlink_leaves_the_queue() {
    let q = QueueGuard::new();
    let name = q.as_str();
    let mut receiver = spawn_blocked(&mut recv_cmd(&["--msgsize", "64", name]), "created queue");
    receiver.signal(15);
    let st = receiver.finish();
    assert_eq!(shell_status(st), 143);
    assert_eq!(
        receiver.err,
        format!(
            "mq-recv: created queue {name} (10 messages of up to 64 bytes, mode 0600)\n\
             mq-recv: interrupted by SIGTERM\n"
        )
    );
    assert!(q.exists(), "not asked to remove it");
    // And it still works: what is sent now waits for the next receiver.
    assert_quiet_success(&send(&[name, "later"]));
    assert_eq!(drain_verbose(&q), [verbose_line(0, "later")]);
}

#[test]
fn a_blocked_sender_ends_by_sigterm_and_the_messages_stay() {
    let q = QueueGuard::new();
    make_queue(&q, 2, 64);
    let name = q.as_str();
    assert_quiet_success(&send(&[name, "a"]));
    // "c" fills the queue, "d" waits for room.
    let mut sender = spawn_blocked(&mut send_cmd(&["--explain", name, "c", "d"]), "[step 2]");
    eventually("c to go in", || q.attributes().current_messages == 2);
    sender.signal(15);
    let st = sender.finish();
    assert_eq!(shell_status(st), 143, "{}", sender.err);
    assert_eq!(st.signal(), Some(15));
    assert!(
        sender.err.contains(&format!(
            "mq-send: interrupted by SIGTERM while waiting for room in {name}: 1 sent; message 2 of 2 was not\n"
        )),
        "{}",
        sender.err
    );
    assert!(
        q.exists(),
        "the sender never removes a queue it did not make"
    );
    assert_eq!(
        drain_verbose(&q),
        [verbose_line(0, "a"), verbose_line(0, "c")]
    );
}

#[test]
fn mine_interrupted_removes_its_own_mailbox() {
    let mut receiver = Running::spawn(&mut recv_cmd(&["--mine", "--msgsize", "64"]));
    let mailbox = QueueGuard::for_pid(receiver.pid() as u32);
    receiver.wait_stderr("my PID is");
    let pid = receiver.pid();
    eventually("the receiver to block in poll", || blocked_in_poll(pid));
    assert!(mailbox.exists());
    receiver.signal(2);
    assert_eq!(shell_status(receiver.finish()), 130);
    assert_ends_with(
        &receiver.err,
        &format!("mq-recv: interrupted by SIGINT: removed /ipc-lab-pid-{pid}\n"),
        "stderr",
    );
    assert!(!mailbox.exists());
}

/// A sender whose PID is known before it sends: `sh` waits for a line (the receiver's PID), then
/// becomes `mq-send --to PID MESSAGE` with `exec`, keeping its PID.
fn sender_waiting_for_a_pid(message: &str) -> Running {
    let mut c = Command::new("sh");
    c.args(["-c", "read p2 && exec \"$0\" --to \"$p2\" \"$1\""])
        .arg(bin("mq-send"))
        .arg(message);
    Running::spawn(&mut c)
}

#[test]
fn from_pid_takes_only_that_process_and_others_wait_in_the_general_mailbox() {
    let mut p1 = sender_waiting_for_a_pid("hello-from-p1");
    let p1_pid = p1.pid() as u32;
    let mut receiver = Running::spawn(&mut recv_cmd(&[
        "--mine",
        "--from",
        &p1_pid.to_string(),
        "--count",
        "1",
        "--msgsize",
        "64",
    ]));
    let p2 = receiver.pid() as u32;
    let general = QueueGuard::for_pid(p2);
    let pair = QueueGuard {
        name: format!("/ipc-lab-pid-{p2}-from-{p1_pid}"),
    };
    let line = receiver.wait_stderr("my PID is ");
    assert_eq!(
        line,
        format!(
            "mq-recv: my PID is {p2}; I take only messages from process {p1_pid}: its `mq-send --to {p2} MESSAGE` goes into {}; other senders' messages wait in {}, not taken\n",
            pair.as_str(),
            general.as_str()
        )
    );
    assert!(general.exists() && pair.exists());
    eventually("the receiver to block in poll", || {
        blocked_in_poll(p2 as i32)
    });
    // P3 (this test's mq-send): its message goes into the general mailbox and stays there.
    assert_quiet_success(&send(&["--to", &p2.to_string(), "from-p3"]));
    assert_eq!(general.attributes().current_messages, 1);
    assert_eq!(pair.attributes().current_messages, 0);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        receiver.stdout_lines_within(Duration::ZERO),
        0,
        "P3's is not taken"
    );
    // P1: into the pair mailbox, and received.
    writeln!(p1.stdin.as_mut().unwrap(), "{p2}").unwrap();
    assert_eq!(shell_status(p1.finish()), 0, "{}", p1.err);
    assert_eq!(p1.err, "");
    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(receiver.out, "hello-from-p1\n");
    assert_ends_with(
        &receiver.err,
        &format!(
            "mq-recv: 1 message from other senders waited in {}, not taken (--from {p1_pid} takes only that process's); they go with the mailbox\n",
            general.as_str()
        ),
        "stderr",
    );
    assert!(!general.exists() && !pair.exists(), "both go with it");
}

#[test]
fn from_pid_interrupted_removes_both_mailboxes() {
    for (sig, sig_name, status) in [(2, "SIGINT", 130), (15, "SIGTERM", 143), (1, "SIGHUP", 129)] {
        let mut receiver =
            Running::spawn(&mut recv_cmd(&["--mine", "--from", "1", "--msgsize", "64"]));
        let pid = receiver.pid();
        let general = QueueGuard::for_pid(pid as u32);
        let pair = QueueGuard {
            name: format!("/ipc-lab-pid-{pid}-from-1"),
        };
        receiver.wait_stderr("my PID is");
        eventually("the receiver to block in poll", || blocked_in_poll(pid));
        assert!(general.exists() && pair.exists());
        receiver.signal(sig);
        let st = receiver.finish();
        assert_eq!(shell_status(st), status, "{sig_name}");
        assert_eq!(st.signal(), Some(sig), "{sig_name}");
        assert_ends_with(
            &receiver.err,
            &format!(
                "mq-recv: interrupted by {sig_name}: removed /ipc-lab-pid-{pid}-from-1, /ipc-lab-pid-{pid}\n"
            ),
            sig_name,
        );
        assert!(!general.exists() && !pair.exists(), "{sig_name}");
    }
}

#[test]
fn from_needs_mine_and_a_pid() {
    for bad in [
        &["--from", "5", "--count", "1"][..],
        &["--mine", "--from", "0"],
        &["--mine", "--from", "x"],
        &["--mine", "--from", "-3"],
        &["--mine", "--from", "5", "--listen", "7000"],
        &["--attr", "--from", "5", "/x"],
    ] {
        let out = recv(bad);
        assert_eq!(code(&out), 2, "{bad:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("error: "), "{bad:?}: {}", out.stderr);
        assert_eq!(out.stdout, "");
        assert_no_panic(&out.stderr);
    }
    let out = recv(&["--from", "5", "--count", "1"]);
    assert!(
        out.stderr
            .starts_with("error: the following required arguments were not provided:\n  --mine"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// The network port (loopback)

/// `mq-recv --listen 127.0.0.1:0` with more arguments; its port once it listens.
fn listener(args: &[&str]) -> (Running, u16) {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut run = Running::spawn(&mut recv_cmd(&all));
    let port = run.listening_port();
    (run, port)
}

fn host(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

#[test]
fn network_exchange_with_priorities_held_then_highest_first() {
    let (mut receiver, port) = listener(&["--hold", "--count", "3", "-v", "--msgsize", "64"]);
    // No queue named: the port feeds a mailbox of the receiver's own.
    let mailbox = QueueGuard::for_pid(receiver.pid() as u32);
    assert!(
        receiver
            .err
            .contains(&format!("go into /ipc-lab-pid-{}\n", receiver.pid())),
        "{}",
        receiver.err
    );
    receiver.wait_stderr("holding");
    for (p, body) in [("1", "low"), ("9", "high"), ("5", "mid")] {
        let out = send(&["--host", &host(port), "-p", p, body]);
        assert_quiet_success(&out);
    }
    assert_eq!(mailbox.attributes().current_messages, 3);
    receiver.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(
        receiver.out,
        "priority 9, 4 bytes: high\npriority 5, 3 bytes: mid\npriority 1, 3 bytes: low\n"
    );
    assert!(
        receiver.err.contains("disconnected after 1 message\n"),
        "{}",
        receiver.err
    );
    assert!(!mailbox.exists(), "its own mailbox goes with it");
}

#[test]
fn network_plain_exchange_into_a_named_queue() {
    let q = QueueGuard::new();
    let (mut receiver, port) = listener(&["--count", "3", "--msgsize", "64", q.as_str()]);
    let out = send(&["--host", &host(port), "hello", "world"]);
    assert_quiet_success(&out);
    let out = send_stdin(&["--host", &host(port)], "from stdin\n");
    assert_quiet_success(&out);
    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(receiver.out, "hello\nworld\nfrom stdin\n");
    assert!(
        receiver.err.contains("disconnected after 2 messages\n"),
        "{}",
        receiver.err
    );
    assert!(q.exists(), "a named queue stays, as without --listen");
}

#[test]
fn network_message_too_long_is_emsgsize() {
    let (mut receiver, port) = listener(&["--count", "1", "--msgsize", "8"]);
    let _mailbox = QueueGuard::for_pid(receiver.pid() as u32);
    let h = host(port);
    let out = send(&["--host", &h, "fits", "much too long"]);
    assert_eq!(code(&out), 1);
    assert!(
        out.stderr.contains("cannot send a 13-byte message") && out.stderr.contains("(EMSGSIZE)"),
        "{}",
        out.stderr
    );
    assert_ends_with(
        &out.stderr,
        &format!("hint: the mailbox at {h} takes messages of up to 8 bytes: send less\n"),
        "stderr",
    );
    assert_eq!(shell_status(receiver.finish()), 0);
    assert_eq!(receiver.out, "fits\n", "the one before went in");
}

#[test]
fn host_with_nothing_listening_is_econnrefused_with_a_hint() {
    // A port that was free a moment ago, and closed now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let h = host(port);
    let out = send(&["--host", &h, "hi"]);
    assert_eq!(code(&out), 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "error: cannot connect to {h}: Connection refused (ECONNREFUSED)\n\
             hint: is `mq-recv --listen PORT` running on that host, with that port? (It listens on 127.0.0.1 unless given an address such as 0.0.0.0:PORT)\n"
        )
    );
    // Not HOST:PORT at all: a usage error, before any connection is tried.
    let out = send(&["--host", "no port here", "hi"]);
    assert_eq!(code(&out), 2);
    assert!(
        out.stderr
            .contains("expected HOST:PORT (e.g. lab-pc-2:7000"),
        "{}",
        out.stderr
    );
}

/// A raw connection to an mq-recv port, its greeting checked.
fn raw_peer(port: u16, message_size: u32, capacity: u32) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut greeting = [0u8; 13];
    s.read_exact(&mut greeting).unwrap();
    let mut expected = b"ipcl\x01".to_vec();
    expected.extend_from_slice(&message_size.to_be_bytes());
    expected.extend_from_slice(&capacity.to_be_bytes());
    assert_eq!(greeting.to_vec(), expected, "the greeting");
    s
}

/// Everything the peer gets until the receiver closes the connection (a reset after the data
/// counts as closed; a time-out fails).
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the receiver did not close the connection: {e} (got {got:?})"),
        }
    }
}

#[test]
fn bad_peers_are_refused_or_dropped_and_the_receiver_carries_on() {
    let q = QueueGuard::new();
    let (mut receiver, port) = listener(&["--count", "3", "--msgsize", "64", q.as_str()]);
    let h = host(port);

    // Each bad peer sends its bytes and is answered (a refusal code, then the connection
    // closed) or dropped once it goes; stderr names it, and a good message gets through after.
    for (what, bytes, answer, verb, why, after) in [
        // (a) Not the protocol at all: answered "malformed" (4), then closed.
        (
            "not the protocol",
            &b"GET / HTTP/1.0\r\n\r\n"[..],
            Some([4, 0, 0, 0, 0]),
            "refused",
            "it sent 47 45 54 20 2f 20 48 54 54 50 2f (\"GET / HTTP/\") where a message header starts with \"ipcl\" (is it mq-send --host?)",
            "after garbage",
        ),
        // (b) A header that claims 4294967295 bytes: answered "too big" (2) with the message
        // size.
        (
            "too big",
            &b"ipcl\x00\x00\x00\xff\xff\xff\xff"[..],
            Some([2, 0, 0, 0, 64]),
            "refused",
            "a 4294967295-byte message, but the mailbox takes at most 64 bytes",
            "after oversize",
        ),
        // (c) Half a message, then gone: dropped, and the part never reaches the mailbox.
        (
            "half a message",
            &b"ipcl\x00\x00\x00\x00\x00\x00\x0aabc"[..],
            None,
            "dropped",
            "it closed the connection in the middle of a message (body 3 of 10 bytes): that message is dropped",
            "after partial",
        ),
    ] {
        let mut peer = raw_peer(port, 64, 10);
        let me = peer.local_addr().unwrap();
        peer.write_all(bytes).unwrap();
        match answer {
            Some(answer) => assert_eq!(read_until_closed(&mut peer), answer, "{what}"),
            None => drop(peer),
        }
        let line = receiver.wait_stderr(&format!("{verb} {me}: "));
        assert_eq!(line, format!("mq-recv: {verb} {me}: {why}\n"), "{what}");
        assert_quiet_success(&send(&["--host", &h, after]));
        receiver.wait_stdout(after);
    }

    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(
        receiver.out, "after garbage\nafter oversize\nafter partial\n",
        "only the good messages, nothing of the bad ones"
    );
    assert_no_panic(&receiver.err);
}

/// How long mq-recv lets a connection send nothing (net::IDLE_LIMIT, as its notes say).
const IDLE_LIMIT: Duration = Duration::from_secs(10);

#[test]
fn two_hundred_idle_connections_do_not_lock_a_sender_out() {
    let (mut receiver, port) = listener(&["--count", "1", "--msgsize", "64"]);
    let _mailbox = QueueGuard::for_pid(receiver.pid() as u32);
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    // The receiver has taken all 200 (each beyond 64 in the place of the one idle longest),
    // and this test still holds every one of them open.
    for _ in 0..200 {
        receiver.wait_stderr(" connected\n");
    }
    assert!(
        receiver
            .err
            .contains("64 senders are connected, and it had been idle longest ("),
        "{}",
        receiver.err
    );
    let out = send(&["--host", &host(port), "through"]);
    assert_quiet_success(&out);
    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(receiver.out, "through\n");
    assert_no_panic(&receiver.err);
    drop(idle);
}

#[test]
fn an_idle_connection_is_dropped_with_a_note_and_mq_send_connects_again() {
    let (mut receiver, port) = listener(&["--count", "2", "--msgsize", "64"]);
    let _mailbox = QueueGuard::for_pid(receiver.pid() as u32);
    // Three that go quiet: one that never sends, one that stops halfway through a header, and
    // mq-send reading lines from a person who pauses after the first.
    let mut silent = raw_peer(port, 64, 10);
    let silent_addr = silent.local_addr().unwrap();
    let mut halfway = raw_peer(port, 64, 10);
    let halfway_addr = halfway.local_addr().unwrap();
    halfway.write_all(b"ipcl").unwrap();
    let mut typing = Running::spawn(&mut send_cmd(&["--host", &host(port)]));
    let keyboard = typing.stdin.as_mut().unwrap();
    keyboard.write_all(b"first\n").unwrap();
    keyboard.flush().unwrap();
    receiver.wait_stdout("first");
    // The real bound passes for each; wait for it with room to spare on a busy machine.
    let mut dropped = Vec::new();
    while dropped.len() < 3 {
        dropped.push(receiver.wait_stderr_within("dropped ", IDLE_LIMIT + 3 * PATIENCE));
    }
    let about = |addr: std::net::SocketAddr| {
        dropped
            .iter()
            .find(|l| l.starts_with(&format!("mq-recv: dropped {addr}: ")))
            .cloned()
            .unwrap_or_else(|| panic!("no note on {addr}: {dropped:?}"))
    };
    assert_eq!(
        about(silent_addr),
        format!(
            "mq-recv: dropped {silent_addr}: it sent nothing for 10 s after connecting: an idle connection is closed, to keep room for other senders\n"
        )
    );
    assert_eq!(
        about(halfway_addr),
        format!(
            "mq-recv: dropped {halfway_addr}: it sent nothing for 10 s in the middle of a message (header 4 of 11 bytes): that message is dropped\n"
        )
    );
    assert!(
        dropped.iter().any(|l| l.ends_with(
            ": it sent nothing for 10 s after its last message: an idle connection is closed, to keep room for other senders\n"
        )),
        "{dropped:?}"
    );
    assert_eq!(
        read_until_closed(&mut silent),
        b"",
        "closed, after its greeting"
    );
    assert_eq!(read_until_closed(&mut halfway), b"");
    // The person types again: mq-send finds its connection closed and connects again.
    let keyboard = typing.stdin.as_mut().unwrap();
    keyboard.write_all(b"second\n").unwrap();
    assert_eq!(shell_status(typing.finish()), 0, "{}", typing.err);
    assert_eq!((typing.out.as_str(), typing.err.as_str()), ("", ""));
    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(receiver.out, "first\nsecond\n");
}

/// Lower the soft limit on open descriptors of process `pid` to `soft` (prlimit(1), from
/// util-linux); false when prlimit is not installed.
fn limit_descriptors(pid: i32, soft: usize) -> bool {
    let Ok(status) = Command::new("prlimit")
        .args([format!("--pid={pid}"), format!("--nofile={soft}:")])
        .status()
    else {
        return false;
    };
    assert!(status.success(), "prlimit --pid={pid} --nofile={soft}:");
    true
}

/// The lowest descriptor number process `pid` has free: with its limit set to it, the process
/// can open nothing more.
fn lowest_free_descriptor(pid: i32) -> usize {
    let open: Vec<usize> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|n| !open.contains(n)).unwrap()
}

/// CPU time process `pid` has used (user + system), in clock ticks (/proc/PID/stat).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // After the command's closing parenthesis: utime and stime are the 12th and 13th.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_listener_out_of_descriptors_neither_spins_nor_locks_senders_out() {
    let (mut receiver, port) = listener(&["--count", "1", "--msgsize", "64"]);
    let _mailbox = QueueGuard::for_pid(receiver.pid() as u32);
    let pid = receiver.pid();
    let free = lowest_free_descriptor(pid);
    if !limit_descriptors(pid, free) {
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    }
    // No descriptor for a connection, none to take from an idle sender: accept fails with
    // EMFILE while the connection waits in the kernel's queue, the listener readable.
    let waiting = TcpStream::connect(("127.0.0.1", port)).unwrap();
    receiver.wait_stderr(
        "cannot take a new connection (accept: Too many open files (EMFILE)); it waits, and is tried again in 1 s",
    );
    // Polling that listener would return at once, forever: a waiting receiver uses no CPU.
    let before = cpu_ticks(pid);
    thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    assert!(used < 50, "{used} ticks of CPU in 2 s: it spins");
    // Room for one sender: the waiting connection is taken; then each newcomer gets the
    // descriptor of the one idle longest, and a real sender gets through.
    assert!(limit_descriptors(pid, free + 1));
    receiver.wait_stderr(" connected\n");
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let out = send(&["--host", &host(port), "through"]);
    assert_quiet_success(&out);
    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(receiver.out, "through\n");
    assert!(
        receiver
            .err
            .contains(": accept: Too many open files (EMFILE): it had been idle longest ("),
        "{}",
        receiver.err
    );
    drop((waiting, idle));
}

#[test]
fn show_wire_dumps_each_read_and_the_message_is_in_clear() {
    let q = QueueGuard::new();
    let (mut receiver, port) =
        listener(&["--show-wire", "--count", "2", "--msgsize", "64", q.as_str()]);
    receiver.wait_stderr("--show-wire: every byte");
    let out = send(&[
        "--host",
        &host(port),
        "-p",
        "3",
        "password=hunter2",
        "top secret: 42",
    ]);
    assert_quiet_success(&out);
    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(
        receiver.out, "password=hunter2\ntop secret: 42\n",
        "stdout holds the messages only, as without --show-wire"
    );
    let me = receiver
        .err
        .lines()
        .find_map(|l| l.strip_prefix("mq-recv: ")?.strip_suffix(" connected"))
        .expect("a connected line")
        .to_string();
    let wire: Vec<&str> = receiver
        .err
        .lines()
        .skip_while(|l| !l.ends_with(" connected"))
        .skip(1)
        .take_while(|l| !l.contains("disconnected"))
        .collect();
    // mq-send writes both messages at once; the receiver reads a header, then its body, and
    // shows each read as it arrived: the bodies in clear among the header bytes.
    assert_eq!(
        wire,
        [
            format!("mq-recv: {me} sent 11 bytes:"),
            "mq-recv:   00000000  69 70 63 6c 00 00 03 00  00 00 10                 |ipcl.......|".into(),
            format!("mq-recv: {me} sent 16 bytes:"),
            "mq-recv:   00000000  70 61 73 73 77 6f 72 64  3d 68 75 6e 74 65 72 32  |password=hunter2|".into(),
            format!("mq-recv: {me} sent 11 bytes:"),
            "mq-recv:   00000000  69 70 63 6c 00 00 03 00  00 00 0e                 |ipcl.......|".into(),
            format!("mq-recv: {me} sent 14 bytes:"),
            "mq-recv:   00000000  74 6f 70 20 73 65 63 72  65 74 3a 20 34 32        |top secret: 42|".into(),
        ],
        "{}",
        receiver.err
    );
    // Without --show-wire, none of it.
    let (mut quiet, port) = listener(&["--count", "1", "--msgsize", "64", q.as_str()]);
    assert_quiet_success(&send(&["--host", &host(port), "password=hunter2"]));
    assert_eq!(shell_status(quiet.finish()), 0, "{}", quiet.err);
    assert!(
        !quiet.err.contains("sent") && !quiet.err.contains("hunter2"),
        "{}",
        quiet.err
    );
}

#[test]
fn anyone_who_reaches_the_port_can_put_a_message_in_the_mailbox() {
    use ipc_lab::mq::net::{ANSWER_LEN, Header};
    let q = QueueGuard::new();
    let (mut receiver, port) = listener(&[
        "--show-wire",
        "-v",
        "--count",
        "1",
        "--msgsize",
        "64",
        q.as_str(),
    ]);
    // Not mq-send: a plain TCP connection that writes the protocol's bytes by hand, after
    // skipping the greeting. Nothing asks who it is.
    let mut forger = raw_peer(port, 64, 10);
    let me = forger.local_addr().unwrap();
    let frame = Header::frame(b"forged: pay mallory", 7, false);
    forger.write_all(&frame).unwrap();
    let mut answer = [0u8; ANSWER_LEN];
    forger.read_exact(&mut answer).unwrap();
    assert_eq!(answer, [0, 0, 0, 0, 0], "answered: delivered");
    drop(forger);
    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(
        receiver.out,
        format!("{}\n", verbose_line(7, "forged: pay mallory"))
    );
    assert!(
        receiver
            .err
            .contains(&format!("mq-recv: {me} sent 19 bytes:\n")),
        "{}",
        receiver.err
    );
    assert_no_panic(&receiver.err);
}

/// A port in the test that is not mq-recv: it accepts one connection and does `what` with it;
/// the connection is held open until the returned sender is dropped (or 20 s pass).
fn impostor(
    what: impl FnOnce(&mut TcpStream) + Send + 'static,
) -> (u16, std::sync::mpsc::Sender<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (done_tx, done_rx) = channel::<()>();
    thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            what(&mut s);
            let _ = done_rx.recv_timeout(PATIENCE);
        }
    });
    (port, done_tx)
}

#[test]
fn host_that_is_not_mq_recv_fails_clearly_and_does_not_hang() {
    // Something that speaks another protocol.
    let (port, _hold) = impostor(|s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
    });
    let h = host(port);
    let out = send(&["--host", &h, "hi"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        out.stderr,
        format!(
            "error: {h} is not an mq-recv port: it does not speak the ipc-lab message protocol: its first bytes are 48 54 54 50 (\"HTTP\")\n\
             hint: check the port: `mq-recv --listen` prints it\n"
        )
    );

    // Something that hangs up at once.
    let (port, _hold) = impostor(|s| {
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    let h = host(port);
    let out = send(&["--host", &h, "hi"]);
    assert_failure(
        &out,
        &format!("error: {h} closed the connection after 0 of the 13 bytes of its greeting\n"),
    );

    // Something that says nothing: the sender gives up after the greeting wait (5 s).
    let (port, hold) = impostor(|_| {});
    let h = host(port);
    let out = send(&["--host", &h, "hi"]);
    drop(hold);
    assert_eq!(code(&out), 1);
    assert_eq!(
        out.stderr,
        format!(
            "error: {h} accepted the connection but sent no greeting within 5 s\n\
             hint: is it `mq-recv --listen`? Another program may have that port\n"
        )
    );
}

#[test]

fn the_greeting_timeout_message_names_the_time_waited() {
    let (port, hold) = impostor(|_| {});
    let h = host(port);
    let out = send(&["--timeout", "1", "--host", &h, "hi"]);
    drop(hold);
    assert_failure(
        &out,
        &format!("error: {h} accepted the connection but sent no greeting within 1 s\n"),
    );
}

#[test]
fn nonblocking_over_the_network_is_refused_when_the_mailbox_is_full() {
    let (mut receiver, port) =
        listener(&["--hold", "--maxmsg", "1", "--msgsize", "64", "--count", "1"]);
    let mailbox = QueueGuard::for_pid(receiver.pid() as u32);
    receiver.wait_stderr("holding");
    assert_eq!(mailbox.attributes().max_messages, 1);
    let h = host(port);
    assert_quiet_success(&send(&["-n", "--host", &h, "first"]));
    let out = send(&["-n", "--host", &h, "second"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        out.stderr,
        format!(
            "error: the mailbox at {h} is full (1 message): -n/--nonblock does not wait (EAGAIN); the message was not sent\n\
             hint: wait for the receiver to take some, or drop -n to wait for room\n"
        )
    );
    receiver.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(receiver.out, "first\n");
    assert!(!mailbox.exists());
}

#[test]

fn network_errors_name_the_message_that_was_not_sent() {
    let (mut receiver, port) =
        listener(&["--hold", "--maxmsg", "1", "--msgsize", "64", "--count", "1"]);
    let _mailbox = QueueGuard::for_pid(receiver.pid() as u32);
    receiver.wait_stderr("holding");
    let h = host(port);
    let out = send(&["-n", "--host", &h, "first", "second", "third"]);
    assert_eq!(code(&out), 1);
    let out_stdin = send_stdin(&["-n", "--host", &h], "x\ny\n");
    assert_eq!(code(&out_stdin), 1);
    receiver.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    assert_eq!(shell_status(receiver.finish()), 0, "{}", receiver.err);
    assert_eq!(receiver.out, "first\n", "message 1 went in, 2 did not");
    assert!(
        out.stderr
            .contains("(EAGAIN); message 2 of 3 was not sent\n"),
        "{}",
        out.stderr
    );
    assert!(
        out_stdin
            .stderr
            .contains("(EAGAIN); the message on line 1 was not sent\n"),
        "{}",
        out_stdin.stderr
    );
}

#[test]

fn a_network_message_reported_not_sent_is_not_delivered() {
    // The receiver waits at most 1 s for each message once it starts, so it ends either way.
    let (mut receiver, port) = listener(&[
        "--hold",
        "--maxmsg",
        "1",
        "--msgsize",
        "64",
        "--timeout",
        "1",
    ]);
    let _mailbox = QueueGuard::for_pid(receiver.pid() as u32);
    receiver.wait_stderr("holding");
    let h = host(port);
    let out = send(&["--timeout", "0.3", "--host", &h, "first", "second"]);
    assert_eq!(code(&out), 1);
    assert!(out.stderr.contains("(ETIMEDOUT)"), "{}", out.stderr);
    assert!(out.stderr.contains("was not sent"), "{}", out.stderr);
    receiver.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    assert_eq!(shell_status(receiver.finish()), 1, "{}", receiver.err);
    assert_eq!(
        receiver.out, "first\n",
        "the message the sender gave up on must not arrive"
    );
}

/// A receiver started with `--listen 127.0.0.1:0`, and its port once it listens.
fn started_listener(mut run: Running) -> (Running, u16) {
    let port = run.listening_port();
    (run, port)
}

#[test]
fn a_receiver_that_cannot_print_tells_a_network_sender_its_message_was_not_delivered() {
    let args = ["--listen", "127.0.0.1:0", "--msgsize", "64"];
    let cases = [
        (
            "stdout closed",
            Running::spawn(&mut recv_stdout_closed(&args)),
            "Bad file number (EBADF)",
        ),
        (
            "stdout a pipe with no reader",
            Running::spawn_with_stdout(&mut recv_cmd(&args), pipe_without_reader()),
            "Broken pipe (EPIPE)",
        ),
        (
            "stdout open only for reading (1</dev/null)",
            Running::spawn_with_stdout(
                &mut recv_cmd(&args),
                std::fs::File::open("/dev/null").unwrap().into(),
            ),
            "Bad file number (EBADF)",
        ),
    ];
    for (what, run, why) in cases {
        let (mut receiver, port) = started_listener(run);
        let mailbox = QueueGuard::for_pid(receiver.pid() as u32);
        let h = host(port);
        let out = send(&["--host", &h, "hello"]);
        assert_eq!(
            (code(&out), out.stdout.as_str(), out.stderr.as_str()),
            (
                1,
                "",
                format!(
                    "error: {h} did not deliver the message: the receiver cannot pass messages on (its output fails: {why}), so it did not put it into the mailbox\n\
                     hint: is mq-recv's standard output closed, or a pipe nobody reads? Start it again with its output open\n"
                )
                .as_str()
            ),
            "{what}"
        );
        assert_eq!(
            shell_status(receiver.finish()),
            1,
            "{what}: {}",
            receiver.err
        );
        assert!(
            receiver.err.contains(&format!(
                ": its message cannot be passed on: standard output fails ({why}), so it was not put into the mailbox, and the sender is told it was not delivered\n"
            )),
            "{what}: {}",
            receiver.err
        );
        assert_ends_with(
            &receiver.err,
            &format!(
                "error: cannot write messages to standard output: {why}\n\
                 hint: mq-recv prints each message it takes: run it with its standard output open (a terminal, a file, or a pipe whose reader reads on)\n"
            ),
            what,
        );
        assert!(
            !receiver.err.contains("hello"),
            "never taken: {}",
            receiver.err
        );
        assert!(!mailbox.exists(), "{what}: its own mailbox goes with it");
    }
}

#[test]
fn a_network_message_taken_and_not_printed_goes_to_stderr() {
    // /dev/full takes every poll and fails every write (ENOSPC): nothing tells beforehand, so
    // the message is in the mailbox and the sender told so; once taken, it is saved on stderr.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let (mut receiver, port) = started_listener(Running::spawn_with_stdout(
        &mut recv_cmd(&["--listen", "127.0.0.1:0", "--msgsize", "64"]),
        full.into(),
    ));
    let mailbox = QueueGuard::for_pid(receiver.pid() as u32);
    assert_quiet_success(&send(&["--host", &host(port), "to a full disk"]));
    assert_eq!(shell_status(receiver.finish()), 1, "{}", receiver.err);
    assert!(
        receiver.err.ends_with(&saved_on_stderr(
            mailbox.as_str(),
            "to a full disk",
            "No space left on device (ENOSPC)"
        )),
        "{}",
        receiver.err
    );
    assert!(!mailbox.exists());
}

#[test]
fn help_and_version_name_the_lecture() {
    for name in ["mq-send", "mq-recv"] {
        let out = output_of(cmd(name).arg("--help"), b"");
        let help = out.stdout.as_str();
        assert_eq!(code(&out), 0);
        assert!(help.contains("Lecture notes: B2 Message Passing"), "{help}");
        assert!(help.contains("Examples:"), "{help}");
        for opt in [
            "--explain",
            "--color",
            "--timeout",
            "--nonblock",
            "--maxmsg",
            "--msgsize",
            "--perms",
        ] {
            assert!(help.contains(opt), "{name} --help lacks {opt}");
        }
        let out = output_of(cmd(name).arg("--version"), b"");
        assert_eq!(
            out.stdout,
            format!("{name} {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Names another user can take, queues another user opened to everyone

/// The shell words that run mq-send as the user who squats a name: nobody when this test may
/// act as another user, else this user (the programs then name "you" as the one who made it).
fn squatter_send() -> String {
    let send = bin("mq-send");
    if can_drop_to_nobody() {
        format!(
            "setpriv --reuid=65534 --regid=65534 --clear-groups {}",
            send.display()
        )
    } else {
        send.display().to_string()
    }
}

/// Who made a queue, as the programs say it, for a queue of mode 0666 made by [`squatter_send`].
fn squatter_named() -> String {
    if can_drop_to_nobody() {
        "made by another user (uid 65534, mode 0666)".to_string()
    } else {
        format!("made by you (uid {}, mode 0666)", nix::unistd::geteuid())
    }
}

/// As nobody, make queue `name` with mode `perms` and one message in it.
#[track_caller]
fn nobody_makes(name: &str, perms: &str, message: &str) {
    let out = output_of(
        as_nobody("mq-send").args(["-c", "--perms", perms, name, message]),
        b"",
    );
    assert_eq!(code(&out), 0, "{}", out.stderr);
}

#[test]
fn mine_refuses_a_mailbox_someone_made_before_it_and_names_who() {
    // `sh -c '... ; exec mq-recv --mine'`: the shell's pid is mq-recv's, so the mailbox made
    // first is the very one --mine would make, with a message in it. It is neither adopted, nor
    // read, nor removed.
    for from in [None, Some("1")] {
        let target = match from {
            None => "\"/ipc-lab-pid-$$\"".to_string(),
            Some(p) => format!("\"/ipc-lab-pid-$$-from-{p}\""),
        };
        let mut script = format!(
            "{} -c --perms 666 {target} injected 2>/dev/null && exec \"$0\" --mine -n",
            squatter_send()
        );
        if let Some(p) = from {
            script.push_str(&format!(" --from {p}"));
        }
        let mut c = Command::new("sh");
        c.args(["-c", &script])
            .arg(bin("mq-recv"))
            .env("NO_COLOR", "1");
        let mut run = Running::spawn(&mut c);
        let pid = run.pid() as u32;
        let status = run.finish();
        let squatted = match from {
            None => QueueGuard::for_pid(pid),
            Some(p) => QueueGuard {
                name: QueueName::for_pair(pid, p.parse().unwrap())
                    .as_str()
                    .to_string(),
            },
        };
        let general = QueueGuard::for_pid(pid);
        let name = squatted.as_str();
        assert_eq!(shell_status(status), 1, "{from:?}: {}", run.err);
        assert_eq!(run.out, "", "{from:?}: the squatter's message is not read");
        // With --from, the general mailbox is made (and said so) before the pair mailbox.
        let made_first = match from {
            None => String::new(),
            Some(_) => {
                let limits = Limits::read().expect("/proc/sys/fs/mqueue");
                format!(
                    "mq-recv: created queue {} ({} messages of up to {} bytes, mode 0600)\n",
                    general.as_str(),
                    limits.msg_default,
                    limits.msgsize_default
                )
            }
        };
        assert_eq!(
            run.err,
            format!(
                "{made_first}error: cannot create queue {name}: File exists (EEXIST)\n\
                 hint: {name} is this process's own mailbox, yet it exists already, {}: it is made only where nothing is, so that nobody else reads what is sent to this process. Remove it if it is yours (`mq-recv -n --unlink {name}`), left by a run that was killed\n",
                squatter_named()
            ),
            "{from:?}"
        );
        assert!(squatted.exists(), "{from:?}: not removed: not this run's");
        assert_eq!(squatted.attributes().current_messages, 1, "{from:?}");
        if from.is_some() {
            assert!(
                !general.exists(),
                "the general mailbox this run made is removed"
            );
        }
    }
}

#[test]
fn send_to_a_pid_refuses_a_mailbox_another_user_made_for_it() {
    skip_unless_nobody!();
    // A process of root's, and a mailbox in its name made by nobody, open to all: a trap for
    // what is sent to that process.
    let mut sleeper = Command::new("sleep").arg("60").spawn().expect("sleep");
    let pid = sleeper.id();
    let trap = QueueGuard::for_pid(pid);
    nobody_makes(trap.as_str(), "666", "bait");
    let out = send(&["--to", &pid.to_string(), "secret"]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(code(&out), 1, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "error: refusing to send to {0}: process {pid} runs as uid 0, but the mailbox was made by uid 65534 (mode 0666), so it is not that process's\n",
            trap.as_str()
        )
    );
    assert_eq!(trap.attributes().current_messages, 1, "nothing sent");
}

#[test]
fn a_queue_of_another_user_open_to_everyone_is_used_with_a_warning() {
    skip_unless_nobody!();
    let q = QueueGuard::new();
    let name = q.as_str();
    nobody_makes(name, "666", "from nobody");
    let warning = format!(
        "warning: queue {name} belongs to uid 65534, not to you (uid 0), and its mode 0666 lets its group and every other user read and write it: anyone can take out what is sent to it, and put messages in it\n"
    );
    let out = send(&[name, "from root"]);
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (0, "", warning.as_str())
    );
    let out = recv(&["-n", "--count", "2", name]);
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (0, "from nobody\nfrom root\n", warning.as_str())
    );
    // A queue of one's own is used without a word, whatever its mode.
    let mine = QueueGuard::new();
    let out = send(&["-c", "--perms", "666", mine.as_str(), "x"]);
    assert_eq!(code(&out), 0, "{}", out.stderr);
    let out = send(&[mine.as_str(), "y"]);
    assert_quiet_success(&out);
}

#[test]
fn a_queue_of_ones_own_with_mode_000_is_not_called_another_users() {
    skip_unless_nobody!("root may open any queue; needs setpriv to act as nobody");
    let q = QueueGuard::new();
    let name = q.as_str();
    nobody_makes(name, "000", "made");
    let out = output_of(as_nobody("mq-send").args([name, "again"]), b"");
    assert_eq!(code(&out), 1, "{}", out.stderr);
    let hint = if mqueue_listed() {
        format!(
            "queue {name} is yours, but its mode 0000 keeps you out too: remove it (`mq-recv -n --unlink {name}`) and make it again with --perms 600"
        )
    } else {
        unseen_owner_hint(name, "nobody")
    };
    assert_eq!(
        out.stderr,
        format!("error: cannot open queue {name}: Permission denied (EACCES)\nhint: {hint}\n")
    );
}

#[test]
fn a_queue_that_may_not_be_removed_is_one_error_with_a_hint() {
    skip_unless_nobody!();
    // Root's queue, readable by all: nobody receives from it, and may not remove it.
    let q = QueueGuard::new();
    let name = q.as_str();
    let out = output_of(
        with_umask(0, "mq-send").args(["-c", "--perms", "644", name, "hi"]),
        b"",
    );
    assert_eq!(code(&out), 0, "{}", out.stderr);
    let out = output_of(
        as_nobody("mq-recv").args(["--count", "1", "--unlink", name]),
        b"",
    );
    assert_eq!(
        (code(&out), out.stdout.as_str(), out.stderr.as_str()),
        (
            1,
            "hi\n",
            format!(
                "warning: queue {name} belongs to uid 0, not to you (uid 65534), and its mode 0644 lets its group and every other user read it: anyone can take out what is sent to it\n\
                 error: cannot remove queue {name}: Permission denied (EACCES)\n\
                 hint: only a queue's owner (or root) may remove it; {name} was made by another user (uid 0, mode 0644)\n"
            )
            .as_str()
        )
    );
    assert!(q.exists());
}

#[test]
fn the_descriptor_limit_is_named_as_such() {
    // Five descriptors: standard input, output and error, and the two ends of the signal
    // wake-up pipe. The queue's would be the sixth.
    let q = QueueGuard::new();
    let mut c = Command::new("sh");
    c.args(["-c", "ulimit -n 5 && exec \"$0\" \"$@\""])
        .arg(bin("mq-recv"))
        .args(["-n", q.as_str()])
        .env("NO_COLOR", "1");
    let out = output_of(&mut c, b"");
    assert_eq!(code(&out), 1, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "error: cannot open queue {}: Too many open files (EMFILE)\n\
             hint: this process has as many files open as it may (5, RLIMIT_NOFILE): raise the limit in this shell (`ulimit -n 1024`), then run it again\n",
            q.as_str()
        )
    );
    assert!(!q.exists());
}

#[test]
fn ipc_bench_refuses_a_queue_made_in_its_name_and_says_how_to_remove_it() {
    // Its queues are named after its pid: `sh -c '...; exec ipc-bench'` makes the first one in
    // that name beforehand. The advice is ipc-bench's own (it has no --exclusive to drop).
    let mut c = Command::new("sh");
    c.args([
        "-c",
        &format!(
            "{} -c --perms 666 \"/ipc-bench-$$-0-down\" x 2>/dev/null && exec \"$0\" \"$@\"",
            squatter_send()
        ),
    ])
    .arg(bin("ipc-bench"))
    .args(["latency", "--mech", "mq", "--pin", "same", "--quick"])
    .env("NO_COLOR", "1");
    let mut run = Running::spawn(&mut c);
    let squatted = QueueGuard {
        name: format!("/ipc-bench-{}-0-down", run.pid()),
    };
    let status = run.finish();
    let name = squatted.as_str();
    assert_eq!(shell_status(status), 1, "{}", run.err);
    assert_ends_with(
        &run.err,
        &format!(
            "error: mq latency, 64 bytes, pin same: cannot create queue {name}: File exists (EEXIST)\n\
             hint: ipc-bench names its queues after its pid and makes them only where nothing is; {name} exists already, {}: if it is yours, left by a run that was killed, remove it (`mq-recv -n --unlink {name}`) and run again\n",
            squatter_named()
        ),
        "stderr",
    );
    assert!(squatted.exists(), "not ipc-bench's: not removed");
}

// ---------------------------------------------------------------------------------------------
// Rows of the fault table (tests/lab/faults.rs): mq-send and mq-recv, wherever each waits

/// A queue of one message of up to 64 bytes, with a message in it: full.
fn full_queue(f: &mut Fixture) {
    let name = QueueName::parse(f.queue.as_str()).unwrap();
    let mailbox = Mailbox::open(&name, &OpenOptions::create(Access::Both, 1, 64)).unwrap();
    assert!(mailbox.created());
    let sent = mailbox.send(b"full", 0, Wait::NonBlock, None).unwrap();
    assert_eq!(sent, ipc_lab::mq::Outcome::Done(()));
}

/// An empty queue of 10 messages of up to 64 bytes.
fn empty_queue(f: &mut Fixture) {
    let name = QueueName::parse(f.queue.as_str()).unwrap();
    let mailbox = Mailbox::open(&name, &OpenOptions::create(Access::Both, 10, 64)).unwrap();
    assert!(mailbox.created());
}

/// A queue of 10 messages of 8000 bytes, full: more than a stalled stdout takes.
fn queue_of_big_messages(f: &mut Fixture) {
    let name = QueueName::parse(f.queue.as_str()).unwrap();
    let mailbox = Mailbox::open(&name, &OpenOptions::create(Access::Both, 10, 8000)).unwrap();
    for _ in 0..10 {
        let sent = mailbox
            .send(&[b'm'; 8000], 0, Wait::NonBlock, None)
            .unwrap();
        assert_eq!(sent, ipc_lab::mq::Outcome::Done(()));
    }
}

fn in_poll(s: &mut Subject, _: &mut Fixture) {
    s.wait_in(POLL);
}

fn in_write(s: &mut Subject, _: &mut Fixture) {
    s.wait_in(WRITE);
}

pub(crate) fn created_then_poll(s: &mut Subject, _: &mut Fixture) {
    s.wait_err("created queue");
    s.wait_in(POLL);
}

fn sent_one_then_poll(s: &mut Subject, f: &mut Fixture) {
    s.wait_in(POLL);
    let queue = &f.queue;
    s.wait_until("one message in the queue", |_| {
        queue.exists() && queue.attributes().current_messages == 1
    });
}

/// A receiver on a port of its own, into a mailbox of one message: `mq-recv --listen --hold`.
fn full_listener(f: &mut Fixture) {
    listener_helper(f, &["--hold", "--maxmsg", "1"]);
    f.helpers.last_mut().unwrap().wait_stderr("holding");
}

fn plain_listener(f: &mut Fixture) {
    listener_helper(f, &[]);
}

fn listener_helper(f: &mut Fixture, extra: &[&str]) {
    let mut args = vec!["--listen", "127.0.0.1:0", "--msgsize", "64"];
    args.extend_from_slice(extra);
    let run = f.helper("mq-recv", &args);
    let pid = run.pid() as u32;
    let port = run.listening_port();
    f.helper_queues.push(QueueGuard::for_pid(pid));
    f.host = format!("127.0.0.1:{port}");
}

/// A receiver with a mailbox of its own, of one message, holding: `mq-recv --mine --hold`.
fn full_peer(f: &mut Fixture) {
    let run = f.helper(
        "mq-recv",
        &["--mine", "--hold", "--maxmsg", "1", "--msgsize", "64"],
    );
    let pid = run.pid() as u32;
    run.wait_stderr("holding");
    f.helper_queues.push(QueueGuard::for_pid(pid));
    f.peer = pid;
}

fn remote_full_then_poll(s: &mut Subject, f: &mut Fixture) {
    s.wait_in(POLL);
    let mailbox = &f.helper_queues[0];
    s.wait_until("the remote mailbox to fill", |_| {
        mailbox.attributes().current_messages == 1
    });
}

fn connected_then_poll(s: &mut Subject, f: &mut Fixture) {
    f.helpers[0].wait_stderr("connected");
    s.wait_in(POLL);
}

pub(crate) fn own_mailbox(s: &mut Subject, f: &mut Fixture) {
    f.mailbox = Some(QueueGuard::for_pid(s.pid() as u32));
    s.wait_until("the mailbox", |s| {
        s.err.text().contains("my PID is") || s.err.text().contains("listening on")
    });
    s.wait_in(POLL);
}

/// Listening, with a peer connected (this test, over TCP) that sends nothing.
fn peer_connected(s: &mut Subject, f: &mut Fixture) {
    own_mailbox(s, f);
    let port = port_of(s);
    let peer = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    f.fds.push(peer.into());
    s.wait_err(" connected");
    s.wait_in(POLL);
}

/// The port `mq-recv --listen 127.0.0.1:0` says it listens on.
fn port_of(s: &mut Subject) -> u16 {
    let err = s.wait_err("listening on 127.0.0.1:");
    err.split("listening on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {err:?}"))
}

/// Listening, with 65 peers connected (this test) that send nothing: the table of 64 is full,
/// and the last took the place of the one idle longest.
fn table_full(s: &mut Subject, f: &mut Fixture) {
    own_mailbox(s, f);
    let port = port_of(s);
    for _ in 0..65 {
        let peer = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        f.fds.push(peer.into());
    }
    s.wait_err("its place goes to");
    s.wait_in(POLL);
}

/// Whether prlimit(1) (util-linux) is installed, to lower another process's limits.
fn prlimit_installed() -> bool {
    Command::new("prlimit")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Listening, with no descriptor left (its limit lowered to what it has open) and a peer
/// (this test) waiting in the kernel's queue: accepting is paused, and it waits in poll.
fn out_of_descriptors(s: &mut Subject, f: &mut Fixture) {
    own_mailbox(s, f);
    let port = port_of(s);
    let pid = s.pid();
    let open: Vec<usize> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let free = (0..).find(|n| !open.contains(n)).unwrap();
    let limited = Command::new("prlimit")
        .args([format!("--pid={pid}"), format!("--nofile={free}:")])
        .status()
        .expect("run prlimit");
    assert!(limited.success(), "prlimit --pid={pid} --nofile={free}:");
    let peer = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    f.fds.push(peer.into());
    s.wait_err("cannot take a new connection (accept: Too many open files (EMFILE))");
    s.wait_in(POLL);
}

/// Listening with --show-wire, a peer connected (this test) that sent the first bytes of a
/// header and no more: they are dumped on stderr, and the receiver waits for the rest.
fn peer_sent_part_of_a_header(s: &mut Subject, f: &mut Fixture) {
    peer_connected(s, f);
    let peer = f.fds.last().expect("the peer's connection");
    let sent = nix::unistd::write(peer, &ipc_lab::mq::net::MAGIC).expect("write to the receiver");
    assert_eq!(sent, ipc_lab::mq::net::MAGIC.len());
    s.wait_err("sent 4 bytes:");
    s.wait_err("69 70 63 6c");
    s.wait_in(POLL);
}

fn holding(s: &mut Subject, _: &mut Fixture) {
    s.wait_err("holding");
    s.wait_in(POLL);
}

/// mq-send and mq-recv, at every place each waits: their rows of the fault table, which sends each
/// row every termination signal (see [`crate::faults`]).
pub(crate) fn fault_rows() -> Vec<faults::Row> {
    use faults::{Out, Row, Thing};
    let row = faults::row;
    let mut rows = vec![
        // mq-send: blocked on a full queue, reading stdin, waiting on a remote mailbox.
        Row {
            prepare: full_queue,
            keeps: &[Thing::Queue],
            ..row(
                "mq-send",
                "blocked on a full queue",
                &["{queue}", "more"],
                in_poll,
            )
        },
        Row {
            prepare: full_queue,
            keeps: &[Thing::Queue],
            ..row(
                "mq-send",
                "blocked on a full queue, with a timeout",
                &["--timeout", "30", "{queue}", "more"],
                in_poll,
            )
        },
        Row {
            prepare: empty_queue,
            keeps: &[Thing::Queue],
            ..row(
                "mq-send",
                "reading messages from stdin",
                &["{queue}"],
                in_poll,
            )
        },
        Row {
            owns: &[Thing::Queue],
            ..row(
                "mq-send",
                "reading stdin, a queue it made and sent nothing to",
                &["-c", "--msgsize", "64", "{queue}"],
                created_then_poll,
            )
        },
        Row {
            keeps: &[Thing::Queue],
            ..row(
                "mq-send",
                "blocked on a queue it made and sent to (kept for a receiver)",
                &[
                    "-c",
                    "--maxmsg",
                    "1",
                    "--msgsize",
                    "64",
                    "{queue}",
                    "a",
                    "b",
                ],
                sent_one_then_poll,
            )
        },
        Row {
            prepare: full_listener,
            ..row(
                "mq-send",
                "waiting for room in a remote mailbox",
                &["--host", "{host}", "a", "b"],
                remote_full_then_poll,
            )
        },
        Row {
            prepare: full_peer,
            ..row(
                "mq-send",
                "blocked on a process's full mailbox (direct naming)",
                &["--to", "{peer}", "a", "b"],
                remote_full_then_poll,
            )
        },
        Row {
            prepare: plain_listener,
            ..row(
                "mq-send",
                "connected, reading stdin",
                &["--host", "{host}"],
                connected_then_poll,
            )
        },
        // mq-recv: blocked receiving, with a timeout, holding, its own mailbox, a port.
        Row {
            owns: &[Thing::Queue],
            ..row(
                "mq-recv",
                "blocked receiving",
                &["--unlink", "--msgsize", "64", "{queue}"],
                created_then_poll,
            )
        },
        Row {
            owns: &[Thing::Queue],
            ..row(
                "mq-recv",
                "blocked receiving, with a timeout",
                &["--timeout", "30", "--unlink", "--msgsize", "64", "{queue}"],
                created_then_poll,
            )
        },
        Row {
            owns: &[Thing::Queue, Thing::Queue2],
            ..row(
                "mq-recv",
                "blocked receiving from two queues",
                &["--unlink", "--msgsize", "64", "{queue}", "{queue2}"],
                created_then_poll,
            )
        },
        Row {
            owns: &[Thing::Queue],
            ..row(
                "mq-recv",
                "holding until Enter",
                &["--hold", "--unlink", "--msgsize", "64", "{queue}"],
                holding,
            )
        },
        Row {
            owns: &[Thing::Mailbox],
            ..row(
                "mq-recv",
                "blocked on its own mailbox",
                &["--mine", "--msgsize", "64"],
                own_mailbox,
            )
        },
        Row {
            owns: &[Thing::Mailbox],
            ..row(
                "mq-recv",
                "listening on a port",
                &["--listen", "127.0.0.1:0", "--msgsize", "64"],
                own_mailbox,
            )
        },
        Row {
            owns: &[Thing::Mailbox],
            ..row(
                "mq-recv",
                "listening, a peer connected that sends nothing",
                &["--listen", "127.0.0.1:0", "--msgsize", "64"],
                peer_connected,
            )
        },
        Row {
            owns: &[Thing::Mailbox],
            ..row(
                "mq-recv",
                "listening --show-wire, a peer sent half a header",
                &["--listen", "127.0.0.1:0", "--show-wire", "--msgsize", "64"],
                peer_sent_part_of_a_header,
            )
        },
        Row {
            keeps: &[Thing::Queue],
            ..row(
                "mq-recv",
                "blocked receiving, queue kept by design (no --unlink)",
                &["--msgsize", "64", "{queue}"],
                created_then_poll,
            )
        },
        Row {
            prepare: queue_of_big_messages,
            stdout: Out::Stalled,
            owns: &[Thing::Queue],
            // Taken from the queue and not all written: not lost, but saved on stderr.
            says: &["mq-recv: the message taken from {queue} was: mmmmmmmm"],
            ..row(
                "mq-recv",
                "writing a message to a full stdout",
                &["--unlink", "{queue}"],
                in_write,
            )
        },
        Row {
            owns: &[Thing::Mailbox],
            ..row(
                "mq-recv",
                "listening, 64 idle peers, each newcomer evicting the idlest",
                &["--listen", "127.0.0.1:0", "--msgsize", "64"],
                table_full,
            )
        },
    ];
    // The limit of another process is lowered with prlimit(1), from util-linux.
    if prlimit_installed() {
        rows.push(Row {
            owns: &[Thing::Mailbox],
            ..row(
                "mq-recv",
                "listening, no descriptor left: accepting paused",
                &["--listen", "127.0.0.1:0", "--msgsize", "64"],
                out_of_descriptors,
            )
        });
    } else {
        eprintln!("skipped: the row of mq-recv out of descriptors (prlimit is not installed)");
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// Rows of the bad-input table (tests/lab/bad_input.rs): every option of mq-send and mq-recv

/// The options of the queue both binaries may make, and the colour.
const QUEUE_OPTIONS: [&str; 4] = ["--maxmsg", "--msgsize", "--perms", "--color"];

/// The QUEUE argument of `bin`: a word, `/-5` and a long number are names a queue may have
/// (the word one no test uses). None exists: the run fails (exit 1) and makes nothing.
fn queue_arg_row(bin: &'static str) -> bad_input::Row {
    let unused = format!("ipc-lab-test-{}-word", std::process::id());
    bad_input::Row::pos(bin, "QUEUE")
        .word(unused.clone())
        .queue(&unused)
        .queue("/-5")
        .queue("/99999999999999999999")
        .but(
            &[Bad::Word, Bad::NegativeAttached, Bad::Overflow],
            Want::Failure,
        )
}

/// Options of mq-send, sending to a queue that does not exist (no --create): a valid value
/// fails to open it (exit 1), and nothing is made.
fn send_rows(q: &str) -> Vec<bad_input::Row> {
    use bad_input::Row;
    let opt = |name: &'static str| Row::opt("mq-send", name).after(&[q, "message"]).queue(q);
    let mut rows = vec![
        // Without --create nothing is made.
        queue_arg_row("mq-send").after(&["message"]),
        Row::opt("mq-send", "--to").after(&["message"]),
        // Not HOST:PORT: a usage error (see a_host_without_a_port_is_a_usage_error).
        Row::opt("mq-send", "--host").after(&["message"]),
        opt("--priority"),
        opt("--timeout"),
    ];
    rows.extend(QUEUE_OPTIONS.map(opt));
    rows
}

#[test]
fn mq_send_bad_arguments() {
    let q = QueueGuard::new();
    try_bad_arguments(
        "mq-send",
        &send_rows(q.as_str()),
        &[],
        &[
            &[q.as_str(), "--create", "--to", "5", "m"],
            &["--exclusive", q.as_str(), "m"],
        ],
    );
    assert!(!q.exists());
}

/// Options of mq-recv, with `-n --unlink QUEUE`: a valid value would make the queue, find it
/// empty (exit 1) and remove it.
fn recv_rows(q: &str) -> Vec<bad_input::Row> {
    use bad_input::Row;
    let opt = |name: &'static str| {
        Row::opt("mq-recv", name)
            .after(&["-n", "--unlink", q])
            .queue(q)
    };
    let mut rows = vec![
        // --attr only looks: a name that does not exist is an error (exit 1), nothing is made.
        queue_arg_row("mq-recv").before(&["--attr"]),
        opt("--listen"),
        // --show-wire with a bad port: the port is refused, nothing is made.
        Row::opt("mq-recv", "--listen")
            .after(&["--show-wire", "-n", "--unlink", q])
            .queue(q),
        opt("--count"),
        Row::opt("mq-recv", "--timeout")
            .after(&["--unlink", q])
            .queue(q),
    ];
    rows.extend(QUEUE_OPTIONS.map(opt));
    rows
}

#[test]
fn mq_recv_bad_arguments() {
    let q = QueueGuard::new();
    try_bad_arguments(
        "mq-recv",
        &recv_rows(q.as_str()),
        &["-n", "--unlink"],
        &[
            &[q.as_str(), q.as_str()],
            &["--attr", "--count", "1", q.as_str()],
            &[],
            // --show-wire needs --listen, takes no value, is given once, and --attr only looks.
            &["--show-wire", q.as_str()],
            &["--show-wire", "--mine"],
            &["--show-wire"],
            &["--attr", "--show-wire", q.as_str()],
            &["--show-wire=yes", "--listen", "127.0.0.1:0"],
            &["--listen", "127.0.0.1:0", "--show-wire", "--show-wire"],
        ],
    );
    assert!(!q.exists());
}
