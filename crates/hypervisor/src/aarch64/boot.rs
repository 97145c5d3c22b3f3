//! The aarch64 boot entries and machine set-up: the host device tree (`x0`, or where
//! QEMU puts it), the EL2 identity map with W^X, the GIC distributor, each CPU's
//! redistributor and EL2 traps, the other CPUs started with the firmware's PSCI
//! CPU_ON. The order is the generic one, `crate::boot`.

use crate::backend::Machine;
use crate::log;
use crate::percpu::{self, CPUS, MAX_CPUS};
use core::fmt;
use core::sync::atomic::Ordering;
use rtvisor_addr::{HostRange, Hpa};
use rtvisor_arch_aarch64::memory::{Pages, TablePool};
use rtvisor_arch_aarch64::platform::{self, Conduit, Platform};
use rtvisor_arch_aarch64::pt::{Attrs, MapError, PageTable, Stage1};
use rtvisor_arch_aarch64::vcpu::EntryToken;
use rtvisor_arch_aarch64::{cache, cpu, firmware, gic, layout, mmu, sysreg, uart};
use rtvisor_core::ids::CpuId;
use spin::Once;

/// Where QEMU puts the device tree when it does not pass it in x0 (ELF images): the
/// start of RAM on the `virt` board. Used only when x0 holds no device tree.
const FALLBACK_DTB: u64 = 0x4000_0000;
/// Largest host device tree accepted.
const DTB_MAX: u32 = 2 << 20;
/// Redistributor frame stride on GICv3 (RD + SGI frames).
const GICR_STRIDE: u64 = 0x2_0000;

/// The translation-table pool: the EL2 tables and every VM's stage-2 tables.
pub(super) static POOL: TablePool = TablePool::new();
/// The root of the EL2 identity map, for the other CPUs; the firmware's PSCI conduit.
static BOOT: Once<(Hpa, Conduit)> = Once::new();

/// The host device tree at `ptr`, if one is there.
fn dtb_at(ptr: u64) -> Option<&'static [u8]> {
    if ptr == 0 || !ptr.is_multiple_of(8) {
        return None;
    }
    // SAFETY: the boot protocol (or QEMU, for the fallback) leaves the device tree in
    // RAM; the MMU is off, so any RAM address is accessible. Only the 8-byte header is
    // read before the magic is checked.
    let header = unsafe { core::slice::from_raw_parts(ptr as *const u8, 8) };
    let word =
        |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if word(0) != 0xd00d_feed || word(4) > DTB_MAX || word(4) < 40 {
        return None;
    }
    // SAFETY: the header names a device tree of `totalsize` bytes at `ptr`, bounded
    // above; it is not modified until boot has copied out what it needs.
    Some(unsafe { core::slice::from_raw_parts(ptr as *const u8, word(4) as usize) })
}

fn die(args: fmt::Arguments<'_>) -> ! {
    log::fatal(args)
}

