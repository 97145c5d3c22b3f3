//! rtvisor hypercalls on aarch64: SMCCC fast calls through the PSCI conduit
//! (docs/interfaces-draft.md), and the null call the benchmark times.

use core::arch::asm;

use super::psci;

/// One rtvisor call (SMC64 id `0xC600_00nn`); returns x0.
pub fn call(id: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    psci::call(id as u32, a1, a2, a3)
}

/// One SMCCC call `fid` (no arguments) through HVC or SMC, timed by PMCCNTR (nothing
/// is subtracted: the second read is part of the figure).
fn timed_call(fid: u32, smc: bool) -> u64 {
    let (p0, p1): (u64, u64);
    macro_rules! timed {
        ($insn:literal) => {
            // SAFETY: an SMCCC fast call between two PMCCNTR reads; x0-x17 may be
            // clobbered per SMCCC; the callee may touch memory (no `nomem`).
            unsafe {
                asm!("isb", "mrs {p0}, pmccntr_el0", $insn, "mrs {p1}, pmccntr_el0",
                    p0 = out(reg) p0, p1 = out(reg) p1,
                    inout("x0") u64::from(fid) => _,
                    out("x1") _, out("x2") _, out("x3") _, out("x4") _, out("x5") _,
                    out("x6") _, out("x7") _, out("x8") _, out("x9") _, out("x10") _,
                    out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                    out("x15") _, out("x16") _, out("x17") _, options(nostack))
            }
        };
    }
    if smc {
        timed!("smc #0");
    } else {
        timed!("hvc #0");
    }
    p1.wrapping_sub(p0)
}

fn timed_psci_version(smc: bool) -> u64 {
    timed_call(psci::PSCI_VERSION, smc)
}

fn timed_hvc() -> u64 {
    timed_psci_version(false)
}

fn timed_smc() -> u64 {
    timed_psci_version(true)
}

/// The timed null call of the benchmark's hvc phase: PSCI_VERSION through the PSCI
/// conduit (answered by the hypervisor, or by QEMU's firmware emulation bare).
pub fn null_call() -> fn() -> u64 {
    if psci::uses_smc() {
        timed_smc
    } else {
        timed_hvc
    }
}

/// A null call, untimed (the noisy neighbour's): PSCI_VERSION.
pub fn null() {
    let _ = psci::version();
}

/// A function id no SMCCC service here implements: PSCI MIGRATE, which QEMU's own PSCI
/// answers NOT_SUPPORTED (bare) and rtvisor does not know.
const UNKNOWN_FID: u32 = 0x8400_0005;

/// PSCI_VERSION through SMC, whatever the device tree's conduit (only under a
/// hypervisor that traps SMC: bare QEMU without EL3 makes it undefined).
fn timed_smc_version() -> u64 {
    timed_psci_version(true)
}

/// An unknown function id through the PSCI conduit.
fn timed_unknown() -> u64 {
    timed_call(UNKNOWN_FID, psci::uses_smc())
}

/// The timed operation of benchmark row `metric` beyond the timer, hvc and ipi ones:
/// `smc` (PSCI_VERSION through SMC), `unknown` (an unknown SMCCC function id), `gicd`
/// (a read of the distributor's GICD_TYPER).
pub fn timed_row(metric: &str) -> Option<fn() -> u64> {
    match metric {
        "smc" => Some(timed_smc_version),
        "unknown" => Some(timed_unknown),
        "gicd" => Some(super::gic::timed_typer_read),
        _ => None,
    }
}
