//! At boot (the BSP, before any guest runs): each VM's functions are probed, their
//! BARs checked against the VM's guest-physical map, and the pages the hypervisor
//! itself touches (configuration space, BARs) mapped into its own map; then each
//! VM's second stage gets the BARs 1:1, but for the MSI-X table's pages.

use super::error::{BarClash, GiveError, Region};
use super::{msix, One, Owned, PciVm, PCI};
use crate::vms;
use crate::{error, info};
use rtvisor_addr::{Hpa, Ipa};
use rtvisor_arch_x86_64::devpage::DevicePages;
use rtvisor_config::contract::x86_64 as x86;
use rtvisor_config::tables::{InterruptMode, MemRegion, PciFunctionMap, VmConfig};
use rtvisor_core::ids::VmId;
use rtvisor_core::seam::{MemKind, Stage2};
use rtvisor_vdev::pcicfg::{Bdf, Function, MemBar, ResetMethod, BARS, FUNCTION_SPACE};

/// The smallest BAR given to a guest: a smaller one may share its page with
/// another function's registers.
const PAGE: u64 = 0x1000;

/// Probes every VM's functions. A function that cannot be given is left out with an
/// error naming it and why; its VM runs without it.
pub fn init() {
    for id in vms::ids() {
        let cfg = vms::cfg(id);
        if cfg.pci.is_empty() {
            continue;
        }
        let Some(state) = PCI.get(id.index()) else {
            continue;
        };
        let mut st = state.lock();
        for map in cfg.pci {
            if let Err(why) = give(cfg, map, &mut st) {
                error!(
                    "vm {}: PCI function {}: {why}; not given",
                    cfg.name, map.name
                );
            }
        }
        // INTx is forwarded through a host vector, which on a direct-mode VM's core
        // would land in the guest's own IDT: its functions use MSI or MSI-X only (its
        // DSDT has no `_PRT`).
        if !super::super::direct::is_direct(id) {
            super::intx::setup(id, &mut st);
        }
    }
}

/// Probes `map` and adds it to `st`.
fn give(cfg: &VmConfig, map: &'static PciFunctionMap, st: &mut PciVm) -> Result<(), GiveError> {
    let bdf = Bdf::new(map.bus, map.dev, map.func).ok_or(GiveError::NoSuchFunction)?;
    if st.owned.iter().flatten().any(|o| o.bdf == bdf) {
        return Err(GiveError::Twice);
    }
    let slot = st
        .owned
        .iter()
        .position(Option::is_none)
        .ok_or(GiveError::TooMany)?;
    let page = map
        .ecam
        .raw()
        .checked_add(bdf.ecam_offset())
        .ok_or(GiveError::OutsideEcam)?;
    // SAFETY: the BSP at boot, before any guest runs (`boot::init_machine`); the page
    // is this function's configuration space in its bridge's ECAM window (the board's
    // MCFG), device registers that only this VM's emulated configuration space reads
    // and writes from here on (validation gives a function to one VM only).
    let config =
        unsafe { DevicePages::map(page, FUNCTION_SPACE) }.ok_or(GiveError::ConfigUnmapped)?;
    let function = Function::probe(&mut One(bdf, &config), bdf).map_err(GiveError::Probe)?;
    let mut bars = [None; BARS];
    for bar in function.mem_bars() {
        check_bar(cfg, bar).map_err(GiveError::Bar)?;
        bars[usize::from(bar.index)] = Some(bar);
    }
    // The hypervisor's map gets only the BAR pages it touches: the MSI-X table's and
    // the virtio status byte's.
    let map_pages = |base: u64, len: u64| {
        // SAFETY: as above: registers in a BAR the firmware assigned to this function,
        // which only this VM uses (and the hypervisor, for the MSI-X table and reset).
        unsafe { DevicePages::map(base, len) }
    };
    let direct = cfg.interrupt_mode == InterruptMode::Direct;
    let sid = rtvisor_arch_x86_64::vtd::ir::sid(bdf.bus, bdf.dev, bdf.func);
    let irq = msix::Irqs::of(
        direct,
        sid,
        &function,
        &mut One(bdf, &config),
        &bars,
        map_pages,
    )?;
    let status = match function.reset_method(&mut One(bdf, &config)) {
        ResetMethod::VirtioStatus { bar, offset } => {
            let b = bars
                .get(usize::from(bar))
                .copied()
                .flatten()
                .filter(|b| u64::from(offset) < b.size)
                .ok_or(GiveError::StatusNotInBar)?;
            let at = b.base + u64::from(offset);
            Some((map_pages(at, 1).ok_or(GiveError::StatusUnmapped)?, at))
        }
        _ => None,
    };
    let owned = Owned {
        map,
        bdf,
        config,
        bars,
        status,
        irq,
    };
    if !st.bus.add(function) {
        return Err(GiveError::Twice);
    }
    info!(
        "vm {}: PCI function {} given (bars {}, msi-x {})",
        cfg.name,
        map.name,
        function.mem_bars().count(),
        owned.irq.entries()
    );
    st.owned[slot] = Some(owned);
    Ok(())
}

/// A BAR may be given when it is whole pages below 4 GiB and clear of everything
/// else in the VM's guest-physical map (it is mapped at its host address).
fn check_bar(cfg: &VmConfig, bar: MemBar) -> Result<(), BarClash> {
    let fixed = Region::ALL.map(|r| match r {
        Region::Ram => (cfg.ram.ipa.raw(), cfg.ram.size),
        Region::Ecam => (x86::PCI_ECAM_GPA, x86::PCI_ECAM_SIZE),
        Region::Doorbell => (x86::DOORBELL_GPA, PAGE),
        Region::IoApic => (x86::IOAPIC_GPA, PAGE),
        Region::LocalApic => (x86::LAPIC_GPA, PAGE),
    });
    bar.fits(x86::GPA_LIMIT, &fixed)?;
    let inside = |w: &MemRegion<Ipa>| {
        bar.base >= w.base.raw() && bar.base + bar.size <= w.base.raw().saturating_add(w.size)
    };
    if !cfg.pci_windows.iter().any(inside) {
        return Err(BarClash::OutsideWindows);
    }
    for s in cfg.shared {
        if bar.fits(x86::GPA_LIMIT, &[(s.ipa.raw(), s.size)]).is_err() {
            return Err(BarClash::Shared);
        }
    }
    Ok(())
}

/// Maps VM `vm`'s BARs 1:1 into its second stage `s2`, but the pages of each MSI-X
/// table (their accesses exit to `msix::table_access`).
pub fn map_bars<S: Stage2>(vm: VmId, s2: &mut S) -> Result<(), S::Error> {
    let Some(state) = PCI.get(vm.index()) else {
        return Ok(());
    };
    let st = state.lock();
    for o in st.owned.iter().flatten() {
        for bar in o.bars.iter().flatten() {
            let end = bar.base + bar.size;
            let (t0, t1) = o.irq.trapped().unwrap_or((end, end));
            let mut map = |from: u64, to: u64| {
                if from < to {
                    s2.map(Ipa::new(from), Hpa::new(from), to - from, MemKind::Device)
                } else {
                    Ok(())
                }
            };
            if t0 < end && t1 > bar.base {
                map(bar.base, t0.max(bar.base))?;
                map(t1.min(end), end)?;
            } else {
                map(bar.base, end)?;
            }
        }
    }
    Ok(())
}