/// The boot CPU's Rust entry (from `_start`): finds the machine in the host device
/// tree, sets up the console, records this CPU, then the generic boot.
#[unsafe(no_mangle)]
extern "C" fn rtvisor_primary_main(dtb_ptr: u64) -> ! {
    let Some(dtb) = dtb_at(dtb_ptr).or_else(|| dtb_at(FALLBACK_DTB)) else {
        die(format_args!(
            "no device tree in x0 ({dtb_ptr:#x}) nor at {FALLBACK_DTB:#x}"
        ));
    };
    let plat = platform::parse(dtb).unwrap_or_else(|e| die(format_args!("host device tree: {e}")));
    if let Some(u) = plat.uart {
        // SAFETY: the device tree names this PL011 as the console; the MMU is off.
        unsafe { uart::set_base(u.base().raw()) };
    }
    let me = plat
        .cpu_index(sysreg::mpidr())
        .map(CpuId::new)
        .unwrap_or_else(|| die(format_args!("boot CPU not in the device tree")));
    cpu::set_this_index(me.index() as u64);
    let Some(state) = percpu::of(me).map(|c| &c.arch) else {
        die(format_args!(
            "boot CPU {me} is past the {MAX_CPUS} this image drives"
        ))
    };
    state
        .stack_end
        .store(layout::boot_stack_end(), Ordering::Relaxed);
    let pages = match &crate::config::CONFIG.hypervisor.tables {
        Some(colored) => Pages::colored(colored),
        None => Pages::region(
            HostRange::new(
                Hpa::new(layout::pool_start()),
                layout::pool_end() - layout::pool_start(),
            )
            .unwrap_or_else(|| die(format_args!("the table pool's range wraps"))),
        ),
    };
    // SAFETY: the pool region is reserved by the linker script for tables only, or
    // (colored) the pages of the hypervisor's colors, which the validated layout gives
    // to nothing else; the MMU is off until `build_el2_map` maps them read-write.
    unsafe { POOL.init(pages) };
    let image = crate::boot::image_range(layout::image_start(), layout::image_end());
    // SAFETY: `_start` called this on the boot stack, which ends there; nothing above
    // this frame is used again.
    let entry = unsafe { EntryToken::new(layout::boot_stack_end()) };
    crate::boot::primary(plat, me, image, entry)
}

/// A secondary CPU's Rust entry (from PSCI CPU_ON), x0 = its index.
#[unsafe(no_mangle)]
extern "C" fn rtvisor_secondary_main(index: u64) -> ! {
    let index = index as usize;
    let Some(&(el2_root, _)) = BOOT.get() else {
        log::halt()
    };
    let Some(state) = CPUS.get(index).map(|c| &c.arch) else {
        log::halt()
    };
    let stack_end = layout::stacks_start() + (index as u64 + 1) * layout::stack_size();
    state.stack_end.store(stack_end, Ordering::Relaxed);
    cpu::set_this_index(index as u64);
    // SAFETY: the same identity map the boot CPU runs on.
    unsafe { mmu::enable_el2(el2_root) };
    // SAFETY: `rtvisor_secondary_entry` called this on this CPU's stack, which ends
    // there; nothing above this frame is used again.
    let entry = unsafe { EntryToken::new(stack_end) };
    crate::boot::secondary(CpuId::new(index), entry)
}

/// The EL2 identity map (W^X) and the MMU on; the GIC distributor.
pub(super) fn init_machine(
    plat: &Platform,
    ram: impl Iterator<Item = HostRange>,
    devices: impl Iterator<Item = HostRange>,
) {
    let el2_root = build_el2_map(plat, ram, devices)
        .unwrap_or_else(|e| die(format_args!("EL2 page tables: {e:?}")));
    // SAFETY: the map covers this image, its stacks, the table pool and the devices
    // used below, identity-mapped.
    unsafe { mmu::enable_el2(el2_root) };
    BOOT.call_once(|| (el2_root, plat.psci.unwrap_or(Conduit::Smc)));
    super::irq::GICD_BASE.store(plat.gic.dist.base().raw(), Ordering::Relaxed);
    // SAFETY: the distributor is the one in the device tree, mapped as device memory.
    if !unsafe { gic::init_distributor(plat.gic.dist.base().raw()) } {
        die(format_args!("GIC distributor did not respond"));
    }
    check_llc();
}

/// Reports the last-level cache the CPU describes, and says when the scenario's cache
/// colors were counted for another one (the board's `[llc]` is wrong for this CPU:
/// the VMs still run, but their colors do not partition this cache).
fn check_llc() {
    let Some(llc) = cache::read() else { return };
    crate::info!(
        "llc: L{} {} KiB, {} ways, {}-byte lines: {} colors (CLIDR_EL1/CCSIDR_EL1)",
        llc.level,
        llc.size() >> 10,
        llc.ways,
        llc.line,
        llc.colors()
    );
    let colored = crate::config::CONFIG.vms.iter();
    let mut counts = colored.filter_map(|vm| vm.ram.colors.map(|c| u64::from(c.count)));
    if let Some(n) = counts.find(|&n| n != llc.colors()) {
        crate::error!(
            "the scenario's cache colors assume {n} colors, this CPU's LLC has {}: they do not partition it; fix: correct the board's [llc]",
            llc.colors()
        );
    }
}

