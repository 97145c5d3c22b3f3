//! CPU and machine power, the same calls on every architecture (PSCI on aarch64;
//! INIT-SIPI-SIPI, the guest's own CPU states and ACPI on x86_64), with PSCI's return
//! codes and state numbers, so that the guests' logic does not fork:
//! - `cpu_on(target, index)`: start vCPU `index` on the CPU with hardware id
//!   `target` (MPIDR, APIC id); it runs the secondary main with `index`;
//! - `cpu_off()`, `affinity_info(target)` (0 on, 1 off, 2 on-pending);
//! - `system_off()`, `system_reset()`, and `set_reset_method(name)` to choose how
//!   the reset is made (aarch64: `psci`; x86_64: `cf9`, `kbd`, `triple`);
//! - `version()` of the interface [`INTERFACE`] names.

pub use crate::arch::power::{
    affinity_info, cpu_off, cpu_on, set_reset_method, system_off, system_reset, version, INTERFACE,
};

/// Name of an `affinity_info` state.
pub fn affinity_name(state: i32) -> &'static str {
    match state {
        0 => "on",
        1 => "off",
        2 => "on-pending",
        _ => "error",
    }
}

/// Name of a PSCI return code.
pub fn error_name(code: i32) -> &'static str {
    match code {
        0 => "success",
        -1 => "not-supported",
        -2 => "invalid-parameters",
        -3 => "denied",
        -4 => "already-on",
        -5 => "on-pending",
        -6 => "internal-failure",
        -7 => "not-present",
        -8 => "disabled",
        -9 => "invalid-address",
        _ => "unknown",
    }
}
