//! A small ELF64 little-endian reader: the entry point and the PT_LOAD segments, which
//! are flattened into one blob that is copied to guest RAM from the lowest `p_paddr`.

/// AArch64 `e_machine`.
pub const EM_AARCH64: u16 = 183;
const PT_LOAD: u32 = 1;

/// A loadable segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Physical (load) address.
    pub paddr: u64,
    /// Virtual address (the entry point is given in these).
    pub vaddr: u64,
    /// Offset of its bytes in the file.
    pub offset: u64,
    /// Bytes in the file.
    pub filesz: u64,
    /// Bytes in memory (the rest is zero: `.bss`).
    pub memsz: u64,
}

/// What the loader needs from an ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elf {
    /// `e_machine`.
    pub machine: u16,
    /// `e_entry` (virtual).
    pub entry: u64,
    /// PT_LOAD segments with a non-zero memory size, by ascending `paddr`.
    pub segments: Vec<Segment>,
}

/// The little-endian u16 at `off`, if `b` holds it.
pub fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

/// The little-endian u32 at `off`, if `b` holds it.
pub fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// The little-endian u64 at `off`, if `b` holds it.
pub fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// Parses the ELF header and program headers of `b`.
pub fn parse(b: &[u8]) -> Result<Elf, String> {
    if b.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file (no \\x7fELF magic)".into());
    }
    if b.get(4) != Some(&2) || b.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let short = || "truncated ELF header".to_owned();
    let machine = u16_at(b, 0x12).ok_or_else(short)?;
    let entry = u64_at(b, 0x18).ok_or_else(short)?;
    let phoff = u64_at(b, 0x20).ok_or_else(short)?;
    let phentsize = u16_at(b, 0x36).ok_or_else(short)? as u64;
    let phnum = u16_at(b, 0x38).ok_or_else(short)? as u64;
    if phentsize < 56 {
        return Err(format!(
            "program header entries of {phentsize} bytes are too small"
        ));
    }
    let mut segments = Vec::new();
    for i in 0..phnum {
        let at = phoff
            .checked_add(i * phentsize)
            .and_then(|a| usize::try_from(a).ok())
            .ok_or("program header table out of range")?;
        let bad = || format!("program header {i} lies outside the file");
        if u32_at(b, at).ok_or_else(bad)? != PT_LOAD {
            continue;
        }
        let seg = Segment {
            offset: u64_at(b, at + 8).ok_or_else(bad)?,
            vaddr: u64_at(b, at + 16).ok_or_else(bad)?,
            paddr: u64_at(b, at + 24).ok_or_else(bad)?,
            filesz: u64_at(b, at + 32).ok_or_else(bad)?,
            memsz: u64_at(b, at + 40).ok_or_else(bad)?,
        };
        if seg.filesz > seg.memsz {
            return Err(format!(
                "segment {i} has more bytes in the file than in memory"
            ));
        }
        if seg
            .offset
            .checked_add(seg.filesz)
            .is_none_or(|end| end > b.len() as u64)
        {
            return Err(format!("segment {i} lies outside the file"));
        }
        if seg.paddr.checked_add(seg.memsz).is_none() || seg.vaddr.checked_add(seg.memsz).is_none()
        {
            return Err(format!("segment {i} wraps around the address space"));
        }
        if seg.memsz > 0 {
            segments.push(seg);
        }
    }
    if segments.is_empty() {
        return Err("no loadable (PT_LOAD) segment".into());
    }
    segments.sort_by_key(|s| s.paddr);
    for w in segments.windows(2) {
        if w[0].paddr + w[0].memsz > w[1].paddr {
            return Err(format!(
                "segments at {:#x} and {:#x} overlap",
                w[0].paddr, w[1].paddr
            ));
        }
    }
    Ok(Elf {
        machine,
        entry,
        segments,
    })
}

impl Elf {
    /// Lowest physical address loaded.
    pub fn low(&self) -> u64 {
        self.segments[0].paddr
    }

