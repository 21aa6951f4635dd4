//! The S3 sink against a real S3 server (moto) through vestige's real AWS SDK client: Object
//! Lock, multipart uploads, verify, tampering, faults, and credential hygiene.

use e2e::moto::{aws_env, Moto, Relay, ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN};
use e2e::{sha256_hex, summary, vestige_bin};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "evidence-test";

/// These tests each run a whole collection and a server on a 2-core machine: one at a time,
/// so that time limits measure vestige rather than contention.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn vestige_env(args: &[&str]) -> Command {
    let mut c = Command::new(vestige_bin());
    aws_env(&mut c);
    c.args(args).env("VESTIGE_LOG", "info,vestige=debug");
    c
}

fn run(args: &[&str]) -> Output {
    vestige_env(args).output().expect("run vestige")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The collection root's key prefix (with trailing `/`) from an s3:// location.
fn root_prefix(location: &str) -> String {
    let rest = location
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .expect("s3 location");
    format!("{}/", rest.trim_end_matches('/'))
}

/// A running copy of `sleep` padded with `mib` MiB of random bytes, placed in a /tmp
/// directory so the processes collector recovers its executable as an artifact of its own.
struct BigExe {
    child: Child,
    sha256: String,
    dir: tempfile::TempDir,
}

impl BigExe {
    fn start(mib: usize) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("vestige-big")
            .tempdir_in("/tmp")
            .unwrap();
        let path = dir.path().join("bigsleep");
        let mut bytes = std::fs::read("/bin/sleep").unwrap();
        let mut noise = vec![0u8; mib << 20];
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut noise)
            .unwrap();
        bytes.extend_from_slice(&noise);
        std::fs::write(&path, &bytes).unwrap();
        let sha256 = sha256_hex(&bytes);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let child = Command::new(&path).arg("300").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        Self { child, sha256, dir }
    }
}

impl Drop for BigExe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connections, then processes recovering executables from `exe`'s directory only (so tests
/// running side by side do not recover each other's).
fn spec_file(dir: &Path, exe: &BigExe) -> PathBuf {
    let p = dir.join("s3-big.yaml");
    std::fs::write(
        &p,
        format!(
            "name: s3-big\nzstd_level: 1\nartifacts:\n  - name: connections\n    collect:\n      connections: {{}}\n  - name: processes\n    collect:\n      processes:\n        recover_dirs: [\"{}\"]\n",
            exe.dir.path().display()
        ),
    )
    .unwrap();
    p
}

fn manifest_from_s3(moto: &Moto, prefix: &str) -> serde_json::Value {
    let body = moto.get(BUCKET, &format!("{prefix}manifest.json"));
    serde_json::from_slice(&body).expect("manifest parses")
}

fn assert_no_secrets(what: &str, bytes: &[u8]) {
    let s = text(bytes);
    for secret in [SECRET_ACCESS_KEY, SESSION_TOKEN] {
        assert!(!s.contains(secret), "{what} contains a credential");
    }
}

