//! The cgroup self-limit against fake cgroup trees in a temporary directory: a pure v2 host,
//! a v2 host where vestige sits in a service's cgroup, a hybrid host with v1's cpu, and hosts
//! where nothing can be applied.

use super::*;
use std::fs;

const PURE_V2: &str =
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";

const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
34 31 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:14 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
";

/// Makes `dir` (below `root`) with the given files.
fn cgroup_dir(root: &Path, dir: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = root.join(dir);
    fs::create_dir_all(&d).unwrap();
    for (name, text) in files {
        fs::write(d.join(name), text).unwrap();
    }
    d
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap()
}

/// What the kernel does on rmdir of a cgroup: its files go with it. A fake tree has real
/// files, so the test removes them before the guard's rmdir.
fn empty_dir(d: &Path) {
    for e in fs::read_dir(d).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
}

/// On pure cgroup v2 at the root, the quota child is made below, cpu enabled, cpu.max and the pid
/// written, the quota reported as applied, and on exit the pid moved back and the child removed.
#[test]
fn pure_v2_at_the_root_makes_the_child_below_and_enables_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let root = cgroup_dir(
        tmp.path(),
        "sys/fs/cgroup",
        &[
            ("cgroup.controllers", "cpuset cpu io memory pids\n"),
            ("cgroup.subtree_control", "memory\n"),
            ("cgroup.procs", ""),
        ],
    );
    let plan = locate(PURE_V2, "0::/\n", tmp.path(), 42).unwrap();
    assert_eq!(plan.version, Version::V2);
    assert_eq!(plan.parent_dir, root);
    assert_eq!(plan.original_dir, root);
    assert_eq!(plan.child_dir, root.join("vestige-42"));
    assert_eq!(plan.child_path, "/vestige-42");

    let (state, guard) = enter_with(50, Ok(plan.clone()), 42);
    let guard = guard.unwrap();
    assert_eq!(read(&root.join("cgroup.subtree_control")), "+cpu");
    assert_eq!(read(&plan.child_dir.join("cpu.max")), "50000 100000");
    assert_eq!(read(&plan.child_dir.join("cgroup.procs")), "42");

    let info = state.report_with("0::/vestige-42\n");
    assert_eq!(
        info,
        CpuQuotaInfo {
            requested_percent: 50,
            applied: Some("cgroup2:/vestige-42".into()),
            applied_percent: Some(50),
            quota_us: Some(50_000),
            period_us: Some(100_000),
            error: None,
        }
    );

    empty_dir(&plan.child_dir);
    drop(guard);
    assert_eq!(read(&root.join("cgroup.procs")), "42", "moved back");
    assert!(!plan.child_dir.exists(), "child removed");
}

/// Inside a v2 service cgroup the quota child is made beside it in the slice, an already enabled
/// cpu controller is left alone, and exit restores the service cgroup.
#[test]
fn v2_in_a_service_cgroup_makes_the_child_beside_it() {
    let tmp = tempfile::tempdir().unwrap();
    cgroup_dir(
        tmp.path(),
        "sys/fs/cgroup",
        &[("cgroup.controllers", "cpu memory\n")],
    );
    let slice = cgroup_dir(
        tmp.path(),
        "sys/fs/cgroup/system.slice",
        &[
            ("cgroup.controllers", "cpu memory pids\n"),
            ("cgroup.subtree_control", "cpu memory pids\n"),
        ],
    );
    let service = cgroup_dir(
        tmp.path(),
        "sys/fs/cgroup/system.slice/ssm.service",
        &[("cgroup.procs", "1\n")],
    );
    let own = "0::/system.slice/ssm.service\n";
    let plan = locate(PURE_V2, own, tmp.path(), 7).unwrap();
    assert_eq!(plan.original_dir, service);
    assert_eq!(plan.parent_dir, slice);
    assert_eq!(plan.child_path, "/system.slice/vestige-7");

    let guard = apply(&plan, 200, 7).unwrap();
    assert_eq!(
        read(&slice.join("cgroup.subtree_control")),
        "cpu memory pids\n",
        "cpu already enabled: left alone"
    );
    assert_eq!(read(&plan.child_dir.join("cpu.max")), "200000 100000");
    empty_dir(&plan.child_dir);
    drop(guard);
    assert_eq!(read(&service.join("cgroup.procs")), "7");
    assert!(!plan.child_dir.exists());
}

