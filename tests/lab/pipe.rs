//! pipe-demo as real processes: the notes' program, pipe() failing with EMFILE, dup() onto
//! stdout, a pipe's missing name, `CMD1 | CMD2` against the shell's own, the capacity, the blocking timeline (its order, not its times), end of file, SIGPIPE and EPIPE,
//! half and full duplex, atomic writes, several readers of one pipe, named pipes across two processes, termination signals,
//! help and usage errors.
//!
//! Every run is tagged (an environment variable its children inherit) and its children are
//! recorded while it runs: afterwards none may be left, neither running nor unreaped (this test
//! process adopts orphans, so a child its parent did not wait for shows up here). FIFOs live
//! under the temporary directory with the pid and a counter in their names, and are removed
//! however a test ends.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::bad_input::{self, Bad, Want, try_bad_arguments};
use crate::common::*;
use crate::faults::{self, Fixture, POLL, Subject, WAITPID, WRITE};

// ---------------------------------------------------------------------------------------------
// Running pipe-demo

/// pipe-demo with these arguments (tagged, its children watched: see [`Demo`]).
fn start(args: &[&str]) -> Demo {
    Demo::start("pipe-demo", args)
}

/// pipe-demo with these arguments and `stdin`, run to its end (bounded), nothing left behind.
#[track_caller]
fn run_stdin(args: &[&str], stdin: &[u8]) -> Ran {
    let mut demo = start(args);
    // A run that ends before reading its input is fine: ignore the broken pipe.
    let _ = demo.run.stdin.as_mut().unwrap().write_all(stdin);
    demo.finish()
}

#[track_caller]
fn run(args: &[&str]) -> Ran {
    run_stdin(args, b"")
}

/// The shell's own `sh -c 'CMD1 | CMD2'`: its status and stdout.
fn shell_pipeline(first: &str, second: &str) -> (i32, String) {
    let out = output_of(
        Command::new("sh")
            .arg("-c")
            .arg(format!("{first} | {second}"))
            .env("LC_ALL", "C"),
        b"",
    );
    (shell_status(out.status), out.stdout)
}

/// `pipe-demo redirect CMD1 CMD2` (LC_ALL=C, as the shell's run).
fn redirect(first: &str, second: &str) -> Ran {
    let mut c = cmd_with("pipe-demo", &["redirect", first, second]);
    c.env("LC_ALL", "C");
    let demo = Demo::start_cmd(c);
    demo.finish()
}

/// Replace the number after each `before` (up to `after`) with `N`: `(fd 6)` -> `(fd N)`.
fn mask_numbers(text: &str, before: &str, after: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(before) {
        let (head, tail) = rest.split_at(at + before.len());
        out.push_str(head);
        let digits = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(tail.len());
        if digits > 0 && tail[digits..].starts_with(after) {
            out.push('N');
            rest = &tail[digits..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// The blocking timeline without its times: the `  0.301s ` before each event is dropped and
/// each `after 0.3 s` becomes `after N s`.
fn timeline_events(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let event = match trimmed.split_once("s ") {
                Some((time, event))
                    if !time.is_empty() && time.chars().all(|c| c.is_ascii_digit() || c == '.') =>
                {
                    event
                }
                _ => line,
            };
            mask_numbers(event, "after ", " s")
        })
        .collect()
}

/// Send a signal by number to a running demo.
fn signal(demo: &Demo, sig: i32) {
    demo.run.signal(sig);
}

// ---------------------------------------------------------------------------------------------
// hello: the notes' program

const HELLO: &str = "Proc 0 read: Hello There!\n";

#[test]
fn with_no_subcommand_it_is_the_notes_program() {
    let ran = run(&[]);
    assert_success(&ran, HELLO);
    let ran = run(&["hello"]);
    assert_success(&ran, HELLO);
}

#[test]
fn message_is_what_the_parent_sends_and_the_child_prints() {
    for (args, expected) in [
        (&["--message", "hi you"][..], "Proc 0 read: hi you\n"),
        (&["hello", "--message", "x"][..], "Proc 0 read: x\n"),
        (
            &["hello", "--message=ünï  two"][..],
            "Proc 0 read: ünï  two\n",
        ),
        (&["--message", ""][..], "Proc 0 read: \n"),
    ] {
        let ran = run(args);
        assert_success(&ran, expected);
    }
    // The default and a subcommand do not mix.
    let ran = run(&["--message", "hi", "hello"]);
    assert_usage_error(&ran, "--message before hello");
}

#[test]
fn explain_narrates_hello_on_stderr_and_leaves_stdout_as_it_is() {
    for args in [&["--explain"][..], &["hello", "--explain"][..]] {
        let ran = run(args);
        assert_eq!((code(&ran), ran.stdout.as_str()), (0, HELLO), "{args:?}");
        let err = &ran.stderr;
        for phrase in [
            "[step 1] create the pipe",
            "pipe(pipeFd) = 0: pipeFd[0] = ",
            "[step 2] fork",
            "fork() = ",
            " in the parent, 0 in the child",
            "[step 3] the parent: close the read end, write, close the write end",
            ", 13) = 13",
            "[step 4] wait for the child",
            ") = exited 0",
        ] {
            assert!(err.contains(phrase), "{args:?}: no {phrase:?} in {err}");
        }
        assert!(!err.contains("error"), "{err}");
    }
}

#[test]

fn explain_shows_the_nul_the_parent_writes_as_c_writes_it() {
    let ran = run(&["--explain"]);
    assert_eq!(code(&ran), 0);
    let line = ran
        .stderr
        .lines()
        .find(|l| l.contains("write("))
        .unwrap_or_else(|| panic!("no write( in {}", ran.stderr));
    assert_eq!(
        mask_numbers(line.trim(), "write(", ","),
        r#"write(N, "Hello There!\0", 13) = 13"#
    );
}

#[test]
fn explain_changes_no_byte_of_any_deterministic_stdout() {
    for args in [
        &["capacity", "--size", "5000"][..],
        &["eof"][..],
        &["duplex", "--rounds", "2"][..],
        &["writers", "--writers", "2", "--records", "3"][..],
        &["redirect", "echo hi", "tr a-z A-Z"][..],
    ] {
        let plain = run(args);
        let mut explained_args = args.to_vec();
        explained_args.push("--explain");
        let explained = run(&explained_args);
        assert_eq!(code(&plain), 0, "{args:?}: {}", plain.stderr);
        assert_eq!(code(&explained), 0, "{args:?}: {}", explained.stderr);
        assert_eq!(explained.stdout, plain.stdout, "{args:?}");
        assert_eq!(plain.stderr, "", "{args:?}");
        assert!(!explained.stderr.is_empty(), "{args:?} narrates");
        assert!(!explained.stderr.contains("error"), "{}", explained.stderr);
    }
}

#[test]
fn common_options_may_come_before_the_subcommand() {
    let after = run(&["capacity", "--explain"]);
    assert_eq!(code(&after), 0, "{}", after.stderr);
    let before = run(&["--explain", "capacity"]);
    assert_eq!(code(&before), 0, "{}", before.stderr);
    assert_eq!(before.stdout, after.stdout);
    assert_eq!(before.stderr, after.stderr);
    let ran = run(&["--color", "never", "eof"]);
    assert_eq!(code(&ran), 0, "{}", ran.stderr);
}

#[test]
fn a_closed_stdout_before_the_first_line_ends_the_demo_quietly() {
    // The parent prints the first line itself: the broken pipe is its own, and it ends at once.
    for args in [
        &["capacity"][..],
        &["eof"][..],
        &["duplex"][..],
        &["writers", "--writers", "2", "--records", "2"][..],
        &["readers", "--readers", "2", "--records", "2"][..],
        &["broken", "--ignore-sigpipe"][..],
        &["fail"][..],
        &["dup"][..],
        &["anon"][..],
    ] {
        let ran = run_with_stdout_closed(cmd_with("pipe-demo", args));
        assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""), "{args:?}");
    }
}

