//! Deadline, signals and self-limits: the run ends in time, the manifest is still written,
//! and what was not collected is named.

use e2e::{manifest, summary, vestige, vestige_bin};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A spec of `n` slow artifacts: each probes 400,000 pids (tens of milliseconds or more).
fn slow_spec(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::from("name: slow\nartifacts:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  - name: probe-{i}\n    collect:\n      hidden_processes: {{ max_pid: 400000 }}\n"
        ));
    }
    let path = dir.join("slow.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `vestige collect` of `spec` into `out_dir` (with `extra` arguments), its output
/// piped, without waiting for it.
fn spawn_collect(spec: &Path, out_dir: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(vestige_bin())
        .args(["collect", "--spec"])
        .arg(spec)
        .arg("--out")
        .arg(out_dir)
        .args(["--imds-timeout", "100ms"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn statuses(m: &serde_json::Value) -> Vec<(String, String)> {
    m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// [fault] A --deadline shorter than the spec ends the run within 1.5s of it: finished artifacts
/// ok, the rest skipped naming the deadline, and the collection verifies.
#[test]
fn deadline_shorter_than_the_spec_skips_the_rest_and_ends_in_time() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = slow_spec(tmp.path(), 400);
    let out_dir = tmp.path().join("out");
    let t0 = Instant::now();
    let out = vestige(&[
        "collect",
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--deadline",
        "2s",
        "--imds-timeout",
        "100ms",
    ]);
    let took = t0.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_millis(2000 + 1500), "took {took:?}");
    let s = summary(&out);
    assert!(s["skipped"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["interrupted"], "deadline reached");
    let m = manifest(Path::new(s["location"].as_str().unwrap()));
    let st = statuses(&m);
    assert_eq!(st.first().unwrap().1, "ok", "the spec itself is stored");
    assert_eq!(
        st.get(1).unwrap().1,
        "ok",
        "the first artifact completes: {st:?}"
    );
    let first_skipped = st.iter().position(|(_, s)| s == "skipped").unwrap();
    assert!(
        st[first_skipped..].iter().all(|(_, s)| s == "skipped"),
        "once skipping starts, the rest is skipped: {st:?}"
    );
    assert_eq!(st.last().unwrap().1, "skipped", "{st:?}");
    let skipped = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["status"] == "skipped")
        .unwrap();
    assert!(
        skipped["error"].as_str().unwrap().contains("deadline"),
        "{skipped}"
    );
    let v = vestige(&["verify", s["location"].as_str().unwrap()]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
}

/// [fault] SIGTERM or SIGINT mid-collection stops it within 4s with exit 0, a manifest marking the
/// rest skipped "interrupted by signal", and a collection that verifies.
#[test]
fn sigterm_mid_collection_writes_a_manifest_marking_the_rest_skipped() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let tmp = tempfile::tempdir().unwrap();
        let spec = slow_spec(tmp.path(), 400);
        let out_dir = tmp.path().join("out");
        let child = spawn_collect(&spec, &out_dir, &[]);
        std::thread::sleep(Duration::from_millis(1200));
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let sent = Instant::now();
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::try_from(signal).unwrap()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            sent.elapsed() < Duration::from_secs(4),
            "stopped in {:?}",
            sent.elapsed()
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = summary(&out);
        assert_eq!(s["interrupted"], "interrupted by signal");
        let m = manifest(Path::new(s["location"].as_str().unwrap()));
        let st = statuses(&m);
        assert!(st.iter().any(|(_, s)| s == "ok"), "{st:?}");
        assert!(
            st.iter().filter(|(_, s)| s == "skipped").count() >= 100,
            "{st:?}"
        );
        assert!(m["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["status"] == "skipped")
            .all(|a| a["error"] == "interrupted by signal"));
        let v = vestige(&["verify", s["location"].as_str().unwrap()]);
        assert_eq!(
            v.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&v.stdout)
        );
    }
}

/// The default nice 10 and ionice be:7, or those given by flag, are applied and recorded in the
/// manifest; a real-time ionice exits 2.
#[test]
fn nice_and_io_priority_are_applied_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let base = [
        "collect",
        "--spec",
        "minimal",
        "--imds-timeout",
        "100ms",
        "--out",
        tmp.path().to_str().unwrap(),
    ];
    let out = vestige(&base);
    let m = manifest(Path::new(summary(&out)["location"].as_str().unwrap()));
    assert_eq!(m["collector"]["nice"], 10, "default nice");
    assert_eq!(m["collector"]["io_priority"], "be:7", "default ionice");
    let mut args = base.to_vec();
    args.extend(["--nice", "15", "--ionice", "idle"]);
    let out = vestige(&args);
    let m = manifest(Path::new(summary(&out)["location"].as_str().unwrap()));
    assert_eq!(m["collector"]["nice"], 15);
    assert_eq!(m["collector"]["io_priority"], "idle");
    let bad = vestige(&["collect", "--out", "/tmp/x", "--ionice", "rt:0"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// Where cgroup `path` of a hierarchy lives on this host: the `cgroup2` mount, or (`v1`) the
/// cgroup v1 mount with the `cpu` controller; `None` when it is not mounted (or mounted from
/// a cgroup other than the hierarchy's root).
fn cgroup_dir(v1: bool, path: &str) -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo.lines().find_map(|line| {
        let (head, tail) = line.split_once(" - ")?;
        let head: Vec<&str> = head.split(' ').collect();
        let tail: Vec<&str> = tail.split(' ').collect();
        let wanted = if v1 {
            tail[0] == "cgroup" && tail.get(2)?.split(',').any(|o| o == "cpu")
        } else {
            tail[0] == "cgroup2"
        };
        (wanted && head[3] == "/")
            .then(|| PathBuf::from(head[4]).join(path.trim_start_matches('/')))
    })
}

/// Whether this host should let a root vestige apply a CPU quota: a writable cgroup2 root
/// with the cpu controller, or a writable cgroup v1 cpu hierarchy.
fn cpu_quota_expected() -> bool {
    let writable = |d: &Path| nix::unistd::access(d, nix::unistd::AccessFlags::W_OK).is_ok();
    let v2 = cgroup_dir(false, "/").filter(|d| {
        std::fs::read_to_string(d.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|w| w == "cpu"))
    });
    nix::unistd::geteuid().is_root()
        && (v2.is_some_and(|d| writable(&d)) || cgroup_dir(true, "/").is_some_and(|d| writable(&d)))
}

/// --cpu-quota 50 runs the collector in a cgroup of its own with that quota, recorded in the
/// manifest, and removes it at exit; where no cgroup can apply it, the run goes on and says why.
#[test]
fn cpu_quota_runs_the_collection_in_its_own_cgroup_and_removes_it_at_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = slow_spec(tmp.path(), 400);
    let out_dir = tmp.path().join("out");
    let child = spawn_collect(
        &spec,
        &out_dir,
        &["--time-source", "none", "--cpu-quota", "50"],
    );
    let pid = child.id();
    let child_name = format!("vestige-{pid}");
    // Watch the running collector: its /proc/PID/cgroup names the child, and the child's
    // files hold the quota.
    let mut seen: Option<(bool, String, String)> = None;
    let t0 = Instant::now();
    while seen.is_none() && t0.elapsed() < Duration::from_secs(5) {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        seen = text.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            path.ends_with(&format!("/{child_name}")).then(|| {
                let v1 = controllers.split(',').any(|c| c == "cpu");
                let dir = cgroup_dir(v1, path).unwrap();
                let quota = if v1 {
                    std::fs::read_to_string(dir.join("cpu.cfs_quota_us")).unwrap()
                } else {
                    std::fs::read_to_string(dir.join("cpu.max")).unwrap()
                };
                (v1, path.to_owned(), quota.trim().to_owned())
            })
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let m = manifest(Path::new(summary(&out)["location"].as_str().unwrap()));
    let q = &m["collector"]["cpu_quota"];
    assert_eq!(q["requested_percent"], 50, "{q}");
    if !cpu_quota_expected() {
        // This host cannot apply it: the run goes on, and the manifest says why.
        assert!(seen.is_none());
        assert!(q["applied"].is_null(), "{q}");
        assert!(q["error"].as_str().is_some_and(|e| !e.is_empty()), "{q}");
        assert!(stderr.contains("CPU quota"), "warned: {stderr}");
        return;
    }
    let (v1, path, quota) = seen.expect("the running collector was seen in its own cgroup");
    assert_eq!(quota, if v1 { "50000" } else { "50000 100000" });
    let label = if v1 { "cgroup1" } else { "cgroup2" };
    assert_eq!(q["applied"], format!("{label}:{path}"), "{q}");
    assert_eq!(q["applied_percent"], 50, "{q}");
    assert_eq!(q["quota_us"], 50_000, "{q}");
    assert_eq!(q["period_us"], 100_000, "{q}");
    assert!(q["error"].is_null(), "{q}");
    assert_eq!(m["collector"]["pid"], pid);
    let dir = cgroup_dir(v1, &path).unwrap();
    assert!(!dir.exists(), "{} is removed at exit", dir.display());
}

/// The CPU quota comes from the spec unless the flag overrides it, is off by default, and
/// bad values by flag or spec exit 2 with the reason.
#[test]
fn cpu_quota_comes_from_the_spec_unless_the_flag_gives_one_and_bad_values_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("quota.yaml");
    std::fs::write(
        &spec,
        "name: quota\ncpu_quota: 30\nartifacts:\n  - name: system\n    collect: system\n",
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let base = [
        "collect",
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--imds-timeout",
        "100ms",
        "--time-source",
        "none",
    ];
    let requested = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let out = vestige(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m = manifest(Path::new(summary(&out)["location"].as_str().unwrap()));
        m["collector"]["cpu_quota"].clone()
    };
    assert_eq!(requested(&[])["requested_percent"], 30);
    let flagged = requested(&["--cpu-quota", "250"]);
    assert_eq!(flagged["requested_percent"], 250);
    if cpu_quota_expected() {
        assert_eq!(flagged["applied_percent"], 250, "{flagged}");
    }
    // Off by default: the field is null.
    let out = vestige(&[
        "collect",
        "--spec",
        "minimal",
        "--out",
        out_dir.to_str().unwrap(),
        "--imds-timeout",
        "100ms",
        "--time-source",
        "none",
    ]);
    let m = manifest(Path::new(summary(&out)["location"].as_str().unwrap()));
    assert!(m["collector"]["cpu_quota"].is_null(), "{}", m["collector"]);

    for bad in ["0", "-5", "abc", "50%", "1.5", "100001", ""] {
        let out = vestige(&[
            "collect",
            "--out",
            out_dir.to_str().unwrap(),
            "--cpu-quota",
            bad,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(
            stderr.contains("--cpu-quota") && stderr.contains("percent of one CPU"),
            "{bad}: {stderr}"
        );
    }
    std::fs::write(
        &spec,
        "name: quota\ncpu_quota: 0\nartifacts:\n  - name: system\n    collect: system\n",
    )
    .unwrap();
    let out = vestige(&base);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cpu_quota") || stderr.contains("CPU quota"),
        "{stderr}"
    );
}

/// A root holding one small file and a sparse 6 GiB one (seconds to hash and compress, no
/// disk), and a spec: host facts, the two files as one archive (`timeout` on it when given),
/// then connections and host facts again.
fn huge_file_spec(dir: &Path, timeout: Option<&str>) -> (PathBuf, PathBuf) {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("data/a.txt"), "first file\n").unwrap();
    let f = std::fs::File::create(root.join("data/big.img")).unwrap();
    f.set_len(6 << 30).unwrap();
    let timeout = timeout.map_or(String::new(), |t| format!("    timeout: {t}\n"));
    let spec = dir.join("huge.yaml");
    std::fs::write(
        &spec,
        format!(
            "name: huge
artifacts:
  - {{name: system, collect: system}}
  - name: big
{timeout}    collect:
      files:
        patterns: [/data/a.txt, /data/big.img]
        max_file_size: 8GiB
        max_total_size: 8GiB
  - {{name: connections, collect: connections}}
  - {{name: system_after, collect: system}}
"
        ),
    )
    .unwrap();
    (spec, root)
}

fn entry<'a>(m: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {m:#}"))
}

/// The archive entry of a files artifact.
fn archive<'a>(m: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let path = format!("artifacts/{name}.tar.zst");
    m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == path.as_str())
        .unwrap_or_else(|| panic!("no {path} in {m:#}"))
}

