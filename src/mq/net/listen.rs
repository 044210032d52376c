//! A listening port: a mailbox that takes messages from other machines (lecture notes, B2 Message
//! Passing: "another variant is to have a more generic listening port, whereby the mailbox
//! accepts process data from any other process on the system"; "port X on host A can
//! communicate with port Y on host B"). Lab sheet: docs/02-message-passing.md, "Across
//! machines"; docs/deeper/02-message-passing.md, "Across machines: --listen and --host".
//!
//! `mq-recv --listen [ADDR:]PORT` gives the first mailbox a TCP port ([`Port`]): what a sender
//! sends there goes into the mailbox, and comes out with the local messages, by priority. The
//! port listens on 127.0.0.1 (this machine only) unless given an address such as 0.0.0.0. A
//! message is confirmed to its sender only once it is in the mailbox, and only while the
//! receiver can print what it takes.
#![forbid(unsafe_code)]

use std::net::SocketAddr;

use super::{Outlet, Port, PortEvent, show_wire};
use crate::mq::QueueName;
use crate::ui::{self, Ui};

/// Listen on `addr`; `show_wire`: report every byte that arrives.
pub(crate) fn bind(addr: SocketAddr, show_wire: bool) -> anyhow::Result<Port> {
    let mut port = Port::bind(addr)?;
    if show_wire {
        port.show_wire();
    }
    // A sender is told "delivered" only while the messages can be printed.
    port.hand_out_to(Outlet {
        name: "standard output",
        check: ui::stdout_writable,
        hint: "mq-recv prints each message it takes: run it with its standard output open (a terminal, a file, or a pipe whose reader reads on)",
    });
    Ok(port)
}

/// Say where the port listens (`addr`, as asked), and which mailbox (`into`) it feeds.
pub(crate) fn run(port: &Port, addr: SocketAddr, into: &QueueName, show_wire: bool, ui: &Ui) {
    let local = port.local_addr();
    ui.call(&format!("bind({addr}) + listen()"), local);
    let reach = if local.ip().is_loopback() {
        format!(
            " (this machine only: --listen 0.0.0.0:{} takes other machines)",
            local.port()
        )
    } else {
        String::new()
    };
    ui.note(&format!(
        "listening on {local}{reach}; messages from `mq-send --host HOST:{}` go into {into}",
        local.port()
    ));
    if show_wire {
        show_wire::announce(ui);
    }
}

/// Tell the user what happened at the port.
pub(crate) fn tell(event: PortEvent, ui: &Ui) {
    match event {
        PortEvent::Connected(peer) => ui.note(&format!("{peer} connected")),
        PortEvent::Closed { peer, delivered } => ui.note(&format!(
            "{peer} disconnected after {}",
            ui::counted(delivered, "message")
        )),
        PortEvent::Refused { peer, why } => ui.note(&format!("refused {peer}: {why}")),
        PortEvent::Dropped { peer, why } => ui.note(&format!("dropped {peer}: {why}")),
        PortEvent::Paused { why, retry } => ui.note(&format!(
            "cannot take a new connection ({why}); it waits, and is tried again in {} s",
            retry.as_secs_f64()
        )),
        PortEvent::Arrived { peer, bytes } => show_wire::run(peer, &bytes, ui),
    }
}
