//! Files a test owns: a path or a directory of its own in the temporary directory, removed
//! however the test ends, and core dumps allowed (to tell that a program turns them off).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::process::bin;

/// A path in the temporary directory that no other test (nor another run of this suite) uses:
/// `<tmp>/ipc-lab-test-<pid>-<n>-<stem>`. Nothing is made there; whatever is there when the
/// guard is dropped is removed, however the test ends.
pub struct TempPath {
    pub path: PathBuf,
}

impl TempPath {
    pub fn new(stem: &str) -> TempPath {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ipc-lab-test-{}-{n}-{stem}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempPath { path }
    }

    pub fn as_str(&self) -> &str {
        self.path.to_str().expect("a UTF-8 temporary path")
    }

    /// Whether something (of any type) is at the path.
    pub fn exists(&self) -> bool {
        std::fs::symlink_metadata(&self.path).is_ok()
    }

    /// Whether a FIFO is at the path.
    pub fn is_fifo(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.file_type().is_fifo())
    }

    /// Make a FIFO at the path (mode 0600), as a user would with mkfifo(1).
    pub fn make_fifo(&self) {
        nix::unistd::mkfifo(&self.path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .unwrap_or_else(|e| panic!("mkfifo {}: {e}", self.as_str()));
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A directory of its own under the temporary directory that no other test (nor another run of
/// this suite) uses: `<tmp>/ipc-lab-test-<pid>-<n>-<stem>`, made empty; removed with whatever it
/// holds when the guard is dropped, however the test ends.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(stem: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ipc-lab-test-{}-{n}-{stem}.d", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempDir { path }
    }

    /// The names of what the directory holds now, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.path.display()))
            .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The shell words that raise the soft core-size limit (RLIMIT_CORE) to the hard one.
const CORE_LIMIT_UP: &str = "ulimit -c \"$(ulimit -H -c)\"";

/// One of our binaries run through `sh` with core dumps allowed (the soft RLIMIT_CORE raised to
/// the hard limit, `unlimited` on most systems): a test can then tell that the program itself
/// turns them off.
pub fn with_core_dumps(name: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", &format!("{CORE_LIMIT_UP} && exec \"$0\" \"$@\"")])
        .arg(bin(name))
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1");
    c
}

/// A shell that allows core dumps as [`with_core_dumps`] does, then kills itself with SIGSEGV:
/// what this system leaves in the working directory when a process does dump core.
pub fn dumping_core() -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", &format!("{CORE_LIMIT_UP} && kill -SEGV $$")]);
    c
}

/// Whether the kernel hands core dumps to a program (core_pattern starts with `|`) rather than
/// writing a file; such a program may be handed the dump whatever RLIMIT_CORE says.
pub fn core_dumps_go_to_a_program() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/core_pattern").is_ok_and(|p| p.starts_with('|'))
}
