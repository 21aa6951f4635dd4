//! The report page: one self-contained HTML file. Its CSS and script are inline and allowed by
//! hash in a Content-Security-Policy that forbids every fetch (`default-src 'none'`), so the
//! page works offline and cannot load or send anything. Every string that came from the host
//! goes through [`esc`].

use super::model::{CloudIdentity, Flag, Proc, ReportModel, Socket};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

const STYLE: &str = r#"
:root{--bg:#fff;--fg:#1b1f24;--mut:#57606a;--line:#d0d7de;--bad:#b42318;--badbg:#fee4e2;--ok:#067647;--okbg:#dcfae6;--warnbg:#fef0c7}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg);margin:0 1.5rem 3rem}
header{position:sticky;top:0;background:var(--bg);border-bottom:1px solid var(--line);padding:.5rem 0;z-index:1}
h1{font-size:1.3rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.6rem 0 .5rem;border-bottom:1px solid var(--line)}
h3{font-size:1rem;margin:1rem 0 .4rem}
nav a{margin-right:1rem;color:#0969da;text-decoration:none}
table{border-collapse:collapse;width:100%;margin:.3rem 0}
th,td{border:1px solid var(--line);padding:.2rem .4rem;text-align:left;vertical-align:top}
th{background:#f6f8fa;cursor:pointer;user-select:none;white-space:nowrap}
th[data-dir=asc]::after{content:" \25B2"}th[data-dir=desc]::after{content:" \25BC"}
table.kv th{cursor:default;width:14rem}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;word-break:break-all}
.cmd{max-width:48rem;word-break:break-all}
tr.flagged td{background:var(--badbg)}
.flag{display:inline-block;background:var(--bad);color:#fff;border-radius:3px;padding:0 .35rem;margin:1px 2px;font-size:12px}
.verdict-ok{background:var(--okbg);color:var(--ok);font-weight:600;padding:.1rem .4rem}
.verdict-bad{background:var(--badbg);color:var(--bad);font-weight:600;padding:.1rem .4rem}
.status-ok{color:var(--ok)}.status-partial,.status-skipped{background:var(--warnbg)}.status-error,.damaged{background:var(--badbg);color:var(--bad)}
ul.findings li{margin:.2rem 0}ul.findings li.bad::marker{color:var(--bad)}
.muted{color:var(--mut)}
input.filter{width:24rem;max-width:100%;padding:.25rem .4rem;margin:.2rem 0}
#tree details,#tree div.leaf{margin-left:1.2rem}#tree>details,#tree>div.leaf{margin-left:0}
#tree summary{cursor:pointer}#tree .node.flagged>summary .lbl,#tree div.leaf.flagged .lbl{color:var(--bad);font-weight:600}
#tree .hit{outline:2px solid #0969da}
button{margin-right:.4rem}
"#;

const SCRIPT: &str = r#"
(function () {
  'use strict';
  var each = function (list, f) { Array.prototype.forEach.call(list, f); };
  var key = function (cell) {
    if (!cell) { return ''; }
    var s = cell.getAttribute('data-sort');
    return s === null ? cell.textContent.trim() : s;
  };
  each(document.querySelectorAll('table.sortable'), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    var ths = table.tHead.rows[0].cells;
    each(ths, function (th, col) {
      th.tabIndex = 0;
      var sort = function () {
        var dir = th.getAttribute('data-dir') === 'asc' ? 'desc' : 'asc';
        each(ths, function (o) { o.removeAttribute('data-dir'); });
        th.setAttribute('data-dir', dir);
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var numeric = rows.every(function (r) {
          var k = key(r.cells[col]);
          return k === '' || !isNaN(Number(k));
        });
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          var c = numeric ? (Number(x) - Number(y)) : x.localeCompare(y);
          return dir === 'asc' ? c : -c;
        });
        var frag = document.createDocumentFragment();
        rows.forEach(function (r) { frag.appendChild(r); });
        body.appendChild(frag);
      };
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') { sort(); } });
    });
  });
  each(document.querySelectorAll('input.filter'), function (input) {
    var table = document.getElementById(input.getAttribute('data-table'));
    var count = document.getElementById(input.getAttribute('data-count'));
    if (!table || !table.tBodies.length) { return; }
    input.addEventListener('input', function () {
      var q = input.value.toLowerCase();
      var shown = 0;
      each(table.tBodies[0].rows, function (r) {
        var hit = !q || r.textContent.toLowerCase().indexOf(q) >= 0;
        r.hidden = !hit;
        if (hit) { shown++; }
      });
      if (count) { count.textContent = shown + ' shown'; }
    });
  });
  var tree = document.getElementById('tree');
  if (tree) {
    var setAll = function (open) { each(tree.querySelectorAll('details'), function (d) { d.open = open; }); };
    var b;
    if ((b = document.getElementById('tree-expand'))) { b.addEventListener('click', function () { setAll(true); }); }
    if ((b = document.getElementById('tree-collapse'))) { b.addEventListener('click', function () { setAll(false); }); }
    var search = document.getElementById('tree-search');
    if (search) {
      search.addEventListener('input', function () {
        var q = search.value.toLowerCase();
        var first = null;
        each(tree.querySelectorAll('.lbl'), function (l) {
          var hit = q.length > 0 && l.textContent.toLowerCase().indexOf(q) >= 0;
          l.classList.toggle('hit', hit);
          if (!hit) { return; }
          if (!first) { first = l; }
          for (var d = l.closest('details'); d; d = d.parentElement ? d.parentElement.closest('details') : null) {
            d.open = true;
          }
        });
        if (first) { first.scrollIntoView({block: 'center'}); }
      });
    }
  }
})();
"#;

