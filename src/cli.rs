//! What every binary shares: colour choice, `--explain` narration, the error format, exit codes,
//! broken pipes, the cleanup pattern for termination signals, and the parsers of user input.
//!
//! A binary is thin: it parses its arguments with clap, builds a [`Ui`], and hands its `run`
//! function to [`Ui::finish`], which turns the result into an exit status:
//!
//! | outcome                                   | exit status                          |
//! |-------------------------------------------|--------------------------------------|
//! | success, or stdout closed early (`| head`) | 0                                   |
//! | a message taken and not written out ([`Undelivered`]), even to a closed pipe | 1 |
//! | a failure (`error: ...` + `hint: ...`)     | 1                                   |
//! | bad input ([`UsageError`]; clap's own)     | 2                                   |
//! | SIGINT / SIGTERM / SIGHUP ([`Interrupted`])| the signal re-raised: 130 / 143 / 129 |

use std::ffi::OsString;
use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use colored::Colorize;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::PollFlags;
use nix::sys::signal::Signal;

pub use crate::sys::{
    Interrupted, TERMINATION_SIGNALS, Termination, counted, exit_by_signal, termination_received,
};

/// Exit status for a failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for bad input (clap uses the same).
pub const EXIT_USAGE: u8 = 2;

// ---------------------------------------------------------------------------------------------
// Options every binary has

/// When to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour a stream that is a terminal, unless NO_COLOR is set (CLICOLOR_FORCE forces it).
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// A standard stream, for deciding colour one stream at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl ColorChoice {
    /// Whether to colour what goes to `stream`, from this choice, the environment and the stream.
    pub fn enabled_for(self, stream: Stream) -> bool {
        let is_tty = match stream {
            Stream::Stdout => io::stdout().is_terminal(),
            Stream::Stderr => io::stderr().is_terminal(),
        };
        self.decide(
            is_tty,
            std::env::var_os("NO_COLOR"),
            std::env::var_os("CLICOLOR_FORCE"),
        )
    }

    /// The rule itself, kept pure so it can be tested: an explicit choice wins; then a non-empty
    /// NO_COLOR turns colour off, a CLICOLOR_FORCE other than "0" turns it on, and otherwise a
    /// terminal gets colour.
    pub fn decide(
        self,
        is_tty: bool,
        no_color: Option<OsString>,
        clicolor_force: Option<OsString>,
    ) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                if no_color.is_some_and(|v| !v.is_empty()) {
                    false
                } else if clicolor_force.is_some_and(|v| !v.is_empty() && v != "0") {
                    true
                } else {
                    is_tty
                }
            }
        }
    }
}

/// The options every binary takes; flatten it into the binary's clap struct.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// When to colour: auto, always or never (auto honours NO_COLOR and CLICOLOR_FORCE)
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto,
          global = true)]
    pub color: ColorChoice,

    /// Narrate every step on stderr: the system call, its arguments, its result and what it
    /// means (on a terminal, wrapped at its width, or at $COLUMNS where that is set)
    #[arg(long, global = true)]
    pub explain: bool,
}

/// How the shared-memory binaries name a segment by key rather than by IPC_PRIVATE and an id:
/// `--key KEY`, or `--ftok PATH [--proj ID]`. Flatten it into the binary's clap struct.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// Name the segment by this key (decimal or 0x hex as ipcs shows it; not 0)
    #[arg(long, value_name = "KEY", value_parser = parse_key, conflicts_with = "ftok")]
    pub key: Option<libc::key_t>,

    /// Name the segment by the key ftok(3) computes from this existing path
    #[arg(long, value_name = "PATH")]
    pub ftok: Option<std::path::PathBuf>,

    /// The project id for --ftok (1 to 255)
    #[arg(long, value_name = "ID", default_value_t = 1, requires = "ftok",
          value_parser = clap::value_parser!(u8).range(1..=255))]
    pub proj: u8,
}

/// The size and permissions of a message queue this run creates. Flatten it into the binary's
/// clap struct; they do nothing to a queue that exists already.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// Capacity of a new queue: how many messages it holds (default: the system's msg_default)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=65536))]
    pub maxmsg: Option<i64>,

    /// Largest message of a new queue, in bytes (default: the system's msgsize_default)
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(i64).range(1..=crate::mq::MSGSIZE_HARD_MAX as i64))]
    pub msgsize: Option<i64>,

    /// Permissions of a new queue, in octal as chmod takes them
    #[arg(long, value_name = "MODE", default_value = "600", value_parser = parse_perms)]
    pub perms: u32,
}

impl QueueArgs {
    /// How to open a queue for `access`, creating it with these sizes (or the system's
    /// defaults) and permissions if it does not exist.
    pub fn create_options(&self, access: crate::mq::Access) -> crate::mq::OpenOptions {
        let limits = crate::mq::Limits::read().ok();
        let mut options = crate::mq::OpenOptions::create(
            access,
            self.maxmsg.unwrap_or(limits.map_or(10, |l| l.msg_default)),
            self.msgsize
                .unwrap_or(limits.map_or(8192, |l| l.msgsize_default)),
        );
        options.perms = self.perms;
        options
    }

    /// Whether --maxmsg or --msgsize was given.
    pub fn sized(&self) -> bool {
        self.maxmsg.is_some() || self.msgsize.is_some()
    }
}

impl KeyArgs {
    /// The key asked for, if any; `--explain` narrates how ftok made it.
    pub fn resolve(&self, ui: &Ui) -> anyhow::Result<Option<libc::key_t>> {
        if let Some(key) = self.key {
            return Ok(Some(key));
        }
        let Some(path) = &self.ftok else {
            return Ok(None);
        };
        let key = crate::shm::ftok(path, self.proj).hint(
            "--ftok needs a path that exists, and the same path and --proj for shm-master and shm-slave",
        )?;
        ui.meaning(&format!(
            "ftok({:?}, {}) = {}: made from the file's inode and device numbers, so every \
             process that names the same path and id gets the same key",
            path.display().to_string(),
            self.proj,
            crate::shm::key_text(key)
        ));
        Ok(Some(key))
    }
}

// ---------------------------------------------------------------------------------------------
// The command line

/// Parse the command line as clap's `Parser::parse` does (help, version and usage errors with
/// exit status 2 included), with the one difference of [`command_line`].
pub fn parse_args<P: clap::Parser>() -> P {
    command_line::<P>().0
}

