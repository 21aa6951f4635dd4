//! Self-limit: a CPU quota enforced by the kernel. When asked (`collect --cpu-quota PERCENT`
//! or the spec's `cpu_quota`), vestige moves itself into a fresh cgroup `vestige-<pid>` with
//! that quota, and at exit moves back and removes it.
//!
//! - cgroup v2 (a `cgroup2` mount) when its `cpu` controller is available: the child goes
//!   below vestige's cgroup when that is the hierarchy's root, else beside it (under its
//!   parent: a v2 cgroup holding processes cannot give controllers to children), `cpu` is
//!   enabled in the parent's `cgroup.subtree_control` if needed, and `cpu.max` holds
//!   `QUOTA PERIOD`.
//! - else cgroup v1's `cpu` hierarchy: the child goes below vestige's cpu cgroup, with
//!   `cpu.cfs_period_us` and `cpu.cfs_quota_us`.
//!
//! Either way the pid is written to the child's `cgroup.procs`, which moves every thread.
//! Nothing here is fatal: a failure is returned as text for a warning and the manifest.
//! Every path is found from `/proc/self/mountinfo` and `/proc/self/cgroup` below a
//! filesystem root that tests replace with a fake tree.

use crate::manifest::CpuQuotaInfo;
use crate::procfs::mountinfo::{self, Mount};
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

/// CFS period written with every quota, microseconds.
pub const PERIOD_US: u64 = 100_000;

/// The cgroup interface that holds the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// cgroup v1, the `cpu` hierarchy.
    V1,
    /// The unified hierarchy, cgroup v2.
    V2,
}

impl Version {
    /// `cgroup1` or `cgroup2`, as the manifest names them.
    pub fn label(self) -> &'static str {
        match self {
            Version::V1 => "cgroup1",
            Version::V2 => "cgroup2",
        }
    }
}

/// Where the child cgroup goes: found, not yet made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Interface used.
    pub version: Version,
    /// Directory of the cgroup vestige is in now (where it returns at exit).
    pub original_dir: PathBuf,
    /// Directory the child is made in.
    pub parent_dir: PathBuf,
    /// Directory of the child.
    pub child_dir: PathBuf,
    /// The child's path inside its hierarchy, as `/proc/self/cgroup` shows it once inside.
    pub child_path: String,
}

/// The quota asked for and, when it was set up, where: what the manifest reads back.
#[derive(Debug, Clone)]
pub struct CpuQuota {
    requested_percent: u32,
    applied: Option<Plan>,
    error: Option<String>,
}

/// Owns the child cgroup while vestige runs in it. Dropping it moves vestige back to its
/// original cgroup and removes the child (best effort: failures are logged).
#[derive(Debug)]
pub struct Guard {
    plan: Plan,
    pid: u32,
    entered: bool,
}

/// Puts this process under a CPU quota of `percent` of one CPU (see the module docs).
/// Returns what to record and, on success, the guard that undoes it.
pub fn enter(percent: u32) -> (CpuQuota, Option<Guard>) {
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
    let located = read("/proc/self/mountinfo").and_then(|mountinfo| {
        read("/proc/self/cgroup")
            .and_then(|own| locate(&mountinfo, &own, Path::new("/"), std::process::id()))
    });
    enter_with(percent, located, std::process::id())
}

/// [`enter`] with the plan already found (or the reason there is none).
pub fn enter_with(
    percent: u32,
    located: Result<Plan, String>,
    pid: u32,
) -> (CpuQuota, Option<Guard>) {
    let outcome = located.and_then(|plan| apply(&plan, percent, pid).map(|g| (plan, g)));
    match outcome {
        Ok((plan, guard)) => {
            tracing::info!(
                "running under a CPU quota of {percent}% in {}:{}",
                plan.version.label(),
                plan.child_path
            );
            let state = CpuQuota {
                requested_percent: percent,
                applied: Some(plan),
                error: None,
            };
            (state, Some(guard))
        }
        Err(e) => {
            tracing::warn!("cannot apply a CPU quota of {percent}%: {e}; collecting without it");
            let state = CpuQuota {
                requested_percent: percent,
                applied: None,
                error: Some(e),
            };
            (state, None)
        }
    }
}

impl CpuQuota {
    /// What is in effect now, read back from `/proc/self/cgroup` and the cgroup's files.
    pub fn report(&self) -> CpuQuotaInfo {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        self.report_with(&own)
    }

