//! Semantic rules, each reporting every violation with its location and a fix.
//!
//! - `board`: the board file on its own (CPUs, RAM, GIC, timer); `board_x86` the
//!   x86_64 parts (APIC IDs, APICs, the hypervisor's load address, UART ports).
//! - `arch`: the keys each architecture has, on boards and scenarios.
//! - `mmio`: the board's MMIO windows (GIC, UARTs, devices) and their INTIDs.
//! - `vms`: names, CPUs, memory, consoles and image files of the scenario's VMs.
//! - `devices`: passed-through devices (ownership, pages, interrupts, DMA).
//! - `pcie`: PCIe host bridges (INTx, ECAM; identity-mapped VMs only); `pci_x86`
//!   the functions of a bridge that x86_64 VMs name one by one.
//! - `shared`: `[[shared-memory]]` regions (names, sizes, host bases, peers).
//! - `colors`: the board's `[llc]` and the VMs' cache colors.
//! - `qemu`: `[[qemu-device]]` entries (transports of the board that a VM owns);
//!   `qemu_x86` the functions of q35's host bridge they name on x86_64.
//! - `strings`: what a guest device tree cannot hold (NULs, bad node names).
//! - `limits`: the machine contract's limits (VM and vCPU counts, name lengths, the
//!   guest-physical space, the emulated GIC's INTIDs).

mod arch;
mod board;
mod board_x86;
pub(crate) mod colors;
mod devices;
mod identity_x86;
pub(crate) mod limits;
mod mmio;
mod pci_x86;
mod pcie;
mod qemu;
mod qemu_x86;
mod shared;
mod strings;
mod vms;

use crate::diag::{Diagnostic, Source};
use crate::load::Inputs;
use crate::schema::BoardFile;

/// The board file's rules (also for `check_board`).
pub(crate) fn board_rules(src: &Source, b: &BoardFile) -> Vec<Diagnostic> {
    let mut out = board::rules(src, b);
    pcie::board(src, b, &mut out);
    colors::board(src, b, &mut out);
    strings::board(src, b, &mut out);
    out
}

/// The board file's rules.
pub(crate) fn board(inputs: &Inputs) -> Vec<Diagnostic> {
    board_rules(&inputs.board_src, &inputs.board)
}

/// The scenario file's rules, against its board.
pub(crate) fn scenario(inputs: &Inputs) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    arch::scenario(inputs, &mut out);
    vms::names(inputs, &mut out);
    vms::cpus(inputs, &mut out);
    vms::memory(inputs, &mut out);
    vms::consoles(inputs, &mut out);
    vms::console_input(inputs, &mut out);
    vms::shell(inputs, &mut out);
    vms::images(inputs, &mut out);
    devices::rules(inputs, &mut out);
    pcie::scenario(inputs, &mut out);
    limits::rules(inputs, &mut out);
    mmio::scenario_rules(inputs, &mut out);
    strings::scenario(inputs, &mut out);
    shared::rules(inputs, &mut out);
    qemu::rules(inputs, &mut out);
    colors::scenario(inputs, &mut out);
    out
}

/// The `[[qemu-device]]` rules alone (what a QEMU run needs checked).
pub(crate) fn qemu_devices(inputs: &Inputs) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    qemu::rules(inputs, &mut out);
    colors::scenario(inputs, &mut out);
    out
}
