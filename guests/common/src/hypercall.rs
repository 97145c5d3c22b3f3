//! rtvisor's hypercalls (docs/interfaces-draft.md): the same function ids on every
//! architecture, made through the architecture's instruction (SMCCC `hvc`/`smc` on
//! aarch64, VMCALL/VMMCALL on x86_64), and the null call the benchmark times.

use crate::arch::hypercall::call;
pub use crate::arch::hypercall::{null, null_call, timed_row};

/// DOORBELL_RING: raise shared-memory region `index`'s doorbell in its other peers.
/// Returns 0 or an error code.
pub fn rtvisor_ring(index: u64) -> i64 {
    call(0xc600_0001, index, 0, 0) as i64
}

/// WATCHDOG_ARM (`ms` = 0 disarms).
pub fn rtvisor_watchdog_arm(ms: u64) -> i64 {
    call(0xc600_0010, ms, 0, 0) as i64
}

/// WATCHDOG_KICK.
pub fn rtvisor_watchdog_kick() -> i64 {
    call(0xc600_0011, 0, 0, 0) as i64
}
