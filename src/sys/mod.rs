//! Small helpers shared by the mechanism modules: a system-call error that names its errno, and
//! local time for status reports. Thin wrappers only; every `unsafe` block says why it is sound.

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::PollFlags;

/// A failed system call: which call, and the errno it left.
///
/// Displays as `Invalid argument (EINVAL)`, so that a context on top reads
/// `cannot attach segment 7: Invalid argument (EINVAL)`, the house error format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysError {
    /// The system call, as a student would look it up in section 2 of the manual.
    pub call: &'static str,
    /// What the kernel said.
    pub errno: Errno,
}

impl SysError {
    /// The error the last failed call left in `errno`.
    pub fn last(call: &'static str) -> SysError {
        SysError {
            call,
            errno: Errno::last(),
        }
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.errno.desc(), self.errno)
    }
}

impl std::error::Error for SysError {}

/// The errno of a `SysError` anywhere in an error chain, if there is one.
pub fn errno_of(err: &anyhow::Error) -> Option<Errno> {
    err.chain()
        .find_map(|e| e.downcast_ref::<SysError>())
        .map(|e| e.errno)
}

/// An I/O error from std as the house format shows a failed call: `Connection refused
/// (ECONNREFUSED)`, with the call recorded for [`errno_of`]. An error with no errno stays as is.
pub fn io_error(call: &'static str, e: std::io::Error) -> anyhow::Error {
    match e.raw_os_error() {
        Some(code) => anyhow::Error::new(SysError {
            call,
            errno: Errno::from_raw(code),
        }),
        None => anyhow::Error::new(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Standard descriptors closed at start

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

/// A poll(2) timeout for the time `left`, rounded up to whole milliseconds (so that a
/// sub-millisecond remainder still sleeps) and capped at what poll accepts.
pub fn poll_timeout(left: std::time::Duration) -> nix::poll::PollTimeout {
    let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX)
}

/// What one [`wait_any`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waited {
    /// The events of each descriptor asked about, in order (empty when none was ready).
    pub revents: Vec<PollFlags>,
    /// The wake-up descriptor became readable (a termination signal arrived).
    pub woken: bool,
    /// The deadline passed with nothing ready.
    pub timed_out: bool,
}

impl Waited {
    /// Whether descriptor `i` reported any of `flags` (or an error or hang-up, which the next
    /// call on it will report).
    pub fn ready(&self, i: usize, flags: PollFlags) -> bool {
        self.revents.get(i).is_some_and(|r| {
            r.intersects(flags | PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL)
        })
    }
}

/// One `poll(2)` over `fds` and an optional wake-up descriptor, until something is ready or the
/// deadline passes (`None`: no deadline). An interrupted poll (EINTR) returns with nothing ready,
/// so the caller looks at its state again; a wake-up descriptor in the set sees the signal.
pub fn wait_any(
    fds: &[(BorrowedFd<'_>, PollFlags)],
    deadline: Option<Instant>,
    wake: Option<BorrowedFd<'_>>,
) -> nix::Result<Waited> {
    let timeout: i32 = match deadline {
        None => -1,
        Some(deadline) => poll_timeout(deadline.saturating_duration_since(Instant::now())).into(),
    };
    let mut set: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, ev)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: ev.bits(),
            revents: 0,
        })
        .collect();
    if let Some(wake) = wake {
        set.push(libc::pollfd {
            fd: wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
    }
    // poll(2) itself, not nix's wrapper: nix drops every revents bit it has no name for, such as
    // POLLRDHUP, which then reads as nothing ready while poll keeps returning at once.
    // SAFETY: `set` is a valid, initialised array of `set.len()` pollfd structs that lives across
    // the call; the descriptors are borrowed, so open, for the call's duration.
    let n = unsafe { libc::poll(set.as_mut_ptr(), set.len() as libc::nfds_t, timeout) };
    let n = match Errno::result(n) {
        Ok(n) => n,
        Err(Errno::EINTR) => 0,
        Err(errno) => return Err(errno),
    };
    let revents: Vec<PollFlags> = set
        .iter()
        .map(|p| PollFlags::from_bits_retain(p.revents))
        .collect();
    let woken = wake.is_some() && revents.last().is_some_and(|r| !r.is_empty());
    let timed_out = n == 0 && deadline.is_some_and(|d| Instant::now() >= d);
    let mut revents = revents;
    revents.truncate(fds.len());
    Ok(Waited {
        revents,
        woken,
        timed_out,
    })
}

/// Remove a System V message queue: `msgctl(id, IPC_RMID, NULL)`.
pub fn remove_sysv_queue(id: i32) -> anyhow::Result<()> {
    // SAFETY: IPC_RMID reads no buffer, so a null pointer is what it takes.
    let rc = unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    if rc == -1 {
        return Err(anyhow::Error::new(SysError::last("msgctl")))
            .map_err(|e| e.context(format!("cannot remove System V message queue {id}")));
    }
    Ok(())
}

/// Who besides its owner a mode lets in, and to do what: `its group and every other user read
/// and write`, `its group read and every other user write`, `every other user read`; `None`
/// when the group and the others may neither read nor write.
pub fn others_access(mode: u32) -> Option<String> {
    let rights = |bits: u32| match (bits & 0o4 != 0, bits & 0o2 != 0) {
        (true, true) => Some("read and write"),
        (true, false) => Some("read"),
        (false, true) => Some("write"),
        (false, false) => None,
    };
    match (rights(mode >> 3), rights(mode)) {
        (Some(g), Some(o)) if g == o => Some(format!("its group and every other user {g}")),
        (Some(g), Some(o)) => Some(format!("its group {g} and every other user {o}")),
        (Some(g), None) => Some(format!("its group {g}")),
        (None, Some(o)) => Some(format!("every other user {o}")),
        (None, None) => None,
    }
}

/// The warning for an object that another user owns and has opened to others (chapter 5's
/// words): `queue /lab belongs to uid 1001, not to you (uid 1000), and its mode 0666 lets its
/// group and every other user read and write it: anyone can ...`, where what anyone can do is
/// `read_risk` when others may read, `write_risk` when they may write, or both. `None` for an
/// object of this user's own (`me` is the effective uid), or one closed to all but its owner.
pub fn exposure_warning(
    what: &str,
    owner: u32,
    mode: u32,
    me: u32,
    read_risk: &str,
    write_risk: &str,
) -> Option<String> {
    if owner == me {
        return None;
    }
    let who = others_access(mode)?;
    let risks: Vec<&str> = [(0o044, read_risk), (0o022, write_risk)]
        .into_iter()
        .filter(|(bits, _)| mode & bits != 0)
        .map(|(_, risk)| risk)
        .collect();
    Some(format!(
        "{what} belongs to uid {owner}, not to you (uid {me}), and its mode {:04o} lets {who} it: anyone can {}",
        mode & 0o777,
        risks.join(", and ")
    ))
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

/// The effective user id of this process, which the kernel checks permissions against.
pub fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The login name of a user id, from the user database (`getpwuid_r`); `None` when it has none.
pub fn user_name(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
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

/// The login name of the user who runs this process (its real uid), for a name of their own to
/// suggest (`/lab-alice`): from the password database, which `su` and `setpriv` do not fool as
/// they do `$USER`; else `$USER` where it is set; else `uid1000`.
pub fn login_name() -> String {
    let uid = nix::unistd::getuid().as_raw();
    user_name(uid)
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|name| !name.is_empty()))
        .unwrap_or_else(|| format!("uid{uid}"))
}

/// `HH:MM:SS` in local time for a Unix time in seconds, as `ipcs -t` shows it.
pub fn local_time(secs: i64) -> String {
    let t: libc::time_t = secs;
    // SAFETY: `tm` is plain old data, so all zeroes is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is the re-entrant form and keeps
    // no pointer to either after it returns.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
    } else {
        format!("@{secs}")
    }
}

/// Whether a System V IPC table under /proc/sysvipc (`shm`, `sem`, `msg`) lists `id`. Every user
/// may read these tables, so this also answers for objects whose status we may not read.
pub fn sysvipc_lists(table: &str, id: i32) -> bool {
    let id = id.to_string();
    std::fs::read_to_string(format!("/proc/sysvipc/{table}")).is_ok_and(|text| {
        text.lines()
            .skip(1)
            .any(|line| line.split_whitespace().nth(1) == Some(id.as_str()))
    })
}

/// The CPUs this process may run on (its affinity mask), in order.
pub fn allowed_cpus() -> Vec<usize> {
    use nix::sched::{CpuSet, sched_getaffinity};
    match sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|c| set.is_set(*c).unwrap_or(false))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Run this process on the CPUs in `cpus` only (`sched_setaffinity`).
pub fn pin_to_set(cpus: &[usize]) -> anyhow::Result<()> {
    use nix::sched::{CpuSet, sched_setaffinity};
    let mut set = CpuSet::new();
    for cpu in cpus {
        set.set(*cpu)?;
    }
    sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|errno| SysError {
            call: "sched_setaffinity",
            errno,
        })
        .map_err(anyhow::Error::new)
        .map_err(|e| e.context(format!("cannot run this process on CPUs {cpus:?}")))
}

