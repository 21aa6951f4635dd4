//! Runs the process zoo (`tests/zoo/zoo.py`): real processes in a private PID and mount
//! namespace, with `vestige collect` run beside them inside the same namespace.

use crate::artifact_records;
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longer than the zoo's own watchdog, so the zoo normally reports its own failure.
const ZOO_TIMEOUT: Duration = Duration::from_secs(200);

/// A finished zoo run.
pub struct ZooRun {
    /// Working directory: zoo.json, reference copies of the executables, the bundle.
    pub work: PathBuf,
    /// zoo.json: the members (pids, ports, paths, exact bytes) and vestige's output.
    pub desc: Value,
    /// Collection root of the bundle vestige wrote inside the namespace.
    pub root: PathBuf,
    /// The summary line of that collection.
    pub summary: Value,
}

impl ZooRun {
    /// A member of zoo.json (panics if absent).
    pub fn member(&self, name: &str) -> &Value {
        let m = &self.desc["members"][name];
        assert!(m.is_object(), "zoo.json has no member {name}");
        m
    }

    /// A member's pid in the zoo's namespace.
    pub fn pid(&self, name: &str) -> u64 {
        self.member(name)["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("member {name} has no pid"))
    }

    /// Records of an artifact of the bundle.
    pub fn records(&self, artifact: &str) -> Vec<Value> {
        artifact_records(&self.root, artifact)
    }

    /// The `processes` record of a member.
    pub fn process(&self, name: &str) -> Value {
        let pid = self.pid(name);
        let mut found: Vec<Value> = self
            .records("processes")
            .into_iter()
            .filter(|r| r["pid"] == pid)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "exactly one processes record for {name} (pid {pid})"
        );
        found.remove(0)
    }

    /// The bytes a member executed (a reference copy kept by the zoo).
    pub fn reference_bytes(&self, name: &str) -> Vec<u8> {
        let rel = self.member(name)["reference"]
            .as_str()
            .expect("reference path");
        std::fs::read(self.work.join(rel)).expect("reference copy")
    }
}

/// Starts the zoo in `work` (cleared first), runs `vestige collect --out work/out
/// COLLECT_ARGS` inside it, and returns what it found. Needs root and python3
/// (`$VESTIGE_TEST_PYTHON` overrides the interpreter).
pub fn run_zoo(work: &Path, collect_args: &[&str]) -> Result<ZooRun, String> {
    run_zoo_as(work, collect_args, None)
}

/// Like [`run_zoo`]; with `hostname`, the zoo is also a host of its own: private UTS and
/// network namespaces (loopback up, nothing else), so its collection holds only the zoo's
/// processes and sockets, under that host name.
pub fn run_zoo_as(
    work: &Path,
    collect_args: &[&str],
    hostname: Option<&str>,
) -> Result<ZooRun, String> {
    // /proc/self belongs to the effective uid.
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        return Err("the zoo needs root (PID namespace, a bind mount over /proc/PID)".into());
    }
    if work.exists() {
        std::fs::remove_dir_all(work).map_err(|e| format!("clearing {}: {e}", work.display()))?;
    }
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("zoo/zoo.py");
    let python = std::env::var_os("VESTIGE_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let log =
        |name: &str| std::fs::File::create(work.join(name)).map_err(|e| format!("{name}: {e}"));
    let mut command = Command::new("unshare");
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent. If the test
    // dies, unshare gets SIGKILL, and --kill-child passes it on to the whole zoo.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    command.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    if let Some(name) = hostname {
        command
            .args(["--uts", "--net"])
            .env("VESTIGE_ZOO_HOSTNAME", name);
    }
    let mut child = command
        .arg(&python)
        .arg(&script)
        .arg("run")
        .arg("--vestige")
        .arg(crate::vestige_bin())
        .arg("--work")
        .arg(work)
        .arg("--")
        .args(collect_args)
        .stdin(Stdio::null())
        .stdout(log("zoo.stdout")?)
        .stderr(log("zoo.stderr")?)
        .spawn()
        .map_err(|e| format!("starting unshare (util-linux): {e}"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > ZOO_TIMEOUT => {
                // --kill-child takes pid 1 of the namespace, and with it every member.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("still running after {ZOO_TIMEOUT:?}; killed"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for unshare: {e}")),
        }
    };
    let stderr = std::fs::read_to_string(work.join("zoo.stderr")).unwrap_or_default();
    let desc: Value = std::fs::read(work.join("zoo.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| format!("no zoo.json (exit {status}); stderr:\n{stderr}"))?;
    if let Some(e) = desc["error"].as_str() {
        return Err(format!("{e}\nzoo stderr:\n{stderr}\nzoo.json: {desc:#}"));
    }
    let v = &desc["vestige"];
    if v["exit_code"] != 0 {
        return Err(format!(
            "vestige collect exited {}:\n{}",
            v["exit_code"], v["stderr"]
        ));
    }
    let stdout = v["stdout"].as_str().unwrap_or_default();
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or("vestige printed no summary line")?;
    let summary: Value =
        serde_json::from_str(last).map_err(|e| format!("summary is not JSON ({e}): {last}"))?;
    let root = PathBuf::from(
        summary["location"]
            .as_str()
            .ok_or("summary has no location")?,
    );
    Ok(ZooRun {
        work: work.to_path_buf(),
        desc,
        root,
        summary,
    })
}
