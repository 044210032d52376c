//! signal: SIGUSR1 each way (chapter 4), sent with `kill` and taken with `sigwaitinfo` while
//! blocked: a round trip, but no data (latency only).

#![forbid(unsafe_code)]

use anyhow::Context as _;
use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};

use super::pair::Pair;
use super::{End, Timed, check_peer, check_stop};
use crate::sys::SysError;

/// signal: SIGUSR1 to the other process, SIGUSR1 taken with sigwaitinfo. No data moves.
struct SignalEnd {
    peer: nix::unistd::Pid,
    set: SigSet,
}

impl End for SignalEnd {
    fn send(&mut self, _msg: &[u8]) -> anyhow::Result<()> {
        nix::sys::signal::kill(self.peer, Signal::SIGUSR1).map_err(|errno| SysError {
            call: "kill",
            errno,
        })?;
        Ok(())
    }

    fn recv(&mut self, _buf: &mut [u8]) -> anyhow::Result<()> {
        loop {
            match crate::signal::wait_info(&self.set) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => {
                    check_stop()?;
                    check_peer(|| {
                        crate::signal::pending().is_ok_and(|p| {
                            p.contains(&crate::signal::SigNum(Signal::SIGUSR1 as i32))
                        })
                    })?;
                }
                Err(errno) => {
                    return Err(SysError {
                        call: "sigwaitinfo",
                        errno,
                    }
                    .into());
                }
            }
        }
    }
}

/// Make the two ends, fork, and run `x` on both sides (see [`super::pair`]).
pub(super) fn exchange(pair: Pair<'_>) -> anyhow::Result<Timed> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGUSR1);
    let old = set
        .thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK)
        .context("cannot block SIGUSR1")?;
    let parent = nix::unistd::getpid();
    let result = pair.run(
        |child| Ok(SignalEnd { peer: child, set }),
        || Ok(SignalEnd { peer: parent, set }),
    );
    // Take any SIGUSR1 left pending before unblocking it, then restore the mask.
    while crate::signal::pending()
        .is_ok_and(|p| p.contains(&crate::signal::SigNum(Signal::SIGUSR1 as i32)))
    {
        let _ = crate::signal::wait_info(&set);
    }
    let _ = old.thread_set_mask();
    result
}
