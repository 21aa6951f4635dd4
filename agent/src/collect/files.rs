//! `files`: a group of host files, archived as one pax tar (`artifacts/<name>.tar.zst`, listed
//! as `<name>.tar`) with one index record per path met (`artifacts/<name>.jsonl.zst`).
//!
//! Every file is captured up to its size when opened (and the caps); one that grows, shrinks
//! or changes while read is flagged. FIFOs, devices and sockets are indexed, never opened.
//! Symbolic links are indexed with their target; followed only when the spec says so (or when
//! a pattern names them as a directory, e.g. `/var/run/…`), always inside the root, with loops
//! detected.

use super::{CollectError, Context, Output, Stream};
use crate::glob::{Component, Pattern};
use crate::hostfs::{self, Kind, ResolveError, Stat};
use crate::manifest::Status;
use crate::procfs::text::lossy;
use crate::tar::{Member, TarWriter, Timestamp};
use collector_spec::{FilePattern, FilesOptions};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Read size per chunk: a 2 MiB zstd job's worth, and a hash helper thread (see
/// `hash_beside`) per 2 MiB. 1 MiB chunks measured about 3% slower on 1 GB of logs; 4 MiB ones
/// no faster than 2 MiB, for more memory.
const CHUNK: usize = 2 << 20;

/// Paths holding password hashes, collected only with `include_shadow`.
const SHADOW_PATHS: &[&[u8]] = &[
    b"/etc/shadow",
    b"/etc/shadow-",
    b"/etc/gshadow",
    b"/etc/gshadow-",
];

/// One index record: a path met while walking and what became of it.
#[derive(Debug, Serialize)]
pub struct FileRecord {
    /// Path as seen from the root (lossy when not UTF-8).
    pub path: String,
    /// Exact path bytes in hex, when not UTF-8.
    pub path_hex: Option<String>,
    /// Member name inside the tar (the path without its leading `/`), when archived.
    pub member: Option<String>,
    /// `file`, `directory`, `symlink`, `fifo`, `char_device`, `block_device`, `socket`.
    pub file_type: Option<&'static str>,
    /// Size when opened (or listed).
    pub size: Option<u64>,
    /// Bytes stored in the tar.
    pub stored_bytes: Option<u64>,
    /// Permission bits in octal, e.g. `"0644"`.
    pub mode: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub inode: Option<u64>,
    pub device: Option<u64>,
    pub mtime: Option<String>,
    pub atime: Option<String>,
    pub ctime: Option<String>,
    /// Birth time, when the filesystem records it.
    pub btime: Option<String>,
    /// SHA-256 of the stored bytes.
    pub sha256: Option<String>,
    /// When this inode was already archived under another path (a hard link, or a path
    /// reached through a directory link such as `/lib` → `/usr/lib`): that path. `member`,
    /// `sha256` and `status` are the first copy's; nothing is stored twice.
    pub same_file_as: Option<String>,
    /// Target text of a symbolic link.
    pub link_target: Option<String>,
    pub link_target_hex: Option<String>,
    /// `ok`, `truncated_at_cap`, `changed_while_read`, `read_error`, `stopped_while_read`,
    /// `skipped_fifo`,
    /// `skipped_device`, `skipped_socket`, `skipped_loop`, `skipped_permission`,
    /// `skipped_total_cap`, `skipped_depth`, `vanished`, `error`.
    pub status: &'static str,
    /// Details when the status is not `ok`.
    pub error: Option<String>,
}

impl FileRecord {
    fn new(shown: &[u8], status: &'static str) -> Self {
        let (path, path_hex) = lossy(shown);
        Self {
            path,
            path_hex,
            member: None,
            file_type: None,
            size: None,
            stored_bytes: None,
            mode: None,
            uid: None,
            gid: None,
            inode: None,
            device: None,
            mtime: None,
            atime: None,
            ctime: None,
            btime: None,
            sha256: None,
            same_file_as: None,
            link_target: None,
            link_target_hex: None,
            status,
            error: None,
        }
    }