#[test]
fn a_reader_that_stops_early_ends_the_demo_quietly() {
    // hello: only the child prints, so a closed stdout always reaches the child first.
    let ran = run_with_stdout_closed(cmd_with("pipe-demo", &["hello"]));
    assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""), "hello");
    // eof and duplex: the reader takes the parent's first line, then goes; the child's lines
    // then meet a closed pipe (often before the parent is done).
    for args in ["eof", "duplex --rounds 1000", "dup", "anon"] {
        for _ in 0..20 {
            let out = output_of(
                Command::new("sh")
                    .arg("-c")
                    .arg(format!(
                        "{{ \"$0\" {args}; echo \"status $?\" >&2; }} | head -n 1"
                    ))
                    .arg(bin("pipe-demo"))
                    .env("NO_COLOR", "1"),
                b"",
            );
            assert_eq!(out.stderr, "status 0\n", "pipe-demo {args} | head -n 1");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// redirect: CMD1 | CMD2 built by hand

#[test]
fn redirect_prints_what_the_shells_pipeline_prints() {
    for (first, second, expected) in [
        (r"printf 'b\na\nc\n'", "sort", "a\nb\nc\n"),
        ("seq 1 1000", "wc -l", "1000\n"),
        (r#"echo "a  b""#, "tr -s ' '", "a b\n"),
        (r#"printf "%s\n" "x y""#, "cat", "x y\n"),
        (
            r#"printf '%s|' 'single "quoted"' "double 'quoted'""#,
            "cat",
            "single \"quoted\"|double 'quoted'|",
        ),
        ("echo hi", "tr a-z A-Z", "HI\n"),
        // Only the pipe's bytes reach CMD2; CMD1's stderr passes by.
        ("sh -c 'echo out; echo to-stderr >&2'", "cat", "out\n"),
    ] {
        let ran = redirect(first, second);
        let (shell_code, shell_out) = shell_pipeline(first, second);
        assert_eq!(
            (code(&ran), ran.stdout.as_str()),
            (shell_code, shell_out.as_str()),
            "{first} | {second}: {}",
            ran.stderr
        );
        assert_eq!(ran.stdout, expected, "{first} | {second}");
        assert_eq!(code(&ran), 0);
        let expected_err = if first.contains("to-stderr") {
            "to-stderr\n"
        } else {
            ""
        };
        assert_eq!(ran.stderr, expected_err, "{first} | {second}");
    }
}

#[test]
fn redirect_exits_with_the_last_commands_status() {
    for (first, second, expected) in [
        ("true", "sh -c 'exit 3'", 3),
        ("false", "true", 0),
        ("true", "false", 1),
        ("sh -c 'exit 7'", "cat", 0),
    ] {
        let ran = redirect(first, second);
        let (shell_code, _) = shell_pipeline(first, second);
        assert_eq!(code(&ran), expected, "{first} | {second}: {}", ran.stderr);
        assert_eq!(code(&ran), shell_code, "{first} | {second} as sh");
        assert_eq!((ran.stdout.as_str(), ran.stderr.as_str()), ("", ""));
    }
}

#[test]
fn redirect_a_command_that_does_not_exist_is_127_last_and_an_error_on_stderr() {
    let missing = "ipc-lab-no-such-command";
    let error = format!("error: cannot run \"{missing}\": No such file or directory (ENOENT)\n");

    let ran = redirect("echo hi", missing);
    assert_eq!(code(&ran), 127, "{}", ran.stderr);
    assert_eq!(
        (ran.stdout.as_str(), ran.stderr.as_str()),
        ("", error.as_str())
    );
    assert_eq!(shell_pipeline("echo hi", missing).0, 127, "as sh");

    // First: the pipeline's status is still the last command's, as in a shell.
    let ran = redirect(missing, "cat");
    assert_eq!(code(&ran), 0, "{}", ran.stderr);
    assert_eq!(
        (ran.stdout.as_str(), ran.stderr.as_str()),
        ("", error.as_str())
    );
    assert_eq!(shell_pipeline(missing, "cat").0, 0, "as sh");

    // Found but not runnable (a directory): 126, as a shell.
    let ran = redirect("echo hi", "/");
    assert_eq!(code(&ran), 126, "{}", ran.stderr);
    assert_eq!(ran.stdout, "");
    assert!(
        ran.stderr.starts_with("error: cannot run \"/\": ") && ran.stderr.contains("(EACCES)"),
        "{}",
        ran.stderr
    );
    assert_eq!(shell_pipeline("echo hi", "/").0, 126, "as sh");
}

#[test]
fn redirect_an_unclosed_quote_or_an_empty_command_is_a_usage_error() {
    for (first, second, message) in [
        (
            "echo 'abc",
            "cat",
            "error: CMD1 \"echo 'abc\" cannot be split into words: a quote is not closed\n",
        ),
        (
            "echo hi",
            "tr \"a b",
            "error: CMD2 \"tr \\\"a b\" cannot be split into words: a quote is not closed\n",
        ),
        (
            "",
            "cat",
            "error: CMD1 is empty: give a command such as 'ls -l'\n",
        ),
        (
            "echo hi",
            "   ",
            "error: CMD2 is empty: give a command such as 'ls -l'\n",
        ),
    ] {
        let ran = redirect(first, second);
        assert_usage_error(&ran, &format!("{first:?} | {second:?}"));
        assert_eq!(ran.stderr, message);
    }
    // clap's own: a missing CMD2.
    let ran = run(&["redirect", "ls"]);
    assert_usage_error(&ran, "redirect ls");
    assert!(ran.stderr.contains("<CMD2>"), "{}", ran.stderr);
}

#[test]
fn redirect_carries_far_more_than_the_pipes_capacity() {
    // 1.3 MB through a 64 KiB pipe: the writer fills it and waits, the reader drains it.
    let ran = redirect("seq 1 200000", "tail -n 1");
    assert_success(&ran, "200000\n");
    let ran = redirect("seq 1 200000", "wc -c");
    assert_eq!(ran.stdout.trim(), "1288895");
    assert_eq!(
        ran.stdout,
        shell_pipeline("seq 1 200000", "wc -c").1,
        "as sh"
    );
    // A reader that stops early: the writer dies by SIGPIPE (its default action restored before
    // exec), as in a shell, instead of writing for ever.
    let ran = redirect("yes", "head -n 1");
    assert_success(&ran, "y\n");
    assert_eq!(shell_pipeline("yes", "head -n 1"), (0, "y\n".to_string()));
}

#[test]
fn redirect_reaps_both_children() {
    // Long enough for the watch to see both: pipe-demo waits for each, none is handed on.
    let ran = redirect("sleep 0.3", "cat");
    assert_success(&ran, "");
    assert_eq!(ran.children.len(), 2, "{:?}", ran.children);
}

/// A descriptor table as redirect --explain prints it (`0 -> /dev/null  5 -> pipe:[12] (read
/// end, cloexec)`): each number with its target and its notes.
fn fd_cells(table: &str) -> Vec<(i32, String, String)> {
    table
        .split("  ")
        .map(|cell| {
            let (n, rest) = cell
                .split_once(" -> ")
                .unwrap_or_else(|| panic!("{cell:?} in {table:?}"));
            let (target, notes) = match rest.strip_suffix(')').and_then(|r| r.rsplit_once(" (")) {
                Some((target, notes)) => (target, notes),
                None => (rest, ""),
            };
            (
                n.parse().unwrap_or_else(|_| panic!("{cell:?}")),
                target.to_string(),
                notes.to_string(),
            )
        })
        .collect()
}

#[test]
fn redirect_explain_shows_each_processs_descriptor_table_from_proc() {
    let mut c = cmd_with("pipe-demo", &["redirect", "--explain", "seq 5", "sort -r"]);
    c.env("LC_ALL", "C");
    let ran = Demo::start_cmd(c).finish();
    // The shell compares stdout: the tables go to stderr only.
    assert_eq!(
        (code(&ran), ran.stdout.as_str()),
        (0, "5\n4\n3\n2\n1\n"),
        "{}",
        ran.stderr
    );
    let err = &ran.stderr;
    let lines: Vec<&str> = err.lines().map(str::trim_start).collect();
    let (r, w) = two_fds(
        lines
            .iter()
            .find(|l| l.starts_with("pipe(fd) = 0: "))
            .unwrap_or_else(|| panic!("no pipe(fd) in {err}")),
    );
    let at = |head: &str| -> usize {
        let found: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with(head))
            .collect();
        assert_eq!(found.len(), 1, "{head:?} once in {err}");
        found[0]
    };
    let table = |head: &str| fd_cells(&lines[at(head)][head.len()..]);
    let heads = [
        "parent after pipe(): ",
        "child 1 (seq 5) after fork: ",
        "child 1 (seq 5) before exec: ",
        "child 2 (sort -r) after fork: ",
        "child 2 (sort -r) before exec: ",
        "parent after closing both ends: ",
    ];
    let places: Vec<usize> = heads.iter().map(|h| at(h)).collect();
    assert!(places.windows(2).all(|p| p[0] < p[1]), "in order: {err}");

    // The parent, after pipe(): both ends of one pipe, read end and write end.
    let parent = table(heads[0]);
    let find = |t: &[(i32, String, String)], n: i32| t.iter().find(|c| c.0 == n).cloned();
    let (_, lab, notes) = find(&parent, r).unwrap_or_else(|| panic!("no fd {r}: {err}"));
    assert!(lab.starts_with("pipe:[") && lab.ends_with(']'), "{lab}");
    assert_eq!(notes, "read end, cloexec");
    assert_eq!(
        find(&parent, w),
        Some((w, lab.clone(), "write end, cloexec".into()))
    );
    let standard: Vec<_> = (0..3).map(|n| find(&parent, n)).collect();
    assert!(standard.iter().all(Option::is_some), "{err}");

    // Each child after fork: a copy of the parent's table.
    assert_eq!(table(heads[1]), parent, "{err}");
    assert_eq!(table(heads[3]), parent, "{err}");

    // Each child before exec: its end on 1 (or 0), not close-on-exec; neither original end.
    let writer = table(heads[2]);
    assert_eq!(find(&writer, 1), Some((1, lab.clone(), "write end".into())));
    let reader = table(heads[4]);
    assert_eq!(find(&reader, 0), Some((0, lab.clone(), "read end".into())));
    for (t, kept) in [(&writer, [0, 2]), (&reader, [1, 2])] {
        assert!(find(t, r).is_none() && find(t, w).is_none(), "{err}");
        assert_eq!(t.iter().filter(|c| c.1 == lab).count(), 1, "{err}");
        for n in kept {
            assert_eq!(find(t, n), standard[n as usize], "{err}");
        }
    }
    // ... told after dup2 and close, just before the exec.
    let writer_pid = lines[at(heads[1]) - 1]
        .strip_prefix("fork() = ")
        .unwrap_or_else(|| panic!("fork() before the table: {err}"));
    let dup2 = at(&format!("in child {writer_pid}: dup2({w}, 1) = 1"));
    let exec = at(&format!("in child {writer_pid}: execvp(\"seq\""));
    assert!(dup2 < places[2] && places[2] + 1 == exec, "{err}");

    // The parent, after closing both ends: no end of the pipe is left in it.
    let after = table(heads[5]);
    assert!(after.iter().all(|c| c.1 != lab), "{err}");
    assert_eq!(after.len() + 2, parent.len(), "{err}");
}

// ---------------------------------------------------------------------------------------------
// capacity

const PIPE_BUF_LINE: &str = "PIPE_BUF: 4096 bytes (a write of at most this many bytes is atomic)\n";

fn capacity_lines(granted: usize) -> String {
    let page = page_size();
    let slots = granted / page;
    let slots = if slots == 1 {
        "1 slot".to_string()
    } else {
        format!("{slots} slots")
    };
    format!(
        "capacity: {granted} bytes written, a page ({page} bytes) at a time, before a write would \
         block (EAGAIN)\n\
         F_GETPIPE_SZ: {granted} bytes: {slots} of one page ({page} bytes) each; writes of other \
         sizes may fill less (--write-size)\n{PIPE_BUF_LINE}"
    )
}

/// What writes of `size` bytes put into an empty pipe of `cap` bytes with pages of `page` bytes
/// until one would block, by the kernel's rule (fs/pipe.c, pipe_write): the pipe has cap / page
/// slots, a page each; a write's bytes beyond whole pages (all of it, below a page) join the last
/// page if they fit there entirely, the rest takes fresh pages while slots are free; a write that
/// finds room for none of its bytes fails with EAGAIN. Returns (writes in whole, writes in part,
/// bytes held).
fn slot_fill(cap: usize, page: usize, size: usize) -> (usize, usize, usize) {
    let slots = cap / page;
    let mut pages: Vec<usize> = Vec::new();
    let (mut whole, mut part, mut held) = (0, 0, 0);
    loop {
        let (mut rest, mut wrote) = (size, 0);
        let odd = size % page;
        if odd > 0 && pages.last().is_some_and(|last| last + odd <= page) {
            *pages.last_mut().unwrap() += odd;
            rest -= odd;
            wrote += odd;
        }
        while rest > 0 && pages.len() < slots {
            let k = rest.min(page);
            pages.push(k);
            rest -= k;
            wrote += k;
        }
        match wrote {
            0 => return (whole, part, held),
            w if w == size => whole += 1,
            _ => part += 1,
        }
        held += wrote;
    }
}

/// The capacity the kernel gives a new pipe, or grants when asked for `asked` bytes.
fn pipe_capacity(asked: Option<usize>) -> usize {
    use nix::fcntl::{FcntlArg, fcntl};
    let (r, w) = nix::unistd::pipe().expect("pipe");
    if let Some(asked) = asked {
        fcntl(&w, FcntlArg::F_SETPIPE_SZ(asked as i32)).expect("F_SETPIPE_SZ");
    }
    let cap = fcntl(&w, FcntlArg::F_GETPIPE_SZ).expect("F_GETPIPE_SZ") as usize;
    drop((r, w));
    cap
}

#[test]
fn capacity_write_size_fills_page_slots_not_bytes() {
    let page = page_size();
    let cap = pipe_capacity(None);
    let slots = cap / page;
    // On this machine's x86-64 (pages of 4096 bytes, 16 of them): 2049-byte writes fill only
    // 32784 bytes, 3000-byte ones 48000.
    if page == 4096 && cap == 65536 {
        assert_eq!(slot_fill(cap, page, 2049).2, 32784);
        assert_eq!(slot_fill(cap, page, 3000).2, 48000);
    }
    for size in [
        2049,
        3000,
        1,
        1000,
        page / 2 + 1,
        page - 1,
        page,
        page + 1,
        5000,
        3 * page + 7,
        cap,
    ] {
        if size > cap {
            continue;
        }
        let ran = run(&["capacity", "--write-size", &size.to_string()]);
        assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""), "{size}");
        let (whole, part, held) = slot_fill(cap, page, size);
        let went = if part == 0 {
            format!("{whole} went in")
        } else {
            format!("{whole} went in whole and {part} in part")
        };
        let bytes = if size == 1 { "byte" } else { "bytes" };
        let lines: Vec<&str> = ran.stdout.lines().collect();
        assert_eq!(lines.len(), 5, "{size}: {}", ran.stdout);
        assert_eq!(
            lines[0],
            format!(
                "writes of {size} {bytes} until one would block (EAGAIN): {went}; the pipe holds \
                 {held} bytes (FIONREAD)"
            ),
            "{size}"
        );
        assert_eq!(
            lines[1],
            format!("F_GETPIPE_SZ: {cap} bytes: {slots} slots of one page ({page} bytes) each")
        );
        assert_eq!(lines[4], PIPE_BUF_LINE.trim_end());
        // Writes of less than a page that do not go twice into one: a page each.
        if size < page && 2 * size > page {
            assert_eq!(
                lines[2],
                "a write smaller than a page joins the last, part-filled page only if it fits \
                 there entirely, else it takes a fresh page"
            );
            assert_eq!(
                lines[3],
                format!(
                    "{size} + {size} > {page}: each write took a fresh page, so the {slots} slots \
                     hold {slots} x {size} = {held} bytes"
                )
            );
        }
        assert!(!ran.stdout.contains("differs"), "{}", ran.stdout);
    }
}

#[test]
fn capacity_write_size_with_a_size_asked_for_fills_the_granted_slots() {
    let page = page_size();
    let cap = pipe_capacity(Some(8192));
    let ran = run(&["capacity", "--size", "8192", "--write-size", "3000"]);
    assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""));
    let (_, _, held) = slot_fill(cap, page, 3000);
    assert!(
        ran.stdout.starts_with(&format!(
            "asked for 8192 bytes (F_SETPIPE_SZ): the kernel granted {cap} (whole pages, a power of \
             two)\nwrites of 3000 bytes until one would block (EAGAIN): "
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains(&format!("; the pipe holds {held} bytes (FIONREAD)\n")),
        "{}",
        ran.stdout
    );
}

#[test]
fn capacity_write_size_out_of_range_is_a_usage_error() {
    let cap = pipe_capacity(None);
    for bad in ["0", "-5", "abc", "", "2147483649"] {
        let ran = run(&["capacity", "--write-size", bad]);
        assert_usage_error(&ran, &format!("--write-size {bad:?}"));
    }
    // Above the capacity: it is known only once the pipe is made (and --size granted).
    let above = (cap + 1).to_string();
    let ran = run(&["capacity", "--write-size", &above]);
    assert_usage_error(&ran, &above);
    assert_eq!(
        ran.stderr,
        format!(
            "error: --write-size {above} is more than the pipe's capacity ({cap} bytes): give 1 \
             to {cap}\n"
        )
    );
    let granted = pipe_capacity(Some(1));
    let above = (granted + 1).to_string();
    let ran = run(&["capacity", "--size", "1", "--write-size", &above]);
    assert_usage_error(&ran, &above);
    assert!(
        ran.stderr
            .contains(&format!("capacity ({granted} bytes): give 1 to {granted}")),
        "{}",
        ran.stderr
    );
}

#[test]
fn capacity_is_65536_bytes_by_default() {
    let ran = run(&["capacity"]);
    assert_success(&ran, &capacity_lines(65536));
}

#[test]
fn capacity_size_is_rounded_up_to_a_power_of_two_pages() {
    for (asked, granted) in [(5000, 8192), (100_000, 131_072), (4096, 4096)] {
        let ran = run(&["capacity", "--size", &asked.to_string()]);
        let expected = format!(
            "asked for {asked} bytes (F_SETPIPE_SZ): the kernel granted {granted} (whole pages, \
             a power of two)\n{}",
            capacity_lines(granted)
        );
        assert_success(&ran, &expected);
    }
}

#[test]
fn capacity_above_pipe_max_size_is_refused_without_privilege() {
    let max: u64 = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .expect("read /proc/sys/fs/pipe-max-size")
        .trim()
        .parse()
        .expect("a number");
    let asked = (max + 1).to_string();
    const CAP_SYS_RESOURCE: u32 = 24;
    let ran = if has_capability(CAP_SYS_RESOURCE) {
        // A privileged process may go above the limit: ask as nobody instead.
        skip_unless_nobody!("privileged, and cannot act as nobody (needs root and setpriv)");
        let mut c = as_nobody("pipe-demo");
        c.args(["capacity", "--size", &asked]);
        Demo::start_cmd(c).finish()
    } else {
        run(&["capacity", "--size", &asked])
    };
    assert_eq!(code(&ran), 1, "{}", ran.stderr);
    assert_eq!(ran.stdout, "");
    assert_eq!(
        ran.stderr,
        format!(
            "error: cannot set the pipe's capacity to {asked} bytes (F_SETPIPE_SZ): Operation not \
             permitted (EPERM)\n\
             hint: without privilege a pipe may have at most {max} bytes \
             (/proc/sys/fs/pipe-max-size)\n"
        )
    );
}

#[test]
fn capacity_size_out_of_range_is_a_usage_error() {
    for bad in ["0", "2147483649", "-5", "abc", ""] {
        let ran = run(&["capacity", "--size", bad]);
        assert_usage_error(&ran, &format!("--size {bad:?}"));
    }
}

#[test]
fn counts_of_one_are_singular() {
    let ran = run(&["capacity", "--size", "1"]);
    assert!(
        ran.stdout.starts_with("asked for 1 byte (F_SETPIPE_SZ)"),
        "{}",
        ran.stdout
    );
    let ran = run(&[
        "writers",
        "--writers",
        "1",
        "--records",
        "1",
        "--record-size",
        "1",
    ]);
    assert_success(
        &ran,
        "1 writer, 1 record of 1 byte each (PIPE_BUF is 4096)\n\
         received 1 record: 1 whole, 0 torn\n\
         each write of 1 byte (at most PIPE_BUF) is atomic: records never interleave\n",
    );
    let ran = run(&["duplex", "--rounds", "1"]);
    assert_success(
        &ran,
        "half duplex: one pipe, parent -> child\n\
         child: got \"request 1\"\n\
         child: end of file after 1 request; it cannot answer on this pipe\n\
         full duplex: two pipes, parent -> child and child -> parent\n\
         parent: sent \"ping 1\", got \"pong 1\"\n\
         parent: 1 round trip over two pipes\n",
    );
    let ran = run(&["writers", "--writers", "1", "--records", "1", "--explain"]);
    assert_eq!(code(&ran), 0, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("  the writer reaped\n") && !ran.stderr.contains("all 1 "),
        "{}",
        ran.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// blocking: the timeline, in order

/// The size of a memory page, which a pipe's slots each hold.
fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .expect("sysconf")
        .expect("a page size") as usize
}

#[test]
fn blocking_shows_the_writer_then_the_reader_waiting_in_order() {
    let ran = run(&["blocking", "--delay", "0.3"]);
    assert_eq!(code(&ran), 0, "{}", ran.stderr);
    assert_eq!(ran.stderr, "");
    // Four slots of a page each: the level after each step, live, as a bar of the slots; each
    // reader line says what it read and what it left.
    let page = page_size();
    let cap = 4 * page;
    let bar = |pages: usize| {
        format!(
            "[{}{}] {} of {cap} bytes",
            "#".repeat(pages),
            ".".repeat(4 - pages),
            pages * page
        )
    };
    assert_eq!(
        timeline_events(&ran.stdout),
        [
            format!(
                "a pipe of {cap} bytes: 4 slots of one page ({page} bytes) each; the writer writes 5 x {page} bytes, the reader waits 0.3 s before reading"
            ),
            format!("writer write #1 of {page} bytes went in: {}", bar(1)),
            format!("writer write #2 of {page} bytes went in: {}", bar(2)),
            format!("writer write #3 of {page} bytes went in: {}", bar(3)),
            format!("writer write #4 of {page} bytes went in: {}, full", bar(4)),
            format!(
                "writer write #5 of {page} bytes: {}, no free slot: write blocks",
                bar(4)
            ),
            format!(
                "reader finds {} and reads {page} bytes (one page): a slot is free",
                bar(4)
            ),
            format!(
                "writer write #5 returns after N s, into the slot the reader freed: {}",
                bar(4)
            ),
            format!(
                "reader reads {cap} bytes, everything: the pipe is empty, {}",
                bar(0)
            ),
            "reader reads again: nothing to read, so read blocks until the writer writes".into(),
            "writer writes 100 bytes, then closes its end".into(),
            format!(
                "reader read returns 100 bytes after N s: the pipe is empty again, {}",
                bar(0)
            ),
            "reader read returns 0: end of file, the writer closed its end".into(),
        ]
    );
    if page == 4096 {
        assert!(
            ran.stdout.contains("[##..] 8192 of 16384 bytes\n"),
            "{}",
            ran.stdout
        );
    }
    // No line gives a level before its step as if it were after: the old wording is gone.
    assert!(
        !ran.stdout.contains("reads everything: the pipe holds"),
        "{}",
        ran.stdout
    );
    // Every event line but the first carries a time, stripped above.
    for line in ran.stdout.lines().skip(1) {
        let time = line.trim_start().split(' ').next().unwrap();
        assert!(
            time.ends_with('s') && time[..time.len() - 1].parse::<f64>().is_ok(),
            "{line:?}"
        );
    }
    assert_eq!(ran.children.len(), 1, "one writer: {:?}", ran.children);
}

// ---------------------------------------------------------------------------------------------
// eof

#[test]
fn eof_the_reader_sees_end_of_file_once_every_write_end_is_closed() {
    let ran = run(&["eof"]);
    assert_success(
        &ran,
        "parent: writes 12 bytes, then closes its write end\n\
         child: read 12 bytes: Hello There!\n\
         child: read returns 0 after 12 bytes: end of file, every write end is closed\n",
    );
}

#[test]
fn eof_keep_write_end_waits_in_vain_then_says_why() {
    let ran = run(&["eof", "--keep-write-end", "--timeout", "0.5"]);
    assert_eq!(code(&ran), 0, "{}", ran.stderr);
    assert_eq!(ran.stderr, "");
    assert_eq!(
        mask_numbers(&ran.stdout, "(fd ", ")"),
        "parent: writes 12 bytes, then closes its write end\n\
         child: read 12 bytes: Hello There!\n\
         child: read has waited 0.5 s for more and would wait forever: this process still holds \
         a write end (fd N), so the pipe never reports end of file\n"
    );
    assert_eq!(ran.children.len(), 1, "{:?}", ran.children);
}

// ---------------------------------------------------------------------------------------------
// broken: SIGPIPE and EPIPE

/// The first line of broken, with the child's pid checked and replaced by PID.
fn mask_reader_pid(stdout: &str) -> String {
    let pid: String = stdout
        .split("(child ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no child pid in {stdout:?}"))
        .to_string();
    assert!(pid.parse::<u32>().is_ok(), "{pid:?}");
    stdout.replacen(&format!("(child {pid})"), "(child PID)", 1)
}

const BROKEN_FIRST: &str =
    "parent: the reader (child PID) exited 0 without reading: no process holds the read end now\n";

#[test]
fn broken_the_writer_is_killed_by_sigpipe_after_saying_so() {
    let ran = run(&["broken"]);
    assert_eq!(
        ran.status.signal(),
        Some(13),
        "killed by SIGPIPE: {:?}",
        ran.status
    );
    assert_eq!(shell_status(ran.status), 141);
    assert_eq!(ran.stderr, "");
    assert_eq!(
        mask_reader_pid(&ran.stdout),
        format!(
            "{BROKEN_FIRST}parent: writes 13 bytes: the kernel sends SIGPIPE, whose default action \
             ends the writer (the shell shows 128 + 13 = 141)\n"
        )
    );
}

#[test]
fn broken_ignore_sigpipe_the_write_fails_with_epipe_and_the_writer_lives_on() {
    let ran = run(&["broken", "--ignore-sigpipe"]);
    assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""));
    assert_eq!(ran.status.signal(), None);
    assert_eq!(
        mask_reader_pid(&ran.stdout),
        format!(
            "{BROKEN_FIRST}parent: SIGPIPE is ignored; writes 13 bytes to the pipe\n\
             parent: write fails with EPIPE (Broken pipe): the writer lives on and can react\n"
        )
    );
}

