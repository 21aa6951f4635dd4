//! The manifest: what was collected, by what, when, with every artifact's hashes.
//! Written last; `verify` re-checks every byte against it.

use serde::{Deserialize, Serialize};

/// The manifest schema identifier.
pub const SCHEMA: &str = "vestige.manifest/1";

/// Object path of the manifest inside a collection root.
pub const MANIFEST_PATH: &str = "manifest.json";

/// The manifest document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// `<UTC start>-<random>`.
    pub collection_id: String,
    /// EC2 instance id, else the hostname.
    pub host_id: String,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End, RFC 3339 UTC.
    pub finished_at: String,
    /// The collecting binary.
    pub tool: ToolInfo,
    /// The spec that drove the run.
    pub spec: SpecInfo,
    /// Host identity as seen at start.
    pub host: HostInfo,
    /// The collector process itself.
    pub collector: CollectorInfo,
    /// Clock provenance: the host's clocks at start and end, and the wall clock's skew
    /// against a time source.
    #[serde(default)]
    pub clock: Option<ClockInfo>,
    /// Who asked for the collection (SSM Run Command), when known.
    #[serde(default)]
    pub invocation: Invocation,
    /// How artifacts are encrypted; null when they are stored unencrypted.
    #[serde(default)]
    pub encryption: Option<EncryptionInfo>,
    /// The key that signed this manifest (the signature is stored beside it).
    #[serde(default)]
    pub signature: Option<SignatureInfo>,
    /// Every artifact, in collection order.
    pub artifacts: Vec<ArtifactEntry>,
}

/// Clock provenance of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClockInfo {
    /// Wall, monotonic and boottime clocks when the run started.
    pub start: crate::clock::ClockReading,
    /// The same clocks when the manifest was written.
    pub end: crate::clock::ClockReading,
    /// Skew of the wall clock against the time source (`--time-source`).
    pub skew: crate::clock::ClockSkew,
}

/// How the collection was invoked.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Invocation {
    /// The SSM Run Command command id (`VESTIGE_SSM_COMMAND_ID`, set by the SSM document).
    pub ssm_command_id: Option<String>,
    /// The instance (or managed node) id the SSM agent reported (`AWS_SSM_INSTANCE_ID`).
    pub ssm_instance_id: Option<String>,
    /// The region the SSM agent reported (`AWS_SSM_REGION_NAME`).
    pub ssm_region: Option<String>,
}

/// Encryption of the artifacts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncryptionInfo {
    /// `age` (age-encryption.org/v1; `age -d -i IDENTITY` opens each object).
    pub format: String,
    /// The age recipients (`age1…`) every artifact is encrypted to.
    pub recipients: Vec<String>,
    /// What is encrypted and what is not.
    pub scope: String,
}

/// The manifest's signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignatureInfo {
    /// `ed25519`.
    pub algorithm: String,
    /// The public key, base64 of its raw 32 bytes. A key named here proves nothing by
    /// itself: check it against the summary line or the team's key (`verify --public-key`).
    pub public_key: String,
    /// `provided` (the team's key) or `ephemeral` (generated for this collection).
    pub key: String,
    /// Object path of the signature: 64 raw bytes over the exact bytes of manifest.json.
    pub path: String,
}

/// A network endpoint the collector contacted (or tried to).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    /// `imds`, `sts`, `s3` or `ntp`.
    pub purpose: String,
    /// URL or host:port.
    pub address: String,
}

/// Where a collection split when its bucket failed and `--fallback-out` kept the rest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FallbackInfo {
    /// The bucket's collection root (`s3://BUCKET/PREFIX/HOST/COLLECTION`).
    pub bucket: String,
    /// Objects committed to the bucket before it failed (paths relative to the root); the
    /// fallback directory does not hold them.
    pub uploaded: Vec<String>,
}

