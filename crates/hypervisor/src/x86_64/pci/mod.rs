//! PCI functions given to an x86_64 VM one by one (`devices = ["BRIDGE/BB:DD.F"]`,
//! docs/x86.md "PCI pass-through"), over the emulated configuration space of
//! `rtvisor_vdev::pcicfg`:
//!
//! - `probe.rs`, at boot: each function's configuration page mapped, the function
//!   probed, its BARs checked against the VM's map and mapped 1:1 into the VM's
//!   second stage, except the pages of its MSI-X table, which are trapped;
//! - here, on exits: CONFIG_ADDRESS / CONFIG_DATA (ports 0xCF8-0xCFF, but a byte
//!   at 0xCF9, the reset control register) and the VM's ECAM window
//!   (`contract::x86_64::PCI_ECAM_GPA`, the MCFG's) reach the VM's `Bus`;
//! - `msix.rs`: the MSI-X table and MSI shadows routed to host vectors aimed at the
//!   VM's own cores, and each host vector's interrupt delivered to the guest's APICs
//!   as the guest's message names them (a direct-mode VM's messages go straight to
//!   its cores with the guest's vector instead);
//! - `intx.rs`: each function's INTx line forwarded, level-triggered, from the host's
//!   I/O APIC to the same GSI of the VM's emulated one (virtual-mode VMs);
//! - `reset.rs`: a stopping VM's functions quiesced and reset before its RAM is
//!   reused;
//! - `iommu.rs`: each VM's functions' DMA confined to its own memory by the VT-d
//!   units, when the machine has them.
//!
//! Nothing here runs for a VM without PCI functions beyond one test of its table.

mod error;
mod intx;
mod iommu;
mod msix;
mod probe;
mod reset;

use crate::config::CONFIG_VM_COUNT;
use crate::vms;
use core::sync::atomic::{AtomicBool, Ordering};
use rtvisor_arch_x86_64::devpage::DevicePages;
use rtvisor_config::contract::x86_64 as x86;
use rtvisor_config::tables::PciFunctionMap;
use rtvisor_core::exit::VcpuExit;
use rtvisor_core::ids::VmId;
use rtvisor_vdev::pcicfg::{Bdf, Bus, Effect, HostConfig, MemBar, BARS, MAX_FUNCTIONS};
use rtvisor_vdev::Width;

pub(super) use intx::forwarded;
pub(super) use msix::deliver;
pub(super) use probe::map_bars;

/// At boot, on the BSP: the VT-d units on (no device attached until its VM is
/// loaded), then each VM's functions probed and given: their interrupts are
/// routed knowing whether interrupt remapping is on.
pub(super) fn init() {
    iommu::init();
    probe::init();
}

/// VM `vm` is stopping: its functions quiesced and reset, then their DMA blocked.
pub(super) fn stopping(vm: VmId) {
    reset::stopping(vm);
    iommu::detach(vm);
}

/// CONFIG_ADDRESS; CONFIG_DATA is at +4.
const CONFIG_PORT: u16 = 0xcf8;

/// One function a VM owns, as the hypervisor reaches it on the host.
#[derive(Debug)]
struct Owned {
    /// Its table entry.
    map: &'static PciFunctionMap,
    /// Its BDF.
    bdf: Bdf,
    /// Its 4 KiB of configuration space in the host's ECAM window.
    config: DevicePages,
    /// Its memory BARs (by BAR index).
    bars: [Option<MemBar>; BARS],
    /// A virtio function's device status byte: its page in the hypervisor's map, and
    /// its address (the reset writes 0 there).
    status: Option<(DevicePages, u64)>,
    /// Its interrupts: host vectors, MSI-X shadow.
    irq: msix::Irqs,
}

/// A VM's PCI state: its configuration space and its functions (`owned[i]` is the
/// bus's function `i`).
#[derive(Debug)]
struct PciVm {
    bus: Bus,
    owned: [Option<Owned>; MAX_FUNCTIONS],
}

impl PciVm {
    const fn new() -> Self {
        Self {
            bus: Bus::new(),
            owned: [const { None }; MAX_FUNCTIONS],
        }
    }
}

/// VMs whose functions are being stopped or are stopped (from `reset::stopping`
/// until [`loaded`]): their guests' configuration accesses read all ones and change
/// nothing, so a vCPU that still runs cannot undo the reset, and none waits on the
/// lock the reset holds.
static STOPPED: [AtomicBool; CONFIG_VM_COUNT] = [const { AtomicBool::new(false) }; CONFIG_VM_COUNT];

