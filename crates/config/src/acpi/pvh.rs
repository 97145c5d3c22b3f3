//! The PVH boot structures (Xen's `arch-x86/hvm/start_info.h`, version 1), as Linux
//! reads them at its 32-bit PVH entry (ebx = the start info's address):
//!
//! ```text
//! hvm_start_info (56 bytes)         hvm_modlist_entry (32)     hvm_memmap_table_entry (24)
//!   0 magic 0x336ec578                0 paddr                     0 addr
//!   4 version 1                       8 size                      8 size
//!   8 flags 0                        16 cmdline_paddr (0)        16 type (E820)
//!  12 nr_modules                     24 reserved                 20 reserved
//!  16 modlist_paddr
//!  24 cmdline_paddr (NUL-terminated; 0: none)
//!  32 rsdp_paddr
//!  40 memmap_paddr
//!  48 memmap_entries
//!  52 reserved
//! ```

use super::BootInfo;
use crate::contract::x86_64::{
    BOOT_DATA_GPA, KERNEL_MIN_GPA, LOW_RAM_END, PCI_ECAM_SIZE, RESET_STUB_GPA,
};

/// `hvm_start_info.magic`.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;
/// Bytes of `hvm_start_info` (version 1).
pub const START_INFO_LEN: usize = 56;
/// Bytes of one module list entry.
pub const MODLIST_ENTRY_LEN: usize = 32;
/// Bytes of one memory map entry.
pub const MEMMAP_ENTRY_LEN: usize = 24;

/// E820 memory types of the memory map.
pub mod e820 {
    /// Usable RAM.
    pub const RAM: u32 = 1;
    /// Reserved.
    pub const RESERVED: u32 = 2;
    /// ACPI tables (reclaimable once read).
    pub const ACPI: u32 = 3;
}

/// Where the fields of [`START_INFO_LEN`] go.
pub struct StartInfo {
    /// Modules (0 or 1: the initrd).
    pub nr_modules: u32,
    /// Address of the module list.
    pub modlist: u64,
    /// Address of the command line (0: none).
    pub cmdline: u64,
    /// Address of the RSDP.
    pub rsdp: u64,
    /// Address of the memory map.
    pub memmap: u64,
    /// Entries in it.
    pub memmap_entries: u32,
}

impl StartInfo {
    /// Its 56 bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(START_INFO_LEN);
        b.extend(START_INFO_MAGIC.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(self.nr_modules.to_le_bytes());
        b.extend(self.modlist.to_le_bytes());
        b.extend(self.cmdline.to_le_bytes());
        b.extend(self.rsdp.to_le_bytes());
        b.extend(self.memmap.to_le_bytes());
        b.extend(self.memmap_entries.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b
    }
}

/// One module list entry: the initrd at `paddr`, `size` bytes.
pub fn module(paddr: u64, size: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(MODLIST_ENTRY_LEN);
    b.extend(paddr.to_le_bytes());
    b.extend(size.to_le_bytes());
    b.extend([0; 16]);
    b
}

/// The VM's memory map, by address: conventional RAM, the legacy hole (reserved), the
/// boot data (ACPI), the reset vector's stub (reserved: unlike ACPI memory, a guest
/// may not reclaim it after reading its tables), the RAM from 1 MiB; above RAM, each
/// shared-memory region and the PCI configuration window are reserved (they are not
/// RAM, and nothing else may use their addresses).
pub fn memory_map(info: &BootInfo) -> Vec<(u64, u64, u32)> {
    let mut map = vec![
        (0, LOW_RAM_END, e820::RAM),
        (LOW_RAM_END, BOOT_DATA_GPA - LOW_RAM_END, e820::RESERVED),
        (BOOT_DATA_GPA, RESET_STUB_GPA - BOOT_DATA_GPA, e820::ACPI),
        (
            RESET_STUB_GPA,
            KERNEL_MIN_GPA - RESET_STUB_GPA,
            e820::RESERVED,
        ),
    ];
    if info.ram_size > KERNEL_MIN_GPA {
        map.push((KERNEL_MIN_GPA, info.ram_size - KERNEL_MIN_GPA, e820::RAM));
    }
    let mut above: Vec<(u64, u64, u32)> = info
        .shared
        .iter()
        .map(|m| (m.gpa, m.size, e820::RESERVED))
        .collect();
    if let Some(p) = &info.pci {
        above.push((p.ecam, PCI_ECAM_SIZE, e820::RESERVED));
    }
    above.sort_unstable();
    map.extend(above);
    map
}

/// The memory map's bytes.
pub fn memory_map_bytes(map: &[(u64, u64, u32)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(map.len() * MEMMAP_ENTRY_LEN);
    for &(addr, size, kind) in map {
        b.extend(addr.to_le_bytes());
        b.extend(size.to_le_bytes());
        b.extend(kind.to_le_bytes());
        b.extend(0u32.to_le_bytes());
    }
    b
}
