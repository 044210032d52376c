//! The wire format of the network mailbox, all integers big-endian:
//!
//! | who        | what                 | bytes                                                       |
//! |------------|----------------------|-------------------------------------------------------------|
//! | receiver   | greeting, on connect | `ipcl`, version (1), message size (u32), capacity (u32)     |
//! | sender     | a message            | `ipcl`, flags (bit 0: non-blocking), priority (u16), length (u32), body |
//! | receiver   | the answer to each   | status (u8), detail (u32)                                   |
//!
//! The receiver reads a body only after checking its length against the mailbox's message size,
//! so a peer can never make it allocate more than one message. A peer that sends anything else,
//! an oversize length or a priority out of range is answered with the reason and disconnected.
//!
//! Nothing is encrypted or authenticated: the bodies cross the network as they are, among the
//! header bytes.

use super::PRIO_MAX;

/// The first bytes of a greeting and of every message.
pub const MAGIC: [u8; 4] = *b"ipcl";
/// The protocol version in the greeting.
pub(crate) const VERSION: u8 = 1;
/// A greeting: magic, version, message size, capacity.
pub const GREETING_LEN: usize = 13;
/// A message header: magic, flags, priority, length.
pub const HEADER_LEN: usize = 11;
/// An answer: status, detail.
pub const ANSWER_LEN: usize = 5;

const FLAG_NONBLOCK: u8 = 1;

/// The receiver's answer to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It is in the mailbox.
    Delivered,
    /// Non-blocking, and the mailbox was full; detail: its capacity.
    Full,
    /// Longer than the mailbox takes; detail: the message size.
    TooBig,
    /// Priority above 32767; detail: the highest allowed.
    BadPriority,
    /// Not a message header; the connection is closed.
    Malformed,
    /// Not put into the mailbox: the receiver cannot hand messages out (its output failed);
    /// detail: the errno of that failure. The connection is closed.
    Undeliverable,
}

impl Status {
    pub(super) fn code(self) -> u8 {
        match self {
            Status::Delivered => 0,
            Status::Full => 1,
            Status::TooBig => 2,
            Status::BadPriority => 3,
            Status::Malformed => 4,
            Status::Undeliverable => 5,
        }
    }

    pub(super) fn from_code(code: u8) -> Option<Status> {
        Some(match code {
            0 => Status::Delivered,
            1 => Status::Full,
            2 => Status::TooBig,
            3 => Status::BadPriority,
            4 => Status::Malformed,
            5 => Status::Undeliverable,
            _ => return None,
        })
    }
}

/// What the receiver tells a sender when it connects: how big a message may be, and how many
/// the mailbox holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    pub message_size: u32,
    pub max_messages: u32,
}

impl Greeting {
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        let mut b = [0u8; GREETING_LEN];
        b[..4].copy_from_slice(&MAGIC);
        b[4] = VERSION;
        b[5..9].copy_from_slice(&self.message_size.to_be_bytes());
        b[9..13].copy_from_slice(&self.max_messages.to_be_bytes());
        b
    }

    /// Check a greeting; the error says what was wrong with it.
    pub fn decode(b: &[u8; GREETING_LEN]) -> Result<Greeting, String> {
        if b[..4] != MAGIC {
            return Err(format!(
                "it does not speak the ipc-lab message protocol: its first bytes are {}",
                show_bytes(&b[..4])
            ));
        }
        if b[4] != VERSION {
            return Err(format!(
                "it speaks version {} of the protocol, this program version {VERSION}",
                b[4]
            ));
        }
        Ok(Greeting {
            message_size: u32::from_be_bytes(b[5..9].try_into().expect("4 bytes")),
            max_messages: u32::from_be_bytes(b[9..13].try_into().expect("4 bytes")),
        })
    }
}

/// A message's header as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub nonblock: bool,
    pub priority: u32,
    pub length: u32,
}

/// Why a receiver refused a peer's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: Status,
    pub detail: u32,
    /// For the receiver's log.
    pub why: String,
}