/// `'sha256-…'` source expression of an inline block, for the CSP.
fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The page's Content-Security-Policy: nothing may be fetched, only this page's own style and
/// script run, and images only from `data:` URIs.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src data:; base-uri 'none'; form-action 'none'",
        csp_hash(STYLE),
        csp_hash(SCRIPT)
    )
}

/// Escapes text for HTML (element content and quoted attribute values alike). Control
/// characters (newlines in a command line, escape sequences in a process name) are shown as
/// visible escapes rather than passed through.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text cut to `max` characters, saying how much was left out.
fn esc_cut(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return esc(s);
    }
    let head: String = s.chars().take(max).collect();
    format!(
        "{}<span class=\"muted\"> … ({} more characters)</span>",
        esc(&head),
        n - max
    )
}

fn opt(s: Option<&str>) -> String {
    s.map_or_else(|| "<span class=\"muted\">—</span>".to_owned(), esc)
}

fn num<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn flag_badges(flags: &[Flag]) -> String {
    flags
        .iter()
        .map(|f| format!("<span class=\"flag {}\">{}</span>", f.code, esc(&f.text)))
        .collect()
}

fn flag_codes(flags: &[Flag]) -> String {
    flags.iter().map(|f| f.code).collect::<Vec<_>>().join(" ")
}

/// `pid (comm)` of a process, escaped.
fn proc_label(pid: i64, by_pid: &HashMap<i64, &Proc>) -> String {
    match by_pid.get(&pid).and_then(|p| p.view.comm.as_deref()) {
        Some(c) => format!("{pid} ({})", esc(c)),
        None => pid.to_string(),
    }
}

fn endpoint(addr: Option<&str>, port: Option<u16>) -> String {
    match (addr, port) {
        (Some(a), Some(p)) if a.contains(':') => format!("[{a}]:{p}"),
        (Some(a), Some(p)) => format!("{a}:{p}"),
        (Some(a), None) => a.to_owned(),
        (None, Some(p)) => format!("*:{p}"),
        (None, None) => String::new(),
    }
}

fn filter_box(table: &str, placeholder: &str, rows: usize) -> String {
    format!(
        "<input class=\"filter\" type=\"search\" data-table=\"{table}\" data-count=\"{table}-count\" placeholder=\"{}\"> <span class=\"muted\" id=\"{table}-count\">{rows} rows</span>",
        esc(placeholder)
    )
}

/// Renders the whole page.
pub fn render(m: &ReportModel) -> String {
    let mut h = String::with_capacity(256 * 1024);
    let by_pid: HashMap<i64, &Proc> = m
        .processes
        .iter()
        .filter_map(|p| p.view.pid.map(|pid| (pid, p)))
        .collect();
    let flags: HashMap<i64, Vec<Flag>> = m
        .processes
        .iter()
        .filter_map(|p| {
            let f = m.flags(p);
            match (p.view.pid, f.is_empty()) {
                (Some(pid), false) => Some((pid, f)),
                _ => None,
            }
        })
        .collect();
    let host = m
        .manifest
        .host_id
        .as_deref()
        .or(m.manifest.host.hostname.as_deref())
        .unwrap_or("unknown host");
    let cid = m
        .manifest
        .collection_id
        .as_deref()
        .unwrap_or("unknown collection");
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    h.push_str(&format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n",
        content_security_policy()
    ));
    h.push_str("<meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str(&format!(
        "<title>vestige report: {} {}</title>\n<style>{STYLE}</style>\n</head><body>\n",
        esc(host),
        esc(cid)
    ));
    h.push_str(&format!(
        "<header><h1>vestige report: {} <span class=\"muted\">{}</span></h1><nav><a href=\"#summary\">Summary</a><a href=\"#findings\">Findings</a><a href=\"#process-tree\">Process tree</a><a href=\"#processes\">Processes</a><a href=\"#connections\">Connections</a><a href=\"#logins\">Logins</a><a href=\"#kernel\">Kernel</a><a href=\"#artifacts\">Artifacts</a></nav></header>\n",
        esc(host),
        esc(cid)
    ));
    summary(&mut h, m);
    findings(&mut h, m, &flags, &by_pid);
    tree(&mut h, m, &flags);
    processes(&mut h, m, &flags);
    connections(&mut h, m, &by_pid);
    logins(&mut h, m);
    kernel(&mut h, m);
    artifacts(&mut h, m);
    h.push_str(&format!(
        "<p class=\"muted\">Generated by vestige {} at {} from {}.</p>\n",
        esc(env!("CARGO_PKG_VERSION")),
        esc(&m.generated_at),
        esc(&m.location)
    ));
    h.push_str(&format!("<script>{SCRIPT}</script>\n</body></html>\n"));
    h
}

