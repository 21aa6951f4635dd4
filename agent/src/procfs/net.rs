//! /proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}.

use super::{fields, hex_num, num};
use std::net::{Ipv4Addr, Ipv6Addr};

/// One inet socket line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InetSocket {
    /// Local address, text.
    pub local_address: String,
    /// Local port.
    pub local_port: u16,
    /// Remote address, text.
    pub remote_address: String,
    /// Remote port.
    pub remote_port: u16,
    /// Raw kernel state number.
    pub state: u8,
    /// Transmit queue.
    pub tx_queue: u64,
    /// Receive queue.
    pub rx_queue: u64,
    /// Owner uid.
    pub uid: u32,
    /// Socket inode.
    pub inode: u64,
}

/// Address family of an inet table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (8 hex digits).
    Inet,
    /// IPv6 (32 hex digits).
    Inet6,
}

/// Decodes `0100007F:1F90` (address in the kernel's native word order, port big-endian text).
pub fn parse_endpoint(text: &[u8], family: Family) -> Option<(String, u16)> {
    let colon = text.iter().position(|b| *b == b':')?;
    let addr = text.get(..colon)?;
    let port = u16::try_from(hex_num(text.get(colon + 1..)?)?).ok()?;
    let addr = match family {
        Family::Inet => {
            if addr.len() != 8 {
                return None;
            }
            let v = u32::try_from(hex_num(addr)?).ok()?;
            Ipv4Addr::from(v.to_ne_bytes()).to_string()
        }
        Family::Inet6 => {
            if addr.len() != 32 {
                return None;
            }
            let mut bytes = [0u8; 16];
            for (i, chunk) in addr.chunks(8).enumerate() {
                let word = u32::try_from(hex_num(chunk)?).ok()?.to_ne_bytes();
                bytes.get_mut(i * 4..i * 4 + 4)?.copy_from_slice(&word);
            }
            let v6 = Ipv6Addr::from(bytes);
            match v6.to_ipv4_mapped() {
                Some(v4) => format!("::ffff:{v4}"),
                None => v6.to_string(),
            }
        }
    };
    Some((addr, port))
}

/// Parses a tcp/udp/raw table; returns sockets and the count of malformed lines.
pub fn parse_inet(buf: &[u8], family: Family) -> (Vec<InetSocket>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in buf
        .split(|b| *b == b'\n')
        .skip(1)
        .filter(|l| !l.trim_ascii().is_empty())
    {
        match parse_inet_line(line, family) {
            Some(s) => out.push(s),
            None => bad += 1,
        }
    }
    (out, bad)
}

fn parse_inet_line(line: &[u8], family: Family) -> Option<InetSocket> {
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    let f: Vec<&[u8]> = fields(line).collect();
    let (local_address, local_port) = parse_endpoint(f.get(1)?, family)?;
    let (remote_address, remote_port) = parse_endpoint(f.get(2)?, family)?;
    let state = u8::try_from(hex_num(f.get(3)?)?).ok()?;
    let queues = f.get(4)?;
    let colon = queues.iter().position(|b| *b == b':')?;
    Some(InetSocket {
        local_address,
        local_port,
        remote_address,
        remote_port,
        state,
        tx_queue: hex_num(queues.get(..colon)?)?,
        rx_queue: hex_num(queues.get(colon + 1..)?)?,
        uid: num(f.get(7)?)?,
        inode: num(f.get(9)?)?,
    })
}

/// Name of a TCP state number (include/net/tcp_states.h).
pub fn tcp_state(n: u8) -> &'static str {
    match n {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

/// Name of a UDP/raw state (the kernel reuses TCP numbers: 1 connected, 7 unconnected).
pub fn dgram_state(n: u8) -> &'static str {
    match n {
        1 => "ESTABLISHED",
        7 => "UNCONN",
        _ => tcp_state(n),
    }
}

/// One /proc/net/unix line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocket {
    /// Flags (0x10000 = listening).
    pub flags: u64,
    /// Socket type: 1 stream, 2 dgram, 5 seqpacket.
    pub kind: u16,
    /// State: 1 unconnected, 2 connecting, 3 connected, 4 disconnecting.
    pub state: u8,
    /// Inode.
    pub inode: u64,
    /// Bound path (`@` prefix for the abstract namespace), bytes; empty when unbound.
    pub path: Vec<u8>,
}

impl UnixSocket {
    /// State name in the style of `ss`.
    pub fn state_name(&self) -> &'static str {
        if self.flags & 0x10000 != 0 {
            return "LISTEN";
        }
        match self.state {
            1 => "UNCONN",
            2 => "CONNECTING",
            3 => "ESTABLISHED",
            4 => "DISCONNECTING",
            _ => "UNKNOWN",
        }
    }

    /// Type name.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            1 => "stream",
            2 => "dgram",
            5 => "seqpacket",
            _ => "unknown",
        }
    }
}

