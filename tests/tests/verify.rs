//! `vestige verify` against tampered bundles: a fresh bundle passes; every kind of change to
//! an object or to the manifest fails, exits non-zero, and names the object and the cause.
//!
//! One real collection is made per test binary (a template, inside the process zoo); each
//! test tampers with its own copy. Needs root, as the zoo does.

use e2e::zoo::run_zoo;
use e2e::{manifest, sha256_hex, vestige};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

struct Template {
    root: PathBuf,
    manifest_sha256: String,
}

static TEMPLATE: OnceLock<Result<Template, String>> = OnceLock::new();

fn template() -> &'static Template {
    let t = TEMPLATE.get_or_init(|| {
        // Collected inside the process zoo, so the bundle holds the same few objects on any
        // host: spec, processes, connections and the zoo's recovered executables.
        let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("verify-template");
        let run = run_zoo(&work, &["--spec", "minimal"])?;
        Ok(Template {
            root: run.root,
            manifest_sha256: run.summary["manifest_sha256"]
                .as_str()
                .ok_or("no manifest_sha256")?
                .to_owned(),
        })
    });
    match t {
        Ok(t) => t,
        Err(e) => panic!("no template collection: {e}"),
    }
}

/// A private copy of the template collection.
struct Copy {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

fn fresh_copy() -> Copy {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("collection");
    copy_tree(&template().root, &root);
    Copy { _dir: dir, root }
}

/// Paths of every stored object the manifest lists.
fn artifact_paths(root: &Path) -> Vec<String> {
    let paths: Vec<String> = manifest(root)["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["path"].as_str().map(str::to_owned))
        .collect();
    assert!(
        paths.len() >= 3,
        "spec, processes, connections at least: {paths:?}"
    );
    paths
}

struct Verdict {
    out: Output,
    report: Value,
}

impl Verdict {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    /// (path, cause) of every problem.
    fn problems(&self) -> Vec<(String, String)> {
        e2e::verify_problems(&self.report)
    }

    /// Asserts verify failed, and that every problem is about `path` and one of them says
    /// `cause`.
    fn fails_only_on(&self, path: &str, cause: &str) {
        assert_eq!(
            self.out.status.code(),
            Some(1),
            "verify must fail: {}",
            self.stdout()
        );
        assert_eq!(self.report["verified"], false);
        let problems = self.problems();
        assert!(!problems.is_empty());
        assert!(
            problems.iter().all(|(p, _)| p == path),
            "only {path} is named: {problems:#?}"
        );
        assert!(
            problems.iter().any(|(_, c)| c.contains(cause)),
            "{path}: a cause with `{cause}`: {problems:#?}"
        );
    }
}

/// Runs `vestige verify` twice: in text form (checked for the MISMATCH lines) and with
/// `--json` (parsed).
fn verify(root: &Path, manifest_sha256: Option<&str>) -> Verdict {
    let mut args = vec!["verify", root.to_str().unwrap()];
    if let Some(sha) = manifest_sha256 {
        args.extend(["--manifest-sha256", sha]);
    }
    let text = vestige(&args);
    args.push("--json");
    let json = vestige(&args);
    assert_eq!(text.status.code(), json.status.code());
    let mut report: Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json is JSON ({e}): {}",
            String::from_utf8_lossy(&json.stdout)
        )
    });
    let stdout = String::from_utf8_lossy(&text.stdout);
    // The text form names each problem on a MISMATCH line and ends with a JSON summary.
    for p in report["problems"].as_array().unwrap() {
        let line = format!(
            "MISMATCH  {}: {}",
            p["path"].as_str().unwrap(),
            p["cause"].as_str().unwrap()
        );
        assert!(
            stdout.lines().any(|l| l == line),
            "text output has `{line}`:\n{stdout}"
        );
    }
    let last: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("summary line");
    report["verified"] = last["verified"].clone();
    assert_eq!(
        last["problems"],
        report["problems"].as_array().unwrap().len()
    );
    Verdict { out: text, report }
}

/// Edits the manifest the way a consistent forger would: the signature (which would no
/// longer verify) is stripped with the key it names, leaving an unsigned manifest. Only a
/// pinned key (`--public-key`) or the summary's hash tells.
fn edit_manifest(root: &Path, edit: impl FnOnce(&mut Value)) {
    let mut m = manifest(root);
    edit(&mut m);
    if let Some(o) = m.as_object_mut() {
        o.remove("signature");
    }
    let _ = std::fs::remove_file(root.join("manifest.json.sig"));
    std::fs::write(
        root.join("manifest.json"),
        serde_json::to_vec_pretty(&m).unwrap(),
    )
    .unwrap();
}

