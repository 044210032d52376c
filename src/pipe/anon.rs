//! A pipe has no name (lecture notes, B3 Unix Pipe): "Behaviour => anonymous FIFO file".
//! `/proc/self/fd` shows both ends of a pipe as `pipe:[INODE]`, a FIFO of the kernel's pipe file
//! system that no directory holds; a named pipe (`mkfifo`) is the same kind of file, with a path.
//!
//! Lab sheet: chapter 3 (`docs/03-pipes.md`), "A pipe has no name: anon".

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, AsRawFd as _, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use super::fifo::{Fifo, narrate_handle};
use crate::pipe::{self, Pipe};
use crate::sys::{self, Termination, fd_number};
use crate::ui::{HintExt as _, Ui, out_line};

/// `/proc/self/fd/N -> TARGET (fstat: ...)` for one descriptor; returns the inode.
fn show_descriptor(fd: BorrowedFd<'_>, ui: &Ui) -> anyhow::Result<u64> {
    let n = fd.as_raw_fd();
    let target = sys::descriptor_link(fd)?;
    ui.call(
        &format!("readlink(\"/proc/self/fd/{n}\")"),
        format!("{target:?}"),
    );
    let (is_fifo, inode) = pipe::fifo_inode(fd)?;
    let kind = if is_fifo { "S_IFIFO" } else { "not S_IFIFO" };
    ui.call(
        &format!("fstat({n})"),
        format!("0: st_mode {kind}, st_ino {inode}"),
    );
    let what = if is_fifo { "a FIFO" } else { "not a FIFO" };
    out_line(format_args!(
        "/proc/self/fd/{n} -> {target} (fstat: {what}, inode {inode})"
    ))?;
    Ok(inode)
}

/// `anon` takes no options.
#[derive(Debug, Clone, Default)]
pub struct Args;

/// What /proc/self/fd says of a pipe's two ends, then of a FIFO's.
pub fn run(_args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    ui.step(1, "a pipe, and what /proc/self/fd says of its two ends");
    let Pipe { read, write } = pipe::pipe(false)?;
    let (r, w) = (fd_number(&read), fd_number(&write));
    ui.call(
        "pipe(fd)",
        format!("0: fd[0] = {r} (read end), fd[1] = {w} (write end)"),
    );
    out_line(format_args!("pipe(fd) = 0: fd[0] = {r}, fd[1] = {w}"))?;
    let a = show_descriptor(read.as_fd(), ui)?;
    let b = show_descriptor(write.as_fd(), ui)?;
    anyhow::ensure!(a == b, "the two ends of one pipe have inodes {a} and {b}");
    out_line(format_args!(
        "one pipe: both ends are inode {a} of the kernel's pipe file system; no directory holds it, so no process can open it by a path, but another can still get an end: by fork, by opening /proc/{}/fd/{r} (if allowed to look into this process), or sent over a Unix socket (SCM_RIGHTS)",
        nix::unistd::getpid()
    ))?;
    term.check()?;

    ui.step(2, "a named pipe (FIFO), opened to read and to write");
    let path = std::env::temp_dir().join(format!("ipc-lab-anon-{}.fifo", nix::unistd::getpid()));
    let shown = path.display().to_string();
    let found = match pipe::make_fifo(&path, 0o600) {
        Ok(found) => found,
        Err(err) if sys::errno_of(&err) == Some(Errno::EEXIST) => {
            let owner = pipe::owner_of(&path)
                .map_or_else(|| "someone".to_string(), |uid| format!("uid {uid}"));
            return Err(err).hint(format!(
                "{shown} was made by {owner} before this run, which makes its FIFO only where nothing is: if it is yours, remove it (rm {shown}); otherwise run with another TMPDIR"
            ));
        }
        Err(err) => return Err(err),
    };
    // Removed again when dropped: on every way out, also a termination signal.
    let fifo = Fifo {
        path: path.clone(),
        found,
        created: true,
    };
    ui.call(&format!("mkfifo({shown:?}, 0600)"), 0);
    narrate_handle(&fifo.found, &path, ui);
    term.check()?;
    // The reader first, without waiting: then the writer finds it and does not wait either.
    let opened = |write: bool, flag: &str| -> anyhow::Result<OwnedFd> {
        let fd = fifo
            .found
            .open(write, true)?
            .ok_or_else(|| term.interrupted())?;
        ui.call(
            &format!("open({:?}, {flag}|O_NONBLOCK)", fifo.found.reopen_path()),
            fd_number(&fd),
        );
        Ok(fd)
    };
    let fifo_read = opened(false, "O_RDONLY")?;
    let fifo_write = opened(true, "O_WRONLY")?;
    out_line(format_args!(
        "mkfifo {}, opened to read and to write",
        path.display()
    ))?;
    show_descriptor(fifo_read.as_fd(), ui)?;
    show_descriptor(fifo_write.as_fd(), ui)?;
    out_line(format_args!(
        "a named pipe: the same kind of file, with a path that any process allowed by its mode can open (removed again at the end)"
    ))?;
    drop((fifo_read, fifo_write));
    term.check()?;
    drop(fifo);
    ui.meaning(&format!("{} removed", path.display()));
    Ok(0)
}
