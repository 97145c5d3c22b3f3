//! The bootable raw image: an ELF laid out the way a boot loader copies it to RAM, and
//! the Linux arm64 `Image` header check (Documentation/arch/arm64/booting.rst) that says
//! QEMU `-kernel` and U-Boot `booti` will take it. One implementation, used by
//! `rtvisor build` and by xtask for the hypervisor and the test guests.
//!
//! Layout rule: the PT_LOAD segments that carry file bytes are laid out from the lowest
//! physical address; gaps between them are zero-filled; trailing `.bss` (memory beyond
//! the last file byte) is not part of the file. This differs from
//! [`crate::elf::Elf::flatten`], which also materializes `.bss` for copying into guest RAM.

use crate::elf::{self, EM_AARCH64};

/// A raw image larger than this almost certainly means two segments far apart (one
/// linked at 0 and one in RAM): refuse instead of writing gigabytes.
const MAX_RAW_SIZE: u64 = 256 << 20;
const ARM64_MAGIC: &[u8; 4] = b"ARM\x64";

/// A raw image and where it must be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawImage {
    /// Physical address of the first byte.
    pub load: u64,
    /// Physical entry point (`e_entry` through the segment holding it).
    pub entry: u64,
    /// One past the highest physical address any PT_LOAD covers, `.bss` included.
    pub mem_end: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Converts an aarch64 ELF64 file to its raw image.
pub fn to_raw(file: &[u8]) -> Result<RawImage, String> {
    flatten(file, EM_AARCH64, "aarch64")
}

/// The span of an x86_64 ELF64 file (the Multiboot2 image GRUB loads as an ELF):
/// its load address, entry and end, and its segments flattened as [`to_raw`] does.
pub fn x86_span(file: &[u8]) -> Result<RawImage, String> {
    flatten(file, crate::image_x86::EM_X86_64, "x86_64")
}

fn flatten(file: &[u8], machine: u16, name: &str) -> Result<RawImage, String> {
    let e = elf::parse(file)?;
    if e.machine != machine {
        return Err(format!(
            "e_machine is {}, expected {machine} ({name})",
            e.machine
        ));
    }
    let loaded: Vec<_> = e.segments.iter().filter(|s| s.filesz > 0).collect();
    let (Some(first), Some(end)) = (
        loaded.first(),
        loaded.iter().map(|s| s.paddr + s.filesz).max(),
    ) else {
        return Err("no PT_LOAD segment with file bytes".into());
    };
    let load = first.paddr;
    let size = end - load;
    if size > MAX_RAW_SIZE {
        return Err(format!(
            "raw image would be {size:#x} bytes (segments span {load:#x}..{end:#x}); check the \
             linker script: are all sections linked into RAM?"
        ));
    }
    let mut bytes = vec![0u8; size as usize];
    for s in &loaded {
        let (dst, src) = ((s.paddr - load) as usize, s.offset as usize);
        bytes[dst..dst + s.filesz as usize].copy_from_slice(&file[src..src + s.filesz as usize]);
    }
    Ok(RawImage {
        load,
        entry: e.entry_paddr().unwrap_or(e.entry),
        mem_end: e.high(),
        bytes,
    })
}

/// The fields of the Linux arm64 Image header that matter to a boot loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arm64Header {
    /// Load offset from the 2 MiB-aligned base of RAM.
    pub text_offset: u64,
    /// Bytes the image occupies once loaded, `.bss` included.
    pub image_size: u64,
    /// Endianness, page size and placement flags.
    pub flags: u64,
}

/// Checks the arm64 Image header at the start of a raw image: magic "ARM\x64" at
/// offset 56, a non-zero `image_size` covering at least the file, little-endian flag.
pub fn arm64_header(raw: &[u8]) -> Result<Arm64Header, String> {
    if raw.len() < 64 {
        return Err(format!(
            "raw image is {} bytes, shorter than the 64-byte arm64 Image header",
            raw.len()
        ));
    }
    if raw[56..60] != *ARM64_MAGIC {
        return Err(format!(
            "no Linux arm64 Image header: expected magic \"ARM\\x64\" at offset 56, found \
             {:02x?}; the entry must start with the Image header so QEMU -kernel and U-Boot \
             booti accept it",
            &raw[56..60]
        ));
    }
    let word = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().unwrap_or([0; 8]));
    let h = Arm64Header {
        text_offset: word(8),
        image_size: word(16),
        flags: word(24),
    };
    if h.image_size == 0 {
        return Err("arm64 Image header: image_size (offset 16) is 0".into());
    }
    if h.image_size < raw.len() as u64 {
        return Err(format!(
            "arm64 Image header: image_size {:#x} is smaller than the file ({:#x} bytes)",
            h.image_size,
            raw.len()
        ));
    }
    if h.flags & 1 != 0 {
        return Err("arm64 Image header: flags bit 0 says big-endian".into());
    }
    Ok(h)
}

#[cfg(test)]
mod tests;
