//! The way in on x86_64: GRUB's Multiboot2 hand-over reaches `rtvisor_x86_bsp` (the
//! arch crate's long-mode entry calls it on CPU 0's stack), the APs reach
//! `rtvisor_x86_ap`. The boot CPU brings the platform up (memory map, ACPI, its own
//! page tables, the APIC), starts every AP of the MADT (each waits until the generic
//! boot releases it: `Arch::start_cpu`) and hands over to `boot::primary`.

use super::hw;
use crate::backend::Machine;
use crate::percpu::{self, MAX_CPUS};
use crate::{error, info};
use core::fmt;
use core::sync::atomic::Ordering;
use rtvisor_addr::HostRange;
use rtvisor_arch_x86_64::engines::{self, Caps};
use rtvisor_arch_x86_64::irq::{self, FreshStack};
use rtvisor_arch_x86_64::multiboot2::MemKind;
use rtvisor_arch_x86_64::platform::{self, Platform};
use rtvisor_arch_x86_64::{apic, boot, cpu, power, smp};
use rtvisor_core::ids::CpuId;

/// COM1's ISA IRQ (the PC standard, as the console's port is).
pub const COM1_IRQ: u32 = 4;

/// What boot found: the platform and the CPUs that came up, by index (0 the boot
/// CPU, then the MADT's order).
#[derive(Debug)]
pub struct X86Machine {
    p: &'static Platform,
    apic_ids: [u32; MAX_CPUS],
    count: usize,
}

impl Machine for X86Machine {
    fn cpu_count(&self) -> usize {
        self.count
    }
    fn hw_id(&self, cpu: CpuId) -> Option<u64> {
        self.apic_ids[..self.count]
            .get(cpu.index())
            .map(|&a| u64::from(a))
    }
    fn ram_contains(&self, r: HostRange) -> bool {
        self.p
            .regions()
            .any(|m| m.kind == MemKind::Available && m.base <= r.base() && r.end().raw() <= m.end())
    }
    fn console_irq(&self) -> Option<u32> {
        // The shell polls COM1 (see `Arch::wait`); its ISA IRQ names it.
        Some(COM1_IRQ)
    }
    fn describe(&self) -> impl fmt::Display {
        Describe(self.p)
    }
}

/// `AMD, x2APIC`, for the boot line.
struct Describe(&'static Platform);

impl fmt::Display for Describe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.0.x2apic { "x2APIC" } else { "xAPIC" };
        write!(f, "{}, {mode}", self.0.vendor.name())
    }
}

#[unsafe(no_mangle)]
extern "C" fn rtvisor_x86_bsp(magic: u32, info: u32) -> ! {
    let p = platform::bsp_init(magic, u64::from(info));
    apic::mask_legacy();
    irq::init();
    hw::calibrate();
    // The VMs' RTCs start at the host RTC's date (1970-01-01 without one).
    if let Some(t) = rtvisor_arch_x86_64::cmos::host_time() {
        super::pc::set_host_date(t.to_unix());
    }
    rtvisor_arch_x86_64::println!(
        "[rtvisor] x86_64: vendor {}, tsc {} kHz, apic timer {}",
        p.vendor.name(),
        hw::tsc_khz(),
        apic::timer_mode()
    );
    smp::start_aps(p, |index, id, r| {
        if let Err(e) = r {
            rtvisor_arch_x86_64::println!(
                "[rtvisor] cpu {index} (apic id {id}) did not start: {e:?}"
            );
        }
    });
    let mut apic_ids = [0u32; MAX_CPUS];
    let mut count = 0;
    while count < MAX_CPUS {
        let Some(id) = smp::apic_id(count) else { break };
        apic_ids[count] = id;
        count += 1;
    }
    let m = X86Machine { p, apic_ids, count };
    let s = boot::sections();
    let image = crate::boot::image_range(s.text_start, s.image_end);
    // SAFETY: this is CPU 0 on its boot stack; what `primary` leaves on it is dead
    // once it enters a guest (every piece it keeps is static).
    let entry = unsafe { FreshStack::new(0) };
    crate::boot::primary(m, CpuId::new(0), image, entry)
}

#[unsafe(no_mangle)]
extern "C" fn rtvisor_x86_ap(index: u64) -> ! {
    let index = index as usize;
    let Some(p) = platform::get() else {
        crate::log::halt()
    };
    smp::ap_init(index, p);
    apic::mask_legacy();
    smp::ap_ready(index);
    let Some(me) = percpu::of(CpuId::new(index)) else {
        crate::log::halt()
    };
    while !me.arch.released.load(Ordering::Acquire) {
        cpu::pause();
    }
    // SAFETY: this is AP `index` on its own stack; nothing below is used after the
    // hand-over.
    let entry = unsafe { FreshStack::new(index) };
    crate::boot::secondary(CpuId::new(index), entry)
}

/// The hypervisor's map: the arch crate's identity map covers all of RAM (W^X for
/// the image) from `platform::bsp_init` on; every VM's RAM must be inside it.
pub fn init_machine(
    m: &X86Machine,
    ram: impl Iterator<Item = HostRange>,
    devices: impl Iterator<Item = HostRange>,
) {
    for r in ram {
        if r.end().raw() > m.p.mem.top_available {
            crate::log::fatal(format_args!(
                "RAM {:#x}..{:#x} is above the hypervisor's map (top {:#x})",
                r.base().raw(),
                r.end().raw(),
                m.p.mem.top_available
            ));
        }
    }
    if let Some(d) = devices.into_iter().next() {
        error!(
            "device {:#x}: passed-through devices are not supported on x86_64 yet",
            d.base().raw()
        );
    }
    super::pci::init();
}

/// CPU `cpu` goes online: the vendor's extension on for good, its timer.
pub fn init_cpu(m: &X86Machine, cpu: CpuId) {
    let Some(me) = percpu::of(cpu) else { return };
    match engines::enable(m.p.vendor, cpu.index()) {
        Ok(caps) => {
            me.arch.caps.call_once(|| caps);
            match caps {
                Caps::Svm(c) => info!("cpu {cpu} (apic id {}): svm on: {c}", me.hw_id()),
                Caps::Vmx(c) => info!("cpu {cpu} (apic id {}): vmx on: {c}", me.hw_id()),
            }
        }
        Err(e) => error!("cpu {cpu}: no virtualization extension: {e:?}; it runs no vCPU"),
    }
    apic::timer_init(irq::TIMER);
}

/// Powers the machine off (ACPI S5 as the firmware's FADT says, else Bochs' port).
pub fn power_off() -> i64 {
    match platform::get() {
        Some(p) => power::power_off(p.power.ok()),
        None => -1,
    }
}
