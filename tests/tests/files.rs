//! The `files` collector over a hostile fixture tree: FIFO, device node, socket, symlink
//! loops, an empty file, an unreadable file, a sparse file over the cap, a file appended to
//! while read, names with a newline and invalid UTF-8. Every case is indexed with its status;
//! nothing hangs; the tar extracts inside its target only.
//!
//! Tests run as root, which reads any file. To test "permission denied" for real, vestige is
//! run as `nobody` (uid 65534) on the fixture; the unreadable file is mode 000 and owned by
//! root. (When the tests do not run as root, vestige runs as the current user and the same
//! holds.)

use e2e::{artifact_records, manifest, summary, vestige_bin};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SPEC: &str = r#"name: files-fixture
artifacts:
  - name: tree
    timeout: 60s
    collect:
      files:
        max_file_size: 1MiB
        patterns: ["/var/log/**", "/etc/*"]
  - name: tree_follow
    timeout: 60s
    collect:
      files:
        max_file_size: 1MiB
        follow_symlinks: true
        patterns: ["/var/log/**"]
  - name: growing
    timeout: 60s
    collect:
      files:
        max_file_size: 512MiB
        zstd_workers: 0
        patterns: ["/data/growing.log"]
"#;

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    out: PathBuf,
    spec: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o755);
    let root = tmp.path().join("root");
    let log = root.join("var/log");
    std::fs::create_dir_all(log.join("sub")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(
        log.join("syslog"),
        "Dec  4 15:30:00 host sshd[1]: Accepted publickey\n",
    )
    .unwrap();
    std::fs::write(log.join("sub/deep.log"), "deep\n").unwrap();
    std::fs::hard_link(log.join("sub/deep.log"), log.join("sub/hardlink.log")).unwrap();
    std::fs::write(log.join("empty"), "").unwrap();
    std::fs::write(log.join("unreadable"), "secret\n").unwrap();
    chmod(&log.join("unreadable"), 0o000);
    std::fs::write(log.join(OsStr::from_bytes(b"new\nline")), "newline name\n").unwrap();
    std::fs::write(
        log.join(OsStr::from_bytes(b"bad\xff.txt")),
        "invalid utf-8 name\n",
    )
    .unwrap();
    nix::unistd::mkfifo(
        &log.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let dev = nix::sys::stat::makedev(1, 3);
    nix::sys::stat::mknod(
        &log.join("null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        dev,
    )
    .expect("mknod (tests run as root)");
    let sock = std::os::unix::net::UnixListener::bind(log.join("sock")).unwrap();
    std::mem::forget(sock);
    std::os::unix::fs::symlink(".", log.join("loop")).unwrap();
    std::os::unix::fs::symlink("b", log.join("a")).unwrap();
    std::os::unix::fs::symlink("a", log.join("b")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", log.join("abs-link")).unwrap();
    let sparse = std::fs::File::create(log.join("sparse")).unwrap();
    sparse.set_len(8 << 30).unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(root.join("etc/shadow"), "root:$6$salt$hash:19000::::::\n").unwrap();
    // 48 MiB of text, so reading it takes long enough to be appended to meanwhile.
    let mut g = std::fs::File::create(root.join("data/growing.log")).unwrap();
    let line = b"Dec  4 15:30:00 host app[42]: a line of a log that keeps growing while read\n";
    let mut block = Vec::new();
    while block.len() < 1 << 20 {
        block.extend_from_slice(line);
    }
    for _ in 0..48 {
        g.write_all(&block).unwrap();
    }
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    chmod(&out, 0o777);
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    Fixture {
        root,
        out,
        _tmp: tmp,
        spec,
    }
}

fn run_with_timeout(mut cmd: Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "vestige hung (> {limit:?}); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn by_path(records: &[serde_json::Value]) -> HashMap<Vec<u8>, serde_json::Value> {
    records
        .iter()
        .map(|r| {
            let bytes = match r["path_hex"].as_str() {
                Some(h) => hex::decode(h).unwrap(),
                None => r["path"].as_str().unwrap().as_bytes().to_vec(),
            };
            (bytes, r.clone())
        })
        .collect()
}

/// [hostile] A tree with a FIFO, device, socket, symlink loops, a sparse 8GiB file, names with a
/// newline and invalid UTF-8, an unreadable and a growing file is indexed and archived within 60s;
/// GNU tar extracts it inside its target.
#[test]
fn hostile_tree_is_indexed_archived_and_never_hangs() {
    let fx = fixture();
    let growing = fx.root.join("data/growing.log");
    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let stop = stop.clone();
        let growing = growing.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&growing)
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                f.write_all(b"appended while read\n").unwrap();
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };

    let mut cmd = Command::new(vestige_bin());
    cmd.args(["collect", "--quiet", "--spec"])
        .arg(&fx.spec)
        .arg("--root")
        .arg(&fx.root)
        .arg("--out")
        .arg(&fx.out)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let as_root = nix::unistd::geteuid().is_root();
    if as_root {
        cmd.uid(65534).gid(65534);
    }
    let t0 = Instant::now();
    let out = run_with_timeout(cmd, Duration::from_secs(90));
    stop.store(true, Ordering::Relaxed);
    appender.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    let root = PathBuf::from(s["location"].as_str().unwrap());
    let elapsed = t0.elapsed();

    // The index: every case with its status.
    let idx = by_path(&artifact_records(&root, "tree"));
    let status = |p: &[u8]| -> String {
        idx.get(p).unwrap_or_else(|| {
            panic!(
                "{} not indexed: {:?}",
                String::from_utf8_lossy(p),
                idx.keys()
            )
        })["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status(b"/var/log/syslog"), "ok");
    assert_eq!(status(b"/var/log/sub/deep.log"), "ok");
    // A second name of the same inode points at the first copy; nothing is stored twice.
    let hl = &idx[&b"/var/log/sub/hardlink.log"[..]];
    assert_eq!(hl["same_file_as"], "/var/log/sub/deep.log");
    assert_eq!(hl["member"], "var/log/sub/deep.log");
    assert_eq!(hl["stored_bytes"], 0);
    assert_eq!(hl["sha256"], e2e::sha256_hex(b"deep\n"));
    assert_eq!(status(b"/var/log/empty"), "ok");
    assert_eq!(status(b"/var/log/fifo"), "skipped_fifo");
    assert_eq!(status(b"/var/log/null"), "skipped_device");
    assert_eq!(status(b"/var/log/sock"), "skipped_socket");
    assert_eq!(status(b"/var/log/sparse"), "truncated_at_cap");
    assert_eq!(status(b"/var/log/new\nline"), "ok");
    assert_eq!(status(b"/var/log/bad\xff.txt"), "ok");
    assert_eq!(status(b"/etc/passwd"), "ok");
    assert!(
        !idx.contains_key(&b"/etc/shadow"[..]),
        "shadow only when the spec opts in"
    );
    // Links are indexed with their targets, not followed.
    for (link, target) in [
        ("/var/log/loop", "."),
        ("/var/log/a", "b"),
        ("/var/log/abs-link", "/etc/passwd"),
    ] {
        let r = &idx[link.as_bytes()];
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["file_type"], "symlink");
        assert_eq!(r["link_target"], target);
        assert!(r["member"].is_null());
    }
    let unreadable = status(b"/var/log/unreadable");
    assert_eq!(
        unreadable, "skipped_permission",
        "vestige ran as nobody: {as_root}"
    );

    let sparse = &idx[&b"/var/log/sparse"[..]];
    assert_eq!(sparse["size"], 8u64 << 30);
    assert_eq!(sparse["stored_bytes"], 1u64 << 20);
    assert_eq!(sparse["sha256"], e2e::sha256_hex(&vec![0u8; 1 << 20]));
    let bad = &idx[&b"/var/log/bad\xff.txt"[..]];
    assert_eq!(bad["path_hex"], hex::encode(b"/var/log/bad\xff.txt"));
    assert_eq!(bad["sha256"], e2e::sha256_hex(b"invalid utf-8 name\n"));
    let syslog = &idx[&b"/var/log/syslog"[..]];
    for k in ["mode", "uid", "gid", "mtime", "atime", "ctime", "inode"] {
        assert!(!syslog[k].is_null(), "{k}: {syslog}");
    }
    assert_eq!(syslog["mode"], "0644");

    // Following links: loops are detected, not walked.
    let fidx = by_path(&artifact_records(&root, "tree_follow"));
    assert_eq!(fidx[&b"/var/log/loop"[..]]["status"], "skipped_loop");
    assert_eq!(fidx[&b"/var/log/a"[..]]["status"], "skipped_loop");
    // An absolute link resolves inside the root, not on the host.
    let abs = &fidx[&b"/var/log/abs-link"[..]];
    assert_eq!(abs["status"], "ok");
    assert_eq!(
        abs["sha256"],
        e2e::sha256_hex(b"root:x:0:0:root:/root:/bin/bash\n")
    );

    // The file appended to while read: captured up to its size at open, and flagged.
    let g = &artifact_records(&root, "growing")[0];
    assert_eq!(g["status"], "changed_while_read", "{g}");
    let at_open = g["size"].as_u64().unwrap();
    assert_eq!(g["stored_bytes"].as_u64().unwrap(), at_open);
    let now = std::fs::read(&growing).unwrap();
    assert!(now.len() as u64 > at_open);
    assert_eq!(g["sha256"], e2e::sha256_hex(&now[..at_open as usize]));

    // The manifest lists each tar, and everything verifies.
    let m = manifest(&root);
    let names: Vec<&str> = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for n in [
        "tree.tar",
        "tree",
        "tree_follow.tar",
        "growing.tar",
        "growing",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    let v = Command::new(vestige_bin())
        .arg("verify")
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );

    // The tar: GNU tar lists and extracts it; members stay inside the target directory and
    // hold the exact bytes.
    let tar_zst = std::fs::read(root.join("artifacts/tree.tar.zst")).unwrap();
    let tar = zstd::decode_all(&tar_zst[..]).unwrap();
    let x = tempfile::tempdir().unwrap();
    let target = x.path().join("x");
    std::fs::create_dir(&target).unwrap();
    let mut child = Command::new("tar")
        .args(["-x", "--warning=no-unknown-keyword", "-f", "-", "-C"])
        .arg(&target)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tar).unwrap();
    assert!(child.wait().unwrap().success());
    let got = |rel: &[u8]| std::fs::read(target.join(OsStr::from_bytes(rel))).unwrap();
    assert_eq!(got(b"var/log/new\nline"), b"newline name\n");
    assert_eq!(got(b"var/log/bad\xff.txt"), b"invalid utf-8 name\n");
    assert_eq!(got(b"var/log/empty"), b"");
    assert_eq!(got(b"var/log/sparse").len(), 1 << 20);
    assert_eq!(got(b"etc/passwd"), b"root:x:0:0:root:/root:/bin/bash\n");
    // Nothing but the two top directories appeared, and no links or specials were archived.
    let mut top: Vec<_> = std::fs::read_dir(x.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    assert_eq!(top, vec![OsStr::new("x")]);
    let mut top: Vec<_> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    assert_eq!(top, vec![OsStr::new("etc"), OsStr::new("var")]);
    assert!(!target.join("var/log/fifo").exists());
    assert!(std::fs::symlink_metadata(target.join("var/log/loop")).is_err());
    // pax headers carry mtime with nanoseconds, atime, ctime.
    let text = String::from_utf8_lossy(&tar);
    assert!(text.contains(" mtime=") && text.contains(" atime=") && text.contains(" ctime="));
    assert!(text.contains(" hdrcharset=BINARY\n"));
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}

/// [hostile] A directory bind-mounted inside itself (a loop no symlink check sees) and a tree whose
/// paths grow past PATH_MAX (4096 bytes): the walk ends, the loop is indexed as one, the
/// too-long paths are indexed as errors, everything above them is archived, and the
/// collection verifies. Run in a private mount namespace so the bind mount dies with it.
#[test]
fn bind_mount_loop_and_paths_beyond_path_max_are_indexed_not_followed() {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::{mkdirat, Mode};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let log = root.join("var/log");
    std::fs::create_dir_all(log.join("app/loop")).unwrap();
    std::fs::write(log.join("app/app.log"), "app line\n").unwrap();
    // 24 levels of 200-byte names: about 4,800 bytes, more than PATH_MAX.
    std::fs::create_dir_all(log.join("deep")).unwrap();
    let mut fd = nix::fcntl::open(
        &log.join("deep"),
        OFlag::O_DIRECTORY | OFlag::O_RDONLY,
        Mode::empty(),
    )
    .unwrap();
    let name = "d".repeat(200);
    for level in 0..24 {
        if level == 2 {
            let f = openat(
                Some(fd),
                "shallow.log",
                OFlag::O_CREAT | OFlag::O_WRONLY,
                Mode::from_bits_truncate(0o644),
            )
            .unwrap();
            nix::unistd::write(
                unsafe { std::os::fd::BorrowedFd::borrow_raw(f) },
                b"above PATH_MAX\n",
            )
            .unwrap();
            nix::unistd::close(f).unwrap();
        }
        mkdirat(Some(fd), name.as_str(), Mode::from_bits_truncate(0o755)).unwrap();
        let next = openat(
            Some(fd),
            name.as_str(),
            OFlag::O_DIRECTORY | OFlag::O_RDONLY,
            Mode::empty(),
        )
        .unwrap();
        nix::unistd::close(fd).unwrap();
        fd = next;
    }
    let f = openat(
        Some(fd),
        "deepest.log",
        OFlag::O_CREAT | OFlag::O_WRONLY,
        Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    nix::unistd::close(f).unwrap();
    nix::unistd::close(fd).unwrap();

    let spec = tmp.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "name: loops\nartifacts:\n  - name: tree\n    timeout: 60s\n    collect:\n      files:\n        patterns: [\"/var/log/**\"]\n",
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let script = format!(
        "mount --bind '{log}' '{log}/app/loop' && exec \"$VESTIGE\" collect --quiet --spec '{spec}' --root '{root}' --out '{out}'",
        log = log.display(),
        spec = spec.display(),
        root = root.display(),
        out = out_dir.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "sh", "-c", &script])
        .env("VESTIGE", vestige_bin())
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let out = run_with_timeout(cmd, Duration::from_secs(90));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root_dir = PathBuf::from(summary(&out)["location"].as_str().unwrap());
    let idx = by_path(&artifact_records(&root_dir, "tree"));
    assert_eq!(idx[&b"/var/log/app/loop"[..]]["status"], "skipped_loop");
    assert_eq!(idx[&b"/var/log/app/app.log"[..]]["status"], "ok");
    let shallow: Vec<u8> = format!("/var/log/deep/{name}/{name}/shallow.log").into_bytes();
    assert_eq!(idx[&shallow]["status"], "ok", "{:?}", idx.get(&shallow));
    let too_long: Vec<_> = idx
        .iter()
        .filter(|(p, r)| p.len() > 4000 && r["status"] == "error")
        .collect();
    assert!(
        !too_long.is_empty(),
        "paths beyond PATH_MAX must be indexed as errors"
    );
    assert!(too_long
        .iter()
        .all(|(_, r)| r["error"].as_str().is_some_and(|e| e.contains("too long"))));
    assert!(
        !idx.keys()
            .any(|p| p.ends_with(b"deepest.log") && idx[p]["status"] == "ok"),
        "a file beyond PATH_MAX cannot have been read by path"
    );
    let m = manifest(&root_dir);
    assert!(m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "tree" && a["status"] == "partial"));
    let v = Command::new(vestige_bin())
        .arg("verify")
        .arg(&root_dir)
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(0));
}

