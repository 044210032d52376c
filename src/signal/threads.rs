//! A signal to the process or to one thread: which thread runs the handler.
//!
//! Notes, B4 Unix Signal: a signal is an "asynchronous notification regarding an event that is
//! sent to a process or thread". The threads of a process share its handlers, but each has its
//! own mask of blocked signals (pthread_sigmask) and its own pending set. The lesson has two
//! worker threads beside the main one, and one handler for SIGUSR1 that notes the thread it runs
//! in (`ThreadRecorder`, in per_thread.rs):
//!
//! - to the process, `kill(getpid(), SIGUSR1)`: the kernel gives the signal to any one thread
//!   that does not block it (shown with SIGUSR1 blocked in all threads but one, twice);
//! - to one thread, `pthread_kill(thread, SIGUSR1)` (the system call tgkill): that thread runs
//!   the handler, for each of the three;
//! - to one thread that blocks it: the signal waits, pending for that thread alone, even though
//!   the other threads would take it, and the handler runs there once the thread unblocks it.
//!
//! Threads are named by number in the report; `--explain` shows their kernel ids (tids). Each
//! wait for the handler is bounded (5 seconds) and ended at once by a termination signal.
//!
//! Lab sheet: docs/deeper/04-signals.md, "A process or one thread: threads".
#![forbid(unsafe_code)]

use std::time::Instant;

use super::SigNum;
use super::delivery::send;
use super::per_thread::{
    Order, ThreadRecorder, Worker, send_to_this_thread, send_to_thread, set_thread_blocked,
    thread_id,
};
use crate::sys;
use crate::ui::{Ui, out_line};

/// The lesson takes no options.
#[derive(Debug, Clone, Default)]
pub struct Args {}

/// The name of a thread in the report: the main thread, or worker N (never a tid: those differ
/// from run to run; `--explain` shows them).
fn thread_name(tid: i32, workers: &[Worker]) -> String {
    if tid == thread_id() {
        return "the main thread".into();
    }
    match workers.iter().find(|w| w.tid == tid) {
        Some(w) => format!("worker {}", w.number),
        None => format!("a thread of no name (tid {tid})"),
    }
}

fn how_sent(code: i32) -> &'static str {
    match code {
        libc::SI_USER => "si_code SI_USER: kill",
        libc::SI_TKILL => "si_code SI_TKILL: tgkill",
        _ => "si_code of another kind",
    }
}

/// Wait (bounded, and ended by a termination signal) for the handler to run once more; where.
fn handler_ran(
    recorder: &mut ThreadRecorder,
    term: &sys::Termination,
    workers: &[Worker],
    ui: &Ui,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    loop {
        term.check()?;
        if let Some(ran) = recorder.take() {
            let name = thread_name(ran.tid, workers);
            ui.meaning(&format!("the handler ran in tid {} ({name})", ran.tid));
            return Ok(format!(
                "the handler ran in {name} ({})",
                how_sent(ran.code)
            ));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the handler for SIGUSR1 did not run within 5 seconds"
        );
        let _ = term.sleep(std::time::Duration::from_millis(1));
    }
}

