//! Direct mode (LAPIC pass-through) on VT-x: external interrupts do not exit (the
//! guest's IDT takes them, gated by its RFLAGS.IF), HLT does not exit (its own
//! interrupts wake it); NMIs still exit (the hypervisor's kick) and INIT always
//! does. CR8 does not exit: without a TPR shadow (turned off here, with the
//! virtual-interrupt delivery it serves) it is the core's own TPR, as the guest's
//! APIC is the core's. The MSR bitmap side is `crate::direct`'s.

use super::engine::{VmxFail, VmxVcpu};
use super::fields::{pin, proc, PIN_CONTROLS, PROC_CONTROLS};
use super::vmcs::{vmread, vmwrite};

impl VmxVcpu {
    /// Switches this vCPU (its VMCS is current) to direct mode before its first
    /// entry. Clearing these controls is always allowed: none is a default-1 bit of
    /// its field.
    pub fn direct(&mut self) -> Result<(), VmxFail> {
        let pins = vmread(PIN_CONTROLS) as u32;
        vmwrite(
            PIN_CONTROLS,
            u64::from((pins & !pin::EXTERNAL_INTERRUPT) | pin::NMI),
        )?;
        self.apicv = None;
        let procs = vmread(PROC_CONTROLS) as u32;
        vmwrite(
            PROC_CONTROLS,
            u64::from(
                procs
                    & !(proc::HLT
                        | proc::INTERRUPT_WINDOW
                        | proc::CR8_LOAD
                        | proc::CR8_STORE
                        | proc::TPR_SHADOW),
            ),
        )
    }
}
