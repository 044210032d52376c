//! Unix pipes (lecture notes, section B3): a one-way, bounded byte buffer in the kernel with two
//! ends, shared by related processes through fork, and the calls around it: pipe, fork, dup,
//! dup2, exec, waitpid, the pipe's capacity (F_GETPIPE_SZ / F_SETPIPE_SZ) and fill level
//! (FIONREAD), the descriptor limit that makes pipe fail (RLIMIT_NOFILE), what /proc/self/fd and
//! fstat say of a descriptor, and named pipes (mkfifo).
//!
//! Every `unsafe` block of the pipe demo lives here. Forking is safe for the child because the
//! binaries that fork are single-threaded: [`fork`] checks that before it forks.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use anyhow::Context as _;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::sys::SysError;

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
/// we put on its stdin or stdout with [`dup2`].
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
pub fn set_capacity(fd: BorrowedFd<'_>, bytes: usize) -> anyhow::Result<usize> {
    let asked = i32::try_from(bytes).unwrap_or(i32::MAX);
    let n = fcntl(fd, FcntlArg::F_SETPIPE_SZ(asked))
        .map_err(sys("fcntl"))
        .with_context(|| {
            format!("cannot set the pipe's capacity to {bytes} bytes (F_SETPIPE_SZ)")
        })?;
    Ok(n as usize)
}

/// The largest capacity an unprivileged process may ask for (/proc/sys/fs/pipe-max-size).
pub fn max_capacity() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// How many bytes wait in the pipe to be read (`ioctl(fd, FIONREAD, &n)`), from either end.
pub fn fill(fd: BorrowedFd<'_>) -> anyhow::Result<usize> {
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
pub fn page_size() -> usize {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
        Ok(Some(n)) if n > 0 => n as usize,
        _ => 4096,
    }
}

