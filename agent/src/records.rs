//! Reading a stored collection back for analysis: a lenient view of the manifest and record
//! artifacts streamed line by line through zstd, so memory stays bounded however many records
//! an artifact holds. A collection is untrusted input: every field may be missing, every line
//! may be damaged, and nothing here panics on it.

use crate::manifest::MANIFEST_PATH;
use crate::sink::CollectionReader;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::io::{self, BufRead, BufReader, Read};

/// Largest manifest read (a manifest is kilobytes; this bounds a hostile one).
const MAX_MANIFEST: u64 = 64 << 20;

/// Longest record line parsed; a longer one is skipped and counted as damaged.
pub const MAX_LINE: usize = 16 << 20;

/// The manifest as analysis tools need it: every field optional, unknown fields ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ManifestView {
    pub schema: Option<String>,
    pub collection_id: Option<String>,
    pub host_id: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub tool: ToolView,
    pub spec: SpecView,
    pub host: HostView,
    pub collector: CollectorView,
    pub artifacts: Vec<ArtifactView>,
}

/// `tool` of the manifest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ToolView {
    pub name: Option<String>,
    pub version: Option<String>,
    pub sha256: Option<String>,
}

/// `spec` of the manifest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SpecView {
    pub name: Option<String>,
    pub sha256: Option<String>,
    pub source: Option<String>,
}

/// `host` of the manifest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HostView {
    pub hostname: Option<String>,
    pub boot_id: Option<String>,
    pub instance_id: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub kernel_release: Option<String>,
}

/// `collector` of the manifest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CollectorView {
    pub pid: Option<u32>,
    pub interrupted: Option<String>,
}

/// One entry of `artifacts`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ArtifactView {
    pub name: String,
    pub kind: Option<String>,
    pub path: Option<String>,
    pub status: Option<String>,
    pub raw_bytes: Option<u64>,
    pub raw_sha256: Option<String>,
    pub stored_bytes: Option<u64>,
    pub stored_sha256: Option<String>,
    pub records: Option<u64>,
    pub error: Option<String>,
    pub warning_count: Option<u64>,
}

impl ArtifactView {
    /// True for a stored JSONL record artifact.
    pub fn is_records(&self) -> bool {
        self.path
            .as_deref()
            .is_some_and(|p| p.ends_with(".jsonl.zst") || p.ends_with(".jsonl.zst.age"))
    }

    /// The collector kind, or the name when the manifest does not say.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or(&self.name)
    }
}

/// Reads and parses `manifest.json`. Errors say what went wrong, for display.
pub fn read_manifest(reader: &dyn CollectionReader) -> Result<ManifestView, String> {
    let mut body = Vec::new();
    reader
        .open(MANIFEST_PATH)
        .map_err(|e| format!("{MANIFEST_PATH}: {e}"))?
        .take(MAX_MANIFEST)
        .read_to_end(&mut body)
        .map_err(|e| format!("{MANIFEST_PATH}: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("{MANIFEST_PATH} does not parse: {e}"))
}

/// What streaming one record artifact found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOutcome {
    /// Lines parsed into records.
    pub records: u64,
    /// Lines that did not parse (or were longer than [`MAX_LINE`]).
    pub bad_lines: u64,
    /// Why reading stopped early (unreadable object, damaged compression), if it did.
    pub error: Option<String>,
}

impl StreamOutcome {
    /// A one-line description of any damage, for display; `None` when the artifact read cleanly.
    pub fn damage(&self) -> Option<String> {
        match (&self.error, self.bad_lines) {
            (None, 0) => None,
            (None, n) => Some(format!("{n} damaged record lines skipped")),
            (Some(e), 0) => Some(e.clone()),
            (Some(e), n) => Some(format!("{e}; {n} damaged record lines skipped")),
        }
    }
}

/// Streams the records of the `.jsonl.zst` object at `path`, calling `f` for each line that
/// parses as `T`. Never holds more than one line in memory.
pub fn for_each_record<T: DeserializeOwned>(
    reader: &dyn CollectionReader,
    path: &str,
    mut f: impl FnMut(T),
) -> StreamOutcome {
    let mut outcome = StreamOutcome::default();
    // An encrypted artifact (`X.age`) is read from a decrypted copy (`vestige decrypt`), which
    // holds its plaintext as `X`; the ciphertext itself cannot be read without the key.
    let opened = match path.strip_suffix(crate::custody::AGE_SUFFIX) {
        Some(plain) => reader.open(plain).map_err(|e| match reader.open(path) {
            Ok(_) => "encrypted (age): decrypt the collection first (vestige decrypt) and read \
                      the copy"
                .to_owned(),
            Err(_) => format!("unreadable: {e}"),
        }),
        None => reader.open(path).map_err(|e| format!("unreadable: {e}")),
    };
    let object = match opened {
        Ok(o) => o,
        Err(e) => {
            outcome.error = Some(e);
            return outcome;
        }
    };
    let decoder = match zstd::stream::read::Decoder::new(object) {
        Ok(d) => d,
        Err(e) => {
            outcome.error = Some(format!("cannot decompress: {e}"));
            return outcome;
        }
    };
    let mut lines = BufReader::with_capacity(256 * 1024, decoder);
    let mut line = Vec::new();
    loop {
        match next_line(&mut lines, &mut line, MAX_LINE) {
            Ok(None) => break,
            Ok(Some(false)) => outcome.bad_lines += 1,
            Ok(Some(true)) => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<T>(&line) {
                    Ok(r) => {
                        outcome.records += 1;
                        f(r);
                    }
                    Err(_) => outcome.bad_lines += 1,
                }
            }
            Err(e) => {
                outcome.error = Some(format!("damaged after {} records: {e}", outcome.records));
                break;
            }
        }
    }
    outcome
}

