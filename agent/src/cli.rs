//! Command-line interface: parses flags and calls the library. Exit codes: 0 manifest
//! written (or verify passed); 2 usage or spec error, nothing collected; 1 the collection
//! could not be completed (or verify found a mismatch).

use crate::run::{self, RunOptions};
use crate::sink::dir::{DirReader, DirSink};
use crate::sink::{CollectionReader, Sink};
use clap::{Args, Parser, Subcommand};
use collector_spec::{LoadedSpec, Spec, SpecError, BUILTIN_PROFILES, DEFAULT_PROFILE};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// vestige: capture a Linux host's volatile state into a verifiable evidence bundle.
#[derive(Debug, Parser)]
#[command(name = "vestige", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collect evidence from this host.
    Collect(Box<CollectArgs>),
    /// Check a stored collection against its manifest and the manifest's signature.
    Verify(VerifyArgs),
    /// Write a self-contained HTML report of a stored collection for an analyst.
    Report(ReportArgs),
    /// Export the times of a stored collection as a sorted timeline (Timesketch JSONL or a
    /// mactime bodyfile).
    Timeline(TimelineArgs),
    /// Decrypt an encrypted collection into a directory, checking every hash on the way.
    Decrypt(DecryptArgs),
    /// Inspect collector specs.
    #[command(subcommand)]
    Spec(SpecCommand),
}

#[derive(Debug, Args)]
struct CollectArgs {
    /// Built-in profile name (triage, minimal, memory) or a YAML spec file.
    #[arg(long, default_value = DEFAULT_PROFILE, value_name = "NAME|FILE")]
    spec: String,
    /// Write the collection under DIR/<host-id>/<collection-id>/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write the collection under s3://BUCKET/PREFIX/<host-id>/<collection-id>/.
    #[arg(long, value_name = "s3://BUCKET[/PREFIX]")]
    s3: Option<String>,
    /// Whole-run deadline (e.g. 90s, 2m); later artifacts are skipped to meet it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    deadline: Option<Duration>,
    /// Time allowed for the EC2 instance-identity lookup.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    imds_timeout: Duration,
    /// CPU priority for the collection (nice value, -20 to 19).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i32).range(-20..=19))]
    nice: i32,
    /// I/O priority: `idle`, or `be:0` (highest) to `be:7` (lowest best-effort).
    #[arg(long, default_value = "be:7", value_parser = crate::limits::IoPriority::parse)]
    ionice: crate::limits::IoPriority,
    /// CPU quota for the run, in percent of one CPU (50 = half a core, 200 = two cores):
    /// vestige moves itself into a cgroup of its own with this quota (cgroup v2, else v1's
    /// cpu hierarchy) and leaves it at exit. If cgroups are not writable it warns, records why
    /// in the manifest and collects anyway. Wins over the spec's `cpu_quota`. Default: none.
    #[arg(long, value_name = "PERCENT", allow_negative_numbers = true,
          value_parser = collector_spec::CpuPercent::parse)]
    cpu_quota: Option<collector_spec::CpuPercent>,
    /// Most threads one collector may use (reading /proc in parallel, probing pids); default:
    /// the CPUs available, at most 4. The zstd worker and the S3 client add their own.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,
    /// Most artifacts collected at once, in spec order (1: strictly one after another).
    /// Record collectors overlap, so one's last records are stored while the next reads;
    /// file groups and memory dumps always run alone.
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=8))]
    parallel_artifacts: u16,
    /// Never draw progress, even on a terminal.
    #[arg(long)]
    quiet: bool,
    /// Read host files (the files, logins and users collectors) below DIR instead of `/`,
    /// e.g. a mounted disk image. A spec's own `root` option wins over it.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Encrypt every artifact to this age recipient (`age1…`, from `age-keygen`); repeat for
    /// several. Adds to the spec's `encrypt_to`. The manifest and its signature stay readable.
    #[arg(long = "encrypt-to", value_name = "RECIPIENT")]
    encrypt_to: Vec<String>,
    /// Sign the manifest with this Ed25519 private key (PKCS#8 PEM, e.g. from `openssl genpkey
    /// -algorithm ed25519`, or DER). Or put the PEM in VESTIGE_SIGNING_KEY. Without either, a
    /// key is generated for this collection and its public key printed in the summary line.
    #[arg(long, value_name = "FILE")]
    signing_key_file: Option<PathBuf>,
    /// SNTP server whose time the host clock's skew is measured against (`host[:port]`), or
    /// `none`. Default: Amazon Time Sync Service.
    #[arg(long, value_name = "HOST[:PORT]|none", default_value = crate::clock::DEFAULT_TIME_SOURCE)]
    time_source: String,
    /// Time allowed for the skew measurement (it runs beside the collection).
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_duration)]
    time_timeout: Duration,
    /// Dump this process's memory (repeatable). Joins the spec's `process_memory` artifact,
    /// or adds one, first, that dumps only the named processes.
    #[arg(long = "pid", value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pids: Vec<u32>,
    /// Also collect full RAM through /proc/kcore (LiME format), right after process memory.
    /// Off by default; the `memory` profile includes it.
    #[arg(long)]
    ram: bool,
    #[command(flatten)]
    s3_client: S3ClientArgs,
    #[command(flatten)]
    s3_upload: S3UploadArgs,
}

