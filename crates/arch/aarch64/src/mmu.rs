//! EL2 stage-1 translation (the hypervisor's own identity map) and stage-2 control.

use crate::sysreg::{dsb_ish, isb};
use rtvisor_addr::Hpa;

/// TCR_EL2: 39-bit VA (T0SZ 25), 4 KiB granule, inner-shareable write-back walks,
/// 40-bit PA, RES1 bits 23 and 31.
const TCR_EL2: u64 = 25 | (1 << 8) | (1 << 10) | (3 << 12) | (2 << 16) | (1 << 23) | (1 << 31);
/// SCTLR_EL2: RES1 bits, M, C, SA, I, WXN.
const SCTLR_EL2: u64 = 0x30c5_0830 | 1 | (1 << 2) | (1 << 3) | (1 << 12) | (1 << 19);
/// VTCR_EL2: the machine contract's IPA size (39 bits: T0SZ 25), walk from level 1 (SL0
/// 1), write-back inner-shareable walks, 4 KiB granule, 40-bit PA, RES1 bit 31.
pub const VTCR_EL2: u64 =
    VTCR_T0SZ | (1 << 6) | (1 << 8) | (1 << 10) | (3 << 12) | (2 << 16) | (1 << 31);
const VTCR_T0SZ: u64 = 64 - rtvisor_config::contract::aarch64::IPA_BITS as u64;
// A level-1 start (SL0 = 1) with 4 KiB pages covers IPA sizes of 31 to 39 bits.
const _: () = assert!(VTCR_T0SZ >= 25 && VTCR_T0SZ <= 33);

/// Turns the EL2 MMU on with the identity tables at `root`.
///
/// # Safety
/// `root` must map the code currently executing, its stack and all data the hypervisor
/// touches afterwards, at their physical addresses, with the attributes of
/// `pt::Stage1`.
pub unsafe fn enable_el2(root: Hpa) {
    dsb_ish();
    write_sysreg!(mair_el2, crate::pt::Stage1::MAIR);
    write_sysreg!(tcr_el2, TCR_EL2);
    write_sysreg!(ttbr0_el2, root.raw());
    isb();
    // SAFETY: invalidating EL2 TLB entries has no memory-safety effect.
    unsafe { core::arch::asm!("tlbi alle2", options(nostack, preserves_flags)) };
    dsb_ish();
    isb();
    write_sysreg!(sctlr_el2, SCTLR_EL2);
    isb();
}

/// Selects the stage-2 tables of the VM with `vmid` on this CPU.
///
/// # Safety
/// `root` must be a complete stage-2 table built with `pt::Stage2` attributes that maps
/// only memory the VM may use.
pub unsafe fn set_stage2(vmid: u16, root: Hpa) {
    write_sysreg!(vtcr_el2, VTCR_EL2);
    write_sysreg!(vttbr_el2, (vmid as u64) << 48 | root.raw());
    isb();
}

/// Drops, on every CPU (inner shareable), the TLB entries tagged with the VMID selected
/// on this CPU: stale stage-1 and stage-2 entries of an earlier run of the VM.
pub fn flush_current_vmid() {
    // SAFETY: TLB invalidation for the current VMID has no memory-safety effect.
    unsafe {
        core::arch::asm!(
            "tlbi vmalls12e1is",
            "dsb ish",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}
