//! The directory sink: `DIR/<host-id>/<collection-id>/`, each object written to a temporary
//! `.part` name, fsynced, then renamed into place.

use super::{
    check_relative_path, CollectionReader, CommitInfo, ObjectDigest, Sink, SinkError, SinkObject,
};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Suffix of objects still being written.
pub const PART_SUFFIX: &str = ".part";

/// Writes a collection under one directory.
#[derive(Debug)]
pub struct DirSink {
    root: PathBuf,
}

impl DirSink {
    /// Creates the collection root (which must not exist yet) and its parents.
    pub fn create_root(root: &Path) -> Result<Self, SinkError> {
        if let Some(parent) = root.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| SinkError::io(format!("creating {}", parent.display()), e))?;
        }
        fs::create_dir(root)
            .map_err(|e| SinkError::io(format!("creating {}", root.display()), e))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// The collection root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Sink for DirSink {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn create(&self, path: &str) -> Result<Box<dyn SinkObject>, SinkError> {
        check_relative_path(path)?;
        let final_path = self.root.join(path);
        if let Some(parent) = final_path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| SinkError::io(format!("creating {}", parent.display()), e))?;
        }
        let mut part = final_path.clone().into_os_string();
        part.push(PART_SUFFIX);
        let part_path = PathBuf::from(part);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&part_path)
            .map_err(|e| SinkError::io(format!("creating {}", part_path.display()), e))?;
        Ok(Box::new(DirObject {
            file: Some(file),
            part_path,
            final_path,
            written: 0,
            writeback_from: 0,
        }))
    }
}

/// Written bytes not yet handed to the kernel for write-back before it is started for them.
const WRITEBACK_STEP: u64 = 8 << 20;

struct DirObject {
    file: Option<File>,
    part_path: PathBuf,
    final_path: PathBuf,
    /// Bytes written so far.
    written: u64,
    /// Start of the bytes whose write-back has not been started yet.
    writeback_from: u64,
}

impl DirObject {
    /// Starts write-back of what was written since the last call once it reaches
    /// [`WRITEBACK_STEP`], so that the disk works while the collection goes on and the fsync
    /// at commit finds little left to write. Only a hint: the fsync at commit is what makes
    /// the object durable and reports write errors.
    fn start_writeback(&mut self) {
        let pending = self.written.saturating_sub(self.writeback_from);
        if pending < WRITEBACK_STEP {
            return;
        }
        let (Some(file), Ok(offset), Ok(len)) = (
            self.file.as_ref(),
            libc::off64_t::try_from(self.writeback_from),
            libc::off64_t::try_from(pending),
        ) else {
            return;
        };
        // SAFETY: sync_file_range takes a descriptor we own (open for the call) and plain
        // integers; it touches no memory of ours.
        let _ = unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
        };
        self.writeback_from = self.written;
    }
}

impl Write for DirObject {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.file.as_mut() {
            Some(f) => f.write(buf)?,
            None => return Err(io::Error::other("object already committed")),
        };
        self.written += n as u64;
        self.start_writeback();
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl SinkObject for DirObject {
    fn commit(mut self: Box<Self>, _digest: &ObjectDigest) -> Result<CommitInfo, SinkError> {
        let file = self
            .file
            .take()
            .ok_or_else(|| SinkError::Remote("object committed twice".into()))?;
        let ctx = |what: &str, p: &Path| format!("{what} {}", p.display());
        file.sync_all()
            .map_err(|e| SinkError::io(ctx("syncing", &self.part_path), e))?;
        drop(file);
        fs::rename(&self.part_path, &self.final_path)
            .map_err(|e| SinkError::io(ctx("renaming", &self.part_path), e))?;
        if let Some(dir) = self.final_path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| SinkError::io(ctx("syncing", dir), e))?;
        }
        Ok(CommitInfo::default())
    }
}

impl Drop for DirObject {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Never committed: the bytes are incomplete and must not look like an artifact.
            let _ = fs::remove_file(&self.part_path);
        }
    }
}

/// Reads a collection stored in a directory.
#[derive(Debug)]
pub struct DirReader {
    root: PathBuf,
}

impl DirReader {
    /// Opens a collection root.
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }
}