/// How vestige reaches S3. Credentials come only from the AWS default chain (environment,
/// shared profile via AWS_PROFILE, IMDSv2 instance role): no flag takes a key.
#[derive(Debug, Clone, Args)]
struct S3ClientArgs {
    /// AWS region of the bucket (else AWS_REGION, the profile, or IMDS).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// S3-compatible endpoint (also AWS_ENDPOINT_URL); uses path-style addressing.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Attempts per S3 request, retried with backoff on 5xx, throttling and timeouts.
    #[arg(long, value_name = "N", default_value_t = 5)]
    s3_max_attempts: u32,
    /// Time limit for one attempt of one S3 request.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    s3_attempt_timeout: Duration,
}

/// How `collect --s3` stores objects.
#[derive(Debug, Clone, Args)]
struct S3UploadArgs {
    /// Insert the caller's AWS user id (STS GetCallerIdentity; ROLE_ID:INSTANCE_ID for an
    /// instance profile) as a key segment after PREFIX, so a bucket policy on aws:userid can
    /// keep each instance to its own keys: PREFIX/USER_ID/HOST/COLLECTION.
    #[arg(long)]
    s3_caller_prefix: bool,
    /// Multipart part size (at least 5MiB); doubles every 900 parts so no upload needs more
    /// than 10,000.
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = parse_size)]
    part_size: u64,
    /// Parts uploading at once; part buffers take at most (this + 1) x part size (one more
    /// part fills while these upload).
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    parts_in_flight: u16,
    /// Object Lock mode for every object (else the bucket's default retention applies).
    #[arg(long, value_name = "MODE", value_parser = ["GOVERNANCE", "COMPLIANCE"],
          requires = "retention_period")]
    retention_mode: Option<String>,
    /// Retain each object this many days from its upload.
    #[arg(
        long,
        value_name = "N",
        group = "retention_period",
        requires = "retention_mode"
    )]
    retention_days: Option<u32>,
    /// Retain every object until this time (RFC 3339, e.g. 2027-12-31T00:00:00Z).
    #[arg(
        long,
        value_name = "TIME",
        group = "retention_period",
        requires = "retention_mode"
    )]
    retain_until: Option<String>,
    /// Place an Object Lock legal hold on every object.
    #[arg(long)]
    legal_hold: bool,
    /// Server-side encryption: aws:kms or AES256 (else the bucket's default).
    #[arg(long, value_name = "ALG", value_parser = ["aws:kms", "AES256"])]
    sse: Option<String>,
    /// KMS key id or ARN for --sse aws:kms.
    #[arg(long, value_name = "KEY")]
    sse_kms_key_id: Option<String>,
    /// When the bucket is unreachable, write what could not be uploaded (and the manifest)
    /// under DIR/<host-id>/<collection-id>/ instead.
    #[arg(long, value_name = "DIR")]
    fallback_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Collection root: a directory or an s3:// URI.
    location: String,
    /// The manifest_sha256 from the collection's summary line: also proves the manifest.
    #[arg(long, value_name = "HEX")]
    manifest_sha256: Option<String>,
    /// The Ed25519 public key the manifest must be signed with: the summary line's
    /// `signing_public_key` (base64) or the team's key (a PEM file from `openssl pkey -pubout`).
    #[arg(long, value_name = "KEY|FILE")]
    public_key: Option<String>,
    /// age identity file (`age-keygen` output): also decrypt every encrypted object and check
    /// its raw hash. Without it, encrypted objects are checked on their ciphertext.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// Print the full report as JSON instead of lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    s3_client: S3ClientArgs,
}

