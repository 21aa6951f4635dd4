//! `Include` directives of OpenSSH's configuration, followed below a collection root, so the
//! files collector can take every file the daemon or client reads — including ones outside
//! `sshd_config.d`: the system's (`/etc/ssh/sshd_config`, `/etc/ssh/ssh_config`) and each
//! user's (`~/.ssh/config`).
//!
//! As OpenSSH does: the keyword is case-insensitive and separated from its arguments by
//! whitespace or `=`; an argument may be double-quoted; a relative path is relative to
//! `/etc/ssh` in a system file and to `~/.ssh` in a user's; a leading `~` is the user's home
//! in a user's file (in a system file it depends on who runs `ssh`, so it is noted, not
//! followed); arguments are glob patterns (matched here with [`crate::glob`]); an included
//! file may include more, up to [`MAX_DEPTH`] levels. Paths are resolved inside the root.

use crate::glob::Component;
use crate::hostfs::{self, Kind, Stat};

/// Deepest nesting followed (OpenSSH's own limit for both programs).
pub const MAX_DEPTH: u32 = 16;

/// Most included files listed, however the patterns expand.
pub const MAX_FILES: usize = 1024;

/// Largest configuration file read for its directives.
const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// What following the includes of some configuration files found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Includes {
    /// Paths as seen from the root, in the order met: each one named by an `Include`
    /// (expanded), then, when it differs, the path it resolves to inside the root.
    pub files: Vec<Vec<u8>>,
    /// Directives not followed (too deep, too many files, `~` paths), one line each.
    pub notes: Vec<String>,
}

/// The arguments of every `Include` line of a configuration text.
pub fn include_args(text: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in text.split(|b| *b == b'\n') {
        let line = line.trim_ascii();
        let key_end = line
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'=')
            .unwrap_or(line.len());
        let (key, rest) = line.split_at(key_end);
        if !key.eq_ignore_ascii_case(b"include") {
            continue;
        }
        let rest = rest.trim_ascii_start();
        let rest = rest.strip_prefix(b"=").unwrap_or(rest);
        out.extend(split_args(rest));
    }
    out
}

/// Splits arguments on whitespace; `"…"` quotes one (spaces included); an unquoted argument
/// starting with `#` ends the line.
fn split_args(mut rest: &[u8]) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    loop {
        rest = rest.trim_ascii_start();
        let Some(first) = rest.first() else {
            break;
        };
        if *first == b'#' {
            break;
        }
        if *first == b'"' {
            let body = rest.get(1..).unwrap_or_default();
            let end = body.iter().position(|b| *b == b'"').unwrap_or(body.len());
            let (arg, after) = body.split_at(end);
            args.push(arg.to_vec());
            rest = after.get(1..).unwrap_or_default();
        } else {
            let end = rest
                .iter()
                .position(u8::is_ascii_whitespace)
                .unwrap_or(rest.len());
            let (arg, after) = rest.split_at(end);
            args.push(arg.to_vec());
            rest = after;
        }
    }
    args
}

/// Whose configuration a file is: where its relative includes start, and what `~` means.
struct Owner<'a> {
    /// Directory relative include paths are relative to (`/etc/ssh`, or `HOME/.ssh`).
    base: &'a [u8],
    /// The home directory `~` stands for; `None` in system files.
    home: Option<&'a [u8]>,
}

/// Follows the includes of the system's `configs` (paths as seen from `root`), depth first.
pub fn follow(root: &std::path::Path, configs: &[&[u8]]) -> Includes {
    let mut found = Includes::default();
    let mut parsed = std::collections::HashSet::new();
    let system = Owner {
        base: b"/etc/ssh",
        home: None,
    };
    for config in configs {
        follow_one(root, config, &system, 0, &mut parsed, &mut found);
    }
    found
}

/// Follows the includes of the user configuration `HOME/.ssh/config` of every home in
/// `homes` (as seen from `root`), and adds their findings to `found`. The configuration files
/// themselves are not listed (the files patterns name them); the files they include are.
pub fn follow_users(root: &std::path::Path, homes: &[Vec<u8>], found: &mut Includes) {
    for home in homes {
        // Per user: a file two users include is read for each, since its relative and `~`
        // includes lead into each one's own home.
        let mut parsed = std::collections::HashSet::new();
        let home = home.strip_suffix(b"/").unwrap_or(home);
        let mut base = home.to_vec();
        base.extend_from_slice(b"/.ssh");
        let mut config = base.clone();
        config.extend_from_slice(b"/config");
        let user = Owner {
            base: &base,
            home: Some(home),
        };
        follow_one(root, &config, &user, 0, &mut parsed, found);
    }
}

