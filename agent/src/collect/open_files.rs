//! `open_files`: one record per file descriptor of every process.

use super::{per_process, push_record, CollectError, Context, Output, ProcessLines};
use crate::procfs::fdinfo::FdInfo;
use crate::procfs::pid_dir::{FdEntry, PidDir};
use crate::procfs::read::is_gone;
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

/// Reads one process's descriptors (runs on worker threads). `known` is its table as
/// `connections` read it moments before, when kept; otherwise the table is read here.
fn pid_fds(
    ctx: &Context,
    with_fdinfo: bool,
    pid: u32,
    known: Option<&[FdEntry]>,
) -> Result<ProcessLines, CollectError> {
    let mut out = ProcessLines::default();
    let proc_dir = ctx.proc.join(pid.to_string());
    // With the table known, only `fdinfo/` is read: that is the directory opened.
    let opened = match known {
        Some(_) if !with_fdinfo => None,
        Some(_) => Some(PidDir::open(proc_dir.join("fdinfo"))),
        None => Some(PidDir::open(proc_dir)),
    };
    let dir = match opened {
        Some(Ok(d)) => Some(d),
        Some(Err(e)) if !is_gone(&e) => {
            out.warning = Some(format!("pid {pid}: {e}"));
            None
        }
        _ => None,
    };
    if let Some(table) = known {
        fd_lines(pid, table, dir.as_ref(), &mut out)?;
        return Ok(out);
    }
    let Some(dir) = dir else {
        return Ok(out);
    };
    let table = match dir.fd_table() {
        Ok(t) => t,
        Err(e) if is_gone(&e) => return Ok(out),
        Err(e) => {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                out.warning = Some(format!("pid {pid}: fd: {e}"));
            }
            return Ok(out);
        }
    };
    let fdinfo = with_fdinfo.then(|| dir.subdir("fdinfo").ok()).flatten();
    fd_lines(pid, &table, fdinfo.as_ref(), &mut out)?;
    Ok(out)
}

/// One record per descriptor of `table`, with position and flags from `fdinfo` when given.
fn fd_lines(
    pid: u32,
    table: &[FdEntry],
    fdinfo: Option<&PidDir>,
    out: &mut ProcessLines,
) -> Result<(), CollectError> {
    let mut name = itoa::Buffer::new();
    for entry in table {
        let fd = entry.fd;
        let FdInfo { pos, flags } = fdinfo
            .and_then(|d| d.read_small(name.format(fd)).ok())
            .map(|info| FdInfo::parse(&info))
            .unwrap_or_default();
        let raw = entry.target.as_deref().unwrap_or_default();
        let (text, hex) = match &entry.target {
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
    Ok(())
}

/// Collects every process's descriptors. Processes are read on up to `ctx.threads` threads;
/// records come out in pid order. Descriptor tables `connections` kept in this run are used
/// instead of reading the links again.
pub fn collect(
    ctx: &Context,
    opts: &OpenFilesOptions,
    out: &mut Output,
) -> Result<(), CollectError> {
    let with_fdinfo = opts.fdinfo.unwrap_or(true);
    let known = ctx.take_fd_tables();
    per_process(ctx, out, |pid| {
        let table = known.as_ref().and_then(|k| k.get(pid));
        pid_fds(ctx, with_fdinfo, pid, table.as_deref())
    })
}

#[cfg(test)]
mod tests {
    use crate::collect::{connections, Context, Output};
    use crate::pipeline::Compression;
    use crate::sink::dir::DirSink;
    use std::os::unix::fs::symlink;
    use std::path::Path;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};

    fn output(out_dir: &Path, name: &str, kind: &'static str) -> Output {
        let sink = Arc::new(DirSink::create_root(out_dir).unwrap());
        Output::open(
            sink,
            Compression::Zstd(1),
            name,
            kind,
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap()
    }

    /// (fd, target, pos) of the open_files records collected with `ctx`.
    fn open_files(ctx: &Context, out_dir: &Path) -> Vec<(u64, String, Option<u64>)> {
        let mut out = output(out_dir, "open_files", "open_files");
        super::collect(ctx, &Default::default(), &mut out).unwrap();
        out.finish().unwrap();
        let bytes = std::fs::read(out_dir.join("artifacts/open_files.jsonl.zst")).unwrap();
        let text = String::from_utf8(zstd::decode_all(bytes.as_slice()).unwrap()).unwrap();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["fd"].as_u64().unwrap(),
                    v["target"].as_str().unwrap().to_owned(),
                    v["pos"].as_u64(),
                )
            })
            .collect()
    }

    /// The tables `connections` read serve `open_files` in the same run: a descriptor closed
    /// in between is still reported as it was, one opened in between is not read again.
    #[test]
    fn open_files_reuses_the_tables_connections_read() {
        let tmp = tempfile::tempdir().unwrap();
        let pid = tmp.path().join("proc/77");
        std::fs::create_dir_all(pid.join("fd")).unwrap();
        std::fs::create_dir_all(pid.join("fdinfo")).unwrap();
        symlink("/dev/null", pid.join("fd/0")).unwrap();
        symlink("socket:[4242]", pid.join("fd/3")).unwrap();
        std::fs::write(pid.join("fdinfo/0"), "pos:\t17\nflags:\t02\n").unwrap();
        let roots = |share| {
            Context::with_roots(tmp.path().join("proc"), tmp.path(), tmp.path())
                .with_shared_fd_tables(share)
        };

        let ctx = roots(true);
        let mut conn = output(&tmp.path().join("c"), "connections", "connections");
        let owners = connections::socket_owners(&ctx, &mut conn).unwrap();
        assert_eq!(owners.by_inode.get(&4242), Some(&vec![77]));
        std::fs::remove_file(pid.join("fd/3")).unwrap();
        symlink("/tmp/new", pid.join("fd/5")).unwrap();
        let kept = open_files(&ctx, &tmp.path().join("o1"));
        assert_eq!(
            kept,
            vec![
                (0, "/dev/null".to_owned(), Some(17)),
                (3, "socket:[4242]".to_owned(), None)
            ]
        );

        // Taken once: a second open_files (and any run without sharing) reads the links.
        let again = open_files(&ctx, &tmp.path().join("o2"));
        let fds: Vec<u64> = again.iter().map(|r| r.0).collect();
        assert_eq!(fds, vec![0, 5]);
        let unshared = roots(false);
        let mut conn = output(&tmp.path().join("c2"), "connections", "connections");
        connections::socket_owners(&unshared, &mut conn).unwrap();
        let fds: Vec<u64> = open_files(&unshared, &tmp.path().join("o3"))
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(fds, vec![0, 5]);
    }
}
