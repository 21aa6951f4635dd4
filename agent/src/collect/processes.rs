//! `processes`: one record per process, and recovery of suspicious executables.

use super::{CollectError, Context, Output};
use crate::pipeline::sha256_reader;
use crate::procfs::cgroup;
use crate::procfs::pid_dir::PidDir;
use crate::procfs::read::{is_gone, list_pids, DEFAULT_CAP};
use crate::procfs::stat::Stat;
use crate::procfs::status::Status;
use crate::procfs::text::{lossy, nul_list};
use collector_spec::ProcessesOptions;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// One process.
#[derive(Debug, Serialize)]
pub struct ProcessRecord {
    pub pid: i64,
    pub ppid: i64,
    pub comm: String,
    pub comm_hex: Option<String>,
    pub cmdline: Vec<String>,
    pub cmdline_hex: Option<String>,
    pub cmdline_truncated: bool,
    pub exe: Option<String>,
    pub exe_hex: Option<String>,
    pub exe_deleted: bool,
    pub exe_memfd: bool,
    pub exe_in_temp_dir: bool,
    pub exe_sha256: Option<String>,
    pub exe_size: Option<u64>,
    pub exe_inode: Option<u64>,
    pub exe_device: Option<u64>,
    pub exe_mtime: Option<String>,
    pub exe_recovered_path: Option<String>,
    pub exe_error: Option<String>,
    pub uid: Option<u32>,
    pub user: Option<String>,
    pub uids: Option<[u32; 4]>,
    pub gids: Option<[u32; 4]>,
    pub start_time: Option<String>,
    pub state: String,
    pub threads: i64,
    pub rss_bytes: Option<u64>,
    pub vsz_bytes: u64,
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub nice: i64,
    pub tty: Option<String>,
    pub session: i64,
    pub pgid: i64,
    pub cwd: Option<String>,
    pub cwd_hex: Option<String>,
    pub root: Option<String>,
    pub root_hex: Option<String>,
    pub environ: Option<Vec<String>>,
    /// The environment as stored (redacted entries as `NAME=[redacted]`), NUL-terminated
    /// entries in hex, when it is not valid UTF-8.
    pub environ_hex: Option<String>,
    pub environ_truncated: bool,
    pub namespaces: Namespaces,
    pub nspid: Option<Vec<i64>>,
    pub cgroup: Option<String>,
    pub container_runtime: Option<String>,
    pub container_id: Option<String>,
    pub capabilities: Capabilities,
    pub seccomp: Option<u8>,
    pub is_kernel_thread: bool,
    pub is_collector: bool,
}

/// Namespace inode numbers.
#[derive(Debug, Default, Serialize)]
pub struct Namespaces {
    pub pid: Option<u64>,
    pub net: Option<u64>,
    pub mnt: Option<u64>,
    pub user: Option<u64>,
    pub uts: Option<u64>,
    pub ipc: Option<u64>,
    pub cgroup: Option<u64>,
}

/// Capability sets, hex as the kernel prints them.
#[derive(Debug, Default, Serialize)]
pub struct Capabilities {
    pub inheritable: Option<String>,
    pub permitted: Option<String>,
    pub effective: Option<String>,
    pub bounding: Option<String>,
    pub ambient: Option<String>,
}

/// Identity of an executable file: hashed once per distinct key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ExeKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

#[derive(Debug, Clone)]
enum Hashed {
    Ok(String),
    Err(String),
}

/// What every process read needs (shared by the reading threads).
struct State<'a> {
    opts: &'a ProcessesOptions,
    clk_tck: i64,
    boot_time: Option<i64>,
    secret_patterns: Vec<String>,
}

/// How far the reading threads may run ahead of the record being emitted. Wider than other
/// collectors' window: a record whose executable another thread is still hashing waits at
/// emission, and the readers go on meanwhile (about 40 ms of reading at 0.15 ms a process).
const PROCESS_WINDOW: usize = 256;

/// Executables hashed so far, shared by the reading threads: each distinct file is hashed
/// once, by the first thread that meets it, while others needing it wait for that hash.
#[derive(Default)]
struct ExeHashes(Mutex<HashMap<ExeKey, Arc<OnceLock<Hashed>>>>);

