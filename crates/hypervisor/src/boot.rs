//! Boot, in one order for every backend. The backend's boot entry finds the machine
//! (aarch64: the host device tree), sets up its console and records the CPU it runs
//! on, then hands over to [`primary`]:
//!
//! ```text
//! check the image and the scenario against the machine (RAM, CPUs)
//! record every CPU's hardware id
//! map the hypervisor (W^X) and turn its MMU on; bring up the interrupt controller
//! check the payload fingerprint (the images are the ones the tables describe)
//! build each VM's stage-2 tables; clear shared memory
//! this CPU online (its interrupt interface, traps, the shell if it hosts no vCPU)
//! boot every VM (vCPU 0 pending)
//! start the other CPUs: each comes to `secondary`, goes online
//! every CPU: the idle loop (`run::cpu_loop`)
//! ```

use crate::backend::{Arch, Backend, Entry, Found, Machine, Stage2Table};
use crate::config::CONFIG;
use crate::percpu::{self, CPUS, CPU_COUNT, MAX_CPUS};
use crate::{debug, error, info, log, run, vms};
use core::fmt;
use core::sync::atomic::Ordering;
use rtvisor_addr::{HostRange, Hpa};
use rtvisor_config::coloring::{ColorList, Coloring, PAGE};
use rtvisor_core::ids::{CpuId, VmId};
use rtvisor_core::seam::{MemKind, Stage2};
use spin::Once;

/// What the backend found, for every CPU.
static MACHINE: Once<Found> = Once::new();

fn die(args: fmt::Arguments<'_>) -> ! {
    log::fatal(args)
}

/// The boot CPU `me`, after the backend's boot entry: `m` is what it found, `entry`
/// the proof for this CPU's stack.
pub fn primary(m: Found, me: CpuId, image: HostRange, entry: Entry) -> ! {
    rtvisor_core::sync::set_relax(Arch::relax);
    log::set_level(CONFIG.hypervisor.log_level);
    let m = MACHINE.call_once(|| m);
    info!(
        "rtvisor {} starting: {} CPUs, {}, {} VMs, config {:#018x}",
        env!("CARGO_PKG_VERSION"),
        m.cpu_count(),
        m.describe(),
        CONFIG.vms.len(),
        CONFIG.fingerprint
    );
    check_fit(m, image);
    for (i, c) in CPUS.iter().enumerate().take(m.cpu_count()) {
        let hw = m.hw_id(CpuId::new(i)).unwrap_or(0);
        c.hw_id.store(hw, Ordering::Relaxed);
    }
    CPU_COUNT.store(m.cpu_count(), Ordering::Release);
    // Each VM's RAM span, its low span if it has one, then its shared memory, walked by
    // (VM, slot): as a chain of flattened iterators this walk is about 1 KiB of code.
    let (mut vm_at, mut slot) = (0, 0);
    let ram = core::iter::from_fn(move || loop {
        let vm = CONFIG.vms.get(vm_at)?;
        slot += 1;
        let span = match slot - 1 {
            0 => {
                let span = vm.ram.host_span();
                Some((span.base, span.size))
            }
            1 => vm.ram.low_span().map(|l| (l.base, l.size)),
            n => match vm.shared.get(n - 2) {
                Some(s) => Some((s.hpa, s.size)),
                None => {
                    (vm_at, slot) = (vm_at + 1, 0);
                    None
                }
            },
        };
        if span.is_some() {
            return span;
        }
    });
    // Devices the hypervisor resets when their VM stops (virtio-mmio transports).
    let devices = CONFIG.vms.iter().flat_map(|vm| vm.devices.iter());
    let devices = devices.filter(|d| d.virtio_mmio.is_some());
    let range = |(base, size)| HostRange::new(base, size);
    Arch::init_machine(
        m,
        ram.filter_map(range),
        devices.filter_map(|d| range((d.hpa, d.size))),
    );
    check_payload();
    for id in vms::ids() {
        let tables = build_stage2(id).unwrap_or_else(|e| {
            die(format_args!(
                "vm {}: stage-2 tables: {e:?}",
                vms::cfg(id).name
            ))
        });
        check_colored_ram(id, &tables);
        vms::rt(id).stage2.call_once(|| tables);
    }
    check_table_colors();
    zero_shared_memory();
    online(m, me);
    vms::RUNNING.store(CONFIG.vms.len(), Ordering::Release);
    for id in vms::ids() {
        let vm = vms::cfg(id);
        vms::rt(id)
            .life
            .boot(vm.cpus.len(), vm.entry.raw(), vm.dtb_ipa.raw());
        info!(
            "vm {}: cpus {}, ram {:#x}..{:#x} (host {:#x}{}), entry {:#x}",
            vm.name,
            Cpus(vm.cpus),
            vm.ram.ipa.raw(),
            vm.ram.ipa.raw() + vm.ram.size,
            vm.ram.hpa.raw(),
            Colors(vm.ram.colors),
            vm.entry.raw()
        );
    }
    for cpu in (0..m.cpu_count().min(MAX_CPUS)).map(CpuId::new) {
        if cpu != me {
            if let Err(code) = Arch::start_cpu(m, cpu) {
                error!("cpu {cpu}: the firmware did not start it ({})", Code(code));
            }
        }
    }
    run::cpu_loop(me, &CPUS[me.index()], entry)
}

