//! A passed-through function's INTx, as ACRN and Xen forward a level-triggered line:
//!
//! - at boot, the pin the function raises (its interrupt pin register) gives its host
//!   GSI (`PciFunctionMap::intx` by the standard swizzle); the VM sees the line on the
//!   same GSI of its emulated I/O APIC (its DSDT's `_PRT`, its interrupt line
//!   register), a forwarded pin there (`IoApic::forward`). The host's I/O APIC routes
//!   the GSI to a device vector of its own, level-triggered and active low, masked
//!   until the guest unmasks its own entry, aimed at the core of the vCPU the guest's
//!   entry names (physical destination; else vCPU 0's).
//! - the device asserts: the vector's stub masks the host's pin before its EOI
//!   (`rtvisor_arch_x86_64::ioapic`), and [`arrived`] raises the VM's line;
//! - the guest's EOI of that level vector (its APIC's EOI broadcast, or its I/O
//!   APIC's EOI register) lowers the VM's line and [`forwarded`] unmasks the host's
//!   pin: a device still asserting interrupts again.
//!
//! A guest that never ends the interrupt, or masks its entry, keeps only its own line
//! masked on the host: a line belongs to one VM (validation refuses a GSI two VMs'
//! functions share, and [`setup`] leaves out INTx of a function whose line another
//! VM has), and its vector reaches only that VM's cores (one that arrives elsewhere
//! is dropped). A function whose INTx is not forwarded to its own VM (another VM's
//! line, behind a bridge, a direct-mode VM's) keeps INTx disabled on the host
//! whatever its guest writes (`rtvisor_vdev::pcicfg`), so it asserts no line at all. A stopping VM's lines are
//! masked and lowered ([`stop`]); after its restart they stay masked until its guest
//! unmasks them again.

use super::error::LineError;
use super::{One, PciVm};
use crate::percpu;
use crate::vms;
use crate::{error, info};
use rtvisor_arch_x86_64::ioapic;
use rtvisor_arch_x86_64::platform;
use rtvisor_config::contract::x86_64::{virtual_apic_id, DEVICE_GSIS};
use rtvisor_core::account::IrqKind;
use rtvisor_core::ids::{CpuId, VcpuId, VmId};
use rtvisor_core::sync::Mutex;
use rtvisor_vdev::ioapic::rte;

/// The most host INTx lines forwarded (a chipset has 4 to 8 PIRQs).
const MAX_LINES: usize = 8;

/// One forwarded line: a host GSI, which its VM sees on the same GSI.
#[derive(Debug, Clone, Copy)]
struct Line {
    gsi: u32,
    vm: VmId,
    /// The host vector it arrives with.
    vector: u8,
    /// The physical APIC the host's entry names.
    apic: u8,
    /// The guest's entry is masked.
    guest_masked: bool,
    /// Raised in the VM and not yet ended by its EOI.
    in_flight: bool,
    /// Its VM is stopped.
    stopped: bool,
}

impl Line {
    /// The host's pin is masked unless the guest can take an interrupt from it now.
    fn masked(&self) -> bool {
        self.guest_masked || self.in_flight || self.stopped
    }
}

static LINES: Mutex<[Option<Line>; MAX_LINES]> = Mutex::new([None; MAX_LINES]);

/// Whether the host's I/O APIC was mapped (`Some(pins)`), at the first function with
/// INTx.
static HOST: Mutex<Option<Result<u32, ioapic::IoApicError>>> = Mutex::new(None);

/// Maps the host's I/O APIC, once (said on the console); whether it is there.
fn host_ioapic() -> bool {
    let mut h = HOST.lock();
    if let Some(r) = *h {
        return r.is_ok();
    }
    let madt = platform::get().and_then(|p| p.madt.as_ref().ok().copied());
    let r = match madt.and_then(|m| m.ioapic) {
        // SAFETY: the BSP at boot (`probe::init`, before any guest runs); the page is
        // the I/O APIC's registers, as the firmware's MADT gives them, which only
        // `ioapic` touches.
        Some((base, gsi_base)) => unsafe { ioapic::init(base, gsi_base) },
        None => Err(ioapic::IoApicError::Absent),
    };
    match r {
        Ok(pins) => info!("x86_64: host I/O APIC with {pins} pins, for PCI INTx"),
        Err(e) => error!("x86_64: no host I/O APIC for PCI INTx ({e:?}); INTx not forwarded"),
    }
    *h = Some(r);
    r.is_ok()
}

