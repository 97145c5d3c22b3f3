//! The machine a test VM sees: where its RAM starts, where vCPU 0 enters, and the
//! emulated devices of its architecture's machine contract. [`AARCH64`] is the
//! QEMU-`virt`-shaped one (RAM at 0x4000_0000, the PL011 by MMIO), [`X86_64`] the
//! small PVH machine (RAM from 0, the 16550 at COM1 by port I/O).

use rtvisor_config::contract::{aarch64, x86_64, EmulatedDevice};
use rtvisor_config::guest;

/// The shape of a test VM's machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    /// Guest-physical base of its RAM.
    pub ram_base: u64,
    /// vCPU 0's entry point (in RAM).
    pub entry: u64,
    /// vCPU 0's boot argument (aarch64: the device tree; x86_64: the PVH start info).
    pub boot_arg: u64,
    /// Where the VM's table puts its console UART (aarch64: the PL011's IPA; x86_64:
    /// the COM1 port).
    pub uart: u64,
    /// Its emulated devices, sorted by address then port.
    pub devices: &'static [EmulatedDevice],
}

/// The QEMU-`virt`-shaped machine of every aarch64 VM.
pub const AARCH64: Machine = Machine {
    ram_base: guest::GUEST_RAM_IPA,
    entry: guest::GUEST_RAM_IPA + 0x8_0000,
    boot_arg: guest::GUEST_RAM_IPA,
    uart: guest::VUART_IPA,
    devices: &aarch64::EMULATED,
};

/// The PVH machine of every x86_64 VM.
pub const X86_64: Machine = Machine {
    ram_base: x86_64::GUEST_RAM_GPA,
    entry: x86_64::KERNEL_MIN_GPA,
    boot_arg: x86_64::BOOT_DATA_GPA,
    uart: x86_64::COM1_PORT as u64,
    devices: &x86_64::EMULATED,
};
