//! The one artifact pipeline: raw bytes → SHA-256 → zstd → (age encryption) → SHA-256 →
//! sink.
//!
//! Nothing else in vestige hashes, compresses or encrypts evidence. Bytes stream through; no
//! artifact is held whole in memory. `raw_sha256` covers the plaintext before compression;
//! `stored_sha256` covers the object exactly as stored (the age ciphertext when encrypted).

use crate::custody::{Recipients, AGE_SUFFIX};
use crate::sink::{CommitInfo, ObjectDigest, Sink, SinkError, SinkObject};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::sync::Arc;
use thiserror::Error;

/// A failure inside the pipeline.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// The sink refused or failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// Compressing or writing failed.
    #[error("writing {path}: {source}")]
    Write {
        /// Object path.
        path: String,
        /// Cause.
        source: io::Error,
    },
    /// A record could not be serialized.
    #[error("serializing a record: {0}")]
    Json(#[from] serde_json::Error),
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Counts and hashes what passes through to the sink object.
struct StoredSide {
    object: Box<dyn SinkObject>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for StoredSide {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.object.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.hasher.update(written);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.object.flush()
    }
}

/// The encryption layer, between compression and the stored side.
enum Sealed {
    /// An age stream to the collection's recipients.
    Age(Box<age::stream::StreamWriter<StoredSide>>),
    /// No encryption.
    Clear(StoredSide),
}

impl Write for Sealed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sealed::Age(w) => w.write(buf),
            Sealed::Clear(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sealed::Age(w) => w.flush(),
            Sealed::Clear(w) => w.flush(),
        }
    }
}

impl Sealed {
    /// Writes the last age chunk (its authentication tag) and returns the stored side.
    fn finish(self) -> io::Result<StoredSide> {
        match self {
            Sealed::Age(w) => w.finish(),
            Sealed::Clear(w) => Ok(w),
        }
    }
}

enum Stage {
    Zstd(zstd::stream::write::Encoder<'static, Sealed>),
    Plain(Sealed),
}

/// Bytes per zstd compression job of a byte artifact compressed on a worker thread (the
/// library's minimum is 512 KiB): small jobs keep the encoder's buffers small.
const COMPRESSION_JOB_BYTES: u32 = 1 << 20;

/// Bytes per zstd compression job of a bulk stream on several workers (a file group's tar):
/// each job starts by loading the end of the previous one as history, a cost that larger jobs
/// spread over more bytes. On 1 GB of logs 2 MiB jobs ran 5% faster than 1 MiB ones, and
/// 4 MiB ones 0.84x the speed of `zstd -3 -T2` against 0.79-0.82x for 2 MiB, for a peak RSS
/// of 38 MiB instead of 24. Beside a sink that already holds more than [`BULK_SINK_LIMIT`]
/// (S3 parts in flight), bulk streams keep 1 MiB jobs.
const BULK_COMPRESSION_JOB_BYTES: u32 = 4 << 20;

/// Sink buffering above which bulk streams keep small compression jobs.
const BULK_SINK_LIMIT: u64 = 8 << 20;

/// The zstd job size of a bulk stream beside a sink holding `sink_buffered` bytes.
fn bulk_job_bytes(sink_buffered: u64) -> u32 {
    if sink_buffered > BULK_SINK_LIMIT {
        COMPRESSION_JOB_BYTES
    } else {
        BULK_COMPRESSION_JOB_BYTES
    }
}

/// How an artifact's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zstd at the given level.
    Zstd(i32),
    /// Stored as read (the manifest).
    None,
}

/// How an artifact's bytes are turned into the stored object: compression, then optionally
/// age encryption to the collection's recipients.
#[derive(Debug, Clone)]
pub struct Encoding {
    /// Compression (first).
    pub compression: Compression,
    /// Compression of record streams (JSON lines), which may differ.
    pub record_compression: Compression,
    /// Recipients to encrypt to (second); `None` stores the compressed bytes as they are.
    pub encryption: Option<Arc<Recipients>>,
    /// zstd worker threads (0: compressed on the writing thread).
    pub zstd_workers: u32,
}

/// zstd workers of a byte artifact (an executable, a memory dump): one, so the collector reads
/// on while its last bytes are compressed.
const BYTE_ZSTD_WORKERS: u32 = 1;

impl From<Compression> for Encoding {
    fn from(compression: Compression) -> Self {
        Self {
            compression,
            record_compression: compression,
            encryption: None,
            zstd_workers: BYTE_ZSTD_WORKERS,
        }
    }
}