/// At boot: routes the INTx of each function of VM `vm` (`st`), where it has one.
pub(super) fn setup(vm: VmId, st: &mut PciVm) {
    let cfg = vms::cfg(vm);
    let PciVm { bus, owned } = st;
    for (index, o) in owned.iter().enumerate() {
        let (Some(o), Some(f)) = (o, bus.function_mut(index)) else {
            continue;
        };
        let Some(pin) = f.int_pin(&mut One(o.bdf, &o.config)) else {
            continue;
        };
        if o.map.bus != 0 {
            // Behind a bridge its line is the bridge's swizzle, which the board does
            // not describe (and the VM's `_PRT` covers bus 0 only): its INTx stays
            // disabled (`Function::set_int_line` is never called).
            info!(
                "vm {}: PCI function {}: INTx not forwarded (not on bus 0): MSI or MSI-X only",
                cfg.name, o.map.name
            );
            continue;
        }
        let dev = usize::from(o.map.dev);
        let gsi = o.map.intx[(dev + usize::from(pin) - 1) % 4];
        match line(vm, gsi) {
            Ok(()) => {
                f.set_int_line(gsi);
                vms::rt(vm).chip.ioapic().lock().forward(gsi);
                info!(
                    "vm {}: PCI function {}: INT{} on GSI {gsi}",
                    cfg.name,
                    o.map.name,
                    char::from(b'A' + pin - 1)
                );
            }
            Err(why) => error!(
                "vm {}: PCI function {}: INTx on GSI {gsi} not forwarded: {why}",
                cfg.name, o.map.name
            ),
        }
    }
}

/// Forwards host GSI `gsi` to VM `vm` (its functions may share it).
fn line(vm: VmId, gsi: u32) -> Result<(), LineError> {
    if gsi >= DEVICE_GSIS {
        return Err(LineError::PastDevicePins);
    }
    let mut lines = LINES.lock();
    if let Some(l) = lines.iter().flatten().find(|l| l.gsi == gsi) {
        return match l.vm == vm {
            true => Ok(()),
            false => Err(LineError::OtherVm),
        };
    }
    let slot = lines
        .iter_mut()
        .find(|l| l.is_none())
        .ok_or(LineError::TooMany)?;
    if !host_ioapic() {
        return Err(LineError::NoHostIoApic);
    }
    let apic = apic_of(vm, 0).ok_or(LineError::NoApic)?;
    // Every check before the vector is taken: the pool only grows, and the route
    // cannot fail past them (a device vector, a mapped chip, its pin), but for a
    // remapping unit that stops answering.
    ioapic::check(gsi).map_err(refused)?;
    let vector = super::msix::take_vector().ok_or(LineError::NoVectors)?;
    host_route(gsi, vector, apic, true)?;
    *slot = Some(Line {
        gsi,
        vm,
        vector,
        apic,
        guest_masked: true,
        in_flight: false,
        stopped: false,
    });
    Ok(())
}

fn refused(e: ioapic::IoApicError) -> LineError {
    match e {
        ioapic::IoApicError::NoSuchPin => LineError::NoSuchPin,
        ioapic::IoApicError::BadVector => LineError::BadVector,
        ioapic::IoApicError::Absent => LineError::NoHostIoApic,
    }
}

/// Routes host `gsi` to device vector `vector` at the physical APIC `apic`, `masked`
/// or not: through the line's interrupt remapping entry where remapping is on
/// (`iommu::remap_line`: the entry names the core, the I/O APIC's entry the
/// handle), else directly.
fn host_route(gsi: u32, vector: u8, apic: u8, masked: bool) -> Result<(), LineError> {
    match super::iommu::remap_line(vector, apic) {
        None => ioapic::route(gsi, vector, apic, masked).map_err(refused),
        Some(Ok(handle)) => ioapic::route_remapped(gsi, vector, handle, masked).map_err(refused),
        Some(Err(_)) => Err(LineError::RemapEntry),
    }
}

