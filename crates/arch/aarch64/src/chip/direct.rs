//! Direct mode: the VM drives the physical GIC of its own cores, through filters.
//! Distributor and redistributor accesses pass `gicpass` (the VM's own SPIs and its
//! cores' frames only, never the hypervisor's private interrupts, priorities through
//! the Non-secure view, routes to the VM's cores only); a width or alignment the
//! register does not allow is refused, never forwarded. SGIs go to the VM's own cores
//! only, never with the hypervisor's numbers. An untrusted guest's Group-1 CPU
//! interface registers trap and are done on its behalf.

use super::{Gic, GicHw, RESERVED_PRIVATE, RESERVED_SGIS};
use crate::sysregs::CpuIfReg;
use rtvisor_config::tables::{DirectTrust, InterruptMode};
use rtvisor_core::handler::{Contained, Host, VmCtx};
use rtvisor_core::ids::VcpuId;
use rtvisor_core::seam::Refused;
use rtvisor_vdev::gicpass::{self, Action};
use rtvisor_vdev::vgic::GICR_FRAME_SIZE;
use rtvisor_vdev::Width;

/// Whether SPI `intid` is the VM's: raised by one of its devices, or one of its
/// doorbells.
fn owns_spi<C>(vm: &VmCtx<'_, C>, intid: u32) -> bool {
    vm.cfg.devices.iter().any(|d| d.irqs.contains(&intid))
        || vm.cfg.shared.iter().any(|m| m.doorbell == intid)
}

/// Whether a direct-mode VM may end (EOI) interrupt `intid` on its cores: one of its
/// private interrupts (not the hypervisor's), one of its SPIs, or a special INTID
/// (1020-1023, which ends nothing).
fn owns_intid<C>(vm: &VmCtx<'_, C>, intid: u32) -> bool {
    match intid {
        0..=31 => RESERVED_PRIVATE & (1 << intid) == 0,
        1020..=1023 => true,
        _ => owns_spi(vm, intid),
    }
}

/// The filtered physical access at `off` of the distributor or (`redist`) the
/// redistributor region.
pub(super) fn mmio<W: GicHw>(
    gic: &Gic<W>,
    vm: &VmCtx<'_, Gic<W>>,
    host: &impl Host,
    redist: bool,
    off: u64,
    w: Width,
    value: Option<u64>,
) -> Result<Option<u64>, Refused> {
    let (frame, off) = match redist {
        true => (
            Some(VcpuId::new((off / GICR_FRAME_SIZE) as usize)),
            off % GICR_FRAME_SIZE,
        ),
        false => (None, off),
    };
    let nvcpus = vm.cfg.cpus.len();
    let hw = &gic.hw;
    let action = match frame {
        Some(v) if v.index() >= nvcpus => return Ok(value.is_none().then_some(0)),
        Some(v) => gicpass::redist(
            off,
            w,
            value.is_some(),
            v.index() + 1 == nvcpus,
            RESERVED_PRIVATE,
        ),
        None => gicpass::dist(off, w, value.is_some(), |intid| owns_spi(vm, intid)),
    };
    let id = vm.id;
    Ok(match (action, value) {
        (Action::Refuse, _) => return Err(Refused),
        (Action::Value(v), None) => Some(v),
        (Action::Typer { last }, None) => {
            const TYPER: u64 = 0x8;
            let typer = hw.read(id, frame, TYPER, Width::Double);
            Some(gicpass::typer_view(typer, last, off - TYPER, w))
        }
        (Action::Priority { mask }, None) => {
            Some(gicpass::priority_from_hw(hw.read(id, frame, off, w) & mask))
        }
        (Action::Priority { mask: 0 }, Some(_)) => None,
        (Action::Priority { mask }, Some(v)) => {
            let stored = hw.read(id, frame, off, w);
            let stored = gicpass::merge(mask, true, stored, gicpass::priority_to_hw(v));
            hw.write(id, frame, off, w, stored);
            None
        }
        (Action::Route { intid }, Some(v)) => {
            if gicpass::route_allowed(v, vm.cpu_ids) {
                hw.write(id, None, off, w, v);
            } else {
                host.contained(id, Contained::BadRoute(intid));
            }
            None
        }
        (Action::Hw { mask, .. }, None) => Some(hw.read(id, frame, off, w) & mask),
        (Action::Hw { mask, rmw }, Some(v)) => {
            let stored = if rmw { hw.read(id, frame, off, w) } else { 0 };
            hw.write(id, frame, off, w, gicpass::merge(mask, rmw, stored, v));
            None
        }
        (_, None) => Some(0),
        (_, Some(_)) => None,
    })
}

/// An ICC_SGI1R_EL1 write of vCPU `me`: physical SGIs, but only to this VM's own cores
/// and never with the hypervisor's numbers.
pub(super) fn send_sgi<W: GicHw>(gic: &Gic<W>, vm: &VmCtx<'_, Gic<W>>, me: VcpuId, value: u64) {
    let (targets, sgi) = gicpass::sgi_targets(value, me.index(), vm.cpu_ids, RESERVED_SGIS);
    for v in (0..vm.cpu_ids.len()).filter(|v| targets & (1 << v) != 0) {
        gic.hw.send_sgi(vm.id, VcpuId::new(v), sgi);
    }
}

/// An untrusted direct-mode guest's access to a Group-1 CPU interface register
/// (packed encoding `id`), done on its behalf (writes that could raise its running
/// priority are dropped, and an end of interrupt only ever names one of the VM's own
/// interrupts); in any other mode these registers do not trap, and an access that does
/// is refused. Kept out of line: the SGI register shares the caller, on the IPI path.
#[inline(never)]
pub(super) fn cpu_interface<W: GicHw>(
    gic: &Gic<W>,
    vm: &VmCtx<'_, Gic<W>>,
    host: &impl Host,
    id: u32,
    value: Option<u64>,
) -> Result<Option<u64>, Refused> {
    let untrusted = W::DIRECT
        && vm.cfg.interrupt_mode == InterruptMode::Direct
        && vm.cfg.direct_trust == DirectTrust::Untrusted;
    let reg = CpuIfReg::of(id).filter(|_| untrusted).ok_or(Refused)?;
    match value {
        Some(_) if !reg.writable() => {
            host.contained(vm.id, Contained::IgnoredRegister(id));
            Ok(None)
        }
        Some(v) if reg == CpuIfReg::Eoir1 && !owns_intid(vm, v as u32 & 0xff_ffff) => {
            host.contained(vm.id, Contained::IgnoredRegister(id));
            Ok(None)
        }
        Some(_) => {
            gic.hw.cpu_interface(reg, value);
            Ok(None)
        }
        None => Ok(Some(gic.hw.cpu_interface(reg, None))),
    }
}
