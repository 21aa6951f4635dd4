//! `process_memory`: the readable memory of selected processes.
//!
//! # Format
//!
//! For each dumped process, one data artifact `artifacts/<name>/<pid>.mem.zst` (listed in
//! the manifest as `<name>.<pid>.mem`) holds the bytes of its regions, concatenated in
//! address order with nothing between them. The record artifact `artifacts/<name>.jsonl.zst`
//! is the index: for each process, one `"record": "region"` line per mapping of
//! `/proc/PID/maps`, then one `"record": "process"` line.
//!
//! A region record carries the mapping as the kernel listed it (`start`, `end` as `"0x…"`,
//! `perms`, `offset`, `device`, `inode`, `path`, `deleted`) and where its bytes are:
//! `dump_path`, `dump_offset` (byte offset in the decompressed dump), `bytes` (how many were
//! stored) and `sha256` (of those bytes). Byte `dump_offset + k` is memory at address
//! `start + k`, for every `k < bytes`. `status` says why `bytes` may be less than
//! `end - start`:
//!
//! | status | meaning |
//! |---|---|
//! | `ok` | the whole region is stored |
//! | `truncated_at_cap` | stored up to `max_process_bytes` or `max_total_bytes` |
//! | `skipped_cap` | a cap was already reached: nothing stored |
//! | `unreadable` | the first read failed (`error` holds the errno text): nothing stored |
//! | `partial` | a read failed after `bytes` bytes (`error` says why) |
//! | `vanished` | the process exited while the region was read |
//! | `skipped_not_readable` | the mapping has no `r` permission |
//! | `skipped_kernel_region` | `[vvar]`, `[vvar_vclock]`, `[vsyscall]`: kernel pages, not process memory |
//! | `skipped_file_backed` | backed by a file on disk, and `file_backed: false` |
//!
//! The process record gives `pid`, `comm`, `exe`, the selectors that matched (`reasons`;
//! `pid` when it was named explicitly), `status` (`ok`, `partial`, `vanished`, `not_found`,
//! `error`), `regions`, `bytes`, `dump_path` and `error`. The dump's SHA-256 is its
//! `raw_sha256` in the manifest. A process whose `/proc/PID/maps` is longer than
//! [`MAX_MAPS_BYTES`] is `partial`: the mappings beyond it are neither indexed nor dumped, and
//! `error` says so.

use super::{CollectError, Context, Output};
use crate::manifest::Status;
use crate::procfs::maps::{self, Mapping};
use crate::procfs::read::{is_gone, list_pids, read_capped_from, read_small, readlink_bytes};
use crate::procfs::text::lossy;
use collector_spec::{ProcessMemoryOptions, ProcessSelector};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;

/// Bytes read from a process per system call; the only buffer a dump holds.
pub const CHUNK: usize = 1 << 20;

/// Most of `/proc/PID/maps` read. Far above the common 4 MiB read of other /proc files: a
/// process near `vm.max_map_count` with long file paths lists tens of megabytes. Mappings
/// beyond it are not read; the process record says so.
pub const MAX_MAPS_BYTES: u64 = 64 << 20;

/// Reads `/proc/PID/maps` up to `cap` bytes, cut back to its last whole line; the flag says
/// whether lines were left unread.
pub fn read_maps(path: &Path, cap: u64) -> io::Result<(Vec<u8>, bool)> {
    read_maps_from(std::fs::File::open(path)?, cap)
}

/// [`read_maps`] of a maps file already open.
pub fn read_maps_from(file: std::fs::File, cap: u64) -> io::Result<(Vec<u8>, bool)> {
    let (mut buf, cut) = read_capped_from(file, cap)?;
    if cut {
        let whole = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        buf.truncate(whole);
    }
    Ok((buf, cut))
}

/// One region of a dumped process.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RegionRecord {
    /// Always `"region"`.
    pub record: &'static str,
    pub pid: u32,
    pub start: String,
    pub end: String,
    pub size: u64,
    pub perms: String,
    pub offset: u64,
    pub device: String,
    pub inode: u64,
    pub path: Option<String>,
    pub path_hex: Option<String>,
    pub deleted: bool,
    pub dump_path: Option<String>,
    pub dump_offset: u64,
    pub bytes: u64,
    pub sha256: Option<String>,
    pub status: &'static str,
    pub error: Option<String>,
}