/// A spec of the built-in `triage` profile's artifacts named in `groups`, as `vestige spec
/// show triage` prints them, each passed through `edit` (to set an option).
fn triage_groups(groups: &[&str], edit: impl Fn(&mut serde_yaml_ng::Mapping)) -> String {
    let shown = Command::new(vestige_bin())
        .args(["spec", "show", "triage"])
        .output()
        .unwrap();
    assert!(shown.status.success());
    let mut spec: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&shown.stdout).unwrap();
    let artifacts = spec["artifacts"].as_sequence_mut().unwrap();
    artifacts.retain(|a| groups.contains(&a["name"].as_str().unwrap()));
    assert_eq!(artifacts.len(), groups.len(), "{groups:?} in triage");
    for a in artifacts.iter_mut() {
        edit(a["collect"]["files"].as_mapping_mut().unwrap());
    }
    serde_yaml_ng::to_string(&spec).unwrap()
}

/// Writes `files` (path below `root`, content) creating their directories.
fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (rel, content) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

/// Runs `vestige collect` with `spec` text over `root`; returns the collection root.
fn collect_tree(work: &Path, root: &Path, spec: &str) -> PathBuf {
    let spec_path = work.join("spec.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let out_dir = work.join("out");
    let mut cmd = Command::new(vestige_bin());
    cmd.args(["collect", "--quiet", "--spec"])
        .arg(&spec_path)
        .arg("--root")
        .arg(root)
        .arg("--out")
        .arg(&out_dir)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let out = run_with_timeout(cmd, Duration::from_secs(90));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(summary(&out)["location"].as_str().unwrap())
}

/// Members of a stored `.tar.zst`, with their bytes, as GNU tar extracts them.
fn tar_members(collection: &Path, artifact: &str) -> HashMap<String, Vec<u8>> {
    let tar_zst = std::fs::read(collection.join(format!("artifacts/{artifact}.tar.zst"))).unwrap();
    let tar = zstd::decode_all(&tar_zst[..]).unwrap();
    let x = tempfile::tempdir().unwrap();
    let mut child = Command::new("tar")
        .args(["-x", "--warning=no-unknown-keyword", "-f", "-", "-C"])
        .arg(x.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tar).unwrap();
    assert!(child.wait().unwrap().success());
    let mut found = HashMap::new();
    let mut dirs = vec![x.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let rel = p
                    .strip_prefix(x.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    found
}

/// `X/**` takes `X` itself when it is a file: the triage profile's `/etc/cron*/**` collects
/// `/etc/cron.allow` and `/etc/cron.deny` beside the `cron.d` tree, and
/// `/etc/ssh/authorized_keys*/**` a plain `authorized_keys` file beside a directory of them.
#[test]
fn triage_trailing_globstar_takes_plain_files_and_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    write_tree(
        &root,
        &[
            (
                "etc/crontab",
                "17 * * * * root cd / && run-parts /etc/cron.hourly\n",
            ),
            ("etc/cron.allow", "root\n"),
            ("etc/cron.deny", "mallory\n"),
            ("etc/cron.d/backdoor", "* * * * * root /tmp/.x\n"),
            ("etc/cron.daily/logrotate", "#!/bin/sh\n"),
            ("etc/cronjunk/deep/nested", "nested\n"),
            ("etc/ssh/authorized_keys", "ssh-ed25519 AAAA central\n"),
            (
                "etc/ssh/authorized_keys.d/alice",
                "ssh-ed25519 AAAA alice\n",
            ),
            ("etc/ssh/ssh_host_ed25519_key", "PRIVATE\n"),
        ],
    );
    let spec = triage_groups(&["ssh", "persistence"], |_| {});
    let collection = collect_tree(tmp.path(), &root, &spec);

    let idx = by_path(&artifact_records(&collection, "persistence"));
    let tar = tar_members(&collection, "persistence");
    for (path, content) in [
        (
            "/etc/crontab",
            "17 * * * * root cd / && run-parts /etc/cron.hourly\n",
        ),
        ("/etc/cron.allow", "root\n"),
        ("/etc/cron.deny", "mallory\n"),
        ("/etc/cron.d/backdoor", "* * * * * root /tmp/.x\n"),
        ("/etc/cron.daily/logrotate", "#!/bin/sh\n"),
        ("/etc/cronjunk/deep/nested", "nested\n"),
    ] {
        let r = idx
            .get(path.as_bytes())
            .unwrap_or_else(|| panic!("{path} not indexed: {:?}", idx.keys()));
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["sha256"], e2e::sha256_hex(content.as_bytes()));
        assert_eq!(tar[&path[1..]], content.as_bytes(), "{path}");
    }

    let idx = by_path(&artifact_records(&collection, "ssh"));
    let tar = tar_members(&collection, "ssh");
    for (path, content) in [
        ("/etc/ssh/authorized_keys", "ssh-ed25519 AAAA central\n"),
        (
            "/etc/ssh/authorized_keys.d/alice",
            "ssh-ed25519 AAAA alice\n",
        ),
    ] {
        assert_eq!(idx[path.as_bytes()]["status"], "ok", "{path}");
        assert_eq!(tar[&path[1..]], content.as_bytes(), "{path}");
    }
    assert!(
        !idx.contains_key(&b"/etc/ssh/ssh_host_ed25519_key"[..]),
        "private host keys stay on the host"
    );
}

/// The triage `ssh` group takes what `sshd_config` includes wherever it lives: an absolute
/// include outside `sshd_config.d`, a relative one (relative to `/etc/ssh`), and an include
/// nested in an included file; a file nobody includes stays out.
#[test]
fn triage_ssh_group_takes_the_files_sshd_config_includes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let files = [
        (
            "etc/ssh/sshd_config",
            "Include /etc/ssh/sshd_config.d/*.conf\nInclude /opt/hardening/sshd-*.conf\n  include \"local/*.conf\"\nPort 22\n",
        ),
        ("etc/ssh/sshd_config.d/50-cloud-init.conf", "PasswordAuthentication no\n"),
        ("opt/hardening/sshd-extra.conf", "Match User deploy\n  Include /srv/ssh/nested.conf\n"),
        ("opt/hardening/unused.conf", "PermitRootLogin yes\n"),
        ("etc/ssh/local/keys.conf", "AuthorizedKeysFile /srv/ssh/keys/%u\n"),
        ("srv/ssh/nested.conf", "PermitTTY no\n"),
    ];
    write_tree(&root, &files);
    let spec = triage_groups(&["ssh"], |_| {});
    let collection = collect_tree(tmp.path(), &root, &spec);
    let idx = by_path(&artifact_records(&collection, "ssh"));
    let tar = tar_members(&collection, "ssh");
    for (rel, content) in files
        .iter()
        .filter(|(rel, _)| !rel.ends_with("unused.conf"))
    {
        let path = format!("/{rel}");
        let r = idx
            .get(path.as_bytes())
            .unwrap_or_else(|| panic!("{path} not indexed: {:?}", idx.keys()));
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(tar[*rel], content.as_bytes(), "{path}");
    }
    assert!(!idx.contains_key(&b"/opt/hardening/unused.conf"[..]));
    assert_eq!(tar.len(), files.len() - 1, "{:?}", tar.keys());
}

