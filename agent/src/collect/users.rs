//! `users`: one record per local account (passwd, shadow, group, authorized keys), and the
//! uid → name table other collectors use. No NSS: a static binary cannot load its modules.
//! Password hashes are never recorded: only whether a password is set, and its scheme.

use super::{CollectError, Context, Output};
use crate::hostfs;
use crate::procfs::text::lossy;
use collector_spec::UsersOptions;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

/// Names of local users by uid.
#[derive(Debug, Default, Clone)]
pub struct UserNames(HashMap<u32, String>);

impl UserNames {
    /// Reads a passwd file; an unreadable file gives an empty table.
    pub fn load(path: &Path) -> Self {
        match crate::procfs::read::read_small(path) {
            Ok(buf) => Self::parse(&buf),
            Err(_) => Self::default(),
        }
    }

    /// Parses passwd lines (`name:x:uid:gid:...`); the first name for a uid wins.
    pub fn parse(buf: &[u8]) -> Self {
        let mut map = HashMap::new();
        for line in String::from_utf8_lossy(buf).lines() {
            let mut parts = line.split(':');
            let (Some(name), Some(_), Some(uid)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if let Ok(uid) = uid.parse::<u32>() {
                map.entry(uid).or_insert_with(|| name.to_owned());
            }
        }
        Self(map)
    }

    /// The name of `uid`, if listed.
    pub fn name(&self, uid: u32) -> Option<&str> {
        self.0.get(&uid).map(String::as_str)
    }
}

/// Largest account file read (passwd, shadow, group).
const MAX_ACCOUNT_FILE: u64 = 64 << 20;

/// One local account.
#[derive(Debug, Serialize)]
pub struct UserRecord {
    pub user: String,
    pub user_hex: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Name of the primary group.
    pub group: Option<String>,
    /// Supplementary groups (from /etc/group).
    pub groups: Vec<String>,
    pub gecos: String,
    pub home: String,
    pub home_hex: Option<String>,
    pub shell: String,
    /// Whether the shell allows an interactive login (not nologin/false/sync…).
    pub login_shell: bool,
    /// `set`, `empty` (no password needed), `locked` (a hash behind `!`), `none` (`*`, `!`),
    /// or `unknown` (no shadow entry readable).
    pub password_state: &'static str,
    /// A password (or an empty one) lets this account log in; null when unknown.
    pub has_password: Option<bool>,
    /// Hash scheme when set (`yescrypt`, `sha512`, `sha256`, `md5`, `bcrypt`, `des`…).
    pub password_scheme: Option<String>,
    /// Last password change (shadow field 3), as a date.
    pub password_last_changed: Option<String>,
    /// Authorized key files in the home (`~/.ssh/authorized_keys`, `authorized_keys2`).
    pub authorized_keys_files: Vec<String>,
    /// Keys listed in them (non-empty, non-comment lines).
    pub authorized_keys: u64,
    pub has_authorized_keys: bool,
    /// Duplicate uid 0 and the like are visible by comparing records; this flags uid 0.
    pub is_root_uid: bool,
}

/// Runs the collector.
pub fn collect(ctx: &Context, opts: &UsersOptions, out: &mut Output) -> Result<(), CollectError> {
    let root = ctx.root_for(opts.root.as_deref());
    let read = |shown: &[u8]| hostfs::read_regular(&hostfs::under(&root, shown), MAX_ACCOUNT_FILE);
    let passwd = match read(b"/etc/passwd") {
        Ok((b, _)) => b,
        Err(e) => return Err(CollectError::Failed(format!("/etc/passwd: {e}"))),
    };
    let shadow = match read(b"/etc/shadow") {
        Ok((b, _)) => Some(b),
        Err(e) => {
            out.warn(format!("/etc/shadow: {e}; password states are unknown"));
            None
        }
    };
    let group = read(b"/etc/group").map(|(b, _)| b).unwrap_or_else(|e| {
        out.warn(format!("/etc/group: {e}"));
        Vec::new()
    });
    for rec in accounts(&root, &passwd, shadow.as_deref(), &group) {
        out.record(&rec)?;
    }
    Ok(())
}

fn fields(line: &[u8]) -> Vec<&[u8]> {
    line.split(|b| *b == b':').collect()
}

fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    buf.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
}

