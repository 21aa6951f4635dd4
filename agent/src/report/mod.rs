//! `vestige report`: one self-contained HTML page of a collection for an analyst — summary
//! and verification first, then what looks wrong, then the process tree, processes,
//! connections, logins, kernel state and the artifact table.
//!
//! [`model`] reads the collection (through a [`CollectionReader`], so a directory and an
//! `s3://` root alike) into what the page shows; [`html`] renders it.

pub mod html;
pub mod model;

use crate::sink::CollectionReader;
use model::ReportModel;

/// What a report run produced, for the command's summary line.
#[derive(Debug, Clone)]
pub struct ReportSummary {
    /// Processes shown.
    pub processes: usize,
    /// Processes with at least one anomaly flag.
    pub flagged: usize,
    /// Whether verification passed (`None` when it was not run).
    pub verified: Option<bool>,
    /// Artifacts that could not be read whole.
    pub damaged: usize,
}

/// How to build a report.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Re-check every stored object against the manifest and show the result.
    pub verify: bool,
    /// The manifest's SHA-256 as kept outside the host (the summary line's), to prove the
    /// manifest itself.
    pub manifest_sha256: Option<String>,
}

/// Builds the report page of the collection behind `reader`.
pub fn build(reader: &dyn CollectionReader, opts: &ReportOptions) -> (String, ReportSummary) {
    let model = ReportModel::build(reader, opts);
    let summary = ReportSummary {
        processes: model.processes.len(),
        flagged: model
            .processes
            .iter()
            .filter(|p| !model.flags(p).is_empty())
            .count(),
        verified: model.verify.as_ref().map(|v| v.ok()),
        damaged: model.read_damage.len(),
    };
    (html::render(&model), summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::fixture::{process, write};
    use crate::sink::dir::DirReader;
    use serde_json::json;

    fn page(root: &std::path::Path) -> (String, ReportSummary) {
        build(
            &DirReader::new(root),
            &ReportOptions {
                verify: true,
                manifest_sha256: None,
            },
        )
    }

    fn hostile_collection(root: &std::path::Path) {
        write(
            root,
            &[
                (
                    "processes",
                    "processes",
                    vec![
                        process(1, 0, "init", json!({})),
                        process(
                            66,
                            1,
                            "<script>alert(1)</script>",
                            json!({
                                "cmdline": ["\"><img src=x onerror=alert(2)>", "line\nbreak", "it's"],
                                "exe": "/tmp/</td><b>x</b> (deleted)",
                                "exe_deleted": true,
                                "environ": ["LD_PRELOAD=/dev/shm/<i>evil</i>.so"],
                                "user": "<u>",
                            }),
                        ),
                    ],
                ),
                (
                    "connections",
                    "connections",
                    vec![
                        json!({"protocol": "tcp", "family": "inet", "local_address": "<a href=x>", "local_port": 80,
                                "remote_address": null, "remote_port": null, "state": "LISTEN", "inode": 7, "pids": [66]}),
                    ],
                ),
                (
                    "logins",
                    "logins",
                    vec![
                        json!({"session_type": "login", "user": "<script>x()</script>", "tty": "pts/0",
                                "remote_host": "\"onmouseover=\"x", "login_time": "2026-12-04T10:00:00Z"}),
                    ],
                ),
            ],
        );
    }

    /// [security] Host strings carrying HTML and script are escaped in the report, and a flagged
    /// process still shows its flags.
    #[test]
    fn hostile_host_strings_are_escaped() {
        let tmp = tempfile::tempdir().unwrap();
        hostile_collection(tmp.path());
        let (html, summary) = page(tmp.path());
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the page's own script"
        );
        for injected in [
            "<img",
            "<b>x",
            "<i>evil",
            "<u>",
            "<a href=x",
            "\"onmouseover",
        ] {
            assert!(!html.contains(injected), "{injected} reached the page");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt; line\\nbreak it&#39;s"));
        assert_eq!(summary.flagged, 1);
        assert_eq!(summary.verified, Some(true));
        let row = html
            .lines()
            .find(|l| l.starts_with("<tr id=\"proc-66\""))
            .unwrap();
        for code in ["deleted-exe", "writable-dir-exe", "ld-preload"] {
            assert!(row.contains(code), "{code}: {row}");
        }
    }

    /// [security] The report's content security policy denies by default and allows exactly its
    /// inline style and script by hash; no external URL, inline style attribute or handler.
    #[test]
    fn the_policy_allows_exactly_the_inline_style_and_script() {
        let tmp = tempfile::tempdir().unwrap();
        hostile_collection(tmp.path());
        let (html, _) = page(tmp.path());
        let between = |open: &str, close: &str| {
            let start = html.find(open).unwrap() + open.len();
            let end = start + html[start..].find(close).unwrap();
            html[start..end].to_owned()
        };
        let csp = html::content_security_policy();
        assert!(html.contains(&format!("content=\"{csp}\"")));
        assert!(csp.starts_with("default-src 'none';"));
        for (open, close) in [("<style>", "</style>"), ("<script>", "</script>")] {
            use base64::Engine;
            use sha2::Digest;
            let body = between(open, close);
            let h = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body));
            assert!(csp.contains(&format!("'sha256-{h}'")), "{open} hash");
        }
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains(" style=\"") && !html.contains(" onclick="));
    }

    /// The report flags rwx and anonymous executable maps, memfd executables, hidden pids, kernel
    /// taint and ld.so.preload.
    #[test]
    fn anomalies_are_flagged_from_maps_hidden_pids_and_taint() {
        let tmp = tempfile::tempdir().unwrap();
        let map = |pid: i64, perms: &str, path: Option<&str>, wx: bool, anon: bool| {
            json!({"pid": pid, "start": "0x1000", "end": "0x2000", "perms": perms, "path": path,
                   "deleted": false, "memfd": false, "writable_executable": wx, "anonymous_executable": anon})
        };
        let mut maps: Vec<_> = (0..1000)
            .map(|_| map(1, "r--p", Some("/usr/lib/libc.so.6"), false, false))
            .collect();
        maps.push(map(20, "rwxp", None, true, true));
        maps.push(map(21, "r-xp", None, false, true));
        write(
            tmp.path(),
            &[
                (
                    "processes",
                    "processes",
                    vec![
                        process(1, 0, "init", json!({})),
                        process(20, 1, "jit", json!({})),
                        process(21, 1, "shellcode", json!({})),
                        process(
                            22,
                            1,
                            "fileless",
                            json!({"exe": "/memfd:x (deleted)", "exe_memfd": true}),
                        ),
                    ],
                ),
                ("memory_maps", "memory_maps", maps),
                (
                    "hidden_processes",
                    "hidden_processes",
                    vec![
                        json!({"pid": 31337, "reason": "missing_from_proc_listing", "comm": "rootkit"}),
                    ],
                ),
                (
                    "system",
                    "system",
                    vec![
                        json!({"tainted": 12288, "tainted_flags": ["O: out-of-tree module", "E: unsigned module"],
                    "ld_so_preload": {"path": "/etc/ld.so.preload", "content": "/lib/libhide.so\n"}}),
                    ],
                ),
            ],
        );
        let model =
            model::ReportModel::build(&DirReader::new(tmp.path()), &ReportOptions::default());
        let codes = |pid: i64| -> Vec<&'static str> {
            let p = model
                .processes
                .iter()
                .find(|p| p.view.pid == Some(pid))
                .unwrap();
            model.flags(p).iter().map(|f| f.code).collect()
        };
        assert!(codes(1).is_empty());
        assert_eq!(codes(20), ["rwx-map", "anon-exec-map"]);
        assert_eq!(codes(21), ["anon-exec-map"]);
        assert_eq!(codes(22), ["memfd-exe"]);
        assert_eq!(model.maps.get(&1).unwrap().mappings, 1000);
        assert!(model.verify.is_none());
        let html = html::render(&model);
        for needle in [
            "Hidden process 31337",
            "Kernel tainted (12288)",
            "/lib/libhide.so",
            "not run",
        ] {
            assert!(html.contains(needle), "{needle}");
        }
    }

    /// [hostile] A truncated artifact shows as damaged and FAILED, and a missing manifest is named,
    /// without failing the report.
    #[test]
    fn damaged_and_missing_pieces_are_shown_not_fatal() {
        let tmp = tempfile::tempdir().unwrap();
        let procs = (1..=50)
            .map(|i| process(i, i - 1, "p", json!({})))
            .collect();
        write(tmp.path(), &[("processes", "processes", procs)]);
        let path = tmp.path().join("artifacts/processes.jsonl.zst");
        let mut bytes = std::fs::read(&path).unwrap();
        let half = bytes.len() / 2;
        bytes.truncate(half);
        std::fs::write(&path, bytes).unwrap();
        let (html, summary) = page(tmp.path());
        assert_eq!(summary.verified, Some(false));
        assert_eq!(summary.damaged, 1);
        assert!(html.contains("FAILED"));
        assert!(html.contains("could not be read whole"));

        std::fs::remove_file(tmp.path().join("manifest.json")).unwrap();
        let (html, _) = page(tmp.path());
        assert!(html.contains("The manifest could not be read"));
    }

    /// The summary shows the instance's zone, AMI, type, IAM role and captured identity document,
    /// and off EC2 why IMDS gave nothing.
    #[test]
    fn cloud_identity_is_in_the_summary() {
        let row = |k: &str, v: &str| format!("<tr><th>{k}</th><td>{v}</td></tr>");
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            &[(
                "cloud_identity",
                "cloud_identity",
                vec![json!({
                    "available": true, "instance_id": "i-0123456789abcdef0",
                    "availability_zone": "eu-west-1b", "ami_id": "ami-0abc",
                    "instance_type": "m6i.large", "iam_role": "web-<role>",
                    "identity_document": "{\"instanceId\":\"i-0123456789abcdef0\"}",
                    "identity_document_sha256": "ab12", "identity_signature": "c2ln",
                    "identity_pkcs7": "MIAG", "identity_rsa2048": null,
                })],
            )],
        );
        let (html, _) = page(tmp.path());
        for r in [
            row("Availability zone", "eu-west-1b"),
            row("AMI", "ami-0abc"),
            row("Instance type", "m6i.large"),
            row("IAM role", "web-&lt;role&gt;"),
            row(
                "Identity document",
                "present <span class=\"muted\">(SHA-256 <code>ab12</code>)</span>",
            ),
            row("Identity signature", "present (signature, pkcs7)"),
        ] {
            assert!(html.contains(&r), "{r}");
        }

        // Captured without its signatures, and with no role: both said.
        write(
            tmp.path(),
            &[(
                "cloud_identity",
                "cloud_identity",
                vec![json!({
                    "available": true, "availability_zone": "us-east-1a",
                    "identity_document": "{}", "identity_document_sha256": "cd34",
                    "identity_signature": null, "identity_pkcs7": "", "iam_role": null,
                })],
            )],
        );
        let (html, _) = page(tmp.path());
        assert!(html.contains(&row("Availability zone", "us-east-1a")));
        assert!(html.contains(&row("IAM role", "<span class=\"muted\">none</span>")));
        assert!(html.contains(&row(
            "Identity signature",
            "<span class=\"damaged\">absent</span>"
        )));

        // Off EC2: the reason, and no empty identity rows.
        write(
            tmp.path(),
            &[(
                "cloud_identity",
                "cloud_identity",
                vec![json!({"available": false, "reason": "no IMDS answer within 1s"})],
            )],
        );
        let (html, _) = page(tmp.path());
        assert!(html.contains("not available: no IMDS answer within 1s"));
        assert!(!html.contains("<th>Availability zone</th>"));
        assert!(!html.contains("<th>Identity document</th>"));
    }

    /// A process with LD_PRELOAD in its environment is flagged; an empty LD_PRELOAD= is not.
    #[test]
    fn ld_preload_in_the_environment_is_flagged() {
        let tmp = tempfile::tempdir().unwrap();
        let env = |vars: &[&str]| json!({ "environ": vars });
        write(
            tmp.path(),
            &[(
                "processes",
                "processes",
                vec![
                    process(1, 0, "init", json!({})),
                    process(
                        10,
                        1,
                        "hooked",
                        env(&["PATH=/bin", "LD_PRELOAD=/dev/shm/libx.so"]),
                    ),
                    process(11, 1, "empty", env(&["LD_PRELOAD="])),
                    process(
                        12,
                        1,
                        "lookalike",
                        env(&["MY_LD_PRELOAD=/x.so", "X=LD_PRELOAD=/y.so"]),
                    ),
                    process(
                        13,
                        1,
                        "in-argv",
                        json!({"cmdline": ["env", "LD_PRELOAD=/z.so", "sh"], "environ": ["PATH=/bin"]}),
                    ),
                ],
            )],
        );
        let model =
            model::ReportModel::build(&DirReader::new(tmp.path()), &ReportOptions::default());
        let flags = |pid: i64| {
            let p = model
                .processes
                .iter()
                .find(|p| p.view.pid == Some(pid))
                .unwrap();
            model.flags(p)
        };
        let hooked = flags(10);
        assert_eq!(hooked.len(), 1);
        assert_eq!(hooked[0].code, "ld-preload");
        assert_eq!(hooked[0].text, "LD_PRELOAD=/dev/shm/libx.so");
        for pid in [1, 11, 12, 13] {
            assert!(flags(pid).is_empty(), "pid {pid}: {:?}", flags(pid));
        }
        let html = html::render(&model);
        let row = html
            .lines()
            .find(|l| l.starts_with("<tr id=\"proc-10\""))
            .unwrap();
        assert!(row.contains("data-flags=\"ld-preload\""), "{row}");
        assert!(row.contains("LD_PRELOAD=/dev/shm/libx.so"), "{row}");
        assert!(html.contains("LD_PRELOAD=/dev/shm/libx.so"));
    }

    /// [hostile] Processes in a parent loop or their own parent all appear in the tree, with
    /// balanced markup.
    #[test]
    fn a_parent_loop_still_shows_every_process() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            &[(
                "processes",
                "processes",
                vec![
                    process(1, 0, "init", json!({})),
                    process(5, 6, "loop-a", json!({})),
                    process(6, 5, "loop-b", json!({})),
                    process(7, 7, "self-parent", json!({})),
                ],
            )],
        );
        let (html, _) = page(tmp.path());
        for pid in [1, 5, 6, 7] {
            assert!(html.contains(&format!("id=\"tree-{pid}\"")), "{pid}");
        }
        assert_eq!(
            html.matches("<details").count(),
            html.matches("</details>").count()
        );
    }
}