/// Build facts of the running binary.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BuildInfo {
    /// Target triple.
    pub target: String,
    /// Cargo profile (`release`, `debug`).
    pub profile: String,
    /// Compiler version.
    pub rustc: String,
    /// Cargo features compiled in.
    pub features: Vec<String>,
    /// Source revision, when the build stamped one (`VESTIGE_BUILD_COMMIT` at build time).
    pub commit: Option<String>,
}

/// The collecting binary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolInfo {
    /// `vestige`.
    pub name: String,
    /// Crate version.
    pub version: String,
    /// SHA-256 of the running binary (/proc/self/exe), or null if unreadable.
    pub sha256: Option<String>,
    /// How it was built.
    #[serde(default)]
    pub build: BuildInfo,
}

/// The spec that drove the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpecInfo {
    /// Spec name.
    pub name: String,
    /// SHA-256 of the spec's YAML bytes.
    pub sha256: String,
    /// Where the spec came from: `builtin:<name>` or the file path given.
    pub source: String,
    /// Object path of the stored copy of the spec.
    pub path: Option<String>,
}

/// Host identity.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostInfo {
    /// Kernel hostname.
    pub hostname: Option<String>,
    /// /proc/sys/kernel/random/boot_id.
    pub boot_id: Option<String>,
    /// EC2 instance id from IMDSv2, when it answered.
    pub instance_id: Option<String>,
    /// AWS account id from the instance identity document.
    pub account_id: Option<String>,
    /// AWS region.
    pub region: Option<String>,
    /// Kernel release.
    pub kernel_release: Option<String>,
}

/// The collector process.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CollectorInfo {
    /// Its pid (so analysts can exclude it from the records).
    pub pid: u32,
    /// Where the objects went: the destination, and the fallback directory when one was used.
    pub sink: String,
    /// Bytes this process wrote to block devices during the run (/proc/self/io write_bytes).
    pub write_bytes: Option<u64>,
    /// Peak resident set size, bytes (VmHWM).
    pub peak_rss_bytes: Option<u64>,
    /// Nice value in effect during the run (read back from /proc/self/stat).
    pub nice: Option<i64>,
    /// I/O priority in effect during the run (read back with ioprio_get), e.g. `be:7`.
    pub io_priority: Option<String>,
    /// The CPU quota asked for (`--cpu-quota`, spec `cpu_quota`) and what the cgroup held
    /// at the end of the run; null when no quota was asked for.
    #[serde(default)]
    pub cpu_quota: Option<CpuQuotaInfo>,
    /// Whether the run was interrupted (signal or deadline).
    pub interrupted: Option<String>,
    /// Threads of the collector at the end of the run.
    #[serde(default)]
    pub threads: Option<u64>,
    /// Most threads seen during the run (sampled after each artifact).
    #[serde(default)]
    pub threads_peak: Option<u64>,
    /// Network endpoints the collector contacted or tried to.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Set when the bucket failed during the run and `--fallback-out` took the rest: which
    /// objects are in the bucket instead of beside this manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackInfo>,
}

/// The collector's CPU quota: asked for, and read back from its cgroup when the run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuQuotaInfo {
    /// Percent of one CPU asked for (50 = half a core, 200 = two cores).
    pub requested_percent: u32,
    /// The cgroup vestige ran in, `cgroup1:PATH` or `cgroup2:PATH` (PATH as in
    /// /proc/self/cgroup); null when the quota was not in effect.
    pub applied: Option<String>,
    /// The quota read back, in percent of one CPU (rounded); null when unlimited or not applied.
    pub applied_percent: Option<u64>,
    /// The quota read back, microseconds per period (`cpu.max` or `cpu.cfs_quota_us`).
    pub quota_us: Option<u64>,
    /// The period read back, microseconds (`cpu.max` or `cpu.cfs_period_us`).
    pub period_us: Option<u64>,
    /// Why the quota could not be applied or read back; null when it was.
    pub error: Option<String>,
}

/// Outcome of one artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Complete.
    Ok,
    /// Stored, but some content could not be read (see `error` and `warnings`).
    Partial,
    /// Nothing usable stored.
    Error,
    /// Not attempted (deadline, interruption, or not applicable).
    Skipped,
}

