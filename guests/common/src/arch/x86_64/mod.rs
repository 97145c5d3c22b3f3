//! x86_64: a PVH guest in long mode (boot.rs), the 16550 at COM1, the TSC and the
//! local APIC (x2APIC or xAPIC; TSC-deadline or one-shot timer), the I/O APIC's
//! redirection entries, INIT-SIPI-SIPI,
//! ACPI for CPUs and power-off, VMCALL/VMMCALL hypercalls.
//!
//! Memory: the image is linked at 1 MiB (link-x86_64.ld); the first 4 GiB are
//! identity mapped; the secondary trampoline uses the page at 0x8000.

pub mod acpi;
pub mod apic;
mod boot;
pub mod cpu;
pub mod exception;
pub mod guard_ops;
pub mod hypercall;
pub mod ioapic;
pub mod irq;
mod multiboot;
pub mod pmu;
pub mod power;
pub mod pvh;
pub mod timer;
pub mod uart;

use core::sync::atomic::{AtomicU32, Ordering};

pub use pvh::BootInfo;

static START_INFO_VERSION: AtomicU32 = AtomicU32::new(0);

/// `hvm_start_info.version` (0 without one).
pub(crate) fn start_info_version() -> u32 {
    START_INFO_VERSION.load(Ordering::Relaxed)
}

/// The primary's platform setup, before the guest's main: the console, the boot
/// information, the TSC frequency, how to power off.
pub(crate) fn discover(ebx: usize) -> BootInfo {
    uart::init();
    let boot = BootInfo::discover(ebx);
    // Interrupts are off until the guest's main enables them: the PIT's request
    // cannot arrive before this.
    if boot.acpi.pcat_compat {
        mask_pic();
    }
    START_INFO_VERSION.store(boot.start_info_version, Ordering::Relaxed);
    power::configure(boot.acpi.power_off);
    pmu::set_pm_timer(boot.acpi.pm_timer);
    timer::init(boot.acpi.pm_timer);
    apic::configure(timer::INTERRUPT as u8);
    power::mark_on(0);
    boot
}

/// Remaps the two 8259 PICs to vectors 0x30..=0x3F and masks every line: the
/// firmware leaves them in virtual-wire mode with the PIT on IRQ 0 at vector 8,
/// which would look like a double fault.
fn mask_pic() {
    use cpu::outb;
    outb(0x20, 0x11); // ICW1: init, ICW4 follows
    outb(0xa0, 0x11);
    outb(0x21, 0x30); // ICW2: vector base
    outb(0xa1, 0x38);
    outb(0x21, 0x04); // ICW3: slave on IRQ 2
    outb(0xa1, 0x02);
    outb(0x21, 0x01); // ICW4: 8086 mode
    outb(0xa1, 0x01);
    outb(0x21, 0xff); // OCW1: all masked
    outb(0xa1, 0xff);
}

/// A secondary's platform setup, before its main.
pub(crate) fn secondary_init(index: usize) {
    power::mark_on(index);
}
