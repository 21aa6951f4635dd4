//! Where stored bytes go. A sink knows nothing of collectors; collectors know nothing of sinks.
//!
//! Every object is written through [`Sink::create`] and becomes visible under its final name
//! only when [`SinkObject::commit`] succeeds. An object dropped without commit is discarded
//! (a directory sink removes its temporary file; an S3 sink aborts its multipart upload), so
//! a partial object is never presented as complete.

pub mod dir;
#[cfg(feature = "s3")]
pub mod s3;

use std::io::{self, Read, Write};
use thiserror::Error;

/// Hashes of one stored object, computed by the pipeline while the bytes went through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDigest {
    /// Bytes before compression.
    pub raw_bytes: u64,
    /// Lowercase hex SHA-256 of the bytes before compression.
    pub raw_sha256: String,
    /// Bytes as stored.
    pub stored_bytes: u64,
    /// Lowercase hex SHA-256 of the bytes as stored.
    pub stored_sha256: String,
}

/// What a sink reports back about a committed object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitInfo {
    /// Object version id, when the sink versions objects.
    pub version_id: Option<String>,
}

/// A failure to store bytes.
#[derive(Debug, Error)]
pub enum SinkError {
    /// The object path is not a safe relative path.
    #[error("refused object path `{0}`: not a plain relative path")]
    BadPath(String),
    /// An I/O error on the destination.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A remote store refused or failed a request.
    #[error("{0}")]
    Remote(String),
}

impl SinkError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        SinkError::Io {
            context: context.into(),
            source,
        }
    }
}

/// A destination for one collection: a directory, or a prefix in a bucket.
pub trait Sink: Send + Sync {
    /// The collection root as users name it (a directory path or an `s3://` URI).
    fn location(&self) -> String;
    /// Where the collection's objects went, for the manifest's `collector.sink`: the location,
    /// and any other place holding some of them.
    fn destination(&self) -> String {
        self.location()
    }
    /// Starts a new object at `path`, relative to the collection root.
    fn create(&self, path: &str) -> Result<Box<dyn SinkObject>, SinkError>;
    /// Network endpoints this sink sent to or tried (for the manifest's footprint).
    fn endpoints(&self) -> Vec<crate::manifest::Endpoint> {
        Vec::new()
    }
    /// Bytes this sink holds in memory for one object being written (upload parts in
    /// flight): the pipeline keeps its own buffers smaller beside a sink that holds many.
    fn buffered_bytes(&self) -> u64 {
        0
    }
    /// When the destination failed and a fallback took over: the objects that reached the
    /// original destination first (recorded in the manifest so the rest can be verified).
    fn fallback(&self) -> Option<crate::manifest::FallbackInfo> {
        None
    }
    /// Called once after the manifest is committed: flush whatever is pending.
    fn close(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// An object being written. Bytes go in through [`Write`]; [`SinkObject::commit`] makes it
/// visible. Dropping it uncommitted discards it.
pub trait SinkObject: Write + Send {
    /// Completes the object; `digest` lets the sink attach vestige's own hashes.
    fn commit(self: Box<Self>, digest: &ObjectDigest) -> Result<CommitInfo, SinkError>;
}

/// Read access to a stored collection, for `verify`.
pub trait CollectionReader {
    /// The collection root as users name it.
    fn location(&self) -> String;
    /// Opens a stored object for reading.
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, SinkError>;
    /// Every object path under the root (relative), to find objects the manifest does not list.
    fn list(&self) -> Result<Vec<String>, SinkError>;
    /// Opens one version of a stored object (the manifest's `version_id`); stores without
    /// versions open the object itself.
    fn open_version(
        &self,
        path: &str,
        _version_id: &str,
    ) -> Result<Box<dyn Read + Send>, SinkError> {
        self.open(path)
    }
    /// Facts about an object's current version (version, lock mode, retain-until), when the
    /// store has them.
    fn describe(&self, _path: &str) -> Option<ObjectFacts> {
        None
    }
}

/// What a versioned store says about an object's current version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectFacts {
    /// The current version's id (`None` when the store did not say).
    pub version_id: Option<String>,
    /// One line for the report: version, lock mode, retain-until date, legal hold (or why
    /// they could not be read).
    pub text: String,
}

/// Checks that `path` is a plain relative path: `/`-separated components of
/// `[A-Za-z0-9._-]`, none empty, `.` or `..`. Every sink calls this before creating anything,
/// so no name that reaches a sink can escape the collection root.
pub fn check_relative_path(path: &str) -> Result<(), SinkError> {
    let ok = !path.is_empty()
        && path.len() <= 512
        && path.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(SinkError::BadPath(path.escape_debug().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::check_relative_path;

    /// [security] Object paths are plain relative paths: empty, absolute, `..`, `.`, doubled
    /// slashes, newlines, spaces and non-ASCII are refused.
    #[test]
    fn relative_paths_are_checked() {
        for good in [
            "manifest.json",
            "artifacts/processes.jsonl.zst",
            "artifacts/executables/ab12.bin.zst",
        ] {
            assert!(check_relative_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/./b",
            "a\nb",
            "a b",
            "a/",
            "é",
        ] {
            assert!(check_relative_path(bad).is_err(), "{bad:?}");
        }
    }
}
