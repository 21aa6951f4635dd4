//! `vestige timeline`: the times a collection holds, as one sorted timeline — Timesketch JSONL
//! (one event per line) or a mactime bodyfile.
//!
//! Sources: process start times (and their executables' modification times), logins, logouts,
//! failed logins, boots and shutdowns, the MAC(B) times of every file-group member (logs
//! included), the host's boot time, and the collection's own start and end.

use crate::records::{
    epoch_micros, for_each_record, read_manifest, ArtifactView, FileView, LoginView, ManifestView,
    ProcessView,
};
use crate::sink::CollectionReader;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::io::{self, Write};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Timesketch-ready JSON lines: `message`, `datetime`, `timestamp_desc`, `timestamp`.
    Jsonl,
    /// The Sleuth Kit body format read by `mactime`.
    Bodyfile,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jsonl" => Ok(Format::Jsonl),
            "bodyfile" => Ok(Format::Bodyfile),
            other => Err(format!("unknown format `{other}`: want jsonl or bodyfile")),
        }
    }
}

/// What building a timeline met besides its events.
#[derive(Debug, Clone, Default)]
pub struct TimelineStats {
    /// Events (JSONL lines or bodyfile lines) written.
    pub events: usize,
    /// Problems met (an unreadable manifest or artifact, damaged lines), one line each.
    pub problems: Vec<String>,
}

/// One output line with the time it sorts by.
struct Line {
    micros: i64,
    text: String,
}

/// Sorts lines by time in bounded memory: up to `budget` bytes are held; beyond that, sorted
/// runs spill to unlinked temporary files, merged at the end.
struct Sorter {
    budget: usize,
    held: usize,
    lines: Vec<Line>,
    runs: Vec<std::fs::File>,
    count: usize,
    /// The first spill failure; later lines are dropped and `finish` reports it.
    error: Option<io::Error>,
}

impl Sorter {
    fn new(budget: usize) -> Self {
        Self {
            budget,
            held: 0,
            lines: Vec::new(),
            runs: Vec::new(),
            count: 0,
            error: None,
        }
    }

    fn push(&mut self, line: Line) {
        if self.error.is_some() {
            return;
        }
        self.held += line.text.len() + std::mem::size_of::<Line>();
        self.count += 1;
        self.lines.push(line);
        if self.held > self.budget {
            if let Err(e) = self.spill() {
                self.error = Some(e);
            }
        }
    }

    fn sort(&mut self) {
        self.lines
            .sort_by(|x, y| x.micros.cmp(&y.micros).then_with(|| x.text.cmp(&y.text)));
    }

    fn spill(&mut self) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        self.sort();
        let mut name = [0u8; 8];
        getrandom::getrandom(&mut name).map_err(|e| io::Error::other(e.to_string()))?;
        let path = std::env::temp_dir().join(format!(
            "vestige-timeline-{}-{}",
            std::process::id(),
            crate::pipeline::hex(&name)
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        // Unlinked at once: the run lives as long as its handle, whatever happens.
        std::fs::remove_file(&path)?;
        let mut w = io::BufWriter::new(file);
        for l in self.lines.drain(..) {
            writeln!(w, "{}\t{}", l.micros, l.text)?;
        }
        let mut file = w.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        self.runs.push(file);
        self.held = 0;
        Ok(())
    }

    /// Writes every line in time order; returns how many.
    fn finish(mut self, out: &mut dyn Write) -> io::Result<usize> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.runs.is_empty() {
            self.sort();
            for l in &self.lines {
                out.write_all(l.text.as_bytes())?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            return Ok(self.count);
        }
        self.spill()?;
        use std::cmp::Reverse;
        use std::io::BufRead;
        let mut runs: Vec<io::Lines<io::BufReader<std::fs::File>>> = self
            .runs
            .drain(..)
            .map(|f| io::BufReader::new(f).lines())
            .collect();
        let next = |run: &mut io::Lines<io::BufReader<std::fs::File>>| -> io::Result<Option<(i64, String)>> {
            let Some(line) = run.next().transpose()? else {
                return Ok(None);
            };
            let (t, text) = line
                .split_once('\t')
                .and_then(|(t, text)| Some((t.parse::<i64>().ok()?, text.to_owned())))
                .ok_or_else(|| io::Error::other("damaged sort run"))?;
            Ok(Some((t, text)))
        };
        let mut heap = std::collections::BinaryHeap::new();
        for (i, run) in runs.iter_mut().enumerate() {
            if let Some((t, text)) = next(run)? {
                heap.push(Reverse((t, text, i)));
            }
        }
        while let Some(Reverse((_, text, i))) = heap.pop() {
            out.write_all(text.as_bytes())?;
            out.write_all(b"\n")?;
            if let Some(run) = runs.get_mut(i) {
                if let Some((t, text)) = next(run)? {
                    heap.push(Reverse((t, text, i)));
                }
            }
        }
        out.flush()?;
        Ok(self.count)
    }
}

struct Builder {
    format: Format,
    host_id: String,
    collection_id: String,
    lines: Sorter,
}

/// `Process Start Time` and the like, with the record's fields.
struct Point<'a> {
    micros: i64,
    desc: &'a str,
    artifact: &'a str,
    message: String,
    /// Bodyfile name (the message is used when absent).
    name: Option<String>,
    uid: Option<u32>,
    fields: Map<String, Value>,
}

