//! `vestige report` and `vestige timeline` on a real process-zoo collection, the page opened
//! in headless Chromium (Debian's `chromium`): the zoo's deleted-executable process is flagged
//! in the rendered DOM, a screenshot is produced, and the page makes no network request.
//!
//! Chromium tests skip with a message when no browser is installed, unless
//! `VESTIGE_REQUIRE_CHROMIUM` is set (scripts/test.sh installs it, so CI always runs them).

use e2e::zoo::{run_zoo, ZooRun};
use e2e::{summary, vestige};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

static ZOO: OnceLock<Result<ZooRun, String>> = OnceLock::new();

fn zoo() -> &'static ZooRun {
    match ZOO.get_or_init(|| run_zoo(&tmp("zoo"), &[])) {
        Ok(z) => z,
        Err(e) => panic!("the process zoo did not run: {e}"),
    }
}

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("report")
        .join(name)
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = tmp(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The report of the zoo's collection, written once.
fn zoo_report() -> &'static (PathBuf, Value) {
    static REPORT: OnceLock<(PathBuf, Value)> = OnceLock::new();
    REPORT.get_or_init(|| {
        let z = zoo();
        let out = fresh_dir("zoo-report").join("report.html");
        let sha = z.summary["manifest_sha256"].as_str().unwrap();
        let run = vestige(&[
            "report",
            z.root.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--manifest-sha256",
            sha,
        ]);
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        (out, summary(&run))
    })
}

/// The Chromium binary, or `None` (the test then skips) when none is installed and
/// VESTIGE_REQUIRE_CHROMIUM is unset.
fn chromium() -> Option<PathBuf> {
    let explicit = std::env::var_os("VESTIGE_CHROMIUM").map(PathBuf::from);
    let found = explicit.or_else(|| {
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|name| {
                std::env::var_os("PATH").and_then(|paths| {
                    std::env::split_paths(&paths)
                        .map(|d| d.join(name))
                        .find(|p| p.is_file())
                })
            })
    });
    if found.is_none() {
        assert!(
            std::env::var_os("VESTIGE_REQUIRE_CHROMIUM").is_none(),
            "VESTIGE_REQUIRE_CHROMIUM is set but no chromium is installed (apt-get install chromium)"
        );
        eprintln!(
            "SKIPPED: no chromium on PATH (apt-get install chromium, or set VESTIGE_CHROMIUM)"
        );
    }
    found
}

/// What one headless Chromium run of `page` produced.
struct Browse {
    dom: String,
    /// URLs the page itself asked for (not the browser's own background requests).
    page_requests: Vec<String>,
}

/// Opens `page` in headless Chromium with no network (`unshare -n`), in a fresh profile,
/// recording a net log; `extra` adds e.g. `--screenshot=FILE`, else the DOM is dumped.
fn browse(chromium: &Path, page: &Path, work: &Path, extra: &[String]) -> Browse {
    let netlog = work.join("netlog.json");
    let _ = std::fs::remove_file(&netlog);
    let mut cmd = Command::new("unshare");
    cmd.arg("-n")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.join("profile").display()
        ))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg("--window-size=1400,2400");
    if extra.is_empty() {
        cmd.arg("--dump-dom");
    } else {
        cmd.args(extra);
    }
    let out = cmd
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Browse {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        page_requests: page_requests(&netlog),
    }
}

/// URLs of the requests a `file://` page started, from a Chromium net log. The browser's own
/// background requests (initiator "not an origin", not keyed to the page's site) are left
/// out; a request from the page carries the file:// site in its network isolation key.
fn page_requests(netlog: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(netlog).expect("chromium wrote the net log");
    // Chromium may end the log without closing it when it exits quickly.
    let log: Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(','))))
        .expect("net log parses");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].clone();
    assert!(start_job.is_number(), "net log has URL_REQUEST_START_JOB");
    log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == start_job)
        .filter(|e| {
            let p = &e["params"];
            p["initiator"] != "not an origin"
                || p["network_isolation_key"]
                    .as_str()
                    .is_some_and(|k| k.contains("file://"))
        })
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_owned))
        .collect()
}

