//! The slave's dialogue: the prompt `Shared memory id for attachment: `, then the id and the
//! values, read as the notes' `scanf("%d", ...)` reads them: whitespace-separated words, one
//! line or many, each taken when it is needed. Whatever the command line gave is not asked for.
//!
//! The notes' slave: `printf("Shared memory id for attachment: "); scanf("%d", &shmid);` and,
//! for each value, `scanf("%d", &input);`. Each word is bounded, and a word that is not a whole
//! number is a usage error that names it, where scanf would leave the rest unread. Lab sheet:
//! chapter 1, "Walk-through: the notes' dialogue".

#![forbid(unsafe_code)]

use std::io::{self, IsTerminal};

use super::ShmId;
use super::slave::Args;
use crate::ui::{self, Bound, HintExt as _, StdinWords, Ui, UsageError, Word, out_prompt};

/// Where the segment is: an id, or a key to look up.
pub(crate) enum Target {
    Id(ShmId),
    Key(libc::key_t),
}

/// Whitespace-separated words of standard input, read as they are needed, as scanf("%d") reads
/// them; each at most [`ui::NUMBER_MAX`] bytes (`bound` says what it is for the error).
struct Words {
    input: StdinWords,
    /// The rest of a word split further at a blank of Unicode's (U+00A0, say).
    pending: std::collections::VecDeque<String>,
}

impl Words {
    fn next(&mut self, bound: &Bound) -> anyhow::Result<Option<String>> {
        while self.pending.is_empty() {
            // No termination handler is installed yet: Ctrl-C ends the process by default.
            let word = match self.input.next(bound, None)? {
                Word::Text(word) => word,
                Word::End | Word::Woken => return Ok(None),
            };
            let word = String::from_utf8_lossy(&word);
            self.pending
                .extend(word.split_whitespace().map(str::to_string));
        }
        Ok(self.pending.pop_front())
    }
}

/// The bound on the id typed at the prompt.
fn id_bound() -> Bound {
    Bound {
        max: ui::NUMBER_MAX,
        what: "the segment id".into(),
        why: "more than any id needs (at most 10 digits)".into(),
        hint: "type the id that shm-master printed, or give it: shm-slave ID VALUE...".into(),
    }
}

/// The bound on value `nth` of `count` read from standard input.
fn value_bound(nth: usize, count: usize) -> Bound {
    Bound {
        max: ui::NUMBER_MAX,
        what: format!("value {nth} of {count}"),
        why: "more than any whole number needs (at most 11 characters)".into(),
        hint: format!(
            "type whole numbers from {} to {}, separated by spaces or newlines",
            i32::MIN,
            i32::MAX
        ),
    }
}

fn usage(message: String) -> anyhow::Error {
    UsageError(message).into()
}

/// The segment and the values, from the command line first and then from stdin; each checked
/// as it comes.
pub(crate) fn run(args: &Args, ui: &Ui) -> anyhow::Result<(Target, Vec<i32>)> {
    let count = args.count;
    let parse_id = |word: &str| (args.parse_id)(word).map(ShmId::from_raw).map_err(usage);
    // With a key there is no id argument: every word is a value.
    let mut words = args.id.iter().chain(&args.values);
    let mut input = Words {
        input: StdinWords::new(),
        pending: Default::default(),
    };

    let target = if let Some(key) = args.key {
        Target::Key(key)
    } else if let Some(word) = words.next() {
        Target::Id(parse_id(word)?)
    } else {
        out_prompt("Shared memory id for attachment: ")?;
        match input.next(&id_bound())? {
            Some(word) => Target::Id(parse_id(&word)?),
            None => {
                return Err(anyhow::anyhow!(
                    "no segment id: standard input ended before one was typed"
                ))
                .hint("type the id that shm-master printed, or give it: shm-slave ID VALUE...");
            }
        }
    };

    let given: Vec<&String> = words.collect();
    if given.len() > count {
        return Err(usage(format!(
            "{} values given but --count is {count}: give {count}, or pass --count {}",
            given.len(),
            given.len()
        )));
    }
    let parse_value = |word: &str, nth: usize| {
        (args.parse_value)(word).map_err(|e| usage(format!("value {nth} of {count}: {e}")))
    };
    let mut values = Vec::with_capacity(count);
    for word in given {
        values.push(parse_value(word, values.len() + 1)?);
    }
    // In the notes' dialogue the values follow the prompted id with no prompt of their own;
    // when the id came from the command line, a person at a terminal is told what to type.
    let dialogue = args.key.is_none() && args.id.is_none();
    if !dialogue && values.len() < count && io::stdin().is_terminal() {
        ui.note(&format!(
            "type {} more value(s), separated by spaces or newlines",
            count - values.len()
        ));
    }
    while values.len() < count {
        match input.next(&value_bound(values.len() + 1, count))? {
            Some(word) => values.push(parse_value(&word, values.len() + 1)?),
            None => {
                return Err(anyhow::anyhow!(
                    "expected {count} values but standard input ended after {}",
                    values.len()
                ))
                .hint(format!(
                    "type {count} whole numbers, or give them: shm-slave ID V1 .. V{count}"
                ));
            }
        }
    }
    Ok((target, values))
}
