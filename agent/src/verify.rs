//! `vestige verify`: re-read every stored object and check it against the manifest, and the
//! manifest against its signature. `vestige decrypt` is the same walk, writing the plaintext
//! (still zstd-compressed) of every object to a directory.

use crate::custody::{Identities, PublicKey, AGE_SUFFIX, SIGNATURE_PATH};
use crate::manifest::{Manifest, MANIFEST_PATH, SCHEMA};
use crate::pipeline::hex;
use crate::sink::dir::DirSink;
use crate::sink::{CollectionReader, ObjectDigest, Sink, SinkError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{self, Read, Write};

/// Largest manifest read (a manifest is kilobytes; this bounds a hostile one).
const MAX_MANIFEST: u64 = 64 << 20;

/// Largest signature object read (an Ed25519 signature is 64 bytes).
const MAX_SIGNATURE: u64 = 4096;

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
    /// The manifest's signature: `valid` (checked against the key given with
    /// `--public-key`), `valid_unpinned` (checked only against the key the manifest names),
    /// `invalid`, `missing` or `unsigned`.
    pub signature: String,
    /// The public key the signature was checked with (base64).
    pub signature_public_key: Option<String>,
    /// Encrypted objects whose plaintext was decrypted and checked against `raw_sha256`.
    pub decrypted: usize,
    /// Encrypted objects checked on their ciphertext only (no `--identity`).
    pub ciphertext_only: usize,
    /// Objects checked.
    pub checked: usize,
    /// Objects absent here that the manifest says were uploaded to the bucket before it
    /// failed (a `--fallback-out` collection); verify them in the bucket.
    pub in_bucket: usize,
    /// Encrypted objects found as the plaintext a `vestige decrypt` copy holds (`X` for the
    /// manifest's `X.age`): their raw hashes were checked (the ciphertext is not there).
    pub plaintext_copies: usize,
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

/// Copies every byte read to a writer (the decrypted copy); a failed write fails the read.
struct Tee<'w, R> {
    inner: R,
    out: &'w mut dyn Write,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(buf.get(..n).unwrap_or_default())?;
        Ok(n)
    }
}

/// Stored (size, sha) of one object and, where the content can be read, raw (size, sha) or
/// why not: `.zst` objects are decompressed; `.age` objects are decrypted first when
/// identities are given (else only their ciphertext is measured). The stored hash is always
/// computed over every byte. `copy` receives the decrypted (still compressed) bytes of an
/// `.age` object, or the stored bytes of any other.
fn measure(
    reader: Box<dyn Read + Send>,
    path: &str,
    identities: Option<&Identities>,
    copy: Option<&mut dyn Write>,
) -> Result<Measurement, String> {
    let mut stored = HashingReader {
        inner: reader,
        hasher: Sha256::new(),
        bytes: 0,
    };
    let inner_path = path.strip_suffix(AGE_SUFFIX);
    let compressed = inner_path.unwrap_or(path).ends_with(".zst");
    let raw = match (inner_path, identities) {
        (Some(_), None) => None,
        (Some(_), Some(ids)) => Some(match ids.decrypt(&mut stored) {
            Err(e) => Err(e),
            Ok(plain) => content_digest(plain, compressed, copy),
        }),
        (None, _) => match copy {
            Some(out) => {
                let tee = Tee {
                    inner: &mut stored,
                    out,
                };
                Some(content_digest(tee, compressed, None))
            }
            None if compressed => Some(decompressed_digest(&mut stored)),
            None => None,
        },
    };
    // Whatever the decoder left unread (trailing bytes, or all of it after an error) still
    // counts as stored bytes.
    io::copy(&mut stored, &mut io::sink()).map_err(|e| format!("reading: {e}"))?;
    Ok(Measurement {
        stored: (stored.bytes, hex(&stored.hasher.finalize())),
        raw,
    })
}

