//! Shared runtime for rtvisor's bare-metal test guests (`rtbench`, `probe`), on
//! aarch64 (an EL1 guest on QEMU `virt`) and x86_64 (a PVH guest on q35).
//!
//! The logic is the same on every architecture; only entry, exceptions, console
//! UART, timer, interrupt controller, IPIs, hypercalls and CPU start differ. Those
//! live in `arch/<arch>/`, selected in one place (the `arch` module below), and the
//! modules here give the guests one API over them:
//! - `args` (bootargs), `console` (whole lines, `println!`), `guard` (accesses that
//!   return a fault instead of crashing), `timer` (counter, one-shot timer, waits),
//!   `irq` (handler, entry stamps, controller, IPIs), `power` (start and stop CPUs,
//!   power off, reset; PSCI's codes), `hypercall` (rtvisor's calls), and
//!   `exception` (the architecture's trap frame and faults, the guest's hook), and
//!   re-exported from the architecture `cpu`, `pmu` and [`BootInfo`];
//! - aarch64: the device tree (`arch::dtb`), PSCI, the PL011, GICv3, the generic
//!   timer and the PMU cycle counter; the MMU stays off, so every data access is
//!   Device memory (the target is `+strict-align`);
//! - x86_64: the PVH entry and `hvm_start_info`, ACPI (MADT, FADT), the 16550 at
//!   COM1, the TSC, the local APIC (x2APIC or xAPIC; TSC-deadline or one-shot),
//!   INIT-SIPI-SIPI, VMCALL/VMMCALL; 4 GiB identity mapped.
//!
//! Rules inside:
//! - No mutable statics: shared state is atomics, written by the primary before any
//!   secondary is started (Release/Acquire through the start call and the atomics).
//! - MMIO, port I/O and the probe accesses are inline asm with a single instruction,
//!   so a hypervisor can emulate them from the exit alone.
//! - Every unsafe block carries a `// SAFETY:` comment.
//!
//! A guest binary provides `fn main(&BootInfo) -> !` and registers it with
//! [`entry!`]; optionally a secondary main with [`set_secondary_main`].
#![no_std]

/// The architecture: the only place it is selected.
#[cfg_attr(target_arch = "aarch64", path = "arch/aarch64/mod.rs")]
#[cfg_attr(target_arch = "x86_64", path = "arch/x86_64/mod.rs")]
pub mod arch;

pub mod args;
pub mod console;
pub mod exception;
pub mod guard;
mod hook;
pub mod hypercall;
pub mod irq;
pub mod power;
pub mod timer;

use hook::Hook;

pub use arch::{cpu, pmu, BootInfo};
pub use args::Args;

/// Maximum number of vCPUs the runtime has stacks for (indexed by vCPU index).
pub const MAX_VCPUS: usize = 8;
/// Stack size of each vCPU.
pub const STACK_SIZE: usize = 16 * 1024;

/// Registers the guest's primary main: `guest_common::entry!(main);` with
/// `fn main(boot: &guest_common::BootInfo) -> !`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[export_name = "__guest_common_main"]
        fn __guest_common_main(boot: &$crate::BootInfo) -> ! {
            let main: fn(&$crate::BootInfo) -> ! = $main;
            main(boot)
        }
    };
}

/// The secondary main.
static SECONDARY_MAIN: Hook<fn(usize) -> !> = Hook::new();

/// Registers the function that secondary vCPUs run after [`power::cpu_on`]; it
/// receives the vCPU index. Call before starting them.
pub fn set_secondary_main(main: fn(usize) -> !) {
    SECONDARY_MAIN.set(main);
}

/// Rust entry of the primary vCPU, called by the boot code on its stack with what
/// the boot protocol passed (aarch64: x0, a DTB pointer or garbage for an ELF;
/// x86_64: ebx, the `hvm_start_info` address).
extern "C" fn primary_main(arg: usize) -> ! {
    let boot = arch::discover(arg);
    extern "Rust" {
        fn __guest_common_main(boot: &BootInfo) -> !;
    }
    // SAFETY: `__guest_common_main` is defined by the guest binary through `entry!`,
    // which checks that it has exactly this signature.
    unsafe { __guest_common_main(&boot) }
}

/// Rust entry of a secondary vCPU (after `cpu_on`), on its own stack.
extern "C" fn secondary_main(index: usize) -> ! {
    arch::secondary_init(index);
    let Some(main) = SECONDARY_MAIN.get() else {
        println!("guest: vcpu {} started without a secondary main", index);
        let ret = power::cpu_off();
        println!("guest: vcpu {} cpu_off -> {}", index, ret);
        cpu::park();
    };
    main(index)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("guest: panic on vcpu {}: {}", cpu::index(), info);
    power::system_off()
}
