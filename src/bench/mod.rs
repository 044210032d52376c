//! Measuring the notes' speed claims (sections B1 and B2): shared memory is "very fast" (the
//! kernel is involved only at set-up), message passing "inefficient" (a system call for every
//! send and receive).
//!
//! Two processes (a parent and a forked child, never threads) exchange messages through one
//! [`Mech`]anism, built on the library's own types: a System V [`Segment`] with a sequence flag
//! both sides spin on, or with POSIX semaphores ([`SharedSemaphore`]) in it; two pipes; a Unix
//! socket pair; two POSIX queues ([`Mailbox`]); or SIGUSR1 and `sigwaitinfo`. Every data path
//! copies the message in and out, as write and read do, so the comparison is fair.
//!
//! - [`latency`]: ping-pong; every round trip timed with the monotonic clock after a warm-up.
//! - [`throughput`]: a one-way stream the receiver copies out, with one acknowledgement at the
//!   end.
//! - [`floor`]: what no IPC can beat: a clock read, a null system call, a pipe's write and read
//!   inside one process, and memcpy.
//!
//! Both processes are placed by [`Pin`]: on one CPU (they take turns), on two (every message
//! wakes the other CPU), or wherever the scheduler likes.

use std::cell::Cell;
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::{SigSet, Signal};

