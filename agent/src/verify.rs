//! `vestige verify`: re-read every stored object and check it against the manifest.

use crate::manifest::{Manifest, MANIFEST_PATH, SCHEMA};
use crate::pipeline::hex;
use crate::sink::{CollectionReader, SinkError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{self, Read};

/// Largest manifest read (a manifest is kilobytes; this bounds a hostile one).
const MAX_MANIFEST: u64 = 64 << 20;

/// One mismatch, naming the object and the cause.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// Object path (or `manifest.json`).
    pub path: String,
    /// What is wrong.
    pub cause: String,
}

/// The result of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Collection root.
    pub location: String,
    /// SHA-256 of the manifest as read.
    pub manifest_sha256: Option<String>,
    /// Objects checked.
    pub checked: usize,
    /// Objects that matched.
    pub matched: Vec<String>,
    /// Every mismatch.
    pub problems: Vec<Problem>,
    /// Facts that are not failures (retention, leftover partial objects).
    pub notes: Vec<String>,
}

impl Report {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Size and SHA-256 of some bytes.
type Measured = (u64, String);

/// What re-reading one object found.
struct Measurement {
    stored: Measured,
    /// For `.zst` objects: the decompressed content's digest, or why it could not be read.
    raw: Option<Result<Measured, String>>,
}

/// Stored (size, sha) of one object and, for `.zst` objects, raw (size, sha) or why the
/// content could not be decompressed. The stored hash is always computed over every byte.
fn measure(reader: Box<dyn Read + Send>, compressed: bool) -> Result<Measurement, String> {
    let mut stored = HashingReader {
        inner: reader,
        hasher: Sha256::new(),
        bytes: 0,
    };
    let raw = if compressed {
        Some(decompressed_digest(&mut stored))
    } else {
        None
    };
    // Whatever the decoder left unread (trailing bytes, or all of it after an error) still
    // counts as stored bytes.
    io::copy(&mut stored, &mut io::sink()).map_err(|e| format!("reading: {e}"))?;
    Ok(Measurement {
        stored: (stored.bytes, hex(&stored.hasher.finalize())),
        raw,
    })
}

fn decompressed_digest<R: Read>(stored: &mut R) -> Result<Measured, String> {
    let mut decoder =
        zstd::stream::read::Decoder::new(stored).map_err(|e| format!("cannot decompress: {e}"))?;
    let mut raw_hasher = Sha256::new();
    let mut raw_bytes = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot decompress: {e}")),
        };
        raw_hasher.update(buf.get(..n).unwrap_or_default());
        raw_bytes += n as u64;
    }
    Ok((raw_bytes, hex(&raw_hasher.finalize())))
}

