//! `memory_maps`: one record per mapping of every process, with anomaly flags.

use super::process_memory::{read_maps_from, MAX_MAPS_BYTES};
use super::{per_process, CollectError, Context, Output, ProcessLines};
use crate::procfs::maps;
use crate::procfs::maps_query::{self, Queried};
use crate::procfs::read::is_gone;
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
        let mut buf = [0u8; 18];
        let text = std::str::from_utf8(self.text(&mut buf)).unwrap_or("0x0");
        s.serialize_str(text)
    }
}

impl HexAddr {
    /// The address as `0x`-prefixed lowercase hex, written into the end of `buf`.
    fn text(self, buf: &mut [u8; 18]) -> &[u8] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
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
        buf.get(at..).unwrap_or_default()
    }

    /// Appends the address as a JSON string, as its `Serialize` writes it.
    fn write_json(self, buf: &mut Vec<u8>) {
        let mut text = [0u8; 18];
        buf.push(b'"');
        buf.extend_from_slice(self.text(&mut text));
        buf.push(b'"');
    }
}

/// Appends `s` as a JSON string, byte for byte as serde_json writes it. Text that needs no
/// escaping (paths, permissions, devices almost always) is copied as it is.
fn json_string(buf: &mut Vec<u8>, s: &str) -> Result<(), CollectError> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(&mut *buf, s)
            .map_err(|e| CollectError::Failed(format!("serializing a record: {e}")))
    }
}

impl MappingRecord<'_> {
    /// Appends the record as one JSON line, byte for byte what serde_json writes for it
    /// (tested), without serde's per-field work: this is the largest record stream of a
    /// collection (a few hundred thousand mappings on a busy host).
    #[cfg(test)]
    pub fn write_json_line(&self, buf: &mut Vec<u8>) -> Result<(), CollectError> {
        buf.extend_from_slice(b"{\"pid\":");
        int(buf, u64::from(self.pid));
        self.write_json_rest(buf)
    }

    /// [`Self::write_json_line`] after `{"pid":N`, which callers writing many lines of one
    /// process may write once and copy.
    fn write_json_rest(&self, buf: &mut Vec<u8>) -> Result<(), CollectError> {
        fn flag(buf: &mut Vec<u8>, v: bool) {
            buf.extend_from_slice(if v { b"true" } else { b"false" });
        }
        buf.extend_from_slice(b",\"start\":");
        self.start.write_json(buf);
        buf.extend_from_slice(b",\"end\":");
        self.end.write_json(buf);
        buf.extend_from_slice(b",\"size\":");
        int(buf, self.size);
        buf.extend_from_slice(b",\"perms\":");
        json_string(buf, self.perms)?;
        buf.extend_from_slice(b",\"offset\":");
        int(buf, self.offset);
        buf.extend_from_slice(b",\"device\":");
        json_string(buf, self.device)?;
        buf.extend_from_slice(b",\"inode\":");
        int(buf, self.inode);
        buf.extend_from_slice(b",\"path\":");
        match &self.path {
            Some(p) => json_string(buf, p)?,
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b",\"path_hex\":");
        match &self.path_hex {
            Some(h) => json_string(buf, h)?,
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b",\"deleted\":");
        flag(buf, self.deleted);
        buf.extend_from_slice(b",\"memfd\":");
        flag(buf, self.memfd);
        buf.extend_from_slice(b",\"writable_executable\":");
        flag(buf, self.writable_executable);
        buf.extend_from_slice(b",\"anonymous_executable\":");
        flag(buf, self.anonymous_executable);
        buf.extend_from_slice(b"}\n");
        Ok(())
    }
}

