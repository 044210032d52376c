//! Narration: the [`Ui`] a binary says everything besides its stdout through (`--explain`'s steps,
//! calls and meanings, `--inspect`'s status lines, notes, warnings, errors), on stderr, one line
//! at a time, wrapped at a terminal's width; and [`Ui::finish`], which ends a run with its exit
//! status.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use super::colour::{ColorChoice, Painter, Stream, Tone};
use super::errors::{UsageError, error_lines, is_broken_pipe, one_line};
use super::output::PROMPT_PENDING;
use super::{EXIT_FAILURE, EXIT_USAGE};
use crate::sys::{Interrupted, exit_by_signal};

// The user interface on stderr, and stdout

/// What a binary says besides its stdout: narration, inspection, notes and errors, all on
/// stderr, coloured when stderr wants it.
///
/// Every line goes out as one line with its control characters escaped ([`one_line`]): a
/// queue name, a path or a message a user typed with an escape sequence in it (one that
/// retitles the terminal, say) is shown as `\u{1b}]0;...`, never played on the terminal.
#[derive(Debug, Clone)]
pub struct Ui {
    prog: &'static str,
    err: Painter,
    explain: bool,
}

impl Ui {
    /// The user interface of binary `prog`, colouring stderr as `color` says (`--color`), and
    /// narrating every step when `explain` (`--explain`).
    pub fn new(prog: &'static str, color: ColorChoice, explain: bool) -> Ui {
        Ui {
            prog,
            err: Painter::new(color.enabled_for(Stream::Stderr)),
            explain,
        }
    }

    /// The binary's name, as errors are prefixed with it.
    pub fn prog(&self) -> &'static str {
        self.prog
    }

    /// Whether `--explain` was given.
    pub(crate) fn explaining(&self) -> bool {
        self.explain
    }

    fn eprint(&self, text: &str) {
        // One write(2) for the line and its newline (writeln! makes two), so that a line of
        // another process on the same terminal cannot land in between. A closed or full
        // stderr cannot be reported anywhere: carry on without it.
        let _ = io::stderr()
            .lock()
            .write_all(format!("{text}\n").as_bytes());
    }

    /// A line of narration or inspection: `prefix` then `text`. On a terminal, wrapped at its
    /// width ([`narration_width`], [`wrap_line`]); anywhere else (a pipe, a file) as it is.
    fn eprint_narration(&self, prefix: &str, text: &str) {
        match narration_width() {
            Some(width) => self.eprint(&wrap_line(prefix, text, width)),
            None => self.eprint(&format!("{prefix}{text}")),
        }
    }

    /// `--explain`: the heading of a step, e.g. `[step 1] create the segment`.
    pub fn step(&self, n: u32, title: &str) {
        if self.explain {
            let head = self.err.paint(&format!("[step {n}]"), Tone::Step);
            self.eprint_narration(&format!("{head} "), &one_line(title));
        }
    }

    /// `--explain`: a system call with its arguments and result: `shmget(...) = 7`.
    pub fn call(&self, call: &str, result: impl fmt::Display) {
        if self.explain {
            let text = self
                .err
                .paint(&one_line(&format!("{call} = {result}")), Tone::Call);
            self.eprint_narration("  ", &text);
        }
    }

    /// `--explain`: a plain memory access or other action with no system call: `shm[0] = 1`.
    pub fn act(&self, text: &str) {
        if self.explain {
            let text = self.err.paint(&one_line(text), Tone::Call);
            self.eprint_narration("  ", &text);
        }
    }

    /// `--explain`: what the step means, in a sentence.
    pub fn meaning(&self, text: &str) {
        if self.explain {
            self.eprint_narration("  ", &one_line(text));
        }
    }

    /// A status line (`--inspect`), printed whenever the caller asks.
    pub fn inspect(&self, text: &str) {
        let head = self.err.paint("[inspect]", Tone::Inspect);
        self.eprint_narration(&format!("{head} "), &one_line(text));
    }

    /// A note that is always printed on stderr: `shm-master: ...`.
    pub fn note(&self, text: &str) {
        let head = self.err.paint(&format!("{}:", self.prog), Tone::Note);
        self.eprint(&format!("{head} {}", one_line(text)));
    }

    /// A warning that is always printed on stderr: `warning: ...`, for something the run goes on
    /// with that the user should know of (an object another user opened to everyone, say).
    pub(crate) fn warn(&self, text: &str) {
        let head = self.err.paint("warning:", Tone::Warning);
        self.eprint(&format!("{head} {}", one_line(text)));
    }

    /// Print an error as `error: ...` and `hint: ...`.
    pub fn report(&self, err: &anyhow::Error) {
        let (message, hint) = error_lines(err);
        // On a terminal, a prompt left without its newline (input ended at it) would put the
        // error on the prompt's line: start a fresh line, on stderr, so stdout is unchanged.
        if PROMPT_PENDING.load(Ordering::Relaxed)
            && io::stdout().is_terminal()
            && io::stderr().is_terminal()
        {
            self.eprint("");
        }
        let head = self.err.paint("error:", Tone::Error);
        self.eprint(&format!("{head} {message}"));
        if let Some(hint) = hint {
            let head = self.err.paint("hint:", Tone::Hint);
            self.eprint(&format!("{head} {hint}"));
        }
    }

    /// Turn the result of a binary's `run` into its exit status; see the module's table.
    /// An [`Interrupted`] error does not return: the signal is re-raised.
    pub fn finish(&self, result: anyhow::Result<()>) -> ExitCode {
        let err = match result {
            Ok(()) => return ExitCode::SUCCESS,
            Err(err) => err,
        };
        if is_broken_pipe(&err) {
            return ExitCode::SUCCESS;
        }
        if let Some(Interrupted(sig)) = err.downcast_ref::<Interrupted>() {
            exit_by_signal(*sig);
        }
        self.report(&err);
        if err.downcast_ref::<UsageError>().is_some() {
            ExitCode::from(EXIT_USAGE)
        } else {
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

// Narration wrapped at a terminal's width

/// The width to wrap narration and inspection at: where stderr is a terminal, `$COLUMNS` when it
/// is set to a number of columns, else the terminal's own width (TIOCGWINSZ on stderr), asked
/// at each line, so that a pane resized meanwhile is followed. None where stderr is no terminal
/// (a pipe, a file, a test): the lines then go out as they are, byte for byte.
pub(crate) fn narration_width() -> Option<usize> {
    let stderr = io::stderr();
    if !stderr.is_terminal() {
        return None;
    }
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0);
    columns.or_else(|| crate::sys::terminal_columns(stderr.as_fd()))
}

/// How many columns `text` takes on a terminal: its characters, less the escape sequences that
/// colour it (`\x1b[1;31m` and the like, CSI sequences), which take none.
pub(crate) fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, up to the final byte (@ to ~).
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            width += 1;
        }
    }
    width
}

