//! Standard input that a termination signal can interrupt, read within a bound: the lines of it
//! ([`StdinLines`], mq-send's messages) or its words as scanf("%d") finds them ([`StdinWords`],
//! shm-slave's id and values). More than a [`Bound`] allows is a usage error, never an endless
//! allocation.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::poll::PollFlags;

use super::errors::{Hint, UsageError};

// Standard input that a termination signal can interrupt, read within a bound

/// The most bytes the line that stands for Enter may have (`mq-recv --hold`): a person types
/// none at all; a file or a pipe has no reason to give more than a short line.
pub(crate) const ENTER_MAX: usize = 4096;

/// The most bytes one number read from standard input may have (shm-slave's id and values): a
/// 32-bit whole number needs at most 11 characters; this leaves room for leading zeros.
pub(crate) const NUMBER_MAX: usize = 64;

/// How much one read of standard input (a line, a word) may hold, and how to report more: a
/// usage error (exit status 2) that says what was too long and the bound, and a hint. Every
/// reader of standard input gives one, so that no input, however long or endless (`< /dev/zero`),
/// makes a program allocate without end or read on for ever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// The most bytes (a line's ending aside).
    pub max: usize,
    /// What is read, as the error names it: `a message`, `value 2 of 3`.
    pub what: String,
    /// Why that many, after the number: `the most queue /lab takes (mq_msgsize)`.
    pub why: String,
    /// What to do instead.
    pub hint: String,
}

impl Bound {
    /// The usage error for a read past the bound: on line `line` of standard input, or (None)
    /// a word of it.
    pub(crate) fn exceeded(&self, line: Option<u64>) -> anyhow::Error {
        let Bound {
            max,
            what,
            why,
            hint,
        } = self;
        let message = match line {
            Some(n) => {
                format!("line {n} of standard input ({what}) is longer than {max} bytes, {why}")
            }
            None => format!("{what} on standard input is longer than {max} bytes, {why}"),
        };
        anyhow::Error::new(UsageError(message)).context(Hint(hint.clone()))
    }
}

/// Standard input read a chunk at a time, with `poll` beside the wake-up descriptor of
/// [`Termination`]: std's readers retry a read that a signal interrupts, so a Ctrl-C at a waiting
/// `read` would otherwise go unnoticed. The bytes not yet taken are `buf[start..]`; they are moved
/// to the front only before the next read, so each byte is moved at most once per line taken.
#[derive(Debug, Default)]
struct Chunks {
    /// The descriptor read (None: standard input).
    source: Option<OwnedFd>,
    buf: Vec<u8>,
    start: usize,
    ended: bool,
}

impl Chunks {
    /// The chunk size: one read(2) takes at most this much.
    const CHUNK: usize = 64 * 1024;

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Take the first `n` pending bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let taken = self.buf[self.start..self.start + n].to_vec();
        self.start += n;
        taken
    }

    /// Drop the first `n` pending bytes.
    fn skip(&mut self, n: usize) {
        self.start += n;
    }

    /// Read one more chunk, waiting for it until a termination signal wakes `wake` (None: a
    /// signal takes its default action, or the read goes on); false when woken. At the end of
    /// input, `ended` is set.
    fn fill(&mut self, wake: Option<BorrowedFd<'_>>) -> anyhow::Result<bool> {
        let stdin = io::stdin();
        let fd = match &self.source {
            Some(fd) => fd.as_fd(),
            None => stdin.as_fd(),
        };
        loop {
            // With nothing to wake it, a plain blocking read does: poll would add nothing.
            if wake.is_some() {
                let waited = crate::sys::wait_any(&[(fd, PollFlags::POLLIN)], None, wake)
                    .context("cannot wait for standard input")?;
                if waited.woken {
                    return Ok(false);
                }
                if !waited.ready(0, PollFlags::POLLIN) {
                    continue;
                }
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let old = self.buf.len();
            self.buf.resize(old + Self::CHUNK, 0);
            let read = nix::unistd::read(fd, &mut self.buf[old..]);
            self.buf.truncate(old + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => self.ended = true,
                Ok(_) => {}
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => continue,
                Err(errno) => {
                    return Err(crate::sys::SysError {
                        call: "read",
                        errno,
                    })
                    .context("cannot read standard input");
                }
            }
            return Ok(true);
        }
    }
}

