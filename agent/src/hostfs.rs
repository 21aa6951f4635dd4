//! Reading host files below a root (`/`, a mounted image, a test tree) without hanging,
//! following links out of the root, or trusting a path twice.
//!
//! Files are opened with `O_NONBLOCK | O_NOFOLLOW | O_NOCTTY` and checked with `fstat` to be
//! regular files, so a FIFO or device swapped in after listing cannot block a read. Symbolic
//! links are resolved component by component inside the root, as the kernel would inside a
//! chroot, with a hop limit that turns loops into an error.

use crate::tar::Timestamp;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Symbolic links followed while resolving one path before it counts as a loop (as Linux's
/// `MAXSYMLINKS`).
pub const MAX_LINK_HOPS: u32 = 40;

/// The type of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Named pipe.
    Fifo,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Unix socket.
    Socket,
}

impl Kind {
    /// From metadata.
    pub fn of(meta: &Metadata) -> Self {
        let ft = meta.file_type();
        if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_fifo() {
            Kind::Fifo
        } else if ft.is_char_device() {
            Kind::CharDevice
        } else if ft.is_block_device() {
            Kind::BlockDevice
        } else if ft.is_socket() {
            Kind::Socket
        } else {
            Kind::File
        }
    }

    /// Name used in records.
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Symlink => "symlink",
            Kind::Fifo => "fifo",
            Kind::CharDevice => "char_device",
            Kind::BlockDevice => "block_device",
            Kind::Socket => "socket",
        }
    }
}

/// The inode facts a record and a tar header need.
#[derive(Debug, Clone)]
pub struct Stat {
    /// Entry type.
    pub kind: Kind,
    /// Size in bytes.
    pub size: u64,
    /// `st_mode`.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Modification time.
    pub mtime: Timestamp,
    /// Access time.
    pub atime: Timestamp,
    /// Status-change time.
    pub ctime: Timestamp,
    /// Birth time, when the filesystem records it (statx).
    pub btime: Option<Timestamp>,
}

fn nanos(n: i64) -> u32 {
    u32::try_from(n.clamp(0, 999_999_999)).unwrap_or(0)
}

impl Stat {
    /// From metadata (`std` fills it with statx on Linux, which gives the birth time).
    pub fn of(meta: &Metadata) -> Self {
        let btime = meta.created().ok().and_then(|t| {
            let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
            Some(Timestamp {
                secs: i64::try_from(d.as_secs()).ok()?,
                nanos: d.subsec_nanos(),
            })
        });
        Self {
            kind: Kind::of(meta),
            size: meta.size(),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: Timestamp {
                secs: meta.mtime(),
                nanos: nanos(meta.mtime_nsec()),
            },
            atime: Timestamp {
                secs: meta.atime(),
                nanos: nanos(meta.atime_nsec()),
            },
            ctime: Timestamp {
                secs: meta.ctime(),
                nanos: nanos(meta.ctime_nsec()),
            },
            btime,
        }
    }

    /// The entry itself (a link is not followed).
    pub fn lstat(path: &Path) -> io::Result<Self> {
        std::fs::symlink_metadata(path).map(|m| Self::of(&m))
    }
}

/// Opens a regular file for reading: never follows a final symlink, never blocks on a FIFO,
/// never acquires a controlling terminal; anything but a regular file is refused
/// (`ErrorKind::InvalidInput`) after open, before any read.
pub fn open_regular(path: &Path) -> io::Result<(File, Stat)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)?;
    let stat = Stat::of(&file.metadata()?);
    if stat.kind != Kind::File {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file but a {}", stat.kind.name()),
        ));
    }
    Ok((file, stat))
}

/// Reads at most `cap` bytes of a regular file (see [`open_regular`]); the flag says whether
/// more was left.
pub fn read_regular(path: &Path, cap: u64) -> io::Result<(Vec<u8>, bool)> {
    let (file, _) = open_regular(path)?;
    let mut buf = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut buf)?;
    let truncated = buf.len() as u64 > cap;
    if truncated {
        buf.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    }
    Ok((buf, truncated))
}

/// Joins a path as seen from the root (`/var/log`) onto the root.
pub fn under(root: &Path, shown: &[u8]) -> PathBuf {
    let rel = shown.strip_prefix(b"/").unwrap_or(shown);
    if rel.is_empty() {
        return root.to_path_buf();
    }
    root.join(std::ffi::OsStr::from_bytes(rel))
}