#[derive(Debug, Args)]
struct DecryptArgs {
    /// Collection root: a directory or an s3:// URI.
    location: String,
    /// age identity file (`age-keygen` output) of one of the collection's recipients.
    #[arg(long, value_name = "FILE")]
    identity: PathBuf,
    /// New directory to write the decrypted collection to (objects keep their names without
    /// `.age`: still zstd-compressed, as before encryption).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The manifest_sha256 from the collection's summary line.
    #[arg(long, value_name = "HEX")]
    manifest_sha256: Option<String>,
    /// The Ed25519 public key the manifest must be signed with (as for verify).
    #[arg(long, value_name = "KEY|FILE")]
    public_key: Option<String>,
    /// Print the full report as JSON instead of lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    s3_client: S3ClientArgs,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// Collection root: a directory or an s3:// URI.
    location: String,
    /// The HTML file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Do not re-check the stored objects (faster on a large remote collection); the page
    /// then says verification was not run.
    #[arg(long)]
    no_verify: bool,
    /// The manifest_sha256 from the collection's summary line: verification also proves the
    /// manifest.
    #[arg(long, value_name = "HEX", conflicts_with = "no_verify")]
    manifest_sha256: Option<String>,
    #[command(flatten)]
    s3_client: S3ClientArgs,
}

#[derive(Debug, Args)]
struct TimelineArgs {
    /// Collection root: a directory or an s3:// URI.
    location: String,
    /// `jsonl` (Timesketch: message, datetime, timestamp_desc, timestamp and source fields)
    /// or `bodyfile` (mactime: MD5|name|inode|mode|UID|GID|size|atime|mtime|ctime|crtime).
    #[arg(long, value_name = "FORMAT", default_value = "jsonl")]
    format: crate::timeline::Format,
    /// Write to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    s3_client: S3ClientArgs,
}

#[derive(Debug, Subcommand)]
enum SpecCommand {
    /// Validate a spec file; errors name the line and column.
    Check {
        /// YAML spec file.
        file: PathBuf,
    },
    /// Print a built-in profile (default: triage).
    Show {
        /// Profile name.
        name: Option<String>,
    },
    /// List built-in profiles.
    List,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    collector_spec::SpecDuration::parse(s).map(|d| d.0)
}

fn parse_size(s: &str) -> Result<u64, String> {
    collector_spec::ByteSize::parse(s).map(|b| b.0)
}

/// Exit status of a command.
pub type ExitCode = i32;

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("vestige: {msg}");
    2
}

