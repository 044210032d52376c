//! CPUs: the ones this process may run on (its affinity), pinning it to some, and how many are
//! online.

use super::error::SysError;

/// The CPUs this process may run on (its affinity mask), in order.
pub fn allowed_cpus() -> Vec<usize> {
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
