//! A passed-through function's interrupts. Each function gets host vectors at boot
//! (one per MSI-X entry shadowed, at most [`ENTRIES`]; one for MSI), from the
//! devices' range of the hypervisor's IDT (`irq::DEVICE_BASE`). The guest's
//! messages stay in shadows (`pcicfg::msi`); each change routes the message again:
//! the device gets a fixed, edge message to the physical APIC of the core that runs
//! the vCPU the guest named (else the VM's first vCPU's core) with the host vector,
//! and [`ROUTES`] remembers the guest's vector and destination for that vector. When
//! it arrives, [`deliver`] hands the guest's message to the VM's emulated APICs,
//! which deliver it as the guest's own message says (fixed or lowest priority,
//! physical or logical). A message the guest cannot send (SMI, NMI, INIT, a vector
//! below 16, not to the APICs) leaves the entry masked on the device.
//!
//! A direct-mode VM's functions get no host vectors: each message is rewritten by
//! `msi::route_direct` (the guest's vector, fixed, physical, edge, to the core of the
//! vCPU the guest named, which must be one of its VM's), so the device's interrupt
//! lands in the guest's own IDT with no hypervisor code on the way, as its cores'
//! other interrupts do. A vector the device sends to such a core while the hypervisor
//! holds it (the vCPU parked) is ended there: dropped by `irq`'s stray gate, or, one of
//! the devices' range, by [`deliver`] (whose route names another VM or none); the
//! kick's and the timer's vectors only make the core look again (a spurious wake-up).
//! The spurious vector 0xFF, whose gate does not end an interrupt, is refused.

use super::super::direct;
use super::error::GiveError;
use super::{One, Owned, MAX_FUNCTIONS};
use crate::percpu;
use crate::vms;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use rtvisor_arch_x86_64::devpage::DevicePages;
use rtvisor_arch_x86_64::irq::{self, DEVICE_BASE, DEVICE_COUNT};
use rtvisor_config::contract::x86_64::virtual_apic_id;
use rtvisor_config::contract::MAX_VCPUS;
use rtvisor_core::account::IrqKind;
use rtvisor_core::ids::{CpuId, VcpuId, VmId};
use rtvisor_vdev::pcicfg::msi::{self, MsiMsg, MsixEntry, MsixTable, MSIX_ENTRY};
use rtvisor_vdev::pcicfg::{Bus, CapKind, Function, HostConfig, MemBar, MsixLayout, BARS};
use rtvisor_vdev::Width;

/// MSI-X entries shadowed (and host vectors given) per function: as many as the
/// guest sees.
pub(super) const ENTRIES: usize = msi::MSIX_GUEST_ENTRIES;

/// What each device vector delivers (`encode`), 0 when nothing.
static ROUTES: [AtomicU64; DEVICE_COUNT] = [const { AtomicU64::new(0) }; DEVICE_COUNT];
/// Device vectors given out so far (at boot).
static GIVEN: AtomicUsize = AtomicUsize::new(0);

/// A route: valid, VM, the guest's message.
const VALID: u64 = 1 << 63;

fn encode(vm: VmId, m: &msi::ApicMsg) -> u64 {
    VALID
        | (vm.index() as u64 & 0xff) << 32
        | u64::from(m.lowest) << 17
        | u64::from(m.logical) << 16
        | u64::from(m.dest) << 8
        | u64::from(m.vector)
}

/// A function's MSI-X table, where it is and the guest's view of it.
#[derive(Debug)]
struct Table {
    /// Host (and guest) address of the table.
    at: u64,
    /// The trapped pages, `[start, end)`: those holding the table.
    trap: (u64, u64),
    /// The BAR's pages in the hypervisor's map.
    pages: DevicePages,
    /// Entries on the device.
    entries: u16,
    /// The guest's entries.
    shadow: MsixTable<ENTRIES>,
}

