//! The spec's types. Field docs here are the reference for spec authors.

use crate::values::{ArtifactName, ByteSize, FilePattern, SpecDuration, ZstdLevel};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A collector spec: what to collect, in which order, with which limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Short name recorded in the manifest (e.g. `triage`).
    pub name: String,
    /// One line for humans.
    #[serde(default)]
    pub description: String,
    /// zstd level for every artifact (1–19, default 3).
    #[serde(default)]
    pub zstd_level: ZstdLevel,
    /// Whole-run deadline; artifacts not started when it nears are recorded as `skipped`.
    #[serde(default)]
    pub deadline: Option<SpecDuration>,
    /// age recipients (`age1…` X25519 public keys) every artifact is encrypted to, in addition
    /// to any given with `--encrypt-to`. Empty: artifacts are stored unencrypted.
    #[serde(default)]
    pub encrypt_to: Vec<String>,
    /// Artifacts in collection order: most volatile first.
    pub artifacts: Vec<ArtifactSpec>,
}

/// One artifact: a name, a time limit, and the collector that produces it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSpec {
    /// Artifact name; record artifacts are stored as `artifacts/<name>.jsonl.zst`.
    pub name: ArtifactName,
    /// Time limit for this artifact (default 60s). A collector still running then is
    /// recorded as an error and the run goes on.
    #[serde(default = "default_timeout")]
    pub timeout: SpecDuration,
    /// The collector kind and its options, e.g. `collect: { processes: {} }`.
    pub collect: CollectorSpec,
}

fn default_timeout() -> SpecDuration {
    SpecDuration(Duration::from_secs(60))
}

/// The built-in collector kinds. Written as a map with exactly one key, the kind, with its
/// options below it (`processes: { redact_environ: true }`), or as the bare kind name when
/// the defaults suit (`collect: connections`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectorSpec {
    /// One record per process (`processes`), and recovery of suspicious executables.
    Processes(ProcessesOptions),
    /// Pids that answer a direct probe but are missing from the /proc listing.
    HiddenProcesses(HiddenProcessesOptions),
    /// One record per socket: tcp, udp, raw (v4 and v6) and unix.
    Connections(ConnectionsOptions),
    /// One record per memory mapping of every process, with anomaly flags.
    MemoryMaps(MemoryMapsOptions),
    /// One record per open file descriptor of every process.
    OpenFiles(OpenFilesOptions),
    /// One record per loaded kernel module (/proc/modules, else /sys/module).
    KernelModules(KernelModulesOptions),
    /// One record describing the host: kernel, boot, clocks, mounts, network, resolver.
    System(SystemOptions),
    /// A group of files: one tar (`artifacts/<name>.tar.zst`) and one index record per file.
    Files(FilesOptions),
    /// One record per login session, failed login and boot from utmp, wtmp and btmp.
    Logins(LoginsOptions),
    /// One record per local account from passwd, shadow and group.
    Users(UsersOptions),
    /// One record: the EC2 instance identity from IMDSv2, or why it is unavailable.
    CloudIdentity(CloudIdentityOptions),
}

impl CollectorSpec {
    /// Every kind name, as written in a spec.
    pub const KINDS: &'static [&'static str] = &[
        "processes",
        "hidden_processes",
        "connections",
        "memory_maps",
        "open_files",
        "kernel_modules",
        "system",
        "files",
        "logins",
        "users",
        "cloud_identity",
    ];

    /// The kind's name as written in a spec.
    pub fn kind(&self) -> &'static str {
        match self {
            CollectorSpec::Processes(_) => "processes",
            CollectorSpec::HiddenProcesses(_) => "hidden_processes",
            CollectorSpec::Connections(_) => "connections",
            CollectorSpec::MemoryMaps(_) => "memory_maps",
            CollectorSpec::OpenFiles(_) => "open_files",
            CollectorSpec::KernelModules(_) => "kernel_modules",
            CollectorSpec::System(_) => "system",
            CollectorSpec::Files(_) => "files",
            CollectorSpec::Logins(_) => "logins",
            CollectorSpec::Users(_) => "users",
            CollectorSpec::CloudIdentity(_) => "cloud_identity",
        }
    }
}

/// Options of the `processes` collector.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessesOptions {
    /// Collect each process's environment (default true).
    pub environ: bool,
    /// Replace the values of environment variables whose names look like secrets with
    /// `"[redacted]"` (default false: evidence keeps them).
    pub redact_environ: bool,
    /// Case-insensitive substrings that mark a variable name as secret when redacting.
    pub secret_name_patterns: Vec<String>,
    /// SHA-256 of the bytes behind /proc/PID/exe (default true). Each distinct executable
    /// (device, inode, size, mtime) is hashed once.
    pub hash_executables: bool,
    /// Store the bytes of deleted, memfd, and temp-directory executables (default true).
    pub recover_executables: bool,
    /// Largest executable recovered (default 64MiB); larger ones are recorded, not stored.
    pub recover_max_bytes: ByteSize,
    /// Directories whose executables are recovered even when not deleted.
    pub recover_dirs: Vec<String>,
}

