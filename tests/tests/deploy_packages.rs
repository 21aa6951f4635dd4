//! Install packages: the SSM Distributor package (zip + manifest with SHA-256), the .deb and
//! the .rpm. Each is built from the binary under test and its contents and scripts checked;
//! the Distributor install/uninstall scripts are run in a private mount namespace.

mod deploy_support;

use deploy_support::{repo_root, show, tool};
use std::path::{Path, PathBuf};
use std::process::Command;

fn run_script(script: &str, args: &[&Path], envs: &[(&str, &str)]) -> PathBuf {
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join(script)).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{script}: {}", show(&out));
    PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .trim(),
    )
}

/// The binary under test, stripped (the packages ship stripped release binaries; a debug
/// build's symbols only slow compression down).
fn packaged_binary(dir: &Path) -> PathBuf {
    let bin = dir.join("vestige");
    std::fs::copy(e2e::vestige_bin(), &bin).unwrap();
    if let Some(strip) = tool("strip") {
        let out = Command::new(strip).arg(&bin).output().unwrap();
        assert!(out.status.success(), "{}", show(&out));
    }
    bin
}

/// The Distributor package's manifest checksums its zip, and its install and uninstall scripts
/// install vestige, profiles and unit, then remove them keeping the evidence (skipped without zip,
/// unzip, unshare or python3).
#[test]
fn distributor_package_has_checksummed_zip_and_installs_and_uninstalls() {
    for t in ["zip", "unzip", "unshare", "python3"] {
        if tool(t).is_none() {
            return;
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = tmp.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let bin = packaged_binary(&bin_dir);
    let manifest_path = run_script("packaging/distributor/build.sh", &[&bin, tmp.path()], &[]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest["schemaVersion"], "2.0");
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    let files = manifest["files"].as_object().unwrap();
    assert_eq!(files.len(), 1);
    for (name, entry) in files {
        let bytes = std::fs::read(tmp.path().join(name)).unwrap();
        assert_eq!(
            entry["checksums"]["sha256"],
            e2e::sha256_hex(&bytes),
            "{name}: manifest checksum"
        );
    }
    for (platform, versions) in manifest["packages"].as_object().unwrap() {
        let file = &versions["_any"]["x86_64"]["file"];
        assert!(
            files.contains_key(file.as_str().unwrap()),
            "{platform} names a file the manifest does not list"
        );
    }
    assert!(
        manifest["packages"]["amazon"].is_object() && manifest["packages"]["ubuntu"].is_object()
    );

    let zip = tmp.path().join("vestige-linux-x86_64.zip");
    let unpacked = tmp.path().join("unpacked");
    let out = Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    for f in ["install.sh", "uninstall.sh", "vestige"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(unpacked.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "{f} is not executable in the zip");
    }
    assert_eq!(
        std::fs::read(unpacked.join("vestige")).unwrap(),
        std::fs::read(&bin).unwrap()
    );

    // Install, run, uninstall, as Distributor does (root, from the unpacked package), on
    // private /opt, /etc and /var/lib.
    let script = format!(
        r#"set -eu
for d in /opt /etc/systemd /etc/vestige /var/lib; do mkdir -p "$d"; mount -t tmpfs tmpfs "$d"; done
mkdir -p /etc/systemd/system
sh '{u}/install.sh'
test -x /opt/vestige/bin/vestige
/opt/vestige/bin/vestige spec show minimal | grep -q 'name: minimal'
test -f /opt/vestige/share/profiles/triage.yaml
test -f /etc/systemd/system/vestige-shutdown-capture.service
test ! -e /etc/vestige/shutdown-capture.env
test -d /var/lib/vestige
touch /var/lib/vestige/evidence-kept
sh '{u}/uninstall.sh'
test ! -e /opt/vestige/bin/vestige
test ! -e /opt/vestige
test ! -e /etc/systemd/system/vestige-shutdown-capture.service
test -f /var/lib/vestige/evidence-kept
echo installed-and-removed
"#,
        u = unpacked.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("vestige {}", env!("CARGO_PKG_VERSION"))),
        "install.sh prints the version: {stdout}"
    );
    assert!(stdout.contains("installed-and-removed"));
}

/// The .deb carries the version and architecture, packs the tree's files byte for byte, and
/// installs binary, profiles and unit under /opt/vestige (skipped without dpkg-deb).
#[test]
fn deb_installs_binary_profiles_and_unit_under_opt_vestige() {
    if tool("dpkg-deb").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = packaged_binary(tmp.path());
    let deb = run_script(
        "packaging/deb/build-deb.sh",
        &[&bin, tmp.path()],
        &[("VESTIGE_DEB_COMPRESSION", "gzip")],
    );
    assert_eq!(
        deb.file_name().unwrap().to_str().unwrap(),
        format!("vestige_{}_amd64.deb", env!("CARGO_PKG_VERSION"))
    );
    let field = |f: &str| {
        let out = Command::new("dpkg-deb")
            .arg("-f")
            .arg(&deb)
            .arg(f)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(field("Package"), "vestige");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(field("Architecture"), "amd64");
    let listing = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    for (path, mode) in [
        ("./opt/vestige/bin/vestige", "-rwxr-xr-x root/root"),
        (
            "./opt/vestige/share/profiles/minimal.yaml",
            "-rw-r--r-- root/root",
        ),
        (
            "./opt/vestige/share/profiles/triage.yaml",
            "-rw-r--r-- root/root",
        ),
        (
            "./lib/systemd/system/vestige-shutdown-capture.service",
            "-rw-r--r-- root/root",
        ),
        (
            "./usr/share/doc/vestige/shutdown-capture.env.example",
            "-rw-r--r-- root/root",
        ),
    ] {
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with(mode) && l.ends_with(path)),
            "{path} ({mode}) missing from the deb:\n{listing}"
        );
    }
    assert!(
        !listing.contains("./etc/vestige/shutdown-capture.env"),
        "the capture must stay opt-in"
    );
    // The packed files are the ones in the tree, byte for byte.
    let x = tmp.path().join("x");
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&x)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        std::fs::read(x.join("opt/vestige/bin/vestige")).unwrap(),
        std::fs::read(&bin).unwrap()
    );
    assert_eq!(
        std::fs::read(x.join("lib/systemd/system/vestige-shutdown-capture.service")).unwrap(),
        std::fs::read(repo_root().join("systemd/vestige-shutdown-capture.service")).unwrap()
    );
    let ctl = tmp.path().join("ctl");
    let out = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(&ctl)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    for s in ["postinst", "prerm", "postrm"] {
        let out = Command::new("sh")
            .arg("-n")
            .arg(ctl.join(s))
            .output()
            .unwrap();
        assert!(out.status.success(), "{s}: {}", show(&out));
    }
}

