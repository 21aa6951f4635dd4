//! /proc/kcore: the kernel's view of memory as an ELF64 core file. Only the ELF header and
//! the program headers are parsed here; the bytes behind them are read by the `ram`
//! collector. A `PT_LOAD` segment of the direct map carries the physical address of its
//! first byte in `p_paddr`; segments of the kernel image, vmalloc and modules carry `-1`
//! (or, on old kernels, 0) and are never used to locate physical memory.

/// Most program headers accepted (a real kcore has tens to a few hundred).
pub const MAX_PHDRS: usize = 65_535;

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ET_CORE: u16 = 4;
const PT_LOAD: u32 = 1;
/// Size of an ELF64 header.
pub const EHDR_LEN: usize = 64;
/// Size of an ELF64 program header.
pub const PHDR_LEN: usize = 56;

/// A file that is not the little-endian ELF64 core file kcore should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KcoreError {
    /// Not an ELF file, or not 64-bit little-endian.
    #[error("not a little-endian ELF64 file")]
    NotElf64,
    /// ELF, but not a core file.
    #[error("ELF type {0} is not a core file")]
    NotCore(u16),
    /// The program header table does not fit in what was read.
    #[error("program header table ({count} x {size} bytes at {offset}) is malformed or truncated")]
    BadTable {
        /// e_phoff
        offset: u64,
        /// e_phentsize
        size: u16,
        /// e_phnum
        count: u16,
    },
}

/// The ELF header fields that locate the program headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfHeader {
    /// e_phoff: file offset of the program header table.
    pub phoff: u64,
    /// e_phentsize.
    pub phentsize: u16,
    /// e_phnum.
    pub phnum: u16,
}

impl ElfHeader {
    /// Parses the first 64 bytes of the file.
    pub fn from_bytes(buf: &[u8]) -> Result<ElfHeader, KcoreError> {
        if buf.get(..4) != Some(ELF_MAGIC.as_slice())
            || buf.get(4) != Some(&ELFCLASS64)
            || buf.get(5) != Some(&ELFDATA2LSB)
        {
            return Err(KcoreError::NotElf64);
        }
        let e_type = le_u16(buf, 16).ok_or(KcoreError::NotElf64)?;
        if e_type != ET_CORE {
            return Err(KcoreError::NotCore(e_type));
        }
        let phoff = le_u64(buf, 32).ok_or(KcoreError::NotElf64)?;
        let phentsize = le_u16(buf, 54).ok_or(KcoreError::NotElf64)?;
        let phnum = le_u16(buf, 56).ok_or(KcoreError::NotElf64)?;
        if usize::from(phentsize) < PHDR_LEN || usize::from(phnum) > MAX_PHDRS {
            return Err(KcoreError::BadTable {
                offset: phoff,
                size: phentsize,
                count: phnum,
            });
        }
        Ok(ElfHeader {
            phoff,
            phentsize,
            phnum,
        })
    }

    /// Bytes of the program header table.
    pub fn table_len(&self) -> usize {
        usize::from(self.phentsize).saturating_mul(usize::from(self.phnum))
    }
}

/// One `PT_LOAD` segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// p_offset: where its bytes start in the file.
    pub offset: u64,
    /// p_vaddr: kernel virtual address of its first byte.
    pub vaddr: u64,
    /// p_paddr: physical address of its first byte, when it has one.
    pub paddr: Option<u64>,
    /// p_filesz: bytes present in the file.
    pub size: u64,
}

impl Segment {
    /// The part of physical `[start, end]` (inclusive) this segment holds, as
    /// (first physical address, last physical address, file offset of the first).
    pub fn physical_overlap(&self, start: u64, end: u64) -> Option<(u64, u64, u64)> {
        let base = self.paddr?;
        let last = base.checked_add(self.size.checked_sub(1)?)?;
        let from = start.max(base);
        let to = end.min(last);
        if from > to {
            return None;
        }
        let offset = self.offset.checked_add(from - base)?;
        Some((from, to, offset))
    }
}