/// How many CPUs are online (`/sys/devices/system/cpu/online`, e.g. `0-1`), or 1.
pub fn online_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|text| {
            text.trim()
                .split(',')
                .map(|part| match part.split_once('-') {
                    Some((a, b)) => Some(b.parse::<usize>().ok()? - a.parse::<usize>().ok()? + 1),
                    None => part.parse::<usize>().ok().map(|_| 1),
                })
                .sum::<Option<usize>>()
        })
        .unwrap_or(1)
}

/// A kernel tunable under /proc/sys, as numbers (`kernel.sem` has four).
pub fn tunable(path: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/sys/{}", path.replace('.', "/"))).ok()?;
    text.split_whitespace().map(|w| w.parse().ok()).collect()
}

/// The rows of a System V table (/proc/sysvipc/shm, sem or msg) in this IPC namespace.
pub fn sysvipc_rows(table: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(format!("/proc/sysvipc/{table}"))
        .map(|text| {
            text.lines()
                .skip(1)
                .map(|l| l.split_whitespace().map(str::to_string).collect())
                .collect()
        })
        .unwrap_or_default()
}

/// Why shmget or semget failed with ENOSPC or EINVAL, naming the limit reached (with its
/// sysctl name and value), and how to free room or raise it: `kind` is "shm" or "sem", `size`
/// the bytes (shm) or semaphores (sem) asked for.
pub fn sysv_limit_hint(kind: &str, errno: Option<nix::errno::Errno>, size: u64) -> Option<String> {
    use crate::cli::counted;
    use nix::errno::Errno;
    let first = |name: &str| tunable(name).and_then(|v| v.first().copied());
    // (why, what lists them, what removes one, the sysctl to raise)
    let (why, list, remove, raise) = match (kind, errno?) {
        ("shm", Errno::ENOSPC) => {
            let rows = sysvipc_rows("shm");
            let page = 4096u64;
            let used: u64 = rows
                .iter()
                .filter_map(|r| r.get(3)?.parse::<u64>().ok())
                .map(|b| b.div_ceil(page))
                .sum();
            match (first("kernel.shmmni"), first("kernel.shmall")) {
                (Some(mni), _) if rows.len() as u64 >= mni => (
                    format!(
                        "the system allows {} (kernel.shmmni), and {} exist",
                        counted(mni, "segment"),
                        rows.len()
                    ),
                    "ipcs -m",
                    "ipcrm -m ID",
                    "kernel.shmmni",
                ),
                (_, Some(all)) => (
                    format!(
                        "all segments together may take {} (kernel.shmall); {used} are taken, and this one needs {}",
                        counted(all, "page"),
                        size.div_ceil(page)
                    ),
                    "ipcs -m",
                    "ipcrm -m ID",
                    "kernel.shmall",
                ),
                _ => return None,
            }
        }
        ("shm", Errno::EINVAL) => match first("kernel.shmmax") {
            Some(max) if size > max => {
                return Some(format!(
                    "a segment may take at most {} here (kernel.shmmax): ask for less, or raise the limit (root: `sysctl -w kernel.shmmax=BYTES`)",
                    counted(max, "byte")
                ));
            }
            _ => return None,
        },
        ("sem", Errno::ENOSPC) => {
            // kernel.sem: semmsl semmns semopm semmni
            let sem = tunable("kernel.sem").unwrap_or_default();
            let rows = sysvipc_rows("sem");
            let in_sets: u64 = rows
                .iter()
                .filter_map(|r| r.get(3)?.parse::<u64>().ok())
                .sum();
            match (sem.get(3), sem.get(1)) {
                (Some(&mni), _) if rows.len() as u64 >= mni => (
                    format!(
                        "the system allows {} (semmni, the 4th number of kernel.sem), and {} exist",
                        counted(mni, "semaphore set"),
                        rows.len()
                    ),
                    "ipcs -s",
                    "ipcrm -s ID",
                    "kernel.sem",
                ),
                (_, Some(&mns)) => (
                    format!(
                        "the system allows {} in all (semmns, the 2nd number of kernel.sem); {in_sets} are in sets, and this set needs {size}",
                        counted(mns, "semaphore")
                    ),
                    "ipcs -s",
                    "ipcrm -s ID",
                    "kernel.sem",
                ),
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(format!(
        "{why}: `{list}` lists them and `{remove}` removes one a killed run left; or raise the limit (root: `sysctl -w {raise}=...`)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_error_names_its_errno() {
        let e = SysError {
            call: "shmat",
            errno: Errno::EINVAL,
        };
        assert_eq!(e.to_string(), "Invalid argument (EINVAL)");
        let chained = anyhow::Error::new(e).context("cannot attach segment 7");
        assert_eq!(
            format!("{chained:#}"),
            "cannot attach segment 7: Invalid argument (EINVAL)"
        );
        assert_eq!(errno_of(&chained), Some(Errno::EINVAL));
    }

    #[test]
    fn poll_timeout_rounds_up_and_caps() {
        use nix::poll::PollTimeout;
        use std::time::Duration;
        assert_eq!(
            poll_timeout(Duration::from_micros(1)),
            PollTimeout::from(1u8)
        );
        assert_eq!(
            poll_timeout(Duration::from_millis(250)),
            PollTimeout::from(250u16)
        );
        assert_eq!(
            poll_timeout(Duration::from_secs(u64::MAX)),
            PollTimeout::MAX
        );
    }

    #[test]
    fn local_time_has_the_clock_shape() {
        let t = local_time(86_399);
        assert_eq!(t.len(), 8, "{t}");
        assert_eq!(&t[2..3], ":");
        assert_eq!(&t[5..6], ":");
    }
}