/// The raw digest of content that may be compressed, copying what is read to `copy`.
fn content_digest<R: Read>(
    content: R,
    compressed: bool,
    copy: Option<&mut dyn Write>,
) -> Result<Measured, String> {
    let mut sink = io::sink();
    let out: &mut dyn Write = match copy {
        Some(c) => c,
        None => &mut sink,
    };
    let mut tee = Tee {
        inner: content,
        out,
    };
    let res = if compressed {
        decompressed_digest(&mut tee)
    } else {
        plain_digest(&mut tee)
    };
    // Whatever follows the compressed stream is copied too (and fails the raw check below
    // only through the decoder's own error).
    io::copy(&mut tee, &mut io::sink()).map_err(|e| format!("reading: {e}"))?;
    res
}

fn plain_digest<R: Read>(r: &mut R) -> Result<Measured, String> {
    let mut h = HashingReader {
        inner: r,
        hasher: Sha256::new(),
        bytes: 0,
    };
    io::copy(&mut h, &mut io::sink()).map_err(|e| format!("reading: {e}"))?;
    Ok((h.bytes, hex(&h.hasher.finalize())))
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

/// What to check beyond the stored hashes.
#[derive(Debug, Default)]
pub struct Checks<'a> {
    /// The manifest_sha256 from the summary line kept outside the host.
    pub manifest_sha256: Option<&'a str>,
    /// The key the manifest must be signed with (the summary's or the team's).
    pub public_key: Option<PublicKey>,
    /// age identities: encrypted objects are decrypted and their raw hashes checked.
    pub identities: Option<&'a Identities>,
}

/// Verifies a collection. `expected_manifest_sha256` (from the summary line kept outside the
/// host) also proves the manifest itself unchanged.
pub fn verify(reader: &dyn CollectionReader, expected_manifest_sha256: Option<&str>) -> Report {
    check(
        reader,
        &Checks {
            manifest_sha256: expected_manifest_sha256,
            ..Checks::default()
        },
        None,
    )
}

/// Decrypts a collection into `out` (a new directory): every object is checked as
/// [`check`] does and written there with `.age` removed (its plaintext, still compressed);
/// the manifest and its signature are copied as stored.
pub fn decrypt(reader: &dyn CollectionReader, checks: &Checks<'_>, out: &DirSink) -> Report {
    check(reader, checks, Some(out))
}

