//! aarch64: the guest-physical machine every VM sees (QEMU-`virt` shaped; drawn in
//! `layout`), the interrupts the hypervisor keeps for itself, and the layout of the
//! hypervisor image.

use super::{DeviceKind, MAX_CPUS};
pub use super::{EmulatedDevice, Space};

/// The emulated CFI flash: two banks of [`FLASH_BANK_SIZE`] from here, as on QEMU
/// `virt` (firmware keeps its code and variables there, U-Boot its environment).
pub const FLASH_IPA: u64 = 0;
/// One flash bank.
pub const FLASH_BANK_SIZE: u64 = 64 << 20;
/// 4 KiB pages of flash a VM can write between two starts (256 KiB: one erase block,
/// U-Boot's whole environment); each VM's pool is in the hypervisor image.
pub const FLASH_POOL_PAGES: usize = 64;

/// Guest RAM base unless identity-mapped.
pub const GUEST_RAM_IPA: u64 = 0x4000_0000;
/// Guest-physical address bits stage-2 translates (VTCR_EL2.T0SZ = 64 - this).
pub const IPA_BITS: u32 = 39;
/// First guest-physical address beyond stage-2.
pub const IPA_LIMIT: u64 = 1 << IPA_BITS;

/// vGIC distributor.
pub const VGIC_DIST_IPA: u64 = 0x0800_0000;
/// vGIC distributor size.
pub const VGIC_DIST_SIZE: u64 = 0x1_0000;
/// vGIC redistributors, one frame per vCPU.
pub const VGIC_REDIST_IPA: u64 = 0x080a_0000;
/// One redistributor frame (RD_base + SGI_base).
pub const VGIC_REDIST_FRAME: u64 = 0x2_0000;
/// INTIDs the emulated GIC models: SGIs 0-15, PPIs 16-31, SPIs 32-127. A device SPI
/// at or above this cannot reach a virtual-mode VM.
pub const VGIC_INTIDS: u32 = 128;
/// Emulated PL011.
pub const VUART_IPA: u64 = 0x0900_0000;
/// The emulated PL011's interrupt: SPI 1, as on QEMU `virt`.
pub const VUART_INTID: u32 = 33;
/// The emulated doorbell page (one register: ring a shared-memory region's peers).
pub const DOORBELL_IPA: u64 = 0x0901_0000;
/// Doorbell INTID of shared-memory region 0 (an SPI); region k uses this minus k,
/// in every peer. In direct mode these are physical SPIs.
pub const DOORBELL_TOP_INTID: u32 = 127;
/// The doorbell GPIO (an emulated PL061) of a virtual-mode VM with shared memory:
/// ringing region k < 8 also toggles its line k, which Linux's stock `gpio-keys`
/// turns into an input event user space can wait for.
pub const DOORBELL_GPIO_IPA: u64 = 0x0902_0000;
/// The doorbell GPIO's interrupt (an SPI, just below the doorbells).
pub const DOORBELL_GPIO_INTID: u32 = 111;
/// Regions with a doorbell GPIO line (the PL061 has 8).
pub const DOORBELL_GPIO_LINES: usize = 8;
/// Start of the per-VM guest-physical window for shared memory without an `ipa`.
pub const SHM_WINDOW_IPA: u64 = 0x1000_0000;
/// End (exclusive) of that window: guest RAM starts here.
pub const SHM_WINDOW_END: u64 = GUEST_RAM_IPA;
/// The largest device tree that fits at the start of RAM before a raw image.
pub const DTB_MAX: u64 = 0x1_0000;

/// The doorbell INTID of shared-memory region `index` (see [`DOORBELL_TOP_INTID`]).
pub const fn doorbell_intid(index: usize) -> u32 {
    DOORBELL_TOP_INTID.saturating_sub(index as u32)
}

