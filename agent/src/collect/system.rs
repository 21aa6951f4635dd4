//! `system`: one record describing the host at capture time.

use super::{CollectError, Context, Output};
use crate::procfs::modules::decode_taint;
use crate::procfs::mountinfo;
use crate::procfs::net::{parse_endpoint, Family};
use crate::procfs::read::{read_capped, read_small};
use crate::procfs::text::{lossy, trimmed};
use collector_spec::SystemOptions;
use nix::time::{clock_gettime, ClockId};
use serde_json::{json, Map, Value};
use std::path::Path;

fn small_text(path: &Path) -> Option<String> {
    read_small(path).ok().map(|b| trimmed(&b))
}

fn clock(id: ClockId) -> Value {
    match clock_gettime(id) {
        Ok(ts) => json!({"seconds": ts.tv_sec(), "nanoseconds": ts.tv_nsec()}),
        Err(_) => Value::Null,
    }
}

/// A text file copied whole (up to `cap`), or null when absent.
fn file_text(path: &Path, cap: u64) -> Value {
    match read_capped(path, cap) {
        Ok((b, truncated)) => {
            let (text, hex) = lossy(&b);
            json!({"path": path.display().to_string(), "content": text, "content_hex": hex, "truncated": truncated})
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Null,
        Err(e) => json!({"path": path.display().to_string(), "error": e.to_string()}),
    }
}

/// KEY=value lines of os-release, unquoted.
pub fn parse_os_release(buf: &[u8]) -> Map<String, Value> {
    let mut map = Map::new();
    for line in String::from_utf8_lossy(buf).lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            map.insert(k.trim().to_owned(), Value::String(v.to_owned()));
        }
    }
    map
}

/// /proc/net/route → records.
pub fn parse_routes(buf: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    for line in String::from_utf8_lossy(buf).lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(iface), Some(dst), Some(gw), Some(flags), Some(metric), Some(mask)) =
            (f.first(), f.get(1), f.get(2), f.get(3), f.get(6), f.get(7))
        else {
            continue;
        };
        let addr =
            |h: &str| parse_endpoint(format!("{h}:0").as_bytes(), Family::Inet).map(|(a, _)| a);
        out.push(json!({
            "interface": iface,
            "destination": addr(dst),
            "gateway": addr(gw),
            "mask": addr(mask),
            "flags": flags,
            "metric": metric.parse::<i64>().ok(),
        }));
    }
    out
}

/// /proc/net/ipv6_route → records.
pub fn parse_routes6(buf: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    for line in String::from_utf8_lossy(buf).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(dst), Some(plen), Some(gw), Some(metric), Some(iface)) =
            (f.first(), f.get(1), f.get(4), f.get(5), f.get(9))
        else {
            continue;
        };
        let addr = |h: &str| ipv6_from_hex(h);
        out.push(json!({
            "interface": iface,
            "destination": addr(dst),
            "prefix_length": u8::from_str_radix(plen, 16).ok(),
            "gateway": addr(gw),
            "metric": u32::from_str_radix(metric, 16).ok(),
        }));
    }
    out
}

/// 32 hex digits in network order (ipv6_route, if_inet6) → text.
pub fn ipv6_from_hex(h: &str) -> Option<String> {
    if h.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(h.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(std::net::Ipv6Addr::from(bytes).to_string())
}

/// /proc/net/arp → records.
pub fn parse_arp(buf: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(buf)
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(json!({
                "ip_address": f.first()?,
                "hw_type": f.get(1)?,
                "flags": f.get(2)?,
                "hw_address": f.get(3)?,
                "device": f.get(5)?,
            }))
        })
        .collect()
}

fn interfaces(ctx: &Context, out: &mut Output) -> Value {
    let mut by_name: std::collections::BTreeMap<String, Map<String, Value>> = Default::default();
    if let Ok(entries) = std::fs::read_dir(ctx.sys.join("class/net")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let dir = e.path();
            let mut m = Map::new();
            for (key, file) in [
                ("mac", "address"),
                ("mtu", "mtu"),
                ("operstate", "operstate"),
                ("flags", "flags"),
                ("ifindex", "ifindex"),
            ] {
                m.insert(
                    key.into(),
                    small_text(&dir.join(file)).map_or(Value::Null, Value::String),
                );
            }
            m.insert("addresses".into(), Value::Array(Vec::new()));
            by_name.insert(name, m);
        }
    }
    match nix::ifaddrs::getifaddrs() {
        Ok(addrs) => {
            for a in addrs {
                let Some(addr) = a.address else { continue };
                let text = if let Some(v4) = addr.as_sockaddr_in() {
                    v4.ip().to_string()
                } else if let Some(v6) = addr.as_sockaddr_in6() {
                    v6.ip().to_string()
                } else {
                    continue;
                };
                let prefix = a.netmask.and_then(|m| {
                    m.as_sockaddr_in()
                        .map(|v| u32::from(v.ip()).count_ones())
                        .or_else(|| m.as_sockaddr_in6().map(|v| u128::from(v.ip()).count_ones()))
                });
                let entry = by_name.entry(a.interface_name.clone()).or_default();
                if let Some(Value::Array(list)) = entry.get_mut("addresses") {
                    list.push(json!({"address": text, "prefix_length": prefix}));
                } else {
                    entry.insert(
                        "addresses".into(),
                        json!([{"address": text, "prefix_length": prefix}]),
                    );
                }
            }
        }
        Err(e) => out.warn(format!("getifaddrs: {e}")),
    }
    Value::Array(
        by_name
            .into_iter()
            .map(|(name, mut m)| {
                m.insert("name".into(), Value::String(name));
                Value::Object(m)
            })
            .collect(),
    )
}