/// The report of the zoo verifies, flags the deleted, memfd and rwx processes (not plain ones),
/// shows the masked pid as hidden, and lists the listener and both connection ends under their
/// owners.
#[test]
fn report_of_the_zoo_flags_the_deleted_executable() {
    let z = zoo();
    let (path, sum) = zoo_report();
    assert_eq!(sum["verified"], true, "{sum}");
    assert_eq!(sum["damaged_artifacts"], 0, "{sum}");
    assert!(sum["flagged_processes"].as_u64().unwrap() >= 3, "{sum}");
    let html = std::fs::read_to_string(path).unwrap();
    let row = |name: &str| {
        let pid = z.pid(name);
        html.lines()
            .find(|l| l.starts_with(&format!("<tr id=\"proc-{pid}\"")))
            .unwrap_or_else(|| panic!("no process-table row for {name} (pid {pid})"))
            .to_owned()
    };
    assert!(row("deleted_exe").contains("data-flags=\"deleted-exe"));
    assert!(row("memfd_exe").contains("memfd-exe"));
    assert!(row("rwx").contains("rwx-map"), "{}", row("rwx"));
    assert!(!row("udp").contains("deleted-exe"));
    let masked = z.pid("masked");
    assert!(
        html.contains(&format!("Hidden process {masked}:")),
        "the masked pid is a finding"
    );
    assert!(
        html.contains(&format!(
            "id=\"tree-hidden-{masked}\" data-pid=\"{masked}\" data-flags=\"hidden\""
        )),
        "and is in the tree"
    );
    assert!(html.contains("id=\"verify-verdict\">VERIFIED"));
    // The listener and both ends of its connection, each under its owning process.
    let (server, port) = (z.pid("tcp_server"), z.member("tcp_server")["port"].clone());
    let client = z.pid("tcp_client");
    let section = |id: &str| {
        let start = html
            .find(&format!("<table class=\"sortable\" id=\"{id}\""))
            .unwrap();
        html[start..start + html[start..].find("</table>").unwrap()].to_owned()
    };
    let listen = section("listen-table");
    assert!(
        listen
            .lines()
            .any(|l| l.contains(&format!("href=\"#proc-{server}\""))
                && l.contains(&format!(">127.0.0.1:{port}<"))
                && l.contains("LISTEN")),
        "{listen}"
    );
    let remote = section("remote-table");
    for (owner, local_is_server) in [(server, true), (client, false)] {
        assert!(
            remote
                .lines()
                .any(|l| l.contains(&format!("href=\"#proc-{owner}\""))
                    && l.contains("ESTABLISHED")
                    && l.contains(&format!(
                        "{}127.0.0.1:{port}<",
                        if local_is_server { ">" } else { "" }
                    ))),
            "pid {owner}: {remote}"
        );
    }
}

/// The zoo's report renders in headless Chromium with the flagged row and tree node, its script
/// running under its CSP, a real screenshot, and no network request.
#[test]
fn zoo_report_renders_in_chromium_flagged_without_network() {
    let Some(chromium) = chromium() else { return };
    let z = zoo();
    let (page, _) = zoo_report();
    let work = fresh_dir("chromium-zoo");
    let b = browse(&chromium, page, &work, &[]);
    assert!(
        b.page_requests.is_empty(),
        "the report made requests: {:?}",
        b.page_requests
    );
    let pid = z.pid("deleted_exe");
    let exe = z.member("deleted_exe")["path"].as_str().unwrap();
    // The rendered DOM (after the page's script ran) holds the flagged row and tree node.
    let row_start = b
        .dom
        .find(&format!("<tr id=\"proc-{pid}\""))
        .unwrap_or_else(|| panic!("no row for pid {pid} in the DOM"));
    let row = &b.dom[row_start..row_start + b.dom[row_start..].find("</tr>").unwrap()];
    assert!(row.contains("data-flags=\"deleted-exe"), "{row}");
    assert!(row.contains("class=\"flagged\""), "{row}");
    assert!(row.contains("executable deleted"), "{row}");
    assert!(row.contains(exe), "{row}");
    assert!(
        b.dom.contains(&format!("id=\"tree-{pid}\"")),
        "tree node for {pid}"
    );
    // The script ran under the page's CSP: it made every column header focusable.
    assert!(
        b.dom.contains("<th tabindex=\"0\">PID</th>"),
        "the inline script did not run"
    );

    let png = work.join("report.png");
    let b = browse(
        &chromium,
        page,
        &work,
        &[format!("--screenshot={}", png.display())],
    );
    assert!(b.page_requests.is_empty(), "{:?}", b.page_requests);
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        bytes.len() > 20_000,
        "a real rendering: {} bytes",
        bytes.len()
    );
}