/// One dumped (or selected but not dumped) process.
#[derive(Debug, Serialize)]
pub struct ProcessMemoryRecord {
    /// Always `"process"`.
    pub record: &'static str,
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub reasons: Vec<&'static str>,
    pub status: &'static str,
    pub regions: u64,
    pub bytes: u64,
    pub dump_path: Option<String>,
    pub dump_sha256: Option<String>,
    pub error: Option<String>,
}

/// Where a dump reads memory from: `/proc/PID/mem` on the host, a fixture in tests.
pub trait MemorySource {
    /// Reads memory at `addr` into `buf`; `Ok(0)` means nothing more can be read there.
    fn read_at(&self, buf: &mut [u8], addr: u64) -> io::Result<usize>;
}

impl MemorySource for std::fs::File {
    fn read_at(&self, buf: &mut [u8], addr: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, addr)
    }
}

/// How many bytes the caps still allow.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Left for this process.
    pub process: u64,
    /// Left for the whole artifact.
    pub total: u64,
}

impl Budget {
    fn left(&self) -> u64 {
        self.process.min(self.total)
    }
    fn spend(&mut self, n: u64) {
        self.process = self.process.saturating_sub(n);
        self.total = self.total.saturating_sub(n);
    }
}

/// What a dump of one process's regions came to.
#[derive(Debug, Default)]
pub struct DumpOutcome {
    /// Region records emitted (one per mapping).
    pub regions: u64,
    /// Bytes written to the dump.
    pub bytes: u64,
    /// The process exited during the dump.
    pub vanished: bool,
    /// Regions whose reads failed (not counting caps and skips).
    pub failed: u64,
    /// The first failure, for the process record.
    pub first_error: Option<String>,
}

/// Reads each mapping through `source` into `sink`, region by region, in [`CHUNK`]-sized
/// reads, within `budget`, handing each mapping's record to `emit` as soon as it is done (no
/// list grows with the number of mappings). `still_there` says whether the process still
/// exists (asked when a read comes back empty or fails). `cancelled` is polled between
/// chunks.
#[allow(clippy::too_many_arguments)]
pub fn dump_regions(
    pid: u32,
    mappings: &[Mapping],
    source: &dyn MemorySource,
    sink: &mut dyn Write,
    dump_path: &str,
    file_backed: bool,
    budget: &mut Budget,
    still_there: &dyn Fn() -> bool,
    cancelled: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(&RegionRecord) -> Result<(), CollectError>,
) -> Result<DumpOutcome, CollectError> {
    let mut out = DumpOutcome::default();
    let mut buf = vec![0u8; CHUNK];
    for m in mappings {
        let (path, path_hex) = if m.path.is_empty() {
            (None, None)
        } else {
            let (t, h) = lossy(m.path_without_deleted());
            (Some(t), h)
        };
        let size = m.end.saturating_sub(m.start);
        let mut rec = RegionRecord {
            record: "region",
            pid,
            start: format!("{:#x}", m.start),
            end: format!("{:#x}", m.end),
            size,
            perms: m.perms.to_owned(),
            offset: m.offset,
            device: m.dev.to_owned(),
            inode: m.inode,
            path,
            path_hex,
            deleted: m.deleted(),
            dump_path: Some(dump_path.to_owned()),
            dump_offset: out.bytes,
            bytes: 0,
            sha256: None,
            status: "ok",
            error: None,
        };
        if let Some(skip) = skip_reason(m, file_backed) {
            rec.status = skip;
            out.regions += 1;
            emit(&rec)?;
            continue;
        }
        if out.vanished {
            rec.status = "vanished";
            out.regions += 1;
            emit(&rec)?;
            continue;
        }
        let allowed = size.min(budget.left());
        if allowed == 0 && size > 0 {
            rec.status = "skipped_cap";
            out.regions += 1;
            emit(&rec)?;
            continue;
        }
        let mut hasher = Sha256::new();
        let mut done: u64 = 0;
        while done < allowed {
            if cancelled() {
                return Err(CollectError::Cancelled);
            }
            let want = usize::try_from(allowed - done).unwrap_or(CHUNK).min(CHUNK);
            let chunk = buf.get_mut(..want).unwrap_or_default();
            let addr = m.start.saturating_add(done);
            match source.read_at(chunk, addr) {
                Ok(0) => {
                    if still_there() {
                        rec.status = if done == 0 { "unreadable" } else { "partial" };
                        rec.error = Some(format!("no bytes at {addr:#x}"));
                    } else {
                        rec.status = "vanished";
                        out.vanished = true;
                    }
                    break;
                }
                Ok(n) => {
                    let got = chunk.get(..n).unwrap_or_default();
                    sink.write_all(got)
                        .map_err(|e| CollectError::Failed(format!("writing {dump_path}: {e}")))?;
                    hasher.update(got);
                    done += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if is_gone(&e) || !still_there() {
                        rec.status = "vanished";
                        out.vanished = true;
                    } else {
                        rec.status = if done == 0 { "unreadable" } else { "partial" };
                        rec.error = Some(format!("reading at {addr:#x}: {e}"));
                    }
                    break;
                }
            }
        }
        if rec.status == "ok" && allowed < size {
            rec.status = "truncated_at_cap";
        }
        if matches!(rec.status, "unreadable" | "partial") {
            out.failed += 1;
            if out.first_error.is_none() {
                out.first_error = Some(format!(
                    "{}-{}: {}",
                    rec.start,
                    rec.end,
                    rec.error.as_deref().unwrap_or("read failed")
                ));
            }
        }
        rec.bytes = done;
        if done > 0 {
            rec.sha256 = Some(crate::pipeline::hex(&hasher.finalize()));
        }
        budget.spend(done);
        out.bytes += done;
        out.regions += 1;
        emit(&rec)?;
    }
    Ok(out)
}

