//! The two processes of one measurement: the parent placed on its CPU, the mechanism's two ends
//! made, the child forked onto its own CPU, both sides run, the child's CPU time reported back
//! through a pipe, the child reaped (killed first if the parent's side failed). And the rows of
//! a mode: every placement, mechanism and size asked for.

#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::Context as _;

use super::mq::mq_limit;
use super::{End, Exchange, Mech, Mode, PeerGone, Pin, Row, Settings, TICK, Timed, place};
use crate::pipe;
use crate::sys::{Child, SysError};

/// Make the two ends of `mech` for messages of `size` bytes, fork, run `x` on both sides.
fn exchange(
    mech: Mech,
    mode: Mode,
    size: usize,
    pin: Pin,
    x: &dyn Exchange,
) -> anyhow::Result<Timed> {
    let (parent_cpu, child_cpu) = pin
        .cpus()
        .map_err(|e| anyhow::anyhow!("--pin {pin}: {e}"))?;
    place(parent_cpu)?;
    // The parent learns of the child's end (SIGCHLD) even while it sleeps in a wait that only
    // the child could end.
    crate::signal::watch_children()?;
    crate::signal::forget_ended_children();
    let _ticker = crate::signal::Ticker::start(TICK)?;
    let mut msg = Buffer::new(size.max(1));
    msg.fill(0x5a);
    let pair = Pair {
        size,
        mode,
        child_cpu,
        x,
        msg: &mut msg,
    };
    match mech {
        Mech::Pipe => super::pipe::exchange(pair),
        Mech::Socket => super::socket::exchange(pair),
        Mech::Mq => super::mq::exchange(pair),
        Mech::ShmSpin => super::shm_spin::exchange(pair),
        Mech::ShmSem => super::shm_sem::exchange(pair),
        Mech::Signal => super::signal::exchange(pair),
    }
}

/// A message buffer that starts on a cache line, as the C programs' `aligned_alloc(64, ...)`
/// ones do: a copy into or out of it never starts in the middle of a line.
pub(super) struct Buffer {
    bytes: Vec<u8>,
    start: usize,
    len: usize,
}

impl Buffer {
    pub(super) fn new(len: usize) -> Buffer {
        let bytes = vec![0u8; len + 63];
        let start = bytes.as_ptr().align_offset(64).min(63);
        Buffer { bytes, start, len }
    }

    /// A buffer of the same length, holding the same bytes.
    pub(super) fn copy_of(msg: &[u8]) -> Buffer {
        let mut buf = Buffer::new(msg.len());
        buf.copy_from_slice(msg);
        buf
    }
}

impl std::ops::Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.start + self.len]
    }
}

/// One measurement, as a mechanism's `exchange` gets it: the message size, the mode, where the
/// child runs, what both sides do (`x`), and the parent's message.
pub(super) struct Pair<'a> {
    pub(super) size: usize,
    /// A latency run has one message in flight each way at most; a stream has many.
    pub(super) mode: Mode,
    pub(super) child_cpu: Option<usize>,
    pub(super) x: &'a dyn Exchange,
    pub(super) msg: &'a mut [u8],
}

impl Pair<'_> {
    /// Fork; the child builds its end with `child_end` and answers, the parent builds its own
    /// with `parent_end` (given the child's pid) and measures. The child is reaped before this
    /// returns (killed if need be).
    pub(super) fn run<P: End, C: End>(
        self,
        parent_end: impl FnOnce(nix::unistd::Pid) -> anyhow::Result<P>,
        child_end: impl FnOnce() -> anyhow::Result<C>,
    ) -> anyhow::Result<Timed> {
        let Pair {
            child_cpu, x, msg, ..
        } = self;
        let report = pipe::pipe(false)?;
        let mut child = fork_child(child_cpu, &report, || {
            let mut end = child_end()?;
            let mut buf = Buffer::copy_of(msg);
            x.child(&mut end, &mut buf)
        })?;
        let timed = parent_end(child.pid()).and_then(|mut end| x.parent(&mut end, msg));
        finish_child(&mut child, report, timed)
    }
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

/// Why `mech` cannot carry `size`-byte messages here, if it cannot.
fn cannot(mech: Mech, size: usize) -> Option<String> {
    match mech {
        Mech::Mq => mq_limit(size.max(1)).err(),
        _ => None,
    }
}

/// Every placement, mechanism and size of `settings`, in that order: a row for each, measured
/// by `measure` (given the exchange's result) unless the mechanism cannot run it here.
pub(super) fn rows_of(
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
                        let timed = exchange(mech, mode, size, pin, x)
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
