//! Who runs a program: the user nobody (setpriv, when this process is root), a umask of the
//! test's choosing, and the capabilities this process has.

use std::process::{Command, Stdio};

use super::files::TempDir;
use super::process::bin;

/// Whether tests can act as another user: root with setpriv (util-linux).
pub fn can_drop_to_nobody() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && Command::new("setpriv")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Return from the test that calls it, saying that it skipped and why (by default, that it
/// needs root and setpriv), unless this process can act as nobody ([`can_drop_to_nobody`]).
#[allow(unused_macros)] // tests/docs.rs has no use for it
macro_rules! skip_unless_nobody {
    () => {
        skip_unless_nobody!("needs root and setpriv to act as nobody")
    };
    ($why:expr) => {
        if !$crate::common::can_drop_to_nobody() {
            eprintln!("skipped: {}", $why);
            return;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use skip_unless_nobody;

/// A command that runs one of our binaries as the user nobody.
pub fn as_nobody(name: &str) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin(name))
        .env("NO_COLOR", "1");
    c
}

/// One of our binaries run as the user nobody, with the mqueue file system mounted on `dir` in
/// a mount namespace of its own (`unshare -m`, gone with the process), so that the program
/// can see who owns a queue it may not open, whatever this machine mounts. None when that
/// cannot be done here (not root, no setpriv or unshare, or the mount refused).
pub fn as_nobody_seeing_queues(name: &str, dir: &TempDir) -> Option<Command> {
    const SCRIPT: &str = "mount -t mqueue none \"$0\" && exec \"$@\"";
    if !can_drop_to_nobody() {
        return None;
    }
    let mountable = Command::new("unshare")
        .args(["-m", "sh", "-c", SCRIPT])
        .arg(&dir.path)
        .arg("true")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mountable {
        return None;
    }
    let mut c = Command::new("unshare");
    c.args(["-m", "sh", "-c", SCRIPT])
        .arg(&dir.path)
        .args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .arg(bin(name))
        .env("NO_COLOR", "1");
    Some(c)
}

/// One of our binaries run through `sh` with the given umask (mq_open applies the umask to the
/// permissions of a queue it creates, so tests about permissions fix it).
pub fn with_umask(umask: u32, name: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", &format!("umask {umask:03o} && exec \"$0\" \"$@\"")])
        .arg(bin(name))
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1");
    c
}

/// Whether the effective capabilities of this process include `cap` (e.g. 24,
/// CAP_SYS_RESOURCE), per /proc/self/status.
pub fn has_capability(cap: u32) -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .is_some_and(|bits| bits & (1u64 << cap) != 0)
    })
}
