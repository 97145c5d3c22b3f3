//! The EL2 physical timer (CNTHP), the hypervisor's own clock for VM watchdogs. Its
//! PPI is in Group 0 (see `gic::HYP_TIMER_INTID`), so expiry reaches EL2 as FIQ.

use crate::gtimer;
use crate::sysreg::isb;

const CTL_ENABLE: u64 = 1;

/// Fires the timer when the physical count reaches `cval`.
pub fn hyp_arm(cval: u64) {
    write_sysreg!(s3_4_c14_c2_2, cval); // CNTHP_CVAL_EL2
    write_sysreg!(s3_4_c14_c2_1, CTL_ENABLE); // CNTHP_CTL_EL2: enabled, unmasked
    isb();
}

/// Stops the timer (its interrupt line drops).
pub fn hyp_disarm() {
    write_sysreg!(s3_4_c14_c2_1, 0); // CNTHP_CTL_EL2
    isb();
}

/// The hypervisor's clock and timer, as the seam's [`Timer`]: the generic counter
/// (same on every CPU) and this CPU's EL2 physical timer.
///
/// [`Timer`]: rtvisor_core::seam::Timer
#[derive(Debug, Clone, Copy)]
pub struct HypTimer;

impl rtvisor_core::seam::Timer for HypTimer {
    fn now() -> u64 {
        crate::sysreg::counter()
    }
    fn frequency() -> u64 {
        crate::sysreg::counter_freq()
    }
    fn arm(deadline: u64) {
        hyp_arm(deadline);
    }
    fn disarm() {
        hyp_disarm();
    }
}

/// Whether the EL1 timer of the guest on this CPU whose PPI is `intid` (the virtual
/// or the physical one) drives its interrupt line now, from its control register;
/// `None` for any other INTID.
pub fn guest_line(intid: u32) -> Option<bool> {
    let ctl = match intid {
        gtimer::VIRTUAL_INTID => read_sysreg!(cntv_ctl_el0),
        gtimer::PHYSICAL_INTID => read_sysreg!(cntp_ctl_el0),
        _ => return None,
    };
    Some(gtimer::asserted(ctl))
}
