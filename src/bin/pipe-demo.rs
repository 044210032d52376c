//! pipe-demo: the lecture notes' pipe program (section B3), and one subcommand for each idea
//! of the section: pipe() failing, dup(), the shell's `|` built by hand, the capacity, blocking,
//! end of file, a broken pipe, half and full duplex, atomic writes, several readers of one pipe,
//! a pipe's missing name, and named pipes.

use std::ffi::CString;
use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd as _, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand, parser::ValueSource};
use ipc_lab::cli::{self, Common};
use ipc_lab::pipe::{self, PIPE_BUF, Pipe};
use ipc_lab::sys::{self, Child, SysError, Termination, fd_number};
use ipc_lab::ui::{self, HintExt as _, Ui, UsageError, out_line};
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;

const ABOUT: &str = "Pipes: the lecture notes' program, and the bounded buffer made visible";

const AFTER_HELP: &str = "\
Lecture notes: B3 Unix Pipe: a one-way, bounded byte buffer with implicit synchronisation
(writers wait when it is full, readers when it is empty), shared by related processes, which
inherit its ends through fork (`pipe-demo anon`: the other ways to an end, none of them a path).

With no subcommand it prints what the notes' C program prints, byte for byte, and exits 0 as it
does: the parent writes \"Hello There!\" and its NUL (13 bytes) into a pipe, the child reads them
and prints `Proc 0 read: Hello There!`. What differs, none of it on stdout:
  - the parent waits for its child; the C parent does not, so the shell's prompt can come before
    the child's line, and the C program's exit status says nothing of the child. Here a child
    that fails makes the exit status its own (128 + N for a signal N);
  - the child reads until end of file and prints up to the first NUL; the C child makes one read
    of at most 100 bytes (sizeof buf), so a message of 100 bytes or more (--message) would be cut
    and left without its NUL;
  - a pipe, fork, read or write that fails is reported (error: ..., exit status 1); the C program
    checks none of them, and goes on with what it has.

Examples:
  pipe-demo                                  the notes' program
  pipe-demo --explain                        each call narrated on stderr
  pipe-demo fail                             pipe() fails for real: EMFILE
  pipe-demo dup                              close(1); dup(fd[1]) lands on 1: stdout into the pipe
  pipe-demo redirect 'ls -l /' 'wc -l'       `ls -l / | wc -l`, built with pipe, fork and dup2
  pipe-demo capacity --size 5000             what F_SETPIPE_SZ grants, and the capacity
  pipe-demo blocking                         a writer waits on a full pipe, a reader on an empty one
  pipe-demo eof --keep-write-end             why a reader never sees end of file
  pipe-demo broken; echo $?                  SIGPIPE: 141
  pipe-demo duplex --rounds 3                one pipe one way; two pipes both ways
  pipe-demo writers --record-size 20000      writes above PIPE_BUF can interleave
  pipe-demo readers --readers 4              one pipe, four readers: each record to one of them
  pipe-demo anon                             a pipe is pipe:[INODE], a FIFO has a path
  pipe-demo fifo-read /tmp/lab-$USER.fifo    then, in another terminal:
  pipe-demo fifo-write /tmp/lab-$USER.fifo hi
                                             a named pipe between unrelated processes";

const FAIL_HELP: &str = "\
Lecture notes: B3 Unix Pipe, System Calls: pipe() \"returns the value of 0 for success, returns
non-zero if got error\".

Example:
  pipe-demo fail             pipe(fd) = 0 while descriptors are left, then pipe(fd) = -1 (EMFILE)
  pipe-demo fail --explain   with getrlimit and setrlimit

The limit is lowered for this process only, and put back before it ends; the exit status is 0,
because the failure is what the demo sets out to show.";

const DUP_HELP: &str = "\
Lecture notes: B3 Unix Pipe, Other Unix Pipes: change the standard channels to one of the pipes
with dup() and dup2().

Example:
  pipe-demo dup              the child's stdout, read back through the pipe by the parent
  pipe-demo dup --explain    the child's close(1) and dup() narrated; compare `redirect`, which
                             uses dup2(fd[1], 1)";

const READERS_HELP: &str = "\
Lecture notes: B3 Unix Pipe: \"has variants which can have multiple readers and writers\".

Example:
  pipe-demo readers                           4 readers share 1000 records of 4096 bytes
  pipe-demo readers --readers 8 --explain     the pipes, the forks and the reports narrated

The parent writes each record with one write of at most PIPE_BUF bytes, and each reader asks
read for exactly one record's size: so every record goes whole to exactly one reader, and which
one is up to the scheduler. The readers report what they got through a second pipe once the
first is empty; the parent checks that nothing was lost, duplicated or torn.";

const CAPACITY_HELP: &str = "\
Lecture notes: B3 Unix Pipe: \"circular bounded byte buffer\".

Examples:
  pipe-demo capacity                      whole pages until EAGAIN: the capacity (F_GETPIPE_SZ)
  pipe-demo capacity --size 5000          what F_SETPIPE_SZ grants: whole pages, a power of two
  pipe-demo capacity --write-size 2049    a page per write: 32784 bytes of 65536 (4 KiB pages)

A pipe keeps its bytes in slots of one page each (capacity / page size: 16 by default, of
4096 bytes on x86-64). A write smaller than a page joins the last, part-filled page only if it fits there
entirely, else it takes a fresh page; a larger write fills fresh pages, its odd bytes (beyond
whole pages) first joining the last page if they fit there. Once no slot is free, write fails
with EAGAIN: how many bytes that is depends on the size of the writes.";

const ANON_HELP: &str = "\
Lecture notes: B3 Unix Pipe: \"Behaviour: anonymous FIFO file\".

Example:
  pipe-demo anon             both ends of a pipe are pipe:[INODE]; a FIFO's ends are its path
  pipe-demo anon --explain   with the readlink and fstat calls

No process can open a pipe by a path. Another process can still get one of its ends: by fork, by
opening /proc/PID/fd/N if it may look into a process that holds the end (one of the same user, or
with privilege), or by being sent the descriptor over a Unix socket (SCM_RIGHTS).

The FIFO is made in the temporary directory and removed again at the end.";

#[derive(Debug, Parser)]
#[command(name = "pipe-demo", version, about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    hello: HelloArgs,

    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Clone, clap::Args)]
struct HelloArgs {
    /// What the parent sends (the notes send "Hello There!")
    #[arg(long, value_name = "TEXT", default_value = "Hello There!")]
    message: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The notes' program (the default): the parent writes, the child reads and prints
    Hello(HelloArgs),

    /// pipe() failing for real: the soft limit on descriptors (RLIMIT_NOFILE) is lowered, then
    /// pipe is called until it fails with EMFILE
    #[command(after_help = FAIL_HELP)]
    Fail,

    /// dup() at work: a child runs close(1) and dup(fd[1]), which lands on 1, the lowest free
    /// descriptor; what it prints goes into the pipe, and the parent reads it back
    #[command(after_help = DUP_HELP)]
    Dup,

    /// Build `CMD1 | CMD2` by hand: pipe, two forks, dup2 onto stdout and stdin, exec, wait
    Redirect {
        /// The writer, split into words as a shell would: 'ls -l /'
        #[arg(value_name = "CMD1")]
        first: String,
        /// The reader: 'wc -l'
        #[arg(value_name = "CMD2")]
        second: String,
    },

    /// Fill a pipe without blocking until it is full: its capacity, its page slots, F_GETPIPE_SZ
    /// and PIPE_BUF
    #[command(after_help = CAPACITY_HELP)]
    Capacity {
        /// First ask for this capacity (F_SETPIPE_SZ); the kernel says what it granted
        #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..=1u64 << 31))]
        size: Option<u64>,

        /// Fill it with writes of this many bytes (1 to the capacity), and see how many bytes it
        /// then holds: a pipe has page slots, not a byte count
        #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..=1u64 << 31))]
        write_size: Option<u64>,
    },

    /// A timeline: a writer blocks on a full pipe until a slow reader drains it, then the reader
    /// blocks on an empty pipe until the writer writes
    Blocking {
        /// How slow the reader is: it waits this long before reading (the timeline takes about
        /// three times as long)
        #[arg(long, value_name = "SECS", default_value = "1", value_parser = cli::parse_seconds)]
        delay: Duration,
    },

    /// End of file: a reader sees it only once every write end is closed
    Eof {
        /// The reader keeps its own copy of the write end: the classic hang
        #[arg(long)]
        keep_write_end: bool,

        /// With --keep-write-end: how long the reader waits before it gives up
        #[arg(long, value_name = "SECS", default_value = "2", value_parser = cli::parse_seconds)]
        timeout: Duration,
    },

    /// Write to a pipe whose reader is gone: SIGPIPE ends the writer (status 141)
    Broken {
        /// Ignore SIGPIPE: the write fails with EPIPE instead
        #[arg(long)]
        ignore_sigpipe: bool,
    },

    /// Half duplex (one pipe, one way) against full duplex (two pipes): request and response
    Duplex {
        /// How many requests (and, with two pipes, responses)
        #[arg(long, value_name = "N", default_value_t = 3,
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        rounds: u32,
    },