/// A page that fetches an image is caught by the Chromium network-log check, the control for the
/// no-request assertions.
#[test]
fn chromium_net_log_check_catches_a_page_that_fetches() {
    // The control for the no-request assertion: a page that does fetch is caught.
    let Some(chromium) = chromium() else { return };
    let work = fresh_dir("chromium-control");
    let page = work.join("leaky.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><img src=\"http://192.0.2.1/canary.png\"></body></html>",
    )
    .unwrap();
    let b = browse(&chromium, &page, &work, &[]);
    assert!(
        b.page_requests
            .iter()
            .any(|u| u.contains("192.0.2.1/canary.png")),
        "the control page's request was not seen: {:?}",
        b.page_requests
    );
}

/// Writes a collection whose process names, command lines and paths try to inject markup.
fn hostile_collection(root: &Path) {
    std::fs::create_dir_all(root.join("artifacts")).unwrap();
    let procs = [
        json!({"pid": 1, "ppid": 0, "comm": "init", "cmdline": ["/sbin/init"], "exe": "/sbin/init",
               "exe_deleted": false, "start_time": "2026-12-04T15:00:00Z"}),
        json!({"pid": 666, "ppid": 1, "comm": "<script>document.title='PWNED'</script>",
               "cmdline": ["\"><img src=x id=injected-img>", "<iframe id=injected-frame></iframe>", "new\nline"],
               "exe": "/tmp/<b id=injected-b>x</b> (deleted)", "exe_deleted": true,
               "start_time": "2026-12-04T15:00:01Z", "user": "<svg id=injected-svg onload=alert(1)>"}),
    ];
    let raw: String = procs.iter().map(|p| format!("{p}\n")).collect();
    let stored = zstd::encode_all(raw.as_bytes(), 3).unwrap();
    std::fs::write(root.join("artifacts/processes.jsonl.zst"), &stored).unwrap();
    let manifest = json!({
        "schema": "vestige.manifest/1", "collection_id": "<i id=injected-i>c</i>",
        "host_id": "</title><script>alert(3)</script>", "started_at": "2026-12-04T15:00:00Z",
        "finished_at": "2026-12-04T15:00:02Z",
        "tool": {"name": "vestige", "version": "0.1.0", "sha256": null},
        "spec": {"name": "x", "sha256": "00", "source": "builtin:x", "path": null},
        "host": {}, "collector": {"pid": 1, "sink": "dir"},
        "artifacts": [{"name": "processes", "kind": "processes", "path": "artifacts/processes.jsonl.zst",
            "status": "ok", "raw_bytes": raw.len(), "raw_sha256": e2e::sha256_hex(raw.as_bytes()),
            "stored_bytes": stored.len(), "stored_sha256": e2e::sha256_hex(&stored), "records": 2,
            "error": null, "warnings": [], "warning_count": 0}],
    });
    std::fs::write(root.join("manifest.json"), manifest.to_string()).unwrap();
}

