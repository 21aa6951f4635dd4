//! A process's mappings through the `PROCMAP_QUERY` ioctl of `/proc/PID/maps` (Linux 6.11+).
//!
//! Reading the maps text makes the kernel print every mapping and escape every path byte by
//! byte (`mangle_path`: a fifth of the kernel time of a whole volatile collection on a host of
//! Python processes). The ioctl hands over the same fields as numbers and the name as the
//! kernel's `d_path` writes it, one mapping per call: on a 2,000-process host it took 15% less
//! kernel time than reading the text, and leaves nothing to parse. The result is what the maps
//! text would have said (a newline in a path is written `\012`, as the text writes it), so
//! records do not depend on which way they were read; where the ioctl is missing (older
//! kernels) or refuses a mapping (a name longer than `PATH_MAX`), the caller reads the text.
//!
//! One mapping is in the text and not in the ioctl's answers: the kernel's gate page
//! (`[vsyscall]` on x86_64), which is no mapping of the process's own and which the text
//! appends to every 64-bit process's list. It is read once from vestige's own maps text and
//! appended the same way; a process with no mapping above 4 GiB (a 32-bit or x32 process,
//! which has no gate page) is left to the text.

use super::maps::Mapping;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

/// `_IOWR(0x9f, 17, struct procmap_query)` from `linux/fs.h`.
const PROCMAP_QUERY: u64 = 0xC068_6611;
/// The mapping that covers `query_addr`, or else the next one after it.
const COVERING_OR_NEXT_VMA: u64 = 0x10;
const VMA_READABLE: u64 = 0x01;
const VMA_WRITABLE: u64 = 0x02;
const VMA_EXECUTABLE: u64 = 0x04;
const VMA_SHARED: u64 = 0x08;
/// The kernel copies at most `PATH_MAX` bytes of a name, its NUL included.
const NAME_BUF: usize = 4096;

/// `struct procmap_query` (104 bytes, as the ioctl number says).
#[repr(C)]
#[derive(Default)]
struct ProcmapQuery {
    size: u64,
    query_flags: u64,
    query_addr: u64,
    vma_start: u64,
    vma_end: u64,
    vma_flags: u64,
    vma_page_size: u64,
    vma_offset: u64,
    inode: u64,
    dev_major: u32,
    dev_minor: u32,
    vma_name_size: u32,
    build_id_size: u32,
    vma_name_addr: u64,
    build_id_addr: u64,
}

/// Mappings of a 64-bit process above this address are the kernel's (the gate page), not
/// the process's.
const KERNEL_HALF: u64 = 1 << 63;
/// A process with no mapping ending above this is not a 64-bit one.
const FOUR_GIB: u64 = 1 << 32;

/// One mapping owned, as the gate page is kept.
#[derive(Debug, Clone)]
struct GateMapping {
    start: u64,
    end: u64,
    perms: &'static str,
    offset: u64,
    major: u32,
    minor: u32,
    inode: u64,
    name: Vec<u8>,
}

/// The gate mappings the maps text appends for a 64-bit process, read from vestige's own
/// (`None` when they could not be told, and every process is read as text).
fn gate_mappings() -> Option<&'static [GateMapping]> {
    static GATE: OnceLock<Option<Vec<GateMapping>>> = OnceLock::new();
    GATE.get_or_init(|| {
        let text = std::fs::read("/proc/self/maps").ok()?;
        let (all, _) = super::maps::parse_all(&text);
        all.iter()
            .filter(|m| m.start >= KERNEL_HALF)
            .map(|m| {
                let (major, minor) = m.dev.split_once(':')?;
                Some(GateMapping {
                    start: m.start,
                    end: m.end,
                    perms: PERMS.iter().find(|p| **p == m.perms).copied()?,
                    offset: m.offset,
                    major: u32::from_str_radix(major, 16).ok()?,
                    minor: u32::from_str_radix(minor, 16).ok()?,
                    inode: m.inode,
                    name: m.path.to_vec(),
                })
            })
            .collect()
    })
    .as_deref()
}

/// `rwxs` permission text by the ioctl's flag bits, as the maps text writes it.
const PERMS: [&str; 16] = [
    "---p", "r--p", "-w-p", "rw-p", "--xp", "r-xp", "-wxp", "rwxp", "---s", "r--s", "-w-s", "rw-s",
    "--xs", "r-xs", "-wxs", "rwxs",
];

/// One mapping as the ioctl returned it; its name lives in [`QueriedMaps::names`].
#[derive(Debug, Clone)]
struct Entry {
    start: u64,
    end: u64,
    perms: &'static str,
    offset: u64,
    dev: usize,
    inode: u64,
    name: Range<usize>,
}

/// A process's mappings read through the ioctl. [`Self::mappings`] borrows them as the maps
/// text parser would have returned them.
#[derive(Debug, Default)]
pub struct QueriedMaps {
    entries: Vec<Entry>,
    names: Vec<u8>,
    devices: Vec<(u32, u32, String)>,
    /// How many bytes the maps text of the same mappings would hold.
    text_len: u64,
}

