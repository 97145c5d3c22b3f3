//! rtvisor: the hypervisor binary.
//!
//! Glue between the static configuration generated from the scenario (`config`), the
//! arch-neutral logic (`rtvisor_core`) and one architecture backend (`backend`, the
//! only module that names an architecture; the aarch64 one is in `aarch64/`). Boot
//! flow: the backend's boot entry finds the machine and hands over to
//! `boot::primary`, which checks the tables against it, builds the hypervisor's and
//! every VM's translation tables and starts the other CPUs; then every CPU sits in
//! `run::cpu_loop`, starting its pinned vCPU when asked, and the backend's exception
//! entry hands each exit to `run::handle`.
//!
//! Rules: unsafe only at the marked hand-over points to the arch crate; global state is
//! the immutable `CONFIG`, per-CPU structs and lock-protected per-VM state; nothing
//! allocates.
#![no_std]
#![no_main]

mod account;
mod backend;
mod boot;
mod config;
mod doorbell;
mod faults;
mod flash;
mod host;
mod log;
mod percpu;
mod run;
mod shell;
mod stats;
mod vms;
mod watchdog;

/// A panic names where it happened, not its formatted message: the message's
/// formatting would keep `PanicInfo`'s `Display` and what it reaches in the image for a
/// path that no guest can take (docs/benchmark.md, "The hypervisor's size").
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
    log::fatal(format_args!(
        "panic on cpu {} at {file}:{line}",
        percpu::this_index()
    ))
}
