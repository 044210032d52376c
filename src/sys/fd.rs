//! Descriptors: which standard ones were closed when the program started, the width of the
//! terminal one is open on, whether EMFILE came from this process's descriptor limit; and the
//! calls on descriptors themselves: dup, dup2, close, O_NONBLOCK, which are open, the limit
//! (RLIMIT_NOFILE), and what /proc/self/fd says of one.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};

use anyhow::Context as _;
use nix::errno::Errno;

use super::error::SysError;

/// The error of `call`, from the errno it failed with (for `map_err`).
fn failed(call: &'static str) -> impl FnOnce(Errno) -> SysError {
    move |errno| SysError { call, errno }
}

/// Which of the standard descriptors 0, 1 and 2 were closed when the program was started
/// (`mq-recv /q >&-`), bit N for descriptor N.
static CLOSED_AT_START: AtomicU8 = AtomicU8::new(0);

/// Note which standard descriptors are closed, before std's start-up code sees them: std
/// reopens a closed one on /dev/null (so that a file opened later cannot become stdout), and a
/// write to it then succeeds and goes nowhere. Runs from `.init_array`, before `main`.
extern "C" fn note_closed_standard_fds() {
    let mut closed = 0u8;
    for fd in 0..3 {
        // SAFETY: F_GETFD only reads this process's descriptor table; any fd number is valid to
        // ask about (a closed one fails with EBADF).
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 && Errno::last() == Errno::EBADF {
            closed |= 1 << fd;
        }
    }
    CLOSED_AT_START.store(closed, Ordering::Relaxed);
}

/// The start-up hook that calls [`note_closed_standard_fds`].
#[used]
// SAFETY: the C start-up code calls each `.init_array` entry once, before `main`, with (argc,
// argv, envp), which a C function of no parameters may ignore. The function needs nothing that
// std sets up: it calls fcntl(2), reads errno (libc's, ready before any constructor) and
// stores to an atomic.
#[unsafe(link_section = ".init_array")]
static NOTE_CLOSED_STANDARD_FDS: extern "C" fn() = note_closed_standard_fds;

/// Whether standard descriptor `fd` (0, 1 or 2) was closed when the program started, though it
/// is open now (std put /dev/null there).
pub(crate) fn closed_at_start(fd: i32) -> bool {
    // Refer to the hook, so that the linker keeps the object file that holds it.
    std::hint::black_box(&NOTE_CLOSED_STANDARD_FDS);
    (0..3).contains(&fd) && CLOSED_AT_START.load(Ordering::Relaxed) & (1 << fd) != 0
}

/// The width in columns of the terminal open on `fd` (`ioctl(fd, TIOCGWINSZ)`), or None where
/// `fd` is no terminal, or a terminal that does not say (0 columns, as some serial lines).
pub(crate) fn terminal_columns(fd: BorrowedFd<'_>) -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `size`, which is valid and writable for the
    // call and read by nothing else meanwhile; the descriptor is borrowed, so open.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// Where EMFILE came from the descriptor limit of this process (RLIMIT_NOFILE, `ulimit -n`), the
/// advice that says so; None when this process is below its limit (EMFILE then has another
/// cause, such as the queue memory budget of mq_open). Looking at /proc/self/fd takes a
/// descriptor itself: at the limit, that look fails with EMFILE too, which tells as much.
pub(crate) fn descriptor_limit_hint() -> Option<String> {
    use nix::sys::resource::{Resource, getrlimit};
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let at_limit = match std::fs::read_dir("/proc/self/fd") {
        // The directory's own descriptor is listed too, and is one more than before the look.
        Ok(dir) => dir.count() as u64 > soft.saturating_sub(1),
        Err(e) => e.raw_os_error() == Some(libc::EMFILE),
    };
    at_limit.then(|| {
        format!(
            "this process has as many files open as it may ({soft}, RLIMIT_NOFILE): raise the limit in this shell (`ulimit -n 1024`), then run it again"
        )
    })
}

/// `dup2(fd, target)`: make `target` (0 for stdin, 1 for stdout) a copy of `fd`. The copy is
/// not close-on-exec, so a program we exec inherits it.
pub fn dup2(fd: BorrowedFd<'_>, target: RawFd) -> anyhow::Result<()> {
    // SAFETY: dup2 on a valid borrowed descriptor; `target` is a standard stream number, which
    // this process owns, and which dup2 closes and replaces atomically.
    let rc = unsafe { libc::dup2(fd.as_raw_fd(), target) };
    Errno::result(rc)
        .map_err(failed("dup2"))
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
        .map_err(failed("dup"))
        .with_context(|| format!("cannot duplicate fd {}", fd.as_raw_fd()))?;
    Ok(copy.into_raw_fd())
}

/// In a forked child: `close(n)` on a standard stream (0, 1 or 2), for example to free number 1
/// for [`dup`]. Returns the errno when it fails (`EBADF`: it was not open).
pub(crate) fn close_stream_in_child(n: RawFd) -> Result<(), Errno> {
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
pub(crate) fn open_descriptors() -> anyhow::Result<Vec<RawFd>> {
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
pub(crate) fn descriptor_limit() -> anyhow::Result<(u64, u64)> {
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_err(failed("getrlimit"))
        .context("cannot read the descriptor limit (RLIMIT_NOFILE)")?;
    Ok((soft, hard))
}

/// `setrlimit(RLIMIT_NOFILE, soft, hard)`: change the soft limit, keeping the hard one.
pub(crate) fn set_descriptor_limit(soft: u64, hard: u64) -> anyhow::Result<()> {
    nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_NOFILE,
        soft as _,
        hard as _,
    )
    .map_err(failed("setrlimit"))
    .with_context(|| format!("cannot set the descriptor limit (RLIMIT_NOFILE) to {soft}"))
}

/// What `/proc/self/fd/N` says of a descriptor (`readlink`): a path for a file with a name,
/// `pipe:[INODE]` for a pipe, which has none.
pub(crate) fn descriptor_link(fd: BorrowedFd<'_>) -> anyhow::Result<String> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let target = std::fs::read_link(&link)
        .map_err(|e| super::io_error("readlink", e))
        .with_context(|| format!("cannot read the link {link}"))?;
    Ok(target.to_string_lossy().into_owned())
}

/// The raw number of a descriptor, for narration.
pub(crate) fn fd_number(fd: &impl AsFd) -> RawFd {
    fd.as_fd().as_raw_fd()
}