/// Why a mapping is not read at all, if it is not.
fn skip_reason(m: &Mapping, file_backed: bool) -> Option<&'static str> {
    if m.perms.as_bytes().first() != Some(&b'r') {
        return Some("skipped_not_readable");
    }
    if matches!(m.path, b"[vvar]" | b"[vvar_vclock]" | b"[vsyscall]") {
        return Some("skipped_kernel_region");
    }
    let on_disk = m.inode != 0 && !m.deleted() && !m.memfd();
    if !file_backed && on_disk {
        return Some("skipped_file_backed");
    }
    None
}

/// Which selectors match a process, from its exe link (and whether that path was unlinked,
/// which a name literally ending in ` (deleted)` does not prove) and its mappings.
pub fn matching_selectors(
    selectors: &[ProcessSelector],
    exe: Option<&[u8]>,
    exe_unlinked: bool,
    mappings: &[Mapping],
    exe_dir_world_writable: &dyn Fn(&[u8]) -> bool,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    for s in selectors {
        let hit = match s {
            ProcessSelector::All => true,
            ProcessSelector::DeletedExe => {
                exe_unlinked && exe.is_some_and(|e| !e.starts_with(b"/memfd:"))
            }
            ProcessSelector::MemfdExe => exe.is_some_and(|e| e.starts_with(b"/memfd:")),
            ProcessSelector::WxMapping => mappings.iter().any(Mapping::writable_executable),
            ProcessSelector::AnonExec => mappings.iter().any(Mapping::anonymous_executable),
            ProcessSelector::ExeInWritableDir => {
                exe.is_some_and(|e| !e.starts_with(b"/memfd:") && exe_dir_world_writable(e))
            }
        };
        if hit && !out.contains(&s.name()) {
            out.push(s.name());
        }
    }
    out
}

