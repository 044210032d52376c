//! The floor: what no IPC can beat. Message passing is "inefficient as it requires OS
//! intervention" (the notes, B2): so what does one entry into the kernel cost, and one copy?
//! In one process, no IPC: a clock read, a null system call (getppid), a pipe's write and read,
//! memcpy; each the mean of a batch of many, over many batches.
//!
//! Lab sheet: `docs/06-measuring.md`, "The floor: what no IPC can beat".

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::time::Instant;

use super::{Mode, Row, Settings, Stats, check_stop};
use crate::pipe;

/// Batches per floor measurement, and operations per batch: each batch's mean is a sample.
const FLOOR_BATCHES: usize = 200;

/// The operations the floor times per row for `--count` `count`: whole batches, at least one
/// operation each.
pub(super) fn floor_ops(count: u64) -> u64 {
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
pub(super) fn run(
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

/// What the floor times, for `--explain`.
pub(super) fn recipe() -> Vec<String> {
    vec![
        "clock: clock_gettime(CLOCK_MONOTONIC), through the vDSO: no system call".into(),
        "syscall: getppid(), the cheapest system call: enter the kernel and come back".into(),
        "pipe-self: write(p, n) then read(p, n) in one process: the kernel's copy in and out, no other process to wake".into(),
        "memcpy: copy n bytes within the process: the price of the copies every mechanism makes".into(),
        format!("each timed in {FLOOR_BATCHES} batches of many operations (one clock read per batch); the rows give the batches' spread"),
    ]
}