fn kv(h: &mut String, key: &str, value: String) {
    h.push_str(&format!("<tr><th>{}</th><td>{value}</td></tr>\n", esc(key)));
}

/// Summary rows of the `cloud_identity` record.
fn cloud_identity(h: &mut String, c: &CloudIdentity) {
    if !c.available {
        kv(
            h,
            "Cloud identity",
            format!(
                "<span class=\"muted\">not available: {}</span>",
                opt(c.reason.as_deref())
            ),
        );
        return;
    }
    kv(h, "Availability zone", opt(c.availability_zone.as_deref()));
    kv(h, "AMI", opt(c.ami_id.as_deref()));
    kv(h, "Instance type", opt(c.instance_type.as_deref()));
    kv(
        h,
        "IAM role",
        c.iam_role
            .as_deref()
            .map_or_else(|| "<span class=\"muted\">none</span>".into(), esc),
    );
    kv(
        h,
        "Identity document",
        if c.document_present {
            format!(
                "present <span class=\"muted\">(SHA-256 <code>{}</code>)</span>",
                opt(c.document_sha256.as_deref())
            )
        } else {
            "<span class=\"damaged\">absent</span>".into()
        },
    );
    kv(
        h,
        "Identity signature",
        if c.signatures.is_empty() {
            "<span class=\"damaged\">absent</span>".into()
        } else {
            format!("present ({})", c.signatures.join(", "))
        },
    );
}

fn summary(h: &mut String, m: &ReportModel) {
    let mf = &m.manifest;
    h.push_str("<section id=\"summary\"><h2>Summary</h2>\n");
    if let Some(e) = &m.manifest_error {
        h.push_str(&format!(
            "<p class=\"damaged\">The manifest could not be read: {}. What follows comes from the objects found.</p>\n",
            esc(e)
        ));
    }
    h.push_str("<table class=\"kv\">\n");
    match &m.verify {
        None => kv(h, "Verification", "<span class=\"muted\">not run</span>".into()),
        Some(v) if v.ok() => kv(
            h,
            "Verification",
            format!(
                "<span class=\"verdict-ok\" id=\"verify-verdict\">VERIFIED</span> {} objects match the manifest",
                v.checked
            ),
        ),
        Some(v) => {
            let list: String = v
                .problems
                .iter()
                .map(|p| format!("<li><code>{}</code>: {}</li>", esc(&p.path), esc(&p.cause)))
                .collect();
            kv(
                h,
                "Verification",
                format!(
                    "<span class=\"verdict-bad\" id=\"verify-verdict\">FAILED</span> {} problems<ul>{list}</ul>",
                    v.problems.len()
                ),
            )
        }
    }
    if let Some(v) = m.verify.as_ref().filter(|v| !v.notes.is_empty()) {
        // Retention facts of S3 objects (version, Object Lock, legal hold), leftover parts.
        const SHOWN: usize = 100;
        let mut list: String = v
            .notes
            .iter()
            .take(SHOWN)
            .map(|n| format!("<li><code>{}</code></li>", esc_cut(n, 500)))
            .collect();
        if v.notes.len() > SHOWN {
            list.push_str(&format!("<li>… {} more</li>", v.notes.len() - SHOWN));
        }
        kv(h, "Verification notes", format!("<ul>{list}</ul>"));
    }
    if let Some(v) = &m.verify {
        kv(
            h,
            "Manifest SHA-256",
            format!("<code>{}</code>", opt(v.manifest_sha256.as_deref())),
        );
    }
    kv(h, "Host id", opt(mf.host_id.as_deref()));
    kv(h, "Hostname", opt(mf.host.hostname.as_deref()));
    kv(h, "Instance id", opt(mf.host.instance_id.as_deref()));
    kv(h, "Account", opt(mf.host.account_id.as_deref()));
    kv(h, "Region", opt(mf.host.region.as_deref()));
    if let Some(c) = &m.cloud {
        cloud_identity(h, c);
    }
    kv(h, "Kernel", opt(mf.host.kernel_release.as_deref()));
    kv(h, "Boot id", opt(mf.host.boot_id.as_deref()));
    if let Some(s) = &m.system {
        kv(h, "Booted", opt(s.boot_time.as_deref()));
    }
    kv(h, "Collection id", opt(mf.collection_id.as_deref()));
    kv(h, "Started", opt(mf.started_at.as_deref()));
    kv(h, "Finished", opt(mf.finished_at.as_deref()));
    if let Some(i) = mf.collector.interrupted.as_deref() {
        kv(
            h,
            "Interrupted",
            format!("<span class=\"damaged\">{}</span>", esc(i)),
        );
    }
    kv(
        h,
        "Tool",
        format!(
            "{} {}",
            opt(mf.tool.name.as_deref()),
            opt(mf.tool.version.as_deref())
        ),
    );
    kv(
        h,
        "Tool SHA-256",
        format!("<code>{}</code>", opt(mf.tool.sha256.as_deref())),
    );
    kv(
        h,
        "Spec",
        format!(
            "{} <span class=\"muted\">({})</span>",
            opt(mf.spec.name.as_deref()),
            opt(mf.spec.source.as_deref())
        ),
    );
    kv(
        h,
        "Spec SHA-256",
        format!("<code>{}</code>", opt(mf.spec.sha256.as_deref())),
    );
    kv(h, "Collector pid", num(mf.collector.pid));
    kv(h, "Location", esc(&m.location));
    h.push_str("</table></section>\n");
}

