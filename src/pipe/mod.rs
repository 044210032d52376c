//! Unix pipes (lecture notes, section B3): a one-way, bounded byte buffer in the kernel with two
//! ends, shared by related processes through fork. This file holds the safe types: pipe, the
//! pipe's capacity (F_GETPIPE_SZ / F_SETPIPE_SZ) and fill level (FIONREAD), the slots a pipe's
//! pages are, what /proc says of a process's descriptors; `named.rs` holds the named pipes'
//! (mkfifo). The calls around a pipe that every mechanism shares live in [`crate::sys`]: fork,
//! exec and waitpid, dup and dup2, the descriptor limit (RLIMIT_NOFILE) that makes pipe fail.
//!
//! Each other file is one lesson of the notes, a subcommand of `pipe-demo` (`common.rs` holds what
//! they share):
//!
//! | lesson | the idea |
//! |--------|----------|
//! | [`hello`] | the notes' program: the parent writes, the child reads (the default) |
//! | [`fail`] | pipe returns non-zero on an error: EMFILE, out of descriptors |
//! | [`dup`] | close(1); dup(fd\[1\]): a standard channel attached to a pipe |
//! | [`redirect`] | the shell's `CMD1 \| CMD2` built with pipe, fork, dup2, exec and wait |
//! | [`capacity`](mod@capacity) | a circular bounded byte buffer: its capacity, in page slots |
//! | [`blocking`] | writers wait when it is full, readers when it is empty |
//! | [`eof`] | end of file comes once every write end is closed |
//! | [`broken`] | no reader left: SIGPIPE, or EPIPE |
//! | [`duplex`] | one pipe one way (half duplex), two pipes both ways (full duplex) |
//! | [`writers`] | several writers: writes of at most PIPE_BUF bytes stay whole |
//! | [`readers`] | several readers: each record goes whole to exactly one |
//! | [`anon`] | an anonymous FIFO file: a pipe has no path, a named pipe has one |
//! | [`fifo`] | named pipes between unrelated processes (`fifo-read`, `fifo-write`) |

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::unistd::Pid;

use crate::sys::SysError;

pub mod anon;
pub mod blocking;
pub mod broken;
pub mod capacity;
mod common;
pub mod dup;
pub mod duplex;
pub mod eof;
pub mod fail;
pub mod fifo;
pub mod hello;
mod named;
pub mod readers;
mod records;
pub mod redirect;
pub mod writers;

pub(crate) use named::{AtPath, FoundFifo, find_fifo, make_fifo, owner_of};

/// PIPE_BUF: a write of at most this many bytes to a pipe is atomic (never interleaved).
pub const PIPE_BUF: usize = libc::PIPE_BUF;

fn sys(call: &'static str) -> impl FnOnce(Errno) -> SysError {
    move |errno| SysError { call, errno }
}

/// The two ends of a pipe: `fd[0]` to read, `fd[1]` to write. Dropping an end closes it.
#[derive(Debug)]
pub struct Pipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

/// `pipe2(fd, O_CLOEXEC [| O_NONBLOCK])`. Close-on-exec: a program we exec gets only the ends
/// we put on its stdin or stdout with [`dup2`](crate::sys::dup2).
pub fn pipe(nonblock: bool) -> anyhow::Result<Pipe> {
    let mut flags = OFlag::O_CLOEXEC;
    if nonblock {
        flags |= OFlag::O_NONBLOCK;
    }
    let (read, write) = nix::unistd::pipe2(flags)
        .map_err(sys("pipe"))
        .context("cannot create a pipe")?;
    Ok(Pipe { read, write })
}

/// The pipe's capacity in bytes (`fcntl(fd, F_GETPIPE_SZ)`).
pub fn capacity(fd: BorrowedFd<'_>) -> anyhow::Result<usize> {
    let n = fcntl(fd, FcntlArg::F_GETPIPE_SZ)
        .map_err(sys("fcntl"))
        .context("cannot read the pipe's capacity (F_GETPIPE_SZ)")?;
    Ok(n as usize)
}

/// Ask for a capacity (`fcntl(fd, F_SETPIPE_SZ, bytes)`); the kernel rounds up to a power of two
/// pages and returns what it granted.
pub(crate) fn set_capacity(fd: BorrowedFd<'_>, bytes: usize) -> anyhow::Result<usize> {
    let asked = i32::try_from(bytes).unwrap_or(i32::MAX);
    let n = fcntl(fd, FcntlArg::F_SETPIPE_SZ(asked))
        .map_err(sys("fcntl"))
        .with_context(|| {
            format!("cannot set the pipe's capacity to {bytes} bytes (F_SETPIPE_SZ)")
        })?;
    Ok(n as usize)
}

/// The largest capacity an unprivileged process may ask for (/proc/sys/fs/pipe-max-size).
pub(crate) fn max_capacity() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// How many bytes wait in the pipe to be read (`ioctl(fd, FIONREAD, &n)`), from either end.
pub(crate) fn fill(fd: BorrowedFd<'_>) -> anyhow::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points at `n`, alive and
    // writable for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    Errno::result(rc)
        .map_err(sys("ioctl"))
        .context("cannot read how full the pipe is (FIONREAD)")?;
    Ok(n as usize)
}

