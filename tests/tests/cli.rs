//! The CLI contract: destinations, exit codes, spec errors.

use e2e::{manifest, summary, vestige};

#[test]
fn collect_without_destination_exits_2() {
    let out = vestige(&["collect"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--out") && err.contains("--s3"), "{err}");
}

#[test]
fn malformed_spec_exits_2_with_line_and_column_and_collects_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("bad.yaml");
    std::fs::write(&spec, "name: bad\nartifacts:\n  - name: p\n    collect:\n      processes:\n        hash_exes: yes\n").unwrap();
    let out_dir = tmp.path().join("out");
    let out = vestige(&[
        "collect",
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 6, column 9"), "{err}");
    assert!(err.contains("hash_exes"), "{err}");
    assert!(!out_dir.exists(), "nothing collected");

    let check = vestige(&["spec", "check", spec.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&check.stderr).contains("line 6, column 9"));
}

#[test]
fn spec_show_prints_the_embedded_profiles() {
    for name in ["triage", "minimal"] {
        let out = vestige(&["spec", "show", name]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("name: {name}")), "{text}");
    }
    assert_eq!(vestige(&["spec", "show", "nope"]).status.code(), Some(2));
}

#[test]
fn minimal_collection_verifies_and_summary_matches_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vestige(&[
        "collect",
        "--spec",
        "minimal",
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    let root = std::path::PathBuf::from(s["location"].as_str().unwrap());
    assert!(root.starts_with(tmp.path()));
    let m = manifest(&root);
    assert_eq!(m["schema"], "vestige.manifest/1");
    assert_eq!(s["collection_id"], m["collection_id"]);
    assert_eq!(s["artifacts"], m["artifacts"].as_array().unwrap().len());
    let body = std::fs::read(root.join("manifest.json")).unwrap();
    assert_eq!(s["manifest_sha256"], e2e::sha256_hex(&body));
    assert!(out.stdout.len() < 2500);
    let v = vestige(&[
        "verify",
        root.to_str().unwrap(),
        "--manifest-sha256",
        s["manifest_sha256"].as_str().unwrap(),
    ]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
}
