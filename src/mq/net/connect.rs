//! Port X on host A can communicate with port Y on host B (lecture notes, B2 Message Passing,
//! Pros: "processes don't even need to be on the same machine to communicate with each other
//! (port X on host A can communicate with port Y on host B)"). Lab sheet:
//! docs/02-message-passing.md, "Across machines"; docs/deeper/02-message-passing.md, "Across
//! machines: --listen and --host".
//!
//! `mq-send --host HOST:PORT MESSAGE...` connects to `mq-recv --listen PORT` on HOST (`remote.rs`),
//! learns from its greeting how big a message its mailbox takes and how many it holds, and sends
//! each message; the receiver answers each once it is in the mailbox, so the sender blocks while
//! the mailbox is full, as a local one does. A receiver that closed the connection while it was
//! idle is connected to again.
#![forbid(unsafe_code)]

use nix::errno::Errno;

use super::{Ending, Remote, Status};
use crate::mq::send::{self, check_sizes};
use crate::mq::size::{self, Source};
use crate::sys::Termination;
use crate::ui::{HintExt as _, Ui};

/// `mq-send --host HOST:PORT MESSAGE...`: send to the mailbox of `mq-recv --listen` on HOST.
pub fn run(args: &send::Args, ui: &Ui) -> anyhow::Result<()> {
    let Some(host) = &args.host else {
        return send::run(args, ui);
    };
    check_sizes(args)?;
    let source = Source::of(&args.words, ui);
    let term = Termination::install()?;
    send_all(args, ui, &term, host, source)
}

/// An errno a receiver sent as a number, as the house format names it: `Broken pipe (EPIPE)`.
fn errno_text(code: u32) -> String {
    match i32::try_from(code).map(Errno::from_raw) {
        Ok(errno) if errno != Errno::UnknownErrno => format!("{} ({errno:?})", errno.desc()),
        _ => format!("error {code}"),
    }
}

