//! aarch64: an EL1 guest (or bare at EL2) on QEMU `virt`: PSCI, the PL011, the
//! generic timer, GICv3 and the PMU cycle counter, the device tree.
//!
//! Memory: the image is linked at RAM base + 0x8_0000 (link-aarch64.ld), the MMU
//! stays off.

mod boot;
pub mod cpu;
pub mod dtb;
pub mod exception;
pub mod gic;
pub mod guard_ops;
pub mod hypercall;
pub mod irq;
pub mod pmu;
pub mod power;
pub mod psci;
pub mod timer;
pub mod uart;

pub use dtb::BootInfo;

/// The primary's platform setup, before the guest's main: the device tree (console,
/// PSCI conduit, bootargs, CPUs).
pub(crate) fn discover(x0: usize) -> BootInfo {
    BootInfo::discover(x0)
}

/// A secondary's platform setup, before its main: nothing.
pub(crate) fn secondary_init(_index: usize) {}
