//! What the report shows, gathered from a collection in one streaming pass per artifact.
//! Memory maps are folded into per-process counts as they stream by; tables that could grow
//! without bound (sockets, logins) keep a capped number of rows and count the rest.

use crate::records::{
    epoch_micros, for_each_record, read_manifest, ArtifactView, LoginView, ManifestView,
    ProcessView, StreamOutcome,
};
use crate::sink::CollectionReader;
use crate::verify::Report as VerifyReport;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// Rows kept per capped table.
pub const MAX_ROWS: usize = 20_000;

/// Processes kept (more than any real host runs; bounds a hostile collection).
pub const MAX_PROCESSES: usize = 200_000;

/// Directories where anyone (or any local user) can write: an executable there is suspicious.
const WRITABLE_DIRS: &[&str] = &[
    "/tmp/",
    "/var/tmp/",
    "/dev/shm/",
    "/run/shm/",
    "/run/user/",
    "/var/run/user/",
    "/run/lock/",
    "/var/lock/",
];

/// One process as the report shows it.
#[derive(Debug, Clone, Default)]
pub struct Proc {
    pub view: ProcessView,
    /// Value of LD_PRELOAD in its environment, when set.
    pub ld_preload: Option<String>,
}

/// Memory-map facts of one process.
#[derive(Debug, Clone, Default)]
pub struct MapStats {
    pub mappings: u64,
    pub rwx: u64,
    pub anon_exec: u64,
    pub deleted_exec: u64,
    pub memfd_exec: u64,
    /// A few examples (`start perms path`) of the suspicious mappings.
    pub examples: Vec<String>,
}

/// An anomaly flag on a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// Stable short code (CSS class and filter word), e.g. `deleted-exe`.
    pub code: &'static str,
    /// Human text.
    pub text: String,
}

/// One socket.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Socket {
    pub protocol: Option<String>,
    pub family: Option<String>,
    pub local_address: Option<String>,
    pub local_port: Option<u16>,
    pub remote_address: Option<String>,
    pub remote_port: Option<u16>,
    pub state: Option<String>,
    pub inode: Option<u64>,
    pub pids: Vec<i64>,
    pub netns: Option<u64>,
}

impl Socket {
    /// A listener: TCP in LISTEN, or a UDP/raw socket with no peer.
    pub fn listening(&self) -> bool {
        match self.protocol.as_deref() {
            Some("tcp") => self.state.as_deref() == Some("LISTEN"),
            Some("udp") | Some("raw") => self.remote_port.unwrap_or(0) == 0,
            _ => false,
        }
    }
}

/// A `hidden_processes` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Hidden {
    pub pid: Option<i64>,
    pub reason: Option<String>,
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub detail: Option<String>,
}

/// A `kernel_modules` record worth showing (tainting or hidden).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Module {
    pub name: Option<String>,
    pub state: Option<String>,
    pub taint: Option<String>,
    pub source: Option<String>,
    pub missing_from_proc_modules: Option<bool>,
}

/// The `system` record's fields the report shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct System {
    pub hostname: Option<String>,
    pub kernel_release: Option<String>,
    pub boot_time: Option<String>,
    pub tainted: Option<u64>,
    pub tainted_flags: Option<Vec<String>>,
    pub ld_so_preload: Option<FileText>,
}

/// The `cloud_identity` record as the report shows it: where the instance runs, and whether
/// the signed identity document was captured (the proof of those facts).
#[derive(Debug, Clone, Default)]
pub struct CloudIdentity {
    pub available: bool,
    /// Why IMDS gave nothing, when it did not.
    pub reason: Option<String>,
    pub availability_zone: Option<String>,
    pub ami_id: Option<String>,
    pub instance_type: Option<String>,
    pub iam_role: Option<String>,
    /// SHA-256 of the identity document, when the document was captured.
    pub document_sha256: Option<String>,
    pub document_present: bool,
    /// Which of AWS's signatures of the document were captured (`signature`, `pkcs7`,
    /// `rsa2048`).
    pub signatures: Vec<&'static str>,
}

