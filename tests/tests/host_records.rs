//! `logins`, `users` and `cloud_identity` end to end: utmp/wtmp/btmp files written here byte
//! by byte (glibc's 384-byte `struct utmp`) and parsed back exactly; accounts from a fixture
//! root; a fake IMDSv2 on loopback, an IMDSv1-only one, and none at all.

use e2e::{artifact_records, manifest, summary};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One utmp entry in glibc's on-disk layout (little-endian, 384 bytes).
#[allow(clippy::too_many_arguments)]
fn utmp(
    kind: i16,
    pid: i32,
    line: &str,
    user: &str,
    host: &str,
    secs: u32,
    usecs: i32,
    addr: [u8; 4],
) -> Vec<u8> {
    let mut b = vec![0u8; 384];
    b[0..2].copy_from_slice(&kind.to_le_bytes());
    b[4..8].copy_from_slice(&pid.to_le_bytes());
    b[8..8 + line.len()].copy_from_slice(line.as_bytes());
    b[44..44 + user.len()].copy_from_slice(user.as_bytes());
    b[76..76 + host.len()].copy_from_slice(host.as_bytes());
    b[340..344].copy_from_slice(&secs.to_le_bytes());
    b[344..348].copy_from_slice(&usecs.to_le_bytes());
    b[348..352].copy_from_slice(&addr);
    b
}

