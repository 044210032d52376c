//! Bad input everywhere, as real processes: every binary × every option that takes a value ×
//! a word, a negative (`--opt -5` and `--opt=-5`), an overflow, an empty string, bytes that are
//! not UTF-8, an extremely long value (100000 letters) and a long number (1000 digits); unknown
//! options, unknown subcommands, a missing value, an option given twice. Then malformed stdin for
//! every binary that reads it: shm-slave (the id and the values, against a shm-master that
//! waits), mq-send (one message per line), mq-recv --hold (Enter) and pipe-demo fifo-write (bytes
//! copied as they are): words, negatives, overflow, empty lines, EOF at once, binary junk, a
//! 1 MB line, endless NULs (as `< /dev/zero` gives), and input at its bound and one byte past it
//! (a number: 64 bytes; a message: the queue's mq_msgsize; the line for Enter: 4096 bytes), which
//! is a usage error that names what was too long and the bound.
//!
//! Each run must end in time (no hang), with the exit status the binary documents (2 for bad
//! input, 1 for a failure, or the status it mirrors), exactly one `error:` line (clap's own
//! usage and help lines may follow it; the project's errors may have one `hint:` line), no panic
//! and no backtrace. And it must leave nothing: no process (see [`Demo`]), no segment it created
//! (`cpid` in /proc/sysvipc/shm), none of the queues it was named, no file in its working
//! directory (a directory of its own). Runs that a valid value lets go on are made harmless by
//! the arguments around them (a short --timeout, -n, an empty stdin, --attr, a pid no process
//! has). Other suites run meanwhile: the machine's IPC tables are never expected to be empty.
//!
//! The table of options is each binary's own: its mechanism's module has the binary's rows (the
//! options, what a harmless run needs around them, how each kind of bad value ends) and its test,
//! `shm::shm_master_bad_arguments` say, which runs them with [`run_table`] and [`run_unknown`]
//! from here. A new binary adds its rows and its test there.
//!
//! Each bug these tests found (errors split over two lines, a late --plot failure, a lone
//! backslash misnamed, --host exit codes) keeps a test of its own.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::mpsc::channel;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;
use ipc_lab::mq::{Access, Mailbox, OpenOptions, Outcome, QueueName, Wait};

/// How long a run fed bad input may take before it counts as hung. Every run here ends in well
/// under a second; this is only the bound.
const LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Running a binary, bounded, and what it left

/// A run to its end: status as a shell shows it, its output, its pid and children.
struct Ended {
    code: i32,
    stdout: String,
    stderr: String,
    pid: i32,
    children: Vec<i32>,
    /// When the run was started: a queue named after its pid but older than that was left by an
    /// earlier process with the same pid (pids are reused, every 32768 on many machines).
    started: std::time::SystemTime,
}

/// Run `bin` with `args` and `stdin` in `dir`: bounded by [`LIMIT`] (a run still going then is
/// killed and the test fails as hung), then checked to have left no process behind.
#[track_caller]
fn run_in(dir: &TempDir, bin: &str, args: &[OsString], stdin: &[u8]) -> Ended {
    run_command_in(dir, cmd(bin), bin, args, stdin)
}

/// [`run_in`] with `c` as the command that `args` are added to (a shell that starts `bin`).
#[track_caller]
fn run_command_in(
    dir: &TempDir,
    mut c: std::process::Command,
    bin: &str,
    args: &[OsString],
    stdin: &[u8],
) -> Ended {
    c.args(args).current_dir(&dir.path);
    let started = std::time::SystemTime::now();
    let mut demo = Demo::start_cmd(c);
    let pid = demo.pid();
    let mut input = demo.run.stdin.take().expect("a piped stdin");
    let data = stdin.to_vec();
    // A thread writes: a process that reads nothing (or not all) must not block the test.
    let writer = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let start = Instant::now();
    while demo.run.child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > LIMIT {
            let _ = demo.run.child.kill();
            panic!(
                "{bin} {}: still running after {LIMIT:?} (hung)",
                shown(args)
            );
        }
        thread::sleep(Duration::from_millis(1));
    }
    let _ = writer.join();
    let ran = demo.finish();
    Ended {
        code: code(&ran),
        stdout: ran.stdout,
        stderr: ran.stderr,
        pid,
        children: ran.children.iter().map(|c| c.pid).collect(),
        started,
    }
}

/// Whether the queue `name` was made before `started` (its inode's change time, in
/// /dev/mqueue, is older; inode times lag the clock by a tick at most, hence the margin).
fn made_before(name: &QueueName, started: std::time::SystemTime) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let path = format!("/dev/mqueue/{}", name.as_str().trim_start_matches('/'));
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let made = std::time::UNIX_EPOCH
        + Duration::new(meta.ctime().max(0) as u64, meta.ctime_nsec().max(0) as u32);
    made + Duration::from_millis(50) < started
}

/// Arguments as a reader can check them: each quoted, long ones cut short.
fn shown(args: &[OsString]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if s.len() > 40 {
                format!("{:?}..({} bytes)", cut(&s, 30), s.len())
            } else {
                format!("{s:?}")
            }
        })
        .collect();
    parts.join(" ")
}