// ---------------------------------------------------------------------------------------------
// duplex

#[test]
fn duplex_one_pipe_one_way_then_two_pipes_both_ways() {
    let ran = run(&["duplex", "--rounds", "5"]);
    let mut expected = String::from("half duplex: one pipe, parent -> child\n");
    for i in 1..=5 {
        expected += &format!("child: got \"request {i}\"\n");
    }
    expected += "child: end of file after 5 requests; it cannot answer on this pipe\n\
                 full duplex: two pipes, parent -> child and child -> parent\n";
    for i in 1..=5 {
        expected += &format!("parent: sent \"ping {i}\", got \"pong {i}\"\n");
    }
    expected += "parent: 5 round trips over two pipes\n";
    assert_success(&ran, &expected);

    let ran = run(&["duplex"]);
    assert_eq!(code(&ran), 0);
    assert!(
        ran.stdout
            .ends_with("parent: 3 round trips over two pipes\n"),
        "{}",
        ran.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// writers: atomic writes

#[test]
fn writers_at_pipe_buf_never_tear_a_record_and_every_record_arrives() {
    let ran = run(&["writers", "--writers", "8", "--record-size", "4096"]);
    assert_success(
        &ran,
        "8 writers, 500 records of 4096 bytes each (PIPE_BUF is 4096)\n\
         received 4000 records: 4000 whole, 0 torn\n\
         each write of 4096 bytes (at most PIPE_BUF) is atomic: records never interleave\n",
    );
}

#[test]
fn writers_above_pipe_buf_still_deliver_every_record() {
    let ran = run(&[
        "writers",
        "--writers",
        "4",
        "--record-size",
        "20000",
        "--records",
        "100",
    ]);
    assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""));
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", ran.stdout);
    assert_eq!(
        lines[0],
        "4 writers, 100 records of 20000 bytes each (PIPE_BUF is 4096)"
    );
    assert_eq!(
        lines[2],
        "a write of 20000 bytes (more than PIPE_BUF) may be split: other writers' bytes can land in between"
    );
    // received 400 records: W whole, T torn, with W + T = 400 (T may be 0 or more).
    let counts: Vec<u64> = lines[1]
        .strip_prefix("received 400 records: ")
        .unwrap_or_else(|| panic!("{:?}", lines[1]))
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        lines[1],
        format!(
            "received 400 records: {} whole, {} torn",
            counts[0], counts[1]
        )
    );
    assert_eq!(counts[0] + counts[1], 400);
}

