//! Counts in words, which the kernel side's own messages need (a limit's hint: `32 segments`) as
//! much as the narration does; `ui` hands the same function out.

/// `1 message`, `2 messages`, `2 processes`: a count with its noun, plural unless it is one.
pub fn counted(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else if noun.ends_with('s') {
        format!("{n} {noun}es")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_with_their_nouns() {
        assert_eq!(counted(1u32, "message"), "1 message");
        assert_eq!(counted(0u32, "message"), "0 messages");
        assert_eq!(counted(1u32, "process"), "1 process");
        assert_eq!(counted(3u32, "more process"), "3 more processes");
    }
}
