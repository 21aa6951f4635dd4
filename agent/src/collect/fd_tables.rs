//! Descriptor tables shared between the collectors of one run: `connections` reads every
//! process's fd table to find socket owners, and `open_files`, moments later, reuses those
//! tables instead of reading every link again. What is kept is bounded in size and in age.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::procfs::pid_dir::FdEntry;

/// Most bytes of link targets kept; past this the tables are dropped and read again later.
const MAX_BYTES: usize = 16 << 20;

/// Tables older than this are not reused: `open_files` reads its own.
pub const MAX_AGE: Duration = Duration::from_secs(10);

/// Every process's descriptor table as read at one moment.
#[derive(Debug)]
pub struct FdTables {
    read_at: Instant,
    by_pid: HashMap<u32, Vec<FdEntry>>,
    bytes: usize,
    overflowed: bool,
}

impl Default for FdTables {
    fn default() -> Self {
        Self {
            read_at: Instant::now(),
            by_pid: HashMap::new(),
            bytes: 0,
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
        let size: usize = table
            .iter()
            .map(|e| std::mem::size_of::<FdEntry>() + e.target.as_ref().map_or(0, Vec::len))
            .sum();
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > MAX_BYTES {
            self.overflowed = true;
            self.by_pid = HashMap::new();
            return;
        }
        self.by_pid.insert(pid, table);
    }

    /// The tables, if complete and read less than `max_age` ago.
    pub fn usable(self, max_age: Duration) -> Option<Self> {
        (!self.overflowed && self.read_at.elapsed() <= max_age).then_some(self)
    }

    /// One process's table as it was read.
    pub fn get(&self, pid: u32) -> Option<&[FdEntry]> {
        self.by_pid.get(&pid).map(Vec::as_slice)
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

    #[test]
    fn keeps_tables_until_too_old_or_too_big() {
        let mut t = FdTables::default();
        t.insert(7, vec![entry(0, b"/dev/null"), entry(3, b"socket:[42]")]);
        let t = t.usable(MAX_AGE).unwrap();
        assert_eq!(t.get(7).unwrap().len(), 2);
        assert!(t.get(8).is_none());
        assert!(t.usable(Duration::ZERO).is_none(), "too old");

        let mut big = FdTables::default();
        let huge = vec![0u8; 1 << 20];
        for pid in 0..17 {
            big.insert(pid, vec![entry(1, &huge)]);
        }
        assert!(big.get(0).is_none(), "dropped past the bound");
        assert!(big.usable(MAX_AGE).is_none());
    }
}
