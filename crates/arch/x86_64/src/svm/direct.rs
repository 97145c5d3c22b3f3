//! Direct mode (LAPIC pass-through) on AMD-V: the guest takes its core's physical
//! interrupts through its own IDT. No INTR intercept and V_INTR_MASKING off, so the
//! guest's RFLAGS.IF gates them; HLT is the guest's (its own interrupts wake it).
//! NMI and INIT stay intercepted: the hypervisor's kick is an NMI, which no guest
//! can mask (STGI/CLGI are intercepted, GIF is set while it runs). CR8 is not
//! intercepted: with V_INTR_MASKING off it is the core's own TPR, as the guest's APIC
//! is the core's.

use super::engine::{SvmVcpu, V_INTR_MASKING};
use super::vmcb::{icpt3, INTERCEPT_CR8_READ, INTERCEPT_CR8_WRITE};

impl SvmVcpu {
    /// Switches this vCPU to direct mode (before its first VMRUN).
    pub fn direct(&mut self) {
        let c = &mut self.vmcb.control;
        c.intercept3 &= !(icpt3::INTR | icpt3::HLT | icpt3::VINTR);
        c.intercept3 |= icpt3::NMI | icpt3::INIT;
        c.int_control &= !V_INTR_MASKING;
        c.intercept_cr &= !(INTERCEPT_CR8_READ | INTERCEPT_CR8_WRITE);
    }
}
