//! The emulated x2APIC's interrupts into the vCPU a CPU runs: before each entry the
//! pending vector is injected, or the exit at the guest's interrupt window asked for
//! (`Engine::deliver`), or, on VT-x with virtual-interrupt delivery, the vectors
//! posted since the last entry are handed to the CPU, which delivers them itself
//! (`Engine::hw_apic`); the guest timer expires when this CPU's APIC timer fires for
//! it; a halted vCPU with an interrupt it can take does not sleep.
//!
//! STI;HLT with an interrupt pending: an exit can stop the guest between the two
//! (the host's interrupt exits it while the STI's shadow blocks only the guest's),
//! with RIP at the HLT. Architecturally the HLT completes and the interrupt then
//! wakes it, returning past the HLT: the interrupt is delivered at RIP + 1
//! ([`complete_halt`]). Asking for the interrupt window instead would rely on the
//! entry restoring the shadow, which QEMU's SVM does not do before version 9.1: the
//! interrupt was then taken at the HLT, whose handler returned into it, and the
//! guest slept with its one wake consumed (an RT guest's timer loop stopped).

use crate::percpu::PerCpu;
use crate::vms;
use rtvisor_arch_x86_64::engines::Engine;
use rtvisor_arch_x86_64::inject;
use rtvisor_arch_x86_64::vcpu::VcpuEngine;
use rtvisor_core::ids::{VcpuId, VmId};

/// Before the entry: injects the pending interrupt or asks for the window (under
/// one hold of the APIC's lock).
pub fn deliver(vm: VmId, vcpu: VcpuId, engine: &mut Engine) {
    match vms::rt(vm).chip.apic(vcpu) {
        Some(apic) => {
            let mut a = apic.lock();
            if engine.hw_apic(&mut a) {
                return;
            }
            let pending = a.pending();
            if pending.is_some() {
                let s = engine.interruptible();
                if s.shadow {
                    complete_halt(vm, engine, s);
                }
            }
            engine.deliver(pending, |v| a.take(v));
        }
        None => engine.deliver(None, |_| {}),
    }
}

/// After an exit: the vector the guest took as its virtual interrupt (AMD-V, see
/// `Engine::deliver`) goes into service in its APIC.
pub fn taken(vm: VmId, vcpu: VcpuId, engine: &mut Engine) {
    if let Some(v) = engine.taken_irq() {
        if let Some(apic) = vms::rt(vm).chip.apic(vcpu) {
            apic.lock().take(v);
        }
    }
}

/// The guest, with an interrupt pending, stopped in an interrupt shadow at a HLT
/// (STI;HLT): the HLT completes (RIP past it, the shadow over), so that the
/// interrupt is injected now and returns past it, as on a CPU that ran both.
fn complete_halt(vm: VmId, engine: &mut Engine, s: inject::Interruptible) {
    let Some((bytes, n)) = super::world::insn_at_rip(vm, engine) else {
        return;
    };
    let skip = inject::halt_first(s, engine.cpl(), &bytes[..n.min(1)]);
    if skip != 0 {
        engine.step_to(engine.rip().wrapping_add(skip));
    }
}

/// Whether vCPU `vcpu` of `vm` has an interrupt to take (above its priority).
fn pending(vm: VmId, vcpu: VcpuId) -> bool {
    vms::rt(vm)
        .chip
        .apic(vcpu)
        .is_some_and(|a| a.lock().pending().is_some())
}

/// Whether a HLT of the vCPU returns at once: an interrupt is pending (at its APIC,
/// or in the hardware's hands) and its RFLAGS.IF is set. With VT-x's
/// virtual-interrupt delivery a vector posted since the last entry counts as
/// pending before the CPU has weighed it against the guest's priority: at most one
/// early return per such vector (the next entry hands it over).
pub fn wakes(vm: VmId, vcpu: VcpuId, engine: &Engine) -> bool {
    (pending(vm, vcpu) || engine.hw_wakes()) && engine.interruptible().if_set
}

/// The hardware retired level-triggered `vector` at the guest's EOI (VT-x's
/// virtual-interrupt delivery): its source is told, as an EOI write tells it.
pub fn virtual_eoi(vm: VmId, vcpu: VcpuId, vector: u8) {
    vms::with_ctx(vm, |ctx| vms::rt(vm).chip.hw_eoi(ctx, vcpu, vector));
}

/// The guest timer of the vCPU on this CPU is due (`timers::which_due`): it
/// expires (its vector becomes pending; a periodic one re-arms), and the APIC timer
/// is programmed for what is left.
pub fn on_timer(me: &PerCpu) {
    if let Some((vm, vcpu)) = me.hosts() {
        vms::rt(vm).chip.expire_here(vm, vcpu);
    }
}