impl ExeHashes {
    /// The slot for an executable's hash. The first thread to ask for a key hashes the file
    /// at once; later ones get the slot without waiting, and the record waits for it only
    /// when it is emitted (so the other threads read on meanwhile).
    fn slot(&self, key: ExeKey, hash: impl FnOnce() -> Hashed) -> Arc<OnceLock<Hashed>> {
        let (slot, first) = match self.0.lock() {
            Ok(mut map) => match map.get(&key) {
                Some(slot) => (slot.clone(), false),
                None => {
                    let slot = Arc::new(OnceLock::new());
                    map.insert(key, slot.clone());
                    (slot, true)
                }
            },
            // A poisoned map (a reader panicked): hash without sharing.
            Err(_) => (Arc::new(OnceLock::new()), true),
        };
        if first {
            slot.get_or_init(hash);
        }
        slot
    }
}

/// Executables already recovered (kept by the thread that emits records).
#[derive(Default)]
struct ExeCache {
    recovered: HashMap<String, String>,
    /// Executables whose copy failed once: not retried for every process running them.
    recovery_failed: HashMap<String, String>,
}

/// Collects every process. /proc is read on up to `ctx.threads` threads; executables are
/// hashed (once per distinct file) and recovered in pid order as records are emitted.
pub fn collect(
    ctx: &Context,
    opts: &ProcessesOptions,
    out: &mut Output,
) -> Result<(), CollectError> {
    let pids = list_pids(&ctx.proc)
        .map_err(|e| CollectError::Failed(format!("listing {}: {e}", ctx.proc.display())))?;
    let st = State {
        opts,
        clk_tck: clock_ticks(),
        boot_time: ctx.boot_time(),
        secret_patterns: opts
            .secret_name_patterns
            .iter()
            .map(|p| p.to_ascii_uppercase())
            .collect(),
    };
    let hashes = ExeHashes::default();
    let mut cache = ExeCache::default();
    let cancel = out.cancel_flag();
    super::ordered_parallel_window(
        &pids,
        ctx.threads,
        PROCESS_WINDOW,
        &cancel,
        |&pid| {
            let dir = ctx.proc.join(pid.to_string());
            let read = match PidDir::open(dir.clone()) {
                Ok(pd) => read_process(ctx, &st, &pd),
                Err(e) if is_gone(&e) => Ok(None), // exited between listing and reading
                Err(e) => Err(CollectError::Failed(format!("{}: {e}", dir.display()))),
            };
            let read = read.map(|found| {
                found.map(|(mut rec, exe_link)| {
                    // vestige's own binary is hashed once, for the manifest.
                    let known = rec.is_collector.then(|| ctx.own_exe_sha256()).flatten();
                    let meta = exe_link
                        .as_deref()
                        .and_then(|t| executable(&st, &hashes, &dir, t, known, &mut rec));
                    (rec, meta)
                })
            });
            (pid, dir, read)
        },
        |(pid, dir, read)| {
            match read {
                Ok(Some((mut rec, pending))) => {
                    if let Some(meta) = settle_hash(pending, &mut rec) {
                        recover(&st, &mut cache, &dir, &meta, &mut rec, out)?;
                    }
                    out.record(&rec)?;
                }
                Ok(None) => {} // exited between listing and reading
                Err(CollectError::Failed(msg)) => out.warn(format!("pid {pid}: {msg}")),
                Err(e) => return Err(e),
            }
            Ok(())
        },
    )
}

fn clock_ticks() -> i64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|v| *v > 0)
        .unwrap_or(100)
}

fn text_of(b: &[u8]) -> String {
    lossy(b).0
}

/// Reads a link; `None` when it is gone or unreadable (kernel threads have no exe).
fn link(dir: &PidDir, name: &str) -> Option<Vec<u8>> {
    dir.readlink(name).ok()
}

/// A namespace's inode from the process's `ns/` directory (opened once per process).
fn ns_inode(ns: Option<&PidDir>, name: &str) -> Option<u64> {
    // "net:[4026531840]"
    let t = link(ns?, name)?;
    let s = std::str::from_utf8(&t).ok()?;
    s.split_once('[')?.1.strip_suffix(']')?.parse().ok()
}

/// A process as read: its record (without the executable's hash and recovery yet) and the
/// target of its `exe` link.
type ReadProcess = (ProcessRecord, Option<Vec<u8>>);

