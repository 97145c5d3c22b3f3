//! Interrupts of passed-through devices (`[[vm]] devices`).
//!
//! Virtual mode: each device SPI is HW-linked to the same virtual INTID in the VM's
//! vGIC. The physical SPI stays disabled until the guest enables the virtual one, is
//! routed to the physical CPU of the vCPU the guest routes it to, is acknowledged by
//! whichever CPU takes it (priority drop only) and injected into the owner's model;
//! the guest's EOI deactivates it through the HW list register.
//!
//! Direct mode: the guest drives its SPIs' distributor bits itself (enable, pending,
//! active, priority, trigger, a route to one of its own cores: `gicpass::dist`); at
//! VM start the hypervisor leaves them disabled, routed to the VM's first core. A
//! direct VM's doorbells are physical SPIs too and are handled here the same way.
//!
//! When a VM stops or restarts, its SPIs are taken back (disabled, pending cleared,
//! deactivated), so nothing of the old run is delivered to the new one.
//!
//! A direct-mode VM's SPI that reaches a core where none of its vCPUs runs (left
//! routed to a vCPU the guest turned off) would, level-triggered, come back at once
//! after each deactivation and hold that core at EL2: it is disabled there ([`park`])
//! and enabled again when one of the VM's vCPUs next starts ([`unpark`]), unless the
//! VM stops first.

use super::irq::{self, cpu_of};
use crate::config::CONFIG;
use crate::vms;
use core::sync::atomic::{AtomicU32, Ordering};
use rtvisor_arch_aarch64::spi;
use rtvisor_core::ids::{VcpuId, VmId};
use rtvisor_vdev::vgic::Notify;

/// The VM whose passed-through device raises SPI `intid`.
pub fn owner(intid: u32) -> Option<VmId> {
    if intid < 32 {
        return None;
    }
    CONFIG
        .vms
        .iter()
        .position(|v| v.devices.iter().any(|d| d.irqs.contains(&intid)))
        .map(VmId::new)
}

/// Every physical (SPI, edge-triggered) of VM `vm`: its devices' interrupts, and in
/// direct mode its doorbells (edge), which then are physical SPIs too.
fn spis(vm: VmId) -> impl Iterator<Item = (u32, bool)> {
    let cfg = vms::cfg(vm);
    let doorbells = if irq::is_direct(vm) { cfg.shared } else { &[] };
    cfg.devices
        .iter()
        .flat_map(|d| d.irqs.iter().map(move |&i| (i, d.edge)))
        .chain(doorbells.iter().map(|m| (m.doorbell, true)))
}

fn mpidr_of(vm: VmId, vcpu: VcpuId) -> Option<u64> {
    cpu_of(vm, vcpu).map(|c| c.hw_id())
}

/// At a (re)start of VM `vm`, after its vGIC was reset: links its SPIs and puts the
/// physical side in its initial shape.
pub fn vm_start(vm: VmId) {
    let Some(first) = mpidr_of(vm, VcpuId::new(0)) else {
        return;
    };
    let direct = irq::is_direct(vm);
    for (intid, edge) in spis(vm) {
        spi::configure(intid, edge, first);
        if !direct {
            let _ = vms::rt(vm).chip.model().lock().set_hw(intid, 0, intid);
        }
    }
}

/// When VM `vm` stops (or restarts): its SPIs are taken back (disabled, pending
/// cleared, deactivated), so nothing of the old run is delivered to the next. (The
/// generic code has quiesced its devices first.)
pub fn vm_stop(vm: VmId) {
    for (intid, _) in spis(vm) {
        take_parked(intid);
        spi::quiesce(intid);
    }
}

/// SPIs [`park`] disabled, one bit an INTID.
static PARKED: [AtomicU32; 32] = [const { AtomicU32::new(0) }; 32];

/// Clears `intid`'s [`PARKED`] bit; whether it was set.
fn take_parked(intid: u32) -> bool {
    let bit = 1 << (intid % 32);
    PARKED
        .get(intid as usize / 32)
        .is_some_and(|w| w.fetch_and(!bit, Ordering::AcqRel) & bit != 0)
}

/// SPI `intid` reached this CPU at EL2 and nobody here takes it: disabled, and, when a
/// direct-mode VM owns it, remembered for [`unpark`].
pub fn park(intid: u32) {
    spi::set_enabled(intid, false);
    let direct_owner = vms::ids()
        .filter(|&v| irq::is_direct(v))
        .any(|v| spis(v).any(|(i, _)| i == intid));
    if let (true, Some(w)) = (direct_owner, PARKED.get(intid as usize / 32)) {
        w.fetch_or(1 << (intid % 32), Ordering::AcqRel);
    }
}

/// A vCPU of direct-mode VM `vm` starts: its SPIs [`park`] disabled are enabled again.
pub fn unpark(vm: VmId) {
    for (intid, _) in spis(vm) {
        if take_parked(intid) {
            spi::set_enabled(intid, true);
        }
    }
}

/// A physical SPI acknowledged (priority-dropped, still active) on this CPU. If a
/// virtual-mode VM owns it, it is injected into that VM's vGIC, and `Some` carries
/// the VM and the notification to act on; otherwise the caller deactivates it.
pub fn forward(intid: u32) -> Option<(VmId, Notify)> {
    let vm = owner(intid)?;
    if irq::is_direct(vm) {
        return None;
    }
    let mut gic = vms::rt(vm).chip.model().lock();
    gic.hw_link(0, intid)?;
    Some((vm, gic.inject(intid, 0)))
}

/// The guest changed the enable or the route of its HW-linked SPI `intid`: the
/// physical SPI follows (routed to the CPU of the target vCPU, or of vCPU 0 when the
/// guest routes it nowhere).
pub fn follow(vm: VmId, intid: u32) {
    let (link, target) = {
        let gic = vms::rt(vm).chip.model().lock();
        (gic.hw_link(0, intid), gic.spi_target(intid))
    };
    let Some(link) = link else { return };
    if let Some(mpidr) = mpidr_of(vm, VcpuId::new(target.unwrap_or(0))) {
        spi::route(link.pintid, mpidr);
    }
    spi::set_enabled(link.pintid, link.enabled);
}