/// Collects the system record.
pub fn collect(ctx: &Context, opts: &SystemOptions, out: &mut Output) -> Result<(), CollectError> {
    let cap = opts.max_file_bytes.map_or(1 << 20, |b| b.0);
    let p = &ctx.proc;
    let tainted: Option<u64> =
        small_text(&p.join("sys/kernel/tainted")).and_then(|t| t.parse().ok());
    let uptime = small_text(&p.join("uptime")).and_then(|t| {
        let mut it = t.split_whitespace().map(|v| v.parse::<f64>().ok());
        Some(json!({"seconds": it.next()??, "idle_seconds": it.next().flatten()}))
    });
    let mounts = match read_small(&p.join("self/mountinfo")) {
        Ok(b) => {
            let (m, bad) = mountinfo::parse(&b);
            if bad > 0 {
                out.warn(format!("mountinfo: {bad} malformed lines"));
            }
            serde_json::to_value(m).unwrap_or(Value::Null)
        }
        Err(e) => {
            out.warn(format!("mountinfo: {e}"));
            Value::Null
        }
    };
    let sysctl = |name: &str| small_text(&p.join("sys").join(name));
    let record = json!({
        "hostname": sysctl("kernel/hostname"),
        "domainname": sysctl("kernel/domainname"),
        "kernel_release": sysctl("kernel/osrelease"),
        "kernel_version": sysctl("kernel/version"),
        "kernel_cmdline": small_text(&p.join("cmdline")),
        "os_release": read_small(&ctx.etc.join("os-release")).or_else(|_| read_small(Path::new("/usr/lib/os-release"))).ok().map(|b| Value::Object(parse_os_release(&b))),
        "boot_id": sysctl("kernel/random/boot_id"),
        "boot_time": ctx.boot_time().and_then(|t| crate::timefmt::rfc3339(t, 0)),
        "uptime": uptime,
        "captured_at": crate::timefmt::now_rfc3339(),
        "clocks": {
            "realtime": clock(ClockId::CLOCK_REALTIME),
            "monotonic": clock(ClockId::CLOCK_MONOTONIC),
            "boottime": clock(ClockId::CLOCK_BOOTTIME),
        },
        "loadavg": small_text(&p.join("loadavg")),
        "tainted": tainted,
        "tainted_flags": tainted.map(decode_taint),
        "security": {
            "kptr_restrict": sysctl("kernel/kptr_restrict"),
            "dmesg_restrict": sysctl("kernel/dmesg_restrict"),
            "modules_disabled": sysctl("kernel/modules_disabled"),
            "yama_ptrace_scope": sysctl("kernel/yama/ptrace_scope"),
            "unprivileged_bpf_disabled": sysctl("kernel/unprivileged_bpf_disabled"),
            "randomize_va_space": sysctl("kernel/randomize_va_space"),
            "lockdown": read_small(&ctx.sys.join("kernel/security/lockdown")).ok().map(|b| trimmed(&b)),
        },
        "mounts": mounts,
        "interfaces": interfaces(ctx, out),
        "routes": read_small(&p.join("net/route")).map(|b| parse_routes(&b)).ok(),
        "routes6": read_small(&p.join("net/ipv6_route")).map(|b| parse_routes6(&b)).ok(),
        "arp": read_small(&p.join("net/arp")).map(|b| parse_arp(&b)).ok(),
        "resolv_conf": file_text(&ctx.etc.join("resolv.conf"), cap),
        "hosts": file_text(&ctx.etc.join("hosts"), cap),
        "ld_so_preload": file_text(&ctx.etc.join("ld.so.preload"), cap),
    });
    out.record(&record)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 and IPv6 routes and ARP entries parse to addresses and prefixes; a short line is
    /// skipped.
    #[test]
    fn parses_route_tables() {
        let r = parse_routes(b"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\neth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\nshort\n");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["gateway"], "10.0.0.1");
        assert_eq!(r[1]["destination"], "10.0.0.0");
        assert_eq!(r[1]["mask"], "255.255.255.0");
        let r6 = parse_routes6(b"20010db8000000000000000000000000 40 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000100 00000001 00000000 00000003     eth0\n");
        assert_eq!(r6[0]["destination"], "2001:db8::");
        assert_eq!(r6[0]["prefix_length"], 64);
        assert_eq!(r6[0]["gateway"], "fe80::1");
        let arp = parse_arp(b"IP address       HW type     Flags       HW address            Mask     Device\n10.0.0.1         0x1         0x2         0a:1b:2c:3d:4e:5f     *        eth0\n");
        assert_eq!(arp[0]["hw_address"], "0a:1b:2c:3d:4e:5f");
    }

    /// os-release values parse with double, single and no quotes; comments and bad lines are
    /// skipped.
    #[test]
    fn parses_os_release() {
        let m =
            parse_os_release(b"NAME=\"Amazon Linux\"\nVERSION_ID='2023'\n# c\nID=amzn\nbad line\n");
        assert_eq!(m["NAME"], "Amazon Linux");
        assert_eq!(m["VERSION_ID"], "2023");
        assert_eq!(m["ID"], "amzn");
    }
}
