//! Turning host bytes into JSON text without losing anything.
//!
//! JSON strings must be Unicode; host names, paths and arguments need not be. Valid UTF-8 is
//! kept as is. Otherwise the string holds a lossy rendering (U+FFFD for bad bytes) and the
//! record also carries the exact bytes in hex, so nothing an intruder wrote is lost.

/// Lossy text of `bytes` and, when it was not valid UTF-8, the bytes in hex.
pub fn lossy(bytes: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), None),
        Err(_) => (
            String::from_utf8_lossy(bytes).into_owned(),
            Some(hex::encode(bytes)),
        ),
    }
}

/// Splits a NUL-separated list (cmdline, environ). A trailing NUL does not make an empty
/// last element; embedded empty elements are kept.
pub fn nul_list(bytes: &[u8]) -> Vec<&[u8]> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let body = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    body.split(|b| *b == 0).collect()
}

/// Text of a small /proc file with the trailing newline removed.
pub fn trimmed(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    s.trim_end_matches(['\n', '\0']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Invalid UTF-8 reads as replacement characters plus the exact bytes in hex; valid text has no
    /// hex.
    #[test]
    fn lossy_keeps_raw_bytes_of_invalid_utf8() {
        assert_eq!(lossy(b"plain"), ("plain".to_string(), None));
        let (s, raw) = lossy(b"a\xffb\n");
        assert_eq!(s, "a\u{fffd}b\n");
        assert_eq!(raw.as_deref(), Some("61ff620a"));
    }

    /// NUL-separated lists split into items, keeping empty ones, and a rewritten argv without a
    /// trailing NUL is one item.
    #[test]
    fn nul_lists() {
        assert!(nul_list(b"").is_empty());
        assert_eq!(nul_list(b"a\0b\0"), vec![&b"a"[..], b"b"]);
        assert_eq!(nul_list(b"a\0\0b"), vec![&b"a"[..], b"", b"b"]);
        // A process may overwrite its argv: no trailing NUL.
        assert_eq!(nul_list(b"rewritten title"), vec![&b"rewritten title"[..]]);
    }
}