impl QueriedMaps {
    /// The mappings, in address order.
    pub fn mappings(&self) -> Vec<Mapping<'_>> {
        self.entries
            .iter()
            .map(|e| Mapping {
                start: e.start,
                end: e.end,
                perms: e.perms,
                offset: e.offset,
                dev: self.devices.get(e.dev).map_or("00:00", |d| d.2.as_str()),
                inode: e.inode,
                path: self.names.get(e.name.clone()).unwrap_or_default(),
            })
            .collect()
    }

    /// The number of mappings.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none (a kernel thread, or a process that exited).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn device(&mut self, major: u32, minor: u32) -> usize {
        if let Some(i) = self
            .devices
            .iter()
            .position(|(a, b, _)| *a == major && *b == minor)
        {
            return i;
        }
        self.devices.push((major, minor, device_text(major, minor)));
        self.devices.len() - 1
    }
}

/// A device as the maps text writes it (`major:minor`, two hex digits at least each): the
/// form every mapping's `device` takes, whichever way it was read.
pub fn device_text(major: u32, minor: u32) -> String {
    format!("{major:02x}:{minor:02x}")
}

/// What a query of one process's maps file came to.
#[derive(Debug)]
pub enum Queried {
    /// The mappings (all of them unless `cut`: the equivalent maps text passed the cap).
    Read { maps: QueriedMaps, cut: bool },
    /// Read the text: this kernel has no `PROCMAP_QUERY`, or the process is not a 64-bit one.
    UseText,
}

