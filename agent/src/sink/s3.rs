//! The S3 sink: each object streamed to `s3://BUCKET/PREFIX/<host-id>/<collection-id>/` the
//! moment it is produced, and the matching reader for `verify`.
//!
//! The pipeline is synchronous; this sink owns a small tokio runtime and bridges. An object
//! buffers up to one part: if it ends within that buffer it becomes a single PutObject (carrying
//! vestige's hashes as metadata), otherwise a multipart upload with a bounded number of parts
//! in flight. Every request carries an `x-amz-checksum-sha256`. Credentials come only from the
//! AWS default chain (environment, shared profile, IMDSv2 instance role), never from flags, and
//! are never logged. Nothing touches the local disk unless `--fallback-out` is used.

use super::dir::DirSink;
use super::{
    check_relative_path, CollectionReader, CommitInfo, ObjectDigest, ObjectFacts, Sink, SinkError,
    SinkObject,
};
use crate::manifest::{Endpoint, MANIFEST_PATH};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectLockLegalHoldStatus,
    ObjectLockMode, ServerSideEncryption,
};
use aws_sdk_s3::Client;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Smallest part S3 accepts (except the last one).
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// Largest part S3 accepts.
pub const MAX_PART_SIZE: u64 = 5 << 30;
/// Default part size.
pub const DEFAULT_PART_SIZE: u64 = 8 << 20;
/// S3's limit on parts per upload.
const MAX_PARTS: i32 = 10_000;
/// Parts per size tier: every this many parts the part size doubles, so a stream of unknown
/// length never needs more than 10,000 parts (even from 5 MiB parts, 10,000 parts reach more than 5 TiB).
const PARTS_PER_TIER: i32 = 900;
/// Time the manifest may take beyond the run's deadline (one small PutObject with retries).
const MANIFEST_GRACE: Duration = Duration::from_secs(10);
/// Shortest time allowed for one CompleteMultipartUpload attempt.
const COMPLETE_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);
/// Time allowed to abort a failed multipart upload.
const ABORT_BUDGET: Duration = Duration::from_secs(10);

/// Punctuation allowed in a prefix besides letters and digits: S3's safe key characters
/// and those of AWS principal ids (`AROA…:i-…`).
const PREFIX_PUNCT: &str = "-_.!*'():=@+,";

/// A prefix is `/`-separated components, none empty, `.` or `..`, of letters, digits and
/// [`PREFIX_PUNCT`].
fn prefix_ok(prefix: &str) -> bool {
    prefix.len() <= 512
        && prefix.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || PREFIX_PUNCT.contains(ch))
        })
}

