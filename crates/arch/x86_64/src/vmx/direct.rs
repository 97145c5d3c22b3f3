//! Direct mode (LAPIC pass-through) on VT-x: external interrupts do not exit (the
//! guest's IDT takes them, gated by its RFLAGS.IF), HLT does not exit (its own
//! interrupts wake it); NMIs still exit (the hypervisor's kick) and INIT always
//! does. The MSR bitmap side is `crate::direct`'s.

use super::engine::{VmxFail, VmxVcpu};
use super::fields::{pin, proc, PIN_CONTROLS, PROC_CONTROLS};
use super::vmcs::{vmread, vmwrite};

impl VmxVcpu {
    /// Switches this vCPU (its VMCS is current) to direct mode before its first
    /// entry. Clearing the two controls is always allowed: neither is a default-1
    /// bit of its field.
    pub fn direct(&mut self) -> Result<(), VmxFail> {
        let pins = vmread(PIN_CONTROLS) as u32;
        vmwrite(
            PIN_CONTROLS,
            u64::from((pins & !pin::EXTERNAL_INTERRUPT) | pin::NMI),
        )?;
        let procs = vmread(PROC_CONTROLS) as u32;
        vmwrite(
            PROC_CONTROLS,
            u64::from(procs & !(proc::HLT | proc::INTERRUPT_WINDOW)),
        )
    }
}