fn findings(
    h: &mut String,
    m: &ReportModel,
    flags: &HashMap<i64, Vec<Flag>>,
    by_pid: &HashMap<i64, &Proc>,
) {
    let mut items: Vec<String> = Vec::new();
    if let Some(v) = &m.verify {
        if !v.ok() {
            items.push(format!(
                "Verification failed: {} objects do not match the manifest (see Summary).",
                v.problems.len()
            ));
        }
    }
    if let Some(e) = &m.manifest_error {
        items.push(format!("Manifest unreadable: {}", esc(e)));
    }
    for hp in &m.hidden {
        items.push(format!(
            "Hidden process {}: {} {} {}",
            num(hp.pid),
            opt(hp.reason.as_deref()),
            hp.comm.as_deref().map(esc).unwrap_or_default(),
            hp.detail.as_deref().map(esc).unwrap_or_default()
        ));
    }
    if let Some((t, fl)) = m.taint() {
        items.push(format!("Kernel tainted ({t}): {}", esc(&fl.join("; "))));
    }
    for k in &m.modules_flagged {
        let what = if k.missing_from_proc_modules == Some(true) {
            "in /sys/module but missing from /proc/modules".to_owned()
        } else {
            format!("taints the kernel ({})", k.taint.as_deref().unwrap_or(""))
        };
        items.push(format!(
            "Kernel module {}: {}",
            opt(k.name.as_deref()),
            esc(&what)
        ));
    }
    if let Some(c) = m.ld_so_preload() {
        items.push(format!(
            "/etc/ld.so.preload is set: <code>{}</code>",
            esc_cut(c, 400)
        ));
    }
    let mut flagged: Vec<(&i64, &Vec<Flag>)> = flags.iter().collect();
    flagged.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    const SHOWN: usize = 500;
    for (pid, f) in flagged.iter().take(SHOWN) {
        let exe = by_pid
            .get(*pid)
            .and_then(|p| p.view.exe.as_deref())
            .map(|e| format!(" <code>{}</code>", esc_cut(e, 200)))
            .unwrap_or_default();
        items.push(format!(
            "<a href=\"#proc-{pid}\">Process {}</a>{exe} {}",
            proc_label(**pid, by_pid),
            flag_badges(f)
        ));
    }
    if flagged.len() > SHOWN {
        items.push(format!(
            "… and {} more flagged processes (see the process table).",
            flagged.len() - SHOWN
        ));
    }
    for a in &m.manifest.artifacts {
        let status = a.status.as_deref().unwrap_or("unknown");
        if status != "ok" {
            items.push(format!(
                "Artifact {} is {}{}",
                esc(&a.name),
                esc(status),
                a.error
                    .as_deref()
                    .map(|e| format!(": {}", esc_cut(e, 300)))
                    .unwrap_or_default()
            ));
        }
    }
    for (name, d) in &m.read_damage {
        items.push(format!(
            "Artifact {} could not be read whole: {}",
            esc(name),
            esc(d)
        ));
    }
    h.push_str("<section id=\"findings\"><h2>Findings</h2>\n");
    if items.is_empty() {
        h.push_str("<p>None of the report's checks found anything: no flagged process, hidden process, kernel taint or damaged artifact.</p>\n");
    } else {
        h.push_str("<ul class=\"findings\">\n");
        for i in items {
            h.push_str(&format!("<li class=\"bad\">{i}</li>\n"));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<p class=\"muted\">Checks: deleted or memfd executable, executable in a writable directory, writable+executable or anonymous executable mappings, executable mappings of deleted files or memfds, LD_PRELOAD in the environment, hidden processes, kernel taint and hidden modules, /etc/ld.so.preload, artifact status and integrity.</p></section>\n");
}

fn tree(h: &mut String, m: &ReportModel, flags: &HashMap<i64, Vec<Flag>>) {
    let n = m.processes.len();
    let index: HashMap<i64, usize> = m
        .processes
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.view.pid.map(|pid| (pid, i)))
        .collect();
    let parent = |i: usize| -> Option<usize> {
        let p = m.processes.get(i)?;
        let ppid = p.view.ppid?;
        if Some(ppid) == p.view.pid {
            return None;
        }
        index.get(&ppid).copied()
    };
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut roots = Vec::new();
    for i in 0..n {
        match parent(i) {
            Some(p) => {
                if let Some(c) = children.get_mut(p) {
                    c.push(i);
                }
            }
            None => roots.push(i),
        }
    }
    // Open the branches that lead to a flagged process.
    let mut leads_to_flag = vec![false; n];
    for (i, p) in m.processes.iter().enumerate() {
        if !p.view.pid.is_some_and(|pid| flags.contains_key(&pid)) {
            continue;
        }
        let mut cur = parent(i);
        let mut steps = 0;
        while let Some(c) = cur {
            match leads_to_flag.get_mut(c) {
                Some(v) if !*v => *v = true,
                _ => break,
            }
            steps += 1;
            if steps > n {
                break;
            }
            cur = parent(c);
        }
    }
    h.push_str("<section id=\"process-tree\"><h2>Process tree</h2>\n<p><button id=\"tree-expand\" type=\"button\">Expand all</button><button id=\"tree-collapse\" type=\"button\">Collapse all</button><input class=\"filter\" id=\"tree-search\" type=\"search\" placeholder=\"Find in tree (pid, name, executable)\"> <span class=\"muted\">Branches leading to flagged processes start open.</span></p>\n<div id=\"tree\">\n");
    let mut visited = vec![false; n];
    enum Step {
        Enter(usize, usize),
        Close,
    }
    let render_from = |h: &mut String, start: usize, visited: &mut [bool]| {
        let mut stack = vec![Step::Enter(start, 0)];
        while let Some(step) = stack.pop() {
            let (i, depth) = match step {
                Step::Close => {
                    h.push_str("</details>\n");
                    continue;
                }
                Step::Enter(i, d) => (i, d),
            };
            match visited.get_mut(i) {
                Some(v) if !*v => *v = true,
                _ => continue,
            }
            let Some(p) = m.processes.get(i) else {
                continue;
            };
            let pid = p.view.pid.unwrap_or(-1);
            let f = flags.get(&pid).map(Vec::as_slice).unwrap_or_default();
            let cls = if f.is_empty() { "node" } else { "node flagged" };
            let label = format!(
                "<span class=\"lbl\">{pid} {}</span> <code>{}</code> {}",
                esc(p.view.comm.as_deref().unwrap_or("?")),
                esc_cut(p.view.exe.as_deref().unwrap_or(""), 160),
                flag_badges(f)
            );
            let kids = children.get(i).map(Vec::as_slice).unwrap_or_default();
            if kids.is_empty() {
                h.push_str(&format!(
                    "<div class=\"leaf {cls}\" id=\"tree-{pid}\" data-pid=\"{pid}\" data-flags=\"{}\">{label}</div>\n",
                    flag_codes(f)
                ));
                continue;
            }
            // Top-level branches start open (kernel threads' parent excepted), and so does
            // every branch that leads to a flagged process.
            let open = (depth == 0 && p.view.is_kernel_thread != Some(true))
                || leads_to_flag.get(i).copied().unwrap_or(false);
            h.push_str(&format!(
                "<details class=\"{cls}\" id=\"tree-{pid}\" data-pid=\"{pid}\" data-flags=\"{}\"{}><summary>{label} <span class=\"muted\">({} children)</span></summary>\n",
                flag_codes(f),
                if open { " open" } else { "" },
                kids.len()
            ));
            stack.push(Step::Close);
            for &k in kids.iter().rev() {
                stack.push(Step::Enter(k, depth + 1));
            }
        }
    };
    for &r in &roots {
        render_from(h, r, &mut visited);
    }
    // Whatever is left sits in a parent loop (possible only in a damaged or forged record).
    for i in 0..n {
        if !visited.get(i).copied().unwrap_or(true) {
            render_from(h, i, &mut visited);
        }
    }
    // Processes the kernel hides from /proc have no record of their own: they hang here.
    for hp in &m.hidden {
        let pid = num(hp.pid);
        h.push_str(&format!(
            "<div class=\"leaf node flagged\" id=\"tree-hidden-{pid}\" data-pid=\"{pid}\" data-flags=\"hidden\"><span class=\"lbl\">{pid} {}</span> <code>{}</code> <span class=\"flag hidden\">hidden: {}</span></div>\n",
            esc(hp.comm.as_deref().unwrap_or("?")),
            esc_cut(hp.exe.as_deref().unwrap_or(""), 160),
            esc(hp.reason.as_deref().unwrap_or("")),
        ));
    }
    if n == 0 && m.hidden.is_empty() {
        h.push_str("<p class=\"muted\">No process records.</p>\n");
    }
    h.push_str("</div></section>\n");
}

