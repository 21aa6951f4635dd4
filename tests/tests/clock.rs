//! Clock provenance end to end: a local SNTP responder whose clock runs a known amount ahead
//! of the host's is measured within tolerance; a silent or absent time source is recorded as
//! unavailable without delaying the collection; every stored artifact carries the host's
//! clocks at its start and end.

use e2e::{manifest, summary, vestige_bin};
use serde_json::Value;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SPEC: &str = "name: clock\nartifacts:\n  - name: connections\n    collect: connections\n";

fn to_ntp(t: Duration) -> u64 {
    let secs = t.as_secs() + 2_208_988_800;
    let frac = (u64::from(t.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// Answers SNTP requests with a clock `ahead` of the host's until the socket is dropped
/// (`silent`: reads requests and never answers).
fn responder(ahead: Duration, silent: bool) -> (String, std::thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    let h = std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut buf = [0u8; 48];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            if n != 48 || silent {
                continue;
            }
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + ahead;
            let mut reply = [0u8; 48];
            reply[0] = (4 << 3) | 4;
            reply[1] = 1;
            reply[24..32].copy_from_slice(&buf[40..48]);
            reply[32..40].copy_from_slice(&to_ntp(now).to_be_bytes());
            reply[40..48].copy_from_slice(&to_ntp(now).to_be_bytes());
            sock.send_to(&reply, peer).unwrap();
            return;
        }
    });
    (addr, h)
}

fn collect(out: &Path, extra: &[&str]) -> (PathBuf, Value, Duration) {
    let spec = out.join("clock.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let t = Instant::now();
    let o = Command::new(vestige_bin())
        .args([
            "collect",
            "--quiet",
            "--spec",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let took = t.elapsed();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = summary(&o);
    let root = PathBuf::from(s["location"].as_str().unwrap());
    (root.clone(), manifest(&root), took)
}

/// A time source 2.5s ahead is measured in the manifest, every artifact carries start and end wall,
/// monotonic and boot clocks, and the source is listed among the endpoints.
#[test]
fn known_skew_is_measured_and_every_artifact_carries_its_clocks() {
    let tmp = tempfile::tempdir().unwrap();
    let (addr, h) = responder(Duration::from_millis(2500), false);
    let (_, m, _) = collect(tmp.path(), &["--time-source", &addr]);
    h.join().unwrap();
    let skew = &m["clock"]["skew"];
    assert_eq!(skew["status"], "ok", "{skew}");
    assert_eq!(skew["source"], addr.as_str());
    let off = skew["offset_ms"].as_f64().unwrap();
    assert!((off - 2500.0).abs() < 200.0, "{skew}");
    assert!(skew["rtt_ms"].as_f64().unwrap() < 200.0, "{skew}");
    assert_eq!(skew["stratum"], 1);
    for at in ["start", "end"] {
        let c = &m["clock"][at];
        assert!(c["wall"].is_string(), "{c}");
        assert!(c["monotonic_ns"].as_u64().unwrap() > 0, "{c}");
        assert!(c["boottime_ns"].as_u64().unwrap() >= c["monotonic_ns"].as_u64().unwrap());
    }
    assert!(
        m["clock"]["end"]["monotonic_ns"].as_u64() >= m["clock"]["start"]["monotonic_ns"].as_u64()
    );
    for a in m["artifacts"].as_array().unwrap() {
        let (s, e) = (&a["clock_start"], &a["clock_end"]);
        assert!(s["wall"].is_string() && e["wall"].is_string(), "{a}");
        assert!(
            e["monotonic_ns"].as_u64() >= s["monotonic_ns"].as_u64(),
            "{a}"
        );
        assert!(
            e["boottime_ns"].as_u64() >= s["boottime_ns"].as_u64(),
            "{a}"
        );
    }
    let endpoints = m["collector"]["endpoints"].as_array().unwrap();
    assert!(
        endpoints
            .iter()
            .any(|e| e["purpose"] == "ntp" && e["address"] == addr.as_str()),
        "{endpoints:?}"
    );
    assert!(m["collector"]["threads"].as_u64().unwrap() >= 1);
    assert!(m["collector"]["threads_peak"].as_u64() >= m["collector"]["threads"].as_u64());
}

/// [fault] A time source that is absent or never answers is recorded unavailable, and a silent one
/// costs the run under a second.
#[test]
fn silent_or_absent_time_source_is_unavailable_and_costs_under_a_second() {
    let tmp = tempfile::tempdir().unwrap();
    // Absent: nothing listens on the port.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let absent = format!("127.0.0.1:{port}");
    let (_, m, _) = collect(tmp.path(), &["--time-source", &absent]);
    let skew = &m["clock"]["skew"];
    assert_eq!(skew["status"], "unavailable", "{skew}");
    assert!(skew["error"].is_string(), "{skew}");
    assert!(skew["offset_ms"].is_null(), "{skew}");

    // Silent: the default 500 ms budget, measured beside the collection.
    let (addr, _h) = responder(Duration::ZERO, true);
    let (_, m, took) = collect(tmp.path(), &["--time-source", &addr]);
    let skew = &m["clock"]["skew"];
    assert_eq!(skew["status"], "unavailable", "{skew}");
    assert!(
        skew["error"].as_str().unwrap().contains("no answer"),
        "{skew}"
    );
    let (_, m_none, took_none) = collect(tmp.path(), &["--time-source", "none"]);
    assert_eq!(m_none["clock"]["skew"]["status"], "disabled");
    assert!(
        took < took_none + Duration::from_secs(1),
        "a silent time source cost {took:?} against {took_none:?}"
    );
}
