//! An open `/proc/PID` directory. Files below it are opened relative to it: one path walk per
//! process instead of one per file (a collection reads a dozen files of every process), and
//! every read lands on the process the directory was opened for: if it exits, reads fail as
//! "gone" even once its pid is reused.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// One descriptor of a process: its number and link target (`None` when the link could not
/// be read for a reason other than the descriptor being closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdEntry {
    /// The descriptor number.
    pub fd: u32,
    /// What `/proc/PID/fd/N` points at, e.g. `socket:[123]` or a path.
    pub target: Option<Vec<u8>>,
}

/// An open process directory (or any directory laid out like one, e.g. a test fixture).
#[derive(Debug)]
pub struct PidDir {
    dir: File,
    path: PathBuf,
}

impl PidDir {
    /// Opens `path` (normally `/proc/PID`) without reading it (`O_PATH`).
    pub fn open(path: PathBuf) -> io::Result<Self> {
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(&path)?;
        Ok(Self { dir, path })
    }

    /// The directory's path (for messages, and for lookups that must go through it by name).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens a file below the directory for reading.
    fn open_file(&self, name: &str) -> io::Result<File> {
        self.open_at(name, OFlag::O_RDONLY | OFlag::O_NOCTTY)
    }

    fn open_at(&self, name: &str, flags: OFlag) -> io::Result<File> {
        let fd = nix::fcntl::openat(
            Some(self.dir.as_raw_fd()),
            name,
            flags | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io::Error::from)?;
        // SAFETY: `fd` was just returned by a successful openat and nothing else owns it; the
        // File takes sole ownership and closes it once.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// A directory below this one, opened the same way (e.g. `fdinfo`, read once per
    /// descriptor).
    pub fn subdir(&self, name: &str) -> io::Result<PidDir> {
        let dir = self.open_at(name, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        Ok(PidDir {
            dir,
            path: self.path.join(name),
        })
    }

    /// Reads at most `cap` bytes of a file below the directory; the flag says whether more
    /// was left. For the files the kernel renders in one piece per read (`stat`, `status`,
    /// `cgroup`, `cmdline`, `environ`, `fdinfo/N`; not `maps`), as
    /// [`super::read::read_rendered_from`] says.
    pub fn read_capped(&self, name: &str, cap: u64) -> io::Result<(Vec<u8>, bool)> {
        super::read::read_rendered_from(self.open_file(name)?, cap)
    }

    /// Reads a small file below the directory whole (up to [`super::read::DEFAULT_CAP`]).
    pub fn read_small(&self, name: &str) -> io::Result<Vec<u8>> {
        self.read_capped(name, super::read::DEFAULT_CAP)
            .map(|(b, _)| b)
    }

    /// Text of a symlink below the directory (`exe`, `cwd`, `ns/net`, `fd/3`).
    pub fn readlink(&self, name: &str) -> io::Result<Vec<u8>> {
        nix::fcntl::readlinkat(Some(self.dir.as_raw_fd()), name)
            .map(OsStringExt::into_vec)
            .map_err(io::Error::from)
    }

    /// The process's descriptor table (`fd/`), in descriptor order. Descriptors closed while
    /// the table is read are left out; a listing cut short keeps the entries read before.
    pub fn fd_table(&self) -> io::Result<Vec<FdEntry>> {
        let dir = self.open_at("fd", OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        let dir_fd = dir.as_raw_fd();
        let mut table = Vec::new();
        let listed = list_names(&dir, |name| {
            let Some(fd) = std::str::from_utf8(name)
                .ok()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                return; // "." and ".."
            };
            let target = match nix::fcntl::readlinkat(Some(dir_fd), name) {
                Ok(t) => Some(t.into_vec()),
                Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ESRCH) => return,
                Err(_) => None,
            };
            table.push(FdEntry { fd, target });
        });
        match listed {
            Ok(()) => {}
            // A listing cut short (the process exited) keeps what was read.
            Err(_) if !table.is_empty() => {}
            Err(e) => return Err(e),
        }
        table.sort_unstable_by_key(|e| e.fd);
        Ok(table)
    }
}

/// Bytes of directory entries read per `getdents64` call.
const DIRENT_BUF: usize = 16 * 1024;

/// Calls `each` with the name of every entry of an open directory, read with `getdents64`
/// straight from its descriptor (opendir would add an fstat, two fcntl and an lseek to every
/// process's `fd/` listing).
fn list_names(dir: &File, mut each: impl FnMut(&[u8])) -> io::Result<()> {
    // The fixed part of a `struct linux_dirent64`: inode (8), offset (8), record length (2),
    // type (1); the NUL-terminated name follows.
    const NAME_AT: usize = 19;
    let mut buf = vec![0u8; DIRENT_BUF];
    loop {
        // SAFETY: getdents64 writes at most `buf.len()` bytes into `buf`, which this function
        // owns and does not otherwise touch during the call.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        let n = match usize::try_from(n) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
        };
        let filled = buf.get(..n).unwrap_or_default();
        let mut at = 0usize;
        while let Some(record) = filled.get(at..) {
            let Some(&[lo, hi]) = record.get(16..18) else {
                break;
            };
            let len = usize::from(u16::from_ne_bytes([lo, hi]));
            let Some(name_area) = record.get(NAME_AT..len) else {
                break; // a record shorter than its header: the buffer is not ours to trust
            };
            let name = name_area
                .iter()
                .position(|b| *b == 0)
                .and_then(|end| name_area.get(..end))
                .unwrap_or(name_area);
            each(name);
            at += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::read::is_gone;
    use std::os::unix::ffi::OsStrExt;

    /// A directory listing longer than one getdents64 buffer comes back whole: every name
    /// once, including odd bytes, with `.` and `..`.
    #[test]
    fn listing_spans_several_reads() {
        let tmp = tempfile::tempdir().unwrap();
        let mut want = std::collections::BTreeSet::new();
        for i in 0..1500 {
            let name = format!("{i:04}-{}", "n".repeat(40));
            std::fs::write(tmp.path().join(&name), b"").unwrap();
            want.insert(name.into_bytes());
        }
        let odd = b"new\nline\xff".to_vec();
        std::fs::write(tmp.path().join(std::ffi::OsStr::from_bytes(&odd)), b"").unwrap();
        want.insert(odd);
        want.insert(b".".to_vec());
        want.insert(b"..".to_vec());
        let dir = File::open(tmp.path()).unwrap();
        let mut got = Vec::new();
        list_names(&dir, |n| got.push(n.to_vec())).unwrap();
        assert!(
            want.len() * 50 > DIRENT_BUF,
            "the listing needs several reads"
        );
        assert_eq!(got.len(), want.len(), "each name once");
        assert_eq!(
            got.into_iter().collect::<std::collections::BTreeSet<_>>(),
            want
        );
    }

    /// A process directory opened once reads its files (capped), links, namespaces and sorted
    /// descriptor table.
    #[test]
    fn reads_files_links_and_descriptors_relative_to_the_directory() {
        let me = PidDir::open(PathBuf::from(format!("/proc/{}", std::process::id()))).unwrap();
        let stat = me.read_small("stat").unwrap();
        assert!(stat.starts_with(std::process::id().to_string().as_bytes()));
        let (cut, truncated) = me.read_capped("stat", 3).unwrap();
        assert_eq!((cut.len(), truncated), (3, true));
        assert_eq!(
            me.readlink("exe").unwrap(),
            std::env::current_exe().unwrap().into_os_string().into_vec()
        );
        assert!(me.readlink("ns/net").unwrap().starts_with(b"net:["));
        let ns = me.subdir("ns").unwrap();
        assert_eq!(ns.path(), me.path().join("ns"));
        assert_eq!(ns.readlink("net").unwrap(), me.readlink("ns/net").unwrap());

        let f = tempfile::NamedTempFile::new().unwrap();
        let want = f.path().as_os_str().as_encoded_bytes().to_vec();
        let fd = f.as_file().as_raw_fd() as u32;
        let table = me.fd_table().unwrap();
        assert!(table.windows(2).all(|w| w[0].fd < w[1].fd), "sorted");
        let entry = table.iter().find(|e| e.fd == fd).unwrap();
        assert_eq!(entry.target.as_deref(), Some(want.as_slice()));
    }

    /// A missing file, link, fd directory or process directory reads as gone.
    #[test]
    fn a_missing_file_or_directory_reads_as_gone() {
        let tmp = tempfile::tempdir().unwrap();
        let d = PidDir::open(tmp.path().to_path_buf()).unwrap();
        assert!(is_gone(&d.read_small("stat").unwrap_err()));
        assert!(is_gone(&d.readlink("exe").unwrap_err()));
        assert!(is_gone(&d.fd_table().unwrap_err()));
        assert!(is_gone(&PidDir::open(tmp.path().join("nope")).unwrap_err()));
    }

    /// [fault] The directory stays bound to its process: once that exits, reads fail as gone.
    #[test]
    fn reads_after_the_process_exits_fail_as_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let d = PidDir::open(PathBuf::from(format!("/proc/{}", child.id()))).unwrap();
        assert!(d.read_small("stat").is_ok());
        child.kill().unwrap();
        child.wait().unwrap();
        let e = d.read_small("stat").unwrap_err();
        assert!(is_gone(&e), "{e}");
    }
}