/// Write into a non-blocking pipe until it would block, a page at a time, then single bytes;
/// returns the bytes written. Whole pages fill every slot of the pipe, so from empty that is the
/// capacity (smaller writes may fill less: see [`fill_with_writes`]).
pub fn fill_until_full(write: BorrowedFd<'_>) -> anyhow::Result<usize> {
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
pub struct Filled {
    pub whole: u64,
    pub partial: Vec<usize>,
    pub bytes: usize,
}

/// Write `size` bytes at a time into a non-blocking pipe until a write fails with EAGAIN. A
/// write of more than PIPE_BUF bytes may go in part: it counts as partial, and the writing goes
/// on until one writes nothing.
pub fn fill_with_writes(write: BorrowedFd<'_>, size: usize) -> anyhow::Result<Filled> {
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
pub fn slot_rule(capacity: usize, page: usize, size: usize) -> Filled {
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

/// Make a descriptor blocking or not (`fcntl(F_SETFL)`).
pub fn set_nonblocking(fd: BorrowedFd<'_>, nonblock: bool) -> anyhow::Result<()> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(sys("fcntl"))?;
    let mut flags = OFlag::from_bits_retain(flags);
    flags.set(OFlag::O_NONBLOCK, nonblock);
    fcntl(fd, FcntlArg::F_SETFL(flags))
        .map_err(sys("fcntl"))
        .context("cannot change O_NONBLOCK")?;
    Ok(())
}

/// `dup2(fd, target)`: make `target` (0 for stdin, 1 for stdout) a copy of `fd`. The copy is
/// not close-on-exec, so a program we exec inherits it.
pub fn dup2(fd: BorrowedFd<'_>, target: RawFd) -> anyhow::Result<()> {
    // SAFETY: dup2 on a valid borrowed descriptor; `target` is a standard stream number, which
    // this process owns, and which dup2 closes and replaces atomically.
    let rc = unsafe { libc::dup2(fd.as_raw_fd(), target) };
    Errno::result(rc)
        .map_err(sys("dup2"))
        .with_context(|| format!("cannot duplicate fd {} onto fd {target}", fd.as_raw_fd()))?;
    Ok(())
}

/// `dup(fd)`: a copy of `fd` on the lowest descriptor number that is free, which the kernel
/// picks; returns that number. Meant for a standard stream (after `close(1)`, the copy lands on
/// 1): the copy is left open as the process's stdin or stdout, which nothing in Rust owns or
/// closes, so it is returned as a plain number. Not close-on-exec.
pub fn dup(fd: BorrowedFd<'_>) -> anyhow::Result<RawFd> {
    use std::os::fd::IntoRawFd as _;
    let copy = nix::unistd::dup(fd)
        .map_err(sys("dup"))
        .with_context(|| format!("cannot duplicate fd {}", fd.as_raw_fd()))?;
    Ok(copy.into_raw_fd())
}

/// In a forked child: `close(n)` on a standard stream (0, 1 or 2), for example to free number 1
/// for [`dup`]. Returns the errno when it fails (`EBADF`: it was not open).
pub fn close_stream_in_child(n: RawFd) -> Result<(), Errno> {
    if !(0..=2).contains(&n) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: `n` is a standard stream number, which no `OwnedFd` owns: std's stdin and stdout
    // handles use the number without owning it, so nothing closes it a second time; a write to
    // stdout after the close goes to whatever descriptor takes number `n` next (or fails EBADF).
    let rc = unsafe { libc::close(n) };
    Errno::result(rc).map(drop)
}

/// Whether descriptor `n` is open in this process (`fcntl(n, F_GETFD)` succeeds).
pub fn is_open(n: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; on a number that is not open the
    // kernel returns EBADF, and no memory is passed.
    let flags = unsafe { libc::fcntl(n, libc::F_GETFD) };
    flags >= 0
}

/// The descriptors open in this process, in order (the numbers in /proc/self/fd, without the
/// one that listing itself used).
pub fn open_descriptors() -> anyhow::Result<Vec<RawFd>> {
    let names: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .context("cannot list /proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // The directory's own descriptor is closed by now: is_open leaves it out.
    let mut open: Vec<RawFd> = names.into_iter().filter(|&n| is_open(n)).collect();
    open.sort_unstable();
    Ok(open)
}

/// This process's limit on descriptors, `getrlimit(RLIMIT_NOFILE)`: (soft, hard). A new
/// descriptor's number must be below the soft limit.
pub fn descriptor_limit() -> anyhow::Result<(u64, u64)> {
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_err(sys("getrlimit"))
        .context("cannot read the descriptor limit (RLIMIT_NOFILE)")?;
    Ok((soft, hard))
}

/// `setrlimit(RLIMIT_NOFILE, soft, hard)`: change the soft limit, keeping the hard one.
pub fn set_descriptor_limit(soft: u64, hard: u64) -> anyhow::Result<()> {
    nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_NOFILE,
        soft as _,
        hard as _,
    )
    .map_err(sys("setrlimit"))
    .with_context(|| format!("cannot set the descriptor limit (RLIMIT_NOFILE) to {soft}"))
}

/// What `/proc/self/fd/N` says of a descriptor (`readlink`): a path for a file with a name,
/// `pipe:[INODE]` for a pipe, which has none.
pub fn descriptor_link(fd: BorrowedFd<'_>) -> anyhow::Result<String> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let target = std::fs::read_link(&link)
        .map_err(|e| crate::sys::io_error("readlink", e))
        .with_context(|| format!("cannot read the link {link}"))?;
    Ok(target.to_string_lossy().into_owned())
}

/// How a descriptor was opened: to read, to write, or both (the access mode of its flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    ReadWrite,
}

/// One entry of a process's descriptor table, as /proc shows it: the number, what it refers to
/// (`readlink /proc/PID/fd/N`: a path, `pipe:[INODE]`, `socket:[INODE]`), and from
/// `/proc/PID/fdinfo/N` its access mode and whether it is close-on-exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub number: RawFd,
    pub target: String,
    pub access: Access,
    pub cloexec: bool,
}

/// The descriptor table of this process (`None`) or of another one, a child say (`Some(pid)`),
/// in order of number, read from `/proc/self/fd` or `/proc/PID/fd` and `fdinfo`. For this process,
/// the descriptor the listing itself used is left out (it is closed again before the look at
/// each entry). A process may look at its own children's tables; the child should hold still
/// meanwhile (stopped, see [`stop_self`]) for the table to be one moment's.
pub fn descriptors(pid: Option<Pid>) -> anyhow::Result<Vec<Descriptor>> {
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
pub fn fifo_inode(fd: BorrowedFd<'_>) -> anyhow::Result<(bool, u64)> {
    let st = nix::sys::stat::fstat(fd)
        .map_err(sys("fstat"))
        .with_context(|| format!("cannot fstat fd {}", fd.as_raw_fd()))?;
    let is_fifo = (st.st_mode as libc::mode_t & libc::S_IFMT) == libc::S_IFIFO;
    Ok((is_fifo, st.st_ino as u64))
}

/// Set a signal's disposition to its default action (SIG_DFL), e.g. SIGPIPE, which Rust
/// programs ignore and a forked child inherits ignored, also across exec.
pub fn default_action(sig: Signal) -> anyhow::Result<()> {
    // SAFETY: installing SIG_DFL runs no code of ours in a handler.
    unsafe { signal::signal(sig, SigHandler::SigDfl) }
        .map_err(sys("signal"))
        .with_context(|| format!("cannot restore the default action of {}", sig.as_str()))?;
    Ok(())
}

/// Ignore a signal (SIG_IGN).
pub fn ignore(sig: Signal) -> anyhow::Result<()> {
    // SAFETY: SIG_IGN runs no code of ours in a handler.
    unsafe { signal::signal(sig, SigHandler::SigIgn) }
        .map_err(sys("signal"))
        .with_context(|| format!("cannot ignore {}", sig.as_str()))?;
    Ok(())
}

/// A forked child, reaped at the latest when dropped (killed first if it still runs), so that
/// none outlives the demo and none is left a zombie.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    status: Option<WaitStatus>,
}

/// Where [`Child::wait_stopped`] found a child: stopped, or ended (and reaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Halt {
    Stopped,
    Ended(WaitStatus),
}

