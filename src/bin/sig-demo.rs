//! sig-demo: the lecture notes' signal program (section B4), a handler for SIGSEGV, and one
//! subcommand for each kind of signal the section names.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ipc_lab::cli::{self, Common};
use ipc_lab::signal::{
    self, Fault, REGISTER_FAILED, SigNum, fpe, list, list_pid, no_handler, pending, segv, send,
    wait,
};
use ipc_lab::sys;
use ipc_lab::ui::{Ui, UsageError, out_line};
use nix::sys::wait::WaitStatus;

const ABOUT: &str =
    "Signals: the lecture notes' SIGSEGV handler, and every kind of signal they name";

const AFTER_HELP: &str = "\
Lecture notes: B4 Unix Signal: an asynchronous notification, handled by the default action or by
a handler of the program's own (for some signals only).

With no subcommand it is exactly the notes' program: it registers a handler for SIGSEGV, makes
an invalid memory access, and the handler prints `Memory access blows up!` and exits 1.

Examples:
  sig-demo                        the notes' program (exit 1)
  sig-demo segv --no-handler      the default action: killed by SIGSEGV (the shell shows 139)
  sig-demo fpe                    an arithmetic error: a real division by zero
  sig-demo wait                   prints its PID; signal it from another terminal
  sig-demo send 4242 USR1 --value 7   kill, or sigqueue with a value
  sig-demo uncatchable            SIGKILL and SIGSTOP refuse a handler
  sig-demo pending                blocked signals: standard ones do not queue, real-time ones do
  sig-demo threads                to the process: any one thread that does not block it runs the
                                  handler; pthread_kill picks the thread
  sig-demo list                   every signal, its default action, whether it can be caught
  sig-demo list --pid 4242        what process 4242 catches, blocks, ignores, has pending";

#[derive(Debug, Parser)]
#[command(name = "sig-demo", version, about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    fault: FaultArgs,

    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Clone, clap::Args)]
struct FaultArgs {
    /// No handler: the default action, which kills the process (and may dump core)
    #[arg(long)]
    no_handler: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The notes' program (the default): a SIGSEGV handler, then an invalid memory access
    Segv(FaultArgs),

    /// An arithmetic error: a handler for SIGFPE, then a real integer division by zero
    Fpe(FaultArgs),

    /// Print this process's PID, then report every signal it receives, with its sender
    Wait {
        /// Exit after N signals
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        count: Option<u32>,
    },

    /// Try to handle and to ignore SIGKILL and SIGSTOP, then show them on a child
    Uncatchable,

