//! The x86_64 [`IrqChip`]: the emulated x2APIC of each vCPU of a VM
//! (`rtvisor_vdev::x2apic`), plain code over [`ApicHw`], the hardware side the
//! hypervisor implements, so all of it is tested on the host.
//!
//! - The x2APIC MSRs (0x800-0x8FF), IA32_TSC_DEADLINE and IA32_APIC_BASE reach it as
//!   registers. IA32_APIC_BASE reads the local APIC page with the global and x2APIC
//!   enables (and BSP on vCPU 0); a write that changes it is refused (#GP), so the
//!   APIC can neither move nor leave x2APIC mode.
//! - IPIs never leave their VM: a fixed IPI (delivered to its physical destination,
//!   every vCPU whose logical ID matches, or by shorthand) is accepted by the target
//!   vCPUs' models, a lowest-priority one by the target whose processor priority is
//!   lowest; each target is told ([`ApicHw::pending`]), and injects the vector
//!   before it runs guest code again. A destination that is not a vCPU of the VM is
//!   dropped.
//!   NMIs, INIT and start-up IPIs left here (those the exit decoder did not turn into
//!   CPU on/off calls: shorthands, foreign destinations) are dropped.
//! - The timer runs on the guest's TSC ([`ApicHw::guest_tsc`]: the physical TSC with
//!   the VM's offset); when a write changes its deadline the hypervisor's own timer
//!   is programmed for that vCPU ([`ApicHw::timer`]); when it fires, the backend calls
//!   [`Lapics::expire`].
//! - A doorbell ([`IrqChip::pulse`] of a doorbell GSI) is an edge on its fixed
//!   vector (`doorbell_vector`: 0x5f - k for region k) at vCPU 0, as a fixed IPI
//!   would be.
//! - Not there yet: the xAPIC MMIO page and the I/O APIC (no guest-physical region
//!   is claimed; device lines have no vector to raise).

use crate::adapt::APIC_BASE;
use rtvisor_config::contract::x86_64::{doorbell_vector, virtual_apic_id, LAPIC_GPA};
use rtvisor_config::contract::MAX_VCPUS;
use rtvisor_config::tables::VmConfig;
use rtvisor_core::handler::{Host, VmCtx};
use rtvisor_core::ids::{VcpuId, VmId};
use rtvisor_core::mmio::DeviceKind;
use rtvisor_core::seam::{IrqChip, Refused};
use rtvisor_core::sync::Mutex;
use rtvisor_vdev::x2apic::{msr, Effect, Icr, X2Apic};
use rtvisor_vdev::Width;

/// IA32_APIC_BASE: BSP, x2APIC enable (EXTD), global enable.
const BASE_BSP: u64 = 1 << 8;
const BASE_EXTD: u64 = 1 << 10;
const BASE_EN: u64 = 1 << 11;

/// The hardware side of a VM's local APICs, which the hypervisor provides. Every
/// method concerns VM `vm`'s own vCPUs only.
pub trait ApicHw {
    /// The guest TSC of VM `vm` now.
    fn guest_tsc(&self, vm: VmId) -> u64;
    /// vCPU `vcpu` has an interrupt to take: it injects it before running guest code
    /// again (kicked if it runs on another CPU).
    fn pending(&self, vm: VmId, vcpu: VcpuId);
    /// Programs the hypervisor's timer of vCPU `vcpu` for guest TSC `at` (`None`:
    /// cancels it).
    fn timer(&self, vm: VmId, vcpu: VcpuId, at: Option<u64>);
}

/// What an access did to one APIC.
enum Done {
    Loaded(u64),
    Wrote(Effect),
}

/// One VM's local APICs and the hardware side.
#[derive(Debug)]
pub struct Lapics<W> {
    apics: [Mutex<X2Apic>; MAX_VCPUS],
    hw: W,
}

impl<W> Lapics<W> {
    /// Every APIC in reset state over hardware side `hw`.
    pub const fn new(hw: W) -> Self {
        let mut i = 0;
        let mut apics = [const { Mutex::new(X2Apic::new(0)) }; MAX_VCPUS];
        while i < MAX_VCPUS {
            apics[i] = Mutex::new(X2Apic::new(virtual_apic_id(i)));
            i += 1;
        }
        Self { apics, hw }
    }

    /// The hardware side.
    pub fn hw(&self) -> &W {
        &self.hw
    }

    /// The APIC of vCPU `v`.
    pub fn apic(&self, v: VcpuId) -> Option<&Mutex<X2Apic>> {
        self.apics.get(v.index())
    }

    /// The vector vCPU `v` takes now, moved into service (the backend injects it).
    pub fn ack(&self, v: VcpuId) -> Option<u8> {
        self.apic(v)?.lock().ack()
    }
}

impl<W: ApicHw> Lapics<W> {
    /// The hypervisor's timer of vCPU `v` of VM `vm` fired: its APIC's timer expires
    /// (re-armed when periodic).
    pub fn expire(&self, vm: VmId, v: VcpuId) {
        let Some(apic) = self.apic(v) else {
            return;
        };
        let now = self.hw.guest_tsc(vm);
        let (next, pending) = {
            let mut a = apic.lock();
            let next = a.expire(now);
            (next, a.pending().is_some())
        };
        self.hw.timer(vm, v, next);
        if pending {
            self.hw.pending(vm, v);
        }
    }

    /// [`expire`](Self::expire) for the vCPU the calling CPU runs: whether a vector
    /// became pending is not asked, as the vCPU injects its pending vector before
    /// it runs guest code again anyway and has no other CPU to be kicked on.
    pub fn expire_here(&self, vm: VmId, v: VcpuId) {
        let Some(apic) = self.apic(v) else {
            return;
        };
        let now = self.hw.guest_tsc(vm);
        let next = apic.lock().expire(now);
        self.hw.timer(vm, v, next);
    }

