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
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use colored::Colorize;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

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

    /// Narrate every step on stderr: the system call, its arguments, its result and what it means
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
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(i64).range(1..=16_777_216))]
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
// Colour

/// Kinds of text the binaries colour.
#[derive(Clone, Copy, Debug)]
pub enum Tone {
    Error,
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

/// A termination signal ended the run after the cleanup was done; the binary exits by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted(pub Signal);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted by {}", self.0.as_str())
    }
}

impl std::error::Error for Interrupted {}

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

/// A message as one line: a control character (a newline in a path a user typed, say) is
/// written as its escape, `\n`.
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

    /// `--explain`: the heading of a step, e.g. `[step 1] create the segment`.
    pub fn step(&self, n: u32, title: &str) {
        if self.explain {
            let head = self.err.paint(&format!("[step {n}]"), Tone::Step);
            self.eprint(&format!("{head} {title}"));
        }
    }

    /// `--explain`: a system call with its arguments and result: `shmget(...) = 7`.
    pub fn call(&self, call: &str, result: impl fmt::Display) {
        if self.explain {
            let text = self.err.paint(&format!("{call} = {result}"), Tone::Call);
            self.eprint(&format!("  {text}"));
        }
    }

    /// `--explain`: a plain memory access or other action with no system call: `shm[0] = 1`.
    pub fn act(&self, text: &str) {
        if self.explain {
            let text = self.err.paint(text, Tone::Call);
            self.eprint(&format!("  {text}"));
        }
    }

    /// `--explain`: what the step means, in a sentence.
    pub fn meaning(&self, text: &str) {
        if self.explain {
            self.eprint(&format!("  {text}"));
        }
    }

    /// A status line (`--inspect`), printed whenever the caller asks.
    pub fn inspect(&self, text: &str) {
        let head = self.err.paint("[inspect]", Tone::Inspect);
        self.eprint(&format!("{head} {text}"));
    }

    /// A note that is always printed on stderr: `shm-master: ...`.
    pub fn note(&self, text: &str) {
        let head = self.err.paint(&format!("{}:", self.prog), Tone::Note);
        self.eprint(&format!("{head} {text}"));
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
/// `write_all`, which retries a write a signal interrupted, a termination signal ends it
/// ([`Interrupted`]): a program blocked on a full stdout (a reader that stopped reading) can
/// still be stopped and clean up. A closed pipe is EPIPE, which [`Ui::finish`] takes as a quiet
/// end.
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
enum WriteFailure {
    Interrupted(Signal),
    Errno(Errno),
}

fn write_all_stdout(bytes: &[u8]) -> Result<(), WriteFailure> {
    let mut out = io::stdout().lock();
    out.flush()
        .map_err(|e| WriteFailure::Errno(e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)))?;
    let mut rest = bytes;
    while !rest.is_empty() {
        // A signal that comes once some bytes are written cuts the write short (no EINTR):
        // the flag is looked at after every write.
        let written = nix::unistd::write(&out, rest);
        if let Some(sig) = termination_received() {
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

/// `1 message`, `2 messages`, `2 processes`: a count with its noun, plural unless it is one.
pub fn counted(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else if noun.ends_with('s') {
        format!("{n} {noun}es")
    } else {
        format!("{n} {noun}s")
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
// Termination signals: clean up in the main flow, then exit by the signal

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The signals a terminal or a supervisor sends to end a program politely.
pub const TERMINATION_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

extern "C" fn on_termination(signo: libc::c_int) {
    // Only async-signal-safe work here: an atomic store and write(2), errno preserved.
    let saved = Errno::last_raw();
    let _ = RECEIVED.compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst);
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one valid byte on our stack. The
        // pipe is non-blocking, so a full pipe (already woken) cannot block the handler.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    Errno::set_raw(saved);
}

/// Catches SIGINT, SIGTERM and SIGHUP so that the main flow can clean up before it exits by the
/// signal. The handler only records the signal and wakes [`Termination::sleep`] through a pipe
/// (the self-pipe trick), so a signal that lands just before a sleep starts is not missed.
/// Handlers are installed without SA_RESTART: a blocking call returns EINTR instead of waiting on.
#[derive(Debug)]
pub struct Termination {
    wake_read: OwnedFd,
    _wake_write: OwnedFd,
}

impl Termination {
    /// Install the handlers (once per process).
    pub fn install() -> anyhow::Result<Termination> {
        if INSTALLED.swap(true, Ordering::SeqCst) {
            anyhow::bail!("the termination handlers are already installed in this process");
        }
        let (wake_read, wake_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .context("cannot create the wake-up pipe for signals")?;
        WAKE_FD.store(wake_write.as_raw_fd(), Ordering::SeqCst);
        let action = SigAction::new(
            SigHandler::Handler(on_termination),
            SaFlags::empty(),
            SigSet::empty(),
        );
        for sig in TERMINATION_SIGNALS {
            // SAFETY: the handler only touches atomics and calls write(2), both async-signal-safe.
            unsafe { signal::sigaction(sig, &action) }
                .with_context(|| format!("cannot install a handler for {}", sig.as_str()))?;
        }
        Ok(Termination {
            wake_read,
            _wake_write: wake_write,
        })
    }

    /// The first termination signal received so far, if any.
    pub fn received(&self) -> Option<Signal> {
        Signal::try_from(RECEIVED.load(Ordering::SeqCst)).ok()
    }

    /// `Err(Interrupted)` once a termination signal has arrived.
    pub fn check(&self) -> Result<(), Interrupted> {
        match self.received() {
            Some(sig) => Err(Interrupted(sig)),
            None => Ok(()),
        }
    }

    /// The error that ends a run woken by a termination signal ([`Interrupted`]).
    pub fn interrupted(&self) -> anyhow::Error {
        match self.check() {
            Err(interrupted) => interrupted.into(),
            Ok(()) => anyhow::anyhow!("woken up, yet no termination signal was received"),
        }
    }

    /// Sleep for `duration`, or until a termination signal arrives; returns that signal.
    pub fn sleep(&self, duration: Duration) -> Option<Signal> {
        let deadline = Instant::now() + duration;
        loop {
            if let Some(sig) = self.received() {
                return Some(sig);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let timeout = crate::sys::poll_timeout(left);
            let mut fds = [PollFd::new(self.wake_read.as_fd(), PollFlags::POLLIN)];
            // EINTR and readiness both lead back to the check above.
            let _ = poll(&mut fds, timeout);
        }
    }

    /// The read end of the wake-up pipe: readable once a termination signal has arrived, for
    /// adding to a `poll` set beside what the program waits on.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_read.as_fd()
    }
}

/// The first termination signal received, where the [`Termination`] value is out of reach
/// (deep in a measured loop); None before one arrives or when none is installed.
pub fn termination_received() -> Option<Signal> {
    Signal::try_from(RECEIVED.load(Ordering::Relaxed)).ok()
}

/// Exit by `sig`, so that the parent (a shell) sees the true cause: the default action is
/// restored and the signal raised. Should it not end the process, exit with 128 + N.
pub fn exit_by_signal(sig: Signal) -> ! {
    let _ = io::stdout().flush();
    // SAFETY: restoring the default action of a signal installs no Rust code as a handler.
    let _ = unsafe { signal::signal(sig, SigHandler::SigDfl) };
    let mut set = SigSet::empty();
    set.add(sig);
    let _ = set.thread_unblock();
    let _ = signal::raise(sig);
    std::process::exit(128 + sig as i32)
}

// ---------------------------------------------------------------------------------------------
// Standard input that a termination signal can interrupt

/// What [`StdinLines::next`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line, without its `\n` (a last line without one is returned as it is).
    Text(Vec<u8>),
    /// Input ended.
    End,
    /// A termination signal arrived while waiting.
    Woken,
}

/// The lines of standard input, read a chunk at a time with `poll` beside the wake-up
/// descriptor of [`Termination`]: std's readers retry a read that a signal interrupts, so a
/// Ctrl-C at a waiting `read` would otherwise go unnoticed until the next line.
#[derive(Debug, Default)]
pub struct StdinLines {
    buf: Vec<u8>,
    ended: bool,
}

impl StdinLines {
    pub fn new() -> StdinLines {
        StdinLines::default()
    }

    /// The next line, waiting for it until a termination signal wakes `wake`.
    pub fn next(&mut self, wake: Option<BorrowedFd<'_>>) -> anyhow::Result<Line> {
        let stdin = io::stdin();
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                return Ok(Line::Text(line));
            }
            if self.ended {
                if self.buf.is_empty() {
                    return Ok(Line::End);
                }
                return Ok(Line::Text(std::mem::take(&mut self.buf)));
            }
            let waited = crate::sys::wait_any(&[(stdin.as_fd(), PollFlags::POLLIN)], None, wake)
                .context("cannot wait for standard input")?;
            if waited.woken {
                return Ok(Line::Woken);
            }
            if !waited.ready(0, PollFlags::POLLIN) {
                continue;
            }
            let mut chunk = [0u8; 64 * 1024];
            match nix::unistd::read(stdin.as_fd(), &mut chunk) {
                Ok(0) => self.ended = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                Err(errno) => {
                    return Err(crate::sys::SysError {
                        call: "read",
                        errno,
                    })
                    .context("cannot read standard input");
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

    #[test]
    fn counts_with_their_nouns() {
        assert_eq!(counted(1u32, "message"), "1 message");
        assert_eq!(counted(0u32, "message"), "0 messages");
        assert_eq!(counted(1u32, "process"), "1 process");
        assert_eq!(counted(3u32, "more process"), "3 more processes");
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
