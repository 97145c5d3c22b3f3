//! The aarch64 backend of rtvisor: everything that touches EL2 system registers, the
//! GICv3, the MMU or raw memory.
//!
//! Rules inside this crate:
//! - this is where `unsafe` lives; every block carries a `// SAFETY:` comment and every
//!   `unsafe fn` a `# Safety` section;
//! - it knows nothing of VMs or policy: it decodes exits into `rtvisor_core`'s
//!   `VcpuExit`, runs and resets vCPUs, builds tables, and leaves every decision to
//!   `rtvisor_core`;
//! - [`pt`] and [`frame`] are plain code that also builds and is tested on the host; the
//!   rest exists only when compiling for aarch64.
#![no_std]

pub mod frame;
pub mod pt;

#[cfg(target_arch = "aarch64")]
#[macro_use]
pub mod sysreg;

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
pub mod memory;
#[cfg(target_arch = "aarch64")]
pub mod mmu;
#[cfg(target_arch = "aarch64")]
pub mod spi;
#[cfg(target_arch = "aarch64")]
pub mod timer;
#[cfg(target_arch = "aarch64")]
pub mod uart;
#[cfg(target_arch = "aarch64")]
pub mod vcpu;

#[cfg(target_arch = "aarch64")]
pub use asm::{enter_guest, secondary_entry};