    /// One past the highest physical address loaded (including `.bss`).
    pub fn high(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.paddr + s.memsz)
            .max()
            .unwrap_or(0)
    }

    /// The entry point as a physical address: `e_entry` through the segment holding it.
    pub fn entry_paddr(&self) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| s.vaddr <= self.entry && self.entry - s.vaddr < s.memsz)
            .map(|s| s.paddr + (self.entry - s.vaddr))
    }

    /// The bytes from [`Self::low`] to [`Self::high`]: file bytes, zeros for `.bss`
    /// and for gaps. The caller bounds `high - low` (it must fit in guest RAM).
    pub fn flatten(&self, file: &[u8]) -> Vec<u8> {
        let low = self.low();
        let mut out = vec![0; (self.high() - low) as usize];
        for s in &self.segments {
            let dst = (s.paddr - low) as usize;
            let src = s.offset as usize;
            out[dst..dst + s.filesz as usize].copy_from_slice(&file[src..src + s.filesz as usize]);
        }
        out
    }
}

/// Builds a minimal ELF64 file: test support, and documentation of the layout read.
#[cfg(test)]
pub(crate) fn build(entry: u64, segs: &[(u64, u64, &[u8], u64)]) -> Vec<u8> {
    // segs: (paddr, vaddr, bytes, memsz)
    let phoff = 64u64;
    let data_at = phoff + 56 * segs.len() as u64;
    let mut f = vec![0u8; data_at as usize];
    f[..6].copy_from_slice(b"\x7fELF\x02\x01");
    f[6] = 1;
    f[0x10..0x12].copy_from_slice(&2u16.to_le_bytes());
    f[0x12..0x14].copy_from_slice(&EM_AARCH64.to_le_bytes());
    f[0x18..0x20].copy_from_slice(&entry.to_le_bytes());
    f[0x20..0x28].copy_from_slice(&phoff.to_le_bytes());
    f[0x34..0x36].copy_from_slice(&64u16.to_le_bytes());
    f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    f[0x38..0x3a].copy_from_slice(&(segs.len() as u16).to_le_bytes());
    let mut off = data_at;
    for (i, (paddr, vaddr, bytes, memsz)) in segs.iter().enumerate() {
        let ph = (phoff + 56 * i as u64) as usize;
        f[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        for (k, v) in [off, *vaddr, *paddr, bytes.len() as u64, *memsz]
            .iter()
            .enumerate()
        {
            f[ph + 8 + 8 * k..ph + 16 + 8 * k].copy_from_slice(&v.to_le_bytes());
        }
        off += bytes.len() as u64;
    }
    for (_, _, bytes, _) in segs {
        f.extend_from_slice(bytes);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_segments_with_gaps_and_bss() {
        let f = build(
            0x4008_0010,
            &[
                (0x4009_0000, 0x4009_0000, b"data", 8),
                (0x4008_0000, 0x4008_0000, b"code", 4),
            ],
        );
        let elf = parse(&f).unwrap();
        assert_eq!(elf.machine, EM_AARCH64);
        assert_eq!((elf.low(), elf.high()), (0x4008_0000, 0x4009_0008));
        assert_eq!(
            elf.entry_paddr(),
            None,
            "entry past the 4-byte code segment"
        );
        let blob = elf.flatten(&f);
        assert_eq!(blob.len(), 0x1_0008);
        assert_eq!(&blob[..4], b"code");
        assert_eq!(&blob[0x1_0000..], b"data\0\0\0\0");
    }

    #[test]
    fn translates_entry_and_rejects_garbage() {
        let f = build(
            0xffff_0000_0000_0004,
            &[(0x4008_0000, 0xffff_0000_0000_0000, b"code", 8)],
        );
        assert_eq!(parse(&f).unwrap().entry_paddr(), Some(0x4008_0004));
        assert_eq!(
            parse(b"MZ\0\0").unwrap_err(),
            "not an ELF file (no \\x7fELF magic)"
        );
        assert_eq!(parse(&f[..40]).unwrap_err(), "truncated ELF header");
        let mut cut = f.clone();
        cut.truncate(f.len() - 2);
        assert_eq!(parse(&cut).unwrap_err(), "segment 0 lies outside the file");
        assert_eq!(
            parse(&build(0, &[])).unwrap_err(),
            "no loadable (PT_LOAD) segment"
        );
    }
}