/// On a hybrid host without v2 cpu the v1 cpu hierarchy takes the quota; the report reads back what
/// the files hold (changed, unlimited, or moved out) and exit restores.
#[test]
fn hybrid_without_v2_cpu_uses_the_v1_cpu_hierarchy() {
    let tmp = tempfile::tempdir().unwrap();
    cgroup_dir(
        tmp.path(),
        "sys/fs/cgroup/unified",
        &[("cgroup.controllers", "")],
    );
    let own_dir = cgroup_dir(
        tmp.path(),
        "sys/fs/cgroup/cpu,cpuacct/user.slice",
        &[("cgroup.procs", "")],
    );
    let own = "5:memory:/user.slice\n4:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice\n0::/user.slice\n";
    let plan = locate(HYBRID, own, tmp.path(), 99).unwrap();
    assert_eq!(plan.version, Version::V1);
    assert_eq!(plan.parent_dir, own_dir);
    assert_eq!(plan.child_dir, own_dir.join("vestige-99"));
    assert_eq!(plan.child_path, "/user.slice/vestige-99");

    let (state, guard) = enter_with(150, Ok(plan.clone()), 99);
    let guard = guard.unwrap();
    assert_eq!(read(&plan.child_dir.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(&plan.child_dir.join("cpu.cfs_quota_us")), "150000");
    assert_eq!(read(&plan.child_dir.join("cgroup.procs")), "99");
    let inside = "4:cpu,cpuacct:/user.slice/vestige-99\n0::/user.slice\n";
    let info = state.report_with(inside);
    assert_eq!(
        info.applied.as_deref(),
        Some("cgroup1:/user.slice/vestige-99")
    );
    assert_eq!(info.applied_percent, Some(150));
    assert_eq!(info.quota_us, Some(150_000));
    assert_eq!(info.error, None);

    // What is read back is what the files hold, not what was asked.
    fs::write(plan.child_dir.join("cpu.cfs_quota_us"), "25000\n").unwrap();
    assert_eq!(state.report_with(inside).applied_percent, Some(25));
    fs::write(plan.child_dir.join("cpu.cfs_quota_us"), "-1\n").unwrap();
    let unlimited = state.report_with(inside);
    assert_eq!(unlimited.applied_percent, None);
    assert!(unlimited.error.unwrap().contains("unlimited"));
    // Moved out by someone else: not applied.
    let moved = state.report_with("4:cpu,cpuacct:/user.slice\n");
    assert_eq!(moved.applied, None);
    assert!(moved.error.unwrap().contains("no longer"), "named");

    empty_dir(&plan.child_dir);
    drop(guard);
    assert_eq!(read(&own_dir.join("cgroup.procs")), "99");
    assert!(!plan.child_dir.exists());
}

/// [fault] No cpu controller anywhere (or no cgroup mounts) is a recorded error naming why, not a
/// failed run.
#[test]
fn v2_without_cpu_and_no_v1_cpu_is_an_error_recorded_not_a_failure() {
    let tmp = tempfile::tempdir().unwrap();
    cgroup_dir(
        tmp.path(),
        "sys/fs/cgroup",
        &[("cgroup.controllers", "memory pids\n")],
    );
    let err = locate(PURE_V2, "0::/\n", tmp.path(), 1).unwrap_err();
    assert!(err.contains("no cpu controller"), "{err}");
    assert!(err.contains("no cgroup v1 cpu hierarchy"), "{err}");

    let (state, guard) = enter_with(50, Err(err.clone()), 1);
    assert!(guard.is_none());
    let info = state.report_with("0::/\n");
    assert_eq!(info.requested_percent, 50);
    assert_eq!(info.applied, None);
    assert_eq!(info.applied_percent, None);
    assert_eq!(info.error, Some(err));

    // No cgroup mounts at all.
    let err = locate("22 1 259:1 / / rw - ext4 /dev/root rw\n", "", tmp.path(), 1).unwrap_err();
    assert!(err.contains("no cgroup2 hierarchy"), "{err}");
}

/// [fault] A missing cgroup directory or subtree_control file is an error naming it and leaves no
/// child; a stale empty child of the same pid is replaced.
#[test]
fn failures_while_applying_are_errors_and_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    // The v1 cgroup directory vestige is said to be in does not exist (e.g. not mounted
    // where mountinfo says, or read-only and gone): mkdir fails.
    let own = "4:cpu,cpuacct:/gone\n";
    cgroup_dir(
        tmp.path(),
        "sys/fs/cgroup/unified",
        &[("cgroup.controllers", "")],
    );
    let plan = locate(HYBRID, own, tmp.path(), 5).unwrap();
    let err = apply(&plan, 50, 5).unwrap_err();
    assert!(err.contains("vestige-5"), "{err}");

    // v2 with cpu available but no subtree_control file to enable it in.
    let tmp = tempfile::tempdir().unwrap();
    let root = cgroup_dir(
        tmp.path(),
        "sys/fs/cgroup",
        &[("cgroup.controllers", "cpu\n")],
    );
    let plan = locate(PURE_V2, "0::/\n", tmp.path(), 5).unwrap();
    let err = apply(&plan, 50, 5).unwrap_err();
    assert!(err.contains("cgroup.subtree_control"), "{err}");
    assert!(!root.join("vestige-5").exists());

    // A stale, empty child of an earlier run with the same pid is replaced.
    fs::write(root.join("cgroup.subtree_control"), "cpu\n").unwrap();
    fs::create_dir(root.join("vestige-5")).unwrap();
    let guard = apply(&plan, 50, 5).unwrap();
    assert_eq!(read(&plan.child_dir.join("cpu.max")), "50000 100000");
    drop(guard);
}