/// The physical APIC of the core of VM `vm`'s vCPU `vcpu`.
fn apic_of(vm: VmId, vcpu: usize) -> Option<u8> {
    let cpu = vms::cpu_of(vm, VcpuId::new(vcpu))?;
    u8::try_from(percpu::of(cpu)?.hw_id()).ok()
}

/// Device vector `vector` arrived at CPU `cpu`: if it is a forwarded line's (its host
/// pin is masked by now), the VM's line goes up. Whether it was one.
pub(super) fn arrived(cpu: CpuId, vector: u8) -> bool {
    let hit = {
        let mut lines = LINES.lock();
        let Some(l) = lines.iter_mut().flatten().find(|l| l.vector == vector) else {
            return false;
        };
        if !vms::cfg(l.vm)
            .cpus
            .iter()
            .any(|&c| c as usize == cpu.index())
        {
            // Not from its host pin, which targets a core of its VM: another guest's
            // own (a direct-mode core's self-IPI of that vector). The stub masked the
            // pin: it goes back as it was, and the VM's line is left alone.
            ioapic::set_masked(l.gsi, l.masked());
            return true;
        }
        l.in_flight = !l.stopped;
        (!l.stopped).then_some((l.vm, l.gsi))
    };
    if let Some((vm, gsi)) = hit {
        vms::with_ctx(vm, |ctx| vms::rt(vm).chip.forward_line(ctx, gsi, true));
        crate::stats::irq_on(cpu, IrqKind::Spi);
    }
    true
}

/// The guest of VM `vm` ended forwarded pin `pin` (`ended`: its EOI lowered the line)
/// or wrote its entry, now `entry`: the host's entry follows (its mask, and the
/// core of the vCPU it names).
pub fn forwarded(vm: VmId, pin: u32, entry: u64, ended: bool) {
    let mut lines = LINES.lock();
    let Some(l) = lines
        .iter_mut()
        .flatten()
        .find(|l| l.vm == vm && l.gsi == pin)
    else {
        return;
    };
    if ended {
        l.in_flight = false;
    }
    l.guest_masked = entry & rte::MASKED != 0;
    let dest = (entry >> 56) as u32;
    let vcpu = match entry & rte::LOGICAL {
        0 => (0..vms::cfg(vm).cpus.len()).find(|&i| virtual_apic_id(i) == dest),
        _ => None,
    };
    let apic = apic_of(vm, vcpu.unwrap_or(0)).unwrap_or(l.apic);
    if apic != l.apic {
        match host_route(l.gsi, l.vector, apic, l.masked()) {
            Ok(()) => l.apic = apic,
            Err(e) => {
                // The line stays aimed where it was, and unmasked as the guest's
                // state says (the vector's stub masked it).
                error!(
                    "vm {}: GSI {}: not moved to APIC {apic}: {e}",
                    vms::cfg(vm).name,
                    l.gsi
                );
                ioapic::set_masked(l.gsi, l.masked());
            }
        }
    } else {
        ioapic::set_masked(l.gsi, l.masked());
    }
}

/// VM `vm` stops: its lines are masked on the host and lowered in its I/O APIC.
pub(super) fn stop(vm: VmId) {
    let mut lines = LINES.lock();
    for l in lines.iter_mut().flatten().filter(|l| l.vm == vm) {
        l.stopped = true;
        l.in_flight = false;
        ioapic::set_masked(l.gsi, true);
        // Lowering a line sends nothing.
        vms::rt(vm)
            .chip
            .ioapic()
            .lock()
            .set_line(l.gsi, false, &mut |_| {});
    }
}

/// VM `vm` was loaded for a (re)start: its lines stay masked until its guest
/// unmasks its entries (reset masked).
pub(super) fn start(vm: VmId) {
    let mut lines = LINES.lock();
    for l in lines.iter_mut().flatten().filter(|l| l.vm == vm) {
        l.stopped = false;
        l.in_flight = false;
        l.guest_masked = true;
        ioapic::set_masked(l.gsi, true);
    }
}
