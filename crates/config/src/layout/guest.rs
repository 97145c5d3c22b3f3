//! The machine contract's guest map per architecture, as the layout and the rules
//! read it: where RAM starts and may end, the shared-memory window, the emulated
//! devices in the guest-physical map, the doorbell interrupts and the hypervisor's
//! own place in host RAM.

use crate::contract::{aarch64 as a64, x86_64 as x86, Arch};

/// Guest-physical base of a VM's RAM when not identity-mapped.
pub(crate) fn ram_base(arch: Arch) -> u64 {
    match arch {
        Arch::Aarch64 => a64::GUEST_RAM_IPA,
        Arch::X86_64 => x86::GUEST_RAM_GPA,
    }
}

/// First guest-physical address beyond what a scenario may place (stage-2's input
/// size on aarch64, the 32-bit map on x86_64).
pub(crate) fn addr_limit(arch: Arch) -> u64 {
    match arch {
        Arch::Aarch64 => a64::IPA_LIMIT,
        Arch::X86_64 => x86::GPA_LIMIT,
    }
}

/// The window for shared memory without an `ipa`: (base, size).
pub(crate) fn shm_window(arch: Arch) -> (u64, u64) {
    match arch {
        Arch::Aarch64 => (
            a64::SHM_WINDOW_IPA,
            a64::SHM_WINDOW_END - a64::SHM_WINDOW_IPA,
        ),
        Arch::X86_64 => (
            x86::SHM_WINDOW_GPA,
            x86::SHM_WINDOW_END - x86::SHM_WINDOW_GPA,
        ),
    }
}

/// The emulated devices in a VM's guest-physical map: (what, base, size).
pub(crate) fn emulated(arch: Arch, ncpu: u64) -> Vec<(String, u64, u64)> {
    match arch {
        Arch::Aarch64 => a64::EMULATED
            .iter()
            .map(|d| (format!("the {}", d.name), d.base, d.size_for(ncpu as usize)))
            .collect(),
        Arch::X86_64 => x86::EMULATED
            .iter()
            .filter(|d| d.space == x86::Space::Mmio)
            .map(|d| (format!("the {}", d.name), d.base, d.size))
            .collect(),
    }
}

/// The interrupt (INTID or GSI) shared-memory region `index` rings.
pub(crate) fn doorbell(arch: Arch, index: usize) -> u32 {
    match arch {
        Arch::Aarch64 => a64::doorbell_intid(index),
        Arch::X86_64 => x86::doorbell_gsi(index),
    }
}

/// The top doorbell (region 0's), for hints.
pub(crate) fn doorbell_top(arch: Arch) -> u32 {
    doorbell(arch, 0)
}

/// An interrupt every peer of a shared region has besides its doorbell (the doorbell
/// GPIO on aarch64).
pub(crate) fn doorbell_extra(arch: Arch) -> Option<u32> {
    match arch {
        Arch::Aarch64 => Some(a64::DOORBELL_GPIO_INTID),
        Arch::X86_64 => None,
    }
}

/// How interrupts are numbered.
pub(crate) fn irq_word(arch: Arch) -> &'static str {
    match arch {
        Arch::Aarch64 => "INTID",
        Arch::X86_64 => "GSI",
    }
}

/// The hypervisor's host base given the first RAM bank's base: 2 MiB above its
/// 2 MiB aligned start on aarch64 (arm64 Image booting), GRUB's load address on
/// x86_64.
pub(crate) fn hv_base(arch: Arch, first_bank: u64) -> Option<u64> {
    match arch {
        Arch::Aarch64 => first_bank.checked_add(a64::HV_OFFSET),
        Arch::X86_64 => Some(x86::HV_LOAD),
    }
}

/// `[hypervisor] memory` when the scenario does not say.
pub(crate) fn hv_default_memory(arch: Arch) -> u64 {
    match arch {
        Arch::Aarch64 => a64::HV_DEFAULT_MEMORY,
        Arch::X86_64 => x86::HV_DEFAULT_MEMORY,
    }
}

/// The hypervisor's memory needs beyond the guest images it embeds.
pub(crate) fn hv_fixed_size(arch: Arch) -> u64 {
    match arch {
        Arch::Aarch64 => a64::hv_fixed_size(),
        Arch::X86_64 => x86::hv_fixed_size(),
    }
}
