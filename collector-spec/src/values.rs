//! Value types that validate themselves while the YAML is read, so a bad value is reported
//! with the line and column where it stands.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// An artifact name: 1–64 characters of `a-z`, `0-9`, `_`, `-`, starting with a letter or digit.
/// It becomes part of a file name and an S3 key, so nothing else is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArtifactName(String);

impl ArtifactName {
    /// Validates a name.
    pub fn new(name: &str) -> Result<Self, String> {
        let ok_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
        let first_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if name.is_empty() || name.len() > 64 || !first_ok || !name.chars().all(ok_char) {
            return Err(format!(
                "invalid artifact name `{}`: use 1-64 characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
                name.escape_debug()
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArtifactName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ArtifactName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextOrNumber("an artifact name", ArtifactName::new))
    }
}

impl Serialize for ArtifactName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A duration written as `500ms`, `30s`, `2m` or `1h` (a bare number means seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SpecDuration(pub Duration);

impl SpecDuration {
    /// The longest duration a spec accepts (24 hours).
    pub const MAX: Duration = Duration::from_secs(24 * 3600);

    /// Parses `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| {
            format!(
                "invalid duration `{}`: expected e.g. 500ms, 30s, 2m, 1h",
                t.escape_debug()
            )
        })?;
        let d = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "" | "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            other => {
                return Err(format!(
                    "invalid duration unit `{}`: use ms, s, m or h",
                    other.escape_debug()
                ))
            }
        };
        if d.is_zero() {
            return Err("a duration must be greater than zero".into());
        }
        if d > Self::MAX {
            return Err(format!("duration `{t}` is longer than the 24h limit"));
        }
        Ok(Self(d))
    }
}

impl fmt::Display for SpecDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

impl<'de> Deserialize<'de> for SpecDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextOrNumber("a duration such as 30s", SpecDuration::parse))
    }
}

impl Serialize for SpecDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A byte count written as a number or with a unit: `512`, `64KiB`, `64MiB`, `2GiB`
/// (`K`, `M`, `G` and `KB`, `MB`, `GB` are read as binary units too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The largest size a spec accepts (1 TiB).
    pub const MAX: u64 = 1 << 40;

    /// Parses a size.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid size `{}`: expected e.g. 64MiB", t.escape_debug()))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            other => {
                return Err(format!(
                    "invalid size unit `{}`: use B, KiB, MiB, GiB or TiB",
                    other.escape_debug()
                ))
            }
        };
        let v = n
            .checked_mul(mult)
            .filter(|v| *v <= Self::MAX)
            .ok_or_else(|| format!("size `{t}` is larger than the 1TiB limit"))?;
        Ok(Self(v))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
            if v >= (1 << shift) && v.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", v >> shift);
            }
        }
        write!(f, "{v}B")
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextOrNumber("a size such as 64MiB", ByteSize::parse))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A file pattern of the `files` collector: absolute (`/var/log/**`) or starting with `~/`
/// (every home directory). No `.` or `..` components, no NUL, at most 4096 bytes, at most
/// [`FilePattern::MAX_EXPANSIONS`] patterns once `{a,b}` groups are expanded, and at most
/// [`FilePattern::MAX_ANY_DIRS`] `**` components in each of them. The bounds are checked
/// while the spec is read, so a pattern that would cost the collector unbounded memory or
/// time is refused before anything is collected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FilePattern(String);

impl FilePattern {
    /// Most patterns one pattern's `{a,b}` groups may expand to.
    pub const MAX_EXPANSIONS: usize = 1024;
    /// Most `**` components in one (expanded) pattern: each one multiplies the directories
    /// walked and the ways a path can match.
    pub const MAX_ANY_DIRS: usize = 2;
    /// Most `{` groups in one pattern.
    pub const MAX_GROUPS: usize = 8;