fn fixture_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for d in ["etc", "run", "var/log", "home/alice/.ssh"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::os::unix::fs::symlink("/run", root.join("var/run")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nsvc:x:998:998::/nonexistent:/usr/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/shadow"),
        "root:*:20000::::::\nalice:$6$s$h:20000::::::\nsvc:!:20000::::::\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nsudo:x:27:alice\nalice:x:1000:\n",
    )
    .unwrap();
    std::fs::write(
        root.join("home/alice/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAC3Nz alice@laptop\n",
    )
    .unwrap();

    let t = 1_796_000_000u32;
    let mut wtmp = Vec::new();
    wtmp.extend(utmp(
        2,
        0,
        "~",
        "reboot",
        "6.1.0-28-cloud-amd64",
        t,
        0,
        [0; 4],
    ));
    wtmp.extend(utmp(
        7,
        1201,
        "pts/0",
        "alice",
        "198.51.100.23",
        t + 100,
        500_000,
        [198, 51, 100, 23],
    ));
    wtmp.extend(utmp(8, 1201, "pts/0", "", "", t + 400, 0, [0; 4]));
    wtmp.extend(utmp(
        7,
        1300,
        "pts/1",
        "root",
        "203.0.113.9",
        t + 500,
        0,
        [203, 0, 113, 9],
    ));
    std::fs::write(root.join("var/log/wtmp"), &wtmp).unwrap();
    std::fs::write(
        root.join("var/log/btmp"),
        utmp(
            6,
            1400,
            "ssh:notty",
            "admin",
            "192.0.2.77",
            t + 600,
            0,
            [192, 0, 2, 77],
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("run/utmp"),
        utmp(
            7,
            1300,
            "pts/1",
            "root",
            "203.0.113.9",
            t + 500,
            0,
            [203, 0, 113, 9],
        ),
    )
    .unwrap();
    root
}

const SPEC: &str = "name: host-records\nartifacts:\n  - name: logins\n    collect: logins\n  - name: users\n    collect: users\n  - name: cloud_identity\n    collect: cloud_identity\n";

fn collect(dir: &Path, root: &Path, imds: Option<&str>) -> (PathBuf, Duration) {
    let spec = dir.join("spec.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let out_dir = dir.join("out");
    let mut cmd = Command::new(e2e::vestige_bin());
    cmd.args(["collect", "--quiet", "--imds-timeout", "1s", "--spec"])
        .arg(&spec)
        .arg("--root")
        .arg(root)
        .arg("--out")
        .arg(&out_dir);
    match imds {
        Some(endpoint) => cmd
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint)
            .env_remove("AWS_EC2_METADATA_DISABLED"),
        None => cmd.env("AWS_EC2_METADATA_DISABLED", "true"),
    };
    let t0 = Instant::now();
    let out = cmd.output().unwrap();
    let took = t0.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        PathBuf::from(summary(&out)["location"].as_str().unwrap()),
        took,
    )
}

/// utmp, wtmp and btmp from a fixture root read back as current, boot, login and failed records
/// with users, ttys, addresses, times and durations; /var/run/utmp is read once.
#[test]
fn logins_parse_back_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fixture_root(tmp.path());
    let (loc, _) = collect(tmp.path(), &root, None);
    let recs = artifact_records(&loc, "logins");
    let brief: Vec<(String, String, String, String)> = recs
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap().to_owned(),
                r["session_type"].as_str().unwrap().to_owned(),
                r["user"].as_str().unwrap().to_owned(),
                r["tty"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let s = |a: &str, b: &str, c: &str, d: &str| {
        (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned())
    };
    // /var/run/utmp is the same file as /run/utmp: read once.
    assert_eq!(
        brief,
        vec![
            s("/run/utmp", "current", "root", "pts/1"),
            s("/var/log/wtmp", "boot", "reboot", "~"),
            s("/var/log/wtmp", "login", "alice", "pts/0"),
            s("/var/log/wtmp", "login", "root", "pts/1"),
            s("/var/log/btmp", "failed", "admin", "ssh:notty"),
        ]
    );
    let alice = &recs[2];
    assert_eq!(alice["remote_host"], "198.51.100.23");
    assert_eq!(alice["remote_address"], "198.51.100.23");
    assert_eq!(alice["pid"], 1201);
    assert_eq!(alice["login_time"], "2026-11-30T00:55:00.5Z");
    assert_eq!(alice["logout_time"], "2026-11-30T01:00:00Z");
    assert_eq!(alice["end_reason"], "logout");
    assert_eq!(alice["duration_seconds"], 300);
    assert!(recs[3]["logout_time"].is_null(), "still logged in");
    assert_eq!(recs[1]["remote_host"], "6.1.0-28-cloud-amd64");
    assert_eq!(recs[4]["remote_address"], "192.0.2.77");
}

/// [security] Accounts from a fixture root are recorded with ids, home, shell, password scheme,
/// keys and groups, and no password hash reaches the evidence.
#[test]
fn users_record_accounts_without_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fixture_root(tmp.path());
    let (loc, _) = collect(tmp.path(), &root, None);
    let recs = artifact_records(&loc, "users");
    assert_eq!(recs.len(), 3);
    let alice = recs.iter().find(|r| r["user"] == "alice").unwrap();
    assert_eq!(alice["uid"], 1000);
    assert_eq!(alice["gid"], 1000);
    assert_eq!(alice["home"], "/home/alice");
    assert_eq!(alice["shell"], "/bin/bash");
    assert_eq!(alice["has_password"], true);
    assert_eq!(alice["password_scheme"], "sha512");
    assert_eq!(alice["has_authorized_keys"], true);
    assert_eq!(alice["authorized_keys"], 1);
    assert_eq!(alice["groups"], serde_json::json!(["sudo"]));
    let root_rec = recs.iter().find(|r| r["user"] == "root").unwrap();
    assert_eq!(root_rec["has_password"], false);
    assert_eq!(root_rec["has_authorized_keys"], false);
    let raw = std::fs::read(loc.join("artifacts/users.jsonl.zst")).unwrap();
    let text = String::from_utf8(zstd::decode_all(&raw[..]).unwrap()).unwrap();
    assert!(!text.contains("$6$s$h"), "no password hash in evidence");
}

