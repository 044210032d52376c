//! Descriptors: which standard ones were closed when the program started, the width of the
//! terminal one is open on, and whether EMFILE came from this process's descriptor limit.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU8, Ordering};

use nix::errno::Errno;

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
pub fn closed_at_start(fd: i32) -> bool {
    // Refer to the hook, so that the linker keeps the object file that holds it.
    std::hint::black_box(&NOTE_CLOSED_STANDARD_FDS);
    (0..3).contains(&fd) && CLOSED_AT_START.load(Ordering::Relaxed) & (1 << fd) != 0
}

/// The width in columns of the terminal open on `fd` (`ioctl(fd, TIOCGWINSZ)`), or None where
/// `fd` is no terminal, or a terminal that does not say (0 columns, as some serial lines).
pub fn terminal_columns(fd: BorrowedFd<'_>) -> Option<usize> {
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
pub fn descriptor_limit_hint() -> Option<String> {
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
