//! Arch-neutral hypervisor logic for rtvisor.
//!
//! An architecture backend decodes each VM exit into a [`exit::VcpuExit`] and hands it to
//! [`handler::handle_exit`] together with access to the vCPU's registers
//! ([`vcpu::VcpuRegs`]) and the services of the hypervisor around it
//! ([`handler::Host`]). Everything a guest can influence is decided here: PSCI, the
//! emulated devices, the trapped system registers, the fault and restart policy.
//!
//! Rules inside this crate: no `unsafe`, no allocation, no architecture-specific code
//! (it builds and is tested on the host), no panic reachable from guest input.
#![no_std]
#![forbid(unsafe_code)]

pub mod console;
pub mod devices;
pub mod exit;
pub mod handler;
pub mod hypercall;
pub mod ids;
pub mod mmio;
pub mod platform;
pub mod psci;
pub mod shell;
pub mod sync;
pub mod sysreg;
pub mod vcpu;
pub mod vm;
