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