    /// Block a signal, send it N times, unblock: a standard signal arrives once, a real-time
    /// signal N times
    Pending {
        /// How many times to send each signal
        #[arg(long, value_name = "N", default_value_t = 5,
              value_parser = clap::value_parser!(u32).range(1..=100))]
        times: u32,
    },

    /// A signal to the process or to one thread: which thread runs the handler
    ///
    /// Two worker threads and the main thread share one handler for SIGUSR1. A signal sent to the
    /// process (kill) runs it in any one thread that does not block the signal; one sent to a
    /// thread (pthread_kill, tgkill in the kernel) runs it in that thread, and waits for that
    /// thread while it blocks the signal. Threads are named by number; --explain shows their
    /// kernel ids (tids).
    ///
    /// Lecture notes: B4 Unix Signal, "sent to a process or thread".
    ///
    /// Example: sig-demo --explain threads
    Threads,

    /// A table of the signals: number, name, default action, whether it can be caught
    List {
        /// Instead, show the signals process PID catches, blocks, ignores and has pending
        #[arg(long, value_name = "PID", value_parser = clap::value_parser!(i32).range(1..))]
        pid: Option<i32>,
    },

    /// Send SIGNAL to process PID: kill(2), or sigqueue(3) with --value
    Send {
        /// The process
        #[arg(value_parser = clap::value_parser!(i32).range(1..))]
        pid: i32,
        /// The signal: TERM, SIGUSR1, 10, RTMIN+1, ...
        #[arg(value_parser = signal::parse_signal)]
        signal: SigNum,
        /// Send it with this value (sigqueue); `sig-demo wait` shows it
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        value: Option<i32>,
    },
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    let ui = Ui::new("sig-demo", args.common.color, args.common.explain);
    // --no-handler belongs to the notes' program (or segv, fpe); --explain and --color go anywhere.
    if args.command.is_some() && args.fault.no_handler {
        return ui.finish(Err(UsageError(
            "--no-handler goes after segv or fpe (sig-demo segv --no-handler), or alone".into(),
        )
        .into()));
    }
    let result = match &args.command {
        None => fault(Fault::Segv, &args.fault, &ui),
        Some(Command::Segv(f)) => fault(Fault::Segv, f, &ui),
        Some(Command::Fpe(f)) => fault(Fault::Fpe, f, &ui),
        Some(Command::Wait { count }) => wait::run(&wait::Args { count: *count }, &ui),
        Some(Command::Uncatchable) => uncatchable(&ui),
        Some(Command::Pending { times }) => pending::run(&pending::Args { times: *times }, &ui),
        Some(Command::Threads) => threads(&ui),
        Some(Command::List { pid: None }) => list::run(&list::Args {}, &ui),
        Some(Command::List { pid: Some(pid) }) => list_pid::run(&list_pid::Args { pid: *pid }, &ui),
        Some(Command::Send { pid, signal, value }) => send::run(
            &send::Args {
                pid: *pid,
                signal: *signal,
                value: *value,
            },
            &ui,
        ),
    };
    ui.finish(result)
}

// ---------------------------------------------------------------------------------------------
// segv and fpe: the notes' program, and the default action

/// The notes' program and its kin: a handler, or with --no-handler the default action.
fn fault(fault: Fault, args: &FaultArgs, ui: &Ui) -> anyhow::Result<()> {
    match (fault, args.no_handler) {
        (_, true) => no_handler::run(&no_handler::Args { fault }, ui),
        (Fault::Segv, false) => segv::run(&segv::Args {}, ui),
        (Fault::Fpe, false) => fpe::run(&fpe::Args {}, ui),
    }
}

// ---------------------------------------------------------------------------------------------
// uncatchable

