//! Emulated device accesses: the VM's console PL011 and its GICv3 (the vGIC model in
//! virtual mode, filtered physical access in direct mode). Unknown registers inside a
//! device read as zero and ignore writes; an access width the device refuses gets an
//! abort injected by the caller.

use crate::exit::{AccessWidth, MmioAccess};
use crate::handler::{Console, Host, VmCtx};
use crate::ids::VcpuId;
use crate::mmio::{self, DeviceKind};
use crate::vcpu::VcpuRegs;
use rtvisor_config::tables::InterruptMode;
use rtvisor_vdev::vgic::{Notify, GICR_FRAME_SIZE};
use rtvisor_vdev::{gicpass, MmioError, Width};

/// SGIs the hypervisor keeps for itself on every physical CPU (Group 0).
pub const RESERVED_SGIS: u32 = (1 << SGI_HALT) | (1 << SGI_KICK);
/// The EL2 physical timer's PPI: the hypervisor's watchdog clock, in Group 0.
pub const HYP_TIMER_INTID: u32 = rtvisor_config::contract::aarch64::HYP_TIMER_INTID;
/// Private interrupts the hypervisor keeps on every CPU (a direct-mode guest's
/// redistributor accesses cannot touch them).
pub const RESERVED_PRIVATE: u32 = RESERVED_SGIS | (1 << HYP_TIMER_INTID);
use rtvisor_config::contract::aarch64::{SGI_HALT, SGI_KICK};
pub use rtvisor_config::guest::{DOORBELL_GPIO_INTID, VUART_INTID};

// Every doorbell GPIO line the device tree promises exists on the emulated PL061.
const _: () =
    assert!(rtvisor_config::guest::DOORBELL_GPIO_LINES as u32 <= rtvisor_vdev::pl061::LINES);

fn width(w: AccessWidth) -> Width {
    match w {
        AccessWidth::B1 => Width::Byte,
        AccessWidth::B2 => Width::Half,
        AccessWidth::B4 => Width::Word,
        AccessWidth::B8 => Width::Double,
    }
}

/// A device's answer: `Ok(Some(v))` a read value, `Ok(None)` a completed write,
/// `Err(())` a refused access.
type Answer = Result<Option<u64>, ()>;

fn policy(r: Result<u64, MmioError>) -> Result<u64, ()> {
    match r {
        Ok(v) => Ok(v),
        Err(MmioError::BadWidth) => Err(()),
        Err(_) => Ok(0),
    }
}

/// Emulates one access of vCPU `me`; `false` when the device refuses it.
pub fn emulate(
    me: VcpuId,
    kind: DeviceKind,
    off: u64,
    acc: &MmioAccess,
    regs: &mut impl VcpuRegs,
    vm: &VmCtx<'_>,
    host: &impl Host,
) -> bool {
    let w = width(acc.width);
    let value = acc
        .write
        .then(|| mmio::store_value(regs.reg(acc.reg), acc.width));
    let direct = vm.cfg.interrupt_mode == InterruptMode::Direct;
    let answer = match kind {
        DeviceKind::Pl011 => pl011(me, off, w, value, vm, host),
        DeviceKind::GicDist if direct => direct_access(None, off, w, value, vm, host),
        DeviceKind::GicRedist if direct => {
            let (v, o) = (off / GICR_FRAME_SIZE, off % GICR_FRAME_SIZE);
            direct_access(Some(VcpuId::new(v as usize)), o, w, value, vm, host)
        }
        DeviceKind::GicDist | DeviceKind::GicRedist => vgic(me, kind, off, w, value, vm, host),
        DeviceKind::Doorbell => doorbell(off, w, value, vm, host),
        DeviceKind::DoorbellGpio => gpio(me, off, w, value, vm, host),
    };
    match answer {
        Ok(Some(v)) if !acc.write => {
            regs.set_reg(acc.reg, mmio::load_value(v, acc));
            true
        }
        Ok(_) => true,
        Err(()) => false,
    }
}

