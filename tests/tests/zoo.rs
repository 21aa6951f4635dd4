//! The process zoo: real processes in a private PID namespace, each one a kind of evidence
//! vestige must find, and a real `vestige collect` run beside them.
//!
//! `tests/zoo/zoo.py` runs as pid 1 of `unshare --pid --fork --mount-proc --kill-child`, starts
//! the members, runs vestige inside the namespace, describes the members in `zoo.json`, and
//! kills them. The zoo runs once per test binary; each test checks one kind of evidence in the
//! bundle it produced. Needs root (namespaces, a bind mount over /proc/PID) and python3.

use e2e::zoo::{run_zoo, ZooRun};
use e2e::{manifest, sha256_hex, vestige, vestige_bin};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

type Zoo = ZooRun;

static ZOO: OnceLock<Result<Zoo, String>> = OnceLock::new();

fn zoo() -> &'static Zoo {
    match ZOO.get_or_init(start_zoo) {
        Ok(z) => z,
        Err(e) => panic!("the process zoo did not run: {e}"),
    }
}

fn start_zoo() -> Result<Zoo, String> {
    run_zoo(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zoo"), &[])
}

fn hex_decode(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("not hex ({e}): {s}"))
}

/// RFC 3339 UTC (`2026-12-04T16:15:00.589Z`) to seconds since the epoch.
fn epoch_seconds(t: &str) -> f64 {
    let (date, rest) = t.split_once('T').expect("T");
    let time = rest.strip_suffix('Z').expect("UTC");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().expect("date")).collect();
    let (y, m, day) = (d[0], d[1], d[2]);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let hms: Vec<f64> = time.split(':').map(|x| x.parse().expect("time")).collect();
    days as f64 * 86_400.0 + hms[0] * 3600.0 + hms[1] * 60.0 + hms[2]
}

/// The recovered executable behind `rec`: listed in the manifest with `raw_sha256` equal to
/// the record's `exe_sha256`, and decompressing to exactly `original`.
fn assert_recovered(z: &Zoo, rec: &Value, original: &[u8]) {
    let want = sha256_hex(original);
    assert_eq!(
        rec["exe_sha256"], want,
        "exe_sha256 is the SHA-256 of the original bytes: {rec}"
    );
    assert_eq!(rec["exe_size"], original.len());
    let path = rec["exe_recovered_path"]
        .as_str()
        .unwrap_or_else(|| panic!("not recovered: {rec}"));
    let m = manifest(&z.root);
    let entry = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == path)
        .unwrap_or_else(|| panic!("{path} is not in the manifest"));
    assert_eq!(entry["status"], "ok", "{entry}");
    assert_eq!(entry["raw_sha256"], want, "{entry}");
    assert_eq!(entry["raw_bytes"], original.len(), "{entry}");
    let stored = std::fs::read(z.root.join(path)).unwrap();
    assert_eq!(entry["stored_sha256"], sha256_hex(&stored));
    let raw = zstd::decode_all(&stored[..]).expect("recovered object decompresses");
    assert!(
        raw == original,
        "recovered bytes differ from the executed file"
    );
}

