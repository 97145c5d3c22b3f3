//! rtvisor: the EL2 binary.
//!
//! Glue between the static configuration generated from the scenario (`config`), the
//! arch-neutral logic (`rtvisor_core`) and the aarch64 backend (`rtvisor_arch_aarch64`).
//! Boot flow: `boot::primary_main` reads the host device tree, checks the tables against
//! it, builds the EL2 and stage-2 tables, starts the other CPUs; then every CPU sits in
//! `run::cpu_loop`, starting its pinned vCPU when asked and handling its exits.
//!
//! Rules: unsafe only at the marked hand-over points to the arch crate; global state is
//! the immutable `CONFIG`, per-CPU structs and lock-protected per-VM state; nothing
//! allocates.
#![no_std]
#![no_main]

mod boot;
mod config;
mod doorbell;
mod irq;
mod log;
mod passthru;
mod percpu;
mod run;
mod shell;
mod stats;
mod vms;
mod watchdog;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    log::fatal(format_args!(
        "panic on cpu {}: {}",
        log::CpuName(percpu::this_cpu()),
        info
    ))
}
