//! Calls from the hypervisor to the platform: the firmware's PSCI (SMC or HVC conduit),
//! and on an emulator that offers it, Arm semihosting's exit call.

use crate::platform::Conduit;

const CPU_ON_64: u64 = 0xC400_0003;
const SYSTEM_OFF: u64 = 0x8400_0008;

fn call(conduit: Conduit, fid: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    let ret: u64;
    match conduit {
        // SAFETY: an SMCCC call to firmware; it preserves x4..x17 per SMCCC 1.1 but we
        // declare them clobbered anyway, and it does not touch our memory.
        Conduit::Smc => unsafe {
            core::arch::asm!("smc #0", inout("x0") fid => ret, inout("x1") a1 => _, inout("x2") a2 => _,
                inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
                out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                out("x15") _, out("x16") _, out("x17") _, options(nostack))
        },
        // SAFETY: as above, through the HVC conduit.
        Conduit::Hvc => unsafe {
            core::arch::asm!("hvc #0", inout("x0") fid => ret, inout("x1") a1 => _, inout("x2") a2 => _,
                inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
                out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                out("x15") _, out("x16") _, out("x17") _, options(nostack))
        },
    }
    ret as i64
}

/// Starts physical CPU `mpidr` at `entry` with x0 = `context`; returns the PSCI code.
pub fn cpu_on(conduit: Conduit, mpidr: u64, entry: u64, context: u64) -> i64 {
    call(conduit, CPU_ON_64, mpidr, entry, context)
}

/// Powers the machine off. Returns only if the firmware refused.
pub fn system_off(conduit: Conduit) -> i64 {
    call(conduit, SYSTEM_OFF, 0, 0, 0)
}

/// Semihosting operation SYS_EXIT_EXTENDED (Arm semihosting 2.0).
const SYS_EXIT_EXTENDED: u64 = 0x20;
/// Its reason `ADP_Stopped_ApplicationExit`: the second word is the exit status.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;

/// Ends the emulator with exit status `status` through Arm semihosting
/// (SYS_EXIT_EXTENDED); on QEMU with `-semihosting-config enable=on`, it does not
/// return. Call it only when the board says semihosting is there: elsewhere
/// `HLT #0xF000` is an undefined instruction and raises an exception at this EL, so
/// the caller must be safe against re-entry from its exception handler.
pub fn semihosting_exit(status: u32) {
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, u64::from(status)];
    // SAFETY: HLT #0xF000 is the A64 semihosting call. The emulator reads the two
    // words at x1 (a live local, mapped) and writes only x0; without semihosting it
    // raises an exception handled by the EL2 vectors, and writes no memory.
    unsafe {
        core::arch::asm!("hlt #0xf000", inout("x0") SYS_EXIT_EXTENDED => _,
            in("x1") block.as_ptr(), options(nostack, readonly))
    };
}