/// CPU `cpu`'s redistributor and CPU interface, and its EL2 configuration.
pub(super) fn init_cpu(plat: &Platform, cpu: CpuId) {
    let g = &plat.gic;
    let (Some(mpidr), Some(c)) = (plat.hw_id(cpu), percpu::of(cpu)) else {
        return;
    };
    // SAFETY: the redistributor region comes from the device tree and is mapped as
    // device memory; this runs on the CPU `cpu` names.
    let redist =
        unsafe { gic::init_cpu(g.redist.base().raw(), g.redist.size(), GICR_STRIDE, mpidr) }
            .unwrap_or_else(|| die(format_args!("cpu {cpu}: no redistributor answered")));
    c.arch.redist.store(redist.0, Ordering::Relaxed);
    // SAFETY: at EL2, at boot, before any guest runs on this CPU.
    unsafe { cpu::init_el2(false) };
}

/// Starts CPU `cpu` with the firmware's PSCI CPU_ON.
pub(super) fn start_cpu(plat: &Platform, cpu: CpuId) -> Result<(), i64> {
    let mpidr = plat.hw_id(cpu).ok_or(-2)?;
    let entry = rtvisor_arch_aarch64::secondary_entry();
    match firmware::cpu_on(conduit(), mpidr, entry, cpu.index() as u64) {
        0 => Ok(()),
        err => Err(err),
    }
}

/// How to call the firmware's PSCI (SMC until the device tree said otherwise).
pub(super) fn conduit() -> Conduit {
    BOOT.get().map_or(Conduit::Smc, |b| b.1)
}

fn map(pt: &mut PageTable, base: u64, end: u64, attrs: Attrs) -> Result<(), MapError> {
    let (b, e) = (base & !0xfff, (end + 0xfff) & !0xfff);
    if e > b {
        pt.map(&mut &POOL, b, Hpa::new(b), e - b, attrs)?;
    }
    Ok(())
}

/// The hypervisor's own identity map: its image with W^X permissions, its colored
/// table pages if it has them, `ram` (every VM's, to load images, and shared memory),
/// `devices` it resets, and the devices it drives (console, GIC).
fn build_el2_map(
    plat: &Platform,
    ram: impl Iterator<Item = HostRange>,
    devices: impl Iterator<Item = HostRange>,
) -> Result<Hpa, MapError> {
    let mut pt = PageTable::new(&mut &POOL)?;
    for r in ram {
        map(&mut pt, r.base().raw(), r.end().raw(), Stage1::data())?;
    }
    // Several virtio-mmio transports share a page: mapping it again is harmless.
    for d in devices {
        map(&mut pt, d.base().raw(), d.end().raw(), Stage1::device())?;
    }
    let sections = [
        (layout::image_start(), layout::text_end(), Stage1::text()),
        (layout::text_end(), layout::rodata_end(), Stage1::rodata()),
        (
            layout::rodata_end(),
            layout::payload_start(),
            Stage1::data(),
        ),
        (
            layout::payload_start(),
            layout::image_end(),
            Stage1::rodata(),
        ),
    ];
    for (start, end, attrs) in sections {
        map(&mut pt, start, end, attrs)?;
    }
    // The colored table pool (`[hypervisor] colors`), run by run: tables are written
    // through their host addresses.
    let colored = crate::config::CONFIG.hypervisor.tables.iter();
    for (base, size) in colored.flat_map(|t| t.runs()) {
        map(&mut pt, base.raw(), base.raw() + size, Stage1::data())?;
    }
    let driven = [Some(plat.gic.dist), Some(plat.gic.redist), plat.uart];
    for d in driven.into_iter().flatten() {
        map(&mut pt, d.base().raw(), d.end().raw(), Stage1::device())?;
    }
    Ok(pt.root())
}
