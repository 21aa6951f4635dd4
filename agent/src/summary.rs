//! The one-line JSON summary printed last on stdout (SSM keeps it outside the host).

use crate::manifest::Manifest;
use serde::Serialize;
use std::time::Duration;

/// SSM's plugin output limit; the summary must stay under it.
pub const MAX_SUMMARY_CHARS: usize = 2500;

/// The summary line.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Collection id.
    pub collection_id: String,
    /// Host id.
    pub host_id: String,
    /// Collection root (directory or `s3://` URI).
    pub location: String,
    /// SHA-256 of manifest.json as stored.
    pub manifest_sha256: String,
    /// Artifacts listed in the manifest.
    pub artifacts: usize,
    /// Artifacts with status `error`.
    pub errors: usize,
    /// Artifacts with status `partial`.
    pub partial: usize,
    /// Artifacts with status `skipped`.
    pub skipped: usize,
    /// Wall time, milliseconds.
    pub duration_ms: u64,
    /// Why the run stopped early, if it did.
    pub interrupted: Option<String>,
}

impl Summary {
    /// Builds the summary of a finished run.
    pub fn new(m: &Manifest, location: &str, manifest_sha256: &str, elapsed: Duration) -> Self {
        let c = m.counts();
        let mut location = location.to_owned();
        if location.len() > 1500 {
            location.truncate(1500);
        }
        Self {
            collection_id: m.collection_id.clone(),
            host_id: m.host_id.clone(),
            location,
            manifest_sha256: manifest_sha256.to_owned(),
            artifacts: m.artifacts.len(),
            errors: c.errors,
            partial: c.partial,
            skipped: c.skipped,
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            interrupted: m.collector.interrupted.clone(),
        }
    }

    /// The JSON line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}
