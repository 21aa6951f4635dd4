//! vestige collector specs.
//!
//! A spec is a YAML document naming an ordered list of artifacts, most volatile first
//! (RFC 3227). Each artifact names one built-in collector kind with its options. The types
//! in [`types`] are the spec's documentation: every field, its default and its bounds.
//!
//! ```
//! let spec = collector_spec::Spec::builtin("minimal").unwrap();
//! assert_eq!(spec.spec.name, "minimal");
//! ```

mod error;
mod profiles;
pub mod types;
mod values;

pub use error::SpecError;
pub use profiles::{builtin_source, BUILTIN_PROFILES, DEFAULT_PROFILE};
pub use types::*;
pub use values::{ArtifactName, ByteSize, CpuPercent, FilePattern, SpecDuration, ZstdLevel};

use sha2::{Digest, Sha256};

/// A parsed, validated spec together with the exact bytes it came from.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// The parsed spec.
    pub spec: Spec,
    /// The YAML source, byte for byte (stored in the bundle).
    pub source: String,
    /// Lowercase hex SHA-256 of `source`.
    pub sha256: String,
}

impl Spec {
    /// Parses and validates a spec from YAML text.
    pub fn from_yaml(source: &str) -> Result<LoadedSpec, SpecError> {
        check_nesting(source)?;
        let spec: Spec = serde_yaml_ng::from_str(source).map_err(SpecError::from_yaml)?;
        spec.validate(source)?;
        let sha256 = hex_sha256(source.as_bytes());
        Ok(LoadedSpec {
            spec,
            source: source.to_owned(),
            sha256,
        })
    }

    /// Loads a built-in profile by name.
    pub fn builtin(name: &str) -> Result<LoadedSpec, SpecError> {
        let source = builtin_source(name).ok_or_else(|| SpecError::UnknownProfile {
            name: name.to_owned(),
        })?;
        Self::from_yaml(source)
    }

    /// Checks what the type system cannot: unique artifact names.
    fn validate(&self, source: &str) -> Result<(), SpecError> {
        let mut seen = std::collections::HashSet::new();
        for artifact in &self.artifacts {
            let name = artifact.name.as_str();
            if !seen.insert(name) {
                let (line, column) = locate_nth_name(source, name, 2).unwrap_or((0, 0));
                return Err(SpecError::Invalid {
                    message: format!("artifact name `{name}` is used more than once"),
                    line,
                    column,
                });
            }
        }
        for recipient in &self.encrypt_to {
            if !is_age_x25519_recipient(recipient) {
                let (line, column) = locate_key(source, "encrypt_to").unwrap_or((1, 1));
                return Err(SpecError::Invalid {
                    message: format!(
                        "encrypt_to: `{}` is not an age X25519 recipient (age1 followed by 58 \
                         lowercase bech32 characters)",
                        recipient.escape_debug()
                    ),
                    line,
                    column,
                });
            }
        }
        if self.artifacts.is_empty() {
            return Err(SpecError::Invalid {
                message: "a spec needs at least one artifact".into(),
                line: locate_key(source, "artifacts").map_or(1, |p| p.0),
                column: locate_key(source, "artifacts").map_or(1, |p| p.1),
            });
        }
        Ok(())
    }
}

/// Whether `s` has the shape of an age X25519 recipient: `age1` and 58 bech32 characters.
/// (The agent decodes it fully; this catches typos with a position.)
pub fn is_age_x25519_recipient(s: &str) -> bool {
    const BECH32: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    s.len() == 62
        && s.starts_with("age1")
        && s.bytes().skip(4).all(|b| BECH32.as_bytes().contains(&b))
}

/// Deepest flow nesting (`[`, `{`) a spec may use; real specs need three or four levels.
const MAX_NESTING: usize = 32;

/// Refuses deeply nested flow collections before the YAML parser sees them: the parser's
/// cost grows badly with depth, and a spec is hostile input like any other. Brackets are
/// counted everywhere, quoted or not, so no quoting trick slips depth past the check.
fn check_nesting(source: &str) -> Result<(), SpecError> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    for c in source.chars() {
        column += 1;
        match c {
            '\n' => {
                line += 1;
                column = 0;
            }
            '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(SpecError::Parse {
                        message: format!("collections nested more than {MAX_NESTING} deep"),
                        line,
                        column,
                    });
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn hex_sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Line and column (1-based) of the `n`th `name: <value>` line in the source.
fn locate_nth_name(source: &str, value: &str, n: usize) -> Option<(usize, usize)> {
    let mut count = 0;
    for (i, line) in source.lines().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if let Some(rest) = trimmed.strip_prefix("name:") {
            let v = rest.trim().trim_matches(|c| c == '"' || c == '\'');
            if v == value {
                count += 1;
                if count == n {
                    let column = line.find("name:").map_or(1, |c| c + 1);
                    return Some((i + 1, column));
                }
            }
        }
    }
    None
}