/// In the process zoo (its own PID namespace) every artifact is ok except processes, partial with
/// one warning for the masked pid; no errors, and the collection verifies.
#[test]
fn zoo_collection_is_complete_and_verifies() {
    let z = zoo();
    let m = manifest(&z.root);
    let masked = z.pid("masked");
    for a in m["artifacts"].as_array().unwrap() {
        if a["name"] == "processes" {
            // The one process that cannot be read is the masked one, and it is said so.
            assert_eq!(a["status"], "partial", "{a}");
            assert_eq!(a["warning_count"], 1, "{a}");
            let w = a["warnings"][0].as_str().unwrap();
            assert!(
                w.starts_with(&format!("pid {masked}: ")) && w.contains("masked"),
                "{w}"
            );
        } else {
            assert_eq!(a["status"], "ok", "inside the zoo: {a}");
        }
    }
    assert_eq!(z.summary["errors"], 0);
    let root = z.root.to_str().unwrap();
    let sha = z.summary["manifest_sha256"].as_str().unwrap();
    let v = vestige(&["verify", root, "--manifest-sha256", sha]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
}

/// [hostile] A process whose executable was deleted is flagged deleted with the path it ran from,
/// and its executable hashed and recovered.
#[test]
fn zoo_deleted_executable_is_flagged_hashed_and_recovered() {
    let z = zoo();
    let rec = z.process("deleted_exe");
    let original = z.member("deleted_exe")["path"].as_str().unwrap();
    assert!(!Path::new(original).exists(), "the zoo deleted {original}");
    assert_eq!(rec["exe_deleted"], true, "{rec}");
    assert_eq!(rec["exe_memfd"], false, "{rec}");
    assert_eq!(
        rec["exe"], original,
        "exe is the path it ran from, without ' (deleted)'"
    );
    assert_eq!(rec["exe_error"], Value::Null, "{rec}");
    assert_recovered(z, &rec, &z.reference_bytes("deleted_exe"));
}

/// [hostile] An executable whose name is gone but which lives on under another hard link counts as
/// deleted and is recovered.
#[test]
fn zoo_executable_unlinked_but_hard_linked_elsewhere_counts_as_deleted() {
    let z = zoo();
    let rec = z.process("linked_exe");
    let m = z.member("linked_exe");
    let (original, kept) = (m["path"].as_str().unwrap(), m["kept"].as_str().unwrap());
    assert!(!Path::new(original).exists() && Path::new(kept).exists());
    assert_eq!(
        rec["exe_deleted"], true,
        "the name it ran from is gone: {rec}"
    );
    assert_eq!(rec["exe"], original, "{rec}");
    assert_recovered(z, &rec, &z.reference_bytes("linked_exe"));
}

/// [hostile] An executable literally named "... (deleted)" is not flagged deleted, nor are its
/// mappings; its whole name is kept exactly in hex.
#[test]
fn zoo_executable_named_like_deleted_is_not_deleted() {
    use std::os::unix::ffi::OsStrExt;
    let z = zoo();
    let rec = z.process("literal_exe");
    let path = hex_decode(z.member("literal_exe")["path_hex"].as_str().unwrap());
    assert!(
        path.ends_with(b" (deleted)") && Path::new(std::ffi::OsStr::from_bytes(&path)).exists()
    );
    assert_eq!(rec["exe_deleted"], false, "{rec}");
    // Its mappings of that file carry the whole name and are not deleted either.
    let pid = z.pid("literal_exe");
    let maps: Vec<Value> = z
        .records("memory_maps")
        .into_iter()
        .filter(|m| m["pid"] == pid && m["inode"] == rec["exe_inode"])
        .collect();
    assert!(!maps.is_empty(), "no mapping of the literal file");
    assert!(maps.iter().all(|m| m["deleted"] == false), "{maps:#?}");
    // Control: the truly deleted executable's mappings are deleted.
    let gone = z.pid("deleted_exe");
    assert!(z
        .records("memory_maps")
        .iter()
        .any(|m| m["pid"] == gone && m["deleted"] == true));
    // The whole real name, suffix included: exact in exe_hex, lossy in exe.
    assert_eq!(rec["exe_hex"], hex::encode(&path), "{rec}");
    assert_eq!(rec["exe"], String::from_utf8_lossy(&path).as_ref(), "{rec}");
    let original = z.reference_bytes("literal_exe");
    assert_eq!(rec["exe_sha256"], sha256_hex(&original));
    if rec["exe_in_temp_dir"] == true {
        assert_recovered(z, &rec, &original);
    } else {
        assert_eq!(
            rec["exe_recovered_path"],
            Value::Null,
            "nothing suspicious: {rec}"
        );
    }
}

/// [hostile] A process run from a memfd is flagged memfd and deleted, and its executable hashed and
/// recovered as an object of its own.
#[test]
fn zoo_memfd_executable_is_flagged_hashed_and_recovered() {
    let z = zoo();
    let rec = z.process("memfd_exe");
    let name = z.member("memfd_exe")["name"].as_str().unwrap();
    assert_eq!(rec["exe"], format!("/memfd:{name}"), "{rec}");
    assert_eq!(rec["exe_memfd"], true, "{rec}");
    assert_eq!(
        rec["exe_deleted"], true,
        "a memfd has no name on any filesystem: {rec}"
    );
    assert_recovered(z, &rec, &z.reference_bytes("memfd_exe"));
    // Different bytes from the deleted member: two objects, not one.
    assert_ne!(
        rec["exe_recovered_path"],
        z.process("deleted_exe")["exe_recovered_path"]
    );
}

/// [hostile] A command line over 20,000 bytes with newlines, empty arguments and invalid UTF-8 is
/// recorded whole, its exact bytes in hex.
#[test]
fn zoo_cmdline_keeps_newlines_empty_args_and_exact_bytes() {
    let z = zoo();
    let rec = z.process("cmdline");
    let raw = hex_decode(z.member("cmdline")["cmdline_hex"].as_str().unwrap());
    assert!(
        raw.len() > 20_000,
        "a long command line ({} bytes)",
        raw.len()
    );
    let body = raw.strip_suffix(b"\0").unwrap();
    let want: Vec<String> = body
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert!(want.iter().any(|a| a.contains('\n')) && want.iter().any(String::is_empty));
    let got: Vec<String> = rec["cmdline"]
        .as_array()
        .expect("cmdline is an array")
        .iter()
        .map(|v| v.as_str().expect("cmdline elements are strings").to_owned())
        .collect();
    assert_eq!(got, want);
    assert_eq!(rec["cmdline_truncated"], false);
    let hex = rec["cmdline_hex"]
        .as_str()
        .expect("invalid UTF-8 gives cmdline_hex");
    assert!(hex_decode(hex) == raw, "cmdline_hex holds the exact bytes");
}

/// [hostile] A process name imitating stat fields is kept exactly, and the fields after it are the
/// real ones.
#[test]
fn zoo_hostile_process_name_is_kept_exactly() {
    let z = zoo();
    let rec = z.process("comm");
    let comm = hex_decode(z.member("comm")["comm_hex"].as_str().unwrap());
    assert_eq!(rec["comm_hex"], hex::encode(&comm), "{rec}");
    assert_eq!(rec["comm"], String::from_utf8_lossy(&comm).as_ref());
    // The fields after the name are the real ones, not the ones the name imitates.
    assert_eq!(rec["ppid"], 1, "{rec}");
    assert_eq!(rec["state"], "S", "{rec}");
    assert_eq!(rec["threads"], 1, "{rec}");
}

fn connections(z: &Zoo, protocol: &str) -> Vec<Value> {
    z.records("connections")
        .into_iter()
        .filter(|c| c["protocol"] == protocol)
        .collect()
}

/// The one record matching `pred`.
fn one<'a>(recs: &'a [Value], what: &str, pred: impl Fn(&Value) -> bool) -> &'a Value {
    let found: Vec<&Value> = recs.iter().filter(|r| pred(r)).collect();
    assert_eq!(found.len(), 1, "exactly one {what}: {found:#?}");
    found[0]
}

