//! System limits reached: each case lowers one limit in an IPC namespace of its own (so that the
//! machine's limits and objects are untouched), runs a binary that needs one more object, and
//! checks that the error names the limit, its sysctl, and how to free room or raise it.
//! The namespace takes root (unshare --ipc): otherwise the tests say they are skipped.

use std::process::Command;

use crate::common;

/// Whether this process may make an IPC namespace.
fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["--ipc", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Run `setup` (shell, writing /proc/sys) then `bin args` in a fresh IPC namespace; the
/// binary's exit code, stdout and stderr.
fn in_namespace(setup: &str, bin: &str, args: &[&str]) -> (i32, String, String) {
    let script = format!("{setup} && exec \"$0\" \"$@\"");
    let out = Command::new("unshare")
        .arg("--ipc")
        .args(["sh", "-c", &script])
        .arg(common::bin(bin))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("unshare runs");
    (
        common::shell_status(out.status),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each case: the limit lowered, the program, and the exact error and hint expected.
fn check(setup: &str, bin: &str, args: &[&str], error: &str, hint: &str) {
    if !can_unshare() {
        eprintln!("skipped: cannot make an IPC namespace here (it takes root)");
        return;
    }
    let (code, _, stderr) = in_namespace(setup, bin, args);
    assert_eq!(code, 1, "{bin} {args:?} after {setup}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [format!("error: {error}"), format!("hint: {hint}")],
        "{bin} {args:?} after {setup}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn no_segment_allowed_names_shmmni() {
    check(
        "echo 0 > /proc/sys/kernel/shmmni",
        "shm-master",
        &[],
        "cannot create a 40-byte segment with key IPC_PRIVATE: No space left on device (ENOSPC)",
        "the system allows 0 segments (kernel.shmmni), and 0 exist: `ipcs -m` lists them and \
         `ipcrm -m ID` removes one a killed run left; or raise the limit (root: `sysctl -w \
         kernel.shmmni=...`)",
    );
}

#[test]
fn no_page_left_names_shmall() {
    check(
        "echo 0 > /proc/sys/kernel/shmall",
        "shm-race",
        &["counter", "--increments", "10"],
        "cannot create the shared counter's segment: cannot create a 1024-byte segment with key \
         IPC_PRIVATE: No space left on device (ENOSPC)",
        "all segments together may take 0 pages (kernel.shmall); 0 are taken, and this one \
         needs 1: `ipcs -m` lists them and `ipcrm -m ID` removes one a killed run left; or raise \
         the limit (root: `sysctl -w kernel.shmall=...`)",
    );
}

#[test]
fn a_segment_too_big_names_shmmax() {
    check(
        "echo 10 > /proc/sys/kernel/shmmax",
        "shm-master",
        &[],
        "cannot create a 40-byte segment with key IPC_PRIVATE: Invalid argument (EINVAL)",
        "a segment may take at most 10 bytes here (kernel.shmmax): ask for less, or raise the \
         limit (root: `sysctl -w kernel.shmmax=BYTES`)",
    );
}

#[test]
fn no_semaphore_set_allowed_names_semmni() {
    check(
        "echo '250 32000 32 0' > /proc/sys/kernel/sem",
        "shm-race",
        &["counter", "--sync", "semaphore", "--increments", "10"],
        "cannot create a set of 1 semaphore(s): No space left on device (ENOSPC)",
        "the system allows 0 semaphore sets (semmni, the 4th number of kernel.sem), and 0 \
         exist: `ipcs -s` lists them and `ipcrm -s ID` removes one a killed run left; or raise \
         the limit (root: `sysctl -w kernel.sem=...`)",
    );
}

#[test]
fn no_queue_allowed_names_queues_max() {
    check(
        "echo 0 > /proc/sys/fs/mqueue/queues_max",
        "mq-send",
        &["--create", "/limits-test", "hello"],
        "cannot create queue /limits-test: No space left on device (ENOSPC)",
        "too many queues: the system allows 0 (fs.mqueue.queues_max, \
         /proc/sys/fs/mqueue/queues_max); remove the ones you no longer need (`mq-recv --unlink \
         NAME` ends by removing NAME), or raise the limit (root: `sysctl -w \
         fs.mqueue.queues_max=N`)",
    );
}