    /// N children write records to one pipe; the reader counts the records that arrive torn
    Writers {
        /// How many writer processes
        #[arg(long, value_name = "N", default_value_t = 8,
              value_parser = clap::value_parser!(u32).range(1..=64))]
        writers: u32,

        /// Bytes per record: at most PIPE_BUF (4096) none is torn; above, some may be
        #[arg(long, value_name = "BYTES", default_value_t = PIPE_BUF as u64,
              value_parser = clap::value_parser!(u64).range(1..=1u64 << 20))]
        record_size: u64,

        /// Records per writer
        #[arg(long, value_name = "N", default_value_t = 500,
              value_parser = clap::value_parser!(u32).range(1..=100_000))]
        records: u32,
    },

    /// One writer, several readers of one pipe: each record goes whole to exactly one reader
    #[command(after_help = READERS_HELP)]
    Readers {
        /// How many reader processes
        #[arg(long, value_name = "N", default_value_t = 4,
              value_parser = clap::value_parser!(u32).range(2..=64))]
        readers: u32,

        /// How many records the parent writes
        #[arg(long, value_name = "N", default_value_t = 1000,
              value_parser = clap::value_parser!(u32).range(1..=100_000))]
        records: u32,

        /// Bytes per record, at most PIPE_BUF (4096), at least 8 (the record's number)
        #[arg(long, value_name = "BYTES", default_value_t = PIPE_BUF as u64,
              value_parser = clap::value_parser!(u64).range(8..=PIPE_BUF as u64))]
        record_size: u64,
    },

    /// A pipe has no name: /proc/self/fd shows both of its ends as pipe:[INODE], where a named
    /// pipe (FIFO) shows its path
    #[command(after_help = ANON_HELP)]
    Anon,

    /// A named pipe, writing end: opens PATH (made with mkfifo if missing) and writes to it
    FifoWrite {
        /// The FIFO; created (and removed at the end) if it does not exist
        path: PathBuf,
        /// Lines to write; with none, standard input is copied
        #[arg(value_name = "MESSAGE")]
        messages: Vec<String>,
    },

    /// A named pipe, reading end: opens PATH (made with mkfifo if missing) and prints what comes
    FifoRead {
        /// The FIFO; created (and removed at the end) if it does not exist
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    let (args, matches) = cli::command_line::<Args>();
    let ui = Ui::new("pipe-demo", args.common.color, args.common.explain);
    // --message belongs to the notes' program; --explain and --color go anywhere.
    if args.command.is_some() && matches.value_source("message") == Some(ValueSource::CommandLine) {
        return ui.finish(Err(UsageError(
            "--message goes with the notes' program: pipe-demo --message TEXT, or pipe-demo hello --message TEXT".into(),
        )
        .into()));
    }
    let result = match args.command {
        None => hello(&args.hello, &ui),
        Some(Command::Hello(ref h)) => hello(h, &ui),
        Some(Command::Fail) => fail(&ui),
        Some(Command::Dup) => dup(&ui),
        Some(Command::Anon) => anon(&ui),
        Some(Command::Redirect {
            ref first,
            ref second,
        }) => redirect(first, second, &ui),
        Some(Command::Capacity { size, write_size }) => capacity(size, write_size, &ui),
        Some(Command::Blocking { delay }) => blocking(delay, &ui),
        Some(Command::Eof {
            keep_write_end,
            timeout,
        }) => eof(keep_write_end, timeout, &ui),
        Some(Command::Broken { ignore_sigpipe }) => broken(ignore_sigpipe, &ui),
        Some(Command::Duplex { rounds }) => duplex(rounds, &ui),
        Some(Command::Writers {
            writers,
            record_size,
            records,
        }) => many_writers(writers, record_size as usize, records, &ui),
        Some(Command::Readers {
            readers,
            records,
            record_size,
        }) => many_readers(readers, records, record_size as usize, &ui),
        Some(Command::FifoWrite {
            ref path,
            ref messages,
        }) => fifo_write(path, messages, &ui),
        Some(Command::FifoRead { ref path }) => fifo_read(path, &ui),
    };
    match result {
        Ok(code) if code != 0 => ExitCode::from(code.clamp(1, 255) as u8),
        other => ui.finish(other.map(|_| ())),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the subcommands

/// Read what is there (at most `buf.len()` bytes), waiting as long as it takes; a termination
/// signal ends the wait as [`ui::Interrupted`], and so does one that came while data kept
/// arriving (a read that finds data is never interrupted).
fn read_fd(fd: BorrowedFd<'_>, buf: &mut [u8], term: &Termination) -> anyhow::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) => {
                term.check()?;
                return Ok(n);
            }
            Err(Errno::EINTR) => term.check()?,
            Err(errno) => {
                return Err(SysError {
                    call: "read",
                    errno,
                })
                .context("cannot read from the pipe");
            }
        }
    }
}

/// Wait until `fd` has data (or end of file) with poll beside the signal wake-up, then read: a
/// termination signal ends the wait at once, even after a partial line.
fn read_when_ready(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    term: &Termination,
) -> anyhow::Result<usize> {
    loop {
        let waited = ipc_lab::sys::wait_any(
            &[(fd, nix::poll::PollFlags::POLLIN)],
            None,
            Some(term.wake_fd()),
        )?;
        if waited.woken {
            return Err(term.interrupted());
        }
        if waited.ready(0, nix::poll::PollFlags::POLLIN) {
            return read_fd(fd, buf, term);
        }
    }
}

/// Write all of `data`, waiting for room as long as it takes; in the parent a termination
/// signal ends the wait (children, with the default actions, simply end).
fn write_all(
    fd: BorrowedFd<'_>,
    mut data: &[u8],
    term: Option<&Termination>,
) -> anyhow::Result<()> {
    while !data.is_empty() {
        let written = nix::unistd::write(fd, data);
        // A signal that comes once some bytes are written cuts the write short, with no EINTR.
        term.map_or(Ok(()), Termination::check)?;
        match written {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(errno) => {
                return Err(SysError {
                    call: "write",
                    errno,
                })
                .context("cannot write to the pipe");
            }
        }
    }
    Ok(())
}

/// Wait for a child; a termination signal ends the wait as [`ui::Interrupted`] (the child is
/// then killed and reaped when dropped).
fn wait_child(child: &mut Child, term: &Termination, ui: &Ui) -> anyhow::Result<WaitStatus> {
    let Some(status) = child.wait_unless(|| term.received().is_some())? else {
        return Err(term.interrupted());
    };
    // Ctrl-C reaches the whole job: the child may die of it before the parent's wait is
    // interrupted. That is the signal's doing, not a failure of the child.
    term.check()?;
    ui.call(&format!("waitpid({})", child.pid()), sys::describe(status));
    Ok(status)
}

/// `the writer reaped` or `all 8 writers reaped`.
fn all_reaped(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("the {noun} reaped")
    } else {
        format!("all {} reaped", ui::counted(n, noun))
    }
}

/// In a child: report an error on stderr, as the parent would, and return the exit status. A
/// closed stdout (`| head`) ends it quietly, as it ends the parent.
fn child_failed(ui: &Ui, err: anyhow::Error) -> i32 {
    if ui::is_broken_pipe(&err) {
        return 0;
    }
    ui.report(&err);
    1
}

// ---------------------------------------------------------------------------------------------
// hello: the notes' program

fn hello(args: &HelloArgs, ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    ui.step(
        1,
        "create the pipe: a bounded byte buffer in the kernel with two ends",
    );
    let Pipe { read, write } = pipe::pipe(false)?;
    let (r, w) = (fd_number(&read), fd_number(&write));
    ui.call(
        "pipe(pipeFd)",
        format!("0: pipeFd[0] = {r} (read end), pipeFd[1] = {w} (write end)"),
    );
    ui.step(2, "fork: the child gets copies of both ends");
    let mut message = args.message.as_bytes().to_vec();
    message.push(0);
    let mut child = sys::fork(|| {
        // The child: close(write end), read, print.
        sys::close_in_child(&write);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 100];
        loop {
            match nix::unistd::read(read.as_fd(), &mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(Errno::EINTR) => {}
                Err(errno) => {
                    return child_failed(
                        ui,
                        anyhow::Error::new(SysError {
                            call: "read",
                            errno,
                        })
                        .context("the child cannot read from the pipe"),
                    );
                }
            }
        }
        // printf("%s") stops at the NUL the parent sent.
        let text = buf.split(|&b| b == 0).next().unwrap_or_default();
        // fork() returned 0 in the child: the notes print that value.
        match ui::out_bytes_line("Proc 0 read: ", text) {
            Ok(()) => 0,
            Err(e) => child_failed(ui, e),
        }
    })?;
    ui.call(
        "fork()",
        format!("{} in the parent, 0 in the child", child.pid()),
    );
    ui.meaning(&format!(
        "the child closes fd {w} (it only reads), reads fd {r} and prints what it got"
    ));
    ui.step(
        3,
        "the parent: close the read end, write, close the write end",
    );
    drop(read);
    ui.call(&format!("close({r})"), 0);
    write_all(write.as_fd(), &message, Some(&term))?;
    ui.call(
        &format!(
            "write({w}, {:?}, {})",
            String::from_utf8_lossy(&message),
            message.len()
        ),
        message.len(),
    );
    drop(write);
    ui.call(&format!("close({w})"), 0);
    ui.meaning("the child's read now sees end of file once it has taken the bytes");
    ui.step(4, "wait for the child (the notes' parent does not: its child may print after the shell's prompt)");
    let status = wait_child(&mut child, &term, ui)?;
    Ok(match status {
        WaitStatus::Exited(_, 0) => 0,
        other => sys::shell_status(other).max(1),
    })
}

// ---------------------------------------------------------------------------------------------
// fail: pipe() returns -1

