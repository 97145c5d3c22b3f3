//! Interrupts on the physical CPU of a vCPU: the hypervisor's own SGIs, physical
//! interrupts forwarded to a virtual-mode guest through HW list registers, the list
//! registers themselves, and the physical state a direct-mode guest owns.
//!
//! Virtual mode: the EL1 timers' PPIs (virtual 27, physical 30) are HW-linked to the
//! guest's own; each is enabled physically only while the guest has it enabled,
//! acknowledged here with a priority drop only, and deactivated by the guest's own
//! EOI. A read of their pending or active state asks the hardware (`hw_line`). Direct
//! mode: the guest
//! owns Group 1 on its CPU (IRQs never reach EL2); only the hypervisor's Group-0 SGIs
//! (FIQ) come here.

use crate::account;
use crate::log;
use crate::percpu::{self, PerCpu};
use crate::stats;
use crate::vms;
use core::sync::atomic::{AtomicU64, Ordering};
use rtvisor_arch_aarch64::chip::{GicHw, Model, RESERVED_PRIVATE};
use rtvisor_arch_aarch64::gic::{self, Redist};
use rtvisor_arch_aarch64::sysregs::CpuIfReg;
use rtvisor_arch_aarch64::{cpu, fast, ich, spi, timer};
use rtvisor_config::tables::{DirectTrust, InterruptMode};
use rtvisor_core::account::Cause;
use rtvisor_core::account::IrqKind;
use rtvisor_core::ids::{CpuId, VcpuId, VmId};
use rtvisor_vdev::vgic::{HwState, Notify};
use rtvisor_vdev::{gicpass, Width};

/// The EL1 virtual timer's INTID.
pub const VTIMER: u32 = rtvisor_config::contract::aarch64::VTIMER_INTID;
/// The EL1 physical timer's INTID.
pub const PTIMER: u32 = rtvisor_config::contract::aarch64::PTIMER_INTID;

pub use super::lrs::{refresh_lrs, refresh_lrs_inline, update_fast_timer};

/// Physical distributor base (set at boot).
pub static GICD_BASE: AtomicU64 = AtomicU64::new(0);

/// Whether VM `vm` takes its interrupts directly (never, in an image whose scenario has
/// no direct-mode VM). The configuration is looked up either way: its bounds check is
/// what tells the compiler, on the exception paths that ask this first, that `vm` is
/// one of the scenario's VMs (with one VM, that it is VM 0), and the rest of the path
/// is built on that.
pub fn is_direct(vm: VmId) -> bool {
    let cfg = vms::cfg(vm);
    crate::config::ANY_DIRECT && cfg.interrupt_mode == InterruptMode::Direct
}

fn redist_of(cpu: &PerCpu) -> Redist {
    Redist(cpu.arch.redist.load(Ordering::Relaxed))
}

/// The vGIC model of VM `vm` (locking it folds the SGIs posted to it).
pub(super) fn model(vm: VmId) -> &'static Model {
    vms::rt(vm).chip.model()
}

/// The physical CPU of vCPU `vcpu` of VM `vm`.
pub fn cpu_of(vm: VmId, vcpu: VcpuId) -> Option<&'static PerCpu> {
    vms::cpu_of(vm, vcpu).and_then(percpu::of)
}

/// Acknowledges what is pending on this CPU. `hosted` is the vCPU running here (if it
/// is in virtual mode, forwarded interrupts are injected into it); `direct` says the
/// guest owns Group 1 here, which must then be left alone. Returns whether a kick
/// arrived (the vCPU's state must be looked at again). `found` gets the cause of the
/// first interrupt taken, for the interference accounting.
pub fn drain(
    me: &PerCpu,
    hosted: Option<(VmId, VcpuId)>,
    direct: bool,
    found: &mut Option<Cause>,
) -> bool {
    let kicked = drain_group0(me, None, direct, found);
    if direct {
        return kicked;
    }
    drain_group1(me, hosted, kicked, found);
    kicked
}

