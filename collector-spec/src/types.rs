//! The spec's types. Field docs here are the reference for spec authors.

use crate::values::{ArtifactName, ByteSize, CpuPercent, FilePattern, SpecDuration, ZstdLevel};
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
    /// zstd level of byte artifacts: file groups, executables, memory (1–19, default 3).
    #[serde(default)]
    pub zstd_level: ZstdLevel,
    /// zstd level of record streams, the `*.jsonl.zst` artifacts (1–19, default 1: on JSON
    /// lines level 1 measured faster than 3 and about as small).
    #[serde(default = "ZstdLevel::records_default")]
    pub records_zstd_level: ZstdLevel,
    /// Whole-run deadline; artifacts not started when it nears are recorded as `skipped`.
    #[serde(default)]
    pub deadline: Option<SpecDuration>,
    /// CPU quota for the whole run, in percent of one CPU (50 = half a core, 200 = two
    /// cores): vestige moves itself into a cgroup of its own with this quota when cgroups are
    /// writable. `collect --cpu-quota` wins over it. Default: no quota.
    #[serde(default)]
    pub cpu_quota: Option<CpuPercent>,
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
#[derive(Debug, Clone)]
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
    /// The readable memory of selected processes: one dump per process
    /// (`artifacts/<name>/<pid>.mem.zst`) and one index record per region.
    ProcessMemory(ProcessMemoryOptions),
    /// Physical memory read through /proc/kcore, stored in the LiME format
    /// (`artifacts/<name>.lime.zst`), with one record per range.
    Ram(RamOptions),
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
        "process_memory",
        "ram",
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
            CollectorSpec::ProcessMemory(_) => "process_memory",
            CollectorSpec::Ram(_) => "ram",
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
/// directories, and a trailing `/**` also takes the path itself when it is a file (so
/// `/etc/cron*/**` collects `/etc/cron.allow` and `/etc/cron.d/…`); `{a,b}` alternatives. A pattern naming a directory collects everything below
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
    /// Also collect the files `/etc/ssh/sshd_config`, `/etc/ssh/ssh_config` and every user's
    /// `~/.ssh/config` under `root` include (`Include` directives: globs, relative to
    /// `/etc/ssh` or the user's `~/.ssh`, nested up to 16 levels), wherever they are
    /// (default false).
    pub ssh_includes: bool,
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
            ssh_includes: false,
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

/// Why a process's memory is dumped by the `process_memory` collector. A process is dumped
/// when any selector matches it, or when its pid is listed in `pids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessSelector {
    /// Its executable was deleted after it started (`/proc/PID/exe` ends in ` (deleted)`).
    DeletedExe,
    /// It runs from a memfd (`/memfd:…`): nothing on disk at any time.
    MemfdExe,
    /// It has a mapping that is writable and executable at once.
    WxMapping,
    /// It has an executable mapping with no file behind it (shellcode, JIT, injected code).
    AnonExec,
    /// Its executable lives in a world-writable directory (`/tmp`, `/dev/shm`, `/var/tmp`, …).
    ExeInWritableDir,
    /// Every process (except vestige itself and kernel threads). Meant for a targeted
    /// collection with tight caps, not for triage.
    All,
}

impl ProcessSelector {
    /// The selectors that mark a process as suspicious.
    pub const ANOMALIES: [ProcessSelector; 5] = [
        ProcessSelector::DeletedExe,
        ProcessSelector::MemfdExe,
        ProcessSelector::WxMapping,
        ProcessSelector::AnonExec,
        ProcessSelector::ExeInWritableDir,
    ];

    /// The selector's name as written in a spec.
    pub fn name(self) -> &'static str {
        match self {
            ProcessSelector::DeletedExe => "deleted_exe",
            ProcessSelector::MemfdExe => "memfd_exe",
            ProcessSelector::WxMapping => "wx_mapping",
            ProcessSelector::AnonExec => "anon_exec",
            ProcessSelector::ExeInWritableDir => "exe_in_writable_dir",
            ProcessSelector::All => "all",
        }
    }
}