/// Every VM's emulated devices, sorted by IPA (the hypervisor's MMIO dispatch table is
/// built from this, in this order).
pub const EMULATED: [EmulatedDevice; 6] = [
    EmulatedDevice {
        kind: DeviceKind::CfiFlash,
        name: "CFI flash (two banks)",
        space: Space::Mmio,
        base: FLASH_IPA,
        size: 2 * FLASH_BANK_SIZE,
        per_vcpu: false,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::GicDist,
        name: "emulated GIC distributor",
        space: Space::Mmio,
        base: VGIC_DIST_IPA,
        size: VGIC_DIST_SIZE,
        per_vcpu: false,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::GicRedist,
        name: "emulated GIC redistributors",
        space: Space::Mmio,
        base: VGIC_REDIST_IPA,
        size: VGIC_REDIST_FRAME,
        per_vcpu: true,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::Pl011,
        name: "emulated PL011",
        space: Space::Mmio,
        base: VUART_IPA,
        size: 0x1000,
        per_vcpu: false,
        line: Some(VUART_INTID),
    },
    EmulatedDevice {
        kind: DeviceKind::Doorbell,
        name: "doorbell page",
        space: Space::Mmio,
        base: DOORBELL_IPA,
        size: 0x1000,
        per_vcpu: false,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::DoorbellGpio,
        name: "doorbell GPIO",
        space: Space::Mmio,
        base: DOORBELL_GPIO_IPA,
        size: 0x1000,
        per_vcpu: false,
        line: Some(DOORBELL_GPIO_INTID),
    },
];

/// SGI the hypervisor sends to stop a CPU for good (Group 0).
pub const SGI_HALT: u32 = 14;
/// SGI the hypervisor sends to make a CPU look at its requests (Group 0).
pub const SGI_KICK: u32 = 15;
/// The GIC maintenance interrupt (PPI 9), the hypervisor's.
pub const MAINTENANCE_INTID: u32 = 25;
/// The EL2 physical timer (PPI 10): the hypervisor's watchdog clock. A board's
/// `[timer] hyp-intid` must be this.
pub const HYP_TIMER_INTID: u32 = 26;
/// The EL1 virtual timer (PPI 11), forwarded to the vCPU with the HW bit. A board's
/// `[timer] virtual-intid` must be this.
pub const VTIMER_INTID: u32 = 27;
/// The EL1 physical timer (PPI 14), the guest's own on its cores and forwarded with
/// the HW bit like the virtual one. A board's `[timer] physical-intid` must be this.
pub const PTIMER_INTID: u32 = 30;

/// The hypervisor image is loaded this far above the 2 MiB aligned start of the first
/// RAM bank (its arm64 Image header's `text_offset`): the hypervisor's memory starts
/// there.
pub const HV_OFFSET: u64 = 0x20_0000;
/// `[hypervisor] memory` when the scenario does not say.
pub const HV_DEFAULT_MEMORY: u64 = 32 << 20;
/// One CPU's stack.
pub const HV_STACK_SIZE: u64 = 64 << 10;
/// Stacks in the image: the boot stack and one per CPU.
pub const HV_STACKS: u64 = MAX_CPUS as u64 + 1;
/// The translation-table pool (stage-1 and every VM's stage-2).
pub const HV_POOL_SIZE: u64 = 1 << 20;
/// What the validator reserves for the hypervisor's own code and data (about 0.3 MiB
/// today), next to the guest images it embeds; `rtvisor build` checks the real size.
pub const HV_CODE_ALLOWANCE: u64 = 1 << 20;
/// The flash page pool of one VM (see [`FLASH_POOL_PAGES`]), in the image's .bss.
pub const HV_FLASH_POOL_PER_VM: u64 = FLASH_POOL_PAGES as u64 * 4096;
/// How far the tiny code model's PC-relative `adr` and literal loads reach: the
/// hypervisor's code, read-only data, data and .bss must lie within it.
pub const TINY_CODE_REACH: u64 = 1 << 20;
/// What [`tiny_code_model`] reserves for the hypervisor's code, read-only data and
/// the .bss that does not grow with the VMs (about 0.2 MiB today; the VM table grows
/// by about 6 KiB a VM, counted here too for up to four VMs).
pub const HV_NEAR_ALLOWANCE: u64 = 384 << 10;

