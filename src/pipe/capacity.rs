//! The bounded buffer (lecture notes, B3 Unix Pipe, Semantic): "pipe functions as circular
//! bounded byte buffer". A pipe whose write end does not block is filled until a write fails with
//! EAGAIN: that is its capacity (F_GETPIPE_SZ), kept in slots of one page each, and what
//! F_SETPIPE_SZ grants when asked for another size. With writes of another size the pipe may hold
//! fewer bytes: the slot rule (`slot_rule` in `mod.rs`) says how many.
//!
//! Lab sheet: chapter 3 (`docs/03-pipes.md`), "A bounded buffer: capacity";
//! `docs/deeper/03-pipes.md`, "Counting the slots: writes of any size" and "Another size:
//! F_SETPIPE_SZ".

#![forbid(unsafe_code)]

use std::os::fd::AsFd;

use nix::errno::Errno;

use crate::pipe::{self, PIPE_BUF};
use crate::sys;
use crate::ui::{self, HintExt as _, Ui, UsageError, out_line};

/// What to ask of the pipe.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// First ask for this capacity (F_SETPIPE_SZ).
    pub size: Option<u64>,
    /// Fill it with writes of this many bytes (1 to the capacity), not whole pages.
    pub write_size: Option<u64>,
}

/// Fill a non-blocking pipe until a write would block, and say what it held.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    let Args { size, write_size } = *args;
    ui.step(
        1,
        "a pipe whose write end does not block: a full pipe makes write fail with EAGAIN",
    );
    let p = pipe::pipe(true)?;
    ui.call("pipe2(fd, O_NONBLOCK)", 0);
    let mut asked = None;
    if let Some(size) = size {
        let granted = match pipe::set_capacity(p.write.as_fd(), size as usize) {
            Ok(n) => n,
            Err(err) => {
                let hint = match sys::errno_of(&err) {
                    Some(Errno::EPERM) => format!(
                        "without privilege a pipe may have at most {} bytes (/proc/sys/fs/pipe-max-size)",
                        pipe::max_capacity().map_or("pipe-max-size".into(), |n| n.to_string())
                    ),
                    Some(Errno::EINVAL) => "ask for 1 byte to 2147483648 bytes".into(),
                    _ => "see fcntl(2), F_SETPIPE_SZ".into(),
                };
                return Err(err).hint(hint);
            }
        };
        ui.call(&format!("fcntl(fd, F_SETPIPE_SZ, {size})"), granted);
        asked = Some((size, granted));
    }
    let cap = pipe::capacity(p.write.as_fd())?;
    let page = pipe::page_size();
    let slots = cap / page;
    if let Some(n) = write_size {
        if n as usize > cap {
            return Err(UsageError(format!(
                "--write-size {n} is more than the pipe's capacity ({cap} bytes): give 1 to {cap}"
            ))
            .into());
        }
    }
    if let Some((size, granted)) = asked {
        out_line(format_args!(
            "asked for {} (F_SETPIPE_SZ): the kernel granted {granted} (whole pages, a power of two)",
            ui::counted(size, "byte")
        ))?;
    }
    let slots_line = format!(
        "F_GETPIPE_SZ: {cap} bytes: {} of one page ({page} bytes) each",
        ui::counted(slots as u64, "slot")
    );
    match write_size {
        None => {
            ui.step(2, "write whole pages until the next write would block");
            let written = pipe::fill_until_full(p.write.as_fd())?;
            ui.meaning(&format!(
                "pages of {page} bytes while they fit, then single bytes until EAGAIN"
            ));
            let waiting = pipe::fill(p.read.as_fd())?;
            ui.call("ioctl(fd[0], FIONREAD)", waiting);
            out_line(format_args!(
                "capacity: {written} bytes written, a page ({page} bytes) at a time, before a write would block (EAGAIN)"
            ))?;
            out_line(format_args!(
                "{slots_line}; writes of other sizes may fill less (--write-size)"
            ))?;
        }
        Some(n) => {
            let n = n as usize;
            ui.step(
                2,
                &format!(
                    "write {} at a time until a write would block",
                    ui::counted(n as u64, "byte")
                ),
            );
            let filled = pipe::fill_with_writes(p.write.as_fd(), n)?;
            let waiting = pipe::fill(p.read.as_fd())?;
            ui.call("ioctl(fd[0], FIONREAD)", waiting);
            let went = if filled.partial.is_empty() {
                format!("{} went in", filled.whole)
            } else {
                format!(
                    "{} went in whole and {} in part",
                    filled.whole,
                    filled.partial.len()
                )
            };
            out_line(format_args!(
                "writes of {} until one would block (EAGAIN): {went}; the pipe holds {} (FIONREAD)",
                ui::counted(n as u64, "byte"),
                ui::counted(waiting as u64, "byte")
            ))?;
            out_line(format_args!("{slots_line}"))?;
            for line in slot_rule_lines(cap, page, n) {
                out_line(format_args!("{line}"))?;
            }
            let rule = pipe::slot_rule(cap, page, n);
            if waiting != rule.bytes || filled != rule {
                out_line(format_args!(
                    "this kernel differs from the rule: the pipe took {waiting} bytes, where the rule says {}",
                    rule.bytes
                ))?;
            }
        }
    }
    out_line(format_args!(
        "PIPE_BUF: {PIPE_BUF} bytes (a write of at most this many bytes is atomic)"
    ))?;
    Ok(0)
}

/// The slot rule for writes of `n` bytes into an empty pipe of `cap` bytes with pages of `page`
/// bytes, and what it makes of them: two lines.
fn slot_rule_lines(cap: usize, page: usize, n: usize) -> [String; 2] {
    let slots = cap / page;
    let rule = pipe::slot_rule(cap, page, n);
    let bytes = ui::counted(rule.bytes as u64, "byte");
    if n < page {
        let per_page = page / n;
        let held = per_page * n;
        let so = if per_page == 1 {
            format!("{n} + {n} > {page}: each write took a fresh page")
        } else if held == page {
            format!("{per_page} writes fill a page exactly")
        } else {
            format!("{per_page} writes fit in a page ({held} bytes), and the next took a fresh one")
        };
        [
            "a write smaller than a page joins the last, part-filled page only if it fits there entirely, else it takes a fresh page".into(),
            format!("{so}, so the {} hold {slots} x {held} = {bytes}", ui::counted(slots as u64, "slot")),
        ]
    } else if n == page {
        [
            "a write of one page takes a fresh page".into(),
            format!(
                "each write filled a page, so the {} hold {slots} x {page} = {bytes}",
                ui::counted(slots as u64, "slot")
            ),
        ]
    } else if n.is_multiple_of(page) {
        let pages = n / page;
        [
            format!("a write of {pages} whole pages takes {pages} fresh pages"),
            format!(
                "so {} went in whole: {bytes}",
                ui::counted(rule.whole, "write")
            ),
        ]
    } else {
        let odd = n % page;
        let parts = if rule.partial.is_empty() {
            String::new()
        } else {
            format!(
                " and {} in part ({})",
                rule.partial.len(),
                ui::counted(rule.partial.iter().sum::<usize>() as u64, "byte")
            )
        };
        [
            format!(
                "a write of more than a page fills fresh pages, but first its part beyond whole pages ({} here) joins the last, part-filled page if it fits there entirely; once no slot is free, a write of more than PIPE_BUF bytes goes in part",
                ui::counted(odd as u64, "byte")
            ),
            format!(
                "so {} went in whole{parts}: {bytes}",
                ui::counted(rule.whole, "write")
            ),
        ]
    }
}