/// Reads one process; `None` when it exited first.
fn read_process(
    ctx: &Context,
    st: &State<'_>,
    dir: &PidDir,
) -> Result<Option<ReadProcess>, CollectError> {
    let stat_buf = match dir.read_small("stat") {
        Ok(b) => b,
        // An exited process takes its directory with it. A directory still there without
        // its stat has something mounted over it: the process lives but cannot be read.
        Err(e) if is_gone(&e) && dir.path().is_dir() => {
            return Err(CollectError::Failed(format!(
                "{} is there but has no stat: masked by a mount? (see hidden_processes)",
                dir.path().display()
            )))
        }
        Err(e) if is_gone(&e) => return Ok(None),
        Err(e) => return Err(CollectError::Failed(format!("stat: {e}"))),
    };
    if stat_buf.is_empty() {
        return Ok(None);
    }
    let stat = Stat::parse(&stat_buf).map_err(|e| CollectError::Failed(e.to_string()))?;
    let status = dir
        .read_small("status")
        .map(|b| Status::parse(&b))
        .unwrap_or_default();
    let (cmdline_raw, cmdline_truncated) =
        dir.read_capped("cmdline", DEFAULT_CAP).unwrap_or_default();
    let (comm, comm_hex) = lossy(&stat.comm);
    let cmdline: Vec<String> = nul_list(&cmdline_raw).into_iter().map(text_of).collect();
    let cmdline_hex = std::str::from_utf8(&cmdline_raw)
        .is_err()
        .then(|| hex::encode(&cmdline_raw));
    // Kernel threads: no cmdline, no exe, and PF_KTHREAD; ppid 2 or pid 2.
    let (exe_link, exe_link_error) = match dir.readlink("exe") {
        Ok(t) => (Some(t), None),
        Err(e) if is_gone(&e) => (None, None), // kernel thread, or exited
        Err(e) => (None, Some(format!("readlink: {e}"))),
    };
    let is_kernel_thread =
        exe_link.is_none() && cmdline_raw.is_empty() && (stat.ppid == 2 || stat.pid == 2);

    let (cwd, cwd_hex) = link(dir, "cwd").map(|b| lossy(&b)).unzip();
    let (root, root_hex) = link(dir, "root").map(|b| lossy(&b)).unzip();
    let ns = dir.subdir("ns").ok();
    let mut rec = ProcessRecord {
        pid: stat.pid,
        ppid: stat.ppid,
        comm,
        comm_hex,
        cmdline,
        cmdline_hex,
        cmdline_truncated,
        exe: None,
        exe_hex: None,
        exe_deleted: false,
        exe_memfd: false,
        exe_in_temp_dir: false,
        exe_sha256: None,
        exe_size: None,
        exe_inode: None,
        exe_device: None,
        exe_mtime: None,
        exe_recovered_path: None,
        exe_error: exe_link_error,
        uid: status.uids.map(|u| u[0]),
        user: status
            .uids
            .and_then(|u| ctx.users().name(u[0]).map(str::to_owned)),
        uids: status.uids,
        gids: status.gids,
        start_time: start_time(st, stat.starttime),
        state: stat.state.to_string(),
        threads: stat.num_threads,
        rss_bytes: status.vm_rss,
        vsz_bytes: stat.vsize,
        utime_ticks: stat.utime,
        stime_ticks: stat.stime,
        nice: stat.nice,
        tty: tty_name(stat.tty_nr),
        session: stat.session,
        pgid: stat.pgrp,
        cwd,
        cwd_hex: cwd_hex.flatten(),
        root,
        root_hex: root_hex.flatten(),
        environ: None,
        environ_hex: None,
        environ_truncated: false,
        namespaces: Namespaces {
            pid: ns_inode(ns.as_ref(), "pid"),
            net: ns_inode(ns.as_ref(), "net"),
            mnt: ns_inode(ns.as_ref(), "mnt"),
            user: ns_inode(ns.as_ref(), "user"),
            uts: ns_inode(ns.as_ref(), "uts"),
            ipc: ns_inode(ns.as_ref(), "ipc"),
            cgroup: ns_inode(ns.as_ref(), "cgroup"),
        },
        nspid: status.nspid,
        cgroup: None,
        container_runtime: None,
        container_id: None,
        capabilities: Capabilities {
            inheritable: status.cap_inh,
            permitted: status.cap_prm,
            effective: status.cap_eff,
            bounding: status.cap_bnd,
            ambient: status.cap_amb,
        },
        seccomp: status.seccomp,
        is_kernel_thread,
        is_collector: u32::try_from(stat.pid).ok() == Some(ctx.self_pid),
    };

    if let Ok(buf) = dir.read_small("cgroup") {
        rec.cgroup = cgroup::path(&buf);
        if let Some((runtime, id)) = rec.cgroup.as_deref().and_then(cgroup::container) {
            rec.container_runtime = Some(runtime);
            rec.container_id = Some(id);
        }
    }
    // vestige's own environment may hold the credentials it uploads with: never stored.
    if st.opts.environ && !rec.is_collector {
        if let Ok((env, truncated)) = dir.read_capped("environ", DEFAULT_CAP) {
            rec.environ_truncated = truncated;
            let kept: Vec<Cow<'_, [u8]>> = nul_list(&env)
                .into_iter()
                .map(|kv| redact(st, kv))
                .collect();
            rec.environ = Some(kept.iter().map(|kv| text_of(kv)).collect());
            if kept.iter().any(|kv| std::str::from_utf8(kv).is_err()) {
                let mut raw = Vec::with_capacity(env.len());
                for kv in &kept {
                    raw.extend_from_slice(kv);
                    raw.push(0);
                }
                rec.environ_hex = Some(hex::encode(raw));
            }
        }
    }
    Ok(Some((rec, exe_link)))
}