/// How a child ended, as a shell reports it.
pub fn shell_status(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => 1,
    }
}

/// What a shell would say of a child's end: `exited 0`, `killed by SIGPIPE`.
pub fn describe(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exited {code}"),
        WaitStatus::Signaled(_, sig, core) => {
            format!(
                "killed by {}{}",
                sig.as_str(),
                if core { " (core dumped)" } else { "" }
            )
        }
        other => format!("{other:?}"),
    }
}

impl Child {
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Wait for the child to end (`waitpid`), retrying after a signal interrupts the wait.
    pub fn wait(&mut self) -> anyhow::Result<WaitStatus> {
        loop {
            if let Some(status) = self.wait_unless(|| false)? {
                return Ok(status);
            }
        }
    }

    /// Wait for the child to end, unless `stop` says so when a signal interrupts the wait
    /// (`None`); `stop` is asked before the wait too.
    pub fn wait_unless(&mut self, stop: impl Fn() -> bool) -> anyhow::Result<Option<WaitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        loop {
            if stop() {
                return Ok(None);
            }
            match waitpid(self.pid, None) {
                Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                    self.status = Some(status);
                    return Ok(Some(status));
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => {
                    return Err(SysError {
                        call: "waitpid",
                        errno,
                    })
                    .with_context(|| format!("cannot wait for child {}", self.pid));
                }
            }
        }
    }

    /// Wait until the child stops ([`stop_self`]) or ends, with `waitpid(pid, WUNTRACED)`;
    /// `None` when `stop` says so (asked before the wait and whenever a signal interrupts it).
    pub fn wait_stopped(&mut self, stop: impl Fn() -> bool) -> anyhow::Result<Option<Halt>> {
        if let Some(status) = self.status {
            return Ok(Some(Halt::Ended(status)));
        }
        loop {
            if stop() {
                return Ok(None);
            }
            match waitpid(self.pid, Some(nix::sys::wait::WaitPidFlag::WUNTRACED)) {
                Ok(WaitStatus::Stopped(..)) => return Ok(Some(Halt::Stopped)),
                Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                    self.status = Some(status);
                    return Ok(Some(Halt::Ended(status)));
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => {
                    return Err(SysError {
                        call: "waitpid",
                        errno,
                    })
                    .with_context(|| format!("cannot wait for child {} to stop", self.pid));
                }
            }
        }
    }

    /// Let a stopped child go on (`kill(pid, SIGCONT)`).
    pub fn resume(&self) -> anyhow::Result<()> {
        signal::kill(self.pid, Signal::SIGCONT)
            .map_err(sys("kill"))
            .with_context(|| format!("cannot continue child {}", self.pid))
    }

    /// Whether it has ended, without waiting (`waitpid(pid, WNOHANG)`); reaps it if so.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<WaitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        match waitpid(self.pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                self.status = Some(status);
                Ok(Some(status))
            }
            Ok(_) | Err(Errno::EINTR) => Ok(None),
            Err(errno) => Err(SysError {
                call: "waitpid",
                errno,
            })
            .with_context(|| format!("cannot check on child {}", self.pid)),
        }
    }

    /// Record that the child was reaped elsewhere (a waitpid of the caller's own returned its
    /// end), so that dropping it does not wait again.
    pub fn mark_reaped(&mut self, status: WaitStatus) {
        if matches!(status, WaitStatus::Exited(..) | WaitStatus::Signaled(..)) {
            self.status = Some(status);
        }
    }

    /// Kill the child (SIGKILL) unless it has ended, and reap it.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = signal::kill(self.pid, Signal::SIGKILL);
            let _ = self.wait();
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

