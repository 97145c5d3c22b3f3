//! The generic timer's EL1 timers as a guest owns them: on its cores the virtual timer
//! (CNTV_*, PPI 27, counter offset CNTVOFF_EL2) and the physical timer (CNTP_*, PPI 30,
//! no offset: CNTPCT_EL0 is the machine's count). Both run in the hardware; the
//! hypervisor forwards their interrupts (virtual mode: HW list registers) and reads
//! their control registers to tell a guest whether their lines are asserted.

use rtvisor_config::contract::aarch64;

/// The EL1 virtual timer's INTID.
pub const VIRTUAL_INTID: u32 = aarch64::VTIMER_INTID;
/// The EL1 physical timer's INTID.
pub const PHYSICAL_INTID: u32 = aarch64::PTIMER_INTID;

/// CNTx_CTL_EL0.ENABLE.
pub const CTL_ENABLE: u64 = 1 << 0;
/// CNTx_CTL_EL0.IMASK.
pub const CTL_IMASK: u64 = 1 << 1;
/// CNTx_CTL_EL0.ISTATUS (read-only).
pub const CTL_ISTATUS: u64 = 1 << 2;

/// Whether a timer whose control register reads `ctl` asserts its interrupt line:
/// enabled, its condition met, not masked.
pub const fn asserted(ctl: u64) -> bool {
    ctl & (CTL_ENABLE | CTL_IMASK | CTL_ISTATUS) == CTL_ENABLE | CTL_ISTATUS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_needs_enable_and_status_without_mask() {
        let cases = [
            (0, false),
            (CTL_ENABLE, false),
            (CTL_ISTATUS, false),
            (CTL_ENABLE | CTL_ISTATUS, true),
            (CTL_ENABLE | CTL_ISTATUS | CTL_IMASK, false),
            (CTL_ENABLE | CTL_IMASK, false),
            // Bits above the three are ignored.
            (CTL_ENABLE | CTL_ISTATUS | 1 << 8, true),
        ];
        for (ctl, want) in cases {
            assert_eq!(asserted(ctl), want, "{ctl:#x}");
        }
    }
}