/// `prefix` and `text` as lines of at most `width` columns, for a terminal that wide: `text` is
/// broken at spaces, never inside a word, and every line after the first is indented to where
/// the text starts after the prefix (`[inspect] ` or two spaces), so that the prefix stands out
/// on its own. Colour escapes take no room (`visible_width`). A word longer than a line is
/// put on a line of its own, whole (the terminal folds it). Where the prefix takes more than
/// half the width, the following lines start at the left edge instead. The spaces at a break
/// are dropped; the others stay.
pub fn wrap_line(prefix: &str, text: &str, width: usize) -> String {
    let indent = visible_width(prefix);
    let hang = if indent * 2 <= width { indent } else { 0 };
    let mut out = String::with_capacity(prefix.len() + text.len() + 16);
    out.push_str(prefix);
    let mut column = indent;
    let mut words_on_line = false;
    let mut spaces = 0;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            spaces += 1;
        }
        if word.is_empty() {
            continue;
        }
        let w = visible_width(word);
        if words_on_line && column + spaces + w > width {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', hang));
            column = hang;
        } else {
            out.extend(std::iter::repeat_n(' ', spaces));
            column += spaces;
        }
        spaces = 0;
        out.push_str(word);
        column += w;
        words_on_line = true;
    }
    out.extend(std::iter::repeat_n(' ', spaces));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inspect line of a 40-byte segment, as shm-master prints it.
    const STATUS: &str = "segment 7: key IPC_PRIVATE, 40 bytes, mode 0600, owner uid 1000, creator pid 4242, last attach/detach by pid 4242, nattch 1, attached 10:00:01, detached never, changed 10:00:00";

    /// `text` without its colour escapes.
    fn uncoloured(text: &str) -> String {
        let mut plain = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                chars
                    .by_ref()
                    .find(|c| ('@'..='~').contains(c) && *c != '[');
            } else {
                plain.push(c);
            }
        }
        plain
    }

    /// Every line of `wrapped` is at most `width` columns; put back together, the lines are
    /// the words of the line unwrapped (colour aside).
    #[track_caller]
    fn assert_wraps(wrapped: &str, prefix: &str, text: &str, width: usize) {
        for line in wrapped.lines() {
            assert!(
                visible_width(line) <= width,
                "{line:?} is wider than {width}"
            );
            assert_eq!(visible_width(line), uncoloured(line).chars().count());
        }
        let words = |t: &str| {
            uncoloured(t)
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(words(wrapped), words(&format!("{prefix}{text}")));
    }

    #[test]
    fn narration_wraps_at_word_boundaries_under_the_text() {
        let wrapped = wrap_line("[inspect] ", STATUS, 40);
        assert_eq!(
            wrapped,
            "[inspect] segment 7: key IPC_PRIVATE, 40\n          bytes, mode 0600, owner uid\n          1000, creator pid 4242, last\n          attach/detach by pid 4242,\n          nattch 1, attached 10:00:01,\n          detached never, changed\n          10:00:00"
        );
        assert_wraps(&wrapped, "[inspect] ", STATUS, 40);
        let wrapped = wrap_line("[inspect] ", STATUS, 80);
        assert_eq!(
            wrapped,
            "[inspect] segment 7: key IPC_PRIVATE, 40 bytes, mode 0600, owner uid 1000,\n          creator pid 4242, last attach/detach by pid 4242, nattch 1, attached\n          10:00:01, detached never, changed 10:00:00"
        );
        assert_wraps(&wrapped, "[inspect] ", STATUS, 80);
        // A meaning, under its two spaces.
        let meaning = "the kernel made a 40-byte segment; id 7 names it to every process";
        assert_eq!(
            wrap_line("  ", meaning, 40),
            "  the kernel made a 40-byte segment; id\n  7 names it to every process"
        );
        // What fits is left as it is, spaces and all.
        assert_eq!(
            wrap_line("[step 1] ", "create  the segment ", 80),
            "[step 1] create  the segment "
        );
        assert_eq!(wrap_line("  ", "", 40), "  ");
    }

    #[test]
    fn a_word_longer_than_the_line_stands_whole_on_a_line_of_its_own() {
        let path = format!("/tmp/{}", "d".repeat(50));
        let text = format!("ftok({path:?}, 1) = 0x01020304: made from the file");
        let wrapped = wrap_line("  ", &text, 40);
        assert_eq!(
            wrapped,
            format!("  ftok(\"{path}\",\n  1) = 0x01020304: made from the file")
        );
        // Even as the first word: nothing is broken.
        let wrapped = wrap_line("[step 1] ", &"x".repeat(60), 40);
        assert_eq!(wrapped, format!("[step 1] {}", "x".repeat(60)));
    }

    #[test]
    fn colour_escapes_take_no_room() {
        let painter = Painter::new(true);
        let head = painter.paint("[inspect]", Tone::Inspect);
        assert_ne!(head.len(), 9, "painted: {head:?}");
        assert_eq!(visible_width(&head), 9);
        let prefix = format!("{head} ");
        let plain = wrap_line("[inspect] ", STATUS, 40);
        let coloured = wrap_line(&prefix, STATUS, 40);
        // The same breaks as without colour.
        assert_eq!(coloured.replacen(&prefix, "[inspect] ", 1), plain);
        // A call painted whole: its escapes at both ends do not count either.
        let call = painter.paint("shmget(IPC_PRIVATE, 40, IPC_CREAT|0600) = 7", Tone::Call);
        let wrapped = wrap_line("  ", &call, 40);
        assert_eq!(wrapped.lines().count(), 2, "{wrapped:?}");
        assert_wraps(
            &wrapped,
            "  ",
            "shmget(IPC_PRIVATE, 40, IPC_CREAT|0600) = 7",
            40,
        );
        assert!(
            wrapped.starts_with("  \x1b[") && wrapped.contains("\n  IPC_CREAT|0600) = 7\x1b["),
            "{wrapped:?}"
        );
    }

    #[test]
    fn a_prefix_wider_than_half_the_line_leaves_the_next_lines_at_the_edge() {
        assert_eq!(
            wrap_line("[inspect] ", "aaaa bbbb cccc", 16),
            "[inspect] aaaa\nbbbb cccc"
        );
    }
}
