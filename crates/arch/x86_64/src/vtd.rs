//! Intel VT-d DMA remapping in legacy mode: every remapping unit the DMAR names
//! (`acpi::dmar`) is given one shared root table and translation turned on at boot
//! with no device present, so that no device reaches memory by DMA; a VM's PCI
//! functions are then attached to its own stage-2 table ([`Vtd::attach`], when the
//! VM is loaded) and detached when it stops ([`Vtd::detach`]). A device's DMA
//! thereby reaches exactly what its VM's vCPUs reach (`tables.rs`); a request
//! outside is blocked by the unit and recorded in its fault registers (which
//! nothing reads yet). Where every unit offers it, interrupt remapping goes on as
//! well (`ir.rs`, [`Vtd::set_irte`]): an interrupt a device raises goes where the
//! hypervisor's entry for it says, and a write into the interrupt range
//! (0xFEEx_xxxx) that names no entry of the device's is blocked (docs/x86.md,
//! "Interrupt remapping").

pub mod ir;
pub mod tables;

#[cfg(target_os = "none")]
mod hw;
#[cfg(target_os = "none")]
pub use hw::{Vtd, VtdError};
