//! Parsers for /proc and /sys files. Each takes the file's bytes, so every parser is fed
//! fixtures in tests; reading the live host is a thin layer in [`read`].
//!
//! The host is hostile: fields may hold spaces, parentheses, newlines and invalid UTF-8,
//! files may be truncated or vanish mid-read. Parsers return `None`/errors, never panic.

pub mod cgroup;
pub mod fdinfo;
pub mod iomem;
pub mod kcore;
pub mod maps;
pub mod maps_query;
pub mod modules;
pub mod mountinfo;
pub mod net;
pub mod pid_dir;
pub mod read;
pub mod stat;
pub mod status;
pub mod text;

#[cfg(test)]
mod hostile_tests;

/// A /proc file that did not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected format: {0}")]
pub struct FormatError(pub String);

/// Splits on ASCII whitespace, skipping empty fields.
pub(crate) fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
}

/// Parses a decimal number from bytes.
pub(crate) fn num<T: std::str::FromStr>(b: &[u8]) -> Option<T> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Value of a byte as a hex digit; 0xff for bytes that are not one.
const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0xff,
    }
}

/// Parses a hexadecimal number from bytes (digits only, no sign or prefix; `None` when empty,
/// malformed or above `u64::MAX`). Works on the bytes directly: maps lines hold three per line.
pub(crate) fn hex_num(b: &[u8]) -> Option<u64> {
    // Leading zeros cannot overflow; past them, at most 16 digits fit.
    let first = b
        .iter()
        .position(|&c| c != b'0')
        .unwrap_or(b.len().saturating_sub(1));
    let digits = b.get(first..)?;
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut v = 0u64;
    let mut bad = 0u8;
    for &c in digits {
        let d = hex_digit(c);
        bad |= d & 0xf0;
        v = (v << 4) | u64::from(d & 0xf);
    }
    (bad == 0).then_some(v)
}

/// Parses a decimal `u64` from bytes (digits only; `None` when empty, malformed or too big).
pub(crate) fn dec_num(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0u64, |v, &c| {
        if !c.is_ascii_digit() {
            return None;
        }
        v.checked_mul(10)?.checked_add(u64::from(c - b'0'))
    })
}

#[cfg(test)]
mod number_tests {
    use super::*;

    proptest::proptest! {
        /// [hostile] The byte parsers agree with the standard library's on digits, and reject
        /// what it rejects (signs aside: /proc never writes one).
        #[test]
        fn byte_parsers_agree_with_std(s in "[0-9a-fA-F]{0,20}|[+-]?[0-9]{0,21}|.{0,4}") {
            let std_hex = u64::from_str_radix(&s, 16).ok();
            let std_dec = s.parse::<u64>().ok();
            let signed = s.starts_with('+');
            proptest::prop_assert_eq!(hex_num(s.as_bytes()), if signed { None } else { std_hex });
            proptest::prop_assert_eq!(dec_num(s.as_bytes()), if signed { None } else { std_dec });
        }
    }

    /// The hex and decimal parsers take u64::MAX, refuse one more, accept leading zeros and refuse
    /// empty, `0x` and trailing spaces.
    #[test]
    fn edges() {
        assert_eq!(hex_num(b"ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(hex_num(b"10000000000000000"), None);
        assert_eq!(hex_num(b"00000000000000000001"), Some(1));
        assert_eq!(dec_num(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(dec_num(b"18446744073709551616"), None);
        assert_eq!((hex_num(b""), dec_num(b"")), (None, None));
        assert_eq!((hex_num(b"0x1"), dec_num(b"1 ")), (None, None));
    }
}
