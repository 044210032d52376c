//! The sleeper of [`super::context`]: a forked child asleep in `read` on an empty pipe from its
//! parent, so that it surely sleeps inside the kernel while its parent reads its context from
//! /proc/PID; then released with one byte, and reaped.

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::sys::wait::WaitStatus;

use super::procfs::{
    Context, READ_SYSCALL, Syscall, number, parse_limits, parse_maps, parse_syscall, proc_read,
    stat_fields, status_field,
};
use crate::pipe;
use crate::sys::Child;

/// A forked child asleep in `read(fd, buf, 1)` on an empty pipe from its parent, until the
/// parent [releases](Sleeper::release) it. Dropping it kills and reaps the child.
#[derive(Debug)]
pub(crate) struct Sleeper {
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
    pub(crate) fn wait_asleep(&self, stop: impl Fn() -> bool) -> anyhow::Result<bool> {
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
