//! Boot: read the host device tree, check the scenario's tables against it, build the
//! EL2 and stage-2 tables, bring up the GIC and every CPU, and boot the VMs.

use crate::config::CONFIG;
use crate::percpu::{self, CPUS, CPU_COUNT, MAX_CPUS};
use crate::vms;
use crate::{error, info, log, run};
use core::fmt;
use core::sync::atomic::Ordering;
use rtvisor_addr::{HostRange, Hpa};
use rtvisor_arch_aarch64::memory::TablePool;
use rtvisor_arch_aarch64::pt::{Attrs, MapError, PageTable, Stage1, Stage2};
use rtvisor_arch_aarch64::{cpu, firmware, gic, mmu, sysreg, uart};
use rtvisor_core::ids::{CpuId, VmId};
use rtvisor_core::platform::{self, Conduit, Platform};
use spin::Once;

/// Where QEMU puts the device tree when it does not pass it in x0 (ELF images): the
/// start of RAM on the `virt` board. Used only when x0 holds no device tree.
const FALLBACK_DTB: u64 = 0x4000_0000;
/// Largest host device tree accepted.
const DTB_MAX: u32 = 2 << 20;
/// Redistributor frame stride on GICv3 (RD + SGI frames).
const GICR_STRIDE: u64 = 0x2_0000;

/// What secondary CPUs need from the boot CPU.
struct BootInfo {
    platform: Platform,
    el2_root: Hpa,
}

static BOOT: Once<BootInfo> = Once::new();
static POOL: TablePool = TablePool::new();

mod layout {
    //! Addresses the linker script defines.
    unsafe extern "C" {
        static __image_start: u8;
        static __text_end: u8;
        static __rodata_end: u8;
        static __image_end: u8;
        static __boot_stack_end: u8;
        static __stacks_start: u8;
        static __stack_size: u8;
        static __pt_pool_start: u8;
        static __pt_pool_end: u8;
    }
    macro_rules! sym {
        ($($f:ident => $s:ident),*) => { $(
            /// Address of the linker symbol.
            pub fn $f() -> u64 {
                // Only the address of the linker-defined symbol is taken, never its value.
                &raw const $s as u64
            }
        )* };
    }
    sym!(image_start => __image_start, text_end => __text_end, rodata_end => __rodata_end,
        image_end => __image_end, boot_stack_end => __boot_stack_end,
        stacks_start => __stacks_start, stack_size => __stack_size,
        pool_start => __pt_pool_start, pool_end => __pt_pool_end);
}

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

/// The boot CPU's Rust entry (from `_start`).
#[unsafe(no_mangle)]
extern "C" fn rtvisor_primary_main(dtb_ptr: u64) -> ! {
    rtvisor_core::sync::set_relax(rtvisor_arch_aarch64::cpu::relax);
    let Some(dtb) = dtb_at(dtb_ptr).or_else(|| dtb_at(FALLBACK_DTB)) else {
        die(format_args!(
            "no device tree in x0 ({dtb_ptr:#x}) nor at {FALLBACK_DTB:#x}"
        ));
    };
    let plat =
        platform::parse(dtb).unwrap_or_else(|e| die(format_args!("host device tree: {e:?}")));
    if let Some(u) = plat.uart {
        // SAFETY: the device tree names this PL011 as the console; the MMU is off.
        unsafe { uart::set_base(u.base().raw()) };
    }
    log::set_level(CONFIG.hypervisor.log_level);
    info!(
        "rtvisor {} starting: {} CPUs, GICv{}, {} VMs, config {:#018x}",
        env!("CARGO_PKG_VERSION"),
        plat.cpu_count,
        plat.gic.version,
        CONFIG.vms.len(),
        CONFIG.fingerprint
    );
    let payload = rtvisor_config::fingerprint::payload(CONFIG.vms);
    if payload != CONFIG.payload_fingerprint {
        die(format_args!(
            "payload fingerprint {payload:#018x} does not match the tables ({:#018x}): the image is damaged or mixed from two builds; fix: rebuild it with `rtvisor build`",
            CONFIG.payload_fingerprint
        ));
    }
    check_fit(&plat);
    let me = plat
        .cpu_index(sysreg::mpidr())
        .map(CpuId::new)
        .unwrap_or_else(|| die(format_args!("boot CPU not in the device tree")));
    for (i, c) in CPUS.iter().enumerate().take(plat.cpu_count) {
        c.mpidr.store(plat.cpus[i], Ordering::Relaxed);
    }
    CPU_COUNT.store(plat.cpu_count, Ordering::Release);
    cpu::set_this_index(me.index() as u64);
    CPUS[me.index()]
        .stack_end
        .store(layout::boot_stack_end(), Ordering::Relaxed);

    // SAFETY: the pool region is reserved by the linker script for tables only.
    unsafe {
        POOL.init(
            HostRange::new(
                Hpa::new(layout::pool_start()),
                layout::pool_end() - layout::pool_start(),
            )
            .unwrap(),
        )
    };
    let el2_root =
        build_el2_map(&plat).unwrap_or_else(|e| die(format_args!("EL2 page tables: {e:?}")));
    // SAFETY: the map covers this image, its stacks, the table pool and the devices
    // used below, identity-mapped.
    unsafe { mmu::enable_el2(el2_root) };
    crate::irq::GICD_BASE.store(plat.gic.dist.base().raw(), Ordering::Relaxed);
    // SAFETY: the distributor is the one in the device tree, mapped as device memory.
    if !unsafe { gic::init_distributor(plat.gic.dist.base().raw()) } {
        die(format_args!("GIC distributor did not respond"));
    }
    for id in vms::ids() {
        let root = build_stage2(id).unwrap_or_else(|e| {
            die(format_args!(
                "vm {}: stage-2 tables: {e:?}",
                vms::cfg(id).name
            ))
        });
        vms::rt(id).stage2_root.store(root.raw(), Ordering::Release);
    }
    zero_shared_memory();
    let info = BOOT.call_once(|| BootInfo {
        platform: plat,
        el2_root,
    });
    cpu_init(info, me);
    vms::RUNNING.store(CONFIG.vms.len(), Ordering::Release);
    for id in vms::ids() {
        let vm = vms::cfg(id);
        vms::rt(id)
            .life
            .boot(vm.cpus.len(), vm.entry.raw(), vm.dtb_ipa.raw());
        info!(
            "vm {}: cpus {:?}, ram {:#x}..{:#x} (host {:#x}), entry {:#x}",
            vm.name,
            vm.cpus,
            vm.ram.ipa.raw(),
            vm.ram.ipa.raw() + vm.ram.size,
            vm.ram.hpa.raw(),
            vm.entry.raw()
        );
    }
    let conduit = info.platform.psci.unwrap_or(Conduit::Smc);
    for cpu in (0..info.platform.cpu_count).filter(|&c| c != me.index()) {
        let ret = firmware::cpu_on(
            conduit,
            info.platform.cpus[cpu],
            rtvisor_arch_aarch64::secondary_entry(),
            cpu as u64,
        );
        if ret != 0 {
            error!("cpu {cpu}: PSCI CPU_ON failed ({ret})");
        }
    }
    run::cpu_loop(&CPUS[me.index()])
}

