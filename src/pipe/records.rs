//! The records of the `readers` lesson, and the readers' reports. A record carries its number and
//! bytes that depend on the number and their place, so that a record made of two records' pieces
//! shows; a report is exactly PIPE_BUF bytes, one write each, so that the reports of several
//! readers on one pipe never interleave ("a write of at most PIPE_BUF bytes is atomic", the
//! `writers` lesson). No lesson of its own.

#![forbid(unsafe_code)]

use crate::pipe::PIPE_BUF;

/// Record `number` of `size` bytes: the number (8 bytes, native order), then bytes that depend
/// on the number and their place, so that a record made of two records' pieces shows.
pub(super) fn numbered_record(number: u64, size: usize) -> Vec<u8> {
    let mut record = vec![0u8; size];
    record[..8].copy_from_slice(&number.to_ne_bytes());
    for (i, b) in record.iter_mut().enumerate().skip(8) {
        *b = record_byte(number, i);
    }
    record
}

/// The number of a whole record of `records`, or None if it is short or torn.
pub(super) fn record_number(bytes: &[u8], size: usize, records: u32) -> Option<u32> {
    if bytes.len() != size {
        return None;
    }
    let number = u64::from_ne_bytes(bytes[..8].try_into().ok()?);
    let whole = bytes
        .iter()
        .enumerate()
        .skip(8)
        .all(|(i, &b)| b == record_byte(number, i));
    (number < u64::from(records) && whole).then_some(number as u32)
}

/// Byte `i` (from 8 on) of record `number`.
fn record_byte(number: u64, i: usize) -> u8 {
    (number as usize).wrapping_mul(31).wrapping_add(i) as u8
}

/// A reader's report: messages of exactly PIPE_BUF bytes, each one write, so that the reports of
/// several readers on one pipe never interleave: `[reader, torn, count, number...]` as
/// native-endian u32.
pub(super) const REPORT: usize = PIPE_BUF;
pub(super) const REPORT_NUMBERS: usize = REPORT / 4 - 3;

pub(super) fn report_messages(reader: u32, torn: u32, numbers: &[u32]) -> Vec<Vec<u8>> {
    let mut chunks: Vec<&[u32]> = numbers.chunks(REPORT_NUMBERS).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    chunks
        .into_iter()
        .map(|chunk| {
            let mut message = Vec::with_capacity(REPORT);
            for word in [reader, torn, chunk.len() as u32].iter().chain(chunk) {
                message.extend_from_slice(&word.to_ne_bytes());
            }
            message.resize(REPORT, 0);
            message
        })
        .collect()
}