/// The size of a memory page (`sysconf(_SC_PAGESIZE)`): a pipe keeps its bytes in pages, one
/// page to each of its slots.
pub(crate) fn page_size() -> usize {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
        Ok(Some(n)) if n > 0 => n as usize,
        _ => 4096,
    }
}

/// Write into a non-blocking pipe until it would block, a page at a time, then single bytes;
/// returns the bytes written. Whole pages fill every slot of the pipe, so from empty that is the
/// capacity (smaller writes may fill less: see [`fill_with_writes`]).
pub(crate) fn fill_until_full(write: BorrowedFd<'_>) -> anyhow::Result<usize> {
    let page = vec![b'x'; page_size()];
    let mut total = 0;
    for chunk in [&page[..], &page[..1]] {
        loop {
            match nix::unistd::write(write, chunk) {
                Ok(n) => total += n,
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                Err(errno) => {
                    return Err(SysError {
                        call: "write",
                        errno,
                    })
                    .context("cannot fill the pipe");
                }
            }
        }
    }
    Ok(total)
}

/// How a pipe took writes of one size until a write would block: the writes that went in
/// whole, the ones that went in part (what each wrote), and the bytes it then held.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Filled {
    pub whole: u64,
    pub partial: Vec<usize>,
    pub bytes: usize,
}

/// Write `size` bytes at a time into a non-blocking pipe until a write fails with EAGAIN. A
/// write of more than PIPE_BUF bytes may go in part: it counts as partial, and the writing goes
/// on until one writes nothing.
pub(crate) fn fill_with_writes(write: BorrowedFd<'_>, size: usize) -> anyhow::Result<Filled> {
    let data = vec![b'x'; size];
    let mut filled = Filled::default();
    loop {
        match nix::unistd::write(write, &data) {
            Ok(n) if n == size => filled.whole += 1,
            Ok(0) => break,
            Ok(n) => filled.partial.push(n),
            Err(Errno::EAGAIN) => break,
            Err(Errno::EINTR) => continue,
            Err(errno) => {
                return Err(SysError {
                    call: "write",
                    errno,
                })
                .with_context(|| format!("cannot fill the pipe with writes of {size} bytes"));
            }
        }
    }
    filled.bytes = filled.whole as usize * size + filled.partial.iter().sum::<usize>();
    Ok(filled)
}

/// What the slot rule predicts for writes of `size` bytes into an empty pipe of `capacity`
/// bytes with pages of `page` bytes, none read, until a write would block. The pipe has
/// capacity / page slots, one page each. A write first puts its odd bytes (`size % page`: all of
/// it, if it is smaller than a page) into the last, part-filled page, if they fit there entirely
/// and the pipe is not empty; the rest goes into fresh pages, a page at a time, while a slot is
/// free. A write that finds room for none of its bytes fails (EAGAIN); one of more than PIPE_BUF
/// bytes may go in part (never one of PIPE_BUF or fewer: it fits in a page).
pub(crate) fn slot_rule(capacity: usize, page: usize, size: usize) -> Filled {
    let slots = capacity / page.max(1);
    let mut pages: Vec<usize> = Vec::with_capacity(slots);
    let mut filled = Filled::default();
    if size == 0 || page == 0 {
        return filled;
    }
    loop {
        let (mut rest, mut wrote) = (size, 0);
        let odd = size % page;
        match pages.last_mut() {
            Some(last) if odd > 0 && *last + odd <= page => {
                *last += odd;
                rest -= odd;
                wrote += odd;
            }
            _ => {}
        }
        while rest > 0 && pages.len() < slots {
            let k = rest.min(page);
            pages.push(k);
            rest -= k;
            wrote += k;
        }
        if wrote == 0 {
            break;
        }
        if wrote == size {
            filled.whole += 1;
        } else {
            filled.partial.push(wrote);
        }
        filled.bytes += wrote;
    }
    filled
}

/// How a descriptor was opened: to read, to write, or both (the access mode of its flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
    ReadWrite,
}

/// One entry of a process's descriptor table, as /proc shows it: the number, what it refers to
/// (`readlink /proc/PID/fd/N`: a path, `pipe:[INODE]`, `socket:[INODE]`), and from
/// `/proc/PID/fdinfo/N` its access mode and whether it is close-on-exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Descriptor {
    pub number: RawFd,
    pub target: String,
    pub access: Access,
    pub cloexec: bool,
}

