//! Waiting on descriptors: one poll(2) over a set of them and an optional wake-up descriptor (the
//! read end of [`Termination`](super::Termination)'s pipe), with a deadline.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::PollFlags;

/// A poll(2) timeout for the time `left`, rounded up to whole milliseconds (so that a
/// sub-millisecond remainder still sleeps) and capped at what poll accepts.
pub(crate) fn poll_timeout(left: std::time::Duration) -> nix::poll::PollTimeout {
    let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX)
}

/// What one `wait_any` saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waited {
    /// The events of each descriptor asked about, in order (empty when none was ready).
    pub revents: Vec<PollFlags>,
    /// The wake-up descriptor became readable (a termination signal arrived).
    pub woken: bool,
    /// The deadline passed with nothing ready.
    pub timed_out: bool,
}

impl Waited {
    /// Whether descriptor `i` reported any of `flags` (or an error or hang-up, which the next
    /// call on it will report).
    pub fn ready(&self, i: usize, flags: PollFlags) -> bool {
        self.revents.get(i).is_some_and(|r| {
            r.intersects(flags | PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL)
        })
    }
}

/// One `poll(2)` over `fds` and an optional wake-up descriptor, until something is ready or the
/// deadline passes (`None`: no deadline). An interrupted poll (EINTR) returns with nothing ready,
/// so the caller looks at its state again; a wake-up descriptor in the set sees the signal.
pub(crate) fn wait_any(
    fds: &[(BorrowedFd<'_>, PollFlags)],
    deadline: Option<Instant>,
    wake: Option<BorrowedFd<'_>>,
) -> nix::Result<Waited> {
    let timeout: i32 = match deadline {
        None => -1,
        Some(deadline) => poll_timeout(deadline.saturating_duration_since(Instant::now())).into(),
    };
    let mut set: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, ev)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: ev.bits(),
            revents: 0,
        })
        .collect();
    if let Some(wake) = wake {
        set.push(libc::pollfd {
            fd: wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
    }
    // poll(2) itself, not nix's wrapper: nix drops every revents bit it has no name for, such as
    // POLLRDHUP, which then reads as nothing ready while poll keeps returning at once.
    // SAFETY: `set` is a valid, initialised array of `set.len()` pollfd structs that lives across
    // the call; the descriptors are borrowed, so open, for the call's duration.
    let n = unsafe { libc::poll(set.as_mut_ptr(), set.len() as libc::nfds_t, timeout) };
    let n = match Errno::result(n) {
        Ok(n) => n,
        Err(Errno::EINTR) => 0,
        Err(errno) => return Err(errno),
    };
    let revents: Vec<PollFlags> = set
        .iter()
        .map(|p| PollFlags::from_bits_retain(p.revents))
        .collect();
    let woken = wake.is_some() && revents.last().is_some_and(|r| !r.is_empty());
    let timed_out = n == 0 && deadline.is_some_and(|d| Instant::now() >= d);
    let mut revents = revents;
    revents.truncate(fds.len());
    Ok(Waited {
        revents,
        woken,
        timed_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_timeout_rounds_up_and_caps() {
        use nix::poll::PollTimeout;
        use std::time::Duration;
        assert_eq!(
            poll_timeout(Duration::from_micros(1)),
            PollTimeout::from(1u8)
        );
        assert_eq!(
            poll_timeout(Duration::from_millis(250)),
            PollTimeout::from(250u16)
        );
        assert_eq!(
            poll_timeout(Duration::from_secs(u64::MAX)),
            PollTimeout::MAX
        );
    }
}