/// VM `vm` was loaded for a (re)start: its guest configures its functions again.
pub(super) fn loaded(vm: VmId) {
    if let Some(s) = STOPPED.get(vm.index()) {
        s.store(false, Ordering::Release);
    }
    iommu::attach(vm);
    intx::start(vm);
}

/// Each VM's PCI state, indexed like `CONFIG.vms`.
static PCI: [spin::Mutex<PciVm>; CONFIG_VM_COUNT] =
    [const { spin::Mutex::new(PciVm::new()) }; CONFIG_VM_COUNT];

/// One function's configuration space, through its mapped page; any other
/// function reads as absent and drops writes.
struct One<'a>(Bdf, &'a DevicePages);

impl HostConfig for One<'_> {
    fn read(&mut self, bdf: Bdf, reg: u16) -> u32 {
        match bdf == self.0 {
            true => self.1.read(self.1.base() + u64::from(reg), Width::Word) as u32,
            false => u32::MAX,
        }
    }

    fn write(&mut self, bdf: Bdf, reg: u16, value: u32) {
        if bdf == self.0 {
            let at = self.1.base() + u64::from(reg);
            self.1.write(at, Width::Word, u64::from(value));
        }
    }
}

/// The host's configuration space of a VM's functions.
struct Host<'a>(&'a [Option<Owned>]);

impl Host<'_> {
    fn one(&self, bdf: Bdf) -> Option<One<'_>> {
        let o = self.0.iter().flatten().find(|o| o.bdf == bdf)?;
        Some(One(o.bdf, &o.config))
    }
}

impl HostConfig for Host<'_> {
    fn read(&mut self, bdf: Bdf, reg: u16) -> u32 {
        self.one(bdf).map_or(u32::MAX, |mut o| o.read(bdf, reg))
    }

    fn write(&mut self, bdf: Bdf, reg: u16, value: u32) {
        if let Some(mut o) = self.one(bdf) {
            o.write(bdf, reg, value);
        }
    }
}

/// An exit of VM `vm` that its PCI configuration space or a function's MSI-X table
/// answers: `Some(load)` when it did (`load` what a read returns), `None` when the
/// exit is not PCI's (the core handles it).
pub(super) fn access(vm: VmId, e: &VcpuExit) -> Option<Option<u64>> {
    let (port, addr) = match *e {
        VcpuExit::Pio { port, width, .. } => {
            let ours = (CONFIG_PORT..CONFIG_PORT + 8).contains(&port)
                && !(port == x86::RESET_PORT && width == Width::Byte);
            (ours.then_some(port - CONFIG_PORT)?, 0)
        }
        VcpuExit::Mmio { addr, .. } => (0, addr.raw()),
        _ => return None,
    };
    if vms::cfg(vm).pci.is_empty() {
        return None;
    }
    let (width, write, value) = match *e {
        VcpuExit::Pio {
            width,
            write,
            value,
            ..
        }
        | VcpuExit::Mmio {
            width,
            write,
            value,
            ..
        } => (width, write, value),
        _ => return None,
    };
    let ones = (!write).then_some(width.mask());
    // Configuration space is 32 bits wide: a 64-bit access reads as all ones.
    if width == Width::Double && ecam_or_port(e, addr) {
        return Some(ones);
    }
    if STOPPED.get(vm.index())?.load(Ordering::Acquire) {
        return ecam_or_port(e, addr).then_some(ones);
    }
    let mut guard = PCI.get(vm.index())?.lock();
    let PciVm { bus, owned } = &mut *guard;
    let ecam = addr.wrapping_sub(x86::PCI_ECAM_GPA);
    if !ecam_or_port(e, addr) {
        return msix::table_access(vm, owned, addr, width, write.then_some(value));
    }
    let mut host = Host(&owned[..]);
    let effect = match (matches!(e, VcpuExit::Pio { .. }), write) {
        (true, false) => return Some(Some(bus.port_read(&mut host, port, width).into())),
        (false, false) => return Some(Some(bus.ecam_read(&mut host, ecam, width).into())),
        (true, true) => bus.port_write(&mut host, port, width, value as u32),
        (false, true) => bus.ecam_write(&mut host, ecam, width, value as u32),
    };
    if let Effect::Msi { index } = effect {
        msix::route_msi(vm, bus, owned, index);
    }
    Some(None)
}

/// Whether exit `e` (at guest-physical `addr` when it is MMIO) is a configuration
/// access: one of the ports `access` claims, or the VM's ECAM window.
fn ecam_or_port(e: &VcpuExit, addr: u64) -> bool {
    matches!(e, VcpuExit::Pio { .. }) || addr.wrapping_sub(x86::PCI_ECAM_GPA) < x86::PCI_ECAM_SIZE
}
