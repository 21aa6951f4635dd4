//! Chain of custody end to end: artifacts encrypted to age recipients (verified without keys,
//! decrypted with the identity, opened by the standard `age` CLI), the manifest signed with
//! Ed25519 (checked by vestige and by `openssl pkeyutl`), tampering and wrong keys refused,
//! bad key material refused before anything is collected, and the round trip through a
//! local S3 server.

use e2e::moto::{aws_env, Moto};
use e2e::{sha256_hex, summary, verify_problems, vestige_bin};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BUCKET: &str = "evidence-custody";

/// A small, fast spec: two record artifacts and no host files.
const SPEC: &str = "name: custody\nartifacts:\n  - name: connections\n    collect: connections\n  - name: kernel_modules\n    collect: kernel_modules\n";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn vestige_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(vestige_bin());
    aws_env(&mut c);
    c.args(args).env_remove("VESTIGE_SIGNING_KEY");
    c
}

fn run(args: &[&str]) -> Output {
    vestige_cmd(args).output().expect("run vestige")
}

fn tool(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

struct Keys {
    _dir: tempfile::TempDir,
    spec: PathBuf,
    identity: PathBuf,
    recipient: String,
    private_pem: PathBuf,
    public_pem: PathBuf,
    other_public_pem: PathBuf,
}

fn openssl_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    tool(
        Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&private),
    );
    tool(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public),
    );
    (private, public)
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let identity = dir.path().join("responders.key");
    tool(Command::new("age-keygen").arg("-o").arg(&identity));
    let recipient = text(&tool(Command::new("age-keygen").arg("-y").arg(&identity)).stdout)
        .trim()
        .to_owned();
    assert!(recipient.starts_with("age1"), "{recipient}");
    let (private_pem, public_pem) = openssl_pair(dir.path(), "team");
    let (_, other_public_pem) = openssl_pair(dir.path(), "other");
    let spec = dir.path().join("custody.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    Keys {
        _dir: dir,
        spec,
        identity,
        recipient,
        private_pem,
        public_pem,
        other_public_pem,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Collects into `out` with extra args; returns the collection root and the summary.
fn collect(out: &Path, k: &Keys, extra: &[&str]) -> (PathBuf, Value) {
    let mut args = vec!["collect", "--quiet", "--spec", s(&k.spec), "--out", s(out)];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let sum = summary(&o);
    (PathBuf::from(sum["location"].as_str().unwrap()), sum)
}

fn verify_json(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    all.push("--json");
    let o = run(&all);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json ({e}): {}{}",
            text(&o.stdout),
            text(&o.stderr)
        )
    });
    (o.status.code(), v)
}

/// Every artifact `decrypt` wrote under `plain` decompresses to the manifest's raw SHA-256.
fn assert_decrypted_copies_match(plain: &Path, m: &Value) {
    for a in m["artifacts"].as_array().unwrap() {
        let path = a["path"].as_str().unwrap();
        let copy = plain.join(path.strip_suffix(".age").unwrap_or(path));
        let raw = zstd::decode_all(&std::fs::read(&copy).unwrap()[..]).unwrap();
        assert_eq!(
            sha256_hex(&raw),
            a["raw_sha256"].as_str().unwrap(),
            "{path}"
        );
    }
}

fn manifest_of(root: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap()
}

/// `age -d -i IDENTITY FILE`, then zstd: the raw bytes of an encrypted artifact.
fn age_cli_raw(identity: &Path, object: &Path) -> Vec<u8> {
    let out = tool(
        Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(identity)
            .arg(object),
    );
    zstd::decode_all(&out.stdout[..]).expect("age output is zstd")
}

