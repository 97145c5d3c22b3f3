//! The Multiboot2 boot information that GRUB hands over in `ebx` (Multiboot2
//! specification, section 3.6): plain code over the bytes, tested on the host.
//!
//! ```text
//! +0  u32 total_size   +4 u32 reserved
//! +8  tags, each 8-byte aligned: u32 type, u32 size (header included), payload
//!     type 1  command line (NUL-terminated)
//!     type 6  memory map: u32 entry_size, u32 entry_version, entries of
//!             { u64 base, u64 length, u32 type, u32 reserved }
//!     type 14 ACPI 1.0 RSDP (a copy)        type 15 ACPI 2.0+ RSDP (a copy)
//!     type 0  end
//! ```
//!
//! A damaged structure (a tag past the end, a size below 8, a memory-map entry size
//! too small) is an error or a shorter iteration, never a panic.

use crate::bytes::{slice, u32_at, u64_at};
use rtvisor_addr::Hpa;

/// What a Multiboot2 loader passes in `eax`.
pub const BOOTLOADER_MAGIC: u32 = 0x36d7_6289;
/// The magic of the header in the image (in `boot.rs`).
pub const HEADER_MAGIC: u32 = 0xE852_50D6;

const TAG_END: u32 = 0;
const TAG_CMDLINE: u32 = 1;
const TAG_LOADER_NAME: u32 = 2;
const TAG_MMAP: u32 = 6;
const TAG_ACPI_OLD: u32 = 14;
const TAG_ACPI_NEW: u32 = 15;

/// Why the boot information was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MbiError {
    /// `eax` did not hold [`BOOTLOADER_MAGIC`]: not booted by a Multiboot2 loader.
    BadMagic(u32),
    /// The fixed part is missing or `total_size` exceeds the bytes given.
    Truncated,
}

/// The kind of a memory-map region (Multiboot2 types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemKind {
    Available,
    AcpiReclaimable,
    AcpiNvs,
    Defective,
    Reserved,
}

impl MemKind {
    pub(crate) fn from_raw(t: u32) -> MemKind {
        match t {
            1 => MemKind::Available,
            3 => MemKind::AcpiReclaimable,
            4 => MemKind::AcpiNvs,
            5 => MemKind::Defective,
            _ => MemKind::Reserved,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MemKind::Available => "available",
            MemKind::AcpiReclaimable => "acpi",
            MemKind::AcpiNvs => "acpi-nvs",
            MemKind::Defective => "defective",
            MemKind::Reserved => "reserved",
        }
    }
}

/// One memory-map entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemRegion {
    pub base: Hpa,
    pub len: u64,
    pub kind: MemKind,
}

impl MemRegion {
    /// One past the last byte (saturating: a damaged length cannot wrap).
    pub fn end(&self) -> u64 {
        self.base.raw().saturating_add(self.len)
    }
}

/// The boot information, checked for its magic and size.
#[derive(Debug, Clone, Copy)]
pub struct Mbi<'a> {
    bytes: &'a [u8],
}

/// One tag: its type and payload.
#[derive(Debug, Clone, Copy)]
struct Tag<'a> {
    kind: u32,
    payload: &'a [u8],
}

impl<'a> Mbi<'a> {
    /// Checks `magic` and the total size; `bytes` may be longer than the structure.
    pub fn new(magic: u32, bytes: &'a [u8]) -> Result<Self, MbiError> {
        if magic != BOOTLOADER_MAGIC {
            return Err(MbiError::BadMagic(magic));
        }
        let total = u32_at(bytes, 0).ok_or(MbiError::Truncated)? as usize;
        if total < 8 {
            return Err(MbiError::Truncated);
        }
        let bytes = bytes.get(..total).ok_or(MbiError::Truncated)?;
        Ok(Mbi { bytes })
    }

    /// The `total_size` the loader stated.
    pub fn total_size(&self) -> usize {
        self.bytes.len()
    }

    fn tags(&self) -> impl Iterator<Item = Tag<'a>> + 'a {
        let bytes = self.bytes;
        let mut off = 8usize;
        core::iter::from_fn(move || {
            let kind = u32_at(bytes, off)?;
            let size = u32_at(bytes, off + 4)? as usize;
            if kind == TAG_END || size < 8 {
                return None;
            }
            let payload = slice(bytes, off + 8, size - 8)?;
            off = off.checked_add(size.checked_add(7)? & !7)?;
            Some(Tag { kind, payload })
        })
    }

    fn tag(&self, kind: u32) -> Option<&'a [u8]> {
        self.tags().find(|t| t.kind == kind).map(|t| t.payload)
    }

    fn string(&self, kind: u32) -> Option<&'a str> {
        let p = self.tag(kind)?;
        let p = p.split(|&b| b == 0).next()?;
        core::str::from_utf8(p).ok()
    }

    /// The command line GRUB passed (`multiboot2 /boot/image ARGS`).
    pub fn cmdline(&self) -> Option<&'a str> {
        self.string(TAG_CMDLINE)
    }

    /// The loader's name (`GRUB 2.06`).
    pub fn loader_name(&self) -> Option<&'a str> {
        self.string(TAG_LOADER_NAME)
    }

    /// The memory map; empty when the tag is missing or damaged.
    pub fn memory_map(&self) -> impl Iterator<Item = MemRegion> + 'a {
        let p = self.tag(TAG_MMAP).unwrap_or(&[]);
        let entry = u32_at(p, 0).unwrap_or(0) as usize;
        // An entry smaller than the 24 bytes we read would overlap the next one.
        let n = if entry >= 24 {
            p.len().saturating_sub(8) / entry
        } else {
            0
        };
        (0..n).filter_map(move |i| {
            let off = 8 + i * entry;
            Some(MemRegion {
                base: Hpa::new(u64_at(p, off)?),
                len: u64_at(p, off + 8)?,
                kind: MemKind::from_raw(u32_at(p, off + 16)?),
            })
        })
    }

    /// The copy of the ACPI 2.0+ RSDP, if the loader found one.
    pub fn rsdp_new(&self) -> Option<&'a [u8]> {
        self.tag(TAG_ACPI_NEW)
    }

    /// The copy of the ACPI 1.0 RSDP, if the loader found one.
    pub fn rsdp_old(&self) -> Option<&'a [u8]> {
        self.tag(TAG_ACPI_OLD)
    }
}

/// Sums of a memory map, for the boot summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemSummary {
    pub regions: usize,
    /// Bytes of available RAM.
    pub available: u64,
    /// One past the highest byte of any region.
    pub top: u64,
    /// One past the highest available byte.
    pub top_available: u64,
}

/// Adds up `regions`.
pub fn summarize(regions: impl Iterator<Item = MemRegion>) -> MemSummary {
    regions.fold(MemSummary::default(), |mut s, r| {
        s.regions += 1;
        s.top = s.top.max(r.end());
        if r.kind == MemKind::Available {
            s.available = s.available.saturating_add(r.len);
            s.top_available = s.top_available.max(r.end());
        }
        s
    })
}

#[cfg(test)]
mod tests;
