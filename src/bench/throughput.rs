//! Throughput: a stream of messages. What each message costs when nobody waits for an answer
//! (the notes' B1 "very fast communications" against B2's system call "each time one wants to
//! send or receive data"): the parent streams `count` messages one way, the child copies each
//! out and acknowledges once at the end; the whole is timed, in messages and megabytes a second.
//!
//! Lab sheet: `docs/06-measuring.md`, "Throughput: a stream of messages".

#![forbid(unsafe_code)]

use std::time::Instant;

use super::pair::{Buffer, rows_of};
use super::{End, Exchange, Mode, Row, Settings, Timed, check_stop, own_cpu_ns};

/// A one-way stream: the parent sends `count` messages after `warmup`, the child copies each
/// out and acknowledges once at the end; the parent times the whole.
struct Stream1<'a>(&'a Settings);

impl Exchange for Stream1<'_> {
    fn parent(&self, end: &mut dyn End, msg: &mut [u8]) -> anyhow::Result<Timed> {
        let mut ack = Buffer::copy_of(msg);
        for _ in 0..self.0.warmup {
            end.send(msg)?;
            check_stop()?;
        }
        end.recv(&mut ack)?;
        let cpu = own_cpu_ns();
        let start = Instant::now();
        for _ in 0..self.0.count {
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
        for _ in 0..self.0.warmup {
            end.recv(msg)?;
        }
        end.send(msg)?;
        if self.0.count == 0 {
            end.send(msg)?;
            return Ok(0.0);
        }
        // As in ping-pong: the clock starts with the first timed message, not while waiting
        // for the parent to start sending.
        end.recv(msg)?;
        let cpu = own_cpu_ns();
        for _ in 1..self.0.count {
            end.recv(msg)?;
        }
        end.send(msg)?;
        Ok(own_cpu_ns() - cpu)
    }
}

/// One-way streaming throughput of every mechanism, size and placement asked for.
pub(super) fn run(
    settings: &Settings,
    each: impl FnMut(&Row) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Row>> {
    let measure = |row: Row, timed: Timed| {
        let secs = timed.elapsed.as_secs_f64().max(1e-9);
        let n = settings.count as f64;
        Row {
            msgs_per_s: Some(n / secs),
            mb_per_s: Some(n * row.size as f64 / secs / 1e6),
            ..row
        }
    };
    rows_of(
        settings,
        Mode::Throughput,
        &Stream1(settings),
        measure,
        each,
    )
}