/// [security] An encrypted, signed collection verifies with and without keys, opens with the age
/// CLI and openssl, decrypts to a checked copy, and a flipped ciphertext byte is named.
#[test]
fn encrypted_signed_collection_verifies_decrypts_and_opens_with_public_tools() {
    let k = keys();
    let tmp = tempfile::tempdir().unwrap();
    let (root, sum) = collect(
        tmp.path(),
        &k,
        &[
            "--encrypt-to",
            &k.recipient,
            "--signing-key-file",
            s(&k.private_pem),
        ],
    );
    assert_eq!(sum["encrypted"], true, "{sum}");
    assert_eq!(sum["signing_key"], "provided", "{sum}");
    let m = manifest_of(&root);
    assert_eq!(m["encryption"]["format"], "age");
    assert_eq!(m["encryption"]["recipients"][0], k.recipient.as_str());
    assert_eq!(m["signature"]["algorithm"], "ed25519");
    assert_eq!(m["signature"]["key"], "provided");
    assert_eq!(m["signature"]["public_key"], sum["signing_public_key"]);
    assert_eq!(
        sha256_hex(&std::fs::read(root.join("manifest.json")).unwrap()),
        sum["manifest_sha256"].as_str().unwrap()
    );
    let mut encrypted = 0;
    for a in m["artifacts"].as_array().unwrap() {
        let path = a["path"].as_str().unwrap();
        let bytes = std::fs::read(root.join(path)).unwrap();
        assert_eq!(sha256_hex(&bytes), a["stored_sha256"].as_str().unwrap());
        encrypted += 1;
        if a["name"] == "spec" {
            // The spec copy is encrypted too; the manifest points at the .age object.
            assert_eq!(path, "artifacts/spec.yaml.zst.age");
            assert_eq!(m["spec"]["path"], path, "{m}");
            assert_eq!(a["raw_sha256"], m["spec"]["sha256"], "{a}");
        } else {
            assert!(path.ends_with(".jsonl.zst.age"), "{path}");
        }
        assert_eq!(a["encoding"], "zstd+age", "{a}");
        assert_eq!(a["stored_is"], "ciphertext", "{a}");
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"), "{path}");
        // The standard age CLI opens it; the plaintext is what the manifest hashed.
        let raw = age_cli_raw(&k.identity, &root.join(path));
        assert_eq!(
            sha256_hex(&raw),
            a["raw_sha256"].as_str().unwrap(),
            "{path}"
        );
        assert_eq!(raw.len() as u64, a["raw_bytes"].as_u64().unwrap());
    }
    assert_eq!(encrypted, 3);
    assert!(!root.join("artifacts/spec.yaml.zst").exists());
    let spec_raw = age_cli_raw(&k.identity, &root.join("artifacts/spec.yaml.zst.age"));
    assert_eq!(spec_raw, std::fs::read(&k.spec).unwrap());

    // openssl checks the signature over the exact manifest bytes.
    let o = Command::new("openssl")
        .args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            s(&k.public_pem),
            "-rawin",
            "-in",
        ])
        .arg(root.join("manifest.json"))
        .arg("-sigfile")
        .arg(root.join("manifest.json.sig"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));

    // Without keys: ciphertext checked, signature checked against the key the manifest names.
    let (code, v) = verify_json(&[s(&root)]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["ciphertext_only"], 3, "{v}");
    assert_eq!(v["decrypted"], 0, "{v}");
    assert_eq!(v["signature"], "valid_unpinned", "{v}");
    // report re-verifies the encrypted collection (spec copy included) without a key.
    let page = tmp.path().join("report.html");
    let o = run(&["report", s(&root), "--out", s(&page)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let r: Value = serde_json::from_slice(o.stdout.trim_ascii_end()).unwrap();
    assert_eq!(r["verified"], true, "{r}");
    assert!(std::fs::read_to_string(&page)
        .unwrap()
        .contains("artifacts/spec.yaml.zst.age"));
    // With the team's public key and the identity: everything, raw hashes included.
    let (code, v) = verify_json(&[
        s(&root),
        "--public-key",
        s(&k.public_pem),
        "--identity",
        s(&k.identity),
        "--manifest-sha256",
        sum["manifest_sha256"].as_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["decrypted"], 3, "{v}");
    assert_eq!(v["signature"], "valid", "{v}");
    // The summary's printed key is accepted as is.
    let (code, _) = verify_json(&[
        s(&root),
        "--public-key",
        sum["signing_public_key"].as_str().unwrap(),
    ]);
    assert_eq!(code, Some(0));

    // decrypt writes a readable copy, checking every hash on the way.
    let plain = tmp.path().join("plain");
    let o = run(&[
        "decrypt",
        s(&root),
        "--identity",
        s(&k.identity),
        "--out",
        s(&plain),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert_decrypted_copies_match(&plain, &m);
    assert_eq!(
        std::fs::read(plain.join("manifest.json")).unwrap(),
        std::fs::read(root.join("manifest.json")).unwrap()
    );
    assert!(plain.join("manifest.json.sig").exists());
    let records = e2e::records(&plain, "artifacts/connections.jsonl.zst");
    assert!(records.iter().all(|r| r.get("protocol").is_some()));
    // The decrypted copy verifies on its own: signature, and every plaintext's raw hash.
    let encrypted = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["path"].as_str().is_some_and(|p| p.ends_with(".age")))
        .count();
    let (code, v) = verify_json(&[s(&plain)]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["plaintext_copies"], encrypted, "{v}");
    // A flipped byte in a decrypted object is named.
    let copy = plain.join("artifacts/connections.jsonl.zst");
    let good = std::fs::read(&copy).unwrap();
    let mut bad = good.clone();
    let i = bad.len() / 2;
    bad[i] ^= 1;
    std::fs::write(&copy, &bad).unwrap();
    let (code, v) = verify_json(&[s(&plain)]);
    assert_eq!(code, Some(1), "{v}");
    let p = verify_problems(&v);
    assert!(
        p.iter()
            .all(|(path, _)| path == "artifacts/connections.jsonl.zst"),
        "{p:#?}"
    );
    std::fs::write(&copy, &good).unwrap();
    // The report reads the decrypted copy: every record artifact whole, verified, and the
    // kernel modules' names on the page.
    let html = tmp.path().join("report.html");
    let o = run(&["report", s(&plain), "--out", s(&html)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let r: Value = serde_json::from_slice(o.stdout.trim_ascii_end()).unwrap();
    assert_eq!(r["damaged_artifacts"], 0, "{r}");
    assert_eq!(r["verified"], true, "{r}");
    // On the encrypted collection itself, each record artifact is named as needing decryption.
    let enc_html = tmp.path().join("encrypted.html");
    let o = run(&["report", s(&root), "--out", s(&enc_html)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let r: Value = serde_json::from_slice(o.stdout.trim_ascii_end()).unwrap();
    assert_eq!(r["damaged_artifacts"], 2, "{r}");
    assert!(std::fs::read_to_string(&enc_html)
        .unwrap()
        .contains("decrypt the collection first"));
    let page = std::fs::read_to_string(&html).unwrap();
    let modules = e2e::records(&plain, "artifacts/kernel_modules.jsonl.zst").len();
    assert!(
        page.contains(&format!("{modules} listed")),
        "{modules} modules not on the page"
    );
    // An existing --out is refused.
    let o = run(&[
        "decrypt",
        s(&root),
        "--identity",
        s(&k.identity),
        "--out",
        s(&plain),
    ]);
    assert_eq!(o.status.code(), Some(2));

    // A flipped ciphertext byte: named without keys (stored hash) and with them (decryption).
    let target = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "connections")
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = root.join(&target);
    let mut bytes = std::fs::read(&file).unwrap();
    let i = bytes.len() - 20;
    bytes[i] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    for extra in [&[][..], &["--identity", s(&k.identity)][..]] {
        let mut args = vec![s(&root)];
        args.extend_from_slice(extra);
        let (code, v) = verify_json(&args);
        assert_eq!(code, Some(1), "{v}");
        let p = verify_problems(&v);
        assert!(p.iter().all(|(path, _)| *path == target), "{p:#?}");
        assert!(p.iter().any(|(_, c)| c.contains("stored sha256")), "{p:#?}");
        if !extra.is_empty() {
            // The plaintext could not be authenticated either.
            assert!(
                p.iter().any(|(_, c)| !c.contains("stored sha256")),
                "{p:#?}"
            );
        }
    }
}

/// [security] A wrong public key, a flipped signature bit, an edited manifest, a deleted signature
/// and a forger's re-signature each fail verify against the pinned key.
#[test]
fn tampered_signature_or_manifest_and_wrong_keys_fail() {
    let k = keys();
    let tmp = tempfile::tempdir().unwrap();
    let (root, sum) = collect(tmp.path(), &k, &[]);
    // No team key: an ephemeral one, printed in the summary.
    assert_eq!(sum["signing_key"], "ephemeral", "{sum}");
    let key = sum["signing_public_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 44, "{key}");
    assert_eq!(sum["encrypted"], false);
    let (code, v) = verify_json(&[s(&root), "--public-key", &key]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["signature"], "valid");
    assert_eq!(v["signature_public_key"], key.as_str());

    // A wrong public key fails, naming the signature.
    let (code, v) = verify_json(&[s(&root), "--public-key", s(&k.other_public_pem)]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(
        verify_problems(&v),
        vec![(
            "manifest.json.sig".to_owned(),
            verify_problems(&v)[0].1.clone()
        )]
    );
    assert!(verify_problems(&v)[0].1.contains("does not verify"), "{v}");

    let sig_path = root.join("manifest.json.sig");
    let sig = std::fs::read(&sig_path).unwrap();
    assert_eq!(sig.len(), 64);
    // A flipped signature bit fails, with or without the pinned key.
    let mut bad = sig.clone();
    bad[10] ^= 1;
    std::fs::write(&sig_path, &bad).unwrap();
    for args in [vec![s(&root)], vec![s(&root), "--public-key", &key]] {
        let (code, v) = verify_json(&args);
        assert_eq!(code, Some(1), "{v}");
        assert!(verify_problems(&v)
            .iter()
            .all(|(p, _)| p == "manifest.json.sig"));
    }
    std::fs::write(&sig_path, &sig).unwrap();

    // One changed byte of the manifest fails the signature.
    let body = std::fs::read_to_string(root.join("manifest.json")).unwrap();
    let edited = body.replacen("\"collection_id\": \"", "\"collection_id\": \"X", 1);
    std::fs::write(root.join("manifest.json"), &edited).unwrap();
    let (code, v) = verify_json(&[s(&root)]);
    assert_eq!(code, Some(1), "{v}");
    assert!(
        verify_problems(&v)
            .iter()
            .any(|(p, c)| p == "manifest.json.sig" && c.contains("does not verify")),
        "{v}"
    );

    // A forger who re-signs with a key of their own and names it in the manifest passes
    // an unpinned check, but not the key kept outside the host.
    let (forger_pem, forger_pub) = openssl_pair(tmp.path(), "forger");
    let forger_key = text(
        &tool(Command::new("sh").arg("-c").arg(format!(
            "openssl pkey -pubin -in '{}' -outform DER | tail -c 32 | base64",
            forger_pub.display()
        )))
        .stdout,
    )
    .trim()
    .to_owned();
    let forged = edited.replace(&key, &forger_key);
    assert_ne!(forged, edited);
    std::fs::write(root.join("manifest.json"), &forged).unwrap();
    tool(
        Command::new("openssl")
            .args([
                "pkeyutl",
                "-sign",
                "-inkey",
                s(&forger_pem),
                "-rawin",
                "-in",
            ])
            .arg(root.join("manifest.json"))
            .arg("-out")
            .arg(&sig_path),
    );
    let (code, v) = verify_json(&[s(&root)]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["signature"], "valid_unpinned");
    let (code, v) = verify_json(&[s(&root), "--public-key", &key]);
    assert_eq!(code, Some(1), "{v}");
    assert!(verify_problems(&v)
        .iter()
        .any(|(p, c)| p == "manifest.json.sig" && c.contains("does not verify")));

    // A deleted signature fails when the manifest names a key or one is given.
    std::fs::write(root.join("manifest.json"), &body).unwrap();
    std::fs::remove_file(&sig_path).unwrap();
    for args in [vec![s(&root)], vec![s(&root), "--public-key", &key]] {
        let (code, v) = verify_json(&args);
        assert_eq!(code, Some(1), "{v}");
        assert!(verify_problems(&v)
            .iter()
            .any(|(p, c)| p == "manifest.json.sig" && c.contains("missing")));
    }
}

/// [security] Bad age recipients, garbage or public keys as signing key, a key both in a file and
/// the environment, and key material on the command line exit 2 before anything is collected.
#[test]
fn bad_keys_and_recipients_are_usage_errors_before_anything_is_collected() {
    let k = keys();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let base = ["collect", "--quiet", "--spec", s(&k.spec), "--out", s(&out)];
    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let bad_spec = tmp.path().join("bad.yaml");
    std::fs::write(&bad_spec, format!("{SPEC}encrypt_to: [\"age1notakey\"]\n")).unwrap();
    /// Extra arguments, extra environment, and what stderr must say.
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["--encrypt-to", "age1bogus"], vec![], "--encrypt-to"),
        (
            vec!["--encrypt-to", "ssh-ed25519 AAAA"],
            vec![],
            "--encrypt-to",
        ),
        (vec!["--signing-key-file", s(&garbage)], vec![], "Ed25519"),
        (
            vec!["--signing-key-file", s(&k.public_pem)],
            vec![],
            "PRIVATE KEY",
        ),
        (
            vec!["--signing-key-file", "/nonexistent/key.pem"],
            vec![],
            "nonexistent",
        ),
        (
            vec![],
            vec![("VESTIGE_SIGNING_KEY", "not a key".into())],
            "VESTIGE_SIGNING_KEY",
        ),
        (
            vec!["--signing-key-file", s(&k.private_pem)],
            vec![(
                "VESTIGE_SIGNING_KEY",
                std::fs::read_to_string(&k.private_pem).unwrap(),
            )],
            "not both",
        ),
        // No flag takes key material on the command line.
        (vec!["--signing-key", "x"], vec![], "--signing-key"),
    ];
    for (extra, env, want) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(&extra);
        let mut c = vestige_cmd(&args);
        for (k, v) in &env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(want),
            "{extra:?}: {}",
            text(&o.stderr)
        );
        assert!(!out.exists(), "{extra:?}: something was collected");
    }
    let o = run(&[
        "collect",
        "--quiet",
        "--spec",
        s(&bad_spec),
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("encrypt_to"),
        "{}",
        text(&o.stderr)
    );
    assert!(!out.exists());
}

/// [security] A signing key passed in the environment signs the manifest but appears nowhere in
/// stdout, stderr, the records or the manifest; the parent's copy is recorded redacted.
#[test]
fn signing_key_from_the_environment_never_enters_the_evidence() {
    let k = keys();
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("procs.yaml");
    std::fs::write(
        &spec,
        "name: procs\nartifacts:\n  - name: processes\n    collect:\n      processes:\n        recover_dirs: []\n",
    )
    .unwrap();
    let pem = std::fs::read_to_string(&k.private_pem).unwrap();
    let secret_line = pem.lines().nth(1).unwrap().to_owned();
    // A parent shell that holds the key in its environment too, as the SSM document's does.
    let o = Command::new("sh")
        .arg("-c")
        .arg("\"$0\" \"$@\"; exit $?")
        .arg(vestige_bin())
        .args([
            "collect",
            "--quiet",
            "--spec",
            s(&spec),
            "--out",
            s(tmp.path()),
        ])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("VESTIGE_SIGNING_KEY", &pem)
        .env("SSM_SigningKey", &pem)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let sum = summary(&o);
    assert_eq!(sum["signing_key"], "provided");
    let root = PathBuf::from(sum["location"].as_str().unwrap());
    let (code, v) = verify_json(&[s(&root), "--public-key", s(&k.public_pem)]);
    assert_eq!(code, Some(0), "{v}");
    assert!(!text(&o.stdout).contains(&secret_line));
    assert!(!text(&o.stderr).contains(&secret_line));
    let records = e2e::artifact_records(&root, "processes");
    let all = serde_json::to_string(&records).unwrap();
    assert!(
        !all.contains(&secret_line),
        "the signing key is in the evidence"
    );
    assert!(
        all.contains("VESTIGE_SIGNING_KEY=[redacted]"),
        "the parent shell's variable is recorded, redacted"
    );
    let m = std::fs::read_to_string(root.join("manifest.json")).unwrap();
    assert!(!m.contains(&secret_line));
}

/// [security] An encrypted collection in S3 (moto) verifies from the bucket with the public key or
/// the identity, decrypts from the bucket, and its objects open with the age CLI.
#[test]
fn encrypted_collection_round_trips_through_s3() {
    let k = keys();
    let moto = Moto::start();
    moto.create_locked_bucket(BUCKET, "COMPLIANCE", 1);
    let url = format!("s3://{BUCKET}/cases/ir-9");
    let o = run(&[
        "collect",
        "--quiet",
        "--spec",
        s(&k.spec),
        "--s3",
        &url,
        "--endpoint-url",
        &moto.endpoint(),
        "--encrypt-to",
        &k.recipient,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let sum = summary(&o);
    let location = sum["location"].as_str().unwrap().to_owned();
    let prefix = format!(
        "{}/",
        location.strip_prefix(&format!("s3://{BUCKET}/")).unwrap()
    );
    let m: Value =
        serde_json::from_slice(&moto.get(BUCKET, &format!("{prefix}manifest.json"))).unwrap();
    let sig = moto.get(BUCKET, &format!("{prefix}manifest.json.sig"));
    assert_eq!(sig.len(), 64);
    assert!(m["collector"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["purpose"] == "s3" && e["address"] == moto.endpoint().as_str()));

    // Verify from the bucket without any key: ciphertext hashes and the signature.
    let key = sum["signing_public_key"].as_str().unwrap();
    let (code, v) = verify_json(&[
        &location,
        "--endpoint-url",
        &moto.endpoint(),
        "--public-key",
        key,
    ]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["ciphertext_only"], 3, "{v}");
    assert_eq!(v["signature"], "valid");
    // With the identity: decrypted and raw hashes checked.
    let (code, v) = verify_json(&[
        &location,
        "--endpoint-url",
        &moto.endpoint(),
        "--identity",
        s(&k.identity),
    ]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["decrypted"], 3, "{v}");

    // decrypt straight from the bucket; raw hashes match the manifest.
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain");
    let o = run(&[
        "decrypt",
        &location,
        "--endpoint-url",
        &moto.endpoint(),
        "--identity",
        s(&k.identity),
        "--out",
        s(&plain),
        "--public-key",
        key,
        "--manifest-sha256",
        sum["manifest_sha256"].as_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert_decrypted_copies_match(&plain, &m);
    for a in m["artifacts"].as_array().unwrap() {
        let path = a["path"].as_str().unwrap();
        // The age CLI opens the object as fetched from the bucket.
        if path.ends_with(".age") {
            let fetched = tmp.path().join("fetched.age");
            std::fs::write(&fetched, moto.get(BUCKET, &format!("{prefix}{path}"))).unwrap();
            let raw = age_cli_raw(&k.identity, &fetched);
            assert_eq!(
                sha256_hex(&raw),
                a["raw_sha256"].as_str().unwrap(),
                "{path}"
            );
        }
    }
}