/// Collects the memory of every selected process.
pub fn collect(
    ctx: &Context,
    opts: &ProcessMemoryOptions,
    out: &mut Output,
) -> Result<(), CollectError> {
    let listed = list_pids(&ctx.proc)
        .map_err(|e| CollectError::Failed(format!("listing {}: {e}", ctx.proc.display())))?;
    let explicit: BTreeSet<u32> = opts.pids.iter().copied().collect();
    let mut pids: BTreeSet<u32> = explicit.clone();
    if !opts.select.is_empty() {
        pids.extend(listed.iter().copied());
    }
    let mut total_left = opts.max_total_bytes.0;
    for pid in pids {
        out.check_cancel()?;
        if pid == ctx.self_pid {
            continue;
        }
        let named = explicit.contains(&pid);
        let dir = ctx.proc.join(pid.to_string());
        let exe = readlink_bytes(&dir.join("exe")).ok();
        let (maps_buf, maps_cut) = match read_maps(&dir.join("maps"), MAX_MAPS_BYTES) {
            Ok(b) => b,
            Err(e) => {
                if named {
                    let (status, msg) = if is_gone(&e) {
                        ("not_found", format!("no process {pid}"))
                    } else {
                        ("error", format!("maps: {e}"))
                    };
                    out.warn(format!("pid {pid}: {msg}"));
                    out.record(&process_record(
                        pid,
                        &dir,
                        exe.as_deref(),
                        vec!["pid"],
                        status,
                        Some(msg),
                    ))?;
                }
                continue;
            }
        };
        // Kernel threads have no mappings and no exe: nothing to dump.
        if maps_buf.is_empty() && exe.is_none() && !named {
            continue;
        }
        let (mappings, bad) = maps::parse_all(&maps_buf);
        if bad > 0 {
            out.warn(format!("pid {pid}: {bad} malformed maps lines"));
        }
        let root = dir.join("root");
        let writable_dir = |exe: &[u8]| exe_dir_world_writable(&root, exe);
        let unlinked = exe.as_deref().is_some_and(|t| {
            let meta = std::fs::metadata(dir.join("exe")).ok();
            super::processes::exe_unlinked(&dir, t, meta.as_ref())
        });
        let mut reasons = matching_selectors(
            &opts.select,
            exe.as_deref(),
            unlinked,
            &mappings,
            &writable_dir,
        );
        if named {
            reasons.insert(0, "pid");
        }
        if reasons.is_empty() {
            continue;
        }
        let mut budget = Budget {
            process: opts.max_process_bytes.0,
            total: total_left,
        };
        let maps_note = maps_cut.then(|| {
            format!(
                "/proc/{pid}/maps is longer than {MAX_MAPS_BYTES} bytes: only its first {} mappings were read; the regions of the rest are not dumped",
                mappings.len()
            )
        });
        dump_process(
            ctx,
            opts,
            out,
            pid,
            &dir,
            exe.as_deref(),
            &mappings,
            reasons,
            maps_note,
            &mut budget,
        )?;
        total_left = budget.total;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn dump_process(
    _ctx: &Context,
    opts: &ProcessMemoryOptions,
    out: &mut Output,
    pid: u32,
    dir: &Path,
    exe: Option<&[u8]>,
    mappings: &[Mapping],
    reasons: Vec<&'static str>,
    maps_note: Option<String>,
    budget: &mut Budget,
) -> Result<(), CollectError> {
    let mem = match std::fs::File::open(dir.join("mem")) {
        Ok(f) => f,
        Err(e) => {
            let (status, msg) = if is_gone(&e) {
                ("vanished", "exited before its memory was opened".to_owned())
            } else {
                out.warn(format!("pid {pid}: opening mem: {e}"));
                ("error", format!("opening mem: {e}"))
            };
            return out.record(&process_record(pid, dir, exe, reasons, status, Some(msg)));
        }
    };
    let artifact = out.artifact().to_owned();
    let dump_path = format!("artifacts/{artifact}/{pid}.mem.zst");
    let mut stream = out.open_stream(&format!("{artifact}.{pid}.mem"), &dump_path, 1)?;
    let cancel = out.cancel_flag();
    // An exiting process loses its memory before it becomes a zombie: look twice.
    let still_there = || {
        alive(dir) && {
            std::thread::sleep(std::time::Duration::from_millis(50));
            alive(dir)
        }
    };
    let is_cancelled = || cancel.load(std::sync::atomic::Ordering::Relaxed);
    let dumped = dump_regions(
        pid,
        mappings,
        &mem,
        &mut stream,
        &dump_path,
        opts.file_backed,
        budget,
        &still_there,
        &is_cancelled,
        &mut |r: &RegionRecord| out.record(r),
    );
    let outcome = match dumped {
        Ok(o) => o,
        Err(CollectError::Cancelled) => {
            // Keep what was read: the dump is listed as partial, its index incomplete.
            let _ = stream.finish(Status::Partial, Some("cancelled during the dump".into()));
            return Err(CollectError::Cancelled);
        }
        Err(e) => return Err(e),
    };
    let (mut status, mut stream_status, mut error) = if outcome.vanished {
        (
            "vanished",
            Status::Partial,
            Some("the process exited during the dump".to_owned()),
        )
    } else if outcome.failed > 0 {
        (
            "partial",
            Status::Partial,
            Some(format!(
                "{} regions could not be read fully; first: {}",
                outcome.failed,
                outcome.first_error.as_deref().unwrap_or("")
            )),
        )
    } else {
        ("ok", Status::Ok, None)
    };
    if let Some(note) = maps_note {
        if status == "ok" {
            status = "partial";
        }
        stream_status = Status::Partial;
        error = Some(match error {
            Some(e) => format!("{e}; {note}"),
            None => note,
        });
    }
    let fin = stream.finish(stream_status, error.clone())?;
    if let Some(e) = &error {
        out.warn(format!("pid {pid}: {e}"));
    }
    let mut rec = process_record(pid, dir, exe, reasons, status, error);
    rec.regions = outcome.regions;
    rec.bytes = outcome.bytes;
    rec.dump_path = Some(dump_path);
    rec.dump_sha256 = Some(fin.digest.raw_sha256);
    out.record(&rec)
}

fn process_record(
    pid: u32,
    dir: &Path,
    exe: Option<&[u8]>,
    reasons: Vec<&'static str>,
    status: &'static str,
    error: Option<String>,
) -> ProcessMemoryRecord {
    let comm = read_small(&dir.join("comm"))
        .ok()
        .map(|b| lossy(b.strip_suffix(b"\n").unwrap_or(&b)).0);
    ProcessMemoryRecord {
        record: "process",
        pid,
        comm,
        exe: exe.map(|e| lossy(e).0),
        reasons,
        status,
        regions: 0,
        bytes: 0,
        dump_path: None,
        dump_sha256: None,
        error,
    }
}

/// Whether the process behind `dir` still runs (exists and is not a zombie).
fn alive(dir: &Path) -> bool {
    read_small(&dir.join("stat"))
        .ok()
        .and_then(|b| crate::procfs::stat::Stat::parse(&b).ok())
        .is_some_and(|s| !matches!(s.state, 'Z' | 'X' | 'x'))
}

/// Whether the directory holding `exe` (as the process sees it, through its root) is
/// writable by everyone.
fn exe_dir_world_writable(proc_root: &Path, exe: &[u8]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let exe = exe.strip_suffix(b" (deleted)").unwrap_or(exe);
    let Some(parent) = Path::new(std::ffi::OsStr::from_bytes(exe)).parent() else {
        return false;
    };
    let inside = proc_root.join(parent.strip_prefix("/").unwrap_or(parent));
    std::fs::metadata(inside).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o002 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// [hostile] A maps file longer than the cap is cut back to its last whole line and flagged as cut.
    #[test]
    fn maps_cut_at_the_cap_keeps_whole_lines_only() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("maps");
        let text =
            "10000-11000 r--p 00000000 fd:01 7 /usr/bin/a\n20000-21000 rw-p 00000000 00:00 0\n";
        std::fs::write(&path, text).unwrap();
        let (whole, cut) = read_maps(&path, 1 << 20).unwrap();
        assert_eq!((whole.as_slice(), cut), (text.as_bytes(), false));
        // The cap falls inside the second line: only the first is kept.
        let (part, cut) = read_maps(&path, 60).unwrap();
        assert!(cut);
        assert_eq!(part, b"10000-11000 r--p 00000000 fd:01 7 /usr/bin/a\n");
        let (m, bad) = maps::parse_all(&part);
        assert_eq!((m.len(), bad), (1, 0));
        let (none, cut) = read_maps(&path, 10).unwrap();
        assert!(cut && none.is_empty());
    }

    /// Memory holding `data` from `base`; reads fail with `fail` from address `fail_at`.
    struct Fixture {
        base: u64,
        data: Vec<u8>,
        fail_at: Option<(u64, i32)>,
        reads: Cell<u32>,
    }

    impl MemorySource for Fixture {
        fn read_at(&self, buf: &mut [u8], addr: u64) -> io::Result<usize> {
            self.reads.set(self.reads.get() + 1);
            if let Some((at, errno)) = self.fail_at {
                if addr >= at {
                    return Err(io::Error::from_raw_os_error(errno));
                }
            }
            let Some(off) = addr.checked_sub(self.base) else {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            };
            let off = off as usize;
            if off >= self.data.len() {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            let mut n = buf.len().min(self.data.len() - off);
            if let Some((at, _)) = self.fail_at {
                n = n.min((at - addr) as usize);
            }
            buf[..n].copy_from_slice(&self.data[off..off + n]);
            Ok(n)
        }
    }

    fn maps(text: &str) -> Vec<Mapping<'_>> {
        let (m, bad) = maps::parse_all(text.as_bytes());
        assert_eq!(bad, 0);
        m
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    const MAPS: &str = "10000-13000 r-xp 00000000 fd:01 77 /usr/bin/thing\n\
13000-14000 ---p 00000000 00:00 0\n\
14000-254000 rwxp 00000000 00:00 0\n\
7fff0000-7fff2000 r--p 00000000 00:00 0 [vvar]\n";

    fn fixture(fail_at: Option<(u64, i32)>) -> Fixture {
        Fixture {
            base: 0x10000,
            data: pattern(0x254000 - 0x10000),
            fail_at,
            reads: Cell::new(0),
        }
    }

    fn run(
        f: &Fixture,
        mappings: &[Mapping],
        budget: &mut Budget,
        file_backed: bool,
        there: bool,
    ) -> (Dumped, Vec<u8>) {
        let mut sink = Vec::new();
        let mut regions = Vec::new();
        let outcome = dump_regions(
            9,
            mappings,
            f,
            &mut sink,
            "artifacts/pm/9.mem.zst",
            file_backed,
            budget,
            &|| there,
            &|| false,
            &mut |r| {
                regions.push(r.clone());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(outcome.regions, regions.len() as u64);
        (Dumped { outcome, regions }, sink)
    }

    /// A dump's outcome with the records it emitted.
    struct Dumped {
        outcome: DumpOutcome,
        regions: Vec<RegionRecord>,
    }

    impl std::ops::Deref for Dumped {
        type Target = DumpOutcome;
        fn deref(&self) -> &DumpOutcome {
            &self.outcome
        }
    }

    /// Readable regions are dumped at their recorded offsets with their SHA-256; unreadable and
    /// kernel regions are marked skipped.
    #[test]
    fn regions_are_stored_at_their_recorded_offsets() {
        let f = fixture(None);
        let m = maps(MAPS);
        let mut budget = Budget {
            process: u64::MAX,
            total: u64::MAX,
        };
        let (o, dump) = run(&f, &m, &mut budget, true, true);
        let st: Vec<_> = o.regions.iter().map(|r| r.status).collect();
        assert_eq!(
            st,
            ["ok", "skipped_not_readable", "ok", "skipped_kernel_region"]
        );
        assert_eq!(o.bytes, 0x3000 + 0x240000);
        assert_eq!(dump.len() as u64, o.bytes);
        let rwx = &o.regions[2];
        assert_eq!(
            (rwx.start.as_str(), rwx.dump_offset, rwx.bytes),
            ("0x14000", 0x3000, 0x240000)
        );
        let at = |addr: usize| f.data[addr - 0x10000];
        for k in [0usize, 1, 0x1000, 0x23ffff] {
            assert_eq!(dump[0x3000 + k], at(0x14000 + k));
        }
        assert_eq!(
            rwx.sha256.as_deref(),
            Some(crate::pipeline::hex(&Sha256::digest(&dump[0x3000..])).as_str())
        );
        assert!(f.reads.get() >= 3, "2.25 MiB region read in 1 MiB chunks");
        assert!(!o.vanished && o.failed == 0);
    }

    /// The per-process and total caps cut the region they reach (truncated_at_cap) and skip the
    /// rest.
    #[test]
    fn caps_cut_a_region_and_skip_the_rest() {
        let f = fixture(None);
        let m = maps(MAPS);
        let mut budget = Budget {
            process: 0x5000,
            total: u64::MAX,
        };
        let (o, dump) = run(&f, &m, &mut budget, true, true);
        assert_eq!(o.regions[0].status, "ok");
        assert_eq!(o.regions[2].status, "truncated_at_cap");
        assert_eq!(o.regions[2].bytes, 0x2000);
        assert_eq!(dump.len(), 0x5000);
        assert_eq!(budget.process, 0);

        let mut budget = Budget {
            process: u64::MAX,
            total: 0x1000,
        };
        let (o, dump) = run(&f, &m, &mut budget, true, true);
        assert_eq!(o.regions[0].status, "truncated_at_cap");
        assert_eq!(o.regions[2].status, "skipped_cap");
        assert_eq!((dump.len(), budget.total), (0x1000, 0));
    }

    /// With file-backed regions off, they are marked skipped and the dump holds only anonymous
    /// ones.
    #[test]
    fn file_backed_regions_can_be_left_out() {
        let f = fixture(None);
        let m = maps(MAPS);
        let mut budget = Budget {
            process: u64::MAX,
            total: u64::MAX,
        };
        let (o, dump) = run(&f, &m, &mut budget, false, true);
        assert_eq!(o.regions[0].status, "skipped_file_backed");
        assert_eq!(o.regions[2].dump_offset, 0);
        assert_eq!(dump.len(), 0x240000);
    }

    /// [fault] An I/O error inside a region keeps what was read before it (partial, with the
    /// address) and the dump goes on.
    #[test]
    fn unreadable_regions_are_recorded_and_the_dump_goes_on() {
        // EIO from inside the rwx region: what came before it is kept.
        let f = fixture(Some((0x14000 + 0x100000, libc::EIO)));
        let m = maps(MAPS);
        let mut budget = Budget {
            process: u64::MAX,
            total: u64::MAX,
        };
        let (o, dump) = run(&f, &m, &mut budget, true, true);
        let rwx = &o.regions[2];
        assert_eq!(rwx.status, "partial");
        assert_eq!(rwx.bytes, 0x100000);
        assert!(
            rwx.error.as_deref().unwrap().contains("0x114000"),
            "{rwx:?}"
        );
        assert_eq!(dump.len(), 0x3000 + 0x100000);
        assert_eq!(o.failed, 1);
        assert!(!o.vanished);
    }

    /// [fault] A process exiting mid-dump (ESRCH or an empty read) marks its regions vanished and
    /// nothing more is read.
    #[test]
    fn a_process_that_exits_mid_dump_is_recorded() {
        // ESRCH half-way through the first region; the later regions are marked, not read.
        let f = fixture(Some((0x11000, libc::ESRCH)));
        let m = maps(MAPS);
        let mut budget = Budget {
            process: u64::MAX,
            total: u64::MAX,
        };
        let (o, dump) = run(&f, &m, &mut budget, true, false);
        assert!(o.vanished);
        let st: Vec<_> = o.regions.iter().map(|r| r.status).collect();
        assert_eq!(
            st,
            [
                "vanished",
                "skipped_not_readable",
                "vanished",
                "skipped_kernel_region"
            ]
        );
        assert_eq!((o.regions[0].bytes, dump.len()), (0x1000, 0x1000));
        // An exit seen as an empty read (the kernel's answer once the mm is gone).
        let empty = Fixture {
            base: 0x10000,
            data: Vec::new(),
            fail_at: None,
            reads: Cell::new(0),
        };
        struct Eof<'a>(&'a Fixture);
        impl MemorySource for Eof<'_> {
            fn read_at(&self, _: &mut [u8], _: u64) -> io::Result<usize> {
                self.0.reads.set(self.0.reads.get() + 1);
                Ok(0)
            }
        }
        let mut sink = Vec::new();
        let o = dump_regions(
            9,
            &m,
            &Eof(&empty),
            &mut sink,
            "p",
            true,
            &mut budget,
            &|| false,
            &|| false,
            &mut |_| Ok(()),
        )
        .unwrap();
        assert!(o.vanished);
        assert_eq!(empty.reads.get(), 1, "no read after the process is gone");
    }

    /// [fault] Cancellation, or a record that cannot be stored, stops the dump between chunks.
    #[test]
    fn cancellation_stops_between_chunks() {
        let f = fixture(None);
        let m = maps(MAPS);
        let mut budget = Budget {
            process: u64::MAX,
            total: u64::MAX,
        };
        let mut sink = Vec::new();
        let r = dump_regions(
            9,
            &m,
            &f,
            &mut sink,
            "p",
            true,
            &mut budget,
            &|| true,
            &|| true,
            &mut |_| Ok(()),
        );
        assert!(matches!(r, Err(CollectError::Cancelled)));
        // A record that cannot be stored (the run stopping) stops the dump too.
        let r = dump_regions(
            9,
            &m,
            &f,
            &mut Vec::new(),
            "p",
            true,
            &mut budget,
            &|| true,
            &|| false,
            &mut |_| Err(CollectError::Cancelled),
        );
        assert!(matches!(r, Err(CollectError::Cancelled)));
    }

    /// Each selector (wx_mapping, anon_exec, deleted_exe, exe_in_writable_dir, memfd_exe, all)
    /// matches only what it names; a name merely ending in (deleted) is not deleted.
    #[test]
    fn selectors_match_what_they_name() {
        let m = maps(MAPS);
        let all = ProcessSelector::ANOMALIES;
        let no = |_: &[u8]| false;
        assert_eq!(
            matching_selectors(&all, Some(b"/usr/bin/thing"), false, &m, &no),
            ["wx_mapping", "anon_exec"]
        );
        let plain = maps("10000-13000 r-xp 00000000 fd:01 77 /usr/bin/thing\n");
        assert!(matching_selectors(&all, Some(b"/usr/bin/thing"), false, &plain, &no).is_empty());
        assert_eq!(
            matching_selectors(&all, Some(b"/tmp/x (deleted)"), true, &plain, &|_| true),
            ["deleted_exe", "exe_in_writable_dir"]
        );
        assert!(
            matching_selectors(&all, Some(b"/srv/x (deleted)"), false, &plain, &no).is_empty(),
            "a name that merely ends in (deleted)"
        );
        assert_eq!(
            matching_selectors(&all, Some(b"/memfd:x (deleted)"), true, &plain, &|_| true),
            ["memfd_exe"]
        );
        assert_eq!(
            matching_selectors(&[ProcessSelector::All], None, false, &[], &no),
            ["all"]
        );
        assert!(matching_selectors(&[], Some(b"/memfd:x"), true, &m, &no).is_empty());
    }

    /// The executable's directory is judged world-writable through the process's root, `(deleted)`
    /// stripped; missing or relative paths are not.
    #[test]
    fn world_writable_directories_are_seen_through_the_process_root() {
        let tmp = tempfile::tempdir().unwrap();
        let open = tmp.path().join("open");
        let closed = tmp.path().join("closed");
        std::fs::create_dir(&open).unwrap();
        std::fs::create_dir(&closed).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(exe_dir_world_writable(tmp.path(), b"/open/x"));
        assert!(exe_dir_world_writable(tmp.path(), b"/open/x (deleted)"));
        assert!(!exe_dir_world_writable(tmp.path(), b"/closed/x"));
        assert!(!exe_dir_world_writable(tmp.path(), b"/missing/x"));
        assert!(!exe_dir_world_writable(tmp.path(), b"x"));
    }
}
