//! `hidden_processes`: pids that exist but are hidden from the /proc listing.
//!
//! Two checks: every pid that can be in use is probed with `kill(pid, 0)`; one that answers
//! but is neither a listed process nor a thread of one is hidden from readdir (a getdents
//! hook). Which pids can be in use: all up to pid_max, unless the kernel's pid counter shows
//! it never wrapped (see [`probe_limit`]).
//! And a listed pid whose /proc entry has something mounted over it is masked (the
//! `mount --bind /empty /proc/PID` trick that blinds ps).

use super::processes::visible_ids;
use super::{CollectError, Context, Output};
use crate::procfs::mountinfo;
use crate::procfs::read::{list_pids, read_small, readlink_bytes};
use crate::procfs::stat::Stat;
use crate::procfs::status::Status;
use crate::procfs::text::lossy;
use collector_spec::HiddenProcessesOptions;
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

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

/// Most probe candidates told apart from threads one by one (by their status' Tgid); above
/// this the threads of every listed process are listed instead.
const THREAD_LOOKUPS: usize = 512;

/// Room above the highest pid in use, for pids allocated while the probe runs.
const PROBE_SLACK: u32 = 4096;

/// The highest pid worth probing under `proc_root`, and why.
///
/// The kernel hands out pids in increasing order and only wraps to low pids after reaching
/// pid_max (4,194,304 where systemd sets it: a full probe is about 0.4 s of system time).
/// While it has not wrapped, every live pid is at most the last one allocated. It cannot have
/// wrapped when fewer tasks were created since boot (`processes` in /proc/stat, threads
/// included, counted across all pid namespaces) than pid_max minus the 300 reserved low
/// pids, and when the namespace's last pid is still the highest listed. Otherwise, or when
/// any of these cannot be read, the whole range up to pid_max is probed. (Root can rewrite
/// `ns_last_pid`, so an intruder who knows this could place a pid above the bound: the spec's
/// `max_pid` forces the whole range.)
pub fn probe_limit(proc_root: &Path, listed: &HashSet<u32>) -> (u32, String) {
    let number = |rel: &str| -> Option<u64> {
        read_small(&proc_root.join(rel))
            .ok()
            .and_then(|b| String::from_utf8_lossy(&b).trim().parse().ok())
    };
    let pid_max = number("sys/kernel/pid_max")
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(4_194_304);
    let full = |why: &str| (pid_max, format!("1..={pid_max}: {why}"));
    let forks = read_small(&proc_root.join("stat")).ok().and_then(|b| {
        String::from_utf8_lossy(&b)
            .lines()
            .find_map(|l| l.strip_prefix("processes "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    let (Some(forks), Some(last)) = (forks, number("sys/kernel/ns_last_pid")) else {
        return full("the pid counter is unreadable");
    };
    let highest = u64::from(listed.iter().copied().max().unwrap_or(0));
    if forks.saturating_add(300) >= u64::from(pid_max) {
        return full(&format!(
            "{forks} tasks created since boot: pids may have wrapped"
        ));
    }
    if highest > last {
        return full(&format!(
            "pid {highest} is above the last pid allocated ({last})"
        ));
    }
    // Without a wrap every live pid is at most the last allocated (in a child pid namespace
    // this is far below the host-wide task count).
    let top = last.max(highest).saturating_add(u64::from(PROBE_SLACK));
    let limit = u32::try_from(top).unwrap_or(pid_max).min(pid_max);
    (
        limit,
        format!(
            "1..={limit}: pids never wrapped ({forks} tasks created since boot, pid_max {pid_max}, last pid {last})"
        ),
    )
}

/// Collects hidden and masked pids.
pub fn collect(
    ctx: &Context,
    opts: &HiddenProcessesOptions,
    out: &mut Output,
) -> Result<(), CollectError> {
    let listing = |with_threads: bool| {
        let listed = if with_threads {
            visible_ids(&ctx.proc, ctx.threads)
        } else {
            list_pids(&ctx.proc).map(|p| (p.into_iter().collect(), HashSet::new()))
        };
        listed.map_err(|e| CollectError::Failed(format!("listing: {e}")))
    };
    let (pids, _) = listing(false)?;
    let (max_pid, why) = match opts.max_pid {
        Some(m) => (m, format!("1..={m}: the spec's max_pid")),
        None => probe_limit(&ctx.proc, &pids),
    };
    tracing::debug!(range = %why, "probing pids");
    let candidates = probe_unlisted(max_pid, &pids, ctx.threads, out)?;
    // Threads answer the probe too. A few are told apart one by one by their Tgid below; many
    // (a host of threaded servers) at once by listing every process's threads. Processes born
    // during the scan are listed now; what is still unlisted is hidden. With no candidate (a
    // host with no thread but main ones) the first listing serves.
    let (pids_after, tids_after) = if candidates.is_empty() {
        (pids, HashSet::new())
    } else {
        listing(candidates.len() > THREAD_LOOKUPS)?
    };
    for pid in candidates {
        if pids_after.contains(&pid) || tids_after.contains(&pid) || !answers_probe(pid) {
            continue;
        }
        let dir = ctx.proc.join(pid.to_string());
        // A thread of a listed process answers too; its Tgid differs from its id.
        let status = read_small(&dir.join("status"))
            .map(|b| Status::parse(&b))
            .ok();
        // A thread that ended after the probe took its status with it; a pid hidden from
        // lookups as well as from the listing has none to read but still answers.
        if status.is_none() && !answers_probe(pid) {
            continue;
        }
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

    /// [hostile] A getdents hook hides a pid from the listing; the probe still finds it. The "hook"
    /// here is a listing with our own pid removed: the probe must report exactly that pid.
    #[test]
    fn probe_finds_a_pid_missing_from_the_listing() {
        let tmp = tempfile::tempdir().unwrap();
        let out = output(tmp.path());
        let me = std::process::id();
        let (pids, tids) = visible_ids(std::path::Path::new("/proc"), 2).unwrap();
        let mut listed: HashSet<u32> = pids.union(&tids).copied().collect();
        listed.remove(&me);
        let max = me.max(1000) + 10;
        let found = probe_unlisted(max, &listed, 2, &out).unwrap();
        assert!(found.contains(&me), "{found:?}");
        // Anything else found must be a process born during the probe, not an old one.
        assert!(found.len() < 50, "{found:?}");
    }

    /// Threads answer the probe but are not listed in /proc: whether there are a few (told
    /// apart one by one) or more than [`THREAD_LOOKUPS`] (all threads listed), none of ours
    /// is reported hidden.
    #[test]
    fn threads_are_not_hidden_processes_few_or_many() {
        for count in [8, THREAD_LOOKUPS + 100] {
            let (ids_tx, ids_rx) = std::sync::mpsc::channel();
            let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
            let stop_rx = Arc::new(Mutex::new(stop_rx));
            let workers: Vec<_> = (0..count)
                .map(|_| {
                    let (ids_tx, stop_rx) = (ids_tx.clone(), Arc::clone(&stop_rx));
                    std::thread::spawn(move || {
                        ids_tx.send(nix::unistd::gettid().as_raw() as u32).unwrap();
                        let _ = stop_rx.lock().unwrap().recv();
                    })
                })
                .collect();
            let ours: HashSet<u32> = ids_rx.iter().take(count).collect();
            let tmp = tempfile::tempdir().unwrap();
            let mut out = output(tmp.path());
            super::collect(&Context::host(), &Default::default(), &mut out).unwrap();
            out.finish().unwrap();
            drop(stop_tx);
            for w in workers {
                w.join().unwrap();
            }
            let bytes = std::fs::read(tmp.path().join("c/artifacts/hidden.jsonl.zst")).unwrap();
            let text = String::from_utf8(zstd::decode_all(bytes.as_slice()).unwrap()).unwrap();
            let reported: Vec<u32> = text
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["pid"]
                        .as_u64()
                        .unwrap() as u32
                })
                .collect();
            assert_eq!(ours.len(), count);
            assert!(
                reported.iter().all(|p| !ours.contains(p)),
                "{count} threads: {reported:?}"
            );
        }
    }

    fn fake_proc(stat: &str, pid_max: &str, last: &str) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("sys/kernel")).unwrap();
        std::fs::write(tmp.path().join("stat"), stat).unwrap();
        std::fs::write(tmp.path().join("sys/kernel/pid_max"), pid_max).unwrap();
        std::fs::write(tmp.path().join("sys/kernel/ns_last_pid"), last).unwrap();
        tmp
    }

    /// The pid probe goes up to the last pid allocated plus slack, and the whole range when the
    /// counter may have wrapped, is unreadable or pid_max is lower.
    #[test]
    fn probe_limit_follows_the_pid_counter() {
        let listed: HashSet<u32> = [1, 2, 900, 5000].into_iter().collect();
        let stat = "cpu 1 2 3\nprocesses 12000\nprocs_running 1\n";
        // Never wrapped: up to the last pid allocated plus slack.
        let p = fake_proc(stat, "4194304\n", "11990\n");
        assert_eq!(probe_limit(p.path(), &listed).0, 11990 + PROBE_SLACK);
        // In a child pid namespace the host-wide count is far above the namespace's last pid.
        let p = fake_proc("processes 2000000\n", "4194304\n", "5001\n");
        assert_eq!(probe_limit(p.path(), &listed).0, 5001 + PROBE_SLACK);
        // More tasks created than pid_max: may have wrapped, everything is probed.
        let p = fake_proc("processes 5000000\n", "4194304\n", "700\n");
        assert_eq!(probe_limit(p.path(), &listed).0, 4_194_304);
        // A listed pid above the last one allocated: wrapped, everything.
        let p = fake_proc(stat, "4194304\n", "4000\n");
        let (limit, why) = probe_limit(p.path(), &listed);
        assert_eq!(limit, 4_194_304, "{why}");
        // Never above pid_max; unreadable counters mean the whole range.
        let p = fake_proc(stat, "13000\n", "11990\n");
        assert_eq!(probe_limit(p.path(), &listed).0, 13000);
        let p = fake_proc("cpu 1\n", "4194304\n", "11990\n");
        assert_eq!(probe_limit(p.path(), &listed).0, 4_194_304);
    }

    /// On this host the probe limit is above every pid and thread listed in /proc.
    #[test]
    fn probe_limit_on_this_host_covers_every_listed_pid() {
        let (pids, tids) = visible_ids(Path::new("/proc"), 2).unwrap();
        let listed: HashSet<u32> = pids.union(&tids).copied().collect();
        let (limit, why) = probe_limit(Path::new("/proc"), &listed);
        assert!(listed.iter().all(|p| *p <= limit), "{why}");
    }

    /// [fault] A cancelled run stops the pid probe with Cancelled.
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