/// A fake IMDS: `v2` serves tokens; otherwise only IMDSv1 GETs.
fn fake_imds(v2: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut has_token = false;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                has_token |= h
                    .to_ascii_lowercase()
                    .starts_with("x-aws-ec2-metadata-token: t0k");
            }
            let mut parts = first.split_whitespace();
            let method = parts.next().unwrap_or_default().to_owned();
            let path = parts.next().unwrap_or_default().to_owned();
            let doc = r#"{"accountId":"210987654321","availabilityZone":"us-east-2a","imageId":"ami-0fixture","instanceId":"i-0fake00000000beef","instanceType":"t3.small","region":"us-east-2"}"#;
            let (status, body) = match (method.as_str(), path.as_str()) {
                ("PUT", "/latest/api/token") if v2 => (200, "t0k".to_owned()),
                ("PUT", _) => (403, String::new()),
                (_, _) if v2 && !has_token => (401, String::new()),
                (_, "/latest/dynamic/instance-identity/document") => (200, doc.to_owned()),
                (_, "/latest/dynamic/instance-identity/pkcs7") => {
                    (200, "MIAGCSqGSIb3DQEHAqCAMIACAQEx".to_owned())
                }
                (_, "/latest/meta-data/iam/security-credentials/") => (200, "ir-role".to_owned()),
                _ => (404, String::new()),
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

/// Over a local IMDSv2 server the cloud identity record is complete and the manifest's host block
/// and host id come from it.
#[test]
fn cloud_identity_from_fake_imdsv2_and_manifest_host_block() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fixture_root(tmp.path());
    let (loc, _) = collect(tmp.path(), &root, Some(&fake_imds(true)));
    let r = &artifact_records(&loc, "cloud_identity")[0];
    assert_eq!(r["available"], true, "{r}");
    assert_eq!(r["instance_id"], "i-0fake00000000beef");
    assert_eq!(r["region"], "us-east-2");
    assert_eq!(r["availability_zone"], "us-east-2a");
    assert_eq!(r["ami_id"], "ami-0fixture");
    assert_eq!(r["instance_type"], "t3.small");
    assert_eq!(r["iam_role"], "ir-role");
    assert_eq!(r["identity_pkcs7"], "MIAGCSqGSIb3DQEHAqCAMIACAQEx");
    assert!(r["identity_document"]
        .as_str()
        .unwrap()
        .contains("i-0fake00000000beef"));
    let m = manifest(&loc);
    assert_eq!(m["host"]["instance_id"], "i-0fake00000000beef");
    assert_eq!(m["host"]["account_id"], "210987654321");
    assert_eq!(m["host"]["region"], "us-east-2");
    assert_eq!(m["host_id"], "i-0fake00000000beef");
}

/// A metadata service refusing IMDSv2 tokens (403) is recorded unavailable with the reason, and the
/// manifest has no instance id.
#[test]
fn imdsv1_only_is_recorded_unavailable() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fixture_root(tmp.path());
    let (loc, _) = collect(tmp.path(), &root, Some(&fake_imds(false)));
    let r = &artifact_records(&loc, "cloud_identity")[0];
    assert_eq!(r["available"], false);
    assert!(r["reason"].as_str().unwrap().contains("403"), "{r}");
    assert!(r["instance_id"].is_null());
    assert!(manifest(&loc)["host"]["instance_id"].is_null());
}

/// [fault] With nothing behind the metadata address the identity is unavailable within a second;
/// with IMDS disabled the reason says so.
#[test]
fn no_imds_at_all_is_unavailable_within_one_second() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fixture_root(tmp.path());
    // A port with nothing behind it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (loc, _) = collect(tmp.path(), &root, Some(&format!("http://127.0.0.1:{port}")));
    let r = &artifact_records(&loc, "cloud_identity")[0];
    assert_eq!(r["available"], false);
    assert!(r["elapsed_ms"].as_u64().unwrap() < 1000, "{r}");
    let entry = manifest(&loc)["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "cloud_identity")
        .cloned()
        .unwrap();
    assert!(entry["duration_ms"].as_u64().unwrap() < 1000, "{entry}");
    // The same with IMDS disabled.
    let tmp2 = tempfile::tempdir().unwrap();
    let root2 = fixture_root(tmp2.path());
    let (loc2, _) = collect(tmp2.path(), &root2, None);
    let r2 = &artifact_records(&loc2, "cloud_identity")[0];
    assert_eq!(r2["available"], false);
    assert!(r2["reason"]
        .as_str()
        .unwrap()
        .contains("AWS_EC2_METADATA_DISABLED"));
}
