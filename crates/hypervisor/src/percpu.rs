//! Per-physical-CPU state. Each CPU writes only its own entry, except `guest_active`,
//! which other CPUs read while restarting a VM (to wait until its vCPUs are parked).
//! A CPU finds its entry through its index, kept in TPIDR_EL2 from boot on.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use rtvisor_core::ids::{CpuId, VcpuId, VmId};

/// Most physical CPUs supported (the machine contract's limit; the linker script
/// reserves a stack for each).
pub const MAX_CPUS: usize = rtvisor_config::contract::MAX_CPUS;

/// One CPU.
#[derive(Debug)]
pub struct PerCpu {
    /// MPIDR affinity of this CPU (from the device tree; valid for the CPUs below
    /// [`CPU_COUNT`]).
    pub mpidr: AtomicU64,
    /// End of this CPU's stack (see the arch crate's stack discipline).
    pub stack_end: AtomicU64,
    /// Whether this CPU is currently running (or handling an exit of) its vCPU.
    pub guest_active: AtomicBool,
    /// RD_base of this CPU's redistributor.
    pub redist: AtomicU64,
    /// The (VM, vCPU) this CPU hosts ([`Hosted`]). Set at boot from the static
    /// configuration.
    hosts: AtomicU64,
    /// The vCPU's list registers must be refreshed before it runs guest code again.
    pub lr_dirty: AtomicBool,
}

/// How [`PerCpu::hosts`] keeps an `Option<(VmId, VcpuId)>` in one word: bit 63 set
/// when there is one, the VM in bits 62..32, the vCPU in bits 31..0.
struct Hosted;

impl Hosted {
    const SOME: u64 = 1 << 63;

    fn encode(v: Option<(VmId, VcpuId)>) -> u64 {
        v.map_or(0, |(vm, vcpu)| {
            Self::SOME | (vm.index() as u64) << 32 | vcpu.index() as u32 as u64
        })
    }

    #[inline(always)]
    fn decode(v: u64) -> Option<(VmId, VcpuId)> {
        (v & Self::SOME != 0).then_some((
            VmId::new(((v >> 32) & 0x7fff_ffff) as usize),
            VcpuId::new(v as u32 as usize),
        ))
    }
}

impl PerCpu {
    const fn new() -> Self {
        Self {
            mpidr: AtomicU64::new(0),
            stack_end: AtomicU64::new(0),
            guest_active: AtomicBool::new(false),
            redist: AtomicU64::new(0),
            hosts: AtomicU64::new(0),
            lr_dirty: AtomicBool::new(false),
        }
    }
}

/// All CPUs, indexed by their position in the host device tree.
pub static CPUS: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];
/// Number of CPUs in the host device tree.
pub static CPU_COUNT: AtomicUsize = AtomicUsize::new(0);

/// The calling CPU (what boot put in TPIDR_EL2; `None` before that).
pub fn this_cpu() -> Option<CpuId> {
    let idx = rtvisor_arch_aarch64::cpu::this_index() as usize;
    (idx < CPU_COUNT.load(Ordering::Relaxed)).then_some(CpuId::new(idx))
}

/// The calling CPU's state.
pub fn this() -> Option<&'static PerCpu> {
    this_cpu().and_then(|c| CPUS.get(c.index()))
}

/// CPU `cpu`'s state.
pub fn of(cpu: CpuId) -> Option<&'static PerCpu> {
    CPUS.get(cpu.index())
}

impl PerCpu {
    /// The (VM, vCPU) this CPU hosts.
    #[inline(always)]
    pub fn hosts(&self) -> Option<(VmId, VcpuId)> {
        Hosted::decode(self.hosts.load(Ordering::Relaxed))
    }

    /// Records the (VM, vCPU) this CPU hosts (boot).
    pub fn set_hosts(&self, v: Option<(VmId, VcpuId)>) {
        self.hosts.store(Hosted::encode(v), Ordering::Relaxed);
    }
}