/// The `cloud_identity` fields read; the document and signatures only for their presence.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CloudIdentityRecord {
    available: Option<bool>,
    reason: Option<String>,
    availability_zone: Option<String>,
    ami_id: Option<String>,
    instance_type: Option<String>,
    iam_role: Option<String>,
    identity_document: Option<String>,
    identity_document_sha256: Option<String>,
    identity_signature: Option<String>,
    identity_pkcs7: Option<String>,
    identity_rsa2048: Option<String>,
}

impl From<CloudIdentityRecord> for CloudIdentity {
    fn from(r: CloudIdentityRecord) -> Self {
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        let signatures = [
            ("signature", &r.identity_signature),
            ("pkcs7", &r.identity_pkcs7),
            ("rsa2048", &r.identity_rsa2048),
        ]
        .into_iter()
        .filter(|(_, v)| present(v))
        .map(|(name, _)| name)
        .collect();
        Self {
            available: r.available == Some(true),
            reason: r.reason,
            availability_zone: r.availability_zone,
            ami_id: r.ami_id,
            instance_type: r.instance_type,
            iam_role: r.iam_role,
            document_present: present(&r.identity_document),
            document_sha256: r.identity_document_sha256,
            signatures,
        }
    }
}

/// A file copied into the `system` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FileText {
    pub path: Option<String>,
    pub content: Option<String>,
}

/// Per-group counts of a file group index.
#[derive(Debug, Clone, Default)]
pub struct FileGroup {
    pub name: String,
    pub entries: u64,
    pub by_status: BTreeMap<String, u64>,
}

/// Everything the page shows.
#[derive(Debug, Default)]
pub struct ReportModel {
    pub location: String,
    pub generated_at: String,
    pub manifest: ManifestView,
    /// Why the manifest could not be read, when it could not.
    pub manifest_error: Option<String>,
    /// The verification result (`None` when skipped).
    pub verify: Option<VerifyReport>,
    pub processes: Vec<Proc>,
    pub processes_dropped: u64,
    pub maps: HashMap<i64, MapStats>,
    pub sockets: Vec<Socket>,
    pub sockets_dropped: u64,
    /// Unix sockets per owning pid (counted, not listed).
    pub unix_sockets: HashMap<i64, u64>,
    pub hidden: Vec<Hidden>,
    pub modules_total: u64,
    pub modules_flagged: Vec<Module>,
    pub system: Option<System>,
    pub cloud: Option<CloudIdentity>,
    pub logins: Vec<LoginView>,
    pub logins_dropped: u64,
    pub file_groups: Vec<FileGroup>,
    /// Damage met while reading each artifact, by artifact name.
    pub read_damage: BTreeMap<String, String>,
}

impl ReportModel {
    /// Reads the collection behind `reader` (and verifies it when `opts` asks).
    /// Nothing here fails: what cannot be read is recorded and shown.
    pub fn build(reader: &dyn CollectionReader, opts: &super::ReportOptions) -> Self {
        let mut m = ReportModel {
            location: reader.location(),
            generated_at: crate::timefmt::now_rfc3339(),
            ..Default::default()
        };
        match read_manifest(reader) {
            Ok(v) => m.manifest = v,
            Err(e) => m.manifest_error = Some(e),
        }
        if opts.verify {
            m.verify = Some(crate::verify::verify(
                reader,
                opts.manifest_sha256.as_deref(),
            ));
        }
        let artifacts: Vec<ArtifactView> = if m.manifest_error.is_some() {
            fallback_artifacts(reader)
        } else {
            m.manifest.artifacts.clone()
        };
        for a in artifacts.iter().filter(|a| a.is_records()) {
            let Some(path) = a.path.as_deref() else {
                continue;
            };
            let outcome = m.read_artifact(reader, a, path);
            if let Some(d) = outcome.and_then(|o| o.damage()) {
                m.read_damage.insert(a.name.clone(), d);
            }
        }
        // Parents before children, then by pid: the order the tree and table start from.
        m.processes.sort_by_key(|p| p.view.pid.unwrap_or(i64::MAX));
        m
    }

