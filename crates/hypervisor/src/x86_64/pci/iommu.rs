//! DMA isolation of the functions given to VMs (VT-d, `rtvisor_arch_x86_64::vtd`):
//! where the firmware's DMAR lists remapping units, translation goes on at boot
//! with no device attached, so that no device reaches memory by DMA; each VM's
//! functions are attached to its own stage-2 table when it is loaded ([`attach`],
//! domain = VM id + 1) and detached when it stops ([`detach`]), before its RAM is
//! reused. Without a DMAR a function's DMA reaches all of RAM; the boot log says so
//! for each VM given functions (docs/x86.md, "PCI pass-through", DMA isolation).
//!
//! Where every unit offers interrupt remapping, it goes on with them, with
//! compatibility-format interrupts blocked. Each message the hypervisor programs
//! into a function ([`remap_msi`]) and each forwarded INTx line ([`remap_line`]) then
//! goes through an interrupt remapping table entry that only the hypervisor
//! writes: its vector, its core, and (for a function) the requester id that may
//! raise it. A device's write into 0xFEEx_xxxx of its own making is blocked.
//! Entries: a device vector's is `msix::irte_of_vector` (0 to 63), a direct-mode
//! function's a block above them ([`direct_entries`]).
//!
//! Lock order: [`VTD`] is taken last; callers that hold a VM's PCI state may take it,
//! so attach and detach read the VM's functions before they take it.

use super::{MAX_FUNCTIONS, PCI};
use crate::vms;
use crate::{error, info};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use rtvisor_arch_x86_64::irq::DEVICE_COUNT;
use rtvisor_arch_x86_64::platform;
use rtvisor_arch_x86_64::vtd::ir;
use rtvisor_arch_x86_64::vtd::{Vtd, VtdError};
use rtvisor_core::ids::VmId;
use rtvisor_vdev::pcicfg::msi::MsiMsg;

/// The units, once on.
static VTD: spin::Mutex<Option<Vtd>> = spin::Mutex::new(None);

/// At boot, on the BSP: turns the units on, or says what is missing.
pub fn init() {
    let Some(p) = platform::get() else { return };
    let dmar = match &p.dmar {
        Ok(d) => d,
        Err(e) => {
            return unconfined(
                format_args!("no DMA remapping unit (DMAR: {e:?})"),
                ANYWHERE,
            )
        }
    };
    // SAFETY: the BSP at boot, once; the units are the firmware's.
    match unsafe { Vtd::init(dmar) } {
        Ok(v) => {
            for (base, four) in v.units() {
                info!(
                    "vt-d unit {base:#x}: translation on ({} levels): DMA blocked but for \
                     the VMs' own functions into their own memory",
                    if four { 4 } else { 3 }
                );
            }
            match v.remapping() {
                true => info!(
                    "vt-d: interrupt remapping on: devices raise only the interrupts the \
                     hypervisor gave them"
                ),
                false => unconfined(
                    format_args!("the VT-d units offer no interrupt remapping"),
                    "send any interrupt to any core",
                ),
            }
            *VTD.lock() = Some(v);
        }
        Err(e) => {
            error!("vt-d: not on: {e:?}");
            unconfined(format_args!("VT-d is off"), ANYWHERE);
        }
    }
}

/// What a function's DMA reaches without any VT-d.
const ANYWHERE: &str = "reach all of RAM and send any interrupt to any core";

/// Warns, for each VM given PCI functions, that their DMA is not confined, why, and
/// what it can `reach`.
fn unconfined(why: core::fmt::Arguments<'_>, reach: &str) {
    for vm in vms::ids().filter(|&v| !vms::cfg(v).pci.is_empty()) {
        info!(
            "warning: vm {}: {why}: its PCI functions can {reach} by DMA",
            vms::cfg(vm).name
        );
    }
}

/// The BDFs of VM `vm`'s functions (read under its PCI lock, which is let go before
/// [`VTD`] is taken).
fn functions(vm: VmId) -> [Option<(u8, u8, u8)>; MAX_FUNCTIONS] {
    let mut out = [None; MAX_FUNCTIONS];
    if let Some(st) = PCI.get(vm.index()) {
        let st = st.lock();
        for (slot, o) in out.iter_mut().zip(st.owned.iter().flatten()) {
            *slot = Some((o.bdf.bus, o.bdf.dev, o.bdf.func));
        }
    }
    out
}

