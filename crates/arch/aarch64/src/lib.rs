//! The aarch64 backend of rtvisor: everything that knows the architecture. It
//! provides what `rtvisor_core::seam` asks of a port:
//!
//! | seam | here |
//! |---|---|
//! | the exit decode | [`decode`] (ESR_EL2 into a `VcpuExit`), [`psci`] (the guest's SMCCC calls), [`sysregs`] (the trapped-register table) |
//! | `ArchVcpu` | [`vcpu::Vcpu`]: answers over the saved frame, injection into EL1, entry |
//! | `IrqChip` | [`chip::Gic`]: the vGICv3 model, or the filtered physical GIC in direct mode |
//! | `Stage2` | `stage2::Stage2Table` over [`pt`] |
//! | `Timer` | `timer::HypTimer`: the generic counter and the EL2 physical timer |
//! | `Console` | `uart::Pl011Console` |
//!
//! and the pieces of the machine itself: EL2 entry and vectors, the host device tree
//! ([`platform`]), the physical GICv3, the firmware's PSCI, caches and memory.
//!
//! Rules inside this crate:
//! - this is where `unsafe` lives; every block carries a `// SAFETY:` comment and every
//!   `unsafe fn` a `# Safety` section;
//! - it knows nothing of VM policy: it decodes, encodes, runs and resets vCPUs, builds
//!   tables, and leaves every decision to `rtvisor_core`;
//! - [`pt`], [`frame`], [`platform`], [`psci`], [`sysregs`], [`decode`], [`vcpu`],
//!   [`debug`], [`gtimer`] and [`chip`] are plain code that also builds and is tested on
//!   the host; the rest exists
//!   only when compiling for aarch64.
#![no_std]

#[cfg(test)]
extern crate std;

// First: the register-access macros the modules below use.
#[cfg(target_arch = "aarch64")]
#[macro_use]
pub mod sysreg;

pub mod cache;
pub mod chip;
pub mod debug;
pub mod decode;
#[cfg(test)]
mod exit_walk;
pub mod frame;
pub mod gtimer;
pub mod lr;
pub use rtvisor_arch_aarch64_platform as platform;
pub mod psci;
pub mod pt;
pub mod sysregs;
#[cfg(test)]
mod testing;
pub mod vcpu;

#[cfg(target_arch = "aarch64")]
mod asm;
#[cfg(target_arch = "aarch64")]
pub mod cpu;
#[cfg(target_arch = "aarch64")]
pub mod exit;
#[cfg(target_arch = "aarch64")]
pub mod fast;
#[cfg(target_arch = "aarch64")]
pub mod firmware;
#[cfg(target_arch = "aarch64")]
pub mod gic;
#[cfg(target_arch = "aarch64")]
pub mod ich;
#[cfg(target_arch = "aarch64")]
pub mod layout;
#[cfg(target_arch = "aarch64")]
pub mod memhash;
#[cfg(target_arch = "aarch64")]
pub mod memory;
#[cfg(target_arch = "aarch64")]
pub mod mmu;
#[cfg(target_arch = "aarch64")]
pub mod spi;
#[cfg(target_arch = "aarch64")]
pub mod stage2;
#[cfg(target_arch = "aarch64")]
pub mod timer;
#[cfg(target_arch = "aarch64")]
pub mod uart;

#[cfg(target_arch = "aarch64")]
pub use asm::{enter_guest, secondary_entry};
