//! Delays and timeouts on the ACPI PM timer (3.579545 MHz, its port from the FADT);
//! without one, a calibrated-by-nothing spin count (documented fallback, emulators only).

use crate::acpi::fadt::PM_TIMER_HZ;
use crate::cpu::inl;
use core::sync::atomic::{AtomicU32, Ordering};

/// Port in bits 0-15, bit 16: the timer counts 32 bits. 0: no timer.
static PM_TIMER: AtomicU32 = AtomicU32::new(0);

/// Uses the PM timer at `port` from now on.
pub fn set_pm_timer(port: u16, wide: bool) {
    PM_TIMER.store(u32::from(port) | u32::from(wide) << 16, Ordering::Release);
}

pub fn has_pm_timer() -> bool {
    PM_TIMER.load(Ordering::Acquire) != 0
}

/// The PM timer's count and the mask of its bits (`None`: no timer).
pub fn ticks() -> Option<(u32, u32)> {
    let t = PM_TIMER.load(Ordering::Acquire);
    let port = t as u16;
    if port == 0 {
        return None;
    }
    let mask = if t >> 16 != 0 { u32::MAX } else { 0x00FF_FFFF };
    // SAFETY: the FADT's PM timer port; reading it has no side effects.
    Some((unsafe { inl(port) } & mask, mask))
}

/// Polls `done` until it is true or `us` microseconds passed; returns `done`'s last.
pub fn wait_until(us: u64, mut done: impl FnMut() -> bool) -> bool {
    let want = us * PM_TIMER_HZ / 1_000_000;
    match ticks() {
        Some((start, mask)) => {
            let mut elapsed = 0u64;
            let mut last = start;
            while elapsed < want {
                if done() {
                    return true;
                }
                let (now, _) = ticks().unwrap_or((last, mask));
                elapsed += u64::from(now.wrapping_sub(last) & mask);
                last = now;
                crate::cpu::pause();
            }
        }
        None => {
            for _ in 0..us.saturating_mul(100) {
                if done() {
                    return true;
                }
                crate::cpu::pause();
            }
        }
    }
    done()
}

pub fn delay_us(us: u64) {
    wait_until(us, || false);
}