    fn read_artifact(
        &mut self,
        reader: &dyn CollectionReader,
        a: &ArtifactView,
        path: &str,
    ) -> Option<StreamOutcome> {
        Some(match a.kind() {
            "processes" => for_each_record(reader, path, |mut p: ProcessView| {
                if self.processes.len() >= MAX_PROCESSES {
                    self.processes_dropped += 1;
                    return;
                }
                // An empty LD_PRELOAD preloads nothing: not a flag.
                let ld_preload = p.environ.take().and_then(|env| {
                    env.into_iter()
                        .find_map(|e| e.strip_prefix("LD_PRELOAD=").map(str::to_owned))
                        .filter(|v| !v.trim().is_empty())
                });
                self.processes.push(Proc {
                    view: p,
                    ld_preload,
                });
            }),
            "memory_maps" => for_each_record(reader, path, |r: MapRecord| self.add_map(r)),
            "connections" => for_each_record(reader, path, |s: Socket| {
                if s.protocol.as_deref() == Some("unix") || s.family.as_deref() == Some("unix") {
                    for pid in &s.pids {
                        *self.unix_sockets.entry(*pid).or_default() += 1;
                    }
                } else if self.sockets.len() < MAX_ROWS {
                    self.sockets.push(s);
                } else {
                    self.sockets_dropped += 1;
                }
            }),
            "hidden_processes" => for_each_record(reader, path, |h: Hidden| {
                if self.hidden.len() < MAX_ROWS {
                    self.hidden.push(h);
                }
            }),
            "kernel_modules" => for_each_record(reader, path, |k: Module| {
                self.modules_total += 1;
                let flagged = k.taint.as_deref().is_some_and(|t| !t.is_empty())
                    || k.missing_from_proc_modules == Some(true);
                if flagged && self.modules_flagged.len() < MAX_ROWS {
                    self.modules_flagged.push(k);
                }
            }),
            "system" => for_each_record(reader, path, |s: System| self.system = Some(s)),
            "cloud_identity" => for_each_record(reader, path, |c: CloudIdentityRecord| {
                self.cloud = Some(c.into());
            }),
            "logins" => for_each_record(reader, path, |l: LoginView| {
                if self.logins.len() < MAX_ROWS {
                    self.logins.push(l);
                } else {
                    self.logins_dropped += 1;
                }
            }),
            "files" => {
                let mut g = FileGroup {
                    name: a.name.clone(),
                    ..Default::default()
                };
                let o = for_each_record(reader, path, |f: FileStatus| {
                    g.entries += 1;
                    let s = f.status.unwrap_or_else(|| "unknown".into());
                    if g.by_status.len() < 64 || g.by_status.contains_key(&s) {
                        *g.by_status.entry(s).or_default() += 1;
                    }
                });
                self.file_groups.push(g);
                o
            }
            _ => return None,
        })
    }

    fn add_map(&mut self, r: MapRecord) {
        let Some(pid) = r.pid else { return };
        // Bounded: one entry per pid, and only pids the collection could hold.
        if !self.maps.contains_key(&pid) && self.maps.len() >= MAX_PROCESSES {
            return;
        }
        let s = self.maps.entry(pid).or_default();
        s.mappings += 1;
        let exec = r.perms.as_deref().is_some_and(|p| p.contains('x'));
        let rwx = r.writable_executable == Some(true);
        let anon = r.anonymous_executable == Some(true);
        let deleted = exec && r.deleted == Some(true);
        let memfd = exec && r.memfd == Some(true);
        s.rwx += u64::from(rwx);
        s.anon_exec += u64::from(anon);
        s.deleted_exec += u64::from(deleted);
        s.memfd_exec += u64::from(memfd);
        if (rwx || anon || deleted || memfd) && s.examples.len() < 3 {
            s.examples.push(format!(
                "{} {} {}",
                r.start.as_deref().unwrap_or("?"),
                r.perms.as_deref().unwrap_or("?"),
                r.path.as_deref().unwrap_or("[anonymous]")
            ));
        }
    }

