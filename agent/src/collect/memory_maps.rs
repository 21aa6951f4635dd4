//! `memory_maps`: one record per mapping of every process, with anomaly flags.

use super::{per_process, push_record, CollectError, Context, Output, ProcessLines};
use crate::procfs::maps;
use crate::procfs::read::{is_gone, read_small};
use crate::procfs::text::lossy;
use collector_spec::MemoryMapsOptions;
use serde::Serialize;

/// One mapping, serialized without copying what it borrows from the maps text.
#[derive(Debug, Serialize)]
pub struct MappingRecord<'a> {
    pub pid: u32,
    pub start: HexAddr,
    pub end: HexAddr,
    pub size: u64,
    pub perms: &'a str,
    pub offset: u64,
    pub device: &'a str,
    pub inode: u64,
    pub path: Option<std::borrow::Cow<'a, str>>,
    pub path_hex: Option<String>,
    pub deleted: bool,
    pub memfd: bool,
    pub writable_executable: bool,
    pub anonymous_executable: bool,
}

/// An address, serialized as `0x`-prefixed lowercase hex text with no allocation.
#[derive(Debug, Clone, Copy)]
pub struct HexAddr(pub u64);

impl Serialize for HexAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 18];
        let mut at = buf.len();
        let mut v = self.0;
        loop {
            at -= 1;
            if let (Some(slot), Some(d)) = (buf.get_mut(at), DIGITS.get((v & 0xf) as usize)) {
                *slot = *d;
            }
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        at -= 2;
        if let Some(prefix) = buf.get_mut(at..at + 2) {
            prefix.copy_from_slice(b"0x");
        }
        let text = buf
            .get(at..)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("0x0");
        s.serialize_str(text)
    }
}

/// `(device, inode)` of paths already looked up below one process's root: a process often
/// maps one file several times (a library's segments, shared memory), one lookup serves all.
type NamedCache = Vec<(Vec<u8>, Option<(u64, u64)>)>;

/// Whether a path ending in " (deleted)" is the file's real name: looked up from the process's
/// own root, the full text names the very file mapped (same device and inode). Otherwise the
/// kernel's suffix says the mapped file was unlinked.
fn literally_named(ctx: &Context, pid: u32, m: &maps::Mapping, cache: &mut NamedCache) -> bool {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    if !m.deleted() || m.inode == 0 {
        return false;
    }
    let Some(relative) = m.path.strip_prefix(b"/") else {
        return false;
    };
    let found = match cache.iter().find(|(p, _)| p.as_slice() == relative) {
        Some((_, found)) => *found,
        None => {
            // The kernel writes a newline in a mapped path as the four bytes `\012`.
            let mut real = Vec::with_capacity(relative.len());
            let mut rest = relative;
            while let Some(i) = rest.windows(4).position(|w| w == b"\\012") {
                real.extend_from_slice(rest.get(..i).unwrap_or_default());
                real.push(b'\n');
                rest = rest.get(i + 4..).unwrap_or_default();
            }
            real.extend_from_slice(rest);
            let named = ctx
                .proc
                .join(pid.to_string())
                .join("root")
                .join(std::ffi::OsStr::from_bytes(&real));
            let found = std::fs::metadata(named).ok().map(|st| (st.dev(), st.ino()));
            cache.push((relative.to_vec(), found));
            found
        }
    };
    let Some((dev, ino)) = found else {
        return false;
    };
    let same_dev = m.dev.split_once(':').is_some_and(|(major, minor)| {
        let major = u64::from_str_radix(major, 16).ok();
        let minor = u64::from_str_radix(minor, 16).ok();
        major == Some(u64::from(libc::major(dev))) && minor == Some(u64::from(libc::minor(dev)))
    });
    ino == m.inode && same_dev
}

/// Reads, parses and serializes one process's mappings (runs on worker threads).
fn pid_maps(
    ctx: &Context,
    opts: &MemoryMapsOptions,
    pid: u32,
) -> Result<ProcessLines, CollectError> {
    let mut out = ProcessLines::default();
    let buf = match read_small(&ctx.proc.join(pid.to_string()).join("maps")) {
        Ok(b) => b,
        Err(e) if is_gone(&e) => return Ok(out),
        Err(e) => {
            out.warning = Some(format!("pid {pid}: maps: {e}"));
            return Ok(out);
        }
    };
    let (mappings, bad) = maps::parse_all(&buf);
    if bad > 0 {
        out.warning = Some(format!("pid {pid}: {bad} malformed maps lines"));
    }
    out.lines.reserve(mappings.len() * 200);
    let mut named = NamedCache::new();
    for m in mappings {
        let rwx = m.writable_executable();
        let anon_x = m.anonymous_executable();
        let literal = literally_named(ctx, pid, &m, &mut named);
        let (deleted, memfd) = (m.deleted() && !literal, m.memfd());
        if opts.only_anomalies && !(rwx || anon_x || deleted || memfd) {
            continue;
        }
        let (path, path_hex) = if m.path.is_empty() {
            (None, None)
        } else {
            let shown = if literal {
                m.path
            } else {
                m.path_without_deleted()
            };
            match std::str::from_utf8(shown) {
                Ok(t) => (Some(std::borrow::Cow::Borrowed(t)), None),
                Err(_) => {
                    let (t, h) = lossy(shown);
                    (Some(std::borrow::Cow::Owned(t)), h)
                }
            }
        };
        push_record(
            &mut out.lines,
            &MappingRecord {
                pid,
                start: HexAddr(m.start),
                end: HexAddr(m.end),
                size: m.end.saturating_sub(m.start),
                perms: m.perms,
                offset: m.offset,
                device: m.dev,
                inode: m.inode,
                path,
                path_hex,
                deleted,
                memfd,
                writable_executable: rwx,
                anonymous_executable: anon_x,
            },
        )?;
        out.count += 1;
    }
    Ok(out)
}

/// Collects every process's mappings. Processes are read on up to `ctx.threads` threads;
/// records come out in pid order.
pub fn collect(
    ctx: &Context,
    opts: &MemoryMapsOptions,
    out: &mut Output,
) -> Result<(), CollectError> {
    per_process(ctx, out, |pid| pid_maps(ctx, opts, pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_serialize_as_prefixed_hex() {
        for v in [0u64, 1, 0xf, 0x10, 0x7ffd_6b1c_0000, u64::MAX] {
            let json = serde_json::to_string(&HexAddr(v)).unwrap();
            assert_eq!(json, format!("\"{v:#x}\""));
        }
    }
}