/// At most the first `n` bytes of `s`, cut at a character boundary.
fn cut(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Nothing left: no segment the run (or a child) made, no file in its directory, none of the
/// `queues` (nor the run's own mailbox, `/ipc-lab-pid-PID`).
#[track_caller]
fn assert_left_nothing(what: &str, out: &Ended, dir: &TempDir, queues: &[&str]) {
    let mut pids = vec![out.pid];
    pids.extend(&out.children);
    let segments = segments_created_by(&pids);
    for line in &segments {
        if let Some(id) = line.split_whitespace().nth(1).and_then(|i| i.parse().ok()) {
            remove_segment(id);
        }
    }
    assert_eq!(segments, Vec::<String>::new(), "{what}: segments left");
    let own = QueueName::for_pid(out.pid as u32);
    let mut left = Vec::new();
    // A mailbox named after the run's pid, made before the run, is another process's.
    let own = (!made_before(&own, out.started)).then_some(own);
    for name in queues
        .iter()
        .filter_map(|q| QueueName::parse(q).ok())
        .chain(own)
    {
        if ipc_lab::mq::exists(&name) {
            left.push(name.to_string());
            if let Ok(c) = std::ffi::CString::new(name.as_str()) {
                let _ = nix::mqueue::mq_unlink(c.as_c_str());
            }
        }
    }
    assert_eq!(left, Vec::<String>::new(), "{what}: queues left");
    let files = dir.entries();
    for f in &files {
        let _ = std::fs::remove_file(dir.path.join(f));
    }
    assert_eq!(
        files,
        Vec::<String>::new(),
        "{what}: files left in its directory"
    );
}

// ---------------------------------------------------------------------------------------------
// What a run with bad input must look like

/// What a binary documents for a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// Bad input: exit 2, nothing on stdout, one `error:` line (clap's or the binary's own).
    Usage,
    /// The value is acceptable, and what it names fails: exit 1, one `error:` line, at most one
    /// `hint:` line.
    Failure,
    /// The value is acceptable and the run ends with this status (pipe-demo redirect gives the
    /// pipeline's status, as a shell does); at most one `error:` line.
    Status(i32),
}

/// Check exit status, error shape, no panic.
#[track_caller]
fn assert_outcome(what: &str, bin: &str, out: &Ended, want: Want) {
    let err = &out.stderr;
    // Cut a 100000-byte value short in messages.
    let brief = |s: &str| -> String {
        if s.len() > 600 {
            format!("{}...({} bytes)", cut(s, 600), s.len())
        } else {
            s.to_string()
        }
    };
    for sign in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!err.contains(sign), "{what}: {sign}: {}", brief(err));
    }
    let code = match want {
        Want::Usage => 2,
        Want::Failure => 1,
        Want::Status(n) => n,
    };
    assert_eq!(
        out.code,
        code,
        "{what}: exit status; stderr: {}",
        brief(err)
    );
    let lines: Vec<&str> = err.lines().collect();
    let errors = lines.iter().filter(|l| l.starts_with("error:")).count();
    match want {
        Want::Usage | Want::Failure => {
            assert_eq!(errors, 1, "{what}: one error line: {}", brief(err))
        }
        Want::Status(_) => assert!(errors <= 1, "{what}: {}", brief(err)),
    }
    if err.contains("For more information, try '--help'.") {
        // clap's: the error line first, then a blank line or indented details (a tip, the
        // possible values, the missing arguments), the usage, and the pointer to --help. A line
        // of the message itself carried over would sit right after the error line.
        assert!(lines[0].starts_with("error: "), "{what}: {}", brief(err));
        if let Some(next) = lines.get(1) {
            assert!(
                next.is_empty() || next.starts_with("  "),
                "{what}: the error goes on over a second line: {}",
                brief(err)
            );
        }
        assert_eq!(
            lines.last(),
            Some(&"For more information, try '--help'."),
            "{what}"
        );
    } else {
        // The project's own: `error: ...`, at most one `hint: ...`, and the binary's notes.
        let note = format!("{bin}: ");
        for line in &lines {
            assert!(
                line.starts_with("error: ")
                    || line.starts_with("hint: ")
                    || line.starts_with(&note),
                "{what}: a line that is neither error, hint nor note (an error over two lines?): \
                 {:?} in {}",
                brief(line),
                brief(err)
            );
        }
        let hints = lines.iter().filter(|l| l.starts_with("hint: ")).count();
        assert!(hints <= 1, "{what}: {}", brief(err));
    }
}

// ---------------------------------------------------------------------------------------------
// The table: binaries × options that take a value × kinds of bad values (each module has its
// binaries' rows)

/// The kinds of bad value each option is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    /// `abc` (or, where a word names something, a word no one uses).
    Word,
    /// `--opt -5`: clap sees an option, not a value (except where negatives are allowed).
    Negative,
    /// `--opt=-5` (a positional: `-- -5`): the value reaches the parser.
    NegativeAttached,
    /// `99999999999999999999`: beyond 64 bits.
    Overflow,
    /// ``.
    Empty,
    /// Bytes that are not UTF-8, with control characters: `\xff\xfe\x80\x01junk\x1b[31m`.
    Junk,
    /// 100000 letters.
    Long,
    /// 1000 digits: a number far beyond any integer type, and beyond f64 (infinity).
    LongDigits,
}

const ALL: [Bad; 8] = [
    Bad::Word,
    Bad::Negative,
    Bad::NegativeAttached,
    Bad::Overflow,
    Bad::Empty,
    Bad::Junk,
    Bad::Long,
    Bad::LongDigits,
];

impl Bad {
    fn value(self, word: &str) -> OsString {
        match self {
            Bad::Word => word.into(),
            Bad::Negative | Bad::NegativeAttached => "-5".into(),
            Bad::Overflow => "99999999999999999999".into(),
            Bad::Empty => "".into(),
            Bad::Junk => OsString::from_vec(b"\xff\xfe\x80\x01junk\x1b[31m".to_vec()),
            Bad::Long => "a".repeat(100_000).into(),
            Bad::LongDigits => "9".repeat(1000).into(),
        }
    }
}

