//! Per-physical-CPU state. Each CPU writes only its own entry, except `guest_active`,
//! which other CPUs read while restarting a VM (to wait until its vCPUs are parked).

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Most physical CPUs supported.
pub const MAX_CPUS: usize = 8;

/// One CPU.
#[derive(Debug)]
pub struct PerCpu {
    /// MPIDR affinity of this CPU (from the device tree).
    pub mpidr: AtomicU64,
    /// End of this CPU's stack (see the arch crate's stack discipline).
    pub stack_end: AtomicU64,
    /// Whether this CPU is currently running (or handling an exit of) its vCPU.
    pub guest_active: AtomicBool,
}

impl PerCpu {
    const fn new() -> Self {
        Self {
            mpidr: AtomicU64::new(u64::MAX),
            stack_end: AtomicU64::new(0),
            guest_active: AtomicBool::new(false),
        }
    }
}

/// All CPUs, indexed by their position in the host device tree.
pub static CPUS: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];
/// Number of CPUs in the host device tree.
pub static CPU_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Index of the calling CPU (by MPIDR lookup; `usize::MAX` before boot has set it up).
pub fn this_index() -> usize {
    let me = rtvisor_arch_aarch64::sysreg::mpidr();
    CPUS.iter()
        .take(CPU_COUNT.load(Ordering::Relaxed))
        .position(|c| c.mpidr.load(Ordering::Relaxed) == me)
        .unwrap_or(usize::MAX)
}
