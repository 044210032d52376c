//! Signals and threads: which thread runs the handler. A recorder of the thread each run of a
//! handler ran in, and per-thread masks and sending (pthread_sigmask, pthread_kill). The lesson
//! [`super::threads`] uses them.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::sys::signal::{self, SigSet, Signal};

use super::SigNum;
use super::recorder::unsafe_zeroed_sigaction;
use super::ring::Ring;
use crate::sys::SysError;

/// How many runs of the thread recorder's handler it holds that the main flow has not taken.
const THREAD_SLOTS: usize = 64;
static THREAD_RING: Ring<THREAD_SLOTS> = Ring::new();
static THREAD_TID: [AtomicI32; THREAD_SLOTS] = [const { AtomicI32::new(0) }; THREAD_SLOTS];
static THREAD_CODE: [AtomicI32; THREAD_SLOTS] = [const { AtomicI32::new(0) }; THREAD_SLOTS];
static THREAD_INSTALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_thread_signal(
    _signo: libc::c_int,
    info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    let saved = Errno::last_raw();
    if let Some(t) = THREAD_RING.reserve() {
        let slot = Ring::<THREAD_SLOTS>::slot(t);
        // SAFETY: gettid(2) is a plain system call, async-signal-safe; it names the thread the
        // kernel chose to run this handler in.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
        THREAD_TID[slot].store(tid, Ordering::Relaxed);
        let code = if info.is_null() {
            0
        } else {
            // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t; si_code is always set.
            unsafe { (*info).si_code }
        };
        THREAD_CODE[slot].store(code, Ordering::Relaxed);
        THREAD_RING.publish(t);
    }
    Errno::set_raw(saved);
}

/// One run of the thread recorder's handler: the thread it ran in, and how the signal was sent
/// (si_code: SI_USER for kill, SI_TKILL for pthread_kill and tgkill).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RanIn {
    pub tid: i32,
    pub code: i32,
}

/// Records, for each delivery of a signal, the thread whose handler ran (its kernel thread id),
/// so that the main flow can tell where a signal went. The handler stores to atomics only. It
/// holds up to 64 runs not yet taken, for as long as the process lives; runs that come while all
/// are full are not recorded.
#[derive(Debug)]
pub(crate) struct ThreadRecorder {
    _installed: (),
}

impl ThreadRecorder {
    /// Install the recording handler for `sig` (once per process).
    pub fn install(sig: SigNum) -> anyhow::Result<ThreadRecorder> {
        anyhow::ensure!(
            !THREAD_INSTALLED.swap(true, Ordering::SeqCst),
            "the thread recorder is already installed in this process"
        );
        let mut act = unsafe_zeroed_sigaction();
        let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            on_thread_signal;
        act.sa_sigaction = handler as usize;
        act.sa_flags = libc::SA_SIGINFO;
        // SAFETY: `act` is a valid sigaction whose handler only calls gettid(2) and stores to
        // atomics; the old action is not asked for (null).
        let rc = unsafe { libc::sigaction(sig.0, &act, std::ptr::null_mut()) };
        Errno::result(rc).map_err(|errno| SysError {
            call: "sigaction",
            errno,
        })?;
        Ok(ThreadRecorder { _installed: () })
    }

    /// The next run of the handler not yet taken, if one has been recorded.
    pub fn take(&mut self) -> Option<RanIn> {
        let t = THREAD_RING.ready()?;
        let i = Ring::<THREAD_SLOTS>::slot(t);
        let ran = RanIn {
            tid: THREAD_TID[i].load(Ordering::Relaxed),
            code: THREAD_CODE[i].load(Ordering::Relaxed),
        };
        THREAD_RING.taken(t);
        Some(ran)
    }
}

/// The kernel's id of the calling thread (gettid): the process's PID for its main thread.
pub(crate) fn thread_id() -> i32 {
    nix::unistd::gettid().as_raw()
}

/// Block or unblock signals in the calling thread only (pthread_sigmask); the other threads
/// keep their own masks.
pub(crate) fn set_thread_blocked(signals: &[SigNum], block: bool) -> Result<(), SysError> {
    let mut set = SigSet::empty();
    for s in signals {
        let sig = Signal::try_from(s.0).map_err(|errno| SysError {
            call: "sigaddset",
            errno,
        })?;
        set.add(sig);
    }
    let how = if block {
        signal::SigmaskHow::SIG_BLOCK
    } else {
        signal::SigmaskHow::SIG_UNBLOCK
    };
    signal::pthread_sigmask(how, Some(&set), None).map_err(|errno| SysError {
        call: "pthread_sigmask",
        errno,
    })
}