fn start_time(st: &State<'_>, ticks: u64) -> Option<String> {
    let boot = st.boot_time?;
    let tck = u64::try_from(st.clk_tck).ok()?;
    let secs = i64::try_from(ticks / tck).ok()?;
    let nanos = u32::try_from((ticks % tck) * (1_000_000_000 / tck)).ok()?;
    crate::timefmt::rfc3339(boot.checked_add(secs)?, nanos)
}

/// Variables that carry vestige's own signing key (set for it by an operator or by the SSM
/// document in its parent shell): their values never enter the evidence, whatever the spec.
const SIGNING_KEY_VARIABLES: [&str; 2] = [crate::custody::SIGNING_KEY_ENV, "SSM_SigningKey"];

/// An environment entry as stored: `NAME=[redacted]` when its value must not be kept (the
/// signing key always; secret-looking names with `redact_environ`), else the bytes as read.
fn redact<'a>(st: &State<'_>, kv: &'a [u8]) -> Cow<'a, [u8]> {
    let Some(eq) = kv.iter().position(|b| *b == b'=') else {
        return Cow::Borrowed(kv);
    };
    let name_bytes = kv.get(..eq).unwrap_or_default();
    let name = String::from_utf8_lossy(name_bytes);
    let secret = SIGNING_KEY_VARIABLES.contains(&name.as_ref())
        || (st.opts.redact_environ && {
            let upper = name.to_ascii_uppercase();
            st.secret_patterns
                .iter()
                .any(|p| upper.contains(p.as_str()))
        });
    if secret {
        let mut out = name_bytes.to_vec();
        out.extend_from_slice(b"=[redacted]");
        Cow::Owned(out)
    } else {
        Cow::Borrowed(kv)
    }
}

