//! `ram`: physical memory through /proc/kcore, in the LiME format, without a kernel module.
//!
//! /proc/iomem names the physical ranges that are `System RAM`; /proc/kcore (an ELF64 core
//! file) holds them at the file offsets its `PT_LOAD` program headers give, located through
//! each segment's physical address (`p_paddr`). Each piece of a RAM range that kcore holds
//! becomes one LiME range in `artifacts/<name>.lime.zst`:
//!
//! ```text
//! u32 magic 0x4C694D45 ("EMiL" on disk) | u32 version 1 | u64 first address |
//! u64 last address (inclusive) | 8 reserved zero bytes        (32 bytes, little-endian)
//! the range's bytes (last - first + 1)
//! ```
//!
//! Decompressed, the object is what Volatility 3 and other LiME readers open. The record
//! artifact has one line per range: `start`, `end` (inclusive, `"0x…"`), `bytes`,
//! `kcore_offset`, `lime_offset` (where its header starts in the LiME stream), `status`
//! (`ok`; `zero_filled` when reads failed and zeros stand in for `zero_filled_bytes`;
//! `truncated_at_cap`; `skipped_cap`; `not_in_kcore` for RAM that no segment holds) and
//! `error`. Bytes stream through a 1 MiB buffer; nothing is staged on disk.

use super::{CollectError, Context, Output};
use crate::manifest::Status;
use crate::procfs::iomem::Iomem;
use crate::procfs::kcore::{self, ElfHeader, Segment};
use crate::procfs::read::read_small;
use collector_spec::RamOptions;
use serde::Serialize;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// LiME header magic, as a little-endian u32.
pub const LIME_MAGIC: u32 = 0x4C69_4D45;
/// LiME header version.
pub const LIME_VERSION: u32 = 1;
/// LiME header size.
pub const LIME_HEADER_LEN: u64 = 32;
const CHUNK: usize = 1 << 20;
/// Largest program header table read (a real kcore's is a few KiB).
const MAX_TABLE: usize = 4 << 20;

/// One physical range.
#[derive(Debug, Serialize)]
pub struct RangeRecord {
    pub start: String,
    pub end: String,
    pub bytes: u64,
    pub kcore_offset: Option<u64>,
    pub lime_offset: Option<u64>,
    pub status: &'static str,
    pub zero_filled_bytes: u64,
    pub error: Option<String>,
}

/// The 32-byte LiME header of the inclusive range `[start, end]`.
pub fn lime_header(start: u64, end: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    let fields = [
        (0usize, &LIME_MAGIC.to_le_bytes()[..]),
        (4, &LIME_VERSION.to_le_bytes()[..]),
        (8, &start.to_le_bytes()[..]),
        (16, &end.to_le_bytes()[..]),
    ];
    for (at, bytes) in fields {
        if let Some(dst) = h.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
    h
}

/// A piece of RAM and where kcore holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// First physical address.
    pub start: u64,
    /// Last physical address (inclusive).
    pub end: u64,
    /// File offset in kcore of `start`; `None` when no segment holds it.
    pub offset: Option<u64>,
}

/// Splits every RAM range into pieces held by one segment each, and pieces no segment
/// holds, in address order. Where segments overlap, the first in file order wins.
pub fn plan(iomem: &Iomem, segments: &[Segment]) -> Vec<Piece> {
    let mut out = Vec::new();
    for r in &iomem.ram {
        let mut covered: Vec<(u64, u64, u64)> = segments
            .iter()
            .filter_map(|s| s.physical_overlap(r.start, r.end))
            .collect();
        covered.sort_by_key(|c| c.0);
        let mut next = Some(r.start);
        for (from, to, offset) in covered {
            let Some(at) = next else { break };
            if to < at {
                continue;
            }
            let (from, offset) = if from < at {
                (at, offset.saturating_add(at - from))
            } else {
                (from, offset)
            };
            if from > at {
                out.push(Piece {
                    start: at,
                    end: from - 1,
                    offset: None,
                });
            }
            out.push(Piece {
                start: from,
                end: to,
                offset: Some(offset),
            });
            next = to.checked_add(1).filter(|n| *n <= r.end);
        }
        if let Some(at) = next {
            out.push(Piece {
                start: at,
                end: r.end,
                offset: None,
            });
        }
    }
    out
}