fn pl011(
    me: VcpuId,
    off: u64,
    w: Width,
    value: Option<u64>,
    vm: &VmCtx<'_>,
    host: &impl Host,
) -> Answer {
    let mut con = vm.console.lock();
    let Console { uart, line, .. } = &mut *con;
    let answer = match value {
        Some(v) => {
            let mut tx = |b: u8| line.push(b, &mut |l: &[u8]| host.console_line(vm.id, l));
            policy(uart.write(off, w, v as u32, &mut tx).map(|()| 0)).map(|_| None)
        }
        None => policy(uart.read(off, w).map(u64::from)).map(Some),
    };
    con.refill();
    if value.is_some() && host.console_live(vm.id) {
        host.console_partial(vm.id, con.line.pending());
    }
    let level = con.uart.irq_level();
    drop(con);
    uart_line(Some(me), level, vm, host);
    answer
}

/// The doorbell page: offset 0 takes a 32-bit write of a region number; everything
/// else reads as zero and ignores writes. A number the VM is no peer of is ignored.
fn doorbell(off: u64, w: Width, value: Option<u64>, vm: &VmCtx<'_>, host: &impl Host) -> Answer {
    match (off, w, value) {
        (0, Width::Word, Some(v)) => {
            if !host.ring(vm.id, v & 0xffff_ffff) {
                host.contained(vm.id, crate::handler::Contained::BadDoorbell(v));
            }
            Ok(None)
        }
        (_, Width::Double, _) => Err(()),
        (_, _, None) => Ok(Some(0)),
        (_, _, Some(_)) => Ok(None),
    }
}

/// The doorbell GPIO (PL061): emulated, then its interrupt line follows the model.
fn gpio(
    me: VcpuId,
    off: u64,
    w: Width,
    value: Option<u64>,
    vm: &VmCtx<'_>,
    host: &impl Host,
) -> Answer {
    let mut g = vm.gpio.lock();
    let answer = match value {
        Some(v) => policy(g.write(off, w, v as u32).map(|()| 0)).map(|_| None),
        None => policy(g.read(off, w).map(u64::from)).map(Some),
    };
    let level = g.irq_level();
    drop(g);
    line(Some(me), DOORBELL_GPIO_INTID, level, vm, host);
    answer
}

/// Drives the level-sensitive virtual interrupt `intid` of VM `vm` (virtual mode
/// only); `me` as for [`uart_line`].
pub fn line(me: Option<VcpuId>, intid: u32, level: bool, vm: &VmCtx<'_>, host: &impl Host) {
    if vm.cfg.interrupt_mode == InterruptMode::Direct {
        return;
    }
    let n = vm.gic.lock().set_level(intid, 0, level);
    if n != Notify::NONE {
        host.vgic_changed(vm.id, me, &n);
    }
}

/// Drives the emulated PL011's interrupt line (INTID [`VUART_INTID`], level-sensitive)
/// into the vGIC after anything that may have changed it. `me` is the vCPU doing
/// it, or `None` for another CPU (console input). A direct-mode VM owns the
/// physical GIC, so its emulated UART has no interrupt: it polls.
pub fn uart_line(me: Option<VcpuId>, level: bool, vm: &VmCtx<'_>, host: &impl Host) {
    line(me, VUART_INTID, level, vm, host);
}

/// A doorbell toggles line `k` of VM `vm`'s doorbell GPIO (the caller checked `vm`
/// is a peer of region `k`); its interrupt line follows.
pub fn gpio_doorbell(k: u32, vm: &VmCtx<'_>, host: &impl Host) {
    let mut g = vm.gpio.lock();
    let before = g.irq_level();
    g.toggle_input(k);
    let level = g.irq_level();
    drop(g);
    // A guest that does not use the GPIO (its interrupt masked) costs no vGIC work.
    if level != before {
        line(None, DOORBELL_GPIO_INTID, level, vm, host);
    }
}

/// Console input for VM `vm`: queued behind what already waits, moved into the
/// UART as its receive FIFO has room (the rest follows as the guest reads), then
/// the interrupt line. Returns how many bytes were accepted (the queue is bounded).
pub fn console_input(bytes: &[u8], vm: &VmCtx<'_>, host: &impl Host) -> usize {
    let mut con = vm.console.lock();
    let taken = bytes.iter().take_while(|&&b| con.input.push(b)).count();
    con.refill();
    let level = con.uart.irq_level();
    drop(con);
    uart_line(None, level, vm, host);
    taken
}

