//! Time: the architecture's counter (CNTVCT on aarch64, the TSC on x86_64) and its
//! frequency, one-shot timer interrupts ([`arm`]/[`stop`], interrupt id
//! [`INTERRUPT`]), and the conversions and busy waits built on them.

pub use crate::arch::timer::{arm, counter, frequency, stop, FALLBACK_FREQUENCY, INTERRUPT};

/// Microseconds to counter ticks (saturating).
pub fn us_to_ticks(us: u64) -> u64 {
    let t = u128::from(us) * u128::from(frequency()) / 1_000_000;
    u64::try_from(t).unwrap_or(u64::MAX)
}

/// Counter ticks to nanoseconds (saturating).
pub fn ticks_to_ns(ticks: u64) -> u64 {
    let ns = u128::from(ticks) * 1_000_000_000 / u128::from(frequency());
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// Busy-waits until the counter reaches `deadline`.
pub fn wait_until(deadline: u64) {
    while counter() < deadline {
        core::hint::spin_loop();
    }
}

/// Busy-waits `us` microseconds.
pub fn delay_us(us: u64) {
    wait_until(counter().saturating_add(us_to_ticks(us)));
}
