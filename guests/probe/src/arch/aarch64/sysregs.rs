//! System registers a guest must not touch: EL2/EL3 registers (`sysreg-el2`),
//! IMPLEMENTATION DEFINED ones (`sysreg-impdef`), the Group-0 and alias SGI
//! registers (`sgi-group0`, `sgi-alias`), and the PMU control register (`pmu-own`).

use guest_common::exception::{Fault, EC_UNKNOWN};
use guest_common::guard;

use core::fmt::Write;

use super::How;
use crate::report::{contained, leak, Outcome, Text};

/// `mrs` of one register (by name or `s3_..` encoding), guarded.
macro_rules! mrs {
    ($reg:literal) => {
        guard::catch(|| {
            let v: u64;
            // SAFETY: reading a system register has no memory effects; a trap or an
            // undefined-instruction exception is caught by `catch`.
            unsafe {
                core::arch::asm!(concat!("mrs {}, ", $reg), out(reg) v,
                    options(nomem, nostack, preserves_flags));
            }
            v
        })
    };
}

/// `msr` of one register, guarded. The caller documents what the value would do.
macro_rules! msr {
    ($reg:literal, $v:expr) => {{
        let v: u64 = $v;
        guard::catch(|| {
            // SAFETY: see the caller: the value is harmless to this VM should the
            // write take effect; a trap or undefined instruction is caught.
            unsafe {
                core::arch::asm!(concat!("msr ", $reg, ", {}"), "isb", in(reg) v,
                    options(nomem, nostack, preserves_flags));
            }
        })
    }};
}

/// Tallies accesses that must be refused.
struct Refusals {
    tried: u32,
    undefined: u32,
    other: Option<Fault>,
    accepted: Option<&'static str>,
}

impl Refusals {
    const fn new() -> Self {
        Self {
            tried: 0,
            undefined: 0,
            other: None,
            accepted: None,
        }
    }

    fn check<T>(&mut self, name: &'static str, r: Result<T, Fault>) {
        self.tried += 1;
        match r {
            Err(f) if f.ec() == EC_UNKNOWN => self.undefined += 1,
            Err(f) => {
                self.other.get_or_insert(f);
            }
            Ok(_) => {
                self.accepted.get_or_insert(name);
            }
        }
    }

    fn report(&self, case: &str) -> Outcome {
        if let Some(name) = self.accepted {
            return leak(case, format_args!("{} accessible from EL1", name));
        }
        match &self.other {
            None => contained(case, format_args!("{} accesses, all undefined", self.tried)),
            Some(f) => contained(
                case,
                format_args!(
                    "{} accesses refused: {} undefined, others e.g. {}",
                    self.tried,
                    self.undefined,
                    How(f)
                ),
            ),
        }
    }
}

/// EL2 and EL3 registers from EL1: UNDEFINED by the architecture (no FEAT_NV in use).
/// Writes use values that would hand EL1 more power if they took effect (no SMC trap,
/// the physical timer, another CPU's index), never ones that would stop this VM.
pub fn sysreg_el2() -> Outcome {
    let mut r = Refusals::new();
    r.check("HCR_EL2 read", mrs!("s3_4_c1_c1_0"));
    r.check("VTTBR_EL2 read", mrs!("s3_4_c2_c1_0"));
    r.check("VTCR_EL2 read", mrs!("s3_4_c2_c1_2"));
    r.check("SCTLR_EL2 read", mrs!("s3_4_c1_c0_0"));
    r.check("VBAR_EL2 read", mrs!("s3_4_c12_c0_0"));
    r.check("MDCR_EL2 read", mrs!("s3_4_c1_c1_1"));
    r.check("ESR_EL2 read", mrs!("s3_4_c5_c2_0"));
    r.check("TPIDR_EL2 read", mrs!("s3_4_c13_c0_2"));
    r.check("CNTHCTL_EL2 read", mrs!("s3_4_c14_c1_0"));
    r.check("CNTVOFF_EL2 read", mrs!("s3_4_c14_c0_3"));
    r.check("ICH_HCR_EL2 read", mrs!("s3_4_c12_c11_0"));
    r.check("ICH_VTR_EL2 read", mrs!("s3_4_c12_c11_1"));
    r.check("ICH_LR0_EL2 read", mrs!("s3_4_c12_c12_0"));
    r.check("ICC_SRE_EL2 read", mrs!("s3_4_c12_c9_5"));
    r.check("SCR_EL3 read", mrs!("s3_6_c1_c1_0"));
    // The hypervisor's HCR_EL2 without TSC (SMC would no longer trap).
    r.check("HCR_EL2 write", msr!("s3_4_c1_c1_0", 0x8030_003b));
    // EL1PCTEN | EL1PCEN: the physical timer for EL1.
    r.check("CNTHCTL_EL2 write", msr!("s3_4_c14_c1_0", 3));
    r.check("CNTVOFF_EL2 write", msr!("s3_4_c14_c0_3", 0));
    // The hypervisor keeps its CPU index here: pretend to be CPU 0.
    r.check("TPIDR_EL2 write", msr!("s3_4_c13_c0_2", 0));
    r.report("sysreg-el2")
}

/// One register of `sysreg-impdef`: the value before, the write, the value after.
type Probed = (Result<u64, Fault>, Result<(), Fault>, Result<u64, Fault>);

