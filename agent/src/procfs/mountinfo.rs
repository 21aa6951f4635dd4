//! /proc/PID/mountinfo.

use super::fields;
use serde::Serialize;

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Mount id.
    pub mount_id: u64,
    /// Parent mount id.
    pub parent_id: u64,
    /// `major:minor`.
    pub device: String,
    /// Root of the mount within its filesystem.
    pub root: String,
    /// Mount point.
    pub mount_point: String,
    /// Per-mount options.
    pub options: String,
    /// Filesystem type.
    pub fstype: String,
    /// Source (device or `none`).
    pub source: String,
    /// Superblock options.
    pub super_options: String,
}

/// Undoes the kernel's octal escapes (`\040` for space, `\012` for newline).
pub fn unescape(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\\' {
            if let Some(oct) = b.get(i + 1..i + 4) {
                if oct.iter().all(|d| (b'0'..=b'7').contains(d)) {
                    let v = oct
                        .iter()
                        .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                    if let Ok(byte) = u8::try_from(v) {
                        out.push(byte);
                        i += 4;
                        continue;
                    }
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(&unescape(b)).into_owned()
}

/// Parses every well-formed line; returns mounts and the count of malformed lines.
pub fn parse(buf: &[u8]) -> (Vec<Mount>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match parse_line(line) {
            Some(m) => out.push(m),
            None => bad += 1,
        }
    }
    (out, bad)
}

fn parse_line(line: &[u8]) -> Option<Mount> {
    let f: Vec<&[u8]> = fields(line).collect();
    let sep = f.iter().position(|x| *x == b"-")?;
    if sep < 6 {
        return None;
    }
    Some(Mount {
        mount_id: super::num(f.first()?)?,
        parent_id: super::num(f.get(1)?)?,
        device: text(f.get(2)?),
        root: text(f.get(3)?),
        mount_point: text(f.get(4)?),
        options: text(f.get(5)?),
        fstype: text(f.get(sep + 1)?),
        source: text(f.get(sep + 2)?),
        super_options: f.get(sep + 3).map(|b| text(b)).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mountinfo lines parse with any number of optional fields, and octal escapes in mount points
    /// are decoded.
    #[test]
    fn parses_with_optional_fields_and_escapes() {
        let buf = b"22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw,discard\n\
35 22 0:5 / /proc/4242 rw,nosuid master:2 shared:7 - tmpfs tmpfs rw\n\
40 22 0:6 / /mnt/with\\040space rw - tmpfs none rw\n";
        let (m, bad) = parse(buf);
        assert_eq!(bad, 0);
        assert_eq!(m.first().unwrap().fstype, "ext4");
        assert_eq!(m.get(1).unwrap().mount_point, "/proc/4242");
        assert_eq!(m.get(1).unwrap().source, "tmpfs");
        assert_eq!(m.get(2).unwrap().mount_point, "/mnt/with space");
    }

    /// [hostile] Malformed mountinfo lines are counted and skipped; an invalid escape stays
    /// literal.
    #[test]
    fn malformed_lines_counted() {
        let (m, bad) = parse(b"1 2 3\nx y 0:1 / / rw - ext4 a b\n");
        assert!(m.is_empty());
        assert_eq!(bad, 2);
        assert_eq!(unescape(b"a\\012b\\9"), b"a\nb\\9");
    }
}