/// The descriptor table of this process (`None`) or of another one, a child say (`Some(pid)`),
/// in order of number, read from `/proc/self/fd` or `/proc/PID/fd` and `fdinfo`. For this process,
/// the descriptor the listing itself used is left out (it is closed again before the look at
/// each entry). A process may look at its own children's tables; the child should hold still
/// meanwhile (stopped, see [`stop_self`](crate::sys::stop_self)) for the table to be one moment's.
pub(crate) fn descriptors(pid: Option<Pid>) -> anyhow::Result<Vec<Descriptor>> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_string(),
    };
    let mut numbers: Vec<RawFd> = std::fs::read_dir(format!("{dir}/fd"))
        .map_err(|e| crate::sys::io_error("opendir", e))
        .with_context(|| format!("cannot list {dir}/fd"))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    numbers.sort_unstable();
    let mut table = Vec::with_capacity(numbers.len());
    for number in numbers {
        // Gone since the listing: the listing's own descriptor, or one closed meanwhile.
        let Ok(target) = std::fs::read_link(format!("{dir}/fd/{number}")) else {
            continue;
        };
        let Ok(info) = std::fs::read_to_string(format!("{dir}/fdinfo/{number}")) else {
            continue;
        };
        let Some(flags) = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| i64::from_str_radix(f.trim(), 8).ok())
        else {
            continue;
        };
        let access = match flags & i64::from(libc::O_ACCMODE) {
            x if x == i64::from(libc::O_WRONLY) => Access::Write,
            x if x == i64::from(libc::O_RDWR) => Access::ReadWrite,
            _ => Access::Read,
        };
        table.push(Descriptor {
            number,
            target: target.to_string_lossy().into_owned(),
            access,
            cloexec: flags & i64::from(libc::O_CLOEXEC) != 0,
        });
    }
    Ok(table)
}

/// `fstat(fd)`: whether the descriptor is a FIFO (`S_IFIFO`, a pipe or a named pipe), and its
/// inode number.
pub(crate) fn fifo_inode(fd: BorrowedFd<'_>) -> anyhow::Result<(bool, u64)> {
    let st = nix::sys::stat::fstat(fd)
        .map_err(sys("fstat"))
        .with_context(|| format!("cannot fstat fd {}", fd.as_raw_fd()))?;
    let is_fifo = (st.st_mode as libc::mode_t & libc::S_IFMT) == libc::S_IFIFO;
    Ok((is_fifo, st.st_ino as u64))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn a_new_pipe_is_empty_and_whole_pages_fill_its_capacity() {
        let p = pipe(true).unwrap();
        assert_eq!(fill(p.read.as_fd()).unwrap(), 0);
        let cap = capacity(p.write.as_fd()).unwrap();
        assert_eq!(fill_until_full(p.write.as_fd()).unwrap(), cap);
        assert_eq!(fill(p.read.as_fd()).unwrap(), cap);
    }

    #[test]
    fn set_capacity_rounds_up_to_pages() {
        let p = pipe(true).unwrap();
        let granted = set_capacity(p.write.as_fd(), 5000).unwrap();
        assert_eq!(granted, 8192);
        assert_eq!(capacity(p.read.as_fd()).unwrap(), 8192);
        assert_eq!(fill_until_full(p.write.as_fd()).unwrap(), 8192);
    }

    #[test]
    fn the_slot_rule_with_pages_of_4096_bytes() {
        let bytes = |size| slot_rule(65536, 4096, size).bytes;
        assert_eq!(bytes(2049), 32784);
        assert_eq!(bytes(3000), 48000);
        assert_eq!(bytes(1000), 64000);
        assert_eq!(bytes(1), 65536);
        assert_eq!(bytes(4096), 65536);
        let odd = slot_rule(65536, 4096, 4097);
        assert_eq!(
            (odd.whole, odd.partial.clone(), odd.bytes),
            (10, vec![4096], 45066)
        );
        // A part-filled last page takes the odd bytes of a write even with no slot free.
        let full = slot_rule(8192, 4096, 5000);
        assert_eq!(
            (full.whole, full.partial, full.bytes),
            (1, vec![904; 3], 7712)
        );
    }

    #[test]
    fn the_slot_rule_predicts_what_the_kernel_does() {
        let page = page_size();
        for pages in [1, 2, 4, 16] {
            for size in [
                1,
                7,
                1000,
                page / 2,
                page / 2 + 1,
                page - 1,
                page,
                page + 1,
                3 * page / 2,
                2 * page + 5,
            ] {
                let p = pipe(true).unwrap();
                let cap = set_capacity(p.write.as_fd(), pages * page).unwrap();
                if size > cap {
                    continue;
                }
                let real = fill_with_writes(p.write.as_fd(), size).unwrap();
                assert_eq!(
                    real,
                    slot_rule(cap, page, size),
                    "{size}-byte writes into {cap} bytes"
                );
                assert_eq!(fill(p.read.as_fd()).unwrap(), real.bytes);
            }
        }
    }

    #[test]
    fn descriptors_shows_a_pipes_two_ends() {
        let p = pipe(false).unwrap();
        let table = descriptors(None).unwrap();
        let find = |fd: &OwnedFd| {
            table
                .iter()
                .find(|d| d.number == fd.as_raw_fd())
                .cloned()
                .unwrap_or_else(|| panic!("fd {} not in {table:?}", fd.as_raw_fd()))
        };
        let (r, w) = (find(&p.read), find(&p.write));
        assert!(
            r.target.starts_with("pipe:[") && r.target == w.target,
            "{r:?} {w:?}"
        );
        assert_eq!((r.access, w.access), (Access::Read, Access::Write));
        assert!(r.cloexec && w.cloexec);
        assert!(table.windows(2).all(|x| x[0].number < x[1].number));
    }
}