/// A TCP listener and both ends of a connection are recorded with addresses, ports, states and
/// their owning pids.
#[test]
fn zoo_tcp_listener_and_both_ends_of_a_connection_have_owners() {
    let z = zoo();
    let (server, client) = (z.pid("tcp_server"), z.pid("tcp_client"));
    let sport = z.member("tcp_server")["port"].as_u64().unwrap();
    let cport = z.member("tcp_client")["port"].as_u64().unwrap();
    let tcp = connections(z, "tcp");
    let listen = one(&tcp, "listener", |c| {
        c["state"] == "LISTEN" && c["local_port"] == sport
    });
    assert_eq!(listen["family"], "inet");
    assert_eq!(listen["local_address"], "127.0.0.1");
    assert_eq!(listen["pids"], serde_json::json!([server]), "{listen}");
    let accepted = one(&tcp, "server end", |c| {
        c["state"] == "ESTABLISHED" && c["local_port"] == sport && c["remote_port"] == cport
    });
    assert_eq!(accepted["remote_address"], "127.0.0.1");
    assert_eq!(accepted["pids"], serde_json::json!([server]), "{accepted}");
    let connecting = one(&tcp, "client end", |c| {
        c["state"] == "ESTABLISHED" && c["local_port"] == cport && c["remote_port"] == sport
    });
    assert_eq!(
        connecting["pids"],
        serde_json::json!([client]),
        "{connecting}"
    );
    for c in [listen, accepted, connecting] {
        assert!(c["inode"].as_u64().unwrap() > 0, "{c}");
        assert_eq!(c["uid"], 0);
    }
}