/// Loads `--spec`: a built-in name, else a file.
fn load_spec(arg: &str) -> Result<(LoadedSpec, String), String> {
    if BUILTIN_PROFILES.iter().any(|(n, _)| *n == arg) {
        return Spec::builtin(arg)
            .map(|s| (s, format!("builtin:{arg}")))
            .map_err(|e| e.to_string());
    }
    let path = Path::new(arg);
    if !path.exists() {
        let names: Vec<&str> = BUILTIN_PROFILES.iter().map(|p| p.0).collect();
        return Err(format!(
            "`{arg}` is neither a built-in profile ({}) nor a file",
            names.join(", ")
        ));
    }
    let text = read_spec_file(path)?;
    Spec::from_yaml(&text)
        .map(|s| (s, path.display().to_string()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn read_spec_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if meta.len() > 1 << 20 {
        return Err(format!(
            "{}: a spec larger than 1 MiB is refused",
            path.display()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{}: not UTF-8 (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Parses arguments and runs; returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Collect(args) => collect(*args),
        Command::Verify(args) => verify(args),
        Command::Report(args) => report(args),
        Command::Timeline(args) => timeline(args),
        Command::Decrypt(args) => decrypt(args),
        Command::Spec(cmd) => spec(cmd),
    }
}

fn collect(args: CollectArgs) -> ExitCode {
    let (spec, mut source) = match load_spec(&args.spec) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let flags = collector_spec::MemoryFlags {
        pids: args.pids.clone(),
        ram: args.ram,
    };
    let spec = match spec.with_memory_flags(&flags) {
        Ok(s) => s,
        Err(e) => return usage_error(format!("applying --pid/--ram to the spec: {e}")),
    };
    if !flags.pids.is_empty() || flags.ram {
        source.push_str(" + flags");
    }
    if let Some(root) = &args.root {
        if !root.is_dir() {
            return usage_error(format!("--root {}: not a directory", root.display()));
        }
    }
    // Custody material is checked before anything is collected: a bad key or recipient is a
    // usage error (exit 2).
    let recipients = match crate::custody::Recipients::parse(
        args.encrypt_to
            .iter()
            .chain(spec.spec.encrypt_to.iter())
            .map(String::as_str),
    ) {
        Ok(r) => r,
        Err(e) => return usage_error(format!("--encrypt-to: {e}")),
    };
    let signing_key = match load_signing_key(args.signing_key_file.as_deref()) {
        Ok(k) => k,
        Err(e) => return usage_error(e),
    };
    let deadline = match (args.deadline, spec.spec.deadline) {
        (Some(a), Some(b)) => Some(a.min(b.0)),
        (a, b) => a.or(b.map(|d| d.0)),
    };
    let deadline_at = deadline.map(|d| std::time::Instant::now() + d);
    type Opener = Box<dyn Fn(&run::Identity) -> Result<Arc<dyn Sink>, String>>;
    let open_sink: Opener = match (&args.out, &args.s3) {
        (Some(_), Some(_)) => return usage_error("choose one destination: --out or --s3, not both"),
        (None, None) => {
            return usage_error(
                "no destination: give --out DIR for a local directory or --s3 s3://BUCKET/PREFIX for an evidence bucket",
            )
        }
        (Some(dir), None) => {
            let dir = dir.clone();
            Box::new(move |id: &run::Identity| {
                let root = dir.join(&id.host_id).join(&id.collection_id);
                DirSink::create_root(&root).map(|s| Arc::new(s) as Arc<dyn Sink>).map_err(|e| e.to_string())
            })
        }
        (None, Some(url)) => match s3::opener(url, &args.s3_client, &args.s3_upload, deadline_at) {
            Ok(o) => o,
            Err(e) => return usage_error(e),
        },
    };
    if args.s3.is_none() && args.fallback_out_or_s3_flags() {
        return usage_error("S3 upload flags need --s3");
    }

    // Lower our priority before any collector thread starts, so they all inherit it.
    if let Err(e) = crate::limits::set_nice(args.nice) {
        tracing::warn!("cannot set nice {}: {e}", args.nice);
    }
    if let Err(e) = crate::limits::set_io_priority(args.ionice) {
        tracing::warn!("cannot set I/O priority: {e}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            tracing::warn!("cannot handle signal {sig}: {e}");
        }
    }
    // After the signal handlers, so a signal cannot end vestige with the child cgroup left
    // behind. The guard lives to the end of this function: every return after this point
    // moves vestige back to its cgroup and removes the child.
    let (cpu_quota, _cpu_quota_guard) = match args.cpu_quota.or(spec.spec.cpu_quota) {
        Some(p) => {
            let (state, guard) = crate::limits::cgroup::enter(p.0);
            (Some(state), guard)
        }
        None => (None, None),
    };
    let opts = RunOptions {
        spec_source: source,
        deadline,
        imds_budget: args.imds_timeout,
        progress: !args.quiet && std::io::stderr().is_terminal(),
        stop,
        root: args.root.clone(),
        threads: args
            .threads
            .map_or_else(crate::collect::default_threads, usize::from),
        parallel_artifacts: usize::from(args.parallel_artifacts),
        recipients: (!recipients.is_empty()).then(|| Arc::new(recipients)),
        signing_key: Arc::new(signing_key),
        invocation: crate::manifest::Invocation::from_env(),
        time_source: (!args.time_source.eq_ignore_ascii_case("none"))
            .then(|| args.time_source.clone()),
        time_timeout: args.time_timeout,
        cpu_quota,
    };
    match run::collect(&spec, &opts, open_sink.as_ref()) {
        Ok((_manifest, summary)) => {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", summary.to_line());
            let _ = stdout.flush();
            0
        }
        Err(e) => {
            let detail = s3::failure_report();
            match &detail {
                Some(d) => eprintln!("vestige: collection failed: {e}\nvestige: {d}"),
                None => eprintln!("vestige: collection failed: {e}"),
            }
            let (collection_id, location) = match &e {
                run::RunError::Manifest {
                    collection_id,
                    location,
                    ..
                } => (Some(collection_id), Some(location)),
                run::RunError::Sink(_) => (None, None),
            };
            println!(
                "{}",
                crate::summary::failure_line(
                    collection_id.map(String::as_str),
                    location.map(String::as_str),
                    &e.to_string(),
                    detail.as_deref(),
                )
            );
            1
        }
    }
}

/// The team's signing key from `--signing-key-file` or VESTIGE_SIGNING_KEY (never argv), else
/// a key generated for this collection.
fn load_signing_key(file: Option<&Path>) -> Result<crate::custody::SigningKey, String> {
    use crate::custody::{SigningKey, SIGNING_KEY_ENV};
    let env = std::env::var_os(SIGNING_KEY_ENV).filter(|v| !v.is_empty());
    match (file, env) {
        (Some(_), Some(_)) => Err(format!(
            "give the signing key once: --signing-key-file or {SIGNING_KEY_ENV}, not both"
        )),
        (Some(f), None) => SigningKey::from_file(f).map_err(|e| format!("--signing-key-file {e}")),
        (None, Some(v)) => {
            SigningKey::from_bytes(std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()))
                .map_err(|e| format!("{SIGNING_KEY_ENV}: {e}"))
        }
        (None, None) => SigningKey::ephemeral(),
    }
}

impl CollectArgs {
    /// Whether any S3-only flag was given.
    fn fallback_out_or_s3_flags(&self) -> bool {
        let u = &self.s3_upload;
        u.retention_mode.is_some()
            || u.legal_hold
            || u.sse.is_some()
            || u.sse_kms_key_id.is_some()
            || u.fallback_out.is_some()
            || u.s3_caller_prefix
    }
}

fn open_reader(location: &str, client: &S3ClientArgs) -> Result<Box<dyn CollectionReader>, String> {
    if location.starts_with("s3://") {
        return s3::reader(location, client);
    }
    let p = Path::new(location);
    if !p.is_dir() {
        return Err(format!("{location}: not a directory"));
    }
    Ok(Box::new(DirReader::new(p)))
}

/// The collection to read and the optional `--public-key` to check its signature with.
type Opened = (Box<dyn CollectionReader>, Option<crate::custody::PublicKey>);

fn open_with_key(
    location: &str,
    client: &S3ClientArgs,
    public_key: Option<&str>,
) -> Result<Opened, String> {
    let reader = open_reader(location, client)?;
    let key = public_key
        .map(crate::custody::PublicKey::from_arg)
        .transpose()
        .map_err(|e| format!("--public-key {e}"))?;
    Ok((reader, key))
}

fn verify(args: VerifyArgs) -> ExitCode {
    let (reader, public_key) =
        match open_with_key(&args.location, &args.s3_client, args.public_key.as_deref()) {
            Ok(r) => r,
            Err(e) => return usage_error(e),
        };
    let identities = match args
        .identity
        .as_deref()
        .map(crate::custody::Identities::from_file)
    {
        None => None,
        Some(Ok(i)) => Some(i),
        Some(Err(e)) => return usage_error(format!("--identity {e}")),
    };
    let checks = crate::verify::Checks {
        manifest_sha256: args.manifest_sha256.as_deref(),
        public_key,
        identities: identities.as_ref(),
    };
    let report = crate::verify::check(reader.as_ref(), &checks, None);
    print_report(&report, args.json)
}

fn decrypt(args: DecryptArgs) -> ExitCode {
    let (reader, public_key) =
        match open_with_key(&args.location, &args.s3_client, args.public_key.as_deref()) {
            Ok(r) => r,
            Err(e) => return usage_error(e),
        };
    let identities = match crate::custody::Identities::from_file(&args.identity) {
        Ok(i) => i,
        Err(e) => return usage_error(format!("--identity {e}")),
    };
    if args.out.exists() {
        return usage_error(format!(
            "--out {}: exists; give a new directory",
            args.out.display()
        ));
    }
    let out = match DirSink::create_root(&args.out) {
        Ok(o) => o,
        Err(e) => return usage_error(format!("--out {e}")),
    };
    let checks = crate::verify::Checks {
        manifest_sha256: args.manifest_sha256.as_deref(),
        public_key,
        identities: Some(&identities),
    };
    let report = crate::verify::decrypt(reader.as_ref(), &checks, &out);
    print_report(&report, args.json)
}

fn print_report(report: &crate::verify::Report, json: bool) -> ExitCode {
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string(&report).unwrap_or_default()
        );
    } else {
        for p in &report.matched {
            let _ = writeln!(out, "ok        {p}");
        }
        for p in &report.problems {
            let _ = writeln!(out, "MISMATCH  {}: {}", p.path, p.cause);
        }
        for n in &report.notes {
            let _ = writeln!(out, "note      {n}");
        }
        let _ = writeln!(
            out,
            "{}",
            serde_json::json!({
                "location": report.location,
                "verified": report.ok(),
                "checked": report.checked,
                "problems": report.problems.len(),
                "manifest_sha256": report.manifest_sha256,
                "signature": report.signature,
                "signature_public_key": report.signature_public_key,
                "decrypted": report.decrypted,
                "ciphertext_only": report.ciphertext_only,
                "in_bucket": report.in_bucket,
                "plaintext_copies": report.plaintext_copies,
            })
        );
    }
    if report.ok() {
        0
    } else {
        1
    }
}

/// Writes `bytes` to `path` through a temporary name, so a half-written file never sits
/// under the final name.
fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("{}: {e}", path.display())
        })
}

