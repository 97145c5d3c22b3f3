//! Boot discovery on x86: the PVH `hvm_start_info` (command line, RSDP, memory map)
//! and the ACPI tables it leads to (CPUs from the MADT, power-off from the FADT).
//!
//! `ebx` at the PVH entry is a claim: it is used only if its magic is right. Without
//! it the RSDP is searched for in the BIOS area (0xE0000..0x100000), as on a PC; with
//! no ACPI at all the guest has 1 CPU and powers off through q35's documented port.

use crate::args::Args;

use super::acpi::{self, Acpi};

/// `hvm_start_info.magic`.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;
/// CPUs whose APIC id is remembered.
pub const MAX_DT_CPUS: usize = 8;
/// Longest command line read.
const MAX_CMDLINE: usize = 1024;

/// What the primary learned at boot; passed to the guest's main.
pub struct BootInfo {
    /// Address of `hvm_start_info`, if valid.
    pub start_info: Option<usize>,
    /// Its `version` field.
    pub start_info_version: u32,
    /// The command line (`cmdline_paddr`), "" if none.
    pub bootargs: &'static str,
    /// What the ACPI tables say (CPUs, power-off).
    pub acpi: Acpi,
}

/// Reads a little-endian integer of `N` bytes at `addr` (RAM below 4 GiB, identity
/// mapped).
pub(crate) fn read_le<const N: usize>(addr: usize) -> u64 {
    let mut v = 0u64;
    for i in (0..N).rev() {
        // SAFETY: callers pass addresses of firmware tables in identity-mapped RAM
        // below 4 GiB (checked with `below_4g`); a byte read has no side effects.
        let b = unsafe { core::ptr::read_volatile((addr + i) as *const u8) };
        v = v << 8 | u64::from(b);
    }
    v
}

/// Whether `[addr, addr+len)` lies in the identity map (below 4 GiB, not 0).
pub(crate) fn below_4g(addr: u64, len: u64) -> bool {
    addr != 0 && addr.checked_add(len).is_some_and(|e| e <= 1 << 32)
}

impl BootInfo {
    /// The vCPU count (MADT enabled CPUs, at least 1).
    pub fn cpu_count(&self) -> usize {
        self.acpi.cpus.max(1)
    }

    /// The APIC id of vCPU `i` (MADT order; the index itself where it is silent).
    pub fn cpu_id(&self, i: usize) -> u64 {
        if i < self.acpi.cpus {
            self.acpi.apic_ids.get(i).copied().unwrap_or(i as u64)
        } else {
            i as u64
        }
    }

    /// The bootargs as `key=value` pairs.
    pub fn args(&self) -> Args<'static> {
        Args::new(self.bootargs)
    }

    /// Reads `hvm_start_info` at `ebx` and the ACPI tables.
    pub(crate) fn discover(ebx: usize) -> Self {
        let valid = below_4g(ebx as u64, 56) && read_le::<4>(ebx) == u64::from(START_INFO_MAGIC);
        let (start_info, version, cmdline, rsdp) = if valid {
            (
                Some(ebx),
                read_le::<4>(ebx + 4) as u32,
                read_le::<8>(ebx + 24),
                read_le::<8>(ebx + 32),
            )
        } else if let Some(mb) = super::multiboot::info(ebx) {
            (None, 0, mb.cmdline, mb.rsdp.map_or(0, |a| a as u64))
        } else {
            (None, 0, 0, 0)
        };
        let rsdp = (rsdp != 0)
            .then_some(rsdp as usize)
            .or_else(acpi::search_rsdp);
        Self {
            start_info,
            start_info_version: version,
            bootargs: c_string(cmdline),
            acpi: rsdp.map(Acpi::parse).unwrap_or_default(),
        }
    }
}

/// The NUL-terminated string at `addr` (up to `MAX_CMDLINE` bytes), "" if none or
/// not UTF-8.
fn c_string(addr: u64) -> &'static str {
    if !below_4g(addr, MAX_CMDLINE as u64) {
        return "";
    }
    let addr = addr as usize;
    let len = (0..MAX_CMDLINE)
        .find(|&i| read_le::<1>(addr + i) == 0)
        .unwrap_or(MAX_CMDLINE);
    // SAFETY: `len` bytes at `addr` were just read (identity-mapped RAM below 4 GiB);
    // by the boot contract the command line is neither moved nor modified while the
    // guest runs.
    let bytes = unsafe { core::slice::from_raw_parts(addr as *const u8, len) };
    core::str::from_utf8(bytes).unwrap_or("")
}