/// What [`StdinLines::next`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line, without its ending (`\n` or `\r\n`; a last line without one is returned as it is,
    /// less a `\r` at its end).
    Text(Vec<u8>),
    /// Input ended.
    End,
    /// A termination signal arrived while waiting.
    Woken,
}

/// The lines of standard input, each within a [`Bound`], read as `Chunks` are: a termination
/// signal ends a wait for the next line. A line past the bound is refused as soon as that many
/// bytes have come, without waiting for its end; each byte is searched for the line's end once.
#[derive(Debug, Default)]
pub struct StdinLines {
    input: Chunks,
    /// How many pending bytes are known to hold no `\n`.
    scanned: usize,
    /// Lines taken so far.
    lines: u64,
}

impl StdinLines {
    pub fn new() -> StdinLines {
        StdinLines::default()
    }

    /// Lines read from `fd` instead of standard input (for tests).
    #[cfg(test)]
    fn reading(fd: OwnedFd) -> StdinLines {
        StdinLines {
            input: Chunks {
                source: Some(fd),
                ..Chunks::default()
            },
            ..StdinLines::default()
        }
    }

    /// The next line, at most `bound.max` bytes (its ending aside), waiting for it until a
    /// termination signal wakes `wake`. A longer line is `bound`'s usage error.
    pub fn next(&mut self, bound: &Bound, wake: Option<BorrowedFd<'_>>) -> anyhow::Result<Line> {
        loop {
            let pending = self.input.pending();
            let found = pending[self.scanned..].iter().position(|&b| b == b'\n');
            let (len, ending) = match found {
                Some(i) => (self.scanned + i, 1),
                None if self.input.ended && !pending.is_empty() => (pending.len(), 0),
                None if self.input.ended => return Ok(Line::End),
                None => {
                    self.scanned = pending.len();
                    // A `\r` at the end may be the start of a `\r\n`, which is not the line's.
                    let content = pending.len() - usize::from(pending.ends_with(b"\r"));
                    if content > bound.max {
                        return Err(bound.exceeded(Some(self.lines + 1)));
                    }
                    if !self.input.fill(wake)? {
                        return Ok(Line::Woken);
                    }
                    continue;
                }
            };
            self.lines += 1;
            self.scanned = 0;
            let mut line = self.input.take(len);
            self.input.skip(ending);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > bound.max {
                return Err(bound.exceeded(Some(self.lines)));
            }
            return Ok(Line::Text(line));
        }
    }
}

/// What [`StdinWords::next`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// A word: bytes up to the next blank (space, tab, newline, `\v`, `\f`, `\r`).
    Text(Vec<u8>),
    /// Input ended before another word.
    End,
    /// A termination signal arrived while waiting.
    Woken,
}

/// The words of standard input, as scanf("%d") finds them: blanks skipped, however many (they
/// are not kept), then bytes up to the next blank, each word within a [`Bound`].
#[derive(Debug, Default)]
pub struct StdinWords {
    input: Chunks,
}

impl StdinWords {
    pub fn new() -> StdinWords {
        StdinWords::default()
    }

