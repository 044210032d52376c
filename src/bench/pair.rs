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
        Mech::Pipe => super::pipe::exchange(size, child_cpu, x, &mut msg)?,
        Mech::Socket => super::socket::exchange(size, child_cpu, x, &mut msg)?,
        Mech::Mq => super::mq::exchange(size, child_cpu, x, &mut msg)?,
        Mech::ShmSpin => super::shm_spin::exchange(size, child_cpu, x, &mut msg)?,
        Mech::ShmSem => super::shm_sem::exchange(size, child_cpu, x, &mut msg)?,
        Mech::Signal => super::signal::exchange(size, child_cpu, x, &mut msg)?,
    };
    Ok(timed)
}

/// Fork; the child builds its end with `child_end` and answers, the parent builds its own with
/// `parent_end` and measures. The child is reaped before this returns (killed if need be).
pub(super) fn run_pair<P: End, C: End>(
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

/// Fork the child, which runs `body` on `cpu` and writes the CPU time it returns (8 bytes)
/// into `report` for the parent, before it exits.
pub(super) fn fork_child(
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
pub(super) fn finish_child(
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