/// Collects physical memory.
pub fn collect(ctx: &Context, opts: &RamOptions, out: &mut Output) -> Result<(), CollectError> {
    let iomem_path = Path::new(&opts.iomem);
    let iomem = read_small(iomem_path)
        .map(|b| Iomem::from_bytes(&b))
        .map_err(|e| CollectError::Failed(format!("reading {}: {e}", iomem_path.display())))?;
    if iomem.addresses_hidden {
        return Err(CollectError::Failed(format!(
            "{} shows every address as zero: reading it needs root (CAP_SYS_ADMIN)",
            iomem_path.display()
        )));
    }
    if iomem.ram.is_empty() {
        return Err(CollectError::Failed(format!(
            "{} lists no System RAM range",
            iomem_path.display()
        )));
    }
    let kcore_path = Path::new(&opts.kcore);
    let kcore = File::open(kcore_path).map_err(|e| open_error(ctx, kcore_path, &e))?;
    let segments = read_segments(&kcore, kcore_path)?;
    if !segments.iter().any(|s| s.paddr.is_some()) {
        return Err(CollectError::Failed(format!(
            "{}: no segment carries a physical address (p_paddr); this kernel's kcore cannot be mapped to physical memory",
            kcore_path.display()
        )));
    }
    let pieces = plan(&iomem, &segments);
    let name = out.artifact().to_owned();
    let mut stream = out.open_stream(
        &format!("{name}.lime"),
        &format!("artifacts/{name}.lime.zst"),
        1,
    )?;
    let mut left = opts.max_bytes.map_or(u64::MAX, |b| b.0);
    let mut lime_at: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    let mut problems: u64 = 0;
    let cancel = out.cancel_flag();
    for p in pieces {
        let len = p.end.saturating_sub(p.start).saturating_add(1);
        let mut rec = RangeRecord {
            start: format!("{:#x}", p.start),
            end: format!("{:#x}", p.end),
            bytes: 0,
            kcore_offset: p.offset,
            lime_offset: None,
            status: "ok",
            zero_filled_bytes: 0,
            error: None,
        };
        let Some(offset) = p.offset else {
            rec.status = "not_in_kcore";
            rec.error = Some("no kcore segment holds this System RAM".into());
            out.warn(format!("RAM {}-{} is not in kcore", rec.start, rec.end));
            problems += 1;
            out.record(&rec)?;
            continue;
        };
        if left == 0 {
            rec.status = "skipped_cap";
            out.record(&rec)?;
            continue;
        }
        let take = len.min(left);
        if take < len {
            rec.status = "truncated_at_cap";
            rec.end = format!("{:#x}", p.start + (take - 1));
        }
        let header = lime_header(p.start, p.start + (take - 1));
        let werr = |e: io::Error| CollectError::Failed(format!("writing the LiME stream: {e}"));
        stream.write_all(&header).map_err(werr)?;
        rec.lime_offset = Some(lime_at);
        lime_at += LIME_HEADER_LEN;
        let mut done: u64 = 0;
        while done < take {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = stream.finish(
                    Status::Partial,
                    Some("cancelled; the last range is cut short".into()),
                );
                return Err(CollectError::Cancelled);
            }
            let want = usize::try_from(take - done).unwrap_or(CHUNK).min(CHUNK);
            let chunk = buf.get_mut(..want).unwrap_or_default();
            let at = offset.saturating_add(done);
            let n = match read_full(&kcore, chunk, at) {
                Ok(n) if n == want => n,
                res => {
                    // The header promised `take` bytes: zeros stand in for what cannot be read.
                    let got = res.as_ref().map_or(0, |n| *n);
                    if let Some(rest) = chunk.get_mut(got..) {
                        rest.fill(0);
                    }
                    let why = match res {
                        Ok(_) => "end of file".to_owned(),
                        Err(e) => e.to_string(),
                    };
                    let phys = p.start + done + got as u64;
                    rec.zero_filled_bytes += (want - got) as u64;
                    rec.status = "zero_filled";
                    if rec.error.is_none() {
                        rec.error = Some(format!(
                            "reading kcore at offset {} (physical {phys:#x}): {why}",
                            at + got as u64
                        ));
                    }
                    want
                }
            };
            stream
                .write_all(chunk.get(..n).unwrap_or_default())
                .map_err(werr)?;
            done += n as u64;
        }
        if rec.status == "zero_filled" {
            problems += 1;
            out.warn(format!(
                "RAM {}-{}: {} bytes zero-filled: {}",
                rec.start,
                rec.end,
                rec.zero_filled_bytes,
                rec.error.as_deref().unwrap_or("")
            ));
        }
        rec.bytes = done;
        lime_at += done;
        left -= done;
        out.record(&rec)?;
    }
    let (status, error) = if problems > 0 {
        (
            Status::Partial,
            Some(format!(
                "{problems} ranges incomplete (see the range records)"
            )),
        )
    } else {
        (Status::Ok, None)
    };
    stream.finish(status, error)?;
    Ok(())
}