/// `s3://BUCKET[/PREFIX]`, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://BUCKET[/PREFIX][/]`. The prefix must be a plain relative path.
    pub fn parse(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{s}` is not an s3://BUCKET[/PREFIX] URI"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !bucket_ok {
            return Err(format!("`{bucket}` is not a valid S3 bucket name"));
        }
        let prefix = prefix.trim_end_matches('/');
        if !prefix.is_empty() && !prefix_ok(prefix) {
            return Err(format!(
                "prefix `{}`: use `/`-separated names of letters, digits and {PREFIX_PUNCT}",
                prefix.escape_debug()
            ));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// This location with `parts` appended to the prefix.
    pub fn join(&self, parts: &[&str]) -> Self {
        let mut prefix = self.prefix.clone();
        for p in parts {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(p);
        }
        Self {
            bucket: self.bucket.clone(),
            prefix,
        }
    }

    /// The object key for `path` under the prefix.
    pub fn key(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Object Lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionMode {
    /// Removable by principals with s3:BypassGovernanceRetention.
    Governance,
    /// Removable by nobody until the date passes.
    Compliance,
}

impl std::str::FromStr for RetentionMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "GOVERNANCE" => Ok(Self::Governance),
            "COMPLIANCE" => Ok(Self::Compliance),
            _ => Err(format!("`{s}`: expected GOVERNANCE or COMPLIANCE")),
        }
    }
}

/// How long an object is retained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetainFor {
    /// Days from the moment each object is created.
    Days(u32),
    /// Until a fixed time (Unix seconds).
    Until(i64),
}

/// Per-object Object Lock retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Mode.
    pub mode: RetentionMode,
    /// Period.
    pub period: RetainFor,
}

/// Server-side encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// SSE-S3 (`AES256`).
    Aes256,
    /// SSE-KMS with an optional key id (else the bucket's or the AWS-managed key).
    Kms(Option<String>),
}

/// Where and how the S3 client connects. Credentials are not here: only the default chain.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Region; else the default chain (AWS_REGION, profile, IMDS).
    pub region: Option<String>,
    /// Endpoint for S3-compatible stores; else AWS_ENDPOINT_URL or AWS. Path-style when set.
    pub endpoint_url: Option<String>,
    /// Attempts per request (first try included).
    pub max_attempts: u32,
    /// Time limit of one attempt of one request.
    pub attempt_timeout: Duration,
}

/// Everything that shapes an S3 collection.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Client settings.
    pub client: ClientOptions,
    /// Base part size (bytes, at least 5 MiB).
    pub part_size: u64,
    /// Parts uploading at once.
    pub parts_in_flight: usize,
    /// Object Lock retention; none = the bucket's default.
    pub retention: Option<Retention>,
    /// Place a legal hold on every object.
    pub legal_hold: bool,
    /// Server-side encryption; none = the bucket's default.
    pub sse: Option<Sse>,
    /// No request runs past this instant (the manifest gets a short grace beyond it).
    pub deadline: Option<Instant>,
    /// Collection root on local disk for objects that could not be uploaded.
    pub fallback: Option<PathBuf>,
    /// Endpoints contacted before the sink existed (STS for `--s3-caller-prefix`), as
    /// `(purpose, address)`, for the manifest's footprint.
    pub contacted_before: Vec<(String, String)>,
}

/// Longest error text kept from one failed request.
const MAX_ERROR_CHARS: usize = 400;

/// A short, single-line description of a failed request: the service's code and message,
/// or the transport failure. Never includes request headers.
fn err_text<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let text = match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                _ => format!("unexpected response: {}", error_chain(err)),
            }
        }
        SdkError::TimeoutError(_) => "request timed out".to_owned(),
        other => error_chain(other),
    };
    let mut text = text.replace('\n', " ");
    if text.len() > MAX_ERROR_CHARS {
        let mut cut = MAX_ERROR_CHARS;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// An error and its sources as one line of their messages, `outer: inner: …`, each message
/// once (an error that repeats its source's text is not repeated). Unlike the SDK's
/// `DisplayErrorContext`, no `Debug` dump of the whole error is appended: that is several
/// hundred characters of struct syntax that say nothing the messages do not.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let t = inner.to_string();
        if !t.is_empty() && !text.ends_with(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = inner.source();
    }
    text
}

/// Whether a CompleteMultipartUpload answer that did not parse is nonetheless a completed
/// upload: HTTP 200 and a body that is a completion result, not an `<Error>`.
fn completed_anyway(raw: &aws_sdk_s3::config::http::HttpResponse) -> bool {
    raw.status().as_u16() == 200
        && raw.body().bytes().is_some_and(|b| {
            let head =
                String::from_utf8_lossy(b.get(..b.len().min(512)).unwrap_or_default()).into_owned();
            head.contains("<CompleteMultipartUploadResponse")
                || head.contains("<CompleteMultipartUploadResult")
        })
}

fn new_runtime() -> Result<Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("vestige-s3")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the S3 runtime: {e}"))
}

async fn sdk_config(opts: &ClientOptions) -> Result<aws_config::SdkConfig, String> {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(opts.max_attempts.max(1))
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(5)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5).min(opts.attempt_timeout))
                .operation_attempt_timeout(opts.attempt_timeout)
                .build(),
        );
    if let Some(r) = &opts.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(u) = &opts.endpoint_url {
        loader = loader.endpoint_url(u.clone());
    }
    let conf = loader.load().await;
    if conf.region().is_none() {
        return Err("no AWS region: give --region or set AWS_REGION".into());
    }
    Ok(conf)
}

/// Records the origin (`scheme://host[:port]`) of every request a client is about to send:
/// the endpoint actually contacted (e.g. the bucket's virtual host), not the one configured.
#[derive(Debug, Clone, Default)]
struct Contacted(Arc<Mutex<Vec<String>>>);

impl Contacted {
    fn list(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl aws_sdk_s3::config::Intercept for Contacted {
    fn name(&self) -> &'static str {
        "vestige-contacted-endpoints"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_s3::config::RuntimeComponents,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let origin = origin_of(context.request().uri());
        if let Ok(mut seen) = self.0.lock() {
            if !seen.contains(&origin) {
                seen.push(origin);
            }
        }
        Ok(())
    }
}

/// `scheme://authority` of a request URI (the URI itself when it has no scheme).
fn origin_of(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?']).next().unwrap_or(rest);
            format!("{scheme}://{authority}")
        }
        None => uri.to_owned(),
    }
}

/// The client, the endpoint it is configured for, and the recorder of the endpoints it
/// actually sends to (for the manifest's footprint).
async fn new_client(opts: &ClientOptions) -> Result<(Client, String, Contacted), String> {
    let conf = sdk_config(opts).await?;
    let custom_endpoint = conf.endpoint_url().is_some();
    let endpoint = match (conf.endpoint_url(), conf.region()) {
        (Some(u), _) => u.to_owned(),
        (None, Some(r)) => format!("https://s3.{r}.amazonaws.com"),
        (None, None) => "https://s3.amazonaws.com".to_owned(),
    };
    let contacted = Contacted::default();
    let s3conf = aws_sdk_s3::config::Builder::from(&conf)
        .force_path_style(custom_endpoint)
        // vestige supplies its own SHA-256 for every request.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .interceptor(contacted.clone())
        .build();
    Ok((Client::from_conf(s3conf), endpoint, contacted))
}

/// The manifest and its signature: attempted even after an upload failed, with extra time.
fn is_custody_record(path: &str) -> bool {
    path == MANIFEST_PATH || path == crate::custody::SIGNATURE_PATH
}

