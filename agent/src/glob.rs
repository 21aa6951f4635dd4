//! File patterns of the `files` collector, matched on raw path bytes (host names need not be
//! UTF-8).
//!
//! A pattern is a list of components. Within a component: `*` any run of bytes, `?` one byte,
//! `[abc]`, `[a-z]`, `[!a]` a byte class. `**` as a whole component stands for zero or more
//! components: `a/**/b` takes `a/b` and `a/x/y/b`, and a trailing `a/**` takes `a` itself (a file
//! as well as a directory) and everything below it. `{a,b}` alternatives are expanded before
//! matching ([`collector_spec::FilePattern::expand`]).

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
    /// Parses `/a/b*/**/c`. Empty components (`//`) are dropped, and `**/**` is one `**`
    /// (the same paths match).
    pub fn parse(text: &[u8]) -> Self {
        let mut components: Vec<Component> = Vec::new();
        for c in text.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
            let c = Component::parse(c);
            if c == Component::AnyDirs && components.last() == Some(&Component::AnyDirs) {
                continue;
            }
            components.push(c);
        }
        Self { components }
    }

    /// Whether `path` (components below `/`) matches the whole pattern. A pattern matches a
    /// path below something it names, too: `/etc/cron.d` matches `/etc/cron.d/job`.
    pub fn matches_path(&self, path: &[&[u8]]) -> bool {
        match_from(&self.components, path, true)
    }
}

/// Matches components against a path the way [`wildcard`] matches bytes against a name,
/// with `**` in the role of `*`: iteratively, returning only to the latest `**`. A later `**`
/// can absorb whatever an earlier one would, so earlier ones never need another try, and
/// the cost is at most pattern length times path length whatever the pattern holds (a
/// recursive search is exponential in the number of `**`). With `prefix_ok`, the pattern
/// may end above the path's end, as if it ended in `**`.
fn match_from(pat: &[Component], path: &[&[u8]], prefix_ok: bool) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    // (index after the latest `**`, path index it was resumed at)
    let mut star: Option<(usize, usize)> = None;
    while n < path.len() {
        match pat.get(p) {
            Some(Component::AnyDirs) => {
                star = Some((p + 1, n));
                p += 1;
                continue;
            }
            Some(c) if path.get(n).is_some_and(|name| c.matches(name)) => {
                p += 1;
                n += 1;
                continue;
            }
            None if prefix_ok => return true,
            _ => {}
        }
        match star {
            Some((sp, sn)) => {
                p = sp;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pat.get(p..)
        .unwrap_or_default()
        .iter()
        .all(|c| *c == Component::AnyDirs)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(p: &str) -> Vec<&[u8]> {
        p.split('/')
            .filter(|c| !c.is_empty())
            .map(str::as_bytes)
            .collect()
    }

    /// Wildcards `*`, `?`, classes and negated classes match within one name, invalid UTF-8
    /// included, and a pathological pattern does not match a long name.
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

    /// Path patterns match with `*` in one component, `**` across any depth, and a named directory
    /// covers what is below it.
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

    /// The recursive definition `match_from` must agree with.
    fn reference(pat: &[Component], path: &[&[u8]], prefix_ok: bool) -> bool {
        match pat.split_first() {
            None => path.is_empty() || prefix_ok,
            Some((Component::AnyDirs, rest)) => (0..=path.len())
                .any(|skip| reference(rest, path.get(skip..).unwrap_or_default(), prefix_ok)),
            Some((c, rest)) => match path.split_first() {
                Some((name, tail)) => c.matches(name) && reference(rest, tail, prefix_ok),
                None => false,
            },
        }
    }

    /// The iterative matcher agrees with the recursive definition on every pattern of up to 5
    /// components against every path of up to 6.
    #[test]
    fn iterative_matching_agrees_with_the_recursive_definition() {
        // Every pattern of up to 5 components over {a, b, *, **} against every path of up to
        // 6 components over {a, b}, both with and without prefix matching.
        let atoms: [&[u8]; 4] = [b"a", b"b", b"*", b"**"];
        let names: [&[u8]; 2] = [b"a", b"b"];
        let mut patterns: Vec<Vec<Component>> = vec![Vec::new()];
        for len in 1..=5u32 {
            for code in 0..4usize.pow(len) {
                let mut c = code;
                let mut pat = Vec::new();
                for _ in 0..len {
                    pat.push(Component::parse(atoms[c % 4]));
                    c /= 4;
                }
                patterns.push(pat);
            }
        }
        let mut paths: Vec<Vec<&[u8]>> = vec![Vec::new()];
        for len in 1..=6u32 {
            for code in 0..2usize.pow(len) {
                paths.push((0..len).map(|i| names[(code >> i) & 1]).collect());
            }
        }
        let mut checked = 0;
        for pat in &patterns {
            for path in &paths {
                for prefix_ok in [false, true] {
                    assert_eq!(
                        match_from(pat, path, prefix_ok),
                        reference(pat, path, prefix_ok),
                        "{pat:?} against {path:?} (prefix_ok {prefix_ok})"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100_000, "{checked}");
    }

    /// [hostile] Ten `**` against a 4,000-component path match correctly within a second.
    #[test]
    fn many_any_dirs_against_a_long_path_is_fast_and_correct() {
        // Ten `**`: the recursive search tries a number of splits of the path exponential in
        // their count; the iterative one makes at most 22 x 4001 component comparisons.
        let text = format!("/{}/z", ["**", "a"].repeat(10).join("/"));
        let p = Pattern::parse(text.as_bytes());
        let long: Vec<&[u8]> = std::iter::repeat_n(&b"a"[..], 4000).collect();
        let started = std::time::Instant::now();
        assert!(!p.matches_path(&long), "no `z` at the end");
        let mut with_z = long.clone();
        with_z.push(b"z");
        assert!(p.matches_path(&with_z));
        let mut too_few_a: Vec<&[u8]> = std::iter::repeat_n(&b"a"[..], 9).collect();
        too_few_a.push(b"z");
        assert!(!p.matches_path(&too_few_a), "ten `a` are needed");
        // A pattern a spec accepts (two `**`), against a deep path that almost matches.
        let allowed = Pattern::parse(b"/**/*a*/**/z/*");
        assert!(!allowed.matches_path(&with_z), "nothing below `z`");
        with_z.push(b"f");
        assert!(allowed.matches_path(&with_z));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    /// Consecutive `**` collapse into one and still match zero or more directories.
    #[test]
    fn consecutive_any_dirs_are_one() {
        let p = Pattern::parse(b"/a/**/**/**/b");
        assert_eq!(p.components.len(), 3);
        assert!(p.matches_path(&comps("/a/b")));
        assert!(p.matches_path(&comps("/a/x/y/b")));
    }
}