fn fail(ui: &Ui) -> anyhow::Result<i32> {
    // No termination handlers: nothing here waits or needs cleaning up (the limit is this
    // process's own), so a signal simply ends it, and pipe gets the numbers a C program gets.
    ui.step(
        1,
        "how many descriptors may this process have? (RLIMIT_NOFILE)",
    );
    let (soft, hard) = sys::descriptor_limit()?;
    ui.call(
        "getrlimit(RLIMIT_NOFILE)",
        format!("0: soft limit {soft}, hard limit {hard}"),
    );
    let open = sys::open_descriptors()?;
    let shown: Vec<String> = open.iter().map(ToString::to_string).collect();
    let shown = shown.join(", ");
    ui.meaning(&format!("open now (/proc/self/fd): {shown}"));
    // A new descriptor gets the lowest free number: room for the two lowest free numbers, one
    // pipe, and no more. Descriptors open above the limit stay open; only new ones must be below.
    let second_free = (0..)
        .filter(|n| !open.contains(n))
        .nth(1)
        .unwrap_or(i32::MAX - 1);
    let limit = (second_free as u64 + 1).min(hard);
    ui.step(2, "lower the soft limit: room for one more pipe");
    sys::set_descriptor_limit(limit, hard)?;
    ui.call(&format!("setrlimit(RLIMIT_NOFILE, {{{limit}, {hard}}})"), 0);
    ui.meaning(&format!(
        "from now on a new descriptor must be below {limit}"
    ));
    out_line(format_args!(
        "RLIMIT_NOFILE soft limit lowered from {soft} to {limit}: a new descriptor must be below {limit}"
    ))?;
    ui.step(3, "call pipe until it fails");
    let mut pipes = Vec::new();
    let result = loop {
        match pipe::pipe(false) {
            Ok(p) => {
                out_line(format_args!(
                    "pipe(fd) = 0: fd[0] = {}, fd[1] = {}",
                    fd_number(&p.read),
                    fd_number(&p.write)
                ))?;
                pipes.push(p);
                if pipes.len() as u64 > limit {
                    break Err(anyhow::anyhow!(
                        "pipe did not fail after {}, with the soft limit at {limit}",
                        ui::counted(pipes.len() as u64, "pipe")
                    ));
                }
            }
            Err(err) => {
                let Some(errno) = ipc_lab::sys::errno_of(&err) else {
                    break Err(err);
                };
                out_line(format_args!("pipe(fd) = -1: {} ({errno:?})", errno.desc()))?;
                out_line(format_args!(
                    "a program checks before it uses fd[] or forks: if (pipe(fd) != 0) {{ perror(\"pipe\"); exit(1); }} prints \"pipe: {}\" and exits 1",
                    errno.desc()
                ))?;
                break Ok(0);
            }
        }
    };
    ui.step(4, "close the pipes, and put the limit back");
    for p in pipes {
        let (r, w) = (fd_number(&p.read), fd_number(&p.write));
        drop(p);
        ui.call(&format!("close({r}), close({w})"), 0);
    }
    sys::set_descriptor_limit(soft, hard)?;
    ui.call(&format!("setrlimit(RLIMIT_NOFILE, {{{soft}, {hard}}})"), 0);
    ui.meaning("a limit lowered only for this process: it ends with it anyway");
    result
}

// ---------------------------------------------------------------------------------------------
// dup: close(1); dup(fd[1])

fn dup(ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    ui.step(1, "a pipe: the child's stdout is to go into it");
    let Pipe { read, write } = pipe::pipe(false)?;
    let (r, w) = (fd_number(&read), fd_number(&write));
    ui.call(
        "pipe(fd)",
        format!("0: fd[0] = {r} (read end), fd[1] = {w} (write end)"),
    );
    out_line(format_args!(
        "parent: pipe(fd) = 0: fd[0] = {r}, fd[1] = {w}; the child makes fd[1] its stdout with close(1) and dup({w})"
    ))?;
    ui.step(
        2,
        "fork: the child puts the write end on its stdout with close(1) and dup(fd[1]), then prints",
    );
    let mut child = sys::fork(|| {
        sys::close_in_child(&read);
        // Before the close: what it does is told afterwards, through the new stdout.
        let closed = match sys::close_stream_in_child(1) {
            Ok(()) => "0".to_string(),
            Err(errno) => format!("-1 ({errno:?})"),
        };
        let copy = match sys::dup(write.as_fd()) {
            Ok(n) => n,
            Err(e) => return child_failed(ui, e),
        };
        // The original is not needed any more: fd 1 is the write end now (unless dup landed
        // elsewhere, which the lines below would show by not arriving).
        sys::close_in_child(&write);
        let run = || -> anyhow::Result<()> {
            out_line(format_args!("close(1) = {closed}"))?;
            out_line(format_args!("dup({w}) = {copy}"))?;
            out_line(format_args!("Hello There!"))?;
            Ok(())
        };
        match run() {
            Ok(()) => 0,
            Err(e) => child_failed(ui, e),
        }
    })?;
    let pid = child.pid();
    ui.call("fork()", pid);
    ui.call(&format!("  in child {pid}: close({r})"), 0);
    ui.call(&format!("  in child {pid}: close(1)"), 0);
    ui.call(&format!("  in child {pid}: dup({w})"), 1);
    ui.meaning(
        "  dup takes the lowest free number: 1, just closed; stdout (fd 1) is now the pipe's write end",
    );
    ui.call(&format!("  in child {pid}: close({w})"), 0);
    ui.meaning(
        "  dup2(fd[1], 1) would do close and dup in one call, onto the number given (pipe-demo redirect)",
    );
    ui.step(
        3,
        "the parent closes its write end and reads the child's stdout",
    );
    drop(write);
    ui.call(&format!("close({w})"), 0);
    let mut lines = LineReader::new(read.as_fd());
    while let Some(line) = lines.next_line()? {
        term.check()?;
        ui::out_bytes_line(&format!("parent: read from fd {r}: "), &line)?;
    }
    out_line(format_args!(
        "parent: end of file on fd {r}: the child's stdout was the last write end, and it has closed"
    ))?;
    let status = wait_child(&mut child, &term, ui)?;
    Ok(match status {
        WaitStatus::Exited(_, 0) => 0,
        other => sys::shell_status(other).max(1),
    })
}

// ---------------------------------------------------------------------------------------------
// anon: a pipe has no name

/// `/proc/self/fd/N -> TARGET (fstat: ...)` for one descriptor; returns the inode.
fn show_descriptor(fd: BorrowedFd<'_>, ui: &Ui) -> anyhow::Result<u64> {
    let n = fd.as_raw_fd();
    let target = sys::descriptor_link(fd)?;
    ui.call(
        &format!("readlink(\"/proc/self/fd/{n}\")"),
        format!("{target:?}"),
    );
    let (is_fifo, inode) = pipe::fifo_inode(fd)?;
    let kind = if is_fifo { "S_IFIFO" } else { "not S_IFIFO" };
    ui.call(
        &format!("fstat({n})"),
        format!("0: st_mode {kind}, st_ino {inode}"),
    );
    let what = if is_fifo { "a FIFO" } else { "not a FIFO" };
    out_line(format_args!(
        "/proc/self/fd/{n} -> {target} (fstat: {what}, inode {inode})"
    ))?;
    Ok(inode)
}

