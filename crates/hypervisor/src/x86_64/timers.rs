//! The one APIC timer of each CPU serves two deadlines: the watchdog's (the core's
//! [`Timer`](rtvisor_core::seam::Timer), `hw::Tsc`) and the emulated x2APIC timer of
//! the vCPU there (`ApicHw::timer`). Each keeps its deadline, in host TSC, in the
//! CPU's state; the APIC timer is programmed for the earlier one, always by the CPU
//! itself. When it fires, [`guest_due`] says whether the vCPU's timer is due; the
//! watchdog checks its own.

use crate::percpu::{self, PerCpu};
use core::sync::atomic::Ordering;
use rtvisor_arch_x86_64::{apic, deadline, irq};
use rtvisor_core::ids::CpuId;

/// This CPU's state (none before boot recorded it).
fn here() -> Option<(CpuId, &'static PerCpu)> {
    let cpu = percpu::this_cpu()?;
    Some((cpu, percpu::of(cpu)?))
}

/// The watchdog's deadline on this CPU (0: none).
pub fn set_watchdog(at: u64) {
    if let Some((_, me)) = here() {
        me.arch.wd_deadline.store(at, Ordering::Relaxed);
        program(me);
    }
}

/// The guest timer's deadline on CPU `cpu` (host TSC, 0: none). Set on another CPU,
/// that CPU is kicked to program its timer.
pub fn set_guest(cpu: CpuId, at: u64) {
    let Some(c) = percpu::of(cpu) else { return };
    c.arch.vtimer.store(at, Ordering::Relaxed);
    match here() {
        Some((me, state)) if me == cpu => program(state),
        _ => <super::Arch as crate::backend::Backend>::kick(cpu),
    }
}

/// The earlier of this CPU's deadlines (0: none).
pub fn next(me: &PerCpu) -> u64 {
    let wd = me.arch.wd_deadline.load(Ordering::Relaxed);
    let guest = me.arch.vtimer.load(Ordering::Relaxed);
    deadline::earliest(wd, guest)
}

/// Programs this CPU's APIC timer for the earlier of its deadlines.
pub fn program(me: &PerCpu) {
    apic::timer_arm(next(me));
}

/// Whether one of this CPU's deadlines passed.
pub fn due(me: &PerCpu) -> bool {
    let at = next(me);
    at != 0 && irq::rdtsc() >= at
}

/// Whether the guest timer on this CPU is due (its deadline passed).
pub fn guest_due(me: &PerCpu) -> bool {
    let at = me.arch.vtimer.load(Ordering::Relaxed);
    at != 0 && irq::rdtsc() >= at
}

/// A watchdog on another CPU (a direct-mode core, `direct::WATCHER`) must expire by
/// `at`: CPU `cpu`'s deadline is brought forward if it is later, and `cpu` is kicked
/// to program its timer. A deadline moved later is found by the watchdog's own check
/// when the earlier one fires.
pub fn watch_on(cpu: CpuId, at: u64) {
    let Some(c) = percpu::of(cpu) else { return };
    let earlier = c
        .arch
        .wd_deadline
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
            (cur == 0 || at < cur).then_some(at)
        })
        .is_ok();
    if earlier {
        <super::Arch as crate::backend::Backend>::kick(cpu);
    }
}
