//! Per-CPU words the exception vectors read on their fast paths (see `asm.rs`), indexed
//! by the CPU index in TPIDR_EL2. Written by the hypervisor on slow paths only. Also the
//! route check of a direct-mode guest's SGIs, for the system-register light path.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// CPUs the fast-path tables cover (the machine contract's limit).
pub const MAX_CPUS: usize = rtvisor_config::contract::MAX_CPUS;
/// The EL1 virtual timer's INTID.
pub const VTIMER_INTID: u32 = rtvisor_config::contract::aarch64::VTIMER_INTID;

/// Per CPU: the list-register value that delivers the forwarded virtual timer to the
/// vCPU running there, or 0 when the fast path is off (direct mode, idle CPU).
#[unsafe(no_mangle)]
static RTVISOR_FAST_VTIMER: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Per CPU: an interrupt the IRQ fast path acknowledged but did not handle, plus one
/// (0 = none). Its priority has been dropped; it is still active.
#[unsafe(no_mangle)]
static RTVISOR_FAST_ACKED: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// Per CPU, on a cache line of its own: the entries the IRQ fast path handled (each a
/// forwarded timer of the vCPU there) and their time in counter ticks (CNTPCT_EL0 read
/// at the vector's entry and before its return). Written by that CPU's vector only,
/// with the `accounting` feature; zeros without it.
#[repr(C, align(64))]
pub struct FastCount {
    timer: AtomicU64,
    ticks: AtomicU64,
}

// The vector indexes it by the CPU index shifted left by 6.
const _: () = assert!(core::mem::size_of::<FastCount>() == 64);

#[unsafe(no_mangle)]
static RTVISOR_FAST_COUNT: [FastCount; MAX_CPUS] = [const {
    FastCount {
        timer: AtomicU64::new(0),
        ticks: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// Whether the vectors count their entries and time (the `accounting` feature).
pub const COUNTED: bool = cfg!(feature = "accounting");

/// The timer entries the fast path handled on CPU `cpu` since boot, and their time in
/// counter ticks.
pub fn counts(cpu: usize) -> (u64, u64) {
    RTVISOR_FAST_COUNT.get(cpu).map_or((0, 0), |c| {
        (
            c.timer.load(Ordering::Relaxed),
            c.ticks.load(Ordering::Relaxed),
        )
    })
}

/// Sets (or with 0, turns off) CPU `cpu`'s forwarded-timer list-register value.
pub fn set_vtimer_lr(cpu: usize, lr: u64) {
    if let Some(w) = RTVISOR_FAST_VTIMER.get(cpu) {
        w.store(lr, Ordering::Relaxed);
    }
}

/// CPU `cpu`'s forwarded-timer list-register value (0: the fast path is off).
pub fn vtimer_lr(cpu: usize) -> u64 {
    RTVISOR_FAST_VTIMER
        .get(cpu)
        .map_or(0, |w| w.load(Ordering::Relaxed))
}

/// Takes the interrupt the fast path left acknowledged on CPU `cpu`, if any.
pub fn take_acked(cpu: usize) -> Option<u32> {
    let v = RTVISOR_FAST_ACKED.get(cpu)?.swap(0, Ordering::Relaxed);
    v.checked_sub(1)
}

/// Per CPU, direct mode: the ICC_SGI1R_EL1 route word of the guest running there
/// (`gicpass::sgi_route` of its VM's cores); 0: none (virtual mode, an idle CPU, or a
/// VM whose cores are in more than one affinity group: its SGIs take the filtered path).
static DIRECT_SGI: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Sets (or with 0, turns off) the SGI route word of CPU `cpu`.
pub fn set_direct_sgi(cpu: usize, route: u64) {
    if let Some(w) = DIRECT_SGI.get(cpu) {
        w.store(route, Ordering::Relaxed);
    }
}

/// Sends the SGIs of the ICC_SGI1R_EL1 value `value` a direct-mode guest on CPU `cpu`
/// wrote, if `gicpass::sgi_pass` lets it through as it is (only its VM's cores, none
/// of the SGI numbers in `reserved`); false (nothing sent) when it does not.
pub fn direct_sgi(cpu: usize, value: u64, reserved: u32) -> bool {
    let Some(route) = DIRECT_SGI.get(cpu).map(|w| w.load(Ordering::Relaxed)) else {
        return false;
    };
    match rtvisor_vdev::gicpass::sgi_pass(route, value, reserved) {
        Some(v) => {
            crate::gic::write_sgi1r(v);
            true
        }
        None => false,
    }
}
