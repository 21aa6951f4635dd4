//! /proc/modules and /proc/sys/kernel/tainted.

use super::{fields, num};

/// One loaded module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Reference count (`-` when unloading is disabled).
    pub refcount: Option<i64>,
    /// Modules that use this one.
    pub used_by: Vec<String>,
    /// `Live`, `Loading` or `Unloading`.
    pub state: String,
    /// Load address (zeros when kptr_restrict hides it).
    pub address: Option<String>,
    /// Taint letters, e.g. `OE`, without parentheses.
    pub taint: Option<String>,
}

/// Parses /proc/modules; returns modules and the count of malformed lines.
pub fn parse(buf: &[u8]) -> (Vec<Module>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in buf
        .split(|b| *b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
    {
        match parse_line(line) {
            Some(m) => out.push(m),
            None => bad += 1,
        }
    }
    (out, bad)
}

fn parse_line(line: &[u8]) -> Option<Module> {
    let f: Vec<String> = fields(line)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    let name = f.first()?.clone();
    let size = num(f.get(1)?.as_bytes())?;
    let refcount = f.get(2)?.parse().ok();
    let used_by = match f.get(3)?.as_str() {
        "-" => Vec::new(),
        list => list
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let state = f.get(4)?.clone();
    let address = f.get(5).cloned();
    let taint = f
        .get(6)
        .and_then(|t| t.strip_prefix('(').and_then(|t| t.strip_suffix(')')))
        .map(str::to_owned);
    Some(Module {
        name,
        size,
        refcount,
        used_by,
        state,
        address,
        taint,
    })
}

/// Kernel taint bits (Documentation/admin-guide/tainted-kernels.rst), bit → (letter, meaning).
pub const TAINT_FLAGS: &[(u32, char, &str)] = &[
    (0, 'P', "proprietary module loaded"),
    (1, 'F', "module force loaded"),
    (2, 'S', "kernel running on an out of specification system"),
    (3, 'R', "module force unloaded"),
    (4, 'M', "processor reported a machine check exception"),
    (5, 'B', "bad page referenced or unexpected page flags"),
    (6, 'U', "taint requested by userspace"),
    (7, 'D', "kernel died recently (OOPS or BUG)"),
    (8, 'A', "ACPI table overridden"),
    (9, 'W', "kernel issued a warning"),
    (10, 'C', "staging driver loaded"),
    (11, 'I', "workaround for a platform firmware bug applied"),
    (12, 'O', "externally-built (out-of-tree) module loaded"),
    (13, 'E', "unsigned module loaded"),
    (14, 'L', "soft lockup occurred"),
    (15, 'K', "kernel live patched"),
    (16, 'X', "auxiliary taint (distribution defined)"),
    (17, 'T', "kernel built with the struct randomization plugin"),
    (18, 'N', "an in-kernel test has been run"),
];

/// The meanings of a /proc/sys/kernel/tainted value.
pub fn decode_taint(value: u64) -> Vec<String> {
    TAINT_FLAGS
        .iter()
        .filter(|(bit, _, _)| value & (1u64 << bit) != 0)
        .map(|(_, letter, meaning)| format!("{letter}: {meaning}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /proc/modules lines parse with size, taint flags, users, a missing refcount and the
    /// Unloading state.
    #[test]
    fn parses_ec2_style_modules() {
        let buf = b"nf_tables 303104 0 - Live 0xffffffffc0a00000\n\
rootkit 16384 1 - Live 0x0000000000000000 (OE)\n\
ena 143360 0 - Live 0xffffffffc0200000\n\
ext4 999424 2 jbd2,mbcache, Live 0xffffffffc0300000\n\
busy 4096 - - Unloading 0xffffffffc0400000\n";
        let (m, bad) = parse(buf);
        assert_eq!(bad, 0);
        assert_eq!(m.len(), 5);
        let rk = m.get(1).unwrap();
        assert_eq!(
            (rk.name.as_str(), rk.size, rk.taint.as_deref()),
            ("rootkit", 16384, Some("OE"))
        );
        assert_eq!(m.first().unwrap().taint, None);
        assert_eq!(m.get(3).unwrap().used_by, vec!["jbd2", "mbcache"]);
        assert_eq!(m.get(4).unwrap().refcount, None);
        assert_eq!(m.get(4).unwrap().state, "Unloading");
    }

    /// [hostile] Module lines with too few fields or a non-numeric size are counted and skipped.
    #[test]
    fn malformed_module_lines() {
        let (m, bad) = parse(b"onlyname\nx notanumber 0 - Live\n\n");
        assert!(m.is_empty());
        assert_eq!(bad, 2);
    }

    /// Kernel taint bits decode to named flags (O for out-of-tree among them); zero is no taint.
    #[test]
    fn decodes_taint() {
        assert!(decode_taint(0).is_empty());
        let t = decode_taint((1 << 12) | (1 << 13) | 1);
        assert_eq!(t.len(), 3);
        assert!(t.iter().any(|s| s.starts_with("O:")));
    }
}