/// A UDP socket shared by a process and its child, and a listening Unix socket, are recorded with
/// their owning pids.
#[test]
fn zoo_udp_and_unix_sockets_have_owners() {
    let z = zoo();
    let port = z.member("udp")["port"].as_u64().unwrap();
    let udp = connections(z, "udp");
    let u = one(&udp, "udp socket", |c| {
        c["local_port"] == port && c["local_address"] == "127.0.0.1"
    });
    assert_eq!(
        (&u["family"], &u["local_address"]),
        (&"inet".into(), &"127.0.0.1".into())
    );
    assert_eq!(u["state"], "UNCONN");
    // The member and the child it forked share the socket.
    let child = z.member("udp")["child"].as_u64().unwrap();
    assert_eq!(u["pids"], serde_json::json!([z.pid("udp"), child]), "{u}");

    let path = z.member("unix")["path"].as_str().unwrap();
    let unix = connections(z, "unix");
    let s = one(&unix, "unix socket", |c| c["local_address"] == path);
    assert_eq!(s["family"], "unix");
    assert_eq!(s["state"], "LISTEN");
    assert_eq!(s["socket_type"], "stream");
    assert_eq!(s["pids"], serde_json::json!([z.pid("unix")]), "{s}");
}

/// A UDP socket in another network namespace is collected with that namespace's inode and its
/// owner, and the process record agrees.
#[test]
fn zoo_sockets_of_another_network_namespace_are_collected() {
    let z = zoo();
    let m = z.member("netns_udp");
    let (netns, zoo_netns) = (
        m["netns"].as_u64().unwrap(),
        m["zoo_netns"].as_u64().unwrap(),
    );
    assert_ne!(netns, zoo_netns);
    let port = m["port"].as_u64().unwrap();
    let udp = connections(z, "udp");
    let u = one(&udp, "udp socket in the member's namespace", |c| {
        c["netns"] == netns && c["local_port"] == port
    });
    assert_eq!(u["local_address"], "0.0.0.0");
    assert_eq!(u["pids"], serde_json::json!([z.pid("netns_udp")]), "{u}");
    // Sockets of the zoo's own namespace carry its inode.
    let port = z.member("udp")["port"].as_u64().unwrap();
    let own = one(&udp, "zoo udp socket", |c| {
        c["local_port"] == port && c["local_address"] == "127.0.0.1"
    });
    assert_eq!(own["netns"], zoo_netns);
    // The process record agrees.
    assert_eq!(z.process("netns_udp")["namespaces"]["net"], netns);
}

/// [hostile] An anonymous rwx mapping is flagged writable+executable and anonymous executable; the
/// process's ordinary mappings are not.
#[test]
fn zoo_anonymous_rwx_mapping_is_flagged() {
    let z = zoo();
    let pid = z.pid("rwx");
    let addr = z.member("rwx")["addr"].as_u64().unwrap();
    let len = z.member("rwx")["len"].as_u64().unwrap();
    let hexnum =
        |v: &Value| u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let maps: Vec<Value> = z
        .records("memory_maps")
        .into_iter()
        .filter(|m| m["pid"] == pid)
        .collect();
    assert!(maps.len() > 10, "all mappings of pid {pid} are recorded");
    let m = one(&maps, "mapping holding the rwx page", |m| {
        hexnum(&m["start"]) <= addr && addr < hexnum(&m["end"])
    });
    assert_eq!(m["perms"], "rwxp", "{m}");
    assert_eq!(m["path"], Value::Null, "{m}");
    assert_eq!(m["inode"], 0);
    assert!(hexnum(&m["end"]) - hexnum(&m["start"]) >= len);
    assert_eq!(m["writable_executable"], true, "{m}");
    assert_eq!(m["anonymous_executable"], true, "{m}");
    // Ordinary mappings of the same process are not flagged.
    assert!(maps.iter().any(|m| m["writable_executable"] == false));
}