/// Builds the records from file contents; `root` locates authorized key files.
pub fn accounts(
    root: &Path,
    passwd: &[u8],
    shadow: Option<&[u8]>,
    group: &[u8],
) -> Vec<UserRecord> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut shadow_by_user: HashMap<&[u8], Vec<&[u8]>> = HashMap::new();
    for line in shadow.map(lines).into_iter().flatten() {
        let f = fields(line);
        if let Some(name) = f.first() {
            shadow_by_user.entry(name).or_insert(f);
        }
    }
    let mut group_names: HashMap<u32, String> = HashMap::new();
    let mut members: HashMap<Vec<u8>, Vec<String>> = HashMap::new();
    for line in lines(group) {
        let f = fields(line);
        let (Some(name), Some(gid)) = (f.first(), f.get(2)) else {
            continue;
        };
        if let Ok(gid) = text(gid).parse::<u32>() {
            group_names.entry(gid).or_insert_with(|| text(name));
        }
        for m in f
            .get(3)
            .map(|m| m.split(|b| *b == b','))
            .into_iter()
            .flatten()
        {
            if !m.is_empty() {
                members.entry(m.to_vec()).or_default().push(text(name));
            }
        }
    }
    let mut out = Vec::new();
    for line in lines(passwd) {
        let f = fields(line);
        let Some(name) = f.first() else { continue };
        let get = |i: usize| f.get(i).copied().unwrap_or_default();
        let uid = text(get(2)).parse::<u32>().ok();
        let gid = text(get(3)).parse::<u32>().ok();
        let hash_field: Option<&[u8]> = if get(1) == b"x" {
            shadow_by_user.get(name).and_then(|s| s.get(1).copied())
        } else {
            Some(get(1))
        };
        let (state, scheme) = password_state(hash_field);
        let last_changed = shadow_by_user
            .get(name)
            .and_then(|s| s.get(2))
            .and_then(|d| text(d).parse::<i64>().ok())
            .and_then(|days| crate::timefmt::rfc3339(days.checked_mul(86_400)?, 0))
            .and_then(|t| t.get(..10).map(str::to_owned));
        let shell = text(get(6));
        let home = get(5);
        let mut key_files = Vec::new();
        let mut keys = 0u64;
        for file in [&b"/.ssh/authorized_keys"[..], b"/.ssh/authorized_keys2"] {
            let mut shown = home.strip_suffix(b"/").unwrap_or(home).to_vec();
            shown.extend_from_slice(file);
            let Ok(real) = hostfs::resolve_in_root(root, &shown) else {
                continue;
            };
            if let Ok((body, _)) = hostfs::read_regular(&hostfs::under(root, &real), 16 << 20) {
                keys += lines(&body)
                    .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
                    .count() as u64;
                key_files.push(text(&shown));
            }
        }
        let (user, user_hex) = lossy(name);
        let (home_text, home_hex) = lossy(home);
        out.push(UserRecord {
            user,
            user_hex,
            uid,
            gid,
            group: gid.and_then(|g| group_names.get(&g).cloned()),
            groups: members.get(*name).cloned().unwrap_or_default(),
            gecos: text(get(4)),
            home: home_text,
            home_hex,
            login_shell: !shell.is_empty() && !NO_LOGIN_SHELLS.iter().any(|s| shell.ends_with(s)),
            shell,
            has_password: match state {
                "set" | "empty" => Some(true),
                "unknown" => None,
                _ => Some(false),
            },
            password_state: state,
            password_scheme: scheme,
            password_last_changed: last_changed,
            has_authorized_keys: keys > 0,
            authorized_keys_files: key_files,
            authorized_keys: keys,
            is_root_uid: uid == Some(0),
        });
    }
    out
}

const NO_LOGIN_SHELLS: &[&str] = &["/nologin", "/false", "/sync", "/shutdown", "/halt"];