/// The hypervisor's own Group-0 interrupts pending on this CPU (kicks, its timer, a
/// halt), as [`drain`] takes them; whether a kick arrived. The FIQ's light path takes
/// only these: a Group-1 interrupt pending meanwhile is taken as an IRQ right after
/// the return to the guest. `cpu` is this CPU when the caller knows it (a kick is
/// then counted without looking its index up again).
#[inline(always)]
pub fn drain_group0(
    me: &PerCpu,
    cpu: Option<CpuId>,
    direct: bool,
    found: &mut Option<Cause>,
) -> bool {
    let id = gic::ack_group0();
    if id >= gic::SPURIOUS {
        return false;
    }
    if id == gic::SGI_KICK && !account::BUILT {
        // The common case, a kick, without the stack frame of the rest. Another
        // Group-0 interrupt pending now is taken at once after the return (its FIQ).
        gic::eoi_group0(id, !direct);
        match cpu {
            Some(c) => stats::irq_on(c, IrqKind::Sgi),
            None => stats::irq(IrqKind::Sgi),
        }
        return true;
    }
    take_group0(me, direct, found, id)
}

/// [`drain_group0`] from interrupt `first` (acknowledged) on.
#[inline(never)]
fn take_group0(me: &PerCpu, direct: bool, found: &mut Option<Cause>, first: u32) -> bool {
    let mut kicked = false;
    let mut next = Some(first);
    loop {
        let id = match next.take() {
            Some(id) => id,
            None => gic::ack_group0(),
        };
        if id >= gic::SPURIOUS {
            break;
        }
        if account::BUILT {
            // Every kick takes its sender's mark, whether or not it is the cause.
            let cause = match id {
                gic::HYP_TIMER_INTID => Cause::Watchdog,
                gic::SGI_KICK => account::kick_cause(),
                0..16 => Cause::Kick,
                _ => Cause::Spurious,
            };
            account::found(found, cause);
        }
        if id == gic::HYP_TIMER_INTID {
            // Re-armed or stopped before the EOI, so the level has dropped.
            crate::watchdog::on_timer();
        } else if id >= 32 || gic::HYP_PRIVATE & (1 << id) == 0 {
            // Not one of the hypervisor's: nothing the hypervisor configures lets a
            // guest interrupt into Group 0, but were it there, a level-triggered one
            // would come back after every EOI. Take it away from the CPU for good.
            redist_of(me).disable(id);
            stats::irq(IrqKind::Spurious);
        }
        gic::eoi_group0(id, !direct);
        // The hypervisor's SGIs are counted; its timer is not shown.
        if id < 16 {
            stats::irq(IrqKind::Sgi);
        }
        if id == gic::SGI_HALT {
            log::halt();
        }
        kicked = true;
    }
    kicked
}