fn locate_key(source: &str, key: &str) -> Option<(usize, usize)> {
    source.lines().enumerate().find_map(|(i, line)| {
        let col = line.find(&format!("{key}:"))?;
        Some((i + 1, col + 1))
    })
}

#[cfg(test)]
mod tests;

/// What `collect --pid` and `collect --ram` add to a spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryFlags {
    /// Processes whose memory is dumped whatever the selectors say.
    pub pids: Vec<u32>,
    /// Collect full RAM.
    pub ram: bool,
}

impl LoadedSpec {
    /// The spec with `flags` applied: the pids join every `process_memory` artifact (one is
    /// added first, dumping only those pids, when the spec has none), and `ram` adds a `ram`
    /// artifact right after the process memory when the spec has none. The result's source
    /// is the YAML of the spec that will run, so the stored spec and its hash say what ran.
    /// Without flags the spec is returned unchanged.
    pub fn with_memory_flags(&self, flags: &MemoryFlags) -> Result<LoadedSpec, SpecError> {
        if flags.pids.is_empty() && !flags.ram {
            return Ok(self.clone());
        }
        let mut spec = self.spec.clone();
        let free_name = |spec: &Spec, base: &str| -> String {
            let taken = |n: &str| spec.artifacts.iter().any(|a| a.name.as_str() == n);
            let mut name = base.to_owned();
            let mut i = 2;
            while taken(&name) {
                name = format!("{base}_{i}");
                i += 1;
            }
            name
        };
        let invalid = |message: String| SpecError::Invalid {
            message,
            line: 0,
            column: 0,
        };
        if !flags.pids.is_empty() {
            let mut found = false;
            for a in &mut spec.artifacts {
                if let CollectorSpec::ProcessMemory(o) = &mut a.collect {
                    found = true;
                    for pid in &flags.pids {
                        if !o.pids.contains(pid) {
                            o.pids.push(*pid);
                        }
                    }
                }
            }
            if !found {
                let name =
                    ArtifactName::new(&free_name(&spec, "process_memory")).map_err(invalid)?;
                spec.artifacts.insert(
                    0,
                    ArtifactSpec {
                        name,
                        timeout: SpecDuration(std::time::Duration::from_secs(600)),
                        collect: CollectorSpec::ProcessMemory(ProcessMemoryOptions {
                            select: Vec::new(),
                            pids: flags.pids.clone(),
                            ..ProcessMemoryOptions::default()
                        }),
                    },
                );
            }
        }
        if flags.ram
            && !spec
                .artifacts
                .iter()
                .any(|a| matches!(a.collect, CollectorSpec::Ram(_)))
        {
            let at = spec
                .artifacts
                .iter()
                .take_while(|a| matches!(a.collect, CollectorSpec::ProcessMemory(_)))
                .count();
            let name = ArtifactName::new(&free_name(&spec, "ram")).map_err(invalid)?;
            spec.artifacts.insert(
                at,
                ArtifactSpec {
                    name,
                    timeout: SpecDuration(std::time::Duration::from_secs(4 * 3600)),
                    collect: CollectorSpec::Ram(RamOptions::default()),
                },
            );
        }
        let mut what = Vec::new();
        if !flags.pids.is_empty() {
            let pids: Vec<String> = flags.pids.iter().map(|p| format!("--pid {p}")).collect();
            what.push(pids.join(" "));
        }
        if flags.ram {
            what.push("--ram".to_owned());
        }
        let yaml = serde_yaml_ng::to_string(&spec).map_err(|e| invalid(e.to_string()))?;
        let source = format!(
            "# spec `{}` (sha256 {}) with `collect {}`\n{yaml}",
            self.spec.name,
            self.sha256,
            what.join(" ")
        );
        Spec::from_yaml(&source)
    }
}