/// A secondary CPU's Rust entry (from PSCI CPU_ON), x0 = its index.
#[unsafe(no_mangle)]
extern "C" fn rtvisor_secondary_main(index: u64) -> ! {
    let index = index as usize;
    let Some(info) = BOOT.get() else { log::halt() };
    if index >= MAX_CPUS {
        log::halt();
    }
    CPUS[index].stack_end.store(
        layout::stacks_start() + (index as u64 + 1) * layout::stack_size(),
        Ordering::Relaxed,
    );
    cpu::set_this_index(index as u64);
    // SAFETY: the same identity map the boot CPU runs on.
    unsafe { mmu::enable_el2(info.el2_root) };
    cpu_init(info, CpuId::new(index));
    run::cpu_loop(&CPUS[index])
}

fn cpu_init(info: &BootInfo, cpu: CpuId) {
    let index = cpu.index();
    let g = &info.platform.gic;
    // SAFETY: the redistributor region comes from the device tree and is mapped as
    // device memory; this runs on the CPU `index` names.
    let redist = unsafe {
        gic::init_cpu(
            g.redist.base().raw(),
            g.redist.size(),
            GICR_STRIDE,
            info.platform.cpus[index],
        )
    }
    .unwrap_or_else(|| die(format_args!("cpu {index}: no redistributor answered")));
    CPUS[index].redist.store(redist.0, Ordering::Relaxed);
    CPUS[index].set_hosts(vms::assignment(cpu));
    // SAFETY: at EL2, at boot, before any guest runs on this CPU.
    unsafe { cpu::init_el2(false) };
    crate::shell::claim(cpu, info.platform.cpus[index], info.platform.uart_irq);
    crate::debug!("cpu {index} online");
}

/// Checks the scenario's tables against the machine the image booted on.
fn check_fit(plat: &Platform) {
    let hv = CONFIG.hypervisor.memory;
    let image = (layout::image_start(), layout::image_end());
    if image.0 < hv.base.raw() || image.1 > hv.base.raw() + hv.size {
        die(format_args!(
            "hypervisor image {:#x}..{:#x} exceeds its memory {:#x}..{:#x}; fix: raise [hypervisor] memory.size in the scenario",
            image.0, image.1, hv.base.raw(), hv.base.raw() + hv.size
        ));
    }
    for vm in CONFIG.vms {
        let ram = HostRange::new(vm.ram.hpa, vm.ram.size)
            .unwrap_or_else(|| die(format_args!("vm {}: RAM range wraps", vm.name)));
        if !plat.ram_contains(ram) {
            die(format_args!(
                "vm {}: RAM {:#x}..{:#x} is not in this machine's memory; fix: give the machine more RAM or change [[vm]] memory in the scenario",
                vm.name, ram.base().raw(), ram.end().raw()
            ));
        }
        for sh in vm.shared {
            let fits = HostRange::new(sh.hpa, sh.size).is_some_and(|r| plat.ram_contains(r));
            if !fits {
                die(format_args!(
                    "vm {}: shared memory `{}` at {:#x} (+{:#x}) is not in this machine's memory; fix: change [[shared-memory]] base or size",
                    vm.name, sh.name, sh.hpa.raw(), sh.size
                ));
            }
        }
        if let Some(&c) = vm
            .cpus
            .iter()
            .find(|&&c| c as usize >= plat.cpu_count.min(MAX_CPUS))
        {
            die(format_args!("vm {}: cpu {c} does not exist here ({} CPUs); fix: start QEMU with more CPUs (-smp) or change [[vm]] cpus", vm.name, plat.cpu_count));
        }
    }
    if percpu::MAX_CPUS < plat.cpu_count {
        error!(
            "{} CPUs in the device tree; only the first {} are used",
            plat.cpu_count, MAX_CPUS
        );
    }
}

