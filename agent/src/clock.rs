//! Clock provenance: the host's wall, monotonic and boottime clocks read together, and the
//! wall clock's skew measured against a time source over SNTPv4 (RFC 4330).
//!
//! The skew is measured on a thread of its own while collection starts, with a short total
//! budget: a silent or absent server costs the volatile artifacts nothing and is recorded as
//! `unavailable`.

use serde::{Deserialize, Serialize};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Amazon Time Sync Service, reachable from every EC2 instance without internet access.
pub const DEFAULT_TIME_SOURCE: &str = "169.254.169.123";

/// Default total budget for one SNTP exchange.
pub const DEFAULT_TIME_TIMEOUT: Duration = Duration::from_millis(500);

/// Seconds from the NTP era (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// The three clocks, read one after the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockReading {
    /// CLOCK_REALTIME as RFC 3339 UTC with nanoseconds.
    pub wall: Option<String>,
    /// CLOCK_MONOTONIC, nanoseconds (does not count suspend).
    pub monotonic_ns: Option<u64>,
    /// CLOCK_BOOTTIME, nanoseconds since boot (counts suspend).
    pub boottime_ns: Option<u64>,
}

fn clock_ns(id: nix::time::ClockId) -> Option<u64> {
    let t = nix::time::clock_gettime(id).ok()?;
    let secs = u64::try_from(t.tv_sec()).ok()?;
    let nanos = u64::try_from(t.tv_nsec()).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Reads the wall, monotonic and boottime clocks.
pub fn read() -> ClockReading {
    let wall = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME)
        .ok()
        .and_then(|t| crate::timefmt::rfc3339(t.tv_sec(), u32::try_from(t.tv_nsec()).unwrap_or(0)));
    ClockReading {
        wall,
        monotonic_ns: clock_ns(nix::time::ClockId::CLOCK_MONOTONIC),
        boottime_ns: clock_ns(nix::time::ClockId::CLOCK_BOOTTIME),
    }
}

/// The wall clock's skew against a time source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockSkew {
    /// `host[:port]` asked (port 123 when not given).
    pub source: String,
    /// `ok`, `unavailable` (no valid answer in time) or `disabled` (`--time-source none`).
    pub status: String,
    /// Server time minus host time, milliseconds: positive when the host clock is behind.
    pub offset_ms: Option<f64>,
    /// Round-trip delay of the exchange, milliseconds.
    pub rtt_ms: Option<f64>,
    /// The server's stratum.
    pub stratum: Option<u8>,
    /// Host wall time when the answer arrived.
    pub measured_at: Option<String>,
    /// Why there is no measurement.
    pub error: Option<String>,
}

impl ClockSkew {
    fn unavailable(source: &str, error: String) -> Self {
        Self {
            source: source.to_owned(),
            status: "unavailable".into(),
            offset_ms: None,
            rtt_ms: None,
            stratum: None,
            measured_at: None,
            error: Some(error),
        }
    }

    /// No time source was asked.
    pub fn disabled() -> Self {
        Self {
            source: "none".into(),
            status: "disabled".into(),
            offset_ms: None,
            rtt_ms: None,
            stratum: None,
            measured_at: None,
            error: None,
        }
    }
}