fn entry_mut<'a>(m: &'a mut Value, path: &str) -> &'a mut Value {
    m["artifacts"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| a["path"] == path)
        .unwrap()
}

const PROCESSES: &str = "artifacts/processes.jsonl.zst";

/// A fresh collection verifies (exit 0) with and without the summary's manifest hash, listing every
/// artifact ok.
#[test]
fn fresh_bundle_verifies() {
    let t = template();
    let v = verify(&t.root, Some(&t.manifest_sha256));
    assert_eq!(v.out.status.code(), Some(0), "{}", v.stdout());
    assert_eq!(v.report["verified"], true);
    assert!(v.problems().is_empty());
    let stdout = v.stdout();
    for p in artifact_paths(&t.root) {
        assert!(
            stdout.lines().any(|l| l == format!("ok        {p}")),
            "{p} checked:\n{stdout}"
        );
    }
    assert_eq!(v.report["checked"], artifact_paths(&t.root).len());
    assert_eq!(v.report["manifest_sha256"], t.manifest_sha256);
    // Without the external hash it passes too.
    assert_eq!(verify(&t.root, None).out.status.code(), Some(0));
}

/// [security] One flipped byte in any artifact fails verify, naming that artifact's stored SHA-256
/// and nothing else.
#[test]
fn flipping_one_byte_of_any_artifact_fails_naming_it() {
    for path in artifact_paths(&template().root) {
        let c = fresh_copy();
        let file = c.root.join(&path);
        let mut bytes = std::fs::read(&file).unwrap();
        let i = bytes.len() / 2;
        bytes[i] ^= 0x01;
        std::fs::write(&file, &bytes).unwrap();
        verify(&c.root, None).fails_only_on(&path, "stored sha256");
    }
}

/// [security] Any artifact cut by one byte fails verify, naming its size and stored SHA-256.
#[test]
fn truncating_any_artifact_fails_naming_it() {
    for path in artifact_paths(&template().root) {
        let c = fresh_copy();
        let file = c.root.join(&path);
        let len = std::fs::metadata(&file).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(len - 1)
            .unwrap();
        let v = verify(&c.root, None);
        v.fails_only_on(
            &path,
            &format!("size {} differs from the manifest's {len}", len - 1),
        );
        v.fails_only_on(&path, "stored sha256");
    }
}

/// [security] Any deleted artifact fails verify, named as missing.
#[test]
fn deleting_any_artifact_fails_naming_it() {
    for path in artifact_paths(&template().root) {
        let c = fresh_copy();
        std::fs::remove_file(c.root.join(&path)).unwrap();
        verify(&c.root, None).fails_only_on(&path, "missing");
    }
}

/// [security] An artifact replaced with other valid records fails on both hashes, and on the raw
/// hash still when the forger fixes the stored hash and size.
#[test]
fn replacing_an_artifact_with_other_valid_content_fails_on_both_hashes() {
    let c = fresh_copy();
    let forged = zstd::encode_all(&b"{\"pid\":1}\n"[..], 3).unwrap();
    std::fs::write(c.root.join(PROCESSES), &forged).unwrap();
    let v = verify(&c.root, None);
    v.fails_only_on(PROCESSES, "stored sha256");
    v.fails_only_on(PROCESSES, "raw sha256");
    v.fails_only_on(PROCESSES, "raw size 10");

    // The forger also fixes the stored hash and size: the raw hash still gives it away.
    edit_manifest(&c.root, |m| {
        let e = entry_mut(m, PROCESSES);
        e["stored_bytes"] = forged.len().into();
        e["stored_sha256"] = sha256_hex(&forged).into();
    });
    let v = verify(&c.root, None);
    v.fails_only_on(PROCESSES, "raw sha256");
    assert!(v
        .problems()
        .iter()
        .all(|(_, cause)| !cause.contains("stored sha256")));
}

/// [security] An artifact and manifest rewritten to agree pass verify alone, and fail with the
/// summary's manifest hash.
#[test]
fn a_consistently_rewritten_bundle_is_caught_only_by_the_manifest_hash() {
    let t = template();
    let c = fresh_copy();
    let raw = b"{\"pid\":1}\n";
    let forged = zstd::encode_all(&raw[..], 3).unwrap();
    std::fs::write(c.root.join(PROCESSES), &forged).unwrap();
    edit_manifest(&c.root, |m| {
        let e = entry_mut(m, PROCESSES);
        e["stored_bytes"] = forged.len().into();
        e["stored_sha256"] = sha256_hex(&forged).into();
        e["raw_bytes"] = raw.len().into();
        e["raw_sha256"] = sha256_hex(raw).into();
        e["records"] = 1.into();
    });
    // Every object matches a manifest that was rewritten to match: only the hash kept
    // off the host (the summary line's manifest_sha256) tells.
    assert_eq!(verify(&c.root, None).out.status.code(), Some(0));
    verify(&c.root, Some(&t.manifest_sha256))
        .fails_only_on("manifest.json", "differs from the expected");
}