fn map(pt: &mut PageTable, base: u64, end: u64, attrs: Attrs) -> Result<(), MapError> {
    let (b, e) = (base & !0xfff, (end + 0xfff) & !0xfff);
    if e > b {
        pt.map(&mut &POOL, b, Hpa::new(b), e - b, attrs)?;
    }
    Ok(())
}

/// The hypervisor's own identity map: its image with W^X permissions, every VM's RAM
/// (to load images), and the devices it drives.
fn build_el2_map(plat: &Platform) -> Result<Hpa, MapError> {
    let mut pt = PageTable::new(&mut &POOL)?;
    for vm in CONFIG.vms {
        map(
            &mut pt,
            vm.ram.hpa.raw(),
            vm.ram.hpa.raw() + vm.ram.size,
            Stage1::data(),
        )?;
        for s in vm.shared {
            map(&mut pt, s.hpa.raw(), s.hpa.raw() + s.size, Stage1::data())?;
        }
        // Devices the hypervisor resets when their VM stops (virtio-mmio transports);
        // several share a page, which is mapped once.
        for (i, d) in vm.devices.iter().enumerate() {
            let seen = vm.devices[..i]
                .iter()
                .any(|e| e.virtio_mmio.is_some() && e.hpa == d.hpa);
            if d.virtio_mmio.is_some() && !seen {
                map(&mut pt, d.hpa.raw(), d.hpa.raw() + d.size, Stage1::device())?;
            }
        }
    }
    map(
        &mut pt,
        layout::image_start(),
        layout::text_end(),
        Stage1::text(),
    )?;
    map(
        &mut pt,
        layout::text_end(),
        layout::rodata_end(),
        Stage1::rodata(),
    )?;
    map(
        &mut pt,
        layout::rodata_end(),
        layout::image_end(),
        Stage1::data(),
    )?;
    if let Some(u) = plat.uart {
        map(&mut pt, u.base().raw(), u.end().raw(), Stage1::device())?;
    }
    map(
        &mut pt,
        plat.gic.dist.base().raw(),
        plat.gic.dist.end().raw(),
        Stage1::device(),
    )?;
    map(
        &mut pt,
        plat.gic.redist.base().raw(),
        plat.gic.redist.end().raw(),
        Stage1::device(),
    )?;
    Ok(pt.root())
}

/// Stage-2 tables of VM `id`: its RAM and its passed-through devices, nothing else.
fn build_stage2(id: VmId) -> Result<Hpa, MapError> {
    let vm = vms::cfg(id);
    let mut pt = PageTable::new(&mut &POOL)?;
    pt.map(
        &mut &POOL,
        vm.ram.ipa.raw(),
        vm.ram.hpa,
        vm.ram.size,
        Stage2::ram(),
    )?;
    for d in vm.devices {
        pt.map(&mut &POOL, d.ipa.raw(), d.hpa, d.size, Stage2::device())?;
    }
    for s in vm.shared {
        let attrs = Stage2::shared(s.writable);
        pt.map(&mut &POOL, s.ipa.raw(), s.hpa, s.size, attrs)?;
    }
    sysreg::dsb_ish();
    Ok(pt.root())
}

/// Clears every shared-memory region once, at boot, before any VM runs (a region is
/// listed by each of its peers; clearing it twice is harmless). Restarts do not clear
/// it: the peers that keep running still use it.
fn zero_shared_memory() {
    for s in CONFIG.vms.iter().flat_map(|vm| vm.shared) {
        // SAFETY: the region is reserved for shared memory by the validated layout,
        // mapped read-write at EL2, and no guest runs yet.
        unsafe { rtvisor_arch_aarch64::memory::zero(s.hpa, s.size) };
    }
}

/// Powers the machine off through the firmware.
pub fn power_off() -> ! {
    let conduit = BOOT
        .get()
        .and_then(|b| b.platform.psci)
        .unwrap_or(Conduit::Smc);
    let ret = firmware::system_off(conduit);
    die(format_args!("PSCI SYSTEM_OFF failed ({ret})"))
}