/// Send a signal to one thread of this process (pthread_kill, tgkill in the kernel): the thread
/// of `handle`, which is not yet joined, so its pthread_t is still valid.
pub(crate) fn send_to_thread<T>(
    handle: &std::thread::JoinHandle<T>,
    sig: SigNum,
) -> Result<(), SysError> {
    use std::os::unix::thread::JoinHandleExt as _;
    // SAFETY: the pthread_t comes from a JoinHandle that is borrowed, so the thread has been
    // neither joined nor detached: the id is valid (a thread that has ended but is not joined
    // can still be named). pthread_kill returns an error number instead of setting errno.
    let rc = unsafe { libc::pthread_kill(handle.as_pthread_t(), sig.0) };
    thread_result(rc)
}

/// Send a signal to the calling thread (pthread_kill(pthread_self(), sig)): its handler runs in
/// this thread before the call returns, unless the thread blocks it.
pub(crate) fn send_to_this_thread(sig: SigNum) -> Result<(), SysError> {
    // SAFETY: pthread_self() is always a valid id of the calling thread.
    let rc = unsafe { libc::pthread_kill(libc::pthread_self(), sig.0) };
    thread_result(rc)
}

fn thread_result(rc: libc::c_int) -> Result<(), SysError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(SysError {
            call: "pthread_kill",
            errno: Errno::from_raw(rc),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Worker threads that block, unblock and look at what is pending when told

/// What the main thread asks of a worker; the worker answers each on its own channel.
pub(crate) enum Order {
    Block(bool),
    Pending,
}

/// A worker thread: it waits for orders, and otherwise does nothing (the handler may run in it).
pub(crate) struct Worker {
    pub(crate) number: usize,
    pub(crate) tid: i32,
    orders: Option<std::sync::mpsc::Sender<Order>>,
    answers: std::sync::mpsc::Receiver<Result<Vec<SigNum>, String>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    pub(crate) fn spawn(number: usize) -> anyhow::Result<Worker> {
        let (orders, inbox) = std::sync::mpsc::channel::<Order>();
        let (reply, answers) = std::sync::mpsc::channel();
        let (started, tid) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name(format!("worker {number}"))
            .spawn(move || {
                // Termination signals are for the main thread, which cleans up and ends.
                let terminations: Vec<SigNum> = crate::sys::TERMINATION_SIGNALS
                    .iter()
                    .map(|&s| SigNum(s as i32))
                    .collect();
                let blocked = set_thread_blocked(&terminations, true);
                let ok = blocked.is_ok();
                let _ = started.send(blocked.map(|()| thread_id()).map_err(|e| format!("{e:#}")));
                if !ok {
                    return;
                }
                let usr1 = [SigNum(libc::SIGUSR1)];
                while let Ok(order) = inbox.recv() {
                    let answer = match order {
                        Order::Block(block) => set_thread_blocked(&usr1, block)
                            .map(|()| Vec::new())
                            .map_err(|e| format!("{e:#}")),
                        Order::Pending => super::pending().map_err(|e| format!("{e:#}")),
                    };
                    if reply.send(answer).is_err() {
                        return;
                    }
                }
            })
            .context("cannot start a worker thread")?;
        let mut worker = Worker {
            number,
            tid: 0,
            orders: Some(orders),
            answers,
            handle: Some(handle),
        };
        worker.tid = match tid.recv() {
            Ok(Ok(tid)) => tid,
            Ok(Err(e)) => return Err(anyhow::anyhow!("{e}")).context(format!("worker {number}")),
            Err(_) => anyhow::bail!("worker {number} ended before it started"),
        };
        Ok(worker)
    }

    /// Have the worker carry out an order in its own thread; what it answers.
    pub(crate) fn order(&self, order: Order) -> anyhow::Result<Vec<SigNum>> {
        let sent = self.orders.as_ref().is_some_and(|o| o.send(order).is_ok());
        anyhow::ensure!(sent, "worker {} has ended", self.number);
        match self.answers.recv() {
            Ok(Ok(list)) => Ok(list),
            Ok(Err(e)) => Err(anyhow::anyhow!("{e}")).context(format!("worker {}", self.number)),
            Err(_) => anyhow::bail!("worker {} ended before it answered", self.number),
        }
    }

    pub(crate) fn handle(&self) -> &std::thread::JoinHandle<()> {
        self.handle
            .as_ref()
            .expect("a worker is joined only on drop")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing its channel ends the worker's loop; then it is joined.
        self.orders = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rtmin;
    use super::*;

    #[test]
    fn the_thread_recorder_records_every_run_of_a_long_life() {
        // A real-time signal no other test here uses, sent to this very thread: its handler runs
        // before pthread_kill returns. More runs than the recorder has slots, each taken.
        let sig = SigNum(rtmin() + 4);
        let mut recorder = ThreadRecorder::install(sig).unwrap();
        let me = thread_id();
        for i in 0..200 {
            send_to_this_thread(sig).unwrap();
            assert_eq!(
                recorder.take(),
                Some(RanIn {
                    tid: me,
                    code: libc::SI_TKILL
                }),
                "run {}",
                i + 1
            );
            assert_eq!(recorder.take(), None);
        }
    }
}
