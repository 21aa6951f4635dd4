//! One collection: spec → collectors → pipeline → sink → manifest, in volatility order.

use crate::collect::{self, CollectError, Context, Output};
use crate::custody::{Recipients, SigningKey, SIGNATURE_PATH};
use crate::host;
use crate::manifest::{
    ArtifactEntry, BuildInfo, ClockInfo, CollectorInfo, EncryptionInfo, Endpoint, HostInfo,
    Invocation, Manifest, SignatureInfo, SpecInfo, Status, ToolInfo, MANIFEST_PATH, SCHEMA,
};
use crate::pipeline::{sha256_reader, ArtifactWriter, Compression, Encoding};
use crate::progress::Progress;
use crate::sink::Sink;
use crate::summary::Summary;
use crate::timefmt;
use collector_spec::{ArtifactSpec, LoadedSpec};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Where the spec's copy is stored in the collection.
const SPEC_PATH: &str = "artifacts/spec.yaml.zst";

/// Time kept back from the deadline to write the manifest.
const MANIFEST_RESERVE: Duration = Duration::from_millis(500);
/// How long a timed-out collector gets to stop on its own before it is abandoned.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// A run that produced no manifest.
#[derive(Debug, Error)]
pub enum RunError {
    /// The sink could not be opened.
    #[error("cannot open the destination: {0}")]
    Sink(String),
    /// The manifest could not be stored.
    #[error("cannot store the manifest: {message}")]
    Manifest {
        /// What failed.
        message: String,
        /// The collection whose manifest is missing.
        collection_id: String,
        /// Its collection root, where whatever was stored before the failure lies.
        location: String,
    },
}

/// What shapes a run besides the spec.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `builtin:<name>` or the spec file path.
    pub spec_source: String,
    /// Whole-run deadline (the tighter of the flag and the spec's).
    pub deadline: Option<Duration>,
    /// Budget for the IMDS identity lookup.
    pub imds_budget: Duration,
    /// Show progress on stderr.
    pub progress: bool,
    /// Set by a signal handler: stop, mark the rest skipped, write the manifest.
    pub stop: Arc<AtomicBool>,
    /// Where host files (files, logins, users collectors) are read from; `None` means `/`.
    pub root: Option<std::path::PathBuf>,
    /// Most threads one collector may use.
    pub threads: usize,
    /// Most artifacts collected at once (1: one after another). Record collectors overlap;
    /// file groups and memory dumps always run alone.
    pub parallel_artifacts: usize,
    /// age recipients every artifact is encrypted to; `None` (or empty) stores them readable.
    pub recipients: Option<Arc<Recipients>>,
    /// The key the manifest is signed with (the team's, or an ephemeral one).
    pub signing_key: Arc<SigningKey>,
    /// Who asked for the collection.
    pub invocation: Invocation,
    /// SNTP server to measure the clock's skew against (`host[:port]`); `None`: not measured.
    pub time_source: Option<String>,
    /// Total time allowed for the skew measurement.
    pub time_timeout: Duration,
    /// The CPU quota asked for and where it was applied; `None`: no quota asked for.
    pub cpu_quota: Option<crate::limits::cgroup::CpuQuota>,
}

/// Build facts stamped in by build.rs.
pub fn build_info() -> BuildInfo {
    BuildInfo {
        target: env!("VESTIGE_BUILD_TARGET").to_owned(),
        profile: env!("VESTIGE_BUILD_PROFILE").to_owned(),
        rustc: env!("VESTIGE_BUILD_RUSTC").to_owned(),
        features: env!("VESTIGE_BUILD_FEATURES")
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect(),
        commit: option_env!("VESTIGE_BUILD_COMMIT")
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
    }
}

/// A value from the environment that is safe to record: at most 128 characters of
/// `[A-Za-z0-9._:-]`; anything else is not recorded.
fn env_id(name: &str) -> Option<String> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    (!v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')))
    .then(|| v.to_owned())
}

impl Invocation {
    /// The SSM facts in this process's environment: `VESTIGE_SSM_COMMAND_ID` (the SSM
    /// document sets it from its orchestration directory), `AWS_SSM_INSTANCE_ID` and
    /// `AWS_SSM_REGION_NAME` (set by the SSM agent).
    pub fn from_env() -> Self {
        Self {
            ssm_command_id: env_id("VESTIGE_SSM_COMMAND_ID"),
            ssm_instance_id: env_id("AWS_SSM_INSTANCE_ID"),
            ssm_region: env_id("AWS_SSM_REGION_NAME"),
        }
    }
}

