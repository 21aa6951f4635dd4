//! Parsers for /proc and /sys files. Each takes the file's bytes, so every parser is fed
//! fixtures in tests; reading the live host is a thin layer in [`read`].
//!
//! The host is hostile: fields may hold spaces, parentheses, newlines and invalid UTF-8,
//! files may be truncated or vanish mid-read. Parsers return `None`/errors, never panic.

pub mod cgroup;
pub mod iomem;
pub mod kcore;
pub mod maps;
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

/// Parses a hexadecimal number from bytes.
pub(crate) fn hex_num(b: &[u8]) -> Option<u64> {
    u64::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok()
}
