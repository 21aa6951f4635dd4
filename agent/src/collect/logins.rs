//! `logins`: sessions, failed logins, boots and shutdowns from utmp, wtmp and btmp.
//!
//! wtmp is paired the way `last` does: a login (USER_PROCESS) ends at the next DEAD_PROCESS
//! on the same tty, or at a boot (`crash`) or shutdown; one still open at the end of the file
//! has no logout. utmp lists the sessions open now; every btmp entry is a failed login.

use super::{CollectError, Context, Output};
use crate::glob::{Component, Pattern};
use crate::hostfs;
use crate::procfs::text::lossy;
use crate::utmp::{self, kind, Entry};
use collector_spec::LoginsOptions;
use serde::Serialize;
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One session, failed login, boot or shutdown.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct LoginRecord {
    /// File it came from, as seen from the root.
    pub source: String,
    /// `login` (wtmp), `current` (utmp), `failed` (btmp), `boot`, `shutdown`.
    pub session_type: &'static str,
    pub user: String,
    pub user_hex: Option<String>,
    /// Terminal (`pts/0`, `tty1`, `ssh:notty`).
    pub tty: String,
    pub tty_hex: Option<String>,
    /// Remote host as recorded (a name or address; the kernel release for boot entries).
    pub remote_host: Option<String>,
    pub remote_host_hex: Option<String>,
    /// Remote address from `ut_addr_v6`.
    pub remote_address: Option<String>,
    pub pid: i32,
    pub login_time: Option<String>,
    pub logout_time: Option<String>,
    /// How the session ended: `logout`, `crash` (boot without logout), `shutdown`,
    /// `superseded` (another login on the same tty), or null while open.
    pub end_reason: Option<&'static str>,
    pub duration_seconds: Option<i64>,
}

/// Runs the collector.
pub fn collect(ctx: &Context, opts: &LoginsOptions, out: &mut Output) -> Result<(), CollectError> {
    let root = ctx.root_for(opts.root.as_deref());
    let mut seen_real = std::collections::HashSet::new();
    for pattern in &opts.patterns {
        for shown in matching_files(&root, pattern.as_str()) {
            out.check_cancel()?;
            // /var/run/utmp is usually /run/utmp: read each file once.
            let real = match hostfs::resolve_in_root(&root, &shown) {
                Ok(r) => r,
                Err(_) => continue,
            };
            if !seen_real.insert(real.clone()) {
                continue;
            }
            let path = hostfs::under(&root, &real);
            let (bytes, truncated) = match hostfs::read_regular(&path, opts.max_file_size.0) {
                Ok(b) => b,
                Err(e) => {
                    out.warn(format!("{}: {e}", String::from_utf8_lossy(&shown)));
                    continue;
                }
            };
            let source = String::from_utf8_lossy(&shown).into_owned();
            if truncated {
                out.warn(format!(
                    "{source}: larger than max_file_size {}; parsed the start only",
                    opts.max_file_size
                ));
            }
            let (entries, rest) = utmp::parse_all(&bytes);
            if rest != 0 {
                out.warn(format!(
                    "{source}: {rest} trailing bytes are not a whole entry"
                ));
            }
            let name = shown.rsplit(|b| *b == b'/').next().unwrap_or_default();
            for rec in records(&source, file_role(name), &entries) {
                out.record(&rec)?;
            }
        }
    }
    Ok(())
}

/// Which kind of file a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// utmp: open sessions now.
    Current,
    /// wtmp: history.
    History,
    /// btmp: failed logins.
    Failed,
}

fn file_role(name: &[u8]) -> Role {
    if name.starts_with(b"btmp") {
        Role::Failed
    } else if name.starts_with(b"utmp") {
        Role::Current
    } else {
        Role::History
    }
}

