//! Why processes need IPC at all (section A of the notes): processes are isolated from each
//! other by default, each with its own memory, so cooperating ones must share a region on
//! purpose; and one reason to cooperate is computational speedup, the same work split over
//! processes that run in parallel.
//!
//! - [`isolation`]: a forked child changes a plain variable and a word of a shared segment; the
//!   parent sees only the shared change, though the plain variable sits at the same address in
//!   both processes.
//! - [`speedup`]: counting primes, split over N forked processes that each write their count
//!   into a slot of one shared segment, timed against one process doing it all.
//! - [`Sleeper`]: what a process is (section B's opening): a forked child asleep in `read` on a
//!   pipe, and its context as /proc shows it to its parent ([`Context`]): address space, the CPU
//!   state saved when it entered the kernel, open files, resource limits.

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::sys::wait::WaitStatus;

use crate::pipe;
use crate::shm::{Access, Attachment, CreateOptions, Segment};
use crate::sys::Child;

/// The most worker processes [`speedup`] forks at once.
pub const MAX_PROCS: usize = 64;

/// A private segment of `words` 64-bit words, marked for removal as soon as it is attached:
/// the kernel frees it with the last detach, however the processes end.
struct Shared {
    _segment: Segment,
    attachment: Attachment,
}

impl Shared {
    fn new(words: usize) -> anyhow::Result<Shared> {
        let segment = Segment::create(&CreateOptions::private(words * 8))
            .context("cannot create the shared segment")?;
        let attachment = segment.id().attach(Access::ReadWrite)?;
        segment.id().remove()?;
        Ok(Shared {
            _segment: segment,
            attachment,
        })
    }

    fn id(&self) -> i32 {
        self._segment.id().as_raw()
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        &self
            .attachment
            .as_atomics_u64()
            .expect("attached read-write")[i]
    }
}

/// What each process saw in [`isolation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// The segment's id (already removed: it went with the last detach).
    pub segment_id: i32,
    /// The address of the plain variable (the same in the parent and in the child).
    pub plain_address: usize,
    /// The address the shared word is attached at.
    pub shared_address: usize,
    pub child_pid: i32,
    /// The parent's view once the child has ended.
    pub parent_plain: u64,
    pub parent_shared: u64,
}

/// The plain and shared values before the fork, and what the child writes into both.
pub const BEFORE: u64 = 1;
pub const CHILD_WRITES: u64 = 2;

/// Fork a child that sets a plain variable and a shared word from [`BEFORE`] to
/// [`CHILD_WRITES`]. `before_fork` is told the segment's id, where it is attached and where the
/// plain variable is; `child_says` runs in the child after its writes (to print what it did,
/// with its pid, the addresses and the values it sees). The parent waits for the child, then
/// reads both.
pub fn isolation(
    before_fork: impl FnOnce(i32, usize, usize),
    child_says: impl FnOnce(i32, usize, usize, u64, u64),
    stop: impl Fn() -> bool,
) -> anyhow::Result<Isolation> {
    let shared = Shared::new(1)?;
    let word = shared.word(0);
    word.store(BEFORE, Ordering::SeqCst);
    let mut plain: u64 = BEFORE;
    let plain_address = std::ptr::addr_of!(plain) as usize;
    let shared_address = shared.attachment.addr();
    before_fork(shared.id(), shared_address, plain_address);
    let mut child = crate::sys::fork(|| {
        // black_box: the store must really happen in this process's own copy.
        plain = std::hint::black_box(CHILD_WRITES);
        word.store(CHILD_WRITES, Ordering::SeqCst);
        let me = std::process::id() as i32;
        child_says(
            me,
            std::ptr::addr_of!(plain) as usize,
            shared_address,
            std::hint::black_box(plain),
            word.load(Ordering::SeqCst),
        );
        0
    })?;
    let child_pid = child.pid().as_raw();
    let status = match child.wait_unless(&stop)? {
        Some(status) => status,
        None => {
            child.kill();
            return Err(crate::sys::Stopped.into());
        }
    };
    anyhow::ensure!(
        crate::sys::shell_status(status) == 0,
        "the child process {}",
        crate::sys::describe(status)
    );
    Ok(Isolation {
        segment_id: shared.id(),
        plain_address,
        shared_address,
        child_pid,
        parent_plain: std::hint::black_box(plain),
        parent_shared: word.load(Ordering::SeqCst),
    })
}

