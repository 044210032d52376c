//! sig-demo as real processes: the notes' SIGSEGV program and its default action (no core file
//! left behind), the arithmetic error, `wait` signalled from this test and from `sig-demo send`
//! (each report naming its true sender), stop and continue, SIGKILL and SIGSTOP refusing a
//! handler, coalescing against queuing, the table of signals and a process's sets in /proc,
//! errors with their hints, help and usage errors.
//!
//! Every run is tagged (an environment variable its children inherit) and its children are
//! recorded while it runs: afterwards none may be left, neither running nor unreaped (this test
//! process adopts orphans, so a child its parent did not wait for shows up here). Signals that
//! test the sender are sent with kill(2) from this test process itself, so the report must name
//! this process's pid. No signal goes to a process this test did not start: a pid that must not
//! exist is pid_max, which no process ever has.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::bad_input::{self, Bad, Want, try_bad_arguments};
use crate::common::*;
use crate::faults::{self, Fixture, POLL, Subject};
use nix::sys::signal::Signal;

// ---------------------------------------------------------------------------------------------
// Running sig-demo

/// sig-demo with these arguments (tagged, its children watched: see [`Demo`]).
fn start(args: &[&str]) -> Demo {
    Demo::start("sig-demo", args)
}

/// sig-demo with these arguments, run to its end (bounded), nothing left behind.
#[track_caller]
fn run(args: &[&str]) -> Ran {
    start(args).finish()
}

/// This test process's pid and real user id: the sender a report must name for a kill(2) made
/// here.
fn me() -> i32 {
    std::process::id() as i32
}

fn uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// kill(2) from this test process.
fn kill(pid: i32, sig: Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig)
        .unwrap_or_else(|e| panic!("kill({pid}, {sig}): {e}"));
}

fn state(pid: i32) -> Option<char> {
    proc_stat(pid).map(|s| s.state)
}

/// Wait (bounded) until process `pid` is stopped (state T in /proc/PID/stat).
#[track_caller]
fn eventually_stopped(pid: i32) {
    eventually(&format!("process {pid} to be stopped"), || {
        state(pid) == Some('T')
    });
}

// ---------------------------------------------------------------------------------------------
// The notes' program: segv (the default) and fpe

const SEGV: &str = "Memory access blows up!\n";
const FPE: &str = "Arithmetic error blows up!\n";

#[test]
fn with_no_subcommand_it_is_the_notes_program() {
    for args in [&[][..], &["segv"][..]] {
        let ran = run(args);
        assert_eq!(
            (code(&ran), ran.stdout.as_str(), ran.stderr.as_str()),
            (1, SEGV, ""),
            "{args:?}"
        );
        assert_eq!(ran.status.signal(), None, "{args:?}: the handler exits 1");
        assert!(ran.children.is_empty());
    }
}

#[test]
fn fpe_the_handler_prints_the_arithmetic_error_and_exits_1() {
    let ran = run(&["fpe"]);
    assert_eq!(
        (code(&ran), ran.stdout.as_str(), ran.stderr.as_str()),
        (1, FPE, "")
    );
    assert_eq!(ran.status.signal(), None);
}

#[test]
fn no_handler_the_fault_kills_it_and_no_core_file_is_left() {
    // First what this system does with a process that dumps core, in a directory of its own:
    // a core file there shows that the checks below would see one.
    let control = TempDir::new("core-control");
    let shown = output_of(dumping_core().current_dir(&control.path), b"");
    assert_eq!(shown.status.signal(), Some(11), "the control shell");
    let files_appear = !control.entries().is_empty();
    if !files_appear {
        eprintln!(
            "note: no core file appears in the working directory on this system \
             (core_pattern, ulimit -H -c): the check for one shows less here"
        );
    }
    for (args, sig, status, name) in [
        (&["segv", "--no-handler"][..], 11, 139, "SIGSEGV"),
        (&["--no-handler"][..], 11, 139, "SIGSEGV"),
        (&["fpe", "--no-handler"][..], 8, 136, "SIGFPE"),
    ] {
        let dir = TempDir::new("core");
        let mut c = with_core_dumps("sig-demo");
        c.args(args).current_dir(&dir.path);
        let ran = Demo::start_cmd(c).finish();
        assert_eq!(ran.status.signal(), Some(sig), "{args:?}: {:?}", ran.status);
        assert_eq!(code(&ran), status, "{args:?}");
        assert_eq!(ran.stdout, "", "{args:?}: no handler, nothing printed");
        assert_eq!(
            ran.stderr,
            format!(
                "sig-demo: no handler: {name} will end this process (the shell shows {status})\n"
            ),
            "{args:?}"
        );
        assert_eq!(dir.entries(), Vec::<String>::new(), "{args:?}: a core file");
        if !core_dumps_go_to_a_program() {
            assert!(!ran.status.core_dumped(), "{args:?}: dumped core");
        }
    }
}

#[test]
fn explain_narrates_the_fault_on_stderr_and_leaves_stdout_as_it_is() {
    for (args, stdout, name, what) in [
        (
            &["--explain"][..],
            SEGV,
            "SIGSEGV",
            "an invalid memory access",
        ),
        (
            &["segv", "--explain"][..],
            SEGV,
            "SIGSEGV",
            "an invalid memory access",
        ),
        (
            &["--explain", "fpe"][..],
            FPE,
            "SIGFPE",
            "an integer division by zero",
        ),
    ] {
        let ran = run(args);
        assert_eq!((code(&ran), ran.stdout.as_str()), (1, stdout), "{args:?}");
        let err = &ran.stderr;
        for phrase in [
            format!("[step 1] register a handler for {name}\n"),
            format!("  signal({name}, myOwnHandler) = the old handler\n"),
            format!("[step 2] make {what}\n"),
            format!("the kernel sends {name}; the handler prints and exits 1"),
        ] {
            assert!(err.contains(&phrase), "{args:?}: no {phrase:?} in {err}");
        }
        assert!(!err.contains("error"), "{err}");
    }
    // The default action, narrated: no handler, no core file, killed all the same.
    let dir = TempDir::new("core");
    let mut c = with_core_dumps("sig-demo");
    c.args(["--explain", "segv", "--no-handler"])
        .current_dir(&dir.path);
    let ran = Demo::start_cmd(c).finish();
    assert_eq!((ran.status.signal(), ran.stdout.as_str()), (Some(11), ""));
    for phrase in [
        "[step 1] no handler: SIGSEGV takes its default action\n",
        "  signal(SIGSEGV, SIG_DFL) = the old handler\n",
        "  the old handler was std's own, which reports a stack overflow\n",
        "  setrlimit(RLIMIT_CORE, 0) = 0\n",
        "sig-demo: no handler: SIGSEGV will end this process (the shell shows 139)\n",
        "[step 2] make an invalid memory access\n",
        "the kernel sends SIGSEGV; nobody handles it\n",
    ] {
        assert!(
            ran.stderr.contains(phrase),
            "no {phrase:?} in {}",
            ran.stderr
        );
    }
    assert_eq!(dir.entries(), Vec::<String>::new());
}

