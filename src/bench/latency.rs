//! Latency: one round trip. The notes: shared memory is "very fast communications" (B1), message
//! passing "inefficient as it requires OS intervention" (B2). Ping-pong: the parent sends a
//! message, the child sends it back; every round trip is timed with the monotonic clock, after
//! an untimed warm-up, and the rows give the samples' minimum, median, percentiles and mean.
//!
//! Lab sheet: `docs/06-measuring.md`, "Latency: one round trip".

#![forbid(unsafe_code)]

use std::time::Instant;

use super::pair::{Buffer, rows_of};
use super::{End, Exchange, Mode, Row, Settings, Stats, Timed, check_stop, own_cpu_ns};

/// Ping-pong: the parent sends a message and the child sends it back, `count` times after
/// `warmup`; the parent times each round trip.
struct PingPong<'a>(&'a Settings);

impl Exchange for PingPong<'_> {
    fn parent(&self, end: &mut dyn End, msg: &mut [u8]) -> anyhow::Result<Timed> {
        let mut reply = Buffer::copy_of(msg);
        for _ in 0..self.0.warmup {
            end.send(msg)?;
            end.recv(&mut reply)?;
            check_stop()?;
        }
        let mut samples = Vec::with_capacity(self.0.count as usize);
        let cpu = own_cpu_ns();
        let start = Instant::now();
        for _ in 0..self.0.count {
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
        for _ in 0..self.0.warmup {
            end.recv(msg)?;
            end.send(msg)?;
        }
        if self.0.count == 0 {
            return Ok(0.0);
        }
        // The clock starts once the first timed message is here, when the parent's has surely
        // started: the wait before it (a spinning child burns CPU while the parent is not yet
        // timing, or not even running) is no part of the timed exchange.
        end.recv(msg)?;
        let cpu = own_cpu_ns();
        end.send(msg)?;
        for _ in 1..self.0.count {
            end.recv(msg)?;
            end.send(msg)?;
        }
        Ok(own_cpu_ns() - cpu)
    }
}

/// Round-trip latency of every mechanism, size and placement asked for.
pub(super) fn run(
    settings: &Settings,
    each: impl FnMut(&Row) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Row>> {
    let measure = |row: Row, mut timed: Timed| Row {
        stats: Stats::of(&mut timed.samples),
        ..row
    };
    rows_of(settings, Mode::Latency, &PingPong(settings), measure, each)
}