/// Reads the next line (without its newline) into `buf`. `Some(true)`: a whole line;
/// `Some(false)`: a line longer than `cap`, skipped to its end; `None`: end of input.
fn next_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>, cap: usize) -> io::Result<Option<bool>> {
    buf.clear();
    let mut fits = true;
    let mut any = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(any.then_some(fits));
        }
        any = true;
        let (part, used, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (chunk.get(..i).unwrap_or_default(), i + 1, true),
            None => (chunk, chunk.len(), false),
        };
        if fits && buf.len() + part.len() <= cap {
            buf.extend_from_slice(part);
        } else {
            fits = false;
            buf.clear();
        }
        r.consume(used);
        if done {
            return Ok(Some(fits));
        }
    }
}

/// A `processes` record, the fields analysis uses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProcessView {
    pub pid: Option<i64>,
    pub ppid: Option<i64>,
    pub comm: Option<String>,
    pub comm_hex: Option<String>,
    pub cmdline: Option<Vec<String>>,
    pub exe: Option<String>,
    pub exe_deleted: Option<bool>,
    pub exe_memfd: Option<bool>,
    pub exe_in_temp_dir: Option<bool>,
    pub exe_sha256: Option<String>,
    pub exe_mtime: Option<String>,
    pub exe_recovered_path: Option<String>,
    pub uid: Option<u32>,
    pub user: Option<String>,
    pub start_time: Option<String>,
    pub environ: Option<Vec<String>>,
    pub container_id: Option<String>,
    pub is_kernel_thread: Option<bool>,
    pub is_collector: Option<bool>,
}

impl ProcessView {
    /// The command line as one line of text (arguments joined by spaces).
    pub fn command_line(&self) -> String {
        self.cmdline.as_deref().unwrap_or_default().join(" ")
    }
}

/// A `logins` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LoginView {
    pub source: Option<String>,
    pub session_type: Option<String>,
    pub user: Option<String>,
    pub tty: Option<String>,
    pub remote_host: Option<String>,
    pub remote_address: Option<String>,
    pub pid: Option<i64>,
    pub login_time: Option<String>,
    pub logout_time: Option<String>,
    pub end_reason: Option<String>,
    pub duration_seconds: Option<i64>,
}

/// A file-group index record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FileView {
    pub path: Option<String>,
    pub file_type: Option<String>,
    pub size: Option<u64>,
    pub mode: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub inode: Option<u64>,
    pub mtime: Option<String>,
    pub atime: Option<String>,
    pub ctime: Option<String>,
    pub btime: Option<String>,
    pub sha256: Option<String>,
    pub status: Option<String>,
}