fn processes(h: &mut String, m: &ReportModel, flags: &HashMap<i64, Vec<Flag>>) {
    let mut listen: HashMap<i64, u64> = HashMap::new();
    let mut remote: HashMap<i64, u64> = HashMap::new();
    for s in &m.sockets {
        let bucket = if s.listening() {
            &mut listen
        } else {
            &mut remote
        };
        for pid in &s.pids {
            *bucket.entry(*pid).or_default() += 1;
        }
    }
    let mut order: Vec<&Proc> = m.processes.iter().collect();
    // What matters first: flagged processes, most flags first, then by pid.
    order.sort_by_key(|p| {
        let pid = p.view.pid.unwrap_or(i64::MAX);
        (std::cmp::Reverse(flags.get(&pid).map_or(0, Vec::len)), pid)
    });
    h.push_str("<section id=\"processes\"><h2>Processes</h2>\n");
    if m.processes_dropped > 0 {
        h.push_str(&format!(
            "<p class=\"damaged\">{} more process records were not loaded.</p>\n",
            m.processes_dropped
        ));
    }
    h.push_str(&filter_box(
        "process-table",
        "Filter processes (any text, e.g. deleted, root, /tmp)",
        order.len(),
    ));
    h.push_str("\n<table class=\"sortable\" id=\"process-table\"><thead><tr><th>PID</th><th>PPID</th><th>User</th><th>Name</th><th>Executable</th><th>SHA-256</th><th>Started</th><th>Flags</th><th>Listen</th><th>Other sockets</th><th>Maps</th><th>Command line</th></tr></thead><tbody>\n");
    for p in order {
        let v = &p.view;
        let pid = v.pid.unwrap_or(-1);
        let f = flags.get(&pid).map(Vec::as_slice).unwrap_or_default();
        let user = match (&v.user, v.uid) {
            (Some(u), _) => esc(u),
            (None, Some(uid)) => uid.to_string(),
            (None, None) => String::new(),
        };
        let mut exe = esc_cut(v.exe.as_deref().unwrap_or(""), 300);
        if let Some(r) = &v.exe_recovered_path {
            exe.push_str(&format!(
                "<br><span class=\"muted\">recovered: <code>{}</code></span>",
                esc(r)
            ));
        }
        let maps = m.maps.get(&pid);
        let map_examples = maps
            .map(|s| {
                s.examples
                    .iter()
                    .map(|e| format!("<br><code>{}</code>", esc_cut(e, 200)))
                    .collect::<String>()
            })
            .unwrap_or_default();
        let mut tags = String::new();
        if v.is_kernel_thread == Some(true) {
            tags.push_str(" <span class=\"muted\">[kernel thread]</span>");
        }
        if v.is_collector == Some(true) {
            tags.push_str(" <span class=\"muted\">[vestige]</span>");
        }
        if let Some(c) = &v.container_id {
            tags.push_str(&format!(
                " <span class=\"muted\">[container {}]</span>",
                esc_cut(c, 12)
            ));
        }
        h.push_str(&format!(
            "<tr id=\"proc-{pid}\" data-pid=\"{pid}\" data-flags=\"{}\"{}><td class=\"num\">{pid}</td><td class=\"num\">{}</td><td>{user}</td><td>{}{tags}</td><td class=\"mono\">{exe}</td><td class=\"mono\">{}</td><td data-sort=\"{}\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}{map_examples}</td><td class=\"cmd mono\">{}</td></tr>\n",
            flag_codes(f),
            if f.is_empty() { "" } else { " class=\"flagged\"" },
            num(v.ppid),
            esc(v.comm.as_deref().unwrap_or("")),
            esc(v.exe_sha256.as_deref().unwrap_or("")),
            num(ReportModel::start_micros(p)),
            esc(v.start_time.as_deref().unwrap_or("")),
            flag_badges(f),
            listen.get(&pid).copied().unwrap_or(0),
            remote.get(&pid).copied().unwrap_or(0) + m.unix_sockets.get(&pid).copied().unwrap_or(0),
            maps.map_or(0, |s| s.mappings),
            esc_cut(&v.command_line(), 1000),
        ));
    }
    h.push_str("</tbody></table></section>\n");
}

