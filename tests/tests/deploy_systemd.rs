//! The golden-AMI unit `systemd/vestige-shutdown-capture.service`: systemd-analyze verify
//! clean, hardened (exposure score), opt-in, bounded in time, collecting only at shutdown, and
//! the capabilities it keeps are enough for a collection.

mod deploy_support;

use deploy_support::{repo_root, show, tool, write_executable};
use std::process::Command;

const UNIT: &str = "systemd/vestige-shutdown-capture.service";

/// `Key=value` lines of the unit (all sections), in order.
fn directives() -> Vec<(String, String)> {
    std::fs::read_to_string(repo_root().join(UNIT))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn get(d: &[(String, String)], key: &str) -> Vec<String> {
    d.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

fn seconds(v: &str) -> u64 {
    v.trim_end_matches('s')
        .parse()
        .unwrap_or_else(|_| panic!("not seconds: {v}"))
}

/// Runs `script` in a private mount namespace where /opt/vestige/bin/vestige is `bin`.
fn with_installed_binary(bin: &std::path::Path, script: &str) -> std::process::Output {
    let full = format!(
        "set -e\nmount -t tmpfs tmpfs /opt\nmkdir -p /opt/vestige/bin\ncp '{}' /opt/vestige/bin/vestige\n{script}",
        bin.display()
    );
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &full])
        .current_dir(repo_root())
        .output()
        .unwrap()
}

/// The shutdown unit passes systemd-analyze verify and scores at most 4.0 in systemd-analyze
/// security.
#[test]
fn shutdown_unit_passes_systemd_analyze_verify_and_security() {
    if tool("systemd-analyze").is_none() || tool("unshare").is_none() {
        return;
    }
    let bin = e2e::vestige_bin();
    let out = with_installed_binary(&bin, &format!("systemd-analyze verify {UNIT}"));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        show(&out)
    );
    // Exposure 0..100 (shown as 0.0..10.0): at most 4.0, "OK" in systemd's words.
    let out = with_installed_binary(
        &bin,
        &format!("systemd-analyze security --offline=yes --threshold=40 {UNIT}"),
    );
    assert!(out.status.success(), "exposure above 4.0: {}", show(&out));
}

/// The shutdown unit runs only with its environment file, before the network stops, with vestige's
/// deadline well inside its stop timeout, and without hardening that would hide the state
/// collected.
#[test]
fn shutdown_unit_is_opt_in_bounded_and_does_not_hide_evidence() {
    let d = directives();
    assert_eq!(
        get(&d, "ConditionPathExists"),
        ["/etc/vestige/shutdown-capture.env"]
    );
    assert_eq!(
        get(&d, "EnvironmentFile"),
        ["/etc/vestige/shutdown-capture.env"]
    );
    let after = get(&d, "After").join(" ");
    assert!(
        after.contains("network-online.target") && after.contains("network.target"),
        "collects before the network stops: {after}"
    );
    assert_eq!(get(&d, "Type"), ["oneshot"]);
    assert_eq!(get(&d, "RemainAfterExit"), ["yes"]);
    let stop = get(&d, "ExecStop").join(" ");
    assert!(
        stop.contains("/opt/vestige/bin/vestige collect")
            && stop.contains("--s3")
            && stop.contains("--deadline"),
        "{stop}"
    );
    let timeout = seconds(&get(&d, "TimeoutStopSec")[0]);
    assert!(
        timeout <= 120,
        "shutdown capture must be bounded: {timeout}s"
    );
    let defaults = get(&d, "Environment").join(" ");
    let deadline = defaults
        .split_whitespace()
        .find_map(|w| w.strip_prefix("VESTIGE_DEADLINE="))
        .unwrap();
    assert!(
        seconds(deadline) + 15 <= timeout,
        "vestige's deadline {deadline} must end well before TimeoutStopSec"
    );
    // The example file keeps the same bound.
    let example =
        std::fs::read_to_string(repo_root().join("systemd/shutdown-capture.env.example")).unwrap();
    let ex_deadline = example
        .lines()
        .find_map(|l| l.strip_prefix("VESTIGE_DEADLINE="))
        .unwrap();
    assert!(seconds(ex_deadline) + 15 <= timeout);
    // Hardening that would hide the state being collected is absent.
    for hides in [
        "PrivateTmp",
        "ProtectProc",
        "PrivateDevices",
        "PrivateNetwork",
        "PrivatePIDs",
        "PrivateUsers",
    ] {
        assert!(
            get(&d, hides).iter().all(|v| v == "no"),
            "{hides} would hide evidence"
        );
    }
    assert!(get(&d, "ProtectHome").iter().all(|v| v == "read-only"));
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectKernelModules", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
    ] {
        assert_eq!(get(&d, k), [v], "{k}");
    }
}