use crate::mq::{Access as MqAccess, Mailbox, OpenOptions, QueueName};
use crate::pipe;
use crate::shm::{Access, Attachment, CreateOptions, Segment};
use crate::sync::SharedSemaphore;
use crate::sys::Child;
use crate::sys::{Stopped, SysError};
use crate::ui::HintExt as _;

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
    pub fn carries_data(self) -> bool {
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
    pub fn name(self) -> &'static str {
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
    pub fn name(self) -> &'static str {
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
pub struct Row {
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

/// Order statistics of timed samples, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub min: f64,
    pub median: f64,
    pub p99: f64,
    pub p999: f64,
    pub mean: f64,
    /// How many samples they come from.
    pub samples: usize,
}

impl Stats {
    /// From samples in nanoseconds (sorted here); None when there are none.
    pub fn of(samples: &mut [f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        // The nearest-rank percentile: the smallest sample with at least p% at or below it.
        let rank = |p: f64| {
            let n = samples.len();
            // (less a hair: 0.999 * 1000 is 999.0000000000001 in binary floating point)
            let k = ((p / 100.0) * n as f64 - 1e-9).ceil() as usize;
            samples[k.clamp(1, n) - 1]
        };
        Some(Stats {
            min: samples[0],
            median: rank(50.0),
            p99: rank(99.0),
            p999: rank(99.9),
            mean: samples.iter().sum::<f64>() / samples.len() as f64,
            samples: samples.len(),
        })
    }

    /// The 99th percentile, if it means more than "the slowest sample": from 100 samples on.
    pub fn p99_shown(&self) -> Option<f64> {
        (self.samples >= 100).then_some(self.p99)
    }

    /// The 99.9th percentile, from 1000 samples on.
    pub fn p999_shown(&self) -> Option<f64> {
        (self.samples >= 1000).then_some(self.p999)
    }
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mechs: Vec<Mech>,
    pub sizes: Vec<usize>,
    pub pins: Vec<Pin>,
    /// Timed round trips (latency), or messages (throughput), per row.
    pub count: u64,
    /// Round trips or messages before timing starts.
    pub warmup: u64,
}

/// The most round trips a latency row times: each one's time is kept, 8 bytes each.
pub const MAX_SAMPLES: u64 = 10_000_000;

/// The largest message size the tool takes (the shared buffers hold a few of them).
pub const MAX_SIZE: usize = 16 << 20;

// ---------------------------------------------------------------------------------------------
// The transports: one end each, after the fork

/// One side of a two-way channel: `send` copies a message in, `recv` copies one out.
trait End {
    fn send(&mut self, msg: &[u8]) -> anyhow::Result<()>;
    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<()>;
}

/// A byte stream (pipe or socket): write it all, read exactly a message. Each process owns
/// only the ends it uses, so that the other's end closing is seen (EOF, EPIPE) at once.
struct Stream<W, R> {
    out: W,
    inp: R,
}

impl<W: Write, R: Read> End for Stream<W, R> {
    fn send(&mut self, msg: &[u8]) -> anyhow::Result<()> {
        let mut sent = 0;
        while sent < msg.len() {
            match self.out.write(&msg[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => check_stop()?,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)) => {
                    return Err(PeerGone.into());
                }
                Err(e) => return Err(crate::sys::io_error("write", e)),
            }
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<()> {
        let mut got = 0;
        while got < buf.len() {
            match self.inp.read(&mut buf[got..]) {
                Ok(0) => return Err(PeerGone.into()),
                Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => {
                    return Err(PeerGone.into());
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => check_stop()?,
                Err(e) => return Err(crate::sys::io_error("read", e)),
            }
        }
        Ok(())
    }
}

/// Two POSIX queues: one to send on, one to receive from.
struct Queues<'a> {
    out: &'a Mailbox,
    inp: &'a Mailbox,
    /// mq_receive wants a buffer of the queue's whole message size.
    scratch: Vec<u8>,
}

impl End for Queues<'_> {
    fn send(&mut self, msg: &[u8]) -> anyhow::Result<()> {
        loop {
            match self.out.send_raw(msg) {
                Ok(()) => return Ok(()),
                Err(Errno::EINTR) => {
                    check_stop()?;
                    let room = |a: crate::mq::Attributes| a.current_messages < a.max_messages;
                    check_peer(|| self.out.attributes().is_ok_and(room))?;
                }
                Err(errno) => {
                    return Err(SysError {
                        call: "mq_send",
                        errno,
                    }
                    .into());
                }
            }
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<()> {
        loop {
            match self.inp.receive_raw(&mut self.scratch) {
                Ok(n) => {
                    anyhow::ensure!(n == buf.len(), "received {n} bytes, expected {}", buf.len());
                    buf.copy_from_slice(&self.scratch[..n]);
                    return Ok(());
                }
                Err(Errno::EINTR) => {
                    check_stop()?;
                    check_peer(|| self.inp.attributes().is_ok_and(|a| a.current_messages > 0))?;
                }
                Err(errno) => {
                    return Err(SysError {
                        call: "mq_receive",
                        errno,
                    }
                    .into());
                }
            }
        }
    }
}

/// Where things are in a shared-memory channel, in bytes.
mod lay {
    /// Per direction: messages written (by the writer), and messages copied out (by the
    /// reader), each word on a cache line of its own.
    pub const SEQ: [usize; 2] = [0, 64];
    pub const DONE: [usize; 2] = [128, 192];
    /// Per direction (shm-sem): "full" (messages waiting) and "empty" (free slots).
    pub const FULL: [usize; 2] = [256, 320];
    pub const EMPTY: [usize; 2] = [384, 448];
    /// The data: a ring of slots for each direction.
    pub const DATA: usize = 4096;
}

/// How big each direction's ring is, per mechanism. A spinning reader copies a message out
/// while it is still in the cache it was written through, so a small ring (16 KiB, four 4 KiB
/// slots) streams fastest: a big one is written to memory and read back. A sleeping reader
/// needs room to run behind: with a few slots the writer would block, and pay a wake-up,
/// every few messages.
#[derive(Clone, Copy)]
struct Ring {
    /// The bytes a ring aims at: more slots for small messages, within the bounds below.
    bytes: usize,
    min_slots: usize,
    max_slots: usize,
}

const SPIN_RING: Ring = Ring {
    bytes: 16 << 10,
    min_slots: 2,
    max_slots: 256,
};
const SEM_RING: Ring = Ring {
    bytes: 256 << 10,
    min_slots: 8,
    max_slots: 256,
};

/// The shared-memory channel: in each direction a ring of message slots (see [`Ring`]).
/// Direction 0 is parent to child, 1 is child to parent.
struct ShmChannel {
    _segment: Segment,
    attachment: Attachment,
    /// The slot stride: the size rounded up to a cache line.
    stride: usize,
    /// Slots in each direction's ring.
    slots: usize,
}

impl ShmChannel {
    fn create(size: usize, ring: Ring) -> anyhow::Result<ShmChannel> {
        let stride = size.max(1).next_multiple_of(64);
        let slots = (ring.bytes / stride).clamp(ring.min_slots, ring.max_slots);
        let bytes = lay::DATA + 2 * slots * stride;
        let segment = Segment::create(&CreateOptions::private(bytes))
            .context("cannot create the benchmark's segment")?;
        let attachment = segment.id().attach(Access::ReadWrite)?;
        // The kernel may keep the segment after this process is killed, unless it is marked
        // now: it then goes with the last detach, whatever happens.
        segment.id().remove()?;
        Ok(ShmChannel {
            _segment: segment,
            attachment,
            stride,
            slots,
        })
    }

    fn seq(&self, dir: usize) -> &AtomicU64 {
        &self
            .attachment
            .as_atomics_u64()
            .expect("attached read-write")[lay::SEQ[dir] / 8]
    }

    fn slot(&self, dir: usize, n: u64) -> usize {
        lay::DATA + (dir * self.slots + (n as usize % self.slots)) * self.stride
    }
}

/// shm-spin: one end. Messages are numbered; the writer of direction d bumps SEQ[d] after
/// copying message n into its slot, and waits while the ring is full, which it knows from the
/// other side's acknowledgement word (`done[d]` = messages the reader has copied out).
struct SpinEnd<'a> {
    ch: &'a ShmChannel,
    /// The direction this end sends on.
    dir: usize,
    sent: u64,
    received: u64,
    /// The last counts seen of the other side: messages it has freed from this end's ring,
    /// and messages written into the ring this end reads.
    freed: u64,
    available: u64,
}

/// Spins (each with a pause hint) before giving the CPU away with sched_yield: on two CPUs the
/// other side answers well within them; on one CPU the other side cannot run until this one
/// yields, and spinning on would burn a whole time slice (milliseconds) per message.
const SPINS_PER_YIELD: u32 = 128;

/// Yields between two looks at the stop flag.
const YIELDS_PER_CHECK: u32 = 256;

fn spin_until(mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let mut spins = 0u32;
    while !ready() {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(SPINS_PER_YIELD) {
            let _ = nix::sched::sched_yield();
            if spins.is_multiple_of(SPINS_PER_YIELD * YIELDS_PER_CHECK) {
                check_stop()?;
                check_peer(&mut ready)?;
            }
        }
    }
    Ok(())
}

impl ShmChannel {
    /// Messages the reader of direction `dir` has copied out (it frees their slots).
    fn done(&self, dir: usize) -> &AtomicU64 {
        &self
            .attachment
            .as_atomics_u64()
            .expect("attached read-write")[lay::DONE[dir] / 8]
    }
}

impl End for SpinEnd<'_> {
    fn send(&mut self, msg: &[u8]) -> anyhow::Result<()> {
        let (ch, d) = (self.ch, self.dir);
        let sent = self.sent;
        // The reader's count is only looked at when the ring may be full: every look at a word
        // the other CPU writes costs a cache-line transfer.
        if sent - self.freed >= ch.slots as u64 {
            let mut freed = self.freed;
            spin_until(|| {
                freed = ch.done(d).load(Ordering::Acquire);
                sent - freed < ch.slots as u64
            })?;
            self.freed = freed;
        }
        ch.attachment.write_bytes(ch.slot(d, sent), msg)?;
        self.sent += 1;
        ch.seq(d).store(self.sent, Ordering::Release);
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<()> {
        let (ch, d) = (self.ch, 1 - self.dir);
        let want = self.received + 1;
        if self.available < want {
            let mut available = self.available;
            spin_until(|| {
                available = ch.seq(d).load(Ordering::Acquire);
                available >= want
            })?;
            self.available = available;
        }
        ch.attachment.read_bytes(ch.slot(d, self.received), buf)?;
        self.received = want;
        ch.done(d).store(want, Ordering::Release);
        Ok(())
    }
}

/// shm-sem: the same rings, with a "full" and an "empty" counting semaphore per direction.
struct SemEnd<'a> {
    ch: &'a ShmChannel,
    full: [SharedSemaphore<'a>; 2],
    empty: [SharedSemaphore<'a>; 2],
    dir: usize,
    sent: u64,
    received: u64,
}

/// `sem.wait()`, woken by a termination signal or by the child's end (when nothing will ever
/// be posted again).
fn sem_wait(sem: &SharedSemaphore) -> anyhow::Result<()> {
    loop {
        match sem.wait() {
            Ok(()) => return Ok(()),
            Err(Errno::EINTR) => {
                check_stop()?;
                // sem_wait may report EINTR even when a post came first: take that one.
                if crate::signal::child_ended() && sem.try_wait().is_ok() {
                    return Ok(());
                }
                check_peer(|| false)?;
            }
            Err(errno) => {
                return Err(SysError {
                    call: "sem_wait",
                    errno,
                }
                .into());
            }
        }
    }
}

fn sem_post(sem: &SharedSemaphore) -> anyhow::Result<()> {
    sem.post().map_err(|errno| {
        SysError {
            call: "sem_post",
            errno,
        }
        .into()
    })
}

impl End for SemEnd<'_> {
    fn send(&mut self, msg: &[u8]) -> anyhow::Result<()> {
        let d = self.dir;
        sem_wait(&self.empty[d])?;
        self.ch
            .attachment
            .write_bytes(self.ch.slot(d, self.sent), msg)?;
        self.sent += 1;
        sem_post(&self.full[d])
    }

    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<()> {
        let d = 1 - self.dir;
        sem_wait(&self.full[d])?;
        self.ch
            .attachment
            .read_bytes(self.ch.slot(d, self.received), buf)?;
        self.received += 1;
        sem_post(&self.empty[d])
    }
}

/// signal: SIGUSR1 to the other process, SIGUSR1 taken with sigwaitinfo. No data moves.
struct SignalEnd {
    peer: nix::unistd::Pid,
    set: SigSet,
}

impl End for SignalEnd {
    fn send(&mut self, _msg: &[u8]) -> anyhow::Result<()> {
        nix::sys::signal::kill(self.peer, Signal::SIGUSR1).map_err(|errno| SysError {
            call: "kill",
            errno,
        })?;
        Ok(())
    }

    fn recv(&mut self, _buf: &mut [u8]) -> anyhow::Result<()> {
        loop {
            match crate::signal::wait_info(&self.set) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => {
                    check_stop()?;
                    check_peer(|| {
                        crate::signal::pending().is_ok_and(|p| {
                            p.contains(&crate::signal::SigNum(Signal::SIGUSR1 as i32))
                        })
                    })?;
                }
                Err(errno) => {
                    return Err(SysError {
                        call: "sigwaitinfo",
                        errno,
                    }
                    .into());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stopping early

/// The error a measurement stops with when the other process ends before it should (killed,
/// say): a pipe or socket at EOF, or the child reported by SIGCHLD while the parent waited.
#[derive(Debug)]
pub(crate) struct PeerGone;

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

struct PingPong {
    count: u64,
    warmup: u64,
}

impl Exchange for PingPong {
    fn parent(&self, end: &mut dyn End, msg: &mut [u8]) -> anyhow::Result<Timed> {
        let mut reply = msg.to_vec();
        for _ in 0..self.warmup {
            end.send(msg)?;
            end.recv(&mut reply)?;
            check_stop()?;
        }
        let mut samples = Vec::with_capacity(self.count as usize);
        let cpu = own_cpu_ns();
        let start = Instant::now();
        for _ in 0..self.count {
            let t0 = Instant::now();
            end.send(msg)?;
            end.recv(&mut reply)?;
            samples.push(t0.elapsed().as_nanos() as f64);
            check_stop()?;
        }
        Ok(Timed {
            samples,
            elapsed: start.elapsed(),
            cpu_ns: own_cpu_ns() - cpu,
        })
    }

    fn child(&self, end: &mut dyn End, msg: &mut [u8]) -> anyhow::Result<f64> {
        for _ in 0..self.warmup {
            end.recv(msg)?;
            end.send(msg)?;
        }
        if self.count == 0 {
            return Ok(0.0);
        }
        // The clock starts once the first timed message is here, when the parent's has surely
        // started: the wait before it (a spinning child burns CPU while the parent is not yet
        // timing, or not even running) is no part of the timed exchange.
        end.recv(msg)?;
        let cpu = own_cpu_ns();
        end.send(msg)?;
        for _ in 1..self.count {
            end.recv(msg)?;
            end.send(msg)?;
        }
        Ok(own_cpu_ns() - cpu)
    }
}

struct Stream1 {
    count: u64,
    warmup: u64,
}

impl Exchange for Stream1 {
    fn parent(&self, end: &mut dyn End, msg: &mut [u8]) -> anyhow::Result<Timed> {
        let mut ack = msg.to_vec();
        for _ in 0..self.warmup {
            end.send(msg)?;
            check_stop()?;
        }
        end.recv(&mut ack)?;
        let cpu = own_cpu_ns();
        let start = Instant::now();
        for _ in 0..self.count {
            end.send(msg)?;
            check_stop()?;
        }
        end.recv(&mut ack)?;
        Ok(Timed {
            samples: Vec::new(),
            elapsed: start.elapsed(),
            cpu_ns: own_cpu_ns() - cpu,
        })
    }

    fn child(&self, end: &mut dyn End, msg: &mut [u8]) -> anyhow::Result<f64> {
        for _ in 0..self.warmup {
            end.recv(msg)?;
        }
        end.send(msg)?;
        if self.count == 0 {
            end.send(msg)?;
            return Ok(0.0);
        }
        // As in ping-pong: the clock starts with the first timed message, not while waiting
        // for the parent to start sending.
        end.recv(msg)?;
        let cpu = own_cpu_ns();
        for _ in 1..self.count {
            end.recv(msg)?;
        }
        end.send(msg)?;
        Ok(own_cpu_ns() - cpu)
    }
}

/// What the kernel allows a queue message, or why `size` is too big.
fn mq_limit(size: usize) -> Result<(), String> {
    let max = crate::mq::Limits::read()
        .map(|l| l.msgsize_max)
        .unwrap_or(8192);
    if size as i64 > max {
        return Err(format!(
            "a queue message holds at most {max} bytes here (/proc/sys/fs/mqueue/msgsize_max)"
        ));
    }
    Ok(())
}

/// A queue name unique to this process and call.
fn queue_name(tag: &str) -> anyhow::Result<QueueName> {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    QueueName::parse(&format!("/ipc-bench-{}-{n}-{tag}", std::process::id()))
        .map_err(anyhow::Error::new)
}

/// Make the two ends of `mech` for messages of `size` bytes, fork, run `x` on both sides.
fn exchange(mech: Mech, size: usize, pin: Pin, x: &dyn Exchange) -> anyhow::Result<Timed> {
    let (parent_cpu, child_cpu) = pin
        .cpus()
        .map_err(|e| anyhow::anyhow!("--pin {pin}: {e}"))?;
    place(parent_cpu)?;
    // The parent learns of the child's end (SIGCHLD) even while it sleeps in a wait that only
    // the child could end.
    crate::signal::watch_children()?;
    crate::signal::forget_ended_children();
    let _ticker = crate::signal::Ticker::start(TICK)?;
    let mut msg = vec![0x5au8; size.max(1)];
    let timed = match mech {
        Mech::Pipe => {
            let (down, up) = (pipe::pipe(false)?, pipe::pipe(false)?);
            // Each process takes the four ends (its own copy of them, after the fork) and
            // closes the two it does not use.
            let ends = Cell::new(Some((down, up)));
            let file = std::fs::File::from;
            run_pair(
                child_cpu,
                || {
                    let (down, up) = ends.take().context("the pipes are taken")?;
                    Ok(Stream {
                        out: file(down.write),
                        inp: file(up.read),
                    })
                },
                || {
                    let (down, up) = ends.take().context("the pipes are taken")?;
                    Ok(Stream {
                        out: file(up.write),
                        inp: file(down.read),
                    })
                },
                x,
                &mut msg,
            )?
        }
        Mech::Socket => {
            let pair = UnixStream::pair().map_err(|e| crate::sys::io_error("socketpair", e))?;
            let ends = Cell::new(Some(pair));
            let stream = |mine: UnixStream| -> anyhow::Result<_> {
                let inp = mine
                    .try_clone()
                    .map_err(|e| crate::sys::io_error("dup", e))?;
                Ok(Stream { out: mine, inp })
            };
            run_pair(
                child_cpu,
                || stream(ends.take().context("the sockets are taken")?.0),
                || stream(ends.take().context("the sockets are taken")?.1),
                x,
                &mut msg,
            )?
        }
        Mech::Mq => {
            let open = |tag| -> anyhow::Result<Mailbox> {
                let name = queue_name(tag)?;
                let mut options = OpenOptions::create(MqAccess::Both, 8, size.max(1) as i64);
                options.exclusive = true;
                let mailbox = match Mailbox::open(&name, &options) {
                    Ok(mailbox) => mailbox,
                    Err(err) => {
                        let errno = crate::sys::errno_of(&err);
                        let hint = if errno == Some(nix::errno::Errno::EEXIST) {
                            format!(
                                "ipc-bench names its queues after its pid and makes them only where nothing is; {name} exists already, {}: if it is yours, left by a run that was killed, remove it (`mq-recv -n --unlink {name}`) and run again",
                                crate::mq::made_by(&name)
                            )
                        } else {
                            crate::mq::open_hint(errno, &name, crate::mq::NamedBy::Program)
                        };
                        return Err(err).hint(hint);
                    }
                };
                // Both processes hold it open: remove the name now, so that nothing is left
                // in /dev/mqueue whatever happens to them.
                crate::mq::unlink(&name)?;
                mailbox.set_blocking()?;
                Ok(mailbox)
            };
            let down = open("down")?;
            let up = open("up")?;
            let scratch = down.message_size();
            run_pair(
                child_cpu,
                || {
                    Ok(Queues {
                        out: &down,
                        inp: &up,
                        scratch: vec![0; scratch],
                    })
                },
                || {
                    Ok(Queues {
                        out: &up,
                        inp: &down,
                        scratch: vec![0; scratch],
                    })
                },
                x,
                &mut msg,
            )?
        }
        Mech::ShmSpin => {
            let ch = ShmChannel::create(size, SPIN_RING)?;
            run_pair(
                child_cpu,
                || {
                    Ok(SpinEnd {
                        ch: &ch,
                        dir: 0,
                        sent: 0,
                        received: 0,
                        freed: 0,
                        available: 0,
                    })
                },
                || {
                    Ok(SpinEnd {
                        ch: &ch,
                        dir: 1,
                        sent: 0,
                        received: 0,
                        freed: 0,
                        available: 0,
                    })
                },
                x,
                &mut msg,
            )?
        }
        Mech::ShmSem => {
            let ch = ShmChannel::create(size, SEM_RING)?;
            let att = &ch.attachment;
            let full = [
                SharedSemaphore::init(att, lay::FULL[0], 0)?,
                SharedSemaphore::init(att, lay::FULL[1], 0)?,
            ];
            let empty = [
                SharedSemaphore::init(att, lay::EMPTY[0], ch.slots as u32)?,
                SharedSemaphore::init(att, lay::EMPTY[1], ch.slots as u32)?,
            ];
            let end = |dir| SemEnd {
                ch: &ch,
                full,
                empty,
                dir,
                sent: 0,
                received: 0,
            };
            run_pair(child_cpu, || Ok(end(0)), || Ok(end(1)), x, &mut msg)?
        }
        Mech::Signal => {
            let mut set = SigSet::empty();
            set.add(Signal::SIGUSR1);
            let old = set
                .thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK)
                .context("cannot block SIGUSR1")?;
            let parent = nix::unistd::getpid();
            let result = run_signal(child_cpu, parent, set, x, &mut msg);
            // Take any SIGUSR1 left pending before unblocking it, then restore the mask.
            while crate::signal::pending()
                .is_ok_and(|p| p.contains(&crate::signal::SigNum(Signal::SIGUSR1 as i32)))
            {
                let _ = crate::signal::wait_info(&set);
            }
            let _ = old.thread_set_mask();
            result?
        }
    };
    Ok(timed)
}

/// What a measurement does, for `--explain`: the set-up's calls, then the calls of one
/// message (latency: one round trip; throughput: one message of the stream). Each line is a
/// call or an action, or (starting with "- ") a sentence.
pub fn recipe(mech: Mech, mode: Mode, size: usize) -> Vec<String> {
    let mut lines = match mech {
        Mech::ShmSpin | Mech::ShmSem => {
            let ring = if mech == Mech::ShmSpin {
                SPIN_RING
            } else {
                SEM_RING
            };
            let stride = size.max(1).next_multiple_of(64);
            let slots = (ring.bytes / stride).clamp(ring.min_slots, ring.max_slots);
            let mut l = vec![
                format!(
                    "shmget(IPC_PRIVATE, {}, 0600); shmat; shmctl(IPC_RMID)",
                    lay::DATA + 2 * slots * stride
                ),
                format!(
                    "- a ring of {slots} slots of {stride} bytes each way; marked for removal at once, so it goes with the last detach, whatever happens"
                ),
            ];
            if mech == Mech::ShmSem {
                l.push(
                    "sem_init(full, pshared 1, 0) and sem_init(empty, pshared 1, slots), each way"
                        .into(),
                );
            }
            l
        }
        Mech::Pipe => vec![
            "pipe(down); pipe(up)".into(),
            "- after fork each process closes the two ends it does not use".into(),
        ],
        Mech::Socket => vec!["socketpair(AF_UNIX, SOCK_STREAM)".into()],
        Mech::Mq => vec![
            format!(
                "mq_open(down and up, O_CREAT | O_EXCL, mq_maxmsg 8, mq_msgsize {}); mq_unlink both",
                size.max(1)
            ),
            "- unlinked at once: both processes hold them open, and the kernel frees them with the last close".into(),
        ],
        Mech::Signal => vec![
            "sigprocmask(SIG_BLOCK, {SIGUSR1})".into(),
            "- blocked, so that a SIGUSR1 waits, pending, for sigwaitinfo instead of running a handler".into(),
        ],
    };
    lines.push(
        "fork(); sched_setaffinity(parent), and in the child sched_setaffinity(child)".into(),
    );
    let n = size.max(1);
    let (send, recv) = match mech {
        Mech::ShmSpin => (
            format!("copy {n} bytes into a slot; store seq (release)"),
            format!(
                "spin on seq (acquire, pause hint; sched_yield every {SPINS_PER_YIELD} spins); copy {n} bytes out; store done"
            ),
        ),
        Mech::ShmSem => (
            format!("sem_wait(empty); copy {n} bytes into a slot; sem_post(full)"),
            format!("sem_wait(full); copy {n} bytes out; sem_post(empty)"),
        ),
        Mech::Pipe | Mech::Socket => (format!("write(fd, {n})"), format!("read(fd, {n})")),
        Mech::Mq => (
            format!("mq_send(down, {n} bytes, prio 0)"),
            "mq_receive(up, buffer of mq_msgsize)".into(),
        ),
        Mech::Signal => (
            "kill(peer, SIGUSR1)".into(),
            "sigwaitinfo({SIGUSR1})".into(),
        ),
    };
    match mode {
        Mode::Latency => {
            lines.push(format!(
                "parent: t0 = clock; {send}; {recv}; sample = clock - t0"
            ));
            lines.push(format!("child: {recv}; {send}"));
        }
        _ => {
            lines.push(format!(
                "parent: {send}, for every message; then wait for one acknowledgement"
            ));
            lines.push(format!(
                "child: {recv}, for every message; then acknowledge"
            ));
        }
    }
    lines
}

/// Where `--pin` puts the two processes, and what that does to the figures, for `--explain`.
pub fn placement(pin: Pin) -> String {
    let cpu = |c: Option<usize>| c.map_or("any CPU".to_string(), |c| format!("CPU {c}"));
    match pin.cpus() {
        Err(why) => format!("pin {pin}: not measured: {why}"),
        Ok((parent, child)) => {
            let what = match pin {
                Pin::Same => {
                    "they take turns: every wait puts one to sleep and switches to the other; a spinning reader cannot see an answer the other has no CPU to write: it spins, yields, and spins again until the scheduler runs the other"
                }
                Pin::Cross => {
                    "every wait puts a process to sleep, and every reply must wake the other CPU; spinning avoids that, and keeps both CPUs busy"
                }
                Pin::None => {
                    "the scheduler decides, message by message, where the other process runs"
                }
            };
            format!(
                "pin {pin}: the parent on {}, the child on {}: {what}",
                cpu(parent),
                cpu(child)
            )
        }
    }
}

/// What the floor times, for `--explain`.
pub fn floor_recipe() -> Vec<String> {
    vec![
        "clock: clock_gettime(CLOCK_MONOTONIC), through the vDSO: no system call".into(),
        "syscall: getppid(), the cheapest system call: enter the kernel and come back".into(),
        "pipe-self: write(p, n) then read(p, n) in one process: the kernel's copy in and out, no other process to wake".into(),
        "memcpy: copy n bytes within the process: the price of the copies every mechanism makes".into(),
        format!("each timed in {FLOOR_BATCHES} batches of many operations (one clock read per batch); the rows give the batches' spread"),
    ]
}

/// Fork; the child builds its end with `child_end` and answers, the parent builds its own with
/// `parent_end` and measures. The child is reaped before this returns (killed if need be).
fn run_pair<P: End, C: End>(
    child_cpu: Option<usize>,
    parent_end: impl FnOnce() -> anyhow::Result<P>,
    child_end: impl FnOnce() -> anyhow::Result<C>,
    x: &dyn Exchange,
    msg: &mut [u8],
) -> anyhow::Result<Timed> {
    let report = pipe::pipe(false)?;
    let mut child = fork_child(child_cpu, &report, || {
        let mut end = child_end()?;
        let mut buf = msg.to_vec();
        x.child(&mut end, &mut buf)
    })?;
    let mut end = parent_end()?;
    let timed = x.parent(&mut end, msg);
    drop(end);
    finish_child(&mut child, report, timed)
}

fn run_signal(
    child_cpu: Option<usize>,
    parent: nix::unistd::Pid,
    set: SigSet,
    x: &dyn Exchange,
    msg: &mut [u8],
) -> anyhow::Result<Timed> {
    let report = pipe::pipe(false)?;
    let mut child = fork_child(child_cpu, &report, || {
        let mut end = SignalEnd { peer: parent, set };
        let mut buf = msg.to_vec();
        x.child(&mut end, &mut buf)
    })?;
    let mut end = SignalEnd {
        peer: child.pid(),
        set,
    };
    let timed = x.parent(&mut end, msg);
    finish_child(&mut child, report, timed)
}

/// Fork the child, which runs `body` on `cpu` and writes the CPU time it returns (8 bytes)
/// into `report` for the parent, before it exits.
fn fork_child(
    cpu: Option<usize>,
    report: &pipe::Pipe,
    body: impl FnOnce() -> anyhow::Result<f64>,
) -> anyhow::Result<Child> {
    crate::sys::fork(|| {
        if place(cpu).is_err() {
            return 3;
        }
        match body() {
            Ok(cpu_ns) => match nix::unistd::write(&report.write, &cpu_ns.to_ne_bytes()) {
                Ok(8) => 0,
                _ => 1,
            },
            Err(_) => 1,
        }
    })
}

/// Reap the child after the parent's side ended: it must have ended well too, and reported
/// its CPU time through `report`.
fn finish_child(
    child: &mut Child,
    report: pipe::Pipe,
    timed: anyhow::Result<Timed>,
) -> anyhow::Result<Timed> {
    drop(report.write);
    match timed {
        Ok(mut timed) => {
            let status = child.wait()?;
            anyhow::ensure!(
                crate::sys::shell_status(status) == 0,
                "the benchmark's child process {}",
                crate::sys::describe(status)
            );
            let mut bytes = [0u8; 8];
            let got = nix::unistd::read(&report.read, &mut bytes).map_err(|errno| SysError {
                call: "read",
                errno,
            })?;
            anyhow::ensure!(
                got == 8,
                "the benchmark's child process did not report its CPU time"
            );
            timed.cpu_ns += f64::from_ne_bytes(bytes);
            Ok(timed)
        }
        Err(err) if err.is::<PeerGone>() => {
            // Say how the child ended: it closed its ends as it died, so it is about to be
            // reapable if it is not already.
            let mut ended = child.try_wait().ok().flatten();
            if ended.is_none() {
                std::thread::sleep(Duration::from_millis(50));
                ended = child.try_wait().ok().flatten();
            }
            child.kill();
            Err(match ended {
                Some(status) => anyhow::anyhow!(
                    "the child process ended before the measurement was over: {}",
                    crate::sys::describe(status)
                ),
                None => err,
            })
        }
        Err(err) => {
            child.kill();
            Err(err)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The three modes

/// Why `mech` cannot carry `size`-byte messages here, if it cannot.
fn cannot(mech: Mech, size: usize) -> Option<String> {
    match mech {
        Mech::Mq => mq_limit(size.max(1)).err(),
        _ => None,
    }
}

/// Every placement, mechanism and size of `settings`, in that order: a row for each, measured
/// by `measure` (given the exchange's result) unless the mechanism cannot run it here.
fn rows_of(
    settings: &Settings,
    mode: Mode,
    x: &dyn Exchange,
    mut measure: impl FnMut(Row, Timed) -> Row,
    mut each: impl FnMut(&Row) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &pin in &settings.pins {
        for &mech in &settings.mechs {
            let sizes: Vec<usize> = if mech.carries_data() {
                settings.sizes.clone()
            } else {
                vec![0]
            };
            for size in sizes {
                let row = Row::new(mech.name(), mode, size, Some(pin));
                let why = if mode == Mode::Throughput && !mech.carries_data() {
                    Some("a signal carries no data: latency only".to_string())
                } else {
                    cannot(mech, size).or_else(|| pin.cpus().err())
                };
                let row = match why {
                    Some(why) => row.unsupported(why),
                    None => {
                        let timed = exchange(mech, size, pin, x)
                            .with_context(|| format!("{mech} {mode}, {size} bytes, pin {pin}"))?;
                        let n = settings.count.max(1) as f64;
                        let row = Row {
                            count: settings.count,
                            cpu_ns_per_msg: Some(timed.cpu_ns / n),
                            ..row
                        };
                        measure(row, timed)
                    }
                };
                each(&row)?;
                rows.push(row);
            }
        }
    }
    place(None)?;
    Ok(rows)
}

/// Round-trip latency of every mechanism, size and placement asked for.
pub fn latency(
    settings: &Settings,
    each: impl FnMut(&Row) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Row>> {
    let x = PingPong {
        count: settings.count,
        warmup: settings.warmup,
    };
    let measure = |row: Row, mut timed: Timed| Row {
        stats: Stats::of(&mut timed.samples),
        ..row
    };
    rows_of(settings, Mode::Latency, &x, measure, each)
}

/// One-way streaming throughput of every mechanism, size and placement asked for.
pub fn throughput(
    settings: &Settings,
    each: impl FnMut(&Row) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Row>> {
    let x = Stream1 {
        count: settings.count,
        warmup: settings.warmup,
    };
    let measure = |row: Row, timed: Timed| {
        let secs = timed.elapsed.as_secs_f64().max(1e-9);
        let n = settings.count as f64;
        Row {
            msgs_per_s: Some(n / secs),
            mb_per_s: Some(n * row.size as f64 / secs / 1e6),
            ..row
        }
    };
    rows_of(settings, Mode::Throughput, &x, measure, each)
}

/// Batches per floor measurement, and operations per batch: each batch's mean is a sample.
const FLOOR_BATCHES: usize = 200;

/// The operations the floor times per row for `--count` `count`: whole batches, at least one
/// operation each.
pub fn floor_ops(count: u64) -> u64 {
    (count / FLOOR_BATCHES as u64).max(1) * FLOOR_BATCHES as u64
}

fn floor_row(
    what: &str,
    size: usize,
    ops: u64,
    mut op: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Row> {
    let per_batch = ops / FLOOR_BATCHES as u64;
    let mut samples = Vec::with_capacity(FLOOR_BATCHES);
    for _ in 0..FLOOR_BATCHES {
        let t0 = Instant::now();
        for _ in 0..per_batch {
            op()?;
        }
        samples.push(t0.elapsed().as_nanos() as f64 / per_batch as f64);
        check_stop()?;
    }
    Ok(Row {
        count: per_batch * FLOOR_BATCHES as u64,
        stats: Stats::of(&mut samples),
        ..Row::new(what, Mode::Floor, size, None)
    })
}

/// What no IPC can beat: a clock read, a null system call (getppid), a pipe's write and read in
/// one process, memcpy; each the mean of a batch, over many batches.
pub fn floor(
    settings: &Settings,
    mut each: impl FnMut(&Row) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Row>> {
    let ops = floor_ops(settings.count);
    let mut rows = Vec::new();
    let mut push = |row: Row, rows: &mut Vec<Row>| -> anyhow::Result<()> {
        each(&row)?;
        rows.push(row);
        Ok(())
    };
    push(
        floor_row("clock", 0, ops, || {
            std::hint::black_box(Instant::now());
            Ok(())
        })?,
        &mut rows,
    )?;
    push(
        floor_row("syscall", 0, ops, || {
            std::hint::black_box(nix::unistd::getppid());
            Ok(())
        })?,
        &mut rows,
    )?;
    for &size in &settings.sizes {
        let p = pipe::pipe(false)?;
        let capacity = pipe::capacity(std::os::fd::AsFd::as_fd(&p.write))?;
        if size > capacity {
            push(
                Row::new("pipe-self", Mode::Floor, size, None).unsupported(format!(
                    "one process cannot write {size} bytes into a {capacity}-byte pipe before reading"
                )),
                &mut rows,
            )?;
        } else {
            let mut w = std::fs::File::from(p.write);
            let mut r = std::fs::File::from(p.read);
            let msg = vec![1u8; size.max(1)];
            let mut buf = vec![0u8; size.max(1)];
            push(
                floor_row("pipe-self", size, ops, || {
                    w.write_all(&msg)
                        .map_err(|e| crate::sys::io_error("write", e))?;
                    r.read_exact(&mut buf)
                        .map_err(|e| crate::sys::io_error("read", e))
                })?,
                &mut rows,
            )?;
        }
        let src = vec![1u8; size.max(1)];
        let mut dst = vec![0u8; size.max(1)];
        push(
            floor_row("memcpy", size, ops, || {
                dst.copy_from_slice(std::hint::black_box(&src));
                std::hint::black_box(&mut dst);
                Ok(())
            })?,
            &mut rows,
        )?;
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// The machine

/// One line about the machine: kernel, architecture, CPUs and their model.
pub fn machine() -> String {
    let uname = nix::sys::utsname::uname().ok();
    let kernel = uname.as_ref().map_or_else(
        || "unknown kernel".to_string(),
        |u| {
            format!(
                "{} {} {}",
                u.sysname().to_string_lossy(),
                u.release().to_string_lossy(),
                u.machine().to_string_lossy()
            )
        },
    );
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cpus = crate::sys::allowed_cpus().len();
    format!(
        "{kernel}, {cpus} CPU{} usable ({} online), {model}",
        if cpus == 1 { "" } else { "s" },
        crate::sys::online_cpus()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut xs: Vec<f64> = (1..=1000).map(f64::from).collect();
        xs.reverse();
        let s = Stats::of(&mut xs).unwrap();
        assert_eq!((s.min, s.median, s.p99, s.p999), (1.0, 500.0, 990.0, 999.0));
        assert_eq!(s.mean, 500.5);
        let one = Stats::of(&mut [7.0]).unwrap();
        assert_eq!(
            (one.min, one.median, one.p99, one.p999, one.mean),
            (7.0, 7.0, 7.0, 7.0, 7.0)
        );
        assert!(Stats::of(&mut []).is_none());
    }
}

/// The latency chart (`--plot FILE.svg`).
pub mod plot {
    use super::{Pin, Row};
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    fn err(e: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("cannot draw the chart: {e}")
    }

    /// Median round-trip latency per mechanism (bars, log scale) with a whisker to p99, one bar
    /// per CPU placement, for the smallest message size measured (signals carry none).
    /// A figure in µs as a student reads it: 0.22, 4.9, 39, 120.
    fn figure(us: f64) -> String {
        if us < 1.0 {
            format!("{us:.2}")
        } else if us < 10.0 {
            format!("{us:.1}")
        } else {
            format!("{us:.0}")
        }
    }

    pub fn latency_svg(path: &std::path::Path, rows: &[Row], machine: &str) -> anyhow::Result<()> {
        let measured: Vec<&Row> = rows.iter().filter(|r| r.stats.is_some()).collect();
        anyhow::ensure!(
            !measured.is_empty(),
            "no latency was measured: nothing to draw"
        );
        let size = measured
            .iter()
            .filter(|r| r.size > 0)
            .map(|r| r.size)
            .min()
            .unwrap_or(0);
        let chosen: Vec<&Row> = measured
            .into_iter()
            .filter(|r| r.size == size || r.size == 0)
            .collect();
        let mut mechs: Vec<&str> = Vec::new();
        let mut pins: Vec<Option<Pin>> = Vec::new();
        for r in &chosen {
            if !mechs.contains(&r.what.as_str()) {
                mechs.push(&r.what);
            }
            if !pins.contains(&r.pin) {
                pins.push(r.pin);
            }
        }
        let us = |ns: f64| ns / 1e3;
        let lo = chosen
            .iter()
            .filter_map(|r| r.stats.map(|s| us(s.min)))
            .fold(f64::INFINITY, f64::min);
        let hi = chosen
            .iter()
            .filter_map(|r| r.stats.map(|s| us(s.p99_shown().unwrap_or(s.median))))
            .fold(0.0, f64::max);
        // Room above the highest whisker for the legend, in the top-left corner: on a log
        // scale, a share of the height is a factor of the range.
        let (lo, top) = (lo.max(1e-3) / 2.0, hi * 1.3);
        let legend = (20.0 * pins.len() as f64 + 24.0) / 400.0;
        let hi = top * ((top / lo).ln() * legend / (1.0 - legend)).exp();

        // Write to a string first: a failure leaves no half-written file.
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (960, 540)).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            let title = format!(
                "Round-trip latency, {} messages (median, whisker to p99; log scale)",
                if size > 0 {
                    format!("{size}-byte")
                } else {
                    "empty".into()
                }
            );
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(16)
                .x_label_area_size(48)
                .y_label_area_size(72)
                .build_cartesian_2d(0f64..mechs.len() as f64, (lo..hi).log_scale())
                .map_err(err)?;
            let names = mechs.clone();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(mechs.len() * 2 + 1)
                .x_label_formatter(&|x| {
                    let i = x.floor() as usize;
                    if (x - i as f64 - 0.5).abs() < 1e-6 && i < names.len() {
                        names[i].to_string()
                    } else {
                        String::new()
                    }
                })
                .y_label_formatter(&|y| {
                    let text = format!("{y:.2}");
                    text.trim_end_matches('0').trim_end_matches('.').to_string()
                })
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 15))
                .y_desc("µs per round trip")
                .x_desc(machine)
                .draw()
                .map_err(err)?;
            let palette = [
                RGBColor(70, 130, 180),
                RGBColor(230, 120, 40),
                RGBColor(90, 160, 90),
            ];
            let width = 0.8 / pins.len() as f64;
            for (k, pin) in pins.iter().enumerate() {
                let color = palette[k % palette.len()];
                let x0 = |r: &Row| {
                    let i = mechs.iter().position(|m| *m == r.what).unwrap_or(0) as f64;
                    i + 0.1 + k as f64 * width
                };
                let these: Vec<&&Row> = chosen.iter().filter(|r| r.pin == *pin).collect();
                chart
                    .draw_series(these.iter().filter_map(|r| {
                        r.stats.map(|s| {
                            Rectangle::new(
                                [(x0(r), lo), (x0(r) + width * 0.9, us(s.median))],
                                color.filled(),
                            )
                        })
                    }))
                    .map_err(err)?
                    .label(match pin {
                        Some(Pin::Same) => "both on one CPU (--pin same)",
                        Some(Pin::Cross) => "on two CPUs (--pin cross)",
                        _ => "where the scheduler puts them (--pin none)",
                    })
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                    });
                chart
                    .draw_series(these.iter().filter_map(|r| {
                        let s = r.stats?;
                        let mid = x0(r) + width * 0.45;
                        let p99 = s.p99_shown()?;
                        Some(PathElement::new(
                            vec![(mid, us(s.median)), (mid, us(p99))],
                            BLACK,
                        ))
                    }))
                    .map_err(err)?;
                // The median, written inside the top of its bar.
                let inside = ("sans-serif", 14)
                    .into_font()
                    .color(&WHITE)
                    .pos(Pos::new(HPos::Center, VPos::Top));
                chart
                    .draw_series(these.iter().filter_map(|r| {
                        r.stats.map(|s| {
                            let mid = x0(r) + width * 0.45;
                            Text::new(figure(us(s.median)), (mid, us(s.median)), inside.clone())
                        })
                    }))
                    .map_err(err)?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font(("sans-serif", 14))
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .draw()
                .map_err(err)?;
            root.present().map_err(err)?;
        }
        std::fs::write(path, svg)
            .map_err(|e| crate::sys::io_error("write", e))
            .map_err(|e| e.context(format!("cannot write the chart to {}", path.display())))
    }
}