/// Whether `n` is prime, by trial division: deliberately plain work for the CPU.
pub(crate) fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n < 4 {
        return true;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// The numbers in a block: workers take whole blocks in turn.
pub const BLOCK: u64 = 4096;

/// The primes below `below` that worker `k` of `procs` counts: blocks of [`BLOCK`] numbers
/// dealt out in turn (block k, k + procs, ...), so that each worker gets small and large numbers
/// alike, and about the same work. (Dealing out single numbers would give one of two workers
/// all the even ones, and nothing to do.)
pub fn count_share(below: u64, k: usize, procs: usize) -> u64 {
    (k as u64 * BLOCK..below)
        .step_by(BLOCK as usize * procs)
        .map(|start| {
            (start..(start + BLOCK).min(below))
                .filter(|&n| is_prime(n))
                .count() as u64
        })
        .sum()
}

/// One row of [`speedup`]: the work split over `procs` processes.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeedRow {
    pub procs: usize,
    /// The segment the counts were left in (already removed), and the workers' pids.
    pub segment_id: i32,
    pub pids: Vec<i32>,
    /// The primes found: the sum of the workers' counts, read from the shared segment.
    pub primes: u64,
    /// Each worker's count, as it left it in its slot.
    pub counts: Vec<u64>,
    pub elapsed: Duration,
}

/// Count the primes below `below` with `procs` forked workers, each writing its count into its
/// own slot of a shared segment; the parent waits for all of them and adds the slots up.
/// `stop` is asked while waiting: a termination signal kills the workers.
pub fn speedup(below: u64, procs: usize, stop: impl Fn() -> bool) -> anyhow::Result<SpeedRow> {
    anyhow::ensure!(
        (1..=MAX_PROCS).contains(&procs),
        "{procs} processes: from 1 to {MAX_PROCS}"
    );
    let shared = Shared::new(procs)?;
    // Slots start at a value no count can have, so that a worker that never wrote is seen.
    for k in 0..procs {
        shared.word(k).store(u64::MAX, Ordering::SeqCst);
    }
    let start = Instant::now();
    let mut workers: Vec<Child> = Vec::with_capacity(procs);
    for k in 0..procs {
        let slot = shared.word(k);
        workers.push(crate::sys::fork(|| {
            slot.store(count_share(below, k, procs), Ordering::SeqCst);
            0
        })?);
    }
    for worker in &mut workers {
        let status = match worker.wait_unless(&stop)? {
            Some(status) => status,
            None => {
                // Dropping the others kills them too.
                worker.kill();
                return Err(crate::sys::Stopped.into());
            }
        };
        anyhow::ensure!(
            crate::sys::shell_status(status) == 0,
            "a worker process {}",
            crate::sys::describe(status)
        );
    }
    let elapsed = start.elapsed();
    let counts: Vec<u64> = (0..procs)
        .map(|k| shared.word(k).load(Ordering::SeqCst))
        .collect();
    anyhow::ensure!(
        counts.iter().all(|&c| c != u64::MAX),
        "a worker ended without writing its count"
    );
    Ok(SpeedRow {
        procs,
        segment_id: shared.id(),
        pids: workers.iter().map(|w| w.pid().as_raw()).collect(),
        primes: counts.iter().sum(),
        counts,
        elapsed,
    })
}

// ---------------------------------------------------------------------------------------------
// A process's context: a child asleep in read, seen through /proc

/// The number of `read(2)` where this program knows it: 0 on x86_64, 63 on aarch64 (the
/// numbering differs from one architecture to the next). Elsewhere `None`: only the number is
/// shown.
pub const READ_SYSCALL: Option<i64> = if cfg!(target_arch = "x86_64") {
    Some(0)
} else if cfg!(target_arch = "aarch64") {
    Some(63)
} else {
    None
};

/// One line of /proc/PID/maps: a range of the address space, its permissions, and what is
/// mapped there (a file's path, `[heap]`, `[stack]`, `[vdso]`, or nothing for anonymous memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub path: String,
}

/// Parse /proc/PID/maps (`start-end perms offset dev inode [path]`).
pub(crate) fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (start, end) = f.next()?.split_once('-')?;
            let perms = f.next()?.to_string();
            // The path is what follows the fifth field, and may hold spaces.
            let mut rest = line;
            for _ in 0..5 {
                rest = rest.trim_start();
                rest = rest.split_once(' ').map_or("", |(_, r)| r);
            }
            let path = rest.trim().to_string();
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                perms,
                path,
            })
        })
        .collect()
}