/// The images and device trees this binary carries are the ones its tables were
/// generated for: their payload fingerprint, recomputed over every byte, is the one
/// the build recorded. A damaged image, or one mixed from two builds, stops here,
/// before any VM is built or loaded. Run with the hypervisor's map on: the backend's
/// block loop may load unaligned words, and on hardware tens of MiB read as Device
/// memory (the MMU off) would be slow.
fn check_payload() {
    let payload = rtvisor_config::fingerprint::payload_by(
        // Opaque: the images' addresses come from the table, not folded into the
        // code (`run::load_vm` says why).
        core::hint::black_box(CONFIG.vms),
        Arch::hash_blocks,
    );
    if payload != CONFIG.payload_fingerprint {
        die(format_args!(
            "payload fingerprint {payload:#018x} does not match the tables ({:#018x}): the image is damaged or mixed from two builds; fix: rebuild it with `rtvisor build`",
            CONFIG.payload_fingerprint
        ));
    }
}

/// A secondary CPU `me`, after the backend's entry for it.
pub fn secondary(me: CpuId, entry: Entry) -> ! {
    let (Some(m), Some(cpu)) = (MACHINE.get(), percpu::of(me)) else {
        log::halt()
    };
    online(m, me);
    run::cpu_loop(me, cpu, entry)
}

/// CPU `cpu` goes online: the backend sets it up for guests; it learns which vCPU it
/// hosts; the first CPU that hosts none takes the shell.
fn online(m: &Found, cpu: CpuId) {
    Arch::init_cpu(m, cpu);
    let Some(c) = percpu::of(cpu) else { return };
    c.set_hosts(vms::assignment(cpu));
    crate::shell::claim(cpu, c.hw_id(), m.console_irq());
    debug!("cpu {cpu} online");
}

/// Checks the image (`image`, where it is linked) and the scenario's tables against
/// the machine it booted on.
fn check_fit(m: &Found, image: HostRange) {
    let hv = CONFIG.hypervisor.memory;
    let (start, end) = (image.base().raw(), image.end().raw());
    if start < hv.base.raw() || end > hv.base.raw() + hv.size {
        die(format_args!(
            "hypervisor image {start:#x}..{end:#x} exceeds its memory {:#x}..{:#x}; fix: raise [hypervisor] memory.size in the scenario",
            hv.base.raw(), hv.base.raw() + hv.size
        ));
    }
    for vm in CONFIG.vms {
        for span in core::iter::once(vm.ram.host_span()).chain(vm.ram.low_span()) {
            let ram = HostRange::new(span.base, span.size)
                .unwrap_or_else(|| die(format_args!("vm {}: RAM range wraps", vm.name)));
            if !Machine::ram_contains(m, ram) {
                die(format_args!(
                    "vm {}: RAM {:#x}..{:#x} is not in this machine's memory; fix: give the machine more RAM or change [[vm]] memory in the scenario",
                    vm.name, ram.base().raw(), ram.end().raw()
                ));
            }
        }
        for sh in vm.shared {
            let fits = HostRange::new(sh.hpa, sh.size).is_some_and(|r| Machine::ram_contains(m, r));
            if !fits {
                die(format_args!(
                    "vm {}: shared memory `{}` at {:#x} (+{:#x}) is not in this machine's memory; fix: change [[shared-memory]] base or size",
                    vm.name, sh.name, sh.hpa.raw(), sh.size
                ));
            }
        }
        let count = m.cpu_count();
        if let Some(&c) = vm.cpus.iter().find(|&&c| c as usize >= count.min(MAX_CPUS)) {
            die(format_args!("vm {}: cpu {c} does not exist here ({count} CPUs); fix: start QEMU with more CPUs (-smp) or change [[vm]] cpus", vm.name));
        }
    }
    if MAX_CPUS < m.cpu_count() {
        error!(
            "{} CPUs on this machine; only the first {MAX_CPUS} are used",
            m.cpu_count()
        );
    }
}

