//! PSCI calls over the SMCCC conduit named by the device tree (`/psci` `method`,
//! default HVC). Return values are PSCI's: 0 success, negative errors.

use core::sync::atomic::{AtomicBool, Ordering};

use super::boot;
use crate::{cpu, println};

/// PSCI_VERSION.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// CPU_OFF.
pub const CPU_OFF: u32 = 0x8400_0002;
/// CPU_ON (SMC64).
pub const CPU_ON: u32 = 0xC400_0003;
/// AFFINITY_INFO (SMC64).
pub const AFFINITY_INFO: u32 = 0xC400_0004;
/// SYSTEM_OFF.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// SYSTEM_RESET.
pub const SYSTEM_RESET: u32 = 0x8400_0009;

/// Conduit: false = HVC (default), true = SMC. Set once by the primary.
static USE_SMC: AtomicBool = AtomicBool::new(false);

/// Selects the SMC conduit (`true`) or HVC (`false`).
pub fn set_smc_conduit(smc: bool) {
    USE_SMC.store(smc, Ordering::Release);
}

/// Whether calls go through SMC.
pub fn uses_smc() -> bool {
    USE_SMC.load(Ordering::Acquire)
}

/// One SMCCC call through the configured conduit; returns x0.
pub fn call(fid: u32, a1: u64, a2: u64, a3: u64) -> u64 {
    if uses_smc() {
        raw_smc(u64::from(fid), a1, a2, a3)
    } else {
        raw_hvc(u64::from(fid), a1, a2, a3)
    }
}

macro_rules! smccc {
    ($insn:literal, $x0:expr, $a1:expr, $a2:expr, $a3:expr) => {{
        let mut r0: u64 = $x0;
        // SAFETY: an SMCCC call; per SMCCC x0-x17 may be clobbered, and the callee
        // (hypervisor/firmware) may touch memory (CPU_ON starts another vCPU), so no
        // `nomem`. The stack is not used by the instruction itself.
        unsafe {
            core::arch::asm!($insn, inout("x0") r0, inout("x1") $a1 => _,
                inout("x2") $a2 => _, inout("x3") $a3 => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
                out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
                out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                options(nostack));
        }
        r0
    }};
}

/// `hvc #0` with x0..x3; returns x0.
pub fn raw_hvc(x0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    smccc!("hvc #0", x0, a1, a2, a3)
}

/// `smc #0` with x0..x3; returns x0.
pub fn raw_smc(x0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    smccc!("smc #0", x0, a1, a2, a3)
}

/// PSCI_VERSION: `Ok((major, minor))` or the (negative) error.
pub fn version() -> Result<(u16, u16), i32> {
    let r = call(PSCI_VERSION, 0, 0, 0) as u32 as i32;
    if r < 0 {
        Err(r)
    } else {
        Ok(((r >> 16) as u16, (r & 0xffff) as u16))
    }
}

/// CPU_ON(target MPIDR, entry point, context_id).
pub fn cpu_on(target_mpidr: u64, entry: u64, context_id: u64) -> i32 {
    call(CPU_ON, target_mpidr, entry, context_id) as i32
}

/// CPU_OFF: does not return on success; returns the error otherwise.
pub fn cpu_off() -> i32 {
    call(CPU_OFF, 0, 0, 0) as i32
}

/// AFFINITY_INFO(target, level): 0 on, 1 off, 2 on-pending, negative error.
pub fn affinity_info(target_mpidr: u64, level: u64) -> i32 {
    call(AFFINITY_INFO, target_mpidr, level, 0) as i32
}

/// SYSTEM_OFF; if the call returns, reports it and parks (never hangs silently).
pub fn system_off() -> ! {
    let r = call(SYSTEM_OFF, 0, 0, 0) as i32;
    println!(
        "guest: vcpu {} SYSTEM_OFF returned {} ({})",
        cpu::index(),
        r,
        crate::power::error_name(r)
    );
    cpu::park()
}

/// SYSTEM_RESET; if the call returns, reports it and parks.
pub fn system_reset() -> ! {
    // A reset that does not reload the image must let `_start` be claimed again.
    boot::BOOT_CLAIM.store(0, Ordering::SeqCst);
    let r = call(SYSTEM_RESET, 0, 0, 0) as i32;
    println!(
        "guest: vcpu {} SYSTEM_RESET returned {} ({})",
        cpu::index(),
        r,
        crate::power::error_name(r)
    );
    cpu::park()
}