/// Parses /proc/net/unix; returns sockets and the count of malformed lines. A path holding a
/// newline breaks its line in two: the tail is counted as malformed, the head is kept.
pub fn parse_unix(buf: &[u8]) -> (Vec<UnixSocket>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in buf.split(|b| *b == b'\n').skip(1).filter(|l| !l.is_empty()) {
        match parse_unix_line(line) {
            Some(s) => out.push(s),
            None => bad += 1,
        }
    }
    (out, bad)
}

fn parse_unix_line(line: &[u8]) -> Option<UnixSocket> {
    // Num: RefCount Protocol Flags Type St Inode [Path]
    let mut rest = line;
    let mut f = Vec::with_capacity(7);
    for _ in 0..7 {
        let t = rest.trim_ascii_start();
        let end = t.iter().position(|b| *b == b' ').unwrap_or(t.len());
        let (field, tail) = t.split_at(end);
        if field.is_empty() {
            return None;
        }
        f.push(field);
        rest = tail;
    }
    if !f.first()?.ends_with(b":") {
        return None;
    }
    let path = rest.strip_prefix(b" ").unwrap_or(rest);
    Some(UnixSocket {
        flags: hex_num(f.get(3)?)?,
        kind: u16::try_from(hex_num(f.get(4)?)?).ok()?,
        state: u8::try_from(hex_num(f.get(5)?)?).ok()?,
        inode: num(f.get(6)?)?,
        path: path.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &[u8] = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 34567 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:D431 01 00000010:00000020 00:00000000 00000000     0        0 34999 1 0000000000000000 20 4 30 10 -1\n";

    /// /proc/net/tcp lines give addresses, ports, state, uid, inode and queue sizes.
    #[test]
    fn parses_tcp4() {
        let (s, bad) = parse_inet(TCP, Family::Inet);
        assert_eq!(bad, 0);
        let l = s.first().unwrap();
        assert_eq!(
            (l.local_address.as_str(), l.local_port),
            ("127.0.0.1", 8080)
        );
        assert_eq!(tcp_state(l.state), "LISTEN");
        assert_eq!((l.uid, l.inode), (1000, 34567));
        let c = s.get(1).unwrap();
        assert_eq!(
            (c.remote_address.as_str(), c.remote_port),
            ("127.0.0.1", 54321)
        );
        assert_eq!((c.tx_queue, c.rx_queue), (16, 32));
        assert_eq!(tcp_state(c.state), "ESTABLISHED");
    }

    /// /proc/net/tcp6 addresses print as IPv6, IPv4-mapped addresses as ::ffff:a.b.c.d.
    #[test]
    fn parses_tcp6_and_mapped() {
        let buf = b"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0\n\
   1: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000200000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 100 0 0 10 0\n\
   2: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3333 1\n";
        let (s, bad) = parse_inet(buf, Family::Inet6);
        assert_eq!(bad, 0);
        assert_eq!(s.first().unwrap().local_address, "::1");
        assert_eq!(s.get(1).unwrap().local_address, "::ffff:127.0.0.1");
        assert_eq!(s.get(1).unwrap().remote_address, "::ffff:10.0.0.2");
        assert_eq!(s.get(2).unwrap().local_address, "2001:db8::1");
        assert_eq!(s.get(2).unwrap().local_port, 443);
    }

    /// [hostile] Malformed /proc/net/tcp lines (bad hex, oversized port, cut short) are counted and
    /// skipped.
    #[test]
    fn malformed_inet_lines_are_counted() {
        let buf = b"header\n 0: zz:1 00000000:0000 0A 0:0 0 0 0 0 1\n 1: 0100007F:FFFFF 00000000:0000 0A 0:0 0 0 0 0 1\n 2: 0100007F\n";
        let (s, bad) = parse_inet(buf, Family::Inet);
        assert!(s.is_empty());
        assert_eq!(bad, 3);
        assert_eq!(parse_inet(b"", Family::Inet), (vec![], 0));
    }

    /// [hostile] /proc/net/unix parses abstract, empty and spaced paths; a path with a newline
    /// costs only its tail line, counted malformed.
    #[test]
    fn parses_unix_with_odd_paths() {
        let buf = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
0000000000000000: 00000002 00000000 00010000 0001 01 20001 /run/systemd/notify\n\
0000000000000000: 00000002 00000000 00000000 0002 01 20002 @abstract name\n\
0000000000000000: 00000003 00000000 00000000 0001 03 20003\n\
0000000000000000: 00000002 00000000 00010000 0005 01 20004 /tmp/with\n\
newline\n";
        let (s, bad) = parse_unix(buf);
        assert_eq!(s.len(), 4);
        assert_eq!(bad, 1, "the tail of the newline path");
        let l = s.first().unwrap();
        assert_eq!(
            (l.state_name(), l.type_name(), l.inode),
            ("LISTEN", "stream", 20001)
        );
        assert_eq!(s.get(1).unwrap().path, b"@abstract name");
        assert_eq!(s.get(2).unwrap().path, b"");
        assert_eq!(s.get(2).unwrap().state_name(), "ESTABLISHED");
        assert_eq!(s.get(3).unwrap().type_name(), "seqpacket");
    }
}