/// [security] The triage `ssh` group also takes what a user's `~/.ssh/config` includes: a
/// file relative to that user's `~/.ssh`, one under their home named with `~/` (a
/// `ProxyCommand` hidden outside `~/.ssh`), nested includes; a file nobody includes stays out.
#[test]
fn triage_ssh_group_takes_the_files_a_user_ssh_config_includes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let files = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        ),
        (
            "home/alice/.ssh/config",
            "Include hosts.d/*.conf\nInclude ~/.local/share/jump.conf\n",
        ),
        (
            "home/alice/.ssh/hosts.d/prod.conf",
            "Host prod\n  Include ~/.cache/.p\n",
        ),
        (
            "home/alice/.local/share/jump.conf",
            "Host *\n  ProxyCommand nc 203.0.113.9 22\n",
        ),
        ("home/alice/.cache/.p", "LocalForward 5432 db:5432\n"),
        ("home/alice/.local/share/unused.conf", "Host none\n"),
    ];
    write_tree(&root, &files);
    let spec = triage_groups(&["ssh"], |_| {});
    let collection = collect_tree(tmp.path(), &root, &spec);
    let idx = by_path(&artifact_records(&collection, "ssh"));
    let tar = tar_members(&collection, "ssh");
    for rel in [
        "home/alice/.ssh/config",
        "home/alice/.ssh/hosts.d/prod.conf",
        "home/alice/.local/share/jump.conf",
        "home/alice/.cache/.p",
    ] {
        let path = format!("/{rel}");
        let r = idx
            .get(path.as_bytes())
            .unwrap_or_else(|| panic!("{path} not indexed: {:?}", idx.keys()));
        assert_eq!(r["status"], "ok", "{r}");
        let want = files.iter().find(|(f, _)| *f == rel).unwrap().1;
        assert_eq!(tar[rel], want.as_bytes(), "{path}");
    }
    assert!(!idx.contains_key(&b"/home/alice/.local/share/unused.conf"[..]));
}