impl Builder {
    fn point(&mut self, p: Point<'_>) {
        let text = match self.format {
            Format::Jsonl => {
                let mut obj = Map::new();
                obj.insert("message".into(), Value::String(p.message));
                obj.insert("datetime".into(), Value::String(iso8601(p.micros)));
                obj.insert("timestamp".into(), json!(p.micros));
                obj.insert("timestamp_desc".into(), Value::String(p.desc.to_owned()));
                obj.insert("artifact".into(), Value::String(p.artifact.to_owned()));
                obj.insert("host_id".into(), Value::String(self.host_id.clone()));
                obj.insert(
                    "collection_id".into(),
                    Value::String(self.collection_id.clone()),
                );
                for (k, v) in p.fields {
                    obj.entry(k).or_insert(v);
                }
                Value::Object(obj).to_string()
            }
            Format::Bodyfile => {
                let secs = p.micros.div_euclid(1_000_000);
                let name = format!("[{}] {}", p.desc, p.name.unwrap_or(p.message));
                format!(
                    "0|{}|0|----------|{}|0|0|{secs}|{secs}|{secs}|{secs}",
                    body_escape(&name),
                    p.uid.unwrap_or(0)
                )
            }
        };
        self.lines.push(Line {
            micros: p.micros,
            text,
        });
    }

