//! Shared runtime for rtvisor's bare-metal EL1 test guests (`rtbench`, `probe`).
//!
//! What it provides:
//! - boot code (`boot.rs`): `_start` for the primary vCPU, a PSCI `CPU_ON` entry for
//!   secondaries, per-vCPU stacks, `.bss` zeroing, FP enable, exception vectors;
//! - a line-atomic PL011 console (`println!`), PSCI calls, bootargs parsing, counter
//!   helpers, and a synchronous-exception hook that can skip a faulting instruction;
//! - a minimal GICv3 driver (`gic`), IRQ dispatch with counter stamps taken at vector
//!   entry (`irq`), the PMU cycle counter (`pmu`) and the EL1 virtual timer.
//!
//! Rules inside:
//! - The MMU stays off (the boot contract is "MMU off, DAIF masked"), so every data
//!   access is Device memory: no unaligned accesses (the target is `+strict-align`).
//! - No mutable statics: shared state is atomics, written by the primary before any
//!   secondary is started (Release/Acquire through the PSCI call and the atomics).
//! - MMIO and the probe accesses are inline asm with a single `ldr`/`str` and no
//!   writeback, so a hypervisor can emulate them from the syndrome alone.
//! - Every unsafe block carries a `// SAFETY:` comment.
//!
//! A guest binary provides `fn main(&BootInfo) -> !` and registers it with
//! [`entry!`]; optionally a secondary main with [`set_secondary_main`].
#![no_std]

pub mod args;
mod boot;
pub mod console;
pub mod cpu;
pub mod dtb;
pub mod exception;
pub mod gic;
pub mod guard;
pub mod irq;
pub mod pmu;
pub mod psci;
pub mod timer;

use core::sync::atomic::{AtomicUsize, Ordering};

pub use args::Args;
pub use dtb::BootInfo;

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

/// The secondary main (a `fn(usize) -> !` stored as an address; 0 = none).
static SECONDARY_MAIN: AtomicUsize = AtomicUsize::new(0);

/// Registers the function that secondary vCPUs run after PSCI `CPU_ON`; it receives
/// the vCPU index (the `context_id` passed to `CPU_ON`). Call before starting them.
pub fn set_secondary_main(main: fn(usize) -> !) {
    SECONDARY_MAIN.store(main as usize, Ordering::Release);
}

/// The address to pass as `entry_point` to PSCI `CPU_ON` (with `context_id` = index).
pub fn secondary_entry_point() -> u64 {
    boot::secondary_entry_address() as u64
}

/// Rust entry of the primary vCPU, called by `_start` on its stack with x0 as it
/// arrived (a DTB pointer, or garbage when QEMU loaded an ELF).
extern "C" fn primary_main(x0: usize) -> ! {
    let boot = BootInfo::discover(x0);
    extern "Rust" {
        fn __guest_common_main(boot: &BootInfo) -> !;
    }
    // SAFETY: `__guest_common_main` is defined by the guest binary through `entry!`,
    // which checks that it has exactly this signature.
    unsafe { __guest_common_main(&boot) }
}

/// Rust entry of a secondary vCPU (after PSCI `CPU_ON`), on its own stack.
extern "C" fn secondary_main(index: usize) -> ! {
    let raw = SECONDARY_MAIN.load(Ordering::Acquire);
    if raw == 0 {
        println!("guest: vcpu {} started without a secondary main", index);
        let ret = psci::cpu_off();
        println!("guest: vcpu {} cpu_off -> {}", index, ret);
        cpu::park();
    }
    // SAFETY: SECONDARY_MAIN only ever holds 0 or a `fn(usize) -> !` stored by
    // `set_secondary_main`; function pointers and usize have the same size.
    let main: fn(usize) -> ! = unsafe { core::mem::transmute::<usize, fn(usize) -> !>(raw) };
    main(index)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("guest: panic on vcpu {}: {}", cpu::index(), info);
    psci::system_off()
}
