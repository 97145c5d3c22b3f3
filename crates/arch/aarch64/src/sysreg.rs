//! Raw system-register access and barriers.

/// Reads a system register by name, e.g. `read_sysreg!(esr_el2)`.
#[macro_export]
macro_rules! read_sysreg {
    ($name:tt) => {{
        let v: u64;
        // SAFETY: reading a system register has no memory effects.
        unsafe { core::arch::asm!(concat!("mrs {}, ", stringify!($name)), out(reg) v, options(nomem, nostack, preserves_flags)) };
        v
    }};
}

/// Writes a system register by name, e.g. `write_sysreg!(hcr_el2, v)`.
///
/// Only use it from functions whose own safety contract covers the register's effect.
#[macro_export]
macro_rules! write_sysreg {
    ($name:tt, $v:expr) => {{
        let v: u64 = $v;
        // SAFETY: the caller's function documents why this register write is sound.
        unsafe { core::arch::asm!(concat!("msr ", stringify!($name), ", {}"), in(reg) v, options(nostack, preserves_flags)) };
    }};
}

/// Instruction synchronization barrier.
#[inline(always)]
pub fn isb() {
    // SAFETY: a barrier has no effect on memory safety.
    unsafe { core::arch::asm!("isb", options(nostack, preserves_flags)) };
}

/// Full-system data synchronization barrier (inner shareable).
#[inline(always)]
pub fn dsb_ish() {
    // SAFETY: a barrier has no effect on memory safety.
    unsafe { core::arch::asm!("dsb ish", options(nostack, preserves_flags)) };
}

/// Wait for interrupt (wakes on a pending interrupt even when masked).
#[inline(always)]
pub fn wfi() {
    // SAFETY: waiting has no effect on memory safety.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack, preserves_flags)) };
}

/// This CPU's MPIDR affinity fields (Aff3..Aff0).
pub fn mpidr() -> u64 {
    read_sysreg!(mpidr_el1) & 0xff_00ff_ffff
}

/// The generic counter.
pub fn counter() -> u64 {
    isb();
    read_sysreg!(cntpct_el0)
}

/// Counter frequency in Hz.
pub fn counter_freq() -> u64 {
    read_sysreg!(cntfrq_el0)
}