/// ExecStop's shell command, as systemd hands it to /bin/sh (`$$` unescaped).
fn exec_stop_shell() -> String {
    let stop = get(&directives(), "ExecStop").pop().unwrap();
    let inner = stop
        .strip_prefix("/bin/sh -c '")
        .and_then(|s| s.strip_suffix('\''))
        .expect("ExecStop=/bin/sh -c '...'");
    inner.replace("$$", "$")
}

/// The shutdown unit collects only when the system is stopping, not on a plain stop, and passes the
/// configured arguments.
#[test]
fn shutdown_unit_collects_only_when_the_system_is_stopping() {
    if tool("unshare").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("argv");
    let fake = tmp.path().join("vestige");
    write_executable(
        &fake,
        &format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\n",
            log.display()
        ),
    );
    let fakebin = tmp.path().join("path");
    std::fs::create_dir(&fakebin).unwrap();
    let shell = exec_stop_shell();
    for state in ["running", "stopping"] {
        let _ = std::fs::remove_file(&log);
        write_executable(
            &fakebin.join("systemctl"),
            &format!("#!/bin/sh\necho {state}\n"),
        );
        let script = format!(
            "export PATH='{}':$PATH VESTIGE_SPEC=minimal VESTIGE_DEADLINE=45s VESTIGE_S3='s3://evidence-test/evidence/AROAEXAMPLE:i-0123456789abcdef0/shutdown' VESTIGE_ARGS='--sse aws:kms --sse-kms-key-id alias/vestige-evidence'\n/bin/sh -c '{}'",
            fakebin.display(),
            shell.replace('\'', "'\\''")
        );
        let out = with_installed_binary(&fake, &script);
        assert!(out.status.success(), "{}", show(&out));
        if state == "running" {
            assert!(!log.exists(), "a plain stop must not collect");
        } else {
            let argv = std::fs::read_to_string(&log).unwrap();
            let argv: Vec<&str> = argv.lines().collect();
            assert_eq!(
                argv,
                [
                    "collect",
                    "--quiet",
                    "--spec",
                    "minimal",
                    "--s3",
                    "s3://evidence-test/evidence/AROAEXAMPLE:i-0123456789abcdef0/shutdown",
                    "--deadline",
                    "45s",
                    "--fallback-out",
                    "/var/lib/vestige/shutdown",
                    "--sse",
                    "aws:kms",
                    "--sse-kms-key-id",
                    "alias/vestige-evidence",
                ]
            );
        }
    }
}

/// Runs a minimal collection with only `caps` in the bounding set (and no new privileges);
/// returns the processes record of `pid`.
fn collect_with_caps(caps: &[String], pid: u32) -> serde_json::Value {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("setpriv")
        .args([
            "--nnp",
            "--inh-caps=-all",
            &format!("--bounding-set=-all,{}", caps.join(",")),
        ])
        .arg(e2e::vestige_bin())
        .args(["collect", "--spec", "minimal", "--quiet", "--out"])
        .arg(tmp.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = e2e::summary(&out);
    let root = std::path::PathBuf::from(s["location"].as_str().unwrap());
    let procs = e2e::artifact_records(&root, "processes");
    procs
        .into_iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not collected"))
}

/// The capabilities the unit keeps suffice to hash another user's executable; without
/// CAP_SYS_PTRACE they do not.
#[test]
fn capabilities_kept_by_the_unit_are_enough_to_collect() {
    if tool("setpriv").is_none() {
        return;
    }
    let caps = get(&directives(), "CapabilityBoundingSet").pop().unwrap();
    let kept: Vec<String> = caps
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    // A process of another user: reading its executable needs CAP_SYS_PTRACE.
    let mut other = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sleep",
            "60",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let sleep_sha = e2e::sha256_hex(
        &std::fs::read(std::fs::read_link(format!("/proc/{}/exe", other.id())).unwrap()).unwrap(),
    );
    let with_unit_caps = collect_with_caps(&kept, other.id());
    let without_ptrace: Vec<String> = kept
        .iter()
        .filter(|c| *c != "+sys_ptrace")
        .cloned()
        .collect();
    let control = collect_with_caps(&without_ptrace, other.id());
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(with_unit_caps["uid"], 65534);
    assert_eq!(
        with_unit_caps["exe_sha256"],
        sleep_sha.as_str(),
        "the unit's capabilities could not hash another user's executable"
    );
    assert!(
        control["exe_sha256"].is_null(),
        "control: without CAP_SYS_PTRACE the executable should be unreadable: {control}"
    );
}