/// One stored artifact (or one that failed or was skipped).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactEntry {
    /// Artifact name.
    pub name: String,
    /// Collector kind that produced it.
    pub kind: String,
    /// Object path relative to the collection root; null when nothing was stored.
    pub path: Option<String>,
    /// Outcome.
    pub status: Status,
    /// Bytes of the plaintext, before compression (and encryption).
    pub raw_bytes: Option<u64>,
    /// SHA-256 of the plaintext, before compression (and encryption).
    pub raw_sha256: Option<String>,
    /// Bytes as stored.
    pub stored_bytes: Option<u64>,
    /// SHA-256 of the object as stored (see `stored_is`).
    pub stored_sha256: Option<String>,
    /// Transformations from raw to stored, in order: `zstd+age`, `zstd`, `age`, `none`.
    #[serde(default)]
    pub encoding: Option<String>,
    /// What `stored_sha256` covers: `ciphertext`, `compressed` or `plaintext`.
    #[serde(default)]
    pub stored_is: Option<String>,
    /// Records, for JSONL artifacts.
    pub records: Option<u64>,
    /// What went wrong, when status is not ok.
    pub error: Option<String>,
    /// Non-fatal problems met while collecting (first ones only).
    pub warnings: Vec<String>,
    /// Total number of non-fatal problems.
    pub warning_count: u64,
    /// Start, RFC 3339 UTC.
    pub started_at: Option<String>,
    /// The host's clocks when the object was opened.
    #[serde(default)]
    pub clock_start: Option<crate::clock::ClockReading>,
    /// The host's clocks when the object was complete.
    #[serde(default)]
    pub clock_end: Option<crate::clock::ClockReading>,
    /// Wall time spent, milliseconds.
    pub duration_ms: Option<u64>,
    /// Object version id, when the sink versions objects.
    pub version_id: Option<String>,
}

impl ArtifactEntry {
    /// An entry with no stored object.
    pub fn empty(name: &str, kind: &str, status: Status, error: Option<String>) -> Self {
        Self {
            name: name.to_owned(),
            kind: kind.to_owned(),
            path: None,
            status,
            raw_bytes: None,
            raw_sha256: None,
            stored_bytes: None,
            stored_sha256: None,
            encoding: None,
            stored_is: None,
            records: None,
            error,
            warnings: Vec::new(),
            warning_count: 0,
            started_at: None,
            clock_start: None,
            clock_end: None,
            duration_ms: None,
            version_id: None,
        }
    }

    /// An entry for a stored object.
    pub fn stored(name: &str, kind: &str, fin: &crate::pipeline::Finished) -> Self {
        let mut e = Self::empty(name, kind, Status::Ok, None);
        e.path = Some(fin.path.clone());
        e.raw_bytes = Some(fin.digest.raw_bytes);
        e.raw_sha256 = Some(fin.digest.raw_sha256.clone());
        e.stored_bytes = Some(fin.digest.stored_bytes);
        e.stored_sha256 = Some(fin.digest.stored_sha256.clone());
        e.encoding = Some(fin.form.encoding().to_owned());
        e.stored_is = Some(fin.form.stored_is().to_owned());
        e.version_id = fin.commit.version_id.clone();
        e.clock_start = Some(fin.clock_start.clone());
        e.clock_end = Some(fin.clock_end.clone());
        e
    }
}

/// Counts of artifact outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Artifacts stored (ok or partial).
    pub stored: usize,
    /// Status error.
    pub errors: usize,
    /// Status partial.
    pub partial: usize,
    /// Status skipped.
    pub skipped: usize,
}

impl Manifest {
    /// Outcome counts over all artifacts.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for a in &self.artifacts {
            match a.status {
                Status::Ok => c.stored += 1,
                Status::Partial => {
                    c.stored += 1;
                    c.partial += 1
                }
                Status::Error => c.errors += 1,
                Status::Skipped => c.skipped += 1,
            }
        }
        c
    }
}