/// Where the bad value goes.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// `--name VALUE` (or `--name=VALUE`).
    Opt(&'static str),
    /// A positional argument, shown by this name.
    Pos(&'static str),
}

/// One option of one binary, and how each kind of bad value must end.
pub(crate) struct Row {
    bin: &'static str,
    slot: Slot,
    /// Arguments before the value (a subcommand, the arguments the value needs).
    before: Vec<String>,
    /// Arguments after it: the rest of a harmless run (positionals only after a Pos slot).
    after: Vec<String>,
    /// The word used for [`Bad::Word`].
    word: String,
    /// The kinds tried (all but those a valid value would turn into a long run).
    kinds: Vec<Bad>,
    /// How each kind ends, where not [`Want::Usage`].
    not_usage: Vec<(Bad, Want)>,
    /// pipe-demo --message: a value it accepts is printed back after this.
    echo: Option<&'static str>,
    /// Queues that must not exist afterwards.
    queues: Vec<String>,
}

impl Row {
    fn new(bin: &'static str, slot: Slot) -> Row {
        Row {
            bin,
            slot,
            before: Vec::new(),
            after: Vec::new(),
            word: "abc".into(),
            kinds: ALL.to_vec(),
            not_usage: Vec::new(),
            echo: None,
            queues: Vec::new(),
        }
    }

    pub(crate) fn opt(bin: &'static str, name: &'static str) -> Row {
        Row::new(bin, Slot::Opt(name))
    }

    pub(crate) fn pos(bin: &'static str, name: &'static str) -> Row {
        Row::new(bin, Slot::Pos(name))
    }

    pub(crate) fn before(mut self, args: &[&str]) -> Row {
        self.before.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub(crate) fn after(mut self, args: &[&str]) -> Row {
        self.after.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub(crate) fn word(mut self, word: impl Into<String>) -> Row {
        self.word = word.into();
        self
    }

    pub(crate) fn only(mut self, kinds: &[Bad]) -> Row {
        self.kinds = kinds.to_vec();
        self
    }

    pub(crate) fn but(mut self, kinds: &[Bad], want: Want) -> Row {
        self.not_usage.extend(kinds.iter().map(|k| (*k, want)));
        self
    }

    pub(crate) fn echo(mut self, prefix: &'static str) -> Row {
        self.echo = Some(prefix);
        self
    }

    pub(crate) fn queue(mut self, name: &str) -> Row {
        self.queues.push(name.to_string());
        self
    }

    fn want(&self, kind: Bad) -> Want {
        self.not_usage
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(Want::Usage, |(_, w)| *w)
    }

    fn args(&self, kind: Bad) -> Vec<OsString> {
        let mut args: Vec<OsString> = self.before.iter().map(OsString::from).collect();
        let value = kind.value(&self.word);
        match (self.slot, kind) {
            (Slot::Opt(name), Bad::NegativeAttached) => {
                let mut joined = OsString::from(format!("{name}="));
                joined.push(&value);
                args.push(joined);
            }
            (Slot::Opt(name), _) => {
                args.push(name.into());
                args.push(value);
            }
            (Slot::Pos(_), Bad::NegativeAttached) => {
                args.push("--".into());
                args.push(value);
            }
            (Slot::Pos(_), _) => args.push(value),
        }
        args.extend(self.after.iter().map(OsString::from));
        args
    }
}

/// Run every kind of every row in `dir`; returns how many runs were made.
#[track_caller]
pub(crate) fn run_table(rows: &[Row], dir: &TempDir) -> usize {
    let mut runs = 0;
    for row in rows {
        for &kind in &row.kinds {
            let args = row.args(kind);
            let slot = match row.slot {
                Slot::Opt(name) | Slot::Pos(name) => name,
            };
            let what = format!("{} {} ({kind:?} for {slot})", row.bin, shown(&args));
            let out = run_in(dir, row.bin, &args, b"");
            let want = row.want(kind);
            assert_outcome(&what, row.bin, &out, want);
            if want == Want::Usage {
                assert_eq!(out.stdout, "", "{what}: bad input prints nothing on stdout");
            }
            // A value refused by clap is named in its error.
            if let (Slot::Opt(name), Some(first)) = (row.slot, out.stderr.lines().next()) {
                if first.starts_with("error: invalid value") {
                    assert!(
                        first.contains(&format!("for '{name} <")),
                        "{what}: the error names the option: {first:.300}"
                    );
                }
            }
            if let (Some(prefix), Want::Status(0)) = (row.echo, want) {
                let value = kind.value(&row.word);
                let expected = format!("{prefix}{}\n", value.to_str().unwrap());
                assert!(out.stdout == expected, "{what}: stdout {:.200}", out.stdout);
            }
            let queues: Vec<&str> = row.queues.iter().map(String::as_str).collect();
            assert_left_nothing(&what, &out, dir, &queues);
            runs += 1;
        }
    }
    runs
}

/// Arguments that are wrong whatever their values: unknown options (long, short, with a value,
/// not UTF-8), a missing value, an option given twice, an unknown subcommand or extra word.
/// `before` is the harmless rest of a run, `extra` what the binary takes as an unknown word.
#[track_caller]
pub(crate) fn run_unknown(
    bin: &'static str,
    before: &[&str],
    extra: &[&[&str]],
    dir: &TempDir,
) -> usize {
    let mut cases: Vec<Vec<OsString>> = vec![
        vec!["--bogus".into()],
        vec!["-Z".into()],
        vec!["--bogus=5".into()],
        vec![OsString::from_vec(b"--\xff\xfe".to_vec())],
        vec![OsString::from_vec(b"-\xff".to_vec())],
        vec!["--COLOR".into(), "never".into()],
        vec!["--color".into()],
        vec![
            "--color".into(),
            "never".into(),
            "--color".into(),
            "never".into(),
        ],
    ];
    cases.extend(extra.iter().map(|e| e.iter().map(OsString::from).collect()));
    let mut runs = 0;
    for case in cases {
        let mut args: Vec<OsString> = before.iter().map(OsString::from).collect();
        args.extend(case);
        let what = format!("{bin} {}", shown(&args));
        let out = run_in(dir, bin, &args, b"");
        assert_outcome(&what, bin, &out, Want::Usage);
        assert_eq!(out.stdout, "", "{what}: bad input prints nothing on stdout");
        assert_left_nothing(&what, &out, dir, &[]);
        runs += 1;
    }
    runs
}

/// Print how many runs a table made (seen with --nocapture).
pub(crate) fn report(bin: &str, runs: usize) {
    eprintln!("{bin}: {runs} bad inputs tried");
}

/// A binary's bad arguments, run in a directory of their own: every row of its table (see
/// [`run_table`]), then the unknown options, subcommands and arguments (see [`run_unknown`],
/// `unknown` after `before`); says how many were tried.
#[track_caller]
pub(crate) fn try_bad_arguments(
    bin: &'static str,
    rows: &[Row],
    before: &[&str],
    unknown: &[&[&str]],
) {
    let dir = TempDir::new(&format!("bad-{bin}"));
    let runs = run_table(rows, &dir) + run_unknown(bin, before, unknown, &dir);
    report(bin, runs);
}

// ---------------------------------------------------------------------------------------------
// Malformed standard input

/// 1 MB of one byte, as one line with no end (or with `\n` when `newline`).
fn megabyte(byte: u8, newline: bool) -> Vec<u8> {
    let mut v = vec![byte; 1 << 20];
    if newline {
        v.push(b'\n');
    }
    v
}

/// Bytes that are not UTF-8, with NUL, control characters and an escape sequence.
const JUNK: &[u8] = b"\xff\xfe\x00\x01\x80junk\x1b[31m\x7f";

fn with_newline(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.push(b'\n');
    v
}

const PROMPT: &str = "Shared memory id for attachment: ";

#[test]
fn shm_slave_refuses_malformed_values_on_stdin_and_never_attaches() {
    let dir = TempDir::new("stdin-slave");
    let master = Master::start(&["--interval", "0.02"]);
    let id = master.id.to_string();
    let with_id = vec![OsString::from(&id)];
    let nothing: Vec<OsString> = Vec::new();
    let s = |t: &str| t.as_bytes().to_vec();
    // What is typed, its arguments, its stdin, how it ends, what its error line says.
    type Case<'a> = (&'a str, &'a Vec<OsString>, Vec<u8>, Want, &'a str);
    let cases: Vec<Case> = vec![
        // The values after an id given on the command line.
        (
            "a word",
            &with_id,
            s("abc\n"),
            Want::Usage,
            "value 1 of 3: expected a whole number",
        ),
        (
            "a word second",
            &with_id,
            s("5 abc 7\n"),
            Want::Usage,
            "value 2 of 3",
        ),
        (
            "overflow",
            &with_id,
            s("99999999999999999999\n"),
            Want::Usage,
            "value 1 of 3",
        ),
        (
            "negative overflow",
            &with_id,
            s("5 7 -2147483649\n"),
            Want::Usage,
            "value 3 of 3",
        ),
        (
            "digits then letters",
            &with_id,
            s("5abc\n"),
            Want::Usage,
            "\"5abc\"",
        ),
        ("hex", &with_id, s("0x10\n"), Want::Usage, "\"0x10\""),
        ("a fraction", &with_id, s("5.0\n"), Want::Usage, "\"5.0\""),
        ("commas", &with_id, s("5,7,9\n"), Want::Usage, "\"5,7,9\""),
        (
            "binary junk",
            &with_id,
            with_newline(JUNK),
            Want::Usage,
            "value 1 of 3",
        ),
        (
            "a NUL inside",
            &with_id,
            s("5\u{0}7 9\n"),
            Want::Usage,
            "\\0",
        ),
        (
            "a 1 MB line of digits",
            &with_id,
            megabyte(b'9', true),
            Want::Usage,
            "value 1 of 3",
        ),
        (
            "a 1 MB line of letters",
            &with_id,
            megabyte(b'a', false),
            Want::Usage,
            "value 1 of 3",
        ),
        (
            "a value of 65 bytes, one past the bound",
            &with_id,
            s(&format!("{}5 7 9\n", "0".repeat(64))),
            Want::Usage,
            "error: value 1 of 3 on standard input is longer than 64 bytes",
        ),
        (
            "endless NULs, as from /dev/zero (1 MB of them)",
            &with_id,
            vec![0; 1 << 20],
            Want::Usage,
            "error: value 1 of 3 on standard input is longer than 64 bytes",
        ),
        (
            "EOF at once",
            &with_id,
            s(""),
            Want::Failure,
            "standard input ended after 0",
        ),
        (
            "only empty lines",
            &with_id,
            s("\n\n \t\n\r\n"),
            Want::Failure,
            "ended after 0",
        ),
        (
            "two values, then EOF",
            &with_id,
            s("5 7"),
            Want::Failure,
            "ended after 2",
        ),
        (
            "1 MB of blanks",
            &with_id,
            megabyte(b' ', true),
            Want::Failure,
            "ended after 0",
        ),
        // The notes' dialogue: the id is typed at the prompt.
        (
            "EOF at the prompt",
            &nothing,
            s(""),
            Want::Failure,
            "no segment id",
        ),
        (
            "a word for the id",
            &nothing,
            s("abc\n5 7 9\n"),
            Want::Usage,
            "expected a segment id",
        ),
        ("a negative id", &nothing, s("-5\n"), Want::Usage, "\"-5\""),
        (
            "an id overflowing",
            &nothing,
            s("99999999999999999999\n"),
            Want::Usage,
            "segment id",
        ),
        (
            "junk for the id",
            &nothing,
            with_newline(JUNK),
            Want::Usage,
            "segment id",
        ),
        (
            "a 1 MB id",
            &nothing,
            megabyte(b'7', false),
            Want::Usage,
            "segment id",
        ),
        (
            "endless NULs for the id, as from /dev/zero (1 MB of them)",
            &nothing,
            vec![0; 1 << 20],
            Want::Usage,
            "error: the segment id on standard input is longer than 64 bytes",
        ),
    ];
    let mut runs = 0;
    for (name, args, stdin, want, says) in &cases {
        let what = format!("shm-slave {} < {name}", shown(args));
        let out = run_in(&dir, "shm-slave", args, stdin);
        assert_outcome(&what, "shm-slave", &out, *want);
        assert!(
            out.stderr.lines().next().is_some_and(|l| l.contains(says)),
            "{what}: wanted {says:?}: {:.300}",
            out.stderr
        );
        let prompt = if args.is_empty() { PROMPT } else { "" };
        assert_eq!(out.stdout, prompt, "{what}");
        assert_left_nothing(&what, &out, &dir, &[]);
        runs += 1;
    }
    // No slave attached, none wrote: the master still waits, alone on its segment.
    let row = segment(master.id).expect("the master's segment");
    assert_eq!(row.nattch, 1, "only the master is attached");
    assert!(!master.run.out.contains("Read "), "{}", master.run.out);
    report("shm-slave (stdin)", runs);
}

#[test]
fn shm_slave_reads_odd_but_valid_input_as_scanf_would() {
    let dir = TempDir::new("stdin-slave-ok");
    let zeros = "0".repeat(63);
    let longest = format!("{zeros}5 {zeros}7\n-{}9\n", "0".repeat(62));
    let cases: [(&str, bool, &str, [i32; 3]); 6] = [
        (
            "blank lines, CRLF, tabs",
            true,
            "\n\n -5 \r\n\t-7\n\n-9\n",
            [-5, -7, -9],
        ),
        ("plus signs", true, "+5 +7 +0", [5, 7, 0]),
        (
            "the int boundaries",
            true,
            "-2147483648 2147483647 0\n",
            [i32::MIN, i32::MAX, 0],
        ),
        (
            "words after the third value",
            true,
            "1 2 3 abc 99999999999999999999\n",
            [1, 2, 3],
        ),
        (
            "the dialogue, CRLF",
            false,
            "{id}\r\n4\r\n5\r\n6\r\n",
            [4, 5, 6],
        ),
        ("values of 64 bytes, the most", true, &longest, [5, 7, -9]),
    ];
    for (name, id_on_line, input, values) in cases {
        let mut master = Master::start(&["--interval", "0.02"]);
        let id = master.id;
        let args: Vec<OsString> = if id_on_line {
            vec![id.to_string().into()]
        } else {
            Vec::new()
        };
        let input = input.replace("{id}", &id.to_string());
        let what = format!("shm-slave < {name}");
        let out = run_in(&dir, "shm-slave", &args, input.as_bytes());
        assert_outcome(&what, "shm-slave", &out, Want::Status(0));
        assert_eq!(out.stderr, "", "{what}");
        assert_eq!(out.stdout, if id_on_line { "" } else { PROMPT }, "{what}");
        assert_eq!(shell_status(master.run.finish()), 0, "{what}");
        assert_eq!(
            master.run.out,
            format!("Shared Memory Id = {id}\n{}", read_lines(&values)),
            "{what}"
        );
        assert!(!segment_exists(id), "{what}");
    }
}

/// A queue of this test's own with room for 10 messages of 8192 bytes; receive what is in it.
fn own_queue() -> (QueueGuard, Mailbox) {
    let q = QueueGuard::new();
    let name = QueueName::parse(q.as_str()).unwrap();
    let mailbox = Mailbox::open(&name, &OpenOptions::create(Access::Both, 10, 8192))
        .unwrap_or_else(|e| panic!("create {}: {e:#}", q.as_str()));
    (q, mailbox)
}

fn drain(mailbox: &Mailbox) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    while let Outcome::Done(m) = mailbox.receive(Wait::NonBlock, None).expect("mq_receive") {
        got.push(m.body);
    }
    got
}

#[test]
fn mq_send_sends_each_line_of_malformed_stdin_as_it_is() {
    let dir = TempDir::new("stdin-send");
    let (q, mailbox) = own_queue();
    let args = vec![OsString::from("-n"), OsString::from(q.as_str())];
    let b = |t: &str| t.as_bytes().to_vec();
    let big = megabyte(b'9', true);
    let mut after_big = b"ok\n".to_vec();
    after_big.extend_from_slice(&big);
    after_big.extend_from_slice(b"after\n");
    let eleven: String = (1..=11).map(|n| format!("{n}\n")).collect();
    let most = vec![b'm'; 8192];
    let ok = |bodies: &[&[u8]]| -> Vec<Vec<u8>> { bodies.iter().map(|m| m.to_vec()).collect() };
    // What is typed, how it ends, the messages that arrive, what the error says.
    type Case<'a> = (&'a str, Vec<u8>, Want, Vec<Vec<u8>>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "words, negatives, overflow, empty lines",
            b("abc\n-5\n99999999999999999999\n\n\r\n"),
            Want::Status(0),
            ok(&[b"abc", b"-5", b"99999999999999999999", b"", b""]),
            "",
        ),
        ("EOF at once", b(""), Want::Status(0), ok(&[]), ""),
        (
            "binary junk",
            with_newline(JUNK),
            Want::Status(0),
            ok(&[JUNK]),
            "",
        ),
        (
            "a last line with no newline",
            b("x"),
            Want::Status(0),
            ok(&[b"x"]),
            "",
        ),
        (
            "a line of 8192 bytes, the most the queue takes, and one with CRLF",
            [&most[..], b"\n", &most[..], b"\r\n"].concat(),
            Want::Status(0),
            ok(&[&most[..], &most[..]]),
            "",
        ),
        (
            "a line of 8193 bytes, one past the bound",
            [&most[..], b"9\n"].concat(),
            Want::Usage,
            ok(&[]),
            "error: line 1 of standard input (a message) is longer than 8192 bytes, the most queue /",
        ),
        (
            "a last line of 8193 bytes, with no newline",
            [b"ok\n", &most[..], b"9"].concat(),
            Want::Usage,
            ok(&[b"ok"]),
            "error: line 2 of standard input (a message) is longer than 8192 bytes",
        ),
        (
            "a 1 MB line: too long for the queue, refused before its end",
            after_big,
            Want::Usage,
            ok(&[b"ok"]),
            "error: line 2 of standard input (a message) is longer than 8192 bytes, the most queue /",
        ),
        (
            "endless NULs, as from /dev/zero (1 MB of them)",
            vec![0; 1 << 20],
            Want::Usage,
            ok(&[]),
            "error: line 1 of standard input (a message) is longer than 8192 bytes",
        ),
        (
            "more lines than the queue holds, -n",
            eleven.into_bytes(),
            Want::Failure,
            (1..=10).map(|n| n.to_string().into_bytes()).collect(),
            "line 11",
        ),
    ];
    let mut runs = 0;
    for (name, stdin, want, bodies, says) in cases {
        let what = format!("mq-send -n QUEUE < {name}");
        let out = run_in(&dir, "mq-send", &args, &stdin);
        assert_outcome(&what, "mq-send", &out, want);
        assert_eq!(out.stdout, "", "{what}");
        if want == Want::Status(0) {
            assert_eq!(out.stderr, "", "{what}");
        } else {
            assert!(out.stderr.contains(says), "{what}: {:.300}", out.stderr);
        }
        assert_eq!(drain(&mailbox), bodies, "{what}");
        runs += 1;
    }
    report("mq-send (stdin)", runs);
}