/// State and scheme of a password field; the hash itself is never returned.
fn password_state(field: Option<&[u8]>) -> (&'static str, Option<String>) {
    let Some(f) = field else {
        return ("unknown", None);
    };
    if f.is_empty() {
        return ("empty", None);
    }
    let (locked, hash) = match f.strip_prefix(b"!") {
        Some(rest) => (true, rest.strip_prefix(b"!").unwrap_or(rest)),
        None => (false, f),
    };
    if hash.is_empty() || hash.starts_with(b"*") {
        return ("none", None);
    }
    let scheme = match hash {
        h if h.starts_with(b"$y$") => "yescrypt",
        h if h.starts_with(b"$gy$") => "gost-yescrypt",
        h if h.starts_with(b"$7$") => "scrypt",
        h if h.starts_with(b"$6$") => "sha512",
        h if h.starts_with(b"$5$") => "sha256",
        h if h.starts_with(b"$1$") => "md5",
        h if h.starts_with(b"$2") => "bcrypt",
        h if h.len() == 13 => "des",
        _ => "other",
    };
    (
        if locked { "locked" } else { "set" },
        Some(scheme.to_owned()),
    )
}
#[cfg(test)]
mod tests {
    use super::*;

    /// [security] Accounts are read with groups, password state and scheme, authorized keys and
    /// login shells, and no password hash or salt reaches the records.
    #[test]
    fn accounts_without_hashes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("home/alice/.ssh")).unwrap();
        std::fs::write(
            root.join("home/alice/.ssh/authorized_keys"),
            "# comment\nssh-ed25519 AAAA alice@laptop\n\nssh-rsa BBBB backdoor\n",
        )
        .unwrap();
        let passwd = b"root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/zsh\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\ntoor:x:0:0::/:/bin/sh\nold::1001:1001::/home/old:/bin/sh\n";
        let shadow = b"root:$6$salt$hash:19000:0:99999:7:::\nalice:$y$j9T$salt$hash:20000::::::\ndaemon:*:19000::::::\ntoor:!$6$x$y:19000::::::\n";
        let group = b"root:x:0:\nsudo:x:27:alice\nalice:x:1000:\ndocker:x:999:alice,bob\n";
        let recs = accounts(root, passwd, Some(shadow), group);
        let by = |n: &str| recs.iter().find(|r| r.user == n).unwrap();
        let alice = by("alice");
        assert_eq!(alice.uid, Some(1000));
        assert_eq!(alice.group.as_deref(), Some("alice"));
        assert_eq!(alice.groups, vec!["sudo", "docker"]);
        assert_eq!(alice.password_state, "set");
        assert_eq!(alice.password_scheme.as_deref(), Some("yescrypt"));
        assert_eq!(alice.password_last_changed.as_deref(), Some("2024-10-04"));
        assert_eq!(alice.authorized_keys, 2);
        assert!(alice.has_authorized_keys);
        assert_eq!(
            alice.authorized_keys_files,
            vec!["/home/alice/.ssh/authorized_keys"]
        );
        assert!(alice.login_shell);
        let daemon = by("daemon");
        assert_eq!(daemon.password_state, "none");
        assert_eq!(daemon.has_password, Some(false));
        assert!(!daemon.login_shell);
        assert_eq!(by("toor").password_state, "locked");
        assert!(by("toor").is_root_uid);
        assert_eq!(by("old").password_state, "empty");
        assert_eq!(by("old").has_password, Some(true));
        let json = serde_json::to_string(&recs).unwrap();
        assert!(!json.contains("hash") && !json.contains("salt"), "{json}");
        let unknown = accounts(root, passwd, None, group);
        assert_eq!(unknown[0].password_state, "unknown");
        assert_eq!(unknown[0].has_password, None);
    }

    /// User names come from passwd by uid; comments and broken lines are skipped.
    #[test]
    fn parses_passwd() {
        let u = UserNames::parse(b"root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\nalice:x:1000:1000::/home/alice:/bin/sh\ntoor:x:0:0::/:/bin/sh\n");
        assert_eq!(u.name(0), Some("root"));
        assert_eq!(u.name(1000), Some("alice"));
        assert_eq!(u.name(5), None);
    }
}
