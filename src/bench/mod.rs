//! Measuring the notes' speed claims (sections B1 and B2): shared memory is "very fast" (the
//! kernel is involved only at set-up), message passing "inefficient" (a system call for every
//! send and receive).
//!
//! Two processes (a parent and a forked child, never threads) exchange messages through one
//! [`Mech`]anism, built on the library's own types: a System V segment with a sequence flag
//! both sides spin on, or with POSIX semaphores in it; two pipes; a Unix socket pair; two POSIX
//! queues; or SIGUSR1 and `sigwaitinfo`. Every data path copies the message in and out, as
//! write and read do, so the comparison is fair. Both processes are placed by [`Pin`]: on one
//! CPU (they take turns), on two (every message wakes the other CPU), or wherever the
//! scheduler likes.
//!
//! The lessons, each run by [`run`] (`ipc-bench`) in the order asked for:
//!
//! - `floor.rs`: what no IPC can beat: a clock read, a null system call, a pipe's write and read
//!   inside one process, and memcpy.
//! - `latency.rs`: ping-pong; every round trip timed with the monotonic clock after a warm-up.
//! - `throughput.rs`: a one-way stream the receiver copies out, with one acknowledgement at
//!   the end.
//!
//! Beside them: here, the shared types (what is measured, where, a row of results, one end of
//! a channel, stopping early); `measure.rs`, the run as `ipc-bench` makes it; `pair.rs`, the
//! two processes of one measurement (fork, place, run both sides, reap); one file per
//! mechanism's loop: `shm_spin.rs` and `shm_sem.rs` over the rings of `ring.rs`, `pipe.rs`,
//! `socket.rs`, `mq.rs`, `signal.rs`; `stats.rs`, the percentiles; `explain.rs`, what
//! `--explain` says; `formats.rs`, the table, JSON and CSV; `plot.rs`, the chart.

use std::fmt;
use std::time::Duration;

use nix::sys::resource::{UsageWho, getrusage};

use crate::sys::Stopped;

mod explain;
mod floor;
mod formats;
mod latency;
mod measure;
mod mq;
mod pair;
mod pipe;
mod plot;
mod ring;
mod shm_sem;
mod shm_spin;
mod signal;
mod socket;
mod stats;
mod throughput;

pub use formats::Format;
pub use measure::{Args, run};
use stats::Stats;

/// How the two processes talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Mech {
    /// A System V segment; both sides spin on a sequence flag (with a pause hint)
    ShmSpin,
    /// A System V segment with process-shared POSIX semaphores in it
    ShmSem,
    /// Two pipes, one each way
    Pipe,
    /// A Unix stream socket pair
    Socket,
    /// Two POSIX message queues, one each way
    Mq,
    /// SIGUSR1 each way, taken with sigwaitinfo (latency only: a signal carries no data)
    Signal,
}

impl Mech {
    pub const ALL: [Mech; 6] = [
        Mech::ShmSpin,
        Mech::ShmSem,
        Mech::Pipe,
        Mech::Socket,
        Mech::Mq,
        Mech::Signal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mech::ShmSpin => "shm-spin",
            Mech::ShmSem => "shm-sem",
            Mech::Pipe => "pipe",
            Mech::Socket => "socket",
            Mech::Mq => "mq",
            Mech::Signal => "signal",
        }
    }

    /// Whether a message of this mechanism carries data (a signal does not).
    pub(crate) fn carries_data(self) -> bool {
        self != Mech::Signal
    }
}

impl fmt::Display for Mech {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Latency,
    Throughput,
    Floor,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Latency => "latency",
            Mode::Throughput => "throughput",
            Mode::Floor => "floor",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The CPUs this process could use when it started measuring (it pins itself later).
fn usable_cpus() -> &'static [usize] {
    static CPUS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    CPUS.get_or_init(crate::sys::allowed_cpus)
}

/// Run this process on `cpu`, or on every usable CPU.
fn place(cpu: Option<usize>) -> anyhow::Result<()> {
    match cpu {
        Some(cpu) => crate::sys::pin_to_set(&[cpu]),
        None => crate::sys::pin_to_set(usable_cpus()),
    }
}

/// Where the two processes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Pin {
    /// Wherever the scheduler puts them
    None,
    /// Both on one CPU: they take turns, and a message never has to wake another CPU
    Same,
    /// Each on a CPU of its own: every message wakes the other CPU
    Cross,
}