/// [security] Host strings carrying HTML, script, SVG and a title breakout render as text in
/// Chromium: no injected element, no title change, no request.
#[test]
fn hostile_names_render_as_text_in_chromium() {
    let work = fresh_dir("hostile");
    let root = work.join("collection");
    hostile_collection(&root);
    let page = work.join("report.html");
    let run = vestige(&[
        "report",
        root.to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
    ]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script"
    );
    for raw in [
        "<img",
        "<iframe",
        "<b id",
        "<svg",
        "<i id",
        "</title><script",
    ] {
        assert!(!html.contains(raw), "{raw} reached the page unescaped");
    }
    let Some(chromium) = chromium() else { return };
    let b = browse(&chromium, &page, &work, &[]);
    assert!(b.page_requests.is_empty(), "{:?}", b.page_requests);
    for id in [
        "injected-img",
        "injected-frame",
        "injected-b",
        "injected-svg",
        "injected-i",
    ] {
        // As text the id is there (escaped); as an element it would be `id="injected-…"`.
        assert!(
            !b.dom.contains(&format!("id=\"{id}\"")),
            "{id} became an element"
        );
    }
    assert!(!b.dom.contains("PWNED</title>") && !b.dom.contains("<title>PWNED"));
    assert!(b.dom.contains("&lt;script&gt;document.title="));
    assert!(b
        .dom
        .contains("data-flags=\"deleted-exe writable-dir-exe\""));
}

fn timeline(args: &[&str]) -> String {
    let z = zoo();
    let mut all = vec!["timeline", z.root.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = vestige(&all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The zoo's JSONL timeline has Timesketch's fields with ISO 8601 times, sorted, a start event per
/// process (the deleted executable's said so), and --out writes the same.
#[test]
fn zoo_timeline_jsonl_is_timesketch_ready_and_sorted() {
    let z = zoo();
    let text = timeline(&["--format", "jsonl"]);
    let mut last = i64::MIN;
    let mut starts = 0;
    for line in text.lines() {
        let e: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for k in [
            "message",
            "datetime",
            "timestamp_desc",
            "timestamp",
            "artifact",
            "host_id",
        ] {
            assert!(!e[k].is_null(), "{k} missing: {line}");
        }
        let t = e["timestamp"].as_i64().unwrap();
        assert!(t >= last, "not sorted at {line}");
        last = t;
        let dt = e["datetime"].as_str().unwrap();
        assert!(
            dt.len() == 32 && dt.ends_with("+00:00") && &dt[10..11] == "T",
            "ISO 8601: {dt}"
        );
        if e["timestamp_desc"] == "Process Start Time" {
            starts += 1;
        }
    }
    let procs = z.records("processes").len();
    assert!(
        starts >= procs - 1,
        "{starts} start events for {procs} processes"
    );
    let pid = z.pid("deleted_exe");
    let ev: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["timestamp_desc"] == "Process Start Time" && e["pid"] == pid)
        .expect("start event of the deleted-exe process");
    assert!(
        ev["message"].as_str().unwrap().contains("exe deleted"),
        "{ev}"
    );
    assert_eq!(ev["exe_deleted"], true);

    let out = fresh_dir("timeline").join("t.jsonl");
    timeline(&["--out", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        text,
        "--out writes the same"
    );
}

/// The zoo's bodyfile timeline has eleven fields per line with string modes, sorted by time.
#[test]
fn zoo_timeline_bodyfile_has_eleven_fields_sorted() {
    let text = timeline(&["--format", "bodyfile"]);
    let mut last = i64::MIN;
    let mut n = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f.len(), 11, "{line}");
        assert_eq!(f[0], "0", "{line}");
        for i in [2, 4, 5, 6] {
            f[i].parse::<u64>()
                .unwrap_or_else(|_| panic!("field {i}: {line}"));
        }
        assert_eq!(f[3].len(), 10, "mode as string: {line}");
        let times: Vec<i64> = f[7..].iter().map(|t| t.parse().expect("epoch")).collect();
        let first = times
            .iter()
            .copied()
            .filter(|t| *t != 0)
            .min()
            .expect("a time");
        assert!(first >= last, "not sorted at {line}");
        last = first;
        n += 1;
    }
    assert!(n > 10, "{n} lines");
}

/// report and timeline read a collection in S3 (moto): it verifies, shows the objects' retention,
/// and this test's own process appears in both.
#[test]
fn report_and_timeline_read_an_s3_collection() {
    use e2e::moto::{aws_env, Moto};
    let moto = Moto::start();
    moto.create_locked_bucket("evidence-test", "GOVERNANCE", 1);
    let endpoint = moto.endpoint();
    let run = |args: &[&str]| {
        let mut c = Command::new(e2e::vestige_bin());
        aws_env(&mut c);
        let out = c.args(args).output().expect("run vestige");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let collected = run(&[
        "collect",
        "--spec",
        "minimal",
        "--quiet",
        "--s3",
        "s3://evidence-test/cases/ir-9",
        "--endpoint-url",
        &endpoint,
    ]);
    let location = summary(&collected)["location"].as_str().unwrap().to_owned();
    assert!(location.starts_with("s3://evidence-test/cases/ir-9/"));
    let page = fresh_dir("s3").join("report.html");
    let made = run(&[
        "report",
        &location,
        "--out",
        page.to_str().unwrap(),
        "--endpoint-url",
        &endpoint,
    ]);
    let sum = summary(&made);
    assert_eq!(sum["verified"], true, "{sum}");
    assert_eq!(sum["location"], location.as_str());
    assert!(sum["processes"].as_u64().unwrap() > 1, "{sum}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(&format!("id=\"proc-{}\"", std::process::id())));
    assert!(
        html.contains("object lock GOVERNANCE"),
        "the objects' retention facts are shown"
    );
    let t = run(&["timeline", &location, "--endpoint-url", &endpoint]);
    let text = String::from_utf8(t.stdout).unwrap();
    let mine = format!("\"pid\":{}", std::process::id());
    assert!(
        text.lines()
            .any(|l| l.contains("Process Start Time") && l.contains(&mine)),
        "this test's own process starts in the timeline"
    );
}

