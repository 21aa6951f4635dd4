//! The static release binary (`packaging/build-static.sh`): it is really static, it is packed
//! with a checksum, and it collects inside an empty root that has no libc, no NSS modules and
//! no /etc/hosts, resolving the IMDS endpoint's name over DNS.

mod deploy_support;

use deploy_support::{repo_root, show, target_dir, tool};
use std::path::{Path, PathBuf};
use std::process::Command;

const INSTANCE_ID: &str = "i-0fedcba9876543210";

/// Builds (or reuses the cached build of) the static binary into `dist`; returns the tarball.
fn build_static(dist: &Path) -> PathBuf {
    let out = Command::new("bash")
        .arg(repo_root().join("packaging/build-static.sh"))
        .env("CARGO_TARGET_DIR", target_dir().join("static"))
        .env("VESTIGE_DIST_DIR", dist)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().unwrap().trim())
}

/// The static release tarball verifies against its checksum, its binary needs no interpreter or
/// libraries, and it collects in an empty chroot, resolving the metadata service over DNS, to a
/// collection that verifies.
#[test]
fn static_binary_collects_in_an_empty_root_resolving_imds_over_dns() {
    for t in [
        "unshare",
        "chroot",
        "ip",
        "python3",
        "readelf",
        "tar",
        "sha256sum",
    ] {
        if tool(t).is_none() {
            return;
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let tarball = build_static(&dist);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        tarball,
        dist.join(format!("vestige-{version}-x86_64-linux.tar.gz"))
    );

    // The checksum file verifies the tarball.
    let check = Command::new("sha256sum")
        .arg("-c")
        .arg(tarball.with_extension("gz.sha256"))
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", show(&check));

    // Unpack; the binary has no interpreter and no shared-library needs.
    let unpacked = tmp.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let top = unpacked.join(format!("vestige-{version}-x86_64-linux"));
    let bin = top.join("vestige");
    assert!(
        top.join("profiles/minimal.yaml").is_file() && top.join("profiles/triage.yaml").is_file()
    );
    let note = std::fs::read_to_string(top.join("LICENSE-NOTE")).unwrap();
    assert!(
        note.contains("glibc") && note.contains("LGPL-2.1-or-later"),
        "{note}"
    );
    let headers = Command::new("readelf")
        .args(["-lds"])
        .arg(&bin)
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&headers.stdout);
    assert!(
        !headers.contains("INTERP"),
        "static binary has a program interpreter"
    );
    assert!(
        !headers.contains("(NEEDED)"),
        "static binary needs shared libraries"
    );
    assert!(!headers.contains(".symtab"), "binary is not stripped");
    let size = std::fs::metadata(&bin).unwrap().len();
    eprintln!("static binary: {size} bytes");

    // The empty root: the binary, mount points for /proc and /sys, and /etc/resolv.conf.
    let root = tmp.path().join("root");
    for d in ["proc", "sys", "etc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(&bin, root.join("vestige")).unwrap();
    std::fs::write(
        root.join("etc/resolv.conf"),
        "nameserver 127.0.0.1\noptions timeout:1 attempts:2\n",
    )
    .unwrap();

    // In a private network namespace (its own loopback, so port 53 is ours) and a private mount
    // namespace: a DNS responder and a fake IMDSv2 on loopback, then the chroot.
    let support = repo_root().join("tests/support");
    let dns_log = tmp.path().join("dns.log");
    let script = format!(
        r#"set -eu
ip link set lo up
python3 '{support}/fake_dns.py' 127.0.0.1 53 imds.vestige.test 127.0.0.1 '{dns_log}' '{tmp}/dns.ready' &
dns=$!
python3 '{support}/fake_imds.py' 127.0.0.1 8111 {INSTANCE_ID} '{tmp}/imds.ready' &
imds=$!
trap 'kill $dns $imds 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -e '{tmp}/dns.ready' ] && [ -e '{tmp}/imds.ready' ] && break; sleep 0.1; done
mount --bind /proc '{root}/proc'
mount --bind /sys '{root}/sys'
set +e
chroot_bin=$(command -v chroot)
env -i AWS_EC2_METADATA_SERVICE_ENDPOINT=http://imds.vestige.test:8111 \
  "$chroot_bin" '{root}' /vestige collect --spec minimal --out /out --imds-timeout 5s --quiet
"#,
        support = support.display(),
        dns_log = dns_log.display(),
        tmp = tmp.path().display(),
        root = root.display(),
    );
    let out = Command::new("unshare")
        .args([
            "-m",
            "-n",
            "--propagation",
            "private",
            "bash",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Nothing else was in the root: no libc, no NSS configuration, no /etc/hosts.
    let mut entries: Vec<String> = walk(&root)
        .into_iter()
        .filter(|p| !p.starts_with("out/"))
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        ["etc/resolv.conf", "vestige"],
        "the root held more than the binary and resolv.conf"
    );

    let summary = e2e::summary(&out);
    let location = summary["location"].as_str().unwrap();
    assert!(
        location.starts_with(&format!("/out/{INSTANCE_ID}/")),
        "{summary}"
    );
    let collection = root.join(location.trim_start_matches('/'));
    let manifest = e2e::manifest(&collection);
    assert_eq!(
        manifest["host_id"], INSTANCE_ID,
        "the static binary did not reach IMDS by name"
    );
    assert_eq!(
        manifest["tool"]["sha256"],
        e2e::sha256_hex(&std::fs::read(&bin).unwrap())
    );
    let queries = std::fs::read_to_string(&dns_log).unwrap_or_default();
    assert!(
        queries.lines().any(|l| l.starts_with("imds.vestige.test ")),
        "no DNS query seen: {queries:?}"
    );

    let verify = Command::new(&bin)
        .args([
            "verify",
            collection.to_str().unwrap(),
            "--manifest-sha256",
            summary["manifest_sha256"].as_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", show(&verify));
}

/// Regular files under `dir`, relative, with `/` separators.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// The LICENSE-NOTE packed beside the binary: vestige's license, glibc under the LGPL, and the
/// crates linked into the binary for the target (each with a license, each at the version
/// Cargo.lock pins), without dev-dependencies, procedural macros or vestige's own crates.
#[test]
fn license_note_names_glibc_and_the_crates_linked_into_the_binary() {
    let Some(py) = tool("python3") else { return };
    let out = Command::new(py)
        .arg(repo_root().join("packaging/license-note.py"))
        .arg("x86_64-unknown-linux-gnu")
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let note = String::from_utf8(out.stdout).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert!(note.starts_with(&format!("vestige {version} (x86_64-unknown-linux-gnu)\n")));
    assert!(
        note.contains("vestige is licensed under Apache-2.0."),
        "{note}"
    );
    assert!(note.contains("The GNU C Library (glibc"), "{note}");
    assert!(note.contains("LGPL-2.1-or-later"), "{note}");

    let lock = std::fs::read_to_string(repo_root().join("Cargo.lock")).unwrap();
    let locked: std::collections::BTreeSet<(String, String)> = lock
        .split("[[package]]")
        .filter_map(|p| {
            let field = |k: &str| {
                p.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} = \"")))
                    .map(|v| v.trim_end_matches('"').to_owned())
            };
            Some((field("name")?, field("version")?))
        })
        .collect();
    let crates: Vec<(String, String, String)> = note
        .lines()
        .skip_while(|l| !l.starts_with("- The Rust crates below"))
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next().unwrap().to_owned();
            let version = w.next().unwrap().to_owned();
            let license = w.collect::<Vec<_>>().join(" ");
            (name, version, license)
        })
        .collect();
    assert!(crates.len() > 50, "{note}");
    let names: std::collections::BTreeSet<&str> = crates.iter().map(|c| c.0.as_str()).collect();
    for (name, version, license) in &crates {
        assert!(
            locked.contains(&(name.clone(), version.clone())),
            "{name} {version} is not in Cargo.lock"
        );
        assert!(!license.is_empty(), "{name} has no license");
    }
    // Linked: direct dependencies of vestige and the S3 sink's stack.
    for c in [
        "zstd",
        "ring",
        "sha2",
        "age",
        "tokio",
        "aws-sdk-s3",
        "rustls",
        "libc",
    ] {
        assert!(names.contains(c), "{c} missing from the note");
    }
    // Not linked: test-only crates, build-time macros, vestige's own crates.
    for c in [
        "tempfile",
        "criterion",
        "proptest",
        "serde_derive",
        "thiserror-impl",
        "clap_derive",
        "collector-spec",
        "vestige",
    ] {
        assert!(!names.contains(c), "{c} is not in the binary");
    }
}
