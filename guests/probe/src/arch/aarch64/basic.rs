//! Unallocated SMCCC ids, a trapped IMPLEMENTATION DEFINED register and the debug unit,
//! and an SGI flood (the memory cases that come first are `crate::memory`'s).

use guest_common::arch::psci;
use guest_common::exception::{Fault, EC_UNKNOWN};
use guest_common::guard;

use crate::report::{contained, leak, Outcome};

/// SMCCC function id in an unallocated range (vendor-specific hypervisor service).
const UNKNOWN_SMCCC_ID: u64 = 0x8600_ff01;
/// SMCCC NOT_SUPPORTED (-1).
pub const SMCCC_NOT_SUPPORTED: u64 = u64::MAX;
/// hvc/smc #0 with an unallocated SMCCC id: contained if NOT_SUPPORTED comes back
/// or the instruction is refused (undefined).
pub fn call_case(case: &str, smc: bool) -> Outcome {
    let result = guard::catch(|| {
        if smc {
            psci::raw_smc(UNKNOWN_SMCCC_ID, 0, 0, 0)
        } else {
            psci::raw_hvc(UNKNOWN_SMCCC_ID, 0, 0, 0)
        }
    });
    match result {
        Ok(SMCCC_NOT_SUPPORTED) => contained(case, format_args!("not_supported")),
        Ok(x0) => leak(case, format_args!("x0={:#x}", x0)),
        Err(f) if f.ec() == EC_UNKNOWN => contained(case, format_args!("undefined ec=0x0")),
        Err(f) => contained(
            case,
            format_args!("exception ec={:#x} esr={:#x}", f.ec(), f.esr),
        ),
    }
}

/// Reports a system-register access: contained if it was refused.
fn sysreg_result<T: core::fmt::LowerHex>(case: &str, r: Result<T, Fault>, what: &str) -> Outcome {
    match r {
        Err(f) if f.ec() == EC_UNKNOWN => contained(case, format_args!("undefined ec=0x0")),
        Err(f) => contained(
            case,
            format_args!("exception ec={:#x} esr={:#x}", f.ec(), f.esr),
        ),
        Ok(v) => leak(case, format_args!("{}{:#x}", what, v)),
    }
}

/// Writes a register of the IMPLEMENTATION DEFINED space (op0 3, op1 0, CRn 15),
/// which HCR_EL2.TIDCP traps: it must be refused (Undefined Instruction).
pub fn sysreg_trapped() -> Outcome {
    let r = guard::catch(|| {
        // SAFETY: an IMPLEMENTATION DEFINED register QEMU does not have; a trap is
        // caught by `catch`.
        unsafe {
            core::arch::asm!(
                "msr s3_0_c15_c0_0, xzr",
                options(nomem, nostack, preserves_flags)
            );
        }
    });
    match r {
        Ok(()) => leak("sysreg-trapped", format_args!("s3_0_c15_c0_0 writable")),
        Err(f) => sysreg_result::<u64>("sysreg-trapped", Err(f), ""),
    }
}

/// Tries to program breakpoint value register 0 and reads it back. The debug unit
/// belongs to the hypervisor: the access must trap, or be ignored and read as zero.
pub fn sysreg_debug() -> Outcome {
    const PATTERN: u64 = 0x4008_0000;
    let r = guard::catch(|| {
        let v: u64;
        // SAFETY: DBGBVR0_EL1 only holds an address; without DBGBCR0_EL1.E set no
        // breakpoint fires. A trap is caught by `catch`.
        unsafe {
            core::arch::asm!(
                "msr dbgbvr0_el1, {p}",
                "isb",
                "mrs {v}, dbgbvr0_el1",
                p = in(reg) PATTERN,
                v = out(reg) v,
                options(nomem, nostack, preserves_flags)
            );
        }
        v
    });
    match r {
        Ok(0) => contained("sysreg-debug", format_args!("write ignored, reads as zero")),
        Ok(v) => leak("sysreg-debug", format_args!("dbgbvr0_el1 kept {:#x}", v)),
        Err(f) => sysreg_result::<u64>("sysreg-debug", Err(f), ""),
    }
}

/// Sends every SGI number to every affinity it can name: broadcast (IRM) and
/// TargetList 0xffff under each range selector. Returns how many were sent.
pub fn sgi1_all() -> u32 {
    let mut sent = 0u32;
    for intid in 0..16u64 {
        for rs in 0..16u64 {
            let targeted = (intid << 24) | (rs << 44) | 0xffff;
            for value in [targeted, (intid << 24) | (1 << 40)] {
                // SAFETY: generating an SGI has no memory effects; it traps to the
                // hypervisor, which decides where (if anywhere) it goes.
                unsafe {
                    core::arch::asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value,
                        options(nomem, nostack, preserves_flags))
                };
                sent += 1;
            }
        }
    }
    sent
}

/// `sgi1_all`: the hypervisor must keep the SGIs inside this VM; the other VMs of
/// the test count any interrupt they did not ask for.
pub fn sgi_flood() -> Outcome {
    let sent = sgi1_all();
    contained(
        "sgi-flood",
        format_args!("sent {} SGIs; the other VMs count strays", sent),
    )
}
