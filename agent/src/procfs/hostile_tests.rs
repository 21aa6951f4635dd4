//! Property tests: every /proc parser, fed arbitrary bytes (and mangled real files), returns
//! a value or an error and never panics. These run in CI on every build.

use super::{cgroup, maps, modules, mountinfo, net, stat::Stat, status::Status, text};
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_on_random_bytes(b in prop::collection::vec(any::<u8>(), 0..512)) {
        all_parsers(&b);
    }

    #[test]
    fn parsers_never_panic_on_mangled_stat(b in mangled(REAL_STAT)) {
        all_parsers(&b);
    }

    #[test]
    fn parsers_never_panic_on_mangled_tcp(b in mangled(REAL_TCP)) {
        all_parsers(&b);
    }

    #[test]
    fn parsers_never_panic_on_mangled_maps(b in mangled(REAL_MAPS)) {
        all_parsers(&b);
    }

    #[test]
    fn stat_comm_roundtrips_any_bytes(comm in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut line = b"42 (".to_vec();
        line.extend_from_slice(&comm);
        line.extend_from_slice(b") S 1 42 42 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 99 4096 10 0\n");
        let s = Stat::parse(&line).unwrap();
        prop_assert_eq!(s.comm, comm);
        prop_assert_eq!(s.starttime, 99);
    }

    #[test]
    fn lossy_text_keeps_every_byte(b in prop::collection::vec(any::<u8>(), 0..128)) {
        let (s, hex) = text::lossy(&b);
        match hex {
            None => prop_assert_eq!(s.as_bytes(), &b[..]),
            Some(h) => prop_assert_eq!(hex::decode(h).unwrap(), b),
        }
    }
}