/// Verifies a collection. `expected_manifest_sha256` (from the summary line kept outside the
/// host) also proves the manifest itself unchanged.
pub fn verify(reader: &dyn CollectionReader, expected_manifest_sha256: Option<&str>) -> Report {
    let mut report = Report {
        location: reader.location(),
        manifest_sha256: None,
        checked: 0,
        matched: Vec::new(),
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let problem = |report: &mut Report, path: &str, cause: String| {
        report.problems.push(Problem {
            path: path.to_owned(),
            cause,
        });
    };
    let mut body = Vec::new();
    match reader.open(MANIFEST_PATH) {
        Ok(r) => {
            if let Err(e) = r.take(MAX_MANIFEST).read_to_end(&mut body) {
                problem(&mut report, MANIFEST_PATH, format!("unreadable: {e}"));
                return report;
            }
        }
        Err(e) => {
            problem(
                &mut report,
                MANIFEST_PATH,
                format!("missing or unreadable: {e}"),
            );
            return report;
        }
    }
    let sha = hex(&Sha256::digest(&body));
    if let Some(want) = expected_manifest_sha256 {
        if !want.eq_ignore_ascii_case(&sha) {
            problem(
                &mut report,
                MANIFEST_PATH,
                format!("sha256 {sha} differs from the expected {want}"),
            );
        }
    }
    report.manifest_sha256 = Some(sha);
    let manifest: Manifest = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            problem(&mut report, MANIFEST_PATH, format!("does not parse: {e}"));
            return report;
        }
    };
    if manifest.schema != SCHEMA {
        problem(
            &mut report,
            MANIFEST_PATH,
            format!("unknown schema `{}`", manifest.schema),
        );
    }
    if let Some(d) = reader.describe(MANIFEST_PATH) {
        report.notes.push(format!("{MANIFEST_PATH}: {d}"));
    }

    let mut listed: HashSet<String> = HashSet::new();
    listed.insert(MANIFEST_PATH.to_owned());
    for a in &manifest.artifacts {
        let Some(path) = a.path.as_deref() else {
            continue;
        };
        report.checked += 1;
        if !listed.insert(path.to_owned()) {
            problem(&mut report, path, "listed twice in the manifest".into());
            continue;
        }
        let (Some(want_size), Some(want_sha)) = (a.stored_bytes, a.stored_sha256.as_deref()) else {
            problem(
                &mut report,
                path,
                "manifest entry lacks stored_bytes or stored_sha256".into(),
            );
            continue;
        };
        let r = match reader.open(path) {
            Ok(r) => r,
            Err(e) => {
                let cause = match &e {
                    SinkError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                        format!("missing: {e}")
                    }
                    SinkError::Remote(_) => format!("missing: {e}"),
                    _ => format!("unreadable: {e}"),
                };
                problem(&mut report, path, cause);
                continue;
            }
        };
        let before = report.problems.len();
        match measure(r, path.ends_with(".zst")) {
            Err(e) => problem(&mut report, path, e),
            Ok(Measurement {
                stored: (size, sha),
                raw,
            }) => {
                if size != want_size {
                    problem(
                        &mut report,
                        path,
                        format!("size {size} differs from the manifest's {want_size}"),
                    );
                }
                if sha != want_sha {
                    problem(
                        &mut report,
                        path,
                        format!("stored sha256 {sha} differs from the manifest's {want_sha}"),
                    );
                }
                if let Some(Err(e)) = &raw {
                    problem(&mut report, path, e.clone());
                }
                if let Some(Ok((raw_size, raw_sha))) = raw {
                    if Some(raw_size) != a.raw_bytes {
                        problem(
                            &mut report,
                            path,
                            format!(
                                "raw size {raw_size} differs from the manifest's {:?}",
                                a.raw_bytes
                            ),
                        );
                    }
                    if Some(raw_sha.as_str()) != a.raw_sha256.as_deref() {
                        problem(
                            &mut report,
                            path,
                            format!(
                                "raw sha256 {raw_sha} differs from the manifest's {:?}",
                                a.raw_sha256
                            ),
                        );
                    }
                }
            }
        }
        if report.problems.len() == before {
            report.matched.push(path.to_owned());
        }
        if let Some(d) = reader.describe(path) {
            report.notes.push(format!("{path}: {d}"));
        }
    }
    if let Some(spec_path) = manifest.spec.path.as_deref() {
        let spec_raw = manifest
            .artifacts
            .iter()
            .find(|a| a.path.as_deref() == Some(spec_path))
            .and_then(|a| a.raw_sha256.clone());
        if spec_raw.as_deref() != Some(manifest.spec.sha256.as_str()) {
            problem(
                &mut report,
                spec_path,
                format!(
                    "stored spec does not hash to the manifest's spec.sha256 {}",
                    manifest.spec.sha256
                ),
            );
        }
    }
    match reader.list() {
        Ok(all) => {
            for p in all {
                if listed.contains(&p) {
                    continue;
                }
                if p.ends_with(crate::sink::dir::PART_SUFFIX) {
                    report.notes.push(format!("{p}: incomplete object left by an abandoned collector (not part of the collection)"));
                } else {
                    problem(&mut report, &p, "object not listed in the manifest".into());
                }
            }
        }
        Err(e) => report
            .notes
            .push(format!("could not list the collection: {e}")),
    }
    report
}