/// Seconds since the Unix epoch as a 64-bit NTP timestamp (32.32 fixed point since 1900).
fn to_ntp(t: Duration) -> u64 {
    let secs = t.as_secs().wrapping_add(NTP_UNIX_OFFSET);
    let frac = (u64::from(t.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// An NTP timestamp as seconds since the Unix epoch (era 0; NTP's era 1 starts in 2036 and
/// is taken for timestamps whose top bit is clear).
fn from_ntp(ts: u64) -> f64 {
    let mut secs = ts >> 32;
    if secs & 0x8000_0000 == 0 {
        secs += 1 << 32;
    }
    let frac = (ts & 0xffff_ffff) as f64 / 4_294_967_296.0;
    (secs as f64 - NTP_UNIX_OFFSET as f64) + frac
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// `host` or `host:port` (port 123 by default; `[v6]:port` for IPv6).
fn resolve(source: &str) -> Result<SocketAddr, String> {
    let with_port = if source.parse::<std::net::IpAddr>().is_ok() && source.contains(':') {
        format!("[{source}]:123")
    } else if source.contains(':') {
        source.to_owned()
    } else {
        format!("{source}:123")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {source}: {e}"))?
        .next()
        .ok_or_else(|| format!("{source} resolves to no address"))
}

/// One SNTPv4 exchange with `source`, within `timeout` in total.
pub fn measure(source: &str, timeout: Duration) -> ClockSkew {
    let deadline = Instant::now() + timeout;
    match exchange(source, deadline) {
        Ok(skew) => skew,
        Err(e) => ClockSkew::unavailable(source, e),
    }
}

fn exchange(source: &str, deadline: Instant) -> Result<ClockSkew, String> {
    let addr = resolve(source)?;
    let bind: SocketAddr = if addr.is_ipv4() {
        ([0u8; 4], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = UdpSocket::bind(bind).map_err(|e| format!("udp socket: {e}"))?;
    sock.connect(addr)
        .map_err(|e| format!("cannot reach {addr}: {e}"))?;
    let mut request = [0u8; 48];
    // LI 0 (no warning), version 4, mode 3 (client).
    request[0] = 0x23;
    // Our transmit timestamp: the server echoes it as the originate timestamp, which ties
    // the answer to this request. Random low bits keep it unguessable.
    let t0_wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "the host clock is before 1970".to_owned())?;
    let t0 = Instant::now();
    let mut noise = [0u8; 2];
    let _ = getrandom::getrandom(&mut noise);
    let tx = to_ntp(t0_wall) ^ u64::from(u16::from_le_bytes(noise));
    request[40..48].copy_from_slice(&tx.to_be_bytes());
    sock.send(&request)
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                format!(
                    "no answer from {addr} within {} ms",
                    deadline.saturating_duration_since(t0).as_millis()
                )
            })?;
        sock.set_read_timeout(Some(left))
            .map_err(|e| format!("udp socket: {e}"))?;
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(format!("no answer from {addr}: {e}")),
        };
        let elapsed = t0.elapsed();
        let reply = buf.get(..n).unwrap_or_default();
        match parse_reply(reply, tx) {
            Ok((t1, t2, stratum)) => {
                // Host time at receipt, from the monotonic clock: a clock step during the
                // exchange does not distort it.
                let t0s = t0_wall.as_secs_f64();
                let t3s = t0s + elapsed.as_secs_f64();
                let offset = ((t1 - t0s) + (t2 - t3s)) / 2.0;
                let rtt = (t3s - t0s) - (t2 - t1);
                return Ok(ClockSkew {
                    source: source.to_owned(),
                    status: "ok".into(),
                    offset_ms: Some((offset * 1e6).round() / 1e3),
                    rtt_ms: Some((rtt.max(0.0) * 1e6).round() / 1e3),
                    stratum: Some(stratum),
                    measured_at: Some(crate::timefmt::now_rfc3339()),
                    error: None,
                });
            }
            // A stray or malformed datagram: keep waiting for the real answer.
            Err(e) => tracing::debug!("time source {addr}: ignored a reply: {e}"),
        }
    }
}

/// Checks a server reply to the request with transmit timestamp `tx`; returns the server's
/// receive and transmit times (Unix seconds) and its stratum.
fn parse_reply(b: &[u8], tx: u64) -> Result<(f64, f64, u8), String> {
    if b.len() < 48 {
        return Err(format!("{} bytes, not an NTP packet", b.len()));
    }
    let first = b.first().copied().unwrap_or(0);
    let (li, version, mode) = (first >> 6, (first >> 3) & 7, first & 7);
    if mode != 4 {
        return Err(format!("mode {mode}, not a server reply"));
    }
    if !(3..=4).contains(&version) {
        return Err(format!("NTP version {version}"));
    }
    let stratum = b.get(1).copied().unwrap_or(0);
    if li == 3 || stratum == 0 || stratum > 15 {
        return Err(format!(
            "server not synchronized (leap {li}, stratum {stratum})"
        ));
    }
    let origin = be_u64(b, 24).unwrap_or(0);
    if origin != tx {
        return Err("reply does not answer our request".into());
    }
    let t1 = be_u64(b, 32).unwrap_or(0);
    let t2 = be_u64(b, 40).unwrap_or(0);
    if t1 == 0 || t2 == 0 {
        return Err("reply without timestamps".into());
    }
    Ok((from_ntp(t1), from_ntp(t2), stratum))
}

/// A measurement running on its own thread.
pub struct SkewProbe {
    source: String,
    started: Instant,
    budget: Duration,
    rx: std::sync::mpsc::Receiver<ClockSkew>,
}

impl SkewProbe {
    /// Starts measuring against `source` on a background thread.
    pub fn start(source: &str, budget: Duration) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let src = source.to_owned();
        let spawned = std::thread::Builder::new()
            .name("clock-skew".into())
            .spawn(move || {
                let _ = tx.send(measure(&src, budget));
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the clock-skew measurement: {e}");
        }
        Self {
            source: source.to_owned(),
            started: Instant::now(),
            budget,
            rx,
        }
    }

    /// The result, waiting at most until the budget (plus a little) has passed since start.
    pub fn finish(self) -> ClockSkew {
        let wait =
            (self.budget + Duration::from_millis(100)).saturating_sub(self.started.elapsed());
        self.rx.recv_timeout(wait).unwrap_or_else(|_| {
            ClockSkew::unavailable(
                &self.source,
                format!(
                    "no answer within {} ms (name resolution or the network hung)",
                    self.budget.as_millis()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback SNTP server whose clock is `offset` ahead of the host's; answers `count`
    /// requests. With `silent`, it reads requests and never answers.
    fn responder(offset: Duration, silent: bool) -> (String, std::thread::JoinHandle<()>) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap().to_string();
        let h = std::thread::spawn(move || {
            let mut buf = [0u8; 48];
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                return;
            };
            assert_eq!(n, 48);
            if silent {
                std::thread::sleep(Duration::from_secs(1));
                return;
            }
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + offset;
            let mut reply = [0u8; 48];
            reply[0] = (4 << 3) | 4;
            reply[1] = 2;
            reply[24..32].copy_from_slice(&buf[40..48]);
            reply[32..40].copy_from_slice(&to_ntp(now).to_be_bytes());
            reply[40..48].copy_from_slice(&to_ntp(now).to_be_bytes());
            // A stray datagram first: it must be ignored.
            sock.send_to(&[0u8; 48], peer).unwrap();
            sock.send_to(&reply, peer).unwrap();
        });
        (addr, h)
    }

    /// A local time source 1.5s ahead is measured as a 1.5s offset (within 50ms), with its round
    /// trip and stratum.
    #[test]
    fn known_skew_is_measured() {
        let (addr, h) = responder(Duration::from_millis(1500), false);
        let skew = measure(&addr, Duration::from_millis(500));
        h.join().unwrap();
        assert_eq!(skew.status, "ok", "{skew:?}");
        let off = skew.offset_ms.unwrap();
        assert!((off - 1500.0).abs() < 50.0, "{skew:?}");
        assert!(skew.rtt_ms.unwrap() < 100.0, "{skew:?}");
        assert_eq!(skew.stratum, Some(2));
    }

    /// [fault] A time source that never answers, or none listening, is reported unavailable within
    /// its time budget.
    #[test]
    fn silent_or_absent_source_is_unavailable_quickly() {
        let (addr, h) = responder(Duration::ZERO, true);
        let t = Instant::now();
        let skew = measure(&addr, Duration::from_millis(300));
        assert!(
            t.elapsed() < Duration::from_millis(600),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(skew.status, "unavailable");
        assert!(skew.error.unwrap().contains("no answer"));
        h.join().unwrap();
        // Nothing listening at all.
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = Instant::now();
        let probe = SkewProbe::start(&format!("127.0.0.1:{port}"), DEFAULT_TIME_TIMEOUT);
        let skew = probe.finish();
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        assert_eq!(skew.status, "unavailable", "{skew:?}");
    }

    /// [hostile] Time replies are refused when short, for another request, kiss-o'-death or not
    /// from a server; timestamps after 2036 map forward.
    #[test]
    fn replies_are_checked() {
        let tx = 0x1234_5678_9abc_def0;
        let mut good = [0u8; 48];
        good[0] = 0x24;
        good[1] = 1;
        good[24..32].copy_from_slice(&u64::to_be_bytes(tx));
        good[32..40].copy_from_slice(&to_ntp(Duration::from_secs(1_800_000_000)).to_be_bytes());
        good[40..48].copy_from_slice(&to_ntp(Duration::from_secs(1_800_000_000)).to_be_bytes());
        let (t1, _, _) = parse_reply(&good, tx).unwrap();
        assert!((t1 - 1_800_000_000.0).abs() < 1e-6);
        assert!(parse_reply(&good, tx + 1).is_err(), "not our request");
        assert!(parse_reply(&good[..40], tx).is_err());
        let mut kod = good;
        kod[1] = 0;
        assert!(parse_reply(&kod, tx).is_err(), "kiss-o'-death");
        let mut client = good;
        client[0] = 0x23;
        assert!(parse_reply(&client, tx).is_err());
        // Era 1 (after 2036) maps forward, not back to 1900.
        let t = Duration::from_secs(2_200_000_000);
        assert!((from_ntp(to_ntp(t)) - 2_200_000_000.0).abs() < 1e-6);
    }

    /// Wall, monotonic and boot clocks read and advance, and time source addresses default to port
    /// 123.
    #[test]
    fn clocks_read_and_advance() {
        let a = read();
        let b = read();
        assert!(a.wall.is_some());
        assert!(b.monotonic_ns >= a.monotonic_ns);
        assert!(b.boottime_ns.unwrap() >= b.monotonic_ns.unwrap());
        assert_eq!(resolve("127.0.0.1").unwrap().port(), 123);
        assert_eq!(resolve("127.0.0.1:1123").unwrap().port(), 1123);
        assert_eq!(resolve("::1").unwrap().port(), 123);
    }
}