/// The caller's AWS user id (IAM's `aws:userid`: `ROLE_ID:INSTANCE_ID` for an EC2 instance
/// profile) from STS GetCallerIdentity, which needs no permission. A bucket policy can confine
/// each instance to keys below its own user id. Bounded: 3 attempts of at most 5 s. Also
/// returns the STS endpoints the request went to.
pub fn caller_user_id(opts: &ClientOptions) -> Result<(String, Vec<String>), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime for STS: {e}"))?;
    rt.block_on(async {
        let short = ClientOptions {
            max_attempts: opts.max_attempts.clamp(1, 3),
            attempt_timeout: opts.attempt_timeout.min(Duration::from_secs(5)),
            ..opts.clone()
        };
        let conf = sdk_config(&short).await?;
        let contacted = Contacted::default();
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&conf)
                .interceptor(contacted.clone())
                .build(),
        );
        let out = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| format!("STS GetCallerIdentity: {}", err_text(&e)))?;
        let id = out
            .user_id()
            .ok_or("STS GetCallerIdentity returned no UserId")?
            .to_owned();
        if prefix_ok(&id) && !id.contains('/') {
            Ok((id, contacted.list()))
        } else {
            Err(format!(
                "caller user id `{}` cannot be a key segment",
                id.escape_debug()
            ))
        }
    })
}

fn b64_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// The composite checksum S3 computes for a multipart object uploaded with SHA-256 part
/// checksums: SHA-256 over the parts' binary digests in part order, base64, then `-N`.
/// Sent with CompleteMultipartUpload so the store refuses to assemble anything else. `None`
/// when a part lacks a readable checksum.
fn composite_sha256(parts: &[CompletedPart]) -> Option<String> {
    let mut h = Sha256::new();
    for p in parts {
        let digest = base64::engine::general_purpose::STANDARD
            .decode(p.checksum_sha256()?)
            .ok()?;
        h.update(&digest);
    }
    Some(format!(
        "{}-{}",
        base64::engine::general_purpose::STANDARD.encode(h.finalize()),
        parts.len()
    ))
}

/// Part size for 1-based part `n`: doubles every [`PARTS_PER_TIER`] parts, capped at 5 GiB.
pub fn part_size_for(base: u64, n: i32) -> u64 {
    let tier = u32::try_from((n.max(1) - 1) / PARTS_PER_TIER).unwrap_or(0);
    base.checked_shl(tier)
        .unwrap_or(MAX_PART_SIZE)
        .min(MAX_PART_SIZE)
}

/// What happened to each object, for an honest report when the manifest cannot be stored.
#[derive(Debug, Default)]
struct Ledger {
    uploaded: Vec<String>,
    failed: Vec<String>,
    fallback: Vec<String>,
    /// Set when an upload failed for good: later objects are not attempted.
    broken: Option<String>,
    /// The manifest went to the fallback directory, which is then the collection root.
    manifest_in_fallback: bool,
}

struct Shared {
    rt: Runtime,
    client: Client,
    /// Where requests are configured to go.
    endpoint: String,
    /// Where they went.
    contacted: Contacted,
    root: S3Url,
    opts: S3Options,
    in_flight: Arc<Semaphore>,
    ledger: Mutex<Ledger>,
    fallback: Mutex<Option<Arc<DirSink>>>,
}

impl Shared {
    /// Runs `fut` on the runtime, bounded by the deadline that applies to `path`.
    fn run<T>(
        &self,
        path: &str,
        fut: impl Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        let limit = self.limit_for(path);
        self.rt.block_on(with_deadline(limit, fut))
    }

    fn limit_for(&self, path: &str) -> Option<Instant> {
        self.opts.deadline.map(|d| {
            if is_custody_record(path) {
                d + MANIFEST_GRACE
            } else {
                d
            }
        })
    }

    fn note(&self, f: impl FnOnce(&mut Ledger)) {
        if let Ok(mut l) = self.ledger.lock() {
            f(&mut l);
        }
    }

    fn broken(&self) -> Option<String> {
        self.ledger.lock().ok().and_then(|l| l.broken.clone())
    }

    fn fallback_sink(&self) -> Result<Option<Arc<DirSink>>, SinkError> {
        let Some(root) = &self.opts.fallback else {
            return Ok(None);
        };
        let mut slot = self
            .fallback
            .lock()
            .map_err(|_| SinkError::Remote("fallback lock poisoned".into()))?;
        if let Some(s) = slot.as_ref() {
            return Ok(Some(s.clone()));
        }
        let sink = Arc::new(DirSink::create_root(root)?);
        tracing::warn!("writing the rest of the collection to {}", root.display());
        *slot = Some(sink.clone());
        Ok(Some(sink))
    }

    fn lock_headers(&self) -> (Option<ObjectLockMode>, Option<DateTime>) {
        match self.opts.retention {
            None => (None, None),
            Some(r) => {
                let mode = match r.mode {
                    RetentionMode::Governance => ObjectLockMode::Governance,
                    RetentionMode::Compliance => ObjectLockMode::Compliance,
                };
                let until = match r.period {
                    RetainFor::Until(t) => t,
                    RetainFor::Days(d) => {
                        time::OffsetDateTime::now_utc().unix_timestamp() + i64::from(d) * 86_400
                    }
                };
                (Some(mode), Some(DateTime::from_secs(until)))
            }
        }
    }
}