/// [security] An edited stored or raw hash in the manifest fails naming the object and quoting the
/// value; an edited spec hash fails on the spec.
#[test]
fn editing_a_hash_in_the_manifest_fails_naming_the_object() {
    let t = template();
    let bogus = sha256_hex(b"not the artifact");
    for (field, cause) in [
        ("stored_sha256", "stored sha256"),
        ("raw_sha256", "raw sha256"),
    ] {
        let c = fresh_copy();
        edit_manifest(&c.root, |m| {
            entry_mut(m, PROCESSES)[field] = bogus.clone().into()
        });
        let v = verify(&c.root, None);
        v.fails_only_on(PROCESSES, cause);
        assert!(
            v.problems()[0].1.contains(&bogus),
            "the cause quotes the manifest's value"
        );
        // With the summary's hash, the edit of the manifest itself is named too.
        let v = verify(&c.root, Some(&t.manifest_sha256));
        assert_eq!(v.out.status.code(), Some(1));
        let problems = v.problems();
        assert!(
            problems
                .iter()
                .any(|(p, c)| p == "manifest.json" && c.contains("differs from the expected")),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|(p, _)| p == PROCESSES),
            "{problems:#?}"
        );
    }
    // The spec's hash is checked against the stored spec.
    let c = fresh_copy();
    edit_manifest(&c.root, |m| m["spec"]["sha256"] = bogus.clone().into());
    let spec_path = manifest(&c.root)["spec"]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    verify(&c.root, None).fails_only_on(&spec_path, "spec.sha256");
}

/// [security] One edited byte of the manifest in a field no hash covers fails with the summary's
/// hash, and the signature names it without.
#[test]
fn editing_the_manifest_in_any_way_fails_with_the_summary_hash() {
    let t = template();
    let c = fresh_copy();
    // One byte of a field no object hash covers.
    let body = std::fs::read_to_string(c.root.join("manifest.json")).unwrap();
    let host = manifest(&c.root)["host_id"].as_str().unwrap().to_owned();
    let edited = body.replacen(
        &format!("\"host_id\": \"{host}\""),
        &format!("\"host_id\": \"{host}x\""),
        1,
    );
    assert_ne!(edited, body);
    std::fs::write(c.root.join("manifest.json"), edited).unwrap();
    let v = verify(&c.root, Some(&t.manifest_sha256));
    assert_eq!(v.out.status.code(), Some(1));
    let problems = v.problems();
    assert!(
        problems
            .iter()
            .any(|(p, c)| p == "manifest.json" && c.contains("differs from the expected")),
        "{problems:#?}"
    );
    // The signature, checked over the exact manifest bytes, names the edit by itself.
    verify(&c.root, None).fails_only_on("manifest.json.sig", "does not verify");
}

/// [hostile] A truncated, empty, unknown-schema or missing manifest fails verify, naming why.
#[test]
fn an_unparsable_or_missing_manifest_fails() {
    let c = fresh_copy();
    let body = std::fs::read(c.root.join("manifest.json")).unwrap();
    std::fs::write(c.root.join("manifest.json"), &body[..body.len() / 2]).unwrap();
    verify(&c.root, None).fails_only_on("manifest.json", "does not parse");

    std::fs::write(c.root.join("manifest.json"), b"").unwrap();
    verify(&c.root, None).fails_only_on("manifest.json", "does not parse");

    let c = fresh_copy();
    edit_manifest(&c.root, |m| m["schema"] = "vestige.manifest/999".into());
    verify(&c.root, None).fails_only_on("manifest.json", "unknown schema");

    std::fs::remove_file(c.root.join("manifest.json")).unwrap();
    verify(&c.root, None).fails_only_on("manifest.json", "missing");
}

/// [hostile] A manifest listing an artifact twice fails verify, naming it.
#[test]
fn a_duplicated_manifest_entry_fails() {
    let c = fresh_copy();
    edit_manifest(&c.root, |m| {
        let copy = entry_mut(m, PROCESSES).clone();
        m["artifacts"].as_array_mut().unwrap().push(copy);
    });
    verify(&c.root, None).fails_only_on(PROCESSES, "listed twice");
}