/// A function's interrupts.
#[derive(Debug)]
pub(super) struct Irqs {
    /// Its requester id (what the remapping unit checks an interrupt's source by).
    sid: u16,
    /// The first of its interrupt remapping table entries (`super::iommu`): a
    /// virtual-mode function's are its host vectors' ([`irte_of_vector`]; MSI shares
    /// entry 0's vector, and so its entry), a direct-mode function's a block above
    /// them, one per MSI-X entry it has and one more for MSI ([`Irqs::msi_slot`]).
    irte: u16,
    /// First host vector.
    first: u8,
    /// Host vectors given (0: none; a direct-mode VM's functions have none).
    count: u8,
    /// Its VM is direct-mode: messages go straight to its cores (`route_direct`).
    direct: bool,
    /// Its MSI-X table, if it has one.
    table: Option<Table>,
}

impl Irqs {
    /// The host vectors and MSI-X table of `f` (its BARs mapped as `bars`), with every
    /// MSI-X entry masked on the device. A function of a `direct`-mode VM takes no host
    /// vector.
    pub(super) fn of(
        direct: bool,
        sid: u16,
        f: &Function,
        host: &mut dyn HostConfig,
        bars: &[Option<MemBar>; BARS],
        map: impl Fn(u64, u64) -> Option<DevicePages>,
    ) -> Result<Self, GiveError> {
        let table = match f.msix_layout(host) {
            Some(l) => Some(table(l, bars, map)?),
            None => None,
        };
        let msi = f
            .caps()
            .iter()
            .any(|c| matches!(c.kind, CapKind::Msi { .. }));
        // MSI and MSI-X are never on together: MSI uses the first vector.
        let want = match direct {
            true => 0,
            false => table
                .as_ref()
                .map_or(0, |t| t.shadow.len())
                .max(usize::from(msi)),
        };
        let first = GIVEN
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| {
                (g + want <= DEVICE_COUNT).then_some(g + want)
            })
            .map_err(|_| GiveError::NoVectors)?;
        let slots = table.as_ref().map_or(0, |t| t.shadow.len()) + usize::from(msi);
        let irte = match (direct, slots) {
            (false, _) => irte_of_vector(DEVICE_BASE + first as u8),
            (true, 0) => 0,
            (true, n) => super::iommu::direct_entries(n).ok_or(GiveError::NoRemapEntries)?,
        };
        let irqs = Self {
            sid,
            irte,
            first: DEVICE_BASE + first as u8,
            count: want as u8,
            direct,
            table,
        };
        if let Some(t) = &irqs.table {
            (0..usize::from(t.entries)).for_each(|i| mask(t, i));
        }
        Ok(irqs)
    }

    /// The remapping entry slot of its MSI message: entry 0's in virtual mode (the
    /// same host vector), its own after the MSI-X entries' in direct mode.
    fn msi_slot(&self) -> usize {
        match self.direct {
            true => self.entries(),
            false => 0,
        }
    }

    /// The trapped pages of its MSI-X table.
    pub(super) fn trapped(&self) -> Option<(u64, u64)> {
        self.table.as_ref().map(|t| t.trap)
    }

    /// How many MSI-X entries the guest can use.
    pub(super) fn entries(&self) -> usize {
        self.table.as_ref().map_or(0, |t| t.shadow.len())
    }

    /// Stops them: every MSI-X entry masked on the device and in the shadow, no route.
    pub(super) fn reset(&mut self) {
        if let Some(t) = &mut self.table {
            t.shadow.reset();
            (0..usize::from(t.entries)).for_each(|i| mask(t, i));
        }
        self.vectors().for_each(|v| unroute(v));
    }

    fn vectors(&self) -> impl Iterator<Item = u8> {
        let first = self.first;
        (0..self.count).map(move |i| first + i)
    }
}

/// Where `l`'s table is, if a memory BAR holds it; its pages mapped with `map`.
fn table(
    l: MsixLayout,
    bars: &[Option<MemBar>; BARS],
    map: impl Fn(u64, u64) -> Option<DevicePages>,
) -> Result<Table, GiveError> {
    let bar = bars
        .get(usize::from(l.table_bar))
        .and_then(Option::as_ref)
        .ok_or(GiveError::MsixNotInBar)?;
    let at = bar.base + u64::from(l.table_offset);
    let end = at + l.table_bytes();
    if end > bar.base + bar.size {
        return Err(GiveError::MsixPastBar);
    }
    let page = 0x1000;
    let trap = (at & !(page - 1), end.next_multiple_of(page));
    let pages = map(trap.0, trap.1 - trap.0).ok_or(GiveError::MsixUnmapped)?;
    Ok(Table {
        at,
        trap,
        pages,
        entries: l.entries,
        shadow: MsixTable::new(usize::from(l.entries)),
    })
}