fn anon(ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    ui.step(1, "a pipe, and what /proc/self/fd says of its two ends");
    let Pipe { read, write } = pipe::pipe(false)?;
    let (r, w) = (fd_number(&read), fd_number(&write));
    ui.call(
        "pipe(fd)",
        format!("0: fd[0] = {r} (read end), fd[1] = {w} (write end)"),
    );
    out_line(format_args!("pipe(fd) = 0: fd[0] = {r}, fd[1] = {w}"))?;
    let a = show_descriptor(read.as_fd(), ui)?;
    let b = show_descriptor(write.as_fd(), ui)?;
    anyhow::ensure!(a == b, "the two ends of one pipe have inodes {a} and {b}");
    out_line(format_args!(
        "one pipe: both ends are inode {a} of the kernel's pipe file system; no directory holds it, so no process can open it by a path, but another can still get an end: by fork, by opening /proc/{}/fd/{r} (if allowed to look into this process), or sent over a Unix socket (SCM_RIGHTS)",
        nix::unistd::getpid()
    ))?;
    term.check()?;

    ui.step(2, "a named pipe (FIFO), opened to read and to write");
    let path = std::env::temp_dir().join(format!("ipc-lab-anon-{}.fifo", nix::unistd::getpid()));
    let shown = path.display().to_string();
    let found = match pipe::make_fifo(&path, 0o600) {
        Ok(found) => found,
        Err(err) if ipc_lab::sys::errno_of(&err) == Some(Errno::EEXIST) => {
            let owner = pipe::owner_of(&path)
                .map_or_else(|| "someone".to_string(), |uid| format!("uid {uid}"));
            return Err(err).hint(format!(
                "{shown} was made by {owner} before this run, which makes its FIFO only where nothing is: if it is yours, remove it (rm {shown}); otherwise run with another TMPDIR"
            ));
        }
        Err(err) => return Err(err),
    };
    // Removed again when dropped: on every way out, also a termination signal.
    let fifo = Fifo {
        path: path.clone(),
        found,
        created: true,
    };
    ui.call(&format!("mkfifo({shown:?}, 0600)"), 0);
    narrate_handle(&fifo.found, &path, ui);
    term.check()?;
    // The reader first, without waiting: then the writer finds it and does not wait either.
    let opened = |write: bool, flag: &str| -> anyhow::Result<OwnedFd> {
        let fd = fifo
            .found
            .open(write, true)?
            .ok_or_else(|| term.interrupted())?;
        ui.call(
            &format!("open({:?}, {flag}|O_NONBLOCK)", fifo.found.reopen_path()),
            fd_number(&fd),
        );
        Ok(fd)
    };
    let fifo_read = opened(false, "O_RDONLY")?;
    let fifo_write = opened(true, "O_WRONLY")?;
    out_line(format_args!(
        "mkfifo {}, opened to read and to write",
        path.display()
    ))?;
    show_descriptor(fifo_read.as_fd(), ui)?;
    show_descriptor(fifo_write.as_fd(), ui)?;
    out_line(format_args!(
        "a named pipe: the same kind of file, with a path that any process allowed by its mode can open (removed again at the end)"
    ))?;
    drop((fifo_read, fifo_write));
    term.check()?;
    drop(fifo);
    ui.meaning(&format!("{} removed", path.display()));
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// redirect: CMD1 | CMD2 by hand

fn words(cmd: &str, which: &str) -> anyhow::Result<Vec<CString>> {
    let words = shlex::split(cmd).ok_or_else(|| {
        // The two things shlex refuses: an open quote, and a backslash with nothing after it.
        let trailing = cmd.len() - cmd.trim_end_matches('\\').len();
        let why = if trailing % 2 == 1 {
            "it ends with a lone backslash (write \\\\ for a backslash itself)"
        } else {
            "a quote is not closed"
        };
        UsageError(format!("{which} {cmd:?} cannot be split into words: {why}"))
    })?;
    if words.is_empty() {
        return Err(UsageError(format!("{which} is empty: give a command such as 'ls -l'")).into());
    }
    words
        .into_iter()
        .map(|w| {
            CString::new(w).map_err(|_| UsageError(format!("{which} contains a NUL byte")).into())
        })
        .collect()
}

fn show_argv(argv: &[CString]) -> String {
    let parts: Vec<String> = argv
        .iter()
        .map(|a| format!("{:?}", a.to_string_lossy()))
        .collect();
    parts.join(", ")
}

/// In a child of redirect: put `end` on `target` (1: stdout, 0: stdin), drop both pipe ends,
/// exec. Only returns the status to exit with when exec failed. With `hold` (--explain) it stops
/// right after fork and again just before exec, so that the parent can read its descriptor
/// table at both points.
fn exec_with(
    end: BorrowedFd<'_>,
    target: i32,
    ends: &Pipe,
    argv: &[CString],
    hold: bool,
    ui: &Ui,
) -> i32 {
    if hold {
        sys::stop_self();
    }
    if let Err(e) = sys::dup2(end, target) {
        return child_failed(ui, e);
    }
    sys::close_in_child(&ends.read);
    sys::close_in_child(&ends.write);
    if hold {
        sys::stop_self();
    }
    let errno = sys::exec(argv);
    let name = argv[0].to_string_lossy();
    ui.report(&anyhow::anyhow!(
        "cannot run {name:?}: {} ({errno:?})",
        errno.desc()
    ));
    // As a shell: 127 when the command is not found, 126 when it cannot be run.
    if errno == Errno::ENOENT { 127 } else { 126 }
}

/// `--explain`: a descriptor table in one line, read from /proc: this process's (`None`) or a
/// stopped child's. `0 -> /dev/pts/3  1 -> pipe:[1234] (write end)  3 -> pipe:[77] (cloexec)`:
/// the ends of the lab's pipe (`lab`, its `pipe:[INODE]`) are named, and close-on-exec ones
/// marked.
fn fd_table(pid: Option<nix::unistd::Pid>, lab: &str) -> anyhow::Result<String> {
    let cells: Vec<String> = pipe::descriptors(pid)?
        .iter()
        .map(|d| {
            let mut notes = Vec::new();
            if d.target == lab {
                notes.push(match d.access {
                    pipe::Access::Read => "read end",
                    pipe::Access::Write => "write end",
                    pipe::Access::ReadWrite => "read and write",
                });
            }
            if d.cloexec {
                notes.push("cloexec");
            }
            if notes.is_empty() {
                format!("{} -> {}", d.number, d.target)
            } else {
                format!("{} -> {} ({})", d.number, d.target, notes.join(", "))
            }
        })
        .collect();
    Ok(cells.join("  "))
}

/// `--explain`: wait until `child` stops itself, show its descriptor table as `who`, and let it
/// go on. A child that ended instead shows nothing (its status is reported when it is reaped).
fn show_stopped(
    child: &mut Child,
    who: &str,
    lab: &str,
    term: &Termination,
    ui: &Ui,
) -> anyhow::Result<()> {
    match child.wait_stopped(|| term.received().is_some())? {
        None => Err(term.interrupted()),
        Some(sys::Halt::Ended(_)) => Ok(()),
        Some(sys::Halt::Stopped) => {
            let table = fd_table(Some(child.pid()), lab);
            child.resume()?;
            ui.meaning(&format!("  {who}: {}", table?));
            Ok(())
        }
    }
}

/// One child of redirect, as the parent narrates it: `end` goes onto `target` (`stream`), both
/// pipe ends are closed, the program is exec'd. The calls are told by the parent, which knows the
/// plan, so that the narration stays in order; with --explain the tables between them are the
/// child's real ones, read while it is stopped.
struct Plan<'a> {
    /// `child 1 (seq 5)`
    who: String,
    end: i32,
    target: i32,
    stream: &'a str,
    which: &'a str,
    argv: &'a [CString],
}

fn narrate_child(
    child: &mut Child,
    plan: &Plan<'_>,
    (r, w): (i32, i32),
    lab: &str,
    term: &Termination,
    ui: &Ui,
) -> anyhow::Result<()> {
    let pid = child.pid();
    let Plan {
        who,
        end,
        target,
        stream,
        which,
        argv,
    } = plan;
    ui.call("fork()", pid);
    if ui.explaining() {
        show_stopped(child, &format!("{who} after fork"), lab, term, ui)?;
    }
    ui.call(&format!("  in child {pid}: dup2({end}, {target})"), target);
    ui.meaning(&format!(
        "  its {stream} (fd {target}) is now the pipe's {which} end"
    ));
    ui.call(&format!("  in child {pid}: close({r}), close({w})"), 0);
    ui.meaning(&format!(
        "  unused ends closed: only fd {target} refers to the pipe now"
    ));
    if ui.explaining() {
        show_stopped(child, &format!("{who} before exec"), lab, term, ui)?;
    }
    ui.call(
        &format!(
            "  in child {pid}: execvp({:?}, [{}])",
            argv[0].to_string_lossy(),
            show_argv(argv)
        ),
        "nothing: it returns only if it fails",
    );
    Ok(())
}

fn redirect(first: &str, second: &str, ui: &Ui) -> anyhow::Result<i32> {
    let argv1 = words(first, "CMD1")?;
    let argv2 = words(second, "CMD2")?;
    let term = Termination::install()?;
    let hold = ui.explaining();
    ui.step(1, "pipe: the channel from CMD1's stdout to CMD2's stdin");
    let ends = pipe::pipe(false)?;
    let (r, w) = (fd_number(&ends.read), fd_number(&ends.write));
    ui.call(
        "pipe(fd)",
        format!("0: fd[0] = {r} (read end), fd[1] = {w} (write end)"),
    );
    // The tables (--explain) name the ends of this pipe, and say which pipe is the signals'.
    let lab = if hold {
        sys::descriptor_link(ends.read.as_fd())?
    } else {
        String::new()
    };
    if hold {
        ui.meaning(&format!("parent after pipe(): {}", fd_table(None, &lab)?));
        let wake = sys::descriptor_link(term.wake_fd())?;
        let own: Vec<String> = pipe::descriptors(None)?
            .iter()
            .filter(|d| d.target == wake)
            .map(|d| d.number.to_string())
            .collect();
        ui.meaning(&format!(
            "{} pipe-demo's own pipe, which its signal handler writes to; cloexec: close-on-exec, closed by exec (pipe-demo makes its pipes so; the notes' pipe() does not)",
            match own.as_slice() {
                [] => String::new(),
                [one] => format!("{one} is"),
                many => format!("{} are", many.join(" and ")),
            }
        ));
    }

    ui.step(
        2,
        "fork the writer, which becomes CMD1 with its stdout on the pipe",
    );
    let mut writer = sys::fork(|| exec_with(ends.write.as_fd(), 1, &ends, &argv1, hold, ui))?;
    let plan = Plan {
        who: format!("child 1 ({first})"),
        end: w,
        target: 1,
        stream: "stdout",
        which: "write",
        argv: &argv1,
    };
    narrate_child(&mut writer, &plan, (r, w), &lab, &term, ui)?;

    ui.step(
        3,
        "fork the reader, which becomes CMD2 with its stdin on the pipe",
    );
    let mut reader = sys::fork(|| exec_with(ends.read.as_fd(), 0, &ends, &argv2, hold, ui))?;
    let plan = Plan {
        who: format!("child 2 ({second})"),
        end: r,
        target: 0,
        stream: "stdin",
        which: "read",
        argv: &argv2,
    };
    narrate_child(&mut reader, &plan, (r, w), &lab, &term, ui)?;

    ui.step(4, "the parent closes both ends: it uses neither");
    drop(ends);
    ui.call(&format!("close({r}), close({w})"), 0);
    if hold {
        ui.meaning(&format!(
            "parent after closing both ends: {}",
            fd_table(None, &lab)?
        ));
    }
    ui.meaning("had it kept the write end, CMD2 would never see end of file");

    ui.step(
        5,
        "wait for both; the pipeline's status is the last command's",
    );
    let _ = term.check();
    wait_child(&mut writer, &term, ui)?;
    let status = wait_child(&mut reader, &term, ui)?;
    term.check()?;
    Ok(sys::shell_status(status))
}