impl Pin {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Pin::None => "none",
            Pin::Same => "same",
            Pin::Cross => "cross",
        }
    }

    /// The CPUs for the parent and the child, or why this placement is impossible here.
    fn cpus(self) -> Result<(Option<usize>, Option<usize>), String> {
        let cpus = usable_cpus();
        match self {
            Pin::None => Ok((None, None)),
            Pin::Same => cpus
                .first()
                .map(|c| (Some(*c), Some(*c)))
                .ok_or_else(|| "no CPU is allowed to this process".to_string()),
            Pin::Cross if cpus.len() >= 2 => Ok((Some(cpus[0]), Some(cpus[1]))),
            Pin::Cross => Err(format!(
                "needs two CPUs, and this process may use {}",
                cpus.len()
            )),
        }
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One measurement: a row of the table, a line of JSON or CSV.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    /// The mechanism, or for the floor what was timed (`clock`, `syscall`, `pipe-self`, `memcpy`).
    pub what: String,
    pub mode: Mode,
    /// Bytes per message (0: a signal, which carries none; the clock and the system call).
    pub size: usize,
    /// Timed round trips, messages or operations.
    pub count: u64,
    pub pin: Option<Pin>,
    /// Latency and the floor: per round trip or operation, in nanoseconds.
    pub stats: Option<Stats>,
    /// Throughput.
    pub msgs_per_s: Option<f64>,
    pub mb_per_s: Option<f64>,
    /// CPU time (user + system) of both processes per message or round trip.
    pub cpu_ns_per_msg: Option<f64>,
    /// Why there is no figure: the mechanism cannot do this under the system's limits.
    pub unsupported: Option<String>,
}

impl Row {
    fn new(what: &str, mode: Mode, size: usize, pin: Option<Pin>) -> Row {
        Row {
            what: what.to_string(),
            mode,
            size,
            count: 0,
            pin,
            stats: None,
            msgs_per_s: None,
            mb_per_s: None,
            cpu_ns_per_msg: None,
            unsupported: None,
        }
    }

    fn unsupported(mut self, why: String) -> Row {
        self.unsupported = Some(why);
        self
    }
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    pub mechs: Vec<Mech>,
    pub sizes: Vec<usize>,
    pub pins: Vec<Pin>,
    /// Timed round trips (latency), or messages (throughput), per row.
    pub count: u64,
    /// Round trips or messages before timing starts.
    pub warmup: u64,
}

/// The most round trips a latency row times: each one's time is kept, 8 bytes each.
const MAX_SAMPLES: u64 = 10_000_000;

/// The largest message size the tool takes (the shared buffers hold a few of them).
pub const MAX_SIZE: usize = 16 << 20;

// ---------------------------------------------------------------------------------------------
// The transports: one end each, after the fork

/// One side of a two-way channel: `send` copies a message in, `recv` copies one out.
trait End {
    fn send(&mut self, msg: &[u8]) -> anyhow::Result<()>;
    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<()>;
}

// ---------------------------------------------------------------------------------------------
// Stopping early

/// The error a measurement stops with when the other process ends before it should (killed,
/// say): a pipe or socket at EOF, or the child reported by SIGCHLD while the parent waited.
#[derive(Debug)]
struct PeerGone;

impl fmt::Display for PeerGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the other process ended before the measurement was over")
    }
}

impl std::error::Error for PeerGone {}

/// How often the parent's blocking waits are interrupted to look at the stop flag and at the
/// child (see [`crate::signal::Ticker`]): a signal can come just before a wait starts.
const TICK: Duration = Duration::from_millis(100);

/// In the parent, woken while waiting on the child: fails with [`PeerGone`] if the child has
/// ended and the wait cannot be met (`ready` says whether it can, looked at once more now).
/// In the child this never fails: should the parent die, PR_SET_PDEATHSIG ends the child.
fn check_peer(mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    if crate::signal::child_ended() && !ready() {
        return Err(PeerGone.into());
    }
    Ok(())
}

/// Fail with [`Stopped`] once a termination signal has arrived. The loops call it after every
/// round trip or message: one relaxed load of a flag, a nanosecond beside the microseconds a
/// round trip takes, and on a busy machine, where a round trip may wait out another process's
/// time slice, the run still ends within one round trip of the signal.
fn check_stop() -> anyhow::Result<()> {
    if crate::sys::termination_received().is_some() {
        return Err(Stopped.into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Running one measurement

/// The CPU time (user + system) this process has used so far, in nanoseconds.
fn own_cpu_ns() -> f64 {
    getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 * 1e9 + tv.tv_usec() as f64 * 1e3;
        t(u.user_time()) + t(u.system_time())
    })
}

/// What the parent's side of an exchange hands back.
struct Timed {
    /// Latency: every timed round trip in ns. Throughput: empty.
    samples: Vec<f64>,
    /// From the first timed message to the acknowledgement.
    elapsed: Duration,
    /// The CPU time (user + system) both processes spent in the timed part, in ns: the
    /// parent's here, the child's added once it has reported it.
    cpu_ns: f64,
}

/// The two sides of a measurement, given their ends.
trait Exchange {
    /// The parent: warm up, then time.
    fn parent(&self, end: &mut dyn End, msg: &mut [u8]) -> anyhow::Result<Timed>;
    /// The child: answer; the CPU time it spent after the warm-up, in ns.
    fn child(&self, end: &mut dyn End, msg: &mut [u8]) -> anyhow::Result<f64>;
}
