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

/// Waits `us` microseconds with the wait hint (`cpu::relax`, YIELD on aarch64) in the
/// loop: the wait of a vCPU for another vCPU of its VM. On hardware it is a plain
/// delay. Under an emulator that runs the cores in turn with an instruction budget
/// (QEMU's single-threaded TCG with `-icount`), a core that spins without the hint can
/// use the budget up to the next timer event on every turn, and the core it waits for,
/// next in line, then never runs; the hint ends the spinning core's turn.
pub fn relax_us(us: u64) {
    let deadline = counter().saturating_add(us_to_ticks(us));
    while counter() < deadline {
        crate::cpu::relax();
    }
}
