//! A process that reports every signal it receives, with its sender.
//!
//! Notes, B4 Unix Signal: a signal "is a form of IPC": an "asynchronous notification regarding
//! an event that is sent to a process or thread"; "common signals include: `kill`, `stop`,
//! `continue`". `sig-demo wait` prints its PID and waits; from another terminal, `kill` (or
//! `sig-demo send`) signals it, and it says what came, from which PID and user, and how it was
//! sent (si_code: kill, sigqueue with its value, or the kernel for Ctrl-C and Ctrl-Z).
//!
//! Its handlers only note the signal and its sender in atomics (the `Recorder` of recorder.rs);
//! this main flow reports them, as a handler may not print. Where a signal's default action would
//! end or stop the process (SIGINT, SIGTERM, SIGTSTP), it does so after reporting: the shell sees
//! the same status as without the handler. SIGSTOP cannot be caught: the process just stops, and
//! SIGCONT, which it catches, says it runs again. `--count N` ends it, with 0, after N signals.
//!
//! Lab sheet: docs/04-signals.md, "A process that reports its signals: wait";
//! docs/deeper/04-signals.md, "Handlers only set flags", "SIGTERM and list --pid", "Ctrl-C, and
//! --count" and "Ctrl-Z and fg".
#![forbid(unsafe_code)]

use nix::sys::signal::Signal;

use super::SigNum;
use super::delivery::send;
use super::recorder::{Lost, Next, Received, Recorder, SLOTS};
use crate::sys;
use crate::ui::{self, Ui, out_line};

/// How long to wait.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Exit, with 0, after this many signals; `None`: until a signal ends it.
    pub count: Option<u32>,
}

/// The signals it catches and reports.
const WATCHED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGCONT,
    Signal::SIGTSTP,
];

/// Who sent it, and how, from its si_code.
fn sender(r: &Received) -> String {
    match r.code {
        libc::SI_USER | libc::SI_QUEUE | libc::SI_TKILL => {
            let via = match r.code {
                libc::SI_QUEUE => "sigqueue",
                libc::SI_TKILL => "tkill",
                _ => "kill",
            };
            format!("from PID {} (uid {}) by {via}", r.pid, r.uid)
        }
        libc::SI_KERNEL => "from the kernel (e.g. the terminal: Ctrl-C, Ctrl-Z)".into(),
        _ if r.pid == 0 => "from the kernel".into(),
        code => format!("from PID {} (uid {}), si_code {code}", r.pid, r.uid),
    }
}

/// Print the PID and what to try, then report each signal as it comes.
pub fn run(args: &Args, ui: &Ui) -> anyhow::Result<()> {
    let watched: Vec<SigNum> = WATCHED.iter().map(|&s| SigNum(s as i32)).collect();
    let mut recorder = Recorder::install(&watched)?;
    ui.call(
        "sigaction(SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCONT, SIGTSTP; SA_SIGINFO)",
        0,
    );
    ui.meaning("the handlers only note the signal and its sender; this main flow reports them");
    let pid = std::process::id();
    out_line(format_args!("My PID is {pid}. From another terminal, try:"))?;
    for line in [
        format!("kill -USR1 {pid}"),
        format!("kill -USR2 {pid}"),
        format!("kill -HUP {pid}"),
        format!("kill -STOP {pid}; kill -CONT {pid}"),
        format!("kill -TSTP {pid}"),
        format!("sig-demo send {pid} USR1 --value 42"),
        format!("sig-demo list --pid {pid}"),
        format!("kill -TERM {pid}    (or Ctrl-C here: ends it)"),
    ] {
        out_line(format_args!("  {line}"))?;
    }
    let mut seen = 0u32;
    loop {
        let r = match recorder.next(None)? {
            Next::Signal(r) => r,
            Next::Lost(lost) => {
                report_lost(&lost, ui)?;
                continue;
            }
            Next::TimedOut => continue,
        };
        seen += 1;
        let mut text = format!("received {} {}", r.signo.name_and_number(), sender(&r));
        if let Some(v) = r.value {
            text.push_str(&format!(", value {v}"));
        }
        match Signal::try_from(r.signo.0) {
            Ok(sig @ (Signal::SIGINT | Signal::SIGTERM)) => {
                out_line(format_args!(
                    "{text}: ending, as its default action would (the shell shows {})",
                    128 + sig as i32
                ))?;
                sys::exit_by_signal(sig);
            }
            Ok(Signal::SIGTSTP) => {
                out_line(format_args!(
                    "{text}: stopping now, as its default action would (SIGCONT or the shell's fg continues)"
                ))?;
                send(pid as i32, SigNum(libc::SIGSTOP), None)?;
            }
            Ok(Signal::SIGCONT) => {
                out_line(format_args!(
                    "{text}: continued (if it was stopped, it runs again)"
                ))?;
            }
            _ => out_line(format_args!("{text}"))?,
        }
        if args.count.is_some_and(|n| seen >= n) {
            out_line(format_args!(
                "{} received: done",
                ui::counted(seen, "signal")
            ))?;
            return Ok(());
        }
    }
}

/// Signals the recorder had no room for (they came faster than this main flow reported them):
/// say how many, and go on. A lost SIGINT or SIGTERM still ends the process, and a lost SIGTSTP
/// still stops it, as their default actions would.
pub(crate) fn report_lost(lost: &Lost, ui: &Ui) -> anyhow::Result<()> {
    let each: Vec<String> = lost
        .signals
        .iter()
        .map(|(sig, n)| format!("{} {n}", sig.name()))
        .collect();
    ui.note(&format!(
        "{} lost ({}): they came faster than this process reported them, while the {} it holds unreported were full; going on",
        ui::counted(lost.count() as u64, "signal"),
        each.join(", "),
        SLOTS
    ));
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        if lost.contains(SigNum(sig as i32)) {
            ui.note(&format!(
                "{} was among them: ending, as its default action would",
                sig.as_str()
            ));
            sys::exit_by_signal(sig);
        }
    }
    if lost.contains(SigNum(libc::SIGTSTP)) {
        ui.note("SIGTSTP was among them: stopping now, as its default action would");
        send(std::process::id() as i32, SigNum(libc::SIGSTOP), None)?;
    }
    Ok(())
}
