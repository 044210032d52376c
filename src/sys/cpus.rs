//! CPUs: the ones this process may run on (its affinity), pinning it to some, how many are
//! online, and how many processes are running on them right now.

use super::error::SysError;

/// The CPUs this process may run on (its affinity mask), in order.
pub(crate) fn allowed_cpus() -> Vec<usize> {
    use nix::sched::{CpuSet, sched_getaffinity};
    match sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|c| set.is_set(*c).unwrap_or(false))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Run this process on the CPUs in `cpus` only (`sched_setaffinity`).
pub(crate) fn pin_to_set(cpus: &[usize]) -> anyhow::Result<()> {
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
pub(crate) fn online_cpus() -> usize {
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

/// How many processes (threads) are running or ready to run right now, this one included
/// (`procs_running` in /proc/stat); None where /proc/stat does not say.
pub(crate) fn running_now() -> Option<u32> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    running_in(&stat)
}

fn running_in(stat: &str) -> Option<u32> {
    stat.lines()
        .find_map(|line| line.strip_prefix("procs_running "))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_now_reads_procs_running_and_counts_this_process() {
        assert_eq!(
            running_in("cpu 1 2\nprocs_running 3\nprocs_blocked 0\n"),
            Some(3)
        );
        assert_eq!(running_in("cpu 1 2\n"), None);
        assert_eq!(running_in("procs_running x\n"), None);
        assert!(running_now().is_some_and(|n| n >= 1));
    }
}