/// The triage `accounts` group names the shadow files; they are collected only when the spec
/// sets `include_shadow: true`.
#[test]
fn triage_accounts_group_takes_shadow_files_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let shadow = [
        ("etc/shadow", "root:$6$a$hash:19000::::::\n"),
        ("etc/shadow-", "root:$6$b$older:18000::::::\n"),
        ("etc/gshadow", "root:*::\n"),
        ("etc/gshadow-", "root:!::\n"),
    ];
    write_tree(&root, &shadow);
    write_tree(&root, &[("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")]);

    let default_run = tmp.path().join("default");
    std::fs::create_dir(&default_run).unwrap();
    let collection = collect_tree(&default_run, &root, &triage_groups(&["accounts"], |_| {}));
    let idx = by_path(&artifact_records(&collection, "accounts"));
    assert_eq!(idx[&b"/etc/passwd"[..]]["status"], "ok");
    for (rel, _) in &shadow {
        assert!(!idx.contains_key(format!("/{rel}").as_bytes()), "{rel}");
    }
    assert_eq!(
        tar_members(&collection, "accounts")
            .keys()
            .collect::<Vec<_>>(),
        vec!["etc/passwd"]
    );

    let opted_in = tmp.path().join("opted_in");
    std::fs::create_dir(&opted_in).unwrap();
    let spec = triage_groups(&["accounts"], |files| {
        files.insert("include_shadow".into(), true.into());
    });
    let collection = collect_tree(&opted_in, &root, &spec);
    let idx = by_path(&artifact_records(&collection, "accounts"));
    let tar = tar_members(&collection, "accounts");
    for (rel, content) in &shadow {
        let r = &idx[format!("/{rel}").as_bytes()];
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["sha256"], e2e::sha256_hex(content.as_bytes()));
        assert_eq!(tar[*rel], content.as_bytes());
    }
}

