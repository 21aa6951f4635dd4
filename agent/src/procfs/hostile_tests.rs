//! Property tests: every /proc parser, fed arbitrary bytes (and mangled real files), returns
//! a value or an error and never panics. These run in CI on every build.
//!
//! The mutation runs start from a corpus of real files (`corpus/`: captured from Linux hosts,
//! plus a /proc/modules with taint flags and a wtmp written to glibc's layout). When a kernel
//! or host quirk turns up, its file goes into the corpus. `VESTIGE_FUZZ_CASES` sets the cases
//! per corpus file (default 300); CI also runs a longer bounded pass.

use super::{
    cgroup, fdinfo::FdInfo, iomem::Iomem, maps, modules, mountinfo, net, stat::Stat,
    status::Status, text,
};
use proptest::prelude::*;

const REAL_STAT: &[u8] = b"1234 (bash) S 1000 1234 1234 34816 5678 4194304 2000 30000 0 3 10 5 40 20 20 0 1 0 98765 12345678 1500 18446744073709551615 1 1 0 0 0 0 65536 3670020 1266777851 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
const REAL_TCP: &[u8] = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 34567 1 0000000000000000 100 0 0 10 0\n";
const REAL_MAPS: &[u8] = b"55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1835 /usr/bin/sleep\n7f0000000000-7f0000001000 rwxp 00000000 00:00 0 \n";

fn all_parsers(b: &[u8]) {
    let _ = Stat::parse(b);
    let _ = Status::parse(b);
    let _ = maps::parse_all(b);
    let _ = net::parse_inet(b, net::Family::Inet);
    let _ = net::parse_inet(b, net::Family::Inet6);
    let _ = net::parse_unix(b);
    let _ = net::parse_endpoint(b, net::Family::Inet6);
    let _ = modules::parse(b);
    let _ = mountinfo::parse(b);
    let _ = mountinfo::unescape(b);
    if let Some(p) = cgroup::path(b) {
        let _ = cgroup::container(&p);
    }
    let _ = text::lossy(b);
    let _ = text::nul_list(b);
    let _ = crate::collect::UserNames::parse(b);
    let _ = Iomem::from_bytes(b).ram_bytes();
    let _ = FdInfo::parse(b);
}

/// A real file with bytes flipped, inserted and cut at random places.
fn mangled(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(edits, cut)| {
            let mut v = base.to_vec();
            for (i, byte) in edits {
                let at = i.index(v.len());
                v[at] = byte;
            }
            v.truncate(cut.index(v.len() + 1));
            v
        })
}

/// Seeds of the mutation runs: real files of every format vestige parses.
const CORPUS: &[(&str, &[u8])] = &[
    ("stat", include_bytes!("corpus/stat")),
    ("status", include_bytes!("corpus/status")),
    ("maps", include_bytes!("corpus/maps")),
    ("mountinfo", include_bytes!("corpus/mountinfo")),
    ("cgroup", include_bytes!("corpus/cgroup")),
    ("modules", include_bytes!("corpus/modules")),
    ("net_tcp", include_bytes!("corpus/net_tcp")),
    ("net_tcp6", include_bytes!("corpus/net_tcp6")),
    ("net_udp", include_bytes!("corpus/net_udp")),
    ("net_udp6", include_bytes!("corpus/net_udp6")),
    ("net_unix", include_bytes!("corpus/net_unix")),
    ("net_route", include_bytes!("corpus/net_route")),
    ("net_ipv6_route", include_bytes!("corpus/net_ipv6_route")),
    ("net_arp", include_bytes!("corpus/net_arp")),
    ("os-release", include_bytes!("corpus/os-release")),
    ("passwd", include_bytes!("corpus/passwd")),
    ("wtmp", include_bytes!("corpus/wtmp")),
    ("iomem", include_bytes!("corpus/iomem")),
    ("fdinfo", include_bytes!("corpus/fdinfo")),
];

/// Every parser of host-provided bytes, the /proc ones and the rest.
fn every_parser(b: &[u8]) {
    all_parsers(b);
    let _ = crate::utmp::parse_all(b);
    let _ = crate::collect::system::parse_os_release(b);
    let _ = crate::collect::system::parse_routes(b);
    let _ = crate::collect::system::parse_routes6(b);
    let _ = crate::collect::system::parse_arp(b);
}