/// Verifies a collection against its manifest, the manifest against its signature (and the
/// expected hash), and, with identities, the plaintext of encrypted objects; with `out`,
/// writes what it read there.
pub fn check(reader: &dyn CollectionReader, checks: &Checks<'_>, out: Option<&DirSink>) -> Report {
    let expected_manifest_sha256 = checks.manifest_sha256;
    let mut report = Report {
        location: reader.location(),
        manifest_sha256: None,
        signature: "missing".into(),
        signature_public_key: None,
        decrypted: 0,
        ciphertext_only: 0,
        checked: 0,
        in_bucket: 0,
        plaintext_copies: 0,
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
        report.notes.push(format!("{MANIFEST_PATH}: {}", d.text));
    }
    let sig = check_signature(reader, &manifest, &body, checks.public_key, &mut report);
    if let Some(out) = out {
        copy_object(out, MANIFEST_PATH, &body, &mut report);
        if let Some(sig) = &sig {
            copy_object(out, SIGNATURE_PATH, sig, &mut report);
        }
    }

    // A fallback collection: what reached the bucket first is not beside this manifest.
    let in_bucket: HashSet<&str> = manifest
        .collector
        .fallback
        .as_ref()
        .filter(|f| f.bucket.trim_end_matches('/') != reader.location().trim_end_matches('/'))
        .map(|f| f.uploaded.iter().map(String::as_str).collect())
        .unwrap_or_default();
    // Version ids hold only where the collector stored the objects; a copy elsewhere (another
    // prefix or bucket) has versions of its own, so there the current objects are checked.
    let original =
        manifest.collector.sink.trim_end_matches('/') == reader.location().trim_end_matches('/');
    let mut listed: HashSet<String> = HashSet::new();
    listed.insert(MANIFEST_PATH.to_owned());
    listed.insert(SIGNATURE_PATH.to_owned());
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
        // The version the manifest recorded is the evidence (locked at upload); a newer
        // version over it is named below.
        let recorded_version = a.version_id.as_deref().filter(|_| original);
        let opened = match recorded_version {
            Some(v) => reader.open_version(path, v),
            None => reader.open(path),
        };
        let (r, plaintext) = match opened {
            Ok(r) => (r, None),
            Err(SinkError::Io { source, .. })
                if source.kind() == io::ErrorKind::NotFound && in_bucket.contains(path) =>
            {
                report.in_bucket += 1;
                continue;
            }
            Err(e) => {
                let not_found = matches!(&e, SinkError::Io { source, .. }
                    if source.kind() == io::ErrorKind::NotFound);
                // A decrypted copy (`vestige decrypt`) holds the plaintext of `X.age` as `X`.
                let copy = path
                    .strip_suffix(AGE_SUFFIX)
                    .filter(|_| not_found)
                    .and_then(|plain| reader.open(plain).ok().map(|r| (plain, r)));
                if let Some((plain, r)) = copy {
                    listed.insert(plain.to_owned());
                    (r, Some(plain))
                } else {
                    let cause = match &e {
                        _ if not_found => format!("missing: {e}"),
                        SinkError::Remote(_) => format!("missing: {e}"),
                        _ => format!("unreadable: {e}"),
                    };
                    problem(&mut report, path, cause);
                    continue;
                }
            }
        };
        let before = report.problems.len();
        if let Some(plain) = plaintext {
            report.plaintext_copies += 1;
            match measure(r, plain, None, None) {
                Err(e) => problem(&mut report, plain, e),
                Ok(Measurement { raw, .. }) => match raw {
                    Some(Ok((raw_size, raw_sha))) => {
                        if Some(raw_size) != a.raw_bytes
                            || Some(raw_sha.as_str()) != a.raw_sha256.as_deref()
                        {
                            problem(
                                &mut report,
                                plain,
                                format!(
                                    "decrypted copy: raw {raw_size} bytes, sha256 {raw_sha} differ \
                                     from the manifest's {:?} bytes, {:?}",
                                    a.raw_bytes, a.raw_sha256
                                ),
                            );
                        }
                    }
                    Some(Err(e)) => problem(&mut report, plain, e),
                    None => problem(
                        &mut report,
                        plain,
                        "decrypted copy: content cannot be read back to its raw hash".into(),
                    ),
                },
            }
            if report.problems.len() == before {
                report.matched.push(plain.to_owned());
            }
            continue;
        }
        let encrypted = path.ends_with(AGE_SUFFIX);
        let out_path = path.strip_suffix(AGE_SUFFIX).unwrap_or(path);
        let mut copy = match out.map(|o| o.create(out_path)) {
            None => None,
            Some(Ok(obj)) => Some(obj),
            Some(Err(e)) => {
                problem(&mut report, path, format!("cannot write the copy: {e}"));
                continue;
            }
        };
        let measured = measure(
            r,
            path,
            checks.identities,
            copy.as_mut().map(|c| c as &mut dyn Write),
        );
        if encrypted {
            if checks.identities.is_some() {
                report.decrypted += 1;
            } else {
                report.ciphertext_only += 1;
            }
        }
        match measured {
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
        let facts = reader.describe(path);
        if let (Some(want), Some(current)) = (
            recorded_version,
            facts.as_ref().and_then(|f| f.version_id.as_deref()),
        ) {
            if want != current {
                problem(
                    &mut report,
                    path,
                    format!(
                        "current version {current} is not the manifest's version {want}: \
                         a newer version was uploaded over it"
                    ),
                );
            }
        }
        if report.problems.len() == before {
            report.matched.push(path.to_owned());
        }
        if let Some(obj) = copy {
            // The copy is kept even when a check failed: the problem is in the report.
            let digest = ObjectDigest {
                raw_bytes: a.raw_bytes.unwrap_or(0),
                raw_sha256: a.raw_sha256.clone().unwrap_or_default(),
                stored_bytes: 0,
                stored_sha256: String::new(),
            };
            if let Err(e) = obj.commit(&digest) {
                problem(&mut report, path, format!("cannot write the copy: {e}"));
            }
        }
        if let Some(d) = facts {
            report.notes.push(format!("{path}: {}", d.text));
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
    if let Some(f) = manifest
        .collector
        .fallback
        .as_ref()
        .filter(|_| report.in_bucket > 0)
    {
        report.notes.push(format!(
            "{} objects were uploaded to {} before the bucket failed and are not here; \
             verify them there",
            report.in_bucket, f.bucket
        ));
    }
    if report.plaintext_copies > 0 {
        report.notes.push(format!(
            "{} objects are the plaintext of a decrypted copy: their raw hashes were checked \
             against the signed manifest (the ciphertext it also hashes is not here)",
            report.plaintext_copies
        ));
    }
    if report.ciphertext_only > 0 {
        report.notes.push(format!(
            "{} encrypted objects: ciphertext checked; pass --identity to decrypt and check their raw hashes too",
            report.ciphertext_only
        ));
    }
    report
}

/// Writes one whole object to the decrypted copy.
fn copy_object(out: &DirSink, path: &str, bytes: &[u8], report: &mut Report) {
    let res = out.create(path).and_then(|mut obj| {
        obj.write_all(bytes)
            .map_err(|e| SinkError::io(format!("writing {path}"), e))?;
        let sha = hex(&Sha256::digest(bytes));
        obj.commit(&ObjectDigest {
            raw_bytes: bytes.len() as u64,
            raw_sha256: sha.clone(),
            stored_bytes: bytes.len() as u64,
            stored_sha256: sha,
        })
    });
    if let Err(e) = res {
        report.problems.push(Problem {
            path: path.to_owned(),
            cause: format!("cannot write the copy: {e}"),
        });
    }
}

/// Checks `manifest.json.sig` over the exact manifest bytes. With `pinned` (from
/// `--public-key`) the signature must verify with that key; without it, with the key the
/// manifest names, which proves integrity but not who signed (the manifest could have been
/// rewritten and re-signed with another key): the report says which.
fn check_signature(
    reader: &dyn CollectionReader,
    manifest: &Manifest,
    body: &[u8],
    pinned: Option<PublicKey>,
    report: &mut Report,
) -> Option<Vec<u8>> {
    let mut sig = Vec::new();
    let read = reader
        .open(SIGNATURE_PATH)
        .and_then(|r| {
            r.take(MAX_SIGNATURE)
                .read_to_end(&mut sig)
                .map_err(|e| SinkError::io(format!("reading {SIGNATURE_PATH}"), e))
        })
        .map(|_| ());
    let named = match manifest
        .signature
        .as_ref()
        .map(|s| s.public_key.parse::<PublicKey>())
    {
        None => None,
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => {
            report.problems.push(Problem {
                path: MANIFEST_PATH.to_owned(),
                cause: format!("signature.public_key does not parse: {e}"),
            });
            None
        }
    };
    let problem = |report: &mut Report, cause: String| {
        report.problems.push(Problem {
            path: SIGNATURE_PATH.to_owned(),
            cause,
        });
    };
    if let Err(e) = read {
        if pinned.is_some() || manifest.signature.is_some() {
            report.signature = "missing".into();
            problem(report, format!("missing or unreadable: {e}"));
        } else {
            report.signature = "unsigned".into();
            report
                .notes
                .push("the manifest is not signed (made by a vestige without signing)".into());
        }
        return None;
    }
    let Some(key) = pinned.or(named) else {
        report.signature = "invalid".into();
        problem(
            report,
            "the manifest names no signing key; pass --public-key to check the signature".into(),
        );
        return Some(sig);
    };
    report.signature_public_key = Some(key.to_string());
    if !key.verifies(body, &sig) {
        report.signature = "invalid".into();
        let whose = if pinned.is_some() {
            "the given public key"
        } else {
            "the public key the manifest names"
        };
        problem(
            report,
            format!("signature does not verify over manifest.json with {whose} {key}"),
        );
        return Some(sig);
    }
    if pinned.is_some() {
        report.signature = "valid".into();
    } else {
        report.signature = "valid_unpinned".into();
        report.notes.push(format!(
            "signature valid for the key the manifest itself names ({key}); pass --public-key with the summary line's signing_public_key or the team's key to prove who signed"
        ));
    }
    if let (Some(p), Some(n)) = (pinned, named) {
        if p != n {
            report.notes.push(format!(
                "the manifest names signing key {n}, but the signature verifies with the given key {p}"
            ));
        }
    }
    Some(sig)
}