/// The pax extended-header records of each member of a plain tar, by member path: read with
/// the format's own rules (512-byte blocks, octal sizes, `LEN key=value\n` records).
fn pax_records(tar: &[u8]) -> HashMap<String, HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut at = 0;
    let mut pending: Option<HashMap<String, String>> = None;
    while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|b| *b != 0) {
        let h = &tar[at..at + 512];
        let size_text = String::from_utf8_lossy(&h[124..136]);
        let size = u64::from_str_radix(size_text.trim_matches(|c| c == '\0' || c == ' '), 8)
            .unwrap() as usize;
        let data = &tar[at + 512..at + 512 + size];
        if h[156] == b'x' {
            let mut recs = HashMap::new();
            let mut rest = data;
            while !rest.is_empty() {
                let sp = rest.iter().position(|b| *b == b' ').unwrap();
                let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
                let rec = &rest[sp + 1..len - 1];
                let eq = rec.iter().position(|b| *b == b'=').unwrap();
                recs.insert(
                    String::from_utf8_lossy(&rec[..eq]).into_owned(),
                    String::from_utf8_lossy(&rec[eq + 1..]).into_owned(),
                );
                rest = &rest[len..];
            }
            pending = Some(recs);
        } else if let Some(recs) = pending.take() {
            out.insert(recs["path"].clone(), recs);
        }
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

/// `exclude` keeps a directory (not entered) and a wildcard's files out of the index and the
/// tar; `max_total_size` stores files while they fit and indexes the rest as
/// `skipped_total_cap` (a later, smaller file that still fits is stored); each stored member
/// carries its birth time as `LIBARCHIVE.creationtime` when the filesystem reports one.
#[test]
fn exclude_total_cap_and_birth_time() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let kib = |n: usize, c: char| c.to_string().repeat(n << 10);
    let (a, b, c) = (kib(3, 'a'), kib(3, 'b'), kib(3, 'c'));
    write_tree(
        &root,
        &[
            ("srv/app/a.log", &a),
            ("srv/app/b.log", &b),
            ("srv/app/c.log", &c),
            ("srv/app/d.log", "small\n"),
            ("srv/app/old.log.gz", "compressed\n"),
            ("srv/app/private/secret.key", "key\n"),
            ("srv/app/private/deeper/more.key", "key\n"),
            ("srv/other/keep.txt", "kept\n"),
        ],
    );
    let spec = r#"name: caps
artifacts:
  - name: app
    timeout: 60s
    collect:
      files:
        patterns: ["/srv/app/**"]
        exclude: ["/srv/app/private", "/srv/*/*.gz"]
        max_total_size: 7KiB
  - name: other
    timeout: 60s
    collect:
      files:
        patterns: ["/srv/other/**"]
        exclude: ["/srv/app/**"]
"#;
    let collection = collect_tree(tmp.path(), &root, spec);
    let idx = by_path(&artifact_records(&collection, "app"));
    let mut paths: Vec<String> = idx
        .keys()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/srv/app/a.log",
            "/srv/app/b.log",
            "/srv/app/c.log",
            "/srv/app/d.log"
        ],
        "excluded paths are neither indexed nor entered"
    );
    let status = |p: &str| idx[p.as_bytes()]["status"].as_str().unwrap().to_owned();
    assert_eq!(status("/srv/app/a.log"), "ok");
    assert_eq!(status("/srv/app/b.log"), "ok");
    assert_eq!(status("/srv/app/c.log"), "skipped_total_cap");
    assert_eq!(status("/srv/app/d.log"), "ok", "a later file that fits");
    let capped = &idx[&b"/srv/app/c.log"[..]];
    assert!(
        capped["member"].is_null() && capped["sha256"].is_null(),
        "{capped}"
    );
    assert_eq!(capped["size"], 3 << 10);
    assert!(capped["error"].as_str().unwrap().contains("max_total_size"));
    let entry = manifest(&collection)["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "app")
        .unwrap()
        .clone();
    assert!(
        entry["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("max_total_size")),
        "{entry}"
    );
    let members = tar_members(&collection, "app");
    let mut names: Vec<&str> = members.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["srv/app/a.log", "srv/app/b.log", "srv/app/d.log"]);
    assert_eq!(members["srv/app/a.log"], a.as_bytes());
    // An exclude outside a group's patterns changes nothing there.
    let other = by_path(&artifact_records(&collection, "other"));
    assert_eq!(other[&b"/srv/other/keep.txt"[..]]["status"], "ok");

    // Birth time: as the filesystem reports it (statx), in the pax header and the index.
    let tar =
        zstd::decode_all(&std::fs::read(collection.join("artifacts/app.tar.zst")).unwrap()[..])
            .unwrap();
    let pax = pax_records(&tar);
    let a_pax = &pax["srv/app/a.log"];
    assert!(a_pax.contains_key("mtime") && a_pax.contains_key("ctime"));
    match std::fs::metadata(root.join("srv/app/a.log"))
        .unwrap()
        .created()
    {
        Ok(born) => {
            let d = born.duration_since(std::time::UNIX_EPOCH).unwrap();
            let text = &a_pax["LIBARCHIVE.creationtime"];
            let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
            assert_eq!(secs.parse::<u64>().unwrap(), d.as_secs(), "{text}");
            let nanos: u32 = format!("{frac:0<9}").parse().unwrap();
            assert_eq!(nanos, d.subsec_nanos(), "{text}");
            let indexed = idx[&b"/srv/app/a.log"[..]]["btime"].as_str().unwrap();
            assert!(
                indexed.starts_with(&utc_seconds_text(d.as_secs())),
                "{indexed}"
            );
        }
        Err(_) => {
            assert!(!a_pax.contains_key("LIBARCHIVE.creationtime"), "{a_pax:?}");
            assert!(idx[&b"/srv/app/a.log"[..]]["btime"].is_null());
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of Unix seconds, by `date` (independent of vestige's formatter).
fn utc_seconds_text(secs: u64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%S"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
