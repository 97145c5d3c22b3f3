//! CPU identity and idle helpers.

use core::arch::asm;

/// Current exception level (1 as a guest, 2 when run bare on a machine with EL2).
pub fn current_el() -> u8 {
    let v: u64;
    // SAFETY: reading CurrentEL has no side effects.
    unsafe { asm!("mrs {}, CurrentEL", out(reg) v, options(nomem, nostack, preserves_flags)) };
    ((v >> 2) & 3) as u8
}

/// MPIDR_EL1 of this vCPU.
pub fn mpidr() -> u64 {
    let v: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// This vCPU's index (set in TPIDR_EL1 by the boot code: MPIDR.Aff0 on the primary,
/// the `CPU_ON` context_id on secondaries).
pub fn index() -> usize {
    let v: u64;
    // SAFETY: reading TPIDR_EL1 has no side effects; only the boot code writes it.
    unsafe { asm!("mrs {}, tpidr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v as usize
}

/// Waits for an event (returns on any event or spuriously).
pub fn wfe() {
    // SAFETY: WFE only suspends execution until an event; no memory effects.
    unsafe { asm!("wfe", options(nomem, nostack, preserves_flags)) };
}

/// Parks this vCPU forever.
pub fn park() -> ! {
    loop {
        wfe();
    }
}

/// The wait hint for spin loops: YIELD (Linux's arm64 `cpu_relax`). Under QEMU's
/// round-robin TCG it lets the vCPU holding a lock run.
pub fn relax() {
    // SAFETY: YIELD is a hint with no effect on state or memory.
    unsafe { core::arch::asm!("yield", options(nomem, nostack, preserves_flags)) };
}

/// Cleans the data cache lines of `[addr, addr+len)` to the point of coherency
/// (64-byte lines assumed, the smallest Cortex-A line), so an observer that maps the
/// memory uncached sees what was written.
pub fn clean_dcache(addr: usize, len: usize) {
    let mut line = addr & !63;
    while line < addr + len {
        // SAFETY: DC CVAC on an address this guest maps only writes dirty data back;
        // it changes no memory contents.
        unsafe { core::arch::asm!("dc cvac, {}", in(reg) line, options(nostack, preserves_flags)) };
        line += 64;
    }
    // SAFETY: a barrier only orders memory accesses.
    unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// The name of the hardware CPU id in protocol lines.
pub const ID_NAME: &str = "mpidr";

/// The hardware id of this CPU (MPIDR_EL1).
pub fn hw_id() -> u64 {
    mpidr()
}