/// Asks the kernel for every mapping of the process whose `maps` file `file` is, until the
/// equivalent text would exceed `cap` bytes. A process that exits part-way keeps the mappings
/// read before; an error other than that (e.g. a name longer than `PATH_MAX`) is returned,
/// and the caller reads the text instead.
pub fn query(file: &File, cap: u64) -> io::Result<Queried> {
    let Some(gate) = gate_mappings() else {
        return Ok(Queried::UseText);
    };
    let mut maps = QueriedMaps::default();
    let mut name = vec![0u8; NAME_BUF];
    let mut addr = 0u64;
    let mut retries = 0u8;
    loop {
        let mut q = ProcmapQuery {
            size: std::mem::size_of::<ProcmapQuery>() as u64,
            query_flags: COVERING_OR_NEXT_VMA,
            query_addr: addr,
            vma_name_size: NAME_BUF as u32,
            vma_name_addr: name.as_mut_ptr() as u64,
            ..ProcmapQuery::default()
        };
        // SAFETY: `q` is a live `struct procmap_query` of the size it declares; the kernel
        // writes at most `vma_name_size` bytes to `name`, which is that long and owned here,
        // and no build id (its size and address are zero).
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), PROCMAP_QUERY as _, &mut q) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                // No mapping at or after `addr`: all were read.
                Some(libc::ENOENT) => break,
                // No address space (a kernel thread), or the process exited part-way.
                Some(libc::ESRCH) => break,
                Some(libc::EINTR) | Some(libc::EAGAIN) if retries < 8 => {
                    retries += 1;
                    continue;
                }
                Some(libc::ENOTTY) | Some(libc::EINVAL) if maps.is_empty() => {
                    return Ok(Queried::UseText);
                }
                _ => return Err(e),
            }
        }
        retries = 0;
        let name_len = (q.vma_name_size as usize).saturating_sub(1);
        let text = name.get(..name_len).unwrap_or_default();
        let line_len = 74 + text.len() as u64;
        if maps.text_len.saturating_add(line_len) > cap {
            return Ok(Queried::Read { maps, cut: true });
        }
        if q.vma_start >= KERNEL_HALF {
            return Ok(Queried::UseText); // a gate page the ioctl does list: not this layout
        }
        maps.text_len += line_len;
        let at = maps.names.len();
        if memchr::memchr(b'\n', text).is_some() {
            for b in text {
                if *b == b'\n' {
                    maps.names.extend_from_slice(b"\\012");
                } else {
                    maps.names.push(*b);
                }
            }
        } else {
            maps.names.extend_from_slice(text);
        }
        let bits = q.vma_flags & (VMA_READABLE | VMA_WRITABLE | VMA_EXECUTABLE | VMA_SHARED);
        let dev = maps.device(q.dev_major, q.dev_minor);
        maps.entries.push(Entry {
            start: q.vma_start,
            end: q.vma_end,
            perms: PERMS.get(bits as usize).copied().unwrap_or("---p"),
            offset: q.vma_offset,
            dev,
            inode: q.inode,
            name: at..maps.names.len(),
        });
        if q.vma_end <= addr {
            break; // never loop on a kernel that answered with the same mapping again
        }
        addr = q.vma_end;
    }
    if maps.is_empty() {
        return Ok(Queried::Read { maps, cut: false });
    }
    if maps.entries.last().is_none_or(|e| e.end <= FOUR_GIB) {
        return Ok(Queried::UseText);
    }
    for g in gate {
        let dev = maps.device(g.major, g.minor);
        let at = maps.names.len();
        maps.names.extend_from_slice(&g.name);
        maps.entries.push(Entry {
            start: g.start,
            end: g.end,
            perms: g.perms,
            offset: g.offset,
            dev,
            inode: g.inode,
            name: at..maps.names.len(),
        });
    }
    Ok(Queried::Read { maps, cut: false })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::maps::parse_all;

    /// Whether the running kernel is 6.11 or later (where `PROCMAP_QUERY` exists).
    fn kernel_has_query() -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release.trim().split(['.', '-']);
        let major: u32 = parts.next().unwrap().parse().unwrap();
        let minor: u32 = parts.next().unwrap().parse().unwrap();
        (major, minor) >= (6, 11)
    }

    /// Reads own mappings both ways: the mappings the ioctl gives, rendered as the maps text
    /// parser returns them, equal those of the text read just after (same addresses, perms,
    /// offsets, devices, inodes and names), including a file mapping, a deleted file, a
    /// memfd, a shared anonymous mapping and a path holding a newline and spaces.
    #[test]
    fn same_mappings_as_the_maps_text() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("new\nline lib.so");
        std::fs::write(&odd, vec![7u8; 8192]).unwrap();
        let gone = dir.path().join("gone.so");
        std::fs::write(&gone, vec![1u8; 4096]).unwrap();
        let mut held = Vec::new();
        for (path, len) in [(&odd, 8192usize), (&gone, 4096)] {
            let f = std::fs::File::open(path).unwrap();
            // SAFETY: a fresh private read-only mapping of a file this test owns; unmapped at
            // the end of the test.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE,
                    f.as_raw_fd(),
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            held.push((p, len));
        }
        std::fs::remove_file(&gone).unwrap();
        // SAFETY: an anonymous shared mapping of one page, unmapped at the end of the test.
        let shared = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(shared, libc::MAP_FAILED);
        held.push((shared, 4096));

        let file = std::fs::File::open("/proc/self/maps").unwrap();
        let queried = match query(&file, u64::MAX).unwrap() {
            Queried::Read { maps, cut } => {
                assert!(!cut);
                maps
            }
            Queried::UseText => {
                assert!(
                    !kernel_has_query(),
                    "the kernel is 6.11 or later, and the ioctl was not used"
                );
                return;
            }
        };
        let text = std::fs::read("/proc/self/maps").unwrap();
        let (from_text, bad) = parse_all(&text);
        assert_eq!(bad, 0);
        let from_ioctl = queried.mappings();
        // The test's own allocations may add or grow anonymous mappings between the two
        // reads: compare every mapping with a name, and the counts within a few.
        let named = |v: &[Mapping<'_>]| -> Vec<String> {
            v.iter()
                .filter(|m| !m.path.is_empty())
                .map(|m| {
                    format!(
                        "{:x}-{:x} {} {:x} {} {} {}",
                        m.start,
                        m.end,
                        m.perms,
                        m.offset,
                        m.dev,
                        m.inode,
                        String::from_utf8_lossy(m.path)
                    )
                })
                .collect()
        };
        assert_eq!(named(&from_ioctl), named(&from_text));
        assert_eq!(
            from_ioctl.last().map(|m| m.start),
            from_text.last().map(|m| m.start),
            "the gate page ([vsyscall]) is last in both"
        );
        assert!(from_ioctl.len().abs_diff(from_text.len()) <= 4);
        let has = |needle: &str| named(&from_ioctl).iter().any(|l| l.ends_with(needle));
        assert!(has("new\\012line lib.so"), "{:?}", named(&from_ioctl));
        assert!(has("gone.so (deleted)"));
        assert!(has("/dev/zero (deleted)"));
        assert!(from_ioctl.iter().any(|m| m.path == b"[stack]"));
        for (p, len) in held {
            // SAFETY: each was mapped above with this length and is not used after.
            unsafe { libc::munmap(p, len) };
        }
    }

    /// A cap smaller than the maps text stops the query early and says so, with whole
    /// mappings only.
    #[test]
    fn a_cap_cuts_the_query() {
        let file = std::fs::File::open("/proc/self/maps").unwrap();
        match query(&file, 300).unwrap() {
            Queried::Read { maps, cut } => {
                assert!(cut);
                assert!(maps.len() <= 4 && !maps.is_empty(), "{}", maps.len());
            }
            Queried::UseText => assert!(!kernel_has_query()),
        }
    }

    /// The maps file of a process with no address space (a kernel thread: kthreadd is pid 2
    /// on the host) gives no mappings, as its text is empty.
    #[test]
    fn a_kernel_thread_has_none() {
        let Ok(file) = std::fs::File::open("/proc/2/maps") else {
            return;
        };
        let is_kthread = std::fs::read_to_string("/proc/2/status")
            .map(|s| s.contains("Kthread:\t1") || s.contains("Name:\tkthreadd"))
            .unwrap_or(false);
        if !is_kthread {
            return;
        }
        if let Queried::Read { maps, cut } = query(&file, u64::MAX).unwrap() {
            assert!(maps.is_empty() && !cut);
        }
    }
}
