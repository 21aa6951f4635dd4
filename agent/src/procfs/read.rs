//! Reading the live host: bounded reads, pid listing, and telling "gone" from "failed".

use std::fs::File;
use std::io::{self, Read};

use std::path::Path;

/// Largest /proc file read whole (cmdline and environ can reach megabytes).
pub const DEFAULT_CAP: u64 = 4 << 20;

/// Initial buffer capacity: most /proc files fit without the buffer growing.
const FIRST_READ: usize = 16 * 1024;

/// Reads at most `cap` bytes of a file; the flag says whether more was left.
pub fn read_capped(path: &Path, cap: u64) -> io::Result<(Vec<u8>, bool)> {
    read_capped_from(File::open(path)?, cap)
}

/// [`read_capped`] of a file already open.
pub(crate) fn read_capped_from(f: File, cap: u64) -> io::Result<(Vec<u8>, bool)> {
    // Reads straight into spare capacity (nothing is zeroed first); growth doubles.
    let first = usize::try_from(cap.saturating_add(1))
        .unwrap_or(usize::MAX)
        .min(FIRST_READ);
    read_rest(f, Vec::with_capacity(first), cap)
}

/// Appends the rest of `f` to `buf` until it holds more than `cap` bytes, then cuts it to
/// `cap`; the flag says whether it was cut.
fn read_rest(f: File, mut buf: Vec<u8>, cap: u64) -> io::Result<(Vec<u8>, bool)> {
    let left = cap.saturating_add(1).saturating_sub(buf.len() as u64);
    f.take(left).read_to_end(&mut buf)?;
    let truncated = buf.len() as u64 > cap;
    if truncated {
        buf.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    }
    Ok((buf, truncated))
}

/// Bytes of the per-thread buffer that rendered /proc files are read into first.
const SCRATCH: usize = 16 * 1024;

thread_local! {
    static SCRATCH_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`read_capped_from`] for a /proc file the kernel renders in one piece for each read
/// (`stat`, `status`, `cgroup`, `fdinfo/N`: one-record seq files; `cmdline` and `environ`,
/// read on until the end of the area or the buffer): a read that returns less than asked is
/// the end, so the read that would return nothing is never made. The first read goes into a
/// reused per-thread buffer, so nothing is zeroed or grown for the usual small file.
pub(crate) fn read_rendered_from(mut f: File, cap: u64) -> io::Result<(Vec<u8>, bool)> {
    let limit = usize::try_from(cap.saturating_add(1)).unwrap_or(usize::MAX);
    let want = limit.min(SCRATCH);
    let (buf, filled) = SCRATCH_BUF.with_borrow_mut(|scratch| -> io::Result<_> {
        if scratch.len() < SCRATCH {
            scratch.resize(SCRATCH, 0);
        }
        let window = scratch.get_mut(..want).unwrap_or_default();
        let n = loop {
            match f.read(window) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        Ok((window.get(..n).unwrap_or_default().to_vec(), n == want))
    })?;
    if filled {
        // More may follow (or the cap is passed): read on, as any other file.
        read_rest(f, buf, cap)
    } else {
        Ok((buf, false))
    }
}

/// Reads a small file whole (up to [`DEFAULT_CAP`]).
pub fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    read_capped(path, DEFAULT_CAP).map(|(b, _)| b)
}

/// Whether an error means the process or file went away (a normal race, not a failure).
pub fn is_gone(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH))
}

/// Numeric entries of a /proc-like directory, ascending.
pub fn list_pids(proc_root: &Path) -> io::Result<Vec<u32>> {
    let mut pids: Vec<u32> = std::fs::read_dir(proc_root)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Text of a symlink, as bytes.
pub fn readlink_bytes(path: &Path) -> io::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    std::fs::read_link(path).map(|p| p.into_os_string().into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Rendered /proc files read in one call, and a file larger than the first read (or
    /// than the cap) reads as [`read_capped_from`] does.
    #[test]
    fn rendered_reads() {
        let stat = std::fs::read("/proc/self/stat").unwrap();
        let (got, t) = read_rendered_from(File::open("/proc/self/stat").unwrap(), 1 << 20).unwrap();
        assert!(!t);
        assert_eq!(
            got.split(|b| *b == b' ').next(),
            stat.split(|b| *b == b' ').next()
        );
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        f.write_all(&data).unwrap();
        for (cap, want, truncated) in [
            (1 << 20, &data[..], false),
            (40_000, &data[..40_000], true),
            (100_000, &data[..], false),
            (99_999, &data[..99_999], true),
            (SCRATCH as u64, &data[..SCRATCH], true),
            (SCRATCH as u64 - 1, &data[..SCRATCH - 1], true),
            (3, &data[..3], true),
            (0, &data[..0], true),
        ] {
            let (got, t) = read_rendered_from(File::open(f.path()).unwrap(), cap).unwrap();
            assert_eq!((got.as_slice(), t), (want, truncated), "cap {cap}");
        }
        std::fs::write(f.path(), &data[..10]).unwrap();
        let (got, t) = read_rendered_from(File::open(f.path()).unwrap(), 10).unwrap();
        assert_eq!((got.as_slice(), t), (&data[..10], false));
    }

    /// A file reads whole below the cap and cut (marked truncated) at it, exact size included; a
    /// missing file is an error.
    #[test]
    fn capped_reads() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        f.write_all(&data).unwrap();
        let (all, t) = read_capped(f.path(), 1 << 20).unwrap();
        assert_eq!((all.as_slice(), t), (data.as_slice(), false));
        let (some, t) = read_capped(f.path(), 40_000).unwrap();
        assert_eq!((some.as_slice(), t), (&data[..40_000], true));
        let (exact, t) = read_capped(f.path(), 100_000).unwrap();
        assert_eq!((exact.len(), t), (100_000, false));
        let (none, t) = read_capped(f.path(), 0).unwrap();
        assert_eq!((none.len(), t), (0, true));
        assert!(read_capped(Path::new("/nonexistent/x"), 10).is_err());
    }
}