/// Writes `records` as a zstd JSONL object and returns its manifest entry.
fn write_artifact(root: &Path, name: &str, records: impl Iterator<Item = Value>) -> Value {
    use sha2::Digest;
    use std::io::Write;
    let path = format!("artifacts/{name}.jsonl.zst");
    let mut raw_hash = sha2::Sha256::new();
    let (mut raw_bytes, mut count) = (0usize, 0usize);
    let mut enc = zstd::Encoder::new(Vec::new(), 3).unwrap();
    for r in records {
        let line = format!("{r}\n");
        raw_hash.update(line.as_bytes());
        raw_bytes += line.len();
        count += 1;
        enc.write_all(line.as_bytes()).unwrap();
    }
    let stored = enc.finish().unwrap();
    std::fs::write(root.join(&path), &stored).unwrap();
    json!({"name": name, "kind": name, "path": path, "status": "ok", "raw_bytes": raw_bytes,
           "raw_sha256": hex::encode(raw_hash.finalize()), "stored_bytes": stored.len(),
           "stored_sha256": e2e::sha256_hex(&stored), "records": count, "error": null,
           "warnings": [], "warning_count": 0})
}

/// Runs vestige and returns its output and peak resident set size in KiB (from wait4).
// wait4 below reaps the child (clippy only knows `Child::wait`).
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str]) -> (std::process::Output, i64) {
    use std::io::Read;
    let mut child = Command::new(e2e::vestige_bin())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals above; `child` is not
    // waited for again (its Drop does not wait).
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let out = std::process::Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(status),
        stdout,
        stderr,
    };
    (out, usage.ru_maxrss)
}