/// The .rpm installs binary, profiles and unit under /opt/vestige (skipped without rpmbuild and
/// rpm).
#[test]
fn rpm_installs_binary_profiles_and_unit_under_opt_vestige() {
    if tool("rpmbuild").is_none() || tool("rpm").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = packaged_binary(tmp.path());
    let rpm = run_script("packaging/rpm/build-rpm.sh", &[&bin, tmp.path()], &[]);
    assert_eq!(
        rpm.file_name().unwrap().to_str().unwrap(),
        format!("vestige-{}-1.x86_64.rpm", env!("CARGO_PKG_VERSION"))
    );
    let q = |args: &[&str]| {
        let out = Command::new("rpm").args(args).arg(&rpm).output().unwrap();
        assert!(out.status.success(), "{}", show(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let files: Vec<String> = q(&["-qlp"]).lines().map(str::to_owned).collect();
    for want in [
        "/opt/vestige/bin/vestige",
        "/opt/vestige/share/profiles/minimal.yaml",
        "/opt/vestige/share/profiles/triage.yaml",
        "/usr/lib/systemd/system/vestige-shutdown-capture.service",
        "/var/lib/vestige",
    ] {
        assert!(
            files.iter().any(|f| f == want),
            "{want} missing from the rpm: {files:?}"
        );
    }
    assert!(
        !files.iter().any(|f| f.starts_with("/etc/vestige")),
        "the capture must stay opt-in"
    );
    let requires = q(&["-qp", "--requires"]);
    assert!(
        !requires.contains("libc.so"),
        "a static binary needs no libc: {requires}"
    );
    let scripts = q(&["-qp", "--scripts"]);
    assert!(
        scripts.contains("systemctl enable vestige-shutdown-capture.service"),
        "{scripts}"
    );
}