/// Whether a hypervisor for `vms` VMs is built with the tiny code model (one `adr`
/// instead of `adrp` and `add` for every address, about 4 KiB less code): when its
/// code, data and .bss, which holds each VM's flash pool, stay within
/// [`TINY_CODE_REACH`]. Otherwise the small model (`rtvisor build` says so). The
/// embedded guests, the stacks and the translation-table pool lie beyond and are
/// reached through absolute addresses (`linker::script`).
pub const fn tiny_code_model(vms: usize) -> bool {
    HV_NEAR_ALLOWANCE + HV_FLASH_POOL_PER_VM * vms as u64 <= TINY_CODE_REACH
}

/// The code model a build's `CARGO_ENCODED_RUSTFLAGS` (flags separated by 0x1f) asks
/// for: the last `-C code-model=M` or `-Ccode-model=M`, as rustc takes it.
pub fn code_model_of(encoded_rustflags: &str) -> Option<&str> {
    let mut model = None;
    let mut after_c = false;
    for f in encoded_rustflags.split('\x1f') {
        let opt = if after_c {
            Some(f)
        } else {
            f.strip_prefix("-C")
        };
        after_c = f == "-C";
        if let Some(m) = opt.and_then(|o| o.strip_prefix("code-model=")) {
            model = Some(m);
        }
    }
    model
}

/// The hypervisor's memory needs beyond the guest images it embeds: code and data,
/// stacks, translation tables.
pub const fn hv_fixed_size() -> u64 {
    HV_CODE_ALLOWANCE + HV_STACK_SIZE * HV_STACKS + HV_POOL_SIZE
}

// Every doorbell and the doorbell GPIO are SPIs the emulated GIC models, apart.
const _: () = assert!(DOORBELL_TOP_INTID < VGIC_INTIDS);
const _: () = assert!(
    DOORBELL_GPIO_INTID < doorbell_intid(super::MAX_SHARED_REGIONS - 1)
        && DOORBELL_GPIO_INTID >= 32
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_model_is_the_last_one_the_flags_name() {
        let flags = ["-C", "code-model=tiny", "-C", "opt-level=2"].join("\x1f");
        assert_eq!(code_model_of(&flags), Some("tiny"));
        // `rtvisor build`'s override comes after the config file's flags.
        let overridden = [flags.as_str(), "-C", "code-model=small"].join("\x1f");
        assert_eq!(code_model_of(&overridden), Some("small"));
        assert_eq!(
            code_model_of("-Ccode-model=small\x1f-Ccode-model=tiny"),
            Some("tiny")
        );
        assert_eq!(code_model_of(""), None);
        assert_eq!(code_model_of("-C\x1finline-threshold=95"), None);
    }

    #[test]
    fn the_tiny_code_model_is_kept_while_the_flash_pools_fit_its_reach() {
        assert!(tiny_code_model(1) && tiny_code_model(2));
        assert!(!tiny_code_model(3) && !tiny_code_model(MAX_CPUS));
        let most = (0..=MAX_CPUS).filter(|&n| tiny_code_model(n)).max();
        let n = most.unwrap_or(0) as u64;
        assert!(HV_NEAR_ALLOWANCE + HV_FLASH_POOL_PER_VM * n <= TINY_CODE_REACH);
    }

    #[test]
    fn emulated_devices_are_sorted_and_disjoint() {
        for w in EMULATED.windows(2) {
            let end = w[0].base + w[0].size_for(super::super::MAX_VCPUS);
            assert!(end <= w[1].base, "{} overlaps {}", w[0].name, w[1].name);
        }
        let last = &EMULATED[EMULATED.len() - 1];
        assert!(last.base + last.size <= SHM_WINDOW_IPA);
    }

    #[test]
    fn per_vcpu_devices_grow_with_the_vcpus() {
        let of = |k| EMULATED.iter().find(|d| d.kind == k).unwrap().size_for(3);
        assert_eq!(of(DeviceKind::GicDist), VGIC_DIST_SIZE);
        assert_eq!(of(DeviceKind::GicRedist), 3 * VGIC_REDIST_FRAME);
        assert_eq!(of(DeviceKind::CfiFlash), 128 << 20);
    }
}