impl CollectionReader for DirReader {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, SinkError> {
        check_relative_path(path)?;
        let p = self.root.join(path);
        let context = || format!("opening {}", p.display());
        let not_regular = |what: &str| {
            SinkError::io(
                context(),
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not a regular file ({what})"),
                ),
            )
        };
        // A collection is untrusted input: a symlink must not stand in for an object, and
        // O_NONBLOCK keeps a planted FIFO from holding the open until a writer comes.
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&p)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => not_regular("a symbolic link"),
                _ => SinkError::io(context(), e),
            })?;
        // Only regular files: a device (an endless /dev/zero) or a FIFO is never an object.
        let kind = f
            .metadata()
            .map_err(|e| SinkError::io(context(), e))?
            .file_type();
        if !kind.is_file() {
            return Err(not_regular(if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_char_device() || kind.is_block_device() {
                "a device"
            } else if kind.is_dir() {
                "a directory"
            } else {
                "a special file"
            }));
        }
        Ok(Box::new(f))
    }

    fn list(&self) -> Result<Vec<String>, SinkError> {
        let mut out = Vec::new();
        let mut stack = vec![(self.root.clone(), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let entries = fs::read_dir(&dir)
                .map_err(|e| SinkError::io(format!("listing {}", dir.display()), e))?;
            for entry in entries {
                let entry =
                    entry.map_err(|e| SinkError::io(format!("listing {}", dir.display()), e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let rel = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}/{name}")
                };
                let ft = entry
                    .file_type()
                    .map_err(|e| SinkError::io(format!("inspecting {rel}"), e))?;
                if ft.is_dir() {
                    stack.push((entry.path(), rel));
                } else {
                    out.push(rel);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> ObjectDigest {
        ObjectDigest {
            raw_bytes: 0,
            raw_sha256: String::new(),
            stored_bytes: 0,
            stored_sha256: String::new(),
        }
    }

    /// A committed object is listed and readable; one dropped before commit leaves nothing.
    #[test]
    fn committed_objects_appear_and_dropped_ones_vanish() {
        let tmp = tempfile::tempdir().unwrap();
        let sink = DirSink::create_root(&tmp.path().join("host/coll")).unwrap();
        let mut a = sink.create("artifacts/a.bin").unwrap();
        a.write_all(b"hello").unwrap();
        a.commit(&digest()).unwrap();
        let mut b = sink.create("artifacts/b.bin").unwrap();
        b.write_all(b"partial").unwrap();
        drop(b);
        let reader = DirReader::new(sink.root());
        assert_eq!(reader.list().unwrap(), vec!["artifacts/a.bin".to_string()]);
        let mut s = String::new();
        reader
            .open("artifacts/a.bin")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
    }

    /// Uneven writes over several write-back steps store every byte.
    #[test]
    fn write_back_started_early_keeps_every_byte() {
        let tmp = tempfile::tempdir().unwrap();
        let sink = DirSink::create_root(&tmp.path().join("c")).unwrap();
        let data: Vec<u8> = (0..(3 * WRITEBACK_STEP + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut o = sink.create("artifacts/big.bin").unwrap();
        // Uneven writes, so write-back starts at offsets that are not step multiples.
        for chunk in data.chunks(1_000_003) {
            o.write_all(chunk).unwrap();
        }
        o.commit(&digest()).unwrap();
        assert_eq!(
            fs::read(sink.root().join("artifacts/big.bin")).unwrap(),
            data
        );
    }

    /// [security] Object paths escaping the collection directory (`..`, absolute) are refused and
    /// nothing is written outside.
    #[test]
    fn escaping_paths_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let sink = DirSink::create_root(&tmp.path().join("c")).unwrap();
        for bad in ["../escape", "/etc/x", "a/../../b"] {
            assert!(
                matches!(sink.create(bad), Err(SinkError::BadPath(_))),
                "{bad}"
            );
        }
        assert!(!tmp.path().join("escape").exists());
    }

    /// [hostile] The directory reader refuses a symbolic link, a FIFO and a directory, naming
    /// which.
    #[test]
    fn reader_refuses_what_is_not_a_regular_file() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("real"), b"bytes").unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        fs::create_dir(root.join("dir")).unwrap();
        let fifo = std::ffi::CString::new(root.join("fifo").into_os_string().into_encoded_bytes())
            .unwrap();
        // SAFETY: `fifo` is a valid NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let reader = DirReader::new(root);
        assert!(reader.open("real").is_ok());
        for (name, what) in [
            ("link", "a symbolic link"),
            ("fifo", "a FIFO"),
            ("dir", "a directory"),
        ] {
            let err = reader.open(name).err().unwrap().to_string();
            assert!(
                err.contains(&format!("not a regular file ({what})")),
                "{err}"
            );
        }
    }

    /// A collection directory that already exists is refused.
    #[test]
    fn existing_root_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(DirSink::create_root(tmp.path()).is_err());
    }
}
