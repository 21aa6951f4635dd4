//! /proc/PID/maps.

use super::hex_num;

/// One mapping line, borrowing from the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping<'a> {
    /// Start address.
    pub start: u64,
    /// End address (exclusive).
    pub end: u64,
    /// Permissions, e.g. `r-xp`.
    pub perms: &'a str,
    /// File offset.
    pub offset: u64,
    /// Device `major:minor`.
    pub dev: &'a str,
    /// Inode of the backing file (0 for anonymous).
    pub inode: u64,
    /// Path or pseudo-name (`[heap]`), bytes; empty for anonymous mappings.
    pub path: &'a [u8],
}

const DELETED: &[u8] = b" (deleted)";

/// The unread rest of a maps line.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    /// The next whitespace-separated field (`None` at the end of the line).
    fn field(&mut self) -> Option<&'a [u8]> {
        let text = self.0.trim_ascii_start();
        let end = text
            .iter()
            .position(u8::is_ascii_whitespace)
            .unwrap_or(text.len());
        let (field, rest) = text.split_at(end);
        self.0 = rest;
        (!field.is_empty()).then_some(field)
    }
}

impl<'a> Mapping<'a> {
    /// Parses one line. The path is everything after the fifth field, and may hold spaces.
    /// Fields other than the path must be ASCII text.
    pub fn parse(line: &'a [u8]) -> Option<Mapping<'a>> {
        let mut cur = Cursor(line);
        let range = cur.field()?;
        let perms = cur.field()?;
        let offset = cur.field()?;
        let dev = cur.field()?;
        let inode = cur.field()?;
        let dash = memchr::memchr(b'-', range)?;
        let start = hex_num(range.get(..dash)?)?;
        let end = hex_num(range.get(dash + 1..)?)?;
        if perms.len() != 4 || !perms.is_ascii() || !dev.is_ascii() {
            return None;
        }
        Some(Mapping {
            start,
            end,
            perms: std::str::from_utf8(perms).ok()?,
            offset: hex_num(offset)?,
            dev: std::str::from_utf8(dev).ok()?,
            inode: super::dec_num(inode)?,
            path: {
                let path = cur.0.trim_ascii_start();
                path.strip_suffix(b"\n").unwrap_or(path)
            },
        })
    }

    /// Whether the backing file was deleted.
    pub fn deleted(&self) -> bool {
        self.path.ends_with(DELETED)
    }

    /// Whether the mapping is backed by a memfd.
    pub fn memfd(&self) -> bool {
        self.path.starts_with(b"/memfd:")
    }

    /// Whether it has no backing file (anonymous, heap, stack, or an `[anon:...]` name).
    pub fn anonymous(&self) -> bool {
        self.inode == 0
            && (self.path.is_empty()
                || self.path == b"[heap]"
                || self.path.starts_with(b"[stack")
                || self.path.starts_with(b"[anon:"))
    }

    /// Writable and executable at once.
    pub fn writable_executable(&self) -> bool {
        let p = self.perms.as_bytes();
        p.get(1) == Some(&b'w') && p.get(2) == Some(&b'x')
    }

    /// Executable with no file behind it (shellcode, JIT, injected code).
    pub fn anonymous_executable(&self) -> bool {
        self.perms.as_bytes().get(2) == Some(&b'x') && self.anonymous()
    }

    /// The path with a trailing ` (deleted)` removed.
    pub fn path_without_deleted(&self) -> &'a [u8] {
        self.path.strip_suffix(DELETED).unwrap_or(self.path)
    }
}

/// Parses every well-formed line; returns the mappings and the count of malformed lines.
pub fn parse_all(buf: &[u8]) -> (Vec<Mapping<'_>>, usize) {
    let mut out = Vec::with_capacity(buf.len() / 64);
    let mut bad = 0;
    let mut rest = buf;
    while !rest.is_empty() {
        let (line, tail) = match memchr::memchr(b'\n', rest) {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i + 1..).unwrap_or_default(),
            ),
            None => (rest, &[][..]),
        };
        rest = tail;
        if line.is_empty() {
            continue;
        }
        match Mapping::parse(line) {
            Some(m) => out.push(m),
            None => bad += 1,
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &[u8] = b"55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1835 /usr/bin/sleep\n\
55d0c0a02000-55d0c0a06000 r-xp 00002000 fd:01 1835 /usr/bin/sleep\n\
55d0c1f5b000-55d0c1f7c000 rw-p 00000000 00:00 0                          [heap]\n\
7f0000000000-7f0000001000 rwxp 00000000 00:00 0 \n\
7f0000001000-7f0000002000 r-xp 00000000 00:01 4242 /memfd:payload (deleted)\n\
7f0000002000-7f0000003000 r-xp 00000000 fd:01 999 /tmp/my lib.so (deleted)\n\
7f0000003000-7f0000004000 r--p 00000000 fd:01 998 /tmp/new\\012line.so\n\
7ffd6b1c0000-7ffd6b1e1000 rw-p 00000000 00:00 0                          [stack]\n\
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

    /// Maps lines parse with paths (spaces and `(deleted)` included) and flag anonymous,
    /// writable+executable and memfd mappings; vsyscall is not anonymous executable.
    #[test]
    fn parses_and_flags() {
        let (maps, bad) = parse_all(MAPS);
        assert_eq!(bad, 0);
        assert_eq!(maps.len(), 9);
        let m0 = maps.first().unwrap();
        assert_eq!(m0.start, 0x55d0c0a00000);
        assert_eq!(m0.path, b"/usr/bin/sleep");
        assert!(!m0.anonymous());
        let heap = maps.get(2).unwrap();
        assert!(heap.anonymous() && !heap.anonymous_executable());
        let rwx = maps.get(3).unwrap();
        assert!(rwx.writable_executable() && rwx.anonymous_executable());
        assert!(rwx.path.is_empty());
        let memfd = maps.get(4).unwrap();
        assert!(memfd.memfd() && memfd.deleted());
        let spaced = maps.get(5).unwrap();
        assert_eq!(spaced.path_without_deleted(), b"/tmp/my lib.so");
        assert!(spaced.deleted());
        let vsys = maps.get(8).unwrap();
        assert!(
            !vsys.anonymous_executable(),
            "vsyscall is a kernel page, not injected code"
        );
    }

    /// [hostile] Malformed /proc/PID/maps lines are counted, not returned.
    #[test]
    fn malformed_lines_are_counted() {
        let (maps, bad) =
            parse_all(b"zzz-1 r-xp 0 0:0 0\n1000-2000 r-x 0 0:0 0\n1000-2000 r-xp 0\n\xff\n");
        assert!(maps.is_empty());
        assert_eq!(bad, 4);
    }
}