/// [security] A collection to S3 (moto) writes at most 256KiB locally, lands every object under
/// Object Lock (compliance) with its hashes, cannot be deleted, verifies from the bucket, and a
/// tampered copy fails naming the object.
#[test]
fn collection_lands_locked_verifies_and_tampering_is_named() {
    let _serial = serial();
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    let out = run(&[
        "collect",
        "--spec",
        "minimal",
        "--quiet",
        "--s3",
        &format!("s3://{BUCKET}/cases/ir-1"),
        "--endpoint-url",
        &moto.endpoint(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = summary(&out);
    let location = s["location"].as_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("s3://{BUCKET}/cases/ir-1/")),
        "{location}"
    );
    let prefix = root_prefix(&location);
    let m = manifest_from_s3(&moto, &prefix);
    assert_eq!(m["collection_id"], s["collection_id"]);
    let manifest_body = moto.get(BUCKET, &format!("{prefix}manifest.json"));
    assert_eq!(s["manifest_sha256"], sha256_hex(&manifest_body));

    // Nothing written to local disk; the collector names itself.
    // vestige opens no file for writing in S3 mode; the kernel's per-process count can still
    // show a few pages now and then, far below any artifact.
    let written = m["collector"]["write_bytes"]
        .as_u64()
        .expect("write_bytes measured");
    assert!(written <= 256 << 10, "{}", m["collector"]);
    assert!(m["collector"]["pid"].as_u64().unwrap() > 0);

    let listed = moto.list(BUCKET, &prefix);
    let artifacts = m["artifacts"].as_array().unwrap();
    assert!(artifacts.len() >= 3);
    for a in artifacts {
        let path = a["path"].as_str().unwrap_or_else(|| panic!("no path: {a}"));
        let key = format!("{prefix}{path}");
        assert_eq!(listed[&key], a["stored_bytes"], "{key}");
        let bytes = moto.get(BUCKET, &key);
        assert_eq!(
            sha256_hex(&bytes),
            a["stored_sha256"].as_str().unwrap(),
            "{key}"
        );
        let head = moto.head(BUCKET, &key);
        assert_eq!(head["ObjectLockMode"], "COMPLIANCE", "{key}: {head}");
        assert!(head["ObjectLockRetainUntilDate"].is_string(), "{head}");
        assert_eq!(head["VersionId"], a["version_id"], "{key}");
        // Single-request objects carry vestige's own hashes as metadata.
        assert_eq!(
            head["Metadata"]["vestige-stored-sha256"], a["stored_sha256"],
            "{head}"
        );
        assert_eq!(
            head["Metadata"]["vestige-raw-sha256"], a["raw_sha256"],
            "{head}"
        );
    }
    // Object Lock holds: the version cannot be deleted.
    let first = artifacts[0]["path"].as_str().unwrap();
    let version = artifacts[0]["version_id"].as_str().unwrap();
    let refused = moto.delete_version(BUCKET, &format!("{prefix}{first}"), version);
    assert_eq!(refused, Err("AccessDenied".to_owned()));

    let v = run(&[
        "verify",
        &location,
        "--endpoint-url",
        &moto.endpoint(),
        "--manifest-sha256",
        s["manifest_sha256"].as_str().unwrap(),
    ]);
    let vout = text(&v.stdout);
    assert_eq!(v.status.code(), Some(0), "{vout}{}", text(&v.stderr));
    assert!(vout.contains("object lock COMPLIANCE"), "{vout}");
    assert!(vout.contains(&format!("version {version}")), "{vout}");

    // A tampered copy of the collection fails verification, naming the object.
    moto.copy_prefix_tampered(BUCKET, &prefix, "tampered/copy/", "connections.jsonl.zst");
    let bad = run(&[
        "verify",
        &format!("s3://{BUCKET}/tampered/copy"),
        "--endpoint-url",
        &moto.endpoint(),
    ]);
    let bout = text(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{bout}");
    assert!(
        bout.contains("MISMATCH  artifacts/connections.jsonl.zst"),
        "{bout}"
    );
    assert!(!bout.contains("MISMATCH  artifacts/processes"), "{bout}");
}

/// [security] verify reports each object's version and retain-until date, and names a newer
/// version uploaded over a locked one (exit 1).
#[test]
fn verify_names_a_newer_version_uploaded_over_a_locked_one() {
    let _serial = serial();
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    let out = run(&[
        "collect",
        "--spec",
        "minimal",
        "--quiet",
        "--time-source",
        "none",
        "--s3",
        &format!("s3://{BUCKET}/ver"),
        "--endpoint-url",
        &moto.endpoint(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let location = summary(&out)["location"].as_str().unwrap().to_owned();
    let prefix = root_prefix(&location);
    let m = manifest_from_s3(&moto, &prefix);
    let target = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "processes")
        .unwrap();
    let path = target["path"].as_str().unwrap();
    let recorded = target["version_id"].as_str().unwrap();
    let key = format!("{prefix}{path}");
    let verify = || {
        let v = run(&["verify", &location, "--endpoint-url", &moto.endpoint()]);
        (v.status.code(), text(&v.stdout))
    };

    // Intact: every object's note names its version and the retain-until date.
    let (code, vout) = verify();
    assert_eq!(code, Some(0), "{vout}");
    let head = moto.head(BUCKET, &key);
    let until = head["ObjectLockRetainUntilDate"].as_str().unwrap();
    let day = &until[..10];
    let note = vout
        .lines()
        .find(|l| l.starts_with("note") && l.contains(path))
        .unwrap_or_else(|| panic!("{vout}"));
    assert!(note.contains(&format!("version {recorded}")), "{note}");
    assert!(note.contains(&format!("retain until {day}")), "{note}");

    // The same key uploaded again: Object Lock keeps the old version, S3 serves the new one.
    let newer = moto.boto(&format!(
        "r = s3.put_object(Bucket='{BUCKET}', Key='{key}', Body=b'not the evidence', \
         ChecksumAlgorithm='SHA256')\nprint(r['VersionId'])"
    ));
    let newer = newer.trim();
    assert_ne!(newer, recorded);
    let (code, vout) = verify();
    assert_eq!(code, Some(1), "{vout}");
    let mismatches: Vec<&str> = vout.lines().filter(|l| l.starts_with("MISMATCH")).collect();
    assert_eq!(mismatches.len(), 1, "{vout}");
    let line = mismatches[0];
    assert!(line.contains(path), "{line}");
    assert!(
        line.contains(&format!(
            "current version {newer} is not the manifest's version {recorded}"
        )),
        "{line}"
    );
    // The recorded version itself still hashes as the manifest says (read by version id).
    assert!(!line.contains("sha256"), "{line}");
}

/// A large artifact goes up as a multipart upload asking for retention and legal hold, every
/// request carries SHA-256 and no secret, it verifies, and no upload is left open.
#[test]
fn big_artifact_is_a_multipart_upload_with_explicit_retention() {
    let _serial = serial();
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    // Through a relay that records request heads, to see what vestige asks of S3.
    let relay = Relay::start(moto.port());
    let exe = BigExe::start(16);
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec_file(tmp.path(), &exe);
    let exe_sha = exe.sha256.clone();
    let out = run(&[
        "collect",
        "--spec",
        spec.to_str().unwrap(),
        "--quiet",
        "--s3",
        &format!("s3://{BUCKET}/mp"),
        "--endpoint-url",
        &relay.endpoint(),
        "--part-size",
        "5MiB",
        "--retention-mode",
        "GOVERNANCE",
        "--retention-days",
        "2",
        "--legal-hold",
        "--sse",
        "AES256",
    ]);
    drop(exe);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let location = summary(&out)["location"].as_str().unwrap().to_owned();
    let prefix = root_prefix(&location);
    let m = manifest_from_s3(&moto, &prefix);
    let big = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["raw_sha256"] == exe_sha)
        .unwrap_or_else(|| panic!("no recovered executable: {m}"))
        .clone();
    assert_eq!(big["status"], "ok", "{big}");
    assert!(big["stored_bytes"].as_u64().unwrap() > 15 << 20, "{big}");
    let key = format!("{prefix}{}", big["path"].as_str().unwrap());
    let head = moto.head(BUCKET, &key);
    let etag = head["ETag"].as_str().unwrap().trim_matches('"').to_owned();
    let parts: u32 = etag
        .rsplit_once('-')
        .map(|(_, n)| n.parse().unwrap())
        .unwrap_or(1);
    assert!(parts >= 3, "multipart etag {etag}");
    assert_eq!(head["ContentLength"], big["stored_bytes"]);
    assert_eq!(
        sha256_hex(&moto.get(BUCKET, &key)),
        big["stored_sha256"].as_str().unwrap()
    );
    assert_eq!(head["VersionId"], big["version_id"]);

    // Single-request objects: retention and legal hold as asked.
    let small = format!("{prefix}artifacts/connections.jsonl.zst");
    let h = moto.head(BUCKET, &small);
    assert_eq!(h["ObjectLockMode"], "GOVERNANCE", "{h}");
    assert_eq!(h["ObjectLockLegalHoldStatus"], "ON", "{h}");
    // moto does not apply Object Lock settings to multipart uploads (AWS does), so check
    // what vestige sent when it started the upload, and that every request carried SHA-256.
    let heads = relay.request_heads();
    let create = heads
        .iter()
        .find(|h| {
            h.starts_with("POST ")
                && h.contains(&format!("{}?uploads", big["path"].as_str().unwrap()))
        })
        .unwrap_or_else(|| panic!("no CreateMultipartUpload among {heads:#?}"))
        .to_lowercase();
    for header in [
        "x-amz-object-lock-mode: governance",
        "x-amz-object-lock-retain-until-date:",
        "x-amz-object-lock-legal-hold: on",
        "x-amz-checksum-algorithm: sha256",
        "x-amz-server-side-encryption: aes256",
    ] {
        assert!(create.contains(header), "{header} missing from {create}");
    }
    let puts: Vec<String> = heads
        .iter()
        .filter(|h| h.starts_with("PUT "))
        .map(|h| h.to_lowercase())
        .collect();
    assert!(
        puts.iter().filter(|h| h.contains("partnumber=")).count() >= 3,
        "{puts:#?}"
    );
    for h in &puts {
        assert!(
            h.contains("x-amz-checksum-sha256:"),
            "request without SHA-256: {h}"
        );
        assert!(!h.contains(&SECRET_ACCESS_KEY.to_lowercase()));
    }
    let v = run(&["verify", &location, "--endpoint-url", &moto.endpoint()]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
    // No multipart upload is left open.
    let open = moto.boto(&format!(
        "print(len(s3.list_multipart_uploads(Bucket='{BUCKET}').get('Uploads', [])))"
    ));
    assert_eq!(open.trim(), "0");
}

/// Spawns vestige and calls `on_upload` once its debug log shows a multipart upload started.
fn run_with_fault(args: &[&str], on_upload: impl FnOnce()) -> (Output, Duration) {
    let t0 = Instant::now();
    let mut child = vestige_env(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut told = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !told && line.contains("multipart upload started") {
                let _ = tx.send(());
                told = true;
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no multipart upload started: {}", reader.join().unwrap());
    }
    on_upload();
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    (
        Output {
            status,
            stdout,
            stderr: stderr.into_bytes(),
        },
        t0.elapsed(),
    )
}

/// [fault] S3 (moto) stopped with SIGSTOP for 5 seconds mid-upload and then resumed: the collection
/// completes with no errors and verifies.
#[test]
fn server_stopped_mid_upload_then_resumed_completes() {
    let _serial = serial();
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    let exe = BigExe::start(24);
    let exe_sha = exe.sha256.clone();
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec_file(tmp.path(), &exe);
    let pid = moto.pid().to_string();
    let (out, _) = run_with_fault(
        &[
            "collect",
            "--spec",
            spec.to_str().unwrap(),
            "--quiet",
            "--s3",
            &format!("s3://{BUCKET}/stop"),
            "--endpoint-url",
            &moto.endpoint(),
            "--part-size",
            "5MiB",
            "--s3-attempt-timeout",
            "2s",
            "--s3-max-attempts",
            "10",
        ],
        || {
            Command::new("kill").args(["-STOP", &pid]).status().unwrap();
            std::thread::sleep(Duration::from_secs(5));
            Command::new("kill").args(["-CONT", &pid]).status().unwrap();
        },
    );
    drop(exe);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = summary(&out);
    assert_eq!(s["errors"], 0, "{s}");
    let prefix = root_prefix(s["location"].as_str().unwrap());
    let m = manifest_from_s3(&moto, &prefix);
    assert!(
        m["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["raw_sha256"] == exe_sha),
        "{m}"
    );
    let location = s["location"].as_str().unwrap();
    let v = run(&["verify", location, "--endpoint-url", &moto.endpoint()]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
}

/// [fault] An S3 endpoint cut mid-upload fails the run (exit 1) cleanly, naming what was not
/// uploaded, with what completed intact in the bucket and no partial object.
#[test]
fn endpoint_cut_mid_upload_fails_cleanly_and_keeps_what_was_uploaded() {
    let _serial = serial();
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    let relay = Relay::start(moto.port());
    let exe = BigExe::start(24);
    let exe_sha = exe.sha256.clone();
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec_file(tmp.path(), &exe);
    let (out, took) = run_with_fault(
        &[
            "collect",
            "--spec",
            spec.to_str().unwrap(),
            "--quiet",
            "--s3",
            &format!("s3://{BUCKET}/cut"),
            "--endpoint-url",
            &relay.endpoint(),
            "--part-size",
            "5MiB",
            "--s3-attempt-timeout",
            "2s",
            "--s3-max-attempts",
            "3",
            "--deadline",
            "60s",
        ],
        || relay.cut(),
    );
    drop(exe);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(75), "took {took:?}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("collection failed: cannot store the manifest"),
        "{err}"
    );
    assert!(err.contains("not uploaded: "), "{err}");
    let uploaded_line = err
        .lines()
        .find(|l| l.contains("uploaded to s3://"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        uploaded_line.contains("artifacts/spec.yaml.zst"),
        "{uploaded_line}"
    );
    assert!(
        uploaded_line.contains("artifacts/connections.jsonl.zst"),
        "{uploaded_line}"
    );
    let s = summary(&out);
    assert!(s["manifest_sha256"].is_null());

    // What completed before the cut is intact in the bucket (read directly, not through the
    // relay); no multipart upload of the interrupted object is presented as an object.
    let listed = moto.list(BUCKET, "cut/");
    let keys: Vec<&String> = listed.as_object().unwrap().keys().collect();
    assert!(
        keys.iter()
            .any(|k| k.ends_with("/artifacts/connections.jsonl.zst")),
        "{keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.ends_with("/manifest.json")),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.contains(&exe_sha)), "{keys:?}");
    for k in keys {
        let bytes = moto.get(BUCKET, k);
        let head = moto.head(BUCKET, k);
        assert_eq!(
            head["Metadata"]["vestige-stored-sha256"],
            sha256_hex(&bytes),
            "{k}"
        );
        zstd::decode_all(&bytes[..]).unwrap_or_else(|e| panic!("{k}: {e}"));
    }
}

/// The collect arguments of the server-kill tests: a big executable forces a multipart upload.
fn kill_args(spec: &Path, moto: &Moto, prefix: &str) -> Vec<String> {
    [
        "collect",
        "--spec",
        spec.to_str().unwrap(),
        "--quiet",
        "--s3",
        &format!("s3://{BUCKET}/{prefix}"),
        "--endpoint-url",
        &moto.endpoint(),
        "--part-size",
        "5MiB",
        "--s3-attempt-timeout",
        "2s",
        "--s3-max-attempts",
        "3",
        "--deadline",
        "60s",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect()
}

/// [fault] The S3 server killed (SIGKILL) mid-upload: exit 1 in bounded time, no panic, and the
/// summary names what was and was not uploaded.
#[test]
fn server_killed_mid_upload_exits_1_naming_what_was_and_was_not_uploaded() {
    let _serial = serial();
    let mut moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    let exe = BigExe::start(24);
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec_file(tmp.path(), &exe);
    let exe_sha = exe.sha256.clone();
    let args = kill_args(&spec, &moto, "killed");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, took) = run_with_fault(&args, || moto.kill());
    drop(exe);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // Connection refusals retried with backoff, well inside the deadline and its reserve.
    assert!(took < Duration::from_secs(75), "took {took:?}");
    assert!(!err.contains("panicked"), "{err}");
    // The last stdout line is the machine-readable failure: no manifest, and the detail
    // names what reached the bucket before the kill and what did not.
    let s = summary(&out);
    assert!(s["manifest_sha256"].is_null(), "{s}");
    assert!(
        s["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot store the manifest")),
        "{s}"
    );
    let detail = s["detail"].as_str().unwrap_or_else(|| panic!("{s}"));
    let (uploaded, not_uploaded) = detail
        .split_once("not uploaded: ")
        .unwrap_or_else(|| panic!("{detail}"));
    assert!(uploaded.contains("uploaded to s3://"), "{detail}");
    assert!(
        uploaded.contains("artifacts/connections.jsonl.zst"),
        "{detail}"
    );
    // The executable whose multipart upload the kill interrupted, and the manifest.
    assert!(
        not_uploaded.contains(&format!("artifacts/executables/{exe_sha}.bin.zst")),
        "{detail}"
    );
    assert!(!uploaded.contains(&exe_sha), "{detail}");
    assert!(not_uploaded.contains("manifest.json"), "{detail}");
    assert!(err.contains(detail), "{err}");
}

/// [fault] The S3 server killed mid-upload with --fallback-out: the collection completes in the
/// fallback directory and verifies there.
#[test]
fn server_killed_mid_upload_with_fallback_completes_there_and_verifies() {
    let _serial = serial();
    let mut moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    let exe = BigExe::start(24);
    let exe_sha = exe.sha256.clone();
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec_file(tmp.path(), &exe);
    let fallback = tmp.path().join("fallback");
    let mut args = kill_args(&spec, &moto, "killed-fb");
    args.extend([
        "--fallback-out".to_owned(),
        fallback.to_str().unwrap().to_owned(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, took) = run_with_fault(&args, || moto.kill());
    drop(exe);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(took < Duration::from_secs(75), "took {took:?}");
    assert!(!err.contains("panicked"), "{err}");
    let s = summary(&out);
    let location = PathBuf::from(s["location"].as_str().unwrap());
    assert!(location.starts_with(&fallback), "{s}");
    let m = e2e::manifest(&location);
    let entries = m["artifacts"].as_array().unwrap();
    // The interrupted upload is an error entry; the records after it are kept locally.
    assert!(
        entries.iter().any(|a| a["status"] == "error"
            && a["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("executable-"))),
        "{m}"
    );
    assert!(!entries.iter().any(|a| a["raw_sha256"] == exe_sha), "{m}");
    let processes = entries.iter().find(|a| a["name"] == "processes").unwrap();
    assert!(location.join(processes["path"].as_str().unwrap()).exists());
    // The signed manifest names what reached the bucket before the kill (lost with moto's
    // memory): verify checks everything kept here and names the rest as in the bucket.
    let fb = &m["collector"]["fallback"];
    assert_eq!(
        fb["bucket"].as_str(),
        Some(
            format!(
                "s3://{BUCKET}/killed-fb/{}/{}",
                m["host_id"].as_str().unwrap(),
                m["collection_id"].as_str().unwrap()
            )
            .as_str()
        ),
        "{m}"
    );
    let uploaded: Vec<&str> = fb["uploaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        uploaded.contains(&"artifacts/connections.jsonl.zst"),
        "{fb}"
    );
    for p in &uploaded {
        assert!(!location.join(p).exists(), "{p}");
    }
    let v = run(&["verify", location.to_str().unwrap(), "--json"]);
    let vs = text(&v.stdout);
    assert_eq!(v.status.code(), Some(0), "{vs}");
    let v: serde_json::Value = serde_json::from_str(vs.trim()).unwrap();
    assert_eq!(v["in_bucket"], uploaded.len(), "{v}");
    assert!(
        v["matched"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(processes["path"])),
        "{v}"
    );
    // A kept object removed is still a problem: only the bucket's objects are excused.
    std::fs::remove_file(location.join(processes["path"].as_str().unwrap())).unwrap();
    let v = run(&["verify", location.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v.stdout));
}

/// [fault] An S3 endpoint cut mid-upload with a fallback directory keeps the rest and the manifest
/// locally, the interrupted object an error entry, earlier objects in the bucket with the listed
/// hashes.
#[test]
fn endpoint_cut_with_fallback_keeps_the_rest_locally() {
    let _serial = serial();
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    let relay = Relay::start(moto.port());
    let exe = BigExe::start(24);
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec_file(tmp.path(), &exe);
    let fallback = tmp.path().join("fallback");
    let exe_sha = exe.sha256.clone();
    let (out, _) = run_with_fault(
        &[
            "collect",
            "--spec",
            spec.to_str().unwrap(),
            "--quiet",
            "--s3",
            &format!("s3://{BUCKET}/fb"),
            "--endpoint-url",
            &relay.endpoint(),
            "--part-size",
            "5MiB",
            "--s3-attempt-timeout",
            "2s",
            "--s3-max-attempts",
            "2",
            "--deadline",
            "60s",
            "--fallback-out",
            fallback.to_str().unwrap(),
        ],
        || relay.cut(),
    );
    drop(exe);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let s = summary(&out);
    let location = PathBuf::from(s["location"].as_str().unwrap());
    assert!(location.starts_with(&fallback), "{s}");
    let m = e2e::manifest(&location);
    let entries = m["artifacts"].as_array().unwrap();
    let processes = entries.iter().find(|a| a["name"] == "processes").unwrap();
    // The records were written after the failure: kept locally.
    assert!(
        location.join(processes["path"].as_str().unwrap()).exists(),
        "{processes}"
    );
    // The interrupted multipart upload is an error entry, not a pretend artifact, and the
    // process's record says why its executable is missing.
    assert!(
        entries.iter().any(|a| a["status"] == "error"
            && a["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("executable-"))
            && a["error"].as_str().is_some_and(|e| e.contains("uploading"))),
        "{m}"
    );
    assert!(!entries.iter().any(|a| a["raw_sha256"] == exe_sha), "{m}");
    let recs = e2e::records(&location, processes["path"].as_str().unwrap());
    let rec = recs
        .iter()
        .find(|r| r["exe_sha256"] == exe_sha)
        .unwrap_or_else(|| {
            panic!(
                "{:?}",
                recs.iter()
                    .filter(|r| r["exe"].as_str().is_some_and(|e| e.contains("bigsleep")))
                    .collect::<Vec<_>>()
            )
        });
    assert!(rec["exe_recovered_path"].is_null(), "{rec}");
    assert!(
        rec["exe_error"]
            .as_str()
            .is_some_and(|e| e.contains("not recovered")),
        "{rec}"
    );
    assert!(err.contains("kept in the fallback directory"), "{err}");
    // Earlier objects are in the bucket with the hashes the local manifest lists.
    let conn = entries.iter().find(|a| a["name"] == "connections").unwrap();
    let key = format!(
        "fb/{}/{}/{}",
        m["host_id"].as_str().unwrap(),
        m["collection_id"].as_str().unwrap(),
        conn["path"].as_str().unwrap()
    );
    assert_eq!(
        sha256_hex(&moto.get(BUCKET, &key)),
        conn["stored_sha256"].as_str().unwrap()
    );
    assert!(!location.join(conn["path"].as_str().unwrap()).exists());
}

/// [security] A collect to S3 sends only PutObject and multipart-upload requests (no GET, HEAD or
/// List), and every request body carries a SHA-256.
#[test]
fn collect_requests_are_writes_only_and_every_body_is_hashed() {
    let _serial = serial();
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    let relay = Relay::start(moto.port());
    let exe = BigExe::start(12);
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec_file(tmp.path(), &exe);
    let out = run(&[
        "collect",
        "--spec",
        spec.to_str().unwrap(),
        "--quiet",
        "--s3",
        &format!("s3://{BUCKET}/audit"),
        "--endpoint-url",
        &relay.endpoint(),
        "--part-size",
        "5MiB",
    ]);
    drop(exe);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = summary(&out);
    let prefix = root_prefix(s["location"].as_str().unwrap());

    // Every request the collection made, classified by method and query: writes only.
    let heads = relay.request_heads();
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    let mut completes = Vec::new();
    for head in &heads {
        let mut lines = head.lines();
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let (method, target) = (parts.next().unwrap(), parts.next().unwrap_or_default());
        let (key_path, query) = target.split_once('?').unwrap_or((target, ""));
        let has = |q: &str| {
            query
                .split('&')
                .any(|p| p == q || p.starts_with(&format!("{q}=")))
        };
        let kind = match method {
            "PUT" if has("partNumber") && has("uploadId") => "UploadPart",
            "PUT" if !has("uploadId") => "PutObject",
            "POST" if has("uploads") => "CreateMultipartUpload",
            "POST" if has("uploadId") => "CompleteMultipartUpload",
            "DELETE" if has("uploadId") => "AbortMultipartUpload",
            _ => panic!("collect sent a request outside the write-only set: {request_line}"),
        };
        *kinds.entry(kind).or_default() += 1;
        let header = |name: &str| {
            head.lines().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let body_len: u64 = header("content-length")
            .or_else(|| header("x-amz-decoded-content-length"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if body_len > 0 {
            let checksum = header("x-amz-checksum-sha256");
            let payload_hash = header("x-amz-content-sha256")
                .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(
                checksum.is_some() || payload_hash.is_some(),
                "{kind} carries a body with no SHA-256 of it:\n{head}"
            );
        }
        if kind == "CompleteMultipartUpload" {
            completes.push((key_path.to_owned(), header("x-amz-checksum-sha256")));
        }
    }
    for kind in [
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
    ] {
        assert!(kinds.contains_key(kind), "no {kind} seen: {kinds:?}");
    }
    assert!(kinds["UploadPart"] >= 2, "{kinds:?}");
    // Every object in the bucket came through a request seen here (none was missed; a retry
    // would add one).
    let objects = moto.list(BUCKET, &prefix).as_object().unwrap().len();
    assert!(
        kinds["PutObject"] + kinds["CompleteMultipartUpload"] >= objects,
        "{objects} objects from {kinds:?}"
    );

    // The completion names the composite checksum of its parts, and it is the one the store
    // computed itself from what it received.
    assert!(!completes.is_empty());
    for (key_path, sent) in completes {
        let sent = sent.unwrap_or_else(|| panic!("{key_path}: no composite checksum sent"));
        let key = key_path
            .strip_prefix(&format!("/{BUCKET}/"))
            .unwrap()
            .to_owned();
        assert!(key.starts_with(&prefix), "{key}");
        let stored = moto.boto(&format!(
            "h = s3.head_object(Bucket='{BUCKET}', Key='{key}', ChecksumMode='ENABLED')\n\
             print(h.get('ChecksumSHA256', ''))"
        ));
        // moto reads it back without the `-N` part count.
        let parts = format!("-{}", kinds["UploadPart"]);
        assert!(sent.ends_with(&parts), "{sent}");
        let stored = stored.trim();
        assert_eq!(
            stored.strip_suffix(&parts).unwrap_or(stored),
            sent.strip_suffix(&parts).unwrap(),
            "{key}"
        );
    }
}

/// The manifest's footprint as `purpose address` strings.
fn endpoints_of(m: &serde_json::Value) -> Vec<String> {
    m["collector"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["purpose"].as_str().unwrap(),
                e["address"].as_str().unwrap()
            )
        })
        .collect()
}

/// The manifest's endpoints name STS when vestige calls it and the S3 endpoint actually
/// contacted.
#[test]
fn footprint_names_sts_when_vestige_calls_it_and_the_s3_endpoint_contacted() {
    let _serial = serial();
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    let (url, endpoint) = (format!("s3://{BUCKET}/fp"), moto.endpoint());
    let base = [
        "collect",
        "--spec",
        "minimal",
        "--quiet",
        "--time-source",
        "none",
        "--s3",
    ];
    let with_caller = [
        &base[..],
        &[&url, "--endpoint-url", &endpoint, "--s3-caller-prefix"],
    ]
    .concat();
    let out = run(&with_caller);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let prefix = root_prefix(summary(&out)["location"].as_str().unwrap());
    let eps = endpoints_of(&manifest_from_s3(&moto, &prefix));
    // moto serves STS on the same endpoint (--endpoint-url applies to every AWS service).
    assert_eq!(
        eps,
        [
            format!("sts {}", moto.endpoint()),
            format!("s3 {}", moto.endpoint())
        ],
        "{eps:?}"
    );

    // Without --s3-caller-prefix no STS request is made, and none is listed.
    let plain = [&base[..], &[&url, "--endpoint-url", &endpoint]].concat();
    let out = run(&plain);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let prefix = root_prefix(summary(&out)["location"].as_str().unwrap());
    let eps = endpoints_of(&manifest_from_s3(&moto, &prefix));
    assert_eq!(eps, [format!("s3 {}", moto.endpoint())], "{eps:?}");

    // Without --endpoint-url the bucket's virtual host is what is contacted. In a network
    // namespace of its own nothing answers; the fallback manifest keeps the footprint.
    let tmp = tempfile::tempdir().unwrap();
    let fallback = tmp.path().join("fb");
    let mut cmd = Command::new("unshare");
    aws_env(&mut cmd);
    let out = cmd
        .arg("-n")
        .arg(vestige_bin())
        .args(base)
        .args([
            &url,
            "--s3-max-attempts",
            "1",
            "--s3-attempt-timeout",
            "2s",
            "--fallback-out",
            fallback.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let location = PathBuf::from(summary(&out)["location"].as_str().unwrap());
    assert!(location.starts_with(&fallback), "{location:?}");
    let eps = endpoints_of(&e2e::manifest(&location));
    assert!(
        eps.contains(&format!("s3 https://{BUCKET}.s3.us-east-1.amazonaws.com")),
        "{eps:?}"
    );
    assert!(!eps.iter().any(|e| e.starts_with("sts ")), "{eps:?}");
}

/// [security] No collect flag takes a secret, and the credentials never show in stdout, stderr or
/// any stored object.
#[test]
fn no_flag_takes_a_secret_and_credentials_never_show() {
    let help = e2e::vestige(&["collect", "--help"]);
    let h = text(&help.stdout).to_lowercase();
    for word in [
        "secret",
        "access-key",
        "access_key",
        "session-token",
        "password",
    ] {
        assert!(!h.contains(word), "collect --help mentions {word}");
    }
    assert_eq!(
        e2e::vestige(&["collect", "--aws-secret-access-key", "x", "--out", "/tmp"])
            .status
            .code(),
        Some(2)
    );

    let _serial = serial();
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    let out = vestige_env(&[
        "collect",
        "--spec",
        "minimal",
        "--s3",
        &format!("s3://{BUCKET}/creds"),
        "--endpoint-url",
        &moto.endpoint(),
    ])
    .env("VESTIGE_LOG", "trace")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_no_secrets("stdout", &out.stdout);
    assert_no_secrets("stderr", &out.stderr);
    let prefix = root_prefix(summary(&out)["location"].as_str().unwrap());
    for key in moto.list(BUCKET, &prefix).as_object().unwrap().keys() {
        let bytes = moto.get(BUCKET, key);
        let raw = if key.ends_with(".zst") {
            zstd::decode_all(&bytes[..]).unwrap()
        } else {
            bytes
        };
        assert_no_secrets(key, &raw);
        assert!(
            !text(&raw).contains(ACCESS_KEY_ID),
            "{key} contains the access key id"
        );
    }
}

/// A loopback port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A small spec: host facts and connections, no executable recovery.
fn small_spec(dir: &Path) -> PathBuf {
    let p = dir.join("small.yaml");
    std::fs::write(
        &p,
        "name: small\nartifacts:\n  - name: system\n    collect:\n      system: {}\n  - name: connections\n    collect:\n      connections: {}\n",
    )
    .unwrap();
    p
}

/// [fault] An S3 endpoint down from the start fails the run (exit 1) within 60s, naming the
/// collection, where it was going and every object not uploaded, without secrets.
#[test]
fn endpoint_down_at_start_fails_naming_what_was_not_uploaded() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let spec = small_spec(tmp.path());
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let t0 = Instant::now();
    let out = run(&[
        "collect",
        "--spec",
        spec.to_str().unwrap(),
        "--quiet",
        "--s3",
        &format!("s3://{BUCKET}/down"),
        "--endpoint-url",
        &endpoint,
        "--s3-attempt-timeout",
        "2s",
        "--s3-max-attempts",
        "2",
    ]);
    let took = t0.elapsed();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("collection failed: cannot store the manifest"),
        "{err}"
    );
    let line = err
        .lines()
        .find(|l| l.contains(&format!("uploaded to s3://{BUCKET}/down/")))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains(": none; not uploaded: "), "{line}");
    let not_uploaded = line.split("not uploaded: ").nth(1).unwrap();
    for path in [
        "artifacts/spec.yaml.zst",
        "artifacts/system.jsonl.zst",
        "artifacts/connections.jsonl.zst",
        "manifest.json",
    ] {
        assert!(not_uploaded.contains(path), "{path} in {line}");
    }
    assert_no_secrets("stderr", &out.stderr);
    let s = summary(&out);
    assert!(s["manifest_sha256"].is_null(), "{s}");
    // The collection and where it was meant to go are named, for a retry or a cleanup.
    let location = s["location"].as_str().unwrap();
    assert!(location.starts_with(&format!("s3://{BUCKET}/down/")), "{s}");
    assert!(
        location.ends_with(&format!("/{}", s["collection_id"].as_str().unwrap())),
        "{s}"
    );
    let detail = s["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("not uploaded: ") && detail.contains("manifest.json"),
        "{s}"
    );
    assert!(text(&out.stdout).trim_end().len() <= 2500, "{s}");
}

/// [fault] An S3 endpoint down from the start with a fallback directory lands the whole collection
/// locally, the manifest saying where its objects went, and it verifies.
#[test]
fn endpoint_down_at_start_with_fallback_lands_locally_and_verifies() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let spec = small_spec(tmp.path());
    let fallback = tmp.path().join("fallback");
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let out = run(&[
        "collect",
        "--spec",
        spec.to_str().unwrap(),
        "--quiet",
        "--s3",
        &format!("s3://{BUCKET}/down"),
        "--endpoint-url",
        &endpoint,
        "--s3-attempt-timeout",
        "2s",
        "--s3-max-attempts",
        "2",
        "--fallback-out",
        fallback.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("kept in the fallback directory"), "{err}");
    let s = summary(&out);
    let location = PathBuf::from(s["location"].as_str().unwrap());
    assert!(location.starts_with(&fallback), "{s}");
    let m = e2e::manifest(&location);
    assert_eq!(s["collection_id"], m["collection_id"]);
    assert_eq!(
        s["manifest_sha256"].as_str().unwrap(),
        sha256_hex(&std::fs::read(location.join("manifest.json")).unwrap())
    );
    let names: Vec<&str> = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["status"], "ok", "{a}");
            a["name"].as_str().unwrap()
        })
        .collect();
    assert!(
        names.contains(&"system") && names.contains(&"connections"),
        "{names:?}"
    );
    // The manifest says where its objects went: the fallback directory, not only the bucket.
    let sink = m["collector"]["sink"].as_str().unwrap();
    assert!(
        sink.starts_with(&format!("s3://{BUCKET}/down/"))
            && sink.contains(&format!("fallback directory {}", location.display())),
        "{sink}"
    );
    let v = run(&["verify", location.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
}

/// [fault] SIGTERM mid-collection to S3 still uploads, within 10s, the manifest the summary names,
/// marking the artifacts after the signal skipped, and it verifies.
#[test]
fn sigterm_mid_collection_still_uploads_a_manifest_marking_the_rest_skipped() {
    let _serial = serial();
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    let tmp = tempfile::tempdir().unwrap();
    // 300 slow artifacts: each probes 400,000 pids.
    let spec = tmp.path().join("slow.yaml");
    let mut yaml = String::from("name: slow\nartifacts:\n");
    for i in 0..300 {
        yaml.push_str(&format!(
            "  - name: probe-{i}\n    collect:\n      hidden_processes: {{ max_pid: 400000 }}\n"
        ));
    }
    std::fs::write(&spec, yaml).unwrap();
    let child = vestige_env(&[
        "collect",
        "--spec",
        spec.to_str().unwrap(),
        "--quiet",
        "--imds-timeout",
        "100ms",
        "--s3",
        &format!("s3://{BUCKET}/term"),
        "--endpoint-url",
        &moto.endpoint(),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Mid-collection: some artifacts are already in the bucket.
    let t0 = Instant::now();
    loop {
        let listed = moto.list(BUCKET, "term/");
        let n = listed.as_object().map_or(0, |o| o.len());
        if n >= 4 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no uploads: {listed}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(took < Duration::from_secs(10), "stopped after {took:?}");
    let s = summary(&out);
    assert_eq!(s["interrupted"], "interrupted by signal", "{s}");
    let location = s["location"].as_str().unwrap();
    let prefix = root_prefix(location);

    // The manifest is in the bucket, is the one the summary names, and lists every artifact
    // of the spec: the ones before the signal ok, the rest skipped.
    let body = moto.get(BUCKET, &format!("{prefix}manifest.json"));
    assert_eq!(s["manifest_sha256"], sha256_hex(&body));
    let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(m["collector"]["interrupted"], "interrupted by signal");
    let probes: Vec<&serde_json::Value> = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"].as_str().unwrap().starts_with("probe-"))
        .collect();
    assert_eq!(probes.len(), 300);
    let ok = probes.iter().filter(|a| a["status"] == "ok").count();
    let skipped: Vec<_> = probes.iter().filter(|a| a["status"] == "skipped").collect();
    assert!(ok >= 3, "{ok} ok");
    assert!(skipped.len() >= 100, "{} skipped", skipped.len());
    assert!(
        skipped
            .iter()
            .all(|a| a["error"] == "interrupted by signal"),
        "{skipped:?}"
    );
    // Once skipping starts, the rest is skipped; between, at most the two artifacts under
    // way (record collectors run in pairs) were cut short.
    let first_skipped = probes
        .iter()
        .position(|a| a["status"] == "skipped")
        .unwrap();
    assert!(
        first_skipped >= ok && first_skipped <= ok + 2,
        "{first_skipped} vs {ok}"
    );
    assert!(probes[first_skipped..]
        .iter()
        .all(|a| a["status"] == "skipped"));
    // Skipped artifacts have no object; every other one is in the bucket.
    let listed = moto.list(BUCKET, &prefix);
    let keys = listed.as_object().unwrap();
    for a in &probes {
        match a["path"].as_str() {
            Some(path) => {
                assert_ne!(a["status"], "skipped", "{a}");
                assert!(keys.contains_key(&format!("{prefix}{path}")), "{a}");
            }
            None => assert_eq!(a["status"], "skipped", "{a}"),
        }
    }
    let v = run(&["verify", location, "--endpoint-url", &moto.endpoint()]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
}