    /// [`CpuQuota::report`] given the text of `/proc/self/cgroup`.
    pub fn report_with(&self, proc_self_cgroup: &str) -> CpuQuotaInfo {
        let mut info = CpuQuotaInfo {
            requested_percent: self.requested_percent,
            applied: None,
            applied_percent: None,
            quota_us: None,
            period_us: None,
            error: self.error.clone(),
        };
        let Some(plan) = &self.applied else {
            return info;
        };
        let now = own_path(proc_self_cgroup, plan.version);
        if now != Some(plan.child_path.as_str()) {
            info.error = Some(format!(
                "vestige is no longer in {}:{} (now in {})",
                plan.version.label(),
                plan.child_path,
                now.unwrap_or("an unknown cgroup")
            ));
            return info;
        }
        match read_quota(plan.version, &plan.child_dir) {
            Ok((quota, period)) => {
                info.applied = Some(format!("{}:{}", plan.version.label(), plan.child_path));
                info.quota_us = quota;
                info.period_us = Some(period);
                info.applied_percent = quota
                    .filter(|_| period > 0)
                    .map(|q| (q.saturating_mul(100) + period / 2) / period);
                if quota.is_none() {
                    info.error = Some("the cgroup's quota reads back as unlimited".into());
                }
            }
            Err(e) => info.error = Some(e),
        }
        info
    }
}

/// Finds where the child cgroup of process `pid` goes. `mountinfo` and `proc_self_cgroup`
/// are the texts of `/proc/self/mountinfo` and `/proc/self/cgroup`; mount points are taken
/// below `fs_root` (`/` on a host).
pub fn locate(
    mountinfo: &str,
    proc_self_cgroup: &str,
    fs_root: &Path,
    pid: u32,
) -> Result<Plan, String> {
    let (mounts, _) = mountinfo::parse(mountinfo.as_bytes());
    let name = format!("vestige-{pid}");
    let mut why_not_v2 = "no cgroup2 hierarchy is mounted".to_owned();
    let v2 = mounts.iter().find(|m| m.fstype == "cgroup2");
    if let (Some(mount), Some(path)) = (v2, own_path(proc_self_cgroup, Version::V2)) {
        let (original_dir, rel) = dir_of(mount, path, fs_root)?;
        // Below the hierarchy's root, else beside our cgroup: a v2 cgroup with processes
        // in it cannot enable controllers for children.
        let (parent_dir, parent_path) = if rel.as_os_str().is_empty() {
            (original_dir.clone(), path.to_owned())
        } else {
            let dir = original_dir.parent().map(Path::to_path_buf);
            let p = path.rsplit_once('/').map_or("/", |(head, _)| head);
            (dir.unwrap_or_else(|| original_dir.clone()), p.to_owned())
        };
        let controllers = parent_dir.join("cgroup.controllers");
        match std::fs::read_to_string(&controllers) {
            Ok(text) if has_word(&text, "cpu") => {
                return Ok(Plan {
                    version: Version::V2,
                    original_dir,
                    child_dir: parent_dir.join(&name),
                    parent_dir,
                    child_path: join_cgroup_path(&parent_path, &name),
                });
            }
            Ok(_) => {
                why_not_v2 = format!("cgroup2 has no cpu controller in {}", controllers.display());
            }
            Err(e) => why_not_v2 = format!("{}: {e}", controllers.display()),
        }
    }
    let v1 = mounts
        .iter()
        .find(|m| m.fstype == "cgroup" && has_option(&m.super_options, "cpu"));
    match (v1, own_path(proc_self_cgroup, Version::V1)) {
        (Some(mount), Some(path)) => {
            let (original_dir, _) = dir_of(mount, path, fs_root)?;
            Ok(Plan {
                version: Version::V1,
                child_dir: original_dir.join(&name),
                parent_dir: original_dir.clone(),
                original_dir,
                child_path: join_cgroup_path(path, &name),
            })
        }
        (None, _) => Err(format!(
            "{why_not_v2}, and no cgroup v1 cpu hierarchy is mounted"
        )),
        (Some(_), None) => Err(format!(
            "{why_not_v2}, and /proc/self/cgroup names no cgroup v1 cpu hierarchy"
        )),
    }
}

/// Makes the child cgroup, sets its quota and moves process `pid` into it. On an error
/// after the child was made, it is removed again.
pub fn apply(plan: &Plan, percent: u32, pid: u32) -> Result<Guard, String> {
    let quota_us = u64::from(percent) * PERIOD_US / 100;
    if plan.version == Version::V2 {
        let subtree = plan.parent_dir.join("cgroup.subtree_control");
        let enabled = std::fs::read_to_string(&subtree).map_err(|e| io_text(&subtree, &e))?;
        if !has_word(&enabled, "cpu") {
            write_value(&subtree, "+cpu")?;
        }
    }
    match std::fs::create_dir(&plan.child_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            // Left by an earlier run that had our pid and was killed: empty, so removable.
            std::fs::remove_dir(&plan.child_dir)
                .and_then(|()| std::fs::create_dir(&plan.child_dir))
                .map_err(|e| format!("creating the cgroup {}", io_text(&plan.child_dir, &e)))?;
        }
        Err(e) => {
            return Err(format!(
                "creating the cgroup {}",
                io_text(&plan.child_dir, &e)
            ))
        }
    }
    // From here on, an early return drops the guard, which removes the child.
    let mut guard = Guard {
        plan: plan.clone(),
        pid,
        entered: false,
    };
    let dir = &plan.child_dir;
    match plan.version {
        Version::V2 => write_value(&dir.join("cpu.max"), &format!("{quota_us} {PERIOD_US}"))?,
        Version::V1 => {
            write_value(&dir.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
            write_value(&dir.join("cpu.cfs_quota_us"), &quota_us.to_string())?;
        }
    }
    write_value(&dir.join("cgroup.procs"), &pid.to_string())?;
    guard.entered = true;
    Ok(guard)
}