/// The domain of VM `vm`'s functions (0 is not used: some units reserve it).
fn did(vm: VmId) -> u16 {
    vm.index() as u16 + 1
}

/// VM `vm` was loaded: its functions translate through its stage-2 table.
pub fn attach(vm: VmId) {
    let fns = functions(vm);
    let mut guard = VTD.lock();
    let (Some(v), Some(s2)) = (guard.as_mut(), vms::rt(vm).stage2.get()) else {
        return;
    };
    let t = s2.dma_tables();
    for bdf in fns.into_iter().flatten() {
        report(vm, bdf, v.attach(bdf, &t, did(vm)));
    }
}

/// VM `vm` is stopping: its functions' DMA is blocked.
pub fn detach(vm: VmId) {
    let fns = functions(vm);
    let mut guard = VTD.lock();
    let Some(v) = guard.as_mut() else { return };
    for bdf in fns.into_iter().flatten() {
        report(vm, bdf, v.detach(bdf, did(vm)));
    }
}

/// The next free remapping entry above the device vectors' (direct-mode functions).
static DIRECT_NEXT: AtomicUsize = AtomicUsize::new(DEVICE_COUNT);

/// Whether interrupt remapping is on.
fn remapping() -> bool {
    VTD.lock().as_ref().is_some_and(Vtd::remapping)
}

/// `n` remapping entries for a direct-mode function (at boot): the first one's index;
/// `None` when remapping is on and the table is full (without remapping the index
/// is never used).
pub(super) fn direct_entries(n: usize) -> Option<u16> {
    if !remapping() {
        return Some(0);
    }
    DIRECT_NEXT
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| {
            (g + n <= ir::IRT_ENTRIES).then_some(g + n)
        })
        .ok()
        .map(|g| g as u16)
}

/// The message a function with requester id `sid` is given for the hypervisor's
/// message `host` (fixed, edge, physical: the host's vector and core; `None`: the
/// entry stays masked), using remapping entry `index`: with remapping on, the entry
/// is set to `host` (or cleared) and the function gets the remappable message that
/// names it; without, `host` itself. `None` when the entry cannot be set.
pub(super) fn remap_msi(index: u16, sid: u16, host: Option<MsiMsg>) -> Option<MsiMsg> {
    let mut guard = VTD.lock();
    let Some(v) = guard.as_mut().filter(|v| v.remapping()) else {
        return host;
    };
    let entry = host.map(|m| ir::irte(m.data as u8, (m.address >> 12) as u8, false, Some(sid)));
    match v.set_irte(index, entry) {
        Ok(()) => host.map(|_| {
            let (address, data) = ir::msi(index);
            MsiMsg { address, data }
        }),
        Err(e) => {
            error!("vt-d: interrupt remapping entry {index}: {e:?}: the message stays masked");
            None
        }
    }
}

/// The I/O APIC's missing requester id was reported.
static WARNED: AtomicBool = AtomicBool::new(false);

/// The remapping handle of forwarded INTx line `vector` (a device vector), set to
/// arrive at the physical APIC `apic`, level-triggered, from the host's I/O APIC;
/// `None` without remapping (the line is routed as it is), `Some(Err)` when the
/// entry cannot be set.
pub(super) fn remap_line(vector: u8, apic: u8) -> Option<Result<u16, VtdError>> {
    let mut guard = VTD.lock();
    let v = guard.as_mut().filter(|v| v.remapping())?;
    // The requester id the DMAR gives the I/O APIC; without one the entry checks no
    // requester (the boot log says so).
    let sid = platform::get().and_then(|p| {
        let madt = p.madt.as_ref().ok()?;
        p.dmar.as_ref().ok()?.ioapic_sid(madt.ioapic_id)
    });
    if sid.is_none() && !WARNED.swap(true, Ordering::Relaxed) {
        info!("warning: vt-d: the DMAR names no requester id for the I/O APIC: its remapped lines are not checked by source");
    }
    let index = super::msix::irte_of_vector(vector);
    Some(
        v.set_irte(index, Some(ir::irte(vector, apic, true, sid)))
            .map(|()| index),
    )
}

fn report(vm: VmId, (b, d, f): (u8, u8, u8), r: Result<(), VtdError>) {
    if let Err(e) = r {
        error!(
            "vm {}: PCI function {b:02x}:{d:02x}.{f}: vt-d: {e:?}",
            vms::cfg(vm).name
        );
    }
}
