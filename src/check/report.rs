//! The result of a check: text for the student, or Gradescope's `results.json` for the
//! instructor (`{"score", "max_score", "tests": [{"name", "score", "max_score", "status",
//! "output"}]}`).

#![forbid(unsafe_code)]

use std::fmt::Write as _;

use super::{Exercise, Outcome};
use crate::ui::{Painter, Tone};

/// How the program was compiled, when lab-check compiled it.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub command: String,
    /// The compiler's warnings or, when it failed, its messages.
    pub messages: String,
    /// The first error, when it failed.
    pub error: Option<String>,
}

/// Everything a report says.
#[derive(Debug)]
pub struct Report {
    pub exercise: &'static Exercise,
    pub compiled: Option<Compiled>,
    pub outcomes: Vec<Outcome>,
}

impl Report {
    pub fn score(&self) -> u32 {
        self.outcomes.iter().map(Outcome::score).sum()
    }

    pub fn max_score(&self) -> u32 {
        self.exercise.max_score()
    }

    pub fn all_passed(&self) -> bool {
        self.compiled.as_ref().is_none_or(|c| c.error.is_none())
            && self.outcomes.iter().all(Outcome::passed)
    }

    /// The compile step as the report's first line: `compiled: cc ... (2 warnings)`.
    fn compile_line(c: &Compiled) -> String {
        match &c.error {
            Some(error) => format!("did not compile: {}: {error}", c.command),
            None => match super::build::warning_count(&c.messages) {
                0 => format!("compiled: {}", c.command),
                n => format!(
                    "compiled: {} ({})",
                    c.command,
                    crate::ui::counted(n as u64, "warning")
                ),
            },
        }
    }

    /// The text report, with `paint` colouring ok and FAIL.
    pub fn text(&self, paint: &Painter) -> String {
        let mut out = String::new();
        if let Some(c) = &self.compiled {
            let _ = writeln!(out, "{}", Self::compile_line(c));
            for line in c.messages.lines() {
                let _ = writeln!(out, "  | {line}");
            }
        }
        let width = self
            .outcomes
            .iter()
            .map(|o| o.check.name.len())
            .max()
            .unwrap_or(0);
        for o in &self.outcomes {
            let mark = if o.passed() {
                paint.paint("ok  ", Tone::Note)
            } else {
                paint.paint("FAIL", Tone::Error)
            };
            let _ = writeln!(
                out,
                "{mark}  {:width$}  {}/{}  {}",
                o.check.name,
                o.score(),
                o.check.points,
                o.check.asks,
            );
            if let Some(f) = &o.failure {
                for (label, text) in [
                    ("expected", &f.expected),
                    ("happened", &f.happened),
                    ("hint", &f.hint),
                ] {
                    let _ = writeln!(out, "      {label}: {}", crate::ui::one_line(text));
                }
                let _ = writeln!(out, "      see: {}", o.check.see);
            }
        }
        let passed = self.outcomes.iter().filter(|o| o.passed()).count();
        let _ = writeln!(
            out,
            "score: {}/{} ({passed} of {} checks passed)",
            self.score(),
            self.max_score(),
            self.outcomes.len()
        );
        out
    }

    /// Gradescope's results.json.
    pub fn json(&self) -> String {
        let mut tests = Vec::new();
        if let Some(c) = &self.compiled {
            let status = if c.error.is_none() {
                "passed"
            } else {
                "failed"
            };
            let output = format!("{}\n{}", Self::compile_line(c), c.messages);
            tests.push(test_json("compiles", 0, 0, status, &output));
        }
        for o in &self.outcomes {
            let output = match &o.failure {
                None => o.check.asks.to_string(),
                Some(f) => format!(
                    "{}\nexpected: {}\nhappened: {}\nhint: {}\nsee: {}",
                    o.check.asks, f.expected, f.happened, f.hint, o.check.see
                ),
            };
            let status = if o.passed() { "passed" } else { "failed" };
            tests.push(test_json(
                o.check.name,
                o.score(),
                o.check.points,
                status,
                &output,
            ));
        }
        format!(
            "{{\"score\": {}, \"max_score\": {}, \"tests\": [{}]}}\n",
            self.score(),
            self.max_score(),
            tests.join(", ")
        )
    }
}

fn test_json(name: &str, score: u32, max: u32, status: &str, output: &str) -> String {
    format!(
        "{{\"name\": {}, \"score\": {score}, \"max_score\": {max}, \"status\": \"{status}\", \
         \"output\": {}}}",
        json_string(name),
        json_string(output)
    )
}

/// `text` as a JSON string literal.
pub(crate) fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::json_string;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_control_characters() {
        assert_eq!(
            json_string("a\"b\\c\nd\u{1b}"),
            "\"a\\\"b\\\\c\\nd\\u001b\""
        );
    }
}