// ---------------------------------------------------------------------------------------------
// capacity

fn capacity(size: Option<u64>, write_size: Option<u64>, ui: &Ui) -> anyhow::Result<i32> {
    ui.step(
        1,
        "a pipe whose write end does not block: a full pipe makes write fail with EAGAIN",
    );
    let p = pipe::pipe(true)?;
    ui.call("pipe2(fd, O_NONBLOCK)", 0);
    let mut asked = None;
    if let Some(size) = size {
        let granted = match pipe::set_capacity(p.write.as_fd(), size as usize) {
            Ok(n) => n,
            Err(err) => {
                let hint = match ipc_lab::sys::errno_of(&err) {
                    Some(Errno::EPERM) => format!(
                        "without privilege a pipe may have at most {} bytes (/proc/sys/fs/pipe-max-size)",
                        pipe::max_capacity().map_or("pipe-max-size".into(), |n| n.to_string())
                    ),
                    Some(Errno::EINVAL) => "ask for 1 byte to 2147483648 bytes".into(),
                    _ => "see fcntl(2), F_SETPIPE_SZ".into(),
                };
                return Err(err).hint(hint);
            }
        };
        ui.call(&format!("fcntl(fd, F_SETPIPE_SZ, {size})"), granted);
        asked = Some((size, granted));
    }
    let cap = pipe::capacity(p.write.as_fd())?;
    let page = pipe::page_size();
    let slots = cap / page;
    if let Some(n) = write_size {
        if n as usize > cap {
            return Err(UsageError(format!(
                "--write-size {n} is more than the pipe's capacity ({cap} bytes): give 1 to {cap}"
            ))
            .into());
        }
    }
    if let Some((size, granted)) = asked {
        out_line(format_args!(
            "asked for {} (F_SETPIPE_SZ): the kernel granted {granted} (whole pages, a power of two)",
            ui::counted(size, "byte")
        ))?;
    }
    let slots_line = format!(
        "F_GETPIPE_SZ: {cap} bytes: {} of one page ({page} bytes) each",
        ui::counted(slots as u64, "slot")
    );
    match write_size {
        None => {
            ui.step(2, "write whole pages until the next write would block");
            let written = pipe::fill_until_full(p.write.as_fd())?;
            ui.meaning(&format!(
                "pages of {page} bytes while they fit, then single bytes until EAGAIN"
            ));
            let waiting = pipe::fill(p.read.as_fd())?;
            ui.call("ioctl(fd[0], FIONREAD)", waiting);
            out_line(format_args!(
                "capacity: {written} bytes written, a page ({page} bytes) at a time, before a write would block (EAGAIN)"
            ))?;
            out_line(format_args!(
                "{slots_line}; writes of other sizes may fill less (--write-size)"
            ))?;
        }
        Some(n) => {
            let n = n as usize;
            ui.step(
                2,
                &format!(
                    "write {} at a time until a write would block",
                    ui::counted(n as u64, "byte")
                ),
            );
            let filled = pipe::fill_with_writes(p.write.as_fd(), n)?;
            let waiting = pipe::fill(p.read.as_fd())?;
            ui.call("ioctl(fd[0], FIONREAD)", waiting);
            let went = if filled.partial.is_empty() {
                format!("{} went in", filled.whole)
            } else {
                format!(
                    "{} went in whole and {} in part",
                    filled.whole,
                    filled.partial.len()
                )
            };
            out_line(format_args!(
                "writes of {} until one would block (EAGAIN): {went}; the pipe holds {} (FIONREAD)",
                ui::counted(n as u64, "byte"),
                ui::counted(waiting as u64, "byte")
            ))?;
            out_line(format_args!("{slots_line}"))?;
            for line in slot_rule_lines(cap, page, n) {
                out_line(format_args!("{line}"))?;
            }
            let rule = pipe::slot_rule(cap, page, n);
            if waiting != rule.bytes || filled != rule {
                out_line(format_args!(
                    "this kernel differs from the rule: the pipe took {waiting} bytes, where the rule says {}",
                    rule.bytes
                ))?;
            }
        }
    }
    out_line(format_args!(
        "PIPE_BUF: {PIPE_BUF} bytes (a write of at most this many bytes is atomic)"
    ))?;
    Ok(0)
}