/// The Group-1 half of [`drain`] (virtual mode): interrupts for the guest, forwarded.
fn drain_group1(
    me: &PerCpu,
    hosted: Option<(VmId, VcpuId)>,
    kicked: bool,
    found: &mut Option<Cause>,
) {
    // An interrupt the vector's fast path acknowledged (and priority-dropped) first.
    let cpu = cpu::this_index() as usize;
    let mut stashed = fast::take_acked(cpu);
    for round in 0u32.. {
        let id = match stashed.take() {
            Some(id) => id,
            None => {
                let id = gic::ack_group1();
                if id >= gic::SPURIOUS {
                    stats::spurious_if(round == 0 && !kicked && hosted.is_some());
                    break;
                }
                gic::eoi_group1(id);
                id
            }
        };
        match hosted {
            Some((vm, vcpu)) if id == VTIMER || id == PTIMER => {
                account::found(found, Cause::Timer);
                stats::irq(IrqKind::Vtimer);
                // Straight into a free list register, HW-linked, so the guest's EOI
                // deactivates the physical PPI. The model learns of it only if no
                // list register is free.
                let gic = model(vm);
                let prio = gic.lock().priority(vcpu.index(), id).unwrap_or(0);
                if !ich::inject_hw(id, id, prio) {
                    gic.lock().inject(id, vcpu.index());
                    me.arch.lr_dirty.store(true, Ordering::Relaxed);
                }
            }
            // The maintenance interrupt only asks for a list-register refresh. Its
            // line stays up while the condition holds (ICH_HCR_EL2.UIE and at most
            // one valid list register), so the request goes before the deactivation:
            // left on, the interrupt would come back at once, round after round.
            // The refresh sets it again when it still leaves interrupts out.
            Some(_) if id == gic::MAINTENANCE_INTID => {
                account::found(found, Cause::Maintenance);
                stats::irq(IrqKind::Maintenance);
                ich::set_hcr(ich::HCR_EN);
                gic::deactivate(id);
                me.arch.lr_dirty.store(true, Ordering::Relaxed);
            }
            None if crate::shell::is_input(id) => {
                account::found(found, Cause::Shell);
                stats::irq(IrqKind::Uart);
                crate::shell::on_input();
                gic::deactivate(id);
            }
            _ => match super::passthru::forward(id) {
                // The guest's EOI deactivates it (HW list register).
                Some((vm, n)) => {
                    account::found(found, Cause::Spi);
                    stats::irq(IrqKind::Spi);
                    let me_vcpu = match hosted {
                        Some((h, v)) if h == vm => Some(v),
                        _ => None,
                    };
                    vgic_changed(vm, me_vcpu, &n);
                }
                None => {
                    // Nobody's here: a direct-mode guest's interrupt left enabled or
                    // routed to this CPU when its vCPU stopped (a PMU overflow, a
                    // device SPI), or a line nobody owns. A level-triggered one would
                    // come back after every deactivation and hold this CPU here with
                    // kicks masked: it is taken away first. A private one is set up
                    // afresh when a vCPU starts here (`quiesce`); an SPI is enabled
                    // again when its VM's next vCPU starts (`passthru::unpark`).
                    stats::irq(IrqKind::Spurious);
                    if id < 32 {
                        redist_of(me).disable(id);
                    } else {
                        super::passthru::park(id);
                    }
                    gic::deactivate(id)
                }
            },
        }
    }
}

pub fn vcpu_start(me: &PerCpu, vm: VmId) {
    let direct = is_direct(vm);
    quiesce(me);
    gic::set_split_eoi(!direct);
    // SAFETY: on the CPU that runs the vCPU, at EL2, before entering it.
    unsafe { cpu::init_el2(direct) };
    ich::reset(match (direct, vms::cfg(vm).direct_trust) {
        (false, _) => ich::HCR_EN,
        (true, DirectTrust::Trusted) => 0,
        // The guest's Group-1 CPU interface registers trap (see `cpuif`).
        (true, DirectTrust::Untrusted) => ich::HCR_TALL1,
    });
    if !direct {
        redist_of(me).enable(gic::MAINTENANCE_INTID);
    } else {
        super::passthru::unpark(vm);
        // The SGI route the light path lets through as it is: the VM's own cores.
        let cores = (0..vms::cfg(vm).cpus.len())
            .filter_map(|v| cpu_of(vm, VcpuId::new(v)))
            .map(PerCpu::hw_id);
        fast::set_direct_sgi(cpu::this_index() as usize, gicpass::sgi_route(cores));
    }
    me.arch.lr_dirty.store(false, Ordering::Relaxed);
}