/// The identity a collection is filed under.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Safe host id (instance id or hostname).
    pub host_id: String,
    /// `<UTC start>-<8 hex>`.
    pub collection_id: String,
}

/// Opens the sink for a collection once its identity is known.
pub type SinkOpener<'a> = &'a dyn Fn(&Identity) -> Result<Arc<dyn Sink>, String>;

/// A fresh collection id: UTC start time plus a random suffix.
pub fn new_collection_id() -> String {
    let mut rnd = [0u8; 4];
    if getrandom::getrandom(&mut rnd).is_err() {
        rnd = std::process::id().to_le_bytes();
    }
    format!("{}-{}", timefmt::now_compact(), hex::encode(rnd))
}

/// Runs a collection. `open_sink` receives the identity and returns the sink for it.
pub fn collect(
    spec: &LoadedSpec,
    opts: &RunOptions,
    open_sink: SinkOpener<'_>,
) -> Result<(Manifest, Summary), RunError> {
    let t0 = Instant::now();
    let clock_start = crate::clock::read();
    // Measured beside the collection, never in front of it.
    let skew_probe = opts
        .time_source
        .as_deref()
        .map(|s| crate::clock::SkewProbe::start(s, opts.time_timeout));
    // The footprint is measured over the run itself (before and after), not process start-up.
    let write_bytes_before = self_io_write_bytes();
    let started_at = timefmt::now_rfc3339();
    let deadline_at = opts.deadline.map(|d| t0 + d);
    let collection_id = new_collection_id();
    // Hash our own binary beside the collection: it is needed only for the manifest.
    // `processes` takes it from here for vestige's own record instead of hashing it again.
    let own_sha = Arc::new(std::sync::OnceLock::new());
    let tool_sha = std::thread::Builder::new().name("hash-self".into()).spawn({
        let own_sha = own_sha.clone();
        move || {
            let sha = std::fs::File::open("/proc/self/exe")
                .and_then(|f| sha256_reader(f, None))
                .ok()
                .map(|(h, _)| h);
            let _ = own_sha.set(sha.clone());
            sha
        }
    });

    let identity_budget = match opts.deadline {
        Some(d) => opts.imds_budget.min(d / 10),
        None => opts.imds_budget,
    };
    let ident = host::instance_identity(identity_budget);
    let hostname = host::hostname();
    let host_id = host::sanitize_host_id(
        ident
            .instance_id
            .as_deref()
            .or(hostname.as_deref())
            .unwrap_or("unknown-host"),
    );
    let identity = Identity {
        host_id: host_id.clone(),
        collection_id: collection_id.clone(),
    };
    let sink = open_sink(&identity).map_err(RunError::Sink)?;
    let ctx = Arc::new(
        match &opts.root {
            Some(root) => Context::host().with_host_root(root),
            None => Context::host(),
        }
        .with_threads(opts.threads)
        .with_own_exe_sha256(own_sha)
        .with_shared_fd_tables(shares_fd_tables(&spec.spec.artifacts)),
    );
    let compression = Compression::Zstd(spec.spec.zstd_level.0);
    let encoding = Encoding::new(compression, opts.recipients.clone())
        .with_record_compression(Compression::Zstd(spec.spec.records_zstd_level.0));
    let mut threads_peak = self_threads();
    let mut progress = Progress::new(opts.progress, spec.spec.artifacts.len());
    let mut entries: Vec<ArtifactEntry> = Vec::new();
    let mut interrupted: Option<String> = None;

    // The spec itself, first in the manifest: it says what the run meant to do. Encrypted
    // like every other artifact: its paths and patterns say what the responders looked for.
    // Stored beside the first artifacts rather than before them (it is not volatile).
    let store_spec_job = {
        let (sink, source, encoding) = (sink.clone(), spec.source.clone(), encoding.clone());
        move || match store_spec(sink.as_ref(), SPEC_PATH, &source, &encoding) {
            Ok(e) => e,
            Err(msg) => ArtifactEntry::empty("spec", "spec", Status::Error, Some(msg)),
        }
    };
    let spec_thread = std::thread::Builder::new()
        .name("store-spec".into())
        .spawn(store_spec_job.clone());

    // Artifacts start in spec order (most volatile first). Up to `parallel_artifacts` record
    // collectors run at once, so one's serial tail (its last records hashed, compressed and
    // stored) overlaps the next one's reading; see [`may_start`].
    let n = spec.spec.artifacts.len();
    let mut results: Vec<Vec<ArtifactEntry>> = vec![Vec::new(); n];
    let mut running: Vec<(usize, &'static str)> = Vec::new();
    let (done_tx, done_rx) = mpsc::channel::<Finished>();
    let mut on_done = |f: Finished,
                       results: &mut Vec<Vec<ArtifactEntry>>,
                       running: &mut Vec<(usize, &'static str)>,
                       interrupted: &mut Option<String>,
                       progress: &mut Progress| {
        running.retain(|(i, _)| *i != f.index);
        threads_peak = threads_peak.max(self_threads());
        if let Some(reason) = f.stopped_by {
            if reason == Stop::Signal {
                *interrupted = Some("interrupted by signal".into());
            } else if interrupted.is_none()
                && deadline_at.is_some_and(|at| Instant::now() + MANIFEST_RESERVE >= at)
            {
                *interrupted = Some("deadline reached".into());
            }
        }
        if let Some(main) = f.entries.last() {
            progress.done(main, f.position);
        }
        if let Some(slot) = results.get_mut(f.index) {
            *slot = f.entries;
        }
    };
    for (index, artifact) in spec.spec.artifacts.iter().enumerate() {
        let name = artifact.name.as_str();
        let kind = artifact.collect.kind();
        while !may_start(kind, &running, opts.parallel_artifacts) {
            match done_rx.recv() {
                Ok(f) => on_done(
                    f,
                    &mut results,
                    &mut running,
                    &mut interrupted,
                    &mut progress,
                ),
                Err(_) => running.clear(),
            }
        }
        if interrupted.is_none() && opts.stop.load(Ordering::Relaxed) {
            interrupted = Some("interrupted by signal".into());
        }
        if let Some(why) = &interrupted {
            if let Some(slot) = results.get_mut(index) {
                slot.push(ArtifactEntry::empty(
                    name,
                    kind,
                    Status::Skipped,
                    Some(why.clone()),
                ));
            }
            progress.skipped(name, why);
            continue;
        }
        let mut timeout = artifact.timeout.0;
        let mut limit = Limit::ArtifactTimeout;
        if let Some(at) = deadline_at {
            let left = at
                .saturating_duration_since(Instant::now())
                .saturating_sub(MANIFEST_RESERVE);
            if left < Duration::from_millis(50) {
                let why = "deadline reached before this artifact started".to_owned();
                interrupted = Some("deadline reached".into());
                if let Some(slot) = results.get_mut(index) {
                    slot.push(ArtifactEntry::empty(
                        name,
                        kind,
                        Status::Skipped,
                        Some(why.clone()),
                    ));
                }
                progress.skipped(name, &why);
                continue;
            }
            if left < timeout {
                timeout = left;
                limit = Limit::RunDeadline;
            }
        }
        let position = progress.start(name);
        running.push((index, kind));
        let job = (
            ctx.clone(),
            sink.clone(),
            encoding.clone(),
            artifact.clone(),
            opts.stop.clone(),
            done_tx.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("artifact-{index}"))
            .spawn(move || {
                let (ctx, sink, encoding, artifact, stop, done) = job;
                let mut reply = Reply {
                    done: Some(done),
                    index,
                    position,
                    name: artifact.name.as_str().to_owned(),
                    kind: artifact.collect.kind(),
                };
                let (entries, stopped_by) =
                    run_artifact(&ctx, &sink, &encoding, &artifact, (timeout, limit), &stop);
                reply.send(entries, stopped_by);
            });
        if let Err(e) = spawned {
            // No thread for it: run it here, one at a time.
            tracing::debug!("artifact thread: {e}; running {name} inline");
            let (entries, stopped_by) = run_artifact(
                &ctx,
                &sink,
                &encoding,
                artifact,
                (timeout, limit),
                &opts.stop,
            );
            on_done(
                Finished {
                    index,
                    position,
                    entries,
                    stopped_by,
                },
                &mut results,
                &mut running,
                &mut interrupted,
                &mut progress,
            );
        }
    }
    drop(done_tx);
    while !running.is_empty() {
        match done_rx.recv() {
            Ok(f) => on_done(
                f,
                &mut results,
                &mut running,
                &mut interrupted,
                &mut progress,
            ),
            Err(_) => break,
        }
    }
    let spec_entry = match spec_thread {
        Ok(handle) => handle.join().unwrap_or_else(|_| {
            ArtifactEntry::empty(
                "spec",
                "spec",
                Status::Error,
                Some("storing the spec failed".into()),
            )
        }),
        // No thread for it: stored here.
        Err(_) => store_spec_job(),
    };
    let spec_stored = spec_entry.path.clone();
    entries.push(spec_entry);
    entries.extend(results.into_iter().flatten());

    let skew = skew_probe.map_or_else(crate::clock::ClockSkew::disabled, |p| p.finish());
    let mut endpoints = Vec::new();
    if let Some(src) = &opts.time_source {
        endpoints.push(Endpoint {
            purpose: "ntp".into(),
            address: src.clone(),
        });
    }
    if !host::imds_disabled() {
        endpoints.push(Endpoint {
            purpose: "imds".into(),
            address: host::endpoint_from_env(),
        });
    }
    endpoints.extend(sink.endpoints());
    let mut manifest = Manifest {
        schema: SCHEMA.to_owned(),
        collection_id: collection_id.clone(),
        host_id: host_id.clone(),
        started_at,
        finished_at: String::new(),
        tool: ToolInfo {
            name: "vestige".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sha256: tool_sha.ok().and_then(|h| h.join().ok()).flatten(),
            build: build_info(),
        },
        spec: SpecInfo {
            name: spec.spec.name.clone(),
            sha256: spec.sha256.clone(),
            source: opts.spec_source.clone(),
            path: spec_stored,
        },
        host: HostInfo {
            hostname,
            boot_id: crate::procfs::read::read_small(&ctx.proc.join("sys/kernel/random/boot_id"))
                .ok()
                .map(|b| crate::procfs::text::trimmed(&b)),
            instance_id: ident.instance_id,
            account_id: ident.account_id,
            region: ident.region,
            kernel_release: crate::procfs::read::read_small(&ctx.proc.join("sys/kernel/osrelease"))
                .ok()
                .map(|b| crate::procfs::text::trimmed(&b)),
        },
        collector: CollectorInfo {
            pid: std::process::id(),
            sink: sink.destination(),
            write_bytes: self_io_write_bytes()
                .zip(write_bytes_before)
                .map(|(after, before)| after.saturating_sub(before)),
            peak_rss_bytes: self_peak_rss(),
            nice: crate::procfs::read::read_small(&ctx.proc.join("self/stat"))
                .ok()
                .and_then(|b| crate::procfs::stat::Stat::parse(&b).ok())
                .map(|s| s.nice),
            io_priority: crate::limits::io_priority().map(|(class, level)| match class {
                1 => format!("rt:{level}"),
                2 => format!("be:{level}"),
                3 => "idle".to_owned(),
                _ => "none".to_owned(),
            }),
            cpu_quota: opts
                .cpu_quota
                .as_ref()
                .map(crate::limits::cgroup::CpuQuota::report),
            interrupted,
            threads: self_threads(),
            threads_peak: threads_peak.max(self_threads()),
            endpoints,
            fallback: sink.fallback(),
        },
        clock: Some(ClockInfo {
            start: clock_start,
            end: crate::clock::read(),
            skew,
        }),
        invocation: opts.invocation.clone(),
        encryption: encoding.encryption.as_ref().map(|r| EncryptionInfo {
            format: "age".into(),
            recipients: r.as_strings().to_vec(),
            scope: "every artifact, the spec copy included (objects ending in .age); \
                    manifest.json and its signature are stored readable"
                .into(),
        }),
        signature: Some(SignatureInfo {
            algorithm: "ed25519".into(),
            public_key: opts.signing_key.public_key().to_string(),
            key: opts.signing_key.origin().as_str().into(),
            path: SIGNATURE_PATH.into(),
        }),
        artifacts: entries,
    };
    manifest.finished_at = timefmt::now_rfc3339();
    let manifest_error = |message: String| RunError::Manifest {
        message,
        collection_id: collection_id.clone(),
        location: sink.location(),
    };
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| manifest_error(e.to_string()))?;
    let mut w = ArtifactWriter::create(sink.as_ref(), MANIFEST_PATH, Compression::None)
        .map_err(|e| manifest_error(e.to_string()))?;
    w.write_raw(&body)
        .map_err(|e| manifest_error(e.to_string()))?;
    let fin = w.finish().map_err(|e| manifest_error(e.to_string()))?;
    // The signature, after the manifest and through the same sink: 64 raw bytes over the
    // exact manifest bytes.
    let signature = opts.signing_key.sign(&body);
    let mut w = ArtifactWriter::create(sink.as_ref(), SIGNATURE_PATH, Compression::None)
        .map_err(|e| manifest_error(format!("signature: {e}")))?;
    w.write_raw(&signature)
        .map_err(|e| manifest_error(format!("signature: {e}")))?;
    w.finish()
        .map_err(|e| manifest_error(format!("signature: {e}")))?;
    sink.close().map_err(|e| manifest_error(e.to_string()))?;
    progress.finish(&manifest);
    let summary = Summary::new(
        &manifest,
        &sink.location(),
        &fin.digest.stored_sha256,
        t0.elapsed(),
    );
    Ok((manifest, summary))
}

fn store_spec(
    sink: &dyn Sink,
    path: &str,
    source: &str,
    encoding: &Encoding,
) -> Result<ArtifactEntry, String> {
    let mut w = ArtifactWriter::create(sink, path, encoding.clone()).map_err(|e| e.to_string())?;
    w.write_raw(source.as_bytes()).map_err(|e| e.to_string())?;
    let fin = w.finish().map_err(|e| e.to_string())?;
    Ok(ArtifactEntry::stored("spec", "spec", &fin))
}

/// An artifact's outcome, sent back by the thread that ran it.
struct Finished {
    /// Its place in the spec.
    index: usize,
    /// Its number on the progress display.
    position: usize,
    entries: Vec<ArtifactEntry>,
    stopped_by: Option<Stop>,
}

/// Sends an artifact's outcome to the scheduler exactly once: the result, or, should its
/// thread end without one, an error entry (so the scheduler never waits for it forever).
struct Reply {
    done: Option<mpsc::Sender<Finished>>,
    index: usize,
    position: usize,
    name: String,
    kind: &'static str,
}

impl Reply {
    fn send(&mut self, entries: Vec<ArtifactEntry>, stopped_by: Option<Stop>) {
        if let Some(done) = self.done.take() {
            let _ = done.send(Finished {
                index: self.index,
                position: self.position,
                entries,
                stopped_by,
            });
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        let entry = ArtifactEntry::empty(
            &self.name,
            self.kind,
            Status::Error,
            Some("the artifact's thread ended without a result".into()),
        );
        self.send(vec![entry], None);
    }
}

/// Kinds that store bulk bytes (file groups, memory dumps): each runs alone, so their
/// compression workers and upload buffers never add up with another artifact's.
fn runs_alone(kind: &str) -> bool {
    matches!(kind, "files" | "process_memory" | "ram")
}

/// Whether an artifact of `kind` may start beside the artifacts `running` (their spec
/// positions and kinds), with at most `parallel` at once. Bulk-byte kinds run alone, and
/// `open_files` waits for a `connections` still running (it takes the descriptor tables
/// that one reads).
fn may_start(kind: &str, running: &[(usize, &'static str)], parallel: usize) -> bool {
    if running.is_empty() {
        return true;
    }
    let full = running.len() >= parallel.max(1);
    let bulk = runs_alone(kind) || running.iter().any(|(_, k)| runs_alone(k));
    let needs_fd_walk = kind == "open_files" && running.iter().any(|(_, k)| *k == "connections");
    !(full || bulk || needs_fd_walk)
}

/// Why an artifact stopped before its collector finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Timeout,
    Signal,
}

/// What an artifact's time limit comes from: its own `timeout`, or the time left before the
/// run's deadline when that is shorter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    ArtifactTimeout,
    RunDeadline,
}

/// Runs one artifact's collector on its own thread under a time limit. Returns its entries
/// (extras first, the main artifact last) and what stopped it, if anything.
fn run_artifact(
    ctx: &Arc<Context>,
    sink: &Arc<dyn Sink>,
    encoding: &Encoding,
    artifact: &ArtifactSpec,
    (timeout, limit): (Duration, Limit),
    stop: &Arc<AtomicBool>,
) -> (Vec<ArtifactEntry>, Option<Stop>) {
    let name = artifact.name.as_str().to_owned();
    let kind = artifact.collect.kind();
    let started_at = timefmt::now_rfc3339();
    let t0 = Instant::now();
    let extras = Arc::new(Mutex::new(Vec::new()));
    let cancel = Arc::new(AtomicBool::new(false));
    let stop_reason = Arc::new(Mutex::new(None));
    let take_extras = |extras: &Arc<Mutex<Vec<ArtifactEntry>>>| -> Vec<ArtifactEntry> {
        extras
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    };
    let stamp = |mut e: ArtifactEntry| {
        e.started_at = Some(started_at.clone());
        e.duration_ms = Some(u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX));
        e
    };

    let mut out = match Output::open(
        sink.clone(),
        encoding.clone(),
        &name,
        kind,
        extras.clone(),
        cancel.clone(),
    ) {
        Ok(o) => o.with_stop_reason(stop_reason.clone()),
        Err(e) => {
            return (
                vec![stamp(ArtifactEntry::empty(
                    &name,
                    kind,
                    Status::Error,
                    Some(e.to_string()),
                ))],
                None,
            )
        }
    };
    let (tx, rx) = mpsc::channel();
    let spec = artifact.collect.clone();
    let thread_ctx = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("collect-{name}"))
        .spawn(move || {
            let res = collect::run(&spec, &thread_ctx, &mut out);
            let _ = tx.send((res, out));
        });
    if let Err(e) = spawned {
        return (
            vec![stamp(ArtifactEntry::empty(
                &name,
                kind,
                Status::Error,
                Some(format!("cannot start collector: {e}")),
            ))],
            None,
        );
    }

    let why_stopped = |s: Stop| match s {
        Stop::Timeout if limit == Limit::RunDeadline => format!(
            "stopped at the run's deadline, after {}",
            collector_spec::SpecDuration(timeout)
        ),
        Stop::Timeout => format!(
            "timed out after {} (the artifact's timeout)",
            collector_spec::SpecDuration(timeout)
        ),
        Stop::Signal => "interrupted by signal".to_owned(),
    };
    let mut stopped: Option<Stop> = None;
    let mut cancelled_at: Option<Instant> = None;
    let received = loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(msg) => break Some(msg),
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if stopped.is_none() {
            if stop.load(Ordering::Relaxed) {
                stopped = Some(Stop::Signal);
            } else if t0.elapsed() >= timeout {
                stopped = Some(Stop::Timeout);
            }
            if let Some(s) = stopped {
                if let Ok(mut r) = stop_reason.lock() {
                    *r = Some(why_stopped(s));
                }
                cancel.store(true, Ordering::Relaxed);
                cancelled_at = Some(Instant::now());
            }
        }
        if cancelled_at.is_some_and(|c| c.elapsed() >= CANCEL_GRACE) {
            break None;
        }
    };

    let mut entries = take_extras(&extras);
    let main = match received {
        None => {
            let msg = match stopped {
                Some(s) => format!(
                    "{}; the collector did not stop and was abandoned",
                    why_stopped(s)
                ),
                None => "collector thread ended without a result".to_owned(),
            };
            ArtifactEntry::empty(&name, kind, Status::Error, Some(msg))
        }
        Some((res, out)) => {
            let outcome = match res {
                Ok(()) => None,
                Err(CollectError::Cancelled) => {
                    Some(stopped.map_or("cancelled".to_owned(), why_stopped))
                }
                Err(e) => Some(e.to_string()),
            };
            match out.finish() {
                Ok(done) => {
                    let mut e = ArtifactEntry::stored(&name, kind, &done.finished);
                    e.records = Some(done.records);
                    e.warnings = done.warnings;
                    e.warning_count = done.warning_count;
                    e.status = match (&outcome, e.warning_count) {
                        (None, 0) => Status::Ok,
                        (None, _) => Status::Partial,
                        (Some(_), _) if done.records == 0 => Status::Error,
                        (Some(_), _) => Status::Partial,
                    };
                    e.error = outcome.or_else(|| {
                        (e.warning_count > 0).then(|| {
                            format!("{} problems while reading (see warnings)", e.warning_count)
                        })
                    });
                    e
                }
                Err(e) => ArtifactEntry::empty(
                    &name,
                    kind,
                    Status::Error,
                    Some(match outcome {
                        Some(o) => format!("{o}; then storing failed: {e}"),
                        None => format!("storing failed: {e}"),
                    }),
                ),
            }
        }
    };
    entries.extend(take_extras(&extras));
    entries.push(stamp(main));
    (entries, stopped)
}

