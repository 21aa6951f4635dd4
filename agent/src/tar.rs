//! A streaming pax tar writer (POSIX.1-2001), for file groups.
//!
//! Every member gets a pax extended header carrying its exact name bytes (any length, newlines
//! and invalid UTF-8 included, with `hdrcharset=BINARY` when needed), nanosecond mtime, atime,
//! ctime, the creation time (`LIBARCHIVE.creationtime`), uid and gid. The ustar header after
//! it holds a printable fallback name. Only regular files are written, under relative names
//! without `.` or `..` components, so extracting an archive cannot write outside its target.

use std::io::{self, Write};

const BLOCK: usize = 512;

/// A timestamp: seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Seconds (may be negative).
    pub secs: i64,
    /// Nanoseconds, 0..1e9.
    pub nanos: u32,
}

impl Timestamp {
    /// pax decimal form: `1700000000.123456789`, trailing zeros dropped.
    fn pax(self) -> String {
        let (neg, secs, nanos) = if self.secs < 0 && self.nanos > 0 {
            (true, (-(self.secs + 1)) as u64, 1_000_000_000 - self.nanos)
        } else {
            (self.secs < 0, self.secs.unsigned_abs(), self.nanos)
        };
        let sign = if neg { "-" } else { "" };
        if nanos == 0 {
            format!("{sign}{secs}")
        } else {
            let frac = format!("{nanos:09}");
            format!("{sign}{secs}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// What the header of one regular-file member says.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    /// Relative member name (raw bytes).
    pub name: &'a [u8],
    /// Bytes that follow the header.
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time.
    pub mtime: Timestamp,
    /// Access time.
    pub atime: Option<Timestamp>,
    /// Status-change time.
    pub ctime: Option<Timestamp>,
    /// Creation (birth) time, when the filesystem keeps it.
    pub btime: Option<Timestamp>,
}

/// Whether `name` is safe to extract: relative, non-empty, no empty, `.` or `..` components.
pub fn is_safe_name(name: &[u8]) -> bool {
    !name.is_empty()
        && !name.starts_with(b"/")
        && !name.contains(&0)
        && name
            .split(|b| *b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// Streams members into `inner`.
pub struct TarWriter<W: Write> {
    inner: W,
    /// Data bytes still owed by the current member.
    owed: u64,
    /// Data bytes of the current member written so far (for padding).
    member_len: u64,
}

impl<W: Write> TarWriter<W> {
    /// Wraps a writer.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            owed: 0,
            member_len: 0,
        }
    }

    /// Starts a regular-file member; exactly `member.size` bytes must follow through
    /// [`TarWriter::write_data`] before the next member or [`TarWriter::finish`].
    pub fn start_file(&mut self, member: &Member<'_>) -> io::Result<()> {
        if self.owed != 0 {
            return Err(io::Error::other("previous member is incomplete"));
        }
        if !is_safe_name(member.name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unsafe member name",
            ));
        }
        let mut pax = Vec::new();
        if std::str::from_utf8(member.name).is_err() {
            pax_record(&mut pax, "hdrcharset", b"BINARY");
        }
        pax_record(&mut pax, "path", member.name);
        pax_record(&mut pax, "size", member.size.to_string().as_bytes());
        pax_record(&mut pax, "uid", member.uid.to_string().as_bytes());
        pax_record(&mut pax, "gid", member.gid.to_string().as_bytes());
        pax_record(&mut pax, "mtime", member.mtime.pax().as_bytes());
        if let Some(t) = member.atime {
            pax_record(&mut pax, "atime", t.pax().as_bytes());
        }
        if let Some(t) = member.ctime {
            pax_record(&mut pax, "ctime", t.pax().as_bytes());
        }
        if let Some(t) = member.btime {
            pax_record(&mut pax, "LIBARCHIVE.creationtime", t.pax().as_bytes());
        }
        let fallback = fallback_name(member.name);
        let mut pax_name = b"PaxHeaders/".to_vec();
        pax_name.extend_from_slice(fallback.rsplit(|b| *b == b'/').next().unwrap_or(b"member"));
        let pax_header = ustar_header(&pax_name, pax.len() as u64, 0o644, 0, 0, 0, b'x');
        self.inner.write_all(&pax_header)?;
        self.inner.write_all(&pax)?;
        self.pad(pax.len() as u64)?;

        let mtime_secs = u64::try_from(member.mtime.secs).unwrap_or(0);
        let header = ustar_header(
            &fallback,
            member.size,
            member.mode & 0o7777,
            member.uid,
            member.gid,
            mtime_secs,
            b'0',
        );
        self.inner.write_all(&header)?;
        self.owed = member.size;
        self.member_len = member.size;
        if member.size == 0 {
            self.member_len = 0;
        }
        Ok(())
    }

    /// Writes data of the current member (no more than it still owes).
    pub fn write_data(&mut self, buf: &[u8]) -> io::Result<()> {
        if buf.len() as u64 > self.owed {
            return Err(io::Error::other("more data than the member's size"));
        }
        self.inner.write_all(buf)?;
        self.owed -= buf.len() as u64;
        if self.owed == 0 {
            self.pad(self.member_len)?;
            self.member_len = 0;
        }
        Ok(())
    }

    /// Bytes the current member still needs.
    pub fn owed(&self) -> u64 {
        self.owed
    }

    /// Writes zeros for the rest of the current member (a file that shrank while read).
    pub fn fill_zeros(&mut self) -> io::Result<()> {
        let zeros = [0u8; 64 * 1024];
        while self.owed > 0 {
            let n = usize::try_from(self.owed)
                .unwrap_or(usize::MAX)
                .min(zeros.len());
            self.write_data(zeros.get(..n).unwrap_or_default())?;
        }
        Ok(())
    }

    /// The inner writer, with the archive left as it is: when a run is stopped inside a large
    /// member, its remaining bytes are not made up (that could take minutes); the archive then
    /// ends inside that member and every earlier member is intact.
    pub fn into_inner_unfinished(self) -> W {
        self.inner
    }

    /// Ends the archive (two zero blocks) and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.fill_zeros()?;
        self.inner.write_all(&[0u8; BLOCK * 2])?;
        Ok(self.inner)
    }

