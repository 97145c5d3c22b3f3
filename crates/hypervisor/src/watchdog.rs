//! Per-VM watchdogs. A guest arms its watchdog with a timeout and kicks it with
//! hypercalls; if a kick does not come in time the VM has crashed
//! (`StopReason::Watchdog`) and its restart policy decides what happens.
//!
//! The clock is the hypervisor's own timer ([`Timer`]) of the CPU that armed or last
//! kicked the watchdog (aarch64: the EL2 physical timer, whose PPI is in Group 0, so
//! it reaches EL2 even on a direct-mode core), or of the CPU the backend names for it
//! (x86 direct mode, whose cores' APIC timers are the guest's: the boot CPU). A kick only moves the deadline (and
//! re-arms that CPU's timer); nothing of the hypervisor runs on the VM's cores between
//! kicks.

use crate::backend::{Arch, Backend, Clock};
use crate::config::{CONFIG, MAX_VMS};
use crate::host::HostImpl;
use crate::percpu::this_cpu;
use crate::vms;
use core::sync::atomic::{AtomicU64, Ordering};
use rtvisor_core::handler;
use rtvisor_core::ids::{AtomicId, CpuId, VcpuId, VmId};
use rtvisor_core::seam::Timer;
use rtvisor_core::vm::StopReason;

struct Watchdog {
    /// Timeout in clock ticks (0: disarmed).
    timeout: AtomicU64,
    /// The clock by which the next kick must come.
    deadline: AtomicU64,
    /// The CPU whose timer watches it, while armed.
    cpu: AtomicId<CpuId>,
}

static WATCHDOGS: [Watchdog; MAX_VMS] = [const {
    Watchdog {
        timeout: AtomicU64::new(0),
        deadline: AtomicU64::new(0),
        cpu: AtomicId::none(),
    }
}; MAX_VMS];

/// Arms (or with `ms` = 0 disarms) VM `vm`'s watchdog from this CPU.
pub fn arm(vm: VmId, ms: u64) {
    let w = &WATCHDOGS[vm.index()];
    let ticks = ms.saturating_mul(Clock::frequency()) / 1000;
    w.timeout.store(ticks, Ordering::Release);
    if ticks == 0 {
        if w.cpu.swap(None, Ordering::AcqRel) == this_cpu() {
            Clock::disarm();
        }
        return;
    }
    watch_here(w, ticks);
}

/// Pushes VM `vm`'s deadline out; `false` when it is not armed.
pub fn kick(vm: VmId) -> bool {
    let w = &WATCHDOGS[vm.index()];
    let ticks = w.timeout.load(Ordering::Acquire);
    if ticks == 0 {
        return false;
    }
    watch_here(w, ticks);
    true
}

fn watch_here(w: &Watchdog, ticks: u64) {
    let deadline = Clock::now().saturating_add(ticks);
    w.deadline.store(deadline, Ordering::Release);
    let me = this_cpu();
    let watcher = me.map(Arch::watchdog_cpu);
    w.cpu.store(watcher, Ordering::Release);
    match watcher {
        Some(other) if watcher != me => Arch::watchdog_arm_on(other, deadline),
        _ => Clock::arm(deadline),
    }
}

/// Forgets VM `vm`'s watchdog (the VM stopped or restarts; a new run arms its own).
pub fn reset(vm: VmId) {
    WATCHDOGS[vm.index()].timeout.store(0, Ordering::Release);
}

/// The hypervisor's timer fired on this CPU: every watchdog it watches that is past its
/// deadline expires; the timer is re-armed for the nearest one left.
pub fn on_timer() {
    let Some(me) = this_cpu() else { return };
    let now = Clock::now();
    let mut next: Option<u64> = None;
    for (vm, w) in WATCHDOGS.iter().enumerate().take(CONFIG.vms.len()) {
        let vm = VmId::new(vm);
        if w.cpu.load(Ordering::Acquire) != Some(me) || w.timeout.load(Ordering::Acquire) == 0 {
            continue;
        }
        let deadline = w.deadline.load(Ordering::Acquire);
        if deadline > now {
            next = Some(next.map_or(deadline, |n| n.min(deadline)));
            continue;
        }
        reset(vm);
        w.cpu.store(None, Ordering::Release);
        // The vCPU of the VM on this CPU, if it has one here: it is the asking one.
        let vcpu = vms::cfg(vm)
            .cpus
            .iter()
            .position(|&c| c as usize == me.index())
            .map(VcpuId::new);
        vms::with_ctx(vm, |ctx| {
            handler::stop_vm(vcpu, ctx, &HostImpl, StopReason::Watchdog)
        });
    }
    match next {
        Some(deadline) => Clock::arm(deadline),
        None => Clock::disarm(),
    }
}