#[test]
fn writers_out_of_range_is_a_usage_error() {
    for args in [
        &["writers", "--writers", "0"][..],
        &["writers", "--writers", "65"][..],
        &["writers", "--record-size", "0"][..],
        &["writers", "--record-size", "1048577"][..],
        &["writers", "--records", "0"][..],
        &["duplex", "--rounds", "0"][..],
        &["duplex", "--rounds", "1001"][..],
    ] {
        let ran = run(args);
        assert_usage_error(&ran, &format!("{args:?}"));
        assert!(ran.stderr.contains("is not in"), "{args:?}: {}", ran.stderr);
    }
}

// ---------------------------------------------------------------------------------------------
// readers: one writer, several readers

/// The per-reader counts of a successful `readers` run with `readers` readers and `records`
/// records of `size` bytes, after checking every other line of its stdout word for word.
#[track_caller]
fn reader_counts(ran: &Ran, readers: u64, records: u64, size: u64) -> Vec<u64> {
    assert_eq!(code(ran), 0, "{}{}", ran.stdout, ran.stderr);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len() as u64, readers + 3, "{}", ran.stdout);
    let plural = |n: u64, noun: &str| {
        if n == 1 {
            format!("1 {noun}")
        } else {
            format!("{n} {noun}s")
        }
    };
    assert_eq!(
        lines[0],
        format!(
            "{readers} readers, {} of {} each (PIPE_BUF is 4096)",
            plural(records, "record"),
            plural(size, "byte")
        )
    );
    let counts: Vec<u64> = (1..=readers)
        .map(|r| {
            let line = lines[r as usize];
            let count: u64 = line
                .strip_prefix(&format!("reader {r} read "))
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{line:?}"));
            assert_eq!(line, format!("reader {r} read {}", plural(count, "record")));
            count
        })
        .collect();
    let n = readers as usize;
    assert_eq!(
        lines[n + 1],
        format!(
            "sent {}, the readers got {records}: 0 lost, 0 duplicated, 0 torn",
            plural(records, "record")
        )
    );
    assert_eq!(
        lines[n + 2],
        format!(
            "each read of {} took one whole record: each record went to exactly one reader",
            plural(size, "byte")
        )
    );
    // Every record went to one reader: the counts add up to the records sent.
    assert_eq!(counts.iter().sum::<u64>(), records, "{}", ran.stdout);
    counts
}

#[test]
fn readers_by_default_four_readers_share_1000_records_each_exactly_once() {
    let ran = run(&["readers"]);
    assert_eq!(ran.stderr, "");
    let counts = reader_counts(&ran, 4, 1000, 4096);
    assert_eq!(counts.len(), 4);
    // A reader seen while it ran has ended, and was reaped (Demo::finish checks the rest).
    for c in &ran.children {
        assert!(!c.exists(), "reader {} is gone", c.pid);
    }
}

#[test]
fn readers_many_small_records_and_many_readers_add_up() {
    for (readers, records, size) in [
        ("64", "20000", "8"),
        ("2", "1", "8"),
        ("3", "2000", "4096"),
        ("8", "5000", "100"),
    ] {
        let ran = run(&[
            "readers",
            "--readers",
            readers,
            "--records",
            records,
            "--record-size",
            size,
        ]);
        assert_eq!(ran.stderr, "", "{readers} {records} {size}");
        reader_counts(
            &ran,
            readers.parse().unwrap(),
            records.parse().unwrap(),
            size.parse().unwrap(),
        );
    }
}

#[test]
fn readers_explain_narrates_the_two_pipes_the_forks_and_the_reports() {
    let ran = run(&["readers", "--readers", "3", "--records", "30", "--explain"]);
    reader_counts(&ran, 3, 30, 4096);
    let err = &ran.stderr;
    for phrase in [
        "[step 1] create two pipes: one for the records, one for the readers' reports",
        "pipe(records) = 0: fd[0] = ",
        "pipe(reports) = 0: fd[0] = ",
        "[step 2] fork 3 readers",
        ": reader 1",
        ": reader 3",
        "[step 3] write 30 records, one write(",
        "at most PIPE_BUF",
        "the scheduler decides which reader",
        "end of file",
        "[step 4] read the reports, 4096 bytes each",
        ") = exited 0",
        "all 3 readers reaped",
    ] {
        assert!(err.contains(phrase), "no {phrase:?} in {err}");
    }
    assert!(!err.contains("error"), "{err}");
    assert_eq!(err.matches("fork() = ").count(), 3, "{err}");
    assert_eq!(err.matches("waitpid(").count(), 3, "{err}");
}

#[test]
fn readers_out_of_range_is_a_usage_error() {
    for args in [
        &["readers", "--readers", "1"][..],
        &["readers", "--readers", "65"][..],
        &["readers", "--records", "0"][..],
        &["readers", "--records", "100001"][..],
        &["readers", "--record-size", "7"][..],
        &["readers", "--record-size", "4097"][..],
    ] {
        let ran = run(args);
        assert_usage_error(&ran, &format!("{args:?}"));
        assert!(ran.stderr.contains("is not in"), "{args:?}: {}", ran.stderr);
    }
    for (args, bad) in [
        (&["readers", "--readers", "x"][..], "'x'"),
        (&["readers", "--records", "-1"][..], "-1"),
        (&["readers", "--writers", "2"][..], "--writers"),
    ] {
        let ran = run(args);
        assert_usage_error(&ran, &format!("{args:?}"));
        assert!(ran.stderr.contains(bad), "{args:?}: {}", ran.stderr);
    }
}

// ---------------------------------------------------------------------------------------------
// fifo-write and fifo-read: named pipes across two processes

fn created(fifo: &TempPath) -> String {
    format!(
        "pipe-demo: created FIFO {} (removed again at the end)\n",
        fifo.as_str()
    )
}

fn opening(fifo: &TempPath, side: &str) -> String {
    let other = if side == "read" { "writer" } else { "reader" };
    format!(
        "pipe-demo: opening {} to {side}: open waits until a {other} opens it\n",
        fifo.as_str()
    )
}

/// Start `fifo-read` or `fifo-write` and wait (bounded) until it waits in open.
fn start_waiting_in_open(args: &[&str]) -> Demo {
    let mut demo = start(args);
    demo.run.wait_stderr("open waits until");
    let pid = demo.pid();
    eventually("pipe-demo to wait in open", || blocked_in_open(pid));
    demo
}

#[test]
fn fifo_reader_first_then_a_writer_with_messages() {
    let fifo = TempPath::new("fifo");
    let reader = start_waiting_in_open(&["fifo-read", fifo.as_str()]);
    assert!(fifo.is_fifo(), "fifo-read made the FIFO");

    let writer = run(&["fifo-write", fifo.as_str(), "one", "two words", ""]);
    assert_eq!(code(&writer), 0, "{}", writer.stderr);
    assert_eq!(writer.stdout, "");
    assert_eq!(
        writer.stderr,
        opening(&fifo, "write"),
        "it did not make the FIFO"
    );

    let reader = reader.finish();
    assert_eq!(code(&reader), 0, "{}", reader.stderr);
    assert_eq!(reader.stdout, "one\ntwo words\n\n");
    assert_eq!(
        reader.stderr,
        format!("{}{}", created(&fifo), opening(&fifo, "read"))
    );
    assert!(!fifo.exists(), "the reader made the FIFO and removed it");
}

#[test]
fn fifo_writer_first_waits_in_open_until_a_reader_comes() {
    let fifo = TempPath::new("fifo");
    let mut writer = start_waiting_in_open(&["fifo-write", fifo.as_str(), "hello", "world"]);
    assert!(fifo.is_fifo(), "fifo-write made the FIFO");
    assert!(
        writer.run.child.try_wait().unwrap().is_none(),
        "the writer waits for a reader"
    );

    let reader = run(&["fifo-read", fifo.as_str()]);
    assert_eq!(code(&reader), 0, "{}", reader.stderr);
    assert_eq!(reader.stdout, "hello\nworld\n");
    assert_eq!(reader.stderr, opening(&fifo, "read"));

    let writer = writer.finish();
    assert_eq!(code(&writer), 0, "{}", writer.stderr);
    assert_eq!(writer.stdout, "");
    assert_eq!(
        writer.stderr,
        format!("{}{}", created(&fifo), opening(&fifo, "write"))
    );
    assert!(!fifo.exists(), "the writer made the FIFO and removed it");
}

#[test]
fn fifo_write_copies_stdin_when_no_message_is_given() {
    let fifo = TempPath::new("fifo");
    let reader = start_waiting_in_open(&["fifo-read", fifo.as_str()]);
    let input = "first line\n\n  spaced  \nünï\n";
    let writer = run_stdin(&["fifo-write", fifo.as_str()], input.as_bytes());
    assert_eq!(code(&writer), 0, "{}", writer.stderr);
    let reader = reader.finish();
    assert_eq!((code(&reader), reader.stdout.as_str()), (0, input));

    // No input: the reader sees end of file at once, and prints nothing.
    let reader = start_waiting_in_open(&["fifo-read", fifo.as_str()]);
    let writer = run_stdin(&["fifo-write", fifo.as_str()], b"");
    assert_eq!(code(&writer), 0, "{}", writer.stderr);
    let reader = reader.finish();
    assert_eq!((code(&reader), reader.stdout.as_str()), (0, ""));
    assert!(!fifo.exists());
}

