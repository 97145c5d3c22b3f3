//! Self-hosted debug and the PMU of a VM: both belong to the guest.
//!
//! A vCPU is pinned to its own core, so the core's breakpoints, watchpoints, single
//! step (MDSCR_EL1, SPSR.SS), OS lock and PMU counters can be the guest's registers,
//! with no trap and no save/restore. [`mdcr_el2`] gives them away, [`reset`] puts them
//! in a known state before each start of a vCPU (VM start and restart), so nothing of
//! the previous run (a breakpoint, a running counter) survives into the next.
//!
//! What keeps the hypervisor safe: MDCR_EL2.TDE = 0 makes EL1 the debug target, and
//! debug exceptions are never generated at an Exception level above the debug target,
//! so a breakpoint, watchpoint or step programmed by a guest (even with HMC set) is
//! never taken at EL2; only BRK is, and the hypervisor's own BRKs are its panics. The
//! hypervisor itself uses no self-hosted debug and no PMU counter.
//!
//! The ID registers need no emulation: they are not trapped (HCR_EL2.TID3 = 0), and
//! what they say (ID_AA64DFR0_EL1 BRPs, WRPs, PMUVer; PMCR_EL0.N, which EL1 reads as
//! MDCR_EL2.HPMN) is what the guest has: all of it.

/// MDCR_EL2.HPMN: the event counters EL1 and EL0 may use.
pub const MDCR_HPMN_MASK: u64 = 0x1f;
/// MDCR_EL2.TPMCR: trap PMCR_EL0.
pub const MDCR_TPMCR: u64 = 1 << 5;
/// MDCR_EL2.TPM: trap every PMU register.
pub const MDCR_TPM: u64 = 1 << 6;
/// MDCR_EL2.HPME: enable the counters reserved for EL2.
pub const MDCR_HPME: u64 = 1 << 7;
/// MDCR_EL2.TDE: route debug exceptions from EL1/EL0 to EL2.
pub const MDCR_TDE: u64 = 1 << 8;
/// MDCR_EL2.TDA: trap debug register accesses.
pub const MDCR_TDA: u64 = 1 << 9;
/// MDCR_EL2.TDOSA: trap the OS lock and power-down registers.
pub const MDCR_TDOSA: u64 = 1 << 10;
/// MDCR_EL2.TDRA: trap the debug ROM address registers.
pub const MDCR_TDRA: u64 = 1 << 11;

/// MDCR_EL2.HPMD (PMUv3p1): the guest's event counters do not count at EL2.
pub const MDCR_HPMD: u64 = 1 << 17;
/// MDCR_EL2.HCCD (PMUv3p5): the cycle counter does not count at EL2.
pub const MDCR_HCCD: u64 = 1 << 23;

/// MDCR_EL2 while a guest runs, on a core whose PMCR_EL0.N is `pmcr_n` and whose PMU
/// is `unit`'s: every event counter to EL1 (HPMN = N, none kept for EL2), no PMU
/// trap, no debug trap, debug exceptions to EL1 (TDE = 0); where the PMU can say so,
/// none of its counters counts while the hypervisor runs (HPMD from PMUv3p1, HCCD
/// from PMUv3p5), so a guest cannot measure the hypervisor's work through them.
pub const fn mdcr_el2(pmcr_n: u64, unit: DebugUnit) -> u64 {
    let v = unit.pmu_version;
    let hpmd = if unit.has_pmu() && v >= 4 {
        MDCR_HPMD
    } else {
        0
    };
    let hccd = if unit.has_pmu() && v >= 6 {
        MDCR_HCCD
    } else {
        0
    };
    pmcr_n & MDCR_HPMN_MASK | hpmd | hccd
}

/// The debug unit a VM sees, as ID_AA64DFR0_EL1 describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugUnit {
    /// Breakpoints (BRPs + 1).
    pub breakpoints: u8,
    /// Watchpoints (WRPs + 1).
    pub watchpoints: u8,
    /// PMUVer (0: no PMU, 0xf: IMPLEMENTATION DEFINED, not the architected PMU).
    pub pmu_version: u8,
}

impl DebugUnit {
    /// From ID_AA64DFR0_EL1 (BRPs [15:12], WRPs [23:20], PMUVer [11:8]).
    pub const fn from_dfr0(dfr0: u64) -> Self {
        Self {
            breakpoints: ((dfr0 >> 12) & 0xf) as u8 + 1,
            watchpoints: ((dfr0 >> 20) & 0xf) as u8 + 1,
            pmu_version: ((dfr0 >> 8) & 0xf) as u8,
        }
    }

    /// Whether the architected PMU is there.
    pub const fn has_pmu(self) -> bool {
        self.pmu_version != 0 && self.pmu_version != 0xf
    }
}

/// OSLAR_EL1 / OSLSR_EL1.OSLK: the OS lock. A core comes out of cold reset with it
/// locked, and so does every vCPU: the guest unlocks it, as it would on hardware.
pub const OS_LOCK_AT_RESET: u64 = 1;

/// PMCR_EL0 written at reset: counters disabled (E = 0), the event counters (P) and
/// the cycle counter (C) reset to 0.
pub const PMCR_RESET: u64 = (1 << 1) | (1 << 2);

#[cfg(target_arch = "aarch64")]
pub use hw::reset;

#[cfg(target_arch = "aarch64")]
mod hw {
    use super::{DebugUnit, OS_LOCK_AT_RESET, PMCR_RESET};
    use crate::sysreg::isb;

