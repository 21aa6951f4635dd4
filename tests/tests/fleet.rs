//! Hunting across a fleet: ten collections under one case directory — three process zoos and
//! seven quiet hosts, each in private PID, mount, UTS and network namespaces so that a
//! collection holds only what was planted there — and every query of the hunt pack
//! (packaging/hunts/*.sql) run through the local engine over the schema of the Athena table
//! definitions (packaging/athena/tables.sql). Each query must return the planted rows and
//! only those.

use e2e::zoo::{run_zoo_as, ZooRun};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const CASE: &str = "CASE-0042";
/// Every login planted after this time is "new"; one older login is planted too.
const SINCE: &str = "2026-11-30T00:00:00Z";
/// The remote address the "connections to an address" hunt looks for.
const PLANTED_ADDRESS: &str = "198.51.100.23";
/// The kernel taint planted on one host: P (proprietary), O (out-of-tree), E (unsigned).
const PLANTED_TAINT: u64 = 1 | 1 << 12 | 1 << 13;

const ZOO_SPEC: &str = "name: fleet-zoo
artifacts:
  - {name: processes, collect: processes}
  - {name: connections, collect: connections}
  - {name: memory_maps, collect: memory_maps}
  - {name: open_files, collect: open_files}
  - {name: hidden_processes, collect: hidden_processes}
  - {name: kernel_modules, collect: kernel_modules}
  - {name: system, collect: system}
";

const HOST_SPEC: &str = "name: fleet-host
artifacts:
  - {name: processes, collect: processes}
  - {name: connections, collect: connections}
  - {name: memory_maps, collect: memory_maps}
  - {name: hidden_processes, collect: hidden_processes}
  - {name: kernel_modules, collect: kernel_modules}
  - {name: system, collect: system}
  - {name: logins, collect: logins}
  - {name: users, collect: users}
";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// One glibc `struct utmp` record (384 bytes, little-endian): a USER_PROCESS login.
fn wtmp_login(user: &str, line: &str, host: &str, secs: u32, addr: [u8; 4]) -> Vec<u8> {
    let mut b = vec![0u8; 384];
    b[0..2].copy_from_slice(&7i16.to_le_bytes());
    b[4..8].copy_from_slice(&4242i32.to_le_bytes());
    b[8..8 + line.len()].copy_from_slice(line.as_bytes());
    b[44..44 + user.len()].copy_from_slice(user.as_bytes());
    b[76..76 + host.len()].copy_from_slice(host.as_bytes());
    b[340..344].copy_from_slice(&secs.to_le_bytes());
    b[348..352].copy_from_slice(&addr);
    b
}

/// A quiet host: `plant` (sh) runs first in the host's namespaces and writes the pids it
/// planted to `$WORK/pids/NAME`; then vestige collects into `$WORK/out`.
fn quiet_host(dir: &Path, host: &str, plant: &str, root_setup: impl Fn(&Path)) -> PathBuf {
    let work = dir.join(host);
    let root = work.join("root");
    for d in ["etc", "var/log", "pids"] {
        std::fs::create_dir_all(if d == "pids" {
            work.join(d)
        } else {
            root.join(d)
        })
        .unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nops:x:1000:1000:Ops:/home/ops:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nops:x:1000:\n").unwrap();
    std::fs::write(root.join("var/log/wtmp"), b"").unwrap();
    root_setup(&root);
    let spec = work.join("spec.yaml");
    std::fs::write(&spec, HOST_SPEC).unwrap();
    let script = format!(
        r#"set -eu
hostname "$HOST"
ip link set lo up
mount -t tmpfs tmpfs /dev/shm
wait_exec() {{
  i=0
  while [ "$(readlink "/proc/$1/exe" 2>/dev/null)" != "$2" ]; do
    i=$((i + 1)); [ "$i" -lt 200 ] || {{ echo "pid $1 never ran $2" >&2; exit 1; }}
    sleep 0.05
  done
}}
{plant}
exec "$VESTIGE" collect --quiet --spec "$WORK/spec.yaml" --root "$WORK/root" --out "$WORK/out"
"#
    );
    let out = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            "--uts",
            "--net",
            "--kill-child",
            "sh",
            "-c",
            &script,
        ])
        .env("HOST", host)
        .env("WORK", &work)
        .env("VESTIGE", e2e::vestige_bin())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{host}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = e2e::summary(&out);
    assert_eq!(summary["errors"], 0, "{host}: {summary}");
    PathBuf::from(summary["location"].as_str().unwrap())
}

fn planted_pid(dir: &Path, host: &str, name: &str) -> u64 {
    let text = std::fs::read_to_string(dir.join(host).join("pids").join(name)).unwrap();
    text.trim().parse().unwrap()
}

/// Moves a collection root to CASE/<host>/<collection-id>/.
fn file_under_case(case_dir: &Path, root: &Path, host: &str) {
    let dest = case_dir.join(host).join(root.file_name().unwrap());
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::rename(root, &dest).unwrap();
}