async fn with_deadline<T>(
    limit: Option<Instant>,
    fut: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match limit {
        None => fut.await,
        Some(at) => tokio::time::timeout_at(tokio::time::Instant::from_std(at), fut)
            .await
            .unwrap_or_else(|_| Err("the run's deadline passed before the upload finished".into())),
    }
}

/// Writes a collection under an S3 prefix.
pub struct S3Sink {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for S3Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Sink")
            .field("root", &self.shared.root.to_string())
            .finish()
    }
}

impl S3Sink {
    /// A sink writing under `root` (the collection root). Sends no request yet: the collect
    /// path needs only s3:PutObject and s3:AbortMultipartUpload, so there is nothing to probe.
    pub fn new(root: S3Url, mut opts: S3Options) -> Result<Self, String> {
        if opts.part_size < MIN_PART_SIZE || opts.part_size > MAX_PART_SIZE {
            return Err(format!(
                "part size {} is outside S3's 5 MiB to 5 GiB",
                opts.part_size
            ));
        }
        opts.parts_in_flight = opts.parts_in_flight.clamp(1, 64);
        let rt = new_runtime()?;
        let (client, endpoint, contacted) = rt.block_on(new_client(&opts.client))?;
        let in_flight = Arc::new(Semaphore::new(opts.parts_in_flight));
        Ok(Self {
            shared: Arc::new(Shared {
                rt,
                client,
                endpoint,
                contacted,
                root,
                opts,
                in_flight,
                ledger: Mutex::new(Ledger::default()),
                fallback: Mutex::new(None),
            }),
        })
    }

    /// One line naming what was uploaded, what failed and what went to the fallback directory.
    pub fn report(&self) -> String {
        let Ok(l) = self.shared.ledger.lock() else {
            return String::new();
        };
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        let mut s = format!(
            "uploaded to {}: {}; not uploaded: {}",
            self.shared.root,
            list(&l.uploaded),
            list(&l.failed)
        );
        if let Some(root) = &self.shared.opts.fallback {
            s.push_str(&format!(
                "; written to {}: {}",
                root.display(),
                list(&l.fallback)
            ));
        }
        s
    }

    /// Where the fallback directory collection is, when anything was written there.
    pub fn fallback_used(&self) -> Option<PathBuf> {
        let l = self.shared.ledger.lock().ok()?;
        if l.fallback.is_empty() {
            None
        } else {
            self.shared.opts.fallback.clone()
        }
    }
}

impl Sink for S3Sink {
    /// The S3 collection root; the fallback directory once the manifest had to go there.
    fn location(&self) -> String {
        let in_fallback = self
            .shared
            .ledger
            .lock()
            .is_ok_and(|l| l.manifest_in_fallback);
        match (&self.shared.opts.fallback, in_fallback) {
            (Some(dir), true) => dir.display().to_string(),
            _ => self.shared.root.to_string(),
        }
    }

    /// The S3 root, and the fallback directory with how many objects it holds once it was used.
    fn destination(&self) -> String {
        let root = self.shared.root.to_string();
        let held = self.shared.ledger.lock().map_or(0, |l| l.fallback.len());
        match &self.shared.opts.fallback {
            Some(dir) if held > 0 => format!(
                "{root}; fallback directory {} (uploads failed; {held} objects written there)",
                dir.display()
            ),
            _ => root,
        }
    }

    /// STS first when it was called, then the S3 endpoints requests were sent to (the
    /// configured one when no request went out).
    fn endpoints(&self) -> Vec<Endpoint> {
        let mut s3 = self.shared.contacted.list();
        if s3.is_empty() {
            s3.push(self.shared.endpoint.clone());
        }
        let before = self.shared.opts.contacted_before.iter().cloned();
        before
            .chain(s3.into_iter().map(|a| ("s3".to_owned(), a)))
            .map(|(purpose, address)| Endpoint { purpose, address })
            .collect()
    }

    /// Once an upload failed for good with `--fallback-out` given, the manifest (written
    /// last) is expected in the fallback directory: it lists what the bucket holds instead.
    fn fallback(&self) -> Option<crate::manifest::FallbackInfo> {
        self.shared.opts.fallback.as_ref()?;
        let l = self.shared.ledger.lock().ok()?;
        l.broken.as_ref()?;
        Some(crate::manifest::FallbackInfo {
            bucket: self.shared.root.to_string(),
            uploaded: l.uploaded.clone(),
        })
    }

    /// The part being filled and the parts in flight.
    fn buffered_bytes(&self) -> u64 {
        let parts = u64::try_from(self.shared.opts.parts_in_flight).unwrap_or(u64::MAX);
        parts
            .saturating_add(1)
            .saturating_mul(self.shared.opts.part_size)
    }

    fn create(&self, path: &str) -> Result<Box<dyn SinkObject>, SinkError> {
        check_relative_path(path)?;
        if let Some(why) = self.shared.broken() {
            if !is_custody_record(path) {
                if let Some(dir) = self.shared.fallback_sink()? {
                    let obj = dir.create(path)?;
                    return Ok(Box::new(FallbackObject {
                        inner: obj,
                        shared: self.shared.clone(),
                        path: path.to_owned(),
                    }));
                }
                self.shared.note(|l| l.failed.push(path.to_owned()));
                return Err(SinkError::Remote(format!(
                    "not uploaded: an earlier upload failed ({why})"
                )));
            }
        }
        Ok(Box::new(S3Object {
            shared: self.shared.clone(),
            path: path.to_owned(),
            key: self.shared.root.key(path),
            buf: Vec::new(),
            upload: None,
            next_part: 1,
            done: false,
        }))
    }
}