#[test]
fn a_fifo_made_beforehand_is_used_and_left_in_place() {
    let fifo = TempPath::new("fifo");
    fifo.make_fifo();
    let reader = start_waiting_in_open(&["fifo-read", fifo.as_str()]);
    let writer = run(&["fifo-write", fifo.as_str(), "kept"]);
    assert_eq!(
        (code(&writer), writer.stderr.clone()),
        (0, opening(&fifo, "write"))
    );
    let reader = reader.finish();
    assert_eq!(code(&reader), 0, "{}", reader.stderr);
    assert_eq!(reader.stdout, "kept\n");
    assert_eq!(reader.stderr, opening(&fifo, "read"), "nothing created");
    assert!(fifo.is_fifo(), "a FIFO pipe-demo did not make stays");

    // The other order too.
    let writer = start_waiting_in_open(&["fifo-write", fifo.as_str(), "again"]);
    let reader = run(&["fifo-read", fifo.as_str()]);
    assert_eq!((code(&reader), reader.stdout.as_str()), (0, "again\n"));
    assert_eq!(code(&writer.finish()), 0);
    assert!(fifo.is_fifo(), "still there");
}

#[test]
fn fifo_a_path_that_is_not_a_fifo_is_an_error() {
    let file = TempPath::new("regular");
    std::fs::write(&file.path, "keep me\n").unwrap();
    for side in ["fifo-read", "fifo-write"] {
        let ran = run(&[side, file.as_str(), "message"][..if side == "fifo-read" { 2 } else { 3 }]);
        assert_eq!(code(&ran), 1, "{side}: {}", ran.stderr);
        assert_eq!(ran.stdout, "");
        assert_eq!(
            ran.stderr,
            format!(
                "error: {} exists and is not a FIFO: give a new path (it will be made) or a FIFO\n",
                file.as_str()
            ),
            "{side}"
        );
    }
    assert_eq!(std::fs::read_to_string(&file.path).unwrap(), "keep me\n");

    // A directory that does not exist: mkfifo fails, with a hint.
    let dir = TempPath::new("missing-dir");
    let inside = dir.path.join("lab.fifo");
    let ran = run(&["fifo-read", inside.to_str().unwrap()]);
    assert_eq!(code(&ran), 1);
    assert_eq!(
        ran.stderr,
        format!(
            "error: cannot create the FIFO {}: No such file or directory (ENOENT)\n\
             hint: give a path in a directory you can write to, such as /tmp/lab-{}.fifo\n",
            inside.display(),
            ipc_lab::sys::login_name()
        )
    );
    assert!(!dir.exists());
}

#[test]
fn fifo_a_symbolic_link_is_not_followed() {
    // A link to a FIFO, and a link to a file of the user's: neither is followed, neither target
    // is touched, and the link stays.
    let target_fifo = TempPath::new("fifo-target");
    target_fifo.make_fifo();
    let victim = TempPath::new("victim");
    std::fs::write(&victim.path, "keep me\n").unwrap();
    for target in [&target_fifo, &victim] {
        let link = TempPath::new("link");
        std::os::unix::fs::symlink(&target.path, &link.path).unwrap();
        for args in [
            &["fifo-write", link.as_str(), "hi"][..],
            &["fifo-read", link.as_str()][..],
        ] {
            let ran = run(args);
            assert_eq!(code(&ran), 1, "{args:?}: {}", ran.stderr);
            assert_eq!(
                ran.stderr,
                format!(
                    "error: {} is a symbolic link, which is not followed (another user could point it at a file of yours): give the FIFO's own path, or a new path (it will be made)\n",
                    link.as_str()
                ),
                "{args:?}"
            );
            assert!(std::fs::symlink_metadata(&link.path).is_ok_and(|m| m.is_symlink()));
        }
    }
    assert!(target_fifo.is_fifo());
    assert_eq!(std::fs::read_to_string(&victim.path).unwrap(), "keep me\n");
}

#[test]
fn fifo_write_never_writes_through_a_link_swapped_in_after_the_check() {
    // Another user swaps the path between a FIFO and a link to a file of ours, as fast as it
    // can, while fifo-write runs again and again. Whatever the timing, each run writes into the
    // FIFO or refuses the link: the file is never written (a check by name, then an open by
    // name, wrote into it within a few runs).
    let dir = TempDir::new("swap");
    let fifo = dir.path.join("real.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // A reader that holds the FIFO open, so that a writer's open never waits; what the writers
    // write is drained as it comes.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let victim = dir.path.join("victim");
    std::fs::write(&victim, "keep me\n").unwrap();
    let path = dir.path.join("lab.fifo");
    // The path names the FIFO from the start (nothing there, and fifo-write would make its own).
    std::fs::hard_link(&fifo, &path).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (fifo, victim, path, stop) = (fifo.clone(), victim.clone(), path.clone(), stop.clone());
        let staged = dir.path.join("staged");
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::remove_file(&staged);
                let staged_ok = if swaps.is_multiple_of(2) {
                    std::fs::hard_link(&fifo, &staged)
                } else {
                    std::os::unix::fs::symlink(&victim, &staged)
                };
                // rename replaces the path in one step: it never names nothing.
                if staged_ok
                    .and_then(|()| std::fs::rename(&staged, &path))
                    .is_err()
                {
                    break;
                }
                swaps += 1;
            }
            swaps
        })
    };
    let (mut wrote, mut refused) = (0, 0);
    let mut drained = Vec::new();
    for _ in 0..60 {
        let ran = run(&["fifo-write", path.to_str().unwrap(), "secret"]);
        match code(&ran) {
            0 => wrote += 1,
            1 => {
                assert!(ran.stderr.starts_with("error: "), "{}", ran.stderr);
                refused += 1;
            }
            other => panic!("exit {other}: {}", ran.stderr),
        }
        let _ = (&reader).read_to_end(&mut drained);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "keep me\n",
        "after {wrote} writes and {refused} refusals ({swaps} swaps)"
    );
    assert_eq!(
        drained.len(),
        wrote * "secret\n".len(),
        "every write reached the FIFO"
    );
}

#[test]
fn anon_refuses_a_fifo_path_made_before_it_and_names_its_owner() {
    // `sh -c 'mkfifo ...$$...; exec pipe-demo anon'`: the shell's pid is pipe-demo's, so the
    // FIFO squats on the very name anon makes. As root, it belongs to nobody, as another user's.
    let dir = TempDir::new("anon-squat");
    let nobody = can_drop_to_nobody();
    let owner = if nobody {
        65534
    } else {
        nix::unistd::geteuid().as_raw()
    };
    let script = format!(
        "f=\"$TMPDIR/ipc-lab-anon-$$.fifo\" && mkfifo -m 666 \"$f\" && {} exec \"$0\" anon",
        if nobody { "chown 65534 \"$f\" &&" } else { "" }
    );
    let mut c = Command::new("sh");
    c.args(["-c", &script])
        .arg(bin("pipe-demo"))
        .env("TMPDIR", &dir.path)
        .env("NO_COLOR", "1");
    let ran = Demo::start_cmd(c).finish();
    let pid = ran.pid;
    let squat = dir.path.join(format!("ipc-lab-anon-{pid}.fifo"));
    assert_eq!(code(&ran), 1, "{}", ran.stderr);
    assert_eq!(
        ran.stderr,
        format!(
            "error: cannot create the FIFO {0}: File exists (EEXIST)\n\
             hint: {0} was made by uid {owner} before this run, which makes its FIFO only where nothing is: if it is yours, remove it (rm {0}); otherwise run with another TMPDIR\n",
            squat.display()
        )
    );
    assert!(
        std::fs::symlink_metadata(&squat).is_ok(),
        "what another user made is not removed"
    );
}

#[test]
fn fifo_of_another_user_open_to_everyone_is_used_with_a_warning() {
    skip_unless_nobody!("needs root to make a FIFO owned by another user");
    let fifo = TempPath::new("fifo-nobody");
    fifo.make_fifo();
    nix::unistd::chown(&fifo.path, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    std::fs::set_permissions(
        &fifo.path,
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo.path)
        .unwrap();
    let ran = run(&["fifo-write", fifo.as_str(), "hello"]);
    assert_eq!(code(&ran), 0, "{}", ran.stderr);
    assert_eq!(
        ran.stderr,
        format!(
            "warning: FIFO {0} belongs to uid 65534, not to you (uid 0), and its mode 0666 lets its group and every other user read and write it: anyone can read what is written into it, and write into it what its reader reads\n{1}",
            fifo.as_str(),
            opening(&fifo, "write")
        )
    );
    let mut got = String::new();
    reader.read_to_string(&mut got).unwrap();
    assert_eq!(got, "hello\n");
    // Closed to others (0600): no warning, though it is another user's.
    std::fs::set_permissions(
        &fifo.path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let ran = run(&["fifo-write", fifo.as_str(), "again"]);
    assert_eq!(
        (code(&ran), ran.stderr.clone()),
        (0, opening(&fifo, "write"))
    );
}

#[test]
fn fifo_another_users_path_gets_the_hint_to_pick_a_name_of_ones_own() {
    skip_unless_nobody!("needs root and setpriv to act as the user nobody");
    let nobody = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(65534))
        .ok()
        .flatten()
        .map_or_else(|| "uid65534".to_string(), |u| u.name);
    // root's directory, open to all to look into: root's FIFO (0600) and root's file in it.
    let dir = TempDir::new("others-fifo");
    std::fs::set_permissions(
        &dir.path,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let fifo = dir.path.join("lab.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let file = dir.path.join("notes.txt");
    std::fs::write(&file, "keep me\n").unwrap();
    let run_as_nobody = |args: &[&str]| {
        let out = output_of(as_nobody("pipe-demo").args(args), b"");
        (shell_status(out.status), out.stdout, out.stderr)
    };
    let shown = fifo.display().to_string();
    for (args, side, other) in [
        (&["fifo-read", shown.as_str()][..], "read", "writer"),
        (&["fifo-write", shown.as_str(), "hi"][..], "write", "reader"),
    ] {
        let (status, stdout, stderr) = run_as_nobody(args);
        assert_eq!((status, stdout.as_str()), (1, ""), "{args:?}: {stderr}");
        assert_eq!(
            mask_numbers(&stderr, "/proc/self/fd/", ")"),
            format!(
                "pipe-demo: opening {shown} to {side}: open waits until a {other} opens it\n\
                 error: cannot open the FIFO (through /proc/self/fd/N): Permission denied (EACCES)\n\
                 hint: another user has {shown}: pick another name, such as {}\n",
                dir.path.join(format!("lab-{nobody}.fifo")).display()
            ),
            "{args:?}"
        );
    }
    let (status, _, stderr) = run_as_nobody(&["fifo-read", file.to_str().unwrap()]);
    assert_eq!(status, 1, "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "error: {0} exists and is not a FIFO: give a new path (it will be made) or a FIFO\n\
             hint: another user has {0}: pick another name, such as {1}\n",
            file.display(),
            dir.path.join(format!("notes-{nobody}.txt")).display()
        )
    );
    // What is another user's is left as it was.
    assert!(std::fs::symlink_metadata(&fifo).is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_fifo()
    }));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me\n");

    // nobody's own FIFO, closed even to nobody (mode 0000): refused, and no word of another user.
    let own = dir.path.join("own.fifo");
    nix::unistd::mkfifo(&own, nix::sys::stat::Mode::empty()).unwrap();
    nix::unistd::chown(&own, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let (status, _, stderr) = run_as_nobody(&["fifo-read", own.to_str().unwrap()]);
    assert_eq!(status, 1, "{stderr}");
    assert!(stderr.contains("(EACCES)\n"), "{stderr}");
    assert!(!stderr.contains("another user"), "{stderr}");
}

#[test]
fn fifo_a_termination_signal_in_open_ends_it_by_the_signal_and_removes_its_fifo() {
    for (side, sig) in [
        ("fifo-read", 15),
        ("fifo-write", 2),
        ("fifo-read", 2),
        ("fifo-write", 15),
    ] {
        let fifo = TempPath::new("fifo");
        let demo = start_waiting_in_open(
            &[side, fifo.as_str(), "never"][..if side == "fifo-read" { 2 } else { 3 }],
        );
        assert!(fifo.is_fifo());
        signal(&demo, sig);
        let ran = demo.finish();
        assert_eq!(
            ran.status.signal(),
            Some(sig),
            "{side} {sig}: {:?}",
            ran.status
        );
        assert_eq!(code(&ran), 128 + sig);
        assert_eq!(ran.stdout, "");
        assert!(
            !fifo.exists(),
            "{side} made the FIFO and removes it on signal {sig}"
        );
    }
    // One it did not make stays.
    let fifo = TempPath::new("fifo");
    fifo.make_fifo();
    let demo = start_waiting_in_open(&["fifo-read", fifo.as_str()]);
    signal(&demo, 15);
    let ran = demo.finish();
    assert_eq!(code(&ran), 143);
    assert!(fifo.is_fifo(), "a FIFO it did not make stays");
}

#[test]
fn fifo_read_a_termination_signal_while_waiting_for_data_ends_it_and_removes_its_fifo() {
    // fifo-read, opened and waiting for more: the test is the writer, and keeps its end open.
    let fifo = TempPath::new("fifo");
    let mut reader = start_waiting_in_open(&["fifo-read", fifo.as_str()]);
    let mut end = None;
    eventually("to open the FIFO for writing", || {
        end = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo.path)
            .ok();
        end.is_some()
    });
    let mut end = end.unwrap();
    end.write_all(b"partial\n").unwrap();
    reader.run.wait_stdout("partial");
    let pid = reader.pid();
    eventually("fifo-read to wait in poll", || blocked_in_poll(pid));
    signal(&reader, 15);
    let ran = reader.finish();
    assert_eq!((code(&ran), ran.stdout.as_str()), (143, "partial\n"));
    assert!(!fifo.exists(), "removed although a writer still holds it");
    drop(end);
}

