//! The bytes as the network carries them, shown as `hexdump -C` shows a file.

use super::wire::printable;

/// Bytes as `hexdump -C` shows them: for each 16, the offset, the bytes in hex (two groups of
/// 8), and the printable ones as text between bars, `.` for the others.
pub fn hex_dump(b: &[u8]) -> Vec<String> {
    b.chunks(16)
        .enumerate()
        .map(|(i, row)| {
            let mut hex = String::new();
            for k in 0..16 {
                if k == 8 {
                    hex.push(' ');
                }
                match row.get(k) {
                    Some(x) => hex.push_str(&format!("{x:02x} ")),
                    None => hex.push_str("   "),
                }
            }
            let text: String = row.iter().map(|&x| printable(x)).collect();
            format!("{:08x}  {hex} |{text}|", i * 16)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mq::net::Header;

    #[test]
    fn hex_dump_is_hexdump_c() {
        let mut frame = Header::frame(b"password=hunter2!", 0, false);
        frame.push(0x7f);
        assert_eq!(
            hex_dump(&frame),
            [
                // As `hexdump -C` prints these 29 bytes.
                "00000000  69 70 63 6c 00 00 00 00  00 00 11 70 61 73 73 77  |ipcl.......passw|",
                "00000010  6f 72 64 3d 68 75 6e 74  65 72 32 21 7f           |ord=hunter2!.|",
            ]
        );
        assert!(hex_dump(b"").is_empty());
    }
}
