//! The one APIC timer of each CPU serves two deadlines: the watchdog's (the core's
//! [`Timer`](rtvisor_core::seam::Timer), `hw::Tsc`) and the emulated x2APIC timer of
//! the vCPU there (`ApicHw::timer`). Each keeps its deadline, in host TSC, in the
//! CPU's state; the APIC timer is programmed for the earlier one, always by the CPU
//! itself. When it fires, [`which_due`] says which of the two is due; the
//! watchdog checks its own.
//!
//! A halted vCPU's CPU programs it early for the guest timer ([`program_early`],
//! `rtvisor_arch_x86_64::advance`): the wake does its work before the guest's
//! deadline, then [`hold`]s the CPU until the deadline and enters the guest.

use crate::percpu::{self, PerCpu};
use core::sync::atomic::Ordering;
use rtvisor_arch_x86_64::advance::{self, Advance, ADVANCE_MAX};
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

/// Programs this CPU's APIC timer for the earlier of its deadlines, unless it is
/// programmed for that already (or, with none, idle since it fired: [`fired`]).
pub fn program(me: &PerCpu) {
    arm(me, next(me));
}

/// Programs this CPU's APIC timer for TSC `at` unless it is programmed for that.
fn arm(me: &PerCpu, at: u64) {
    if me.arch.armed.swap(at, Ordering::Relaxed) != at {
        apic::timer_arm(at);
    }
}

/// This CPU's advance (`rtvisor_arch_x86_64::advance`).
pub fn advance(me: &PerCpu) -> Advance {
    Advance::from_word(me.arch.advance.load(Ordering::Relaxed))
}

/// Programs this CPU's APIC timer before its vCPU's HLT sleeps: for the guest
/// timer's deadline less the advance when that is the earlier deadline
/// (`advance::wake_at`), else as [`program`] does. An early time still ahead is
/// kept for [`hold`] to measure the wake's cost against.
pub fn program_early(me: &PerCpu) {
    let guest = me.arch.vtimer.load(Ordering::Relaxed);
    let watchdog = me.arch.wd_deadline.load(Ordering::Relaxed);
    let (at, early) = advance::wake_at(guest, watchdog, advance(me));
    let ahead = early && at > irq::rdtsc();
    me.arch
        .early
        .store(if ahead { at } else { 0 }, Ordering::Relaxed);
    arm(me, at);
}

/// Holds this CPU until the TSC reaches `at`, the deadline of the guest timer
/// whose early wake ([`program_early`]) this CPU took, and adjusts the advance to
/// what the wake cost. The hold lasts at most `ADVANCE_MAX` ticks.
pub fn hold(me: &PerCpu, at: u64) {
    let now = irq::rdtsc();
    let early = me.arch.early.swap(0, Ordering::Relaxed);
    if early != 0 && now >= early {
        let next = advance(me).after(now - early);
        me.arch.advance.store(next.0, Ordering::Relaxed);
    }
    irq::until(at.min(now.saturating_add(ADVANCE_MAX)));
}

/// This CPU's APIC timer fired: it is idle until programmed again.
pub fn fired(me: &PerCpu) {
    me.arch.armed.store(0, Ordering::Relaxed);
}

/// Whether one of this CPU's deadlines passed.
pub fn due(me: &PerCpu) -> bool {
    let at = next(me);
    at != 0 && irq::rdtsc() >= at
}

/// Which of this CPU's deadlines passed.
#[derive(Debug, Clone, Copy)]
pub struct Due {
    pub guest: bool,
    pub watchdog: bool,
}

/// Which of this CPU's deadlines passed (one counter read for both).
pub fn which_due(me: &PerCpu) -> Due {
    let now = irq::rdtsc();
    let passed = |at: u64| at != 0 && now >= at;
    Due {
        guest: passed(me.arch.vtimer.load(Ordering::Relaxed)),
        watchdog: passed(me.arch.wd_deadline.load(Ordering::Relaxed)),
    }
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