    /// The anomaly flags of a process.
    pub fn flags(&self, p: &Proc) -> Vec<Flag> {
        let v = &p.view;
        let mut f = Vec::new();
        let mut flag = |code: &'static str, text: String| f.push(Flag { code, text });
        if v.exe_deleted == Some(true) {
            flag("deleted-exe", "executable deleted".into());
        }
        if v.exe_memfd == Some(true) {
            flag("memfd-exe", "executable in memory only (memfd)".into());
        }
        let in_writable = v.exe_in_temp_dir == Some(true)
            || v.exe
                .as_deref()
                .is_some_and(|e| WRITABLE_DIRS.iter().any(|d| e.starts_with(d)));
        if in_writable {
            flag(
                "writable-dir-exe",
                "executable in a writable directory".into(),
            );
        }
        if let Some(m) = v.pid.and_then(|pid| self.maps.get(&pid)) {
            if m.rwx > 0 {
                flag("rwx-map", format!("{} writable+executable mappings", m.rwx));
            }
            if m.anon_exec > 0 {
                flag(
                    "anon-exec-map",
                    format!("{} anonymous executable mappings", m.anon_exec),
                );
            }
            if m.deleted_exec > 0 {
                flag(
                    "deleted-exec-map",
                    format!("{} executable mappings of deleted files", m.deleted_exec),
                );
            }
            if m.memfd_exec > 0 {
                flag(
                    "memfd-exec-map",
                    format!("{} executable memfd mappings", m.memfd_exec),
                );
            }
        }
        if let Some(lp) = &p.ld_preload {
            flag("ld-preload", format!("LD_PRELOAD={lp}"));
        }
        f
    }

    /// Kernel taint value and its decoded flags, when the kernel is tainted.
    pub fn taint(&self) -> Option<(u64, Vec<String>)> {
        let s = self.system.as_ref()?;
        let t = s.tainted.filter(|t| *t != 0)?;
        Some((t, s.tainted_flags.clone().unwrap_or_default()))
    }

    /// Non-empty /etc/ld.so.preload content.
    pub fn ld_so_preload(&self) -> Option<&str> {
        let c = self
            .system
            .as_ref()?
            .ld_so_preload
            .as_ref()?
            .content
            .as_deref()?;
        let meaningful = c
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        meaningful.then_some(c)
    }

    /// Start time of a process in microseconds, for sorting.
    pub fn start_micros(p: &Proc) -> Option<i64> {
        p.view.start_time.as_deref().and_then(epoch_micros)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MapRecord {
    pid: Option<i64>,
    start: Option<String>,
    perms: Option<String>,
    path: Option<String>,
    deleted: Option<bool>,
    memfd: Option<bool>,
    writable_executable: Option<bool>,
    anonymous_executable: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileStatus {
    status: Option<String>,
}

/// Without a manifest: the record artifacts the collection holds under their usual names.
fn fallback_artifacts(reader: &dyn CollectionReader) -> Vec<ArtifactView> {
    let Ok(paths) = reader.list() else {
        return Vec::new();
    };
    paths
        .into_iter()
        .filter_map(|p| {
            let name = p
                .strip_prefix("artifacts/")?
                .strip_suffix(".jsonl.zst")?
                .to_owned();
            if name.contains('/') {
                return None;
            }
            Some(ArtifactView {
                kind: Some(name.clone()),
                name,
                path: Some(p),
                status: Some("unknown (no manifest)".into()),
                ..Default::default()
            })
        })
        .collect()
}