    fn with_stat(mut self, st: &Stat) -> Self {
        let t = |t: Timestamp| crate::timefmt::rfc3339(t.secs, t.nanos);
        self.file_type = Some(st.kind.name());
        self.size = Some(st.size);
        self.mode = Some(format!("{:04o}", st.mode & 0o7777));
        self.uid = Some(st.uid);
        self.gid = Some(st.gid);
        self.inode = Some(st.ino);
        self.device = Some(st.dev);
        self.mtime = t(st.mtime);
        self.atime = t(st.atime);
        self.ctime = t(st.ctime);
        self.btime = st.btime.and_then(t);
        self
    }
}

/// A path being walked: as seen from the root, and where it really is.
#[derive(Debug, Clone)]
struct Node {
    shown: Vec<u8>,
    real: PathBuf,
}

impl Node {
    fn child(&self, name: &[u8]) -> Node {
        let mut shown = self.shown.clone();
        if shown.last() != Some(&b'/') {
            shown.push(b'/');
        }
        shown.extend_from_slice(name);
        Node {
            shown,
            real: self.real.join(std::ffi::OsStr::from_bytes(name)),
        }
    }
}

/// What a node turned out to be.
enum Found {
    /// A directory to enter (through a link when following), with its identity.
    Dir(Node, (u64, u64)),
    /// A regular file at `Node.real`.
    File(Node, Stat),
    /// A link not followed.
    Link(Stat, Vec<u8>),
    /// A FIFO, device or socket.
    Special(Stat),
    /// A link loop.
    Loop(String),
    /// Nothing there.
    Missing,
    /// Could not look.
    Failed(io::Error),
}

/// What the index says of an inode's first archived copy.
struct FirstCopy {
    path: String,
    member: String,
    sha256: String,
    status: &'static str,
}

struct Walker<'a> {
    root: PathBuf,
    opts: &'a FilesOptions,
    excludes: Vec<Pattern>,
    tar: TarWriter<Stream>,
    recorded: HashSet<Vec<u8>>,
    /// Inodes already archived: (device, inode) → the first copy's record facts.
    archived: HashMap<(u64, u64), FirstCopy>,
    total: u64,
    total_cap_warned: bool,
    buf: Vec<u8>,
    /// The file whose member the archive ends inside, after a stop mid-file.
    unfinished: Option<Vec<u8>>,
}

/// On a stop mid-file, up to this many missing bytes are zero-filled to keep the archive
/// well-formed; beyond it the archive is left ending inside the member.
const FILL_ON_STOP_MAX: u64 = 4 << 20;

/// Runs the collector.
pub fn collect(ctx: &Context, opts: &FilesOptions, out: &mut Output) -> Result<(), CollectError> {
    let root = ctx.root_for(opts.root.as_deref());
    if !root.is_dir() {
        return Err(CollectError::Failed(format!(
            "root {} is not a directory",
            root.display()
        )));
    }
    let homes = hostfs::home_dirs(&root);
    let patterns = expand(&opts.patterns, &homes);
    let excludes = expand(&opts.exclude, &homes);
    let name = out.artifact().to_owned();
    let stream = out.open_stream(
        &format!("{name}.tar"),
        &format!("artifacts/{name}.tar.zst"),
        opts.zstd_workers,
    )?;
    let mut w = Walker {
        root: root.clone(),
        opts,
        excludes,
        tar: TarWriter::new(stream),
        recorded: HashSet::new(),
        archived: HashMap::new(),
        total: 0,
        total_cap_warned: false,
        buf: vec![0u8; CHUNK],
        unfinished: None,
    };
    let mut result = Ok(());
    for pattern in &patterns {
        let start = Node {
            shown: b"/".to_vec(),
            real: root.clone(),
        };
        let mut ancestors = Vec::new();
        result = w.walk(out, &start, &pattern.components, 0, false, &mut ancestors);
        if result.is_err() {
            break;
        }
    }
    if opts.ssh_includes && result.is_ok() {
        result = w.ssh_includes(out, &homes);
    }
    // A stop says why (the artifact's timeout, the run's deadline, a signal).
    let why = match &result {
        Ok(()) => String::new(),
        Err(CollectError::Cancelled) => out.stop_reason(),
        Err(e) => e.to_string(),
    };
    let (status, error) = match (&result, &w.unfinished) {
        (Ok(()), _) => (Status::Ok, None),
        (Err(_), None) => (Status::Partial, Some(format!("archive incomplete: {why}"))),
        (Err(_), Some(path)) => (
            Status::Partial,
            Some(format!(
                "archive incomplete: {why}; it ends inside the member of {}",
                String::from_utf8_lossy(path)
            )),
        ),
    };
    let stream = if w.unfinished.is_some() {
        w.tar.into_inner_unfinished()
    } else {
        w.tar
            .finish()
            .map_err(|e| CollectError::Failed(format!("finishing the archive: {e}")))?
    };
    stream.finish(status, error)?;
    result
}

