//! Arch-neutral hypervisor logic for rtvisor.
//!
//! An architecture backend decodes each VM exit from its own ABI into a
//! [`exit::VcpuExit`] and hands it to [`handler::handle_exit`] with the exited vCPU
//! ([`seam::ArchVcpu`], through which the answer goes back), the VM's interrupt
//! controller ([`seam::IrqChip`]) and the services of the hypervisor around it
//! ([`handler::Host`]). Everything a guest can influence is decided here: who may
//! start which vCPU, the emulated devices, the fault, stop and restart policy, the
//! acknowledged stop and consoles (the shell, which drives the lifecycle from the
//! console, is the crate rtvisor-shell). [`seam`] lists what a port provides.
//!
//! Rules inside this crate: no `unsafe`, no allocation, no architecture-specific code
//! (it builds and is tested on the host; it never names a register of any
//! architecture), no panic reachable from guest input. [`testkit`] (the `testkit`
//! feature) holds the fakes a backend tests its pieces against.
#![no_std]
#![forbid(unsafe_code)]

// The test kit and the tests run on the host.
#[cfg(any(test, feature = "testkit"))]
extern crate std;

pub mod account;
pub mod console;
pub mod devices;
pub mod exit;
pub mod faultlog;
pub mod gpio;
pub mod handler;
pub mod hypercall;
pub mod ids;
pub mod mmio;
pub mod pio;
pub mod seam;
pub mod sync;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod vm;
