//! DMA isolation of the functions given to VMs (VT-d, `rtvisor_arch_x86_64::vtd`):
//! where the firmware's DMAR lists remapping units, translation goes on at boot
//! with no device attached, so that no device reaches memory by DMA; each VM's
//! functions are attached to its own stage-2 table when it is loaded ([`attach`],
//! domain = VM id + 1) and detached when it stops ([`detach`]), before its RAM is
//! reused. Without a DMAR a function's DMA reaches all of RAM; the boot log says so
//! for each VM given functions (docs/x86.md, "PCI pass-through", DMA isolation).

use super::PCI;
use crate::vms;
use crate::{error, info};
use rtvisor_arch_x86_64::platform;
use rtvisor_arch_x86_64::vtd::{Vtd, VtdError};
use rtvisor_core::ids::VmId;

/// The units, once on.
static VTD: spin::Mutex<Option<Vtd>> = spin::Mutex::new(None);

/// At boot, on the BSP: turns the units on, or says what is missing.
pub fn init() {
    let Some(p) = platform::get() else { return };
    let dmar = match &p.dmar {
        Ok(d) => d,
        Err(e) => return unconfined(format_args!("no DMA remapping unit (DMAR: {e:?})")),
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
            *VTD.lock() = Some(v);
        }
        Err(e) => {
            error!("vt-d: not on: {e:?}");
            unconfined(format_args!("VT-d is off"));
        }
    }
}

/// Warns, for each VM given PCI functions, that their DMA is not confined and why.
fn unconfined(why: core::fmt::Arguments<'_>) {
    for vm in vms::ids().filter(|&v| !vms::cfg(v).pci.is_empty()) {
        info!(
            "warning: vm {}: {why}: its PCI functions can reach all of RAM by DMA",
            vms::cfg(vm).name
        );
    }
}

/// The BDFs of VM `vm`'s functions.
fn functions(vm: VmId, mut each: impl FnMut((u8, u8, u8))) {
    let Some(st) = PCI.get(vm.index()) else {
        return;
    };
    for o in st.lock().owned.iter().flatten() {
        each((o.bdf.bus, o.bdf.dev, o.bdf.func));
    }
}

/// The domain of VM `vm`'s functions (0 is not used: some units reserve it).
fn did(vm: VmId) -> u16 {
    vm.index() as u16 + 1
}

/// VM `vm` was loaded: its functions translate through its stage-2 table.
pub fn attach(vm: VmId) {
    let mut guard = VTD.lock();
    let (Some(v), Some(s2)) = (guard.as_mut(), vms::rt(vm).stage2.get()) else {
        return;
    };
    let t = s2.dma_tables();
    functions(vm, |bdf| report(vm, bdf, v.attach(bdf, &t, did(vm))));
}

/// VM `vm` is stopping: its functions' DMA is blocked.
pub fn detach(vm: VmId) {
    let mut guard = VTD.lock();
    let Some(v) = guard.as_mut() else { return };
    functions(vm, |bdf| report(vm, bdf, v.detach(bdf, did(vm))));
}

fn report(vm: VmId, (b, d, f): (u8, u8, u8), r: Result<(), VtdError>) {
    if let Err(e) = r {
        error!(
            "vm {}: PCI function {b:02x}:{d:02x}.{f}: vt-d: {e:?}",
            vms::cfg(vm).name
        );
    }
}