/// write_bytes of /proc/self/io: bytes this process caused to be written to storage.
pub fn self_io_write_bytes() -> Option<u64> {
    let buf = std::fs::read_to_string("/proc/self/io").ok()?;
    buf.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether an `open_files` artifact follows a `connections` one: then the descriptor tables
/// read for the first serve the second.
fn shares_fd_tables(artifacts: &[collector_spec::ArtifactSpec]) -> bool {
    let kinds: Vec<&str> = artifacts.iter().map(|a| a.collect.kind()).collect();
    kinds
        .iter()
        .position(|k| *k == "connections")
        .is_some_and(|at| kinds.iter().skip(at + 1).any(|k| *k == "open_files"))
}

/// Threads of this process now (/proc/self/status `Threads`).
pub fn self_threads() -> Option<u64> {
    let buf = std::fs::read_to_string("/proc/self/status").ok()?;
    buf.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Peak RSS (VmHWM) of this process, bytes.
pub fn self_peak_rss() -> Option<u64> {
    let buf = std::fs::read_to_string("/proc/self/status").ok()?;
    buf.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::{may_start, Reply};
    use crate::manifest::{ArtifactEntry, Status};

    /// [fault] An artifact thread that ends without a result still answers the scheduler once,
    /// with an error entry; one that answered is not answered for twice.
    #[test]
    fn an_artifact_thread_always_answers_once() {
        let reply = |tx: &std::sync::mpsc::Sender<super::Finished>| Reply {
            done: Some(tx.clone()),
            index: 3,
            position: 4,
            name: "maps".into(),
            kind: "memory_maps",
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let lost = std::thread::spawn({
            let r = reply(&tx);
            move || {
                let _r = r;
                panic!("a collector bug");
            }
        })
        .join();
        assert!(lost.is_err());
        let f = rx.try_recv().unwrap();
        assert_eq!((f.index, f.position), (3, 4));
        assert_eq!(f.entries.len(), 1);
        assert_eq!(f.entries[0].status, Status::Error);
        assert_eq!(f.entries[0].name, "maps");

        let mut r = reply(&tx);
        r.send(
            vec![ArtifactEntry::empty(
                "maps",
                "memory_maps",
                Status::Ok,
                None,
            )],
            None,
        );
        drop(r);
        drop(tx);
        let got: Vec<_> = rx.iter().collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].entries[0].status, Status::Ok);
    }

    /// Record collectors run side by side up to the limit; a limit of 0 means one at a time.
    #[test]
    fn record_collectors_overlap_up_to_the_limit() {
        assert!(may_start("processes", &[], 2));
        assert!(may_start("connections", &[(0, "processes")], 2));
        assert!(!may_start(
            "memory_maps",
            &[(0, "processes"), (1, "connections")],
            2
        ));
        assert!(!may_start("connections", &[(0, "processes")], 1));
        // A limit of 0 means one at a time, not none.
        assert!(may_start("processes", &[], 0));
        assert!(!may_start("connections", &[(0, "processes")], 0));
    }

    /// Files, process memory and RAM collectors run alone, never beside another.
    #[test]
    fn bulk_byte_kinds_run_alone() {
        for bulk in ["files", "process_memory", "ram"] {
            assert!(may_start(bulk, &[], 4));
            assert!(
                !may_start(bulk, &[(0, "system")], 4),
                "{bulk} beside another"
            );
            assert!(
                !may_start("system", &[(0, bulk)], 4),
                "another beside {bulk}"
            );
        }
    }

    /// open_files waits while connections walks the descriptors, and may start beside others.
    #[test]
    fn open_files_waits_for_the_descriptor_walk() {
        assert!(!may_start("open_files", &[(1, "connections")], 4));
        assert!(may_start("open_files", &[(2, "memory_maps")], 4));
    }
}
