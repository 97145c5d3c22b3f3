//! Emulated device accesses: the regions the VM's interrupt controller claims go to it
//! ([`IrqChip::mmio`]); the others are the VM's console UART (a PL011 in memory or a
//! 16550 on I/O ports), the doorbell page, the doorbell GPIO, the flash and the power
//! and reset ports. Unknown registers inside a device read as zero and ignore
//! writes; an access width the device refuses is [`Refused`] (the handler injects a
//! bus fault, or answers as an empty bus for a port). A device's interrupt line is
//! driven through the chip after every access that may have changed it.

use crate::handler::{Console, Contained, Host, VmCtx};
use crate::ids::VcpuId;
use crate::mmio::{Device, DeviceKind};
use crate::seam::{IrqChip, Refused};
use rtvisor_vdev::{MmioError, Width};

/// A device's answer: `Ok(Some(v))` a read value, `Ok(None)` a completed write.
type Answer = Result<Option<u64>, Refused>;

/// Unknown registers read as zero and ignore writes; a width the register does not
/// allow is refused.
fn policy(r: Result<u64, MmioError>) -> Result<u64, Refused> {
    match r {
        Ok(v) => Ok(v),
        Err(MmioError::BadWidth) => Err(Refused),
        Err(_) => Ok(0),
    }
}

/// Emulates one access of vCPU `me` at `off` in emulated device `dev` (a region in
/// memory or a port range): a load or IN (`value` is `None`), or a store or OUT of
/// `value`. A device the VM's interrupt controller claims goes to it.
pub fn emulate<C: IrqChip>(
    me: VcpuId,
    dev: Device,
    off: u64,
    w: Width,
    value: Option<u64>,
    vm: &VmCtx<'_, C>,
    host: &impl Host,
) -> Answer {
    let Device { kind, line } = dev;
    if C::owns(kind) {
        return vm.chip.mmio(vm, host, me, kind, off, w, value);
    }
    match kind {
        DeviceKind::Pl011 | DeviceKind::Uart16550 => uart(me, line, off, w, value, vm, host),
        DeviceKind::Doorbell => doorbell(off, w, value, vm, host),
        DeviceKind::DoorbellGpio if host.doorbells() => gpio(me, line, off, w, value, vm, host),
        // Not in the guest's device tree when the image has no shared memory.
        DeviceKind::DoorbellGpio => Ok(value.is_none().then_some(0)),
        #[cfg(feature = "pc")]
        DeviceKind::Pit | DeviceKind::PortB | DeviceKind::Rtc => {
            match host.pc_device(vm.id, kind, off, w, value) {
                Ok(v) => Ok(value.is_none().then_some(v)),
                Err(_) => Err(Refused),
            }
        }
        DeviceKind::CfiFlash => match host.flash(vm.id, off, w, value) {
            Ok(v) => Ok(value.is_none().then_some(v)),
            Err(_) => Err(Refused),
        },
        // The backend turned the writes that are requests (S5, a reset) into their
        // exits; the rest reads as zero (no wake status, the keyboard controller's
        // buffers empty) and is ignored.
        DeviceKind::KeyboardReset
        | DeviceKind::SleepControl
        | DeviceKind::Pm1aControl
        | DeviceKind::ResetControl => Ok(value.is_none().then_some(0)),
        // An interrupt controller's region, of a chip that does not claim it.
        DeviceKind::GicDist
        | DeviceKind::GicRedist
        | DeviceKind::IoApic
        | DeviceKind::LocalApic => Err(Refused),
        // A machine without them (aarch64) lists no such device.
        #[cfg(not(feature = "pc"))]
        DeviceKind::Pit | DeviceKind::PortB | DeviceKind::Rtc => Err(Refused),
    }
}

