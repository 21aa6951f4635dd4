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
        let location = clip(location, 1500);
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

/// The summary line of a run that could not store its manifest (exit 1): the collection and
/// where what was stored lies (when known), what failed, and the sink's account of what was
/// and was not stored. Long texts are cut (with `…`) so the line stays under
/// [`MAX_SUMMARY_CHARS`]; stderr carries them whole.
pub fn failure_line(
    collection_id: Option<&str>,
    location: Option<&str>,
    error: &str,
    detail: Option<&str>,
) -> String {
    serde_json::json!({
        "collection_id": collection_id,
        "location": location.map(|l| clip(l, 500)),
        "manifest_sha256": null,
        "error": clip(error, 600),
        "detail": detail.map(|d| clip(d, 1000)),
    })
    .to_string()
}

/// `text` cut to at most `max` bytes at a character boundary, ending in `…` when cut.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The failure summary line stays under the character limit with long fields cut at character
    /// boundaries, and null fields stay null.
    #[test]
    fn failure_line_stays_under_the_limit_and_cuts_at_characters() {
        let long = "é".repeat(5000);
        let line = failure_line(
            Some("20261204T153000Z-3f9a1c2b"),
            Some(&long),
            &long,
            Some(&long),
        );
        assert!(line.chars().count() <= MAX_SUMMARY_CHARS, "{}", line.len());
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["collection_id"], "20261204T153000Z-3f9a1c2b");
        assert!(v["manifest_sha256"].is_null());
        let detail = v["detail"].as_str().unwrap();
        assert!(
            detail.ends_with('…') && detail.len() <= 1000,
            "{}",
            detail.len()
        );
        assert!(detail.trim_end_matches('…').chars().all(|c| c == 'é'));

        let short = failure_line(None, None, "cannot open the destination: x", None);
        let v: serde_json::Value = serde_json::from_str(&short).unwrap();
        assert!(v["collection_id"].is_null() && v["location"].is_null() && v["detail"].is_null());
        assert_eq!(v["error"], "cannot open the destination: x");
    }

    /// Clipping keeps short text and cuts long text with an ellipsis, never splitting a character.
    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_at_a_boundary() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcdef", 5), "ab…");
        // 'é' is two bytes: never split.
        assert_eq!(clip("ééé", 5), "é…");
        assert_eq!(clip("ééé", 4), "…");
        assert_eq!(clip("ééé", 6), "ééé");
    }
}
