//! The lab sheet never lies: every transcript in docs/*.md and docs/deeper/*.md is run and
//! compared.
//!
//! - ```console blocks go through trycmd, one command at a time; they may only run our binaries
//!   (trycmd would silently skip any other program, so that is refused here).
//! - A walk-through in several terminals is a run of blocks marked ```console terminal-1,
//!   ```console terminal-2 (and so on), each with one `$ command` (and optionally `? STATUS`) and
//!   the screen: stdout and stderr as they appear, and what the user types, where it stands on
//!   the screen (after a prompt, or as whole lines). Every terminal but the last starts in the
//!   background, one after the other: the next starts once this one has printed what the others
//!   need, and it and every one before it has settled (quiet and asleep in the kernel, or stopped
//!   by a signal, or ended). The last one then runs, and whenever it waits for input, the text the
//!   transcript shows next is typed. An empty line in an earlier terminal, where it waits while
//!   the later ones wait too or have ended, is the Enter key pressed there (`mq-recv --hold`).
//!   Every screen is compared.
//! - The last terminal's block may hold several commands, each with its `? STATUS` and screen,
//!   as a user types them one after the other: each starts once the one before has ended and the
//!   other terminals have settled again (so a signal sent by one has been reported before the
//!   next is sent); they read an empty stdin. Besides our binaries, a walk-through terminal may
//!   run `kill` (see [`PLAYED_TOO`]), to signal the process of another terminal, and `setpriv`,
//!   to run one of our binaries as another user (the user nobody). Only root may do that: when
//!   this test is not root, a walk-through that runs `setpriv` is skipped, and the test says so.
//! - Values that differ from run to run stand in the sheet as samples, each after a fixed text
//!   (see [`CAPTURES`]): `Shared Memory Id = 32768`, `my PID is 4242` (mq-recv), `My PID is 4242`
//!   (sig-demo wait), `/ipc-lab-pid-4242`, `listening on 127.0.0.1:7000`,
//!   `mq-recv: 127.0.0.1:56918 connected`. The value a terminal really prints replaces the sample
//!   everywhere in the walk-through, commands and screens. A `--listen` port is run as port 0, so
//!   the kernel picks a free one and parallel runs never meet.
//! - Names are this run's own. In a walk-through, `--key` values and `--ftok` paths are replaced
//!   by a unique key and a fresh file. In every console block, each message queue name its
//!   commands use (a word `/name`) becomes `/name-t<pid>-<n>`, in the commands and in the screens:
//!   one set of names for a page's single-terminal blocks (trycmd runs them in order, as a reader
//!   types them), one for each walk-through. The queues are removed when the page or the
//!   walk-through is done, whatever happened (see [`Queues`]). A user's queues may only take so
//!   much kernel memory, so whatever makes queues takes turns (see [`queue_turn`]).
//! - A name of the sheet that ends in `-$USER` (`/lab-$USER`) is the reader's own: the screens
//!   show `you` where the reader's login name stands (`/lab-you`), and the checks read the
//!   commands the same way before making the names their own (see [`page_text`]).
//! - A named pipe's path in a console block (a word `/tmp/NAME.fifo`) becomes one of this run's
//!   own, `/tmp/ipc-lab-docs-<pid>-<n>-NAME.fifo`, in the commands and the screens, as queue names
//!   do; the file is removed when the page or the walk-through is done (see [`Fifos`]).
//! - ```c NAME.c blocks are compiled with gcc, and `./NAME` runs the result with unbuffered
//!   stdout, as on a terminal. Whatever the player starts has a core limit of 0, so that a program
//!   killed by SIGSEGV or SIGFPE leaves no core file behind.
//! - A single-terminal block that trycmd cannot check is played by the player, as a walk-through
//!   of one terminal (see [`played_alone`]): one that runs a C program of the page (`./NAME`), one
//!   whose command ends by a signal (`? 141`, 128 + SIGPIPE; `? 139`, SIGSEGV: trycmd only knows
//!   "interrupted"), and one whose screen shows a backslash (trycmd turns it into a slash before
//!   comparing). The copy trycmd reads has such a block as ```text, which trycmd skips.
//!
//! In expected text, `[..]` matches anything within a line and a line `...` any number of lines.
//!
//! `IPC_LAB_DOCS=03 cargo test --test docs` checks only the pages whose file name holds `03`.

#[path = "lab/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::{PATIENCE, bin, shell_status};
use ipc_lab::mq::QueueName;

const OUR_BINARIES: &[&str] = &[
    "shm-master",
    "shm-slave",
    "mq-send",
    "mq-recv",
    "pipe-demo",
    "sig-demo",
    "shm-race",
    "ipc-bench",
    "lab-check",
    "proc-demo",
];

/// Programs not ours that a walk-through terminal may run too: the player runs them from PATH
/// (trycmd would skip them, so a single-terminal block may not). `kill` signals a process that
/// another terminal runs. `setpriv` runs one of our binaries as another user (see
/// [`as_another_user`]).
const PLAYED_TOO: &[&str] = &["kill", "setpriv"];

/// Whether a walk-through runs a program as another user (`setpriv --reuid=nobody ...
/// shm-slave ...`), which only root can do: without root it is skipped, and the test says so.
fn as_another_user(blocks: &[Block]) -> bool {
    blocks
        .iter()
        .flat_map(|b| &b.body)
        .any(|line| line.starts_with("$ setpriv "))
}

/// How long a terminal must stay quiet (and asleep) to count as waiting.
const SETTLE: Duration = Duration::from_millis(250);

// ---------------------------------------------------------------------------------------------
// Names of this run's own

/// The message queue names a test run uses instead of the sheet's: `/lab` becomes
/// `/lab-t<pid>-<n>`, so that parallel runs, and whoever else on the machine has a `/lab`, never
/// meet. Dropping it removes every queue it named that still exists, on success, failure or panic.
#[derive(Default)]
struct Queues {
    made: Mutex<Vec<String>>,
}

impl Queues {
    fn made(&self) -> MutexGuard<'_, Vec<String>> {
        self.made
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The names the commands use, each with the unique name this run uses for it.
    fn own<'a>(&self, commands: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let mut swaps: Vec<(String, String)> = Vec::new();
        for word in commands.into_iter().flat_map(str::split_whitespace) {
            if is_queue_name(word) && !swaps.iter().any(|(from, _)| from == word) {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let own = format!("{word}-t{}-{n}", std::process::id());
                self.made().push(own.clone());
                swaps.push((word.to_string(), own));
            }
        }
        swaps
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        for name in self.made().drain(..) {
            if let Ok(name) = QueueName::parse(&name) {
                let _ = ipc_lab::mq::unlink(&name); // most are gone already: ENOENT
            }
        }
    }
}