fn uncatchable(ui: &Ui) -> anyhow::Result<()> {
    for sig in [libc::SIGKILL, libc::SIGSTOP] {
        let s = SigNum(sig);
        for (what, result) in [
            ("myOwnHandler", signal::try_handle(s)),
            ("SIG_IGN", signal::try_ignore(s)),
        ] {
            match result {
                Err(e) => out_line(format_args!(
                    "signal({}, {what}): {REGISTER_FAILED}: {e}",
                    s.name()
                ))?,
                Ok(()) => anyhow::bail!("the kernel accepted {what} for {}", s.name()),
            }
        }
    }
    ui.meaning("SIGKILL and SIGSTOP always take their default action: the kernel refuses (EINVAL)");
    let mut child = sys::fork(|| {
        // The child tries too, then waits for what comes.
        let _ = signal::try_handle(SigNum(libc::SIGKILL));
        let _ = signal::try_ignore(SigNum(libc::SIGSTOP));
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    })?;
    let cpid = child.pid();
    out_line(format_args!(
        "child {cpid} runs (it tried to handle SIGKILL and ignore SIGSTOP, in vain)"
    ))?;
    for (sig, expect) in [
        (libc::SIGSTOP, "stopped"),
        (libc::SIGCONT, "continued"),
        (libc::SIGKILL, "killed"),
    ] {
        signal::send(cpid.as_raw(), SigNum(sig), None)?;
        let status = signal::wait_change(cpid)?;
        let said = match status {
            WaitStatus::Stopped(_, s) => format!("stopped by {}", s.as_str()),
            WaitStatus::Continued(_) => "continued".to_string(),
            other => sys::describe(other),
        };
        out_line(format_args!(
            "sent {} to child {cpid}: waitpid says {said}",
            SigNum(sig).name()
        ))?;
        anyhow::ensure!(said.starts_with(expect), "expected the child {expect}");
        if sig == libc::SIGKILL {
            child.mark_reaped(status);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// threads: a signal to the process, a signal to one thread

/// What the main thread asks of a worker; the worker answers each on its own channel.
enum Order {
    Block(bool),
    Pending,
}

/// A worker thread: it waits for orders, and otherwise does nothing (the handler may run in it).
struct Worker {
    number: usize,
    tid: i32,
    orders: Option<std::sync::mpsc::Sender<Order>>,
    answers: std::sync::mpsc::Receiver<Result<Vec<SigNum>, String>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    fn spawn(number: usize) -> anyhow::Result<Worker> {
        let (orders, inbox) = std::sync::mpsc::channel::<Order>();
        let (reply, answers) = std::sync::mpsc::channel();
        let (started, tid) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name(format!("worker {number}"))
            .spawn(move || {
                // Termination signals are for the main thread, which cleans up and ends.
                let terminations: Vec<SigNum> = sys::TERMINATION_SIGNALS
                    .iter()
                    .map(|&s| SigNum(s as i32))
                    .collect();
                let blocked = signal::set_thread_blocked(&terminations, true);
                let ok = blocked.is_ok();
                let _ = started.send(
                    blocked
                        .map(|()| signal::thread_id())
                        .map_err(|e| format!("{e:#}")),
                );
                if !ok {
                    return;
                }
                let usr1 = [SigNum(libc::SIGUSR1)];
                while let Ok(order) = inbox.recv() {
                    let answer = match order {
                        Order::Block(block) => signal::set_thread_blocked(&usr1, block)
                            .map(|()| Vec::new())
                            .map_err(|e| format!("{e:#}")),
                        Order::Pending => signal::pending().map_err(|e| format!("{e:#}")),
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
    fn order(&self, order: Order) -> anyhow::Result<Vec<SigNum>> {
        let sent = self.orders.as_ref().is_some_and(|o| o.send(order).is_ok());
        anyhow::ensure!(sent, "worker {} has ended", self.number);
        match self.answers.recv() {
            Ok(Ok(list)) => Ok(list),
            Ok(Err(e)) => Err(anyhow::anyhow!("{e}")).context(format!("worker {}", self.number)),
            Err(_) => anyhow::bail!("worker {} ended before it answered", self.number),
        }
    }

    fn handle(&self) -> &std::thread::JoinHandle<()> {
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

/// The name of a thread in the report: the main thread, or worker N (never a tid: those differ
/// from run to run; `--explain` shows them).
fn thread_name(tid: i32, workers: &[Worker]) -> String {
    if tid == signal::thread_id() {
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
    recorder: &mut signal::ThreadRecorder,
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

fn threads(ui: &Ui) -> anyhow::Result<()> {
    let usr1 = SigNum(libc::SIGUSR1);
    let term = sys::Termination::install()?;
    let mut recorder = signal::ThreadRecorder::install(usr1)?;
    let pid = std::process::id();
    let main_tid = signal::thread_id();
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
    signal::set_thread_blocked(&[usr1], true)?;
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
        signal::send(pid as i32, usr1, None)?;
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
    signal::set_thread_blocked(&[usr1], false)?;
    ui.call("pthread_sigmask(SIG_UNBLOCK, {SIGUSR1}) in every thread", 0);
    out_line(format_args!(
        "to one thread, pthread_kill(thread, SIGUSR1): that thread, SIGUSR1 blocked nowhere"
    ))?;
    signal::send_to_this_thread(usr1)?;
    ui.call(
        &format!("pthread_kill(main thread, SIGUSR1), tgkill({pid}, {main_tid}, SIGUSR1)"),
        0,
    );
    let ran = handler_ran(&mut recorder, &term, &workers, ui)?;
    out_line(format_args!("  to the main thread: {ran}"))?;
    for w in &workers {
        signal::send_to_thread(w.handle(), usr1)?;
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
    signal::send_to_thread(w1.handle(), usr1)?;
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
    let in_main = names(signal::pending()?);
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