fn socket_row(s: &Socket, by_pid: &HashMap<i64, &Proc>, remote: bool) -> String {
    let owners = if s.pids.is_empty() {
        "<span class=\"muted\">no owner found</span>".to_owned()
    } else {
        s.pids
            .iter()
            .map(|p| format!("<a href=\"#proc-{p}\">{}</a>", proc_label(*p, by_pid)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let first = s.pids.first().copied().unwrap_or(i64::MAX);
    let local = esc(&endpoint(s.local_address.as_deref(), s.local_port));
    let far = if remote {
        format!(
            "<td class=\"mono\">{}</td>",
            esc(&endpoint(s.remote_address.as_deref(), s.remote_port))
        )
    } else {
        String::new()
    };
    format!(
        "<tr><td data-sort=\"{first}\">{owners}</td><td>{}</td><td class=\"mono\">{local}</td>{far}<td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
        esc(s.protocol.as_deref().unwrap_or("")),
        esc(s.state.as_deref().unwrap_or("")),
        num(s.netns),
        num(s.inode)
    )
}

fn connections(h: &mut String, m: &ReportModel, by_pid: &HashMap<i64, &Proc>) {
    let mut sockets: Vec<&Socket> = m.sockets.iter().collect();
    // Grouped by process: sockets of one process sit together.
    sockets.sort_by_key(|s| (s.pids.first().copied().unwrap_or(i64::MAX), s.local_port));
    let (listening, other): (Vec<&Socket>, Vec<&Socket>) =
        sockets.into_iter().partition(|s| s.listening());
    h.push_str("<section id=\"connections\"><h2>Connections</h2>\n");
    if m.sockets_dropped > 0 {
        h.push_str(&format!(
            "<p class=\"damaged\">{} more sockets were not loaded.</p>\n",
            m.sockets_dropped
        ));
    }
    h.push_str(&format!("<h3>Listening ({})</h3>\n", listening.len()));
    h.push_str(&filter_box(
        "listen-table",
        "Filter listeners",
        listening.len(),
    ));
    h.push_str("\n<table class=\"sortable\" id=\"listen-table\"><thead><tr><th>Process</th><th>Protocol</th><th>Local</th><th>State</th><th>Net ns</th><th>Inode</th></tr></thead><tbody>\n");
    for s in &listening {
        h.push_str(&socket_row(s, by_pid, false));
    }
    h.push_str("</tbody></table>\n");
    h.push_str(&format!(
        "<h3>With a remote endpoint ({})</h3>\n",
        other.len()
    ));
    h.push_str(&filter_box(
        "remote-table",
        "Filter connections (address, port, process)",
        other.len(),
    ));
    h.push_str("\n<table class=\"sortable\" id=\"remote-table\"><thead><tr><th>Process</th><th>Protocol</th><th>Local</th><th>Remote</th><th>State</th><th>Net ns</th><th>Inode</th></tr></thead><tbody>\n");
    for s in &other {
        h.push_str(&socket_row(s, by_pid, true));
    }
    h.push_str("</tbody></table>\n");
    let unix: u64 = m.unix_sockets.values().sum();
    h.push_str(&format!(
        "<p class=\"muted\">Unix sockets are counted per process in the process table ({unix} socket ownerships).</p></section>\n"
    ));
}

fn logins(h: &mut String, m: &ReportModel) {
    h.push_str(&format!(
        "<section id=\"logins\"><h2>Logins ({})</h2>\n",
        m.logins.len()
    ));
    if m.logins_dropped > 0 {
        h.push_str(&format!(
            "<p class=\"damaged\">{} more login records were not loaded.</p>\n",
            m.logins_dropped
        ));
    }
    h.push_str(&filter_box(
        "login-table",
        "Filter logins (user, address, type)",
        m.logins.len(),
    ));
    h.push_str("\n<table class=\"sortable\" id=\"login-table\"><thead><tr><th>Type</th><th>User</th><th>TTY</th><th>From</th><th>Login</th><th>Logout</th><th>End</th><th>Seconds</th><th>PID</th><th>Source</th></tr></thead><tbody>\n");
    for l in &m.logins {
        let from = match (l.remote_host.as_deref(), l.remote_address.as_deref()) {
            (Some(h), Some(a)) if !h.is_empty() && h != a => format!("{} ({})", esc(h), esc(a)),
            (_, Some(a)) => esc(a),
            (Some(h), None) => esc(h),
            (None, None) => String::new(),
        };
        let cls = if l.session_type.as_deref() == Some("failed") {
            " class=\"flagged\""
        } else {
            ""
        };
        h.push_str(&format!(
            "<tr{cls}><td>{}</td><td>{}</td><td>{}</td><td class=\"mono\">{from}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
            esc(l.session_type.as_deref().unwrap_or("")),
            esc(l.user.as_deref().unwrap_or("")),
            esc(l.tty.as_deref().unwrap_or("")),
            esc(l.login_time.as_deref().unwrap_or("")),
            esc(l.logout_time.as_deref().unwrap_or("")),
            esc(l.end_reason.as_deref().unwrap_or("")),
            num(l.duration_seconds),
            num(l.pid),
            esc(l.source.as_deref().unwrap_or("")),
        ));
    }
    h.push_str("</tbody></table></section>\n");
}

fn kernel(h: &mut String, m: &ReportModel) {
    h.push_str(
        "<section id=\"kernel\"><h2>Kernel and hidden processes</h2>\n<table class=\"kv\">\n",
    );
    match (&m.system, m.taint()) {
        (None, _) => kv(
            h,
            "Taint",
            "<span class=\"muted\">no system record</span>".into(),
        ),
        (Some(_), None) => kv(h, "Taint", "not tainted (0)".into()),
        (Some(_), Some((t, fl))) => kv(
            h,
            "Taint",
            format!(
                "<span class=\"verdict-bad\">{t}</span> {}",
                fl.iter().map(|f| esc(f)).collect::<Vec<_>>().join("<br>")
            ),
        ),
    }
    kv(
        h,
        "Modules",
        format!(
            "{} listed, {} tainting or hidden",
            m.modules_total,
            m.modules_flagged.len()
        ),
    );
    kv(
        h,
        "/etc/ld.so.preload",
        match m.ld_so_preload() {
            Some(c) => format!("<code class=\"damaged\">{}</code>", esc_cut(c, 2000)),
            None => "<span class=\"muted\">empty or absent</span>".into(),
        },
    );
    h.push_str("</table>\n");
    if !m.modules_flagged.is_empty() {
        h.push_str("<table class=\"sortable\"><thead><tr><th>Module</th><th>State</th><th>Taint</th><th>Source</th><th>Missing from /proc/modules</th></tr></thead><tbody>\n");
        for k in &m.modules_flagged {
            h.push_str(&format!(
                "<tr class=\"flagged\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(k.name.as_deref().unwrap_or("")),
                esc(k.state.as_deref().unwrap_or("")),
                esc(k.taint.as_deref().unwrap_or("")),
                esc(k.source.as_deref().unwrap_or("")),
                num(k.missing_from_proc_modules)
            ));
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str(&format!("<h3>Hidden processes ({})</h3>\n", m.hidden.len()));
    if !m.hidden.is_empty() {
        h.push_str("<table class=\"sortable\" id=\"hidden-table\"><thead><tr><th>PID</th><th>Reason</th><th>Name</th><th>Executable</th><th>Detail</th></tr></thead><tbody>\n");
        for hp in &m.hidden {
            h.push_str(&format!(
                "<tr class=\"flagged\" data-flags=\"hidden\"><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td></tr>\n",
                num(hp.pid),
                esc(hp.reason.as_deref().unwrap_or("")),
                esc(hp.comm.as_deref().unwrap_or("")),
                esc(hp.exe.as_deref().unwrap_or("")),
                esc_cut(hp.detail.as_deref().unwrap_or(""), 500)
            ));
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("</section>\n");
}

fn artifacts(h: &mut String, m: &ReportModel) {
    let matched: HashSet<&str> = m
        .verify
        .as_ref()
        .map(|v| v.matched.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let mut problems: HashMap<&str, Vec<&str>> = HashMap::new();
    if let Some(v) = &m.verify {
        for p in &v.problems {
            problems
                .entry(p.path.as_str())
                .or_default()
                .push(p.cause.as_str());
        }
    }
    h.push_str(&format!(
        "<section id=\"artifacts\"><h2>Artifacts ({})</h2>\n",
        m.manifest.artifacts.len()
    ));
    h.push_str(&filter_box(
        "artifact-table",
        "Filter artifacts (name, status, hash)",
        m.manifest.artifacts.len(),
    ));
    h.push_str("\n<table class=\"sortable\" id=\"artifact-table\"><thead><tr><th>Name</th><th>Kind</th><th>Status</th><th>Verified</th><th>Records</th><th>Raw bytes</th><th>Stored bytes</th><th>Raw SHA-256</th><th>Stored SHA-256</th><th>Path</th><th>Problems</th></tr></thead><tbody>\n");
    for a in &m.manifest.artifacts {
        let status = a.status.as_deref().unwrap_or("unknown");
        let verified = match (a.path.as_deref(), &m.verify) {
            (_, None) => "<span class=\"muted\">not run</span>".to_owned(),
            (None, _) => "<span class=\"muted\">nothing stored</span>".to_owned(),
            (Some(p), _) if matched.contains(p) => "<span class=\"status-ok\">ok</span>".to_owned(),
            (Some(p), _) => match problems.get(p) {
                Some(c) => format!(
                    "<span class=\"damaged\">{}</span>",
                    c.iter().map(|c| esc(c)).collect::<Vec<_>>().join("<br>")
                ),
                None => "<span class=\"muted\">not checked</span>".to_owned(),
            },
        };
        let mut notes: Vec<String> = Vec::new();
        if let Some(e) = &a.error {
            notes.push(esc_cut(e, 500));
        }
        if let Some(n) = a.warning_count.filter(|n| *n > 0) {
            notes.push(format!("{n} warnings"));
        }
        if let Some(d) = m.read_damage.get(&a.name) {
            notes.push(format!("<span class=\"damaged\">report: {}</span>", esc(d)));
        }
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"status-{}\">{}</td><td>{verified}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td></tr>\n",
            esc(&a.name),
            esc(a.kind()),
            esc(status),
            esc(status),
            num(a.records),
            num(a.raw_bytes),
            num(a.stored_bytes),
            esc(a.raw_sha256.as_deref().unwrap_or("")),
            esc(a.stored_sha256.as_deref().unwrap_or("")),
            esc(a.path.as_deref().unwrap_or("")),
            notes.join("<br>")
        ));
    }
    h.push_str("</tbody></table>\n");
    if !m.file_groups.is_empty() {
        h.push_str("<h3>File groups</h3>\n<table class=\"sortable\"><thead><tr><th>Group</th><th>Paths indexed</th><th>By status</th></tr></thead><tbody>\n");
        for g in &m.file_groups {
            let st = g
                .by_status
                .iter()
                .map(|(k, v)| format!("{}: {v}", esc(k)))
                .collect::<Vec<_>>()
                .join(", ");
            h.push_str(&format!(
                "<tr><td>{}</td><td class=\"num\">{}</td><td>{st}</td></tr>\n",
                esc(&g.name),
                g.entries
            ));
        }
        h.push_str("</tbody></table>\n");
    }
    if let Some(v) = &m.verify {
        let stray: Vec<&str> = v
            .problems
            .iter()
            .filter(|p| {
                !m.manifest
                    .artifacts
                    .iter()
                    .any(|a| a.path.as_deref() == Some(p.path.as_str()))
            })
            .map(|p| p.path.as_str())
            .collect();
        if !stray.is_empty() {
            h.push_str(&format!(
                "<p class=\"damaged\">Objects with problems outside the artifact list: {}</p>\n",
                stray.iter().map(|s| esc(s)).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    h.push_str("</section>\n");
}