/// Appends a decimal number.
fn int(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// `(device, inode)` of paths already looked up below one process's root: a process often
/// maps one file several times (a library's segments, shared memory), one lookup serves all.
type NamedCache = Vec<(Vec<u8>, Option<(u64, u64)>)>;

/// The device (`major:minor`, as maps writes it) of the kernel's internal shared-memory mount,
/// read from a memfd of our own.
fn shmem_device() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let fd = nix::sys::memfd::memfd_create(
        c"vestige-probe",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .ok()?;
    let dev = std::fs::File::from(fd).metadata().ok()?.dev();
    Some(maps_query::device_text(libc::major(dev), libc::minor(dev)))
}

/// Whether a path ending in " (deleted)" is the file's real name: looked up from the process's
/// own root, the full text names the very file mapped (same device and inode). Otherwise the
/// kernel's suffix says the mapped file was unlinked.
fn literally_named(
    ctx: &Context,
    pid: u32,
    m: &maps::Mapping,
    shmem: Option<&str>,
    cache: &mut NamedCache,
) -> bool {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    // The kernel's internal shared-memory mount (shared anonymous memory shown as
    // "/dev/zero (deleted)", memfd, SysV segments) is in no mount namespace: no path reaches
    // a file on it.
    if !m.deleted() || m.inode == 0 || shmem == Some(m.dev) {
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
    shmem: Option<&str>,
    pid: u32,
) -> Result<ProcessLines, CollectError> {
    let mut out = ProcessLines::default();
    let maps_path = ctx.proc.join(pid.to_string()).join("maps");
    let file = match std::fs::File::open(&maps_path) {
        Ok(f) => f,
        Err(e) if is_gone(&e) => return Ok(out),
        Err(e) => {
            out.warning = Some(format!("pid {pid}: maps: {e}"));
            return Ok(out);
        }
    };
    let mut named = NamedCache::new();
    // The kernel's numbers where it offers them; the text where it does not, or where it
    // refused one of this process's mappings.
    if let Ok(Queried::Read { maps, cut }) = maps_query::query(&file, MAX_MAPS_BYTES) {
        if cut {
            out.warning = Some(cut_warning(pid, maps.len()));
        }
        mapping_records(
            pid,
            maps.mappings(),
            opts.only_anomalies,
            |m| literally_named(ctx, pid, m, shmem, &mut named),
            &mut out,
        )?;
        return Ok(out);
    }
    let buf = match read_maps_from(file, MAX_MAPS_BYTES) {
        Ok((b, false)) => b,
        Ok((b, true)) => {
            // Whole lines only; the mappings past the cap are named as missing.
            let read = b.iter().filter(|c| **c == b'\n').count();
            out.warning = Some(cut_warning(pid, read));
            b
        }
        Err(e) if is_gone(&e) => return Ok(out),
        Err(e) => {
            out.warning = Some(format!("pid {pid}: maps: {e}"));
            return Ok(out);
        }
    };
    let bad = mapping_lines(
        pid,
        &buf,
        opts.only_anomalies,
        |m| literally_named(ctx, pid, m, shmem, &mut named),
        &mut out,
    )?;
    if bad > 0 {
        let malformed = format!("pid {pid}: {bad} malformed maps lines");
        out.warning = Some(match out.warning.take() {
            Some(w) => format!("{w}; {malformed}"),
            None => malformed,
        });
    }
    Ok(out)
}

/// Turns one process's maps text into mapping records on `out` (only anomalous ones with
/// `only_anomalies`). `literal` tells whether a path ending in " (deleted)" is the file's
/// real name. Returns the number of malformed lines.
pub fn mapping_lines(
    pid: u32,
    text: &[u8],
    only_anomalies: bool,
    literal: impl FnMut(&maps::Mapping<'_>) -> bool,
    out: &mut ProcessLines,
) -> Result<usize, CollectError> {
    let (mappings, bad) = maps::parse_all(text);
    mapping_records(pid, mappings, only_anomalies, literal, out)?;
    Ok(bad)
}

/// The warning for a process whose mappings were read only up to the cap.
fn cut_warning(pid: u32, read: usize) -> String {
    format!(
        "pid {pid}: /proc/{pid}/maps is longer than {MAX_MAPS_BYTES} bytes: only its first \
         {read} mappings were recorded"
    )
}

/// [`mapping_lines`] of mappings already parsed (or read through the kernel's query).
fn mapping_records(
    pid: u32,
    mappings: Vec<maps::Mapping<'_>>,
    only_anomalies: bool,
    mut literal: impl FnMut(&maps::Mapping<'_>) -> bool,
    out: &mut ProcessLines,
) -> Result<(), CollectError> {
    out.lines.reserve(mappings.len() * 320);
    let mut head = b"{\"pid\":".to_vec();
    int(&mut head, u64::from(pid));
    for m in mappings {
        let rwx = m.writable_executable();
        let anon_x = m.anonymous_executable();
        let literal = m.deleted() && literal(&m);
        let (deleted, memfd) = (m.deleted() && !literal, m.memfd());
        if only_anomalies && !(rwx || anon_x || deleted || memfd) {
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
        out.lines.extend_from_slice(&head);
        MappingRecord {
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
        }
        .write_json_rest(&mut out.lines)?;
        out.count += 1;
    }
    Ok(())
}

/// Collects every process's mappings. Processes are read on up to `ctx.threads` threads;
/// records come out in pid order.
pub fn collect(
    ctx: &Context,
    opts: &MemoryMapsOptions,
    out: &mut Output,
) -> Result<(), CollectError> {
    let shmem = shmem_device();
    per_process(ctx, out, |pid| pid_maps(ctx, opts, shmem.as_deref(), pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared anonymous mapping of our own shows as "/dev/zero (deleted)" on the device
    /// `shmem_device` names.
    #[test]
    fn shared_anonymous_memory_is_on_the_shmem_device() {
        let len = 8192;
        // SAFETY: a fresh anonymous shared mapping, unmapped below; nothing else uses it.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(addr, libc::MAP_FAILED);
        let text = std::fs::read("/proc/self/maps").unwrap();
        // SAFETY: `addr` and `len` are the mapping made above.
        unsafe { libc::munmap(addr, len) };
        let (mappings, _) = maps::parse_all(&text);
        let ours = mappings.iter().find(|m| m.start == addr as u64).unwrap();
        assert_eq!(ours.path, b"/dev/zero (deleted)");
        assert_eq!(Some(ours.dev), shmem_device().as_deref());
    }

    /// [hostile] A file mapped from a path longer than `PATH_MAX` (which the kernel's mapping
    /// query refuses to name) is still recorded with its whole path, read from the maps text,
    /// among the process's other mappings.
    #[test]
    fn a_path_longer_than_path_max_is_recorded_whole() {
        use nix::fcntl::{openat, OFlag};
        use nix::sys::stat::{mkdirat, Mode};
        use std::os::fd::AsRawFd;
        let tmp = tempfile::tempdir().unwrap();
        let segment = "d".repeat(200);
        let mut dir = std::fs::File::open(tmp.path()).unwrap();
        for _ in 0..24 {
            mkdirat(
                Some(dir.as_raw_fd()),
                segment.as_str(),
                Mode::from_bits_truncate(0o700),
            )
            .unwrap();
            let fd = openat(
                Some(dir.as_raw_fd()),
                segment.as_str(),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .unwrap();
            // SAFETY: `fd` was just opened and is owned by nothing else.
            dir = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        }
        let fd = openat(
            Some(dir.as_raw_fd()),
            "deep.so",
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        // SAFETY: as above.
        let file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        file.set_len(4096).unwrap();
        // SAFETY: a private read-only mapping of a file this test owns, unmapped below.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(addr, libc::MAP_FAILED);

        let maps_file = std::fs::File::open("/proc/self/maps").unwrap();
        let queried = maps_query::query(&maps_file, MAX_MAPS_BYTES);
        let ctx = Context::host();
        let out = pid_maps(
            &ctx,
            &MemoryMapsOptions::default(),
            shmem_device().as_deref(),
            std::process::id(),
        )
        .unwrap();
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(addr, 4096) };

        assert!(
            !matches!(queried, Ok(Queried::Read { .. })),
            "the query named a path longer than PATH_MAX"
        );
        let text = String::from_utf8(out.lines).unwrap();
        let ours: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&format!("\"start\":\"{:#x}\"", addr as u64)))
            .collect();
        assert_eq!(ours.len(), 1, "{ours:?}");
        let rec: serde_json::Value = serde_json::from_str(ours[0]).unwrap();
        let path = rec["path"].as_str().unwrap();
        assert!(
            path.len() > 4096 && path.ends_with("/deep.so"),
            "{}",
            path.len()
        );
        assert!(path.starts_with(tmp.path().to_str().unwrap()));
        assert!(out.count > 5 && out.warning.is_none(), "{:?}", out.warning);
    }

    /// Addresses serialize as 0x-prefixed hex, the same by serde and by the direct writer.
    #[test]
    fn addresses_serialize_as_prefixed_hex() {
        for v in [0u64, 1, 0xf, 0x10, 0x7ffd_6b1c_0000, u64::MAX] {
            let json = serde_json::to_string(&HexAddr(v)).unwrap();
            assert_eq!(json, format!("\"{v:#x}\""));
            let mut direct = Vec::new();
            HexAddr(v).write_json(&mut direct);
            assert_eq!(String::from_utf8(direct).unwrap(), json);
        }
    }

    proptest::proptest! {
        /// [hostile] The hand-written JSON line is exactly serde_json's, whatever the strings hold
        /// (quotes, backslashes, control characters, any Unicode).
        #[test]
        fn json_line_is_what_serde_writes(
            pid: u32, start: u64, end: u64, size: u64, offset: u64, inode: u64,
            perms in ".{0,6}", device in ".{0,8}",
            path in proptest::option::of(".{0,40}"),
            path_hex in proptest::option::of("[0-9a-f]{0,16}"),
            flags: [bool; 4],
        ) {
            let rec = MappingRecord {
                pid,
                start: HexAddr(start),
                end: HexAddr(end),
                size,
                perms: &perms,
                offset,
                device: &device,
                inode,
                path: path.as_deref().map(std::borrow::Cow::Borrowed),
                path_hex,
                deleted: flags[0],
                memfd: flags[1],
                writable_executable: flags[2],
                anonymous_executable: flags[3],
            };
            let mut want = serde_json::to_vec(&rec).unwrap();
            want.push(b'\n');
            let mut got = Vec::new();
            rec.write_json_line(&mut got).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap());
        }
    }
}