    /// Validates a pattern.
    pub fn new(text: &str) -> Result<Self, String> {
        let shown = text.escape_debug();
        if !(text.starts_with('/') || text.starts_with("~/")) {
            return Err(format!(
                "invalid file pattern `{shown}`: it must be absolute (start with `/`) or start with `~/`"
            ));
        }
        if text.len() > 4096 || text.contains('\0') {
            return Err(format!(
                "invalid file pattern `{shown}`: too long or holds NUL"
            ));
        }
        if text.split('/').any(|c| c == "." || c == "..") {
            return Err(format!(
                "invalid file pattern `{shown}`: `.` and `..` components are not allowed"
            ));
        }
        let opens = text.matches('{').count();
        if opens != text.matches('}').count() || opens > Self::MAX_GROUPS {
            return Err(format!(
                "invalid file pattern `{shown}`: unbalanced `{{` `}}` (or more than {} groups)",
                Self::MAX_GROUPS
            ));
        }
        let Some(expanded) = expand_braces(text, Self::MAX_EXPANSIONS) else {
            return Err(format!(
                "invalid file pattern `{shown}`: its `{{a,b}}` groups expand to more than {} patterns",
                Self::MAX_EXPANSIONS
            ));
        };
        let any_dirs = expanded
            .iter()
            .map(|p| p.split('/').filter(|c| *c == "**").count())
            .max()
            .unwrap_or(0);
        if any_dirs > Self::MAX_ANY_DIRS {
            return Err(format!(
                "invalid file pattern `{shown}`: {any_dirs} `**` components (at most {} per pattern)",
                Self::MAX_ANY_DIRS
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The patterns its `{a,b}` groups stand for, in order: `/x/{a,b}/c` gives `/x/a/c` and
    /// `/x/b/c`. At most [`FilePattern::MAX_EXPANSIONS`], as checked when it was made.
    pub fn expand(&self) -> Vec<String> {
        expand_braces(&self.0, Self::MAX_EXPANSIONS).unwrap_or_else(|| vec![self.0.clone()])
    }
}

/// Expands `{a,b}` alternatives (not nested), the first group first: `/{x,y}/{1,2}` gives
/// `/x/1`, `/x/2`, `/y/1`, `/y/2`. A `{` with no `}` after it is literal text. `None` when
/// the result would hold more than `limit` patterns; the work done before giving up is
/// bounded by `limit` too, since every pending text yields at least one pattern.
fn expand_braces(text: &str, limit: usize) -> Option<Vec<String>> {
    let mut done = Vec::new();
    let mut pending = vec![text.to_owned()];
    while let Some(t) = pending.pop() {
        match first_group(&t) {
            None => done.push(t),
            Some((head, body, tail)) => {
                // Pushed in reverse so the first alternative is expanded first.
                for alt in body.rsplit(',') {
                    pending.push(format!("{head}{alt}{tail}"));
                    if done.len() + pending.len() > limit {
                        return None;
                    }
                }
            }
        }
        if done.len() + pending.len() > limit {
            return None;
        }
    }
    Some(done)
}

/// The text before the first `{`, between it and the next `}`, and after that `}`.
fn first_group(text: &str) -> Option<(&str, &str, &str)> {
    let open = text.find('{')?;
    let close = open + text.get(open..)?.find('}')?;
    Some((
        text.get(..open)?,
        text.get(open + 1..close)?,
        text.get(close + 1..)?,
    ))
}

impl fmt::Display for FilePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FilePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextOrNumber(
            "a file pattern such as /var/log/**",
            FilePattern::new,
        ))
    }
}

impl Serialize for FilePattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// zstd compression level, 1 to 19.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ZstdLevel(pub i32);

impl Default for ZstdLevel {
    fn default() -> Self {
        Self(3)
    }
}

impl ZstdLevel {
    /// The default level of record streams.
    pub fn records_default() -> Self {
        Self(1)
    }
}

impl<'de> Deserialize<'de> for ZstdLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_i64(TextOrNumber("a zstd level from 1 to 19", |t| {
            match t.parse::<i32>() {
                Ok(v) if (1..=19).contains(&v) => Ok(ZstdLevel(v)),
                _ => Err(format!("zstd level {t} is out of range: use 1 to 19")),
            }
        }))
    }
}

/// A CPU quota in percent of one CPU: 50 is half a core, 200 two cores (1 to 100000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CpuPercent(pub u32);

impl CpuPercent {
    /// Largest quota accepted: a thousand CPUs.
    pub const MAX: u32 = 100_000;

    /// Parses a whole number of percent of one CPU, 1 to [`CpuPercent::MAX`].
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().parse::<u32>() {
            Ok(v) if (1..=Self::MAX).contains(&v) => Ok(Self(v)),
            _ => Err(format!(
                "invalid CPU quota `{}`: give a whole number of percent of one CPU from 1 to {} \
                 (50 = half a core, 200 = two cores)",
                s.escape_debug(),
                Self::MAX
            )),
        }
    }
}

impl<'de> Deserialize<'de> for CpuPercent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_i64(TextOrNumber(
            "a CPU quota in percent of one CPU (1 to 100000)",
            CpuPercent::parse,
        ))
    }
}

/// Accepts a string or a non-negative integer and parses its text with the given function,
/// inside the visitor so that an error is reported at the value's own position.
struct TextOrNumber<T>(&'static str, fn(&str) -> Result<T, String>);

impl<T> Visitor<'_> for TextOrNumber<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.1)(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.1)(&v.to_string()).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        if v < 0 {
            return Err(E::custom(format!("{v} is negative; expected {}", self.0)));
        }
        (self.1)(&v.to_string()).map_err(E::custom)
    }
}