#[test]
fn mq_recv_hold_takes_a_short_line_or_eof_as_enter() {
    let dir = TempDir::new("stdin-recv");
    let (q, mailbox) = own_queue();
    let args: Vec<OsString> = ["--hold", "-n", "--count", "1", q.as_str()]
        .iter()
        .map(OsString::from)
        .collect();
    let enter =
        "error: line 1 of standard input (Enter, to start receiving) is longer than 4096 bytes";
    let most = vec![b'e'; 4096];
    // What is typed, and the error line if it is refused (None: it starts receiving).
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("EOF at once", Vec::new(), None),
        ("an empty line", b"\n".to_vec(), None),
        (
            "words, a negative, an overflow",
            b"abc -5 99999999999999999999\nmore\n".to_vec(),
            None,
        ),
        ("binary junk", with_newline(JUNK), None),
        (
            "a line of 4096 bytes, the most, with CRLF",
            [&most[..], b"\r\n"].concat(),
            None,
        ),
        (
            "a line of 4097 bytes, one past the bound",
            [&most[..], b"e\n"].concat(),
            Some(enter),
        ),
        (
            "a 1 MB line with no end",
            megabyte(b'x', false),
            Some(enter),
        ),
        (
            "endless NULs, as from /dev/zero (1 MB of them)",
            vec![0; 1 << 20],
            Some(enter),
        ),
    ];
    let mut runs = 0;
    for (name, stdin, refused) in cases {
        mailbox
            .send(b"hello", 0, Wait::NonBlock, None)
            .expect("send one message");
        let what = format!("mq-recv --hold < {name}");
        let out = run_in(&dir, "mq-recv", &args, &stdin);
        assert!(
            out.stderr.contains("mq-recv: holding"),
            "{what}: {}",
            out.stderr
        );
        match refused {
            None => {
                assert_outcome(&what, "mq-recv", &out, Want::Status(0));
                assert_eq!(out.stdout, "hello\n", "{what}");
                assert!(
                    out.stderr.contains("receiving: 1 waiting"),
                    "{what}: {}",
                    out.stderr
                );
                assert_eq!(drain(&mailbox), Vec::<Vec<u8>>::new(), "{what}");
            }
            Some(says) => {
                assert_outcome(&what, "mq-recv", &out, Want::Usage);
                assert_eq!(out.stdout, "", "{what}");
                assert!(out.stderr.contains(says), "{what}: {}", out.stderr);
                assert_eq!(
                    drain(&mailbox),
                    [b"hello".to_vec()],
                    "{what}: nothing taken"
                );
            }
        }
        assert!(q.exists(), "{what}: the queue is kept (no --unlink)");
        runs += 1;
    }
    report("mq-recv (stdin)", runs);
}