/// What /proc/PID/syscall says: the system call the task sleeps in, with its six arguments,
/// and the stack pointer and program counter saved when it entered the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syscall {
    In {
        nr: i64,
        args: [u64; 6],
        sp: u64,
        pc: u64,
    },
    /// Blocked in the kernel, but not in a system call (`-1 SP PC`).
    NotInCall { sp: u64, pc: u64 },
    /// On a CPU right now: no saved state to show.
    Running,
}

fn hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

/// Parse /proc/PID/syscall.
pub(crate) fn parse_syscall(text: &str) -> Option<Syscall> {
    let f: Vec<&str> = text.split_whitespace().collect();
    match f[..] {
        ["running"] => Some(Syscall::Running),
        ["-1", sp, pc] => Some(Syscall::NotInCall {
            sp: hex(sp)?,
            pc: hex(pc)?,
        }),
        [nr, a, b, c, d, e, g, sp, pc] => Some(Syscall::In {
            nr: nr.parse().ok()?,
            args: [hex(a)?, hex(b)?, hex(c)?, hex(d)?, hex(e)?, hex(g)?],
            sp: hex(sp)?,
            pc: hex(pc)?,
        }),
        _ => None,
    }
}

/// One line of /proc/PID/limits: a resource's soft and hard limit, and their unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub name: String,
    pub soft: String,
    pub hard: String,
    pub units: String,
}