/// Takes back every private interrupt a guest could own on this CPU: disabled,
/// not pending, not active; clears the Group-1 active priorities a direct-mode guest
/// may have left on the CPU interface; stops the guest's virtual timer and puts its
/// physical timer in its reset shape.
pub fn quiesce(me: &PerCpu) {
    gic::reset_cpu_interface();
    // The idle CPU ends its own interrupts with split priority drop and deactivation,
    // whatever the last guest here used.
    gic::set_split_eoi(true);
    fast::set_vtimer_lr(cpu::this_index() as usize, 0);
    fast::set_direct_sgi(cpu::this_index() as usize, 0);
    let r = redist_of(me);
    for intid in (0..32).filter(|i| RESERVED_PRIVATE & (1 << i) == 0) {
        r.disable(intid);
        r.clear_pending(intid);
        r.deactivate(intid);
    }
    // Every guest-owned private interrupt in Group 1 again (guests cannot change it;
    // this is the invariant, restored whatever happened).
    r.reset_groups();
    cpu::stop_virtual_timer();
    cpu::reset_physical_timer();
}

/// What the hardware holds of physical `pintid`, HW-linked to virtual `intid` of
/// vCPU `vcpu` of VM `vm`, for a register read by vCPU `me` (on this CPU). Called with
/// the VM's model locked: reads registers only.
///
/// - A timer of this very vCPU: its control register says whether its line is
///   asserted (`ENABLE && ISTATUS && !IMASK`), whatever the guest's enable; the list
///   registers say whether the guest has it active.
/// - A PPI of another vCPU: the redistributor of that vCPU's CPU (its line; active
///   from the hypervisor's acknowledge, which comes just before the guest's own, to
///   the guest's EOI).
/// - A passed-through SPI: pending at the distributor; whether the guest has it
///   active is the model's (its list registers are the model's).
pub fn hw_line(vm: VmId, me: VcpuId, vcpu: VcpuId, intid: u32, pintid: u32) -> HwState {
    if pintid >= 32 {
        return HwState {
            pending: spi::is_pending(pintid),
            active: false,
        };
    }
    let Some(cpu) = cpu_of(vm, vcpu) else {
        return HwState::default();
    };
    let r = redist_of(cpu);
    if vcpu != me {
        return HwState {
            pending: r.is_pending(pintid),
            active: r.is_active(pintid),
        };
    }
    HwState {
        pending: timer::guest_line(pintid).unwrap_or_else(|| r.is_pending(pintid)),
        active: ich::holds_active(intid),
    }
}

/// The host side of a vGIC change: kick or mark the vCPUs that must refresh their
/// list registers, and follow guest enables of HW-linked interrupts physically.
#[inline(always)]
pub fn vgic_changed(vm: VmId, me: Option<VcpuId>, notify: &Notify) {
    // The common case (an SGI, an injected interrupt) only kicks: only the vCPUs it
    // names are looked at, without the stack frame of the rest.
    if notify.hw_changed.is_empty() {
        kick(vm, me, notify.kick);
        return;
    }
    hw_changed(vm, me, notify);
}

/// Kicks the vCPUs of VM `vm` in the mask `targets` (marks their list registers
/// for a refresh; another CPU's gets the kick SGI).
#[inline(always)]
fn kick(vm: VmId, me: Option<VcpuId>, targets: u32) {
    let mut rest = targets;
    while rest != 0 {
        let v = VcpuId::new(rest.trailing_zeros() as usize);
        rest &= rest - 1;
        if let Some((id, cpu)) = vms::cpu_of(vm, v).and_then(|c| Some((c, percpu::of(c)?))) {
            cpu.arch.lr_dirty.store(true, Ordering::Relaxed);
            if Some(v) != me {
                account::kicking(id);
                gic::send_sgi(cpu.hw_id(), gic::SGI_KICK);
            }
        }
    }
}