/// Brace-expands patterns and replaces a leading `~/` with every home directory.
fn expand(patterns: &[FilePattern], homes: &[Vec<u8>]) -> Vec<Pattern> {
    let mut out = Vec::new();
    for p in patterns {
        for text in p.expand() {
            if let Some(rest) = text.strip_prefix("~/") {
                for home in homes {
                    let mut full = home.clone();
                    full.push(b'/');
                    full.extend_from_slice(rest.as_bytes());
                    out.push(Pattern::parse(&full));
                }
            } else {
                out.push(Pattern::parse(text.as_bytes()));
            }
        }
    }
    out
}

fn components_of(shown: &[u8]) -> Vec<&[u8]> {
    shown
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty())
        .collect()
}

impl Walker<'_> {
    /// Takes the files OpenSSH's system configuration and each user's `~/.ssh/config`
    /// include (each once, as patterns do).
    fn ssh_includes(&mut self, out: &mut Output, homes: &[Vec<u8>]) -> Result<(), CollectError> {
        let mut found = crate::ssh_config::follow(
            &self.root,
            &[b"/etc/ssh/sshd_config", b"/etc/ssh/ssh_config"],
        );
        crate::ssh_config::follow_users(&self.root, homes, &mut found);
        for note in found.notes {
            out.warn(note);
        }
        for path in found.files {
            let components: Vec<Component> = components_of(&path)
                .into_iter()
                .map(|c| Component::Literal(c.to_vec()))
                .collect();
            let start = Node {
                shown: b"/".to_vec(),
                real: self.root.clone(),
            };
            self.walk(out, &start, &components, 0, false, &mut Vec::new())?;
        }
        Ok(())
    }

    fn excluded(&self, shown: &[u8]) -> bool {
        if !self.opts.include_shadow && SHADOW_PATHS.contains(&shown) {
            return true;
        }
        let comps = components_of(shown);
        self.excludes.iter().any(|p| p.matches_path(&comps))
    }

    /// Walks `node` against the pattern components still to match.
    fn walk(
        &mut self,
        out: &mut Output,
        node: &Node,
        rest: &[Component],
        depth: u32,
        entered: bool,
        ancestors: &mut Vec<(u64, u64)>,
    ) -> Result<(), CollectError> {
        out.check_cancel()?;
        let Some((first, tail)) = rest.split_first() else {
            return self.visit(out, node, depth, entered, ancestors);
        };
        match first {
            Component::AnyDirs => {
                if tail.is_empty() {
                    return self.visit(out, node, depth, entered, ancestors);
                }
                self.walk(out, node, tail, depth, entered, ancestors)?;
                for child in self.children(out, node) {
                    self.step(out, &child, rest, false, depth + 1, ancestors)?;
                }
            }
            Component::Literal(name) => {
                let child = node.child(name);
                self.step(out, &child, tail, true, depth + 1, ancestors)?;
            }
            Component::Wild(_) => {
                for child in self.children(out, node) {
                    let name = child
                        .shown
                        .rsplit(|b| *b == b'/')
                        .next()
                        .unwrap_or_default();
                    if first.matches(name) {
                        self.step(out, &child, tail, false, depth + 1, ancestors)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Continues below `child` when more components remain (only through directories), else
    /// visits it. A trailing `**` stands for zero or more components, so `X/**` also takes `X`
    /// itself when it is not a directory: `/etc/cron*/**` collects `/etc/cron.allow` as well
    /// as everything under `/etc/cron.d`.
    fn step(
        &mut self,
        out: &mut Output,
        child: &Node,
        rest: &[Component],
        named: bool,
        depth: u32,
        ancestors: &mut Vec<(u64, u64)>,
    ) -> Result<(), CollectError> {
        if rest.is_empty() {
            return self.visit(out, child, depth, false, ancestors);
        }
        if self.excluded(&child.shown) || depth > self.opts.max_depth {
            return Ok(());
        }
        // A directory the pattern names literally is entered even through a link.
        match self.find(child, named || self.opts.follow_symlinks, ancestors) {
            Found::Dir(dir, id) => {
                ancestors.push(id);
                let res = self.walk(out, &dir, rest, depth, true, ancestors);
                ancestors.pop();
                res
            }
            Found::Loop(why) if self.opts.follow_symlinks => {
                let rec = FileRecord {
                    error: Some(why),
                    ..FileRecord::new(&child.shown, "skipped_loop")
                };
                self.record_once(out, &child.shown, rec)
            }
            Found::Missing => Ok(()),
            _ if matches!(rest, [Component::AnyDirs]) => {
                self.visit(out, child, depth, false, ancestors)
            }
            _ => Ok(()),
        }
    }

    /// Sorted entries of a directory; an unreadable one is indexed and yields nothing.
    fn children(&mut self, out: &mut Output, node: &Node) -> Vec<Node> {
        match std::fs::read_dir(&node.real) {
            Ok(rd) => {
                let mut names: Vec<Vec<u8>> = rd
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().as_bytes().to_vec())
                    .collect();
                names.sort();
                names.iter().map(|n| node.child(n)).collect()
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound && e.raw_os_error() != Some(libc::ENOTDIR) {
                    let status = permission_or(&e, "error");
                    let mut rec = FileRecord::new(&node.shown, status);
                    rec.file_type = Some(Kind::Dir.name());
                    rec.error = Some(format!("cannot list: {e}"));
                    out.warn(format!(
                        "{}: cannot list: {e}",
                        String::from_utf8_lossy(&node.shown)
                    ));
                    let _ = self.record_once(out, &node.shown.clone(), rec);
                }
                Vec::new()
            }
        }
    }

    /// What `node` is; links are resolved inside the root when `follow` is set.
    fn find(&self, node: &Node, follow: bool, ancestors: &[(u64, u64)]) -> Found {
        let st = match Stat::lstat(&node.real) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Found::Missing,
            Err(e) => return Found::Failed(e),
        };
        let (node, st) = if st.kind == Kind::Symlink {
            let target = std::fs::read_link(&node.real)
                .map(|t| t.as_os_str().as_bytes().to_vec())
                .unwrap_or_default();
            if !follow {
                return Found::Link(st, target);
            }
            let resolved = match hostfs::resolve_in_root(&self.root, &node.shown) {
                Ok(r) => r,
                Err(ResolveError::Loop) => {
                    return Found::Loop(format!(
                        "more than {} symbolic links while resolving",
                        hostfs::MAX_LINK_HOPS
                    ))
                }
                Err(ResolveError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                    // A dangling link: index the link itself.
                    return Found::Link(st, target);
                }
                Err(ResolveError::Io(e)) => return Found::Failed(e),
            };
            let real = hostfs::under(&self.root, &resolved);
            match Stat::lstat(&real) {
                Ok(t) => (
                    Node {
                        shown: node.shown.clone(),
                        real,
                    },
                    t,
                ),
                Err(e) => return Found::Failed(e),
            }
        } else {
            (node.clone(), st)
        };
        match st.kind {
            Kind::Dir => {
                let id = (st.dev, st.ino);
                if ancestors.contains(&id) {
                    Found::Loop("a link leads back to a directory above it".into())
                } else {
                    Found::Dir(node, id)
                }
            }
            Kind::File => Found::File(node, st),
            Kind::Symlink => Found::Link(st, Vec::new()),
            _ => Found::Special(st),
        }
    }

    /// Indexes (and archives) `node` and, for a directory, everything below it. `entered`:
    /// the caller already put this directory on the ancestor stack.
    fn visit(
        &mut self,
        out: &mut Output,
        node: &Node,
        depth: u32,
        entered: bool,
        ancestors: &mut Vec<(u64, u64)>,
    ) -> Result<(), CollectError> {
        out.check_cancel()?;
        if self.excluded(&node.shown) {
            return Ok(());
        }
        let stack: &[(u64, u64)] = if entered {
            ancestors.split_last().map_or(&[], |(_, rest)| rest)
        } else {
            ancestors
        };
        match self.find(node, self.opts.follow_symlinks, stack) {
            Found::Missing => Ok(()),
            Found::Dir(dir, id) => {
                if depth > self.opts.max_depth {
                    let mut rec = FileRecord::new(&node.shown, "skipped_depth");
                    rec.file_type = Some(Kind::Dir.name());
                    rec.error = Some(format!("deeper than max_depth {}", self.opts.max_depth));
                    return self.record_once(out, &node.shown, rec);
                }
                if !entered {
                    ancestors.push(id);
                }
                let mut res = Ok(());
                for child in self.children(out, &dir) {
                    res = self.visit(out, &child, depth + 1, false, ancestors);
                    if res.is_err() {
                        break;
                    }
                }
                if !entered {
                    ancestors.pop();
                }
                res
            }
            Found::File(file, st) => self.archive(out, &file, st),
            Found::Link(st, target) => {
                let mut rec = FileRecord::new(&node.shown, "ok").with_stat(&st);
                let (t, t_hex) = lossy(&target);
                rec.link_target = Some(t);
                rec.link_target_hex = t_hex;
                self.record_once(out, &node.shown, rec)
            }
            Found::Special(st) => {
                let status = match st.kind {
                    Kind::Fifo => "skipped_fifo",
                    Kind::Socket => "skipped_socket",
                    _ => "skipped_device",
                };
                let rec = FileRecord::new(&node.shown, status).with_stat(&st);
                self.record_once(out, &node.shown, rec)
            }
            Found::Loop(why) => {
                let rec = FileRecord {
                    error: Some(why),
                    ..FileRecord::new(&node.shown, "skipped_loop")
                };
                self.record_once(out, &node.shown, rec)
            }
            Found::Failed(e) => {
                let status = permission_or(&e, "error");
                out.warn(format!("{}: {e}", String::from_utf8_lossy(&node.shown)));
                let rec = FileRecord {
                    error: Some(e.to_string()),
                    ..FileRecord::new(&node.shown, status)
                };
                self.record_once(out, &node.shown, rec)
            }
        }
    }

    fn record_once(
        &mut self,
        out: &mut Output,
        shown: &[u8],
        rec: FileRecord,
    ) -> Result<(), CollectError> {
        if self.recorded.insert(shown.to_vec()) {
            out.record(&rec)?;
        }
        Ok(())
    }

    /// Stores one regular file in the tar and indexes it.
    fn archive(&mut self, out: &mut Output, node: &Node, listed: Stat) -> Result<(), CollectError> {
        if self.recorded.contains(&node.shown) {
            return Ok(());
        }
        if let Some(first) = self.archived.get(&(listed.dev, listed.ino)) {
            let rec = FileRecord {
                member: Some(first.member.clone()),
                stored_bytes: Some(0),
                sha256: Some(first.sha256.clone()),
                same_file_as: Some(first.path.clone()),
                ..FileRecord::new(&node.shown, first.status).with_stat(&listed)
            };
            return self.record_once(out, &node.shown, rec);
        }
        let (file, st) = match hostfs::open_regular(&node.real) {
            Ok(f) => f,
            Err(e) => {
                let status = match e.raw_os_error() {
                    Some(libc::ENOENT) => "vanished",
                    Some(libc::ELOOP) | Some(libc::ENXIO) => "changed_while_read",
                    _ if e.kind() == io::ErrorKind::InvalidInput => "changed_while_read",
                    _ => permission_or(&e, "error"),
                };
                if status != "vanished" && status != "changed_while_read" {
                    out.warn(format!("{}: {e}", String::from_utf8_lossy(&node.shown)));
                }
                let rec = FileRecord {
                    error: Some(format!("open: {e}")),
                    ..FileRecord::new(&node.shown, status).with_stat(&listed)
                };
                return self.record_once(out, &node.shown, rec);
            }
        };
        let want = st.size.min(self.opts.max_file_size.0);
        let left = self.opts.max_total_size.0.saturating_sub(self.total);
        if want > left {
            if !self.total_cap_warned {
                self.total_cap_warned = true;
                out.warn(format!(
                    "max_total_size {} reached: later files are indexed, not stored",
                    self.opts.max_total_size
                ));
            }
            let rec = FileRecord {
                error: Some(format!(
                    "max_total_size {} reached",
                    self.opts.max_total_size
                )),
                ..FileRecord::new(&node.shown, "skipped_total_cap").with_stat(&st)
            };
            return self.record_once(out, &node.shown, rec);
        }
        let member_name = node
            .shown
            .strip_prefix(b"/")
            .unwrap_or(&node.shown)
            .to_vec();
        let member = Member {
            name: &member_name,
            size: want,
            mode: st.mode,
            uid: st.uid,
            gid: st.gid,
            mtime: st.mtime,
            atime: Some(st.atime),
            ctime: Some(st.ctime),
            btime: st.btime,
        };
        if let Err(e) = self.tar.start_file(&member) {
            if e.kind() == io::ErrorKind::InvalidInput {
                let rec = FileRecord {
                    error: Some(format!("not archived: {e}")),
                    ..FileRecord::new(&node.shown, "error").with_stat(&st)
                };
                return self.record_once(out, &node.shown, rec);
            }
            return Err(CollectError::Failed(format!("writing the archive: {e}")));
        }
        self.total += want;
        let copied = self.copy(out, file, want);
        let (hash, read_problem) = match copied {
            Ok(x) => x,
            Err(e) => {
                let stored = want.saturating_sub(self.tar.owed());
                // Keep the archive well-formed for what was already stored when that is cheap;
                // a stop inside a large file must not spend minutes writing zeros.
                let rest = if self.tar.owed() <= FILL_ON_STOP_MAX && self.tar.fill_zeros().is_ok() {
                    "the rest of its member is zeros"
                } else {
                    self.unfinished = Some(node.shown.clone());
                    "the archive ends inside its member"
                };
                // The index names the file the stop cut short (no hash: it was not read whole).
                if matches!(e, CollectError::Cancelled) && self.recorded.insert(node.shown.clone())
                {
                    let rec = FileRecord {
                        member: Some(String::from_utf8_lossy(&member_name).into_owned()),
                        stored_bytes: Some(stored),
                        error: Some(format!(
                            "{}: {stored} of {want} bytes stored; {rest}",
                            out.stop_reason()
                        )),
                        ..FileRecord::new(&node.shown, "stopped_while_read").with_stat(&st)
                    };
                    let _ = out.record_at_stop(&rec);
                }
                return Err(e);
            }
        };
        let mut status = "ok";
        let mut error = None;
        if let Some(problem) = read_problem {
            status = problem.0;
            error = Some(problem.1);
        } else if let Some(change) = changed_since_open(&node.real, &st) {
            status = "changed_while_read";
            error = Some(change);
        } else if want < st.size {
            status = "truncated_at_cap";
            error = Some(format!(
                "stored the first {} of {} bytes (max_file_size)",
                want, st.size
            ));
        }
        if status == "read_error" {
            out.warn(format!(
                "{}: {}",
                String::from_utf8_lossy(&node.shown),
                error.as_deref().unwrap_or_default()
            ));
        }
        let rec = FileRecord {
            member: Some(String::from_utf8_lossy(&member_name).into_owned()),
            stored_bytes: Some(want),
            sha256: Some(hash),
            error,
            ..FileRecord::new(&node.shown, status).with_stat(&st)
        };
        if let (Some(member), Some(sha256)) = (&rec.member, &rec.sha256) {
            self.archived.insert(
                (st.dev, st.ino),
                FirstCopy {
                    path: rec.path.clone(),
                    member: member.clone(),
                    sha256: sha256.clone(),
                    status,
                },
            );
        }
        self.record_once(out, &node.shown, rec)
    }

    /// Copies exactly `want` bytes of `file` into the current member (zeros for any the file
    /// no longer has); returns the stored bytes' SHA-256 and a read problem, if any.
    #[allow(clippy::type_complexity)]
    fn copy(
        &mut self,
        out: &mut Output,
        file: std::fs::File,
        want: u64,
    ) -> Result<(String, Option<(&'static str, String)>), CollectError> {
        let mut hasher = Sha256::new();
        let mut limited = file.take(want);
        let mut done: u64 = 0;
        let mut problem = None;
        let archive_err = |e: io::Error| CollectError::Failed(format!("writing the archive: {e}"));
        loop {
            out.check_cancel()?;
            let n = match limited.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    problem = Some(("read_error", format!("read failed after {done} bytes: {e}")));
                    break;
                }
            };
            let chunk = self.buf.get(..n).unwrap_or_default();
            let written;
            (hasher, written) = hash_beside(hasher, chunk, |c| self.tar.write_data(c));
            written.map_err(archive_err)?;
            done += n as u64;
        }
        if done < want {
            let missing = want - done;
            let zeros = [0u8; 64 * 1024];
            let mut left = missing;
            while left > 0 {
                let k = usize::try_from(left).unwrap_or(usize::MAX).min(zeros.len());
                let z = zeros.get(..k).unwrap_or_default();
                hasher.update(z);
                self.tar.write_data(z).map_err(archive_err)?;
                left -= k as u64;
            }
            problem.get_or_insert((
                "changed_while_read",
                format!(
                    "file shrank while read: {done} of {want} bytes read, the rest stored as zeros"
                ),
            ));
        }
        Ok((crate::pipeline::hex(&hasher.finalize()), problem))
    }
}

/// Smallest chunk whose SHA-256 is computed on a helper thread.
const PARALLEL_HASH_MIN: usize = 256 << 10;

/// Feeds `chunk` to `hasher` on a scoped helper thread while `write` stores it, so the file's
/// own hash and the archive's (pipeline) hash run side by side. Small chunks, or a failure to
/// start the thread, hash on this thread.
fn hash_beside<F>(mut hasher: Sha256, chunk: &[u8], write: F) -> (Sha256, io::Result<()>)
where
    F: FnOnce(&[u8]) -> io::Result<()>,
{
    if chunk.len() < PARALLEL_HASH_MIN {
        hasher.update(chunk);
        return (hasher, write(chunk));
    }
    std::thread::scope(|s| {
        let spare = hasher.clone();
        let helper = std::thread::Builder::new().spawn_scoped(s, move || {
            hasher.update(chunk);
            hasher
        });
        match helper {
            Ok(handle) => {
                let written = write(chunk);
                match handle.join() {
                    Ok(h) => (h, written),
                    Err(_) => {
                        let mut h = spare;
                        h.update(chunk);
                        (h, written)
                    }
                }
            }
            Err(_) => {
                let mut h = spare;
                h.update(chunk);
                (h, write(chunk))
            }
        }
    })
}

/// Whether the file at `path` changed since `before` was taken at open.
fn changed_since_open(path: &Path, before: &Stat) -> Option<String> {
    let after = Stat::lstat(path).ok()?;
    if (after.dev, after.ino) != (before.dev, before.ino) {
        return Some("the path was replaced while read".into());
    }
    if after.size != before.size {
        return Some(format!(
            "size changed while read: {} at open, {} after; stored up to the size at open",
            before.size, after.size
        ));
    }
    if after.mtime != before.mtime {
        return Some("modified while read (mtime changed)".into());
    }
    None
}

fn permission_or(e: &io::Error, other: &'static str) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => "skipped_permission",
        _ => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashing beside the write gives the plain SHA-256 and writes every byte, for sizes from
    /// empty to 3MiB, below and above the parallel-hashing threshold.
    #[test]
    fn hash_beside_matches_a_plain_hash_and_writes_everything() {
        for len in [0usize, 10, PARALLEL_HASH_MIN, 3 << 20] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut sink = Vec::new();
            let (h, res) = hash_beside(Sha256::new(), &data, |c| {
                sink.extend_from_slice(c);
                Ok(())
            });
            res.unwrap();
            assert_eq!(sink, data);
            assert_eq!(h.finalize(), Sha256::digest(&data));
        }
    }

    /// `~` expands to every home and braces expand in order, before literal patterns.
    #[test]
    fn expands_homes_and_braces() {
        let homes = vec![b"/root".to_vec(), b"/home/a".to_vec()];
        let patterns: Vec<FilePattern> = ["~/.{bash,zsh}_history", "/etc/passwd"]
            .iter()
            .map(|p| FilePattern::new(p).unwrap())
            .collect();
        let p = expand(&patterns, &homes);
        let shown: Vec<String> = p
            .iter()
            .map(|p| {
                p.components
                    .iter()
                    .map(|c| match c {
                        Component::Literal(l) | Component::Wild(l) => {
                            String::from_utf8_lossy(l).into_owned()
                        }
                        Component::AnyDirs => "**".into(),
                    })
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                "root/.bash_history",
                "home/a/.bash_history",
                "root/.zsh_history",
                "home/a/.zsh_history",
                "etc/passwd"
            ]
        );
    }
}
