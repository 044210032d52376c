//! A process's context as its parent reads it from /proc/PID (the notes, B: a process has a
//! "memory region (address space)", a "CPU state", a "list of open files" and "resources"): the
//! files /proc/PID/maps, status, syscall, stat and limits, parsed, and what they say of one
//! address or one limit. The lesson is [`super::context`].

#![forbid(unsafe_code)]

use std::os::fd::RawFd;

use anyhow::Context as _;
use nix::errno::Errno;

/// The number of `read(2)` where this program knows it: 0 on x86_64, 63 on aarch64 (the
/// numbering differs from one architecture to the next). Elsewhere `None`: only the number is
/// shown.
pub(crate) const READ_SYSCALL: Option<i64> = if cfg!(target_arch = "x86_64") {
    Some(0)
} else if cfg!(target_arch = "aarch64") {
    Some(63)
} else {
    None
};

/// One line of /proc/PID/maps: a range of the address space, its permissions, and what is
/// mapped there (a file's path, `[heap]`, `[stack]`, `[vdso]`, or nothing for anonymous memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub path: String,
}

/// Parse /proc/PID/maps (`start-end perms offset dev inode [path]`).
pub(super) fn parse_maps(text: &str) -> Vec<Mapping> {
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
pub(crate) enum Syscall {
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
pub(crate) struct Limit {
    pub name: String,
    pub soft: String,
    pub hard: String,
    pub units: String,
}

/// Parse /proc/PID/limits: the name fills the first 26 columns, then soft, hard and units.
pub(super) fn parse_limits(text: &str) -> Vec<Limit> {
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
pub(super) fn stat_fields(text: &str) -> Vec<String> {
    let rest = text.rfind(')').map_or("", |at| &text[at + 1..]);
    rest.split_whitespace().map(str::to_string).collect()
}

/// A `Name:  value` line of /proc/PID/status.
pub(super) fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

pub(super) fn number(value: Option<&str>) -> u64 {
    value
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A process's context as its parent reads it from /proc/PID, while it sleeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Context {
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

    /// The limit named `name` (`Max open files`).
    pub fn limit(&self, name: &str) -> Option<&Limit> {
        self.limits.iter().find(|l| l.name == name)
    }
}

pub(super) fn proc_read(pid: i32, file: &str) -> anyhow::Result<String> {
    let path = format!("/proc/{pid}/{file}");
    std::fs::read_to_string(&path)
        .map_err(|e| crate::sys::io_error("read", e))
        .with_context(|| format!("cannot read {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
