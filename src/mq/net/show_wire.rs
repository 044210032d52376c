//! What anyone on the path reads (lecture notes, Introduction: "may come across a lack of
//! security if IPC is done without encryption"; B2 Message Passing: "port X on host A can
//! communicate with port Y on host B"). Lab sheet: docs/02-message-passing.md, "Across machines";
//! docs/deeper/02-message-passing.md, "What anyone on the path sees: --show-wire".
//!
//! `mq-recv --listen PORT --show-wire` shows on stderr every byte that arrives from a sender, a
//! dump of each read as `hexdump -C` prints a file: the protocol's header bytes (the wire format,
//! `wire.rs`), and among them the message, in clear. Nothing is encrypted or authenticated: who
//! can read the network reads the messages, and who can reach the port can send some.
#![forbid(unsafe_code)]

use std::net::SocketAddr;

use super::wire::printable;
use crate::ui::{self, Ui};

/// What `peer` sent in one read, byte for byte.
pub(crate) fn run(peer: SocketAddr, bytes: &[u8], ui: &Ui) {
    ui.note(&format!(
        "{peer} sent {}:",
        ui::counted(bytes.len() as u64, "byte")
    ));
    for line in hex_dump(bytes) {
        ui.note(&format!("  {line}"));
    }
}

/// The warning that goes with `--show-wire`.
pub(crate) fn announce(ui: &Ui) {
    ui.note(
        "--show-wire: every byte a sender sends is shown as it arrives; nothing is encrypted, so anyone on the path between the machines can read it too (or send bytes of their own)",
    );
}

/// Bytes as `hexdump -C` shows them: for each 16, the offset, the bytes in hex (two groups of
/// 8), and the printable ones as text between bars, `.` for the others.
pub(crate) fn hex_dump(b: &[u8]) -> Vec<String> {
    b.chunks(16)
        .enumerate()
        .map(|(i, row)| {
            let mut hex = String::new();
            for k in 0..16 {
                if k == 8 {
                    hex.push(' ');
                }
                match row.get(k) {
                    Some(x) => hex.push_str(&format!("{x:02x} ")),
                    None => hex.push_str("   "),
                }
            }
            let text: String = row.iter().map(|&x| printable(x)).collect();
            format!("{:08x}  {hex} |{text}|", i * 16)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mq::net::Header;

    #[test]
    fn hex_dump_is_hexdump_c() {
        let mut frame = Header::frame(b"password=hunter2!", 0, false);
        frame.push(0x7f);
        assert_eq!(
            hex_dump(&frame),
            [
                // As `hexdump -C` prints these 29 bytes.
                "00000000  69 70 63 6c 00 00 00 00  00 00 11 70 61 73 73 77  |ipcl.......passw|",
                "00000010  6f 72 64 3d 68 75 6e 74  65 72 32 21 7f           |ord=hunter2!.|",
            ]
        );
        assert!(hex_dump(b"").is_empty());
    }
}
