//! The PVH hand-over: the `hvm_start_info` structure (Xen's public
//! arch-x86/hvm/start_info.h) that a PVH loader, such as QEMU's `-kernel` for an ELF
//! with a `XEN_ELFNOTE_PHYS32_ENTRY` note, points `ebx` at when it enters the image in
//! 32-bit protected mode. Plain code over [`PhysMem`], tested on the host.
//!
//! ```text
//! +0  u32 magic (0x336ec578)   +4  u32 version   +8 u32 flags   +12 u32 nr_modules
//! +16 u64 modlist_paddr        +24 u64 cmdline_paddr (NUL-terminated; 0: none)
//! +32 u64 rsdp_paddr (0: none) +40 u64 memmap_paddr  +48 u32 memmap_entries (version 1)
//! memory map entry: u64 addr, u64 size, u32 type (E820: 1 RAM, 3 ACPI, 4 NVS, 5 bad), u32 reserved
//! ```
//!
//! A structure with the wrong magic, without a memory map (version 0) or that cannot
//! be read is an error; a damaged map or command line is a shorter one, never a panic.

use crate::acpi::PhysMem;
use crate::bytes::{u32_at, u64_at};
use crate::multiboot2::{MemKind, MemRegion};
use rtvisor_addr::Hpa;

/// The first word of `hvm_start_info`.
pub const START_MAGIC: u32 = 0x336e_c578;
/// What the PVH entry stub puts in `eax` for the common entry (a PVH loader leaves
/// `eax` undefined): the structure's own magic.
pub const ENTRY_MARK: u32 = START_MAGIC;
/// Bytes of the structure read (version 1).
pub const INFO_LEN: usize = 56;
/// Bytes of one memory-map entry.
pub const ENTRY_LEN: usize = 24;
/// Memory-map entries read at most.
pub const MAX_ENTRIES: u32 = 128;
/// Bytes of the command line read at most.
pub const CMDLINE_MAX: usize = 256;

/// Why the hand-over was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PvhError {
    /// The structure cannot be read at the address `ebx` gave.
    Unreadable,
    /// Its first word is not [`START_MAGIC`].
    BadMagic(u32),
    /// Version 0: no memory map (QEMU gives version 1).
    NoMemoryMap,
}

/// The fields of `hvm_start_info` rtvisor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartInfo {
    /// Where the structure is.
    pub at: u64,
    cmdline: u64,
    rsdp: u64,
    memmap: u64,
    entries: u32,
}

impl StartInfo {
    /// Reads and checks the structure at `at`.
    pub fn read(mem: &impl PhysMem, at: u64) -> Result<Self, PvhError> {
        let b = mem
            .read(Hpa::new(at), INFO_LEN)
            .ok_or(PvhError::Unreadable)?;
        let word = |off| u32_at(b, off).unwrap_or(0);
        let quad = |off| u64_at(b, off).unwrap_or(0);
        if word(0) != START_MAGIC {
            return Err(PvhError::BadMagic(word(0)));
        }
        if word(4) < 1 || quad(40) == 0 {
            return Err(PvhError::NoMemoryMap);
        }
        Ok(StartInfo {
            at,
            cmdline: quad(24),
            rsdp: quad(32),
            memmap: quad(40),
            entries: word(48).min(MAX_ENTRIES),
        })
    }

    /// The memory map; it ends early at an entry that cannot be read.
    pub fn memory_map<'m>(&self, mem: &'m impl PhysMem) -> impl Iterator<Item = MemRegion> + 'm {
        let base = self.memmap;
        (0..u64::from(self.entries)).map_while(move |i| {
            let at = base.checked_add(i * ENTRY_LEN as u64)?;
            let e = mem.read(Hpa::new(at), ENTRY_LEN)?;
            Some(MemRegion {
                base: Hpa::new(u64_at(e, 0)?),
                len: u64_at(e, 8)?,
                kind: MemKind::from_raw(u32_at(e, 16)?),
            })
        })
    }

    /// The command line (up to its NUL, at most [`CMDLINE_MAX`] bytes; `None`
    /// without one or when it is not UTF-8).
    pub fn cmdline<'m>(&self, mem: &'m impl PhysMem) -> Option<&'m str> {
        if self.cmdline == 0 {
            return None;
        }
        // The longest readable prefix: the line may end just before unmapped memory.
        let bytes = (1..=CMDLINE_MAX)
            .rev()
            .find_map(|n| mem.read(Hpa::new(self.cmdline), n))?;
        let line = bytes.split(|&b| b == 0).next()?;
        core::str::from_utf8(line).ok()
    }

    /// The bytes at the RSDP's address (36, what an ACPI 2.0 RSDP has), for
    /// `acpi::Rsdp::parse`.
    pub fn rsdp<'m>(&self, mem: &'m impl PhysMem) -> Option<&'m [u8]> {
        (self.rsdp != 0)
            .then(|| mem.read(Hpa::new(self.rsdp), 36))
            .flatten()
    }

    /// The ranges the loader's data occupies (the structure, its memory map, the
    /// command line), which the boot must not reuse before it has read them.
    pub fn spans(&self) -> [(u64, u64); 3] {
        let end = |a: u64, n: u64| (a, a.saturating_add(n));
        [
            end(self.at, INFO_LEN as u64),
            end(self.memmap, u64::from(self.entries) * ENTRY_LEN as u64),
            end(self.cmdline, CMDLINE_MAX as u64),
        ]
    }
}

#[cfg(test)]
mod tests;