/// Reads until `buf` is full, the file ends, or a read fails after some bytes.
fn read_full(f: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut got = 0usize;
    while got < buf.len() {
        let dst = buf.get_mut(got..).unwrap_or_default();
        match f.read_at(dst, at.saturating_add(got as u64)) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if got > 0 => {
                tracing::debug!("kcore read at {at}: {e}");
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn read_segments(kcore: &File, path: &Path) -> Result<Vec<Segment>, CollectError> {
    let fail = |what: String| CollectError::Failed(format!("{}: {what}", path.display()));
    let mut head = [0u8; kcore::EHDR_LEN];
    let n =
        read_full(kcore, &mut head, 0).map_err(|e| fail(format!("reading the ELF header: {e}")))?;
    let header = ElfHeader::from_bytes(head.get(..n).unwrap_or_default())
        .map_err(|e| fail(e.to_string()))?;
    let len = header.table_len();
    if len > MAX_TABLE {
        return Err(fail(format!(
            "program header table of {len} bytes is too large"
        )));
    }
    let mut table = vec![0u8; len];
    let n = read_full(kcore, &mut table, header.phoff)
        .map_err(|e| fail(format!("reading the program headers: {e}")))?;
    kcore::load_segments(&header, table.get(..n).unwrap_or_default())
        .map_err(|e| fail(e.to_string()))
}

/// Explains why kcore could not be opened: missing, kernel lockdown, or permissions.
fn open_error(ctx: &Context, path: &Path, e: &io::Error) -> CollectError {
    let shown = path.display();
    let msg = match e.raw_os_error() {
        Some(libc::ENOENT) => format!(
            "{shown} does not exist: this kernel has no /proc/kcore (CONFIG_PROC_KCORE), so RAM cannot be read without a kernel module"
        ),
        Some(libc::EPERM) | Some(libc::EACCES) => {
            let lockdown = read_small(&ctx.sys.join("kernel/security/lockdown"))
                .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
                .unwrap_or_default();
            if lockdown.contains("[confidentiality]") {
                format!("{shown}: kernel lockdown is in confidentiality mode ({lockdown}), which forbids reading kernel memory")
            } else if lockdown.contains("[integrity]") {
                format!("{shown}: {e} (kernel lockdown: {lockdown})")
            } else {
                format!("{shown}: {e}: reading it needs root with CAP_SYS_RAWIO")
            }
        }
        _ => format!("{shown}: {e}"),
    };
    CollectError::Failed(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::iomem::RamRange;

    fn seg(paddr: Option<u64>, size: u64, offset: u64) -> Segment {
        Segment {
            offset,
            vaddr: 0xffff_8880_0000_0000u64.wrapping_add(paddr.unwrap_or(0)),
            paddr,
            size,
        }
    }

    fn message(e: CollectError) -> String {
        e.to_string()
    }

    /// A refused /proc/kcore names the cause: lockdown in confidentiality mode, missing
    /// CAP_SYS_RAWIO, or no CONFIG_PROC_KCORE.
    #[test]
    fn open_errors_name_the_cause() {
        let tmp = tempfile::tempdir().unwrap();
        let sec = tmp.path().join("kernel/security");
        std::fs::create_dir_all(&sec).unwrap();
        let ctx = Context::with_roots("/proc", tmp.path(), "/etc");
        let kcore = Path::new("/proc/kcore");
        let eperm = io::Error::from_raw_os_error(libc::EPERM);

        std::fs::write(sec.join("lockdown"), "none integrity [confidentiality]\n").unwrap();
        let m = message(open_error(&ctx, kcore, &eperm));
        assert!(m.contains("lockdown is in confidentiality mode"), "{m}");

        std::fs::write(sec.join("lockdown"), "[none] integrity confidentiality\n").unwrap();
        let m = message(open_error(&ctx, kcore, &eperm));
        assert!(m.contains("CAP_SYS_RAWIO"), "{m}");

        let m = message(open_error(
            &ctx,
            kcore,
            &io::Error::from_raw_os_error(libc::ENOENT),
        ));
        assert!(
            m.contains("does not exist") && m.contains("CONFIG_PROC_KCORE"),
            "{m}"
        );
    }

    /// LiME range headers carry the magic, version 1 and the range's start and end.
    #[test]
    fn header_layout() {
        let h = lime_header(0x1000, 0x1fff);
        assert_eq!(&h[..4], b"EMiL");
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), 1);
        assert_eq!(u64::from_le_bytes(h[8..16].try_into().unwrap()), 0x1000);
        assert_eq!(u64::from_le_bytes(h[16..24].try_into().unwrap()), 0x1fff);
        assert_eq!(&h[24..], &[0u8; 8]);
    }

    /// RAM ranges are split by the kcore segments covering them, gaps marked unbacked, duplicates
    /// and kernel text ignored.
    #[test]
    fn plan_splits_ranges_by_segment_and_marks_gaps() {
        let iomem = Iomem {
            ram: vec![
                RamRange {
                    start: 0x1000,
                    end: 0x9fff,
                },
                RamRange {
                    start: 0x10_0000,
                    end: 0x10_ffff,
                },
            ],
            ..Iomem::default()
        };
        let segs = [
            seg(None, 0x100_0000, 0),                 // kernel text
            seg(Some(0x1000), 0x4000, 0x1000),        // 0x1000-0x4fff
            seg(Some(0x6000), 0x10000, 0x9000),       // 0x6000-0x15fff, overhangs the range
            seg(Some(0x10_0000), 0x10000, 0x20_0000), // the whole second range
            seg(Some(0x10_0000), 0x10000, 0x40_0000), // duplicate: ignored
        ];
        let p = plan(&iomem, &segs);
        assert_eq!(
            p,
            vec![
                Piece {
                    start: 0x1000,
                    end: 0x4fff,
                    offset: Some(0x1000)
                },
                Piece {
                    start: 0x5000,
                    end: 0x5fff,
                    offset: None
                },
                Piece {
                    start: 0x6000,
                    end: 0x9fff,
                    offset: Some(0x9000)
                },
                Piece {
                    start: 0x10_0000,
                    end: 0x10_ffff,
                    offset: Some(0x20_0000)
                },
            ]
        );
        let none = plan(&iomem, &[seg(None, 1 << 40, 0)]);
        assert_eq!(none.len(), 2);
        assert!(none.iter().all(|p| p.offset.is_none()));
    }

    /// A RAM range at the top of the address space plans without overflow.
    #[test]
    fn plan_handles_extreme_addresses() {
        let iomem = Iomem {
            ram: vec![RamRange {
                start: u64::MAX - 0xfff,
                end: u64::MAX,
            }],
            ..Iomem::default()
        };
        let p = plan(&iomem, &[seg(Some(u64::MAX - 0xfff), 0x1000, 0)]);
        assert_eq!(
            p,
            vec![Piece {
                start: u64::MAX - 0xfff,
                end: u64::MAX,
                offset: Some(0)
            }]
        );
        assert!(plan(&iomem, &[seg(Some(u64::MAX - 0xfff), 0x2000, 0)]).len() == 1);
    }
}
