//! `open_files`: one record per file descriptor of every process.

use super::{per_process, push_record, CollectError, Context, Output, ProcessLines};
use crate::procfs::read::{is_gone, list_pids, read_small, readlink_bytes};
use crate::procfs::text::lossy;
use collector_spec::OpenFilesOptions;
use serde::Serialize;

/// One descriptor.
#[derive(Debug, Serialize)]
pub struct OpenFileRecord {
    pub pid: u32,
    pub fd: u32,
    pub target: Option<String>,
    pub target_hex: Option<String>,
    pub kind: &'static str,
    pub deleted: bool,
    pub pos: Option<u64>,
    pub flags: Option<String>,
}

fn kind_of(target: &[u8]) -> &'static str {
    if target.starts_with(b"socket:") {
        "socket"
    } else if target.starts_with(b"pipe:") {
        "pipe"
    } else if target.starts_with(b"anon_inode:") {
        "anon_inode"
    } else if target.starts_with(b"/memfd:") {
        "memfd"
    } else if target.starts_with(b"/") {
        "path"
    } else {
        "other"
    }
}

/// Reads one process's descriptors (runs on worker threads).
fn pid_fds(ctx: &Context, with_fdinfo: bool, pid: u32) -> Result<ProcessLines, CollectError> {
    let mut out = ProcessLines::default();
    let dir = ctx.proc.join(pid.to_string());
    let fds = match list_pids(&dir.join("fd")) {
        Ok(f) => f,
        Err(e) if is_gone(&e) => return Ok(out),
        Err(e) => {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                out.warning = Some(format!("pid {pid}: fd: {e}"));
            }
            return Ok(out);
        }
    };
    for fd in fds {
        let target = match readlink_bytes(&dir.join("fd").join(fd.to_string())) {
            Ok(t) => Some(t),
            Err(e) if is_gone(&e) => continue,
            Err(_) => None,
        };
        let (mut pos, mut flags) = (None, None);
        if with_fdinfo {
            if let Ok(info) = read_small(&dir.join("fdinfo").join(fd.to_string())) {
                for line in String::from_utf8_lossy(&info).lines() {
                    if let Some(v) = line.strip_prefix("pos:") {
                        pos = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("flags:") {
                        flags = Some(v.trim().to_owned());
                    }
                }
            }
        }
        let raw = target.as_deref().unwrap_or_default();
        let (text, hex) = match &target {
            Some(t) => {
                let (s, h) = lossy(t);
                (Some(s), h)
            }
            None => (None, None),
        };
        push_record(
            &mut out.lines,
            &OpenFileRecord {
                pid,
                fd,
                target: text,
                target_hex: hex,
                kind: kind_of(raw),
                deleted: raw.ends_with(b" (deleted)"),
                pos,
                flags,
            },
        )?;
        out.count += 1;
    }
    Ok(out)
}

/// Collects every process's descriptors. Processes are read on up to `ctx.threads` threads;
/// records come out in pid order.
pub fn collect(
    ctx: &Context,
    opts: &OpenFilesOptions,
    out: &mut Output,
) -> Result<(), CollectError> {
    let with_fdinfo = opts.fdinfo.unwrap_or(true);
    per_process(ctx, out, |pid| pid_fds(ctx, with_fdinfo, pid))
}
