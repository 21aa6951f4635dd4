//! Shared helpers for vestige's end-to-end tests: find the binary, run it, read what it
//! stored. Each test file under `tests/tests/` uses these against real processes, real
//! directories and (for S3) a real S3 server on loopback.

pub mod moto;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod zoo;

/// Path of the `vestige` binary under test: `$VESTIGE_BIN` if set, else the binary cargo
/// built beside this test (`target/<profile>/vestige`).
pub fn vestige_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("VESTIGE_BIN") {
        return PathBuf::from(p);
    }
    // Test executables live in target/<profile>/deps/.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = profile_dir.join("vestige");
    assert!(
        bin.exists(),
        "{} not found: build it first (`cargo build -p vestige`) or set VESTIGE_BIN",
        bin.display()
    );
    bin
}

/// Runs vestige with `args` and returns its output.
pub fn vestige(args: &[&str]) -> Output {
    Command::new(vestige_bin())
        .args(args)
        .output()
        .expect("run vestige")
}

/// The last non-empty stdout line, parsed as JSON (the summary line).
pub fn summary(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| {
            panic!(
                "no stdout; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(last).unwrap_or_else(|e| panic!("summary line is not JSON ({e}): {last}"))
}

/// Reads `manifest.json` of a collection root.
pub fn manifest(root: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(root.join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest parses")
}

/// Decompresses a stored `.jsonl.zst` artifact into its records.
pub fn records(root: &Path, rel: &str) -> Vec<serde_json::Value> {
    let stored = std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let raw = zstd::decode_all(&stored[..]).expect("zstd");
    String::from_utf8(raw)
        .expect("records are UTF-8 JSON")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record parses"))
        .collect()
}

/// Records of the artifact named `name` (path taken from the manifest).
pub fn artifact_records(root: &Path, name: &str) -> Vec<serde_json::Value> {
    let m = manifest(root);
    let entry = m["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == name))
        .unwrap_or_else(|| panic!("no artifact {name} in manifest"));
    let path = entry["path"]
        .as_str()
        .unwrap_or_else(|| panic!("artifact {name} has no path: {entry}"));
    records(root, path)
}

/// (path, cause) of every problem in a `vestige verify --json` report.
pub fn verify_problems(report: &serde_json::Value) -> Vec<(String, String)> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_owned(),
                p["cause"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