/// Masks entry `i` on the device.
fn mask(t: &Table, i: usize) {
    let e = t.at + i as u64 * MSIX_ENTRY;
    t.pages
        .write(e + 12, Width::Word, u64::from(msi::MSIX_MASKED));
}

/// Takes one device vector (at boot, for an INTx line); `None` when none are left.
pub(super) fn take_vector() -> Option<u8> {
    let g = GIVEN
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| {
            (g < DEVICE_COUNT).then_some(g + 1)
        })
        .ok()?;
    Some(DEVICE_BASE + g as u8)
}

fn unroute(v: u8) {
    if let Some(r) = ROUTES.get(usize::from(v - DEVICE_BASE)) {
        r.store(0, Ordering::Release);
    }
}

/// Routes the guest's message `guest` of VM `vm` to host vector `v` (`msi::route`:
/// aimed at the core of the vCPU it names, else of vCPU 0): the host's message for
/// the device, or `None` (the vector stays unused).
fn route(vm: VmId, v: u8, guest: Option<MsiMsg>) -> Option<MsiMsg> {
    unroute(v);
    let slot = ROUTES.get(usize::from(v - DEVICE_BASE))?;
    msi::route(
        guest?,
        |m| {
            let cfg = vms::cfg(vm);
            let named = (0..cfg.cpus.len())
                .find(|&i| !m.logical && virtual_apic_id(i) == u32::from(m.dest));
            let cpu = vms::cpu_of(vm, VcpuId::new(named.unwrap_or(0)))?;
            let apic = u8::try_from(percpu::of(cpu)?.hw_id()).ok()?;
            slot.store(encode(vm, m), Ordering::Release);
            Some(apic)
        },
        v,
    )
}

/// Routes direct-mode VM `vm`'s message `guest` (`msi::route_direct`): to the core of
/// the vCPU it names, by the APIC ids its guest reads (`vms::guest_cpu_id`) and its
/// cores have; `None` when it is refused or names none of them.
fn route_direct(vm: VmId, guest: Option<MsiMsg>) -> Option<MsiMsg> {
    let mut cores = [(u32::MAX, u32::MAX); MAX_VCPUS];
    let n = vms::cfg(vm).cpus.len().min(MAX_VCPUS);
    for (v, c) in cores.iter_mut().enumerate().take(n) {
        let vcpu = VcpuId::new(v);
        if let Some(apic) = direct::core_apic_id(vm, vcpu) {
            *c = (vms::guest_cpu_id(vm, vcpu) as u32, apic);
        }
    }
    msi::route_direct(guest?, &cores[..n]).ok()
}

/// The host's message for the guest's `guest` on vector slot `i` of `irq` (VM `vm`),
/// as the device sends it: through its interrupt remapping table entry `slot` where
/// remapping is on (`iommu::remap_msi`).
fn host_message(
    vm: VmId,
    irq: &Irqs,
    i: usize,
    slot: usize,
    guest: Option<MsiMsg>,
) -> Option<MsiMsg> {
    let host = match (irq.direct, i < usize::from(irq.count)) {
        (true, _) if i < ENTRIES => route_direct(vm, guest),
        (false, true) => route(vm, irq.first + i as u8, guest),
        _ => return None,
    };
    super::iommu::remap_msi(irq.irte + slot as u16, irq.sid, host)
}

/// The interrupt remapping table entry of device vector `v` (a virtual-mode
/// function's message or a forwarded INTx line).
pub(super) fn irte_of_vector(v: u8) -> u16 {
    u16::from(v - DEVICE_BASE)
}