/// [security] A manifest path pointing outside the collection (`..`, absolute) is refused even with
/// its hashes intact.
#[test]
fn a_manifest_path_outside_the_collection_is_refused() {
    // The object is moved out of the collection and the manifest pointed at it, hashes intact.
    for outside in ["../moved.zst", "/tmp/../moved.zst"] {
        let c = fresh_copy();
        let moved = c.root.parent().unwrap().join("moved.zst");
        std::fs::rename(c.root.join(PROCESSES), &moved).unwrap();
        edit_manifest(&c.root, |m| {
            entry_mut(m, PROCESSES)["path"] = outside.into()
        });
        verify(&c.root, None).fails_only_on(outside, "refused object path");
    }
}

/// [security] A planted object not listed in the manifest fails verify, naming it; a leftover .part
/// file is only a note.
#[test]
fn an_unlisted_object_fails_naming_it() {
    for extra in [
        "artifacts/extra.jsonl.zst",
        "notes.txt",
        "artifacts/executables/deep/x.bin",
    ] {
        let c = fresh_copy();
        let file = c.root.join(extra);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"planted").unwrap();
        verify(&c.root, None).fails_only_on(extra, "not listed in the manifest");
    }
    // A leftover partial object from an abandoned write is a note, not a failure.
    let c = fresh_copy();
    std::fs::write(c.root.join("artifacts/x.jsonl.zst.part"), b"half").unwrap();
    let v = verify(&c.root, None);
    assert_eq!(v.out.status.code(), Some(0), "{}", v.stdout());
    assert!(v.report["notes"].to_string().contains("x.jsonl.zst.part"));
}

/// [security] A wrong expected manifest hash fails verify, naming it; the hash's case does not
/// matter.
#[test]
fn a_wrong_manifest_hash_fails() {
    let t = template();
    let wrong = sha256_hex(b"some other manifest");
    verify(&t.root, Some(&wrong)).fails_only_on(
        "manifest.json",
        &format!("differs from the expected {wrong}"),
    );
    // Case does not matter; the digits do.
    assert_eq!(
        verify(&t.root, Some(&t.manifest_sha256.to_uppercase()))
            .out
            .status
            .code(),
        Some(0)
    );
}

/// [security] An artifact replaced by a symbolic link to its own bytes fails as not a regular file.
#[test]
fn an_artifact_replaced_by_a_symlink_fails() {
    let c = fresh_copy();
    let file = c.root.join(PROCESSES);
    let moved = c.root.parent().unwrap().join("elsewhere.zst");
    std::fs::rename(&file, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &file).unwrap();
    // Same bytes behind the link, but the object itself is not what was stored.
    verify(&c.root, None).fails_only_on(PROCESSES, "not a regular file");
}

/// verify of a directory that does not exist exits 2.
#[test]
fn verify_of_a_missing_directory_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vestige(&["verify", tmp.path().join("nope").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

/// `vestige verify --json` with a time limit: a hostile bundle must not make it wait forever.
fn verify_within(root: &Path, limit: std::time::Duration) -> Verdict {
    let mut child = std::process::Command::new(e2e::vestige_bin())
        .args(["verify", root.to_str().unwrap(), "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("verify still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let mut report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["verified"] = report["problems"].as_array().unwrap().is_empty().into();
    Verdict { out, report }
}

/// [hostile] An artifact or manifest replaced by a FIFO or an endless character device is named as
/// not a regular file within 20 seconds.
#[test]
fn an_artifact_replaced_by_a_fifo_or_a_device_is_named_not_waited_on() {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let limit = std::time::Duration::from_secs(20);
    let make = |path: &Path, mode: libc::mode_t, dev: libc::dev_t| {
        std::fs::remove_file(path).unwrap();
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
        let rc = unsafe { libc::mknod(c.as_ptr(), mode, dev) };
        assert_eq!(
            rc,
            0,
            "mknod {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    };
    // A FIFO: opening it for reading would wait for a writer that never comes.
    let c = fresh_copy();
    make(&c.root.join(PROCESSES), libc::S_IFIFO | 0o600, 0);
    verify_within(&c.root, limit).fails_only_on(PROCESSES, "not a regular file");
    // A character device that never ends (/dev/zero's numbers). Needs root, as the zoo does.
    let c = fresh_copy();
    make(
        &c.root.join(PROCESSES),
        libc::S_IFCHR | 0o600,
        libc::makedev(1, 5),
    );
    verify_within(&c.root, limit).fails_only_on(PROCESSES, "not a regular file");
    // A FIFO in place of the manifest.
    let c = fresh_copy();
    make(&c.root.join("manifest.json"), libc::S_IFIFO | 0o600, 0);
    verify_within(&c.root, limit).fails_only_on("manifest.json", "not a regular file");
}
