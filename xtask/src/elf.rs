//! A small ELF64 reader: just enough to turn a statically linked ELF into the raw
//! binary that QEMU `-kernel` (or U-Boot `booti`) loads.
//!
//! Layout rule of the raw binary: the PT_LOAD segments that carry file bytes are laid
//! out from the lowest physical address (`p_paddr`); gaps between segments are
//! zero-filled; trailing `.bss` (memory size beyond the last file byte) is not part of
//! the file. Segments without file bytes (pure `.bss`) do not move the start.

use anyhow::{bail, ensure, Context, Result};

/// `e_machine` of aarch64.
pub const EM_AARCH64: u16 = 183;
const PT_LOAD: u32 = 1;
/// A raw image larger than this almost certainly means two segments far apart
/// (e.g. one linked at 0 and one in RAM); refuse instead of writing gigabytes.
const MAX_RAW_SIZE: u64 = 256 << 20;

/// One PT_LOAD program header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub paddr: u64,
    pub vaddr: u64,
    pub offset: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub flags: u32,
}

/// The parts of an ELF file that image assembly needs.
#[derive(Debug, Clone)]
pub struct Elf {
    pub machine: u16,
    pub entry: u64,
    /// PT_LOAD segments only, in file order.
    pub segments: Vec<Segment>,
}

/// A raw binary and where it must be loaded.
#[derive(Debug, Clone)]
pub struct RawImage {
    /// Physical address of the first byte.
    pub load_addr: u64,
    /// ELF entry point (virtual address as linked).
    pub entry: u64,
    /// Highest physical address covered by any PT_LOAD, including `.bss`.
    pub mem_end: u64,
    pub bytes: Vec<u8>,
}

fn field<const N: usize>(b: &[u8], off: usize) -> Result<[u8; N]> {
    let end = off.checked_add(N).context("ELF offset overflow")?;
    let s = b.get(off..end).with_context(|| {
        format!(
            "ELF truncated: need bytes {off:#x}..{end:#x}, file has {:#x}",
            b.len()
        )
    })?;
    Ok(s.try_into().expect("slice length is N"))
}
fn u16_at(b: &[u8], off: usize) -> Result<u16> {
    Ok(u16::from_le_bytes(field(b, off)?))
}
fn u32_at(b: &[u8], off: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(field(b, off)?))
}
fn u64_at(b: &[u8], off: usize) -> Result<u64> {
    Ok(u64::from_le_bytes(field(b, off)?))
}

/// Parses the ELF header and program headers of a little-endian ELF64 file.
pub fn parse(b: &[u8]) -> Result<Elf> {
    ensure!(
        b.len() >= 64 && b[0..4] == *b"\x7fELF",
        "not an ELF file (bad magic)"
    );
    ensure!(b[4] == 2, "not a 64-bit ELF (EI_CLASS = {})", b[4]);
    ensure!(b[5] == 1, "not a little-endian ELF (EI_DATA = {})", b[5]);
    let machine = u16_at(b, 0x12)?;
    let entry = u64_at(b, 0x18)?;
    let phoff = u64_at(b, 0x20)?;
    let phentsize = u16_at(b, 0x36)? as usize;
    let phnum = u16_at(b, 0x38)? as usize;
    ensure!(
        phentsize >= 56,
        "ELF program header entry size {phentsize} < 56"
    );
    let phoff = usize::try_from(phoff).context("e_phoff too large")?;

    let mut segments = Vec::new();
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(b, ph)? != PT_LOAD {
            continue;
        }
        let seg = Segment {
            flags: u32_at(b, ph + 4)?,
            offset: u64_at(b, ph + 8)?,
            vaddr: u64_at(b, ph + 16)?,
            paddr: u64_at(b, ph + 24)?,
            filesz: u64_at(b, ph + 32)?,
            memsz: u64_at(b, ph + 40)?,
        };
        let end = seg
            .offset
            .checked_add(seg.filesz)
            .context("segment size overflow")?;
        ensure!(
            end <= b.len() as u64,
            "PT_LOAD #{i} file bytes {:#x}..{end:#x} lie outside the file ({:#x} bytes)",
            seg.offset,
            b.len()
        );
        ensure!(seg.memsz >= seg.filesz, "PT_LOAD #{i}: p_memsz < p_filesz");
        segments.push(seg);
    }
    Ok(Elf {
        machine,
        entry,
        segments,
    })
}

