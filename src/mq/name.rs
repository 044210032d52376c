//! Queue names: what mq_open(3) takes, `/` and 1 to 255 bytes; the names of a process's own
//! mailboxes, for direct naming; and a name of one's own to suggest in place of another user's.

use std::ffi::CString;
use std::fmt;

use super::NAME_MAX;
use crate::ui::UsageError;

/// A queue name as mq_open(3) wants it: `/` and 1 to 255 characters, none of them `/` or NUL.
/// Two names are equal when they name the same queue, however they were typed.
#[derive(Debug, Clone)]
pub struct QueueName {
    name: String,
    /// The user wrote it without the leading `/`, which was added.
    pub slash_added: bool,
}

impl QueueName {
    /// Check a name a user typed; a missing leading `/` is added (and recorded).
    pub fn parse(text: &str) -> Result<QueueName, UsageError> {
        let (body, slash_added) = match text.strip_prefix('/') {
            Some(body) => (body, false),
            None => (text, true),
        };
        let bad = |why: &str| {
            UsageError(format!(
                "{text:?} is not a queue name: {why} (a name is / and 1 to {NAME_MAX} bytes, e.g. /lab)"
            ))
        };
        if body.is_empty() {
            return Err(bad("it is empty"));
        }
        if body.contains('/') {
            return Err(bad("only the leading / may be a slash"));
        }
        if body.contains('\0') {
            return Err(bad("it contains a NUL byte"));
        }
        if body.len() > NAME_MAX {
            return Err(bad(&format!("it is {} bytes long", body.len())));
        }
        Ok(QueueName {
            name: format!("/{body}"),
            slash_added,
        })
    }

    /// The name of a process's own mailbox, for direct naming: `/ipc-lab-pid-<PID>`.
    pub fn for_pid(pid: u32) -> QueueName {
        QueueName {
            name: format!("/ipc-lab-pid-{pid}"),
            slash_added: false,
        }
    }

    /// The name of a pair mailbox, for `receive(P1, msg)`: what process `sender` sends to
    /// process `receiver`, and nothing else: `/ipc-lab-pid-<RECEIVER>-from-<SENDER>`.
    pub fn for_pair(receiver: u32, sender: u32) -> QueueName {
        QueueName {
            name: format!("/ipc-lab-pid-{receiver}-from-{sender}"),
            slash_added: false,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub(super) fn c_name(&self) -> CString {
        CString::new(self.name.as_str()).expect("checked: no NUL")
    }
}

impl PartialEq for QueueName {
    fn eq(&self, other: &QueueName) -> bool {
        self.name == other.name
    }
}

impl Eq for QueueName {}

impl std::hash::Hash for QueueName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl fmt::Display for QueueName {
    /// The name as it is shown, on stdout as on stderr: a control character in it is escaped
    /// (`/x\u{1b}]0;...`), so that a name cannot play a terminal's control sequence.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::ui::one_line(&self.name))
    }
}

/// A name of this user's own in place of `name`: `/lab-alice`, after the login name of the
/// real user ([`crate::sys::login_name`]); shortened to fit NAME_MAX, and `/lab-alice-2` for a
/// name that is already `/lab-alice`.
pub(crate) fn name_of_ones_own(name: &QueueName) -> QueueName {
    // A login name holds no `/` or NUL; should one ever, it is left out rather than break
    // the name.
    let login: String = crate::sys::login_name()
        .chars()
        .filter(|c| *c != '/' && *c != '\0')
        .collect();
    let body = &name.as_str()[1..];
    let suffix = if body.ends_with(&format!("-{login}")) {
        "-2".to_string()
    } else {
        format!("-{login}")
    };
    let mut keep = NAME_MAX.saturating_sub(suffix.len()).min(body.len());
    while !body.is_char_boundary(keep) {
        keep -= 1;
    }
    let own = format!("/{}{suffix}", &body[..keep]);
    QueueName::parse(&own).unwrap_or_else(|_| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = QueueName::parse("lab").unwrap();
        assert_eq!((n.as_str(), n.slash_added), ("/lab", true));
        let n = QueueName::parse("/lab").unwrap();
        assert_eq!((n.as_str(), n.slash_added), ("/lab", false));
        for bad in ["", "/", "/a/b", "a/b", "//", "/a\0b"] {
            assert!(QueueName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(QueueName::parse(&"x".repeat(255)).is_ok());
        let long = QueueName::parse(&"x".repeat(256)).unwrap_err();
        assert!(long.0.contains("256 bytes"), "{long}");
        assert_eq!(QueueName::for_pid(42).as_str(), "/ipc-lab-pid-42");
        assert_eq!(
            QueueName::parse("lab").unwrap(),
            QueueName::parse("/lab").unwrap(),
            "the same queue, however typed"
        );
    }

    #[test]
    fn a_name_of_ones_own_ends_with_the_login_name_and_fits() {
        let login = crate::sys::login_name();
        let own = |text: &str| name_of_ones_own(&QueueName::parse(text).unwrap());
        assert_eq!(own("/lab").as_str(), format!("/lab-{login}"));
        // Already one's own: another still.
        assert_eq!(
            own(&format!("/lab-{login}")).as_str(),
            format!("/lab-{login}-2")
        );
        // The longest name is shortened so that the suggestion is a name too.
        let long = format!("/{}", "q".repeat(NAME_MAX));
        let suggested = own(&long);
        assert_eq!(suggested.as_str().len(), NAME_MAX + 1);
        assert!(suggested.as_str().ends_with(&format!("q-{login}")));
        // Shortened at a character's boundary.
        let wide = format!("/{}", "é".repeat(NAME_MAX / 2));
        assert!(own(&wide).as_str().ends_with(&format!("-{login}")));
    }
}