/// The kernel lets the message queues of one user take 819200 bytes in all (`ulimit -q`), and
/// counts each queue at its full size: fewer than ten queues of the default size. So whatever
/// makes queues takes its turn, one at a time across every test process of this user on the
/// machine (an flock on a file of the user's own), rather than failing with EMFILE when runs
/// overlap. The turn ends when the returned lock is dropped (or the process dies).
fn queue_turn() -> nix::fcntl::Flock<std::fs::File> {
    let uid = nix::unistd::getuid();
    let path = std::env::temp_dir().join(format!("ipc-lab-docs-queues-{uid}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .unwrap_or_else(|(_, errno)| panic!("cannot lock {}: {errno}", path.display()))
}

/// A word of a command that names a message queue: `/lab`, one slash, at the start, then letters,
/// digits, `-`, `_` or `.` (not the `/'` that ends `'ls -l /'`). The mailboxes of
/// `mq-recv --mine` (`/ipc-lab-pid-N`) are named by the process, not the sheet.
fn is_queue_name(word: &str) -> bool {
    word.len() > 1
        && word.starts_with('/')
        && word[1..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !word.starts_with("/ipc-lab-pid-")
}

/// A word of a command that names a FIFO of the sheet: `/tmp/NAME.fifo`.
fn is_fifo_path(word: &str) -> bool {
    word.strip_prefix("/tmp/")
        .and_then(|rest| rest.strip_suffix(".fifo"))
        .is_some_and(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

/// The FIFO paths a test run uses instead of the sheet's: `/tmp/lab.fifo` becomes
/// `/tmp/ipc-lab-docs-<pid>-<n>-lab.fifo`, so that parallel runs, and whoever else on the machine
/// has a `/tmp/lab.fifo`, never meet. Dropping it removes every such file that still exists (the
/// program that made a FIFO normally removes it itself), on success, failure or panic.
#[derive(Default)]
struct Fifos {
    made: Mutex<Vec<PathBuf>>,
}

impl Fifos {
    /// The FIFO paths the commands use, each with the path this run uses for it.
    fn own<'a>(&self, commands: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let mut swaps: Vec<(String, String)> = Vec::new();
        for word in commands.into_iter().flat_map(str::split_whitespace) {
            if is_fifo_path(word) && !swaps.iter().any(|(from, _)| from == word) {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let name = &word["/tmp/".len()..];
                let own = std::env::temp_dir()
                    .join(format!("ipc-lab-docs-{}-{n}-{name}", std::process::id()));
                self.made
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(own.clone());
                swaps.push((word.to_string(), own.display().to_string()));
            }
        }
        swaps
    }
}

impl Drop for Fifos {
    fn drop(&mut self) {
        let made = self
            .made
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for path in made.drain(..) {
            let _ = std::fs::remove_file(path); // most are gone already: ENOENT
        }
    }
}

/// Whether trycmd cannot check this single-terminal block, so that the player plays it instead
/// (a walk-through of one terminal): it runs a C program of the page (`$ ./NAME`), which trycmd
/// does not know; it ends by a signal (`? 141`), which trycmd can only call "interrupted"; or its
/// screen shows a backslash, which trycmd turns into a slash before comparing (it makes Windows
/// paths look like Unix ones), so that `"Hello There!\\0"` could never match.
fn played_alone<S: AsRef<str>>(body: &[S]) -> bool {
    let mut lines = body.iter().map(AsRef::as_ref);
    let command = lines
        .next()
        .and_then(|l| l.strip_prefix("$ "))
        .unwrap_or("");
    let screen: Vec<&str> = lines.collect();
    let by_signal = screen
        .first()
        .and_then(|l| l.strip_prefix("? "))
        .and_then(|s| s.trim().parse::<i32>().ok())
        .is_some_and(|status| status > 128);
    let backslash = screen.iter().any(|l| l.contains('\\'));
    // A C file of the page given to a program (`lab-check pipe-hello pipe.c`): the player runs
    // it in the folder the page's C files are written to.
    let c_file = command.split_whitespace().any(page_c_file);
    command.starts_with("./") || by_signal || backslash || c_file
}

/// Whether a command's word names a C file of the page: `pipe.c`, not a path.
fn page_c_file(word: &str) -> bool {
    word.strip_suffix(".c")
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// `text` with the queue name `from` replaced by `to` wherever it stands as a whole name: not
/// inside a longer name (`/lab2`) or a path (`/dev/mqueue/lab`).
fn replace_name(text: &str, from: &str, to: &str) -> String {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before = rest[..at].chars().last().or_else(|| out.chars().last());
        let after = rest[at + from.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(|c| name_char(c) || c == '/') || after.is_some_and(name_char) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

#[test]
fn queue_names_are_replaced_as_whole_names() {
    assert!(is_queue_name("/lab") && is_queue_name("/from-a"));
    for not in [
        "/",
        "lab",
        "/a/b",
        "./send",
        "/ipc-lab-pid-42",
        "--to",
        "/'",
    ] {
        assert!(!is_queue_name(not), "{not}");
    }
    assert_eq!(
        replace_name(
            "queue /lab (mq-recv /lab) /lab: /lab2 /dev/mqueue/lab",
            "/lab",
            "/x"
        ),
        "queue /x (mq-recv /x) /x: /lab2 /dev/mqueue/lab"
    );
    let queues = Queues::default();
    let swaps = queues.own(["mq-send -c /lab a", "mq-recv --count 1 /lab /b"]);
    let pid = std::process::id();
    assert_eq!(swaps.len(), 2);
    assert!(
        swaps[0].1.starts_with(&format!("/lab-t{pid}-")),
        "{swaps:?}"
    );
    assert!(swaps[1].1.starts_with(&format!("/b-t{pid}-")), "{swaps:?}");
    assert_eq!(queues.made().len(), 2);
}

/// The copy of a page that trycmd checks, with the same line numbers:
///
/// - trycmd drops the last newline of a block's expected output, so a program's final newline
///   needs a blank line before the closing fence. Rather than make every block of the sheet end
///   in a blank line, each console block's closing fence trades places with the blank line after
///   it. (trycmd drops the last newline of every command's output, so a block holds one command:
///   see [`console_blocks_run_only_our_programs`].)
/// - The queue names the page's console blocks use become names of this run's own (see
///   [`Queues`]), in each block that uses them, in its commands and expected output (a block that
///   does not is left alone: `e.g. /lab` in a usage error is the program's text). One set of names
///   for the whole page: trycmd runs its blocks in order, as a reader types them, and a queue one
///   block leaves behind is there for the next, as it would be on the reader's machine. The same
///   for FIFO paths (see [`Fifos`]).
/// - A block the player plays instead (see [`played_alone`]) becomes a ```text block, which
///   trycmd skips.
fn trycmd_copy(text: &str, queues: &Queues, fifos: &Fifos) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let is_open = |line: &str| line == "```console" || line == "```trycmd";
    let mut in_console = false;
    let mut commands = Vec::new();
    for line in &lines {
        if !in_console && is_open(line) {
            in_console = true;
        } else if in_console && *line == "```" {
            in_console = false;
        } else if let Some(command) = line.strip_prefix("$ ").filter(|_| in_console) {
            commands.push(command);
        }
    }
    let mut swaps = queues.own(commands.iter().copied());
    swaps.extend(fifos.own(commands));

    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 1);
    let mut in_console = false;
    let mut used: Vec<&(String, String)> = Vec::new(); // the names this block's commands use
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if !in_console && is_open(line) {
            let body: Vec<&str> = lines[i + 1..]
                .iter()
                .copied()
                .take_while(|l| *l != "```")
                .collect();
            if played_alone(&body) {
                out.push("```text".to_string()); // the player's (its closing fence follows as is)
                i += 1;
                continue;
            }
            in_console = true;
            let words: Vec<&str> = body
                .iter()
                .filter_map(|l| l.strip_prefix("$ "))
                .flat_map(|l| l.split_whitespace())
                .collect();
            used = swaps
                .iter()
                .filter(|(from, _)| words.contains(&from.as_str()))
                .collect();
        } else if in_console && line == "```" {
            in_console = false;
            out.push(String::new());
            out.push(line.to_string());
            if lines.get(i + 1) == Some(&"") {
                i += 1; // the blank line moved up
            }
            i += 1;
            continue;
        } else if in_console {
            let mut line = line.to_string();
            for (from, to) in &used {
                line = replace_name(&line, from, to);
            }
            out.push(line);
            i += 1;
            continue;
        }
        out.push(line.to_string());
        i += 1;
    }
    out.join("\n") + "\n"
}

#[test]
fn trycmd_copy_keeps_line_numbers() {
    let doc = "# t\n\n```console\n$ a\nout\n```\n\nafter\n```console terminal-1\n$ b\n```\n";
    let copy = trycmd_copy(doc, &Queues::default(), &Fifos::default());
    assert_eq!(
        copy,
        "# t\n\n```console\n$ a\nout\n\n```\nafter\n```console terminal-1\n$ b\n```\n"
    );
    assert_eq!(doc.lines().count(), copy.lines().count());

    let doc = "```console\n$ mq-send /lab a\nerror: /lab\n```\n\n/lab\n\n```console\n$ mq-recv /lab\n```\n\n```console\n$ mq-recv\ne.g. /lab\n```\n";
    let copy = trycmd_copy(doc, &Queues::default(), &Fifos::default());
    let copy: Vec<&str> = copy.lines().collect();
    let pid = std::process::id();
    let first = copy[1]
        .strip_prefix("$ mq-send ")
        .unwrap()
        .strip_suffix(" a")
        .unwrap();
    assert!(first.starts_with(&format!("/lab-t{pid}-")), "{copy:?}");
    assert_eq!(copy[2], format!("error: {first}"));
    assert_eq!(copy[5], "/lab", "prose is left alone");
    assert_eq!(
        copy[8],
        format!("$ mq-recv {first}"),
        "one name per page: {copy:?}"
    );
    assert_eq!(
        copy[13], "e.g. /lab",
        "only in blocks that use the name: {copy:?}"
    );
}

#[test]
fn fifo_paths_and_blocks_played_alone() {
    assert!(is_fifo_path("/tmp/lab.fifo") && is_fifo_path("/tmp/a-b_c.fifo"));
    for not in [
        "/tmp/.fifo",
        "lab.fifo",
        "/tmp/a/b.fifo",
        "/tmp/lab",
        "/var/lab.fifo",
    ] {
        assert!(!is_fifo_path(not), "{not}");
    }
    let doc = "```console\n$ pipe-demo fifo-read /tmp/lab.fifo\nopen(\"/tmp/lab.fifo\") /tmp/lab.fifo2\n```\n\n```console\n$ ./hello\nhi\n```\n\n```console\n$ pipe-demo broken\n? 141\nbye\n```\n";
    let fifos = Fifos::default();
    let copy = trycmd_copy(doc, &Queues::default(), &fifos);
    let copy: Vec<&str> = copy.lines().collect();
    let own = std::env::temp_dir().join(format!("ipc-lab-docs-{}-", std::process::id()));
    let own = own.display().to_string();
    let path = copy[1].strip_prefix("$ pipe-demo fifo-read ").unwrap();
    assert!(
        path.starts_with(&own) && path.ends_with("-lab.fifo"),
        "{copy:?}"
    );
    assert_eq!(copy[2], format!("open(\"{path}\") /tmp/lab.fifo2"));
    assert_eq!(fifos.made.lock().unwrap().len(), 1);
    assert_eq!(
        &copy[5..9],
        ["```text", "$ ./hello", "hi", "```"],
        "{copy:?}"
    );
    assert_eq!(copy[10], "```text", "{copy:?}");
    assert_eq!(doc.lines().count(), copy.len());
    assert!(played_alone(&["$ ./hello"]) && played_alone(&["$ a", "? 130"]));
    assert!(!played_alone(&["$ a", "? 1", "x"]) && !played_alone(&["$ a", "x", "? 141"]));
    assert!(played_alone(&["$ a", "write(\"x\\\\0\")"]) && !played_alone(&["$ a \\n"]));
    assert!(played_alone(&["$ lab-check pipe-hello pipe.c"]));
    assert!(!played_alone(&[
        "$ lab-check pipe-hello exercises/pipe-hello/pipe-hello.c"
    ]));
}

#[test]
fn single_terminal_transcripts() {
    /// Removes the copies when dropped, which is after `cases` (declared later) has run them.
    struct Copies(PathBuf);
    impl Drop for Copies {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    // One directory per run: test runs in parallel must not share it.
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("docs-trycmd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _copies = Copies(dir.clone());
    // Held until trycmd has run every block (`cases`, declared later, runs when dropped), and
    // the queues and FIFOs it made are removed (`queues` and `fifos`, dropped after `cases`,
    // before the turn).
    let _turn = queue_turn();
    let queues = Queues::default();
    let fifos = Fifos::default();
    for file in doc_files() {
        let text = page_text(&file);
        // docs/deeper/03-x.md is copied as deeper-03-x.md, beside docs/03-x.md's copy.
        let name = file.file_name().unwrap().to_string_lossy();
        let copy = if file.starts_with("docs/deeper") {
            format!("deeper-{name}")
        } else {
            name.to_string()
        };
        std::fs::write(dir.join(copy), trycmd_copy(&text, &queues, &fifos)).unwrap();
    }
    eprintln!(
        "checking copies of docs/*.md in {} (same line numbers)",
        dir.display()
    );
    let cases = trycmd::TestCases::new();
    cases
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(30))
        .case(dir.join("*.md"));
    for name in OUR_BINARIES {
        cases.register_bin(*name, bin(name));
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the sheet

#[derive(Debug, Clone)]
struct Block {
    file: PathBuf,
    /// 1-based line of the opening fence.
    line: usize,
    info: String,
    body: Vec<String>,
}

impl Block {
    fn place(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }

    fn lang(&self) -> &str {
        self.info.split([' ', ',']).next().unwrap_or("")
    }

    fn terminal(&self) -> Option<u32> {
        self.info
            .split([' ', ','])
            .find_map(|w| w.strip_prefix("terminal-"))
            .and_then(|n| n.parse().ok())
    }
}

/// The pages of the sheet: docs/*.md, then the deeper pages, docs/deeper/*.md.
fn doc_files() -> Vec<PathBuf> {
    let mut files = all_doc_files();
    // IPC_LAB_DOCS=03 checks only the pages whose file name holds "03" (a chapter and its deeper
    // page), while one is being written; the whole sheet is checked otherwise.
    if let Ok(only) = std::env::var("IPC_LAB_DOCS") {
        files.retain(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(&only))
        });
        eprintln!("IPC_LAB_DOCS={only}: checking only {files:?}");
    }
    assert!(!files.is_empty(), "no docs/*.md");
    files
}

/// Every page of the sheet, whatever IPC_LAB_DOCS says.
fn all_doc_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["docs", "docs/deeper"] {
        let mut here: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{dir}/: {e}"))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        here.sort();
        files.extend(here);
    }
    files
}

/// The text of a page as the checks read it. A name of the sheet that ends in `-$USER`
/// (`/lab-$USER`, `/tmp/lab-$USER.fifo`) is the reader's own: their shell puts their login name
/// there, and the screens the page shows have `you` in its place (`/lab-you`). The checks read
/// the commands as the screens do, and then make the name this run's own, as any other.
fn page_text(file: &Path) -> String {
    std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .replace("-$USER", "-you")
}

/// The chapter a deeper page goes deeper into: docs/deeper/03-x.md belongs to docs/03-*.md.
fn chapter_of(file: &Path) -> Option<PathBuf> {
    if file.parent()?.file_name()? != "deeper" {
        return None;
    }
    let prefix = file.file_name()?.to_str()?.get(..3)?.to_string();
    all_doc_files().into_iter().find(|f| {
        f.parent().is_some_and(|d| d == Path::new("docs"))
            && f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
    })
}

/// The ```c blocks a page's `./NAME` commands may run: the page's own, and for a deeper page
/// its chapter's too (a deeper page runs the chapter's C programs without printing them again).
fn c_blocks_for(file: &Path, blocks: &[Block]) -> Vec<Block> {
    let mut all: Vec<Block> = blocks.iter().filter(|b| b.lang() == "c").cloned().collect();
    if let Some(chapter) = chapter_of(file) {
        all.extend(blocks_of(&chapter).into_iter().filter(|b| b.lang() == "c"));
    }
    all
}

#[test]
fn names_ending_in_user_read_as_the_screens_show_them() {
    let dir = std::env::temp_dir().join(format!("ipc-lab-docs-user-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("x.md");
    std::fs::write(
        &page,
        "$ mq-send /lab-$USER hi /tmp/lab-$USER.fifo \"$USER\"\n",
    )
    .unwrap();
    let text = page_text(&page);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(text, "$ mq-send /lab-you hi /tmp/lab-you.fifo \"$USER\"\n");
    assert!(is_queue_name("/lab-you") && is_fifo_path("/tmp/lab-you.fifo"));
    let deeper = chapter_of(Path::new("docs/deeper/03-more.md"));
    assert!(
        deeper.is_some_and(|c| c.to_str().is_some_and(|c| c.starts_with("docs/03-"))),
        "a deeper page belongs to its chapter"
    );
    assert_eq!(chapter_of(Path::new("docs/03-pipes.md")), None);
}

fn blocks_of(file: &Path) -> Vec<Block> {
    let text = page_text(file);
    let mut blocks = Vec::new();
    let mut open: Option<(String, Block)> = None;
    for (i, line) in text.lines().enumerate() {
        let ticks = line.len() - line.trim_start_matches('`').len();
        match &mut open {
            None if ticks >= 3 => {
                open = Some((
                    line[..ticks].to_string(),
                    Block {
                        file: file.to_path_buf(),
                        line: i + 1,
                        info: line[ticks..].trim().to_string(),
                        body: Vec::new(),
                    },
                ));
            }
            Some((fence, _)) if line.trim_end() == fence.as_str() => {
                blocks.push(open.take().unwrap().1);
            }
            Some((_, block)) => block.body.push(line.to_string()),
            None => {}
        }
    }
    assert!(open.is_none(), "{}: an unclosed code block", file.display());
    blocks
}

/// `$ command`, `? status`, and the expected screen.
#[derive(Debug, Clone)]
struct Transcript {
    /// `file:line` of the `$ command` line, for messages.
    place: String,
    words: Vec<String>,
    status: i32,
    screen: Vec<String>,
}

/// The commands of a walk-through block, each with its status and screen. Most blocks hold one;
/// the last terminal's may hold several, typed one after the other (see [`play_walk_through`]).
fn transcripts(block: &Block) -> Result<Vec<Transcript>, String> {
    if !block.body.first().is_some_and(|l| l.starts_with("$ ")) {
        return Err(format!(
            "{}: a walk-through block starts with `$ command`",
            block.place()
        ));
    }
    let mut ts: Vec<Transcript> = Vec::new();
    for (i, line) in block.body.iter().enumerate() {
        let place = format!("{}:{}", block.file.display(), block.line + 1 + i);
        if let Some(command) = line.strip_prefix("$ ") {
            if command.contains(['\'', '"', '|', '>', '<', '&', ';', '$', '`']) {
                return Err(format!(
                    "{place}: walk-through commands are plain words (no quotes or shell syntax): {command}"
                ));
            }
            ts.push(Transcript {
                place,
                words: command.split_whitespace().map(String::from).collect(),
                status: 0,
                screen: Vec::new(),
            });
            continue;
        }
        let t = ts.last_mut().expect("the block starts with a command");
        match line.strip_prefix("? ") {
            Some(s) if t.screen.is_empty() && t.status == 0 => {
                t.status = s
                    .trim()
                    .parse()
                    .map_err(|_| format!("{place}: `? {s}` is not a status"))?;
            }
            _ => t.screen.push(line.clone()),
        }
    }
    Ok(ts)
}

#[test]
fn walk_through_blocks_split_into_commands() {
    let block = Block {
        file: PathBuf::from("docs/x.md"),
        line: 10,
        info: "console terminal-2".into(),
        body: [
            "$ kill -STOP 4242",
            "$ sig-demo list",
            "? 1",
            "a",
            "? 2",
            "$ b c",
        ]
        .map(String::from)
        .to_vec(),
    };
    let ts = transcripts(&block).unwrap();
    assert_eq!(ts.len(), 3);
    assert_eq!(ts[0].words, ["kill", "-STOP", "4242"]);
    assert!(ts[0].screen.is_empty() && ts[0].status == 0);
    assert_eq!(
        (ts[1].status, &ts[1].screen[..]),
        (1, &["a", "? 2"].map(String::from)[..])
    );
    assert_eq!(ts[1].place, "docs/x.md:12");
    assert_eq!(ts[2].place, "docs/x.md:16");
    let bad = Block {
        body: vec!["$ kill -STOP 4242; kill -CONT 4242".into()],
        ..block.clone()
    };
    assert!(transcripts(&bad).unwrap_err().contains("plain words"));
    let bad = Block {
        body: vec!["out".into()],
        ..block
    };
    assert!(transcripts(&bad).is_err());
}

// ---------------------------------------------------------------------------------------------
// Matching

fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split("[..]").collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &actual[first.len()..];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn screen_matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => {
            (0..=actual.len()).any(|skip| screen_matches(rest, &actual[skip..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| line_matches(e, a) && screen_matches(rest, more)),
    }
}

#[test]
fn the_matcher_itself() {
    let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(line_matches("a [..] c", "a bbb c"));
    assert!(line_matches("[..]", ""));
    assert!(!line_matches("a [..] c", "a bbb d"));
    assert!(!line_matches("ab[..]ba", "aba"));
    assert!(line_matches("x = [..], y = [..]", "x = 1, y = 2"));
    assert!(screen_matches(
        &e(&["a", "...", "z"]),
        &["a", "b", "c", "z"]
    ));
    assert!(screen_matches(&e(&["a", "...", "z"]), &["a", "z"]));
    assert!(!screen_matches(&e(&["a", "z"]), &["a", "b", "z"]));
    assert!(!screen_matches(&e(&["a"]), &["a", "b"]));
}

fn replace_number(text: &str, sample: &str, real: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(sample) {
        let before = rest[..at].chars().last().or_else(|| out.chars().last());
        let after = rest[at + sample.len()..].chars().next();
        out.push_str(&rest[..at]);
        let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
        if digit(before) || digit(after) {
            out.push_str(sample);
        } else {
            out.push_str(real);
        }
        rest = &rest[at + sample.len()..];
    }
    out.push_str(rest);
    out
}

/// The fixed texts after which a terminal prints a value that differs from run to run: the
/// sheet shows a sample there, and the player puts the real value in its place. The first ones
/// are waited for before the next terminal starts (they go into its command); the last comes
/// only once a sender has connected.
const CAPTURES: &[&str] = &[
    "Shared Memory Id = ",
    "my PID is ",
    "My PID is ",
    "/ipc-lab-pid-",
    "listening on 127.0.0.1:",
    "mq-recv: 127.0.0.1:",
];
/// How many of [`CAPTURES`] a later terminal may need.
const EARLY_CAPTURES: usize = 5;

/// The numbers that follow `prefix` in `lines`, each once, in the order they first appear.
fn numbers_after<'a>(lines: impl IntoIterator<Item = &'a str>, prefix: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for line in lines {
        for (at, _) in line.match_indices(prefix) {
            let digits: String = line[at + prefix.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if !digits.is_empty() && !found.contains(&digits) {
                found.push(digits);
            }
        }
    }
    found
}

/// Put the values terminal `i` printed (`actual`) in place of its transcript's samples, after
/// each of `prefixes`, in every transcript of the walk-through. Returns false while some sample
/// has no value yet.
fn capture(actual: &str, i: usize, ts: &mut [Transcript], prefixes: &[&str]) -> bool {
    let mut complete = true;
    for prefix in prefixes {
        let samples = numbers_after(ts[i].screen.iter().map(String::as_str), prefix);
        if samples.is_empty() {
            continue;
        }
        let reals = numbers_after(actual.lines(), prefix);
        if reals.len() < samples.len() {
            complete = false;
            continue;
        }
        for (sample, real) in samples.iter().zip(&reals).filter(|(s, r)| s != r) {
            for t in ts.iter_mut() {
                for text in t.words.iter_mut().chain(t.screen.iter_mut()) {
                    *text = replace_number(text, sample, real);
                }
            }
        }
    }
    complete
}

#[test]
fn samples_take_the_real_values() {
    let t = |words: &[&str], screen: &[&str]| Transcript {
        place: String::new(),
        words: words.iter().map(|s| s.to_string()).collect(),
        status: 0,
        screen: screen.iter().map(|s| s.to_string()).collect(),
    };
    let mut ts = vec![
        t(
            &["mq-recv", "--mine"],
            &[
                "mq-recv: created queue /ipc-lab-pid-4242 (10 messages)",
                "mq-recv: my PID is 4242; send with `mq-send --to 4242 MESSAGE`",
            ],
        ),
        t(&["mq-send", "--to", "4242", "x"], &["14242"]),
    ];
    assert!(!capture("", 0, &mut ts, &CAPTURES[..EARLY_CAPTURES]));
    let actual = "mq-recv: created queue /ipc-lab-pid-977 (10 messages)\nmq-recv: my PID is 977";
    assert!(capture(actual, 0, &mut ts, &CAPTURES[..EARLY_CAPTURES]));
    assert_eq!(
        ts[0].screen[1],
        "mq-recv: my PID is 977; send with `mq-send --to 977 MESSAGE`"
    );
    assert_eq!(ts[1].words[2], "977");
    assert_eq!(ts[1].screen[0], "14242", "only whole numbers");
    assert_eq!(
        numbers_after(["a 127.0.0.1:5 b", "127.0.0.1:6 127.0.0.1:5"], "127.0.0.1:"),
        ["5", "6"]
    );
}

/// The command as it is run: a `--listen` port becomes 0, so that the kernel picks a free one
/// (the port the program prints then replaces the sample, see [`CAPTURES`]).
fn as_run(words: &[String]) -> Vec<String> {
    let mut run = words.to_vec();
    for i in 1..run.len() {
        if run[i - 1] == "--listen" {
            run[i] = match run[i].rsplit_once(':') {
                Some((addr, _)) => format!("{addr}:0"),
                None => "0".to_string(),
            };
        }
    }
    run
}

// ---------------------------------------------------------------------------------------------
// Running a program as a terminal would show it

/// A process whose stdout and stderr go to one pipe, collected as they come.
struct Screen {
    child: Child,
    text: Arc<Mutex<Vec<u8>>>,
    last_output: Arc<Mutex<Instant>>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Screen {
    fn start(
        words: &[String],
        programs: &HashMap<String, PathBuf>,
        stdin: Stdio,
    ) -> Result<Screen, String> {
        let name = &words[0];
        let mut cmd = if let Some(path) = programs.get(name) {
            if name.starts_with("./") {
                let mut c = Command::new("stdbuf");
                c.arg("-o0").arg(path);
                c
            } else {
                Command::new(path)
            }
        } else {
            return Err(format!(
                "{name} is neither one of our binaries nor a C program of this chapter"
            ));
        };
        // setpriv looks the program up in PATH, which does not hold our binaries: give it the
        // path of the one the sheet names.
        let mut args: Vec<std::ffi::OsString> = words[1..].iter().map(Into::into).collect();
        if name == "setpriv"
            && let Some(at) = words[1..]
                .iter()
                .position(|w| OUR_BINARIES.contains(&w.as_str()))
        {
            args[at] = bin(&words[1 + at]).into_os_string();
        }
        // A C file of the page is in the folder its program was compiled in.
        let c_dir = words[1..]
            .iter()
            .filter(|w| page_c_file(w))
            .filter_map(|w| programs.get(&format!("./{}", w.strip_suffix(".c")?)))
            .find_map(|exe| exe.parent());
        if let Some(dir) = c_dir {
            cmd.current_dir(dir);
        }
        let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
        let writer2 = writer.try_clone().map_err(|e| e.to_string())?;
        cmd.args(&args)
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .stdin(stdin)
            .stdout(writer)
            .stderr(writer2);
        let child = cmd.spawn().map_err(|e| format!("cannot run {name}: {e}"))?;
        drop(cmd); // our copies of the write end, so EOF comes with the child's exit
        let text = Arc::new(Mutex::new(Vec::new()));
        let last_output = Arc::new(Mutex::new(Instant::now()));
        let (t, l) = (text.clone(), last_output.clone());
        let handle = thread::spawn(move || {
            let mut reader = reader;
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                t.lock().unwrap().extend_from_slice(&buf[..n]);
                *l.lock().unwrap() = Instant::now();
            }
        });
        Ok(Screen {
            child,
            text,
            last_output,
            reader: Some(handle),
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().unwrap()).into_owned()
    }

    fn quiet_for(&self) -> Duration {
        self.last_output.lock().unwrap().elapsed()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Whether the process sits in read(2) on its stdin.
    fn reading_stdin(&self) -> Option<bool> {
        let syscall = std::fs::read_to_string(format!("/proc/{}/syscall", self.child.id())).ok()?;
        Some(syscall.starts_with(&format!("{} 0x0 ", libc::SYS_read)))
    }

    /// Whether the process is asleep in the kernel (state S: waiting in a system call), at three
    /// looks in a row: a program that is starting up may sleep for a moment too.
    fn sleeping(&self) -> bool {
        self.in_state('S')
    }

    /// Whether the process is stopped (state T: by SIGSTOP or SIGTSTP), at three looks in a row.
    fn stopped(&self) -> bool {
        self.in_state('T')
    }

    /// Whether /proc/PID/stat shows the process in `state`, at three looks 10 ms apart.
    fn in_state(&self, state: char) -> bool {
        let stat = format!("/proc/{}/stat", self.child.id());
        (0..3).all(|look| {
            if look > 0 {
                thread::sleep(Duration::from_millis(10));
            }
            std::fs::read_to_string(&stat)
                .ok()
                .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with(state)))
                .unwrap_or(false)
        })
    }

    /// Ended, or waiting for something: quiet for a while, and asleep (or stopped by a signal,
    /// until a SIGCONT).
    fn settled(&mut self) -> bool {
        !self.alive() || (self.quiet_for() >= SETTLE && (self.sleeping() || self.stopped()))
    }

    fn finish(mut self) -> Result<(i32, String), String> {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!(
                    "did not finish in time; the screen:\n{}",
                    self.text()
                ));
            }
            thread::sleep(Duration::from_millis(10));
        };
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
        Ok((shell_status(status), self.text()))
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn compare(t: &Transcript, status: i32, screen: &str) -> Result<(), String> {
    let actual: Vec<&str> = screen.lines().collect();
    if status != t.status || !screen_matches(&t.screen, &actual) {
        return Err(format!(
            "{}: `$ {}` differs\n--- expected (status {})\n{}\n--- actual (status {status})\n{}",
            t.place,
            t.words.join(" "),
            t.status,
            t.screen.join("\n"),
            screen
        ));
    }
    Ok(())
}

/// Keys, ftok paths, queue names and FIFO paths in a walk-through are samples too: each is
/// replaced, in every block, by one of this run's own (a unique key, a fresh file, a unique queue
/// name or FIFO path), so that no other run or user of the machine holding the same name can get
/// in the way.
fn own_names(
    ts: &mut [Transcript],
    scratch: &Path,
    queues: &Queues,
    fifos: &Fifos,
) -> Result<(), String> {
    let mut swaps: Vec<(String, String)> = Vec::new();
    for t in ts.iter() {
        for pair in t.words.windows(2) {
            let sample = &pair[1];
            if swaps.iter().any(|(from, _)| from == sample) {
                continue;
            }
            match pair[0].as_str() {
                "--key" => {
                    let key = ipc_lab::cli::parse_key(sample)?;
                    let own = common::unique_key();
                    swaps.push((sample.clone(), format!("{:#x}", own as u32)));
                    swaps.push((ipc_lab::shm::key_text(key), ipc_lab::shm::key_text(own)));
                }
                "--ftok" => {
                    let own = scratch.join(format!("ftok-{}", common::unique_key()));
                    std::fs::write(&own, "").map_err(|e| e.to_string())?;
                    swaps.push((sample.clone(), own.display().to_string()));
                }
                _ => {}
            }
        }
    }
    for t in ts.iter_mut() {
        for (from, to) in &swaps {
            for word in t.words.iter_mut().filter(|w| *w == from) {
                *word = to.clone();
            }
            for line in t.screen.iter_mut() {
                *line = line.replace(from.as_str(), to);
            }
        }
    }
    let commands: Vec<String> = ts.iter().map(|t| t.words.join(" ")).collect();
    let mut names = queues.own(commands.iter().map(String::as_str));
    names.extend(fifos.own(commands.iter().map(String::as_str)));
    for t in ts.iter_mut() {
        for (from, to) in &names {
            for word in t.words.iter_mut().filter(|w| *w == from) {
                *word = to.clone();
            }
            for line in t.screen.iter_mut() {
                *line = replace_name(line, from, to);
            }
        }
    }
    Ok(())
}

/// Removes the mailboxes of the processes a walk-through started (`mq-recv --mine` and
/// `--listen` name theirs `/ipc-lab-pid-PID`), should one have been killed before it could.
struct PidMailboxes(Vec<u32>);

impl Drop for PidMailboxes {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = ipc_lab::mq::unlink(&QueueName::for_pid(*pid));
        }
    }
}

/// Play a walk-through: the blocks of terminal 1, 2, ... together, as the module says. Every
/// terminal but the last runs one command, in the background. The last may run several, one
/// after the other, as a user types them: each once the one before has ended and every other
/// terminal has settled again (its input is then not typed: it reads an empty stdin).
fn play_walk_through(
    blocks: &[Block],
    programs: &HashMap<String, PathBuf>,
    scratch: &Path,
) -> Result<(), String> {
    let per_block = blocks
        .iter()
        .map(transcripts)
        .collect::<Result<Vec<_>, _>>()?;
    let last = blocks.len() - 1;
    if let Some((_, b)) = per_block[..last]
        .iter()
        .zip(blocks)
        .find(|(t, _)| t.len() > 1)
    {
        return Err(format!(
            "{}: only the last terminal of a walk-through may run several commands (the others run in the background)",
            b.place()
        ));
    }
    let several = per_block[last].len() > 1;
    // One transcript per command: ts[i] is terminal i + 1 for i < last, then the last terminal's
    // commands in order. screens[i], inputs[i] and typed[i] go with ts[i].
    let mut ts: Vec<Transcript> = per_block.into_iter().flatten().collect();
    let _turn = ts
        .iter()
        .any(|t| t.words[0].starts_with("mq-") || t.words.iter().any(|w| is_queue_name(w)))
        .then(queue_turn);
    // Declared after the turn, so dropped before it ends: the queues go first. Both are dropped
    // after the screens (declared later): the processes are gone by then.
    let queues = Queues::default();
    let fifos = Fifos::default();
    own_names(&mut ts, scratch, &queues, &fifos)
        .map_err(|e| format!("{}: {e}", blocks[0].place()))?;
    // Declared before the screens, so dropped after them: the processes are gone by then.
    let mut pids = PidMailboxes(Vec::new());
    let mut screens: Vec<Screen> = Vec::new();
    let mut inputs: Vec<Option<ChildStdin>> = Vec::new();
    for i in 0..=last {
        let stdin = if i == last && several {
            Stdio::null()
        } else {
            Stdio::piped()
        };
        let mut screen = Screen::start(&as_run(&ts[i].words), programs, stdin)
            .map_err(|e| format!("{}: {e}", ts[i].place))?;
        pids.0.push(screen.child.id());
        inputs.push(screen.child.stdin.take());
        if i < last {
            // Wait until it has printed what the next terminals need, and it waits, and so do
            // the ones before it (one that is still taking messages in would race the next).
            let start = Instant::now();
            while !(capture(&screen.text(), i, &mut ts, &CAPTURES[..EARLY_CAPTURES])
                && screen.settled()
                && screens.iter_mut().all(Screen::settled))
            {
                if !screen.alive() {
                    break; // it ended early: the comparison will say how
                }
                if start.elapsed() > PATIENCE {
                    return Err(format!(
                        "{}: did not settle in time; the screen so far:\n{}",
                        ts[i].place,
                        screen.text()
                    ));
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        screens.push(screen);
    }

    let mut typed: Vec<Vec<(usize, String)>> = vec![Vec::new(); ts.len()]; // (offset, text)
    let mut next = last + 1; // the last terminal's next command
    let mut start = Instant::now();
    while next < ts.len() || screens.iter_mut().any(Screen::alive) {
        if start.elapsed() > PATIENCE {
            let running: Vec<String> = screens
                .iter_mut()
                .zip(&ts)
                .filter_map(|(s, t)| {
                    s.alive()
                        .then(|| format!("{}: still running; the screen:\n{}", t.place, s.text()))
                })
                .collect();
            let waiting = if running.is_empty() {
                format!(
                    "{}: not started: the other terminals did not settle",
                    ts[next].place
                )
            } else {
                running.join("\n")
            };
            return Err(waiting);
        }
        // The last terminal's next command, once the one before has ended and every other
        // terminal waits (or has ended).
        if next < ts.len() {
            let n = screens.len();
            let (others, current) = screens.split_at_mut(n - 1);
            if !current[0].alive() && others[..last].iter_mut().all(Screen::settled) {
                let screen = Screen::start(&as_run(&ts[next].words), programs, Stdio::null())
                    .map_err(|e| format!("{}: {e}", ts[next].place))?;
                pids.0.push(screen.child.id());
                inputs.push(None);
                screens.push(screen);
                next += 1;
                start = Instant::now();
                continue;
            }
        }
        // The last terminal: whenever it waits for input, type what its transcript shows next.
        let slave = &screens[last];
        let waiting = match slave.reading_stdin() {
            Some(reading) => reading && slave.quiet_for() > Duration::from_millis(100),
            None => slave.quiet_for() > Duration::from_millis(500),
        };
        if waiting && inputs[last].is_some() {
            let screen = merge(&slave.text(), &typed[last]);
            let done = screen.matches('\n').count();
            let partial = screen.rsplit('\n').next().unwrap_or("");
            match ts[last].screen.get(done) {
                Some(line) if line.len() > partial.len() && line.starts_with(partial) => {
                    let text = format!("{}\n", &line[partial.len()..]);
                    let out = slave.text().len();
                    let _ = inputs[last].as_mut().unwrap().write_all(text.as_bytes());
                    typed[last].push((out, text));
                }
                _ => drop(inputs[last].take()), // nothing more typed: end of input
            }
        }
        // An earlier terminal that waits while the later ones wait too, or have ended: an empty
        // line in its transcript, where it stands, is the Enter key pressed there.
        for j in 0..last {
            let (earlier, later) = screens.split_at_mut(j + 1);
            let screen = &mut earlier[j];
            if inputs[j].is_none() || !screen.alive() || screen.quiet_for() < SETTLE {
                continue;
            }
            let shown = merge(&screen.text(), &typed[j]);
            if !(shown.is_empty() || shown.ends_with('\n'))
                || ts[j].screen.get(shown.matches('\n').count()) != Some(&String::new())
            {
                continue;
            }
            if later.iter_mut().all(Screen::settled) && screen.sleeping() {
                let out = screen.text().len();
                let _ = inputs[j].as_mut().unwrap().write_all(b"\n");
                typed[j].push((out, "\n".to_string()));
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    drop(inputs);

    let mut ends = Vec::new();
    for (screen, t) in screens.into_iter().zip(&ts) {
        ends.push(screen.finish().map_err(|e| format!("{}: {e}", t.place))?);
    }
    for (i, (_, out)) in ends.iter().enumerate() {
        capture(out, i, &mut ts, CAPTURES);
    }
    let failures: Vec<String> = ends
        .iter()
        .enumerate()
        .filter_map(|(i, (status, out))| compare(&ts[i], *status, &merge(out, &typed[i])).err())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n\n"))
    }
}

/// The output with the typed text put where it was typed.
fn merge(output: &str, typed: &[(usize, String)]) -> String {
    let mut screen = String::new();
    let mut at = 0;
    for (offset, text) in typed {
        let offset = (*offset).min(output.len());
        screen.push_str(&output[at..offset]);
        screen.push_str(text);
        at = offset;
    }
    screen.push_str(&output[at..]);
    screen
}

fn compile_c(blocks: &[Block], dir: &Path) -> Result<HashMap<String, PathBuf>, String> {
    let mut programs = HashMap::new();
    for b in blocks.iter().filter(|b| b.lang() == "c") {
        let Some(file) = b.info.split_whitespace().nth(1) else {
            continue;
        };
        let name = file
            .strip_suffix(".c")
            .ok_or_else(|| format!("{}: name a .c file", b.place()))?;
        let src = dir.join(file);
        std::fs::write(&src, b.body.join("\n") + "\n").unwrap();
        let exe = dir.join(name);
        // The notes' master calls sleep() without <unistd.h>: gcc 14 refuses that in its default
        // C dialect, but C89 allows it, so compile as gnu89 to keep the notes' code as printed.
        // -lrt: mq_open and friends live in librt before glibc 2.34 (an empty stub after).
        let out = Command::new("gcc")
            .args(["-w", "-std=gnu89"])
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .arg("-lrt")
            .output()
            .map_err(|e| {
                format!(
                    "{}: gcc is needed to check the C programs ({e}): apt-get install gcc",
                    b.place()
                )
            })?;
        if !out.status.success() {
            return Err(format!(
                "{}: gcc failed:\n{}",
                b.place(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        programs.insert(format!("./{name}"), exe);
    }
    Ok(programs)
}

/// A shell starts a program with every signal at its default action (but for what the program
/// changes itself). This process may have been started with some ignored: a script's `cmd &`
/// ignores SIGINT and SIGQUIT, `nohup` SIGHUP, some terminals SIGQUIT. An ignored signal stays
/// ignored in every process started from here, and `sig-demo list --pid` would show it. So each
/// goes back to its default action here, but SIGPIPE, which the Rust runtime ignores in this
/// process and which std's `Command` restores in every child.
fn default_signal_actions() {
    let me = std::process::id() as i32;
    let ignored = ipc_lab::signal::proc_sets(me)
        .expect("read /proc/self/status")
        .ignored;
    for sig in ignored {
        let Ok(sig) = nix::sys::signal::Signal::try_from(sig.0) else {
            continue;
        };
        if sig != nix::sys::signal::Signal::SIGPIPE {
            ipc_lab::signal::restore_default(sig).expect("signal(SIG_DFL)");
        }
    }
}

#[test]
fn two_terminal_walk_throughs() {
    /// Removes the scratch directory (compiled C programs, ftok files) however the test ends.
    struct Scratch(PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = std::env::temp_dir().join(format!("ipc-lab-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Open to every user, whatever the umask: a program run as nobody (setpriv) computes its
    // --ftok key from a file in here.
    let open = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&dir, open).unwrap();
    let _scratch = Scratch(dir.clone());
    // A program the sheet shows killed by a signal (`? 139`, SIGSEGV) must not leave a core file
    // in the working tree: this process's core limit, 0, is inherited by every process it starts.
    ipc_lab::signal::no_core_dump().expect("setrlimit(RLIMIT_CORE, 0)");
    default_signal_actions();
    let mut failures = Vec::new();
    let (mut played, mut alone, mut skipped) = (0, 0, 0);
    let another_user = common::can_drop_to_nobody();
    for file in doc_files() {
        let blocks = blocks_of(&file);
        let mut programs = match compile_c(&c_blocks_for(&file, &blocks), &dir) {
            Ok(p) => p,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        for name in OUR_BINARIES {
            programs.insert(name.to_string(), bin(name));
        }
        for name in PLAYED_TOO {
            programs.insert(name.to_string(), PathBuf::from(name)); // found on PATH
        }
        let consoles: Vec<&Block> = blocks.iter().filter(|b| b.lang() == "console").collect();
        let mut walk_throughs: Vec<Vec<Block>> = Vec::new();
        let mut i = 0;
        while i < consoles.len() {
            match consoles[i].terminal() {
                Some(1) => {
                    let mut group = vec![Block::clone(consoles[i])];
                    while let Some(next) = consoles
                        .get(i + group.len())
                        .filter(|b| b.terminal() == Some(group.len() as u32 + 1))
                    {
                        group.push(Block::clone(next));
                    }
                    if group.len() < 2 {
                        failures.push(format!(
                            "{}: a terminal-1 block must be followed by a terminal-2 block",
                            consoles[i].place()
                        ));
                    }
                    i += group.len();
                    if group.len() >= 2 && as_another_user(&group) && !another_user {
                        skipped += 1;
                    } else if group.len() >= 2 {
                        walk_throughs.push(group);
                    }
                    continue;
                }
                Some(n) => failures.push(format!(
                    "{}: terminal-{n} without a terminal-{} block before it",
                    consoles[i].place(),
                    n - 1
                )),
                None if played_alone(&consoles[i].body) => {
                    alone += 1;
                    walk_throughs.push(vec![Block::clone(consoles[i])]);
                }
                None => {}
            }
            i += 1;
        }
        played += walk_throughs.len();
        let programs = Arc::new(programs);
        let handles: Vec<_> = walk_throughs
            .into_iter()
            .map(|blocks| {
                let programs = programs.clone();
                let scratch = dir.clone();
                thread::spawn(move || play_walk_through(&blocks, &programs, &scratch))
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join().unwrap() {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!(
        "{} walk-throughs and {alone} single-terminal blocks played",
        played - alone
    );
    if skipped > 0 {
        eprintln!(
            "skipped: {skipped} walk-through(s) that run a program as another user (setpriv): needs root and setpriv"
        );
    }
}

#[test]
fn console_blocks_run_only_our_programs() {
    let mut bad = Vec::new();
    for file in doc_files() {
        let blocks = blocks_of(&file);
        // The C programs of the page: `./NAME` for each ```c NAME.c block.
        let c_programs: Vec<String> = c_blocks_for(&file, &blocks)
            .iter()
            .filter_map(|b| b.info.split_whitespace().nth(1)?.strip_suffix(".c"))
            .map(|name| format!("./{name}"))
            .collect();
        for b in blocks.iter().filter(|b| b.lang() == "console") {
            // A walk-through terminal is played, not given to trycmd (see `played_alone`).
            let terminal = b.terminal().is_some();
            for line in b.body.iter().filter_map(|l| l.strip_prefix("$ ")) {
                let program = line
                    .split_whitespace()
                    .find(|w| !w.contains('='))
                    .unwrap_or("");
                let ours = OUR_BINARIES.contains(&program);
                let c_program = c_programs.iter().any(|c| c == program);
                let played = terminal && PLAYED_TOO.contains(&program);
                if !ours && !c_program && !played {
                    bad.push(format!(
                        "{}: `$ {line}` would not be checked: put commands of other programs in a ```sh block",
                        b.place()
                    ));
                }
            }
            // The last terminal of a walk-through may run several (the player says if another
            // does).
            if !terminal && b.body.iter().filter(|l| l.starts_with("$ ")).count() > 1 {
                bad.push(format!(
                    "{}: one command per console block (trycmd drops the last newline of each command's output): put the next in a block of its own",
                    b.place()
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
