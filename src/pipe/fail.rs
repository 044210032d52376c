//! `pipe` failing (lecture notes, B3 Unix Pipe, System Calls): it "returns the value of `0` for
//! success, returns non-zero if got error". The soft limit on descriptors (RLIMIT_NOFILE) is
//! lowered to leave room for one more pipe, then `pipe` is called until it fails for real with
//! EMFILE; the limit is put back at the end.
//!
//! Lab sheet: `docs/deeper/03-pipes.md`, "When pipe fails: fail".

#![forbid(unsafe_code)]

use crate::pipe;
use crate::sys::{self, fd_number};
use crate::ui::{self, Ui, out_line};

/// `fail` takes no options.
#[derive(Debug, Clone, Default)]
pub struct Args;

/// Lower the limit, call pipe until it fails, put the limit back: exit status 0.
pub fn run(_args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    // No termination handlers: nothing here waits or needs cleaning up (the limit is this
    // process's own), so a signal simply ends it, and pipe gets the numbers a C program gets.
    ui.step(
        1,
        "how many descriptors may this process have? (RLIMIT_NOFILE)",
    );
    let (soft, hard) = sys::descriptor_limit()?;
    ui.call(
        "getrlimit(RLIMIT_NOFILE)",
        format!("0: soft limit {soft}, hard limit {hard}"),
    );
    let open = sys::open_descriptors()?;
    let shown: Vec<String> = open.iter().map(ToString::to_string).collect();
    let shown = shown.join(", ");
    ui.meaning(&format!("open now (/proc/self/fd): {shown}"));
    // A new descriptor gets the lowest free number: room for the two lowest free numbers, one
    // pipe, and no more. Descriptors open above the limit stay open; only new ones must be below.
    let second_free = (0..)
        .filter(|n| !open.contains(n))
        .nth(1)
        .unwrap_or(i32::MAX - 1);
    let limit = (second_free as u64 + 1).min(hard);
    ui.step(2, "lower the soft limit: room for one more pipe");
    sys::set_descriptor_limit(limit, hard)?;
    ui.call(&format!("setrlimit(RLIMIT_NOFILE, {{{limit}, {hard}}})"), 0);
    ui.meaning(&format!(
        "from now on a new descriptor must be below {limit}"
    ));
    out_line(format_args!(
        "RLIMIT_NOFILE soft limit lowered from {soft} to {limit}: a new descriptor must be below {limit}"
    ))?;
    ui.step(3, "call pipe until it fails");
    let mut pipes = Vec::new();
    let result = loop {
        match pipe::pipe(false) {
            Ok(p) => {
                out_line(format_args!(
                    "pipe(fd) = 0: fd[0] = {}, fd[1] = {}",
                    fd_number(&p.read),
                    fd_number(&p.write)
                ))?;
                pipes.push(p);
                if pipes.len() as u64 > limit {
                    break Err(anyhow::anyhow!(
                        "pipe did not fail after {}, with the soft limit at {limit}",
                        ui::counted(pipes.len() as u64, "pipe")
                    ));
                }
            }
            Err(err) => {
                let Some(errno) = sys::errno_of(&err) else {
                    break Err(err);
                };
                out_line(format_args!("pipe(fd) = -1: {} ({errno:?})", errno.desc()))?;
                out_line(format_args!(
                    "a program checks before it uses fd[] or forks: if (pipe(fd) != 0) {{ perror(\"pipe\"); exit(1); }} prints \"pipe: {}\" and exits 1",
                    errno.desc()
                ))?;
                break Ok(0);
            }
        }
    };
    ui.step(4, "close the pipes, and put the limit back");
    for p in pipes {
        let (r, w) = (fd_number(&p.read), fd_number(&p.write));
        drop(p);
        ui.call(&format!("close({r}), close({w})"), 0);
    }
    sys::set_descriptor_limit(soft, hard)?;
    ui.call(&format!("setrlimit(RLIMIT_NOFILE, {{{soft}, {hard}}})"), 0);
    ui.meaning("a limit lowered only for this process: it ends with it anyway");
    result
}