/// An object written to the fallback directory after the bucket failed.
struct FallbackObject {
    inner: Box<dyn SinkObject>,
    shared: Arc<Shared>,
    path: String,
}

impl Write for FallbackObject {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl SinkObject for FallbackObject {
    fn commit(self: Box<Self>, digest: &ObjectDigest) -> Result<CommitInfo, SinkError> {
        let info = self.inner.commit(digest)?;
        self.shared.note(|l| l.fallback.push(self.path.clone()));
        Ok(info)
    }
}

struct Upload {
    id: String,
    /// Parts still uploading (or not yet collected).
    parts: Vec<JoinHandle<Result<CompletedPart, String>>>,
    /// Parts uploaded.
    done: Vec<CompletedPart>,
}

/// One object on its way to S3.
struct S3Object {
    shared: Arc<Shared>,
    path: String,
    key: String,
    buf: Vec<u8>,
    upload: Option<Upload>,
    next_part: i32,
    done: bool,
}

impl S3Object {
    fn current_part_size(&self) -> usize {
        usize::try_from(part_size_for(self.shared.opts.part_size, self.next_part))
            .unwrap_or(usize::MAX)
    }

    fn start_upload(&mut self) -> Result<(), String> {
        let sh = &self.shared;
        let (mode, until) = sh.lock_headers();
        let mut req = sh
            .client
            .create_multipart_upload()
            .bucket(&sh.root.bucket)
            .key(&self.key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .set_object_lock_mode(mode)
            .set_object_lock_retain_until_date(until);
        if sh.opts.legal_hold {
            req = req.object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On);
        }
        req = apply_sse_mpu(req, sh.opts.sse.as_ref());
        let out = sh.run(&self.path, async {
            req.send().await.map_err(|e| err_text(&e))
        })?;
        let id = out
            .upload_id()
            .ok_or("CreateMultipartUpload returned no upload id")?
            .to_owned();
        tracing::debug!(key = %self.key, "multipart upload started");
        self.upload = Some(Upload {
            id,
            parts: Vec::new(),
            done: Vec::new(),
        });
        Ok(())
    }

    /// A part that already failed ends the object early instead of at commit.
    fn check_parts(&mut self) -> Result<(), String> {
        let Some(up) = self.upload.as_mut() else {
            return Ok(());
        };
        let mut pending = Vec::with_capacity(up.parts.len());
        let mut failed = None;
        for h in up.parts.drain(..) {
            if !h.is_finished() {
                pending.push(h);
                continue;
            }
            match self.shared.rt.block_on(h) {
                Ok(Ok(p)) => up.done.push(p),
                Ok(Err(e)) => {
                    failed.get_or_insert(e);
                }
                Err(e) => {
                    failed.get_or_insert(format!("part task failed: {e}"));
                }
            }
        }
        up.parts = pending;
        failed.map_or(Ok(()), Err)
    }

    fn submit_part(&mut self) -> Result<(), String> {
        if self.upload.is_none() {
            self.start_upload()?;
        }
        self.check_parts()?;
        let sh = self.shared.clone();
        let limit = sh.limit_for(&self.path);
        let permit = sh.rt.block_on(with_deadline(limit, async {
            sh.in_flight
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| e.to_string())
        }))?;
        let number = self.next_part;
        if number > MAX_PARTS {
            return Err("more than 10,000 parts".into());
        }
        self.next_part += 1;
        let next_cap = self.current_part_size();
        let body = std::mem::replace(&mut self.buf, Vec::with_capacity(next_cap));
        let checksum = b64_sha256(&body);
        let up = self.upload.as_mut().ok_or("multipart upload missing")?;
        let req = sh
            .client
            .upload_part()
            .bucket(&sh.root.bucket)
            .key(&self.key)
            .upload_id(&up.id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(checksum.clone())
            .body(ByteStream::from(body));
        let key = self.key.clone();
        let handle = sh.rt.spawn(with_deadline(limit, async move {
            let out = req
                .send()
                .await
                .map_err(|e| format!("uploading part {number} of {key}: {}", err_text(&e)));
            drop(permit);
            let out = out?;
            tracing::debug!(key = %key, part = number, "part uploaded");
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .checksum_sha256(out.checksum_sha256().unwrap_or(&checksum))
                .build())
        }));
        up.parts.push(handle);
        Ok(())
    }