impl Encoding {
    /// Compression then encryption to `recipients` (none when the list is empty).
    pub fn new(compression: Compression, recipients: Option<Arc<Recipients>>) -> Self {
        Self {
            compression,
            record_compression: compression,
            encryption: recipients.filter(|r| !r.is_empty()),
            zstd_workers: BYTE_ZSTD_WORKERS,
        }
    }

    /// The same, with record streams compressed as `record_compression` says.
    pub fn with_record_compression(mut self, record_compression: Compression) -> Self {
        self.record_compression = record_compression;
        self
    }

    /// The encoding of a record stream: compressed on the thread that writes it. A worker
    /// thread would copy every line into buffers of its own (1 MiB jobs, touched fresh for each
    /// artifact) and be woken for each job, while the collector's threads keep the CPUs busy
    /// anyway: on 2,000 processes the run's peak RSS fell from 20-22 MiB to 15-16 MiB and its
    /// page faults from 10,600 to 6,300 without it, in the same time.
    pub fn for_records(&self) -> Self {
        Self {
            compression: self.record_compression,
            zstd_workers: 0,
            ..self.clone()
        }
    }
}

/// What the stored object is, relative to the raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredForm {
    /// zstd-compressed.
    pub compressed: bool,
    /// age-encrypted (after compression).
    pub encrypted: bool,
}

impl StoredForm {
    /// The transformations from raw to stored, in order: `zstd+age`, `zstd`, `age` or
    /// `none`.
    pub fn encoding(&self) -> &'static str {
        match (self.compressed, self.encrypted) {
            (true, true) => "zstd+age",
            (true, false) => "zstd",
            (false, true) => "age",
            (false, false) => "none",
        }
    }

    /// What `stored_sha256` is a hash of: `ciphertext`, `compressed` or `plaintext`.
    pub fn stored_is(&self) -> &'static str {
        match (self.compressed, self.encrypted) {
            (_, true) => "ciphertext",
            (true, false) => "compressed",
            (false, false) => "plaintext",
        }
    }
}

/// Writes one artifact: hashes the raw bytes, compresses, encrypts, hashes what is stored.
pub struct ArtifactWriter {
    path: String,
    /// zstd job size if the stream goes multi-worker ([`ArtifactWriter::with_workers`]).
    bulk_job: u32,
    raw_hasher: Sha256,
    raw_bytes: u64,
    stage: Stage,
    form: StoredForm,
    clock_start: crate::clock::ClockReading,
}

/// A completed artifact: its hashes and what the sink reported.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Object path relative to the collection root.
    pub path: String,
    /// Hashes and sizes.
    pub digest: ObjectDigest,
    /// Sink's answer (e.g. a version id).
    pub commit: CommitInfo,
    /// How the stored bytes relate to the raw ones.
    pub form: StoredForm,
    /// The host's clocks when the object was opened.
    pub clock_start: crate::clock::ClockReading,
    /// The host's clocks when it was complete.
    pub clock_end: crate::clock::ClockReading,
}

impl ArtifactWriter {
    /// Opens `path` on `sink` (`path` + `.age` when the encoding encrypts).
    pub fn create(
        sink: &dyn Sink,
        path: &str,
        encoding: impl Into<Encoding>,
    ) -> Result<Self, PipelineError> {
        let encoding = encoding.into();
        let clock_start = crate::clock::read();
        let path = match encoding.encryption {
            Some(_) => format!("{path}{AGE_SUFFIX}"),
            None => path.to_owned(),
        };
        let path = path.as_str();
        let werr = |source| PipelineError::Write {
            path: path.to_owned(),
            source,
        };
        let object = sink.create(path)?;
        let stored = StoredSide {
            object,
            hasher: Sha256::new(),
            bytes: 0,
        };
        let sealed = match &encoding.encryption {
            Some(recipients) => {
                let enc = recipients
                    .encryptor()
                    .map_err(|e| werr(io::Error::other(e)))?;
                Sealed::Age(Box::new(enc.wrap_output(stored).map_err(werr)?))
            }
            None => Sealed::Clear(stored),
        };
        let form = StoredForm {
            compressed: matches!(encoding.compression, Compression::Zstd(_)),
            encrypted: encoding.encryption.is_some(),
        };
        let stage = match encoding.compression {
            Compression::Zstd(level) => {
                let mut enc = zstd::stream::write::Encoder::new(sealed, level).map_err(werr)?;
                if encoding.zstd_workers > 0 {
                    // Worker threads compress while the collector keeps producing; small
                    // jobs keep the encoder's buffers (and so our memory) small.
                    enc.multithread(encoding.zstd_workers).map_err(werr)?;
                    enc.set_parameter(zstd::stream::raw::CParameter::JobSize(
                        COMPRESSION_JOB_BYTES,
                    ))
                    .map_err(werr)?;
                }
                Stage::Zstd(enc)
            }
            Compression::None => Stage::Plain(sealed),
        };
        Ok(Self {
            path: path.to_owned(),
            raw_hasher: Sha256::new(),
            raw_bytes: 0,
            bulk_job: bulk_job_bytes(sink.buffered_bytes()),
            stage,
            form,
            clock_start,
        })
    }

