//! The cycle counter on x86 is the TSC itself, the same counter the timer's deadline
//! is written in: the expected TSC at a deadline is the deadline (one tick per tick,
//! offset 0), exactly, on any machine. Under `-icount shift=0` a TSC tick is 1 ns.
//!
//! The self-check ([`cycles_per_16ns_milli`]) measures the TSC against an independent
//! clock, the ACPI PM timer (else PIT channel 2): TSC ticks per 16 ns of it, x 1000,
//! 16000 under icount, as PMCCNTR per CNTVCT tick is on aarch64.

use core::sync::atomic::{AtomicU16, Ordering};

use super::cpu::inl;
use super::timer;

/// The PM timer's port (0: none), from the FADT.
static PM_TIMER: AtomicU16 = AtomicU16::new(0);
const PM_TIMER_HZ: u64 = 3_579_545;

pub(crate) fn set_pm_timer(port: Option<u16>) {
    PM_TIMER.store(port.unwrap_or(0), Ordering::Relaxed);
}

/// Nothing to enable: the TSC always counts.
pub fn init() {}

/// The TSC.
pub fn cycles() -> u64 {
    timer::counter()
}

/// Cycle-counter ticks per timer-counter tick: 1 (the same counter).
pub fn cycles_per_tick() -> Option<u64> {
    Some(1)
}

/// The offset in `cycles = cycles_per_tick * counter + offset`: 0, exactly.
pub fn calibrate_offset() -> Option<u64> {
    Some(0)
}

/// TSC ticks per 16 ns of the PM timer x 1000 (rounded), edge to edge over `us`
/// microseconds; 0 when the machine has no (counting) PM timer.
pub fn cycles_per_16ns_milli(us: u64) -> u64 {
    let port = PM_TIMER.load(Ordering::Relaxed);
    if port == 0 {
        return 0;
    }
    let read = || u64::from(inl(port) & 0xff_ffff);
    // Bounded: a PM timer that does not count gives 0.
    let edge = |from: u64| {
        (0..10_000_000u32).find_map(|_| {
            let v = read();
            (v != from).then(|| (v, timer::counter()))
        })
    };
    let Some((p0, t0)) = edge(read()) else {
        return 0;
    };
    crate::timer::delay_us(us);
    let Some((p1, t1)) = edge(read()) else {
        return 0;
    };
    let ticks = p1.wrapping_sub(p0) & 0xff_ffff;
    // ref_ns = ticks * 1e9 / PM_TIMER_HZ; milli = cycles * 16 * 1000 / ref_ns.
    let num = u128::from(t1 - t0) * 16_000 * u128::from(PM_TIMER_HZ);
    let den = u128::from(ticks.max(1)) * 1_000_000_000;
    u64::try_from((num + den / 2) / den).unwrap_or(u64::MAX)
}

/// Cycles per counter tick assumed when [`cycles_per_tick`] has no answer (it always
/// has one here).
pub const DEFAULT_CYCLES_PER_TICK: u64 = 1;
