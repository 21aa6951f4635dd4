//! Faults the host or the network inflicts mid-collection: SIGKILL (directory and S3 sinks),
//! an endpoint that is slow and drops connections, and thousands of processes that are born
//! and die while /proc is being read.

use e2e::moto::{aws_env, Moto, Relay};
use e2e::{summary, vestige_bin};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "evidence-test";

/// Processes and connections (fast), then one large file (slow enough to be killed in).
fn slow_spec(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("data")).unwrap();
    // Sparse: 6 GiB of zeros that take seconds to hash and compress, and no disk.
    let f = std::fs::File::create(root.join("data/big.img")).unwrap();
    f.set_len(6 << 30).unwrap();
    let spec = dir.join("spec.yaml");
    std::fs::write(
        &spec,
        "name: kill-test
artifacts:
  - {name: processes, collect: processes}
  - {name: connections, collect: connections}
  - name: big
    collect:
      files:
        patterns: [/data/big.img]
        max_file_size: 8GiB
        max_total_size: 8GiB
",
    )
    .unwrap();
    (spec, root)
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ready() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A complete zstd stream of JSON lines (a truncated one fails to decode).
fn assert_complete_jsonl(bytes: &[u8], what: &str) -> usize {
    let raw = zstd::decode_all(bytes).unwrap_or_else(|e| panic!("{what}: not complete zstd: {e}"));
    let text = String::from_utf8(raw).unwrap();
    assert!(text.ends_with('\n'), "{what}: last record cut");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("{what}: bad record ({e}): {line}"));
    }
    text.lines().count()
}

fn kill(child: &mut Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = child.wait();
}

/// [fault] SIGKILL while a large archive is written leaves complete record objects, the archive
/// only as a .part file, no manifest, and verify fails naming the manifest.
#[test]
fn sigkill_mid_collection_leaves_complete_objects_and_no_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, root) = slow_spec(tmp.path());
    let out = tmp.path().join("out");
    let mut child = Command::new(vestige_bin())
        .args(["collect", "--quiet", "--spec"])
        .arg(&spec)
        .arg("--root")
        .arg(&root)
        .arg("--out")
        .arg(&out)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the large archive is being written.
    wait_for("the archive in progress", Duration::from_secs(60), || {
        files_under(&out).iter().any(|p| {
            p.to_string_lossy().ends_with(".part")
                && p.metadata().is_ok_and(|m| m.len() > 0)
                && p.to_string_lossy().contains("big")
        })
    });
    kill(&mut child);

    let files = files_under(&out);
    assert!(
        !files.iter().any(|p| p.ends_with("manifest.json")),
        "{files:?}"
    );
    let mut complete = 0;
    for p in &files {
        let name = p.to_string_lossy();
        if name.ends_with(".part") {
            continue; // never renamed: not presented as an artifact
        }
        if name.ends_with(".jsonl.zst") {
            assert_complete_jsonl(&std::fs::read(p).unwrap(), &name);
            complete += 1;
        }
    }
    assert!(
        complete >= 2,
        "processes and connections were complete: {files:?}"
    );
    assert!(
        files
            .iter()
            .all(|p| !p.to_string_lossy().contains("big") || p.to_string_lossy().ends_with(".part")),
        "the interrupted archive must stay a .part file: {files:?}"
    );
    // verify names what is missing rather than passing or crashing.
    let coll = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with("processes.jsonl.zst"))
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .unwrap()
        .to_path_buf();
    let v = Command::new(vestige_bin())
        .arg("verify")
        .arg(&coll)
        .output()
        .unwrap();
    assert_ne!(v.status.code(), Some(0));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(text.contains("manifest"), "{text}");
}