#[test]
fn fifo_write_a_termination_signal_while_copying_stdin_ends_it_and_removes_its_fifo() {
    // fifo-write, opened and waiting for stdin: the test is the reader.
    let fifo = TempPath::new("fifo");
    let mut writer = start_waiting_in_open(&["fifo-write", fifo.as_str()]);
    let mut end = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo.path)
        .unwrap();
    // Kept open to the end: input that ends just as the signal comes could end the copy first.
    let mut stdin = writer.run.stdin.take().unwrap();
    stdin.write_all(b"first\n").unwrap();
    let mut got = Vec::new();
    eventually("the first line through the FIFO", || {
        let mut buf = [0u8; 64];
        if let Ok(n) = end.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got == b"first\n"
    });
    let pid = writer.pid();
    eventually("fifo-write to wait in poll", || blocked_in_poll(pid));
    signal(&writer, 2);
    let ran = writer.finish();
    drop(stdin);
    assert_eq!(ran.status.signal(), Some(2), "{:?}", ran.status);
    assert_eq!(code(&ran), 130);
    assert_eq!(ran.stdout, "");
    assert!(!fifo.exists());
}

#[test]
fn fifo_a_reader_and_a_writer_started_together_both_succeed() {
    for _ in 0..30 {
        let fifo = TempPath::new("fifo");
        let mut reader = start(&["fifo-read", fifo.as_str()]);
        let mut writer = start(&["fifo-write", fifo.as_str(), "together"]);
        // Should one side fail, the other waits in open for ever: look at the first to end.
        let start = Instant::now();
        loop {
            let r = reader.run.child.try_wait().unwrap();
            let w = writer.run.child.try_wait().unwrap();
            if r.is_some_and(|s| !s.success()) {
                let ran = reader.finish();
                panic!("fifo-read failed: {}", ran.stderr);
            }
            if w.is_some_and(|s| !s.success()) {
                let ran = writer.finish();
                panic!("fifo-write failed: {}", ran.stderr);
            }
            if r.is_some() && w.is_some() {
                break;
            }
            assert!(start.elapsed() < PATIENCE, "neither ended in time");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (writer, reader) = (writer.finish(), reader.finish());
        assert_eq!(code(&writer), 0, "writer: {}", writer.stderr);
        assert_eq!(code(&reader), 0, "reader: {}", reader.stderr);
        assert_eq!(reader.stdout, "together\n");
        assert!(!fifo.exists());
    }
}

// ---------------------------------------------------------------------------------------------
// Termination signals while children run: ended by the signal, nothing left behind

/// Start `args`, wait for `ready` on stdout and `children` children, send `sig`; the demo must
/// end by that signal, its children recorded while it ran must be gone and nothing tagged left.
fn interrupt(args: &[&str], ready: &str, children: usize, sig: i32) -> Ran {
    let mut demo = start(args);
    if !ready.is_empty() {
        demo.run.wait_stdout(ready);
    }
    let seen = demo.watch.wait_for(children);
    assert_eq!(seen.len(), children, "{args:?}: {seen:?}");
    for c in &seen {
        assert!(c.exists(), "{args:?}: child {} runs", c.pid);
    }
    signal(&demo, sig);
    let ran = demo.finish();
    assert_eq!(
        ran.status.signal(),
        Some(sig),
        "{args:?}: {:?}, {}",
        ran.status,
        ran.stderr
    );
    assert_eq!(code(&ran), 128 + sig);
    assert_no_panic(&ran.stderr);
    assert!(!ran.stderr.contains("error"), "{args:?}: {}", ran.stderr);
    ran
}

#[test]
fn interrupting_blocking_ends_it_by_the_signal_and_kills_the_writer() {
    for sig in [15, 2] {
        let ran = interrupt(&["blocking", "--delay", "5"], "write blocks", 1, sig);
        // Ended while the writer waited: the reader never read.
        let events = timeline_events(&ran.stdout);
        let page = page_size();
        assert_eq!(
            events.last(),
            Some(&format!(
                "writer write #5 of {page} bytes: [####] {} of {} bytes, no free slot: write blocks",
                4 * page,
                4 * page
            )),
            "{}",
            ran.stdout
        );
        assert!(
            !events.iter().any(|e| e.starts_with("reader ")),
            "{}",
            ran.stdout
        );
    }
}

#[test]
fn interrupting_readers_mid_run_ends_it_by_the_signal_and_kills_every_reader() {
    for sig in [15, 2, 1] {
        // 100000 records of 4096 bytes: seconds of work, so the signal comes mid-run.
        let ran = interrupt(
            &["readers", "--readers", "3", "--records", "100000"],
            "3 readers, 100000 records",
            3,
            sig,
        );
        assert_eq!(
            ran.stdout, "3 readers, 100000 records of 4096 bytes each (PIPE_BUF is 4096)\n",
            "signal {sig}"
        );
        for c in &ran.children {
            assert!(!c.exists(), "signal {sig}: reader {} is gone", c.pid);
        }
    }
}

#[test]
fn interrupting_eof_keep_write_end_ends_it_by_the_signal_and_kills_the_reader() {
    for sig in [15, 2] {
        let ran = interrupt(
            &["eof", "--keep-write-end", "--timeout", "10"],
            "child: read 12 bytes",
            1,
            sig,
        );
        assert!(!ran.stdout.contains("would wait forever"), "{}", ran.stdout);
    }
}

#[test]
fn interrupting_redirect_ends_it_by_the_signal_and_kills_both_commands() {
    for sig in [15, 2] {
        let demo = start(&["redirect", "sleep 30", "cat"]);
        let seen = demo.watch.wait_for(2);
        // Both have exec'd their commands.
        eventually("sleep and cat to run", || {
            let mut lines: Vec<String> = seen.iter().map(ProcId::cmdline).collect();
            lines.sort();
            lines == ["cat", "sleep 30"]
        });
        signal(&demo, sig);
        let started = Instant::now();
        let ran = demo.finish();
        assert_eq!(
            ran.status.signal(),
            Some(sig),
            "{:?} {}",
            ran.status,
            ran.stderr
        );
        assert_eq!(code(&ran), 128 + sig);
        assert_eq!(ran.stdout, "");
        assert_eq!(ran.children.len(), 2, "{:?}", ran.children);
        // It did not wait for the sleep to end (a generous bound, not a timing).
        assert!(started.elapsed() < PATIENCE);
        for c in &seen {
            assert!(!c.exists(), "{} is gone", c.pid);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Help, version, usage errors

const SUBCOMMANDS: [&str; 14] = [
    "hello",
    "fail",
    "dup",
    "anon",
    "redirect",
    "capacity",
    "blocking",
    "eof",
    "broken",
    "duplex",
    "writers",
    "readers",
    "fifo-write",
    "fifo-read",
];

#[test]
fn help_names_the_notes_section_every_subcommand_and_examples() {
    let long = assert_top_help(
        &[
            "Usage: pipe-demo [OPTIONS]",
            "--message",
            "--color",
            "--explain",
            "--version",
        ],
        &SUBCOMMANDS,
        run,
    );
    assert!(long.contains("Lecture notes: B3 Unix Pipe"), "{long}");
    // What differs from the notes' C program, said precisely: not "exactly the notes' program".
    assert!(!long.contains("exactly the notes' program"), "{long}");
    for difference in [
        "byte for byte",
        "the parent waits for its child; the C parent does not",
        "of at most 100 bytes (sizeof buf)",
        "checks none of them",
    ] {
        assert!(long.contains(difference), "no {difference:?} in {long}");
    }
    assert!(long.contains("Examples:"), "{long}");
    assert!(
        long.contains("pipe-demo redirect 'ls -l /' 'wc -l'"),
        "{long}"
    );
}

#[test]
fn version_is_the_packages() {
    assert_version("pipe-demo", run);
}

#[test]
fn each_subcommand_has_help() {
    assert_subcommand_helps("pipe-demo", &SUBCOMMANDS, run);
    assert_helps_mention(
        &[
            ("redirect", &["<CMD1>", "<CMD2>"][..]),
            (
                "capacity",
                &[
                    "--size <BYTES>",
                    "F_SETPIPE_SZ",
                    "--write-size <BYTES>",
                    "pipe-demo capacity --write-size 2049",
                    "slots of one page each",
                    "Lecture notes: B3 Unix Pipe",
                ][..],
            ),
            ("blocking", &["--delay <SECS>", "[default: 1]"][..]),
            (
                "eof",
                &["--keep-write-end", "--timeout <SECS>", "[default: 2]"][..],
            ),
            ("broken", &["--ignore-sigpipe", "EPIPE"][..]),
            ("duplex", &["--rounds <N>", "[default: 3]"][..]),
            (
                "writers",
                &[
                    "--writers <N>",
                    "--record-size <BYTES>",
                    "--records <N>",
                    "PIPE_BUF",
                ][..],
            ),
            (
                "readers",
                &[
                    "--readers <N>",
                    "--records <N>",
                    "--record-size <BYTES>",
                    "[default: 4]",
                    "[default: 1000]",
                    "PIPE_BUF",
                    "Lecture notes: B3 Unix Pipe",
                    "multiple readers and writers",
                    "Example:",
                    "pipe-demo readers --readers 8 --explain",
                ][..],
            ),
            ("fifo-write", &["<PATH>", "[MESSAGE]..."][..]),
            ("fifo-read", &["<PATH>"][..]),
            ("hello", &["--message <TEXT>"][..]),
            (
                "fail",
                &[
                    "RLIMIT_NOFILE",
                    "EMFILE",
                    "Lecture notes: B3 Unix Pipe",
                    "Example:",
                    "pipe-demo fail --explain",
                    "exit status is 0",
                ][..],
            ),
            (
                "dup",
                &[
                    "close(1)",
                    "dup(fd[1])",
                    "dup2(fd[1], 1)",
                    "Lecture notes: B3 Unix Pipe",
                    "Example:",
                    "pipe-demo dup --explain",
                ][..],
            ),
            (
                "anon",
                &[
                    "pipe:[INODE]",
                    "Lecture notes: B3 Unix Pipe",
                    "anonymous FIFO file",
                    "Example:",
                    "pipe-demo anon --explain",
                    "by a path",
                    "/proc/PID/fd/N",
                    "SCM_RIGHTS",
                ][..],
            ),
        ],
        run,
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    assert_usage_errors(
        &[
            &["capacity", "--bogus"][..],
            &["hello", "extra"][..],
            &["--message"][..],
            &["--color", "sometimes"][..],
            &["redirect"][..],
            &["redirect", "ls", "wc", "extra"][..],
            &["fifo-read"][..],
            &["fifo-write"][..],
            &["fifo-read", "/tmp/a", "/tmp/b"][..],
            &["blocking", "--delay", "0"][..],
            &["blocking", "--delay", "abc"][..],
            &["blocking", "--delay", "-1"][..],
            &["eof", "--timeout", "0"][..],
            &["eof", "--timeout", "86401"][..],
            &["broken", "--ignore-sigpipe=yes"][..],
            &["fail", "extra"][..],
            &["fail", "--size", "3"][..],
            &["dup", "--bogus"][..],
            &["dup", "1"][..],
            &["anon", "/tmp/x.fifo"][..],
        ],
        run,
    );
}

#[test]
fn message_with_the_new_subcommands_is_a_usage_error() {
    for sub in ["fail", "dup", "anon"] {
        let ran = run(&["--message", "hi", sub]);
        assert_usage_error(&ran, &format!("--message hi {sub}"));
        assert!(
            ran.stderr
                .contains("--message goes with the notes' program"),
            "{sub}: {}",
            ran.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------------
// fail: pipe() returns -1

/// The two numbers of `PREFIX = A, SUFFIX = B`: `fd[0] = 3, fd[1] = 4` -> (3, 4).
fn two_fds(line: &str) -> (i32, i32) {
    let number = |after: &str| -> i32 {
        let rest = line
            .split(after)
            .nth(1)
            .unwrap_or_else(|| panic!("no {after:?} in {line:?}"));
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("no number after {after:?} in {line:?}"))
    };
    (number("fd[0] = "), number("fd[1] = "))
}

const FAIL_CHECK: &str = "a program checks before it uses fd[] or forks: if (pipe(fd) != 0) { \
                          perror(\"pipe\"); exit(1); } prints \"pipe: Too many open files\" and \
                          exits 1";

#[test]
fn fail_pipe_returns_minus_one_with_emfile_once_the_descriptors_run_out() {
    let ran = run(&["fail"]);
    // The failure is what the demo shows: status 0, nothing on stderr, no child.
    assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""), "{}", ran.stdout);
    assert!(ran.children.is_empty(), "{:?}", ran.children);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", ran.stdout);

    // The limit, lowered to leave room for exactly one pipe.
    let (head, limit) = lines[0]
        .rsplit_once(": a new descriptor must be below ")
        .unwrap_or_else(|| panic!("{:?}", lines[0]));
    let limit: i32 = limit.parse().expect("the limit is a number");
    let before = head
        .strip_prefix("RLIMIT_NOFILE soft limit lowered from ")
        .and_then(|rest| rest.strip_suffix(&format!(" to {limit}")))
        .unwrap_or_else(|| panic!("{:?}", lines[0]));
    assert!(before.parse::<u64>().is_ok(), "{before:?}");

    // One pipe, on the two lowest free numbers, the higher of them just below the limit.
    assert!(lines[1].starts_with("pipe(fd) = 0: "), "{:?}", lines[1]);
    let (r, w) = two_fds(lines[1]);
    assert_eq!(lines[1], format!("pipe(fd) = 0: fd[0] = {r}, fd[1] = {w}"));
    assert!(2 < r && r < w, "{r} {w}");
    assert_eq!(w + 1, limit, "the second end takes the last number allowed");

    // Then -1, EMFILE, and what a program must do about it.
    assert_eq!(lines[2], "pipe(fd) = -1: Too many open files (EMFILE)");
    assert_eq!(lines[3], FAIL_CHECK);
}

#[test]
fn fail_explain_narrates_the_limit_lowered_and_put_back() {
    let plain = run(&["fail"]);
    let ran = run(&["fail", "--explain"]);
    assert_eq!(code(&ran), 0, "{}", ran.stderr);
    // The limit before is the same in both runs: stdout is unchanged by --explain.
    assert_eq!(ran.stdout, plain.stdout);
    let (_, w) = two_fds(ran.stdout.lines().nth(1).unwrap());
    let limit = w + 1;
    let err = &ran.stderr;
    let soft_hard = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("getrlimit(RLIMIT_NOFILE) = 0: soft limit ")
        })
        .unwrap_or_else(|| panic!("no getrlimit in {err}"));
    let (soft, hard) = soft_hard
        .split_once(", hard limit ")
        .unwrap_or_else(|| panic!("{soft_hard:?}"));
    for phrase in [
        "[step 1] how many descriptors may this process have? (RLIMIT_NOFILE)".to_string(),
        "open now (/proc/self/fd): 0, 1, 2".to_string(),
        format!("setrlimit(RLIMIT_NOFILE, {{{limit}, {hard}}}) = 0"),
        format!("from now on a new descriptor must be below {limit}"),
        "[step 3] call pipe until it fails".to_string(),
        format!("close({}), close({w}) = 0", w - 1),
        format!("setrlimit(RLIMIT_NOFILE, {{{soft}, {hard}}}) = 0"),
    ] {
        assert!(err.contains(&phrase), "no {phrase:?} in {err}");
    }
    assert!(!err.contains("error"), "{err}");
    assert!(
        plain.stdout.starts_with(&format!(
            "RLIMIT_NOFILE soft limit lowered from {soft} to {limit}:"
        )),
        "{}",
        plain.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// dup: close(1); dup(fd[1])

#[test]
fn dup_lands_on_1_and_the_childs_stdout_comes_back_through_the_pipe() {
    let ran = run(&["dup"]);
    assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""), "{}", ran.stdout);
    let first = ran.stdout.lines().next().unwrap_or_default();
    let (r, w) = two_fds(first);
    assert_eq!(
        ran.stdout,
        format!(
            "parent: pipe(fd) = 0: fd[0] = {r}, fd[1] = {w}; the child makes fd[1] its stdout \
             with close(1) and dup({w})\n\
             parent: read from fd {r}: close(1) = 0\n\
             parent: read from fd {r}: dup({w}) = 1\n\
             parent: read from fd {r}: Hello There!\n\
             parent: end of file on fd {r}: the child's stdout was the last write end, and it \
             has closed\n"
        )
    );
    // At most one child (it may live too briefly to be seen), and none left: Demo::finish
    // checks that it was reaped.
    assert!(ran.children.len() <= 1, "{:?}", ran.children);
}

#[test]
fn dup_explain_compares_with_dup2_and_leaves_stdout_as_it_is() {
    let plain = run(&["dup"]);
    let ran = run(&["dup", "--explain"]);
    assert_eq!(code(&ran), 0, "{}", ran.stderr);
    assert_eq!(ran.stdout, plain.stdout);
    let (r, w) = two_fds(ran.stdout.lines().next().unwrap());
    let err = &ran.stderr;
    for phrase in [
        format!("pipe(fd) = 0: fd[0] = {r} (read end), fd[1] = {w} (write end)"),
        format!(": close({r}) = 0"),
        ": close(1) = 0".to_string(),
        format!(": dup({w}) = 1"),
        "dup takes the lowest free number: 1, just closed".to_string(),
        format!(": close({w}) = 0"),
        "dup2(fd[1], 1) would do close and dup in one call".to_string(),
        ") = exited 0".to_string(),
    ] {
        assert!(err.contains(&phrase), "no {phrase:?} in {err}");
    }
    assert!(!err.contains("error"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// anon: a pipe has no name

/// `/proc/self/fd/N -> TARGET (fstat: a FIFO, inode I)`: (N, TARGET, I).
fn fd_line(line: &str) -> (i32, String, u64) {
    let rest = line
        .strip_prefix("/proc/self/fd/")
        .unwrap_or_else(|| panic!("{line:?}"));
    let (n, rest) = rest
        .split_once(" -> ")
        .unwrap_or_else(|| panic!("{line:?}"));
    let (target, inode) = rest
        .rsplit_once(" (fstat: a FIFO, inode ")
        .unwrap_or_else(|| panic!("not a FIFO: {line:?}"));
    let inode = inode
        .strip_suffix(')')
        .unwrap_or_else(|| panic!("{line:?}"));
    (
        n.parse().expect("a descriptor number"),
        target.to_string(),
        inode.parse().expect("an inode number"),
    )
}

#[test]
fn anon_both_ends_of_a_pipe_are_one_nameless_inode_and_a_fifo_has_its_path() {
    let demo = start(&["anon"]);
    let pid = demo.pid();
    let fifo = std::env::temp_dir().join(format!("ipc-lab-anon-{}.fifo", demo.pid()));
    let ran = demo.finish();
    assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""), "{}", ran.stdout);
    assert!(ran.children.is_empty(), "{:?}", ran.children);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 8, "{}", ran.stdout);

    let (r, w) = two_fds(lines[0]);
    assert_eq!(lines[0], format!("pipe(fd) = 0: fd[0] = {r}, fd[1] = {w}"));
    let (n1, t1, i1) = fd_line(lines[1]);
    let (n2, t2, i2) = fd_line(lines[2]);
    assert_eq!((n1, n2), (r, w));
    // Both ends: the same pipe:[INODE], the inode fstat gives, and no path.
    assert_eq!(t1, format!("pipe:[{i1}]"));
    assert_eq!((t2, i2), (t1.clone(), i1));
    assert!(!t1.starts_with('/'));
    // No path, but /proc/PID/fd and SCM_RIGHTS still lead to it.
    assert_eq!(
        lines[3],
        format!(
            "one pipe: both ends are inode {i1} of the kernel's pipe file system; no directory \
             holds it, so no process can open it by a path, but another can still get an end: by \
             fork, by opening /proc/{pid}/fd/{r} (if allowed to look into this process), or sent \
             over a Unix socket (SCM_RIGHTS)"
        )
    );

    // The FIFO: its path on both ends, another inode.
    let path = fifo.to_str().unwrap();
    assert_eq!(
        lines[4],
        format!("mkfifo {path}, opened to read and to write")
    );
    let (n3, t3, i3) = fd_line(lines[5]);
    let (n4, t4, i4) = fd_line(lines[6]);
    // w + 1 is the handle the FIFO is held by (O_PATH), both ends are opened through it.
    assert_eq!((n3, n4), (w + 2, w + 3));
    assert_eq!((t3.as_str(), t4.as_str()), (path, path));
    assert_eq!(i3, i4);
    assert_ne!(i3, i1);
    assert_eq!(
        lines[7],
        "a named pipe: the same kind of file, with a path that any process allowed by its mode \
         can open (removed again at the end)"
    );
    assert!(!fifo.exists(), "{path} is removed");
}

#[test]
fn anon_explain_narrates_readlink_and_fstat_and_removes_the_fifo() {
    let demo = start(&["anon", "--explain"]);
    let fifo = std::env::temp_dir().join(format!("ipc-lab-anon-{}.fifo", demo.pid()));
    let ran = demo.finish();
    assert_eq!(code(&ran), 0, "{}", ran.stderr);
    let path = fifo.to_str().unwrap();
    let (r, w) = two_fds(ran.stdout.lines().next().unwrap());
    let err = &ran.stderr;
    for phrase in [
        format!("readlink(\"/proc/self/fd/{r}\") = \"pipe:["),
        format!("readlink(\"/proc/self/fd/{w}\") = \"pipe:["),
        format!("fstat({r}) = 0: st_mode S_IFIFO, st_ino "),
        format!("mkfifo({path:?}, 0600) = 0"),
        format!("open({path:?}, O_PATH|O_NOFOLLOW) = {}", w + 1),
        "fstat: a FIFO, yours, mode 0600".to_string(),
        format!(
            "open(\"/proc/self/fd/{}\", O_RDONLY|O_NONBLOCK) = {}",
            w + 1,
            w + 2
        ),
        format!(
            "open(\"/proc/self/fd/{}\", O_WRONLY|O_NONBLOCK) = {}",
            w + 1,
            w + 3
        ),
        format!("readlink(\"/proc/self/fd/{}\") = {path:?}", w + 2),
        format!("{path} removed"),
    ] {
        assert!(err.contains(&phrase), "no {phrase:?} in {err}");
    }
    assert!(!err.contains("error"), "{err}");
    assert!(!fifo.exists());
}

// ---------------------------------------------------------------------------------------------
// Rows of the fault table (tests/lab/faults.rs): pipe-demo, wherever it waits

/// The parent waits for its child, which waits to write to the stalled stdout.
fn parent_waits_child_writes(s: &mut Subject, _: &mut Fixture) {
    let child = s.wait_children(1)[0];
    s.wait_until("the child to wait in write", |_| {
        syscall_of(child.pid).is_some_and(|c| WRITE.contains(&c))
    });
    s.wait_in(WAITPID);
}

fn sleep_and_cat(s: &mut Subject, _: &mut Fixture) {
    let children = s.wait_children(2);
    s.wait_until("sleep and cat to run", |_| {
        let mut lines: Vec<String> = children.iter().map(ProcId::cmdline).collect();
        lines.sort();
        lines == ["cat", "sleep 30"]
    });
    s.wait_in(WAITPID);
}

fn writer_blocks(s: &mut Subject, _: &mut Fixture) {
    s.wait_out("write blocks");
    s.wait_children(1);
    s.wait_in(POLL);
}

fn reader_waits_in_vain(s: &mut Subject, _: &mut Fixture) {
    s.wait_out("child: read 12 bytes");
    s.wait_children(1);
    s.wait_in(WAITPID);
}

fn writers_write(s: &mut Subject, _: &mut Fixture) {
    s.wait_children(2);
    thread::sleep(Duration::from_millis(20));
}

/// readers: the parent writes records (mostly making them, now and then waiting for room in
/// the pipe) while its readers read.
fn readers_read(s: &mut Subject, _: &mut Fixture) {
    s.wait_out("3 readers, 100000 records");
    s.wait_children(3);
    thread::sleep(Duration::from_millis(20));
}

pub(crate) fn fifo_open_waits(s: &mut Subject, _: &mut Fixture) {
    s.wait_err("open waits until");
    let pid = s.pid();
    s.wait_until("a wait in open", |_| blocked_in_open(pid));
}

/// Open the other end of the fixture's FIFO, not blocking, so that this test cannot hang
/// here: the program waiting in open at its end counts, so the open succeeds at once (ENXIO
/// only when there is no reader).
fn open_fifo_end(f: &Fixture, write: bool) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(libc::O_NONBLOCK)
        .open(&f.fifo.path)
        .expect("open the FIFO's other end")
}

/// fifo-write waits in open; a reader comes (this test), then it waits for stdin.
fn fifo_reader_comes(s: &mut Subject, f: &mut Fixture) {
    fifo_open_waits(s, f);
    let fd = open_fifo_end(f, false);
    f.fds.push(fd.into());
    s.wait_in(POLL);
}

/// fifo-read waits in open; a writer comes (this test), then it waits for data.
fn fifo_writer_comes(s: &mut Subject, f: &mut Fixture) {
    fifo_open_waits(s, f);
    let fd = open_fifo_end(f, true);
    f.fds.push(fd.into());
    s.wait_in(POLL);
}

/// fifo-read copies what a writer sends to a stalled stdout, and waits to write more.
fn fifo_floods_stdout(s: &mut Subject, f: &mut Fixture) {
    fifo_open_waits(s, f);
    let fd = open_fifo_end(f, true);
    // What fits: the FIFO's capacity, then whatever the reader has taken meanwhile.
    let _ = std::io::Write::write(&mut &fd, &[b'f'; 100_000]);
    f.fds.push(fd.into());
    s.wait_in(WRITE);
}

fn make_fifo(f: &mut Fixture) {
    f.fifo.make_fifo();
}

/// pipe-demo, at every place it waits: its rows of the fault table, which sends each row every
/// termination signal (see [`crate::faults`]).
pub(crate) fn fault_rows() -> Vec<faults::Row> {
    use faults::{Out, Row, Thing};
    let row = faults::row;
    vec![
        // pipe-demo: each subcommand with children alive, and both FIFO ends.
        Row {
            stdout: Out::Stalled,
            ..row(
                "pipe-demo",
                "hello: waiting for its child, which writes to a full stdout",
                &["--message", "{big}"],
                parent_waits_child_writes,
            )
        },
        row(
            "pipe-demo",
            "redirect: waiting for both commands",
            &["redirect", "sleep 30", "cat"],
            sleep_and_cat,
        ),
        row(
            "pipe-demo",
            "blocking: the writer blocked on a full pipe",
            &["blocking", "--delay", "5"],
            writer_blocks,
        ),
        Row {
            ..row(
                "pipe-demo",
                "eof: waiting for the reader that never sees end of file",
                &["eof", "--keep-write-end", "--timeout", "30"],
                reader_waits_in_vain,
            )
        },
        Row {
            stdout: Out::Stalled,
            ..row(
                "pipe-demo",
                "duplex: waiting for its child, which writes to a full stdout",
                &["duplex", "--rounds", "1000"],
                parent_waits_child_writes,
            )
        },
        Row {
            ..row(
                "pipe-demo",
                "writers: reading while the writers write",
                &["writers", "--writers", "2", "--records", "100000"],
                writers_write,
            )
        },
        row(
            "pipe-demo",
            "readers: writing records while the readers read",
            &["readers", "--readers", "3", "--records", "100000"],
            readers_read,
        ),
        Row {
            owns: &[Thing::Fifo],
            ..row(
                "pipe-demo",
                "fifo-write: in open, no reader yet",
                &["fifo-write", "{fifo}", "hi"],
                fifo_open_waits,
            )
        },
        Row {
            owns: &[Thing::Fifo],
            ..row(
                "pipe-demo",
                "fifo-read: in open, no writer yet",
                &["fifo-read", "{fifo}"],
                fifo_open_waits,
            )
        },
        Row {
            owns: &[Thing::Fifo],
            ..row(
                "pipe-demo",
                "fifo-write: a reader came, copying stdin",
                &["fifo-write", "{fifo}"],
                fifo_reader_comes,
            )
        },
        Row {
            owns: &[Thing::Fifo],
            ..row(
                "pipe-demo",
                "fifo-read: a writer came, waiting for data",
                &["fifo-read", "{fifo}"],
                fifo_writer_comes,
            )
        },
        Row {
            prepare: make_fifo,
            keeps: &[Thing::Fifo],
            ..row(
                "pipe-demo",
                "fifo-read: in open, a FIFO it did not make",
                &["fifo-read", "{fifo}"],
                fifo_open_waits,
            )
        },
        Row {
            stdout: Out::Stalled,
            owns: &[Thing::Fifo],
            ..row(
                "pipe-demo",
                "fifo-read: copying to a full stdout",
                &["fifo-read", "{fifo}"],
                fifo_floods_stdout,
            )
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Rows of the bad-input table (tests/lab/bad_input.rs): every option of pipe-demo

/// Options of pipe-demo and its subcommands. A path that would be made into a FIFO and waited
/// on is given only values that fail (or are refused) before that.
fn pipe_rows() -> Vec<bad_input::Row> {
    use bad_input::Row;
    let path_kinds = [Bad::Negative, Bad::Empty, Bad::Long, Bad::LongDigits];
    let execs = [
        Bad::Word,
        Bad::NegativeAttached,
        Bad::Overflow,
        Bad::Long,
        Bad::LongDigits,
    ];
    vec![
        // Any text is a message: the notes' program prints it back.
        Row::opt("pipe-demo", "--message")
            .echo("Proc 0 read: ")
            .but(
                &[
                    Bad::Word,
                    Bad::NegativeAttached,
                    Bad::Overflow,
                    Bad::Empty,
                    Bad::Long,
                    Bad::LongDigits,
                ],
                Want::Status(0),
            ),
        Row::opt("pipe-demo", "--size").before(&["capacity"]),
        Row::opt("pipe-demo", "--write-size").before(&["capacity"]),
        Row::opt("pipe-demo", "--delay").before(&["blocking"]),
        Row::opt("pipe-demo", "--timeout").before(&["eof", "--keep-write-end"]),
        Row::opt("pipe-demo", "--rounds").before(&["duplex"]),
        Row::opt("pipe-demo", "--writers").before(&["writers", "--records", "1"]),
        Row::opt("pipe-demo", "--record-size").before(&["writers", "--records", "1"]),
        Row::opt("pipe-demo", "--records").before(&["writers"]),
        Row::opt("pipe-demo", "--readers").before(&["readers", "--records", "1"]),
        Row::opt("pipe-demo", "--records").before(&["readers", "--readers", "2"]),
        Row::opt("pipe-demo", "--record-size").before(&[
            "readers",
            "--readers",
            "2",
            "--records",
            "1",
        ]),
        // A command that cannot be run: one error line from the child; the pipeline's status
        // is the last command's, as in a shell (cat: 0; not found: 127; name too long: 126).
        Row::pos("pipe-demo", "CMD1")
            .before(&["redirect"])
            .after(&["cat"])
            .but(&execs, Want::Status(0)),
        Row::pos("pipe-demo", "CMD2")
            .before(&["redirect", "true"])
            .but(
                &[Bad::Word, Bad::NegativeAttached, Bad::Overflow],
                Want::Status(127),
            )
            .but(&[Bad::Long, Bad::LongDigits], Want::Status(126)),
        Row::pos("pipe-demo", "PATH")
            .before(&["fifo-write"])
            .after(&["message"])
            .only(&path_kinds)
            .but(&[Bad::Long, Bad::LongDigits], Want::Failure),
        Row::pos("pipe-demo", "PATH")
            .before(&["fifo-read"])
            .only(&path_kinds)
            .but(&[Bad::Long, Bad::LongDigits], Want::Failure),
        Row::opt("pipe-demo", "--color").before(&["capacity"]),
        // The subcommands with no option of their own but --color.
        Row::opt("pipe-demo", "--color").before(&["fail"]),
        Row::opt("pipe-demo", "--color").before(&["dup"]),
        Row::opt("pipe-demo", "--color").before(&["anon"]),
        Row::opt("pipe-demo", "--color").before(&["readers", "--records", "1"]),
    ]
}

#[test]
fn pipe_demo_bad_arguments() {
    try_bad_arguments(
        "pipe-demo",
        &pipe_rows(),
        &[],
        &[
            &["bogus"],
            &["capacity", "--bogus"],
            &["redirect", "true"],
            &["redirect", "'unclosed", "cat"],
            &["redirect", "   ", "cat"],
            &["redirect", "# a comment", "cat"],
            &["capacity", "--message", "hi"],
            // --write-size: 1 to the pipe's capacity (65536 by default, at most 16 pages of
            // 64 KiB, so 1048577 is above it anywhere).
            &["capacity", "--write-size", "0"],
            &["capacity", "--write-size", "1048577"],
            &["fifo-write"],
            &["fail", "extra"],
            &["fail", "--records", "1"],
            &["dup", "--bogus"],
            &["dup", "extra"],
            &["anon", "--message", "hi"],
            &["anon", "--readers", "2"],
            &["readers", "extra"],
            &["readers", "--writers", "2"],
            // Out of the documented ranges: --readers 2 to 64, --records 1 to 100000,
            // --record-size 8 to PIPE_BUF (4096).
            &["readers", "--readers", "1"],
            &["readers", "--readers", "65"],
            &["readers", "--records", "0"],
            &["readers", "--records", "100001"],
            &["readers", "--record-size", "7"],
            &["readers", "--record-size", "4097"],
        ],
    );
}
