//! CPU and machine power on aarch64: PSCI (`psci.rs`) behind the calls every
//! architecture provides.

use super::psci;

/// What the version line names: the firmware interface.
pub const INTERFACE: &str = "psci";

/// PSCI_VERSION.
pub fn version() -> Result<(u16, u16), i32> {
    psci::version()
}

/// CPU_ON of vCPU `index` on the CPU with MPIDR `target`, at the runtime's
/// secondary entry (context_id = index).
pub fn cpu_on(target: u64, index: usize) -> i32 {
    psci::cpu_on(target, secondary_entry_point(), index as u64)
}

/// The address to pass as `entry_point` to PSCI `CPU_ON` (with `context_id` = index).
pub fn secondary_entry_point() -> u64 {
    super::boot::secondary_entry_address() as u64
}

/// CPU_OFF: does not return on success; returns the error otherwise.
pub fn cpu_off() -> i32 {
    psci::cpu_off()
}

/// AFFINITY_INFO(target, level 0): 0 on, 1 off, 2 on-pending, negative error.
pub fn affinity_info(target: u64) -> i32 {
    psci::affinity_info(target, 0)
}

pub use psci::{system_off, system_reset};

/// The reset method: aarch64 has one, PSCI SYSTEM_RESET (`psci`); false for any
/// other name.
pub fn set_reset_method(name: &str) -> bool {
    name == "psci"
}