/// [fault] SIGKILL during a multipart upload to S3 (moto) leaves complete record objects, no
/// archive object and no manifest; the unfinished upload stays invisible.
#[test]
fn sigkill_mid_upload_leaves_no_partial_object_in_the_bucket() {
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "GOVERNANCE", 1);
    let tmp = tempfile::tempdir().unwrap();
    let (spec, root) = slow_spec(tmp.path());
    // Incompressible, so compressed parts fill and a multipart upload starts at once.
    let mut random = std::fs::File::open("/dev/urandom").unwrap().take(384 << 20);
    let mut big = std::fs::File::create(root.join("data/big.img")).unwrap();
    std::io::copy(&mut random, &mut big).unwrap();
    drop(big);
    let mut cmd = Command::new(vestige_bin());
    aws_env(&mut cmd);
    let mut child = cmd
        .args(["collect", "--quiet", "--spec"])
        .arg(&spec)
        .arg("--root")
        .arg(&root)
        .args(["--s3", &format!("s3://{BUCKET}/kill")])
        .args(["--endpoint-url", &moto.endpoint()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let uploads = || -> usize {
        moto.boto(&format!(
            "print(len(s3.list_multipart_uploads(Bucket='{BUCKET}').get('Uploads', [])))"
        ))
        .trim()
        .parse()
        .unwrap()
    };
    wait_for(
        "a multipart upload of the archive",
        Duration::from_secs(90),
        || uploads() > 0,
    );
    // Let at least one part land.
    std::thread::sleep(Duration::from_millis(500));
    kill(&mut child);

    let listing = moto.list(BUCKET, "kill/");
    let keys: Vec<String> = listing.as_object().unwrap().keys().cloned().collect();
    assert!(
        !keys.iter().any(|k| k.ends_with("manifest.json")),
        "{keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.contains("big")),
        "an unfinished multipart upload must not become an object: {keys:?}"
    );
    let mut complete = 0;
    for k in &keys {
        if k.ends_with(".jsonl.zst") {
            assert_complete_jsonl(&moto.get(BUCKET, k), k);
            complete += 1;
        }
    }
    assert!(complete >= 2, "{keys:?}");
    assert!(
        uploads() > 0,
        "the orphaned upload stays invisible, to be aborted by lifecycle"
    );
}

/// [fault] Through a relay that delays S3 responses and drops connections, a collection still exits
/// 0 with no errors and verifies against the server.
#[test]
fn slow_endpoint_that_drops_connections_still_gets_everything() {
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "GOVERNANCE", 1);
    let relay = Relay::start(moto.port());
    relay.set_delay(Duration::from_millis(150));
    relay.drop_connections(3);
    let mut cmd = Command::new(vestige_bin());
    aws_env(&mut cmd);
    let t0 = Instant::now();
    let out = cmd
        .args(["collect", "--quiet", "--spec", "minimal"])
        .args(["--s3", &format!("s3://{BUCKET}/slow")])
        .args(["--endpoint-url", &relay.endpoint()])
        .args(["--s3-attempt-timeout", "20s", "--s3-max-attempts", "6"])
        .output()
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    assert_eq!(s["errors"], 0, "{s}");
    assert!(took < Duration::from_secs(120), "{took:?}");
    // Verified directly against the server, past the relay.
    let mut v = Command::new(vestige_bin());
    aws_env(&mut v);
    let v = v
        .args(["verify", s["location"].as_str().unwrap()])
        .args(["--endpoint-url", &moto.endpoint()])
        .args(["--manifest-sha256", s["manifest_sha256"].as_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}

/// [fault] Thousands of processes fork and exit while every /proc collector runs, inside a PID
/// namespace of their own: the run completes, nothing is recorded as an error, and no
/// short-lived process is mistaken for a hidden one. The volatile set runs twice, so the
/// churn meets every collector (and the second round meets descriptor tables `connections`
/// kept while processes came and went) however fast the collection is.
#[test]
fn process_churn_during_collection_is_not_an_error_nor_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "name: churn
artifacts:
  - {name: processes, collect: processes}
  - {name: connections, collect: connections}
  - {name: memory_maps, collect: memory_maps}
  - {name: open_files, collect: open_files}
  - {name: hidden_processes, collect: hidden_processes}
  - {name: processes_again, collect: processes}
  - {name: connections_again, collect: connections}
  - {name: memory_maps_again, collect: memory_maps}
  - {name: open_files_again, collect: open_files}
  - {name: hidden_processes_again, collect: hidden_processes}
",
    )
    .unwrap();
    let count = tmp.path().join("spawned");
    // Two forkers, each spawning short-lived children (some with a few threads of their own)
    // until told to stop; they report how many they started.
    let churn = r#"
import os, sys, threading, time
stop, live = sys.argv[1], sys.argv[2]
n = 0
while not os.path.exists(stop):
    pid = os.fork()
    if pid == 0:
        if n % 7 == 0:
            ts = [threading.Thread(target=time.sleep, args=(0.001,)) for _ in range(3)]
            [t.start() for t in ts]; [t.join() for t in ts]
        os._exit(0)
    os.waitpid(pid, 0)
    n += 1
    if n % 50 == 0:
        with open(live + ".tmp", "w") as f:
            f.write(str(n))
        os.replace(live + ".tmp", live)
print(n, flush=True)
"#;
    let stop = tmp.path().join("stop");
    // Collections run back to back until the churn has spawned 1,000 processes (a faster
    // vestige needs more of them), at most 30.
    let script = format!(
        "python3 -c '{churn}' '{stop}' '{c}.1.live' > '{c}.1' &\n\
         python3 -c '{churn}' '{stop}' '{c}.2.live' > '{c}.2' &\n\
         sleep 0.3\n\
         rc=0; runs=0\n\
         while [ $runs -lt 30 ]; do\n\
           \"$VESTIGE\" collect --quiet --spec '{spec}' --out '{out}' || rc=$?\n\
           runs=$((runs + 1))\n\
           [ $rc -eq 0 ] || break\n\
           n=$(( $(cat '{c}.1.live' 2>/dev/null || echo 0) + $(cat '{c}.2.live' 2>/dev/null || echo 0) ))\n\
           [ $n -ge 1000 ] && break\n\
         done\n\
         touch '{stop}'; wait\n\
         exit $rc",
        stop = stop.display(),
        c = count.display(),
        spec = spec.display(),
        out = tmp.path().join("out").display(),
    );
    let mut child = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            "sh",
            "-c",
            &script,
        ])
        .env("VESTIGE", vestige_bin())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{stderr}");
    let spawned: u64 = (1..=2)
        .map(|i| {
            std::fs::read_to_string(format!("{}.{i}", count.display()))
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert!(spawned >= 1000, "only {spawned} processes were spawned");
    let summaries: Vec<&str> = stdout.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!summaries.is_empty(), "no collection ran: {stderr}");
    for line in &summaries {
        let s: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(s["errors"], 0, "{s}\n{stderr}");
        let root = PathBuf::from(s["location"].as_str().unwrap());
        let manifest = e2e::manifest(&root);
        for a in manifest["artifacts"].as_array().unwrap() {
            assert!(a["status"] == "ok" || a["status"] == "partial", "{a}");
        }
        for name in ["hidden_processes", "hidden_processes_again"] {
            let hidden = e2e::artifact_records(&root, name);
            assert!(hidden.is_empty(), "churn reported as hidden: {hidden:#?}");
        }
        let v = Command::new(vestige_bin())
            .args(["verify"])
            .arg(&root)
            .output()
            .unwrap();
        assert_eq!(v.status.code(), Some(0));
    }
    eprintln!(
        "{spawned} processes spawned during {} collections",
        summaries.len()
    );
}