#[test]
fn mq_recv_with_stdout_closed_saves_any_message_on_one_line_of_stderr() {
    // Message bodies are anyone's bytes: the one mq-recv took and could not print goes to
    // stderr escaped, on one line, so that it is neither lost nor able to forge lines.
    let dir = TempDir::new("closed-recv");
    let (q, mailbox) = own_queue();
    let args: Vec<OsString> = ["-n", "--count", "1", q.as_str()]
        .iter()
        .map(OsString::from)
        .collect();
    let mut biggest = vec![b'z'; 8191];
    biggest.push(b'\n');
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "words, a negative, an overflow",
            b"abc -5 99999999999999999999".to_vec(),
            "abc -5 99999999999999999999".into(),
        ),
        ("an empty message", Vec::new(), String::new()),
        (
            "binary junk",
            JUNK.to_vec(),
            "\\xff\\xfe\\u{0}\\u{1}\\x80junk\\u{1b}[31m\\u{7f}".into(),
        ),
        (
            "lines that would forge an error",
            b"x\nerror: forged\r\nhint: forged".to_vec(),
            "x\\nerror: forged\\r\\nhint: forged".into(),
        ),
        (
            "the largest message, ending in a newline",
            biggest,
            format!("{}\\n", "z".repeat(8191)),
        ),
    ];
    let mut runs = 0;
    for (name, body, shown) in cases {
        mailbox
            .send(&body, 0, Wait::NonBlock, None)
            .expect("send one message");
        let what = format!("mq-recv -n QUEUE >&- taking {name}");
        let mut shell = std::process::Command::new("sh");
        shell
            .args(["-c", r#"exec "$0" "$@" >&-"#])
            .arg(bin("mq-recv"))
            .env_remove("CLICOLOR_FORCE")
            .env("NO_COLOR", "1");
        let out = run_command_in(&dir, shell, "mq-recv", &args, b"");
        assert_outcome(&what, "mq-recv", &out, Want::Failure);
        assert_eq!(out.stdout, "", "{what}");
        assert!(
            out.stderr.starts_with(&format!(
                "mq-recv: the message taken from {} was: {shown}\nerror: cannot write message to standard output: Bad file number (EBADF)\n",
                q.as_str()
            )),
            "{what}: {:.300}",
            out.stderr
        );
        assert_eq!(drain(&mailbox), Vec::<Vec<u8>>::new(), "{what}: taken");
        runs += 1;
    }
    report("mq-recv (stdout closed)", runs);
}

/// Read a FIFO to its end in a thread: the open waits for the writer. Should the writer never
/// come, the test opens the other end itself after [`LIMIT`] so that nothing stays blocked.
fn read_fifo(path: &std::path::Path) -> Vec<u8> {
    let (tx, rx) = channel();
    let p = path.to_path_buf();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let r = std::fs::File::open(&p).and_then(|mut f| f.read_to_end(&mut bytes));
        let _ = tx.send(r.map(|_| bytes));
    });
    match rx.recv_timeout(LIMIT) {
        Ok(r) => r.expect("read the FIFO"),
        Err(_) => {
            let _ = std::fs::OpenOptions::new().write(true).open(path);
            panic!("no writer opened {} in time", path.display());
        }
    }
}

