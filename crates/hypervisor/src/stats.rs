//! Per-physical-CPU event counters for the shell (`vcpu list`, `irq stats`): guest
//! exits, and the physical interrupts the backend handles, by [`IrqKind`].
//!
//! Discipline: a CPU counts only in its own block, with a Relaxed load and store (it is
//! the block's only writer, and the hypervisor runs with interrupts masked, so no
//! update is lost; no exclusive-monitor loop on the hot path); the shell CPU reads any
//! block. Each block has a cache line of its own, so counting on an RT core never
//! touches a line another core writes. Counts are since boot (across VM restarts) and
//! wrap at 2^64.
//!
//! Not counted: what the backend's fast paths answer before looking at the VM
//! (aarch64: virtual-timer interrupts the exception vector injects by itself, the
//! calls the HVC/SMC path answers from the function id alone: versions, features).

use crate::percpu::{self, MAX_CPUS};
use core::sync::atomic::{AtomicU64, Ordering};
use rtvisor_core::account::IrqKind;
use rtvisor_core::ids::CpuId;

/// One CPU's counters.
#[repr(align(64))]
struct CpuStats {
    exits: AtomicU64,
    irqs: [AtomicU64; IrqKind::COUNT],
}

impl CpuStats {
    const fn new() -> Self {
        Self {
            exits: AtomicU64::new(0),
            irqs: [const { AtomicU64::new(0) }; IrqKind::COUNT],
        }
    }
}

static STATS: [CpuStats; MAX_CPUS] = [const { CpuStats::new() }; MAX_CPUS];

fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// Counts a guest exit (any kind, hypercalls included) on this CPU.
pub fn exit() {
    if let Some(c) = percpu::this_cpu() {
        exit_on(c);
    }
}

/// [`exit`] when the caller already knows it runs on `cpu`: no look-up of the CPU
/// index (the kick's receive path counts it with the index it has).
#[inline(always)]
pub fn exit_on(cpu: CpuId) {
    if let Some(s) = STATS.get(cpu.index()) {
        bump(&s.exits);
    }
}

/// [`irq`] when the caller already knows it runs on `cpu`.
#[inline(always)]
pub fn irq_on(cpu: CpuId, kind: IrqKind) {
    if let Some(c) = STATS
        .get(cpu.index())
        .and_then(|s| s.irqs.get(kind as usize))
    {
        bump(c);
    }
}

/// Counts an interrupt of `kind` on this CPU.
pub fn irq(kind: IrqKind) {
    if let Some(c) = percpu::this_cpu() {
        irq_on(c, kind);
    }
}

/// Counts a spurious interrupt if `nothing_found`.
pub fn spurious_if(nothing_found: bool) {
    if nothing_found {
        irq(IrqKind::Spurious);
    }
}

/// Guest exits on CPU `cpu` since boot.
pub fn exits(cpu: CpuId) -> u64 {
    STATS
        .get(cpu.index())
        .map_or(0, |s| s.exits.load(Ordering::Relaxed))
}

/// Interrupts on CPU `cpu` since boot, indexed like [`IrqKind::ALL`].
pub fn irqs(cpu: CpuId) -> [u64; IrqKind::COUNT] {
    core::array::from_fn(|k| {
        STATS
            .get(cpu.index())
            .map_or(0, |s| s.irqs[k].load(Ordering::Relaxed))
    })
}