impl Header {
    /// A message as it goes on the wire.
    pub fn frame(body: &[u8], priority: u32, nonblock: bool) -> Vec<u8> {
        let length = u32::try_from(body.len()).expect("a message is far below 4 GiB");
        let priority = u16::try_from(priority).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(&MAGIC);
        out.push(if nonblock { FLAG_NONBLOCK } else { 0 });
        out.extend_from_slice(&priority.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// Check a header against a mailbox that takes messages of up to `message_size` bytes.
    pub fn decode(b: &[u8; HEADER_LEN], message_size: u32) -> Result<Header, Refusal> {
        if b[..4] != MAGIC || b[4] & !FLAG_NONBLOCK != 0 {
            return Err(Refusal {
                status: Status::Malformed,
                detail: 0,
                why: format!(
                    "it sent {} where a message header starts with \"ipcl\" (is it mq-send --host?)",
                    show_bytes(&b[..])
                ),
            });
        }
        let priority = u32::from(u16::from_be_bytes([b[5], b[6]]));
        let length = u32::from_be_bytes(b[7..11].try_into().expect("4 bytes"));
        if priority > PRIO_MAX {
            return Err(Refusal {
                status: Status::BadPriority,
                detail: PRIO_MAX,
                why: format!("priority {priority} is out of range: 0 to {PRIO_MAX}"),
            });
        }
        if length > message_size {
            return Err(Refusal {
                status: Status::TooBig,
                detail: message_size,
                why: format!(
                    "a {length}-byte message, but the mailbox takes at most {message_size} bytes"
                ),
            });
        }
        Ok(Header {
            nonblock: b[4] & FLAG_NONBLOCK != 0,
            priority,
            length,
        })
    }
}

pub(super) fn answer(status: Status, detail: u32) -> [u8; ANSWER_LEN] {
    let mut b = [0u8; ANSWER_LEN];
    b[0] = status.code();
    b[1..].copy_from_slice(&detail.to_be_bytes());
    b
}

/// Bytes as a reader can check them: printable ASCII in quotes, the rest in hex.
fn show_bytes(b: &[u8]) -> String {
    let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    let text: String = b.iter().map(|&x| printable(x)).collect();
    format!("{} ({text:?})", hex.join(" "))
}

/// A byte as text in a dump: printable ASCII as itself, anything else as `.`.
pub(super) fn printable(x: u8) -> char {
    if x.is_ascii_graphic() || x == b' ' {
        x as char
    } else {
        '.'
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_round_trip_and_refusals() {
        let g = Greeting {
            message_size: 8192,
            max_messages: 10,
        };
        assert_eq!(Greeting::decode(&g.encode()), Ok(g));
        let mut http = *b"HTTP/1.1 200 ";
        let err = Greeting::decode(&http).unwrap_err();
        assert!(err.contains("48 54 54 50 (\"HTTP\")"), "{err}");
        http[..4].copy_from_slice(&MAGIC);
        http[4] = 9;
        assert!(Greeting::decode(&http).unwrap_err().contains("version 9"));
    }

    #[test]
    fn header_round_trip() {
        let frame = Header::frame(b"hello", 300, true);
        assert_eq!(frame.len(), HEADER_LEN + 5);
        let head: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
        assert_eq!(
            Header::decode(&head, 8192),
            Ok(Header {
                nonblock: true,
                priority: 300,
                length: 5
            })
        );
        assert_eq!(&frame[HEADER_LEN..], b"hello");
    }

    #[test]
    fn headers_refused_for_garbage_size_and_priority() {
        let garbage: [u8; HEADER_LEN] = *b"GET / HTTP/";
        assert_eq!(
            Header::decode(&garbage, 8192).unwrap_err().status,
            Status::Malformed
        );
        let mut flags = Header::frame(b"", 0, false);
        flags[4] = 0x80;
        let head: [u8; HEADER_LEN] = flags[..].try_into().unwrap();
        assert_eq!(
            Header::decode(&head, 8192).unwrap_err().status,
            Status::Malformed
        );
        let mut huge: [u8; HEADER_LEN] = Header::frame(b"", 0, false)[..].try_into().unwrap();
        huge[7..].copy_from_slice(&u32::MAX.to_be_bytes());
        let refusal = Header::decode(&huge, 8192).unwrap_err();
        assert_eq!((refusal.status, refusal.detail), (Status::TooBig, 8192));
        assert!(refusal.why.contains("4294967295-byte"), "{}", refusal.why);
        let mut prio: [u8; HEADER_LEN] = Header::frame(b"", 0, false)[..].try_into().unwrap();
        prio[5..7].copy_from_slice(&40000u16.to_be_bytes());
        assert_eq!(
            Header::decode(&prio, 8192).unwrap_err().status,
            Status::BadPriority
        );
    }

    #[test]
    fn status_codes_round_trip() {
        for s in [
            Status::Delivered,
            Status::Full,
            Status::TooBig,
            Status::BadPriority,
            Status::Malformed,
            Status::Undeliverable,
        ] {
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
        assert_eq!(Status::from_code(99), None);
    }
}
