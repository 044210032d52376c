//! Named pipes (lecture notes, B3 Unix Pipe): a pipe behaves as an "anonymous FIFO file"; a named
//! pipe is the FIFO with a name, which lets unrelated processes share it, where a pipe is shared
//! only by related ones. `fifo-write` and `fifo-read` open the two ends of one FIFO (made with
//! `mkfifo` when missing, and then removed at the end); each open waits for the other end.
//!
//! Lab sheet: chapter 3 (`docs/03-pipes.md`), "Named pipes: fifo-write and fifo-read";
//! `docs/deeper/03-pipes.md`, "Named pipes, narrated: why two opens".

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::common::{read_when_ready, write_all};
use crate::pipe;
use crate::sys::{self, Termination, fd_number};
use crate::ui::{self, HintExt as _, Ui};

/// A FIFO held by its handle ([`pipe::FoundFifo`]), made by this run or found at the path. It
/// is removed at the end, on every way out, only if this run made it, and only while the path
/// still names that very FIFO.
pub(super) struct Fifo {
    pub(super) path: PathBuf,
    pub(super) found: pipe::FoundFifo,
    pub(super) created: bool,
}

impl Fifo {
    /// The FIFO at `path`, or a new one made there (mode 0600) if nothing is there.
    fn find_or_make(path: &Path, ui: &Ui) -> anyhow::Result<Fifo> {
        let shown = path.display().to_string();
        // Twice at most: the other end, started at the same moment, may make it in between.
        for _ in 0..2 {
            // What is there may be another user's (a link, a file): then the hint says so.
            let at = match pipe::find_fifo(path) {
                Ok(at) => at,
                Err(err) => return Err(others_hint(err, path, pipe::owner_of(path))),
            };
            match at {
                pipe::AtPath::Fifo(found) => {
                    narrate_handle(&found, path, ui);
                    if let Some(warning) = found.exposure(path) {
                        ui.warn(&warning);
                    }
                    return Ok(Fifo {
                        path: path.to_path_buf(),
                        found,
                        created: false,
                    });
                }
                pipe::AtPath::Nothing => match pipe::make_fifo(path, 0o600) {
                    Ok(found) => {
                        ui.call(&format!("mkfifo({shown:?}, 0600)"), 0);
                        narrate_handle(&found, path, ui);
                        ui.note(&format!("created FIFO {shown} (removed again at the end)"));
                        return Ok(Fifo {
                            path: path.to_path_buf(),
                            found,
                            created: true,
                        });
                    }
                    Err(err) if sys::errno_of(&err) == Some(Errno::EEXIST) => continue,
                    Err(err) if sys::errno_of(&err).is_some() => {
                        return Err(err).hint(format!(
                            "give a path in a directory you can write to, such as /tmp/lab-{}.fifo",
                            sys::login_name()
                        ));
                    }
                    Err(err) => return Err(err),
                },
            }
        }
        anyhow::bail!("{shown} keeps changing: another process makes and removes it")
    }

    /// Open one end (`write`: the writing one) of this very FIFO; open waits until the other end
    /// is opened too, or a termination signal ends the wait.
    fn open(&self, write: bool, term: &Termination, ui: &Ui) -> anyhow::Result<OwnedFd> {
        let (what, other, flag) = if write {
            ("write", "reader", "O_WRONLY")
        } else {
            ("read", "writer", "O_RDONLY")
        };
        ui.note(&format!(
            "opening {} to {what}: open waits until a {other} opens it",
            self.path.display()
        ));
        let opened = self.found.open(write, false).map_err(|err| {
            // Refused: another user's FIFO that its mode keeps closed to this one.
            if sys::errno_of(&err) == Some(Errno::EACCES) {
                others_hint(err, &self.path, Some(self.found.owner))
            } else {
                err
            }
        })?;
        let Some(fd) = opened else {
            return Err(term.interrupted());
        };
        ui.call(
            &format!("open({:?}, {flag})", self.found.reopen_path()),
            fd_number(&fd),
        );
        Ok(fd)
    }
}

