//! /proc/PID/fdinfo/FD: a descriptor's file position and open flags.
//!
//! ```text
//! pos:<TAB>32
//! flags:<TAB>0100000
//! mnt_id:<TAB>27
//! ino:<TAB>817
//! ```
//! Other lines (mnt_id, ino, and the per-kind ones of epoll, inotify, eventfd...) are left
//! alone.

/// The fields `open_files` keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdInfo {
    /// `pos:` in bytes; `None` when missing or not a number.
    pub pos: Option<u64>,
    /// `flags:` as the kernel prints it (octal text).
    pub flags: Option<String>,
}

impl FdInfo {
    /// Parses the file's bytes. Never fails: what does not parse is left `None`. When a key
    /// repeats, its last line counts.
    pub fn parse(buf: &[u8]) -> FdInfo {
        let mut out = FdInfo::default();
        for line in buf.split(|b| *b == b'\n') {
            if let Some(v) = line.strip_prefix(b"pos:") {
                out.pos = super::num(v.trim_ascii());
            } else if let Some(v) = line.strip_prefix(b"flags:") {
                out.flags = Some(String::from_utf8_lossy(v.trim_ascii()).into_owned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::FdInfo;

    /// [hostile] fdinfo position and flags parse from a real file; a negative position and invalid
    /// UTF-8 are handled, and an epoll `tfd:` line's `pos:` is not taken.
    #[test]
    fn position_and_flags() {
        let real = include_bytes!("corpus/fdinfo");
        assert_eq!(
            FdInfo::parse(real),
            FdInfo {
                pos: Some(32),
                flags: Some("0100000".into())
            }
        );
        assert_eq!(FdInfo::parse(b""), FdInfo::default());
        let odd = FdInfo::parse(b"pos:\t-1\nflags:\t02\xff\nino:\t1\n");
        assert_eq!(odd.pos, None);
        assert_eq!(odd.flags.as_deref(), Some("02\u{fffd}"));
        // An epoll descriptor's `tfd:` lines hold `pos:` too, but not at the line's start.
        let epoll = b"pos:\t0\nflags:\t02000002\nmnt_id:\t15\ntfd:        5 events:       19 data:                5  pos:7 ino:3d sdev:f\n";
        assert_eq!(FdInfo::parse(epoll).pos, Some(0));
    }
}