/// Decodes a tty device number into a name (`pts/3`, `tty1`, `ttyS0`).
pub fn tty_name(tty_nr: i64) -> Option<String> {
    if tty_nr <= 0 {
        return None;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    Some(match major {
        136..=143 => format!("pts/{}", minor + (major - 136) * 256),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => format!("{major}:{minor}"),
    })
}

const DELETED_SUFFIX: &[u8] = b" (deleted)";

/// Whether the path a process ran from no longer names its executable.
///
/// The kernel appends " (deleted)" to the exe link once that path is unlinked, also when the
/// file lives on under another hard link (nlink > 0): running a binary and then removing the
/// name it ran from, while a second link keeps it, must still count as deleted. A file may
/// also be literally named "… (deleted)"; the link text is then looked up from the process's
/// own root, and only if it leads to the very file behind /proc/PID/exe is the suffix part of
/// the name. `meta` is the metadata of /proc/PID/exe (None when unreadable).
pub(super) fn exe_unlinked(dir: &Path, target: &[u8], meta: Option<&Metadata>) -> bool {
    let suffix = target.ends_with(DELETED_SUFFIX);
    let Some(meta) = meta else {
        return suffix;
    };
    if meta.nlink() == 0 {
        return true;
    }
    if !suffix {
        return false;
    }
    let Some(relative) = target.strip_prefix(b"/") else {
        return true;
    };
    match std::fs::metadata(dir.join("root").join(OsStr::from_bytes(relative))) {
        Ok(named) => !(named.dev() == meta.dev() && named.ino() == meta.ino()),
        Err(_) => true,
    }
}

/// Fills the record's executable fields: path, flags and file identity. Returns the file's
/// metadata and its SHA-256 (hashed once per distinct file, perhaps still being hashed by
/// another thread; `known` when the run hashed it already) when it is to be hashed;
/// [`settle_hash`] puts the hash in the record.
fn executable(
    st: &State<'_>,
    hashes: &ExeHashes,
    dir: &Path,
    target: &[u8],
    known: Option<&str>,
    rec: &mut ProcessRecord,
) -> Option<(Metadata, Arc<OnceLock<Hashed>>)> {
    let exe_path = dir.join("exe");
    let meta = std::fs::metadata(&exe_path);
    let unlinked = exe_unlinked(dir, target, meta.as_ref().ok());
    let shown: &[u8] = if unlinked {
        target.strip_suffix(DELETED_SUFFIX).unwrap_or(target)
    } else {
        target
    };
    let (text, hex) = lossy(shown);
    rec.exe_memfd = shown.starts_with(b"/memfd:");
    rec.exe_deleted = unlinked;
    rec.exe_in_temp_dir = st
        .opts
        .recover_dirs
        .iter()
        .any(|d| Path::new(&text).starts_with(d));
    rec.exe = Some(text);
    rec.exe_hex = hex;

    let meta = match meta {
        Ok(m) => m,
        Err(e) => {
            if !is_gone(&e) {
                rec.exe_error = Some(format!("stat: {e}"));
            }
            return None;
        }
    };
    rec.exe_size = Some(meta.size());
    rec.exe_inode = Some(meta.ino());
    rec.exe_device = Some(meta.dev());
    rec.exe_mtime =
        crate::timefmt::rfc3339(meta.mtime(), u32::try_from(meta.mtime_nsec()).unwrap_or(0));
    if !st.opts.hash_executables {
        return None;
    }
    if let Some(sha) = known {
        return Some((meta, Arc::new(OnceLock::from(Hashed::Ok(sha.to_owned())))));
    }
    let key = ExeKey {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
    };
    let hashed = hashes.slot(key, || {
        match File::open(&exe_path).and_then(|f| sha256_reader(f, None)) {
            Ok((sha, _)) => Hashed::Ok(sha),
            Err(e) => Hashed::Err(format!("hashing: {e}")),
        }
    });
    Some((meta, hashed))
}

/// Puts the executable's hash in the record (waiting for the thread hashing it, if that is
/// still at work). Returns the metadata when there is a hash, for [`recover`].
fn settle_hash(
    pending: Option<(Metadata, Arc<OnceLock<Hashed>>)>,
    rec: &mut ProcessRecord,
) -> Option<Metadata> {
    let (meta, slot) = pending?;
    match slot.wait() {
        Hashed::Ok(sha) => {
            rec.exe_sha256 = Some(sha.clone());
            Some(meta)
        }
        Hashed::Err(e) => {
            rec.exe_error = Some(e.clone());
            None
        }
    }
}

/// Stores a copy of a suspicious executable (deleted, memfd, or in a temporary directory)
/// once per distinct SHA-256.
fn recover(
    st: &State<'_>,
    cache: &mut ExeCache,
    dir: &Path,
    meta: &Metadata,
    rec: &mut ProcessRecord,
    out: &mut Output,
) -> Result<(), CollectError> {
    let Some(sha) = rec.exe_sha256.clone() else {
        return Ok(());
    };
    let exe_path = dir.join("exe");
    let suspicious = rec.exe_deleted || rec.exe_memfd || rec.exe_in_temp_dir;
    // vestige run from a temporary directory is not copied into its own evidence: the
    // manifest's `tool.sha256` already names the binary that collected.
    if !(st.opts.recover_executables && suspicious) || rec.is_collector {
        return Ok(());
    }
    if let Some(path) = cache.recovered.get(&sha) {
        rec.exe_recovered_path = Some(path.clone());
        return Ok(());
    }
    if let Some(why) = cache.recovery_failed.get(&sha) {
        rec.exe_error = Some(why.clone());
        return Ok(());
    }
    if meta.size() > st.opts.recover_max_bytes.0 {
        rec.exe_error = Some(format!(
            "not recovered: {} bytes is over the {} cap",
            meta.size(),
            st.opts.recover_max_bytes
        ));
        return Ok(());
    }
    let path = format!("artifacts/executables/{sha}.bin.zst");
    let mut file = match File::open(&exe_path) {
        Ok(f) => f,
        Err(e) => {
            rec.exe_error = Some(format!("not recovered: {e}"));
            return Ok(());
        }
    };
    let name = format!("executable-{}", sha.get(..16).unwrap_or(&sha));
    match out.store_bytes(&name, &path, &mut file, st.opts.recover_max_bytes.0) {
        Ok(fin) => {
            if fin.digest.raw_sha256 != sha {
                out.warn(format!(
                    "pid {}: executable changed between hashing and recovery ({} then {})",
                    rec.pid, sha, fin.digest.raw_sha256
                ));
            }
            // The stored name (`.age` appended when the collection is encrypted).
            cache.recovered.insert(sha, fin.path.clone());
            rec.exe_recovered_path = Some(fin.path);
        }
        Err(CollectError::Cancelled) => return Err(CollectError::Cancelled),
        // A failed copy (unreadable file, full destination) costs this executable only;
        // the process records go on.
        Err(e) => {
            out.warn(format!("pid {}: executable not recovered: {e}", rec.pid));
            rec.exe_error = Some(format!("not recovered: {e}"));
            cache
                .recovery_failed
                .insert(sha, format!("not recovered: {e}"));
        }
    }
    Ok(())
}

/// The set of pids and thread ids visible under a /proc root (used by `hidden_processes`);
/// the task directories are listed on up to `threads` threads.
pub fn visible_ids(
    proc_root: &Path,
    threads: usize,
) -> std::io::Result<(HashSet<u32>, HashSet<u32>)> {
    let listed = list_pids(proc_root)?;
    let mut tids = HashSet::new();
    let never = std::sync::atomic::AtomicBool::new(false);
    // Only cancellation ends this early, and nothing cancels it.
    let _ = super::ordered_parallel(
        &listed,
        threads,
        &never,
        |pid| list_pids(&proc_root.join(pid.to_string()).join("task")).unwrap_or_default(),
        |t| {
            tids.extend(t);
            Ok(())
        },
    );
    Ok((listed.into_iter().collect(), tids))
}

#[cfg(test)]
mod tests {
    use super::{exe_unlinked, tty_name};
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    /// [hostile] A /proc/PID directory with its contents masked gives no record and one warning
    /// naming the pid.
    #[test]
    fn a_masked_proc_entry_is_a_warning() {
        use crate::collect::{Context, Output};
        use crate::pipeline::Compression;
        use crate::sink::dir::DirSink;
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};

        let tmp = tempfile::tempdir().unwrap();
        let proc_root = tmp.path().join("proc");
        // pid 77: the directory is there, its contents are not (an empty dir mounted over it).
        std::fs::create_dir_all(proc_root.join("77")).unwrap();
        let ctx = Context::with_roots(&proc_root, tmp.path().join("sys"), tmp.path().join("etc"));
        let sink = Arc::new(DirSink::create_root(&tmp.path().join("out")).unwrap());
        let mut out = Output::open(
            sink,
            Compression::Zstd(1),
            "processes",
            "processes",
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
        super::collect(&ctx, &Default::default(), &mut out).unwrap();
        let done = out.finish().unwrap();
        assert_eq!(done.records, 0);
        assert_eq!(done.warning_count, 1, "{:?}", done.warnings);
        let w = done.warnings.first().unwrap();
        assert!(w.starts_with("pid 77: ") && w.contains("masked"), "{w}");
    }

    /// [hostile] A deleted executable is told from a file literally named "... (deleted)" by its
    /// link count and identity, not its name.
    #[test]
    fn deleted_exe_told_from_a_name_ending_in_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let rootfs = tmp.path().join("rootfs");
        let pid_dir = tmp.path().join("proc/77");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::create_dir_all(&pid_dir).unwrap();
        std::os::unix::fs::symlink(&rootfs, pid_dir.join("root")).unwrap();
        let meta = |p: &Path| std::fs::metadata(p).unwrap();

        // A file literally named "tool (deleted)", still there: not deleted.
        let literal = rootfs.join("bin/tool (deleted)");
        std::fs::write(&literal, b"x").unwrap();
        let m = meta(&literal);
        assert!(!exe_unlinked(&pid_dir, b"/bin/tool (deleted)", Some(&m)));
        // Ran as /bin/gone, name removed, the file kept alive by a second hard link.
        let survivor = rootfs.join("bin/.kept");
        std::fs::write(&survivor, b"y").unwrap();
        let m = meta(&survivor);
        assert!(m.nlink() > 0);
        assert!(exe_unlinked(&pid_dir, b"/bin/gone (deleted)", Some(&m)));
        // Same text, but the literal path is another file: deleted.
        assert!(exe_unlinked(&pid_dir, b"/bin/tool (deleted)", Some(&m)));
        // No suffix and linked: not deleted.
        assert!(!exe_unlinked(&pid_dir, b"/bin/.kept", Some(&m)));
        // No links left: deleted, whatever the text says.
        let f = std::fs::File::create(rootfs.join("bin/tmp")).unwrap();
        std::fs::remove_file(rootfs.join("bin/tmp")).unwrap();
        let gone = f.metadata().unwrap();
        assert_eq!(gone.nlink(), 0);
        assert!(exe_unlinked(&pid_dir, b"/bin/tmp", Some(&gone)));
        // Metadata unreadable: only the text is left to go by.
        assert!(exe_unlinked(&pid_dir, b"/bin/x (deleted)", None));
        assert!(!exe_unlinked(&pid_dir, b"/bin/x", None));
    }

    /// Runs the collector over the real /proc (without hashing or recovering executables)
    /// and returns the records of `pids`.
    fn collect_pids(
        opts: collector_spec::ProcessesOptions,
        pids: &[u32],
    ) -> Vec<serde_json::Value> {
        use crate::collect::{Context, Output};
        use crate::pipeline::Compression;
        use crate::sink::dir::DirSink;
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};

        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("out");
        let sink = Arc::new(DirSink::create_root(&root).unwrap());
        let mut out = Output::open(
            sink,
            Compression::Zstd(1),
            "processes",
            "processes",
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
        let opts = collector_spec::ProcessesOptions {
            hash_executables: false,
            recover_executables: false,
            ..opts
        };
        super::collect(&Context::host(), &opts, &mut out).unwrap();
        out.finish().unwrap();
        let bytes = std::fs::read(root.join("artifacts/processes.jsonl.zst")).unwrap();
        let text = zstd::decode_all(&bytes[..]).unwrap();
        let found: Vec<serde_json::Value> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice::<serde_json::Value>(l).unwrap())
            .filter(|r| pids.iter().any(|p| r["pid"] == *p))
            .collect();
        assert_eq!(found.len(), pids.len(), "{found:?}");
        found
    }

    fn unhex(v: &serde_json::Value) -> Vec<u8> {
        hex::decode(v.as_str().unwrap_or_else(|| panic!("no hex: {v}"))).unwrap()
    }

    /// [hostile] A child whose working directory, root and environment hold bytes that are not UTF-8
    /// (and a newline): the `*_hex` fields give them back exactly, the text fields lossily.
    #[test]
    fn cwd_root_and_environ_keep_their_exact_bytes() {
        use std::ffi::{CString, OsStr};
        use std::os::unix::ffi::OsStrExt;

        let tmp = tempfile::tempdir().unwrap();
        let mut cwd = tmp.path().as_os_str().as_bytes().to_vec();
        cwd.extend_from_slice(b"/work\xff\xfedir\nline two");
        std::fs::create_dir(OsStr::from_bytes(&cwd)).unwrap();
        let mut root = tmp.path().as_os_str().as_bytes().to_vec();
        root.extend_from_slice(b"/jail\xc3(\n");
        std::fs::create_dir(OsStr::from_bytes(&root)).unwrap();

        // One child from exec, with the working directory and environment set.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(OsStr::from_bytes(&cwd))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("ODD", OsStr::from_bytes(b"caf\xe9\x80 \n end"))
            .env("PLAIN", "keep me")
            .spawn()
            .unwrap();
        // One forked child that chroots into a directory with a hostile name and waits. It
        // calls only async-signal-safe functions between fork and _exit.
        let root_c = CString::new(root.clone()).unwrap();
        // SAFETY: the child runs only chroot, chdir, pause and _exit (async-signal-safe);
        // the parent keeps the pid to kill and reap it below.
        let jailed = unsafe { libc::fork() };
        assert!(jailed >= 0, "fork failed");
        if jailed == 0 {
            // SAFETY: async-signal-safe system calls in the forked child, which never returns.
            unsafe {
                if libc::chroot(root_c.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                    libc::_exit(1);
                }
                loop {
                    libc::pause();
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(300));

        let sleeper = child.id();
        /// Kills and reaps the forked child, also when an assertion fails first.
        struct Reap(libc::pid_t);
        impl Drop for Reap {
            fn drop(&mut self) {
                // SAFETY: plain system calls on the pid of the child forked by this test.
                unsafe {
                    libc::kill(self.0, libc::SIGKILL);
                    libc::waitpid(self.0, std::ptr::null_mut(), 0);
                }
            }
        }
        let reap = Reap(jailed);
        let jailed_pid = u32::try_from(jailed).unwrap();
        let recs = collect_pids(Default::default(), &[sleeper, jailed_pid]);
        let _ = child.kill();
        let _ = child.wait();
        drop(reap);

        let rec = recs.iter().find(|r| r["pid"] == sleeper).unwrap();
        assert_eq!(unhex(&rec["cwd_hex"]), cwd, "{rec}");
        assert_eq!(rec["cwd"], String::from_utf8_lossy(&cwd).as_ref());
        assert!(rec["root_hex"].is_null(), "`/` is valid UTF-8: {rec}");
        assert_eq!(rec["root"], "/");
        // (Command passes the environment sorted by name.)
        let want_env = b"ODD=caf\xe9\x80 \n end\0PATH=/usr/bin:/bin\0PLAIN=keep me\0";
        assert_eq!(unhex(&rec["environ_hex"]), want_env, "{rec}");
        assert_eq!(
            rec["environ"],
            serde_json::json!([
                String::from_utf8_lossy(b"ODD=caf\xe9\x80 \n end"),
                "PATH=/usr/bin:/bin",
                "PLAIN=keep me"
            ])
        );

        let rec = recs.iter().find(|r| r["pid"] == jailed_pid).unwrap();
        assert_eq!(unhex(&rec["root_hex"]), root, "{rec}");
        assert_eq!(rec["root"], String::from_utf8_lossy(&root).as_ref());
        assert_eq!(unhex(&rec["cwd_hex"]), root, "its cwd is its root: {rec}");
    }

    /// [security] `redact_environ: true` replaces the values of secret-looking variables, in the text and
    /// in the hex, and keeps every other variable as it is.
    #[test]
    fn redact_environ_hides_secret_values_and_keeps_the_rest() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;

        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env_clear()
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("db_password", "hunter2")
            .env("GITHUB_TOKEN", "ghp_example")
            .env("HOME", "/root")
            .env("LANG", OsStr::from_bytes(b"C.\xff"))
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let pid = child.id();
        let kept = collect_pids(Default::default(), &[pid]);
        let redacted = collect_pids(
            collector_spec::ProcessesOptions {
                redact_environ: true,
                ..Default::default()
            },
            &[pid],
        );
        let _ = child.kill();
        let _ = child.wait();

        let env_of = |recs: &[serde_json::Value]| -> Vec<String> {
            recs[0]["environ"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let lang = String::from_utf8_lossy(b"LANG=C.\xff").into_owned();
        // By default, evidence keeps the values (Command passes them sorted by name).
        assert_eq!(
            env_of(&kept),
            vec![
                format!("AWS_SECRET_ACCESS_KEY={secret}"),
                "GITHUB_TOKEN=ghp_example".into(),
                "HOME=/root".into(),
                lang.clone(),
                "db_password=hunter2".into(),
            ]
        );
        assert_eq!(
            env_of(&redacted),
            vec![
                "AWS_SECRET_ACCESS_KEY=[redacted]".to_owned(),
                "GITHUB_TOKEN=[redacted]".into(),
                "HOME=/root".into(),
                lang,
                "db_password=[redacted]".into(),
            ]
        );
        // The exact bytes are kept for the invalid UTF-8, without the redacted values.
        let raw = unhex(&redacted[0]["environ_hex"]);
        assert_eq!(
            raw,
            b"AWS_SECRET_ACCESS_KEY=[redacted]\0GITHUB_TOKEN=[redacted]\0HOME=/root\0LANG=C.\xff\0db_password=[redacted]\0"
        );
        let all = serde_json::to_string(&redacted[0]).unwrap();
        for value in [secret, "hunter2", "ghp_example"] {
            assert!(!all.contains(value), "{value} in {all}");
            assert!(
                !all.contains(&hex::encode(value)),
                "{value} in hex in {all}"
            );
        }
    }

    /// Terminal device numbers name pts, tty and ttyS devices; zero is none.
    #[test]
    fn tty_names() {
        assert_eq!(tty_name(0), None);
        assert_eq!(tty_name(34816), Some("pts/0".into()));
        assert_eq!(tty_name(34817), Some("pts/1".into()));
        assert_eq!(tty_name(1025), Some("tty1".into()));
        assert_eq!(tty_name(1088), Some("ttyS0".into()));
    }
}