/// [hostile] An open file whose name was unlinked is flagged deleted with its readlink text; stdin
/// (/dev/null) is not.
#[test]
fn zoo_unlinked_open_file_is_flagged_deleted() {
    let z = zoo();
    let pid = z.pid("deleted_file");
    let fd = z.member("deleted_file")["fd"].as_u64().unwrap();
    let path = z.member("deleted_file")["path"].as_str().unwrap();
    let files: Vec<Value> = z
        .records("open_files")
        .into_iter()
        .filter(|f| f["pid"] == pid)
        .collect();
    let f = one(&files, "descriptor", |f| f["fd"] == fd);
    assert_eq!(f["deleted"], true, "{f}");
    assert_eq!(f["kind"], "path");
    assert_eq!(
        f["target"],
        format!("{path} (deleted)"),
        "target is the readlink text"
    );
    // stdin is /dev/null, open and not deleted.
    let stdin = one(&files, "stdin", |f| f["fd"] == 0);
    assert_eq!(
        (&stdin["target"], &stdin["deleted"]),
        (&"/dev/null".into(), &false.into())
    );
}

/// [hostile] A /proc entry masked by a mount is reported as a hidden process; threads, vestige's
/// own included, are not.
#[test]
fn zoo_masked_proc_entry_is_reported_and_threads_are_not() {
    let z = zoo();
    let masked = z.pid("masked");
    let hidden = z.records("hidden_processes");
    let h = one(&hidden, "record for the masked pid", |h| h["pid"] == masked);
    assert_eq!(h["reason"], "proc_entry_masked_by_mount", "{h}");
    let detail = h["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("/proc/{masked}")), "{detail}");
    // Nothing else in the namespace is hidden: not the zoo's threads, not vestige's own.
    assert_eq!(hidden.len(), 1, "{hidden:#?}");
    let tids = z.member("threads")["tids"].as_array().unwrap();
    assert_eq!(
        tids.len(),
        4,
        "the threads member runs 3 threads besides its main one"
    );
}

/// Every zoo process is recorded with its parent, owner and a start time inside the run, exactly
/// one record is vestige, and nothing outside the namespace appears.
#[test]
fn zoo_members_have_parent_start_time_and_owner() {
    let z = zoo();
    let started = z.desc["started_at"].as_f64().unwrap();
    let finished = z.desc["vestige"]["finished_at"].as_f64().unwrap();
    let procs = z.records("processes");
    let names = [
        "deleted_exe",
        "linked_exe",
        "literal_exe",
        "memfd_exe",
        "tcp_server",
        "tcp_client",
        "udp",
        "unix",
        "cmdline",
        "rwx",
        "deleted_file",
        "threads",
        "comm",
        "netns_udp",
    ];
    for name in names {
        let rec = z.process(name);
        assert_eq!(rec["ppid"], 1, "{name}: the zoo is pid 1 of its namespace");
        assert_eq!(
            (&rec["uid"], &rec["user"]),
            (&0.into(), &"root".into()),
            "{name}"
        );
        assert_eq!(rec["is_collector"], false, "{name}");
        let t = epoch_seconds(rec["start_time"].as_str().unwrap());
        // btime has whole seconds, so a start time can read up to a second early.
        assert!(
            t >= started - 2.0 && t <= finished + 1.0,
            "{name}: start_time {} outside the zoo's run ({started}..{finished})",
            rec["start_time"]
        );
    }
    let threads = z.process("threads");
    assert_eq!(threads["threads"], 4);
    // Exactly one record is vestige itself, and it lives in the zoo's namespace.
    let collectors: Vec<&Value> = procs.iter().filter(|p| p["is_collector"] == true).collect();
    assert_eq!(collectors.len(), 1, "{collectors:#?}");
    assert_eq!(collectors[0]["ppid"], 1);
    let bin = vestige_bin().canonicalize().unwrap();
    assert_eq!(collectors[0]["exe"], bin.to_str().unwrap());
    // pid 1, the members, the udp member's child and vestige: nothing from the host's PID
    // namespace.
    let mut want: Vec<u64> = names.iter().map(|n| z.pid(n)).collect();
    want.extend([1, z.member("udp")["child"].as_u64().unwrap()]);
    want.push(collectors[0]["pid"].as_u64().unwrap());
    want.sort_unstable();
    let mut got: Vec<u64> = procs.iter().map(|p| p["pid"].as_u64().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, want, "exactly the zoo's processes");
    // The masked process cannot be read through /proc, so it has no processes record.
    assert!(procs.iter().all(|p| p["pid"] != z.pid("masked")));
}
