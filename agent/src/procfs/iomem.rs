//! /proc/iomem: the physical address map. Only top-level `System RAM` entries are memory a
//! dump should read; nested entries (`Kernel code`, `Kernel data`) lie inside them, and the
//! rest (reserved ranges, PCI windows, ACPI tables) are device or firmware space.

/// One `System RAM` range, inclusive at both ends as the kernel prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamRange {
    /// First physical address.
    pub start: u64,
    /// Last physical address (inclusive).
    pub end: u64,
}

impl RamRange {
    /// Bytes in the range.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start).saturating_add(1)
    }

    /// Whether the range holds no bytes (never, for a parsed range).
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }
}

/// The parsed map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Iomem {
    /// Top-level `System RAM` ranges, ascending by start.
    pub ram: Vec<RamRange>,
    /// Lines that did not parse.
    pub malformed: usize,
    /// Whether every address read as zero: the kernel hides them from readers without
    /// CAP_SYS_ADMIN.
    pub addresses_hidden: bool,
}

impl Iomem {
    /// Parses the file's bytes. Never fails: bad lines are counted.
    pub fn from_bytes(buf: &[u8]) -> Iomem {
        let mut out = Iomem::default();
        let mut entries = 0usize;
        let mut zero = 0usize;
        for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Some((range, name)) = split_line(line) else {
                out.malformed += 1;
                continue;
            };
            entries += 1;
            if range.start == 0 && range.end == 0 {
                zero += 1;
            }
            let top_level = line.first().is_some_and(|b| !b.is_ascii_whitespace());
            if top_level && name == b"System RAM" && range.end >= range.start {
                out.ram.push(range);
            }
        }
        out.addresses_hidden = entries > 0 && zero == entries;
        if out.addresses_hidden {
            out.ram.clear();
        }
        out.ram.sort_by_key(|r| r.start);
        out
    }

    /// Total bytes of System RAM.
    pub fn ram_bytes(&self) -> u64 {
        self.ram
            .iter()
            .map(RamRange::len)
            .fold(0, u64::saturating_add)
    }
}

/// `  00100000-bffdffff : System RAM` → range and name.
fn split_line(line: &[u8]) -> Option<(RamRange, &[u8])> {
    let text = line.trim_ascii();
    let colon = text.windows(3).position(|w| w == b" : ")?;
    let range = text.get(..colon)?.trim_ascii();
    let name = text.get(colon + 3..)?.trim_ascii();
    let dash = range.iter().position(|b| *b == b'-')?;
    let start = super::hex_num(range.get(..dash)?)?;
    let end = super::hex_num(range.get(dash + 1..)?)?;
    Some((RamRange { start, end }, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from an EC2 m5.large (8 GiB), trimmed.
    const EC2: &[u8] = b"00000000-00000fff : Reserved\n\
00001000-0009dfff : System RAM\n\
0009e000-0009ffff : Reserved\n\
000a0000-000bffff : PCI Bus 0000:00\n\
000f0000-000fffff : System ROM\n\
00100000-bffe8fff : System RAM\n\
  5c000000-5d002626 : Kernel code\n\
  5d200000-5da63fff : Kernel rodata\n\
  5dc00000-5df2ddbf : Kernel data\n\
bffe9000-bfffffff : Reserved\n\
c0000000-febfffff : PCI Bus 0000:00\n\
  fe000000-fe3fffff : 0000:00:03.0\n\
fec00000-fec003ff : IOAPIC 0\n\
100000000-22fffffff : System RAM\n\
  1f6000000-22fffffff : Crash kernel\n\
230000000-23fffffff : RAM buffer\n";

    /// Only top-level System RAM ranges are taken from an EC2 /proc/iomem, and their sizes add up.
    #[test]
    fn top_level_system_ram_only() {
        let m = Iomem::from_bytes(EC2);
        assert_eq!(m.malformed, 0);
        assert!(!m.addresses_hidden);
        assert_eq!(
            m.ram,
            vec![
                RamRange {
                    start: 0x1000,
                    end: 0x9dfff
                },
                RamRange {
                    start: 0x100000,
                    end: 0xbffe8fff
                },
                RamRange {
                    start: 0x1_0000_0000,
                    end: 0x2_2fff_ffff
                },
            ]
        );
        assert_eq!(m.ram_bytes(), 0x9d000 + 0xbfee9000 + 0x1_3000_0000);
    }

    /// An /proc/iomem whose addresses all read as zero is reported as hidden and gives no RAM
    /// ranges.
    #[test]
    fn hidden_addresses_are_detected() {
        let m = Iomem::from_bytes(
            b"00000000-00000000 : Reserved\n00000000-00000000 : System RAM\n  00000000-00000000 : Kernel code\n",
        );
        assert!(m.addresses_hidden);
        assert!(m.ram.is_empty());
    }

    /// [hostile] Malformed /proc/iomem lines (bad hex, no range, invalid bytes, end before start)
    /// are counted and skipped; good ranges still parse.
    #[test]
    fn hostile_lines_are_counted_not_fatal() {
        let m = Iomem::from_bytes(
            b"zzzz-1000 : System RAM\n1000 : System RAM\n\xff\xfe\n2000-1000 : System RAM\n3000-3fff : System RAM\n",
        );
        assert_eq!(m.malformed, 3);
        assert_eq!(
            m.ram,
            vec![RamRange {
                start: 0x3000,
                end: 0x3fff
            }]
        );
        assert_eq!(Iomem::from_bytes(b""), Iomem::default());
    }
}