impl Drop for Guard {
    fn drop(&mut self) {
        let plan = &self.plan;
        if self.entered {
            let back = plan.original_dir.join("cgroup.procs");
            if let Err(e) = write_value(&back, &self.pid.to_string()) {
                tracing::warn!("cannot move back to the original cgroup: {e}");
            }
        }
        match std::fs::remove_dir(&plan.child_dir) {
            Ok(()) => tracing::debug!("removed {}", plan.child_dir.display()),
            Err(e) => tracing::warn!("cannot remove the cgroup {}: {e}", plan.child_dir.display()),
        }
    }
}

/// `(quota_us, period_us)` of a cgroup; a quota of `None` is unlimited.
fn read_quota(version: Version, dir: &Path) -> Result<(Option<u64>, u64), String> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).map_err(|e| io_text(&p, &e))
    };
    let number = |name: &str, t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("{}/{name}: unexpected value `{}`", dir.display(), t.trim()))
    };
    match version {
        Version::V2 => {
            let text = read("cpu.max")?;
            let mut parts = text.split_whitespace();
            let quota = parts.next().unwrap_or("");
            let period = number("cpu.max", parts.next().unwrap_or(""))?;
            if quota == "max" {
                Ok((None, period))
            } else {
                Ok((Some(number("cpu.max", quota)?), period))
            }
        }
        Version::V1 => {
            let period = number("cpu.cfs_period_us", &read("cpu.cfs_period_us")?)?;
            let quota = read("cpu.cfs_quota_us")?;
            if quota.trim() == "-1" {
                Ok((None, period))
            } else {
                Ok((Some(number("cpu.cfs_quota_us", &quota)?), period))
            }
        }
    }
}

/// Writes one value in one write, as cgroup files want.
fn write_value(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("writing `{value}` to {}", io_text(path, &e)))
}

fn io_text(path: &Path, e: &std::io::Error) -> String {
    format!("{}: {e}", path.display())
}

/// This process's cgroup path in a hierarchy, from /proc/self/cgroup (`ID:CONTROLLERS:PATH`
/// lines; v2's is `0::PATH`, v1's cpu hierarchy lists `cpu` among its controllers).
fn own_path(proc_self_cgroup: &str, version: Version) -> Option<&str> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        let wanted = match version {
            Version::V2 => id == "0" && controllers.is_empty(),
            Version::V1 => controllers.split(',').any(|c| c == "cpu"),
        };
        wanted.then_some(path)
    })
}

/// The directory of cgroup `path` in `mount`, below `fs_root`, and the path relative to
/// the mount. Refuses a cgroup outside what the mount shows (e.g. `/..` in a cgroup
/// namespace).
fn dir_of(mount: &Mount, path: &str, fs_root: &Path) -> Result<(PathBuf, PathBuf), String> {
    let rel = if mount.root == "/" {
        Some(path)
    } else {
        path.strip_prefix(mount.root.as_str())
            .filter(|r| r.is_empty() || r.starts_with('/'))
    };
    let rel = rel
        .map(|r| PathBuf::from(r.trim_start_matches('/')))
        .filter(|r| r.components().all(|c| matches!(c, Component::Normal(_))))
        .ok_or_else(|| {
            format!(
                "our cgroup {path} is not visible under {} (mounted from {})",
                mount.mount_point, mount.root
            )
        })?;
    let point = mount.mount_point.trim_start_matches('/');
    Ok((fs_root.join(point).join(&rel), rel))
}

fn join_cgroup_path(parent: &str, name: &str) -> String {
    format!("{}/{name}", parent.trim_end_matches('/'))
}

/// Whether a whitespace-separated list (cgroup.controllers) has `word`.
fn has_word(list: &str, word: &str) -> bool {
    list.split_whitespace().any(|w| w == word)
}

/// Whether a comma-separated option list has `opt`.
fn has_option(list: &str, opt: &str) -> bool {
    list.split(',').any(|o| o == opt)
}

#[cfg(test)]
mod tests;
