//! The CLI contract: destinations, exit codes, spec errors.

use e2e::{manifest, summary, vestige};

/// collect with neither --out nor --s3 exits 2 and names both.
#[test]
fn collect_without_destination_exits_2() {
    let out = vestige(&["collect"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--out") && err.contains("--s3"), "{err}");
}

/// [hostile] A spec with an unknown option makes collect and spec check exit 2 naming it at line 6,
/// column 9, and nothing is collected.
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

/// [hostile] A brace-bomb pattern and one with three `**` make spec check and collect exit 2 with
/// the reason and position, within 10 seconds, collecting nothing.
#[test]
fn huge_or_recursive_file_patterns_exit_2_before_collecting() {
    let tmp = tempfile::tempdir().unwrap();
    // 8 groups of 50 alternatives: about 4 x 10^13 patterns if expanded.
    let group: Vec<String> = (0..50).map(|i| format!("d{i}")).collect();
    let group = format!("{{{}}}", group.join(","));
    let bomb = format!("/{}", vec![group; 8].join("/"));
    for (what, key, pattern, needle) in [
        (
            "brace",
            "patterns",
            bomb.as_str(),
            "more than 1024 patterns",
        ),
        ("anydirs", "exclude", "/**/a/**/b/**", "3 `**` components"),
    ] {
        let spec = tmp.path().join(format!("{what}.yaml"));
        std::fs::write(
            &spec,
            format!(
                "name: {what}\nartifacts:\n  - name: f\n    collect:\n      files:\n        max_depth: 4\n        {key}: [\"/etc/x\", \"{pattern}\"]\n"
            ),
        )
        .unwrap();
        let at = if key == "patterns" {
            "line 7, column 30"
        } else {
            "line 7, column 29"
        };
        let started = std::time::Instant::now();
        let check = vestige(&["spec", "check", spec.to_str().unwrap()]);
        assert_eq!(check.status.code(), Some(2), "{what}");
        let err = String::from_utf8_lossy(&check.stderr);
        assert!(err.contains(needle) && err.contains(at), "{what}: {err}");

        let out_dir = tmp.path().join(format!("out-{what}"));
        let out = vestige(&[
            "collect",
            "--spec",
            spec.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{what}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle) && err.contains(at), "{what}: {err}");
        assert!(!out_dir.exists(), "{what}: nothing collected");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{what}: {:?}",
            started.elapsed()
        );
    }
}

/// spec show prints the triage and minimal profiles; an unknown profile exits 2.
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

/// A minimal collection exits 0, its summary (under 2,500 bytes) matches the manifest and its hash,
/// and verify with that hash exits 0.
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

/// Run from a temporary directory (where executables are recovered), vestige records itself
/// as the collector (its hash is the manifest's tool hash) and does not copy its own binary
/// into the evidence.
#[test]
fn collector_run_from_tmp_does_not_recover_itself() {
    let tmp = tempfile::Builder::new()
        .prefix("vestige-self-")
        .tempdir_in("/tmp")
        .unwrap();
    let bin = tmp.path().join("vestige");
    std::fs::copy(e2e::vestige_bin(), &bin).unwrap();
    let spec = tmp.path().join("p.yaml");
    std::fs::write(
        &spec,
        // The cap is above the size of a debug build: only the rule keeps vestige out.
        "name: p\nartifacts:\n  - {name: processes, collect: {processes: {recover_max_bytes: 2GiB}}}\n",
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let out = std::process::Command::new(&bin)
        .args([
            "collect",
            "--quiet",
            "--imds-timeout",
            "100ms",
            "--time-source",
            "none",
        ])
        .args([
            "--spec",
            spec.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = std::path::PathBuf::from(summary(&out)["location"].as_str().unwrap());
    let me = e2e::artifact_records(&root, "processes")
        .into_iter()
        .find(|r| r["is_collector"] == true)
        .expect("a record of the collector");
    assert_eq!(me["exe_in_temp_dir"], true, "{me}");
    assert_eq!(me["exe_sha256"], manifest(&root)["tool"]["sha256"], "{me}");
    assert!(me["exe_recovered_path"].is_null(), "{me}");
    let names: Vec<String> = manifest(&root)["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    let own = format!("executable-{}", &me["exe_sha256"].as_str().unwrap()[..16]);
    assert!(!names.contains(&own), "{names:?}");
}

/// Monotonic start and end (ns, the manifest's `clock_start` and `clock_end`) of each
/// artifact that was stored, by name.
fn artifact_spans(root: &std::path::Path) -> std::collections::HashMap<String, (u64, u64)> {
    let m = e2e::manifest(root);
    let mut spans = std::collections::HashMap::new();
    for a in m["artifacts"].as_array().unwrap() {
        if let (Some(start), Some(end)) = (
            a["clock_start"]["monotonic_ns"].as_u64(),
            a["clock_end"]["monotonic_ns"].as_u64(),
        ) {
            spans.insert(a["name"].as_str().unwrap().to_owned(), (start, end));
        }
    }
    spans
}

fn collect_spec(spec: &str, extra: &[&str]) -> std::path::PathBuf {
    let tmp = tempfile::tempdir().unwrap().keep();
    let spec_path = tmp.join("s.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let out_dir = tmp.join("out");
    let mut args = vec![
        "collect",
        "--quiet",
        "--imds-timeout",
        "100ms",
        "--time-source",
        "none",
        "--spec",
        spec_path.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = e2e::vestige(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = std::path::PathBuf::from(summary(&out)["location"].as_str().unwrap());
    let report = e2e::vestige(&["verify", root.to_str().unwrap()]);
    assert_eq!(report.status.code(), Some(0), "verify: {:?}", report);
    root
}

/// Record artifacts run two at a time (one at a time with --parallel-artifacts 1), a file group
/// runs alone, and the manifest keeps spec order.
#[test]
fn record_artifacts_overlap_in_pairs_and_file_groups_run_alone() {
    // Two record collectors: the second starts while the first is still at work, unless
    // --parallel-artifacts 1 makes them take turns.
    let pair = "name: p\nartifacts:\n  - {name: maps, collect: memory_maps}\n  - {name: procs, collect: processes}\n  - {name: sys, collect: system}\n";
    let root = collect_spec(pair, &[]);
    let s = artifact_spans(&root);
    let (maps, procs, sys) = (s["maps"], s["procs"], s["sys"]);
    assert!(procs.0 < maps.1, "procs started after maps ended: {s:?}");
    // At most two at once: the third starts after one of the first two ended.
    assert!(sys.0 >= maps.1.min(procs.1), "{s:?}");
    let manifest = e2e::manifest(&root);
    let names: Vec<&str> = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        // Executables the host runs from memfd or deleted files are stored beside processes.
        .filter(|n| !n.starts_with("executable-"))
        .collect();
    assert_eq!(names, ["spec", "maps", "procs", "sys"], "spec order kept");

    let root = collect_spec(pair, &["--parallel-artifacts", "1"]);
    let s = artifact_spans(&root);
    assert!(s["procs"].0 >= s["maps"].1, "{s:?}");
    assert!(s["sys"].0 >= s["procs"].1, "{s:?}");

    // A file group waits for the record collector before it and holds the one after it.
    let tree = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tree.path().join("var/log")).unwrap();
    std::fs::write(tree.path().join("var/log/a.log"), vec![b'x'; 1 << 20]).unwrap();
    let spec = "name: f\nartifacts:\n  - {name: maps, collect: memory_maps}\n  - name: logs\n    collect:\n      files:\n        patterns: [\"/var/log/**\"]\n  - {name: sys, collect: system}\n";
    let root = collect_spec(spec, &["--root", tree.path().to_str().unwrap()]);
    let s = artifact_spans(&root);
    assert!(s["logs"].0 >= s["maps"].1, "{s:?}");
    assert!(s["sys"].0 >= s["logs"].1, "{s:?}");
}

/// The manifest records who ran it and how: the SSM command id from the variable the SSM
/// document exports, the SSM agent's instance and region, the build of the binary, and the
/// default time source (Amazon Time Sync).
#[test]
fn manifest_records_ssm_invocation_build_and_default_time_source() {
    // The variable name is taken from the document itself, so the two cannot drift apart.
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../packaging/ssm/vestige-collect.yaml"),
    )
    .unwrap();
    let exported = regex::Regex::new(r"export (VESTIGE_SSM_[A-Z_]+)")
        .unwrap()
        .captures(&doc)
        .unwrap_or_else(|| panic!("the SSM document exports no VESTIGE_SSM_ variable"))[1]
        .to_owned();
    let command_id = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
    let tmp = tempfile::tempdir().unwrap();
    let collect = |env: &[(&str, &str)]| {
        let out = std::process::Command::new(e2e::vestige_bin())
            .args(["collect", "--quiet", "--spec", "minimal", "--out"])
            .arg(tmp.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = summary(&out);
        manifest(std::path::Path::new(s["location"].as_str().unwrap()))
    };
    let m = collect(&[
        (exported.as_str(), command_id),
        ("AWS_SSM_INSTANCE_ID", "i-0123456789abcdef0"),
        ("AWS_SSM_REGION_NAME", "eu-west-1"),
    ]);
    let inv = &m["invocation"];
    assert_eq!(inv["ssm_command_id"], command_id, "{inv}");
    assert_eq!(inv["ssm_instance_id"], "i-0123456789abcdef0", "{inv}");
    assert_eq!(inv["ssm_region"], "eu-west-1", "{inv}");

    let build = &m["tool"]["build"];
    assert!(
        build["target"]
            .as_str()
            .is_some_and(|t| t.contains("linux")),
        "{build}"
    );
    assert!(
        matches!(build["profile"].as_str(), Some("debug" | "release")),
        "{build}"
    );
    assert!(
        build["rustc"]
            .as_str()
            .is_some_and(|r| r.starts_with("rustc ")),
        "{build}"
    );
    assert!(
        build["features"].as_array().unwrap().contains(&"s3".into()),
        "{build}"
    );

    // No --time-source: Amazon Time Sync, named in the skew and the footprint.
    let skew = &m["clock"]["skew"];
    assert_eq!(skew["source"], "169.254.169.123", "{skew}");
    assert!(
        m["collector"]["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["purpose"] == "ntp" && e["address"] == "169.254.169.123"),
        "{}",
        m["collector"]
    );

    // Outside SSM nothing is recorded, and a value that is not an id is refused.
    let m = collect(&[(exported.as_str(), "x; rm -rf /")]);
    assert!(
        m["invocation"]["ssm_command_id"].is_null(),
        "{}",
        m["invocation"]
    );
    assert!(
        m["invocation"]["ssm_region"].is_null(),
        "{}",
        m["invocation"]
    );
}