/// Parses the program header table (`header.table_len()` bytes read at `header.phoff`) into
/// the `PT_LOAD` segments, in file order.
pub fn load_segments(header: &ElfHeader, table: &[u8]) -> Result<Vec<Segment>, KcoreError> {
    let bad = || KcoreError::BadTable {
        offset: header.phoff,
        size: header.phentsize,
        count: header.phnum,
    };
    let mut out = Vec::new();
    for i in 0..usize::from(header.phnum) {
        let at = i
            .checked_mul(usize::from(header.phentsize))
            .ok_or_else(bad)?;
        let ph = table
            .get(at..at.checked_add(PHDR_LEN).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        if le_u32(ph, 0) != Some(PT_LOAD) {
            continue;
        }
        let field = |o: usize| le_u64(ph, o).ok_or_else(bad);
        let paddr = field(24)?;
        out.push(Segment {
            offset: field(8)?,
            vaddr: field(16)?,
            paddr: (paddr != 0 && paddr != u64::MAX).then_some(paddr),
            size: field(32)?,
        });
    }
    Ok(out)
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
/// Builds a kcore-like ELF64 core file: a `PT_NOTE`, then one `PT_LOAD` per
/// (vaddr, paddr, bytes), the bytes laid out after the headers. For tests and fixtures.
pub fn synthetic(segments: &[(u64, u64, &[u8])]) -> Vec<u8> {
    let phnum = segments.len() + 1;
    let mut data_at = (EHDR_LEN + PHDR_LEN * phnum) as u64;
    let mut out = Vec::new();
    out.extend_from_slice(ELF_MAGIC);
    out.extend_from_slice(&[ELFCLASS64, ELFDATA2LSB, 1, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&ET_CORE.to_le_bytes());
    out.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // e_entry
    out.extend_from_slice(&(EHDR_LEN as u64).to_le_bytes()); // e_phoff
    out.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    out.extend_from_slice(&(EHDR_LEN as u16).to_le_bytes());
    out.extend_from_slice(&(PHDR_LEN as u16).to_le_bytes());
    out.extend_from_slice(&(phnum as u16).to_le_bytes());
    out.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
    let mut phdr = |p_type: u32, offset: u64, vaddr: u64, paddr: u64, size: u64| {
        out.extend_from_slice(&p_type.to_le_bytes());
        out.extend_from_slice(&7u32.to_le_bytes());
        for v in [offset, vaddr, paddr, size, size, 4096] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    };
    phdr(4, 0, 0, 0, 0); // PT_NOTE, empty
    for (vaddr, paddr, bytes) in segments {
        phdr(PT_LOAD, data_at, *vaddr, *paddr, bytes.len() as u64);
        data_at += bytes.len() as u64;
    }
    for (_, _, bytes) in segments {
        out.extend_from_slice(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The load segments of a synthetic /proc/kcore ELF core are read with their physical
    /// addresses, and a physical range maps to the right file offset.
    #[test]
    fn parses_synthetic_core() {
        let a = vec![1u8; 4096];
        let b = vec![2u8; 8192];
        let file = synthetic(&[
            (0xffff_ffff_8100_0000, u64::MAX, &a), // kernel text: no physical address
            (0xffff_8880_0010_0000, 0x10_0000, &b),
        ]);
        let h = ElfHeader::from_bytes(&file).unwrap();
        assert_eq!(h.phnum, 3);
        let table = &file[h.phoff as usize..h.phoff as usize + h.table_len()];
        let segs = load_segments(&h, table).unwrap();
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].paddr, None);
        assert_eq!(segs[1].paddr, Some(0x10_0000));
        assert_eq!(segs[1].size, 8192);
        let off = segs[1].offset as usize;
        assert_eq!(&file[off..off + 8192], &b[..]);
        // Physical [0x10_1000, 0x20_0000] overlaps the segment's second page only.
        assert_eq!(
            segs[1].physical_overlap(0x10_1000, 0x20_0000),
            Some((0x10_1000, 0x10_1fff, segs[1].offset + 4096))
        );
        assert_eq!(segs[1].physical_overlap(0, 0xf_ffff), None);
        assert_eq!(segs[0].physical_overlap(0, u64::MAX), None);
    }

    /// [hostile] Empty, 32-bit, non-core ELF files, a too-small program header size and a truncated
    /// table are refused with typed errors.
    #[test]
    fn refuses_what_is_not_a_core() {
        assert_eq!(ElfHeader::from_bytes(b""), Err(KcoreError::NotElf64));
        assert_eq!(
            ElfHeader::from_bytes(b"\x7fELF\x01\x01\x01"),
            Err(KcoreError::NotElf64)
        );
        let mut exec = synthetic(&[]);
        exec[16] = 2; // ET_EXEC
        assert_eq!(ElfHeader::from_bytes(&exec), Err(KcoreError::NotCore(2)));
        let mut short = synthetic(&[(0, 0x1000, &[0u8; 16])]);
        short[54] = 8; // e_phentsize too small
        assert!(matches!(
            ElfHeader::from_bytes(&short),
            Err(KcoreError::BadTable { .. })
        ));
        let file = synthetic(&[(0, 0x1000, &[0u8; 16])]);
        let h = ElfHeader::from_bytes(&file).unwrap();
        assert!(
            load_segments(&h, &file[64..100]).is_err(),
            "truncated table"
        );
    }

    /// [hostile] Truncated and randomly corrupted kcore headers and tables never panic the parser.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..300 {
            let mut buf: Vec<u8> = synthetic(&[(0, 0x1000, &[0u8; 8])]);
            buf.truncate(len);
            for b in buf.iter_mut().skip(16) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if seed.is_multiple_of(5) {
                    *b = seed as u8;
                }
            }
            if let Ok(h) = ElfHeader::from_bytes(&buf) {
                let _ = load_segments(&h, buf.get(64..).unwrap_or_default());
            }
        }
    }
}
