//! The PMU (Arm ARM D11): PMCR_EL0 at start and its N (the counters EL1 has), the
//! common events implemented, the cycle counter counting, and event counter 0
//! counting software increments exactly.

use crate::{check, mrs, msr};

const PMCR_E: u64 = 1 << 0;
const PMCR_P: u64 = 1 << 1;
const PMCR_C: u64 = 1 << 2;
/// PMEVTYPER: SW_INCR, counted at EL1 and EL0.
const EVENT_SW_INCR: u64 = 0x00;
/// PMEVTYPER: CPU_CYCLES.
const EVENT_CPU_CYCLES: u64 = 0x11;

pub fn run() {
    let pmcr = mrs!("pmcr_el0");
    check!("pmu.pmcr-at-start", "{:#x}", pmcr);
    let n = pmcr >> 11 & 0x1f;
    check!("pmu.pmcr.n", "{}", n);
    check!("pmu.pmceid0", "{:#x}", mrs!("pmceid0_el0"));
    check!("pmu.pmcntenset-at-start", "{:#x}", mrs!("pmcntenset_el0"));
    check!("pmu.pmuserenr-at-start", "{:#x}", mrs!("pmuserenr_el0"));
    msr!("pmcr_el0", pmcr | PMCR_E | PMCR_P | PMCR_C);
    msr!("pmccfiltr_el0", 0);
    msr!("pmcntenset_el0", 1 << 31);
    let c0 = mrs!("pmccntr_el0");
    for _ in 0..1000 {
        core::hint::spin_loop();
    }
    let c1 = mrs!("pmccntr_el0");
    check!("pmu.cycle-counter-counts", "{}", c1 > c0);
    if n == 0 {
        check!("pmu.event-counter", "none");
        return;
    }
    msr!("pmselr_el0", 0);
    msr!("pmxevtyper_el0", EVENT_SW_INCR);
    msr!("pmevcntr0_el0", 0);
    msr!("pmcntenset_el0", 1);
    for _ in 0..3 {
        msr!("pmswinc_el0", 1);
    }
    check!("pmu.sw-incr-count", "{}", mrs!("pmevcntr0_el0"));
    msr!("pmevtyper0_el0", EVENT_CPU_CYCLES);
    msr!("pmevcntr0_el0", 0);
    for _ in 0..100 {
        core::hint::spin_loop();
    }
    check!("pmu.cpu-cycles-counts", "{}", mrs!("pmevcntr0_el0") > 0);
    msr!("pmcntenclr_el0", u64::from(u32::MAX));
    msr!("pmcr_el0", pmcr & !PMCR_E);
}

/// Leaves the cycle counter and event counter 0 counting, with EL0 access: for the run
/// after a reset to find.
pub fn leave_counting() {
    msr!("pmcntenset_el0", 1 << 31 | 1);
    msr!("pmuserenr_el0", 1);
    msr!("pmcr_el0", mrs!("pmcr_el0") | PMCR_E);
}