/// Converts an ELF file to a raw binary (see the module docs for the layout rule).
pub fn to_raw(b: &[u8]) -> Result<RawImage> {
    let elf = parse(b)?;
    let mut loaded: Vec<Segment> = elf
        .segments
        .iter()
        .copied()
        .filter(|s| s.filesz > 0)
        .collect();
    if loaded.is_empty() {
        bail!("ELF has no PT_LOAD segment with file bytes");
    }
    loaded.sort_by_key(|s| s.paddr);
    let load_addr = loaded[0].paddr;
    let mut end = load_addr;
    for s in &loaded {
        ensure!(
            s.paddr >= end,
            "PT_LOAD segments overlap at physical address {:#x} (previous segment ends at {end:#x})",
            s.paddr
        );
        end = s
            .paddr
            .checked_add(s.filesz)
            .context("segment end overflows")?;
    }
    let size = end - load_addr;
    ensure!(
        size <= MAX_RAW_SIZE,
        "raw image would be {size:#x} bytes (segments span {load_addr:#x}..{end:#x}); \
         check the linker script: are all sections linked into RAM?"
    );
    let mut bytes = vec![0u8; size as usize];
    for s in &loaded {
        let dst = (s.paddr - load_addr) as usize;
        let src = s.offset as usize;
        bytes[dst..dst + s.filesz as usize].copy_from_slice(&b[src..src + s.filesz as usize]);
    }
    let mem_end = elf
        .segments
        .iter()
        .map(|s| s.paddr.saturating_add(s.memsz))
        .max()
        .unwrap_or(end)
        .max(end);
    Ok(RawImage {
        load_addr,
        entry: elf.entry,
        mem_end,
        bytes,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A segment description for [`synth`]: (paddr, file bytes, memsz).
    pub(crate) type SynthSeg<'a> = (u64, &'a [u8], u64);

    /// Builds a minimal little-endian ELF64 with the given PT_LOAD segments, plus one
    /// PT_NOTE-like non-load header that must be ignored.
    pub(crate) fn synth(entry: u64, segs: &[SynthSeg<'_>]) -> Vec<u8> {
        let phnum = segs.len() + 1;
        let mut f = vec![0u8; 64 + 56 * phnum];
        f[0..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[0x10..0x12].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        f[0x12..0x14].copy_from_slice(&EM_AARCH64.to_le_bytes());
        f[0x18..0x20].copy_from_slice(&entry.to_le_bytes());
        f[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        f[0x38..0x3a].copy_from_slice(&(phnum as u16).to_le_bytes());
        // Header 0: a non-load segment (PT_NOTE = 4) that points at junk.
        f[64..68].copy_from_slice(&4u32.to_le_bytes());
        for (i, (paddr, data, memsz)) in segs.iter().enumerate() {
            let off = f.len() as u64;
            f.extend_from_slice(data);
            let ph = 64 + 56 * (i + 1);
            let mut put =
                |at: usize, v: u64| f[ph + at..ph + at + 8].copy_from_slice(&v.to_le_bytes());
            put(8, off);
            put(16, *paddr + 0xffff_0000_0000_0000); // vaddr differs from paddr on purpose
            put(24, *paddr);
            put(32, data.len() as u64);
            put(40, *memsz);
            f[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            f[ph + 4..ph + 8].copy_from_slice(&5u32.to_le_bytes());
        }
        f
    }

    #[test]
    fn lays_out_segments_from_lowest_paddr_with_zero_gaps_and_no_trailing_bss() {
        // Given out of order on purpose; the data segment has 0x100 bytes of bss.
        let elf = synth(
            0x4008_0000,
            &[
                (0x4008_1000, b"DATA", 0x104),
                (0x4008_0000, b"CODE!", 5),
                (0x5000_0000, b"", 0x1000),
            ],
        );
        let raw = to_raw(&elf).unwrap();
        assert_eq!(raw.load_addr, 0x4008_0000);
        assert_eq!(raw.entry, 0x4008_0000);
        assert_eq!(raw.bytes.len(), 0x1004);
        assert_eq!(&raw.bytes[..5], b"CODE!");
        assert!(raw.bytes[5..0x1000].iter().all(|&b| b == 0));
        assert_eq!(&raw.bytes[0x1000..], b"DATA");
        assert_eq!(raw.mem_end, 0x5000_1000);
    }

    #[test]
    fn rejects_overlap_truncation_and_huge_spans() {
        let overlap = synth(0, &[(0x1000, b"AAAA", 4), (0x1002, b"BB", 2)]);
        assert!(to_raw(&overlap)
            .unwrap_err()
            .to_string()
            .contains("overlap"));
        let huge = synth(0, &[(0, b"A", 1), (0x4000_0000, b"B", 1)]);
        assert!(to_raw(&huge)
            .unwrap_err()
            .to_string()
            .contains("linker script"));
        let mut cut = synth(0, &[(0x1000, b"AAAA", 4)]);
        cut.truncate(cut.len() - 2);
        assert!(to_raw(&cut).is_err());
        assert!(
            parse(b"not an elf at all, not an elf at all, not an elf at all, not an elf").is_err()
        );
        let empty = synth(0, &[(0x1000, b"", 0x100)]);
        assert!(to_raw(&empty)
            .unwrap_err()
            .to_string()
            .contains("no PT_LOAD"));
    }

    #[test]
    fn parse_reports_machine_and_ignores_non_load_headers() {
        let elf = parse(&synth(0x1234, &[(0x1000, b"x", 1)])).unwrap();
        assert_eq!(elf.machine, EM_AARCH64);
        assert_eq!(elf.entry, 0x1234);
        assert_eq!(elf.segments.len(), 1);
        assert_eq!(elf.segments[0].vaddr, 0xffff_0000_0000_1000);
    }
}