#[test]
fn pipe_demo_fifo_write_copies_junk_and_long_lines_as_they_are() {
    let dir = TempDir::new("stdin-fifo");
    let mut junk_mb: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    junk_mb.extend_from_slice(JUNK);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("EOF at once", Vec::new()),
        ("binary junk", JUNK.to_vec()),
        ("a 1 MB line of every byte", junk_mb),
        ("empty lines", b"\n\n\r\n".to_vec()),
    ];
    let mut runs = 0;
    for (name, stdin) in cases {
        let fifo = TempPath::new("bad.fifo");
        fifo.make_fifo();
        let args = vec![
            OsString::from("fifo-write"),
            fifo.path.clone().into_os_string(),
        ];
        let what = format!("pipe-demo fifo-write < {name}");
        let reader = {
            let path = fifo.path.clone();
            thread::spawn(move || read_fifo(&path))
        };
        let out = run_in(&dir, "pipe-demo", &args, &stdin);
        let got = reader.join().expect("the reader");
        assert_outcome(&what, "pipe-demo", &out, Want::Status(0));
        assert_eq!(
            out.stderr,
            format!(
                "pipe-demo: opening {} to write: open waits until a reader opens it\n",
                fifo.as_str()
            ),
            "{what}: its note, and nothing else"
        );
        assert!(
            got == stdin,
            "{what}: {} bytes read of {}",
            got.len(),
            stdin.len()
        );
        assert!(
            fifo.is_fifo(),
            "{what}: a FIFO it did not make is left in place"
        );
        runs += 1;
    }
    report("pipe-demo (stdin)", runs);
}

