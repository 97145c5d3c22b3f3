//! Delivery inside one VM: an ICR's or the I/O APIC's message to the vCPUs it names
//! (emulated APICs), or, in a direct-mode VM, to the VM's own cores as physical
//! fixed IPIs (`passthru::route`).

use super::{ApicHw, Lapics};
use crate::passthru::{self, Dest};
use rtvisor_config::contract::x86_64::virtual_apic_id;
use rtvisor_config::contract::MAX_VCPUS;
use rtvisor_config::tables::InterruptMode;
use rtvisor_core::handler::VmCtx;
use rtvisor_core::ids::{VcpuId, VmId};
use rtvisor_vdev::ioapic::Msg;
use rtvisor_vdev::x2apic::Icr;

/// A message to deliver inside the VM: from an ICR or the I/O APIC.
#[derive(Debug, Clone, Copy)]
pub(super) struct Route {
    vector: u8,
    /// Delivery mode: only fixed (0) and lowest priority (1) are delivered.
    mode: u8,
    logical: bool,
    /// 0 none, 1 self, 2 all, 3 all but self.
    shorthand: u8,
    dest: u32,
    level: bool,
}

impl Route {
    pub(super) const fn of_icr(icr: Icr) -> Self {
        Self {
            vector: icr.vector,
            mode: icr.mode,
            logical: icr.logical,
            shorthand: icr.shorthand,
            dest: icr.dest,
            level: false,
        }
    }

    /// An I/O APIC message: its 8-bit broadcast is every APIC in either mode.
    pub(super) const fn of_msg(m: Msg) -> Self {
        Self {
            vector: m.vector,
            mode: m.mode,
            logical: m.logical,
            shorthand: 0,
            dest: if m.dest == 0xff {
                u32::MAX
            } else {
                m.dest as u32
            },
            level: m.level,
        }
    }
}

impl<W: ApicHw> Lapics<W> {
    /// Delivers `r` from vCPU `me` (none: the I/O APIC) inside the VM: a fixed
    /// message to every vCPU its destination names, a lowest-priority one to the
    /// named vCPU whose APIC has the lowest processor priority (the first of equals).
    pub(super) fn route(&self, vm: &VmCtx<'_, Self>, me: Option<VcpuId>, r: Route) {
        if vm.cfg.interrupt_mode == InterruptMode::Direct {
            return self.route_direct(vm, me, r);
        }
        if r.mode > 1 {
            return;
        }
        let lowest = r.mode == 1;
        let mut chosen: Option<(u32, VcpuId)> = None;
        let n = vm.cfg.cpus.len().min(MAX_VCPUS);
        for t in (0..n).map(VcpuId::new) {
            let Some(apic) = self.apic(t) else {
                continue;
            };
            let hit = match r.shorthand {
                // Physical, not 0xFF (the xAPIC broadcast, or x2APIC id 255: the mode
                // decides): the APIC's id, fixed at creation, is all that matters and
                // is read without its lock (a disabled APIC's accept drops it).
                0 if !r.logical && r.dest != 0xff => {
                    r.dest == u32::MAX || r.dest == virtual_apic_id(t.index())
                }
                0 => apic.lock().is_target(r.logical, r.dest),
                1 => Some(t) == me,
                2 => true,
                _ => Some(t) != me,
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
                self.accept(vm.id, t, r.vector, r.level);
            }
        }
        if let Some((_, t)) = chosen {
            self.accept(vm.id, t, r.vector, r.level);
        }
    }

    /// A message-signalled interrupt of one of the VM's PCI functions, delivered as
    /// the guest's message names it (`rtvisor_vdev::pcicfg::msi::ApicMsg`: fixed or
    /// lowest priority, edge, physical or logical destination).
    pub fn msi(&self, vm: &VmCtx<'_, Self>, vector: u8, dest: u8, logical: bool, lowest: bool) {
        let m = Msg {
            pin: 0,
            vector,
            mode: u8::from(lowest),
            logical,
            dest,
            level: false,
        };
        self.route(vm, None, Route::of_msg(m));
    }

    /// Delivers `r` in a direct-mode VM, whose vCPUs own their cores' APICs: as
    /// physical fixed IPIs to the VM's own cores (`passthru::route` decides which).
    /// A level-triggered I/O APIC message keeps its entry's remote IRR set until the
    /// guest writes the vector to the I/O APIC's EOI register: the guest's EOI goes
    /// to its core's APIC, which does not tell the emulated I/O APIC.
    fn route_direct(&self, vm: &VmCtx<'_, Self>, me: Option<VcpuId>, r: Route) {
        let n = vm.cfg.cpus.len().min(MAX_VCPUS);
        // An id no message names (the x2APIC broadcast is matched before ids).
        let mut ids = [u32::MAX; MAX_VCPUS];
        for (v, id) in ids.iter_mut().enumerate().take(n) {
            *id = self
                .hw
                .core_apic_id(vm.id, VcpuId::new(v))
                .unwrap_or(u32::MAX);
        }
        let low = u32::from(r.vector)
            | u32::from(r.mode) << 8
            | u32::from(r.logical) << 11
            | u32::from(r.shorthand) << 18;
        let from = me.map(VcpuId::index);
        if let Some(s) = passthru::route(low, Dest::X2Apic(r.dest), from, &ids[..n]) {
            for v in s.indices() {
                self.hw.send_to_core(vm.id, VcpuId::new(v), s.vector);
            }
        }
    }

    /// vCPU `t` accepts `vector` (level-triggered: its EOI is reported) and is told.
    pub(super) fn accept(&self, vm: VmId, t: VcpuId, vector: u8, level: bool) {
        if let Some(apic) = self.apic(t) {
            apic.lock().accept(vector, level);
            self.hw.pending(vm, t);
        }
    }

    /// What the I/O APIC sends, delivered.
    pub(super) fn sink<'a>(&'a self, vm: &'a VmCtx<'_, Self>) -> impl FnMut(Msg) + 'a {
        move |m| self.route(vm, None, Route::of_msg(m))
    }
}
