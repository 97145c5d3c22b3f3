//! Per-CPU EL2 configuration: what traps, where interrupts go, what EL1 may touch.

use crate::sysreg::isb;

const HCR_VM: u64 = 1 << 0;
const HCR_SWIO: u64 = 1 << 1;
const HCR_FMO: u64 = 1 << 3;
const HCR_IMO: u64 = 1 << 4;
const HCR_AMO: u64 = 1 << 5;
const HCR_TSC: u64 = 1 << 19;
const HCR_TIDCP: u64 = 1 << 20;
const HCR_TACR: u64 = 1 << 21;
const HCR_RW: u64 = 1 << 31;
const HCR_APK: u64 = 1 << 40;
const HCR_API: u64 = 1 << 41;
const CNTHCTL_EL1PCTEN: u64 = 1 << 0;
const CNTHCTL_EL1PCEN: u64 = 1 << 1;

/// HCR_EL2 while a guest runs: stage 2 on; physical IRQ, FIQ and SError to EL2; SMC,
/// IMPLEMENTATION DEFINED registers and ACTLR trapped; set/way invalidation upgraded to
/// clean+invalidate (a guest cannot discard another partition's dirty lines); EL1 is
/// AArch64; WFI/WFE run natively (a pinned vCPU owns its core).
fn hcr() -> u64 {
    let mut v =
        HCR_VM | HCR_SWIO | HCR_FMO | HCR_IMO | HCR_AMO | HCR_TSC | HCR_TIDCP | HCR_TACR | HCR_RW;
    // Pointer authentication, when present, is the guest's own: do not trap its keys
    // or instructions.
    let isar1 = read_sysreg!(id_aa64isar1_el1);
    if (isar1 >> 4) & 0xff != 0 || (isar1 >> 24) & 0xff != 0 {
        v |= HCR_APK | HCR_API;
    }
    v
}

/// Configures this CPU's EL2 for running guests. With `direct_irqs` the physical IRQs
/// of this CPU go straight to the guest's EL1 (HCR_EL2.IMO clear); FIQs (the
/// hypervisor's Group-0 SGIs) and SErrors still come to EL2.
///
/// # Safety
/// Call at EL2, before entering a guest, on the CPU that runs it.
pub unsafe fn init_el2(direct_irqs: bool) {
    let hcr = if direct_irqs { hcr() & !HCR_IMO } else { hcr() };
    write_sysreg!(hcr_el2, hcr);
    // CNTHCTL_EL2: EL1 reads the physical counter (EL1PCTEN) and owns the EL1
    // physical timer (EL1PCEN): its CNTP_* registers do not trap. The hypervisor's own
    // timer is the EL2 one (CNTHP), a separate timer.
    write_sysreg!(cnthctl_el2, CNTHCTL_EL1PCTEN | CNTHCTL_EL1PCEN);
    write_sysreg!(cntvoff_el2, 0);
    // MDCR_EL2: self-hosted debug and every PMU counter are the guest's, untrapped,
    // not counting at EL2 where the PMU allows; debug exceptions go to EL1
    // (crate::debug).
    let pmu_n = (read_sysreg!(pmcr_el0) >> 11) & 0x1f;
    let unit = crate::debug::DebugUnit::from_dfr0(read_sysreg!(id_aa64dfr0_el1));
    write_sysreg!(mdcr_el2, crate::debug::mdcr_el2(pmu_n, unit));
    // CPTR_EL2: RES1 bits only; FP/SIMD, SVE and SME are not trapped. The hypervisor is
    // built soft-float, so guest vector state stays in the registers.
    write_sysreg!(cptr_el2, 0x22ff);
    isb();
}

/// Records this CPU's index (its position in the host device tree) in TPIDR_EL2, which
/// nothing else at EL2 uses.
pub fn set_this_index(index: u64) {
    write_sysreg!(tpidr_el2, index);
}

/// This CPU's index, as recorded by [`set_this_index`].
pub fn this_index() -> u64 {
    read_sysreg!(tpidr_el2)
}

/// Sets CNTVOFF_EL2: the guest's virtual counter reads the physical count minus `off`.
pub fn set_cntvoff(off: u64) {
    write_sysreg!(cntvoff_el2, off);
}

/// The wait hint for spin loops: YIELD (what Linux's `cpu_relax` uses on arm64).
pub fn relax() {
    // SAFETY: YIELD is a hint with no architectural effect on state or memory.
    unsafe { core::arch::asm!("yield", options(nomem, nostack, preserves_flags)) };
}

/// Disables the EL1 virtual timer of the guest that ran on this CPU.
pub fn stop_virtual_timer() {
    write_sysreg!(cntv_ctl_el0, 0);
}

/// Puts the EL1 physical timer of this CPU in its reset shape for the next guest:
/// disabled (its interrupt line drops), compare value 0.
pub fn reset_physical_timer() {
    write_sysreg!(cntp_ctl_el0, 0);
    write_sysreg!(cntp_cval_el0, 0);
}