/// The command line parsed into `P`, and clap's matches beside it (for `value_source`). A usage
/// error that quotes what was typed is printed with its control characters escaped
/// ([`one_line`], line by line): a value such as `$'\e]0;PWNED\a'` is shown, not played on the
/// terminal. Other errors, help and version go out as clap writes them, coloured or not.
pub fn command_line<P: clap::CommandFactory + clap::FromArgMatches>() -> (P, clap::ArgMatches) {
    // Only a command line with a control character in it is handled apart: clap with plain
    // styles, so that its text holds no escape of its own, then escaped here.
    let typed_control =
        std::env::args_os().any(|a| a.to_string_lossy().chars().any(|c| c.is_control()));
    let mut command = P::command();
    if typed_control {
        command = command.styles(clap::builder::Styles::plain());
    }
    let parsed = command
        .try_get_matches()
        .and_then(|matches| Ok((P::from_arg_matches(&matches)?, matches)));
    match parsed {
        Ok(parsed) => parsed,
        Err(e) if typed_control && e.use_stderr() => {
            let text: Vec<String> = e
                .render()
                .ansi()
                .to_string()
                .split('\n')
                .map(one_line)
                .collect();
            let _ = io::stderr().lock().write_all(text.join("\n").as_bytes());
            std::process::exit(e.exit_code());
        }
        Err(e) => e.exit(),
    }
}

// ---------------------------------------------------------------------------------------------
// Colour

/// Kinds of text the binaries colour.
#[derive(Clone, Copy, Debug)]
pub enum Tone {
    Error,
    Warning,
    Hint,
    Step,
    Call,
    Inspect,
    Note,
}

/// Colours text for one stream, or leaves it plain.
///
/// `colored` decides by looking at stdout only, so its own check is switched off once and the
/// decision is made here, per stream.
#[derive(Clone, Copy, Debug)]
pub struct Painter {
    enabled: bool,
}

impl Painter {
    pub fn new(enabled: bool) -> Painter {
        if enabled {
            colored::control::set_override(true);
        }
        Painter { enabled }
    }

