//! The lab sheet never lies: every transcript in docs/*.md is run and compared.
//!
//! - ```console blocks go through trycmd, one command at a time; they may only run our binaries
//!   (trycmd would silently skip any other program, so that is refused here).
//! - Two-terminal walk-throughs are a ```console terminal-1 block followed by a
//!   ```console terminal-2 block, each with one `$ command` (and optionally `? STATUS`) and the
//!   screen: stdout and stderr as they appear, and in terminal 2 also what the user types, where
//!   it stands on the screen (after a prompt, or as whole lines). Terminal 1 runs in the
//!   background; once it prints `Shared Memory Id = N`, the id its block shows there is taken
//!   as a sample and replaced by the real one in both blocks; so are `--key` values and `--ftok`
//!   paths, by a key and a file of this run's own. Terminal 2 then runs, and whenever it
//!   waits for input, the text the transcript shows next is typed. Both screens are compared.
//! - ```c NAME.c blocks are compiled with gcc, and `./NAME` in a walk-through runs the result with
//!   unbuffered stdout, as on a terminal.
//!
//! In expected text, `[..]` matches anything within a line and a line `...` any number of lines.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{PATIENCE, bin, shell_status};

const OUR_BINARIES: &[&str] = &["shm-master", "shm-slave"];

/// trycmd drops the last newline of a block's expected output, so a program's final newline
/// needs a blank line before the closing fence. Rather than make every block of the sheet end
/// in a blank line, the sheet is checked through copies in which each console block's closing
/// fence trades places with the blank line after it: the line numbers trycmd reports stay right.
fn trycmd_copy(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<&str> = Vec::with_capacity(lines.len() + 1);
    let mut in_console = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if !in_console && (line == "```console" || line == "```trycmd") {
            in_console = true;
        } else if in_console && line == "```" {
            in_console = false;
            out.push("");
            out.push(line);
            if lines.get(i + 1) == Some(&"") {
                i += 1; // the blank line moved up
            }
            i += 1;
            continue;
        }
        out.push(line);
        i += 1;
    }
    out.join("\n") + "\n"
}