fn threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(Iterator::count)
}

/// `fork()`: run `child` in a new process, which then exits with what it returns (`_exit`, so
/// nothing of the parent's is flushed or dropped twice). The child is killed should the parent
/// die first (PR_SET_PDEATHSIG), also after it execs another program. In the child the termination signals
/// take their default actions again, so Ctrl-C ends it. SIGPIPE stays ignored, as in any Rust
/// program: a write to a pipe nobody reads fails with EPIPE, which the child can handle (a
/// closed stdout ends it quietly); [`exec`] restores SIGPIPE's default for the program it runs.
pub fn fork(child: impl FnOnce() -> i32) -> anyhow::Result<Child> {
    anyhow::ensure!(
        threads().is_none_or(|n| n == 1),
        "cannot fork safely: this process runs more than one thread"
    );
    // Whatever sits in stdout's buffer would be written twice, once by each process.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let parent = nix::unistd::getpid();
    // SAFETY: the process is single-threaded (checked above), so the child is a full copy with
    // no lock held by another thread: it may allocate and run any code. It leaves through
    // `_exit` and never returns into the parent's stack frames.
    match unsafe { nix::unistd::fork() }
        .map_err(sys("fork"))
        .context("cannot fork a child process")?
    {
        ForkResult::Parent { child } => Ok(Child {
            pid: child,
            status: None,
        }),
        ForkResult::Child => {
            // Should the parent die without reaping it (SIGKILL, say), the child dies too: no
            // child outlives the demo. Checked after, in case the parent died before.
            // SAFETY: prctl with integer arguments only.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
            if nix::unistd::getppid() != parent {
                exit_now(1);
            }
            for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
                let _ = default_action(sig);
            }
            // A signal that came between fork and the lines above was only recorded, in this
            // copy of the parent's handler state: it ends the child now.
            if let Some(sig) = crate::sys::termination_received() {
                crate::sys::exit_by_signal(sig);
            }
            let code = child();
            let _ = std::io::Write::flush(&mut std::io::stdout());
            exit_now(code)
        }
    }
}