/// The handler for SIGUSR1 and two workers; a signal to the process, with SIGUSR1 blocked in all
/// threads but one; to each thread; to a thread that blocks it.
pub fn run(_args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let usr1 = SigNum(libc::SIGUSR1);
    let term = sys::Termination::install()?;
    let mut recorder = ThreadRecorder::install(usr1)?;
    let pid = std::process::id();
    let main_tid = thread_id();
    ui.step(1, "a handler for SIGUSR1 that notes the thread it runs in");
    ui.call("sigaction(SIGUSR1, {handler, SA_SIGINFO})", 0);
    ui.meaning("the handler stores gettid() and si_code into atomics; the main flow reports them");
    ui.step(2, "start two worker threads");
    let workers = [Worker::spawn(1)?, Worker::spawn(2)?];
    ui.meaning(&format!(
        "process {pid}: the main thread is tid {main_tid}, worker 1 tid {}, worker 2 tid {}",
        workers[0].tid, workers[1].tid
    ));
    ui.meaning("each thread has its own mask of blocked signals; the handlers are the process's");
    out_line(format_args!(
        "3 threads: the main thread, worker 1 and worker 2; one handler for SIGUSR1, which notes the thread it runs in"
    ))?;

    // A signal to the process: any one thread that does not block it.
    ui.step(
        3,
        "to the process: kill, with SIGUSR1 blocked in all threads but one",
    );
    out_line(format_args!(
        "to the process, kill(getpid(), SIGUSR1): any one thread that does not block it"
    ))?;
    set_thread_blocked(&[usr1], true)?;
    ui.call(
        "pthread_sigmask(SIG_BLOCK, {SIGUSR1}) in the main thread",
        0,
    );
    for (blocks, open) in [(0, 1), (1, 0)] {
        if blocks == 1 {
            workers[open].order(Order::Block(false))?;
            ui.call("pthread_sigmask(SIG_UNBLOCK, {SIGUSR1}) in worker 1", 0);
        }
        workers[blocks].order(Order::Block(true))?;
        ui.call(
            &format!(
                "pthread_sigmask(SIG_BLOCK, {{SIGUSR1}}) in worker {}",
                workers[blocks].number
            ),
            0,
        );
        send(pid as i32, usr1, None)?;
        ui.call(&format!("kill({pid}, SIGUSR1)"), 0);
        let ran = handler_ran(&mut recorder, &term, &workers, ui)?;
        out_line(format_args!(
            "  blocked in the main thread and worker {}: {ran}",
            workers[blocks].number
        ))?;
    }
    ui.meaning(
        "the kernel gives a signal sent to the process to one thread that does not block it",
    );

    // A signal to one thread: that thread.
    ui.step(4, "to one thread: pthread_kill, SIGUSR1 blocked nowhere");
    workers[1].order(Order::Block(false))?;
    set_thread_blocked(&[usr1], false)?;
    ui.call("pthread_sigmask(SIG_UNBLOCK, {SIGUSR1}) in every thread", 0);
    out_line(format_args!(
        "to one thread, pthread_kill(thread, SIGUSR1): that thread, SIGUSR1 blocked nowhere"
    ))?;
    send_to_this_thread(usr1)?;
    ui.call(
        &format!("pthread_kill(main thread, SIGUSR1), tgkill({pid}, {main_tid}, SIGUSR1)"),
        0,
    );
    let ran = handler_ran(&mut recorder, &term, &workers, ui)?;
    out_line(format_args!("  to the main thread: {ran}"))?;
    for w in &workers {
        send_to_thread(w.handle(), usr1)?;
        ui.call(
            &format!(
                "pthread_kill(worker {}, SIGUSR1), tgkill({pid}, {}, SIGUSR1)",
                w.number, w.tid
            ),
            0,
        );
        let ran = handler_ran(&mut recorder, &term, &workers, ui)?;
        out_line(format_args!("  to worker {}: {ran}", w.number))?;
    }

    // A signal to a thread that blocks it waits for that thread.
    ui.step(5, "to one thread that blocks it: it waits for that thread");
    let w1 = &workers[0];
    w1.order(Order::Block(true))?;
    ui.call("pthread_sigmask(SIG_BLOCK, {SIGUSR1}) in worker 1", 0);
    out_line(format_args!(
        "to worker 1, which blocks SIGUSR1 (the others do not): it waits for worker 1"
    ))?;
    send_to_thread(w1.handle(), usr1)?;
    ui.call(
        &format!(
            "pthread_kill(worker 1, SIGUSR1), tgkill({pid}, {}, SIGUSR1)",
            w1.tid
        ),
        0,
    );
    let names = |list: Vec<SigNum>| -> String {
        let names: Vec<String> = list.iter().map(|s| s.name()).collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(" ")
        }
    };
    let in_worker = names(w1.order(Order::Pending)?);
    let in_main = names(super::pending()?);
    ui.call("sigpending() in worker 1", &in_worker);
    ui.call("sigpending() in the main thread", &in_main);
    term.check()?;
    let early = recorder.take();
    anyhow::ensure!(
        early.is_none(),
        "the handler ran in {} while worker 1 blocked SIGUSR1",
        thread_name(early.map_or(0, |r| r.tid), &workers)
    );
    out_line(format_args!(
        "  pending in worker 1: {in_worker}; in the main thread: {in_main}; the handler has not run"
    ))?;
    w1.order(Order::Block(false))?;
    ui.call("pthread_sigmask(SIG_UNBLOCK, {SIGUSR1}) in worker 1", 0);
    let ran = handler_ran(&mut recorder, &term, &workers, ui)?;
    out_line(format_args!("  worker 1 unblocks it: {ran}"))?;
    ui.meaning("a signal sent to a thread is that thread's: no other thread takes it");
    drop(workers);
    term.check()?;
    Ok(())
}
