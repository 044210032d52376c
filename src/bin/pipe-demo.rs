//! pipe-demo: the lecture notes' pipe program (section B3), and one subcommand for each idea
//! of the section: pipe() failing, dup(), the shell's `|` built by hand, the capacity, blocking,
//! end of file, a broken pipe, half and full duplex, atomic writes, several readers of one pipe,
//! a pipe's missing name, and named pipes. Each subcommand is a lesson file of `src/pipe/` (the
//! notes' program is `src/pipe/hello.rs`); this file holds the command line and the dispatch.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, parser::ValueSource};
use ipc_lab::cli::{self, Common};
use ipc_lab::pipe::{
    PIPE_BUF, anon, blocking, broken, capacity, dup, duplex, eof, fail, fifo, hello, readers,
    redirect, writers,
};
use ipc_lab::ui::{Ui, UsageError};

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

impl From<HelloArgs> for hello::Args {
    fn from(h: HelloArgs) -> Self {
        hello::Args { message: h.message }
    }
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
        None => hello::run(&args.hello.into(), &ui),
        Some(Command::Hello(h)) => hello::run(&h.into(), &ui),
        Some(Command::Fail) => fail::run(&fail::Args, &ui),
        Some(Command::Dup) => dup::run(&dup::Args, &ui),
        Some(Command::Anon) => anon::run(&anon::Args, &ui),
        Some(Command::Redirect { first, second }) => {
            redirect::run(&redirect::Args { first, second }, &ui)
        }
        Some(Command::Capacity { size, write_size }) => {
            capacity::run(&capacity::Args { size, write_size }, &ui)
        }
        Some(Command::Blocking { delay }) => blocking::run(&blocking::Args { delay }, &ui),
        Some(Command::Eof {
            keep_write_end,
            timeout,
        }) => eof::run(
            &eof::Args {
                keep_write_end,
                timeout,
            },
            &ui,
        ),
        Some(Command::Broken { ignore_sigpipe }) => {
            broken::run(&broken::Args { ignore_sigpipe }, &ui)
        }
        Some(Command::Duplex { rounds }) => duplex::run(&duplex::Args { rounds }, &ui),
        Some(Command::Writers {
            writers,
            record_size,
            records,
        }) => {
            let record_size = record_size as usize;
            let args = writers::Args {
                writers,
                record_size,
                records,
            };
            writers::run(&args, &ui)
        }
        Some(Command::Readers {
            readers,
            records,
            record_size,
        }) => {
            let record_size = record_size as usize;
            let args = readers::Args {
                readers,
                records,
                record_size,
            };
            readers::run(&args, &ui)
        }
        Some(Command::FifoWrite { path, messages }) => {
            let end = fifo::End::Write { messages };
            fifo::run(&fifo::Args { path, end }, &ui)
        }
        Some(Command::FifoRead { path }) => {
            let end = fifo::End::Read;
            fifo::run(&fifo::Args { path, end }, &ui)
        }
    };
    match result {
        Ok(code) if code != 0 => ExitCode::from(code.clamp(1, 255) as u8),
        other => ui.finish(other.map(|_| ())),
    }
}