/// Seconds and microseconds since the epoch of an RFC 3339 time.
pub fn epoch_micros(t: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

/// Builds small collections on disk for the report and timeline tests.
#[cfg(test)]
pub(crate) mod fixture {
    use crate::pipeline::hex;
    use serde_json::{json, Value};
    use sha2::{Digest, Sha256};
    use std::path::Path;

    /// Writes a collection root at `root` with one record artifact per `(name, kind,
    /// records)`, and a manifest whose hashes match (so it verifies).
    pub(crate) fn write(root: &Path, artifacts: &[(&str, &str, Vec<Value>)]) {
        std::fs::create_dir_all(root.join("artifacts")).unwrap();
        let mut entries = Vec::new();
        for (name, kind, records) in artifacts {
            let raw: String = records.iter().map(|r| format!("{r}\n")).collect();
            let stored = zstd::encode_all(raw.as_bytes(), 3).unwrap();
            let path = format!("artifacts/{name}.jsonl.zst");
            std::fs::write(root.join(&path), &stored).unwrap();
            entries.push(json!({
                "name": name, "kind": kind, "path": path, "status": "ok",
                "raw_bytes": raw.len(), "raw_sha256": hex(&Sha256::digest(raw.as_bytes())),
                "stored_bytes": stored.len(), "stored_sha256": hex(&Sha256::digest(&stored)),
                "records": records.len(), "error": null, "warnings": [], "warning_count": 0,
            }));
        }
        let manifest = json!({
            "schema": "vestige.manifest/1",
            "collection_id": "20261204T153000Z-3f9a1c2b",
            "host_id": "i-0abc1234def567890",
            "started_at": "2026-12-04T15:30:00Z",
            "finished_at": "2026-12-04T15:30:02.5Z",
            "tool": {"name": "vestige", "version": "0.1.0", "sha256": "ab".repeat(32)},
            "spec": {"name": "triage", "sha256": "cd".repeat(32), "source": "builtin:triage", "path": null},
            "host": {"hostname": "web-1", "instance_id": "i-0abc1234def567890", "region": "eu-west-1"},
            "collector": {"pid": 4242, "sink": "dir"},
            "artifacts": entries,
        });
        std::fs::write(root.join("manifest.json"), manifest.to_string()).unwrap();
    }

    /// A process record with the given fields over sensible defaults.
    pub(crate) fn process(pid: i64, ppid: i64, comm: &str, extra: Value) -> Value {
        let mut p = json!({
            "pid": pid, "ppid": ppid, "comm": comm, "cmdline": [comm], "exe": format!("/usr/bin/{comm}"),
            "exe_deleted": false, "exe_memfd": false, "exe_in_temp_dir": false,
            "exe_sha256": "00".repeat(32), "uid": 0, "user": "root",
            "start_time": format!("2026-12-04T15:{:02}:00Z", pid % 60),
            "environ": ["PATH=/usr/bin"],
        });
        if let (Some(o), Value::Object(e)) = (p.as_object_mut(), extra) {
            o.extend(e);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::dir::DirReader;
    use std::io::Cursor;

    /// Record lines longer than the cap are skipped whole; empty and unterminated last lines are
    /// read.
    #[test]
    fn lines_are_capped_and_skipped() {
        let mut r = BufReader::with_capacity(4, Cursor::new(b"ab\nccccccccc\n\nlast".to_vec()));
        let mut buf = Vec::new();
        assert_eq!(next_line(&mut r, &mut buf, 5).unwrap(), Some(true));
        assert_eq!(buf, b"ab");
        assert_eq!(next_line(&mut r, &mut buf, 5).unwrap(), Some(false));
        assert_eq!(next_line(&mut r, &mut buf, 5).unwrap(), Some(true));
        assert!(buf.is_empty());
        assert_eq!(next_line(&mut r, &mut buf, 5).unwrap(), Some(true));
        assert_eq!(buf, b"last");
        assert_eq!(next_line(&mut r, &mut buf, 5).unwrap(), None);
    }

    #[derive(Deserialize)]
    struct Pid {
        pid: u32,
    }

    /// [hostile] Bad JSON lines are counted, and truncated, uncompressed or missing artifacts are
    /// reported, without failing.
    #[test]
    fn damaged_artifacts_are_reported_not_fatal() {
        let tmp = tempfile::tempdir().unwrap();
        let good = zstd::encode_all(&b"{\"pid\":1}\nnot json\n{\"pid\":2}\n"[..], 3).unwrap();
        std::fs::write(tmp.path().join("good.jsonl.zst"), good).unwrap();
        let mut bad = zstd::encode_all(&b"{\"pid\":1}\n{\"pid\":2}\n"[..], 3).unwrap();
        let n = bad.len();
        bad.truncate(n - 6);
        std::fs::write(tmp.path().join("bad.jsonl.zst"), bad).unwrap();
        std::fs::write(tmp.path().join("plain"), b"{\"pid\":1}\n").unwrap();
        let reader = DirReader::new(tmp.path());
        let mut pids = Vec::new();
        let o = for_each_record(&reader, "good.jsonl.zst", |p: Pid| pids.push(p.pid));
        assert_eq!(
            (pids.as_slice(), o.records, o.bad_lines),
            (&[1, 2][..], 2, 1)
        );
        assert!(o.error.is_none());
        let o = for_each_record(&reader, "bad.jsonl.zst", |_: Pid| {});
        assert!(o.error.is_some(), "{o:?}");
        let o = for_each_record(&reader, "plain", |_: Pid| {});
        assert!(o.damage().is_some(), "{o:?}");
        let o = for_each_record(&reader, "missing.jsonl.zst", |_: Pid| {});
        assert!(o.error.unwrap().starts_with("unreadable"));
    }

    /// RFC 3339 times parse to epoch microseconds; garbage gives none.
    #[test]
    fn times_parse() {
        assert_eq!(epoch_micros("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(epoch_micros("garbage"), None);
    }
}