/// The slot rule for writes of `n` bytes into an empty pipe of `cap` bytes with pages of `page`
/// bytes, and what it makes of them: two lines.
fn slot_rule_lines(cap: usize, page: usize, n: usize) -> [String; 2] {
    let slots = cap / page;
    let rule = pipe::slot_rule(cap, page, n);
    let bytes = ui::counted(rule.bytes as u64, "byte");
    if n < page {
        let per_page = page / n;
        let held = per_page * n;
        let so = if per_page == 1 {
            format!("{n} + {n} > {page}: each write took a fresh page")
        } else if held == page {
            format!("{per_page} writes fill a page exactly")
        } else {
            format!("{per_page} writes fit in a page ({held} bytes), and the next took a fresh one")
        };
        [
            "a write smaller than a page joins the last, part-filled page only if it fits there entirely, else it takes a fresh page".into(),
            format!("{so}, so the {} hold {slots} x {held} = {bytes}", ui::counted(slots as u64, "slot")),
        ]
    } else if n == page {
        [
            "a write of one page takes a fresh page".into(),
            format!(
                "each write filled a page, so the {} hold {slots} x {page} = {bytes}",
                ui::counted(slots as u64, "slot")
            ),
        ]
    } else if n.is_multiple_of(page) {
        let pages = n / page;
        [
            format!("a write of {pages} whole pages takes {pages} fresh pages"),
            format!(
                "so {} went in whole: {bytes}",
                ui::counted(rule.whole, "write")
            ),
        ]
    } else {
        let odd = n % page;
        let parts = if rule.partial.is_empty() {
            String::new()
        } else {
            format!(
                " and {} in part ({})",
                rule.partial.len(),
                ui::counted(rule.partial.iter().sum::<usize>() as u64, "byte")
            )
        };
        [
            format!(
                "a write of more than a page fills fresh pages, but first its part beyond whole pages ({} here) joins the last, part-filled page if it fits there entirely; once no slot is free, a write of more than PIPE_BUF bytes goes in part",
                ui::counted(odd as u64, "byte")
            ),
            format!(
                "so {} went in whole{parts}: {bytes}",
                ui::counted(rule.whole, "write")
            ),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// blocking: a timeline

struct Clock(Instant);

impl Clock {
    fn line(&self, who: &str, text: &str) -> anyhow::Result<()> {
        out_line(format_args!(
            "{:>7.3}s {who:<6} {text}",
            self.0.elapsed().as_secs_f64()
        ))
    }
}

/// The fill level of a pipe of `cap` bytes with pages of `page` bytes, read live with FIONREAD:
/// `[##..] 8192 of 16384 bytes`, a mark for each of its slots (one page each). Drawn only where
/// it is true: the writes of `blocking` are whole pages and its reads take whole pages, so a
/// whole number of pages fills exactly that many slots. Any other count is said in bytes alone,
/// since how many slots it takes depends on the writes (see `capacity --write-size`).
fn level(bytes: usize, cap: usize, page: usize) -> String {
    let slots = cap / page;
    if bytes.is_multiple_of(page) && bytes <= cap {
        let used = bytes / page;
        format!(
            "[{}{}] {bytes} of {cap} bytes",
            "#".repeat(used),
            ".".repeat(slots - used)
        )
    } else {
        format!("{bytes} of {cap} bytes")
    }
}

fn blocking(delay: Duration, ui: &Ui) -> anyhow::Result<i32> {
    // A pipe keeps its bytes in pages, one to each of its slots. The writer writes a whole page
    // at a time: each write takes a slot of its own, and waits once none is free. The reader
    // frees a slot with each page it reads.
    const FINAL: usize = 100;
    let page = pipe::page_size();
    let term = Termination::install()?;
    let p = pipe::pipe(false)?;
    let cap = pipe::set_capacity(p.write.as_fd(), 4 * page)?;
    ui.call(&format!("fcntl(fd, F_SETPIPE_SZ, {})", 4 * page), cap);
    ui.meaning(
        "each level is ioctl(fd, FIONREAD) at that moment, the bytes waiting to be read; [#...] marks the slots they fill, one page each",
    );
    let slots = cap / page;
    let chunks = slots + 1;
    let clock = Clock(Instant::now());
    out_line(format_args!(
        "a pipe of {cap} bytes: {} of one page ({page} bytes) each; the writer writes {chunks} x {page} bytes, the reader waits {} s before reading",
        ui::counted(slots as u64, "slot"),
        delay.as_secs_f64()
    ))?;
    let Pipe { read, write } = p;
    let mut writer = sys::fork(|| {
        sys::close_in_child(&read);
        let run = || -> anyhow::Result<()> {
            let data = vec![b'w'; page];
            let write_page = || {
                nix::unistd::write(write.as_fd(), &data).map_err(|errno| SysError {
                    call: "write",
                    errno,
                })
            };
            for i in 1..=chunks {
                let held = pipe::fill(write.as_fd())?;
                if held + page > cap {
                    clock.line(
                        "writer",
                        &format!(
                            "write #{i} of {page} bytes: {}, no free slot: write blocks",
                            level(held, cap, page)
                        ),
                    )?;
                    let start = Instant::now();
                    write_page()?;
                    clock.line(
                        "writer",
                        &format!(
                            "write #{i} returns after {:.1} s, into the slot the reader freed: {}",
                            start.elapsed().as_secs_f64(),
                            level(pipe::fill(write.as_fd())?, cap, page)
                        ),
                    )?;
                } else {
                    write_page()?;
                    let now = pipe::fill(write.as_fd())?;
                    let full = if now + page > cap { ", full" } else { "" };
                    clock.line(
                        "writer",
                        &format!(
                            "write #{i} of {page} bytes went in: {}{full}",
                            level(now, cap, page)
                        ),
                    )?;
                }
            }
            std::thread::sleep(delay * 2);
            clock.line(
                "writer",
                &format!("writes {FINAL} bytes, then closes its end"),
            )?;
            nix::unistd::write(write.as_fd(), &[b'w'; FINAL]).map_err(|errno| SysError {
                call: "write",
                errno,
            })?;
            Ok(())
        };
        match run() {
            Ok(()) => 0,
            Err(e) => child_failed(ui, e),
        }
    })?;
    drop(write);
    // The reader: slow at first, so that the writer fills the pipe and blocks.
    let mut buf = vec![0u8; cap];
    if let Some(sig) = term.sleep(delay) {
        return Err(ui::Interrupted(sig).into());
    }
    // What it finds, then what it does: the level after this read is the writer's to tell, as
    // the writer refills the freed slot at once.
    let held = pipe::fill(read.as_fd())?;
    clock.line(
        "reader",
        &format!(
            "finds {} and reads {page} bytes (one page): a slot is free",
            level(held, cap, page)
        ),
    )?;
    read_fd(read.as_fd(), &mut buf[..page], &term)?;
    if let Some(sig) = term.sleep(delay / 2) {
        return Err(ui::Interrupted(sig).into());
    }
    let held = pipe::fill(read.as_fd())?;
    let mut got = 0;
    while got < held {
        got += read_fd(read.as_fd(), &mut buf[..held - got], &term)?;
    }
    clock.line(
        "reader",
        &format!(
            "reads {}, everything: the pipe is empty, {}",
            ui::counted(got as u64, "byte"),
            level(pipe::fill(read.as_fd())?, cap, page)
        ),
    )?;
    clock.line(
        "reader",
        "reads again: nothing to read, so read blocks until the writer writes",
    )?;
    let start = Instant::now();
    let n = read_fd(read.as_fd(), &mut buf, &term)?;
    clock.line(
        "reader",
        &format!(
            "read returns {} after {:.1} s: the pipe is empty again, {}",
            ui::counted(n as u64, "byte"),
            start.elapsed().as_secs_f64(),
            level(pipe::fill(read.as_fd())?, cap, page)
        ),
    )?;
    let mut n = n;
    while n > 0 {
        n = read_fd(read.as_fd(), &mut buf, &term)?;
    }
    clock.line(
        "reader",
        "read returns 0: end of file, the writer closed its end",
    )?;
    let status = wait_child(&mut writer, &term, ui)?;
    Ok(if matches!(status, WaitStatus::Exited(_, 0)) {
        0
    } else {
        1
    })
}

// ---------------------------------------------------------------------------------------------
// eof

fn eof(keep_write_end: bool, timeout: Duration, ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    let Pipe { read, write } = pipe::pipe(false)?;
    let w = fd_number(&write);
    let message = b"Hello There!";
    let mut child = sys::fork(|| {
        // The child's copy of the write end: closed, unless asked to keep it.
        if !keep_write_end {
            sys::close_in_child(&write);
        }
        let run = || -> anyhow::Result<()> {
            let mut total = 0;
            let mut buf = [0u8; 100];
            loop {
                // Only the hang is cut short: without a write end of its own, end of file comes.
                let deadline = keep_write_end.then(|| Instant::now() + timeout);
                let waited = ipc_lab::sys::wait_any(
                    &[(read.as_fd(), nix::poll::PollFlags::POLLIN)],
                    deadline,
                    None,
                )?;
                if waited.timed_out {
                    out_line(format_args!(
                        "child: read has waited {} s for more and would wait forever: this process still holds a write end (fd {w}), so the pipe never reports end of file",
                        timeout.as_secs_f64()
                    ))?;
                    return Ok(());
                }
                let n = nix::unistd::read(read.as_fd(), &mut buf).map_err(|errno| SysError {
                    call: "read",
                    errno,
                })?;
                if n == 0 {
                    out_line(format_args!(
                        "child: read returns 0 after {}: end of file, every write end is closed",
                        ui::counted(total as u64, "byte")
                    ))?;
                    return Ok(());
                }
                total += n;
                ui::out_bytes_line(
                    &format!("child: read {}: ", ui::counted(n as u64, "byte")),
                    &buf[..n],
                )?;
            }
        };
        match run() {
            Ok(()) => 0,
            Err(e) => child_failed(ui, e),
        }
    })?;
    drop(read);
    out_line(format_args!(
        "parent: writes {}, then closes its write end",
        ui::counted(message.len() as u64, "byte")
    ))?;
    write_all(write.as_fd(), message, Some(&term))?;
    drop(write);
    ui.call(&format!("close({w})"), 0);
    let status = wait_child(&mut child, &term, ui)?;
    Ok(if matches!(status, WaitStatus::Exited(_, 0)) {
        0
    } else {
        1
    })
}

// ---------------------------------------------------------------------------------------------
// broken: SIGPIPE and EPIPE

fn broken(ignore_sigpipe: bool, ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    let Pipe { read, write } = pipe::pipe(false)?;
    let mut child = sys::fork(|| 0)?;
    drop(read);
    let status = wait_child(&mut child, &term, ui)?;
    out_line(format_args!(
        "parent: the reader (child {}) {} without reading: no process holds the read end now",
        child.pid(),
        sys::describe(status)
    ))?;
    let message = b"Hello There!\0";
    if ignore_sigpipe {
        sys::ignore(Signal::SIGPIPE)?;
        out_line(format_args!(
            "parent: SIGPIPE is ignored; writes {} to the pipe",
            ui::counted(message.len() as u64, "byte")
        ))?;
        match nix::unistd::write(write.as_fd(), message) {
            Err(Errno::EPIPE) => {
                out_line(format_args!(
                    "parent: write fails with EPIPE (Broken pipe): the writer lives on and can react"
                ))?;
                Ok(0)
            }
            other => anyhow::bail!("expected EPIPE, but write returned {other:?}"),
        }
    } else {
        // Rust ignores SIGPIPE; a C program (and this demo) has its default action: terminate.
        sys::default_action(Signal::SIGPIPE)?;
        out_line(format_args!(
            "parent: writes {}: the kernel sends SIGPIPE, whose default action ends the writer (the shell shows 128 + 13 = 141)",
            ui::counted(message.len() as u64, "byte")
        ))?;
        let _ = std::io::stdout().flush();
        let result = nix::unistd::write(write.as_fd(), message);
        // Still alive: something caught or blocked SIGPIPE.
        anyhow::bail!("the write returned {result:?} and SIGPIPE did not end this process")
    }
}

// ---------------------------------------------------------------------------------------------
// duplex

fn duplex(rounds: u32, ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    // Half duplex: one pipe, parent to child.
    out_line(format_args!("half duplex: one pipe, parent -> child"))?;
    let Pipe { read, write } = pipe::pipe(false)?;
    let mut child = sys::fork(|| {
        // Without this the child would hold a write end itself and never see end of file.
        sys::close_in_child(&write);
        let run = || -> anyhow::Result<()> {
            let mut lines = LineReader::new(read.as_fd());
            let mut n = 0u32;
            while let Some(line) = lines.next_line()? {
                n += 1;
                out_line(format_args!(
                    "child: got {:?}",
                    String::from_utf8_lossy(&line)
                ))?;
            }
            out_line(format_args!(
                "child: end of file after {}; it cannot answer on this pipe",
                ui::counted(n, "request")
            ))?;
            Ok(())
        };
        match run() {
            Ok(()) => 0,
            Err(e) => child_failed(ui, e),
        }
    })?;
    drop(read);
    for i in 1..=rounds {
        if let Err(err) = write_all(
            write.as_fd(),
            format!("request {i}\n").as_bytes(),
            Some(&term),
        ) {
            // The child is gone (its stdout was closed, say): its exit status tells below.
            if ipc_lab::sys::errno_of(&err) == Some(Errno::EPIPE) {
                break;
            }
            return Err(err);
        }
    }
    drop(write);
    let status = wait_child(&mut child, &term, ui)?;
    anyhow::ensure!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "the child {}",
        sys::describe(status)
    );

    // Full duplex: two pipes, one each way.
    out_line(format_args!(
        "full duplex: two pipes, parent -> child and child -> parent"
    ))?;
    let down = pipe::pipe(false)?;
    let up = pipe::pipe(false)?;
    let mut child = sys::fork(|| {
        sys::close_in_child(&down.write);
        sys::close_in_child(&up.read);
        let run = || -> anyhow::Result<()> {
            let mut lines = LineReader::new(down.read.as_fd());
            while let Some(line) = lines.next_line()? {
                let text = String::from_utf8_lossy(&line);
                let answer = text.replacen("ping", "pong", 1);
                let mut data = answer.into_bytes();
                data.push(b'\n');
                write_all(up.write.as_fd(), &data, None)?;
            }
            Ok(())
        };
        match run() {
            Ok(()) => 0,
            Err(e) => child_failed(ui, e),
        }
    })?;
    let Pipe {
        read: down_read,
        write: down_write,
    } = down;
    let Pipe {
        read: up_read,
        write: up_write,
    } = up;
    drop((down_read, up_write));
    let mut answers = LineReader::new(up_read.as_fd());
    for i in 1..=rounds {
        let request = format!("ping {i}");
        write_all(
            down_write.as_fd(),
            format!("{request}\n").as_bytes(),
            Some(&term),
        )?;
        let Some(answer) = answers.next_line()? else {
            anyhow::bail!("the child closed its pipe before answering {request:?}");
        };
        out_line(format_args!(
            "parent: sent {request:?}, got {:?}",
            String::from_utf8_lossy(&answer)
        ))?;
    }
    drop(down_write);
    let status = wait_child(&mut child, &term, ui)?;
    anyhow::ensure!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "the child {}",
        sys::describe(status)
    );
    out_line(format_args!(
        "parent: {} over two pipes",
        ui::counted(rounds, "round trip")
    ))?;
    Ok(0)
}

/// Lines from a descriptor, read a buffer at a time.
struct LineReader<'a> {
    fd: BorrowedFd<'a>,
    buf: Vec<u8>,
    ended: bool,
}