/// In a forked child: close this process's copy of a descriptor that the parent's `OwnedFd`
/// owns (an end the child does not use). The child never drops that `OwnedFd`: it leaves
/// through `_exit`, so the descriptor is closed exactly once in each process.
pub fn close_in_child(fd: &OwnedFd) {
    // SAFETY: the descriptor is open (its owner is alive); in this child process nothing else
    // closes it, because the child ends with _exit and runs no destructors.
    unsafe { libc::close(fd.as_raw_fd()) };
}

/// In a forked child: stop (`raise(SIGSTOP)`) until the parent sends SIGCONT ([`Child::resume`]),
/// so that the parent can look at it as it is at this point ([`descriptors`]).
pub fn stop_self() {
    let _ = signal::raise(Signal::SIGSTOP);
}

/// `_exit(code)`: end this process at once, without running destructors or atexit handlers.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// `execvp(argv[0], argv)`: replace this process with a program found on PATH, with SIGPIPE's
/// default action restored first (an ignored signal stays ignored across exec, and C programs
/// such as `yes` rely on SIGPIPE to end). Returns only on failure, with the errno (the shell
/// then exits 127 for "not found", 126 otherwise).
pub fn exec(argv: &[CString]) -> Errno {
    let Some(program) = argv.first() else {
        return Errno::EINVAL;
    };
    if default_action(Signal::SIGPIPE).is_err() {
        return Errno::last();
    }
    let args: Vec<&CStr> = argv.iter().map(CString::as_c_str).collect();
    match nix::unistd::execvp(program, &args) {
        Ok(never) => match never {},
        Err(errno) => errno,
    }
}

/// What is at a path, looked at once: the object itself (not a link to it), held open, so that
/// every check and the open that follows are about this one object, whatever the path is made to
/// name meanwhile.
#[derive(Debug)]
pub struct FoundFifo {
    /// `open(path, O_PATH|O_NOFOLLOW)`: a handle on the object that allows no read or write.
    handle: OwnedFd,
    /// The owner's uid and the permission bits (fstat on the handle).
    pub owner: u32,
    pub mode: u32,
    dev: u64,
    ino: u64,
}

/// Where a FIFO's path leads, for [`find_fifo`].
#[derive(Debug)]
pub enum AtPath {
    /// Nothing is there: it may be made.
    Nothing,
    /// A FIFO, held.
    Fifo(FoundFifo),
}

/// Look at `path` once, without following a symbolic link (`O_PATH|O_NOFOLLOW`, then `fstat` on
/// that descriptor): a FIFO, nothing, or an error that names what is there instead. A check of
/// the path followed by an open by name would let another user swap the path for a link to a
/// file of yours in between; a check of the descriptor cannot be fooled so.
pub fn find_fifo(path: &Path) -> anyhow::Result<AtPath> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let handle = match nix::fcntl::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(AtPath::Nothing),
        Err(errno) => {
            return Err(SysError {
                call: "open",
                errno,
            })
            .with_context(|| format!("cannot look at {}", path.display()));
        }
    };
    let st = nix::sys::stat::fstat(handle.as_fd())
        .map_err(sys("fstat"))
        .with_context(|| format!("cannot fstat {}", path.display()))?;
    match st.st_mode as libc::mode_t & libc::S_IFMT {
        libc::S_IFIFO => Ok(AtPath::Fifo(FoundFifo {
            handle,
            owner: st.st_uid,
            mode: st.st_mode as u32 & 0o777,
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
        })),
        libc::S_IFLNK => anyhow::bail!(
            "{} is a symbolic link, which is not followed (another user could point it at a file of yours): give the FIFO's own path, or a new path (it will be made)",
            path.display()
        ),
        _ => anyhow::bail!(
            "{} exists and is not a FIFO: give a new path (it will be made) or a FIFO",
            path.display()
        ),
    }
}