    /// The TPR of vCPU `v` of VM `vm` (what CR8 reads, `cr::cr8_read`), after writing
    /// `write` to it first when given (a MOV to CR8, `cr::cr8_write`); a write that
    /// lets a held-back interrupt through tells the vCPU. `None`: no such vCPU.
    pub fn tpr(&self, vm: VmId, v: VcpuId, write: Option<u32>) -> Option<u32> {
        let apic = self.apic(v)?;
        let now = self.hw.guest_tsc(vm);
        let (tpr, pending) = {
            let mut a = apic.lock();
            if let Some(t) = write {
                a.write(msr::TPR, u64::from(t), now).ok()?;
            }
            (a.read(msr::TPR, now).ok()?, a.pending().is_some())
        };
        if pending && write.is_some() {
            self.hw.pending(vm, v);
        }
        Some(tpr as u32)
    }

    /// Delivers `icr` from vCPU `me` inside the VM: a fixed IPI to every vCPU its
    /// destination names, a lowest-priority one to the named vCPU whose APIC has the
    /// lowest processor priority (the first of equals).
    fn ipi(&self, vm: &VmCtx<'_, Self>, me: VcpuId, icr: Icr) {
        if icr.mode > 1 {
            return;
        }
        let lowest = icr.mode == 1;
        let mut chosen: Option<(u32, VcpuId)> = None;
        let n = vm.cfg.cpus.len().min(MAX_VCPUS);
        for t in (0..n).map(VcpuId::new) {
            let Some(apic) = self.apic(t) else {
                continue;
            };
            let hit = match icr.shorthand {
                0 if icr.logical => {
                    let ldr = apic.lock().ldr();
                    ldr >> 16 == icr.dest >> 16 && ldr & icr.dest & 0xffff != 0
                }
                0 => vm.cpu_ids.get(t.index()) == Some(&u64::from(icr.dest)),
                1 => t == me,
                2 => true,
                _ => t != me,
            };
            if !hit {
                continue;
            }
            if lowest {
                let ppr = apic.lock().ppr();
                if chosen.is_none_or(|(p, _)| ppr < p) {
                    chosen = Some((ppr, t));
                }
            } else {
                self.accept(vm.id, t, icr.vector);
            }
        }
        if let Some((_, t)) = chosen {
            self.accept(vm.id, t, icr.vector);
        }
    }

    /// vCPU `t` accepts edge-triggered `vector` and is told.
    fn accept(&self, vm: VmId, t: VcpuId, vector: u8) {
        if let Some(apic) = self.apic(t) {
            apic.lock().accept(vector, false);
            self.hw.pending(vm, t);
        }
    }

    fn effect(&self, vm: &VmCtx<'_, Self>, me: VcpuId, e: Effect) {
        match e {
            Effect::None | Effect::Eoi(_) => {}
            Effect::Ipi(icr) => self.ipi(vm, me, icr),
            Effect::Timer(at) => self.hw.timer(vm.id, me, at),
        }
    }
}

impl<W: ApicHw> IrqChip for Lapics<W> {
    fn owns(_: DeviceKind) -> bool {
        false
    }

    fn mmio<H: Host>(
        &self,
        _: &VmCtx<'_, Self>,
        _: &H,
        _: VcpuId,
        _: DeviceKind,
        _: u64,
        _: Width,
        _: Option<u64>,
    ) -> Result<Option<u64>, Refused> {
        Err(Refused)
    }

    fn register<H: Host>(
        &self,
        vm: &VmCtx<'_, Self>,
        _: &H,
        me: VcpuId,
        id: u32,
        value: Option<u64>,
    ) -> Result<Option<u64>, Refused> {
        let apic = self.apic(me).ok_or(Refused)?;
        if id == APIC_BASE {
            let bsp = if me.index() == 0 { BASE_BSP } else { 0 };
            let base = LAPIC_GPA | BASE_EN | BASE_EXTD | bsp;
            return match value {
                None => Ok(Some(base)),
                Some(v) if v == base => Ok(None),
                Some(_) => Err(Refused),
            };
        }
        let now = self.hw.guest_tsc(vm.id);
        let (done, pending) = {
            let mut a = apic.lock();
            let done = match value {
                None => a.read(id, now).map(Done::Loaded),
                Some(v) => a.write(id, v, now).map(Done::Wrote),
            };
            (done.map_err(|_| Refused)?, a.pending().is_some())
        };
        if pending {
            self.hw.pending(vm.id, me);
        }
        match done {
            Done::Loaded(v) => Ok(Some(v)),
            Done::Wrote(e) => {
                self.effect(vm, me, e);
                Ok(None)
            }
        }
    }

    fn set_level<H: Host>(&self, _: &VmCtx<'_, Self>, _: &H, _: Option<VcpuId>, _: u32, _: bool) {}

    /// A doorbell (its GSI) raises its fixed vector in vCPU 0's APIC; other lines
    /// have no vector to raise yet.
    fn pulse<H: Host>(&self, vm: &VmCtx<'_, Self>, _: &H, line: u32) {
        if let Some(vector) = doorbell_vector(line) {
            self.accept(vm.id, VcpuId::new(0), vector);
        }
    }

    fn reset(&self, cfg: &VmConfig) {
        for (i, apic) in self.apics.iter().enumerate().take(cfg.cpus.len()) {
            *apic.lock() = X2Apic::new(virtual_apic_id(i));
        }
    }
}

#[cfg(test)]
mod tests;
