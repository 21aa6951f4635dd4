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

#[test]
fn sigterm_mid_collection_writes_a_manifest_marking_the_rest_skipped() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let tmp = tempfile::tempdir().unwrap();
        let spec = slow_spec(tmp.path(), 400);
        let out_dir = tmp.path().join("out");
        let child = Command::new(vestige_bin())
            .args([
                "collect",
                "--spec",
                spec.to_str().unwrap(),
                "--out",
                out_dir.to_str().unwrap(),
                "--imds-timeout",
                "100ms",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
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
