//! The emulated x2APIC's interrupts into the vCPU a CPU runs: before each entry the
//! pending vector is injected, or the exit at the guest's interrupt window asked for
//! (`Engine::deliver`); the guest timer expires when this CPU's APIC timer fires for
//! it; a halted vCPU with an interrupt it can take does not sleep.

use crate::percpu::PerCpu;
use crate::vms;
use rtvisor_arch_x86_64::engines::Engine;
use rtvisor_core::ids::{VcpuId, VmId};

/// Whether vCPU `vcpu` of `vm` has an interrupt to take (above its priority).
fn pending(vm: VmId, vcpu: VcpuId) -> bool {
    vms::rt(vm)
        .chip
        .apic(vcpu)
        .is_some_and(|a| a.lock().pending().is_some())
}

/// Before the entry: injects the pending interrupt or asks for the window (under
/// one hold of the APIC's lock).
pub fn deliver(vm: VmId, vcpu: VcpuId, engine: &mut Engine) {
    match vms::rt(vm).chip.apic(vcpu) {
        Some(apic) => {
            let mut a = apic.lock();
            let pending = a.pending();
            engine.deliver(pending.is_some(), || {
                let v = pending?;
                a.take(v);
                Some(v)
            });
        }
        None => engine.deliver(false, || None),
    }
}

/// Whether a HLT of the vCPU returns at once: an interrupt is pending and its
/// RFLAGS.IF is set.
pub fn wakes(vm: VmId, vcpu: VcpuId, engine: &Engine) -> bool {
    pending(vm, vcpu) && engine.interruptible().if_set
}

/// The guest timer of the vCPU on this CPU is due (`timers::which_due`): it
/// expires (its vector becomes pending; a periodic one re-arms), and the APIC timer
/// is programmed for what is left.
pub fn on_timer(me: &PerCpu) {
    if let Some((vm, vcpu)) = me.hosts() {
        vms::rt(vm).chip.expire_here(vm, vcpu);
    }
}