    /// Lets zstd compress on `workers` threads of its own (0: on the caller's thread). Call
    /// before writing. Returns whether zstd took the setting; when it refuses, the artifact is
    /// compressed as its encoding said.
    pub fn with_workers(&mut self, workers: u32) -> bool {
        match &mut self.stage {
            Stage::Zstd(enc) if self.raw_bytes == 0 => {
                enc.multithread(workers).is_ok()
                    && (workers == 0
                        || enc
                            .set_parameter(zstd::stream::raw::CParameter::JobSize(self.bulk_job))
                            .is_ok())
            }
            _ => false,
        }
    }

    /// The object path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Raw bytes written so far.
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Writes raw bytes.
    pub fn write_raw(&mut self, buf: &[u8]) -> Result<(), PipelineError> {
        self.raw_hasher.update(buf);
        self.raw_bytes += buf.len() as u64;
        let res = match &mut self.stage {
            Stage::Zstd(enc) => enc.write_all(buf),
            Stage::Plain(w) => w.write_all(buf),
        };
        res.map_err(|source| PipelineError::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// Flushes compression, commits the object, and returns its hashes.
    pub fn finish(self) -> Result<Finished, PipelineError> {
        let path = self.path;
        let werr = |source| PipelineError::Write {
            path: path.clone(),
            source,
        };
        let sealed = match self.stage {
            Stage::Zstd(enc) => enc.finish().map_err(werr)?,
            Stage::Plain(w) => w,
        };
        let stored = sealed.finish().map_err(werr)?;
        let digest = ObjectDigest {
            raw_bytes: self.raw_bytes,
            raw_sha256: hex(&self.raw_hasher.finalize()),
            stored_bytes: stored.bytes,
            stored_sha256: hex(&stored.hasher.finalize()),
        };
        let commit = stored.object.commit(&digest)?;
        let clock_end = crate::clock::read();
        Ok(Finished {
            path,
            digest,
            commit,
            form: self.form,
            clock_start: self.clock_start,
            clock_end,
        })
    }
}

impl Write for ArtifactWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_raw(buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Streams JSON records, one per line, into an [`ArtifactWriter`].
pub struct RecordWriter {
    inner: ArtifactWriter,
    buf: Vec<u8>,
    records: u64,
}

const RECORD_BUFFER: usize = 256 * 1024;

/// Batches of serialized lines at least this large skip the record buffer.
const DIRECT_LINES: usize = 32 * 1024;

impl RecordWriter {
    /// Wraps an artifact writer.
    pub fn new(inner: ArtifactWriter) -> Self {
        Self {
            inner,
            buf: Vec::with_capacity(RECORD_BUFFER + 4096),
            records: 0,
        }
    }

    /// Appends one record.
    pub fn write<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<(), PipelineError> {
        serde_json::to_writer(&mut self.buf, record)?;
        self.buf.push(b'\n');
        self.records += 1;
        if self.buf.len() >= RECORD_BUFFER {
            self.inner.write_raw(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Appends `count` records already serialized as JSON lines (each ending in `\n`), e.g.
    /// by worker threads.
    pub fn write_lines(&mut self, lines: &[u8], count: u64) -> Result<(), PipelineError> {
        self.records += count;
        if self.buf.is_empty() && lines.len() >= DIRECT_LINES {
            // Large enough to hash and compress as it is, without a copy.
            return self.inner.write_raw(lines);
        }
        self.buf.extend_from_slice(lines);
        if self.buf.len() >= RECORD_BUFFER {
            self.inner.write_raw(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and commits; returns the artifact and its record count.
    pub fn finish(mut self) -> Result<(Finished, u64), PipelineError> {
        if !self.buf.is_empty() {
            self.inner.write_raw(&self.buf)?;
        }
        let records = self.records;
        Ok((self.inner.finish()?, records))
    }
}

/// SHA-256 of everything `reader` yields, with its length. Reads in 256 KiB blocks.
pub fn sha256_reader<R: io::Read>(mut reader: R, limit: Option<u64>) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total: u64 = 0;
    loop {
        let want = match limit {
            Some(l) => {
                let left = l.saturating_sub(total);
                if left == 0 {
                    break;
                }
                usize::try_from(left).unwrap_or(usize::MAX).min(buf.len())
            }
            None => buf.len(),
        };
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = match reader.read(chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(chunk.get(..n).unwrap_or_default());
        total += n as u64;
    }
    Ok((hex(&hasher.finalize()), total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::dir::DirSink;
    use std::io::Read;

    /// 10,000 records written through zstd hash to the SHA-256 and size of both the stored file and
    /// its decompressed bytes, and compress.
    #[test]
    fn hashes_raw_and_stored_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let sink = DirSink::create_root(&tmp.path().join("c")).unwrap();
        let mut w = RecordWriter::new(
            ArtifactWriter::create(&sink, "artifacts/x.jsonl.zst", Compression::Zstd(3)).unwrap(),
        );
        for i in 0..10_000u32 {
            w.write(&serde_json::json!({"i": i, "s": "text\nwith newline"}))
                .unwrap();
        }
        let (fin, records) = w.finish().unwrap();
        assert_eq!(records, 10_000);
        let stored = std::fs::read(sink.root().join("artifacts/x.jsonl.zst")).unwrap();
        assert_eq!(fin.digest.stored_bytes, stored.len() as u64);
        assert_eq!(fin.digest.stored_sha256, hex(&Sha256::digest(&stored)));
        let mut raw = Vec::new();
        zstd::stream::read::Decoder::new(&stored[..])
            .unwrap()
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(fin.digest.raw_bytes, raw.len() as u64);
        assert_eq!(fin.digest.raw_sha256, hex(&Sha256::digest(&raw)));
        let lines: Vec<&str> = std::str::from_utf8(&raw).unwrap().lines().collect();
        assert_eq!(lines.len(), 10_000);
        assert!(stored.len() < raw.len() / 4, "compressed");
    }

    /// Bulk compression jobs shrink to the small size beside a sink that holds upload parts in
    /// memory.
    #[test]
    fn bulk_streams_keep_small_jobs_beside_a_sink_holding_upload_parts() {
        assert_eq!(bulk_job_bytes(0), BULK_COMPRESSION_JOB_BYTES);
        // S3's default: 2 parts in flight and one being filled, 8 MiB each.
        assert_eq!(bulk_job_bytes(3 * (8 << 20)), COMPRESSION_JOB_BYTES);
    }

    /// Multithreaded zstd output decodes to the bytes written, and both hashes match.
    #[test]
    fn multithreaded_compression_decodes_to_the_same_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let sink = DirSink::create_root(&tmp.path().join("c")).unwrap();
        let mut w =
            ArtifactWriter::create(&sink, "artifacts/mt.bin.zst", Compression::Zstd(3)).unwrap();
        assert!(w.with_workers(2), "zstd built with multithreading");
        let mut raw = Vec::new();
        for i in 0..400_000u32 {
            raw.extend_from_slice(format!("line {i} of a log\n").as_bytes());
        }
        for chunk in raw.chunks(100_000) {
            w.write_raw(chunk).unwrap();
        }
        let fin = w.finish().unwrap();
        let stored = std::fs::read(sink.root().join("artifacts/mt.bin.zst")).unwrap();
        assert_eq!(fin.digest.stored_sha256, hex(&Sha256::digest(&stored)));
        let back = zstd::decode_all(&stored[..]).unwrap();
        assert_eq!(back, raw);
        assert_eq!(fin.digest.raw_sha256, hex(&Sha256::digest(&raw)));
    }

    /// Threads of this process named `name` (a thread's name passes to the threads it starts).
    fn threads_named(name: &str) -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|comm| comm.trim_end() == name)
            .count()
    }

    /// Writes 3 MiB through a writer of `encoding` on a thread of its own name and returns how
    /// many threads bore that name while the artifact was open (1: compressed on the writing
    /// thread), after checking the stored bytes decode to the raw ones.
    fn threads_while_writing(
        encoding: Encoding,
        workers: Option<u32>,
        name: &'static str,
    ) -> usize {
        let tmp = tempfile::tempdir().unwrap();
        let sink = DirSink::create_root(&tmp.path().join("c")).unwrap();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut w = ArtifactWriter::create(&sink, "artifacts/t.zst", encoding).unwrap();
                if let Some(n) = workers {
                    assert!(w.with_workers(n));
                }
                let raw: Vec<u8> = (0..3u32 << 20).map(|i| (i % 7919 % 251) as u8).collect();
                w.write_raw(&raw).unwrap();
                let seen = threads_named(name);
                w.finish().unwrap();
                let stored = std::fs::read(sink.root().join("artifacts/t.zst")).unwrap();
                assert_eq!(zstd::decode_all(&stored[..]).unwrap(), raw);
                seen
            })
            .unwrap()
            .join()
            .unwrap()
    }

    /// Record streams are compressed on the thread that writes them (no zstd worker copying
    /// every line into buffers of its own); byte artifacts keep one worker, and a stream asked
    /// for 0 workers (a file group's `zstd_workers: 0`) gets none.
    #[test]
    fn record_streams_compress_on_the_writing_thread() {
        let bytes = Encoding::from(Compression::Zstd(1));
        assert_eq!(
            threads_while_writing(bytes.for_records(), None, "vst-records"),
            1
        );
        assert_eq!(threads_while_writing(bytes.clone(), None, "vst-bytes"), 2);
        assert_eq!(threads_while_writing(bytes.clone(), Some(0), "vst-zero"), 1);
        assert_eq!(threads_while_writing(bytes, Some(2), "vst-two"), 3);
    }

    /// An uncompressed artifact has equal raw and stored hashes, those of its bytes.
    #[test]
    fn uncompressed_has_equal_hashes() {
        let tmp = tempfile::tempdir().unwrap();
        let sink = DirSink::create_root(&tmp.path().join("c")).unwrap();
        let mut w = ArtifactWriter::create(&sink, "manifest.json", Compression::None).unwrap();
        w.write_raw(b"{}").unwrap();
        let fin = w.finish().unwrap();
        assert_eq!(fin.digest.raw_sha256, fin.digest.stored_sha256);
        assert_eq!(fin.digest.raw_sha256, hex(&Sha256::digest(b"{}")));
    }

    /// [security] An age-encrypted artifact is stored as ciphertext under `.age`, hashed as stored,
    /// and decrypts and decompresses to the bytes written; no recipients means no encryption.
    #[test]
    fn encrypted_artifacts_hash_the_plaintext_and_the_ciphertext() {
        let tmp = tempfile::tempdir().unwrap();
        let sink = DirSink::create_root(&tmp.path().join("c")).unwrap();
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        let rs = Arc::new(Recipients::parse([recipient.as_str()]).unwrap());
        let enc = Encoding::new(Compression::Zstd(3), Some(rs));
        let mut w = ArtifactWriter::create(&sink, "artifacts/x.jsonl.zst", enc).unwrap();
        let mut raw = Vec::new();
        for i in 0..50_000u32 {
            raw.extend_from_slice(format!("{{\"i\":{i}}}\n").as_bytes());
        }
        for chunk in raw.chunks(7_000) {
            w.write_raw(chunk).unwrap();
        }
        let fin = w.finish().unwrap();
        assert_eq!(fin.path, "artifacts/x.jsonl.zst.age");
        assert_eq!(fin.form.encoding(), "zstd+age");
        assert_eq!(fin.form.stored_is(), "ciphertext");
        let stored = std::fs::read(sink.root().join(&fin.path)).unwrap();
        assert!(stored.starts_with(b"age-encryption.org/v1\n"));
        assert_eq!(fin.digest.stored_sha256, hex(&Sha256::digest(&stored)));
        assert_eq!(fin.digest.stored_bytes, stored.len() as u64);
        let dec = age::Decryptor::new(&stored[..]).unwrap();
        let mut plain = Vec::new();
        dec.decrypt(std::iter::once(&id as &dyn age::Identity))
            .unwrap()
            .read_to_end(&mut plain)
            .unwrap();
        let back = zstd::decode_all(&plain[..]).unwrap();
        assert_eq!(back, raw);
        assert_eq!(fin.digest.raw_sha256, hex(&Sha256::digest(&raw)));
        // Without recipients nothing is encrypted and the name is unchanged.
        let enc = Encoding::new(
            Compression::Zstd(3),
            Some(Arc::new(Recipients::parse([]).unwrap())),
        );
        let w = ArtifactWriter::create(&sink, "artifacts/y.jsonl.zst", enc).unwrap();
        let fin = w.finish().unwrap();
        assert_eq!(fin.path, "artifacts/y.jsonl.zst");
        assert_eq!(fin.form.stored_is(), "compressed");
    }

    /// Hashing a reader stops at the given limit, or reads to the end without one.
    #[test]
    fn sha256_reader_honours_limit() {
        let data = vec![7u8; 1_000_000];
        let (h, n) = sha256_reader(&data[..], Some(1000)).unwrap();
        assert_eq!(n, 1000);
        assert_eq!(h, hex(&Sha256::digest(&data[..1000])));
        let (_, n) = sha256_reader(&data[..], None).unwrap();
        assert_eq!(n, 1_000_000);
    }
}