/// [hostile] Cgroup paths map through a bind mount's root; paths outside it (prefix look-alike,
/// sibling, `..`) are refused, and escaped mount points are decoded.
#[test]
fn cgroup_paths_map_through_the_mount_root_and_stay_inside_it() {
    let tmp = tempfile::tempdir().unwrap();
    // A host's cgroupfs bind-mounted into a container: the mount's root is the container's
    // cgroup.
    let mi = "40 31 0:37 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
    let plan = locate(mi, "3:cpu:/docker/abc/sub\n", tmp.path(), 3).unwrap();
    assert_eq!(plan.original_dir, tmp.path().join("sys/fs/cgroup/cpu/sub"));
    assert_eq!(plan.child_path, "/docker/abc/sub/vestige-3");
    let at_root = locate(mi, "3:cpu:/docker/abc\n", tmp.path(), 3).unwrap();
    assert_eq!(at_root.original_dir, tmp.path().join("sys/fs/cgroup/cpu"));
    for outside in [
        "3:cpu:/docker/abcdef\n",
        "3:cpu:/other\n",
        "3:cpu:/docker/abc/../x\n",
    ] {
        let err = locate(mi, outside, tmp.path(), 3).unwrap_err();
        assert!(err.contains("not visible"), "{outside}: {err}");
    }
    // A path with escapes in mountinfo.
    let spaced = "40 31 0:37 / /mnt/cg\\040v1 rw - cgroup cgroup rw,cpuacct,cpu\n";
    let plan = locate(spaced, "3:cpuacct,cpu:/\n", tmp.path(), 3).unwrap();
    assert_eq!(plan.child_dir, tmp.path().join("mnt/cg v1/vestige-3"));
    assert_eq!(plan.child_path, "/vestige-3");
}

/// Our own v1 cpu and v2 cgroup lines are told apart (colons in the path kept); garbage or empty
/// gives none.
#[test]
fn own_cgroup_lines_are_told_apart() {
    let text = "12:cpuacct:/a\n11:cpu,cpuacct:/b\n1:name=systemd:/c\n0::/d:with:colons\n";
    assert_eq!(own_path(text, Version::V1), Some("/b"));
    assert_eq!(own_path(text, Version::V2), Some("/d:with:colons"));
    assert_eq!(own_path("garbage\n", Version::V2), None);
    assert_eq!(own_path("", Version::V1), None);
}