// ---------------------------------------------------------------------------------------------
// Bugs found: each test states what it should be, and is ignored until src/ is fixed

#[test]
fn a_huge_realtime_offset_is_a_usage_error_not_a_panic() {
    let dir = TempDir::new("bug-signal");
    let nobody = pid_never_used().to_string();
    for signal in [
        "RTMIN+2147483647",
        "SIGRTMIN+2147483614",
        "rtmin+2147483600",
    ] {
        let args: Vec<OsString> = ["send", &nobody, signal]
            .iter()
            .map(OsString::from)
            .collect();
        let out = run_in(&dir, "sig-demo", &args, b"");
        assert_outcome(
            &format!("sig-demo send {signal}"),
            "sig-demo",
            &out,
            Want::Usage,
        );
        assert!(out.stderr.contains("is not a signal"), "{}", out.stderr);
    }
}

#[test]
fn a_newline_in_a_path_or_name_keeps_the_error_on_one_line() {
    let dir = TempDir::new("bug-newline");
    let path = "/nonexistent-ipc-lab/a\nb";
    let svg = "/nonexistent-ipc-lab/a\nb.svg";
    let cases: [(&str, &[&str], Want); 8] = [
        (
            "shm-master",
            &["--timeout", "0.05", "--ftok", path],
            Want::Failure,
        ),
        ("shm-slave", &["--ftok", path], Want::Failure),
        ("ipc-bench", &["latency", "--plot", svg], Want::Usage),
        ("ipc-bench", &["latency", "--plot", "a\nb"], Want::Usage),
        ("pipe-demo", &["fifo-read", path], Want::Failure),
        ("pipe-demo", &["fifo-write", path, "hi"], Want::Failure),
        ("mq-send", &["a\nb", "hi"], Want::Failure),
        ("mq-recv", &["--attr", "a\nb"], Want::Failure),
    ];
    let mut wrong = Vec::new();
    for (bin, args, want) in cases {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let what = format!("{bin} {}", shown(&args));
        let out = run_in(&dir, bin, &args, b"");
        assert_left_nothing(&what, &out, &dir, &[]);
        let one_line = std::panic::catch_unwind(|| assert_outcome(&what, bin, &out, want));
        if one_line.is_err() {
            wrong.push(what);
        }
    }
    assert_eq!(
        wrong,
        Vec::<String>::new(),
        "errors over more than one line"
    );
}