/// An error about a FIFO path that another user owns (`owner`, when known) gets the hint to pick
/// a name of one's own: `another user has /tmp/lab.fifo: pick another name, such as
/// /tmp/lab-alice.fifo`, with this user's login name. Others pass as they are.
fn others_hint(err: anyhow::Error, path: &Path, owner: Option<u32>) -> anyhow::Error {
    let me = sys::effective_uid();
    if owner.is_none_or(|uid| uid == me) {
        return err;
    }
    let user = sys::user_name(me).unwrap_or_else(|| format!("uid{me}"));
    let name = |stem: &std::ffi::OsStr| {
        let stem = stem.to_string_lossy();
        match path.extension() {
            Some(ext) => format!("{stem}-{user}.{}", ext.to_string_lossy()),
            None => format!("{stem}-{user}"),
        }
    };
    let suggested = match path.file_stem() {
        Some(stem) => path.with_file_name(name(stem)),
        None => PathBuf::from(format!("{}-{user}", path.display())),
    };
    Err::<(), _>(err)
        .hint(format!(
            "another user has {}: pick another name, such as {}",
            path.display(),
            suggested.display()
        ))
        .unwrap_err()
}

/// `--explain`: the handle a FIFO is held by, and why.
pub(super) fn narrate_handle(found: &pipe::FoundFifo, path: &Path, ui: &Ui) {
    ui.call(
        &format!("open({:?}, O_PATH|O_NOFOLLOW)", path.display().to_string()),
        found.handle_number(),
    );
    let whose = if found.owner == sys::effective_uid() {
        "yours".to_string()
    } else {
        format!("uid {}'s", found.owner)
    };
    ui.meaning(&format!(
        "a handle on the object itself, never on a link; fstat: a FIFO, {whose}, mode {:04o}. \
         Its ends are opened through the handle, so nobody can swap the path in between",
        found.mode
    ));
}

impl Drop for Fifo {
    fn drop(&mut self) {
        if self.created && self.found.is_at(&self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Which end of the FIFO a run opens.
#[derive(Debug, Clone)]
pub enum End {
    /// `fifo-read`: print what comes.
    Read,
    /// `fifo-write`: write these lines, or with none copy standard input.
    Write { messages: Vec<String> },
}

/// The FIFO, and the end to open.
#[derive(Debug, Clone)]
pub struct Args {
    /// The FIFO; made (and removed at the end) if nothing is there.
    pub path: PathBuf,
    pub end: End,
}

/// Open one end of the FIFO at `path` and read or write until end of file.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<i32> {
    match &args.end {
        End::Read => read(&args.path, ui),
        End::Write { messages } => write(&args.path, messages, ui),
    }
}

fn write(path: &Path, messages: &[String], ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    let fifo = Fifo::find_or_make(path, ui)?;
    let fd = fifo.open(true, &term, ui)?;
    if messages.is_empty() {
        // Standard input, copied as it is, a chunk at a time as it comes.
        let stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        loop {
            let n = read_when_ready(stdin.as_fd(), &mut buf, &term)?;
            if n == 0 {
                break;
            }
            write_all(fd.as_fd(), &buf[..n], Some(&term))?;
        }
    } else {
        for m in messages {
            write_all(fd.as_fd(), format!("{m}\n").as_bytes(), Some(&term))?;
        }
    }
    drop(fd);
    ui.meaning("closed: the reader sees end of file");
    Ok(0)
}

fn read(path: &Path, ui: &Ui) -> anyhow::Result<i32> {
    let term = Termination::install()?;
    let fifo = Fifo::find_or_make(path, ui)?;
    let fd = fifo.open(false, &term, ui)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = read_when_ready(fd.as_fd(), &mut buf, &term)?;
        if n == 0 {
            break;
        }
        ui::out_raw(&buf[..n])?;
    }
    ui.meaning("end of file: every writer has closed the FIFO");
    drop(fifo);
    Ok(0)
}
