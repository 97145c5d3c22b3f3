//! Per-physical-CPU state. Each CPU writes only its own entry; others read its
//! hardware id (to kick it) and the backend's interrupt bookkeeping. A CPU finds its
//! entry through its index, which the backend keeps per CPU from boot on.

use crate::backend::{Arch, Backend};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use rtvisor_core::ids::{CpuId, VcpuId, VmId};

/// Most physical CPUs supported (the machine contract's limit; the linker script
/// reserves a stack for each).
pub const MAX_CPUS: usize = rtvisor_config::contract::MAX_CPUS;

/// One CPU.
#[derive(Debug)]
pub struct PerCpu {
    /// Its hardware id (aarch64: MPIDR affinity; valid for the CPUs below
    /// [`CPU_COUNT`]).
    pub hw_id: AtomicU64,
    /// The (VM, vCPU) this CPU hosts ([`Hosted`]). Set at boot from the static
    /// configuration.
    hosts: AtomicU64,
    /// The backend's state of this CPU.
    pub arch: <Arch as Backend>::CpuState,
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
            hw_id: AtomicU64::new(0),
            hosts: AtomicU64::new(0),
            arch: Arch::CPU_STATE,
        }
    }

    /// The (VM, vCPU) this CPU hosts.
    #[inline(always)]
    pub fn hosts(&self) -> Option<(VmId, VcpuId)> {
        Hosted::decode(self.hosts.load(Ordering::Relaxed))
    }

    /// Records the (VM, vCPU) this CPU hosts (boot).
    pub fn set_hosts(&self, v: Option<(VmId, VcpuId)>) {
        self.hosts.store(Hosted::encode(v), Ordering::Relaxed);
    }

    /// Its hardware id.
    pub fn hw_id(&self) -> u64 {
        self.hw_id.load(Ordering::Relaxed)
    }
}

/// All CPUs, indexed by their position in the platform's list.
pub static CPUS: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];
/// Number of CPUs the platform lists (at most [`MAX_CPUS`] are used).
pub static CPU_COUNT: AtomicUsize = AtomicUsize::new(0);

/// The calling CPU's index as the backend reads it, before boot has checked it
/// against the CPU count too (for fault messages: a fault before that still names
/// its CPU).
pub fn this_index() -> usize {
    Arch::this_cpu()
}

/// The calling CPU (`None` before boot has recorded it).
#[inline(always)]
pub fn this_cpu() -> Option<CpuId> {
    let idx = Arch::this_cpu();
    (idx < CPU_COUNT.load(Ordering::Relaxed)).then_some(CpuId::new(idx))
}

/// CPU `cpu`'s state.
pub fn of(cpu: CpuId) -> Option<&'static PerCpu> {
    CPUS.get(cpu.index())
}
