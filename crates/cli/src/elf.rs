//! Just enough ELF64 (little-endian) to turn the hypervisor's ELF into the raw
//! image a boot loader copies to RAM: `PT_LOAD` file bytes laid out from the lowest
//! `p_paddr`, gaps zero-filled.

use anyhow::{bail, ensure, Result};

const PT_LOAD: u32 = 1;
/// `e_machine` of aarch64.
pub const EM_AARCH64: u16 = 183;

/// A raw image and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    /// Physical address of byte 0.
    pub load: u64,
    /// Physical entry point.
    pub entry: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
}

fn u16_at(b: &[u8], o: usize) -> Result<u16> {
    match b.get(o..o + 2) {
        Some(s) => Ok(u16::from_le_bytes([s[0], s[1]])),
        None => bail!("truncated ELF (reading offset {o:#x})"),
    }
}

fn u32_at(b: &[u8], o: usize) -> Result<u32> {
    match b.get(o..o + 4) {
        Some(s) => Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]])),
        None => bail!("truncated ELF (reading offset {o:#x})"),
    }
}

fn u64_at(b: &[u8], o: usize) -> Result<u64> {
    Ok(u64::from(u32_at(b, o)?) | (u64::from(u32_at(b, o + 4)?) << 32))
}

/// Converts an ELF64 file to its raw image.
pub fn to_raw(b: &[u8]) -> Result<Raw> {
    ensure!(b.len() >= 64 && b[..4] == *b"\x7fELF", "not an ELF file");
    ensure!(b[4] == 2 && b[5] == 1, "not a little-endian ELF64 file");
    let machine = u16_at(b, 18)?;
    ensure!(
        machine == EM_AARCH64,
        "e_machine is {machine}, expected {EM_AARCH64} (aarch64)"
    );
    let entry_vaddr = u64_at(b, 24)?;
    let phoff = usize::try_from(u64_at(b, 32)?)?;
    let phentsize = usize::from(u16_at(b, 54)?);
    let phnum = usize::from(u16_at(b, 56)?);
    ensure!(phentsize >= 56, "bad e_phentsize {phentsize}");
    // (paddr, vaddr, file bytes, memsz)
    let mut segs: Vec<(u64, u64, &[u8], u64)> = Vec::new();
    for i in 0..phnum {
        let h = phoff + i * phentsize;
        if u32_at(b, h)? != PT_LOAD {
            continue;
        }
        let off = usize::try_from(u64_at(b, h + 8)?)?;
        let (vaddr, paddr) = (u64_at(b, h + 16)?, u64_at(b, h + 24)?);
        let filesz = usize::try_from(u64_at(b, h + 32)?)?;
        let memsz = u64_at(b, h + 40)?;
        let Some(data) = b.get(off..off.saturating_add(filesz)) else {
            bail!("PT_LOAD segment {i} lies outside the file");
        };
        segs.push((paddr, vaddr, data, memsz));
    }
    let with_bytes: Vec<_> = segs.iter().filter(|s| !s.2.is_empty()).collect();
    ensure!(!with_bytes.is_empty(), "no PT_LOAD segment with file bytes");
    let load = with_bytes.iter().map(|s| s.0).min().unwrap_or(0);
    let end = with_bytes
        .iter()
        .map(|s| s.0 + s.2.len() as u64)
        .max()
        .unwrap_or(load);
    let len = usize::try_from(end - load)?;
    ensure!(
        len <= 1 << 30,
        "segments span {len:#x} bytes; refusing to write such an image"
    );
    let mut bytes = vec![0u8; len];
    for (paddr, _, data, _) in &with_bytes {
        let at = usize::try_from(paddr - load)?;
        bytes[at..at + data.len()].copy_from_slice(data);
    }
    // Entry: the physical address of the segment holding e_entry.
    let entry = segs
        .iter()
        .find(|s| entry_vaddr >= s.1 && entry_vaddr < s.1 + s.3.max(s.2.len() as u64))
        .map_or(entry_vaddr, |s| s.0 + (entry_vaddr - s.1));
    Ok(Raw { load, entry, bytes })
}

/// Checks the arm64 Linux `Image` header (magic "ARM\x64" at offset 56).
pub fn check_image_header(raw: &[u8]) -> Result<()> {
    ensure!(
        raw.get(56..60) == Some(b"ARM\x64".as_slice()),
        "the raw image has no arm64 Image header (magic \"ARM\\x64\" at offset 56): a boot \
         loader or QEMU -kernel would not boot it"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF with two PT_LOAD segments and a gap between them.
    fn elf(segs: &[(u64, &[u8])]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56 * segs.len()];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[18..20].copy_from_slice(&EM_AARCH64.to_le_bytes());
        b[24..32].copy_from_slice(&segs[0].0.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        for (i, (addr, data)) in segs.iter().enumerate() {
            let off = b.len() as u64;
            let h = 64 + 56 * i;
            b[h..h + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            b[h + 8..h + 16].copy_from_slice(&off.to_le_bytes());
            b[h + 16..h + 24].copy_from_slice(&addr.to_le_bytes());
            b[h + 24..h + 32].copy_from_slice(&addr.to_le_bytes());
            b[h + 32..h + 40].copy_from_slice(&(data.len() as u64).to_le_bytes());
            b[h + 40..h + 48].copy_from_slice(&(data.len() as u64).to_le_bytes());
            b.extend_from_slice(data);
        }
        b
    }

    #[test]
    fn segments_are_laid_out_from_the_lowest_paddr() {
        let raw = to_raw(&elf(&[(0x4020_0010, b"BB"), (0x4020_0000, b"AAAA")])).unwrap();
        assert_eq!(raw.load, 0x4020_0000);
        assert_eq!(raw.entry, 0x4020_0010);
        let mut want = b"AAAA".to_vec();
        want.resize(0x10, 0);
        want.extend_from_slice(b"BB");
        assert_eq!(raw.bytes, want);
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(to_raw(b"not an elf").is_err());
        let mut e = elf(&[(0x1000, b"AAAA")]);
        e.truncate(100);
        assert!(to_raw(&e).is_err());
    }

    #[test]
    fn image_header_magic() {
        let mut raw = vec![0u8; 64];
        assert!(check_image_header(&raw).is_err());
        raw[56..60].copy_from_slice(b"ARM\x64");
        assert!(check_image_header(&raw).is_ok());
    }
}
