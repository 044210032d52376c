//! System V IPC as the kernel shows it to everyone: the tables under /proc/sysvipc, the limits
//! (kernel.shmmni, kernel.sem, ...) and the advice when one is reached, removing a queue, and
//! times as `ipcs -t` shows them.

use super::error::SysError;
use super::words::counted;

/// Remove a System V message queue: `msgctl(id, IPC_RMID, NULL)`.
pub(crate) fn remove_sysv_queue(id: i32) -> anyhow::Result<()> {
    // SAFETY: IPC_RMID reads no buffer, so a null pointer is what it takes.
    let rc = unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    if rc == -1 {
        return Err(anyhow::Error::new(SysError::last("msgctl")))
            .map_err(|e| e.context(format!("cannot remove System V message queue {id}")));
    }
    Ok(())
}

/// Whether a System V IPC table under /proc/sysvipc (`shm`, `sem`, `msg`) lists `id`. Every user
/// may read these tables, so this also answers for objects whose status we may not read.
pub(crate) fn sysvipc_lists(table: &str, id: i32) -> bool {
    let id = id.to_string();
    std::fs::read_to_string(format!("/proc/sysvipc/{table}")).is_ok_and(|text| {
        text.lines()
            .skip(1)
            .any(|line| line.split_whitespace().nth(1) == Some(id.as_str()))
    })
}

/// The rows of a System V table (/proc/sysvipc/shm, sem or msg) in this IPC namespace.
pub(crate) fn sysvipc_rows(table: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(format!("/proc/sysvipc/{table}"))
        .map(|text| {
            text.lines()
                .skip(1)
                .map(|l| l.split_whitespace().map(str::to_string).collect())
                .collect()
        })
        .unwrap_or_default()
}

/// A kernel tunable under /proc/sys, as numbers (`kernel.sem` has four).
pub(crate) fn tunable(path: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/sys/{}", path.replace('.', "/"))).ok()?;
    text.split_whitespace().map(|w| w.parse().ok()).collect()
}

/// Why shmget or semget failed with ENOSPC or EINVAL, naming the limit reached (with its
/// sysctl name and value), and how to free room or raise it: `kind` is "shm" or "sem", `size`
/// the bytes (shm) or semaphores (sem) asked for.
pub(crate) fn sysv_limit_hint(
    kind: &str,
    errno: Option<nix::errno::Errno>,
    size: u64,
) -> Option<String> {
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

/// `HH:MM:SS` in local time for a Unix time in seconds, as `ipcs -t` shows it.
pub(crate) fn local_time(secs: i64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_has_the_clock_shape() {
        let t = local_time(86_399);
        assert_eq!(t.len(), 8, "{t}");
        assert_eq!(&t[2..3], ":");
        assert_eq!(&t[5..6], ":");
    }
}