/// The index record of the file the stop cut short.
fn cut_short(coll: &Path) -> serde_json::Value {
    let recs = e2e::records(coll, "artifacts/big.jsonl.zst");
    let first = recs.iter().find(|r| r["path"] == "/data/a.txt").unwrap();
    assert_eq!(first["status"], "ok", "{first}");
    let rec = recs
        .iter()
        .find(|r| r["path"] == "/data/big.img")
        .unwrap_or_else(|| panic!("{recs:?}"))
        .clone();
    assert_eq!(rec["status"], "stopped_while_read", "{rec}");
    assert_eq!(rec["size"], 6u64 << 30, "{rec}");
    assert!(rec["sha256"].is_null(), "{rec}");
    let stored = rec["stored_bytes"].as_u64().unwrap();
    assert!(stored > 0 && stored < 6 << 30, "{rec}");
    assert!(
        rec["error"]
            .as_str()
            .unwrap()
            .contains(&format!("{stored} of {} bytes stored", 6u64 << 30)),
        "{rec}"
    );
    rec
}

/// [fault] A deadline reached inside a huge file ends the run in time: the archive is partial and
/// says where it ends, the file is indexed as cut short, later artifacts skipped, and it verifies.
#[test]
fn deadline_inside_a_huge_file_ends_the_run_in_time_with_the_archive_partial() {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, root) = huge_file_spec(tmp.path(), None);
    let out_dir = tmp.path().join("out");
    let t0 = Instant::now();
    let out = vestige(&[
        "collect",
        "--spec",
        spec.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--deadline",
        "3s",
        "--imds-timeout",
        "100ms",
    ]);
    let took = t0.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(took < Duration::from_millis(3000 + 2000), "took {took:?}");
    let s = summary(&out);
    assert_eq!(s["interrupted"], "deadline reached", "{s}");
    let m = manifest(Path::new(s["location"].as_str().unwrap()));
    assert_eq!(entry(&m, "system")["status"], "ok");
    // The index of what was walked, and the archive, which ends inside the huge file.
    let big = entry(&m, "big");
    assert_eq!(big["status"], "partial", "{big}");
    // Both files are indexed: the huge one as cut short, with how much of it was stored.
    assert_eq!(big["records"], 2, "{big}");
    assert!(
        big["error"]
            .as_str()
            .unwrap()
            .starts_with("stopped at the run's deadline"),
        "{big}"
    );
    let tar = archive(&m, "big");
    assert_eq!(tar["status"], "partial", "{tar}");
    let why = tar["error"].as_str().unwrap();
    assert!(why.contains("deadline"), "{tar}");
    assert!(
        why.contains("ends inside the member of /data/big.img"),
        "{tar}"
    );
    let rec = cut_short(Path::new(s["location"].as_str().unwrap()));
    assert!(
        rec["error"]
            .as_str()
            .unwrap()
            .starts_with("stopped at the run's deadline"),
        "{rec}"
    );
    for later in ["connections", "system_after"] {
        let e = entry(&m, later);
        assert_eq!(e["status"], "skipped", "{e}");
        assert!(e["error"].as_str().unwrap().contains("deadline"), "{e}");
    }
    let v = vestige(&["verify", s["location"].as_str().unwrap()]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
}