    /// The inner writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.inner
                .write_all([0u8; BLOCK].get(..BLOCK - rem).unwrap_or_default())?;
        }
        Ok(())
    }
}

/// One pax record: `"<len> <key>=<value>\n"`, where len counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + 1;
    while body + len.to_string().len() != len {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// A printable name for readers without pax support: unprintable bytes become `_`, and the
/// tail is kept within 100 bytes.
fn fallback_name(name: &[u8]) -> Vec<u8> {
    let cleaned: Vec<u8> = name
        .iter()
        .map(|b| {
            if b.is_ascii_graphic() || *b == b' ' {
                *b
            } else {
                b'_'
            }
        })
        .collect();
    let start = cleaned.len().saturating_sub(99);
    let tail = cleaned.get(start..).unwrap_or_default();
    // Keep whole components, never a leading '/'.
    let tail = match tail.iter().position(|b| *b == b'/') {
        Some(i) if start > 0 => tail.get(i + 1..).unwrap_or(tail),
        _ => tail,
    };
    if tail.is_empty() {
        b"member".to_vec()
    } else {
        tail.to_vec()
    }
}

fn octal(field: &mut [u8], value: u64) {
    let width = field.len().saturating_sub(1);
    let text = format!("{value:0width$o}");
    let bytes = text.as_bytes();
    if bytes.len() > width {
        // Does not fit: the pax header carries the value; leave the field zeroed.
        for b in field.iter_mut().take(width) {
            *b = b'0';
        }
    } else {
        for (dst, src) in field.iter_mut().zip(bytes) {
            *dst = *src;
        }
    }
}

fn ustar_header(
    name: &[u8],
    size: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
    kind: u8,
) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let put = |h: &mut [u8; BLOCK], at: usize, len: usize, bytes: &[u8]| {
        if let Some(field) = h.get_mut(at..at + len) {
            for (dst, src) in field.iter_mut().zip(bytes) {
                *dst = *src;
            }
        }
    };
    let name = name.get(..name.len().min(100)).unwrap_or_default();
    put(&mut h, 0, 100, name);
    if let Some(f) = h.get_mut(100..108) {
        octal(f, u64::from(mode));
    }
    if let Some(f) = h.get_mut(108..116) {
        octal(f, u64::from(uid));
    }
    if let Some(f) = h.get_mut(116..124) {
        octal(f, u64::from(gid));
    }
    if let Some(f) = h.get_mut(124..136) {
        octal(f, size);
    }
    if let Some(f) = h.get_mut(136..148) {
        octal(f, mtime);
    }
    put(&mut h, 148, 8, b"        ");
    put(&mut h, 156, 1, &[kind]);
    put(&mut h, 257, 6, b"ustar\0");
    put(&mut h, 263, 2, b"00");
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    put(&mut h, 148, 8, text.as_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pax record's length prefix counts its own digits.
    #[test]
    fn pax_record_length_counts_itself() {
        let mut v = Vec::new();
        pax_record(&mut v, "path", b"a");
        assert_eq!(v, b"9 path=a\n");
        let mut v = Vec::new();
        let long = vec![b'x'; 95];
        pax_record(&mut v, "path", &long);
        let text = String::from_utf8(v.clone()).unwrap();
        let n: usize = text.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(n, v.len());
    }

    /// pax timestamps print whole and fractional seconds, negatives included.
    #[test]
    fn timestamps() {
        let t = |secs, nanos| Timestamp { secs, nanos }.pax();
        assert_eq!(t(1_700_000_000, 0), "1700000000");
        assert_eq!(t(1_700_000_000, 500_000_000), "1700000000.5");
        assert_eq!(t(-2, 500_000_000), "-1.5");
        assert_eq!(t(-1, 0), "-1");
    }

    /// [security] Tar member names must be relative without `..`, `.`, empty or doubled components;
    /// newlines and invalid UTF-8 are allowed.
    #[test]
    fn safe_names() {
        assert!(is_safe_name(b"var/log/syslog"));
        assert!(is_safe_name(b"a/new\nline/\xff"));
        for bad in [
            &b"/etc/passwd"[..],
            b"../x",
            b"a/../b",
            b"a//b",
            b"",
            b"./a",
            b"a/.",
        ] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
    }

    /// A tar member has a pax header, a ustar header with a correct checksum, and its data padded
    /// to blocks; writing more than its size, or a second member early, is refused.
    #[test]
    fn header_checksum_and_sizes() {
        let mut out = Vec::new();
        let mut w = TarWriter::new(&mut out);
        let m = Member {
            name: b"dir/file",
            size: 3,
            mode: 0o640,
            uid: 1,
            gid: 2,
            mtime: Timestamp { secs: 10, nanos: 0 },
            atime: None,
            ctime: None,
            btime: None,
        };
        w.start_file(&m).unwrap();
        assert!(w.start_file(&m).is_err(), "previous member incomplete");
        w.write_data(b"abc").unwrap();
        assert!(w.write_data(b"d").is_err());
        w.finish().unwrap();
        assert_eq!(out.len() % 512, 0);
        // pax header + pax data block + ustar header + data block + 2 end blocks
        assert_eq!(out.len(), 512 * 6);
        let h = &out[1024..1536];
        let stored: u64 =
            u64::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        let mut copy = h.to_vec();
        copy[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, copy.iter().map(|b| u64::from(*b)).sum::<u64>());
        assert_eq!(&h[0..8], b"dir/file");
        assert_eq!(h[156], b'0');
    }
}
