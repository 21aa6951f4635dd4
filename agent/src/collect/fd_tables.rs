//! Descriptor tables shared between the collectors of one run: `connections` reads every
//! process's fd table to find socket owners, and `open_files`, moments later, reuses those
//! tables instead of reading every link again. What is kept is bounded in size and in age.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::procfs::pid_dir::FdEntry;

/// Most bytes kept (link text plus 12 bytes per descriptor); past this the tables are dropped
/// and `open_files` reads its own. 8 MiB holds about 250,000 descriptors.
const MAX_BYTES: usize = 8 << 20;

/// Tables older than this are not reused: `open_files` reads its own.
pub const MAX_AGE: Duration = Duration::from_secs(10);

/// Marks a descriptor whose link could not be read.
const UNREADABLE: u32 = u32::MAX;

/// Every process's descriptor table as read at one moment, packed: one array of descriptors
/// and one of link text for all processes (a few bytes over the text itself per descriptor,
/// where a table of owned strings would cost an allocation each).
#[derive(Debug)]
pub struct FdTables {
    read_at: Instant,
    /// pid → its range in `entries`.
    by_pid: HashMap<u32, (usize, usize)>,
    /// (descriptor, offset of its target in `text`, length or [`UNREADABLE`]).
    entries: Vec<(u32, u32, u32)>,
    text: Vec<u8>,
    overflowed: bool,
}

impl Default for FdTables {
    fn default() -> Self {
        Self {
            read_at: Instant::now(),
            by_pid: HashMap::new(),
            entries: Vec::new(),
            text: Vec::new(),
            overflowed: false,
        }
    }
}

impl FdTables {
    /// Keeps one process's table (unless the size bound was passed).
    pub fn insert(&mut self, pid: u32, table: Vec<FdEntry>) {
        if self.overflowed {
            return;
        }
        let added: usize = table
            .iter()
            .map(|e| 12 + e.target.as_ref().map_or(0, Vec::len))
            .sum();
        let total = self.text.len() + self.entries.len() * 12 + added;
        if total > MAX_BYTES {
            *self = Self {
                overflowed: true,
                ..Self::default()
            };
            return;
        }
        let first = self.entries.len();
        for e in table {
            // Offsets fit in u32: the text is bounded by MAX_BYTES.
            let at = u32::try_from(self.text.len()).unwrap_or(UNREADABLE);
            let len = match &e.target {
                Some(t) => {
                    self.text.extend_from_slice(t);
                    u32::try_from(t.len()).unwrap_or(UNREADABLE)
                }
                None => UNREADABLE,
            };
            self.entries.push((e.fd, at, len));
        }
        self.by_pid.insert(pid, (first, self.entries.len()));
    }

    /// The tables, if complete and read less than `max_age` ago.
    pub fn usable(self, max_age: Duration) -> Option<Self> {
        (!self.overflowed && self.read_at.elapsed() <= max_age).then_some(self)
    }

    /// One process's table as it was read.
    pub fn get(&self, pid: u32) -> Option<Vec<FdEntry>> {
        let (first, end) = *self.by_pid.get(&pid)?;
        let entries = self.entries.get(first..end)?;
        Some(
            entries
                .iter()
                .map(|&(fd, at, len)| {
                    let target = (len != UNREADABLE)
                        .then(|| {
                            let start = at as usize;
                            self.text
                                .get(start..start + len as usize)
                                .map(<[u8]>::to_vec)
                        })
                        .flatten();
                    FdEntry { fd, target }
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fd: u32, target: &[u8]) -> FdEntry {
        FdEntry {
            fd,
            target: Some(target.to_vec()),
        }
    }

    /// Descriptor tables read once are served per pid until too old, and tables past the size bound
    /// are dropped.
    #[test]
    fn keeps_tables_until_too_old_or_too_big() {
        let mut t = FdTables::default();
        t.insert(7, vec![entry(0, b"/dev/null"), entry(3, b"socket:[42]")]);
        t.insert(
            9,
            vec![
                FdEntry {
                    fd: 4,
                    target: None,
                },
                entry(5, b"pipe:[1]"),
            ],
        );
        let t = t.usable(MAX_AGE).unwrap();
        assert_eq!(
            t.get(7).unwrap(),
            vec![entry(0, b"/dev/null"), entry(3, b"socket:[42]")]
        );
        assert_eq!(
            t.get(9).unwrap(),
            vec![
                FdEntry {
                    fd: 4,
                    target: None
                },
                entry(5, b"pipe:[1]")
            ]
        );
        assert!(t.get(8).is_none());
        assert!(t.usable(Duration::ZERO).is_none(), "too old");

        let mut big = FdTables::default();
        let huge = vec![0u8; 1 << 20];
        for pid in 0..9 {
            big.insert(pid, vec![entry(1, &huge)]);
        }
        assert!(big.get(0).is_none(), "dropped past the bound");
        assert!(big.usable(MAX_AGE).is_none());
    }
}