/// Why a path could not be resolved.
#[derive(Debug)]
pub enum ResolveError {
    /// More than [`MAX_LINK_HOPS`] links: a loop.
    Loop,
    /// A component is missing or unreadable.
    Io(io::Error),
}

/// Resolves `shown` (a path as seen from the root) to the path it names as seen from the
/// root, following every symlink inside the root: absolute link targets restart at the root,
/// `..` never climbs above it.
pub fn resolve_in_root(root: &Path, shown: &[u8]) -> Result<Vec<u8>, ResolveError> {
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut todo: std::collections::VecDeque<Vec<u8>> = components(shown).collect();
    let mut hops = 0u32;
    while let Some(c) = todo.pop_front() {
        if c == b"." {
            continue;
        }
        if c == b".." {
            done.pop();
            continue;
        }
        done.push(c);
        let real = under(root, &join(&done));
        let meta = std::fs::symlink_metadata(&real).map_err(ResolveError::Io)?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Err(ResolveError::Loop);
            }
            let target = std::fs::read_link(&real)
                .map_err(ResolveError::Io)?
                .into_os_string()
                .into_vec();
            done.pop();
            if target.starts_with(b"/") {
                done.clear();
            }
            for (i, t) in components(&target).enumerate() {
                todo.insert(i, t);
            }
        }
    }
    Ok(join(&done))
}

fn components(path: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
}

fn join(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Home directories as seen from the root: each passwd entry's home, `/root`, and every
/// directory under `/home`; sorted, without duplicates.
pub fn home_dirs(root: &Path) -> Vec<Vec<u8>> {
    let mut homes: Vec<Vec<u8>> = vec![b"/root".to_vec()];
    if let Ok((passwd, _)) = read_regular(&under(root, b"/etc/passwd"), 16 << 20) {
        for line in passwd.split(|b| *b == b'\n') {
            if let Some(home) = line.split(|b| *b == b':').nth(5) {
                if home.starts_with(b"/") && home.len() > 1 {
                    homes.push(home.strip_suffix(b"/").unwrap_or(home).to_vec());
                }
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(under(root, b"/home")) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let mut p = b"/home/".to_vec();
                p.extend_from_slice(e.file_name().as_bytes());
                homes.push(p);
            }
        }
    }
    homes.sort();
    homes.dedup();
    homes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// [security] Absolute and `..`-climbing symbolic links resolve inside the mounted root, a link
    /// loop is refused, a missing file is an I/O error.
    #[test]
    fn resolves_links_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::fs::create_dir_all(root.join("var")).unwrap();
        std::fs::write(root.join("run/utmp"), b"x").unwrap();
        symlink("/run", root.join("var/run")).unwrap();
        symlink("../../../../run", root.join("var/up")).unwrap();
        symlink("a", root.join("b")).unwrap();
        symlink("b", root.join("a")).unwrap();
        assert_eq!(
            resolve_in_root(root, b"/var/run/utmp").unwrap(),
            b"/run/utmp"
        );
        assert_eq!(
            resolve_in_root(root, b"/var/up/utmp").unwrap(),
            b"/run/utmp"
        );
        assert!(matches!(
            resolve_in_root(root, b"/a"),
            Err(ResolveError::Loop)
        ));
        assert!(matches!(
            resolve_in_root(root, b"/nope"),
            Err(ResolveError::Io(_))
        ));
    }

    /// [hostile] Opening a FIFO, or a symbolic link to one, is refused at once instead of blocking.
    #[test]
    fn open_regular_refuses_fifo_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = open_regular(&fifo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        symlink("fifo", tmp.path().join("link")).unwrap();
        let err = open_regular(&tmp.path().join("link")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
    }

    /// Home directories come from passwd and /home, sorted, trailing slashes trimmed and `/` left
    /// out.
    #[test]
    fn homes_from_passwd_and_home() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("home/bob")).unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0::/root:/bin/bash\nsvc:x:5:5::/srv/svc/:/bin/sh\nbin:x:1:1::/:/bin/false\n",
        )
        .unwrap();
        let homes = home_dirs(root);
        assert_eq!(
            homes,
            vec![
                b"/home/bob".to_vec(),
                b"/root".to_vec(),
                b"/srv/svc".to_vec()
            ]
        );
    }
}
