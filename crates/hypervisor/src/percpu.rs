//! Per-physical-CPU state. Each CPU writes only its own entry, except `guest_active`,
//! which other CPUs read while restarting a VM (to wait until its vCPUs are parked).
//! A CPU finds its entry through its index, kept in TPIDR_EL2 from boot on.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Most physical CPUs supported (the machine contract's limit; the linker script
/// reserves a stack for each).
pub const MAX_CPUS: usize = rtvisor_config::contract::MAX_CPUS;

/// One CPU.
#[derive(Debug)]
pub struct PerCpu {
    /// MPIDR affinity of this CPU (from the device tree).
    pub mpidr: AtomicU64,
    /// End of this CPU's stack (see the arch crate's stack discipline).
    pub stack_end: AtomicU64,
    /// Whether this CPU is currently running (or handling an exit of) its vCPU.
    pub guest_active: AtomicBool,
    /// RD_base of this CPU's redistributor.
    pub redist: AtomicU64,
    /// The (VM, vCPU) this CPU hosts, packed as `vm << 32 | vcpu`; `u64::MAX` if none.
    /// Set at boot from the static configuration.
    pub hosts: AtomicU64,
    /// The vCPU's list registers must be refreshed before it runs guest code again.
    pub lr_dirty: AtomicBool,
}

impl PerCpu {
    const fn new() -> Self {
        Self {
            mpidr: AtomicU64::new(u64::MAX),
            stack_end: AtomicU64::new(0),
            guest_active: AtomicBool::new(false),
            redist: AtomicU64::new(0),
            hosts: AtomicU64::new(u64::MAX),
            lr_dirty: AtomicBool::new(false),
        }
    }
}

/// All CPUs, indexed by their position in the host device tree.
pub static CPUS: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];
/// Number of CPUs in the host device tree.
pub static CPU_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Index of the calling CPU (what boot put in TPIDR_EL2; out of range before that).
pub fn this_index() -> usize {
    let idx = rtvisor_arch_aarch64::cpu::this_index() as usize;
    if idx < CPU_COUNT.load(Ordering::Relaxed) {
        idx
    } else {
        usize::MAX
    }
}

impl PerCpu {
    /// The (VM, vCPU) this CPU hosts.
    pub fn hosts(&self) -> Option<(usize, usize)> {
        let v = self.hosts.load(Ordering::Relaxed);
        (v != u64::MAX).then_some(((v >> 32) as usize, v as u32 as usize))
    }
}