/// The VM's console UART, whichever model it is.
fn uart<C: IrqChip>(
    me: VcpuId,
    irq: Option<u32>,
    off: u64,
    w: Width,
    value: Option<u64>,
    vm: &VmCtx<'_, C>,
    host: &impl Host,
) -> Answer {
    let mut con = vm.console.lock();
    let Console { uart, line, .. } = &mut *con;
    let answer = match value {
        Some(v) => {
            let mut tx = |b: u8| line.push(b, &mut |l: &[u8]| host.console_line(vm.id, l));
            policy(uart.write(off, w, v, &mut tx).map(|()| 0)).map(|_| None)
        }
        None => policy(uart.read(off, w)).map(Some),
    };
    con.refill();
    if value.is_some() && host.console_live(vm.id) {
        host.console_partial(vm.id, con.line.pending());
    }
    let level = con.uart.irq_level();
    drop(con);
    drive(Some(me), irq, level, vm, host);
    answer
}

/// The doorbell page: offset 0 takes a 32-bit write of a region number; everything
/// else reads as zero and ignores writes. A number the VM is no peer of is ignored.
fn doorbell<C>(
    off: u64,
    w: Width,
    value: Option<u64>,
    vm: &VmCtx<'_, C>,
    host: &impl Host,
) -> Answer {
    match (off, w, value) {
        (0, Width::Word, Some(v)) => {
            if !host.ring(vm.id, v & 0xffff_ffff) {
                host.contained(vm.id, Contained::BadDoorbell(v));
            }
            Ok(None)
        }
        (_, Width::Double, _) => Err(Refused),
        (_, _, None) => Ok(Some(0)),
        (_, _, Some(_)) => Ok(None),
    }
}

/// The doorbell GPIO (PL061): emulated, then its interrupt line follows the model.
fn gpio<C: IrqChip>(
    me: VcpuId,
    irq: Option<u32>,
    off: u64,
    w: Width,
    value: Option<u64>,
    vm: &VmCtx<'_, C>,
    host: &impl Host,
) -> Answer {
    let mut g = vm.gpio.lock();
    let answer = match value {
        Some(v) => policy(g.write(off, w, v as u32).map(|()| 0)).map(|_| None),
        None => policy(g.read(off, w).map(u64::from)).map(Some),
    };
    vm.gpio.done(&mut g);
    let level = g.irq_level();
    drop(g);
    drive(Some(me), irq, level, vm, host);
    answer
}

/// Drives the level-sensitive line `irq` (of an emulated device; none: nothing to
/// drive) through the VM's interrupt controller. `me` is the vCPU whose access
/// changed it, or `None` for another CPU (console input, a doorbell).
fn drive<C: IrqChip>(
    me: Option<VcpuId>,
    irq: Option<u32>,
    level: bool,
    vm: &VmCtx<'_, C>,
    host: &impl Host,
) {
    if let Some(irq) = irq {
        vm.chip.set_level(vm, host, me, irq, level);
    }
}

/// A doorbell toggles line `k` of VM `vm`'s doorbell GPIO (the caller checked `vm`
/// is a peer of region `k`); its interrupt line follows. While the guest has the
/// line's interrupt masked the toggle cannot move the interrupt line: it is only
/// recorded, without the lock ([`crate::gpio::DoorbellGpio::ring`]).
pub fn gpio_doorbell<C: IrqChip>(k: u32, vm: &VmCtx<'_, C>, host: &impl Host) {
    if vm.gpio.ring(k) {
        return;
    }
    let mut g = vm.gpio.lock();
    let before = g.irq_level();
    g.toggle_input(k);
    vm.gpio.done(&mut g);
    let level = g.irq_level();
    drop(g);
    // A guest that does not use the GPIO (its interrupt masked) costs no work.
    if level != before {
        let irq = vm.line_of(DeviceKind::DoorbellGpio);
        drive(None, irq, level, vm, host);
    }
}

/// Console input for VM `vm`: queued behind what already waits, moved into the
/// UART as its receive FIFO has room (the rest follows as the guest reads), then
/// the interrupt line. Returns how many bytes were accepted (the queue is bounded).
pub fn console_input<C: IrqChip>(bytes: &[u8], vm: &VmCtx<'_, C>, host: &impl Host) -> usize {
    let mut con = vm.console.lock();
    let taken = bytes.iter().take_while(|&&b| con.input.push(b)).count();
    con.refill();
    let (level, kind) = (con.uart.irq_level(), con.uart.model().kind());
    drop(con);
    drive(None, vm.line_of(kind), level, vm, host);
    taken
}