impl<'a> LineReader<'a> {
    fn new(fd: BorrowedFd<'a>) -> Self {
        LineReader {
            fd,
            buf: Vec::new(),
            ended: false,
        }
    }

    fn next_line(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                return Ok(Some(line));
            }
            if self.ended {
                return Ok((!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf)));
            }
            let mut chunk = [0u8; 4096];
            match nix::unistd::read(self.fd, &mut chunk) {
                Ok(0) => self.ended = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(Errno::EINTR) => {}
                Err(errno) => {
                    return Err(SysError {
                        call: "read",
                        errno,
                    })
                    .context("cannot read from the pipe");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// writers: atomic writes

fn many_writers(n: u32, size: usize, records: u32, ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    out_line(format_args!(
        "{}, {} of {} each (PIPE_BUF is {PIPE_BUF})",
        ui::counted(n, "writer"),
        ui::counted(records, "record"),
        ui::counted(size as u64, "byte")
    ))?;
    let Pipe { read, write } = pipe::pipe(false)?;
    let mut children = Vec::new();
    for w in 0..n {
        children.push(sys::fork(|| {
            sys::close_in_child(&read);
            // Every byte of a record is this writer's mark: a record holding two marks is torn.
            let record = vec![b'!' + w as u8; size];
            for _ in 0..records {
                if let Err(e) = write_all(write.as_fd(), &record, None) {
                    return child_failed(ui, e);
                }
            }
            0
        })?);
    }
    drop(write);
    let (mut whole, mut torn, mut slot_len) = (0u64, 0u64, 0usize);
    let mut marks: Option<u8> = None;
    let mut mixed = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let k = read_fd(read.as_fd(), &mut buf, &term)?;
        if k == 0 {
            break;
        }
        for &b in &buf[..k] {
            match marks {
                None => marks = Some(b),
                Some(m) if m != b => mixed = true,
                _ => {}
            }
            slot_len += 1;
            if slot_len == size {
                if mixed {
                    torn += 1
                } else {
                    whole += 1
                }
                slot_len = 0;
                marks = None;
                mixed = false;
            }
        }
    }
    let mut failed = 0u32;
    for child in &mut children {
        if !matches!(wait_child(child, &term, ui)?, WaitStatus::Exited(_, 0)) {
            failed += 1;
        }
    }
    ui.meaning(&all_reaped(n, "writer"));
    out_line(format_args!(
        "received {}: {whole} whole, {torn} torn",
        ui::counted(whole + torn, "record")
    ))?;
    let bytes = ui::counted(size as u64, "byte");
    if size <= PIPE_BUF {
        out_line(format_args!(
            "each write of {bytes} (at most PIPE_BUF) is atomic: records never interleave"
        ))?;
    } else {
        out_line(format_args!(
            "a write of {bytes} (more than PIPE_BUF) may be split: other writers' bytes can land in between"
        ))?;
    }
    anyhow::ensure!(failed == 0, "{} failed", ui::counted(failed, "writer"));
    anyhow::ensure!(
        whole + torn == u64::from(n) * u64::from(records) && slot_len == 0,
        "the reader got {}, not the {} written",
        ui::counted((whole + torn) * size as u64 + slot_len as u64, "byte"),
        u64::from(n) * u64::from(records) * size as u64
    );
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// readers: one writer, several readers

/// Record `number` of `size` bytes: the number (8 bytes, native order), then bytes that depend
/// on the number and their place, so that a record made of two records' pieces shows.
fn numbered_record(number: u64, size: usize) -> Vec<u8> {
    let mut record = vec![0u8; size];
    record[..8].copy_from_slice(&number.to_ne_bytes());
    for (i, b) in record.iter_mut().enumerate().skip(8) {
        *b = record_byte(number, i);
    }
    record
}

/// The number of a whole record of `records`, or None if it is short or torn.
fn record_number(bytes: &[u8], size: usize, records: u32) -> Option<u32> {
    if bytes.len() != size {
        return None;
    }
    let number = u64::from_ne_bytes(bytes[..8].try_into().ok()?);
    let whole = bytes
        .iter()
        .enumerate()
        .skip(8)
        .all(|(i, &b)| b == record_byte(number, i));
    (number < u64::from(records) && whole).then_some(number as u32)
}

/// Byte `i` (from 8 on) of record `number`.
fn record_byte(number: u64, i: usize) -> u8 {
    (number as usize).wrapping_mul(31).wrapping_add(i) as u8
}

/// A reader's report: messages of exactly PIPE_BUF bytes, each one write, so that the reports of
/// several readers on one pipe never interleave: `[reader, torn, count, number...]` as
/// native-endian u32.
const REPORT: usize = PIPE_BUF;
const REPORT_NUMBERS: usize = REPORT / 4 - 3;

fn report_messages(reader: u32, torn: u32, numbers: &[u32]) -> Vec<Vec<u8>> {
    let mut chunks: Vec<&[u32]> = numbers.chunks(REPORT_NUMBERS).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    chunks
        .into_iter()
        .map(|chunk| {
            let mut message = Vec::with_capacity(REPORT);
            for word in [reader, torn, chunk.len() as u32].iter().chain(chunk) {
                message.extend_from_slice(&word.to_ne_bytes());
            }
            message.resize(REPORT, 0);
            message
        })
        .collect()
}

/// In a reader: read one record's size at a time until end of file, then report.
fn reader_child(
    reader: u32,
    records: u32,
    size: usize,
    data: BorrowedFd<'_>,
    reports: BorrowedFd<'_>,
) -> anyhow::Result<()> {
    let (mut numbers, mut torn) = (Vec::new(), 0u32);
    let mut buf = vec![0u8; size];
    loop {
        let n = match nix::unistd::read(data, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(errno) => {
                return Err(SysError {
                    call: "read",
                    errno,
                })
                .context("cannot read from the pipe");
            }
        };
        match record_number(&buf[..n], size, records) {
            Some(number) => numbers.push(number),
            None => torn += 1,
        }
    }
    for message in report_messages(reader, torn, &numbers) {
        write_all(reports, &message, None)?;
    }
    Ok(())
}

fn many_readers(n: u32, records: u32, size: usize, ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    out_line(format_args!(
        "{}, {} of {} each (PIPE_BUF is {PIPE_BUF})",
        ui::counted(n, "reader"),
        ui::counted(records, "record"),
        ui::counted(size as u64, "byte")
    ))?;
    ui.step(
        1,
        "create two pipes: one for the records, one for the readers' reports",
    );
    let Pipe {
        read: data_read,
        write: data_write,
    } = pipe::pipe(false)?;
    ui.call(
        "pipe(records)",
        format!(
            "0: fd[0] = {} (read end), fd[1] = {} (write end)",
            fd_number(&data_read),
            fd_number(&data_write)
        ),
    );
    let Pipe {
        read: reports_read,
        write: reports_write,
    } = pipe::pipe(false)?;
    ui.call(
        "pipe(reports)",
        format!(
            "0: fd[0] = {} (read end), fd[1] = {} (write end)",
            fd_number(&reports_read),
            fd_number(&reports_write)
        ),
    );
    ui.step(
        2,
        &format!(
            "fork {}: each shares the read end of the records' pipe",
            ui::counted(n, "reader")
        ),
    );
    // Declared after the pipes, so dropped before them: on an early return (a signal, say) the
    // readers are killed first, and none sees end of file and reports into a closed pipe.
    let mut children = Vec::new();
    for r in 0..n {
        let child = sys::fork(|| {
            sys::close_in_child(&data_write);
            sys::close_in_child(&reports_read);
            match reader_child(
                r + 1,
                records,
                size,
                data_read.as_fd(),
                reports_write.as_fd(),
            ) {
                Ok(()) => 0,
                Err(e) => child_failed(ui, e),
            }
        })?;
        ui.call("fork()", format!("{}: reader {}", child.pid(), r + 1));
        children.push(child);
    }
    drop((data_read, reports_write));
    ui.meaning("the parent closes its read end of the records and its write end of the reports");
    ui.step(
        3,
        &format!(
            "write {}, one write({}, record, {size}) each",
            ui::counted(records, "record"),
            fd_number(&data_write)
        ),
    );
    ui.meaning(&format!(
        "{size} bytes is at most PIPE_BUF: each record lands whole; each reader's read(fd, buf, {size}) takes exactly one, and the scheduler decides which reader it is"
    ));
    for number in 0..records {
        write_all(
            data_write.as_fd(),
            &numbered_record(u64::from(number), size),
            Some(&term),
        )?;
    }
    let w = fd_number(&data_write);
    drop(data_write);
    ui.call(&format!("close({w})"), 0);
    ui.meaning("once the pipe is empty, every reader's read returns 0: end of file");
    ui.step(
        4,
        &format!("read the reports, {REPORT} bytes each (PIPE_BUF: never interleaved), and reap the readers"),
    );
    let mut seen = vec![0u32; records as usize];
    let mut got = vec![0u64; n as usize];
    let mut reported = vec![false; n as usize];
    let mut torn = 0u64;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 * REPORT];
    loop {
        let k = read_fd(reports_read.as_fd(), &mut buf, &term)?;
        if k == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..k]);
        while pending.len() >= REPORT {
            let message: Vec<u32> = pending
                .drain(..REPORT)
                .collect::<Vec<u8>>()
                .chunks_exact(4)
                .map(|w| u32::from_ne_bytes(w.try_into().expect("4 bytes")))
                .collect();
            let (reader, count) = (message[0] as usize, message[2] as usize);
            anyhow::ensure!(
                (1..=n as usize).contains(&reader) && count <= REPORT_NUMBERS,
                "a report makes no sense: reader {reader}, {}",
                ui::counted(count as u64, "number")
            );
            reported[reader - 1] = true;
            torn += u64::from(message[1]);
            got[reader - 1] += count as u64;
            for &number in &message[3..3 + count] {
                if let Some(times) = seen.get_mut(number as usize) {
                    *times += 1;
                }
            }
        }
    }
    let mut failed = 0u32;
    for child in &mut children {
        if !matches!(wait_child(child, &term, ui)?, WaitStatus::Exited(_, 0)) {
            failed += 1;
        }
    }
    ui.meaning(&all_reaped(n, "reader"));
    for (r, count) in got.iter().enumerate() {
        out_line(format_args!(
            "reader {} read {}",
            r + 1,
            ui::counted(*count, "record")
        ))?;
    }
    let total: u64 = got.iter().sum();
    let lost = seen.iter().filter(|&&t| t == 0).count();
    let duplicated: u64 = seen.iter().map(|&t| u64::from(t.saturating_sub(1))).sum();
    out_line(format_args!(
        "sent {}, the readers got {total}: {lost} lost, {duplicated} duplicated, {torn} torn",
        ui::counted(records, "record")
    ))?;
    anyhow::ensure!(failed == 0, "{} failed", ui::counted(failed, "reader"));
    anyhow::ensure!(
        reported.iter().all(|&r| r),
        "not every reader reported what it read"
    );
    anyhow::ensure!(
        total == u64::from(records) && lost == 0 && duplicated == 0 && torn == 0,
        "the records did not each reach exactly one reader"
    );
    out_line(format_args!(
        "each read of {} took one whole record: each record went to exactly one reader",
        ui::counted(size as u64, "byte")
    ))?;
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// fifo-write / fifo-read: named pipes