/// [fault] SIGTERM while a 6 GiB file is being archived: the run stops within the cancel grace instead
/// of writing the rest of the member, the manifest says where the archive ends, the file
/// before it is intact, and what was stored verifies.
#[test]
fn sigterm_inside_a_huge_file_stops_promptly_and_says_where_the_archive_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, root) = slow_spec(tmp.path());
    std::fs::write(root.join("data/a.txt"), "first file\n").unwrap();
    std::fs::write(
        &spec,
        "name: term-test
artifacts:
  - {name: processes, collect: processes}
  - name: big
    collect:
      files:
        patterns: [/data/a.txt, /data/big.img]
        max_file_size: 8GiB
        max_total_size: 8GiB
",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let child = Command::new(vestige_bin())
        .args(["collect", "--quiet", "--spec"])
        .arg(&spec)
        .arg("--root")
        .arg(&root)
        .arg("--out")
        .arg(&out)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the archive in progress", Duration::from_secs(60), || {
        files_under(&out).iter().any(|p| {
            let n = p.to_string_lossy();
            n.contains("big") && n.ends_with(".part") && p.metadata().is_ok_and(|m| m.len() > 0)
        })
    });
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let res = child.wait_with_output().unwrap();
    let took = t0.elapsed();
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(took < Duration::from_secs(4), "stopped after {took:?}");
    let s = summary(&res);
    assert_eq!(s["interrupted"], "interrupted by signal");
    let coll = PathBuf::from(s["location"].as_str().unwrap());
    let manifest = e2e::manifest(&coll);
    let tar = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("big.tar.zst"))
        })
        .unwrap_or_else(|| panic!("{manifest:#}"));
    assert_eq!(tar["status"], "partial", "{tar}");
    assert!(
        tar["error"]
            .as_str()
            .unwrap()
            .contains("ends inside the member of /data/big.img"),
        "{tar}"
    );
    // The first member is whole: header, then its bytes.
    let bytes =
        zstd::decode_all(&std::fs::read(coll.join("artifacts/big.tar.zst")).unwrap()[..]).unwrap();
    let header_of = |name: &str| {
        let mut at = 0;
        while at + 512 <= bytes.len() {
            let h = &bytes[at..at + 512];
            let n = String::from_utf8_lossy(&h[..100])
                .trim_end_matches('\0')
                .to_string();
            let size = u64::from_str_radix(
                String::from_utf8_lossy(&h[124..135]).trim_matches(|c| c == '\0' || c == ' '),
                8,
            )
            .unwrap_or(0);
            if n == name && h[156] == b'0' {
                return Some((at + 512, size));
            }
            at += 512 + (size as usize).div_ceil(512) * 512;
        }
        None
    };
    let (data_at, size) = header_of("data/a.txt").expect("data/a.txt member");
    assert_eq!(&bytes[data_at..data_at + size as usize], b"first file\n");
    let v = Command::new(vestige_bin())
        .arg("verify")
        .arg(&coll)
        .output()
        .unwrap();
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
}