#[test]
fn a_terminal_escape_typed_is_shown_escaped_never_played() {
    // `\e]0;PWNED\a` retitles a terminal that receives it. Typed into a name, a path or a value,
    // it may be shown back (a note, narration, an error, clap's own usage error), but only as
    // its escape: no ESC (0x1b) or BEL (0x07) byte reaches stdout or stderr.
    let dir = TempDir::new("bug-escape");
    let evil = "\u{1b}]0;PWNED\u{7}";
    let queue = format!("{}{evil}", unique_queue());
    let guard = QueueGuard {
        name: queue.clone(),
    };
    let path = format!("/nonexistent-ipc-lab/{evil}");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        // The "created queue" note, and --explain's narration of mq_open and mq_unlink.
        ("mq-send", vec!["--explain", "-c", &queue, "hi"]),
        ("mq-recv", vec!["--explain", "-n", "--unlink", &queue]),
        ("mq-recv", vec!["--attr", &queue]),
        ("shm-master", vec!["--interval", evil]),
        ("shm-master", vec!["--timeout", "0.05", "--ftok", &path]),
        ("shm-slave", vec![evil]),
        ("pipe-demo", vec![evil]),
        ("pipe-demo", vec!["fifo-read", &path]),
        ("sig-demo", vec!["send", "1", evil]),
        ("ipc-bench", vec!["latency", "--plot", &path]),
        ("shm-race", vec!["counter", "--join", evil]),
        ("proc-demo", vec!["speedup", "--below", evil]),
        ("lab-check", vec![evil, "x.c"]),
        ("lab-check", vec!["sig-segv", &path]),
    ];
    let mut played = Vec::new();
    for (bin, args) in &cases {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let what = format!("{bin} {}", shown(&args));
        let out = run_in(&dir, bin, &args, b"");
        assert_left_nothing(&what, &out, &dir, &[]);
        assert_no_panic(&out.stderr);
        let raw = |s: &str| s.contains(['\u{1b}', '\u{7}']);
        if raw(&out.stdout) || raw(&out.stderr) {
            played.push(format!("{what}: {:?} {:?}", out.stdout, out.stderr));
        }
        assert!(
            out.stderr.contains("\\u{1b}]0;PWNED\\u{7}")
                || out.stdout.contains("\\u{1b}]0;PWNED\\u{7}"),
            "{what}: the escape shown as text: {:?}",
            out.stderr
        );
    }
    drop(guard);
    assert_eq!(played, Vec::<String>::new(), "control characters played");
}

#[test]
fn a_plot_name_too_long_is_refused_before_measuring() {
    let dir = TempDir::new("bug-plot");
    let name = dir.path.join(format!("{}.svg", "a".repeat(300)));
    let mut args: Vec<OsString> = [
        "latency", "--quick", "--count", "1", "--warmup", "0", "--mech", "pipe", "--size", "64",
        "--pin", "none", "--plot",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(name.into_os_string());
    let out = run_in(&dir, "ipc-bench", &args, b"");
    assert_left_nothing("ipc-bench --plot <300 a>.svg", &out, &dir, &[]);
    assert_outcome(
        "ipc-bench --plot <300 a>.svg",
        "ipc-bench",
        &out,
        Want::Usage,
    );
}

#[test]
fn a_trailing_backslash_is_not_called_an_unclosed_quote() {
    let dir = TempDir::new("bug-backslash");
    let args: Vec<OsString> = ["redirect", "echo \\", "cat"]
        .iter()
        .map(OsString::from)
        .collect();
    let out = run_in(&dir, "pipe-demo", &args, b"");
    assert_outcome(
        "pipe-demo redirect 'echo \\' cat",
        "pipe-demo",
        &out,
        Want::Usage,
    );
    assert!(!out.stderr.contains("quote"), "{}", out.stderr);
}

#[test]
fn a_host_without_a_port_is_a_usage_error() {
    let dir = TempDir::new("bug-host");
    for host in ["abc", "", "abc:99999", "99999999999999999999"] {
        let args: Vec<OsString> = ["--host", host, "message"]
            .iter()
            .map(OsString::from)
            .collect();
        let out = run_in(&dir, "mq-send", &args, b"");
        assert_outcome(
            &format!("mq-send --host {host:?}"),
            "mq-send",
            &out,
            Want::Usage,
        );
    }
}

#[test]
fn the_leftover_checks_see_what_they_look_for() {
    // A segment made by this process is found by its cpid.
    let me = std::process::id() as i32;
    let segment = ipc_lab::shm::Segment::create(&ipc_lab::shm::CreateOptions::private(40))
        .expect("create a segment");
    assert_eq!(segments_created_by(&[me]).len(), 1);
    drop(segment);
    assert_eq!(segments_created_by(&[me]), Vec::<String>::new());
    // A queue is found by its name.
    let (q, _mailbox) = own_queue();
    assert!(ipc_lab::mq::exists(&QueueName::parse(q.as_str()).unwrap()));
    // Junk arguments are really not UTF-8.
    assert!(Bad::Junk.value("").to_str().is_none());
    assert!(OsStr::from_bytes(JUNK).to_str().is_none());
}