impl Default for ProcessesOptions {
    fn default() -> Self {
        Self {
            environ: true,
            redact_environ: false,
            secret_name_patterns: [
                "SECRET",
                "PASSWORD",
                "PASSWD",
                "TOKEN",
                "KEY",
                "CREDENTIAL",
                "AUTH",
                "SESSION",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
            hash_executables: true,
            recover_executables: true,
            recover_max_bytes: ByteSize(64 << 20),
            recover_dirs: ["/tmp", "/var/tmp", "/dev/shm"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }
}

/// Options of the `hidden_processes` collector.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HiddenProcessesOptions {
    /// Highest pid probed (default: /proc/sys/kernel/pid_max).
    pub max_pid: Option<u32>,
}

/// Options of the `connections` collector.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionsOptions {
    /// Socket tables to read (default: all of them).
    pub tables: Vec<SocketTable>,
}

impl Default for ConnectionsOptions {
    fn default() -> Self {
        Self {
            tables: SocketTable::ALL.to_vec(),
        }
    }
}

/// A kernel socket table under /proc/net.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketTable {
    /// /proc/net/tcp
    Tcp,
    /// /proc/net/tcp6
    Tcp6,
    /// /proc/net/udp
    Udp,
    /// /proc/net/udp6
    Udp6,
    /// /proc/net/raw
    Raw,
    /// /proc/net/raw6
    Raw6,
    /// /proc/net/unix
    Unix,
}

impl SocketTable {
    /// Every table.
    pub const ALL: [SocketTable; 7] = [
        SocketTable::Tcp,
        SocketTable::Tcp6,
        SocketTable::Udp,
        SocketTable::Udp6,
        SocketTable::Raw,
        SocketTable::Raw6,
        SocketTable::Unix,
    ];

    /// The file name under /proc/net.
    pub fn file_name(self) -> &'static str {
        match self {
            SocketTable::Tcp => "tcp",
            SocketTable::Tcp6 => "tcp6",
            SocketTable::Udp => "udp",
            SocketTable::Udp6 => "udp6",
            SocketTable::Raw => "raw",
            SocketTable::Raw6 => "raw6",
            SocketTable::Unix => "unix",
        }
    }
}

/// Options of the `memory_maps` collector.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryMapsOptions {
    /// Keep only mappings with an anomaly flag (default false: every mapping).
    pub only_anomalies: bool,
}

/// Options of the `open_files` collector.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenFilesOptions {
    /// Also record the fd's position and flags from /proc/PID/fdinfo (default true).
    pub fdinfo: Option<bool>,
}

/// Options of the `kernel_modules` collector.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KernelModulesOptions {
    /// Also list built-in modules from /sys/module (default true).
    pub include_builtin: Option<bool>,
}

/// Options of the `system` collector.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SystemOptions {
    /// Largest text file (resolv.conf, hosts, …) copied into the record (default 1MiB).
    pub max_file_bytes: Option<ByteSize>,
}

/// Options of the `files` collector: which files of the host (or of a mounted image) to
/// archive. Paths are matched as seen from `root`, so `/var/log/**` under root `/mnt/img`
/// collects `/mnt/img/var/log`.
///
/// Pattern syntax, per path component: `*` any run of characters, `?` one character,
/// `[abc]` / `[a-z]` / `[!a]` a character class; `**` as a whole component is any number of
/// directories; `{a,b}` alternatives. A pattern naming a directory collects everything below
/// it. `~/` at the start stands for every home directory (from the root's `/etc/passwd`,
/// plus `/root` and each directory under `/home`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesOptions {
    /// Directory treated as `/` (default: the `--root` flag of `collect`, else `/`).
    pub root: Option<String>,
    /// What to collect (absolute patterns, or starting with `~/`).
    pub patterns: Vec<FilePattern>,
    /// Paths to leave out, same syntax; an excluded directory is not entered.
    pub exclude: Vec<FilePattern>,
    /// Largest amount stored of one file (default 256MiB); a larger file is stored up to this
    /// size and indexed as `truncated_at_cap`.
    pub max_file_size: ByteSize,
    /// Most file bytes stored by this artifact (default 2GiB); files beyond it are indexed as
    /// `skipped_total_cap`.
    pub max_total_size: ByteSize,
    /// Follow symbolic links, resolved inside `root` (default false: a link is indexed with
    /// its target and not archived). Loops are detected and indexed as `skipped_loop`.
    pub follow_symlinks: bool,
    /// Also collect `/etc/shadow`, `/etc/gshadow` and their backups when a pattern matches them
    /// (default false: password hashes stay on the host).
    pub include_shadow: bool,
    /// Deepest directory level walked below a pattern's fixed prefix (default 32).
    pub max_depth: u32,
    /// zstd worker threads for this artifact's archive (default 2; 0 compresses on the
    /// collector's own thread).
    pub zstd_workers: u32,
}

