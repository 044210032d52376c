//! Where the student's program makes its IPC objects, and what it leaves behind.
//!
//! lab-check moves itself into an IPC namespace of its own before it runs anything (as root, or
//! in a user namespace where the kernel allows unprivileged ones): the student's program and the
//! reference programs then share an empty set of segments, semaphore sets and queues that no
//! other process sees, every object found there after a run is the run's, and the namespace
//! (with anything left in it) goes when lab-check ends. Where no namespace can be made, the
//! user's own objects are compared before and after each run: what is new was made by the run,
//! unless another program of the same user made it meanwhile.

#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

/// How the runs are kept apart from the rest of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// A private IPC namespace; with `mqueue` its own POSIX queue file system at /dev/mqueue.
    Namespace { mqueue: bool },
    /// The machine's own IPC objects, for the reason given.
    Shared(String),
}

impl Isolation {
    /// One line for `--explain` and the report.
    pub fn describe(&self) -> String {
        match self {
            Isolation::Namespace { .. } => {
                "the programs run in a private IPC namespace: what they leave is found and removed"
                    .to_string()
            }
            Isolation::Shared(why) => format!(
                "the programs share the machine's IPC objects ({why}): your objects are compared \
                 before and after each run, so run no other IPC program meanwhile"
            ),
        }
    }
}

/// Move this process into a private IPC namespace (and a mount namespace, for its own
/// /dev/mqueue). Call it first thing, while the process has one thread: a user namespace
/// cannot be entered by a threaded process.
pub fn isolate() -> Isolation {
    let root = nix::unistd::geteuid().is_root();
    let ipc = CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWNS;
    let result = if root {
        unshare(ipc)
    } else {
        let uid = nix::unistd::getuid();
        let gid = nix::unistd::getgid();
        unshare(ipc | CloneFlags::CLONE_NEWUSER).and_then(|()| {
            // Keep our own uid and gid inside, so the objects are owned as they would be.
            let write = |path: &str, text: String| {
                std::fs::write(path, text).map_err(|e| {
                    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EPERM))
                })
            };
            write("/proc/self/setgroups", "deny".to_string())?;
            write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
            write("/proc/self/gid_map", format!("{gid} {gid} 1"))
        })
    };
    if let Err(errno) = result {
        return Isolation::Shared(format!(
            "no IPC namespace could be made: unshare: {} ({})",
            errno.desc(),
            errno
        ));
    }
    // Mounts made from now on stay in this namespace; then a fresh mqueue file system shows
    // this namespace's queues, and only them.
    let private = mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    );
    let mqueue = private.is_ok()
        && Path::new("/dev/mqueue").is_dir()
        && mount(
            Some("mqueue"),
            "/dev/mqueue",
            Some("mqueue"),
            MsFlags::empty(),
            None::<&str>,
        )
        .is_ok();
    Isolation::Namespace { mqueue }
}

/// One IPC object: its kind and its id or name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Object {
    Segment(i32),
    SemaphoreSet(i32),
    SysvQueue(i32),
    PosixQueue(String),
}

impl Object {
    /// "segment 32768", "POSIX queue /lab".
    pub fn describe(&self) -> String {
        match self {
            Object::Segment(id) => format!("shared memory segment {id}"),
            Object::SemaphoreSet(id) => format!("semaphore set {id}"),
            Object::SysvQueue(id) => format!("System V message queue {id}"),
            Object::PosixQueue(name) => format!("POSIX message queue /{name}"),
        }
    }

    /// Remove it (IPC_RMID, mq_unlink).
    pub fn remove(&self) -> anyhow::Result<()> {
        match self {
            Object::Segment(id) => crate::shm::ShmId::from_raw(*id).remove(),
            Object::SemaphoreSet(id) => crate::sync::SemId::from_raw(*id).remove(),
            Object::SysvQueue(id) => crate::sys::remove_sysv_queue(*id),
            Object::PosixQueue(name) => {
                let name = crate::mq::QueueName::parse(&format!("/{name}"))?;
                crate::mq::unlink(&name)
            }
        }
    }

    /// Whether it is still there.
    pub fn exists(&self) -> bool {
        match self {
            Object::Segment(id) => crate::sys::sysvipc_lists("shm", *id),
            Object::SemaphoreSet(id) => crate::sys::sysvipc_lists("sem", *id),
            Object::SysvQueue(id) => crate::sys::sysvipc_lists("msg", *id),
            Object::PosixQueue(name) => Path::new("/dev/mqueue").join(name).exists(),
        }
    }
}

/// The IPC objects a run could have made: in a private namespace every one there (POSIX
/// queues where /dev/mqueue is this namespace's); elsewhere those owned by this user (`cuid`,
/// the creator's uid, in /proc/sysvipc; the owner of a queue's file in /dev/mqueue).
pub(crate) fn snapshot(isolation: &Isolation) -> BTreeSet<Object> {
    let me = crate::sys::effective_uid().to_string();
    let private = matches!(isolation, Isolation::Namespace { .. });
    // /proc/sysvipc/TABLE's header names its columns: find cuid there.
    let ids = |table: &str| {
        let text = std::fs::read_to_string(format!("/proc/sysvipc/{table}")).unwrap_or_default();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
        let cuid = header.iter().position(|c| *c == "cuid");
        lines
            .filter_map(|line| {
                let row: Vec<&str> = line.split_whitespace().collect();
                let mine = private || cuid.and_then(|c| row.get(c)) == Some(&me.as_str());
                mine.then(|| row.get(1)?.parse::<i32>().ok())?
            })
            .collect::<Vec<_>>()
    };
    let mut all = BTreeSet::new();
    all.extend(ids("shm").into_iter().map(Object::Segment));
    all.extend(ids("sem").into_iter().map(Object::SemaphoreSet));
    all.extend(ids("msg").into_iter().map(Object::SysvQueue));
    let queues_listed = match isolation {
        Isolation::Namespace { mqueue } => *mqueue,
        Isolation::Shared(_) => true,
    };
    if queues_listed {
        if let Ok(dir) = std::fs::read_dir("/dev/mqueue") {
            use std::os::unix::fs::MetadataExt as _;
            let me = crate::sys::effective_uid();
            all.extend(
                dir.flatten()
                    .filter(|e| private || e.metadata().is_ok_and(|m| m.uid() == me))
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .map(Object::PosixQueue),
            );
        }
    }
    all
}

/// What a run left: the objects there now that were not `before`. Outside a private namespace
/// these are the user's new objects, which another program of the same user running at the
/// same time could have made too: lab-check says so where it reports them.
pub(crate) fn left_since(isolation: &Isolation, before: &BTreeSet<Object>) -> Vec<Object> {
    snapshot(isolation).difference(before).cloned().collect()
}