    fn put_whole(&mut self, digest: &ObjectDigest) -> Result<CommitInfo, String> {
        let sh = self.shared.clone();
        let body = std::mem::take(&mut self.buf);
        let (mode, until) = sh.lock_headers();
        let mut req = sh
            .client
            .put_object()
            .bucket(&sh.root.bucket)
            .key(&self.key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(b64_sha256(&body))
            .metadata("vestige-raw-bytes", digest.raw_bytes.to_string())
            .metadata("vestige-raw-sha256", &digest.raw_sha256)
            .metadata("vestige-stored-sha256", &digest.stored_sha256)
            .set_object_lock_mode(mode)
            .set_object_lock_retain_until_date(until);
        if sh.opts.legal_hold {
            req = req.object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On);
        }
        req = apply_sse_put(req, sh.opts.sse.as_ref());
        let req = req.body(ByteStream::from(body.clone()));
        let res = sh.run(&self.path, async {
            req.send().await.map_err(|e| err_text(&e))
        });
        match res {
            Ok(out) => Ok(CommitInfo {
                version_id: out.version_id().map(str::to_owned),
            }),
            Err(e) => {
                // The bytes are still here: keep them on local disk when allowed.
                self.buf = body;
                Err(e)
            }
        }
    }

    fn complete(&mut self) -> Result<CommitInfo, String> {
        if !self.buf.is_empty() {
            self.submit_part()?;
        }
        let sh = self.shared.clone();
        let up = self.upload.as_mut().ok_or("multipart upload missing")?;
        let handles = std::mem::take(&mut up.parts);
        let mut parts = std::mem::take(&mut up.done);
        let mut first_err = None;
        for h in handles {
            match sh.rt.block_on(h) {
                Ok(Ok(p)) => parts.push(p),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(e) => {
                    first_err.get_or_insert(format!("part task failed: {e}"));
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        parts.sort_by_key(|p| p.part_number());
        let composite = composite_sha256(&parts);
        // Completing can take long on big objects; a timed-out attempt may still have
        // succeeded, in which case the retry finds no upload: that is success, not failure
        // (vestige never aborts an upload it is completing).
        let attempt = sh.opts.client.attempt_timeout.max(COMPLETE_ATTEMPT_TIMEOUT);
        let req = sh
            .client
            .complete_multipart_upload()
            .bucket(&sh.root.bucket)
            .key(&self.key)
            .upload_id(&up.id)
            .set_checksum_sha256(composite)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .customize()
            .config_override(
                aws_sdk_s3::config::Builder::default().timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(Duration::from_secs(5).min(attempt))
                        .operation_attempt_timeout(attempt)
                        .build(),
                ),
            );
        let key = self.key.clone();
        let version_id = sh.run(&self.path, async move {
            match req.send().await {
                Ok(out) => Ok(out.version_id().map(str::to_owned)),
                Err(SdkError::ServiceError(se)) if completed_anyway(se.raw()) => {
                    // Some S3-compatible stores name the result element differently; a 200
                    // whose body is a completion result (not an error) is a completed upload.
                    Ok(se
                        .raw()
                        .headers()
                        .get("x-amz-version-id")
                        .map(str::to_owned))
                }
                Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("NoSuchUpload") => {
                    tracing::warn!(
                        "{key}: completion confirmed only by a retry finding the upload gone; \
                         version id unknown"
                    );
                    Ok(None)
                }
                Err(e) => Err(err_text(&e)),
            }
        })?;
        // Completed: nothing is left to abort.
        up.parts.clear();
        self.upload = None;
        tracing::debug!(key = %self.key, "multipart upload completed");
        Ok(CommitInfo { version_id })
    }

    /// Cancels part uploads and aborts the multipart upload, so no partial object remains.
    fn abort(&mut self) {
        let Some(up) = self.upload.take() else {
            return;
        };
        for h in &up.parts {
            h.abort();
        }
        let sh = &self.shared;
        let req = sh
            .client
            .abort_multipart_upload()
            .bucket(&sh.root.bucket)
            .key(&self.key)
            .upload_id(&up.id);
        let res = sh.rt.block_on(async {
            tokio::time::timeout(ABORT_BUDGET, req.send())
                .await
                .map_err(|_| "timed out".to_owned())?
                .map_err(|e| err_text(&e))
        });
        match res {
            Ok(_) => tracing::debug!(key = %self.key, "multipart upload aborted"),
            Err(e) => tracing::warn!("aborting the upload of {}: {e}", self.key),
        }
    }

    fn fail(&mut self, e: String) -> SinkError {
        self.abort();
        let msg = format!(
            "uploading {} to s3://{}/{}: {e}",
            self.path, self.shared.root.bucket, self.key
        );
        self.shared.note(|l| {
            l.failed.push(self.path.clone());
            l.broken.get_or_insert(e.clone());
        });
        SinkError::Remote(msg)
    }

    fn commit_inner(&mut self, digest: &ObjectDigest) -> Result<CommitInfo, SinkError> {
        self.done = true;
        let res = if self.upload.is_none() {
            self.put_whole(digest)
        } else {
            self.complete()
        };
        match res {
            Ok(info) => {
                self.shared.note(|l| l.uploaded.push(self.path.clone()));
                Ok(info)
            }
            Err(e) if self.upload.is_none() => {
                // A single-request object still has its bytes: the fallback can keep them.
                if let Some(dir) = self.shared.fallback_sink()? {
                    let mut obj = dir.create(&self.path)?;
                    obj.write_all(&self.buf)
                        .map_err(|io| SinkError::io(format!("writing {}", self.path), io))?;
                    let info = obj.commit(digest)?;
                    tracing::warn!(
                        "{}: upload failed ({e}); kept in the fallback directory",
                        self.path
                    );
                    self.shared.note(|l| {
                        l.fallback.push(self.path.clone());
                        l.broken.get_or_insert(e.clone());
                        l.manifest_in_fallback |= self.path == MANIFEST_PATH;
                    });
                    return Ok(info);
                }
                Err(self.fail(e))
            }
            Err(e) => Err(self.fail(e)),
        }
    }
}

fn apply_sse_put(
    req: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    sse: Option<&Sse>,
) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
    match sse {
        None => req,
        Some(Sse::Aes256) => req.server_side_encryption(ServerSideEncryption::Aes256),
        Some(Sse::Kms(key)) => req
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .set_ssekms_key_id(key.clone()),
    }
}

fn apply_sse_mpu(
    req: aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder,
    sse: Option<&Sse>,
) -> aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder {
    match sse {
        None => req,
        Some(Sse::Aes256) => req.server_side_encryption(ServerSideEncryption::Aes256),
        Some(Sse::Kms(key)) => req
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .set_ssekms_key_id(key.clone()),
    }
}

impl Write for S3Object {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.done {
            return Err(io::Error::other("object already committed"));
        }
        let room = self.current_part_size().saturating_sub(self.buf.len());
        let n = data.len().min(room);
        self.buf
            .extend_from_slice(data.get(..n).unwrap_or_default());
        if self.buf.len() >= self.current_part_size() {
            if let Err(e) = self.submit_part() {
                self.done = true;
                return Err(io::Error::other(self.fail(e)));
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl SinkObject for S3Object {
    fn commit(mut self: Box<Self>, digest: &ObjectDigest) -> Result<CommitInfo, SinkError> {
        if self.done {
            return Err(SinkError::Remote(format!(
                "{}: the upload had already failed",
                self.path
            )));
        }
        self.commit_inner(digest)
    }
}

impl Drop for S3Object {
    fn drop(&mut self) {
        // Never completed: no partial object may remain in the bucket.
        if self.upload.is_some() {
            self.abort();
        }
    }
}

/// Reads a collection stored under an S3 prefix (needs s3:GetObject, s3:ListBucket, and
/// s3:GetObjectVersion for version facts).
pub struct S3Reader {
    rt: Arc<Runtime>,
    client: Client,
    root: S3Url,
}

impl std::fmt::Debug for S3Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Reader")
            .field("root", &self.root.to_string())
            .finish()
    }
}

impl S3Reader {
    /// A reader for the collection root `root`.
    pub fn new(root: S3Url, client: &ClientOptions) -> Result<Self, String> {
        let rt = new_runtime()?;
        let (client, _, _) = rt.block_on(new_client(client))?;
        Ok(Self {
            rt: Arc::new(rt),
            client,
            root,
        })
    }
}

struct BodyReader {
    rt: Arc<Runtime>,
    body: ByteStream,
    chunk: bytes::Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rt.block_on(self.body.try_next()) {
                Ok(Some(b)) => self.chunk = b,
                Ok(None) => return Ok(0),
                Err(e) => return Err(io::Error::other(error_chain(&e))),
            }
        }
        let n = out.len().min(self.chunk.len());
        let part = self.chunk.split_to(n);
        if let Some(dst) = out.get_mut(..n) {
            dst.copy_from_slice(&part);
        }
        Ok(n)
    }
}