#[test]
fn no_handler_with_another_subcommand_is_a_usage_error() {
    for sub in [
        &["wait"][..],
        &["uncatchable"][..],
        &["pending"][..],
        &["list"][..],
        &["send", &pid_never_used().to_string(), "USR1"][..],
    ] {
        let mut args = vec!["--no-handler"];
        args.extend_from_slice(sub);
        let ran = run(&args);
        assert_usage_error(&ran, &format!("{args:?}"));
        assert_eq!(
            ran.stderr,
            "error: --no-handler goes after segv or fpe (sig-demo segv --no-handler), or alone\n",
            "{args:?}"
        );
        // After the subcommand, clap itself refuses it.
        let mut args = sub.to_vec();
        args.push("--no-handler");
        let ran = run(&args);
        assert_usage_error(&ran, &format!("{args:?}"));
        assert!(
            ran.stderr
                .starts_with("error: unexpected argument '--no-handler' found"),
            "{args:?}: {}",
            ran.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------------
// wait: every signal reported, with its sender

/// What `sig-demo wait` prints first, as process `pid`.
fn wait_header(pid: i32) -> String {
    format!(
        "My PID is {pid}. From another terminal, try:\n\
         \x20 kill -USR1 {pid}\n\
         \x20 kill -USR2 {pid}\n\
         \x20 kill -HUP {pid}\n\
         \x20 kill -STOP {pid}; kill -CONT {pid}\n\
         \x20 kill -TSTP {pid}\n\
         \x20 sig-demo send {pid} USR1 --value 42\n\
         \x20 sig-demo list --pid {pid}\n\
         \x20 kill -TERM {pid}    (or Ctrl-C here: ends it)\n"
    )
}

/// `received SIGUSR1 (10) from PID 7 (uid 0) by kill`, and what follows, with its newline.
fn received(sig: &str, from: i32, via: &str, rest: &str) -> String {
    format!(
        "received {sig} from PID {from} (uid {}) by {via}{rest}\n",
        uid()
    )
}

const CONTINUED: &str = ": continued (if it was stopped, it runs again)";
const STOPPING: &str =
    ": stopping now, as its default action would (SIGCONT or the shell's fg continues)";

fn ending(status: i32) -> String {
    format!(": ending, as its default action would (the shell shows {status})")
}

/// `sig-demo wait ARGS`, once it has printed its header (its handlers are installed by then).
fn start_wait(args: &[&str]) -> Demo {
    let mut all = vec!["wait"];
    all.extend_from_slice(args);
    let mut demo = start(&all);
    let first = demo.run.wait_stdout("My PID is ");
    assert_eq!(
        first,
        format!("My PID is {}. From another terminal, try:\n", demo.pid())
    );
    demo.run.wait_stdout("  kill -TERM ");
    demo
}

/// Send `sig` from this test process and return the report it gets (bounded).
#[track_caller]
fn signal_and_report(demo: &mut Demo, sig: Signal) -> String {
    kill(demo.pid(), sig);
    demo.run
        .wait_stdout(&format!("received {} ({})", sig.as_str(), sig as i32))
}

/// `sig-demo send ARGS` run to its end: its pid, status and output.
fn sig_send(args: &[&str]) -> (i32, Finished) {
    let mut c = cmd_with("sig-demo", &[&["send"][..], args].concat());
    let mut sender = Running::spawn(&mut c);
    let pid = sender.pid();
    let status = sender.finish();
    (
        pid,
        Finished {
            status,
            stdout: std::mem::take(&mut sender.out),
            stderr: std::mem::take(&mut sender.err),
        },
    )
}

/// Show that `wait` has received nothing so far: a SIGUSR2 from this test, then SIGTERM; the
/// whole stdout must be the header and those two reports (anything sent before the SIGUSR2 is
/// delivered with it at the latest, and reported before the SIGTERM).
#[track_caller]
fn assert_received_nothing_and_end(mut demo: Demo) {
    let pid = demo.pid();
    signal_and_report(&mut demo, Signal::SIGUSR2);
    kill(pid, Signal::SIGTERM);
    let ran = demo.finish();
    assert_eq!(ran.status.signal(), Some(15), "{:?}", ran.status);
    assert_eq!(
        ran.stdout,
        format!(
            "{}{}{}",
            wait_header(pid),
            received("SIGUSR2 (12)", me(), "kill", ""),
            received("SIGTERM (15)", me(), "kill", &ending(143))
        )
    );
}

#[test]
fn wait_reports_each_signal_with_its_sender_then_sigterm_ends_it() {
    let mut demo = start_wait(&[]);
    let pid = demo.pid();
    let mut expected = wait_header(pid);

    for (sig, name) in [
        (Signal::SIGUSR1, "SIGUSR1 (10)"),
        (Signal::SIGUSR2, "SIGUSR2 (12)"),
        (Signal::SIGHUP, "SIGHUP (1)"),
    ] {
        let line = signal_and_report(&mut demo, sig);
        let want = received(name, me(), "kill", "");
        assert_eq!(line, want);
        expected += &want;
    }

    // From another process, with a value: the report names that process.
    let (sender, sent) = sig_send(&[&pid.to_string(), "USR1", "--value", "42"]);
    assert_eq!(
        (
            shell_status(sent.status),
            sent.stdout.as_str(),
            sent.stderr.as_str()
        ),
        (
            0,
            format!("sent SIGUSR1 (10) to process {pid} with value 42\n").as_str(),
            ""
        )
    );
    assert_ne!(sender, me());
    let line = demo.run.wait_stdout("received SIGUSR1 (10)");
    let want = received("SIGUSR1 (10)", sender, "sigqueue", ", value 42");
    assert_eq!(line, want);
    expected += &want;

    // SIGSTOP cannot be caught: it stops the process, unreported; SIGCONT continues it.
    kill(pid, Signal::SIGSTOP);
    eventually_stopped(pid);
    let line = signal_and_report(&mut demo, Signal::SIGCONT);
    let want = received("SIGCONT (18)", me(), "kill", CONTINUED);
    assert_eq!(line, want);
    expected += &want;
    assert_ne!(state(pid), Some('T'));

    // SIGTSTP is caught: it says so, then stops itself, as the default action would.
    let line = signal_and_report(&mut demo, Signal::SIGTSTP);
    let want = received("SIGTSTP (20)", me(), "kill", STOPPING);
    assert_eq!(line, want);
    expected += &want;
    eventually_stopped(pid);
    let line = signal_and_report(&mut demo, Signal::SIGCONT);
    let want = received("SIGCONT (18)", me(), "kill", CONTINUED);
    assert_eq!(line, want);
    expected += &want;

    kill(pid, Signal::SIGTERM);
    let ran = demo.finish();
    expected += &received("SIGTERM (15)", me(), "kill", &ending(143));
    assert_eq!(ran.stdout, expected, "the last line says it ends");
    assert_eq!(ran.status.signal(), Some(15), "{:?}", ran.status);
    assert_eq!(code(&ran), 143);
    assert_eq!(ran.stderr, "");
    assert!(ran.children.is_empty());
}

/// The recorder once held 1024 signals for the whole life of the process: the 1025th ended
/// `wait` ("the recorder is full"), however slowly they came. Its slots are reused once reported:
/// 1100 signals, each sent once the one before is reported, are all reported, and it still runs.
#[test]
fn wait_reports_every_signal_of_a_long_life_when_it_keeps_up() {
    let mut demo = start_wait(&[]);
    let pid = demo.pid();
    let mut expected = wait_header(pid);
    for i in 0..1100 {
        let (sig, name) = if i % 2 == 0 {
            (Signal::SIGUSR1, "SIGUSR1 (10)")
        } else {
            (Signal::SIGUSR2, "SIGUSR2 (12)")
        };
        let line = signal_and_report(&mut demo, sig);
        let want = received(name, me(), "kill", "");
        assert_eq!(line, want, "signal {}", i + 1);
        expected += &want;
    }
    assert!(
        state(pid).is_some_and(|s| s != 'Z'),
        "still running after 1100 signals: {}",
        demo.run.err
    );
    kill(pid, Signal::SIGTERM);
    let ran = demo.finish();
    expected += &received("SIGTERM (15)", me(), "kill", &ending(143));
    assert_ended_by(&ran, 15);
    assert_eq!(ran.stdout, expected);
    assert_eq!(ran.stderr, "", "nothing lost");
}

/// Wait (bounded) until `sig` is no longer pending for `pid`: the kernel has delivered it, and
/// its handler runs before the process does anything else.
#[track_caller]
fn eventually_delivered(pid: i32, sig: Signal) {
    let start = Instant::now();
    loop {
        let pending = ["SigPnd", "ShdPnd"].iter().any(|field| {
            proc_signal_set(pid, field)
                .expect("the process is running")
                .contains(&(sig as i32))
        });
        if !pending {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{} still pending for {pid}",
            sig.as_str()
        );
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
}

/// Kills the process on drop, should the test fail midway.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A burst faster than `wait` reports: its stdout is a pipe of one page that this test does not
/// read, so the main flow blocks in write(2) while the handlers go on recording. 1500 SIGUSR1,
/// each sent once the one before is delivered (so each runs the handler once: none coalesce in
/// the kernel), overflow the 1024 slots. Every signal is either reported or counted in a note on
/// stderr, and it goes on: it reports a SIGUSR2 sent afterwards, and SIGTERM ends it.
#[test]
fn wait_counts_the_signals_of_a_burst_it_has_no_room_for_and_goes_on() {
    use std::io::{BufRead, BufReader, Read};
    use std::os::fd::AsFd;

    const SENT: usize = 1500;
    let mut c = cmd_with("sig-demo", &["wait"]);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Reaped(c.spawn().expect("spawn sig-demo wait"));
    let pid = child.0.id() as i32;
    let stdout = child.0.stdout.take().unwrap();
    let small = nix::fcntl::fcntl(stdout.as_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096));
    let mut stderr = child.0.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut out = BufReader::new(stdout);
    let mut header = String::new();
    while !header.contains("kill -TERM") {
        assert!(
            out.read_line(&mut header).expect("read the header") > 0,
            "{header}"
        );
    }
    assert_eq!(header, wait_header(pid));

    for _ in 0..SENT {
        kill(pid, Signal::SIGUSR1);
        eventually_delivered(pid, Signal::SIGUSR1);
    }

    // Now read its stdout: it reports what it recorded, says what it lost, and waits again.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    eventually("wait to block in poll, all reported", || {
        blocked_in_poll(pid)
    });
    kill(pid, Signal::SIGUSR2);
    let mut reported = 0;
    let usr1 = received("SIGUSR1 (10)", me(), "kill", "");
    loop {
        let line = rx.recv_timeout(PATIENCE).expect("a report") + "\n";
        if line == usr1 {
            reported += 1;
        } else {
            assert_eq!(line, received("SIGUSR2 (12)", me(), "kill", ""));
            break;
        }
    }
    kill(pid, Signal::SIGTERM);
    let line = rx.recv_timeout(PATIENCE).expect("the last report") + "\n";
    assert_eq!(line, received("SIGTERM (15)", me(), "kill", &ending(143)));
    let status = child.0.wait().expect("wait");
    assert_eq!(status.signal(), Some(15), "{status:?}");
    reader.join().unwrap();
    let stderr = errors.join().unwrap();

    // Each note: `sig-demo: N signals lost (SIGUSR1 N): ...; going on`.
    let mut lost = 0;
    for note in stderr.lines() {
        let rest = note
            .strip_prefix("sig-demo: ")
            .and_then(|r| r.split_once(" signals lost (SIGUSR1 "))
            .unwrap_or_else(|| panic!("not a note of lost signals: {note:?}"));
        let n: usize = rest.0.parse().expect("a count");
        assert!(rest.1.starts_with(&format!("{n}): ")), "{note}");
        assert!(
            rest.1.ends_with(
                "they came faster than this process reported them, while the 1024 it holds \
                 unreported were full; going on"
            ),
            "{note}"
        );
        lost += n;
    }
    eprintln!("burst of {SENT}: {reported} reported, {lost} counted lost");
    assert_eq!(
        reported + lost,
        SENT,
        "every signal reported or counted lost: {stderr}"
    );
    match small {
        // A page of pipe holds about 70 reports: over 1400 wait when the burst ends.
        Ok(_) => assert!(lost > 0, "a one-page pipe must overflow the recorder"),
        Err(e) => eprintln!("F_SETPIPE_SZ: {e}: a lost count is not certain ({lost} lost)"),
    }
}

#[test]
fn wait_sigint_ends_it_by_sigint() {
    let demo = start_wait(&[]);
    let pid = demo.pid();
    kill(pid, Signal::SIGINT);
    let ran = demo.finish();
    assert_eq!(ran.status.signal(), Some(2), "{:?}", ran.status);
    assert_eq!(code(&ran), 130);
    assert_eq!(
        ran.stdout,
        format!(
            "{}{}",
            wait_header(pid),
            received("SIGINT (2)", me(), "kill", &ending(130))
        )
    );
    assert_eq!(ran.stderr, "");
}

#[test]
fn wait_sigterm_from_sig_demo_send_names_that_sender() {
    let demo = start_wait(&[]);
    let pid = demo.pid();
    let (sender, sent) = sig_send(&[&pid.to_string(), "TERM"]);
    assert_eq!(
        (
            shell_status(sent.status),
            sent.stdout.as_str(),
            sent.stderr.as_str()
        ),
        (
            0,
            format!("sent SIGTERM (15) to process {pid}\n").as_str(),
            ""
        )
    );
    let ran = demo.finish();
    assert_ended_by(&ran, 15);
    assert_eq!(
        ran.stdout,
        format!(
            "{}{}",
            wait_header(pid),
            received("SIGTERM (15)", sender, "kill", &ending(143))
        )
    );
}

#[test]
fn wait_count_exits_0_after_n_signals() {
    let mut demo = start_wait(&["--count", "3"]);
    let pid = demo.pid();
    let mut expected = wait_header(pid);
    for (sig, name, rest) in [
        (Signal::SIGUSR1, "SIGUSR1 (10)", ""),
        (Signal::SIGHUP, "SIGHUP (1)", ""),
        (Signal::SIGCONT, "SIGCONT (18)", CONTINUED),
    ] {
        let line = signal_and_report(&mut demo, sig);
        assert_eq!(line, received(name, me(), "kill", rest));
        expected += &line;
    }
    let ran = demo.finish();
    expected += "3 signals received: done\n";
    assert_success(&ran, &expected);

    // A termination signal still ends it by the signal, before the count is reached.
    let demo = start_wait(&["--count", "2"]);
    let pid = demo.pid();
    kill(pid, Signal::SIGTERM);
    let ran = demo.finish();
    assert_eq!((ran.status.signal(), code(&ran)), (Some(15), 143));
    assert_eq!(
        ran.stdout,
        wait_header(pid) + &received("SIGTERM (15)", me(), "kill", &ending(143))
    );
}

#[test]
fn wait_shows_the_value_and_sender_of_each_sig_demo_send() {
    let mut demo = start_wait(&[]);
    let pid = demo.pid();
    let p = pid.to_string();
    for (args, name, via, value, said) in [
        (
            vec![p.as_str(), "USR1", "--value", "7"],
            "SIGUSR1 (10)",
            "sigqueue",
            ", value 7",
            " with value 7",
        ),
        (vec![p.as_str(), "SIGUSR2"], "SIGUSR2 (12)", "kill", "", ""),
        (
            vec![p.as_str(), "hup", "--value", "-7"],
            "SIGHUP (1)",
            "sigqueue",
            ", value -7",
            " with value -7",
        ),
        (
            vec!["--value=-2147483648", p.as_str(), "10"],
            "SIGUSR1 (10)",
            "sigqueue",
            ", value -2147483648",
            " with value -2147483648",
        ),
        (
            vec![p.as_str(), "12", "--value", "2147483647"],
            "SIGUSR2 (12)",
            "sigqueue",
            ", value 2147483647",
            " with value 2147483647",
        ),
        (
            vec![p.as_str(), "usr1", "--value", "0"],
            "SIGUSR1 (10)",
            "sigqueue",
            ", value 0",
            " with value 0",
        ),
    ] {
        let (sender, sent) = sig_send(&args);
        assert_eq!(
            (
                shell_status(sent.status),
                sent.stdout.clone(),
                sent.stderr.as_str()
            ),
            (0, format!("sent {name} to process {pid}{said}\n"), ""),
            "{args:?}"
        );
        let line = demo.run.wait_stdout(&format!("received {name}"));
        assert_eq!(line, received(name, sender, via, value), "{args:?}");
    }
    kill(pid, Signal::SIGTERM);
    assert_ended_by(&demo.finish(), 15);
}

#[test]
fn wait_explain_narrates_on_stderr_and_leaves_stdout_as_it_is() {
    let mut demo = start(&["--explain", "wait", "--count", "1"]);
    let pid = demo.pid();
    demo.run.wait_stdout("  kill -TERM ");
    signal_and_report(&mut demo, Signal::SIGUSR2);
    let ran = demo.finish();
    assert_eq!(code(&ran), 0, "{}", ran.stderr);
    assert_eq!(
        ran.stdout,
        format!(
            "{}{}1 signal received: done\n",
            wait_header(pid),
            received("SIGUSR2 (12)", me(), "kill", "")
        )
    );
    assert_eq!(
        ran.stderr,
        "  sigaction(SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCONT, SIGTSTP; SA_SIGINFO) = 0\n\
         \x20 the handlers only note the signal and its sender; this main flow reports them\n"
    );
}

#[test]
fn wait_count_out_of_range_is_a_usage_error() {
    for bad in ["0", "-1", "abc", "4294967296", ""] {
        let ran = run(&["wait", "--count", bad]);
        assert_usage_error(&ran, &format!("--count {bad:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// list --pid: a process's signal sets, as /proc shows them

/// The names `sig-demo list --pid` gives the signals in a set, or `(none)`.
fn names(signals: &[i32]) -> String {
    if signals.is_empty() {
        return "(none)".into();
    }
    signals
        .iter()
        .map(|&n| match Signal::try_from(n) {
            Ok(s) => s.as_str().to_string(),
            Err(_) => format!("signal {n}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What `list --pid PID` must print, read from /proc/PID/status by this test.
fn proc_view(pid: i32) -> String {
    let set = |field| proc_signal_set(pid, field).expect("the process runs");
    let mut pending = set("SigPnd");
    pending.extend(set("ShdPnd"));
    pending.sort();
    pending.dedup();
    format!(
        "process {pid} (sig-demo)\n  caught   {}\n  blocked  {}\n  ignored  {}\n  pending  {}\n",
        names(&set("SigCgt")),
        names(&set("SigBlk")),
        names(&set("SigIgn")),
        names(&pending)
    )
}

/// The caught line of `list --pid` as its words.
fn caught_of(listed: &str) -> Vec<String> {
    listed
        .lines()
        .find_map(|l| l.strip_prefix("  caught   "))
        .unwrap_or_else(|| panic!("no caught line in {listed:?}"))
        .split(' ')
        .map(str::to_string)
        .collect()
}

const WATCHED: [&str; 7] = [
    "SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGCONT", "SIGTSTP",
];

#[test]
fn list_pid_of_a_waiting_sig_demo_shows_what_it_catches() {
    let demo = start_wait(&[]);
    let pid = demo.pid();
    let ran = run(&["list", "--pid", &pid.to_string()]);
    assert_success(&ran, &proc_view(pid));
    let caught = caught_of(&ran.stdout);
    for sig in WATCHED {
        assert!(caught.iter().any(|c| c == sig), "{sig} in {caught:?}");
    }
    // Besides its own, only std's handlers (stack-overflow detection) are there.
    for c in &caught {
        assert!(
            WATCHED.contains(&c.as_str()) || c == "SIGSEGV" || c == "SIGBUS",
            "{c} caught: {}",
            ran.stdout
        );
    }
    assert!(
        ran.stdout.contains("\n  blocked  (none)\n")
            && ran.stdout.ends_with("\n  pending  (none)\n"),
        "{}",
        ran.stdout
    );
    // Rust ignores SIGPIPE.
    let ignored = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("  ignored "))
        .unwrap();
    assert!(ignored.split(' ').any(|w| w == "SIGPIPE"), "{ignored}");
    assert_received_nothing_and_end(demo);
}

#[test]
fn list_pid_of_a_stopped_process_shows_a_signal_pending_until_it_continues() {
    let mut demo = start_wait(&[]);
    let pid = demo.pid();
    kill(pid, Signal::SIGSTOP);
    eventually_stopped(pid);
    // A stopped process runs no handler: the signal waits, pending.
    kill(pid, Signal::SIGUSR1);
    eventually("SIGUSR1 pending", || {
        proc_signal_set(pid, "ShdPnd").is_some_and(|s| s.contains(&10))
            || proc_signal_set(pid, "SigPnd").is_some_and(|s| s.contains(&10))
    });
    let ran = run(&["list", "--pid", &pid.to_string()]);
    assert_success(&ran, &proc_view(pid));
    assert!(
        ran.stdout.ends_with("\n  pending  SIGUSR1\n"),
        "{}",
        ran.stdout
    );
    for sig in WATCHED {
        assert!(caught_of(&ran.stdout).iter().any(|c| c == sig), "{sig}");
    }
    // SIGCONT: both handlers run, in an order the kernel chooses.
    kill(pid, Signal::SIGCONT);
    let mut lines = vec![
        demo.run.wait_stdout("received "),
        demo.run.wait_stdout("received "),
    ];
    lines.sort();
    let mut want = vec![
        received("SIGUSR1 (10)", me(), "kill", ""),
        received("SIGCONT (18)", me(), "kill", CONTINUED),
    ];
    want.sort();
    assert_eq!(lines, want);
    kill(pid, Signal::SIGTERM);
    assert_ended_by(&demo.finish(), 15);
}

#[test]
fn list_pid_of_a_stopped_sig_demo_after_sigtstp() {
    let mut demo = start_wait(&[]);
    let pid = demo.pid();
    signal_and_report(&mut demo, Signal::SIGTSTP);
    eventually_stopped(pid);
    let ran = run(&["list", "--pid", &pid.to_string()]);
    assert_success(&ran, &proc_view(pid));
    assert!(
        ran.stdout.ends_with("\n  pending  (none)\n"),
        "{}",
        ran.stdout
    );
    assert_eq!(state(pid), Some('T'), "listing it did not continue it");
    signal_and_report(&mut demo, Signal::SIGCONT);
    kill(pid, Signal::SIGTERM);
    assert_ended_by(&demo.finish(), 15);
}

#[test]
fn list_pid_of_a_process_that_is_gone_is_an_error_with_a_hint() {
    // A process that ran and was reaped, and a pid no process ever has.
    let gone = {
        let demo = start_wait(&[]);
        let pid = demo.pid();
        kill(pid, Signal::SIGKILL);
        assert_eq!(demo.finish().status.signal(), Some(9));
        pid
    };
    for pid in [pid_never_used(), gone] {
        if pid == gone && proc_stat(pid).is_some() {
            continue; // reused meanwhile: not gone after all
        }
        let ran = run(&["list", "--pid", &pid.to_string()]);
        assert_eq!((code(&ran), ran.stdout.as_str()), (1, ""), "{}", ran.stderr);
        let lines: Vec<&str> = ran.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{}", ran.stderr);
        assert!(
            lines[0].starts_with(&format!(
                "error: cannot read /proc/{pid}/status: No such file or directory"
            )),
            "{}",
            ran.stderr
        );
        assert_eq!(
            lines[1],
            format!(
                "hint: is process {pid} running? `ps -p {pid}` shows it; `sig-demo wait` prints its PID"
            )
        );
    }
}

#[test]

fn list_pid_of_a_process_that_is_gone_names_the_errno() {
    let pid = pid_never_used();
    let ran = run(&["list", "--pid", &pid.to_string()]);
    assert_eq!(code(&ran), 1);
    assert_eq!(
        ran.stderr.lines().next(),
        Some(
            format!("error: cannot read /proc/{pid}/status: No such file or directory (ENOENT)")
                .as_str()
        ),
        "{}",
        ran.stderr
    );
}

#[test]
fn list_pid_out_of_range_is_a_usage_error() {
    for bad in ["0", "-3", "abc", "2147483648", ""] {
        let ran = run(&["list", "--pid", bad]);
        assert_usage_error(&ran, &format!("--pid {bad:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// list: the table

/// signal(7)'s default actions, by number (written out here, not taken from the crate).
const DEFAULTS: [(i32, &str, &str); 31] = [
    (1, "SIGHUP", "terminate"),
    (2, "SIGINT", "terminate"),
    (3, "SIGQUIT", "core"),
    (4, "SIGILL", "core"),
    (5, "SIGTRAP", "core"),
    (6, "SIGABRT", "core"),
    (7, "SIGBUS", "core"),
    (8, "SIGFPE", "core"),
    (9, "SIGKILL", "terminate"),
    (10, "SIGUSR1", "terminate"),
    (11, "SIGSEGV", "core"),
    (12, "SIGUSR2", "terminate"),
    (13, "SIGPIPE", "terminate"),
    (14, "SIGALRM", "terminate"),
    (15, "SIGTERM", "terminate"),
    (16, "SIGSTKFLT", "terminate"),
    (17, "SIGCHLD", "ignore"),
    (18, "SIGCONT", "continue"),
    (19, "SIGSTOP", "stop"),
    (20, "SIGTSTP", "stop"),
    (21, "SIGTTIN", "stop"),
    (22, "SIGTTOU", "stop"),
    (23, "SIGURG", "ignore"),
    (24, "SIGXCPU", "core"),
    (25, "SIGXFSZ", "core"),
    (26, "SIGVTALRM", "terminate"),
    (27, "SIGPROF", "terminate"),
    (28, "SIGWINCH", "ignore"),
    (29, "SIGIO", "terminate"),
    (30, "SIGPWR", "terminate"),
    (31, "SIGSYS", "core"),
];

#[test]
fn list_is_a_table_of_31_standard_signals_and_the_real_time_ones() {
    let ran = run(&["list"]);
    assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""));
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 1 + 31 + 1, "{}", ran.stdout);
    assert!(ran.stdout.ends_with('\n'));
    assert_eq!(lines[0], "  #  name       default    catch  meaning");
    for (i, (n, name, default)) in DEFAULTS.iter().enumerate() {
        assert_eq!(Signal::try_from(*n).unwrap().as_str(), *name);
        let catch = if *n == 9 || *n == 19 { "no" } else { "yes" };
        let row = lines[1 + i];
        let head = format!("{n:>3}  {name:<10} {default:<10} {catch:<6} ");
        assert!(row.starts_with(&head), "{row:?} is not {head:?}...");
        assert!(row.len() > head.len() + 5, "{row:?} says what it means");
    }
    // A few in full.
    for row in [
        "  9  SIGKILL    terminate  no     kill: cannot be caught, blocked or ignored",
        " 19  SIGSTOP    stop       no     stop: cannot be caught, blocked or ignored",
        " 17  SIGCHLD    ignore     yes    a child stopped or ended",
        " 11  SIGSEGV    core       yes    invalid memory reference",
        "  2  SIGINT     terminate  yes    interrupt from the keyboard (Ctrl-C)",
    ] {
        assert!(lines.contains(&row), "no {row:?} in {}", ran.stdout);
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    assert_eq!(
        lines[32],
        format!(
            "{min}+  SIGRTMIN+n terminate  yes    real-time signals {min} to {max}: they queue, and \
             can carry a value"
        )
    );
    let explained = run(&["--explain", "list"]);
    assert_eq!(explained.stdout, ran.stdout);
}

// ---------------------------------------------------------------------------------------------
// uncatchable

#[test]
fn uncatchable_sigkill_and_sigstop_refuse_a_handler_and_the_child_is_reaped() {
    let me = me();
    for args in [&["uncatchable"][..], &["--explain", "uncatchable"][..]] {
        let ran = run(args);
        assert_eq!(code(&ran), 0, "{args:?}: {}", ran.stderr);
        let child: i32 = ran
            .stdout
            .split("child ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no child pid in {}", ran.stdout));
        let mut expected = String::new();
        for sig in ["SIGKILL", "SIGSTOP"] {
            for what in ["myOwnHandler", "SIG_IGN"] {
                expected += &format!(
                    "signal({sig}, {what}): Failed to register handler: Invalid argument (EINVAL)\n"
                );
            }
        }
        expected += &format!(
            "child {child} runs (it tried to handle SIGKILL and ignore SIGSTOP, in vain)\n\
             sent SIGSTOP to child {child}: waitpid says stopped by SIGSTOP\n\
             sent SIGCONT to child {child}: waitpid says continued\n\
             sent SIGKILL to child {child}: waitpid says killed by SIGKILL\n"
        );
        assert_eq!(ran.stdout, expected, "{args:?}");
        if args.len() == 1 {
            assert_eq!(ran.stderr, "");
        } else {
            assert!(
                ran.stderr.contains("the kernel refuses (EINVAL)"),
                "{}",
                ran.stderr
            );
        }
        // Reaped by sig-demo: neither left to this test (which adopts orphans) nor running.
        assert!(
            proc_stat(child).is_none_or(|s| s.ppid != me),
            "child {child} was left to the test: {:?}",
            proc_stat(child)
        );
        for c in &ran.children {
            assert_eq!(c.pid, child, "one child only: {:?}", ran.children);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// pending: standard signals coalesce, real-time signals queue

fn pending_stdout(times: u32) -> String {
    let values: Vec<String> = (1..=times).map(|v| v.to_string()).collect();
    let sent = if times == 1 {
        "1 time".to_string()
    } else {
        format!("{times} times")
    };
    format!(
        "SIGUSR1 blocked, then sent to this process {sent} (kill)\n\
         pending now: SIGUSR1\n\
         unblocked: the handler ran 1 time (a standard signal is one pending bit: however often \
         it is sent while blocked, it arrives once)\n\
         SIGRTMIN blocked, then sent to this process {sent} (sigqueue, values 1 to N)\n\
         pending now: SIGRTMIN\n\
         unblocked: the handler ran {sent}, values {} (real-time signals queue: each one \
         sent arrives)\n",
        values.join(" ")
    )
}

#[test]
fn pending_a_standard_signal_runs_its_handler_once_a_real_time_one_n_times() {
    let ran = run(&["pending"]);
    assert_success(&ran, &pending_stdout(5));
    assert!(ran.stdout.contains("values 1 2 3 4 5 ("), "{}", ran.stdout);
    for times in [2, 5, 7, 100] {
        let ran = run(&["pending", "--times", &times.to_string()]);
        assert_success(&ran, &pending_stdout(times));
    }
    let explained = run(&["pending", "--times", "3", "--explain"]);
    assert_eq!(
        (code(&explained), explained.stdout.as_str()),
        (0, pending_stdout(3).as_str())
    );
    for phrase in [
        "sigprocmask(SIG_BLOCK, {SIGUSR1}) = 0",
        "sigprocmask(SIG_UNBLOCK, {SIGRTMIN}) = 0",
    ] {
        assert!(explained.stderr.contains(phrase), "{}", explained.stderr);
    }
}

/// Under a low RLIMIT_SIGPENDING (`ulimit -i 5`) the sigqueue of `pending` fails with EAGAIN;
/// it once said only `error: Try again (EAGAIN)`. The error names the call, and the hint the limit,
/// its value now and how to raise it. Where the limit queued and other processes of this user
/// hold signals, the send may fail earlier than the 6th: which one is not asserted.
#[test]
fn pending_under_a_low_rlimit_sigpending_names_sigqueue_and_ulimit_i() {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(r#"ulimit -i 5 && exec "$0" pending --times 10"#)
        .arg(bin("sig-demo"));
    let ran = Demo::start_cmd(c).finish();
    if code(&ran) == 0 {
        eprintln!(
            "skipped: RLIMIT_SIGPENDING 5 did not stop 10 queued signals on this system: {}",
            ran.stdout
        );
        return;
    }
    assert_eq!(code(&ran), 1, "{}", ran.stderr);
    // SIGUSR1 is sent with kill, which the limit does not stop; SIGRTMIN is not queued whole.
    let first_part: String = pending_stdout(10)
        .lines()
        .take(3)
        .map(|l| l.to_string() + "\n")
        .collect();
    assert_eq!(ran.stdout, first_part);
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", ran.stderr);
    let rest = lines[0]
        .strip_prefix("error: sigqueue: cannot send SIGRTMIN to this process, signal ")
        .unwrap_or_else(|| panic!("{}", ran.stderr));
    let (nth, rest) = rest.split_once(" of 10 (").expect(lines[0]);
    let nth: u32 = nth.parse().expect(lines[0]);
    assert!((1..=6).contains(&nth), "{}", lines[0]);
    assert_eq!(
        rest,
        format!("{} sent before it): Try again (EAGAIN)", nth - 1)
    );
    assert_eq!(
        lines[1],
        "hint: the kernel holds at most RLIMIT_SIGPENDING queued signals (sent with sigqueue, or \
         real-time) per user until they are delivered, its other processes' included; this \
         process's limit is 5 (hard limit 5): `ulimit -i` shows it, `ulimit -i N` raises it up \
         to the hard limit; or send fewer with --times"
    );
}

#[test]
fn pending_times_out_of_range_is_a_usage_error() {
    for bad in ["0", "101", "-1", "abc", ""] {
        let ran = run(&["pending", "--times", bad]);
        assert_usage_error(&ran, &format!("--times {bad:?}"));
    }
}

#[test]
fn counts_of_one_are_singular() {
    let ran = run(&["pending", "--times", "1"]);
    assert_success(&ran, &pending_stdout(1));
    assert!(!ran.stdout.contains(" 1 times"), "{}", ran.stdout);
    assert!(!ran.stdout.contains("(s)"), "{}", ran.stdout);
    let mut demo = start_wait(&["--count", "1"]);
    signal_and_report(&mut demo, Signal::SIGUSR1);
    let ran = demo.finish();
    assert!(
        ran.stdout.ends_with("\n1 signal received: done\n"),
        "{}",
        ran.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// threads: a signal to the process, a signal to one thread

/// What `sig-demo threads` prints, every time: thread numbers, never tids.
const THREADS: &str = "\
3 threads: the main thread, worker 1 and worker 2; one handler for SIGUSR1, which notes the thread it runs in
to the process, kill(getpid(), SIGUSR1): any one thread that does not block it
  blocked in the main thread and worker 1: the handler ran in worker 2 (si_code SI_USER: kill)
  blocked in the main thread and worker 2: the handler ran in worker 1 (si_code SI_USER: kill)
to one thread, pthread_kill(thread, SIGUSR1): that thread, SIGUSR1 blocked nowhere
  to the main thread: the handler ran in the main thread (si_code SI_TKILL: tgkill)
  to worker 1: the handler ran in worker 1 (si_code SI_TKILL: tgkill)
  to worker 2: the handler ran in worker 2 (si_code SI_TKILL: tgkill)
to worker 1, which blocks SIGUSR1 (the others do not): it waits for worker 1
  pending in worker 1: SIGUSR1; in the main thread: none; the handler has not run
  worker 1 unblocks it: the handler ran in worker 1 (si_code SI_TKILL: tgkill)
";

#[test]
fn threads_kill_runs_the_handler_in_a_thread_that_does_not_block_it_pthread_kill_in_that_thread() {
    // The same bytes every time: which thread runs the handler is the kernel's rule, not chance.
    for _ in 0..25 {
        let ran = run(&["threads"]);
        assert_success(&ran, THREADS);
        assert!(ran.children.is_empty(), "threads forks nothing");
    }
}

#[test]
fn threads_explain_shows_the_tids_on_stderr_and_leaves_stdout_as_it_is() {
    let demo = start(&["--explain", "threads"]);
    let pid = demo.pid();
    let ran = demo.finish();
    assert_eq!(
        (code(&ran), ran.stdout.as_str()),
        (0, THREADS),
        "{}",
        ran.stderr
    );
    let err = &ran.stderr;
    for step in 1..=5 {
        assert!(
            err.contains(&format!("[step {step}] ")),
            "step {step}: {err}"
        );
    }
    // The tids: the main thread's is the PID, the workers' two others, each named with them.
    let line = err
        .lines()
        .find(|l| l.contains("the main thread is tid"))
        .unwrap_or_else(|| panic!("no tids: {err}"));
    let tids: Vec<i32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let [p, main, 1, w1, 2, w2] = tids[..] else {
        panic!("{line}");
    };
    assert_eq!((p, main), (pid, pid), "{line}");
    assert!(w1 != pid && w2 != pid && w1 != w2, "{line}");
    assert_eq!(
        line,
        format!(
            "  process {pid}: the main thread is tid {pid}, worker 1 tid {w1}, worker 2 tid {w2}"
        )
    );
    for phrase in [
        format!("kill({pid}, SIGUSR1) = 0"),
        format!("pthread_kill(main thread, SIGUSR1), tgkill({pid}, {pid}, SIGUSR1) = 0"),
        format!("pthread_kill(worker 1, SIGUSR1), tgkill({pid}, {w1}, SIGUSR1) = 0"),
        format!("pthread_kill(worker 2, SIGUSR1), tgkill({pid}, {w2}, SIGUSR1) = 0"),
        format!("the handler ran in tid {w2} (worker 2)"),
        format!("the handler ran in tid {pid} (the main thread)"),
        "sigpending() in worker 1 = SIGUSR1".to_string(),
        "sigpending() in the main thread = none".to_string(),
    ] {
        assert!(err.contains(&phrase), "{phrase}: {err}");
    }
}

#[test]
fn threads_a_termination_signal_ends_it_by_that_signal_or_it_finishes_first() {
    // It finishes within milliseconds, so a signal lands early, in the middle, or after the
    // end: each way it stops cleanly (exit by the signal or status 0), says nothing on stderr,
    // has printed whole lines of the report, and leaves no thread or process behind.
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        for delay_us in [0, 1000, 3000, 5000, 8000] {
            let demo = start(&["threads"]);
            std::thread::sleep(std::time::Duration::from_micros(delay_us));
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(demo.pid()), sig);
            let ran = demo.finish();
            assert_eq!(ran.stderr, "", "{sig} after {delay_us} us");
            if ran.status.signal().is_some() {
                assert_ended_by(&ran, sig as i32);
                assert!(THREADS.starts_with(&ran.stdout), "{sig}: {}", ran.stdout);
            } else {
                assert_success(&ran, THREADS);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// send: errors

#[test]
fn send_to_a_pid_with_no_process_is_esrch_with_a_hint() {
    let pid = pid_never_used();
    for (args, sig) in [
        (&["USR1"][..], "SIGUSR1"),
        (&["TERM", "--value", "3"][..], "SIGTERM"),
        (&["RTMIN+1"][..], "SIGRTMIN+1"),
    ] {
        let (_, sent) = sig_send(&[&[pid.to_string().as_str()][..], args].concat());
        assert_eq!(
            (shell_status(sent.status), sent.stdout.as_str()),
            (1, ""),
            "{args:?}: {}",
            sent.stderr
        );
        assert_eq!(
            sent.stderr,
            format!(
                "error: cannot send {sig} to process {pid}: No such process (ESRCH)\n\
                 hint: no process {pid} is running: `sig-demo wait` prints a PID to use\n"
            ),
            "{args:?}"
        );
    }
}

#[test]
fn send_to_another_users_process_is_eperm_with_a_hint() {
    skip_unless_nobody!("cannot act as another user (needs root and setpriv)");
    // A process of this test's user (root), signalled by nobody: refused, and it gets nothing.
    let demo = start_wait(&[]);
    let pid = demo.pid();
    for value in [None, Some("5")] {
        let mut c = as_nobody("sig-demo");
        c.args(["send", &pid.to_string(), "USR1"]);
        if let Some(v) = value {
            c.args(["--value", v]);
        }
        let out = output_of(&mut c, b"");
        assert_eq!(
            (shell_status(out.status), out.stdout.as_str()),
            (1, ""),
            "{value:?}: {}",
            out.stderr
        );
        assert_eq!(
            out.stderr,
            format!(
                "error: cannot send SIGUSR1 to process {pid}: Operation not permitted (EPERM)\n\
                 hint: process {pid} belongs to another user: only its owner (or root) may signal it\n"
            ),
            "{value:?}"
        );
    }
    assert_received_nothing_and_end(demo);
}

#[test]
fn send_an_unknown_signal_is_a_usage_error_that_names_it() {
    // Sent at a waiting sig-demo of this test's own: it must get nothing.
    let demo = start_wait(&[]);
    let pid = demo.pid().to_string();
    for bad in [
        "FOO", "0", "65", "RTMIN+99", "RTMIN-1", "RTMAX--1", "32", "33", "-1", "SIGFOO", "", "1.5",
        "USR3",
    ] {
        let ran = run(&["send", &pid, "--", bad]);
        assert_usage_error(&ran, bad);
        assert!(
            ran.stderr.starts_with(&format!(
                "error: invalid value '{bad}' for '<SIGNAL>': {bad:?} is not a signal"
            )),
            "{bad}: {}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains("`sig-demo list` shows them"),
            "{}",
            ran.stderr
        );
    }
    assert_received_nothing_and_end(demo);
}

#[test]
fn send_past_sigrtmax_is_a_usage_error() {
    let demo = start_wait(&[]);
    let pid = demo.pid().to_string();
    for bad in ["RTMAX+1", "SIGRTMAX+2", "RTMIN++1"] {
        let ran = run(&["send", &pid, bad]);
        assert_usage_error(&ran, bad);
    }
    assert_received_nothing_and_end(demo);
}

#[test]
fn send_pid_0_or_negative_is_a_usage_error() {
    let never = format!("-{}", pid_never_used());
    for args in [
        &["send", "0", "USR1"][..],
        &["send", "--", &never, "USR1"][..],
        &["send", &never, "USR1"][..],
        &["send", "abc", "USR1"][..],
        &["send", "2147483648", "USR1"][..],
    ] {
        // In a process group of its own: should it signal "its group" (pid 0), only it is hit.
        let mut c = cmd_with("sig-demo", args);
        std::os::unix::process::CommandExt::process_group(&mut c, 0);
        let ran = Demo::start_cmd(c).finish();
        assert_usage_error(&ran, &format!("{args:?}"));
        assert!(
            ran.stderr.contains("<PID>") || ran.stderr.contains("unexpected argument '-"),
            "{args:?}: {}",
            ran.stderr
        );
    }
    let ran = run(&["send", "0", "USR1"]);
    assert!(
        ran.stderr
            .starts_with("error: invalid value '0' for '<PID>': 0 is not in 1..="),
        "{}",
        ran.stderr
    );
}

#[test]
fn send_explain_narrates_the_call_and_leaves_stdout_as_it_is() {
    let mut demo = start_wait(&[]);
    let pid = demo.pid();
    for (args, call, said) in [
        (
            vec!["--explain", "send"],
            format!("  kill({pid}, SIGUSR2) = 0\n"),
            format!("sent SIGUSR2 (12) to process {pid}\n"),
        ),
        (
            vec!["send", "--explain"],
            format!("  sigqueue({pid}, SIGUSR2, {{sival_int = 9}}) = 0\n"),
            format!("sent SIGUSR2 (12) to process {pid} with value 9\n"),
        ),
    ] {
        let mut all = args.clone();
        let p = pid.to_string();
        all.extend([p.as_str(), "USR2"]);
        if call.contains("sigqueue") {
            all.extend(["--value", "9"]);
        }
        let ran = run(&all);
        assert_eq!(
            (code(&ran), ran.stdout.as_str(), ran.stderr.as_str()),
            (0, said.as_str(), call.as_str()),
            "{all:?}"
        );
        demo.run.wait_stdout("received SIGUSR2 (12)");
    }
    kill(pid, Signal::SIGTERM);
    assert_ended_by(&demo.finish(), 15);
}

// ---------------------------------------------------------------------------------------------
// A closed stdout

#[test]
fn a_closed_stdout_ends_it_quietly() {
    for args in [
        &["list"][..],
        &["pending"][..],
        &["uncatchable"][..],
        &["threads"][..],
        &["wait"][..],
    ] {
        let ran = run_with_stdout_closed(cmd_with("sig-demo", args));
        assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""), "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Help, version, usage errors

const SUBCOMMANDS: [&str; 8] = [
    "segv",
    "fpe",
    "wait",
    "uncatchable",
    "pending",
    "threads",
    "list",
    "send",
];

#[test]
fn help_names_the_notes_section_every_subcommand_and_examples() {
    let long = assert_top_help(
        &[
            "Usage: sig-demo [OPTIONS] [COMMAND]",
            "--no-handler",
            "--color",
            "--explain",
            "--version",
        ],
        &SUBCOMMANDS,
        run,
    );
    assert!(long.contains("Lecture notes: B4 Unix Signal"), "{long}");
    assert!(long.contains("Examples:"), "{long}");
    for example in [
        "sig-demo segv --no-handler",
        "sig-demo send 4242 USR1 --value 7",
        "sig-demo list --pid 4242",
        "sig-demo threads",
        "Memory access blows up!",
    ] {
        assert!(long.contains(example), "{example}: {long}");
    }
}

#[test]
fn version_is_the_packages() {
    assert_version("sig-demo", run);
}

#[test]
fn each_subcommand_has_help() {
    assert_subcommand_helps("sig-demo", &SUBCOMMANDS, run);
    assert_helps_mention(
        &[
            ("segv", &["--no-handler", "SIGSEGV handler"][..]),
            ("fpe", &["--no-handler", "division by zero"][..]),
            ("wait", &["--count <N>", "with its sender"][..]),
            ("uncatchable", &["SIGKILL and SIGSTOP"][..]),
            ("pending", &["--times <N>", "[default: 5]", "real-time"][..]),
            (
                "threads",
                &[
                    "pthread_kill",
                    "does not block",
                    "B4 Unix Signal",
                    "sig-demo --explain threads",
                ][..],
            ),
            ("list", &["--pid <PID>", "default action"][..]),
            (
                "send",
                &["<PID> <SIGNAL>", "--value <N>", "sigqueue(3)", "RTMIN+1"][..],
            ),
        ],
        run,
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    assert_usage_errors(
        &[
            &["segv", "--bogus"][..],
            &["segv", "extra"][..],
            &["--color", "sometimes"][..],
            &["--no-handler=yes"][..],
            &["wait", "extra"][..],
            &["wait", "--count"][..],
            &["list", "--pid"][..],
            &["list", "extra"][..],
            &["send"][..],
            &["send", "42"][..],
            &["send", "42", "USR1", "extra"][..],
            &["send", "42", "USR1", "--value"][..],
            &["send", "42", "USR1", "--value", "abc"][..],
            &["send", "42", "USR1", "--value", "2147483648"][..],
            &["pending", "--times"][..],
            &["uncatchable", "extra"][..],
            &["threads", "extra"][..],
            &["threads", "--times", "2"][..],
        ],
        run,
    );
}

// ---------------------------------------------------------------------------------------------
// Rows of the fault table (tests/lab/faults.rs): sig-demo, wherever it waits

fn sig_demo_waits(s: &mut Subject, _: &mut Fixture) {
    s.wait_out("  kill -TERM ");
    s.wait_in(POLL);
}

/// sig-demo, at every place it waits: its rows of the fault table, which sends each row every
/// termination signal (see [`crate::faults`]).
pub(crate) fn fault_rows() -> Vec<faults::Row> {
    use faults::Row;
    let row = faults::row;
    vec![
        // sig-demo: waiting for signals (SIGHUP is reported, by design).
        Row {
            survives: &[Signal::SIGHUP],
            ..row(
                "sig-demo",
                "wait: waiting for signals",
                &["wait"],
                sig_demo_waits,
            )
        },
        Row {
            survives: &[Signal::SIGHUP],
            ..row(
                "sig-demo",
                "wait --count: waiting for signals",
                &["wait", "--count", "5"],
                sig_demo_waits,
            )
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Rows of the bad-input table (tests/lab/bad_input.rs): every option of sig-demo

/// Options of sig-demo's subcommands. A signal is only ever sent to a pid no process has.
fn sig_rows() -> Vec<bad_input::Row> {
    use bad_input::Row;
    let nobody = pid_never_used().to_string();
    vec![
        Row::opt("sig-demo", "--count").before(&["wait"]),
        Row::opt("sig-demo", "--times").before(&["pending"]),
        Row::opt("sig-demo", "--pid").before(&["list"]),
        Row::pos("sig-demo", "PID")
            .before(&["send"])
            .after(&["TERM"]),
        Row::pos("sig-demo", "SIGNAL").before(&["send", &nobody]),
        // Negative values are allowed: sent to nobody (ESRCH, exit 1).
        Row::opt("sig-demo", "--value")
            .before(&["send", &nobody, "TERM"])
            .but(&[Bad::Negative, Bad::NegativeAttached], Want::Failure),
        Row::opt("sig-demo", "--color").before(&["list"]),
        Row::opt("sig-demo", "--color").before(&["threads"]),
    ]
}

#[test]
fn sig_demo_bad_arguments() {
    let nobody = pid_never_used().to_string();
    try_bad_arguments(
        "sig-demo",
        &sig_rows(),
        &[],
        &[
            &["bogus"],
            &["send", "--bogus"],
            &["send", &nobody],
            &["send", &nobody, "TERM", "extra"],
            &["list", "--no-handler"],
            &["wait", "--no-handler"],
            &["threads", "extra"],
            &["threads", "--count", "1"],
            &["threads", "--pid", "1"],
            &["threads", "--value", "1"],
        ],
    );
}