    /// Zeroes `<$reg><n>_el1` for every n (0..=15) below `$count`: a branch into a run
    /// of the sixteen writes, highest first, that executes only the last `$count` of
    /// them (19 instructions, where a test and a write per register took about 95).
    /// The branch lands on a plain `msr`, not a BTI landing pad: with BTI turned on
    /// at EL2 (it is not: SCTLR_EL2.BT is clear) this would fault.
    macro_rules! zero_numbered {
        ($count:expr, $reg:literal) => {
            zero_numbered!(@ $count, $reg, 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0)
        };
        (@ $count:expr, $reg:literal, $($n:literal)*) => {{
            let count = u64::from($count).min(16);
            // SAFETY: the caller (`reset`) owns this core's debug registers; the
            // branch lands `count` writes before the end, so only registers
            // n < count, which exist (ID_AA64DFR0_EL1 gives the count), are
            // written. Every instruction of the run is 4 bytes.
            unsafe {
                core::arch::asm!(
                    "adr {t}, 2f",
                    "sub {t}, {t}, {count}, lsl #2",
                    "br {t}",
                    $(concat!("msr ", $reg, stringify!($n), "_el1, xzr"),)*
                    "2:",
                    t = out(reg) _,
                    count = in(reg) count,
                    options(nomem, nostack, preserves_flags)
                )
            };
        }};
    }

    /// Disables and clears every breakpoint and watchpoint of this core, clears
    /// MDSCR_EL1 (no step, no debug exceptions enabled), locks the OS lock, clears the
    /// OS double lock; stops and zeroes the PMU counters, with their interrupts,
    /// overflows and EL0 access off.
    ///
    /// # Safety
    /// Call at EL2 on the core that will run the vCPU, with no guest running on it.
    pub unsafe fn reset() {
        let unit = DebugUnit::from_dfr0(read_sysreg!(id_aa64dfr0_el1));
        write_sysreg!(mdscr_el1, 0);
        zero_numbered!(unit.breakpoints, "dbgbcr");
        zero_numbered!(unit.breakpoints, "dbgbvr");
        zero_numbered!(unit.watchpoints, "dbgwcr");
        zero_numbered!(unit.watchpoints, "dbgwvr");
        write_sysreg!(osdlr_el1, 0);
        write_sysreg!(oslar_el1, OS_LOCK_AT_RESET);
        if unit.has_pmu() {
            write_sysreg!(pmcr_el0, PMCR_RESET);
            write_sysreg!(pmcntenclr_el0, u64::from(u32::MAX));
            write_sysreg!(pmintenclr_el1, u64::from(u32::MAX));
            write_sysreg!(pmovsclr_el0, u64::from(u32::MAX));
            write_sysreg!(pmuserenr_el0, 0);
            write_sysreg!(pmselr_el0, 0);
            write_sysreg!(pmccfiltr_el0, 0);
        }
        isb();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_owns_debug_and_every_pmu_counter() {
        let a72 = DebugUnit::from_dfr0(0x1030_5106);
        for n in [0, 1, 6, 31] {
            let v = mdcr_el2(n, a72);
            assert_eq!(v & MDCR_HPMN_MASK, n, "HPMN = PMCR_EL0.N");
            for (bit, name) in [
                (MDCR_TDE, "TDE: debug exceptions would go to EL2"),
                (MDCR_TDA, "TDA: debug registers would trap"),
                (MDCR_TDOSA, "TDOSA: the OS lock would trap"),
                (MDCR_TDRA, "TDRA: the debug ROM registers would trap"),
                (MDCR_TPM, "TPM: the PMU would trap"),
                (MDCR_TPMCR, "TPMCR: PMCR_EL0 would trap"),
                (MDCR_HPME, "HPME: counters kept for EL2 would run"),
            ] {
                assert_eq!(v & bit, 0, "{name}");
            }
        }
        // Only HPMN's five bits: a larger N from a broken PMCR cannot set a trap bit.
        assert_eq!(mdcr_el2(0xff, a72), 0x1f);
    }

    #[test]
    fn counting_at_el2_is_prohibited_where_the_pmu_can_say_so() {
        let pmu = |ver: u64| DebugUnit::from_dfr0(0x1030_5006 | ver << 8);
        // PMUv3 (Cortex-A72): neither bit exists (RES0).
        assert_eq!(mdcr_el2(6, pmu(1)) & (MDCR_HPMD | MDCR_HCCD), 0);
        // PMUv3p1: event counters; PMUv3p5 and later: the cycle counter too.
        assert_eq!(mdcr_el2(6, pmu(4)) & (MDCR_HPMD | MDCR_HCCD), MDCR_HPMD);
        assert_eq!(mdcr_el2(6, pmu(6)), 6 | MDCR_HPMD | MDCR_HCCD);
        assert_eq!(mdcr_el2(6, pmu(8)), 6 | MDCR_HPMD | MDCR_HCCD);
        // No PMU, or an IMPLEMENTATION DEFINED one: neither.
        assert_eq!(mdcr_el2(0, pmu(0)), 0);
        assert_eq!(mdcr_el2(0, pmu(0xf)), 0);
    }

    #[test]
    fn the_debug_unit_is_read_from_the_id_register() {
        // Cortex-A72: BRPs 5, WRPs 3, PMUVer 1, DebugVer 6.
        let a72 = 0x1030_5106;
        let unit = DebugUnit::from_dfr0(a72);
        assert_eq!((unit.breakpoints, unit.watchpoints), (6, 4));
        assert_eq!(unit.pmu_version, 1);
        assert!(unit.has_pmu());
        assert!(!DebugUnit::from_dfr0(0xf00).has_pmu());
        assert!(!DebugUnit::from_dfr0(0).has_pmu());
        assert_eq!(DebugUnit::from_dfr0(0xf0_f000).breakpoints, 16);
    }
}
