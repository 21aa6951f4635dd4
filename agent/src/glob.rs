//! File patterns of the `files` collector, matched on raw path bytes (host names need not be
//! UTF-8).
//!
//! A pattern is a list of components. Within a component: `*` any run of bytes, `?` one byte,
//! `[abc]`, `[a-z]`, `[!a]` a byte class. `**` as a whole component stands for zero or more
//! components: `a/**/b` takes `a/b` and `a/x/y/b`, and a trailing `a/**` takes `a` itself (a file
//! as well as a directory) and everything below it. `{a,b}` alternatives are expanded before
//! matching ([`expand_braces`]).

/// One component of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Component {
    /// Matched byte for byte.
    Literal(Vec<u8>),
    /// Holds `*`, `?` or `[`.
    Wild(Vec<u8>),
    /// `**`: zero or more directories.
    AnyDirs,
}

impl Component {
    fn parse(text: &[u8]) -> Self {
        if text == b"**" {
            Component::AnyDirs
        } else if text.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            Component::Wild(text.to_vec())
        } else {
            Component::Literal(text.to_vec())
        }
    }

    /// Whether a single path component (a directory entry name) matches.
    pub fn matches(&self, name: &[u8]) -> bool {
        match self {
            Component::Literal(l) => l == name,
            Component::Wild(w) => wildcard(w, name),
            Component::AnyDirs => true,
        }
    }
}

/// A parsed absolute pattern (no braces left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// Components below `/`.
    pub components: Vec<Component>,
}

impl Pattern {
    /// Parses `/a/b*/**/c`. Empty components (`//`) are dropped.
    pub fn parse(text: &[u8]) -> Self {
        let components = text
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty())
            .map(Component::parse)
            .collect();
        Self { components }
    }

    /// Whether `path` (components below `/`) matches the whole pattern. A pattern matches a
    /// path below something it names, too: `/etc/cron.d` matches `/etc/cron.d/job`.
    pub fn matches_path(&self, path: &[&[u8]]) -> bool {
        match_from(&self.components, path, true)
    }
}

fn match_from(pat: &[Component], path: &[&[u8]], prefix_ok: bool) -> bool {
    match pat.split_first() {
        None => path.is_empty() || prefix_ok,
        Some((Component::AnyDirs, rest)) => (0..=path.len())
            .any(|skip| match_from(rest, path.get(skip..).unwrap_or_default(), prefix_ok)),
        Some((c, rest)) => match path.split_first() {
            Some((name, tail)) => c.matches(name) && match_from(rest, tail, prefix_ok),
            None => false,
        },
    }
}

/// Matches one component against a wildcard pattern (`*`, `?`, `[...]`), iteratively with
/// single-star backtracking, so no input makes it slow.
pub fn wildcard(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let pc = pat.get(p).copied();
        let nc = name.get(n).copied().unwrap_or_default();
        match pc {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => {
                p += 1;
                n += 1;
                continue;
            }
            Some(b'[') => {
                if let Some((matched, next)) = class(pat, p, nc) {
                    if matched {
                        p = next;
                        n += 1;
                        continue;
                    }
                } else if nc == b'[' {
                    // An unclosed `[` is a literal.
                    p += 1;
                    n += 1;
                    continue;
                }
            }
            Some(c) if c == nc => {
                p += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pat.get(p..).unwrap_or_default().iter().all(|b| *b == b'*')
}

/// Evaluates the class starting at `pat[start] == b'['` against `c`: whether it matched and
/// the index after `]`; `None` when the class is not closed.
fn class(pat: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(pat.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let b = *pat.get(i)?;
        if b == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|e| *e != b']') {
            let hi = *pat.get(i + 2)?;
            if (b..=hi).contains(&c) {
                matched = true;
            }
            i += 3;
        } else {
            if b == c {
                matched = true;
            }
            i += 1;
        }
    }
}

/// Expands `{a,b}` alternatives (not nested), e.g. `/x/{a,b}/c` → `/x/a/c`, `/x/b/c`.
pub fn expand_braces(text: &str) -> Vec<String> {
    let Some(open) = text.find('{') else {
        return vec![text.to_owned()];
    };
    let Some(close_rel) = text.get(open..).and_then(|t| t.find('}')) else {
        return vec![text.to_owned()];
    };
    let close = open + close_rel;
    let (Some(head), Some(body), Some(tail)) = (
        text.get(..open),
        text.get(open + 1..close),
        text.get(close + 1..),
    ) else {
        return vec![text.to_owned()];
    };
    body.split(',')
        .flat_map(|alt| expand_braces(&format!("{head}{alt}{tail}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(p: &str) -> Vec<&[u8]> {
        p.split('/')
            .filter(|c| !c.is_empty())
            .map(str::as_bytes)
            .collect()
    }

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.log", b"syslog.log"));
        assert!(!wildcard(b"*.log", b"syslog.log.1"));
        assert!(wildcard(b"wtmp.[0-9]", b"wtmp.1"));
        assert!(!wildcard(b"wtmp.[0-9]", b"wtmp.x"));
        assert!(wildcard(b"[!a]b", b"cb"));
        assert!(!wildcard(b"[!a]b", b"ab"));
        assert!(wildcard(b"?", b"\xff"));
        assert!(wildcard(b".*history", b".bash_history"));
        assert!(wildcard(b"a[", b"a["));
        assert!(wildcard(b"*", b""));
        assert!(wildcard(b"**", b"abc"));
        // Pathological input stays linear-ish.
        let long = vec![b'a'; 10_000];
        assert!(!wildcard(b"*a*a*a*a*a*b", &long));
    }

    #[test]
    fn paths() {
        let p = Pattern::parse(b"/var/log/**");
        assert!(p.matches_path(&comps("/var/log/syslog")));
        assert!(p.matches_path(&comps("/var/log/journal/x/system.journal")));
        assert!(!p.matches_path(&comps("/var/lib/x")));
        let p = Pattern::parse(b"/home/*/.bash_history");
        assert!(p.matches_path(&comps("/home/alice/.bash_history")));
        assert!(!p.matches_path(&comps("/home/alice/x/.bash_history")));
        let p = Pattern::parse(b"/etc/**/*.service");
        assert!(p.matches_path(&comps("/etc/a.service")));
        assert!(p.matches_path(&comps("/etc/systemd/system/a.service")));
        // A named directory covers what is below it.
        let p = Pattern::parse(b"/etc/cron.d");
        assert!(p.matches_path(&comps("/etc/cron.d/job")));
    }

    #[test]
    fn braces() {
        assert_eq!(expand_braces("/a/{b,c}/d"), vec!["/a/b/d", "/a/c/d"]);
        assert_eq!(
            expand_braces("/{x,y}/{1,2}"),
            vec!["/x/1", "/x/2", "/y/1", "/y/2"]
        );
        assert_eq!(expand_braces("/plain"), vec!["/plain"]);
    }
}
