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
    /// Public key of the manifest's signature (base64 of the raw Ed25519 key): keep it with
    /// `manifest_sha256` and pass it to `vestige verify --public-key`.
    pub signing_public_key: Option<String>,
    /// `provided` (the team's key) or `ephemeral` (generated for this collection).
    pub signing_key: Option<String>,
    /// Whether the artifacts are encrypted (age).
    pub encrypted: bool,
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
            signing_public_key: m.signature.as_ref().map(|s| s.public_key.clone()),
            signing_key: m.signature.as_ref().map(|s| s.key.clone()),
            encrypted: m.encryption.is_some(),
        }
    }

    /// The JSON line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}