impl CollectionReader for S3Reader {
    fn location(&self) -> String {
        self.root.to_string()
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, SinkError> {
        check_relative_path(path)?;
        let key = self.root.key(path);
        let req = self.client.get_object().bucket(&self.root.bucket).key(&key);
        let out = self.rt.block_on(req.send()).map_err(|e| {
            SinkError::Remote(format!("s3://{}/{key}: {}", self.root.bucket, err_text(&e)))
        })?;
        Ok(Box::new(BodyReader {
            rt: self.rt.clone(),
            body: out.body,
            chunk: bytes::Bytes::new(),
        }))
    }

    fn open_version(
        &self,
        path: &str,
        version_id: &str,
    ) -> Result<Box<dyn Read + Send>, SinkError> {
        check_relative_path(path)?;
        let key = self.root.key(path);
        let req = self
            .client
            .get_object()
            .bucket(&self.root.bucket)
            .key(&key)
            .version_id(version_id);
        let out = self.rt.block_on(req.send()).map_err(|e| {
            SinkError::Remote(format!(
                "s3://{}/{key} version {version_id}: {}",
                self.root.bucket,
                err_text(&e)
            ))
        })?;
        Ok(Box::new(BodyReader {
            rt: self.rt.clone(),
            body: out.body,
            chunk: bytes::Bytes::new(),
        }))
    }

    fn list(&self) -> Result<Vec<String>, SinkError> {
        let prefix = self.root.key("");
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .list_objects_v2()
                .bucket(&self.root.bucket)
                .prefix(&prefix)
                .set_continuation_token(token.take());
            let page = self.rt.block_on(req.send()).map_err(|e| {
                SinkError::Remote(format!("listing {}: {}", self.root, err_text(&e)))
            })?;
            for o in page.contents() {
                if let Some(rel) = o.key().and_then(|k| k.strip_prefix(&prefix)) {
                    out.push(rel.to_owned());
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    fn describe(&self, path: &str) -> Option<ObjectFacts> {
        let key = self.root.key(path);
        let req = self
            .client
            .head_object()
            .bucket(&self.root.bucket)
            .key(&key);
        let out = match self.rt.block_on(req.send()) {
            Ok(o) => o,
            Err(e) => {
                return Some(ObjectFacts {
                    version_id: None,
                    text: format!("no object facts: {}", err_text(&e)),
                })
            }
        };
        let until = out
            .object_lock_retain_until_date()
            .and_then(|d| d.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).ok());
        let text = format!(
            "version {}, object lock {}, retain until {}, legal hold {}",
            out.version_id().unwrap_or("none"),
            out.object_lock_mode().map_or("none", |m| m.as_str()),
            until.as_deref().unwrap_or("none"),
            out.object_lock_legal_hold_status()
                .map_or("off", |s| s.as_str()),
        );
        Some(ObjectFacts {
            version_id: out.version_id().map(str::to_owned),
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transport failure is described by its messages alone, outermost first, each once,
    /// with no `Debug` dump of the SDK's error structs (what the summary line and the log
    /// show a responder).
    #[test]
    fn transport_errors_are_one_short_line() {
        use aws_sdk_s3::config::http::HttpResponse;
        use aws_sdk_s3::error::ConnectorError;
        use aws_sdk_s3::error::SdkError;
        use aws_sdk_s3::operation::put_object::PutObjectError;
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "tcp connect error: Connection refused (os error 111)",
        );
        let e: SdkError<PutObjectError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(io)));
        let text = err_text(&e);
        assert_eq!(
            text,
            "dispatch failure: io error: tcp connect error: Connection refused (os error 111)"
        );
        assert!(
            !text.contains("DispatchFailure") && !text.contains('{'),
            "{text}"
        );
    }

    /// The multipart completion checksum is SHA-256 over the parts' digests with the part count,
    /// and none when a part lacks its digest.
    #[test]
    fn composite_checksum_is_over_the_part_digests_with_the_part_count() {
        let part = |n: i32, body: &[u8]| {
            CompletedPart::builder()
                .part_number(n)
                .checksum_sha256(b64_sha256(body))
                .build()
        };
        let parts = [part(1, b"first part"), part(2, b"second")];
        assert_eq!(
            composite_sha256(&parts).as_deref(),
            Some("uuadpAct5xACtSaoxUcMYjjiBHFXWk36g7Y1st+cM/I=-2")
        );
        let unhashed = CompletedPart::builder().part_number(3).build();
        assert_eq!(composite_sha256(&[part(1, b"x"), unhashed]), None);
    }

    /// S3 URLs parse to bucket and prefix (principal ids with colons included); bad buckets, `..`,
    /// `.`, doubled slashes, spaces and newlines are refused.
    #[test]
    fn urls_parse() {
        let u = S3Url::parse("s3://evidence-test/cases/ir-7/").unwrap();
        assert_eq!(u.bucket, "evidence-test");
        assert_eq!(u.prefix, "cases/ir-7");
        assert_eq!(u.key("manifest.json"), "cases/ir-7/manifest.json");
        assert_eq!(
            u.join(&["i-1", "c"]).to_string(),
            "s3://evidence-test/cases/ir-7/i-1/c"
        );
        let principal = S3Url::parse("s3://evidence-test/e/AROAEXAMPLEID:i-0123/IR-1").unwrap();
        assert_eq!(principal.prefix, "e/AROAEXAMPLEID:i-0123/IR-1");
        let bare = S3Url::parse("s3://evidence-test").unwrap();
        assert_eq!(bare.key("a"), "a");
        for bad in [
            "evidence-test/x",
            "s3://",
            "s3://Bad_Bucket/x",
            "s3://ev",
            "s3://evidence-test/../x",
            "s3://evidence-test/a//b",
            "s3://evidence-test/a b",
            "s3://evidence-test/a\nb",
            "s3://evidence-test/./x",
        ] {
            assert!(S3Url::parse(bad).is_err(), "{bad}");
        }
    }

    /// Multipart part sizes grow so that 10,000 parts cover 5TiB, from the default and the minimum
    /// size, and never exceed the maximum.
    #[test]
    fn part_size_grows_so_ten_thousand_parts_cover_five_tib() {
        let base = DEFAULT_PART_SIZE;
        assert_eq!(part_size_for(base, 1), base);
        assert_eq!(part_size_for(base, 900), base);
        assert_eq!(part_size_for(base, 901), base * 2);
        let total: u64 = (1..=MAX_PARTS).map(|n| part_size_for(base, n)).sum();
        assert!(total > 5u64 << 40, "{total}");
        let total_min: u64 = (1..=MAX_PARTS)
            .map(|n| part_size_for(MIN_PART_SIZE, n))
            .sum();
        assert!(total_min > 5u64 << 40, "{total_min}");
        assert!(part_size_for(base, MAX_PARTS) <= MAX_PART_SIZE);
    }

    /// Object Lock retention modes parse case-insensitively; an unknown one is refused.
    #[test]
    fn retention_modes_parse() {
        assert_eq!("compliance".parse(), Ok(RetentionMode::Compliance));
        assert_eq!("GOVERNANCE".parse(), Ok(RetentionMode::Governance));
        assert!("legal".parse::<RetentionMode>().is_err());
    }
}