/// Files matching a simple pattern (wildcards in the last component only).
fn matching_files(root: &Path, pattern: &str) -> Vec<Vec<u8>> {
    let (dir, last) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let comp = Pattern::parse(last.as_bytes()).components;
    let Some(c) = comp.first() else {
        return Vec::new();
    };
    let dir_shown = if dir.is_empty() { "/" } else { dir };
    if let Component::Literal(name) = c {
        let mut p = dir.as_bytes().to_vec();
        p.push(b'/');
        p.extend_from_slice(name);
        return vec![p];
    }
    let Ok(rd) = std::fs::read_dir(hostfs::under(root, dir_shown.as_bytes())) else {
        return Vec::new();
    };
    let mut out: Vec<Vec<u8>> = rd
        .filter_map(Result::ok)
        .map(|e| e.file_name().as_bytes().to_vec())
        .filter(|n| c.matches(n))
        .map(|n| {
            let mut p = dir.as_bytes().to_vec();
            p.push(b'/');
            p.extend_from_slice(&n);
            p
        })
        .collect();
    out.sort();
    out
}

fn time_of(e: &Entry) -> Option<String> {
    let (s, n) = e.time();
    crate::timefmt::rfc3339(s, n)
}

fn base(source: &str, session_type: &'static str, e: &Entry) -> LoginRecord {
    let (user, user_hex) = lossy(&e.user);
    let (tty, tty_hex) = lossy(&e.line);
    let (host, host_hex) = if e.host.is_empty() {
        (None, None)
    } else {
        let (h, x) = lossy(&e.host);
        (Some(h), x)
    };
    LoginRecord {
        source: source.to_owned(),
        session_type,
        user,
        user_hex,
        tty,
        tty_hex,
        remote_host: host,
        remote_host_hex: host_hex,
        remote_address: e.address().map(|a| a.to_string()),
        pid: e.pid,
        login_time: time_of(e),
        logout_time: None,
        end_reason: None,
        duration_seconds: None,
    }
}

fn close(rec: &mut LoginRecord, login: &Entry, end: &Entry, reason: &'static str) {
    rec.logout_time = time_of(end);
    rec.end_reason = Some(reason);
    rec.duration_seconds = Some(end.time().0 - login.time().0);
}

