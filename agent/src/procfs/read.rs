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
    let limit = cap.saturating_add(1);
    // Reads straight into spare capacity (nothing is zeroed first); growth doubles.
    let first = usize::try_from(limit).unwrap_or(usize::MAX).min(FIRST_READ);
    let mut buf: Vec<u8> = Vec::with_capacity(first);
    f.take(limit).read_to_end(&mut buf)?;
    let truncated = buf.len() as u64 > cap;
    if truncated {
        buf.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    }
    Ok((buf, truncated))
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