/// `mkfifo(path, mode)`: make a FIFO, exclusively (it fails with EEXIST if anything is there),
/// and hold it as [`find_fifo`] does. What is found at the path afterwards must be a FIFO of
/// this user's, or the path was taken over at once, which is an error.
pub fn make_fifo(path: &Path, mode: u32) -> anyhow::Result<FoundFifo> {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(mode as _))
        .map_err(sys("mkfifo"))
        .with_context(|| format!("cannot create the FIFO {}", path.display()))?;
    match find_fifo(path)? {
        AtPath::Fifo(fifo) if fifo.owner == crate::sys::effective_uid() => Ok(fifo),
        _ => anyhow::bail!(
            "{} was replaced right after it was made: another user may be at work in that directory",
            path.display()
        ),
    }
}

/// The owner of whatever is at `path` (not following a link), for an error that names it.
pub fn owner_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|m| m.uid())
}

impl FoundFifo {
    /// The descriptor number of the handle, for narration.
    pub fn handle_number(&self) -> RawFd {
        self.handle.as_raw_fd()
    }

    /// Open one end of this very FIFO: `open("/proc/self/fd/N", O_RDONLY or O_WRONLY)` reopens
    /// the object the handle holds, whatever the path names now. Without `nonblock` this waits
    /// until the other end is opened too, and a termination signal (handlers without
    /// SA_RESTART) ends the wait: `Ok(None)`. With `nonblock` it returns at once for reading,
    /// and fails with `ENXIO` for writing unless a reader has it open already.
    pub fn open(&self, write: bool, nonblock: bool) -> anyhow::Result<Option<OwnedFd>> {
        let mut flags = if write {
            OFlag::O_WRONLY
        } else {
            OFlag::O_RDONLY
        } | OFlag::O_CLOEXEC;
        if nonblock {
            flags |= OFlag::O_NONBLOCK;
        }
        let link = self.reopen_path();
        match nix::fcntl::open(link.as_str(), flags, Mode::empty()) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::EINTR) if !nonblock => Ok(None),
            Err(errno) => Err(SysError {
                call: "open",
                errno,
            })
            .with_context(|| format!("cannot open the FIFO (through {link})")),
        }
    }

    /// The path that reopens the handle's object: `/proc/self/fd/N`.
    pub fn reopen_path(&self) -> String {
        format!("/proc/self/fd/{}", self.handle.as_raw_fd())
    }

    /// Whether `path` still names this very FIFO (same device and inode), without following a
    /// link: so that a FIFO this run made is removed only while it is still the one it made.
    pub fn is_at(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(path).is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino)
    }

    /// The warning for a FIFO another user owns and opened to others, in chapter 5's words.
    pub fn exposure(&self, path: &Path) -> Option<String> {
        crate::sys::exposure_warning(
            &format!("FIFO {}", path.display()),
            self.owner,
            self.mode,
            crate::sys::effective_uid(),
            "read what is written into it",
            "write into it what its reader reads",
        )
    }
}

/// The raw number of a descriptor, for narration.
pub fn fd_number(fd: &impl AsFd) -> RawFd {
    fd.as_fd().as_raw_fd()
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn shell_status_of_a_signal_is_128_plus() {
        let pid = Pid::from_raw(1);
        assert_eq!(shell_status(WaitStatus::Exited(pid, 3)), 3);
        assert_eq!(
            shell_status(WaitStatus::Signaled(pid, Signal::SIGPIPE, false)),
            141
        );
        assert_eq!(
            describe(WaitStatus::Signaled(pid, Signal::SIGPIPE, false)),
            "killed by SIGPIPE"
        );
    }
}