/// Options of the `process_memory` collector: which processes to dump and how much.
///
/// Every readable mapping of a selected process is read through `/proc/PID/mem`, region by
/// region in bounded chunks, into one data artifact per process. Regions that cannot be
/// read, and bytes left out by the caps, are recorded in the index, never fatal.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessMemoryOptions {
    /// Which processes to dump (default: every anomaly selector: `deleted_exe`, `memfd_exe`,
    /// `wx_mapping`, `anon_exec`, `exe_in_writable_dir`). An empty list dumps only `pids`.
    pub select: Vec<ProcessSelector>,
    /// Processes dumped whatever the selectors say (`collect --pid N` adds to this list).
    pub pids: Vec<u32>,
    /// Most bytes stored of one process (default 256MiB); the region that crosses it is
    /// stored up to the cap and indexed as `truncated_at_cap`, later ones as `skipped_cap`.
    pub max_process_bytes: ByteSize,
    /// Most bytes stored by this artifact over all processes (default 2GiB).
    pub max_total_bytes: ByteSize,
    /// Also dump regions backed by a file that is still on disk (default true). `false` keeps
    /// anonymous (heap, stack, `[anon:…]`), deleted-file and memfd regions only, which is much
    /// smaller; the others are indexed as `skipped_file_backed`.
    pub file_backed: bool,
}

impl Default for ProcessMemoryOptions {
    fn default() -> Self {
        Self {
            select: ProcessSelector::ANOMALIES.to_vec(),
            pids: Vec::new(),
            max_process_bytes: ByteSize(256 << 20),
            max_total_bytes: ByteSize(2 << 30),
            file_backed: true,
        }
    }
}

/// Options of the `ram` collector: physical memory through /proc/kcore, without a kernel
/// module. Only the ranges /proc/iomem lists as `System RAM` are read; each becomes one LiME
/// range (header: magic `0x4C694D45`, version 1, first and last physical address, 8 reserved
/// bytes, little-endian; then the range's bytes).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RamOptions {
    /// The kernel's ELF core view of memory (default `/proc/kcore`).
    pub kcore: String,
    /// The physical memory map (default `/proc/iomem`; needs root to show addresses).
    pub iomem: String,
    /// Most bytes of memory stored (default: no limit); ranges beyond it are recorded as
    /// `skipped_cap`, and the range that crosses it is cut short.
    pub max_bytes: Option<ByteSize>,
}

impl Default for RamOptions {
    fn default() -> Self {
        Self {
            kcore: "/proc/kcore".into(),
            iomem: "/proc/iomem".into(),
            max_bytes: None,
        }
    }
}

/// Written the way specs are: a map with one key, the kind, holding its options.
impl Serialize for CollectorSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        let kind = self.kind();
        match self {
            CollectorSpec::Processes(o) => map.serialize_entry(kind, o)?,
            CollectorSpec::HiddenProcesses(o) => map.serialize_entry(kind, o)?,
            CollectorSpec::Connections(o) => map.serialize_entry(kind, o)?,
            CollectorSpec::MemoryMaps(o) => map.serialize_entry(kind, o)?,
            CollectorSpec::OpenFiles(o) => map.serialize_entry(kind, o)?,
            CollectorSpec::KernelModules(o) => map.serialize_entry(kind, o)?,
            CollectorSpec::System(o) => map.serialize_entry(kind, o)?,
            CollectorSpec::Files(o) => map.serialize_entry(kind, o)?,
            CollectorSpec::Logins(o) => map.serialize_entry(kind, o)?,
            CollectorSpec::Users(o) => map.serialize_entry(kind, o)?,
            CollectorSpec::CloudIdentity(o) => map.serialize_entry(kind, o)?,
            CollectorSpec::ProcessMemory(o) => map.serialize_entry(kind, o)?,
            CollectorSpec::Ram(o) => map.serialize_entry(kind, o)?,
        }
        map.end()
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
            "process_memory" => CollectorSpec::ProcessMemory(Deserialize::deserialize(value)?),
            "ram" => CollectorSpec::Ram(Deserialize::deserialize(value)?),
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