fn follow_one(
    root: &std::path::Path,
    config: &[u8],
    owner: &Owner<'_>,
    depth: u32,
    parsed: &mut std::collections::HashSet<Vec<u8>>,
    found: &mut Includes,
) {
    let Ok(real) = hostfs::resolve_in_root(root, config) else {
        return;
    };
    if !parsed.insert(real.clone()) {
        return;
    }
    let Ok((text, _)) = hostfs::read_regular(&hostfs::under(root, &real), MAX_CONFIG_BYTES) else {
        return;
    };
    for arg in include_args(&text) {
        let shown_config = String::from_utf8_lossy(config);
        let arg = match (arg.strip_prefix(b"~/"), owner.home) {
            (Some(rest), Some(home)) => [home, b"/", rest].concat(),
            _ if arg.starts_with(b"~") => {
                found.notes.push(format!(
                    "{shown_config}: Include {} not followed (a home-relative path{})",
                    String::from_utf8_lossy(&arg),
                    if owner.home.is_some() {
                        " naming another user"
                    } else {
                        " in a system file"
                    }
                ));
                continue;
            }
            _ => arg,
        };
        if depth + 1 > MAX_DEPTH {
            found.notes.push(format!(
                "{shown_config}: Include {} not followed (deeper than {MAX_DEPTH} levels)",
                String::from_utf8_lossy(&arg)
            ));
            continue;
        }
        let pattern = if arg.starts_with(b"/") {
            arg
        } else {
            [owner.base, b"/", &arg].concat()
        };
        for (shown, resolved) in expand(root, &pattern) {
            if found.files.len() >= MAX_FILES {
                found.notes.push(format!(
                    "{shown_config}: more than {MAX_FILES} included files; the rest not followed"
                ));
                return;
            }
            // A name through `.` or `..` is listed by where it leads only.
            let plain = !shown.split(|b| *b == b'/').any(|c| c == b"." || c == b"..");
            if plain && !found.files.contains(&shown) {
                found.files.push(shown.clone());
            }
            if resolved != shown && !found.files.contains(&resolved) {
                found.files.push(resolved.clone());
            }
            follow_one(root, &resolved, owner, depth + 1, parsed, found);
        }
    }
}

/// Regular files matching a glob `pattern` below `root`, sorted as glob(3) returns them:
/// (path as named, path it resolves to), both as seen from the root.
fn expand(root: &std::path::Path, pattern: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let comps = crate::glob::Pattern::parse(pattern).components;
    let mut partial: Vec<Vec<u8>> = vec![Vec::new()];
    for comp in &comps {
        let mut next = Vec::new();
        for dir in &partial {
            match comp {
                Component::Literal(name) => next.push(child(dir, name)),
                // glob(3) knows no `**`: it is a `*`.
                Component::Wild(_) | Component::AnyDirs => {
                    let shown_dir = if dir.is_empty() {
                        b"/".to_vec()
                    } else {
                        dir.clone()
                    };
                    let Ok(real) = hostfs::resolve_in_root(root, &shown_dir) else {
                        continue;
                    };
                    let Ok(rd) = std::fs::read_dir(hostfs::under(root, &real)) else {
                        continue;
                    };
                    let mut names: Vec<Vec<u8>> = rd
                        .filter_map(Result::ok)
                        .map(|e| {
                            std::os::unix::ffi::OsStrExt::as_bytes(e.file_name().as_os_str())
                                .to_vec()
                        })
                        // As glob(3): a wildcard takes a leading `.` only when written.
                        .filter(|n| (!n.starts_with(b".") || wild_dot(comp)) && comp.matches(n))
                        .collect();
                    names.sort();
                    next.extend(names.iter().map(|n| child(dir, n)));
                }
            }
        }
        partial = next;
        if partial.len() > MAX_FILES {
            partial.truncate(MAX_FILES);
        }
    }
    partial
        .into_iter()
        .filter_map(|shown| {
            let resolved = hostfs::resolve_in_root(root, &shown).ok()?;
            let st = Stat::lstat(&hostfs::under(root, &resolved)).ok()?;
            (st.kind == Kind::File).then_some((shown, resolved))
        })
        .collect()
}

fn wild_dot(comp: &Component) -> bool {
    matches!(comp, Component::Wild(w) if w.starts_with(b"."))
}

