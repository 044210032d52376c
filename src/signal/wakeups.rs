//! Signals that wake a blocked wait: SIGCHLD when a child ends, a SIGALRM tick. Used by
//! `bench`, whose parent waits on its child in sem_wait, mq_receive or sigwaitinfo.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

use super::restore_default;
use crate::sys::SysError;

static CHILD_ENDED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_child(_signo: libc::c_int) {
    CHILD_ENDED.store(true, Ordering::SeqCst);
}

/// Catch SIGCHLD, without SA_RESTART, so that a parent blocked on its child (in sem_wait,
/// mq_receive, sigwaitinfo) is woken with EINTR when the child ends, and can tell by
/// [`child_ended`] that no answer will come.
pub(crate) fn watch_children() -> Result<(), SysError> {
    let action = SigAction::new(
        SigHandler::Handler(on_child),
        SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { signal::sigaction(Signal::SIGCHLD, &action) }
        .map(|_| ())
        .map_err(|errno| SysError {
            call: "sigaction",
            errno,
        })
}

/// Whether a child has ended since [`forget_ended_children`] (with [`watch_children`] on).
pub(crate) fn child_ended() -> bool {
    CHILD_ENDED.load(Ordering::SeqCst)
}

/// Start afresh before forking the next child.
pub(crate) fn forget_ended_children() {
    CHILD_ENDED.store(false, Ordering::SeqCst);
}

extern "C" fn on_tick(_signo: libc::c_int) {}

fn set_interval(period: Duration) -> Result<(), SysError> {
    let tv = libc::timeval {
        tv_sec: period.as_secs() as libc::time_t,
        tv_usec: period.subsec_micros() as libc::suseconds_t,
    };
    let timer = libc::itimerval {
        it_interval: tv,
        it_value: tv,
    };
    // SAFETY: a valid itimerval; the old value is not wanted (null).
    if unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) } == -1 {
        return Err(SysError::last("setitimer"));
    }
    Ok(())
}

/// A SIGALRM every `period`, caught by a handler that does nothing, without SA_RESTART: it
/// ends any blocking call with EINTR, so that a process about to sleep on a wait just after a
/// signal or a child's end came (too late to interrupt it, too early to be seen by the check
/// before it) looks again within one period. Stopped and SIGALRM restored on drop. Timers are
/// not inherited by a forked child.
#[derive(Debug)]
pub(crate) struct Ticker {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Ticker {
    pub fn start(period: Duration) -> Result<Ticker, SysError> {
        let action = SigAction::new(
            SigHandler::Handler(on_tick),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler does nothing at all.
        unsafe { signal::sigaction(Signal::SIGALRM, &action) }.map_err(|errno| SysError {
            call: "sigaction",
            errno,
        })?;
        set_interval(period)?;
        Ok(Ticker {
            _not_send: std::marker::PhantomData,
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let _ = set_interval(Duration::ZERO);
        let _ = restore_default(Signal::SIGALRM);
    }
}
