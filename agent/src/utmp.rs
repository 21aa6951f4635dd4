//! utmp / wtmp / btmp: glibc's `struct utmp`, 384 bytes per entry on 64-bit Linux
//! (x86_64 and aarch64 alike), host byte order (little-endian on EC2).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Bytes per entry.
pub const ENTRY_SIZE: usize = 384;

/// `ut_type` values.
pub mod kind {
    /// Change in run level; `ut_user` "shutdown" marks a shutdown.
    pub const RUN_LVL: i16 = 1;
    /// System boot (`ut_user` "reboot").
    pub const BOOT_TIME: i16 = 2;
    /// A getty waiting for a login.
    pub const LOGIN_PROCESS: i16 = 6;
    /// A user session.
    pub const USER_PROCESS: i16 = 7;
    /// A session ended.
    pub const DEAD_PROCESS: i16 = 8;
}

/// One entry, fields as stored (strings are NUL-trimmed raw bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// `ut_type`.
    pub kind: i16,
    /// `ut_pid`.
    pub pid: i32,
    /// `ut_line`: tty name without `/dev/` (e.g. `pts/0`).
    pub line: Vec<u8>,
    /// `ut_id`.
    pub id: Vec<u8>,
    /// `ut_user`.
    pub user: Vec<u8>,
    /// `ut_host`: remote host, or kernel version for boot entries.
    pub host: Vec<u8>,
    /// `ut_exit` (termination, exit).
    pub exit: (i16, i16),
    /// `ut_session`.
    pub session: i32,
    /// `ut_tv`: seconds (unsigned 32-bit on disk, so it survives 2038).
    pub secs: u32,
    /// `ut_tv`: microseconds.
    pub usecs: i32,
    /// `ut_addr_v6`, network order.
    pub addr: [u8; 16],
}

fn field(buf: &[u8], at: usize, len: usize) -> &[u8] {
    buf.get(at..at + len).unwrap_or_default()
}

fn text(buf: &[u8], at: usize, len: usize) -> Vec<u8> {
    let f = field(buf, at, len);
    let end = f.iter().position(|b| *b == 0).unwrap_or(f.len());
    f.get(..end).unwrap_or_default().to_vec()
}

fn i16_at(buf: &[u8], at: usize) -> i16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(field(buf, at, 2).get(..2).unwrap_or(&[0, 0]));
    i16::from_le_bytes(b)
}

fn i32_at(buf: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(field(buf, at, 4).get(..4).unwrap_or(&[0, 0, 0, 0]));
    i32::from_le_bytes(b)
}

impl Entry {
    /// Parses one 384-byte entry.
    pub fn parse(buf: &[u8]) -> Self {
        let mut addr = [0u8; 16];
        for (d, s) in addr.iter_mut().zip(field(buf, 348, 16)) {
            *d = *s;
        }
        Self {
            kind: i16_at(buf, 0),
            pid: i32_at(buf, 4),
            line: text(buf, 8, 32),
            id: text(buf, 40, 4),
            user: text(buf, 44, 32),
            host: text(buf, 76, 256),
            exit: (i16_at(buf, 332), i16_at(buf, 334)),
            session: i32_at(buf, 336),
            secs: u32::from_le_bytes(i32_at(buf, 340).to_le_bytes()),
            usecs: i32_at(buf, 344),
            addr,
        }
    }

    /// Writes the entry in the on-disk layout (fixtures; a reader's round trip).
    pub fn to_bytes(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        let mut put = |at: usize, len: usize, src: &[u8]| {
            if let Some(dst) = b.get_mut(at..at + len) {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = *s;
                }
            }
        };
        put(0, 2, &self.kind.to_le_bytes());
        put(4, 4, &self.pid.to_le_bytes());
        put(8, 32, &self.line);
        put(40, 4, &self.id);
        put(44, 32, &self.user);
        put(76, 256, &self.host);
        put(332, 2, &self.exit.0.to_le_bytes());
        put(334, 2, &self.exit.1.to_le_bytes());
        put(336, 4, &self.session.to_le_bytes());
        put(340, 4, &self.secs.to_le_bytes());
        put(344, 4, &self.usecs.to_le_bytes());
        put(348, 16, &self.addr);
        b
    }

    /// The remote address, when one is recorded.
    pub fn address(&self) -> Option<IpAddr> {
        if self.addr.iter().all(|b| *b == 0) {
            return None;
        }
        if self
            .addr
            .get(4..)
            .is_some_and(|r| r.iter().all(|b| *b == 0))
        {
            let [a, b, c, d, ..] = self.addr;
            return Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
        }
        Some(IpAddr::V6(Ipv6Addr::from(self.addr)))
    }

    /// Seconds and nanoseconds since the epoch.
    pub fn time(&self) -> (i64, u32) {
        let nanos = u32::try_from(self.usecs.clamp(0, 999_999)).unwrap_or(0) * 1000;
        (i64::from(self.secs), nanos)
    }
}

/// Parses a whole file; also returns the length of a trailing partial entry (0 if none).
pub fn parse_all(buf: &[u8]) -> (Vec<Entry>, usize) {
    let chunks = buf.chunks_exact(ENTRY_SIZE);
    let rest = chunks.remainder().len();
    (chunks.map(Entry::parse).collect(), rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// utmp entries round-trip through their bytes, give IPv4 and IPv6 addresses and times, and a
    /// trailing partial entry is counted.
    #[test]
    fn round_trips_and_reads_addresses() {
        let e = Entry {
            kind: kind::USER_PROCESS,
            pid: 4242,
            line: b"pts/3".to_vec(),
            id: b"ts/3".to_vec(),
            user: b"alice".to_vec(),
            host: b"203.0.113.7".to_vec(),
            exit: (0, 0),
            session: 9,
            secs: 3_000_000_000,
            usecs: 123_456,
            addr: [203, 0, 113, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        };
        let bytes = e.to_bytes();
        assert_eq!(Entry::parse(&bytes), e);
        assert_eq!(e.address(), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(e.time(), (3_000_000_000, 123_456_000));
        let mut v6 = e.clone();
        v6.addr = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets();
        assert_eq!(v6.address(), Some("2001:db8::1".parse().unwrap()));
        let mut file = bytes.to_vec();
        file.extend_from_slice(&[1, 2, 3]);
        let (all, rest) = parse_all(&file);
        assert_eq!(all.len(), 1);
        assert_eq!(rest, 3);
    }
}
