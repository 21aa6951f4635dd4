//! The one artifact pipeline: raw bytes → SHA-256 → zstd → SHA-256 → sink.
//!
//! Nothing else in vestige hashes or compresses evidence. Bytes stream through; no artifact
//! is held whole in memory.

use crate::sink::{CommitInfo, ObjectDigest, Sink, SinkError, SinkObject};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{self, Write};
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

enum Stage {
    Zstd(zstd::stream::write::Encoder<'static, StoredSide>),
    Plain(StoredSide),
}

/// Bytes per zstd compression job (the library's minimum is 512 KiB).
const COMPRESSION_JOB_BYTES: u32 = 1 << 20;

/// How an artifact's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zstd at the given level.
    Zstd(i32),
    /// Stored as read (the manifest).
    None,
}

/// Writes one artifact: hashes the raw bytes, compresses, hashes what is stored.
pub struct ArtifactWriter {
    path: String,
    raw_hasher: Sha256,
    raw_bytes: u64,
    stage: Stage,
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
}

impl ArtifactWriter {
    /// Opens `path` on `sink`.
    pub fn create(
        sink: &dyn Sink,
        path: &str,
        compression: Compression,
    ) -> Result<Self, PipelineError> {
        let object = sink.create(path)?;
        let stored = StoredSide {
            object,
            hasher: Sha256::new(),
            bytes: 0,
        };
        let stage = match compression {
            Compression::Zstd(level) => {
                let werr = |source| PipelineError::Write {
                    path: path.to_owned(),
                    source,
                };
                let mut enc = zstd::stream::write::Encoder::new(stored, level).map_err(werr)?;
                // One worker thread compresses while the collector keeps producing; small
                // jobs keep the encoder's buffers (and so our memory) small.
                enc.multithread(1).map_err(werr)?;
                enc.set_parameter(zstd::stream::raw::CParameter::JobSize(
                    COMPRESSION_JOB_BYTES,
                ))
                .map_err(werr)?;
                Stage::Zstd(enc)
            }
            Compression::None => Stage::Plain(stored),
        };
        Ok(Self {
            path: path.to_owned(),
            raw_hasher: Sha256::new(),
            raw_bytes: 0,
            stage,
        })
    }

    /// Lets zstd compress on `workers` threads of its own (0: on the caller's thread). Call
    /// before writing. Returns whether multithreading took effect; when zstd refuses, the
    /// artifact is compressed on the caller's thread as before.
    pub fn with_workers(&mut self, workers: u32) -> bool {
        match &mut self.stage {
            Stage::Zstd(enc) if workers > 0 && self.raw_bytes == 0 => {
                enc.multithread(workers).is_ok()
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
        let stored = match self.stage {
            Stage::Zstd(enc) => enc.finish().map_err(|source| PipelineError::Write {
                path: path.clone(),
                source,
            })?,
            Stage::Plain(w) => w,
        };
        let digest = ObjectDigest {
            raw_bytes: self.raw_bytes,
            raw_sha256: hex(&self.raw_hasher.finalize()),
            stored_bytes: stored.bytes,
            stored_sha256: hex(&stored.hasher.finalize()),
        };
        let commit = stored.object.commit(&digest)?;
        Ok(Finished {
            path,
            digest,
            commit,
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
        self.buf.extend_from_slice(lines);
        self.records += count;
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