/// Connect, send each message and read its answer, and say how many were delivered.
fn send_all(
    args: &send::Args,
    ui: &Ui,
    term: &Termination,
    host: &str,
    source: Source<'_>,
) -> anyhow::Result<()> {
    let wait = args.wait();
    ui.step(1, "connect to the mailbox's port on the other machine");
    let Some(mut remote) = Remote::connect(host, args.timeout, Some(term.wake_fd()))? else {
        return Err(term.interrupted());
    };
    let addr = remote.addr();
    let greeting = remote.greeting();
    ui.call(&format!("connect({host})"), addr);
    ui.meaning(&format!(
        "the receiver's mailbox holds up to {} messages of up to {} bytes",
        greeting.max_messages, greeting.message_size
    ));

    ui.step(
        2,
        "send: each message goes into the mailbox, and the receiver confirms it",
    );
    let mut sent = 0usize;
    // The receiver closes a connection idle for net::IDLE_LIMIT (lines from stdin come when
    // they are typed): connect again, to the same HOST:PORT.
    let reconnect = |remote: &mut Remote| -> anyhow::Result<()> {
        ui.meaning(&format!(
            "{addr} closed the connection while it was idle: connect again"
        ));
        let Some(again) = Remote::connect(host, args.timeout, Some(term.wake_fd()))? else {
            return Err(term.interrupted());
        };
        ui.call(&format!("connect({host})"), again.addr());
        *remote = again;
        Ok(())
    };
    // `after_idle`: the connection has been idle since its last answer. Should the receiver
    // close it as idle just as the message leaves, it read none of it (an idle connection is
    // one with nothing to read): send it again on a new connection.
    let send = |remote: &mut Remote,
                bodies: &[&[u8]],
                first: usize,
                total: Option<usize>,
                sent: &mut usize,
                after_idle: bool|
     -> anyhow::Result<()> {
        let mut outcome = remote.send_batch(bodies, args.priority, wait, Some(term.wake_fd()))?;
        if after_idle && outcome == (0, Ending::Closed) {
            reconnect(remote)?;
            outcome = remote.send_batch(bodies, args.priority, wait, Some(term.wake_fd()))?;
        }
        let (delivered, ending) = outcome;
        for body in &bodies[..delivered] {
            ui.call(
                &format!(
                    "send({addr}, {:?}, {}, {})",
                    String::from_utf8_lossy(body),
                    body.len(),
                    args.priority
                ),
                "delivered",
            );
        }
        *sent += delivered;
        // The message the batch stopped at, counted from 1 (`first` messages came before it).
        let n = first + delivered + 1;
        match ending {
            Ending::Done => Ok(()),
            Ending::Refused {
                status: Status::Full,
                detail,
            } => Err(anyhow::anyhow!(
                "the mailbox at {addr} is full ({}): -n/--nonblock does not wait (EAGAIN); {} was not sent",
                crate::ui::counted(detail, "message"),
                size::which(n, total)
            ))
            .hint("wait for the receiver to take some, or drop -n to wait for room"),
            Ending::Refused {
                status: Status::Undeliverable,
                detail,
            } => Err(anyhow::anyhow!(
                "{addr} did not deliver {}: the receiver cannot pass messages on (its output fails: {}), so it did not put it into the mailbox",
                size::which(n, total),
                errno_text(detail)
            ))
            .hint("is mq-recv's standard output closed, or a pipe nobody reads? Start it again with its output open"),
            Ending::Refused { status, detail } => Err(anyhow::anyhow!(
                "{addr} refused {}: {}",
                size::which(n, total),
                match status {
                    Status::TooBig => format!("it takes messages of up to {detail} bytes (EMSGSIZE)"),
                    Status::BadPriority => format!("priorities go from 0 to {detail}"),
                    _ => "it could not read it as a message".into(),
                }
            )),
            Ending::TimedOut => Err(anyhow::anyhow!(
                "no answer from {addr} within {} s: its mailbox stayed full (ETIMEDOUT); {} was not sent",
                args.timeout.unwrap_or_default().as_secs_f64(),
                size::which(n, total)
            ))
            .hint("is the receiver taking messages? Raise --timeout, or drop it to wait"),
            Ending::Woken => {
                let err = term.interrupted();
                ui.note(&format!(
                    "{err} while waiting for {addr}: {} sent; {} was not confirmed",
                    *sent,
                    size::which(n, total)
                ));
                Err(err)
            }
            Ending::Closed => Err(anyhow::anyhow!(
                "{addr} closed the connection before answering {} (was mq-recv stopped?)",
                size::which(n, total)
            )),
        }
    };
    match source {
        Source::Args(messages) => {
            // All at once, as local sends in a row: those before an oversize one still go.
            let bodies: Vec<&[u8]> = messages.iter().map(|m| m.as_bytes()).collect();
            let fit = bodies
                .iter()
                .position(|b| b.len() > greeting.message_size as usize)
                .unwrap_or(bodies.len());
            let total = Some(bodies.len());
            send(&mut remote, &bodies[..fit], 0, total, &mut sent, false)?;
            if fit < bodies.len() {
                return size::remote_too_big(
                    addr,
                    fit + 1,
                    total,
                    bodies[fit].len(),
                    greeting.message_size,
                );
            }
        }
        Source::Stdin => {
            let bound = size::remote_bound(addr, greeting.message_size);
            size::for_each_body(Source::Stdin, term, &bound, |n, total, body| {
                // Closed while idle: no message was in flight, so nothing is lost or sent twice.
                let after_idle = n > 1;
                if after_idle && remote.closed_meanwhile() {
                    reconnect(&mut remote)?;
                }
                let most = remote.greeting().message_size;
                if body.len() > most as usize {
                    return size::remote_too_big(addr, n, total, body.len(), most);
                }
                send(&mut remote, &[body], n - 1, total, &mut sent, after_idle)
            })?;
        }
    }
    ui.step(3, "close the connection");
    ui.meaning(&format!(
        "{} delivered into the mailbox at {addr}",
        crate::ui::counted(sent as u64, "message")
    ));
    Ok(())
}
