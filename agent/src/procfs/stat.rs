//! /proc/PID/stat.

use super::{fields, num, FormatError};

/// The fields of /proc/PID/stat that vestige records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// pid.
    pub pid: i64,
    /// comm as bytes (may hold spaces, parentheses, newlines, invalid UTF-8).
    pub comm: Vec<u8>,
    /// State letter.
    pub state: char,
    /// Parent pid.
    pub ppid: i64,
    /// Process group.
    pub pgrp: i64,
    /// Session id.
    pub session: i64,
    /// Controlling terminal (device number).
    pub tty_nr: i64,
    /// User-mode CPU time, clock ticks.
    pub utime: u64,
    /// Kernel-mode CPU time, clock ticks.
    pub stime: u64,
    /// Nice value.
    pub nice: i64,
    /// Thread count.
    pub num_threads: i64,
    /// Start time after boot, clock ticks.
    pub starttime: u64,
    /// Virtual size, bytes.
    pub vsize: u64,
    /// Resident set, pages.
    pub rss_pages: i64,
}

impl Stat {
    /// Parses the file. comm lies between the first `(` and the *last* `)`, since comm
    /// itself may contain `)` and spaces.
    pub fn parse(buf: &[u8]) -> Result<Stat, FormatError> {
        let err = |w: &str| FormatError(format!("stat: {w}"));
        let open = buf
            .iter()
            .position(|b| *b == b'(')
            .ok_or_else(|| err("no '('"))?;
        let close = buf
            .iter()
            .rposition(|b| *b == b')')
            .ok_or_else(|| err("no ')'"))?;
        if close < open {
            return Err(err("')' before '('"));
        }
        let pid =
            num(buf.get(..open).unwrap_or_default().trim_ascii()).ok_or_else(|| err("pid"))?;
        let comm = buf.get(open + 1..close).unwrap_or_default().to_vec();
        let rest: Vec<&[u8]> = fields(buf.get(close + 1..).unwrap_or_default()).collect();
        // Field numbers from proc(5); rest[0] is field 3 (state).
        let f = |n: usize| {
            rest.get(n - 3)
                .copied()
                .ok_or_else(|| err(&format!("field {n} missing")))
        };
        let n_i =
            |n: usize| f(n).and_then(|v| num::<i64>(v).ok_or_else(|| err(&format!("field {n}"))));
        let n_u =
            |n: usize| f(n).and_then(|v| num::<u64>(v).ok_or_else(|| err(&format!("field {n}"))));
        let state = f(3)?
            .first()
            .map(|b| *b as char)
            .ok_or_else(|| err("state"))?;
        Ok(Stat {
            pid,
            comm,
            state,
            ppid: n_i(4)?,
            pgrp: n_i(5)?,
            session: n_i(6)?,
            tty_nr: n_i(7)?,
            utime: n_u(14)?,
            stime: n_u(15)?,
            nice: n_i(19)?,
            num_threads: n_i(20)?,
            starttime: n_u(22)?,
            vsize: n_u(23)?,
            rss_pages: n_i(24)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASH: &[u8] = b"1234 (bash) S 1000 1234 1234 34816 5678 4194304 2000 30000 0 3 10 5 40 20 20 0 1 0 98765 12345678 1500 18446744073709551615 1 1 0 0 0 0 65536 3670020 1266777851 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    /// A plain /proc/PID/stat line gives pid, name, state, parent, session, tty, times, threads,
    /// start time and sizes.
    #[test]
    fn parses_plain() {
        let s = Stat::parse(BASH).unwrap();
        assert_eq!(s.pid, 1234);
        assert_eq!(s.comm, b"bash");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1000);
        assert_eq!(s.session, 1234);
        assert_eq!(s.tty_nr, 34816);
        assert_eq!(s.utime, 10);
        assert_eq!(s.stime, 5);
        assert_eq!(s.num_threads, 1);
        assert_eq!(s.starttime, 98765);
        assert_eq!(s.vsize, 12345678);
        assert_eq!(s.rss_pages, 1500);
    }

    /// [hostile] A process name with parentheses, spaces, a newline and invalid UTF-8 is read
    /// whole, and the fields after it are right.
    #[test]
    fn comm_with_parens_spaces_newline_and_bad_utf8() {
        let line = b"77 (a) b\n(\xff) c) R 1 77 77 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 3 0 555 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
        let s = Stat::parse(line).unwrap();
        assert_eq!(s.comm, b"a) b\n(\xff) c");
        assert_eq!(s.state, 'R');
        assert_eq!(s.num_threads, 3);
        assert_eq!(s.starttime, 555);
    }

    /// [hostile] Empty, truncated and garbage stat lines are errors, not panics.
    #[test]
    fn truncated_and_empty_files_are_errors() {
        assert!(Stat::parse(b"").is_err());
        assert!(Stat::parse(b"12 (x").is_err());
        assert!(Stat::parse(b"12 (x) S 1 2").is_err());
        assert!(Stat::parse(&BASH[..60]).is_err());
        assert!(Stat::parse(b") garbage (").is_err());
    }
}
