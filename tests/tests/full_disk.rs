//! A directory sink on a tiny filesystem that fills up: clear errors, never a corrupt
//! manifest, never a partial object presented as complete.

use e2e::{manifest, vestige};
use std::path::Path;
use std::process::Command;

struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs (the tests run as root)");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

/// [fault] Collecting onto 8k, 48k and 160k tmpfs leaves no .part files, and either the manifest
/// records "No space left" and verifies, or the run exits 1 with no manifest.
#[test]
fn filling_the_destination_is_recorded_and_the_manifest_stays_sound() {
    for size in ["8k", "48k", "160k"] {
        let tmp = tempfile::tempdir().unwrap();
        let mnt = tmp.path().join("tiny");
        let _fs = Tmpfs::mount(&mnt, size);
        let out = vestige(&[
            "collect",
            "--out",
            mnt.to_str().unwrap(),
            "--imds-timeout",
            "100ms",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let files = files_under(&mnt);
        assert!(
            files.iter().all(|f| !f.ends_with(".part")),
            "{size}: partial objects left: {files:?}"
        );
        match out.status.code() {
            Some(0) => {
                let root_file = files.iter().find(|f| f.ends_with("manifest.json")).unwrap();
                let root = Path::new(root_file).parent().unwrap();
                let m = manifest(root);
                let failed: Vec<_> = m["artifacts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|a| a["status"] == "error" || a["status"] == "partial")
                    .collect();
                assert!(
                    !failed.is_empty(),
                    "{size}: a full disk must show in the manifest"
                );
                let says_full = |a: &&serde_json::Value| {
                    a["error"].as_str().unwrap().contains("No space left")
                        || a["warnings"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|w| w.as_str().unwrap().contains("No space left"))
                };
                assert!(failed.iter().all(says_full), "{size}: {failed:?}");
                let v = vestige(&["verify", root.to_str().unwrap()]);
                assert_eq!(
                    v.status.code(),
                    Some(0),
                    "{size}: {}",
                    String::from_utf8_lossy(&v.stdout)
                );
            }
            Some(1) => {
                assert!(
                    stderr.contains("manifest") && stderr.contains("No space left"),
                    "{size}: {stderr}"
                );
                assert!(
                    files.iter().all(|f| !f.ends_with("manifest.json")),
                    "{size}: no manifest without exit 0"
                );
            }
            other => panic!("{size}: exit {other:?}: {stderr}"),
        }
    }
}