/// Turns one file's entries into records.
pub fn records(source: &str, role: Role, entries: &[Entry]) -> Vec<LoginRecord> {
    let mut out = Vec::new();
    match role {
        Role::Failed => {
            for e in entries.iter().filter(|e| !e.user.is_empty() || e.kind != 0) {
                out.push(base(source, "failed", e));
            }
        }
        Role::Current => {
            for e in entries
                .iter()
                .filter(|e| e.kind == kind::USER_PROCESS && !e.user.is_empty())
            {
                out.push(base(source, "current", e));
            }
        }
        Role::History => {
            // Open sessions by tty: index into `out` and the login entry.
            let mut open: HashMap<Vec<u8>, (usize, &Entry)> = HashMap::new();
            let close_all = |out: &mut Vec<LoginRecord>,
                             open: &mut HashMap<Vec<u8>, (usize, &Entry)>,
                             end: &Entry,
                             reason: &'static str| {
                for (_, (i, login)) in open.drain() {
                    if let Some(rec) = out.get_mut(i) {
                        close(rec, login, end, reason);
                    }
                }
            };
            for e in entries {
                match e.kind {
                    kind::USER_PROCESS if !e.user.is_empty() => {
                        if let Some((i, login)) = open.remove(&e.line) {
                            if let Some(rec) = out.get_mut(i) {
                                close(rec, login, e, "superseded");
                            }
                        }
                        out.push(base(source, "login", e));
                        open.insert(e.line.clone(), (out.len() - 1, e));
                    }
                    kind::DEAD_PROCESS => {
                        if let Some((i, login)) = open.remove(&e.line) {
                            if let Some(rec) = out.get_mut(i) {
                                close(rec, login, e, "logout");
                            }
                        }
                    }
                    kind::BOOT_TIME => {
                        close_all(&mut out, &mut open, e, "crash");
                        out.push(base(source, "boot", e));
                    }
                    kind::RUN_LVL if e.user == b"shutdown" => {
                        close_all(&mut out, &mut open, e, "shutdown");
                        out.push(base(source, "shutdown", e));
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: i16, line: &str, user: &str, host: &str, secs: u32) -> Entry {
        Entry {
            kind,
            pid: 100,
            line: line.as_bytes().to_vec(),
            id: Vec::new(),
            user: user.as_bytes().to_vec(),
            host: host.as_bytes().to_vec(),
            secs,
            ..Entry::default()
        }
    }

    /// wtmp logins pair with their logouts (duration, remote address), sessions open at a reboot
    /// end as crash, and a host name with a newline is kept as is.
    #[test]
    fn pairs_wtmp_sessions() {
        let t0 = 1_796_000_000;
        let mut alice = entry(kind::USER_PROCESS, "pts/0", "alice", "198.51.100.4", t0);
        alice.addr[..4].copy_from_slice(&[198, 51, 100, 4]);
        alice.usecs = 250_000;
        let entries = vec![
            entry(kind::BOOT_TIME, "~", "reboot", "6.1.0", t0 - 100),
            alice,
            entry(kind::USER_PROCESS, "tty1", "root", "", t0 + 5),
            entry(kind::DEAD_PROCESS, "pts/0", "", "", t0 + 60),
            entry(
                kind::USER_PROCESS,
                "pts/1",
                "mallory",
                "bad\nhost\u{7f}",
                t0 + 70,
            ),
            entry(kind::BOOT_TIME, "~", "reboot", "6.1.0", t0 + 500),
            entry(kind::USER_PROCESS, "pts/0", "bob", "", t0 + 600),
        ];
        let r = records("/var/log/wtmp", Role::History, &entries);
        let brief: Vec<_> = r
            .iter()
            .map(|x| {
                (
                    x.session_type,
                    x.user.as_str(),
                    x.end_reason,
                    x.duration_seconds,
                )
            })
            .collect();
        assert_eq!(
            brief,
            vec![
                ("boot", "reboot", None, None),
                ("login", "alice", Some("logout"), Some(60)),
                ("login", "root", Some("crash"), Some(495)),
                ("login", "mallory", Some("crash"), Some(430)),
                ("boot", "reboot", None, None),
                ("login", "bob", None, None),
            ]
        );
        let a = &r[1];
        assert_eq!(a.tty, "pts/0");
        assert_eq!(a.remote_host.as_deref(), Some("198.51.100.4"));
        assert_eq!(a.remote_address.as_deref(), Some("198.51.100.4"));
        assert_eq!(a.login_time.as_deref(), Some("2026-11-30T00:53:20.25Z"));
        assert_eq!(a.logout_time.as_deref(), Some("2026-11-30T00:54:20Z"));
        assert_eq!(r[3].remote_host.as_deref(), Some("bad\nhost\u{7f}"));
    }

    /// utmp gives current sessions (login prompts left out), btmp failed logins, and the role
    /// follows the file name, rotated ones included.
    #[test]
    fn utmp_and_btmp_roles() {
        let t0 = 1_796_000_000;
        let entries = vec![
            entry(kind::LOGIN_PROCESS, "tty1", "LOGIN", "", t0),
            entry(kind::USER_PROCESS, "pts/2", "carol", "10.0.0.9", t0),
        ];
        let cur = records("/run/utmp", Role::Current, &entries);
        assert_eq!(cur.len(), 1);
        assert_eq!(cur[0].session_type, "current");
        assert_eq!(cur[0].user, "carol");
        let failed = records(
            "/var/log/btmp",
            Role::Failed,
            &[entry(
                kind::LOGIN_PROCESS,
                "ssh:notty",
                "admin",
                "192.0.2.1",
                t0,
            )],
        );
        assert_eq!(failed[0].session_type, "failed");
        assert_eq!(failed[0].tty, "ssh:notty");
        assert_eq!(file_role(b"btmp.1"), Role::Failed);
        assert_eq!(file_role(b"wtmp-20261201"), Role::History);
    }
}