/// An access of VM `vm` at `addr` in the trapped pages of one of its functions' MSI-X
/// tables: the table's entries are the shadow's; anything else in those pages (the
/// pending bits) is the device's. `None` when `addr` is in none.
pub(super) fn table_access(
    vm: VmId,
    owned: &mut [Option<Owned>; MAX_FUNCTIONS],
    addr: u64,
    w: Width,
    value: Option<u64>,
) -> Option<Option<u64>> {
    let irq = owned
        .iter_mut()
        .flatten()
        .map(|o| &mut o.irq)
        .find(|i| i.trapped().is_some_and(|(a, b)| (a..b).contains(&addr)))?;
    let t = irq.table.as_mut()?;
    let in_table = addr >= t.at && addr < t.at + u64::from(t.entries) * MSIX_ENTRY;
    match (in_table, value) {
        (true, None) => Some(Some(t.shadow.read(addr - t.at, w))),
        (true, Some(v)) => {
            if let Some(i) = t.shadow.write(addr - t.at, w, v) {
                program(vm, irq, i);
            }
            Some(None)
        }
        (false, None) => Some(Some(t.pages.read(addr, w))),
        (false, Some(v)) => {
            t.pages.write(addr, w, v);
            Some(None)
        }
    }
}

/// Writes MSI-X entry `i` to the device from the guest's shadow: masked while it
/// changes, then the routed message, unmasked only when the guest's is.
fn program(vm: VmId, irq: &mut Irqs, i: usize) {
    let Some(t) = irq.table.as_ref() else { return };
    // Masked on the device before the route changes: a message in flight arrives
    // under the old route, or not at all.
    mask(t, i);
    let guest = t.shadow.entry(i).and_then(MsixEntry::message);
    let host = host_message(vm, irq, i, i, guest);
    let Some(t) = irq.table.as_ref() else { return };
    let words = MsixEntry::host_words(host);
    let e = t.at + i as u64 * MSIX_ENTRY;
    for (k, word) in words.iter().enumerate().take(3) {
        t.pages
            .write(e + 4 * k as u64, Width::Word, u64::from(*word));
    }
    t.pages.write(e + 12, Width::Word, u64::from(words[3]));
}

/// The guest changed the MSI capability of function `index`: route its message
/// again and program the device.
pub(super) fn route_msi(
    vm: VmId,
    bus: &mut Bus,
    owned: &mut [Option<Owned>; MAX_FUNCTIONS],
    index: usize,
) {
    let (Some(f), Some(Some(o))) = (bus.function_mut(index), owned.get(index)) else {
        return;
    };
    // MSI off leaves the routes alone: MSI-X's entry 0 may use the same vector.
    let host = match f.msi() {
        Some(m) => host_message(vm, &o.irq, 0, o.irq.msi_slot(), Some(m)),
        None => None,
    };
    f.set_host_msi(&mut One(o.bdf, &o.config), host);
}

/// Delivers the device vectors pending on CPU `cpu` to their VMs; returns whether
/// there were any.
pub fn deliver(cpu: CpuId) -> bool {
    let mut bits = irq::take_devices(cpu.index());
    let any = bits != 0;
    while bits != 0 {
        let b = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        if super::intx::arrived(cpu, DEVICE_BASE + b as u8) {
            continue;
        }
        let r = ROUTES.get(b).map_or(0, |r| r.load(Ordering::Acquire));
        // A vector that arrives at a core that is not its VM's (one a direct-mode
        // guest left pending at its core) is dropped; one that arrives at another
        // of its VM's cores (routed again meanwhile) is delivered.
        let vm = VmId::new(((r >> 32) & 0xff) as usize);
        if r & VALID == 0 || vm.index() >= crate::config::CONFIG_VM_COUNT {
            continue;
        }
        if !vms::cfg(vm).cpus.iter().any(|&c| c as usize == cpu.index()) {
            continue;
        }
        let (vector, dest) = (r as u8, (r >> 8) as u8);
        let (logical, lowest) = (r & (1 << 16) != 0, r & (1 << 17) != 0);
        vms::with_ctx(vm, |ctx| {
            vms::rt(vm).chip.msi(ctx, vector, dest, logical, lowest)
        });
        crate::stats::irq_on(cpu, IrqKind::Spi);
    }
    any
}