/// Parse /proc/PID/limits: the name fills the first 26 columns, then soft, hard and units.
pub(crate) fn parse_limits(text: &str) -> Vec<Limit> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let name = line.get(..26)?.trim().to_string();
            let mut rest = line[26..].split_whitespace();
            Some(Limit {
                name,
                soft: rest.next()?.to_string(),
                hard: rest.next()?.to_string(),
                units: rest.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// The fields of /proc/PID/stat after the command name (which may hold spaces and `)`): the
/// first is field 3, the state.
fn stat_fields(text: &str) -> Vec<String> {
    let rest = text.rfind(')').map_or("", |at| &text[at + 1..]);
    rest.split_whitespace().map(str::to_string).collect()
}

/// A `Name:  value` line of /proc/PID/status.
fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

fn number(value: Option<&str>) -> u64 {
    value
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A process's context as its parent reads it from /proc/PID, while it sleeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub pid: i32,
    /// Its program (/proc/PID/exe).
    pub exe: String,
    /// Its address space (/proc/PID/maps).
    pub maps: Vec<Mapping>,
    /// VmSize and VmRSS from /proc/PID/status, in kB.
    pub vm_size_kb: u64,
    pub vm_rss_kb: u64,
    /// `S (sleeping)`, from /proc/PID/status.
    pub state: String,
    /// Its context switches so far, from /proc/PID/status.
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
    /// /proc/PID/syscall, or the errno when reading it was refused (it needs ptrace access).
    pub syscall: Result<Syscall, Errno>,
    /// The CPU it last ran on (field 39 of /proc/PID/stat).
    pub last_cpu: u32,
    /// Its descriptors and what each links to (/proc/PID/fd).
    pub fds: Vec<(RawFd, String)>,
    /// Its resource limits (/proc/PID/limits).
    pub limits: Vec<Limit>,
}

impl Context {
    /// The mappings of its program.
    pub fn program(&self) -> Vec<&Mapping> {
        self.maps.iter().filter(|m| m.path == self.exe).collect()
    }

    /// The mapping named `name` (`[heap]`, `[stack]`).
    pub fn named(&self, name: &str) -> Option<&Mapping> {
        self.maps.iter().find(|m| m.path == name)
    }

    /// Where an address lies: `its stack`, `its heap`, `its program`, the file name of a
    /// library, `[vdso]`, `an anonymous mapping`, or `no mapping`.
    pub fn place(&self, addr: u64) -> String {
        match self.maps.iter().find(|m| (m.start..m.end).contains(&addr)) {
            None => "no mapping".into(),
            Some(m) if m.path == "[stack]" => "its stack".into(),
            Some(m) if m.path == "[heap]" => "its heap".into(),
            Some(m) if m.path == self.exe => "its program".into(),
            Some(m) if m.path.is_empty() => "an anonymous mapping".into(),
            Some(m) if m.path.starts_with('[') => m.path.clone(),
            Some(m) => m.path.rsplit('/').next().unwrap_or(&m.path).to_string(),
        }
    }

    /// Whether an address lies in an executable mapping.
    pub fn executable(&self, addr: u64) -> bool {
        self.maps
            .iter()
            .any(|m| (m.start..m.end).contains(&addr) && m.perms.contains('x'))
    }

    /// The limit named `name` (`Max open files`).
    pub fn limit(&self, name: &str) -> Option<&Limit> {
        self.limits.iter().find(|l| l.name == name)
    }
}

fn proc_read(pid: i32, file: &str) -> anyhow::Result<String> {
    let path = format!("/proc/{pid}/{file}");
    std::fs::read_to_string(&path)
        .map_err(|e| crate::sys::io_error("read", e))
        .with_context(|| format!("cannot read {path}"))
}

/// A forked child asleep in `read(fd, buf, 1)` on an empty pipe from its parent, until the
/// parent [releases](Sleeper::release) it. Dropping it kills and reaps the child.
#[derive(Debug)]
pub struct Sleeper {
    child: Child,
    write: Option<OwnedFd>,
    /// The pipe's descriptors in the parent when it forked (the child keeps only the read end,
    /// under the same number), and what /proc says of the read end (`pipe:[INODE]`).
    pub read_fd: RawFd,
    pub write_fd: RawFd,
    pub read_link: String,
}

/// In a forked child: close every descriptor but 0, 1, 2 and `keep`, so that the child's list of
/// open files is short, and the same wherever the parent was started from.
fn keep_only_in_child(keep: RawFd) {
    let open: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => return,
    };
    for n in open.into_iter().filter(|&n| n > 2 && n != keep) {
        // SAFETY: this runs in a forked child that leaves through _exit and runs no destructor:
        // the parent's owners of these descriptors never close them in this process, so each is
        // closed once here (the directory's own descriptor, gone already, gives EBADF).
        unsafe { libc::close(n) };
    }
}

impl Sleeper {
    /// `pipe`, then `fork`: the child keeps the read end only and sleeps in `read` on it.
    pub fn fork() -> anyhow::Result<Sleeper> {
        let p = pipe::pipe(false)?;
        let read_fd = crate::sys::fd_number(&p.read);
        let write_fd = crate::sys::fd_number(&p.write);
        let read_link = crate::sys::descriptor_link(p.read.as_fd())?;
        let child = crate::sys::fork(|| {
            keep_only_in_child(read_fd);
            let mut byte = [0u8; 1];
            loop {
                match nix::unistd::read(p.read.as_fd(), &mut byte) {
                    Ok(1) => return 0,
                    Ok(_) => return 1,
                    Err(Errno::EINTR) => {}
                    Err(_) => return 2,
                }
            }
        })?;
        drop(p.read);
        Ok(Sleeper {
            child,
            write: Some(p.write),
            read_fd,
            write_fd,
            read_link,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.pid().as_raw()
    }

    /// Wait until the child sleeps (state `S`) in `read` (when /proc/PID/syscall can be read
    /// and the number of read is known). `Ok(false)` when `stop` says so first.
    pub fn wait_asleep(&self, stop: impl Fn() -> bool) -> anyhow::Result<bool> {
        let pid = self.pid();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if stop() {
                return Ok(false);
            }
            let state = stat_fields(&proc_read(pid, "stat")?)
                .first()
                .cloned()
                .unwrap_or_default();
            if state == "S" {
                let in_read = match std::fs::read_to_string(format!("/proc/{pid}/syscall")) {
                    Ok(text) => match (parse_syscall(&text), READ_SYSCALL) {
                        (Some(Syscall::In { nr, .. }), Some(read)) => nr == read,
                        (Some(Syscall::In { .. }), None) => true,
                        _ => false,
                    },
                    // Refused: the state alone must do.
                    Err(_) => true,
                };
                if in_read {
                    return Ok(true);
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the child {pid} did not go to sleep in read within 10 s (state {state})"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Read the child's context from /proc/PID.
    pub fn context(&self) -> anyhow::Result<Context> {
        let pid = self.pid();
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map_err(|e| crate::sys::io_error("readlink", e))
            .with_context(|| format!("cannot read the link /proc/{pid}/exe"))?
            .to_string_lossy()
            .into_owned();
        let maps = parse_maps(&proc_read(pid, "maps")?);
        let status = proc_read(pid, "status")?;
        let syscall = match std::fs::read_to_string(format!("/proc/{pid}/syscall")) {
            Ok(text) => Ok(parse_syscall(&text)
                .with_context(|| format!("cannot make sense of /proc/{pid}/syscall: {text:?}"))?),
            Err(e) => Err(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
        };
        let stat = stat_fields(&proc_read(pid, "stat")?);
        let last_cpu = stat
            .get(36)
            .and_then(|c| c.parse().ok())
            .with_context(|| format!("no CPU in /proc/{pid}/stat"))?;
        let dir = format!("/proc/{pid}/fd");
        let mut fds: Vec<(RawFd, String)> = std::fs::read_dir(&dir)
            .map_err(|e| crate::sys::io_error("opendir", e))
            .with_context(|| format!("cannot list {dir}"))?
            .filter_map(|e| {
                let e = e.ok()?;
                let n = e.file_name().to_str()?.parse().ok()?;
                let target = std::fs::read_link(e.path()).ok()?;
                Some((n, target.to_string_lossy().into_owned()))
            })
            .collect();
        fds.sort();
        Ok(Context {
            pid,
            exe,
            maps,
            vm_size_kb: number(status_field(&status, "VmSize")),
            vm_rss_kb: number(status_field(&status, "VmRSS")),
            state: status_field(&status, "State").unwrap_or("?").to_string(),
            voluntary_switches: number(status_field(&status, "voluntary_ctxt_switches")),
            involuntary_switches: number(status_field(&status, "nonvoluntary_ctxt_switches")),
            syscall,
            last_cpu,
            fds,
            limits: parse_limits(&proc_read(pid, "limits")?),
        })
    }

    /// Write one byte into the pipe and close the write end: the child's read returns, and it
    /// exits 0. Then wait for it; `None` (the child killed and reaped) when `stop` says so.
    pub fn release(&mut self, stop: impl Fn() -> bool) -> anyhow::Result<Option<WaitStatus>> {
        if let Some(write) = self.write.take() {
            nix::unistd::write(&write, b"x")
                .map_err(|errno| crate::sys::SysError {
                    call: "write",
                    errno,
                })
                .context("cannot write into the pipe to the child")?;
        }
        match self.child.wait_unless(stop)? {
            Some(status) => Ok(Some(status)),
            None => {
                self.child.kill();
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        let small: Vec<u64> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(small, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert_eq!(count_share(100_000, 0, 1), 9592);
    }

    #[test]
    fn read_is_the_number_libc_knows() {
        if let Some(nr) = READ_SYSCALL {
            assert_eq!(nr, libc::SYS_read);
        }
    }

    #[test]
    fn proc_files_parse() {
        assert_eq!(
            parse_syscall("0 0x3 0x7ffd 0x1 0x0 0x0 0x0 0x7ffc 0x7f01\n"),
            Some(Syscall::In {
                nr: 0,
                args: [3, 0x7ffd, 1, 0, 0, 0],
                sp: 0x7ffc,
                pc: 0x7f01
            })
        );
        assert_eq!(parse_syscall("running\n"), Some(Syscall::Running));
        assert_eq!(
            parse_syscall("-1 0x10 0x20"),
            Some(Syscall::NotInCall { sp: 16, pc: 32 })
        );
        assert_eq!(parse_syscall("0 0x3"), None);
        let maps = parse_maps(
            "5555-5556 r-xp 00001000 08:01 42   /a b/proc-demo\n7ffc-7ffd rw-p 00000000 00:00 0   [stack]\n7f00-7f01 rw-p 00000000 00:00 0 \n",
        );
        assert_eq!(maps.len(), 3);
        assert_eq!(maps[0].path, "/a b/proc-demo");
        assert_eq!((maps[1].start, maps[1].perms.as_str()), (0x7ffc, "rw-p"));
        assert_eq!(maps[2].path, "");
        let limits = parse_limits(
            "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 1048576              files     \n",
        );
        assert_eq!(
            limits,
            [Limit {
                name: "Max open files".into(),
                soft: "1024".into(),
                hard: "1048576".into(),
                units: "files".into()
            }]
        );
        assert_eq!(stat_fields("1 (a) b) S 0")[0], "S");
    }

    #[test]
    fn shares_add_up_whatever_the_split() {
        for procs in 1..=7 {
            let total: u64 = (0..procs).map(|k| count_share(10_000, k, procs)).sum();
            assert_eq!(total, 1229, "{procs} shares");
        }
    }
}