/// ACTLR_EL1 (trapped by HCR_EL2.TACR) and the Cortex-A57/A72 IMPLEMENTATION DEFINED
/// CPUACTLR_EL1 / CPUECTLR_EL1 (HCR_EL2.TIDCP): each is read, a bit is set, and it is
/// read again. Contained if refused, or if the bit did not stick (RAZ/WI). The bits
/// (ACTLR bit 6, CPUACTLR bit 44, CPUECTLR bit 6 = SMPEN, normally set already) would
/// at most change this core's own behaviour.
pub fn sysreg_impdef() -> Outcome {
    const CASE: &str = "sysreg-impdef";
    let actlr: Probed = (
        mrs!("actlr_el1"),
        msr!("actlr_el1", mrs!("actlr_el1").unwrap_or(0) | 1 << 6),
        mrs!("actlr_el1"),
    );
    let cpuactlr: Probed = (
        mrs!("s3_1_c15_c2_0"),
        msr!(
            "s3_1_c15_c2_0",
            mrs!("s3_1_c15_c2_0").unwrap_or(0) | 1 << 44
        ),
        mrs!("s3_1_c15_c2_0"),
    );
    let cpuectlr: Probed = (
        mrs!("s3_1_c15_c2_1"),
        msr!("s3_1_c15_c2_1", mrs!("s3_1_c15_c2_1").unwrap_or(0) | 1 << 6),
        mrs!("s3_1_c15_c2_1"),
    );
    let mut how = Text::new();
    for (name, bit, (before, write, after)) in [
        ("ACTLR_EL1", 1u64 << 6, actlr),
        ("CPUACTLR_EL1", 1 << 44, cpuactlr),
        ("CPUECTLR_EL1", 1 << 6, cpuectlr),
    ] {
        let sep = if how.as_str().is_empty() { "" } else { ", " };
        match (before, write, after) {
            (Err(f), Err(_), Err(_)) => {
                let _ = write!(how, "{}{}: {}", sep, name, How(&f));
            }
            (Ok(b), _, Ok(a)) if a & bit != 0 && b & bit == 0 => {
                return leak(
                    CASE,
                    format_args!("{} took a write ({:#x} -> {:#x})", name, b, a),
                )
            }
            (Ok(b), w, Ok(a)) => {
                let w = if w.is_ok() { "" } else { " (write refused)" };
                let _ = write!(how, "{}{} {:#x}->{:#x}{}", sep, name, b, a, w);
            }
            (b, w, a) => {
                return leak(
                    CASE,
                    format_args!(
                        "{} refused only in part (read ok={}, write ok={}, read back ok={})",
                        name,
                        b.is_ok(),
                        w.is_ok(),
                        a.is_ok()
                    ),
                )
            }
        }
    }
    contained(CASE, format_args!("{}; no write stuck", how.as_str()))
}

/// Writes every SGI INTID to the Group-0 (`s3_0_c12_c11_7`, ICC_SGI0R_EL1) or alias
/// Group-1 (`s3_0_c12_c11_6`, ICC_ASGI1R_EL1) register: broadcast (IRM) and
/// TargetList 0xffff under each range selector. The hypervisor's own kick and halt
/// SGIs are Group-0 SGIs 15 and 14, sent first.
pub fn sgi_register_flood(group0: bool) -> (u32, u32) {
    let (mut sent, mut refused) = (0, 0);
    for intid in [14u64, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13] {
        let mut values = [0u64; 17];
        values[0] = (intid << 24) | (1 << 40);
        for rs in 0..16u64 {
            values[rs as usize + 1] = (intid << 24) | (rs << 44) | 0xffff;
        }
        for v in values {
            // The value names SGIs only; where they go is the hypervisor's call.
            let r = if group0 {
                msr!("s3_0_c12_c11_7", v)
            } else {
                msr!("s3_0_c12_c11_6", v)
            };
            sent += 1;
            refused += u32::from(r.is_err());
        }
    }
    (sent, refused)
}

pub fn sgi_group0() -> Outcome {
    let (sent, refused) = sgi_register_flood(true);
    contained(
        "sgi-group0",
        format_args!(
            "{} ICC_SGI0R_EL1 writes ({} refused), INTIDs 14/15 (hypervisor halt/kick) to all; still running",
            sent, refused
        ),
    )
}

pub fn sgi_alias() -> Outcome {
    let (sent, refused) = sgi_register_flood(false);
    contained(
        "sgi-alias",
        format_args!(
            "{} ICC_ASGI1R_EL1 writes ({} refused); the other VMs count strays",
            sent, refused
        ),
    )
}

/// PMCR_EL0: EL1 owns its core's PMU by design (rtbench measures with it), so writes
/// may take effect, but only on this core. Resets both counter kinds, disables and
/// re-enables them, then restores the value read first.
pub fn pmu_own() -> Outcome {
    const CASE: &str = "pmu-own";
    let pmcr = match mrs!("pmcr_el0") {
        Ok(v) => v,
        Err(f) => return contained(CASE, format_args!("PMCR_EL0 read refused: {}", How(&f))),
    };
    // P (bit 1) and C (bit 2) reset this core's counters; E (bit 0) enables them.
    let writes = [
        msr!("pmcr_el0", pmcr | 0b110),
        msr!("pmcr_el0", pmcr & !1),
        msr!("pmcr_el0", pmcr | 1),
        msr!("pmcr_el0", pmcr),
    ];
    let refused = writes.iter().filter(|w| w.is_err()).count();
    let after = mrs!("pmcr_el0").unwrap_or(0);
    contained(
        CASE,
        format_args!(
            "this core's own PMU: 4 PMCR_EL0 writes, {} refused; restored {:#x}, reads {:#x}",
            refused, pmcr, after
        ),
    )
}