/// One corpus file with edits a fuzzer makes: bytes flipped, inserted and deleted, slices
/// duplicated (repeated lines), runs of digits (overflowing numbers), then a cut.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<prop::sample::Index>(),
        prop::collection::vec(
            (
                0u8..5,
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                any::<u8>(),
            ),
            0..12,
        ),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(which, edits, cut)| {
            let (_, seed) = CORPUS[which.index(CORPUS.len())];
            let mut v = seed.to_vec();
            for (kind, a, b, byte) in edits {
                let at = a.index(v.len() + 1);
                match kind {
                    0 if !v.is_empty() => {
                        let i = at.min(v.len() - 1);
                        v[i] = byte;
                    }
                    1 => v.insert(at, byte),
                    2 => {
                        let end = (at + b.index(64)).min(v.len());
                        v.drain(at..end);
                    }
                    3 => {
                        let end = (at + b.index(256)).min(v.len());
                        let slice = v[at..end].to_vec();
                        v.splice(at..at, slice);
                    }
                    _ => {
                        let digits = vec![b'9'; 1 + b.index(40)];
                        v.splice(at..at, digits);
                    }
                }
            }
            v.truncate(cut.index(v.len() + 1));
            v
        })
}

fn fuzz_cases() -> u32 {
    let per_file = std::env::var("VESTIGE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300u32);
    per_file.saturating_mul(CORPUS.len() as u32)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: fuzz_cases(), ..ProptestConfig::default() })]

    /// [hostile] Every parser survives corpus files with bytes flipped, inserted and deleted,
    /// lines repeated, digit runs and a cut, without panicking.
    #[test]
    fn parsers_never_panic_on_mutated_corpus_files(b in mutated()) {
        every_parser(&b);
    }
}

/// The unmutated corpus files (stat, status, maps, mountinfo, modules, net, routes, os-release,
/// wtmp, iomem, fdinfo) each parse to records.
#[test]
fn corpus_files_parse_to_something() {
    // The seeds themselves are valid: each yields records in its own parser.
    let get = |n: &str| {
        CORPUS
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, b)| *b)
            .unwrap()
    };
    assert!(Stat::parse(get("stat")).is_ok());
    assert!(Status::parse(get("status")).tgid.is_some());
    assert!(!maps::parse_all(get("maps")).0.is_empty());
    assert!(!mountinfo::parse(get("mountinfo")).0.is_empty());
    assert_eq!(modules::parse(get("modules")).0.len(), 3);
    assert!(!net::parse_inet(get("net_tcp"), net::Family::Inet)
        .0
        .is_empty());
    assert!(!net::parse_unix(get("net_unix")).0.is_empty());
    assert!(!crate::collect::system::parse_routes(get("net_route")).is_empty());
    assert!(!crate::collect::system::parse_os_release(get("os-release")).is_empty());
    assert_eq!(crate::utmp::parse_all(get("wtmp")).0.len(), 2);
    let iomem = Iomem::from_bytes(get("iomem"));
    assert_eq!(iomem.malformed, 0);
    assert!(!iomem.ram.is_empty() && iomem.ram_bytes() > 0, "{iomem:?}");
    assert!(FdInfo::parse(get("fdinfo")).pos.is_some());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// [hostile] Every /proc parser survives random bytes without panicking.
    #[test]
    fn parsers_never_panic_on_random_bytes(b in prop::collection::vec(any::<u8>(), 0..512)) {
        all_parsers(&b);
    }

    /// [hostile] Every /proc parser survives a mangled real /proc/PID/stat line without panicking.
    #[test]
    fn parsers_never_panic_on_mangled_stat(b in mangled(REAL_STAT)) {
        all_parsers(&b);
    }

    /// [hostile] Every /proc parser survives a mangled real /proc/net/tcp without panicking.
    #[test]
    fn parsers_never_panic_on_mangled_tcp(b in mangled(REAL_TCP)) {
        all_parsers(&b);
    }

    /// [hostile] Every /proc parser survives a mangled real /proc/PID/maps without panicking.
    #[test]
    fn parsers_never_panic_on_mangled_maps(b in mangled(REAL_MAPS)) {
        all_parsers(&b);
    }

    /// [hostile] A process name of any bytes (parentheses, newlines, invalid UTF-8) comes back
    /// exactly from /proc/PID/stat, with the fields after it intact.
    #[test]
    fn stat_comm_roundtrips_any_bytes(comm in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut line = b"42 (".to_vec();
        line.extend_from_slice(&comm);
        line.extend_from_slice(b") S 1 42 42 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 99 4096 10 0\n");
        let s = Stat::parse(&line).unwrap();
        prop_assert_eq!(s.comm, comm);
        prop_assert_eq!(s.starttime, 99);
    }

    /// [hostile] Lossy text of any bytes keeps them all: the text itself when valid UTF-8, else the
    /// hex decodes back to them.
    #[test]
    fn lossy_text_keeps_every_byte(b in prop::collection::vec(any::<u8>(), 0..128)) {
        let (s, hex) = text::lossy(&b);
        match hex {
            None => prop_assert_eq!(s.as_bytes(), &b[..]),
            Some(h) => prop_assert_eq!(hex::decode(h).unwrap(), b),
        }
    }
}