/// [`vgic_changed`] when HW-linked interrupts changed too.
#[inline(never)]
fn hw_changed(vm: VmId, me: Option<VcpuId>, notify: &Notify) {
    for v in (0..vms::cfg(vm).cpus.len()).map(VcpuId::new) {
        let Some((id, cpu)) = vms::cpu_of(vm, v).and_then(|c| Some((c, percpu::of(c)?))) else {
            continue;
        };
        if notify.kicks(v.index()) {
            cpu.arch.lr_dirty.store(true, Ordering::Relaxed);
            if Some(v) != me {
                account::kicking(id);
                gic::send_sgi(cpu.hw_id(), gic::SGI_KICK);
            }
        }
        for intid in notify.hw_changed.iter().filter(|&i| i < 32) {
            let link = model(vm).lock().hw_link(v.index(), intid);
            let base = cpu.arch.redist.load(Ordering::Relaxed);
            if let (Some(link), true) = (link, base != 0) {
                let r = Redist(base);
                if link.enabled {
                    r.enable(link.pintid);
                } else {
                    r.disable(link.pintid);
                }
            }
        }
    }
    for intid in notify.hw_changed.iter().filter(|&i| i >= 32) {
        super::passthru::follow(vm, intid);
    }
}

/// Direct mode: the physical frame an access of VM `vm` goes to.
fn frame(vm: VmId, redist: Option<VcpuId>) -> Option<u64> {
    match redist {
        None => Some(GICD_BASE.load(Ordering::Relaxed)),
        Some(v) => cpu_of(vm, v).map(|c| c.arch.redist.load(Ordering::Relaxed)),
    }
}

/// Direct mode: a filtered physical read (the filter already bounded `off`).
pub fn hw_read(vm: VmId, redist: Option<VcpuId>, off: u64, w: Width) -> u64 {
    match frame(vm, redist) {
        // SAFETY: `off` passed the direct-mode filter, so it is a register inside the
        // frame, naturally aligned for `w`; the frame is mapped as device memory.
        Some(base) if base != 0 => unsafe { gic::frame_read(base, off, w.bytes()) },
        _ => 0,
    }
}

/// Direct mode: a filtered physical write.
pub fn hw_write(vm: VmId, redist: Option<VcpuId>, off: u64, w: Width, value: u64) {
    if let Some(base) = frame(vm, redist).filter(|&b| b != 0) {
        // SAFETY: as in `hw_read`.
        unsafe { gic::frame_write(base, off, w.bytes(), value) }
    }
}

/// The hardware side of every VM's GIC ([`GicHw`]): what this module does on the
/// physical CPUs and the physical GIC.
#[derive(Debug, Clone, Copy)]
pub struct HwGic;

impl GicHw for HwGic {
    const DIRECT: bool = crate::config::ANY_DIRECT;
    fn changed(&self, vm: VmId, me: Option<VcpuId>, notify: &Notify) {
        vgic_changed(vm, me, notify);
    }
    #[inline(always)]
    fn kick(&self, vm: VmId, me: VcpuId, targets: u32) {
        kick(vm, Some(me), targets);
    }
    #[inline(always)]
    fn kick_pulsed(&self, vm: VmId, targets: u32) {
        kick(vm, None, targets);
    }
    fn read(&self, vm: VmId, redist: Option<VcpuId>, off: u64, width: Width) -> u64 {
        hw_read(vm, redist, off, width)
    }
    fn write(&self, vm: VmId, redist: Option<VcpuId>, off: u64, width: Width, value: u64) {
        hw_write(vm, redist, off, width, value);
    }
    fn send_sgi(&self, vm: VmId, vcpu: VcpuId, sgi: u32) {
        if let Some(cpu) = cpu_of(vm, vcpu) {
            gic::send_sgi_group1(cpu.hw_id(), sgi);
        }
    }
    fn cpu_interface(&self, reg: CpuIfReg, write: Option<u64>) -> u64 {
        match write {
            Some(v) => {
                gic::cpuif_write(reg, v);
                0
            }
            None => gic::cpuif_read(reg),
        }
    }
    fn set_pending(&self, intid: u32) {
        spi::set_pending(intid);
    }
    fn line(&self, vm: VmId, me: VcpuId, vcpu: VcpuId, intid: u32, pintid: u32) -> HwState {
        hw_line(vm, me, vcpu, intid, pintid)
    }
}
