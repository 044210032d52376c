//! Several readers (lecture notes, B3 Unix Pipe, Semantic): a pipe "has variants which can have
//! multiple readers and writers". One writer, several readers of one pipe: each record, one write
//! of at most PIPE_BUF bytes, goes whole to exactly one reader, and the scheduler decides which.
//! The readers report what they got through a second pipe, in messages of PIPE_BUF bytes that never
//! interleave; the parent checks that nothing was lost, duplicated or torn.
//!
//! Lab sheet: `docs/deeper/03-pipes.md`, "Many readers: readers".

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, BorrowedFd};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::sys::wait::WaitStatus;

use super::common::{all_reaped, child_failed, read_fd, wait_child, write_all};
use super::records::{REPORT, REPORT_NUMBERS, numbered_record, record_number, report_messages};
use crate::pipe::{self, PIPE_BUF, Pipe};
use crate::sys::{self, SysError, Termination, fd_number};
use crate::ui::{self, Ui, out_line};

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

/// How many readers read what.
#[derive(Debug, Clone)]
pub struct Args {
    /// Reader processes (at least 2).
    pub readers: u32,
    /// Records the parent writes.
    pub records: u32,
    /// Bytes per record: 8 (the record's number) to PIPE_BUF.
    pub record_size: usize,
}

/// The parent writes, the readers read and report; the parent checks every record reached
/// exactly one reader.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    let (n, records, size) = (args.readers, args.records, args.record_size);
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