/// Stage-2 tables of VM `id`: its RAM, its passed-through devices and its shared
/// memory, nothing else.
fn build_stage2(id: VmId) -> Result<Stage2Table, <Stage2Table as Stage2>::Error> {
    let vm = vms::cfg(id);
    let mut s2 = Arch::new_stage2(id)?;
    // One contiguous run, or (colored) one per stretch of consecutive colors.
    for run in vm.ram.runs() {
        s2.map(run.ipa, run.hpa, run.size, MemKind::Ram)?;
    }
    for d in vm.devices {
        s2.map(d.ipa, d.hpa, d.size, MemKind::Device)?;
    }
    for s in vm.shared {
        let kind = MemKind::Shared {
            writable: s.writable,
        };
        s2.map(s.ipa, s.hpa, s.size, kind)?;
    }
    Ok(s2)
}

/// Clears every shared-memory region once, at boot, before any VM runs (a region is
/// listed by each of its peers; clearing it twice is harmless). Restarts do not clear
/// it: the peers that keep running still use it.
fn zero_shared_memory() {
    for s in CONFIG.vms.iter().flat_map(|vm| vm.shared) {
        // SAFETY: the region is reserved for shared memory by the validated layout,
        // mapped read-write for the hypervisor (`init_machine`), and no guest runs yet.
        unsafe { Arch::zero(s.hpa, s.size) };
    }
}

/// A colored VM's stage-2 tables, as built, map every page of its RAM to a host page
/// of its colors: logged, and fatal if not.
fn check_colored_ram(id: VmId, s2: &Stage2Table) {
    let vm = vms::cfg(id);
    let Some(c) = vm.ram.colors else { return };
    let (mut pages, mut wrong) = (0u64, 0u64);
    for k in 0..vm.ram.size / PAGE {
        let Some(ipa) = vm.ram.ipa.checked_add(k * PAGE) else {
            break;
        };
        match Arch::stage2_translate(s2, ipa) {
            Some(hpa) if c.mask & (1 << Coloring::color_of(c.count, hpa.raw())) != 0 => pages += 1,
            Some(_) => wrong += 1,
            None => return, // the backend cannot say
        }
    }
    if wrong > 0 {
        die(format_args!(
            "vm {}: stage-2 maps {wrong} RAM pages outside colors {}",
            vm.name,
            ColorList(c.mask)
        ));
    }
    info!(
        "vm {}: stage-2 checked: {pages} RAM pages, all of colors {} of {}",
        vm.name,
        ColorList(c.mask),
        c.count
    );
}

/// With `[hypervisor] colors`, every translation-table page handed out so far (the
/// hypervisor's own map and every VM's stage-2) is of its colors: logged, and fatal
/// if not.
fn check_table_colors() {
    let Some(t) = CONFIG.hypervisor.tables else {
        return;
    };
    let (mut used, mut wrong) = (0u64, 0u64);
    Arch::table_pages(&mut |p| {
        used += 1;
        if t.colors.mask & (1 << Coloring::color_of(t.colors.count, p.raw())) == 0 {
            wrong += 1;
        }
    });
    let span = t.span();
    if wrong > 0 {
        die(format_args!(
            "{wrong} of the hypervisor's table pages are outside its colors {}",
            ColorList(t.colors.mask)
        ));
    }
    info!(
        "hypervisor: tables in colors {} of {} (host {:#x}..{:#x}): {used} of {} pages used, all of its colors; image, data and stacks uncolored",
        ColorList(t.colors.mask),
        t.colors.count,
        span.base.raw(),
        span.base.raw() + span.size,
        t.size / PAGE
    );
}

/// `, colors 0-3 of 16` after a colored VM's host address (nothing otherwise).
struct Colors(Option<Coloring>);

/// A CPU list as `[1, 2]`, written without `Debug`'s list builder.
struct Cpus(&'static [u32]);

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, c) in self.0.iter().enumerate() {
            write!(f, "{}{c}", if i > 0 { ", " } else { "" })?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for Colors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(c) = self.0 else { return Ok(()) };
        // The count as u32, like the shell's: the image's integer formatters are the u32
        // and u64 ones, no 8-bit one.
        write!(
            f,
            ", colors {} of {}",
            ColorList(c.mask),
            u32::from(c.count)
        )
    }
}

/// Powers the machine off through the firmware.
pub fn power_off() -> ! {
    let ret = Arch::power_off();
    die(format_args!(
        "the firmware did not power the machine off ({})",
        Code(ret)
    ))
}

/// A firmware call's return code (PSCI's are negative on failure), written as a signed
/// decimal through the unsigned integer formatter: the image then carries one formatter
/// for 64-bit integers, not a signed one as well.
struct Code(i64);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            f.write_str("-")?;
        }
        fmt::Display::fmt(&self.0.unsigned_abs(), f)
    }
}

/// The image the boot CPU runs, for the backend's boot entry to pass on.
pub fn image_range(start: u64, end: u64) -> HostRange {
    HostRange::new(Hpa::new(start), end.saturating_sub(start))
        .unwrap_or_else(|| die(format_args!("image {start:#x}..{end:#x} wraps")))
}