#[test]
fn trycmd_copy_keeps_line_numbers() {
    let doc = "# t\n\n```console\n$ a\nout\n```\n\nafter\n```console terminal-1\n$ b\n```\n";
    let copy = trycmd_copy(doc);
    assert_eq!(
        copy,
        "# t\n\n```console\n$ a\nout\n\n```\nafter\n```console terminal-1\n$ b\n```\n"
    );
    assert_eq!(doc.lines().count(), copy.lines().count());
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
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(dir.join(file.file_name().unwrap()), trycmd_copy(&text)).unwrap();
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

fn doc_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("docs")
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no docs/*.md");
    files
}

fn blocks_of(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
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
    words: Vec<String>,
    status: i32,
    screen: Vec<String>,
}

fn transcript(block: &Block) -> Result<Transcript, String> {
    let mut lines = block.body.iter();
    let command = lines
        .next()
        .and_then(|l| l.strip_prefix("$ "))
        .ok_or_else(|| {
            format!(
                "{}: a walk-through block starts with `$ command`",
                block.place()
            )
        })?;
    if command.contains(['\'', '"', '|', '>', '<', '&', ';', '$', '`']) {
        return Err(format!(
            "{}: walk-through commands are plain words (no quotes or shell syntax): {command}",
            block.place()
        ));
    }
    let words: Vec<String> = command.split_whitespace().map(String::from).collect();
    let mut screen: Vec<String> = lines.cloned().collect();
    let mut status = 0;
    if let Some(s) = screen.first().and_then(|l| l.strip_prefix("? ")) {
        status = s
            .trim()
            .parse()
            .map_err(|_| format!("{}: `? {s}` is not a status", block.place()))?;
        screen.remove(0);
    }
    if screen.iter().any(|l| l.starts_with("$ ")) {
        return Err(format!(
            "{}: one command per walk-through block",
            block.place()
        ));
    }
    Ok(Transcript {
        words,
        status,
        screen,
    })
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
        let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
        let writer2 = writer.try_clone().map_err(|e| e.to_string())?;
        cmd.args(&words[1..])
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

    fn wait_for(&self, needle: &str) -> Result<String, String> {
        let start = Instant::now();
        loop {
            let text = self.text();
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return Ok(line.to_string());
            }
            if start.elapsed() > PATIENCE {
                return Err(format!("no {needle:?} in time; the screen so far:\n{text}"));
            }
            thread::sleep(Duration::from_millis(10));
        }
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

fn compare(block: &Block, t: &Transcript, status: i32, screen: &str) -> Result<(), String> {
    let actual: Vec<&str> = screen.lines().collect();
    if status != t.status || !screen_matches(&t.screen, &actual) {
        return Err(format!(
            "{}: `$ {}` differs\n--- expected (status {})\n{}\n--- actual (status {status})\n{}",
            block.place(),
            t.words.join(" "),
            t.status,
            t.screen.join("\n"),
            screen
        ));
    }
    Ok(())
}

/// Keys and ftok paths in a walk-through are samples too: each is replaced, in both blocks, by
/// one of this run's own (a unique key, a fresh file), so that no other run or user of the machine
/// holding the same key can get in the way.
fn own_names(t1: &mut Transcript, t2: &mut Transcript, scratch: &Path) -> Result<(), String> {
    let mut swaps: Vec<(String, String)> = Vec::new();
    for words in [&t1.words, &t2.words] {
        for pair in words.windows(2) {
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
    for t in [t1, t2] {
        for (from, to) in &swaps {
            for word in t.words.iter_mut().filter(|w| *w == from) {
                *word = to.clone();
            }
            for line in t.screen.iter_mut() {
                *line = line.replace(from.as_str(), to);
            }
        }
    }
    Ok(())
}

fn play_pair(
    one: &Block,
    two: &Block,
    programs: &HashMap<String, PathBuf>,
    scratch: &Path,
) -> Result<(), String> {
    let (mut t1, mut t2) = (transcript(one)?, transcript(two)?);
    own_names(&mut t1, &mut t2, scratch).map_err(|e| format!("{}: {e}", one.place()))?;
    let master = Screen::start(&t1.words, programs, Stdio::null())
        .map_err(|e| format!("{}: {e}", one.place()))?;
    let id_line = master
        .wait_for("Shared Memory Id = ")
        .map_err(|e| format!("{}: {e}", one.place()))?;
    let real = id_line.rsplit(' ').next().unwrap().to_string();
    if let Some(sample) = t1
        .screen
        .iter()
        .find_map(|l| l.strip_prefix("Shared Memory Id = "))
        .filter(|s| s.parse::<u32>().is_ok())
        .map(str::to_string)
    {
        for t in [&mut t1, &mut t2] {
            for text in t.words.iter_mut().chain(t.screen.iter_mut()) {
                *text = replace_number(text, &sample, &real);
            }
        }
    }

    let mut slave = Screen::start(&t2.words, programs, Stdio::piped())
        .map_err(|e| format!("{}: {e}", two.place()))?;
    let mut stdin = slave.child.stdin.take();
    let mut typed: Vec<(usize, String)> = Vec::new(); // (screen offset, text)
    let start = Instant::now();
    while slave.alive() {
        if start.elapsed() > PATIENCE {
            return Err(format!(
                "{}: did not finish in time:\n{}",
                two.place(),
                slave.text()
            ));
        }
        let waiting = match slave.reading_stdin() {
            Some(reading) => reading && slave.quiet_for() > Duration::from_millis(100),
            None => slave.quiet_for() > Duration::from_millis(500),
        };
        if waiting && stdin.is_some() {
            let screen = merge(&slave.text(), &typed);
            let done = screen.matches('\n').count();
            let partial = screen.rsplit('\n').next().unwrap_or("");
            match t2.screen.get(done) {
                Some(line) if line.len() > partial.len() && line.starts_with(partial) => {
                    let text = format!("{}\n", &line[partial.len()..]);
                    let out = slave.text().len();
                    let _ = stdin.as_mut().unwrap().write_all(text.as_bytes());
                    typed.push((out, text));
                }
                _ => drop(stdin.take()), // nothing more typed: end of input
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let (status2, out2) = slave
        .finish()
        .map_err(|e| format!("{}: {e}", two.place()))?;
    let (status1, out1) = master
        .finish()
        .map_err(|e| format!("{}: {e}", one.place()))?;
    compare(two, &t2, status2, &merge(&out2, &typed))?;
    compare(one, &t1, status1, &out1)
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
        let out = Command::new("gcc")
            .args(["-w", "-std=gnu89"])
            .arg("-o")
            .arg(&exe)
            .arg(&src)
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

#[test]
fn two_terminal_walk_throughs() {
    let dir = std::env::temp_dir().join(format!("ipc-lab-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    let mut played = 0;
    for file in doc_files() {
        let blocks = blocks_of(&file);
        let mut programs = match compile_c(&blocks, &dir) {
            Ok(p) => p,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        for name in OUR_BINARIES {
            programs.insert(name.to_string(), bin(name));
        }
        let consoles: Vec<&Block> = blocks.iter().filter(|b| b.lang() == "console").collect();
        let mut pairs = Vec::new();
        let mut i = 0;
        while i < consoles.len() {
            match consoles[i].terminal() {
                Some(1) => match consoles.get(i + 1) {
                    Some(next) if next.terminal() == Some(2) => {
                        pairs.push((Block::clone(consoles[i]), Block::clone(next)));
                        i += 2;
                        continue;
                    }
                    _ => failures.push(format!(
                        "{}: a terminal-1 block must be followed by a terminal-2 block",
                        consoles[i].place()
                    )),
                },
                Some(n) => failures.push(format!(
                    "{}: terminal-{n} without a terminal-1 block before it",
                    consoles[i].place()
                )),
                None => {}
            }
            i += 1;
        }
        played += pairs.len();
        let programs = Arc::new(programs);
        let handles: Vec<_> = pairs
            .into_iter()
            .map(|(one, two)| {
                let programs = programs.clone();
                let scratch = dir.clone();
                thread::spawn(move || play_pair(&one, &two, &programs, &scratch))
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join().unwrap() {
                failures.push(e);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!("{played} two-terminal walk-throughs played");
}

#[test]
fn console_blocks_run_only_our_programs() {
    let mut bad = Vec::new();
    for file in doc_files() {
        let blocks = blocks_of(&file);
        for b in blocks.iter().filter(|b| b.lang() == "console") {
            for line in b.body.iter().filter_map(|l| l.strip_prefix("$ ")) {
                let program = line
                    .split_whitespace()
                    .find(|w| !w.contains('='))
                    .unwrap_or("");
                let ours = OUR_BINARIES.contains(&program);
                let c_program = b.terminal().is_some() && program.starts_with("./");
                if !ours && !c_program {
                    bad.push(format!(
                        "{}: `$ {line}` would not be checked: put commands of other programs in a ```sh block",
                        b.place()
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
