//! Colour: when to colour a stream (`--color`, NO_COLOR, CLICOLOR_FORCE, a terminal or not), and
//! the [`Painter`] that colours each kind of text, or leaves it plain.

use std::ffi::OsString;
use std::io::{self, IsTerminal};

use colored::Colorize;

// Options every binary has

/// When to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour a stream that is a terminal, unless NO_COLOR is set (CLICOLOR_FORCE forces it).
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// A standard stream, for deciding colour one stream at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl ColorChoice {
    /// Whether to colour what goes to `stream`, from this choice, the environment and the stream.
    pub fn enabled_for(self, stream: Stream) -> bool {
        let is_tty = match stream {
            Stream::Stdout => io::stdout().is_terminal(),
            Stream::Stderr => io::stderr().is_terminal(),
        };
        self.decide(
            is_tty,
            std::env::var_os("NO_COLOR"),
            std::env::var_os("CLICOLOR_FORCE"),
        )
    }

    /// The rule itself, kept pure so it can be tested: an explicit choice wins; then a non-empty
    /// NO_COLOR turns colour off, a CLICOLOR_FORCE other than "0" turns it on, and otherwise a
    /// terminal gets colour.
    pub(crate) fn decide(
        self,
        is_tty: bool,
        no_color: Option<OsString>,
        clicolor_force: Option<OsString>,
    ) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                if no_color.is_some_and(|v| !v.is_empty()) {
                    false
                } else if clicolor_force.is_some_and(|v| !v.is_empty() && v != "0") {
                    true
                } else {
                    is_tty
                }
            }
        }
    }
}

// Colour

/// Kinds of text the binaries colour.
#[derive(Clone, Copy, Debug)]
pub enum Tone {
    Error,
    Warning,
    Hint,
    Step,
    Call,
    Inspect,
    Note,
}

/// Colours text for one stream, or leaves it plain.
///
/// `colored` decides by looking at stdout only, so its own check is switched off once and the
/// decision is made here, per stream.
#[derive(Clone, Copy, Debug)]
pub struct Painter {
    enabled: bool,
}

impl Painter {
    pub fn new(enabled: bool) -> Painter {
        if enabled {
            colored::control::set_override(true);
        }
        Painter { enabled }
    }

    pub(crate) fn paint(&self, text: &str, tone: Tone) -> String {
        if !self.enabled {
            return text.to_string();
        }
        match tone {
            Tone::Error => text.red().bold().to_string(),
            Tone::Warning => text.yellow().bold().to_string(),
            Tone::Hint => text.cyan().bold().to_string(),
            Tone::Step => text.bold().to_string(),
            Tone::Call => text.yellow().to_string(),
            Tone::Inspect => text.magenta().to_string(),
            Tone::Note => text.green().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<OsString> {
        Some(OsString::from(s))
    }

    #[test]
    fn colour_rule() {
        use ColorChoice::*;
        assert!(Always.decide(false, os("1"), None));
        assert!(!Never.decide(true, None, os("1")));
        assert!(Auto.decide(true, None, None));
        assert!(!Auto.decide(false, None, None));
        assert!(!Auto.decide(true, os("1"), None), "NO_COLOR wins");
        assert!(
            Auto.decide(true, os(""), None),
            "an empty NO_COLOR is unset"
        );
        assert!(Auto.decide(false, None, os("1")), "CLICOLOR_FORCE forces");
        assert!(!Auto.decide(false, None, os("0")));
        assert!(
            !Auto.decide(false, os("1"), os("1")),
            "NO_COLOR beats CLICOLOR_FORCE"
        );
    }

    #[test]
    fn painter_off_leaves_text_plain() {
        assert_eq!(Painter::new(false).paint("error:", Tone::Error), "error:");
        assert!(
            Painter::new(true)
                .paint("error:", Tone::Error)
                .contains("\x1b[")
        );
    }
}