fn child(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn shown(found: &Includes) -> Vec<String> {
        found
            .files
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect()
    }

    /// Include directives are found in any case, with `=`, quotes and tabs; comments and
    /// look-alike keywords are not.
    #[test]
    fn include_lines_are_found_in_any_case_with_quotes_and_equals() {
        let text = b"# Include /commented\nPort 22\n  include /a/*.conf \"/b c/d\" # tail\nINCLUDE=rel.conf\nMatch User x\n\tInclude\t/m.conf\nIncludeX /no\n";
        let args: Vec<String> = include_args(text)
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        assert_eq!(args, vec!["/a/*.conf", "/b c/d", "rel.conf", "/m.conf"]);
    }

    /// [security] Relative, globbed, nested and symlinked includes are followed inside the collection
    /// root only, cycles end, and a `~` include is noted, not followed.
    #[test]
    fn follows_relative_glob_nested_and_linked_includes_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(
            root,
            "etc/ssh/sshd_config",
            "Include sshd_config.d/*.conf\nInclude /opt/sshd/extra.conf\nInclude /missing/*.conf\nInclude ~/x\n",
        );
        write(
            root,
            "etc/ssh/sshd_config.d/10-a.conf",
            "PermitRootLogin no\n",
        );
        // Relative to /etc/ssh, not to the including file's directory.
        write(
            root,
            "etc/ssh/sshd_config.d/20-b.conf",
            "Include nested.conf\n",
        );
        write(root, "etc/ssh/sshd_config.d/.hidden.conf", "x\n");
        write(root, "etc/ssh/sshd_config.d/notes.txt", "x\n");
        write(
            root,
            "etc/ssh/nested.conf",
            "Include /etc/ssh/sshd_config\n",
        );
        write(root, "srv/real.conf", "AuthorizedKeysFile /srv/keys\n");
        std::fs::create_dir_all(root.join("opt/sshd")).unwrap();
        // An absolute link resolves inside the root, not on the host.
        std::os::unix::fs::symlink("/srv/real.conf", root.join("opt/sshd/extra.conf")).unwrap();
        let found = follow(root, &[b"/etc/ssh/sshd_config"]);
        assert_eq!(
            shown(&found),
            vec![
                "/etc/ssh/sshd_config.d/10-a.conf",
                "/etc/ssh/sshd_config.d/20-b.conf",
                "/etc/ssh/nested.conf",
                "/etc/ssh/sshd_config",
                "/opt/sshd/extra.conf",
                "/srv/real.conf",
            ]
        );
        assert_eq!(found.notes.len(), 1, "{:?}", found.notes);
        assert!(found.notes[0].contains("~/x"));
    }

    /// A user's `~/.ssh/config` includes are followed: relative to that user's `~/.ssh`,
    /// `~/` as that user's home (not another's), absolute ones inside the root; `~other/`
    /// is noted, not followed; a file two users include is followed for each (its `~` is each
    /// one's home); a home without a config adds nothing.
    #[test]
    fn user_configs_follow_their_own_home() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(
            root,
            "home/alice/.ssh/config",
            "Include config.d/*\nInclude ~/.config/ssh/extra\nInclude ~bob/x\nInclude /etc/ssh/shared.conf\n",
        );
        write(
            root,
            "home/alice/.ssh/config.d/jump",
            "Include ~/.ssh/deeper\n",
        );
        write(root, "home/alice/.ssh/deeper", "ProxyCommand nc evil 22\n");
        write(root, "home/alice/.config/ssh/extra", "Host *\n");
        write(
            root,
            "root/.ssh/config",
            "Include keys.conf\nInclude /etc/ssh/shared.conf\n",
        );
        write(root, "root/.ssh/keys.conf", "IdentityFile ~/.ssh/id\n");
        write(
            root,
            "etc/ssh/shared.conf",
            "Host x\n  Include ~/.ssh/own.conf\n",
        );
        write(root, "home/alice/.ssh/own.conf", "Host a\n");
        write(root, "root/.ssh/own.conf", "Host r\n");
        std::fs::create_dir_all(root.join("home/carol")).unwrap();
        let mut found = Includes::default();
        let homes = vec![
            b"/home/alice".to_vec(),
            b"/root/".to_vec(),
            b"/home/carol".to_vec(),
        ];
        follow_users(root, &homes, &mut found);
        assert_eq!(
            shown(&found),
            vec![
                "/home/alice/.ssh/config.d/jump",
                "/home/alice/.ssh/deeper",
                "/home/alice/.config/ssh/extra",
                "/etc/ssh/shared.conf",
                "/home/alice/.ssh/own.conf",
                "/root/.ssh/keys.conf",
                "/root/.ssh/own.conf",
            ]
        );
        assert_eq!(found.notes.len(), 1, "{:?}", found.notes);
        assert!(found.notes[0].contains("~bob/x") && found.notes[0].contains("another user"));
    }

    /// [hostile] A chain of 40 nested includes stops at the depth limit.
    #[test]
    fn nesting_stops_at_the_depth_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "etc/ssh/sshd_config", "Include /c/0\n");
        for i in 0..40 {
            write(root, &format!("c/{i}"), &format!("Include /c/{}\n", i + 1));
        }
        let found = follow(root, &[b"/etc/ssh/sshd_config"]);
        assert_eq!(found.files.len(), MAX_DEPTH as usize);
        assert_eq!(found.files.last().unwrap(), b"/c/15");
        assert!(found.notes.iter().any(|n| n.contains("deeper than 16")));
    }
}
