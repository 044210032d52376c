//! Writers wait, readers wait (lecture notes, B3 Unix Pipe, Semantic): a pipe is a bounded buffer
//! "with implicit synchronization": "writers wait when buffer full", "readers wait when buffer
//! empty" ("Semantic => synchronous"). A timeline: a writer blocks on a full pipe until a slow
//! reader frees a slot, then the reader blocks on an empty pipe until the writer writes.
//!
//! Lab sheet: chapter 3 (`docs/03-pipes.md`), "Writers wait, readers wait: blocking";
//! `docs/deeper/03-pipes.md`, "The blocking timeline with its times".

#![forbid(unsafe_code)]

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::sys::wait::WaitStatus;

use super::common::{child_failed, read_fd, wait_child};
use crate::pipe::{self, Pipe};
use crate::sys::{self, SysError, Termination};
use crate::ui::{self, Ui, out_line};

struct Clock(Instant);

impl Clock {
    fn line(&self, who: &str, text: &str) -> anyhow::Result<()> {
        out_line(format_args!(
            "{:>7.3}s {who:<6} {text}",
            self.0.elapsed().as_secs_f64()
        ))
    }
}

/// The fill level of a pipe of `cap` bytes with pages of `page` bytes, read live with FIONREAD:
/// `[##..] 8192 of 16384 bytes`, a mark for each of its slots (one page each). Drawn only where
/// it is true: the writes of `blocking` are whole pages and its reads take whole pages, so a
/// whole number of pages fills exactly that many slots. Any other count is said in bytes alone,
/// since how many slots it takes depends on the writes (see `capacity --write-size`).
fn level(bytes: usize, cap: usize, page: usize) -> String {
    let slots = cap / page;
    if bytes.is_multiple_of(page) && bytes <= cap {
        let used = bytes / page;
        format!(
            "[{}{}] {bytes} of {cap} bytes",
            "#".repeat(used),
            ".".repeat(slots - used)
        )
    } else {
        format!("{bytes} of {cap} bytes")
    }
}

/// How slow the reader is.
#[derive(Debug, Clone)]
pub struct Args {
    /// The reader waits this long before reading (the timeline takes about three times as long).
    pub delay: Duration,
}

/// The timeline: exit status 0, or 1 when the writer failed.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    let delay = args.delay;
    // A pipe keeps its bytes in pages, one to each of its slots. The writer writes a whole page
    // at a time: each write takes a slot of its own, and waits once none is free. The reader
    // frees a slot with each page it reads.
    const FINAL: usize = 100;
    let page = pipe::page_size();
    let term = Termination::install()?;
    let p = pipe::pipe(false)?;
    let cap = pipe::set_capacity(p.write.as_fd(), 4 * page)?;
    ui.call(&format!("fcntl(fd, F_SETPIPE_SZ, {})", 4 * page), cap);
    ui.meaning(
        "each level is ioctl(fd, FIONREAD) at that moment, the bytes waiting to be read; [#...] marks the slots they fill, one page each",
    );
    let slots = cap / page;
    let chunks = slots + 1;
    let clock = Clock(Instant::now());
    out_line(format_args!(
        "a pipe of {cap} bytes: {} of one page ({page} bytes) each; the writer writes {chunks} x {page} bytes, the reader waits {} s before reading",
        ui::counted(slots as u64, "slot"),
        delay.as_secs_f64()
    ))?;
    let Pipe { read, write } = p;
    let mut writer = sys::fork(|| {
        sys::close_in_child(&read);
        let run = || -> anyhow::Result<()> {
            let data = vec![b'w'; page];
            let write_page = || {
                nix::unistd::write(write.as_fd(), &data).map_err(|errno| SysError {
                    call: "write",
                    errno,
                })
            };
            for i in 1..=chunks {
                let held = pipe::fill(write.as_fd())?;
                if held + page > cap {
                    clock.line(
                        "writer",
                        &format!(
                            "write #{i} of {page} bytes: {}, no free slot: write blocks",
                            level(held, cap, page)
                        ),
                    )?;
                    let start = Instant::now();
                    write_page()?;
                    clock.line(
                        "writer",
                        &format!(
                            "write #{i} returns after {:.1} s, into the slot the reader freed: {}",
                            start.elapsed().as_secs_f64(),
                            level(pipe::fill(write.as_fd())?, cap, page)
                        ),
                    )?;
                } else {
                    write_page()?;
                    let now = pipe::fill(write.as_fd())?;
                    let full = if now + page > cap { ", full" } else { "" };
                    clock.line(
                        "writer",
                        &format!(
                            "write #{i} of {page} bytes went in: {}{full}",
                            level(now, cap, page)
                        ),
                    )?;
                }
            }
            std::thread::sleep(delay * 2);
            clock.line(
                "writer",
                &format!("writes {FINAL} bytes, then closes its end"),
            )?;
            nix::unistd::write(write.as_fd(), &[b'w'; FINAL]).map_err(|errno| SysError {
                call: "write",
                errno,
            })?;
            Ok(())
        };
        match run() {
            Ok(()) => 0,
            Err(e) => child_failed(ui, e),
        }
    })?;
    drop(write);
    // The reader: slow at first, so that the writer fills the pipe and blocks.
    let mut buf = vec![0u8; cap];
    if let Some(sig) = term.sleep(delay) {
        return Err(ui::Interrupted(sig).into());
    }
    // What it finds, then what it does: the level after this read is the writer's to tell, as
    // the writer refills the freed slot at once.
    let held = pipe::fill(read.as_fd())?;
    clock.line(
        "reader",
        &format!(
            "finds {} and reads {page} bytes (one page): a slot is free",
            level(held, cap, page)
        ),
    )?;
    read_fd(read.as_fd(), &mut buf[..page], &term)?;
    if let Some(sig) = term.sleep(delay / 2) {
        return Err(ui::Interrupted(sig).into());
    }
    let held = pipe::fill(read.as_fd())?;
    let mut got = 0;
    while got < held {
        got += read_fd(read.as_fd(), &mut buf[..held - got], &term)?;
    }
    clock.line(
        "reader",
        &format!(
            "reads {}, everything: the pipe is empty, {}",
            ui::counted(got as u64, "byte"),
            level(pipe::fill(read.as_fd())?, cap, page)
        ),
    )?;
    clock.line(
        "reader",
        "reads again: nothing to read, so read blocks until the writer writes",
    )?;
    let start = Instant::now();
    let n = read_fd(read.as_fd(), &mut buf, &term)?;
    clock.line(
        "reader",
        &format!(
            "read returns {} after {:.1} s: the pipe is empty again, {}",
            ui::counted(n as u64, "byte"),
            start.elapsed().as_secs_f64(),
            level(pipe::fill(read.as_fd())?, cap, page)
        ),
    )?;
    let mut n = n;
    while n > 0 {
        n = read_fd(read.as_fd(), &mut buf, &term)?;
    }
    clock.line(
        "reader",
        "read returns 0: end of file, the writer closed its end",
    )?;
    let status = wait_child(&mut writer, &term, ui)?;
    Ok(if matches!(status, WaitStatus::Exited(_, 0)) {
        0
    } else {
        1
    })
}
