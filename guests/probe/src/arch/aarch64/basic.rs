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

/// DBGWCR: enabled, a 2 GiB range (MASK = 31, BAS = 0xff), loads and stores, matching
/// at EL2 as well as EL1 and EL0 (HMC = 1, SSC = 0b00, PAC = 0b11).
const WCR_ALL_LOW_2G_EL2: u64 =
    1 | (0b11 << 1) | (0b11 << 3) | (0xff << 5) | (1 << 13) | (31 << 24);

/// The debug unit is this core's and the VM's own: breakpoint value register 0 keeps
/// what is written. It must not reach the hypervisor: with debug exceptions enabled
/// (MDSCR_EL1.KDE, MDE; PSTATE.D stays set so the probe itself takes none), a
/// watchpoint on every load and store below 2 GiB (all of RAM's first GiB, where
/// the hypervisor lives) that also matches at EL2 is armed across a hypercall; the
/// hypervisor must answer it as usual (debug exceptions target EL1, never EL2).
pub fn sysreg_debug() -> Outcome {
    const PATTERN: u64 = 0x4008_0000;
    let r = guard::catch(|| {
        let v: u64;
        // SAFETY: DBGBVR0_EL1 only holds an address; DBGBCR0_EL1 stays disabled.
        unsafe {
            core::arch::asm!(
                "msr dbgbvr0_el1, {p}",
                "isb",
                "mrs {v}, dbgbvr0_el1",
                "msr dbgbvr0_el1, xzr",
                p = in(reg) PATTERN,
                v = out(reg) v,
                options(nomem, nostack, preserves_flags)
            );
        }
        v
    });
    match r {
        Ok(PATTERN) => {}
        Ok(v) => {
            return leak(
                "sysreg-debug",
                format_args!("dbgbvr0_el1 read {:#x}, not the VM's own register", v),
            )
        }
        Err(f) => return sysreg_result::<u64>("sysreg-debug", Err(f), ""),
    }
    // SAFETY: arms watchpoint 0 on the low 2 GiB with debug exceptions enabled at
    // EL1 but masked in PSTATE (D), clears the OS lock; disarmed again below.
    unsafe {
        core::arch::asm!(
            "msr oslar_el1, xzr",
            "msr dbgwvr0_el1, xzr",
            "msr dbgwcr0_el1, {wcr}",
            "mov {t}, #(1 << 13) | (1 << 15)",
            "msr mdscr_el1, {t}",
            "isb",
            wcr = in(reg) WCR_ALL_LOW_2G_EL2,
            t = out(reg) _,
            options(nomem, nostack, preserves_flags)
        );
    }
    let ret = psci::raw_hvc(u64::from(psci::PSCI_VERSION), 0, 0, 0);
    // SAFETY: disarms the watchpoint and debug exceptions again.
    unsafe {
        core::arch::asm!(
            "msr dbgwcr0_el1, xzr",
            "msr mdscr_el1, xzr",
            "isb",
            options(nomem, nostack, preserves_flags)
        );
    }
    contained(
        "sysreg-debug",
        format_args!(
            "the VM's own debug unit; a watchpoint matching EL2 did not reach the hypervisor, psci version {:#x}",
            ret
        ),
    )
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