fn hunt(case_dir: &Path, query: &str, params: &[(&str, &str)]) -> Vec<Value> {
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join("packaging/hunts/hunt.py"))
        .args(["--format", "jsonl"])
        .arg(repo().join("packaging/hunts").join(query))
        .arg(case_dir);
    for (k, v) in params {
        cmd.arg("--param").arg(format!("{k}={v}"));
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn host_pid_set(rows: &[Value]) -> BTreeSet<(String, Option<u64>)> {
    rows.iter()
        .map(|r| {
            (
                r["host_id"].as_str().unwrap().to_string(),
                r["pid"].as_u64(),
            )
        })
        .collect()
}

fn set(items: &[(&str, Option<u64>)]) -> BTreeSet<(String, Option<u64>)> {
    items.iter().map(|(h, p)| (h.to_string(), *p)).collect()
}

/// The hunt queries over ten collections under one case (three process zoos, seven quiet
/// hosts with one intrusion trace planted in six) return exactly the planted rows.
#[test]
fn hunt_pack_finds_the_planted_rows_and_only_those() {
    if std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .ok()
        != Some(0)
    {
        panic!("the fleet test needs root (namespaces, mounts)");
    }
    let _ = Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .ok()
        .filter(|s| s.success())
        .expect("python3 with duckdb (pip install duckdb)");
    // Not under /tmp: the zoo's executables must not look like ones run from a temp dir.
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let case_dir = tmp.path().join("cases").join(CASE);
    let dir = tmp.path().join("hosts");

    // Three zoos, each a host of its own.
    let zoo_spec = tmp.path().join("zoo-spec.yaml");
    std::fs::write(&zoo_spec, ZOO_SPEC).unwrap();
    let mut zoos: Vec<(String, ZooRun)> = Vec::new();
    for name in ["zoo-a", "zoo-b", "zoo-c"] {
        let run = run_zoo_as(
            &dir.join(name),
            &["--spec", zoo_spec.to_str().unwrap()],
            Some(name),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(run.summary["host_id"], name);
        file_under_case(&case_dir, &run.root, name);
        zoos.push((name.to_string(), run));
    }

    // Seven quiet hosts, six of them with one thing planted.
    let sleep = "$(readlink -f \"$(command -v sleep)\")";
    let plants: Vec<(&str, String)> = vec![
        (
            "web-1",
            format!(
                "env LD_PRELOAD=/opt/hook/libhook.so sleep 300 2>/dev/null &\n\
                 echo $! > \"$WORK/pids/preload\"; wait_exec $! {sleep}"
            ),
        ),
        (
            "web-2",
            format!(
                "cp {sleep} /dev/shm/kworker\n/dev/shm/kworker 300 &\n\
                 echo $! > \"$WORK/pids/shm\"; wait_exec $! /dev/shm/kworker"
            ),
        ),
        ("web-3", String::new()),
        // /etc as this host's processes see it, with an /etc/ld.so.preload added.
        (
            "web-4",
            "cp -a /etc \"$WORK/etc\"\n\
             printf '# added by the intruder\\n/usr/lib/libsystem.so\\n' > \"$WORK/etc/ld.so.preload\"\n\
             mount --bind \"$WORK/etc\" /etc"
                .to_string(),
        ),
        (
            "web-5",
            format!(
                "ip addr add {PLANTED_ADDRESS}/32 dev lo\n\
                 python3 -c '\n\
import os, socket, time\n\
s = socket.socket(); s.bind((\"{PLANTED_ADDRESS}\", 4444)); s.listen(1)\n\
c = socket.create_connection((\"{PLANTED_ADDRESS}\", 4444)); a, _ = s.accept()\n\
open(os.environ[\"WORK\"] + \"/pids/ready\", \"w\").write(str(c.getsockname()[1]))\n\
time.sleep(300)' &\n\
                 echo $! > \"$WORK/pids/listener\"\n\
                 i=0; while [ ! -s \"$WORK/pids/ready\" ]; do i=$((i+1)); [ $i -lt 200 ]; sleep 0.05; done"
            ),
        ),
        (
            "web-6",
            "cp -a /etc \"$WORK/etc\"\n\
             printf '# nothing preloaded\\n' > \"$WORK/etc/ld.so.preload\"\n\
             mount --bind \"$WORK/etc\" /etc"
                .to_string(),
        ),
        // The kernel as this host's collector sees it: tainted by a proprietary, out-of-tree,
        // unsigned module.
        (
            "web-7",
            format!(
                "printf '{PLANTED_TAINT}\\n' > \"$WORK/tainted\"\n\
                 mount --bind \"$WORK/tainted\" /proc/sys/kernel/tainted"
            ),
        ),
    ];
    let new_login = 1_796_000_000u32; // 2026-11-30T...; after SINCE
    let old_login = 1_700_000_000u32; // 2023-11-14, before SINCE
    for (host, plant) in &plants {
        let root = quiet_host(&dir, host, plant, |root| {
            if *host == "web-3" {
                let mut w = wtmp_login("ops", "pts/0", "203.0.113.7", old_login, [10, 0, 0, 9]);
                w.extend(wtmp_login(
                    "root",
                    "pts/1",
                    "203.0.113.7",
                    new_login,
                    [203, 0, 113, 7],
                ));
                std::fs::write(root.join("var/log/wtmp"), w).unwrap();
            }
        });
        file_under_case(&case_dir, &root, host);
    }

    // Ten collections under one case prefix.
    let manifests: Vec<_> = walk(&case_dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "manifest.json"))
        .collect();
    assert_eq!(manifests.len(), 10, "{manifests:?}");

    let zoo_pid = |zoo: &str, member: &str| -> u64 {
        zoos.iter().find(|(n, _)| n == zoo).unwrap().1.pid(member)
    };
    let zoo_names = ["zoo-a", "zoo-b", "zoo-c"];

    // Deleted or memfd executables: three per zoo; the binary whose *name* ends in
    // " (deleted)" is not one of them.
    let rows = hunt(&case_dir, "deleted_executables.sql", &[]);
    let mut want = BTreeSet::new();
    for z in zoo_names {
        for m in ["deleted_exe", "linked_exe", "memfd_exe"] {
            want.insert((z.to_string(), Some(zoo_pid(z, m))));
        }
    }
    assert_eq!(host_pid_set(&rows), want, "{rows:#?}");
    assert!(rows.iter().all(|r| r["case_id"] == CASE));
    assert!(rows.iter().all(|r| r["exe_sha256"].is_string()));

    // Executables in writable directories: only web-2's copy in /dev/shm.
    let rows = hunt(&case_dir, "writable_dir_executables.sql", &[]);
    assert_eq!(
        host_pid_set(&rows),
        set(&[("web-2", Some(planted_pid(&dir, "web-2", "shm")))]),
        "{rows:#?}"
    );
    assert_eq!(rows[0]["exe"], "/dev/shm/kworker");

    // RWX / anonymous executable memory: the zoo's rwx member, at the address it reported.
    let rows = hunt(&case_dir, "rwx_mappings.sql", &[]);
    let want: BTreeSet<_> = zoo_names
        .iter()
        .map(|z| (z.to_string(), Some(zoo_pid(z, "rwx"))))
        .collect();
    assert_eq!(host_pid_set(&rows), want, "{rows:#?}");
    for (z, run) in &zoos {
        let addr = run.member("rwx")["addr"].as_u64().unwrap();
        assert!(
            rows.iter().any(|r| r["host_id"] == z.as_str()
                && r["start"] == format!("0x{addr:x}")
                && r["perms"].as_str().unwrap().starts_with("rwx")),
            "{z}: no rwx row at 0x{addr:x}: {rows:#?}"
        );
    }

    // LD_PRELOAD: web-1's process environment and web-4's /etc/ld.so.preload (web-6's file
    // holds only a comment).
    let rows = hunt(&case_dir, "ld_preload.sql", &[]);
    assert_eq!(
        host_pid_set(&rows),
        set(&[
            ("web-1", Some(planted_pid(&dir, "web-1", "preload"))),
            ("web-4", None)
        ]),
        "{rows:#?}"
    );
    let env_row = rows.iter().find(|r| r["host_id"] == "web-1").unwrap();
    assert_eq!(env_row["value"], "LD_PRELOAD=/opt/hook/libhook.so");

    // Unusual listeners: each zoo's TCP listener and its wildcard UDP socket (in a network
    // namespace of its own), and web-5's port 4444.
    let rows = hunt(&case_dir, "unusual_listeners.sql", &[]);
    let got: BTreeSet<(String, String, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["host_id"].as_str().unwrap().to_string(),
                r["protocol"].as_str().unwrap().to_string(),
                r["local_port"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut want = BTreeSet::new();
    for (z, run) in &zoos {
        let port = |m: &str| run.member(m)["port"].as_u64().unwrap();
        want.insert((z.clone(), "tcp".to_string(), port("tcp_server")));
        want.insert((z.clone(), "udp".to_string(), port("netns_udp")));
    }
    want.insert(("web-5".to_string(), "tcp".to_string(), 4444));
    assert_eq!(got, want, "{rows:#?}");
    let web5 = rows.iter().find(|r| r["host_id"] == "web-5").unwrap();
    assert_eq!(web5["pid"], planted_pid(&dir, "web-5", "listener"));
    assert_eq!(web5["comm"], "python3");

    // Who talks to the planted address: web-5's client and the accepted socket, both owned by
    // the planted process.
    let rows = hunt(
        &case_dir,
        "connections_to_address.sql",
        &[("address", PLANTED_ADDRESS)],
    );
    let client_port: u64 = std::fs::read_to_string(dir.join("web-5/pids/ready"))
        .unwrap()
        .parse()
        .unwrap();
    let got: BTreeSet<(String, u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["host_id"].as_str().unwrap().to_string(),
                r["local_port"].as_u64().unwrap(),
                r["remote_port"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: BTreeSet<_> = [
        ("web-5".to_string(), client_port, 4444),
        ("web-5".to_string(), 4444, client_port),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "{rows:#?}");
    let listener = planted_pid(&dir, "web-5", "listener");
    assert!(rows.iter().all(|r| r["pid"] == listener), "{rows:#?}");

    // New logins: web-3's recent root login only, not the older one.
    let rows = hunt(&case_dir, "new_logins.sql", &[("since", SINCE)]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["host_id"], "web-3");
    assert_eq!(rows[0]["user"], "root");
    assert_eq!(rows[0]["remote_host"], "203.0.113.7");
    let all = hunt(
        &case_dir,
        "new_logins.sql",
        &[("since", "1970-01-01T00:00:00Z")],
    );
    assert_eq!(all.len(), 2, "{all:#?}");

    // Hidden processes: each zoo's process whose /proc entry is masked by a bind mount.
    let rows = hunt(&case_dir, "hidden_processes.sql", &[]);
    let want: BTreeSet<_> = zoo_names
        .iter()
        .map(|z| (z.to_string(), Some(zoo_pid(z, "masked"))))
        .collect();
    assert_eq!(host_pid_set(&rows), want, "{rows:#?}");

    // Kernel taint: web-7's collector read the planted value through a bind mount over
    // /proc/sys/kernel/tainted; every other host read this machine's own value. Modules cannot
    // be planted (no loadable-module support here), so the module rows must agree with the
    // records themselves.
    let rows = hunt(&case_dir, "kernel_taint.sql", &[]);
    let real_taint: u64 = std::fs::read_to_string("/proc/sys/kernel/tainted")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut want = BTreeSet::new();
    for m in &manifests {
        let root = m.parent().unwrap();
        let host = root
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let expected = if host == "web-7" {
            PLANTED_TAINT
        } else {
            real_taint
        };
        let system = e2e::artifact_records(root, "system");
        assert_eq!(system.len(), 1, "{host}");
        assert_eq!(system[0]["tainted"], expected, "{host}");
        if expected != 0 {
            want.insert((host.to_string(), "kernel".to_string()));
        }
        for r in e2e::artifact_records(root, "kernel_modules") {
            if r["taint"].as_str().is_some_and(|t| !t.is_empty())
                || r["missing_from_proc_modules"] == true
            {
                want.insert((host.to_string(), "module".to_string()));
            }
        }
    }
    let got: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["host_id"].as_str().unwrap().to_string(),
                r["source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want, "{rows:#?}");
    let kernel_hosts: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["source"] == "kernel")
        .map(|r| r["host_id"].as_str().unwrap())
        .collect();
    if real_taint == 0 {
        assert_eq!(kernel_hosts, BTreeSet::from(["web-7"]), "{rows:#?}");
    } else {
        assert!(kernel_hosts.contains("web-7"), "{rows:#?}");
    }
    let web7 = rows
        .iter()
        .find(|r| r["host_id"] == "web-7" && r["source"] == "kernel")
        .unwrap();
    assert_eq!(web7["taint"], PLANTED_TAINT.to_string());
    let detail = web7["detail"].as_str().unwrap();
    for flag in [
        "P: proprietary module loaded",
        "O: externally-built (out-of-tree) module loaded",
        "E: unsigned module loaded",
    ] {
        assert!(detail.contains(flag), "{flag} not in {detail}");
    }
}

/// [security] A record artifact with a forged record appended is left out of hunts, and the hunt
/// names it as not matching its hash.
#[test]
fn a_tampered_record_artifact_is_left_out_and_named() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let out = Command::new(e2e::vestige_bin())
        .args(["collect", "--quiet", "--spec", "minimal", "--out"])
        .arg(tmp.path().join(CASE))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let root = PathBuf::from(e2e::summary(&out)["location"].as_str().unwrap());
    let hunt_count = |query: &str| -> (usize, String) {
        let out = Command::new("python3")
            .arg(repo().join("packaging/hunts/hunt.py"))
            .args(["--format", "jsonl"])
            .arg(repo().join("packaging/hunts").join(query))
            .arg(tmp.path().join(CASE))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        (
            String::from_utf8_lossy(&out.stdout).lines().count(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    std::fs::write(tmp.path().join("all.sql"), "SELECT pid FROM processes").unwrap();
    let q = tmp.path().join("all.sql");
    let (before, _) = hunt_count(q.to_str().unwrap());
    assert!(before > 0);
    // Append a forged record as a second zstd frame: still valid zstd JSONL, wrong hash.
    let forged = zstd::encode_all(&b"{\"pid\": 999999}\n"[..], 3).unwrap();
    let path = root.join("artifacts/processes.jsonl.zst");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(forged);
    std::fs::write(&path, bytes).unwrap();
    let (after, stderr) = hunt_count(q.to_str().unwrap());
    assert_eq!(after, 0, "the tampered artifact must not be read");
    assert!(
        stderr.contains("processes.jsonl.zst") && stderr.contains("does not match"),
        "{stderr}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The Athena DDL and hunt queries parse and match the local engine, as
/// tests/support/check_athena_ddl.py checks.
#[test]
fn athena_ddl_and_hunts_parse_and_match_the_local_engine() {
    let out = Command::new("python3")
        .arg(repo().join("tests/support/check_athena_ddl.py"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok ddl processes"), "{stdout}");
    assert!(
        stdout.contains("ok hunt deleted_executables.sql"),
        "{stdout}"
    );
}

/// Collections written by `--s3-caller-prefix` under one case prefix (the layout the fleet
/// document uses), then indexed for Athena: one symlink manifest per record artifact, pointing
/// at the object whose hash the manifest holds; a manifest out of place is left out.
#[test]
fn case_prefix_in_s3_is_indexed_for_athena() {
    use e2e::moto::{aws_env, Moto};
    let moto = Moto::start();
    moto.create_locked_bucket("evidence-test", "GOVERNANCE", 1);
    moto.boto("s3.create_bucket(Bucket='analysis-test')");
    let mut roots = Vec::new();
    for _ in 0..2 {
        let mut cmd = Command::new(e2e::vestige_bin());
        aws_env(&mut cmd);
        let out = cmd
            .args([
                "collect",
                "--quiet",
                "--spec",
                "minimal",
                "--s3-caller-prefix",
            ])
            .args(["--s3", &format!("s3://evidence-test/evidence/{CASE}")])
            .args(["--endpoint-url", &moto.endpoint()])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let location = e2e::summary(&out)["location"].as_str().unwrap().to_string();
        roots.push(location);
    }
    // evidence/CASE/<caller user id>/<host>/<collection>
    let caller = moto.boto("print(boto3.client('sts', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1').get_caller_identity()['UserId'])");
    let caller = caller.trim();
    assert!(!caller.is_empty());
    for r in &roots {
        let rest = r
            .strip_prefix(&format!("s3://evidence-test/evidence/{CASE}/{caller}/"))
            .unwrap_or_else(|| panic!("{r} is not below the case and caller"));
        assert_eq!(rest.split('/').count(), 2, "{r}");
    }
    // A manifest whose collection id does not match its place is not indexed.
    moto.boto(&format!(
        "s3.put_object(Bucket='evidence-test', Key='evidence/{CASE}/forged/manifest.json', \
         Body=b'{{\"host_id\": \"h\", \"collection_id\": \"other\", \"artifacts\": []}}', \
         ChecksumAlgorithm='SHA256')"
    ));

    let mut cmd = Command::new("python3");
    aws_env(&mut cmd);
    let out = cmd
        .arg(repo().join("packaging/athena/index-case.py"))
        .args([
            "index",
            "--evidence",
            &format!("s3://evidence-test/evidence/{CASE}"),
        ])
        .args(["--index", "s3://analysis-test/vestige-index"])
        .args(["--endpoint-url", &moto.endpoint()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "one manifest left out: {stderr}"
    );
    assert!(stderr.contains("forged/manifest.json"), "{stderr}");
    assert!(
        stderr.contains("2 collections, 4 record artifacts indexed, 1 left out"),
        "{stderr}"
    );
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    assert!(stdout
        .lines()
        .all(|l| l.starts_with("ALTER TABLE `vestige`.`")
            && l.contains("ADD IF NOT EXISTS PARTITION")));

    let listing = moto.list("analysis-test", "vestige-index/");
    let keys: Vec<String> = listing.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for r in &roots {
        let prefix = r.strip_prefix("s3://evidence-test/").unwrap();
        let manifest: Value =
            serde_json::from_slice(&moto.get("evidence-test", &format!("{prefix}/manifest.json")))
                .unwrap();
        for table in ["processes", "connections"] {
            let link = format!(
                "vestige-index/{table}/case_id={CASE}/host_id={}/collection_id={}/symlink.txt",
                manifest["host_id"].as_str().unwrap(),
                manifest["collection_id"].as_str().unwrap()
            );
            assert!(keys.contains(&link), "{link} not in {keys:?}");
            let target = String::from_utf8(moto.get("analysis-test", &link)).unwrap();
            let key = target
                .trim()
                .strip_prefix("s3://evidence-test/")
                .unwrap()
                .to_string();
            let entry = manifest["artifacts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| {
                    a["kind"] == table
                        && a["path"]
                            .as_str()
                            .is_some_and(|p| p.ends_with(".jsonl.zst"))
                })
                .unwrap();
            assert_eq!(key, format!("{prefix}/{}", entry["path"].as_str().unwrap()));
            assert_eq!(
                e2e::sha256_hex(&moto.get("evidence-test", &key)),
                entry["stored_sha256"].as_str().unwrap()
            );
        }
    }
}

/// `fleet.py collect` against moto's SSM: the collect document is registered, three of four
/// instances carry the tag, and the command reaches exactly those three with the rate controls
/// and parameters given.
#[test]
fn fleet_collect_sends_the_document_to_tagged_instances_with_rate_controls() {
    use e2e::moto::{aws_env, Moto};
    let moto = Moto::start();
    let doc = std::fs::read_to_string(repo().join("packaging/ssm/vestige-collect.yaml")).unwrap();
    let tagged = moto.boto(&format!(
        "ssm = boto3.client('ssm', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1')\n\
         ec2 = boto3.client('ec2', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1')\n\
         ssm.create_document(Content={doc:?}, Name='vestige-collect', DocumentType='Command', DocumentFormat='YAML')\n\
         tags = [{{'ResourceType': 'instance', 'Tags': [{{'Key': 'vestige:fleet', 'Value': 'web'}}]}}]\n\
         r = ec2.run_instances(ImageId='ami-12c6146b', MinCount=3, MaxCount=3, TagSpecifications=tags)\n\
         ec2.run_instances(ImageId='ami-12c6146b', MinCount=1, MaxCount=1)\n\
         print(json.dumps(sorted(i['InstanceId'] for i in r['Instances'])))"
    ));
    let tagged: Vec<String> = serde_json::from_str(tagged.trim()).unwrap();
    assert_eq!(tagged.len(), 3);

    let fleet = |args: &[&str]| {
        let mut cmd = Command::new("python3");
        aws_env(&mut cmd);
        cmd.env("AWS_ENDPOINT_URL", moto.endpoint())
            .arg(repo().join("packaging/fleet/fleet.py"))
            .args(args)
            .output()
            .unwrap()
    };
    // Usage errors are caught before anything is sent.
    for bad in [
        &[
            "collect",
            "--bucket",
            "evidence-test",
            "--case",
            "IR 9",
            "--tag",
            "a=b",
        ][..],
        &["collect", "--bucket", "evidence-test", "--case", "IR-9"],
        &[
            "collect",
            "--bucket",
            "evidence-test",
            "--case",
            "IR-9",
            "--tag",
            "a=b",
            "--max-concurrency",
            "0",
        ],
        &[
            "collect",
            "--bucket",
            "evidence-test",
            "--case",
            "IR-9",
            "--instance-ids",
            "i-1;reboot",
        ],
        // Below what vestige-collect accepts (its deadline would be under 15 s).
        &[
            "collect",
            "--bucket",
            "evidence-test",
            "--case",
            "IR-9",
            "--tag",
            "a=b",
            "--execution-timeout",
            "20",
        ],
    ] {
        let out = fleet(bad);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bad:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = fleet(&[
        "collect",
        "--bucket",
        "evidence-test",
        "--case",
        "IR-9",
        "--tag",
        "vestige:fleet=web",
        "--max-concurrency",
        "2",
        "--max-errors",
        "1",
        "--profile",
        "minimal",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let command_id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(command_id.len(), 36, "{command_id}");

    let sent: Value = serde_json::from_str(
        moto.boto(&format!(
            "ssm = boto3.client('ssm', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1')\n\
             c = ssm.list_commands(CommandId='{command_id}')['Commands'][0]\n\
             print(json.dumps(c, default=str))"
        ))
        .trim(),
    )
    .unwrap();
    assert_eq!(sent["DocumentName"], "vestige-collect");
    assert_eq!(sent["MaxConcurrency"], "2");
    assert_eq!(sent["MaxErrors"], "1");
    assert_eq!(
        sent["Targets"],
        serde_json::json!([{"Key": "tag:vestige:fleet", "Values": ["web"]}])
    );
    let p = &sent["Parameters"];
    assert_eq!(p["Bucket"], serde_json::json!(["evidence-test"]));
    assert_eq!(p["CaseId"], serde_json::json!(["IR-9"]));
    assert_eq!(p["Prefix"], serde_json::json!(["evidence"]));
    assert_eq!(p["Profile"], serde_json::json!(["minimal"]));
    let mut reached: Vec<String> = sent["InstanceIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    reached.sort();
    assert_eq!(reached, tagged, "the untagged instance must not be reached");
}

/// `fleet.py summary` over GetCommandInvocation responses: two instances with real vestige
/// summary lines (the one after a stderr-free stdout's other lines), one where the document
/// refused to run, one that timed out. One row each; exit 1 because two have no manifest.
#[test]
fn fleet_summary_has_one_row_per_instance_with_location_and_manifest_hash() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut lines = Vec::new();
    for _ in 0..2 {
        let out = Command::new(e2e::vestige_bin())
            .args(["collect", "--quiet", "--spec", "minimal", "--out"])
            .arg(tmp.path().join("out"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        lines.push(text.lines().last().unwrap().to_string());
    }
    let summaries: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let invocations = serde_json::json!([
        {"InstanceId": "i-0bbbbbbbbbbbbbbb2", "Status": "Success", "ResponseCode": 0,
         "StandardOutputContent": format!("{}\n", lines[1]), "StandardErrorContent": ""},
        {"InstanceId": "i-0aaaaaaaaaaaaaaa1", "Status": "Success", "ResponseCode": 0,
         "StandardOutputContent": format!("note: something else first\n{}\n", lines[0]),
         "StandardErrorContent": "2026-12-04T00:00:00Z INFO collected artifact=processes\n"},
        {"InstanceId": "i-0ccccccccccccccc3", "Status": "Failed", "ResponseCode": 3,
         "StandardOutputContent": "{\"error\":\"vestige is not installed at /opt/vestige/bin/vestige and AgentS3Uri is empty\",\"manifest_sha256\":null}\n",
         "StandardErrorContent": "vestige-collect: vestige is not installed\n"},
        {"InstanceId": "i-0ddddddddddddddd4", "Status": "TimedOut", "ResponseCode": -1,
         "StatusDetails": "DeliveryTimedOut", "StandardOutputContent": "", "StandardErrorContent": ""}
    ]);
    let file = tmp.path().join("invocations.json");
    std::fs::write(&file, invocations.to_string()).unwrap();
    let out = Command::new("python3")
        .arg(repo().join("packaging/fleet/fleet.py"))
        .args(["summary", "--format", "jsonl", "--from-json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["instance_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "i-0aaaaaaaaaaaaaaa1",
            "i-0bbbbbbbbbbbbbbb2",
            "i-0ccccccccccccccc3",
            "i-0ddddddddddddddd4"
        ]
    );
    for (row, s) in rows.iter().zip([&summaries[0], &summaries[1]]) {
        assert_eq!(row["status"], "Success");
        assert_eq!(row["exit_code"], 0);
        assert_eq!(row["location"], s["location"]);
        assert_eq!(row["manifest_sha256"], s["manifest_sha256"]);
        assert_eq!(row["artifacts"], s["artifacts"]);
        assert_eq!(row["errors"], s["errors"]);
        assert!(row["error"].is_null());
    }
    assert_eq!(rows[2]["status"], "Failed");
    assert_eq!(rows[2]["exit_code"], 3);
    assert!(rows[2]["manifest_sha256"].is_null());
    assert!(rows[2]["error"].as_str().unwrap().contains("not installed"));
    assert_eq!(rows[3]["status"], "TimedOut");
    assert!(rows[3]["exit_code"].is_null());
    assert_eq!(rows[3]["error"], "DeliveryTimedOut");

    // The same two successes alone: every instance has a manifest, exit 0; table output.
    let ok = serde_json::Value::Array(invocations.as_array().unwrap()[..2].to_vec());
    std::fs::write(&file, ok.to_string()).unwrap();
    let out = Command::new("python3")
        .arg(repo().join("packaging/fleet/fleet.py"))
        .args(["summary", "--from-json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains(summaries[0]["manifest_sha256"].as_str().unwrap()),
        "{table}"
    );
    assert!(
        table.contains("(2 instances, 2 with a manifest)"),
        "{table}"
    );
}

/// `fleet.py summary COMMAND_ID`, the live path: boto3 pages through ListCommandInvocations and
/// asks GetCommandInvocation for each instance's `collect` step, against an SSM JSON endpoint on
/// loopback (tests/support/fake_ssm.py; moto has no ListCommandInvocations). Five instances over
/// three pages: two with real vestige summary lines, one whose document refused to run, one the
/// command never reached (GetCommandInvocation: InvocationDoesNotExist), one whose read was
/// throttled past the SDK's retries.
#[test]
fn fleet_summary_pages_through_the_ssm_api_and_reads_each_collect_step() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut lines = Vec::new();
    for _ in 0..2 {
        let out = Command::new(e2e::vestige_bin())
            .args(["collect", "--quiet", "--spec", "minimal", "--out"])
            .arg(tmp.path().join("out"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        lines.push(text.lines().last().unwrap().to_string());
    }
    let summaries: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let command_id = "5a2c1b9e-7d3f-4e21-9c8a-0f1e2d3c4b5a";
    let listed = |iid: &str, status: &str| {
        serde_json::json!({"CommandId": command_id, "InstanceId": iid, "Status": status,
                           "StatusDetails": status, "DocumentName": "vestige-collect"})
    };
    let got = |iid: &str, status: &str, code: i64, stdout: &str, stderr: &str| {
        serde_json::json!({"CommandId": command_id, "InstanceId": iid, "PluginName": "collect",
                           "Status": status, "StatusDetails": status, "ResponseCode": code,
                           "StandardOutputContent": stdout, "StandardErrorContent": stderr})
    };
    let config = serde_json::json!({
        "command_id": command_id,
        "invocations": [
            {"list": listed("i-0eeeeeeeeeeeeeee5", "Success"), "get_error": "ThrottlingException"},
            {"list": listed("i-0bbbbbbbbbbbbbbb2", "Success"),
             "get": got("i-0bbbbbbbbbbbbbbb2", "Success", 0, &format!("{}\n", lines[1]), "")},
            {"list": listed("i-0ddddddddddddddd4", "Undeliverable"), "get_error": "InvocationDoesNotExist"},
            {"list": listed("i-0aaaaaaaaaaaaaaa1", "Success"),
             "get": got("i-0aaaaaaaaaaaaaaa1", "Success", 0,
                        &format!("progress on stdout\n{}\n", lines[0]), "")},
            {"list": listed("i-0ccccccccccccccc3", "Failed"),
             "get": got("i-0ccccccccccccccc3", "Failed", 3,
                        "{\"error\":\"vestige is not installed at /opt/vestige/bin/vestige and AgentS3Uri is empty\",\"manifest_sha256\":null}\n",
                        "vestige-collect: vestige is not installed\n")}
        ]
    });
    let config_path = tmp.path().join("ssm.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let ready = tmp.path().join("ssm.port");
    let log = tmp.path().join("ssm.log");
    let mut server = Command::new("python3")
        .arg(repo().join("tests/support/fake_ssm.py"))
        .args([&config_path, &ready, &log])
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&ready) {
            break p;
        }
        assert!(
            started.elapsed().as_secs() < 30,
            "the SSM endpoint did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = Command::new("python3")
        .arg(repo().join("packaging/fleet/fleet.py"))
        .args(["summary", "--format", "jsonl", command_id])
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_RETRY_MODE", "standard")
        .env("AWS_MAX_ATTEMPTS", "2")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["instance_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "i-0aaaaaaaaaaaaaaa1",
            "i-0bbbbbbbbbbbbbbb2",
            "i-0ccccccccccccccc3",
            "i-0ddddddddddddddd4",
            "i-0eeeeeeeeeeeeeee5"
        ]
    );
    for (row, s) in rows.iter().zip(&summaries) {
        assert_eq!(row["status"], "Success");
        assert_eq!(row["exit_code"], 0);
        assert_eq!(row["location"], s["location"]);
        assert_eq!(row["manifest_sha256"], s["manifest_sha256"]);
        assert_eq!(row["artifacts"], s["artifacts"]);
        assert!(row["error"].is_null());
    }
    assert_eq!(rows[2]["status"], "Failed");
    assert_eq!(rows[2]["exit_code"], 3);
    assert!(rows[2]["error"].as_str().unwrap().contains("not installed"));
    assert_eq!(rows[3]["status"], "Undeliverable");
    assert!(rows[3]["manifest_sha256"].is_null());
    assert_eq!(rows[3]["error"], "Undeliverable");
    assert!(rows[4]["manifest_sha256"].is_null());
    assert!(
        rows[4]["error"]
            .as_str()
            .unwrap()
            .contains("ThrottlingException"),
        "{}",
        rows[4]
    );

    // What was asked: three pages, then the collect step of each listed instance.
    let requests: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pages: Vec<&Value> = requests
        .iter()
        .filter(|r| r["op"] == "ListCommandInvocations")
        .collect();
    assert_eq!(pages.len(), 3, "{requests:#?}");
    assert!(pages[0]["body"].get("NextToken").is_none());
    assert_eq!(pages[1]["body"]["NextToken"], "2");
    assert_eq!(pages[2]["body"]["NextToken"], "4");
    let mut asked: Vec<&str> = requests
        .iter()
        .filter(|r| r["op"] == "GetCommandInvocation")
        .map(|r| {
            assert_eq!(r["body"]["PluginName"], "collect");
            assert_eq!(r["body"]["CommandId"], command_id);
            r["body"]["InstanceId"].as_str().unwrap()
        })
        .collect();
    // The throttled read was tried twice (AWS_MAX_ATTEMPTS=2), every other once.
    assert_eq!(
        asked
            .iter()
            .filter(|i| **i == "i-0eeeeeeeeeeeeeee5")
            .count(),
        2
    );
    asked.sort();
    asked.dedup();
    assert_eq!(asked, ids);
}

/// `fleet.py collect --resource-group NAME` against moto's SSM: the command targets the group by
/// name (SSM resolves the members when it sends; moto records the target but does not resolve
/// groups), and a name that is not a group name is refused before anything is sent.
#[test]
fn fleet_collect_targets_a_resource_group_by_name() {
    use e2e::moto::{aws_env, Moto};
    let moto = Moto::start();
    let doc = std::fs::read_to_string(repo().join("packaging/ssm/vestige-collect.yaml")).unwrap();
    moto.boto(&format!(
        "ssm = boto3.client('ssm', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1')\n\
         rg = boto3.client('resource-groups', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1')\n\
         ssm.create_document(Content={doc:?}, Name='vestige-collect', DocumentType='Command', DocumentFormat='YAML')\n\
         rg.create_group(Name='web-prod', ResourceQuery={{'Type': 'TAG_FILTERS_1_0', 'Query': json.dumps({{'ResourceTypeFilters': ['AWS::EC2::Instance'], 'TagFilters': [{{'Key': 'App', 'Values': ['web']}}]}})}})"
    ));
    let fleet = |args: &[&str]| {
        let mut cmd = Command::new("python3");
        aws_env(&mut cmd);
        cmd.env("AWS_ENDPOINT_URL", moto.endpoint())
            .arg(repo().join("packaging/fleet/fleet.py"))
            .args(["collect", "--bucket", "evidence-test", "--case", "IR-9"])
            .args(args)
            .output()
            .unwrap()
    };
    for bad in ["web prod", "web;reboot", "", "$(id)"] {
        let out = fleet(&["--resource-group", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    let out = fleet(&["--resource-group", "web-prod", "--tag", "App=web"]);
    assert_eq!(out.status.code(), Some(2), "one kind of target only");
    let sent_before = moto.boto(
        "print(len(boto3.client('ssm', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1').list_commands()['Commands']))",
    );
    assert_eq!(sent_before.trim(), "0", "a refused request sent nothing");

    let out = fleet(&["--resource-group", "web-prod", "--max-concurrency", "25%"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let command_id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let sent: Value = serde_json::from_str(
        moto.boto(&format!(
            "ssm = boto3.client('ssm', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1')\n\
             print(json.dumps(ssm.list_commands(CommandId='{command_id}')['Commands'][0], default=str))"
        ))
        .trim(),
    )
    .unwrap();
    assert_eq!(sent["DocumentName"], "vestige-collect");
    assert_eq!(
        sent["Targets"],
        serde_json::json!([{"Key": "resource-groups:Name", "Values": ["web-prod"]}])
    );
    assert_eq!(sent["MaxConcurrency"], "25%");
    assert_eq!(sent["Parameters"]["CaseId"], serde_json::json!(["IR-9"]));
}