fn vgic(
    me: VcpuId,
    kind: DeviceKind,
    off: u64,
    w: Width,
    value: Option<u64>,
    vm: &VmCtx<'_>,
    host: &impl Host,
) -> Answer {
    // The model is updated under its lock; the notification goes out after it is
    // released (the host may look at the model again).
    let result = {
        let mut gic = vm.gic.lock();
        match (kind, value) {
            (DeviceKind::GicDist, None) => gic.dist_read(off, w).map(|v| (Some(v), Notify::NONE)),
            (DeviceKind::GicDist, Some(v)) => gic.dist_write(off, w, v).map(|n| (None, n)),
            (_, None) => match gic.redist_split(off) {
                Some((vcpu, o)) => gic.redist_read(vcpu, o, w).map(|v| (Some(v), Notify::NONE)),
                None => Err(MmioError::NoRegister),
            },
            (_, Some(v)) => match gic.redist_split(off) {
                Some((vcpu, o)) => gic.redist_write(vcpu, o, w, v).map(|n| (None, n)),
                None => Err(MmioError::NoRegister),
            },
        }
    };
    match result {
        Ok((v, n)) => {
            if n != Notify::NONE {
                host.vgic_changed(vm.id, Some(me), &n);
            }
            Ok(v)
        }
        Err(MmioError::BadWidth) => Err(()),
        Err(_) => Ok(value.is_none().then_some(0)),
    }
}

/// Whether SPI `intid` is the VM's: raised by one of its devices, or one of its
/// doorbells.
fn owns_spi(vm: &VmCtx<'_>, intid: u32) -> bool {
    vm.cfg.devices.iter().any(|d| d.irqs.contains(&intid))
        || vm.cfg.shared.iter().any(|m| m.doorbell == intid)
}

/// Direct mode: the filtered physical access; a width or alignment the register does
/// not allow is refused (never forwarded).
fn direct_access(
    redist: Option<VcpuId>,
    off: u64,
    w: Width,
    value: Option<u64>,
    vm: &VmCtx<'_>,
    host: &impl Host,
) -> Answer {
    let nvcpus = vm.cfg.cpus.len();
    let action = match redist {
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
    Ok(match (action, value) {
        (gicpass::Action::Refuse, _) => return Err(()),
        (gicpass::Action::Value(v), None) => Some(v),
        (gicpass::Action::Typer { last }, None) => {
            const TYPER: u64 = 0x8;
            let typer = host.gic_hw_read(vm.id, redist, TYPER, Width::Double);
            Some(gicpass::typer_view(typer, last, off - TYPER, w))
        }
        (gicpass::Action::Priority { mask }, None) => Some(gicpass::priority_from_hw(
            host.gic_hw_read(vm.id, redist, off, w) & mask,
        )),
        (gicpass::Action::Priority { mask: 0 }, Some(_)) => None,
        (gicpass::Action::Priority { mask }, Some(v)) => {
            let hw = host.gic_hw_read(vm.id, redist, off, w);
            let stored = gicpass::merge(mask, true, hw, gicpass::priority_to_hw(v));
            host.gic_hw_write(vm.id, redist, off, w, stored);
            None
        }
        (gicpass::Action::Route { intid }, Some(v)) => {
            if gicpass::route_allowed(v, vm.mpidrs) {
                host.gic_hw_write(vm.id, None, off, w, v);
            } else {
                host.contained(vm.id, crate::handler::Contained::BadRoute(intid));
            }
            None
        }
        (gicpass::Action::Hw { mask, .. }, None) => {
            Some(host.gic_hw_read(vm.id, redist, off, w) & mask)
        }
        (gicpass::Action::Hw { mask, rmw }, Some(v)) => {
            let hw = if rmw {
                host.gic_hw_read(vm.id, redist, off, w)
            } else {
                0
            };
            host.gic_hw_write(vm.id, redist, off, w, gicpass::merge(mask, rmw, hw, v));
            None
        }
        (_, None) => Some(0),
        (_, Some(_)) => None,
    })
}