/// A FIFO held by its handle ([`pipe::FoundFifo`]), made by this run or found at the path. It
/// is removed at the end, on every way out, only if this run made it, and only while the path
/// still names that very FIFO.
struct Fifo {
    path: PathBuf,
    found: pipe::FoundFifo,
    created: bool,
}

impl Fifo {
    /// The FIFO at `path`, or a new one made there (mode 0600) if nothing is there.
    fn find_or_make(path: &std::path::Path, ui: &Ui) -> anyhow::Result<Fifo> {
        let shown = path.display().to_string();
        // Twice at most: the other end, started at the same moment, may make it in between.
        for _ in 0..2 {
            // What is there may be another user's (a link, a file): then the hint says so.
            let at = match pipe::find_fifo(path) {
                Ok(at) => at,
                Err(err) => return Err(others_hint(err, path, pipe::owner_of(path))),
            };
            match at {
                pipe::AtPath::Fifo(found) => {
                    narrate_handle(&found, path, ui);
                    if let Some(warning) = found.exposure(path) {
                        ui.warn(&warning);
                    }
                    return Ok(Fifo {
                        path: path.to_path_buf(),
                        found,
                        created: false,
                    });
                }
                pipe::AtPath::Nothing => match pipe::make_fifo(path, 0o600) {
                    Ok(found) => {
                        ui.call(&format!("mkfifo({shown:?}, 0600)"), 0);
                        narrate_handle(&found, path, ui);
                        ui.note(&format!("created FIFO {shown} (removed again at the end)"));
                        return Ok(Fifo {
                            path: path.to_path_buf(),
                            found,
                            created: true,
                        });
                    }
                    Err(err) if ipc_lab::sys::errno_of(&err) == Some(Errno::EEXIST) => continue,
                    Err(err) if ipc_lab::sys::errno_of(&err).is_some() => {
                        return Err(err).hint(format!(
                            "give a path in a directory you can write to, such as /tmp/lab-{}.fifo",
                            ipc_lab::sys::login_name()
                        ));
                    }
                    Err(err) => return Err(err),
                },
            }
        }
        anyhow::bail!("{shown} keeps changing: another process makes and removes it")
    }

    /// Open one end (`write`: the writing one) of this very FIFO; open waits until the other end
    /// is opened too, or a termination signal ends the wait.
    fn open(&self, write: bool, term: &Termination, ui: &Ui) -> anyhow::Result<OwnedFd> {
        let (what, other, flag) = if write {
            ("write", "reader", "O_WRONLY")
        } else {
            ("read", "writer", "O_RDONLY")
        };
        ui.note(&format!(
            "opening {} to {what}: open waits until a {other} opens it",
            self.path.display()
        ));
        let opened = self.found.open(write, false).map_err(|err| {
            // Refused: another user's FIFO that its mode keeps closed to this one.
            if ipc_lab::sys::errno_of(&err) == Some(Errno::EACCES) {
                others_hint(err, &self.path, Some(self.found.owner))
            } else {
                err
            }
        })?;
        let Some(fd) = opened else {
            return Err(term.interrupted());
        };
        ui.call(
            &format!("open({:?}, {flag})", self.found.reopen_path()),
            fd_number(&fd),
        );
        Ok(fd)
    }
}

/// An error about a FIFO path that another user owns (`owner`, when known) gets the hint to pick
/// a name of one's own: `another user has /tmp/lab.fifo: pick another name, such as
/// /tmp/lab-alice.fifo`, with this user's login name. Others pass as they are.
fn others_hint(err: anyhow::Error, path: &std::path::Path, owner: Option<u32>) -> anyhow::Error {
    let me = ipc_lab::sys::effective_uid();
    if owner.is_none_or(|uid| uid == me) {
        return err;
    }
    let user = ipc_lab::sys::user_name(me).unwrap_or_else(|| format!("uid{me}"));
    let name = |stem: &std::ffi::OsStr| {
        let stem = stem.to_string_lossy();
        match path.extension() {
            Some(ext) => format!("{stem}-{user}.{}", ext.to_string_lossy()),
            None => format!("{stem}-{user}"),
        }
    };
    let suggested = match path.file_stem() {
        Some(stem) => path.with_file_name(name(stem)),
        None => std::path::PathBuf::from(format!("{}-{user}", path.display())),
    };
    Err::<(), _>(err)
        .hint(format!(
            "another user has {}: pick another name, such as {}",
            path.display(),
            suggested.display()
        ))
        .unwrap_err()
}

/// `--explain`: the handle a FIFO is held by, and why.
fn narrate_handle(found: &pipe::FoundFifo, path: &std::path::Path, ui: &Ui) {
    ui.call(
        &format!("open({:?}, O_PATH|O_NOFOLLOW)", path.display().to_string()),
        found.handle_number(),
    );
    let whose = if found.owner == ipc_lab::sys::effective_uid() {
        "yours".to_string()
    } else {
        format!("uid {}'s", found.owner)
    };
    ui.meaning(&format!(
        "a handle on the object itself, never on a link; fstat: a FIFO, {whose}, mode {:04o}. \
         Its ends are opened through the handle, so nobody can swap the path in between",
        found.mode
    ));
}

impl Drop for Fifo {
    fn drop(&mut self) {
        if self.created && self.found.is_at(&self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn fifo_write(path: &std::path::Path, messages: &[String], ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    let fifo = Fifo::find_or_make(path, ui)?;
    let fd = fifo.open(true, &term, ui)?;
    if messages.is_empty() {
        // Standard input, copied as it is, a chunk at a time as it comes.
        let stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        loop {
            let n = read_when_ready(stdin.as_fd(), &mut buf, &term)?;
            if n == 0 {
                break;
            }
            write_all(fd.as_fd(), &buf[..n], Some(&term))?;
        }
    } else {
        for m in messages {
            write_all(fd.as_fd(), format!("{m}\n").as_bytes(), Some(&term))?;
        }
    }
    drop(fd);
    ui.meaning("closed: the reader sees end of file");
    Ok(0)
}

fn fifo_read(path: &std::path::Path, ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    let fifo = Fifo::find_or_make(path, ui)?;
    let fd = fifo.open(false, &term, ui)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = read_when_ready(fd.as_fd(), &mut buf, &term)?;
        if n == 0 {
            break;
        }
        ui::out_raw(&buf[..n])?;
    }
    ui.meaning("end of file: every writer has closed the FIFO");
    drop(fifo);
    Ok(0)
}
