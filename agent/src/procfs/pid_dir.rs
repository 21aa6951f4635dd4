//! An open `/proc/PID` directory. Files below it are opened relative to it: one path walk per
//! process instead of one per file (a collection reads a dozen files of every process), and
//! every read lands on the process the directory was opened for: if it exits, reads fail as
//! "gone" even once its pid is reused.

use std::ffi::CStr;
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
        let mut dir = nix::dir::Dir::openat(
            Some(self.dir.as_raw_fd()),
            "fd",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io::Error::from)?;
        let dir_fd = dir.as_raw_fd();
        let mut table = Vec::new();
        for entry in dir.iter() {
            let entry = match entry {
                Ok(e) => e,
                // A listing cut short (the process exited) keeps what was read.
                Err(_) if !table.is_empty() => break,
                Err(e) => return Err(io::Error::from(e)),
            };
            let name: &CStr = entry.file_name();
            let Some(fd) = name.to_str().ok().and_then(|n| n.parse::<u32>().ok()) else {
                continue; // "." and ".."
            };
            let target = match nix::fcntl::readlinkat(Some(dir_fd), name) {
                Ok(t) => Some(t.into_vec()),
                Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ESRCH) => continue,
                Err(_) => None,
            };
            table.push(FdEntry { fd, target });
        }
        table.sort_unstable_by_key(|e| e.fd);
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::read::is_gone;

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
