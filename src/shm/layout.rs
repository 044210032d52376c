//! The memory layout the notes' master and slave agree on: ten native-endian `int`s (40 bytes).
//! Word 0 is the ready flag; words 1 to N hold the values.
//!
//! The writer stores the values first and sets the flag last with a release store; the reader
//! loads the flag with an acquire load. So a reader that sees the flag set sees every value.

#![forbid(unsafe_code)]

use std::sync::atomic::Ordering;

use super::Attachment;

/// The size the notes' master asks for: `shmget(IPC_PRIVATE, 40, ...)`.
pub(crate) const SIZE: usize = 40;
/// Ten `int`s.
pub(crate) const WORDS: usize = SIZE / std::mem::size_of::<i32>();
/// `shm[0]`: 0 while the master waits, 1 once the slave has written.
pub(crate) const FLAG: usize = 0;
/// Values fit after the flag.
pub const MAX_VALUES: usize = WORDS - 1;
/// The bytes the flag and `count` values need.
pub(crate) fn bytes_needed(count: usize) -> usize {
    (count + 1) * std::mem::size_of::<i32>()
}

/// The master's `shm[0] = 0`.
pub(crate) fn clear_flag(att: &Attachment) -> anyhow::Result<()> {
    att.store(FLAG, 0, Ordering::Release)
}

/// Whether the slave has set the flag (acquire load: the values are visible once it is).
pub(crate) fn is_ready(att: &Attachment) -> bool {
    att.load(FLAG, Ordering::Acquire)
        .is_some_and(|flag| flag != 0)
}

/// The slave's writes: `shm[i+1] = value` for each value, then `shm[0] = 1` (release).
pub(crate) fn post(att: &Attachment, values: &[i32]) -> anyhow::Result<()> {
    anyhow::ensure!(
        att.len() >= bytes_needed(values.len()),
        "segment {} is {} bytes, too small for the flag and {} values ({} bytes)",
        att.id(),
        att.len(),
        values.len(),
        bytes_needed(values.len())
    );
    for (i, value) in values.iter().enumerate() {
        att.store(i + 1, *value, Ordering::Relaxed)?;
    }
    att.store(FLAG, 1, Ordering::Release)
}

/// The master's reads: `shm[1]` to `shm[count]`, after `is_ready` said yes.
pub fn values(att: &Attachment, count: usize) -> Vec<i32> {
    (1..=count)
        .filter_map(|i| att.load(i, Ordering::Relaxed))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Access, CreateOptions, Segment};
    use super::*;

    #[test]
    fn post_refuses_a_segment_too_small() {
        let seg = Segment::create(&CreateOptions::private(8)).unwrap();
        let att = seg.id().attach(Access::ReadWrite).unwrap();
        let err = post(&att, &[1, 2, 3]).unwrap_err();
        assert!(err.to_string().contains("too small"), "{err}");
        assert!(!is_ready(&att), "nothing written");
    }

    #[test]
    fn sizes() {
        assert_eq!(WORDS, 10);
        assert_eq!(MAX_VALUES, 9);
        assert_eq!(bytes_needed(3), 16);
    }
}