    /// The next word, at most `bound.max` bytes, waiting for it until a termination signal wakes
    /// `wake`. A longer word is `bound`'s usage error, as soon as that many bytes have come.
    pub fn next(&mut self, bound: &Bound, wake: Option<BorrowedFd<'_>>) -> anyhow::Result<Word> {
        let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
        loop {
            let pending = self.input.pending();
            let blanks = pending.iter().take_while(|b| blank(b)).count();
            self.input.skip(blanks);
            let pending = self.input.pending();
            let len = pending.iter().position(blank);
            let len = match len {
                Some(len) => Some(len),
                None if self.input.ended => Some(pending.len()),
                None => None,
            };
            match len {
                Some(0) => return Ok(Word::End),
                Some(len) if len <= bound.max => return Ok(Word::Text(self.input.take(len))),
                _ if pending.len() > bound.max => return Err(bound.exceeded(None)),
                _ => {
                    if !self.input.fill(wake)? {
                        return Ok(Word::Woken);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::ui::error_lines;

    fn bound(max: usize) -> Bound {
        Bound {
            max,
            what: "a test line".into(),
            why: "the test's bound".into(),
            hint: "write less".into(),
        }
    }

    /// An error as [`error_lines`] gives it.
    type Lines = (String, Option<String>);

    /// Lines of `input`, written into a pipe by a thread, read with bound `max`: each line, or
    /// the error lines at the first one past it.
    fn lines_of(input: Vec<u8>, max: usize) -> (Vec<Vec<u8>>, Option<Lines>) {
        let (read, write) = nix::unistd::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            let mut file = std::fs::File::from(write);
            let _ = file.write_all(&input);
        });
        let mut lines = StdinLines::reading(read);
        let mut got = Vec::new();
        let result = loop {
            match lines.next(&bound(max), None) {
                Ok(Line::Text(line)) => got.push(line),
                Ok(Line::End) => break None,
                Ok(Line::Woken) => unreachable!("no wake-up descriptor"),
                Err(err) => {
                    assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
                    break Some(error_lines(&err));
                }
            }
        };
        drop(lines);
        writer.join().unwrap();
        (got, result)
    }

    #[test]
    fn lines_up_to_the_bound_are_taken_whole_with_either_ending() {
        let (got, err) = lines_of(b"abc\r\n\nabcd\nab\r".to_vec(), 4);
        assert_eq!(got, [&b"abc"[..], b"", b"abcd", b"ab"]);
        assert_eq!(err, None);
        // A line of 16 MiB at a bound of 16 MiB, in a few hundred chunks, then one more line.
        let mut big = vec![b'x'; 16 << 20];
        big.extend_from_slice(b"\r\nlast");
        let (got, err) = lines_of(big, 16 << 20);
        assert_eq!((got.len(), err), (2, None));
        assert!(got[0].len() == 16 << 20 && got[0].iter().all(|&b| b == b'x'));
        assert_eq!(got[1], b"last");
    }

    #[test]
    fn a_line_past_the_bound_is_a_usage_error_naming_the_line_and_the_bound() {
        let said = |n: u32| {
            Some((
                format!(
                    "line {n} of standard input (a test line) is longer than 4 bytes, the test's bound"
                ),
                Some("write less".to_string()),
            ))
        };
        // Ended by a newline, at the end of input, or never ended (refused all the same).
        assert_eq!(
            lines_of(b"ok\nabcde\nnever".to_vec(), 4),
            (vec![b"ok".to_vec()], said(2))
        );
        assert_eq!(lines_of(b"abcde".to_vec(), 4), (vec![], said(1)));
        assert_eq!(lines_of(b"abcd\r\r\n".to_vec(), 4), (vec![], said(1)));
        let (got, err) = lines_of(vec![0; 1 << 20], 4);
        assert_eq!((got, err), (vec![], said(1)));
    }

    #[test]
    fn words_are_found_between_blanks_within_the_bound() {
        let (read, write) = nix::unistd::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            let mut file = std::fs::File::from(write);
            let mut input = b" \t12\r\n\x0b\x0c-3 abcd ".to_vec();
            input.extend(std::iter::repeat_n(b' ', 1 << 20));
            input.extend_from_slice(b"abcde");
            let _ = file.write_all(&input);
        });
        let mut words = StdinWords {
            input: Chunks {
                source: Some(read),
                ..Chunks::default()
            },
        };
        for want in [&b"12"[..], b"-3", b"abcd"] {
            assert_eq!(
                words.next(&bound(4), None).unwrap(),
                Word::Text(want.to_vec())
            );
        }
        let err = words.next(&bound(4), None).unwrap_err();
        assert_eq!(
            error_lines(&err),
            (
                "a test line on standard input is longer than 4 bytes, the test's bound".into(),
                Some("write less".into())
            )
        );
        drop(words);
        writer.join().unwrap();
    }
}