fn report(args: ReportArgs) -> ExitCode {
    let reader = match open_reader(&args.location, &args.s3_client) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let opts = crate::report::ReportOptions {
        verify: !args.no_verify,
        manifest_sha256: args.manifest_sha256,
    };
    let (page, summary) = crate::report::build(reader.as_ref(), &opts);
    if let Err(e) = write_file_atomically(&args.out, page.as_bytes()) {
        eprintln!("vestige: cannot write the report: {e}");
        return 1;
    }
    println!(
        "{}",
        serde_json::json!({
            "report": args.out.display().to_string(),
            "location": reader.location(),
            "bytes": page.len(),
            "processes": summary.processes,
            "flagged_processes": summary.flagged,
            "verified": summary.verified,
            "damaged_artifacts": summary.damaged,
        })
    );
    0
}

fn timeline(args: TimelineArgs) -> ExitCode {
    let reader = match open_reader(&args.location, &args.s3_client) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let result = match &args.out {
        Some(path) => {
            let mut tmp = path.as_os_str().to_owned();
            tmp.push(".part");
            let tmp = PathBuf::from(tmp);
            let written = std::fs::File::create(&tmp)
                .map_err(|e| format!("{}: {e}", tmp.display()))
                .and_then(|f| {
                    let mut out = std::io::BufWriter::new(f);
                    crate::timeline::write_timeline(reader.as_ref(), args.format, &mut out)
                })
                .and_then(|stats| {
                    std::fs::rename(&tmp, path)
                        .map(|()| stats)
                        .map_err(|e| format!("{}: {e}", path.display()))
                });
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            crate::timeline::write_timeline(reader.as_ref(), args.format, &mut out)
        }
    };
    match result {
        Ok(stats) => {
            for p in &stats.problems {
                eprintln!("vestige: timeline: {p}");
            }
            tracing::debug!("timeline: {} events", stats.events);
            0
        }
        Err(e) => {
            eprintln!("vestige: timeline: {e}");
            1
        }
    }
}