    pub fn paint(&self, text: &str, tone: Tone) -> String {
        if !self.enabled {
            return text.to_string();
        }
        match tone {
            Tone::Error => text.red().bold().to_string(),
            Tone::Warning => text.yellow().bold().to_string(),
            Tone::Hint => text.cyan().bold().to_string(),
            Tone::Step => text.bold().to_string(),
            Tone::Call => text.yellow().to_string(),
            Tone::Inspect => text.magenta().to_string(),
            Tone::Note => text.green().to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Bad input from the user: reported like any error, with exit status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Advice for the user, attached to an error with [`HintExt::hint`] and printed as `hint: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint(pub String);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Attach a [`Hint`] to an error, unless it carries one already: the advice given closest to
/// the failure knows most about it (which limit was reached, say), and wins.
pub trait HintExt<T> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T> HintExt<T> for anyhow::Result<T> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| {
            if e.downcast_ref::<Hint>().is_some() {
                e
            } else {
                e.context(Hint(hint.into()))
            }
        })
    }
}

/// The lines an error is reported as: `error: a: b: c` and, where the chain carries one,
/// `hint: ...` (without colour; [`Ui::report`] colours them).
pub fn error_lines(err: &anyhow::Error) -> (String, Option<String>) {
    let hint = err.downcast_ref::<Hint>().map(|h| h.0.clone());
    let parts: Vec<String> = err
        .chain()
        .map(|e| e.to_string())
        .filter(|m| Some(m) != hint.as_ref())
        .collect();
    (one_line(&parts.join(": ")), hint.as_deref().map(one_line))
}

/// A message as one line: a control character (a newline in a path a user typed, say, or the
/// escape that starts a terminal's control sequence) is written as its escape, `\n`, `\u{1b}`.
/// The one escaping function for every line the binaries write on stderr.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Bytes (a message body, perhaps not UTF-8) as one line of text: what is valid UTF-8 as
/// [`one_line`] shows it, every other byte as `\xNN`.
pub fn one_line_bytes(bytes: &[u8]) -> String {
    let mut text = String::new();
    for chunk in bytes.utf8_chunks() {
        text.push_str(&one_line(chunk.valid()));
        for b in chunk.invalid() {
            text.push_str(&format!("\\x{b:02x}"));
        }
    }
    text
}

/// The context of a failure to hand out something taken for good: a message received from a
/// queue that could not be written out, or refused because it could not be. [`Ui::finish`]
/// reports it even when stdout is a closed pipe, since it is not a quiet end: what was taken
/// is lost unless the user is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered(pub String);

impl fmt::Display for Undelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether an error chain comes from a closed stdout (or another pipe with no reader), with
/// nothing lost by it: the program ends quietly ([`Undelivered`] is never quiet).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let broken = err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<crate::sys::SysError>()
                .is_some_and(|e| e.errno == Errno::EPIPE)
    });
    broken && err.downcast_ref::<Undelivered>().is_none()
}

// ---------------------------------------------------------------------------------------------
// The user interface on stderr, and stdout

/// What a binary says besides its stdout: narration, inspection, notes and errors, all on
/// stderr, coloured when stderr wants it.
///
/// Every line goes out as one line with its control characters escaped ([`one_line`]): a
/// queue name, a path or a message a user typed with an escape sequence in it (one that
/// retitles the terminal, say) is shown as `\u{1b}]0;...`, never played on the terminal.
#[derive(Debug, Clone)]
pub struct Ui {
    prog: &'static str,
    err: Painter,
    explain: bool,
}

impl Ui {
    pub fn new(prog: &'static str, common: &Common) -> Ui {
        Ui {
            prog,
            err: Painter::new(common.color.enabled_for(Stream::Stderr)),
            explain: common.explain,
        }
    }

    /// The binary's name, as errors are prefixed with it.
    pub fn prog(&self) -> &'static str {
        self.prog
    }

    /// Whether `--explain` was given.
    pub fn explaining(&self) -> bool {
        self.explain
    }

    fn eprint(&self, text: &str) {
        // One write(2) for the line and its newline (writeln! makes two), so that a line of
        // another process on the same terminal cannot land in between. A closed or full
        // stderr cannot be reported anywhere: carry on without it.
        let _ = io::stderr()
            .lock()
            .write_all(format!("{text}\n").as_bytes());
    }

    /// A line of narration or inspection: `prefix` then `text`. On a terminal, wrapped at its
    /// width ([`narration_width`], [`wrap_line`]); anywhere else (a pipe, a file) as it is.
    fn eprint_narration(&self, prefix: &str, text: &str) {
        match narration_width() {
            Some(width) => self.eprint(&wrap_line(prefix, text, width)),
            None => self.eprint(&format!("{prefix}{text}")),
        }
    }

    /// `--explain`: the heading of a step, e.g. `[step 1] create the segment`.
    pub fn step(&self, n: u32, title: &str) {
        if self.explain {
            let head = self.err.paint(&format!("[step {n}]"), Tone::Step);
            self.eprint_narration(&format!("{head} "), &one_line(title));
        }
    }

    /// `--explain`: a system call with its arguments and result: `shmget(...) = 7`.
    pub fn call(&self, call: &str, result: impl fmt::Display) {
        if self.explain {
            let text = self
                .err
                .paint(&one_line(&format!("{call} = {result}")), Tone::Call);
            self.eprint_narration("  ", &text);
        }
    }

    /// `--explain`: a plain memory access or other action with no system call: `shm[0] = 1`.
    pub fn act(&self, text: &str) {
        if self.explain {
            let text = self.err.paint(&one_line(text), Tone::Call);
            self.eprint_narration("  ", &text);
        }
    }

    /// `--explain`: what the step means, in a sentence.
    pub fn meaning(&self, text: &str) {
        if self.explain {
            self.eprint_narration("  ", &one_line(text));
        }
    }

    /// A status line (`--inspect`), printed whenever the caller asks.
    pub fn inspect(&self, text: &str) {
        let head = self.err.paint("[inspect]", Tone::Inspect);
        self.eprint_narration(&format!("{head} "), &one_line(text));
    }

    /// A note that is always printed on stderr: `shm-master: ...`.
    pub fn note(&self, text: &str) {
        let head = self.err.paint(&format!("{}:", self.prog), Tone::Note);
        self.eprint(&format!("{head} {}", one_line(text)));
    }

    /// A warning that is always printed on stderr: `warning: ...`, for something the run goes on
    /// with that the user should know of (an object another user opened to everyone, say).
    pub fn warn(&self, text: &str) {
        let head = self.err.paint("warning:", Tone::Warning);
        self.eprint(&format!("{head} {}", one_line(text)));
    }

    /// Print an error as `error: ...` and `hint: ...`.
    pub fn report(&self, err: &anyhow::Error) {
        let (message, hint) = error_lines(err);
        // On a terminal, a prompt left without its newline (input ended at it) would put the
        // error on the prompt's line: start a fresh line, on stderr, so stdout is unchanged.
        if PROMPT_PENDING.load(Ordering::Relaxed)
            && io::stdout().is_terminal()
            && io::stderr().is_terminal()
        {
            self.eprint("");
        }
        let head = self.err.paint("error:", Tone::Error);
        self.eprint(&format!("{head} {message}"));
        if let Some(hint) = hint {
            let head = self.err.paint("hint:", Tone::Hint);
            self.eprint(&format!("{head} {hint}"));
        }
    }

    /// Turn the result of a binary's `run` into its exit status; see the module's table.
    /// An [`Interrupted`] error does not return: the signal is re-raised.
    pub fn finish(&self, result: anyhow::Result<()>) -> ExitCode {
        let err = match result {
            Ok(()) => return ExitCode::SUCCESS,
            Err(err) => err,
        };
        if is_broken_pipe(&err) {
            return ExitCode::SUCCESS;
        }
        if let Some(Interrupted(sig)) = err.downcast_ref::<Interrupted>() {
            exit_by_signal(*sig);
        }
        self.report(&err);
        if err.downcast_ref::<UsageError>().is_some() {
            ExitCode::from(EXIT_USAGE)
        } else {
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Narration wrapped at a terminal's width

/// The width to wrap narration and inspection at: where stderr is a terminal, `$COLUMNS` when it
/// is set to a number of columns, else the terminal's own width (TIOCGWINSZ on stderr), asked
/// at each line, so that a pane resized meanwhile is followed. None where stderr is no terminal
/// (a pipe, a file, a test): the lines then go out as they are, byte for byte.
pub fn narration_width() -> Option<usize> {
    let stderr = io::stderr();
    if !stderr.is_terminal() {
        return None;
    }
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0);
    columns.or_else(|| crate::sys::terminal_columns(stderr.as_fd()))
}

/// How many columns `text` takes on a terminal: its characters, less the escape sequences that
/// colour it (`\x1b[1;31m` and the like, CSI sequences), which take none.
pub fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, up to the final byte (@ to ~).
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            width += 1;
        }
    }
    width
}

/// `prefix` and `text` as lines of at most `width` columns, for a terminal that wide: `text` is
/// broken at spaces, never inside a word, and every line after the first is indented to where
/// the text starts after the prefix (`[inspect] ` or two spaces), so that the prefix stands out
/// on its own. Colour escapes take no room ([`visible_width`]). A word longer than a line is
/// put on a line of its own, whole (the terminal folds it). Where the prefix takes more than
/// half the width, the following lines start at the left edge instead. The spaces at a break
/// are dropped; the others stay.
pub fn wrap_line(prefix: &str, text: &str, width: usize) -> String {
    let indent = visible_width(prefix);
    let hang = if indent * 2 <= width { indent } else { 0 };
    let mut out = String::with_capacity(prefix.len() + text.len() + 16);
    out.push_str(prefix);
    let mut column = indent;
    let mut words_on_line = false;
    let mut spaces = 0;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            spaces += 1;
        }
        if word.is_empty() {
            continue;
        }
        let w = visible_width(word);
        if words_on_line && column + spaces + w > width {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', hang));
            column = hang;
        } else {
            out.extend(std::iter::repeat_n(' ', spaces));
            column += spaces;
        }
        spaces = 0;
        out.push_str(word);
        column += w;
        words_on_line = true;
    }
    out.extend(std::iter::repeat_n(' ', spaces));
    out
}

/// Set while the last thing written to stdout is a prompt awaiting input on the same line.
static PROMPT_PENDING: AtomicBool = AtomicBool::new(false);

/// Write one line to stdout and flush it at once, so a pipe sees it as the program says it.
pub fn out_line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    PROMPT_PENDING.store(false, Ordering::Relaxed);
    write_stdout(format!("{args}\n").as_bytes())
}

/// Copy raw bytes (data passing through, not a line of ours) to stdout, as [`out_line`] writes:
/// a termination signal ends a wait for room.
pub fn out_raw(bytes: &[u8]) -> anyhow::Result<()> {
    write_stdout(bytes)
}

/// Write all of `bytes` to stdout with write(2), std's buffer flushed first. Unlike std's
/// `write_all`, which retries a write a signal interrupted, a termination signal that cuts a
/// write short ends it ([`Interrupted`]): a program blocked on a full stdout (a reader that
/// stopped reading) can still be stopped and clean up. A write that completes is a success even
/// when a signal came meanwhile: the line is out, and the caller's next wait sees the signal
/// and cleans up with its own words. A closed pipe is EPIPE, which [`Ui::finish`] takes as a
/// quiet end.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    write_all_stdout(bytes).map_err(|failure| match failure {
        WriteFailure::Interrupted(sig) => Interrupted(sig).into(),
        WriteFailure::Errno(errno) => anyhow::Error::new(crate::sys::SysError {
            call: "write",
            errno,
        })
        .context("cannot write to standard output"),
    })
}

/// Why a write to stdout stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteFailure {
    Interrupted(Signal),
    Errno(Errno),
}

fn write_all_stdout(bytes: &[u8]) -> Result<(), WriteFailure> {
    let mut out = io::stdout().lock();
    out.flush()
        .map_err(|e| WriteFailure::Errno(e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)))?;
    write_all_unless_ended(out.as_fd(), bytes, termination_received)
}

/// The loop of [`write_all_stdout`], on any descriptor, with the signal check passed in.
fn write_all_unless_ended(
    fd: BorrowedFd<'_>,
    bytes: &[u8],
    ended: impl Fn() -> Option<Signal>,
) -> Result<(), WriteFailure> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let written = nix::unistd::write(fd, rest);
        if written == Ok(rest.len()) {
            return Ok(());
        }
        // A signal that comes once some bytes are written cuts the write short (no EINTR);
        // one that comes before any is written fails it with EINTR. Either way, stop here.
        if let Some(sig) = ended() {
            return Err(WriteFailure::Interrupted(sig));
        }
        match written {
            Ok(n) => rest = &rest[n..],
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(WriteFailure::Errno(errno)),
        }
    }
    Ok(())
}

/// Write one line of something taken for good (a message received from a queue: no one else
/// can take it now) after a text prefix. Any failure is an error, a closed pipe included
/// ([`Undelivered`]): `cannot write message to standard output: Broken pipe (EPIPE)`. A stdout
/// that was closed when the program started fails with EBADF, as write(2) on it would have (std
/// put /dev/null there, which would swallow the message). A termination signal during the write
/// is [`Interrupted`]. Either way the caller still holds the message, to save it elsewhere.
pub fn out_taken_line(prefix: &str, body: &[u8]) -> anyhow::Result<()> {
    PROMPT_PENDING.store(false, Ordering::Relaxed);
    let result = if crate::sys::closed_at_start(1) {
        Err(WriteFailure::Errno(Errno::EBADF))
    } else {
        let mut line = Vec::with_capacity(prefix.len() + body.len() + 1);
        line.extend_from_slice(prefix.as_bytes());
        line.extend_from_slice(body);
        line.push(b'\n');
        write_all_stdout(&line)
    };
    result.map_err(|failure| match failure {
        WriteFailure::Interrupted(sig) => Interrupted(sig).into(),
        WriteFailure::Errno(errno) => anyhow::Error::new(crate::sys::SysError {
            call: "write",
            errno,
        })
        .context(Undelivered(
            "cannot write message to standard output".into(),
        )),
    })
}

/// Whether stdout can take what is written to it now, as far as can be told without writing:
/// EBADF when it was closed at start or is open only for reading, EPIPE when it is a pipe or
/// a socket with no reader left (EIO for a terminal that hung up). A full pipe is fine: its
/// reader is only slow. A receiver asks this before it accepts a message it must hand out.
pub fn stdout_writable() -> Result<(), Errno> {
    if crate::sys::closed_at_start(1) {
        return Err(Errno::EBADF);
    }
    let out = io::stdout();
    let fd = out.as_fd();
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL)?;
    if OFlag::from_bits_retain(flags) & OFlag::O_ACCMODE == OFlag::O_RDONLY {
        return Err(Errno::EBADF);
    }
    let polled = crate::sys::wait_any(&[(fd, PollFlags::POLLOUT)], Some(Instant::now()), None)?;
    let events = polled
        .revents
        .first()
        .copied()
        .unwrap_or(PollFlags::empty());
    if events.contains(PollFlags::POLLNVAL) {
        Err(Errno::EBADF)
    } else if events.intersects(PollFlags::POLLERR | PollFlags::POLLHUP) {
        Err(if out.is_terminal() {
            Errno::EIO
        } else {
            Errno::EPIPE
        })
    } else {
        Ok(())
    }
}

/// Write one line of raw bytes (a message body, perhaps not UTF-8) after a text prefix, and
/// flush it.
pub fn out_bytes_line(prefix: &str, body: &[u8]) -> anyhow::Result<()> {
    PROMPT_PENDING.store(false, Ordering::Relaxed);
    let mut line = Vec::with_capacity(prefix.len() + body.len() + 1);
    line.extend_from_slice(prefix.as_bytes());
    line.extend_from_slice(body);
    line.push(b'\n');
    write_stdout(&line)
}

/// Write a prompt (no newline) to stdout and flush it.
pub fn out_prompt(text: &str) -> anyhow::Result<()> {
    PROMPT_PENDING.store(true, Ordering::Relaxed);
    write_stdout(text.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Standard input that a termination signal can interrupt, read within a bound

/// The most bytes the line that stands for Enter may have (`mq-recv --hold`): a person types
/// none at all; a file or a pipe has no reason to give more than a short line.
pub const ENTER_MAX: usize = 4096;

/// The most bytes one number read from standard input may have (shm-slave's id and values): a
/// 32-bit whole number needs at most 11 characters; this leaves room for leading zeros.
pub const NUMBER_MAX: usize = 64;

/// How much one read of standard input (a line, a word) may hold, and how to report more: a
/// usage error (exit status 2) that says what was too long and the bound, and a hint. Every
/// reader of standard input gives one, so that no input, however long or endless (`< /dev/zero`),
/// makes a program allocate without end or read on for ever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// The most bytes (a line's ending aside).
    pub max: usize,
    /// What is read, as the error names it: `a message`, `value 2 of 3`.
    pub what: String,
    /// Why that many, after the number: `the most queue /lab takes (mq_msgsize)`.
    pub why: String,
    /// What to do instead.
    pub hint: String,
}

impl Bound {
    /// The usage error for a read past the bound: on line `line` of standard input, or (None)
    /// a word of it.
    pub fn exceeded(&self, line: Option<u64>) -> anyhow::Error {
        let Bound {
            max,
            what,
            why,
            hint,
        } = self;
        let message = match line {
            Some(n) => {
                format!("line {n} of standard input ({what}) is longer than {max} bytes, {why}")
            }
            None => format!("{what} on standard input is longer than {max} bytes, {why}"),
        };
        anyhow::Error::new(UsageError(message)).context(Hint(hint.clone()))
    }
}

/// Standard input read a chunk at a time, with `poll` beside the wake-up descriptor of
/// [`Termination`]: std's readers retry a read that a signal interrupts, so a Ctrl-C at a waiting
/// `read` would otherwise go unnoticed. The bytes not yet taken are `buf[start..]`; they are moved
/// to the front only before the next read, so each byte is moved at most once per line taken.
#[derive(Debug, Default)]
struct Chunks {
    /// The descriptor read (None: standard input).
    source: Option<OwnedFd>,
    buf: Vec<u8>,
    start: usize,
    ended: bool,
}

impl Chunks {
    /// The chunk size: one read(2) takes at most this much.
    const CHUNK: usize = 64 * 1024;

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Take the first `n` pending bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let taken = self.buf[self.start..self.start + n].to_vec();
        self.start += n;
        taken
    }

    /// Drop the first `n` pending bytes.
    fn skip(&mut self, n: usize) {
        self.start += n;
    }

    /// Read one more chunk, waiting for it until a termination signal wakes `wake` (None: a
    /// signal takes its default action, or the read goes on); false when woken. At the end of
    /// input, `ended` is set.
    fn fill(&mut self, wake: Option<BorrowedFd<'_>>) -> anyhow::Result<bool> {
        let stdin = io::stdin();
        let fd = match &self.source {
            Some(fd) => fd.as_fd(),
            None => stdin.as_fd(),
        };
        loop {
            // With nothing to wake it, a plain blocking read does: poll would add nothing.
            if wake.is_some() {
                let waited = crate::sys::wait_any(&[(fd, PollFlags::POLLIN)], None, wake)
                    .context("cannot wait for standard input")?;
                if waited.woken {
                    return Ok(false);
                }
                if !waited.ready(0, PollFlags::POLLIN) {
                    continue;
                }
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let old = self.buf.len();
            self.buf.resize(old + Self::CHUNK, 0);
            let read = nix::unistd::read(fd, &mut self.buf[old..]);
            self.buf.truncate(old + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => self.ended = true,
                Ok(_) => {}
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => continue,
                Err(errno) => {
                    return Err(crate::sys::SysError {
                        call: "read",
                        errno,
                    })
                    .context("cannot read standard input");
                }
            }
            return Ok(true);
        }
    }
}

/// What [`StdinLines::next`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line, without its ending (`\n` or `\r\n`; a last line without one is returned as it is,
    /// less a `\r` at its end).
    Text(Vec<u8>),
    /// Input ended.
    End,
    /// A termination signal arrived while waiting.
    Woken,
}

/// The lines of standard input, each within a [`Bound`], read as [`Chunks`] are: a termination
/// signal ends a wait for the next line. A line past the bound is refused as soon as that many
/// bytes have come, without waiting for its end; each byte is searched for the line's end once.
#[derive(Debug, Default)]
pub struct StdinLines {
    input: Chunks,
    /// How many pending bytes are known to hold no `\n`.
    scanned: usize,
    /// Lines taken so far.
    lines: u64,
}

impl StdinLines {
    pub fn new() -> StdinLines {
        StdinLines::default()
    }

    /// Lines read from `fd` instead of standard input (for tests).
    #[cfg(test)]
    fn reading(fd: OwnedFd) -> StdinLines {
        StdinLines {
            input: Chunks {
                source: Some(fd),
                ..Chunks::default()
            },
            ..StdinLines::default()
        }
    }

    /// The next line, at most `bound.max` bytes (its ending aside), waiting for it until a
    /// termination signal wakes `wake`. A longer line is `bound`'s usage error.
    pub fn next(&mut self, bound: &Bound, wake: Option<BorrowedFd<'_>>) -> anyhow::Result<Line> {
        loop {
            let pending = self.input.pending();
            let found = pending[self.scanned..].iter().position(|&b| b == b'\n');
            let (len, ending) = match found {
                Some(i) => (self.scanned + i, 1),
                None if self.input.ended && !pending.is_empty() => (pending.len(), 0),
                None if self.input.ended => return Ok(Line::End),
                None => {
                    self.scanned = pending.len();
                    // A `\r` at the end may be the start of a `\r\n`, which is not the line's.
                    let content = pending.len() - usize::from(pending.ends_with(b"\r"));
                    if content > bound.max {
                        return Err(bound.exceeded(Some(self.lines + 1)));
                    }
                    if !self.input.fill(wake)? {
                        return Ok(Line::Woken);
                    }
                    continue;
                }
            };
            self.lines += 1;
            self.scanned = 0;
            let mut line = self.input.take(len);
            self.input.skip(ending);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > bound.max {
                return Err(bound.exceeded(Some(self.lines)));
            }
            return Ok(Line::Text(line));
        }
    }
}

/// What [`StdinWords::next`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// A word: bytes up to the next blank (space, tab, newline, `\v`, `\f`, `\r`).
    Text(Vec<u8>),
    /// Input ended before another word.
    End,
    /// A termination signal arrived while waiting.
    Woken,
}

/// The words of standard input, as scanf("%d") finds them: blanks skipped, however many (they
/// are not kept), then bytes up to the next blank, each word within a [`Bound`].
#[derive(Debug, Default)]
pub struct StdinWords {
    input: Chunks,
}

impl StdinWords {
    pub fn new() -> StdinWords {
        StdinWords::default()
    }

    /// The next word, at most `bound.max` bytes, waiting for it until a termination signal wakes
    /// `wake`. A longer word is `bound`'s usage error, as soon as that many bytes have come.
    pub fn next(&mut self, bound: &Bound, wake: Option<BorrowedFd<'_>>) -> anyhow::Result<Word> {
        let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
        loop {
            let pending = self.input.pending();
            let blanks = pending.iter().take_while(|b| blank(b)).count();
            self.input.skip(blanks);
            let pending = self.input.pending();
            let len = pending.iter().position(blank);
            let len = match len {
                Some(len) => Some(len),
                None if self.input.ended => Some(pending.len()),
                None => None,
            };
            match len {
                Some(0) => return Ok(Word::End),
                Some(len) if len <= bound.max => return Ok(Word::Text(self.input.take(len))),
                _ if pending.len() > bound.max => return Err(bound.exceeded(None)),
                _ => {
                    if !self.input.fill(wake)? {
                        return Ok(Word::Woken);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsers of user input: each says what was expected

/// Seconds as a positive, finite decimal (`3`, `0.25`), at most a day.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds such as 3 or 0.5, got {text:?}"))?;
    if secs.is_nan() {
        return Err(format!(
            "expected a number of seconds such as 3 or 0.5, got {text:?} (not a number)"
        ));
    }
    if secs <= 0.0 {
        return Err(format!(
            "expected a number of seconds above 0, got {text:?}"
        ));
    }
    if secs > 86_400.0 {
        return Err(format!(
            "expected at most 86400 seconds (a day), got {text:?}"
        ));
    }
    let duration = Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))?;
    if duration < Duration::from_micros(1) {
        return Err(format!(
            "expected at least 0.000001 seconds (a microsecond), got {text:?}"
        ));
    }
    Ok(duration)
}

/// Permission bits in octal, as chmod takes them: `600`, `0600`, `0o640`; at most 777.
pub fn parse_perms(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t.strip_prefix("0o").unwrap_or(t);
    let bad =
        || format!("expected octal permissions such as 600 or 0640 (digits 0-7), got {text:?}");
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return Err(bad());
    }
    let mode = u32::from_str_radix(digits, 8).map_err(|_| bad())?;
    if mode > 0o777 {
        return Err(format!(
            "expected permission bits from 000 to 777 (read, write for owner, group, others), got {text:?}"
        ));
    }
    Ok(mode)
}

/// A System V IPC key: decimal (`1234`) or hexadecimal as ipcs prints it (`0x000004d2`), any
/// 32-bit pattern but 0, which is IPC_PRIVATE.
pub fn parse_key(text: &str) -> Result<libc::key_t, String> {
    let t = text.trim();
    let value: i64 = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        // from_str_radix would take a sign too: 0x-5 is no key.
        Some(hex)
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| i64::from_str_radix(h, 16).ok())
            .filter(|v| *v <= u32::MAX as i64)
            .ok_or_else(|| format!("expected a hexadecimal key up to 0xffffffff, got {text:?}"))?
    } else {
        t.parse::<i64>()
            .ok()
            .filter(|v| *v >= i32::MIN as i64 && *v <= u32::MAX as i64)
            .ok_or_else(|| {
                format!("expected a key: a number such as 1234 or 0x4d2 (as ipcs shows it), got {text:?}")
            })?
    };
    if value == 0 {
        return Err("key 0 is IPC_PRIVATE, which makes a new segment every time: leave out --key for that, or pick another number".into());
    }
    // A key is a 32-bit pattern: 0xffffffff and -1 are the same key.
    Ok(value as u32 as libc::key_t)
}

/// A System V identifier (segment id): a whole number from 0 to 2147483647.
pub fn parse_ipc_id(text: &str) -> Result<i32, String> {
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| {
            format!(
                "expected a segment id, a whole number from 0 to {} (shm-master prints it), got {text:?}",
                i32::MAX
            )
        })
}

/// An `int` as scanf("%d") reads one: optional sign, decimal digits, within 32 bits.
pub fn parse_int(text: &str) -> Result<i32, String> {
    text.trim().parse::<i32>().map_err(|_| {
        format!(
            "expected a whole number from {} to {}, got {text:?}",
            i32::MIN,
            i32::MAX
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<OsString> {
        Some(OsString::from(s))
    }

    /// The inspect line of a 40-byte segment, as shm-master prints it.
    const STATUS: &str = "segment 7: key IPC_PRIVATE, 40 bytes, mode 0600, owner uid 1000, creator pid 4242, last attach/detach by pid 4242, nattch 1, attached 10:00:01, detached never, changed 10:00:00";

    /// `text` without its colour escapes.
    fn uncoloured(text: &str) -> String {
        let mut plain = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                chars
                    .by_ref()
                    .find(|c| ('@'..='~').contains(c) && *c != '[');
            } else {
                plain.push(c);
            }
        }
        plain
    }

    /// Every line of `wrapped` is at most `width` columns; put back together, the lines are
    /// the words of the line unwrapped (colour aside).
    #[track_caller]
    fn assert_wraps(wrapped: &str, prefix: &str, text: &str, width: usize) {
        for line in wrapped.lines() {
            assert!(
                visible_width(line) <= width,
                "{line:?} is wider than {width}"
            );
            assert_eq!(visible_width(line), uncoloured(line).chars().count());
        }
        let words = |t: &str| {
            uncoloured(t)
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(words(wrapped), words(&format!("{prefix}{text}")));
    }

    #[test]
    fn narration_wraps_at_word_boundaries_under_the_text() {
        let wrapped = wrap_line("[inspect] ", STATUS, 40);
        assert_eq!(
            wrapped,
            "[inspect] segment 7: key IPC_PRIVATE, 40\n          bytes, mode 0600, owner uid\n          1000, creator pid 4242, last\n          attach/detach by pid 4242,\n          nattch 1, attached 10:00:01,\n          detached never, changed\n          10:00:00"
        );
        assert_wraps(&wrapped, "[inspect] ", STATUS, 40);
        let wrapped = wrap_line("[inspect] ", STATUS, 80);
        assert_eq!(
            wrapped,
            "[inspect] segment 7: key IPC_PRIVATE, 40 bytes, mode 0600, owner uid 1000,\n          creator pid 4242, last attach/detach by pid 4242, nattch 1, attached\n          10:00:01, detached never, changed 10:00:00"
        );
        assert_wraps(&wrapped, "[inspect] ", STATUS, 80);
        // A meaning, under its two spaces.
        let meaning = "the kernel made a 40-byte segment; id 7 names it to every process";
        assert_eq!(
            wrap_line("  ", meaning, 40),
            "  the kernel made a 40-byte segment; id\n  7 names it to every process"
        );
        // What fits is left as it is, spaces and all.
        assert_eq!(
            wrap_line("[step 1] ", "create  the segment ", 80),
            "[step 1] create  the segment "
        );
        assert_eq!(wrap_line("  ", "", 40), "  ");
    }

    #[test]
    fn a_word_longer_than_the_line_stands_whole_on_a_line_of_its_own() {
        let path = format!("/tmp/{}", "d".repeat(50));
        let text = format!("ftok({path:?}, 1) = 0x01020304: made from the file");
        let wrapped = wrap_line("  ", &text, 40);
        assert_eq!(
            wrapped,
            format!("  ftok(\"{path}\",\n  1) = 0x01020304: made from the file")
        );
        // Even as the first word: nothing is broken.
        let wrapped = wrap_line("[step 1] ", &"x".repeat(60), 40);
        assert_eq!(wrapped, format!("[step 1] {}", "x".repeat(60)));
    }

    #[test]
    fn colour_escapes_take_no_room() {
        let painter = Painter::new(true);
        let head = painter.paint("[inspect]", Tone::Inspect);
        assert_ne!(head.len(), 9, "painted: {head:?}");
        assert_eq!(visible_width(&head), 9);
        let prefix = format!("{head} ");
        let plain = wrap_line("[inspect] ", STATUS, 40);
        let coloured = wrap_line(&prefix, STATUS, 40);
        // The same breaks as without colour.
        assert_eq!(coloured.replacen(&prefix, "[inspect] ", 1), plain);
        // A call painted whole: its escapes at both ends do not count either.
        let call = painter.paint("shmget(IPC_PRIVATE, 40, IPC_CREAT|0600) = 7", Tone::Call);
        let wrapped = wrap_line("  ", &call, 40);
        assert_eq!(wrapped.lines().count(), 2, "{wrapped:?}");
        assert_wraps(
            &wrapped,
            "  ",
            "shmget(IPC_PRIVATE, 40, IPC_CREAT|0600) = 7",
            40,
        );
        assert!(
            wrapped.starts_with("  \x1b[") && wrapped.contains("\n  IPC_CREAT|0600) = 7\x1b["),
            "{wrapped:?}"
        );
    }

    #[test]
    fn a_prefix_wider_than_half_the_line_leaves_the_next_lines_at_the_edge() {
        assert_eq!(
            wrap_line("[inspect] ", "aaaa bbbb cccc", 16),
            "[inspect] aaaa\nbbbb cccc"
        );
    }

    #[test]
    fn colour_rule() {
        use ColorChoice::*;
        assert!(Always.decide(false, os("1"), None));
        assert!(!Never.decide(true, None, os("1")));
        assert!(Auto.decide(true, None, None));
        assert!(!Auto.decide(false, None, None));
        assert!(!Auto.decide(true, os("1"), None), "NO_COLOR wins");
        assert!(
            Auto.decide(true, os(""), None),
            "an empty NO_COLOR is unset"
        );
        assert!(Auto.decide(false, None, os("1")), "CLICOLOR_FORCE forces");
        assert!(!Auto.decide(false, None, os("0")));
        assert!(
            !Auto.decide(false, os("1"), os("1")),
            "NO_COLOR beats CLICOLOR_FORCE"
        );
    }

    #[test]
    fn painter_off_leaves_text_plain() {
        assert_eq!(Painter::new(false).paint("error:", Tone::Error), "error:");
        assert!(
            Painter::new(true)
                .paint("error:", Tone::Error)
                .contains("\x1b[")
        );
    }

    #[test]
    fn error_lines_join_the_chain_and_lift_the_hint() {
        let err: anyhow::Result<()> = Err(anyhow::anyhow!("Invalid argument (EINVAL)"));
        let err = err
            .context("cannot attach segment 7")
            .hint("is shm-master running? `ipcs -m` lists segments")
            .unwrap_err();
        let (msg, hint) = error_lines(&err);
        assert_eq!(msg, "cannot attach segment 7: Invalid argument (EINVAL)");
        assert_eq!(
            hint.as_deref(),
            Some("is shm-master running? `ipcs -m` lists segments")
        );
    }

    #[test]
    fn the_hint_closest_to_the_failure_wins() {
        let err: anyhow::Result<()> = Err(anyhow::anyhow!("No space left on device (ENOSPC)"));
        let err = err
            .hint("the system allows 0 segments (kernel.shmmni)")
            .context("cannot create the segment")
            .hint("`ipcs -l` shows the limits")
            .unwrap_err();
        let (msg, hint) = error_lines(&err);
        assert_eq!(
            msg,
            "cannot create the segment: No space left on device (ENOSPC)"
        );
        assert_eq!(
            hint.as_deref(),
            Some("the system allows 0 segments (kernel.shmmni)")
        );
    }

    #[test]
    fn error_lines_without_hint() {
        let err = anyhow::Error::new(UsageError("expected a number".into()));
        assert_eq!(error_lines(&err), ("expected a number".into(), None));
    }

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("write");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
        let epipe = || {
            anyhow::Error::new(crate::sys::SysError {
                call: "write",
                errno: Errno::EPIPE,
            })
        };
        assert!(is_broken_pipe(
            &epipe().context("cannot write to standard output")
        ));
        // Something taken and not written out is never a quiet end.
        let lost = epipe().context(Undelivered(
            "cannot write message to standard output".into(),
        ));
        assert!(!is_broken_pipe(&lost));
        assert_eq!(
            error_lines(&lost).0,
            "cannot write message to standard output: Broken pipe (EPIPE)"
        );
    }

    #[test]
    fn bytes_as_one_line() {
        assert_eq!(one_line_bytes(b"hello"), "hello");
        assert_eq!(one_line_bytes(b"a\nb\tc\x1b[31m"), "a\\nb\\tc\\u{1b}[31m");
        assert_eq!(
            one_line_bytes(b"\xff\xfe caf\xc3\xa9"),
            "\\xff\\xfe caf\u{e9}"
        );
        assert_eq!(one_line_bytes(b""), "");
    }

    fn bound(max: usize) -> Bound {
        Bound {
            max,
            what: "a test line".into(),
            why: "the test's bound".into(),
            hint: "write less".into(),
        }
    }

    /// An error as [`error_lines`] gives it.
    type Lines = (String, Option<String>);

    /// Lines of `input`, written into a pipe by a thread, read with bound `max`: each line, or
    /// the error lines at the first one past it.
    fn lines_of(input: Vec<u8>, max: usize) -> (Vec<Vec<u8>>, Option<Lines>) {
        let (read, write) = nix::unistd::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            let mut file = std::fs::File::from(write);
            let _ = file.write_all(&input);
        });
        let mut lines = StdinLines::reading(read);
        let mut got = Vec::new();
        let result = loop {
            match lines.next(&bound(max), None) {
                Ok(Line::Text(line)) => got.push(line),
                Ok(Line::End) => break None,
                Ok(Line::Woken) => unreachable!("no wake-up descriptor"),
                Err(err) => {
                    assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
                    break Some(error_lines(&err));
                }
            }
        };
        drop(lines);
        writer.join().unwrap();
        (got, result)
    }

    #[test]
    fn lines_up_to_the_bound_are_taken_whole_with_either_ending() {
        let (got, err) = lines_of(b"abc\r\n\nabcd\nab\r".to_vec(), 4);
        assert_eq!(got, [&b"abc"[..], b"", b"abcd", b"ab"]);
        assert_eq!(err, None);
        // A line of 16 MiB at a bound of 16 MiB, in a few hundred chunks, then one more line.
        let mut big = vec![b'x'; 16 << 20];
        big.extend_from_slice(b"\r\nlast");
        let (got, err) = lines_of(big, 16 << 20);
        assert_eq!((got.len(), err), (2, None));
        assert!(got[0].len() == 16 << 20 && got[0].iter().all(|&b| b == b'x'));
        assert_eq!(got[1], b"last");
    }

    #[test]
    fn a_line_past_the_bound_is_a_usage_error_naming_the_line_and_the_bound() {
        let said = |n: u32| {
            Some((
                format!(
                    "line {n} of standard input (a test line) is longer than 4 bytes, the test's bound"
                ),
                Some("write less".to_string()),
            ))
        };
        // Ended by a newline, at the end of input, or never ended (refused all the same).
        assert_eq!(
            lines_of(b"ok\nabcde\nnever".to_vec(), 4),
            (vec![b"ok".to_vec()], said(2))
        );
        assert_eq!(lines_of(b"abcde".to_vec(), 4), (vec![], said(1)));
        assert_eq!(lines_of(b"abcd\r\r\n".to_vec(), 4), (vec![], said(1)));
        let (got, err) = lines_of(vec![0; 1 << 20], 4);
        assert_eq!((got, err), (vec![], said(1)));
    }

    #[test]
    fn words_are_found_between_blanks_within_the_bound() {
        let (read, write) = nix::unistd::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            let mut file = std::fs::File::from(write);
            let mut input = b" \t12\r\n\x0b\x0c-3 abcd ".to_vec();
            input.extend(std::iter::repeat_n(b' ', 1 << 20));
            input.extend_from_slice(b"abcde");
            let _ = file.write_all(&input);
        });
        let mut words = StdinWords {
            input: Chunks {
                source: Some(read),
                ..Chunks::default()
            },
        };
        for want in [&b"12"[..], b"-3", b"abcd"] {
            assert_eq!(
                words.next(&bound(4), None).unwrap(),
                Word::Text(want.to_vec())
            );
        }
        let err = words.next(&bound(4), None).unwrap_err();
        assert_eq!(
            error_lines(&err),
            (
                "a test line on standard input is longer than 4 bytes, the test's bound".into(),
                Some("write less".into())
            )
        );
        drop(words);
        writer.join().unwrap();
    }

    #[test]
    fn a_write_that_completes_is_done_though_a_signal_came() {
        // The race once seen: a termination signal that arrives while a line is written, yet
        // the whole line goes out. The line is written, and the caller's next wait (which
        // narrates the clean-up) is left to see the signal.
        let (read, write) = nix::unistd::pipe().unwrap();
        let result = write_all_unless_ended(write.as_fd(), b"Shared Memory Id = 7\n", || {
            Some(Signal::SIGTERM)
        });
        assert!(result.is_ok(), "{result:?}");
        drop(write);
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(read), &mut got).unwrap();
        assert_eq!(got, b"Shared Memory Id = 7\n");
    }

    #[test]
    fn a_write_that_fails_names_the_error_not_the_signal_that_did_not_come() {
        let (read, write) = nix::unistd::pipe().unwrap();
        drop(read);
        // SIGPIPE is ignored in a Rust program: the write fails with EPIPE.
        let failure = write_all_unless_ended(write.as_fd(), b"x\n", || None);
        assert_eq!(failure, Err(WriteFailure::Errno(Errno::EPIPE)));
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["0", "-1", "abc", "", "nan", "inf", "1e9"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn perms() {
        assert_eq!(parse_perms("600"), Ok(0o600));
        assert_eq!(parse_perms("0640"), Ok(0o640));
        assert_eq!(parse_perms("0o666"), Ok(0o666));
        assert_eq!(parse_perms("0"), Ok(0));
        for bad in ["800", "1777", "rw", "", "-600", "06000"] {
            assert!(parse_perms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(parse_key("1234"), Ok(1234));
        assert_eq!(parse_key("0x4d2"), Ok(1234));
        assert_eq!(parse_key("0xffffffff"), Ok(-1));
        assert_eq!(parse_key("-1"), Ok(-1));
        for bad in ["0", "0x0", "x", "0x1ffffffff", "99999999999", ""] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_and_ints() {
        assert_eq!(parse_ipc_id("7"), Ok(7));
        assert!(parse_ipc_id("-7").is_err());
        assert!(parse_ipc_id("2147483648").is_err());
        assert!(parse_ipc_id("seven").is_err());
        assert_eq!(parse_int("-9"), Ok(-9));
        assert_eq!(parse_int("+5"), Ok(5));
        assert!(parse_int("5abc").is_err());
        assert!(parse_int("2147483648").is_err());
    }
}
