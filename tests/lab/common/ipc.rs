//! IPC names and cleanup: keys and queue names of a test's own (pid and a counter), the kernel's
//! tables of segments and semaphore sets, the ids a run names, guards that remove what a test
//! made, and a shm-master waiting for a slave.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::process::{Running, cmd};

/// A key no other test (nor another run of this suite) uses: pid and a counter.
pub fn unique_key() -> i32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) & 0xff;
    (0x5a00_0000 | ((std::process::id() & 0xffff) << 8) | n) as i32
}

/// One row of /proc/sysvipc/shm, which every user may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRow {
    pub key: i32,
    pub id: i32,
    pub perms: u32,
    pub size: usize,
    pub nattch: u64,
}

pub fn segment(id: i32) -> Option<SegmentRow> {
    let table = std::fs::read_to_string("/proc/sysvipc/shm").expect("read /proc/sysvipc/shm");
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.get(1)?.parse::<i32>().ok()? == id).then(|| SegmentRow {
            key: f[0].parse().unwrap(),
            id,
            perms: u32::from_str_radix(f[2], 8).unwrap(),
            size: f[3].parse().unwrap(),
            nattch: f[6].parse().unwrap(),
        })
    })
}

pub fn segment_exists(id: i32) -> bool {
    segment(id).is_some()
}

/// The /proc/sysvipc/shm lines of the segments that one of `pids` created (the `cpid` column):
/// what a run left, whatever else the machine holds.
pub fn segments_created_by(pids: &[i32]) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/sysvipc/shm").expect("read /proc/sysvipc/shm");
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let cpid = header
        .iter()
        .position(|h| *h == "cpid")
        .expect("a cpid column in /proc/sysvipc/shm");
    lines
        .filter(|line| {
            line.split_whitespace()
                .nth(cpid)
                .and_then(|p| p.parse::<i32>().ok())
                .is_some_and(|p| pids.contains(&p))
        })
        .map(str::to_string)
        .collect()
}

/// The id in the first `Shared Memory Id = N` line of `text` (shm-master's, and shm-race's
/// with `--others`).
#[track_caller]
pub fn id_line(text: &str) -> i32 {
    text.lines()
        .find_map(|l| l.strip_prefix("Shared Memory Id = ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no id line in {text:?}"))
}

/// The ids a `--explain` narration names after calls starting with `call` (`shmget(`,
/// `semget(`): `  shmget(IPC_PRIVATE, 1024, IPC_CREAT|0600) = 7` gives 7.
pub fn ids_after(stderr: &str, call: &str) -> Vec<i32> {
    stderr
        .lines()
        .filter_map(|line| {
            let (_, id) = line.trim_start().strip_prefix(call)?.rsplit_once(") = ")?;
            id.parse().ok()
        })
        .collect()
}

/// The fields of semaphore set `id`'s row in /proc/sysvipc/sem, which every user may read:
/// key semid perms nsems uid gid cuid cgid otime ctime.
pub fn semaphore_set_row(id: i32) -> Option<Vec<String>> {
    let table = std::fs::read_to_string("/proc/sysvipc/sem").expect("read /proc/sysvipc/sem");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        (fields.get(1)?.parse::<i32>().ok()? == id).then_some(fields)
    })
}

/// Whether the kernel has semaphore set `id`.
pub fn semaphore_set_exists(id: i32) -> bool {
    semaphore_set_row(id).is_some()
}

/// Whether a semop on set `id` has succeeded yet (its otime is set): a race has started.
pub fn semaphore_used(id: i32) -> bool {
    semaphore_set_row(id).is_some_and(|f| f.get(8).is_some_and(|otime| otime != "0"))
}

/// Remove a segment a test made or a killed process left (ignores one already gone).
pub fn remove_segment(id: i32) {
    let _ = Command::new("ipcrm")
        .args(["-m", &id.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// A master started with `args`, once it has printed its id. Dropping it also removes the
/// segment, should a failing test leave one.
pub struct Master {
    pub run: Running,
    pub id: i32,
}

impl Master {
    pub fn start(args: &[&str]) -> Master {
        let mut c = cmd("shm-master");
        c.args(args);
        Master::start_cmd(c)
    }

    /// A master started with `c` (as another user, say), once it has printed its id.
    pub fn start_cmd(mut c: Command) -> Master {
        let mut run = Running::spawn(&mut c);
        let id = id_line(&run.wait_stdout("Shared Memory Id = "));
        Master { run, id }
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if let Ok(None) = self.run.child.try_wait() {
            let _ = self.run.child.kill();
            let _ = self.run.child.wait();
        }
        remove_segment(self.id);
    }
}

/// The three lines the notes' master prints for 5, 7, -9.
pub fn read_lines(values: &[i32]) -> String {
    values
        .iter()
        .map(|v| format!("Read {v} from shared memory.\n"))
        .collect()
}

/// A queue name no other test (nor another run of this suite) uses: `/ipc-lab-test-<pid>-<n>`.
pub fn unique_queue() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("/ipc-lab-test-{}-{n}", std::process::id())
}

/// A queue name a test owns: dropping the guard removes the queue (mq_unlink), however the test
/// ends, so that a failed assertion leaves nothing behind. It does not create the queue.
pub struct QueueGuard {
    pub name: String,
}

impl QueueGuard {
    /// A fresh name of this test's own.
    pub fn new() -> QueueGuard {
        QueueGuard {
            name: unique_queue(),
        }
    }

    /// The mailbox `mq-recv --mine` (or `--listen` with no queue) makes for process `pid`.
    pub fn for_pid(pid: u32) -> QueueGuard {
        QueueGuard {
            name: ipc_lab::mq::QueueName::for_pid(pid).as_str().to_string(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    fn queue_name(&self) -> ipc_lab::mq::QueueName {
        ipc_lab::mq::QueueName::parse(&self.name).expect("a valid test queue name")
    }

    /// Whether the queue exists (asked of the kernel, without creating it).
    pub fn exists(&self) -> bool {
        ipc_lab::mq::exists(&self.queue_name())
    }

    fn open(&self) -> ipc_lab::mq::Mailbox {
        use ipc_lab::mq::{Access, Mailbox, OpenOptions};
        Mailbox::open(&self.queue_name(), &OpenOptions::existing(Access::Receive))
            .unwrap_or_else(|e| panic!("open {}: {e:#}", self.name))
    }

    /// The queue's attributes now (mq_getattr); the queue must exist.
    pub fn attributes(&self) -> ipc_lab::mq::Attributes {
        self.open().attributes().expect("mq_getattr")
    }

    /// The queue's permission bits, from fstat(2) on its descriptor (no /dev/mqueue needed).
    pub fn mode(&self) -> u32 {
        let mailbox = self.open();
        let stat = nix::sys::stat::fstat(mailbox.as_fd()).expect("fstat on a queue");
        stat.st_mode as u32 & 0o777
    }
}

impl Drop for QueueGuard {
    fn drop(&mut self) {
        if let Ok(name) = std::ffi::CString::new(self.name.as_str()) {
            let _ = nix::mqueue::mq_unlink(name.as_c_str());
        }
    }
}

/// Whether the mqueue file system is mounted in this mount namespace (at /dev/mqueue as a rule;
/// scripts/private-ipc.sh mounts its namespace's at a directory of its own): the programs look
/// there for the owner of a queue they may not open.
pub fn mqueue_listed() -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(2) == Some("mqueue"))
    })
}