fn spec(cmd: SpecCommand) -> ExitCode {
    match cmd {
        SpecCommand::Check { file } => {
            let text = match read_spec_file(&file) {
                Ok(t) => t,
                Err(e) => return usage_error(e),
            };
            match Spec::from_yaml(&text) {
                Ok(s) => {
                    println!(
                        "{}: ok — spec `{}`, {} artifacts, sha256 {}",
                        file.display(),
                        s.spec.name,
                        s.spec.artifacts.len(),
                        s.sha256
                    );
                    0
                }
                Err(e) => usage_error(format!("{}: {e}", file.display())),
            }
        }
        SpecCommand::Show { name } => {
            let name = name.unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
            match collector_spec::builtin_source(&name) {
                Some(src) => {
                    print!("{src}");
                    0
                }
                None => usage_error(SpecError::UnknownProfile { name }),
            }
        }
        SpecCommand::List => {
            for (name, src) in BUILTIN_PROFILES {
                let desc = Spec::from_yaml(src)
                    .map(|s| s.spec.description)
                    .unwrap_or_default();
                println!("{name}\t{desc}");
            }
            0
        }
    }
}

/// Wiring of the S3 sink and reader (a build without the `s3` feature refuses S3 locations).
#[cfg(feature = "s3")]
mod s3 {
    use super::{S3ClientArgs, S3UploadArgs};
    use crate::run::Identity;
    use crate::sink::s3::{
        ClientOptions, RetainFor, Retention, S3Options, S3Reader, S3Sink, S3Url, Sse,
    };
    use crate::sink::{CollectionReader, Sink};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    /// The sink of this run, to report what was uploaded when the run fails.
    static OPENED: Mutex<Option<Arc<S3Sink>>> = Mutex::new(None);