/// A collection with 260,000 mappings (over 50 MB of JSON) reports under 64 MiB peak RSS, in under
/// 8 MiB of HTML that renders every process in Chromium without requests.
#[test]
fn a_large_collection_reports_in_bounded_memory_and_renders() {
    let work = fresh_dir("large");
    let root = work.join("collection");
    std::fs::create_dir_all(root.join("artifacts")).unwrap();
    const PROCS: i64 = 2000;
    const MAPS: i64 = 130;
    let procs = (1..=PROCS).map(|pid| {
        json!({"pid": pid, "ppid": if pid < 100 { pid - 1 } else { pid % 97 + 2 },
               "comm": format!("worker-{pid}"), "cmdline": ["python3", "member", pid.to_string()],
               "exe": "/usr/bin/python3.11", "exe_deleted": pid == 1234,
               "start_time": format!("2026-12-04T10:{:02}:{:02}Z", pid / 60 % 60, pid % 60),
               "environ": ["PATH=/usr/bin", "X".repeat(500)]})
    });
    let maps = (1..=PROCS).flat_map(|pid| {
        (0..MAPS).map(move |j| {
            json!({"pid": pid, "start": format!("0x{:x}", 0x400000 + j * 4096), "end": "0x0",
                   "perms": if j == 7 && pid == 77 { "rwxp" } else { "r-xp" }, "offset": 0, "inode": 9,
                   "path": "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", "deleted": false,
                   "memfd": false, "writable_executable": j == 7 && pid == 77,
                   "anonymous_executable": false})
        })
    });
    let socks = (2..=PROCS).map(|pid| {
        json!({"protocol": "tcp", "family": "inet", "local_address": "127.0.0.1",
               "local_port": 10000 + pid, "remote_address": "0.0.0.0", "remote_port": 0,
               "state": "LISTEN", "inode": pid, "pids": [pid]})
    });
    let artifacts = vec![
        write_artifact(&root, "processes", procs),
        write_artifact(&root, "memory_maps", maps),
        write_artifact(&root, "connections", socks),
    ];
    let manifest = json!({
        "schema": "vestige.manifest/1", "collection_id": "large", "host_id": "large",
        "started_at": "2026-12-04T10:00:00Z", "finished_at": "2026-12-04T10:00:01Z",
        "tool": {"name": "vestige", "version": "0.1.0", "sha256": null},
        "spec": {"name": "x", "sha256": "00", "source": "x", "path": null},
        "host": {}, "collector": {"pid": 1, "sink": "dir"}, "artifacts": artifacts,
    });
    std::fs::write(root.join("manifest.json"), manifest.to_string()).unwrap();
    let maps_raw = manifest["artifacts"][1]["raw_bytes"].as_u64().unwrap();
    assert!(maps_raw > 50 << 20, "{maps_raw} bytes of map records");

    let page = work.join("report.html");
    let (out, peak_kib) = run_measured(&[
        "report",
        root.to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sum = summary(&out);
    assert_eq!(sum["processes"], PROCS, "{sum}");
    assert_eq!(sum["flagged_processes"], 2, "{sum}");
    assert_eq!(sum["verified"], true, "{sum}");
    // 260,000 mappings (over 50 MB of JSON) are folded per process as they stream.
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.len() < 8 << 20, "{} bytes", html.len());

    let Some(chromium) = chromium() else { return };
    let b = browse(&chromium, &page, &work, &[]);
    assert!(b.page_requests.is_empty(), "{:?}", b.page_requests);
    assert_eq!(b.dom.matches("<tr id=\"proc-").count(), PROCS as usize);
    assert_eq!(b.dom.matches("data-pid=\"").count(), 2 * PROCS as usize);
    assert!(b
        .dom
        .contains("<tr id=\"proc-1234\" data-pid=\"1234\" data-flags=\"deleted-exe\""));
    assert!(b
        .dom
        .contains("<tr id=\"proc-77\" data-pid=\"77\" data-flags=\"rwx-map\""));
}

/// The page's own script, driven in Chromium: a column header click sorts the process table
/// (numerically for PIDs, both directions; by text for names), the filter box hides
/// non-matching rows and counts the rest, and the tree search marks matching labels. A test
/// script appended to a copy of the page clicks and types, and writes what it saw into the
/// DOM; the copy's policy allows inline scripts, the page's script itself is unchanged.
#[test]
fn sorting_filtering_and_tree_search_work_in_chromium() {
    let work = fresh_dir("interactive");
    let root = work.join("collection");
    std::fs::create_dir_all(root.join("artifacts")).unwrap();
    let proc_rec = |pid: i64, ppid: i64, comm: &str, env: &[&str]| {
        json!({"pid": pid, "ppid": ppid, "comm": comm, "cmdline": [comm], "exe": format!("/usr/bin/{comm}"),
               "exe_deleted": false, "start_time": "2026-12-04T15:00:00Z", "environ": env})
    };
    let procs = vec![
        proc_rec(1, 0, "init", &[]),
        proc_rec(2, 1, "zeta", &["PATH=/bin"]),
        proc_rec(3, 1, "alpha", &[]),
        proc_rec(10, 2, "hooked", &["LD_PRELOAD=/dev/shm/libx.so"]),
        proc_rec(100, 3, "mid", &[]),
    ];
    let artifacts = vec![write_artifact(&root, "processes", procs.into_iter())];
    let manifest = json!({
        "schema": "vestige.manifest/1", "collection_id": "interactive", "host_id": "i-0abc",
        "started_at": "2026-12-04T15:00:00Z", "finished_at": "2026-12-04T15:00:01Z",
        "tool": {"name": "vestige", "version": "0.1.0", "sha256": null},
        "spec": {"name": "x", "sha256": "00", "source": "x", "path": null},
        "host": {}, "collector": {"pid": 1, "sink": "dir"}, "artifacts": artifacts,
    });
    std::fs::write(root.join("manifest.json"), manifest.to_string()).unwrap();
    let page = work.join("report.html");
    let run = vestige(&[
        "report",
        root.to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
    ]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Served as built, flagged first: the LD_PRELOAD process leads, the rest by pid.
    let order: Vec<&str> = html
        .lines()
        .filter_map(|l| l.strip_prefix("<tr id=\"proc-"))
        .map(|l| &l[..l.find('"').unwrap()])
        .collect();
    assert_eq!(order, ["10", "1", "2", "3", "100"]);
    let Some(chromium) = chromium() else { return };

    const DRIVER: &str = r#"
(function () {
  var out = {};
  var table = document.getElementById('process-table');
  var rows = function () { return Array.prototype.slice.call(table.tBodies[0].rows); };
  var pids = function (list) { return list.map(function (r) { return r.getAttribute('data-pid'); }).join(','); };
  out.initial = pids(rows());
  var head = table.tHead.rows[0].cells;
  head[0].click(); out.pid_asc = pids(rows());
  head[0].click(); out.pid_desc = pids(rows());
  head[3].dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'})); out.name_asc = pids(rows());
  var input = document.querySelector('input.filter[data-table="process-table"]');
  input.value = 'LIBX.SO';
  input.dispatchEvent(new Event('input'));
  out.filtered = pids(rows().filter(function (r) { return !r.hidden; }));
  out.count = document.getElementById('process-table-count').textContent;
  input.value = '';
  input.dispatchEvent(new Event('input'));
  out.cleared = pids(rows().filter(function (r) { return !r.hidden; }));
  var search = document.getElementById('tree-search');
  search.value = 'hook';
  search.dispatchEvent(new Event('input'));
  out.tree_hits = Array.prototype.map.call(document.querySelectorAll('#tree .lbl.hit'),
    function (l) { return l.textContent; }).join('|');
  var pre = document.createElement('pre');
  pre.id = 'driver-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
"#;
    let csp = regex::Regex::new(r"script-src [^;]*;").unwrap();
    assert!(csp.is_match(&html));
    let driven = csp
        .replace(&html, "script-src 'unsafe-inline';")
        .replace("</body>", &format!("<script>{DRIVER}</script></body>"));
    let driven_page = work.join("driven.html");
    std::fs::write(&driven_page, driven).unwrap();
    let b = browse(&chromium, &driven_page, &work, &[]);
    assert!(b.page_requests.is_empty(), "{:?}", b.page_requests);
    let start = b
        .dom
        .find("<pre id=\"driver-result\">")
        .unwrap_or_else(|| panic!("the driver did not run: {}", b.dom))
        + "<pre id=\"driver-result\">".len();
    let text = &b.dom[start..start + b.dom[start..].find("</pre>").unwrap()];
    let got: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(got["initial"], "10,1,2,3,100", "{got}");
    assert_eq!(got["pid_asc"], "1,2,3,10,100", "numeric, not text: {got}");
    assert_eq!(got["pid_desc"], "100,10,3,2,1", "{got}");
    assert_eq!(
        got["name_asc"], "3,10,1,100,2",
        "alpha hooked init mid zeta: {got}"
    );
    assert_eq!(got["filtered"], "10", "{got}");
    assert_eq!(got["count"], "1 shown", "{got}");
    assert_eq!(got["cleared"], "3,10,1,100,2", "{got}");
    let hits = got["tree_hits"].as_str().unwrap();
    assert!(
        !hits.is_empty() && hits.split('|').all(|l| l.contains("hooked")),
        "{got}"
    );
}