impl Default for FilesOptions {
    fn default() -> Self {
        Self {
            root: None,
            patterns: Vec::new(),
            exclude: Vec::new(),
            max_file_size: ByteSize(256 << 20),
            max_total_size: ByteSize(2 << 30),
            follow_symlinks: false,
            include_shadow: false,
            max_depth: 32,
            zstd_workers: 2,
        }
    }
}

/// Options of the `logins` collector.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginsOptions {
    /// Directory treated as `/` (default: the `--root` flag of `collect`, else `/`).
    pub root: Option<String>,
    /// utmp-format files to parse (default: `/run/utmp`, `/var/run/utmp`, `/var/log/wtmp*`,
    /// `/var/log/btmp*`; compressed rotations are left to the `files` collector).
    pub patterns: Vec<FilePattern>,
    /// Largest file parsed (default 256MiB).
    pub max_file_size: ByteSize,
}

impl Default for LoginsOptions {
    fn default() -> Self {
        let patterns = [
            "/run/utmp",
            "/var/run/utmp",
            "/var/log/wtmp",
            "/var/log/wtmp.[0-9]",
            "/var/log/wtmp-[0-9]*[0-9]",
            "/var/log/btmp",
            "/var/log/btmp.[0-9]",
            "/var/log/btmp-[0-9]*[0-9]",
        ]
        .iter()
        .filter_map(|p| FilePattern::new(p).ok())
        .collect();
        Self {
            root: None,
            patterns,
            max_file_size: ByteSize(256 << 20),
        }
    }
}

/// Options of the `users` collector.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsersOptions {
    /// Directory treated as `/` (default: the `--root` flag of `collect`, else `/`).
    pub root: Option<String>,
}

/// Options of the `cloud_identity` collector.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudIdentityOptions {
    /// Total time allowed for IMDSv2 (default 1s). Off EC2 the record says `unavailable`
    /// within it; there are no retries.
    pub timeout: SpecDuration,
}

impl Default for CloudIdentityOptions {
    fn default() -> Self {
        Self {
            timeout: SpecDuration(Duration::from_secs(1)),
        }
    }
}

impl<'de> Deserialize<'de> for CollectorSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CollectorVisitor)
    }
}

struct CollectorVisitor;

impl CollectorVisitor {
    /// Reads the options of `kind` from `value`, a deserializer positioned on them.
    fn options<'de, D: serde::Deserializer<'de>>(
        kind: &str,
        value: D,
    ) -> Result<CollectorSpec, D::Error> {
        use serde::de::Error;
        Ok(match kind {
            "processes" => CollectorSpec::Processes(Deserialize::deserialize(value)?),
            "hidden_processes" => CollectorSpec::HiddenProcesses(Deserialize::deserialize(value)?),
            "connections" => CollectorSpec::Connections(Deserialize::deserialize(value)?),
            "memory_maps" => CollectorSpec::MemoryMaps(Deserialize::deserialize(value)?),
            "open_files" => CollectorSpec::OpenFiles(Deserialize::deserialize(value)?),
            "kernel_modules" => CollectorSpec::KernelModules(Deserialize::deserialize(value)?),
            "system" => CollectorSpec::System(Deserialize::deserialize(value)?),
            "files" => CollectorSpec::Files(Deserialize::deserialize(value)?),
            "logins" => CollectorSpec::Logins(Deserialize::deserialize(value)?),
            "users" => CollectorSpec::Users(Deserialize::deserialize(value)?),
            "cloud_identity" => CollectorSpec::CloudIdentity(Deserialize::deserialize(value)?),
            other => return Err(D::Error::unknown_variant(other, CollectorSpec::KINDS)),
        })
    }
}

impl<'de> serde::de::Visitor<'de> for CollectorVisitor {
    type Value = CollectorSpec;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "a collector kind, alone or as a map with one key (the kind) holding its options",
        )
    }

    fn visit_str<E: serde::de::Error>(self, kind: &str) -> Result<CollectorSpec, E> {
        use serde::de::value::{Error as ValueError, MapDeserializer};
        let empty =
            MapDeserializer::<std::iter::Empty<((), ())>, ValueError>::new(std::iter::empty());
        Self::options(kind, empty).map_err(E::custom)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<CollectorSpec, A::Error> {
        use serde::de::Error;
        let kind: String = map
            .next_key()?
            .ok_or_else(|| A::Error::custom("empty collector: name one kind"))?;
        if !CollectorSpec::KINDS.contains(&kind.as_str()) {
            return Err(A::Error::unknown_variant(&kind, CollectorSpec::KINDS));
        }
        let spec = map.next_value_seed(OptionsSeed(&kind))?;
        if let Some(extra) = map.next_key::<String>()? {
            return Err(A::Error::custom(format!(
                "a collector names exactly one kind; found `{kind}` and `{extra}`"
            )));
        }
        Ok(spec)
    }
}

struct OptionsSeed<'k>(&'k str);

impl<'de> serde::de::DeserializeSeed<'de> for OptionsSeed<'_> {
    type Value = CollectorSpec;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<CollectorSpec, D::Error> {
        CollectorVisitor::options(self.0, d)
    }
}