    fn process(&mut self, artifact: &str, p: ProcessView) {
        let pid = p.pid.unwrap_or(-1);
        let comm = p.comm.clone().unwrap_or_default();
        let cmdline = match p.command_line() {
            c if c.is_empty() => format!("[{comm}]"),
            c => c,
        };
        let mut flags = Vec::new();
        if p.exe_deleted == Some(true) {
            flags.push("exe deleted");
        }
        if p.exe_memfd == Some(true) {
            flags.push("exe memfd");
        }
        if p.exe_in_temp_dir == Some(true) {
            flags.push("exe in temporary directory");
        }
        let fields = |p: &ProcessView| {
            let mut m = Map::new();
            m.insert("pid".into(), json!(p.pid));
            m.insert("ppid".into(), json!(p.ppid));
            m.insert("comm".into(), json!(p.comm));
            m.insert("cmdline".into(), json!(p.command_line()));
            m.insert("exe".into(), json!(p.exe));
            m.insert("exe_sha256".into(), json!(p.exe_sha256));
            m.insert("exe_deleted".into(), json!(p.exe_deleted));
            m.insert("exe_memfd".into(), json!(p.exe_memfd));
            m.insert("uid".into(), json!(p.uid));
            m.insert("user".into(), json!(p.user));
            m
        };
        let suffix = if flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", flags.join(", "))
        };
        let exe = p.exe.as_deref().unwrap_or("-");
        if let Some(t) = p.start_time.as_deref().and_then(epoch_micros) {
            self.point(Point {
                micros: t,
                desc: "Process Start Time",
                artifact,
                message: format!("Process {pid} ({comm}) started: {cmdline} (exe {exe}){suffix}"),
                name: Some(format!("pid {pid} ({comm}) {exe}: {cmdline}{suffix}")),
                uid: p.uid,
                fields: fields(&p),
            });
        }
        if let Some(t) = p.exe_mtime.as_deref().and_then(epoch_micros) {
            self.point(Point {
                micros: t,
                desc: "Executable Modification Time",
                artifact,
                message: format!("Executable {exe} of process {pid} ({comm}) modified{suffix}"),
                name: Some(format!("{exe} (executable of pid {pid}){suffix}")),
                uid: p.uid,
                fields: fields(&p),
            });
        }
    }

    fn login(&mut self, artifact: &str, l: LoginView) {
        let kind = l.session_type.as_deref().unwrap_or("login");
        let user = l.user.as_deref().unwrap_or("");
        let tty = l.tty.as_deref().unwrap_or("");
        let from = l
            .remote_address
            .as_deref()
            .or(l.remote_host.as_deref())
            .filter(|s| !s.is_empty())
            .map(|s| format!(" from {s}"))
            .unwrap_or_default();
        let source = l.source.as_deref().unwrap_or("");
        let mut fields = Map::new();
        for (k, v) in [
            ("session_type", json!(l.session_type)),
            ("user", json!(l.user)),
            ("tty", json!(l.tty)),
            ("remote_host", json!(l.remote_host)),
            ("remote_address", json!(l.remote_address)),
            ("pid", json!(l.pid)),
            ("source", json!(l.source)),
            ("end_reason", json!(l.end_reason)),
            ("duration_seconds", json!(l.duration_seconds)),
        ] {
            fields.insert(k.into(), v);
        }
        let (desc, what) = match kind {
            "failed" => (
                "Failed Login Time",
                format!("Failed login of {user} on {tty}{from}"),
            ),
            "boot" => (
                "Boot Time",
                format!(
                    "System boot ({})",
                    l.remote_host.as_deref().unwrap_or("kernel unknown")
                ),
            ),
            "shutdown" => ("Shutdown Time", "System shutdown".to_owned()),
            "current" => (
                "Login Time",
                format!("Current session of {user} on {tty}{from}"),
            ),
            _ => ("Login Time", format!("Login of {user} on {tty}{from}")),
        };
        if let Some(t) = l.login_time.as_deref().and_then(epoch_micros) {
            self.point(Point {
                micros: t,
                desc,
                artifact,
                message: format!("{what} ({source})"),
                name: None,
                uid: None,
                fields: fields.clone(),
            });
        }
        if let Some(t) = l.logout_time.as_deref().and_then(epoch_micros) {
            let how = l.end_reason.as_deref().unwrap_or("logout");
            self.point(Point {
                micros: t,
                desc: "Logout Time",
                artifact,
                message: format!("Session of {user} on {tty}{from} ended ({how}) ({source})"),
                name: None,
                uid: None,
                fields,
            });
        }
    }

    fn file(&mut self, artifact: &str, f: FileView) {
        let path = f.path.clone().unwrap_or_default();
        let times = [
            ("Last Access Time", f.atime.as_deref()),
            ("Content Modification Time", f.mtime.as_deref()),
            ("Metadata Modification Time", f.ctime.as_deref()),
            ("Creation Time", f.btime.as_deref()),
        ]
        // A zero time is a filesystem that keeps none (birth time on many), not 1970.
        .map(|(d, t)| (d, t.and_then(epoch_micros).filter(|t| *t != 0)));
        match self.format {
            Format::Bodyfile => {
                let secs = |i: usize| {
                    times
                        .get(i)
                        .and_then(|(_, t)| *t)
                        .map_or(0, |t| t.div_euclid(1_000_000))
                };
                let Some(first) = times.iter().filter_map(|(_, t)| *t).min() else {
                    return;
                };
                let text = format!(
                    "0|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
                    body_escape(&path),
                    f.inode.unwrap_or(0),
                    mode_string(f.file_type.as_deref(), f.mode.as_deref()),
                    f.uid.unwrap_or(0),
                    f.gid.unwrap_or(0),
                    f.size.unwrap_or(0),
                    secs(0),
                    secs(1),
                    secs(2),
                    secs(3),
                );
                self.lines.push(Line {
                    micros: first,
                    text,
                });
            }
            Format::Jsonl => {
                let mut fields = Map::new();
                for (k, v) in [
                    ("path", json!(f.path)),
                    ("file_type", json!(f.file_type)),
                    ("size", json!(f.size)),
                    ("mode", json!(f.mode)),
                    ("uid", json!(f.uid)),
                    ("gid", json!(f.gid)),
                    ("inode", json!(f.inode)),
                    ("sha256", json!(f.sha256)),
                    ("status", json!(f.status)),
                ] {
                    fields.insert(k.into(), v);
                }
                for (desc, t) in times {
                    let Some(t) = t else { continue };
                    let verb = match desc {
                        "Last Access Time" => "accessed",
                        "Content Modification Time" => "modified",
                        "Metadata Modification Time" => "changed (metadata)",
                        _ => "created",
                    };
                    self.point(Point {
                        micros: t,
                        desc,
                        artifact,
                        message: format!("File {path} {verb} ({artifact})"),
                        name: None,
                        uid: f.uid,
                        fields: fields.clone(),
                    });
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SystemTimes {
    boot_time: Option<String>,
    hostname: Option<String>,
}

/// Builds the timeline of the collection behind `reader` and writes it to `out`, sorted by
/// time. Damaged or missing artifacts are reported in the stats, not fatal; only a manifest
/// that cannot be read (nothing to go on) or a write error is an error.
pub fn write_timeline(
    reader: &dyn CollectionReader,
    format: Format,
    out: &mut dyn Write,
) -> Result<TimelineStats, String> {
    write_timeline_within(reader, format, out, SORT_MEMORY)
}

/// Bytes of events held in memory while sorting; beyond it, sorted runs go to temporary
/// files and are merged.
const SORT_MEMORY: usize = 64 << 20;

fn write_timeline_within(
    reader: &dyn CollectionReader,
    format: Format,
    out: &mut dyn Write,
    budget: usize,
) -> Result<TimelineStats, String> {
    let manifest = read_manifest(reader)?;
    let mut stats = TimelineStats::default();
    let mut b = Builder {
        format,
        host_id: manifest.host_id.clone().unwrap_or_default(),
        collection_id: manifest.collection_id.clone().unwrap_or_default(),
        lines: Sorter::new(budget),
    };
    collection_points(&mut b, &manifest);
    for a in manifest.artifacts.iter().filter(|a| contributes(a)) {
        let Some(path) = a.path.as_deref() else {
            continue;
        };
        let name = a.name.as_str();
        let outcome = match a.kind() {
            "processes" => for_each_record(reader, path, |p| b.process(name, p)),
            "logins" => for_each_record(reader, path, |l| b.login(name, l)),
            "files" => for_each_record(reader, path, |f| b.file(name, f)),
            "system" => for_each_record(reader, path, |s: SystemTimes| {
                if let Some(t) = s.boot_time.as_deref().and_then(epoch_micros) {
                    let host = s.hostname.unwrap_or_default();
                    b.point(Point {
                        micros: t,
                        desc: "Boot Time",
                        artifact: name,
                        message: format!("Host {host} booted (kernel boot time)"),
                        name: None,
                        uid: None,
                        fields: Map::new(),
                    });
                }
            }),
            _ => continue,
        };
        if let Some(d) = outcome.damage() {
            stats.problems.push(format!("{name} ({path}): {d}"));
        }
    }
    stats.events = b
        .lines
        .finish(out)
        .map_err(|e| format!("writing the timeline: {e}"))?;
    Ok(stats)
}

fn collection_points(b: &mut Builder, m: &ManifestView) {
    let id = m.collection_id.clone().unwrap_or_default();
    for (t, desc, what) in [
        (&m.started_at, "Collection Start Time", "started"),
        (&m.finished_at, "Collection End Time", "finished"),
    ] {
        if let Some(t) = t.as_deref().and_then(epoch_micros) {
            b.point(Point {
                micros: t,
                desc,
                artifact: "manifest",
                message: format!("vestige collection {id} {what}"),
                name: None,
                uid: None,
                fields: Map::new(),
            });
        }
    }
}

/// Microseconds since the epoch as ISO 8601 UTC with microseconds.
fn iso8601(micros: i64) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000000+00:00".to_owned())
}

/// A bodyfile field: `|`, `\` and control characters become `\xNN`, so every line keeps
/// exactly 11 fields whatever a path holds.
fn body_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '|' || c == '\\' || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `ls -l` style mode (`-rw-r--r--`) from the index's file type and octal mode text.
fn mode_string(file_type: Option<&str>, mode: Option<&str>) -> String {
    let kind = match file_type {
        Some("directory") => 'd',
        Some("symlink") => 'l',
        Some("fifo") => 'p',
        Some("socket") => 's',
        Some("char_device") => 'c',
        Some("block_device") => 'b',
        _ => '-',
    };
    let Some(bits) = mode.and_then(|m| u32::from_str_radix(m, 8).ok()) else {
        return format!("{kind}?????????");
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    let specials = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (i, shift) in [6u32, 3, 0].into_iter().enumerate() {
        let rwx = (bits >> shift) & 7;
        s.push(if rwx & 4 != 0 { 'r' } else { '-' });
        s.push(if rwx & 2 != 0 { 'w' } else { '-' });
        let x = rwx & 1 != 0;
        let (mask, on, off) = specials.get(i).copied().unwrap_or((0, 'x', '-'));
        s.push(match (bits & mask != 0, x) {
            (true, true) => on,
            (true, false) => off,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// Whether a manifest entry is an artifact the timeline reads.
pub fn contributes(a: &ArtifactView) -> bool {
    a.is_records() && matches!(a.kind(), "processes" | "logins" | "files" | "system")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::fixture::{process, write};
    use crate::sink::dir::DirReader;

    fn collection(root: &std::path::Path) {
        write(
            root,
            &[
                (
                    "processes",
                    "processes",
                    vec![
                        process(30, 1, "late", json!({"exe_mtime": "2026-11-01T00:00:00Z"})),
                        process(2, 1, "early", json!({"exe_deleted": true})),
                        process(3, 1, "no-start", json!({"start_time": null})),
                    ],
                ),
                (
                    "logins",
                    "logins",
                    vec![
                        json!({"session_type": "login", "user": "root", "tty": "pts/0",
                                "remote_address": "203.0.113.9", "login_time": "2026-12-04T10:00:00Z",
                                "logout_time": "2026-12-04T11:00:00Z", "end_reason": "logout", "source": "/var/log/wtmp"}),
                    ],
                ),
                (
                    "logs",
                    "files",
                    vec![
                        json!({"path": "/var/log/a|b\nc.log", "file_type": "file", "size": 10, "mode": "0640",
                               "uid": 0, "gid": 4, "inode": 99, "mtime": "2026-12-03T00:00:00.25Z",
                               "atime": "2026-12-04T00:00:00Z", "ctime": "2026-12-03T00:00:00Z", "btime": null,
                               "status": "ok"}),
                        json!({"path": "/var/log/no-times", "status": "vanished"}),
                    ],
                ),
                ("memory_maps", "memory_maps", vec![json!({"pid": 1})]),
            ],
        );
    }

    fn run(root: &std::path::Path, format: Format) -> (String, TimelineStats) {
        let mut out = Vec::new();
        let stats = write_timeline(&DirReader::new(root), format, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), stats)
    }

    /// Timeline JSONL events carry Timesketch's fields, are sorted by time, and keep a path with a
    /// pipe and a newline.
    #[test]
    fn jsonl_events_are_timesketch_shaped_and_sorted() {
        let tmp = tempfile::tempdir().unwrap();
        collection(tmp.path());
        let (text, stats) = run(tmp.path(), Format::Jsonl);
        assert!(stats.problems.is_empty(), "{:?}", stats.problems);
        let events: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // 2 process starts + 1 exe mtime + login + logout + 3 file times + 2 collection.
        assert_eq!(events.len(), 10, "{text}");
        assert_eq!(stats.events, 10);
        let mut last = i64::MIN;
        for e in &events {
            for k in [
                "message",
                "datetime",
                "timestamp_desc",
                "timestamp",
                "artifact",
                "host_id",
            ] {
                assert!(e.get(k).is_some_and(|v| !v.is_null()), "{k} in {e}");
            }
            let t = e["timestamp"].as_i64().unwrap();
            assert!(t >= last, "sorted");
            last = t;
            assert_eq!(
                crate::records::epoch_micros(e["datetime"].as_str().unwrap()),
                Some(t)
            );
        }
        let first = &events[0];
        assert_eq!(first["timestamp_desc"], "Executable Modification Time");
        assert_eq!(first["datetime"], "2026-11-01T00:00:00.000000+00:00");
        let start = events
            .iter()
            .find(|e| e["timestamp_desc"] == "Process Start Time" && e["pid"] == 2)
            .unwrap();
        assert!(start["message"].as_str().unwrap().contains("exe deleted"));
        let m = events
            .iter()
            .find(|e| e["timestamp_desc"] == "Content Modification Time")
            .unwrap();
        assert_eq!(m["timestamp"], 1_796_256_000_250_000i64);
        assert_eq!(m["path"], "/var/log/a|b\nc.log");
    }

    /// [hostile] Bodyfile lines have eleven fields, sorted, with a pipe and a newline in a name
    /// escaped.
    #[test]
    fn bodyfile_lines_have_eleven_fields_whatever_the_name() {
        let tmp = tempfile::tempdir().unwrap();
        collection(tmp.path());
        let (text, _) = run(tmp.path(), Format::Bodyfile);
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
        // 2 process starts + exe mtime + login + logout + 1 file + 2 collection.
        assert_eq!(lines.len(), 8, "{text}");
        let mut last = i64::MIN;
        for f in &lines {
            assert_eq!(f.len(), 11, "{f:?}");
            assert_eq!(f[0], "0");
            let times: Vec<i64> = f[7..].iter().map(|t| t.parse().unwrap()).collect();
            let first = times.iter().copied().filter(|t| *t != 0).min().unwrap();
            assert!(first >= last, "sorted: {f:?}");
            last = first;
        }
        let file = lines
            .iter()
            .find(|f| f[1].starts_with("/var/log/a"))
            .unwrap();
        assert_eq!(
            file[1..].join("|"),
            "/var/log/a\\x7cb\\x0ac.log|99|-rw-r-----|0|4|10|1796342400|1796256000|1796256000|0"
        );
    }

    /// A timeline sorted in small spilled runs merges to the same output as one sorted in memory.
    #[test]
    fn spilled_sort_runs_merge_to_the_same_output() {
        let tmp = tempfile::tempdir().unwrap();
        collection(tmp.path());
        for format in [Format::Jsonl, Format::Bodyfile] {
            let (whole, stats) = run(tmp.path(), format);
            let mut out = Vec::new();
            let reader = DirReader::new(tmp.path());
            let small = write_timeline_within(&reader, format, &mut out, 300).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), whole, "{format:?}");
            assert_eq!(small.events, stats.events);
        }
    }

    /// File modes render as ls does, setuid, setgid and sticky bits included; an unreadable mode is
    /// question marks.
    #[test]
    fn modes_render_like_ls() {
        assert_eq!(mode_string(Some("file"), Some("0755")), "-rwxr-xr-x");
        assert_eq!(mode_string(Some("directory"), Some("1777")), "drwxrwxrwt");
        assert_eq!(mode_string(Some("file"), Some("4754")), "-rwsr-xr--");
        assert_eq!(mode_string(Some("symlink"), Some("2644")), "lrw-r-Sr--");
        assert_eq!(mode_string(None, Some("zz")), "-?????????");
    }

    /// [hostile] A damaged artifact is reported as a problem and the other events kept; a missing
    /// manifest is an error.
    #[test]
    fn damaged_artifacts_are_reported_and_the_rest_kept() {
        let tmp = tempfile::tempdir().unwrap();
        collection(tmp.path());
        std::fs::write(tmp.path().join("artifacts/logins.jsonl.zst"), b"not zstd").unwrap();
        let (text, stats) = run(tmp.path(), Format::Jsonl);
        assert_eq!(stats.problems.len(), 1, "{:?}", stats.problems);
        assert!(stats.problems[0].starts_with("logins"));
        assert_eq!(text.lines().count(), 8);
        std::fs::remove_file(tmp.path().join("manifest.json")).unwrap();
        assert!(
            write_timeline(&DirReader::new(tmp.path()), Format::Jsonl, &mut Vec::new()).is_err()
        );
    }
}
