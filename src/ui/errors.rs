//! Errors as the binaries report them: `error: <what failed>: <why> (<ERRNO>)`, then where there
//! is advice `hint: ...`. The kinds of error that decide an exit status ([`UsageError`],
//! [`Undelivered`], a closed pipe), and the one escaping function for every line on stderr.

use std::fmt;
use std::io;

use nix::errno::Errno;

// Errors

/// Bad input from the user: reported like any error, with exit status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Advice for the user, attached to an error with [`HintExt::hint`] and printed as `hint: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint(pub String);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Attach a [`Hint`] to an error, unless it carries one already: the advice given closest to
/// the failure knows most about it (which limit was reached, say), and wins.
pub trait HintExt<T> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T> HintExt<T> for anyhow::Result<T> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| {
            if e.downcast_ref::<Hint>().is_some() {
                e
            } else {
                e.context(Hint(hint.into()))
            }
        })
    }
}

/// The lines an error is reported as: `error: a: b: c` and, where the chain carries one,
/// `hint: ...` (without colour; [`Ui::report`](super::Ui::report) colours them).
pub fn error_lines(err: &anyhow::Error) -> (String, Option<String>) {
    let hint = err.downcast_ref::<Hint>().map(|h| h.0.clone());
    let parts: Vec<String> = err
        .chain()
        .map(|e| e.to_string())
        .filter(|m| Some(m) != hint.as_ref())
        .collect();
    (one_line(&parts.join(": ")), hint.as_deref().map(one_line))
}

/// A message as one line: a control character (a newline in a path a user typed, say, or the
/// escape that starts a terminal's control sequence) is written as its escape, `\n`, `\u{1b}`.
/// The one escaping function for every line the binaries write on stderr.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Bytes (a message body, perhaps not UTF-8) as one line of text: what is valid UTF-8 as
/// [`one_line`] shows it, every other byte as `\xNN`.
pub(crate) fn one_line_bytes(bytes: &[u8]) -> String {
    let mut text = String::new();
    for chunk in bytes.utf8_chunks() {
        text.push_str(&one_line(chunk.valid()));
        for b in chunk.invalid() {
            text.push_str(&format!("\\x{b:02x}"));
        }
    }
    text
}

/// The context of a failure to hand out something taken for good: a message received from a
/// queue that could not be written out, or refused because it could not be. [`Ui::finish`]
/// reports it even when stdout is a closed pipe, since it is not a quiet end: what was taken
/// is lost unless the user is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Undelivered(pub String);

impl fmt::Display for Undelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether an error chain comes from a closed stdout (or another pipe with no reader), with
/// nothing lost by it: the program ends quietly ([`Undelivered`] is never quiet).
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let broken = err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<crate::sys::SysError>()
                .is_some_and(|e| e.errno == Errno::EPIPE)
    });
    broken && err.downcast_ref::<Undelivered>().is_none()
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::*;

    #[test]
    fn error_lines_join_the_chain_and_lift_the_hint() {
        let err: anyhow::Result<()> = Err(anyhow::anyhow!("Invalid argument (EINVAL)"));
        let err = err
            .context("cannot attach segment 7")
            .hint("is shm-master running? `ipcs -m` lists segments")
            .unwrap_err();
        let (msg, hint) = error_lines(&err);
        assert_eq!(msg, "cannot attach segment 7: Invalid argument (EINVAL)");
        assert_eq!(
            hint.as_deref(),
            Some("is shm-master running? `ipcs -m` lists segments")
        );
    }

    #[test]
    fn the_hint_closest_to_the_failure_wins() {
        let err: anyhow::Result<()> = Err(anyhow::anyhow!("No space left on device (ENOSPC)"));
        let err = err
            .hint("the system allows 0 segments (kernel.shmmni)")
            .context("cannot create the segment")
            .hint("`ipcs -l` shows the limits")
            .unwrap_err();
        let (msg, hint) = error_lines(&err);
        assert_eq!(
            msg,
            "cannot create the segment: No space left on device (ENOSPC)"
        );
        assert_eq!(
            hint.as_deref(),
            Some("the system allows 0 segments (kernel.shmmni)")
        );
    }

    #[test]
    fn error_lines_without_hint() {
        let err = anyhow::Error::new(UsageError("expected a number".into()));
        assert_eq!(error_lines(&err), ("expected a number".into(), None));
    }

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("write");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
        let epipe = || {
            anyhow::Error::new(crate::sys::SysError {
                call: "write",
                errno: Errno::EPIPE,
            })
        };
        assert!(is_broken_pipe(
            &epipe().context("cannot write to standard output")
        ));
        // Something taken and not written out is never a quiet end.
        let lost = epipe().context(Undelivered(
            "cannot write message to standard output".into(),
        ));
        assert!(!is_broken_pipe(&lost));
        assert_eq!(
            error_lines(&lost).0,
            "cannot write message to standard output: Broken pipe (EPIPE)"
        );
    }

    #[test]
    fn bytes_as_one_line() {
        assert_eq!(one_line_bytes(b"hello"), "hello");
        assert_eq!(one_line_bytes(b"a\nb\tc\x1b[31m"), "a\\nb\\tc\\u{1b}[31m");
        assert_eq!(
            one_line_bytes(b"\xff\xfe caf\xc3\xa9"),
            "\\xff\\xfe caf\u{e9}"
        );
        assert_eq!(one_line_bytes(b""), "");
    }
}