    pub(super) fn failure_report() -> Option<String> {
        let guard = OPENED.lock().ok()?;
        guard.as_ref().map(|s| s.report())
    }

    fn client_options(c: &S3ClientArgs) -> ClientOptions {
        ClientOptions {
            region: c.region.clone(),
            endpoint_url: c.endpoint_url.clone(),
            max_attempts: c.s3_max_attempts,
            attempt_timeout: c.s3_attempt_timeout,
        }
    }

    type Opener = Box<dyn Fn(&Identity) -> Result<Arc<dyn Sink>, String>>;

    pub(super) fn opener(
        url: &str,
        client: &S3ClientArgs,
        up: &S3UploadArgs,
        deadline: Option<Instant>,
    ) -> Result<Opener, String> {
        let base = S3Url::parse(url).map_err(|e| format!("--s3: {e}"))?;
        let retention = match (&up.retention_mode, up.retention_days, &up.retain_until) {
            (None, _, _) => None,
            (Some(m), days, until) => {
                let mode = m.parse()?;
                let period = match (days, until) {
                    (Some(d), _) if d > 0 => RetainFor::Days(d),
                    (Some(_), _) => return Err("--retention-days must be at least 1".into()),
                    (None, Some(t)) => {
                        let at = time::OffsetDateTime::parse(
                            t,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .map_err(|e| format!("--retain-until `{t}`: {e} (want RFC 3339)"))?;
                        if at <= time::OffsetDateTime::now_utc() {
                            return Err(format!("--retain-until `{t}` is in the past"));
                        }
                        RetainFor::Until(at.unix_timestamp())
                    }
                    (None, None) => {
                        return Err(
                            "--retention-mode needs --retention-days or --retain-until".into()
                        )
                    }
                };
                Some(Retention { mode, period })
            }
        };
        let sse = match (up.sse.as_deref(), &up.sse_kms_key_id) {
            (None, None) => None,
            (Some("AES256"), None) => Some(Sse::Aes256),
            (Some("aws:kms"), key) => Some(Sse::Kms(key.clone())),
            (_, Some(_)) => return Err("--sse-kms-key-id needs --sse aws:kms".into()),
            (Some(other), None) => return Err(format!("--sse `{other}`: want aws:kms or AES256")),
        };
        if up.part_size < crate::sink::s3::MIN_PART_SIZE {
            return Err("--part-size must be at least 5MiB (S3's smallest part)".into());
        }
        let client = client_options(client);
        let part_size = up.part_size;
        let parts_in_flight = usize::from(up.parts_in_flight);
        let legal_hold = up.legal_hold;
        let fallback = up.fallback_out.clone();
        let caller_prefix = up.s3_caller_prefix;
        Ok(Box::new(move |id: &Identity| {
            let mut contacted_before = Vec::new();
            let root = if caller_prefix {
                let (caller, sts) = crate::sink::s3::caller_user_id(&client)
                    .map_err(|e| format!("--s3-caller-prefix: {e}"))?;
                contacted_before.extend(sts.into_iter().map(|a| ("sts".to_owned(), a)));
                base.join(&[&caller, &id.host_id, &id.collection_id])
            } else {
                base.join(&[&id.host_id, &id.collection_id])
            };
            let opts = S3Options {
                client: client.clone(),
                part_size,
                parts_in_flight,
                retention,
                legal_hold,
                sse: sse.clone(),
                deadline,
                fallback: fallback
                    .as_ref()
                    .map(|d| d.join(&id.host_id).join(&id.collection_id)),
                contacted_before,
            };
            let sink = Arc::new(S3Sink::new(root, opts)?);
            if let Ok(mut g) = OPENED.lock() {
                *g = Some(sink.clone());
            }
            Ok(sink as Arc<dyn Sink>)
        }))
    }

    pub(super) fn reader(
        location: &str,
        client: &S3ClientArgs,
    ) -> Result<Box<dyn CollectionReader>, String> {
        let root = S3Url::parse(location)?;
        if root.prefix.is_empty() {
            return Err(format!(
                "{location}: give the collection root, s3://BUCKET/PREFIX/HOST/COLLECTION"
            ));
        }
        Ok(Box::new(S3Reader::new(root, &client_options(client))?))
    }
}

#[cfg(not(feature = "s3"))]
mod s3 {
    use super::{S3ClientArgs, S3UploadArgs};
    use crate::run::Identity;
    use crate::sink::{CollectionReader, Sink};
    use std::sync::Arc;
    use std::time::Instant;

    type Opener = Box<dyn Fn(&Identity) -> Result<Arc<dyn Sink>, String>>;

    pub(super) fn failure_report() -> Option<String> {
        None
    }

    pub(super) fn opener(
        _: &str,
        _: &S3ClientArgs,
        _: &S3UploadArgs,
        _: Option<Instant>,
    ) -> Result<Opener, String> {
        Err("--s3: this build of vestige has no S3 sink (feature `s3`)".into())
    }

    pub(super) fn reader(_: &str, _: &S3ClientArgs) -> Result<Box<dyn CollectionReader>, String> {
        Err("s3:// locations need a build of vestige with the S3 sink (feature `s3`)".into())
    }
}
