//! The generic timer: the virtual counter (CNTVCT_EL0 / CNTFRQ_EL0) and the EL1
//! virtual timer (CNTV_CVAL_EL0 / CNTV_CTL_EL0, PPI 27).

use core::arch::asm;

/// Frequency assumed when CNTFRQ_EL0 reads 0 (QEMU's 62.5 MHz).
pub const FALLBACK_FREQUENCY: u64 = 62_500_000;

/// Virtual counter value (ISB first, so it is not read early).
pub fn counter() -> u64 {
    let v: u64;
    // SAFETY: ISB + reading CNTVCT_EL0 has no side effects.
    unsafe {
        asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// CNTFRQ_EL0 as programmed (may be 0 on a broken platform).
pub fn raw_frequency() -> u64 {
    let v: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effects.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Counter frequency in Hz, [`FALLBACK_FREQUENCY`] when CNTFRQ_EL0 is 0.
pub fn frequency() -> u64 {
    match raw_frequency() {
        0 => FALLBACK_FREQUENCY,
        f => f,
    }
}

/// INTID of the EL1 virtual timer (PPI 11).
pub const VIRTUAL_TIMER_INTID: u32 = 27;
/// The timer's interrupt id.
pub const INTERRUPT: u32 = VIRTUAL_TIMER_INTID;

/// Arms the virtual timer: CNTV_CVAL_EL0 = `cval`, CNTV_CTL_EL0 = ENABLE (unmasked).
pub fn arm(cval: u64) {
    // SAFETY: programming this vCPU's virtual timer; no memory is involved.
    unsafe {
        asm!("msr cntv_cval_el0, {}", "mov {t}, #1", "msr cntv_ctl_el0, {t}", "isb",
            in(reg) cval, t = out(reg) _, options(nomem, nostack, preserves_flags))
    };
}

/// Stops the virtual timer (CNTV_CTL_EL0 = 0), which also drops its interrupt line.
pub fn stop() {
    // SAFETY: disabling this vCPU's virtual timer; no memory is involved.
    unsafe {
        asm!(
            "msr cntv_ctl_el0, xzr",
            "isb",
            options(nomem, nostack, preserves_flags)
        )
    };
}
