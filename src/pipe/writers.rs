//! Several writers (lecture notes, B3 Unix Pipe, Semantic): a pipe "has variants which can have
//! multiple readers and writers". N children write records to one pipe, each record marked with
//! its writer; the reader counts the records that arrive torn. A write of at most PIPE_BUF bytes
//! is atomic, so none is torn; a larger one may be split, and other writers' bytes land in between.
//!
//! Lab sheet: `docs/deeper/03-pipes.md`, "Many writers: writers".

#![forbid(unsafe_code)]

use std::os::fd::AsFd;

use nix::sys::wait::WaitStatus;

use super::common::{all_reaped, child_failed, read_fd, wait_child, write_all};
use crate::pipe::{self, PIPE_BUF, Pipe};
use crate::sys::{self, Termination};
use crate::ui::{self, Ui, out_line};

/// How many writers write what.
#[derive(Debug, Clone)]
pub struct Args {
    /// Writer processes.
    pub writers: u32,
    /// Bytes per record.
    pub record_size: usize,
    /// Records per writer.
    pub records: u32,
}

/// The writers write, the parent reads and counts the whole and the torn records.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    let (n, size, records) = (args.writers, args.record_size, args.records);
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