/// [fault] An artifact timeout inside a huge file leaves its archive partial and says where it
/// ends, and the following artifacts run and complete.
#[test]
fn artifact_timeout_inside_a_huge_file_moves_on_to_the_next_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, root) = huge_file_spec(tmp.path(), Some("2s"));
    let out_dir = tmp.path().join("out");
    let t0 = Instant::now();
    let out = vestige(&[
        "collect",
        "--spec",
        spec.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--imds-timeout",
        "100ms",
    ]);
    let took = t0.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let s = summary(&out);
    assert!(s["interrupted"].is_null(), "{s}");
    let m = manifest(Path::new(s["location"].as_str().unwrap()));
    let big = entry(&m, "big");
    assert_eq!(big["status"], "partial", "{big}");
    assert_eq!(
        big["error"], "timed out after 2s (the artifact's timeout)",
        "{big}"
    );
    let tar = archive(&m, "big");
    assert_eq!(tar["status"], "partial", "{tar}");
    let why = tar["error"].as_str().unwrap();
    assert!(why.contains("timed out after 2s"), "{tar}");
    assert!(
        why.contains("ends inside the member of /data/big.img"),
        "{tar}"
    );
    let rec = cut_short(Path::new(s["location"].as_str().unwrap()));
    assert!(
        rec["error"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 2s"),
        "{rec}"
    );
    for later in ["system", "connections", "system_after"] {
        let e = entry(&m, later);
        assert_eq!(e["status"], "ok", "{e}");
        assert!(e["records"].as_u64().unwrap() > 0, "{e}");
    }
    let v = vestige(&["verify", s["location"].as_str().unwrap()]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
}
