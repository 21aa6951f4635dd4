//! `hidden_processes`: pids that exist but are hidden from the /proc listing.
//!
//! Two checks: every pid up to pid_max is probed with `kill(pid, 0)`; one that answers but
//! is neither a listed process nor a listed thread is hidden from readdir (a getdents hook).
//! And a listed pid whose /proc entry has something mounted over it is masked (the
//! `mount --bind /empty /proc/PID` trick that blinds ps).

use super::processes::visible_ids;
use super::{CollectError, Context, Output};
use crate::procfs::mountinfo;
use crate::procfs::read::{read_small, readlink_bytes};
use crate::procfs::stat::Stat;
use crate::procfs::status::Status;
use crate::procfs::text::lossy;
use collector_spec::HiddenProcessesOptions;
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde::Serialize;
use std::collections::HashSet;

/// One hidden or masked pid.
#[derive(Debug, Serialize)]
pub struct HiddenProcessRecord {
    pub pid: u32,
    pub reason: &'static str,
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub detail: Option<String>,
}

/// Whether a pid exists according to the kernel's signal path.
fn answers_probe(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    !matches!(kill(Pid::from_raw(raw), None), Err(Errno::ESRCH))
}

/// Pids in `1..=max_pid` that answer a probe but are not in `listed` (pids and thread ids).
/// The range is split across threads: probing 4 million pids is about 0.4 s of system time.
pub fn probe_unlisted(
    max_pid: u32,
    listed: &HashSet<u32>,
    threads: usize,
    out: &Output,
) -> Result<Vec<u32>, CollectError> {
    let threads = u32::try_from(threads.clamp(1, 4)).unwrap_or(1);
    let chunk = max_pid.div_ceil(threads).max(1);
    let flag = out.cancel_flag();
    let cancelled = || flag.load(std::sync::atomic::Ordering::Relaxed);
    let mut found: Vec<u32> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let lo = i.saturating_mul(chunk).saturating_add(1);
                let hi = i.saturating_add(1).saturating_mul(chunk).min(max_pid);
                let cancelled = &cancelled;
                scope.spawn(move || {
                    let mut found = Vec::new();
                    for pid in lo..=hi {
                        if pid % 65536 == 0 && cancelled() {
                            break;
                        }
                        if !listed.contains(&pid) && answers_probe(pid) {
                            found.push(pid);
                        }
                    }
                    found
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    out.check_cancel()?;
    found.sort_unstable();
    Ok(found)
}

/// Collects hidden and masked pids.
pub fn collect(
    ctx: &Context,
    opts: &HiddenProcessesOptions,
    out: &mut Output,
) -> Result<(), CollectError> {
    let max_pid = match opts.max_pid {
        Some(m) => m,
        None => read_small(&ctx.proc.join("sys/kernel/pid_max"))
            .ok()
            .and_then(|b| String::from_utf8_lossy(&b).trim().parse().ok())
            .unwrap_or(4_194_304),
    };
    let (pids, tids) =
        visible_ids(&ctx.proc).map_err(|e| CollectError::Failed(format!("listing: {e}")))?;
    let listed: HashSet<u32> = pids.union(&tids).copied().collect();
    let candidates = probe_unlisted(max_pid, &listed, ctx.threads, out)?;
    // Processes born during the scan are listed now; what is still unlisted is hidden.
    let (pids_after, tids_after) =
        visible_ids(&ctx.proc).map_err(|e| CollectError::Failed(format!("listing: {e}")))?;
    for pid in candidates {
        if pids_after.contains(&pid) || tids_after.contains(&pid) || !answers_probe(pid) {
            continue;
        }
        let dir = ctx.proc.join(pid.to_string());
        // A thread of a listed process answers too; its Tgid differs from its id.
        let status = read_small(&dir.join("status"))
            .map(|b| Status::parse(&b))
            .ok();
        if let Some(tgid) = status.as_ref().and_then(|s| s.tgid) {
            if i64::from(pid) != tgid && pids_after.contains(&u32::try_from(tgid).unwrap_or(0)) {
                continue;
            }
        }
        let comm = read_small(&dir.join("stat"))
            .ok()
            .and_then(|b| Stat::parse(&b).ok())
            .map(|s| lossy(&s.comm).0);
        let exe = readlink_bytes(&dir.join("exe")).ok().map(|b| lossy(&b).0);
        out.record(&HiddenProcessRecord {
            pid,
            reason: "missing_from_proc_listing",
            comm,
            exe,
            detail: Some("answers kill(pid, 0) but /proc readdir does not list it".into()),
        })?;
    }
    masked(ctx, &pids_after, out)
}

/// Listed pids with a mount over their /proc entry.
fn masked(ctx: &Context, pids: &HashSet<u32>, out: &mut Output) -> Result<(), CollectError> {
    let Ok(buf) = read_small(&ctx.proc.join("self/mountinfo")) else {
        out.warn("self/mountinfo unreadable: masked /proc entries not checked");
        return Ok(());
    };
    let proc_root = ctx.proc.to_string_lossy().into_owned();
    let (mounts, _) = mountinfo::parse(&buf);
    let mut seen = HashSet::new();
    for m in mounts {
        let Some(rest) = m
            .mount_point
            .strip_prefix(&proc_root)
            .and_then(|r| r.strip_prefix('/'))
        else {
            continue;
        };
        let first = rest.split('/').next().unwrap_or_default();
        let Ok(pid) = first.parse::<u32>() else {
            continue;
        };
        if !seen.insert(pid) {
            continue;
        }
        out.record(&HiddenProcessRecord {
            pid,
            reason: if pids.contains(&pid) {
                "proc_entry_masked_by_mount"
            } else {
                "proc_mount_for_unlisted_pid"
            },
            comm: None,
            exe: None,
            detail: Some(format!(
                "{} mounted on {} (source {})",
                m.fstype, m.mount_point, m.source
            )),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Compression;
    use crate::sink::dir::DirSink;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};

    fn output(dir: &std::path::Path) -> Output {
        let sink = Arc::new(DirSink::create_root(&dir.join("c")).unwrap());
        Output::open(
            sink,
            Compression::Zstd(3),
            "hidden",
            "hidden_processes",
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap()
    }

    /// A getdents hook hides a pid from the listing; the probe still finds it. The "hook"
    /// here is a listing with our own pid removed: the probe must report exactly that pid.
    #[test]
    fn probe_finds_a_pid_missing_from_the_listing() {
        let tmp = tempfile::tempdir().unwrap();
        let out = output(tmp.path());
        let me = std::process::id();
        let (pids, tids) = visible_ids(std::path::Path::new("/proc")).unwrap();
        let mut listed: HashSet<u32> = pids.union(&tids).copied().collect();
        listed.remove(&me);
        let max = me.max(1000) + 10;
        let found = probe_unlisted(max, &listed, 2, &out).unwrap();
        assert!(found.contains(&me), "{found:?}");
        // Anything else found must be a process born during the probe, not an old one.
        assert!(found.len() < 50, "{found:?}");
    }

    #[test]
    fn probe_stops_when_cancelled() {
        let tmp = tempfile::tempdir().unwrap();
        let out = output(tmp.path());
        out.cancel_flag()
            .store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(matches!(
            probe_unlisted(4_000_000, &HashSet::new(), 2, &out),
            Err(CollectError::Cancelled)
        ));
    }
}
