//! The PMU cycle counter (PMCCNTR_EL0) and its relation to the generic counter.
//!
//! Under QEMU `-icount shift=0` PMCCNTR counts virtual nanoseconds (= instructions)
//! and CNTVCT = virtual ns / 16 at 62.5 MHz, both from the same virtual clock, so
//! `PMCCNTR = 16 * t_ticks + offset` holds for a constant offset that
//! [`calibrate_offset`] finds exactly by sampling both counters at every phase.

use core::arch::asm;

use crate::timer;

const PMCR_E: u64 = 1 << 0;
const PMCR_C: u64 = 1 << 2;
const PMCR_D: u64 = 1 << 3;
const PMCR_LC: u64 = 1 << 6;
/// PMCCFILTR_EL0.NSH: count at (non-secure) EL2 too; P = U = 0 counts EL1 and EL0.
const PMCCFILTR_NSH: u64 = 1 << 27;
const PMCNTEN_C: u64 = 1 << 31;

/// Enables the cycle counter (reset to 0, no /64 divider, 64-bit, counting at EL0,
/// EL1 and EL2).
pub fn init() {
    // SAFETY: programming this vCPU's PMU cycle counter only changes what the counter
    // counts; no memory is involved.
    unsafe {
        asm!(
            "mrs {t}, pmcr_el0",
            "orr {t}, {t}, {set}",
            "bic {t}, {t}, {clear}",
            "msr pmcr_el0, {t}",
            "msr pmccfiltr_el0, {filt}",
            "msr pmcntenset_el0, {en}",
            "isb",
            t = out(reg) _,
            set = in(reg) PMCR_E | PMCR_C | PMCR_LC,
            clear = in(reg) PMCR_D,
            filt = in(reg) PMCCFILTR_NSH,
            en = in(reg) PMCNTEN_C,
            options(nomem, nostack, preserves_flags)
        )
    };
}

/// PMCCNTR_EL0 (ISB first, so it is not read early).
pub fn cycles() -> u64 {
    let v: u64;
    // SAFETY: ISB + reading PMCCNTR_EL0 has no side effects.
    unsafe {
        asm!("isb", "mrs {}, pmccntr_el0", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// PMCCNTR cycles per generic-counter tick, taking a cycle as 1 ns (true under
/// `-icount shift=0`, which the self-check confirms): nanoseconds per tick when it is
/// a whole number (16 at 62.5 MHz).
pub fn cycles_per_tick() -> Option<u64> {
    let f = timer::frequency();
    (1_000_000_000 % f == 0).then(|| 1_000_000_000 / f)
}

/// Burns `k` (0..=15) NOPs, then reads PMCCNTR_EL0 and, one instruction later,
/// CNTVCT_EL0.
fn sample(k: u64) -> (u64, u64) {
    let (p, c): (u64, u64);
    // SAFETY: a computed branch into the NOP sled below (k <= 15, so the target is
    // within the sled), then two counter reads; no memory is touched.
    unsafe {
        asm!(
            "adr {t}, 2f",
            "sub {t}, {t}, {k}, lsl #2",
            "br {t}",
            ".rept 15",
            "nop",
            ".endr",
            "2:",
            "mrs {p}, pmccntr_el0",
            "mrs {c}, cntvct_el0",
            t = out(reg) _, k = in(reg) k & 15, p = out(reg) p, c = out(reg) c,
            options(nomem, nostack, preserves_flags)
        )
    };
    (p, c)
}

/// The offset in `PMCCNTR = ns_per_tick * CNTVCT_edge + offset` (wrapping), found
/// by sampling both counters at all 16 PMCCNTR phases: each sample bounds the offset
/// to a 16-wide window, the samples taken just after a counter edge pin it.
/// `None` when PMCCNTR does not count ns of the same clock (e.g. real hardware).
///
/// Another vCPU may run between the two reads of a sample (QEMU runs vCPUs in turn);
/// such a sample contradicts the others, and the attempt is repeated, up to
/// `CALIBRATION_ATTEMPTS` times.
pub fn calibrate_offset() -> Option<u64> {
    let w = cycles_per_tick()?;
    if w != 16 {
        return None;
    }
    (0..CALIBRATION_ATTEMPTS).find_map(|_| calibration_attempt())
}

const CALIBRATION_ATTEMPTS: usize = 8;

fn calibration_attempt() -> Option<u64> {
    let (mut lo, mut hi) = (i64::MIN, i64::MAX);
    let mut covered: u32 = 0;
    let (mut prev, _) = sample(0);
    let mut step: u64 = 0;
    for _ in 0..512 {
        let want = (!covered).trailing_zeros() as u64 & 15;
        let k = want.wrapping_sub(prev.wrapping_add(step)) & 15;
        let (p, c) = sample(k);
        step = p.wrapping_sub(prev).wrapping_sub(k);
        prev = p;
        covered |= 1 << (p & 15);
        // CNTVCT read at virtual time v + 1 where p = v + offset:
        // 16c <= v + 1 <= 16c + 15  =>  p - 16c - 14 <= offset <= p - 16c + 1.
        let d = p.wrapping_sub(c.wrapping_mul(16)) as i64;
        lo = lo.max(d.wrapping_sub(14));
        hi = hi.min(d.wrapping_add(1));
        if lo > hi {
            return None;
        }
        if covered == 0xffff {
            break;
        }
    }
    (covered == 0xffff && lo == hi).then_some(lo as u64)
}

/// PMCCNTR cycles per 16 ns of the generic counter (one tick at 62.5 MHz) x 1000
/// (rounded), measured edge to edge over `us` microseconds of busy looping (16000
/// under `-icount shift=0`).
pub fn cycles_per_16ns_milli(us: u64) -> u64 {
    let c0 = wait_edge();
    let p0 = cycles();
    timer::wait_until(c0.saturating_add(timer::us_to_ticks(us)));
    let c1 = wait_edge();
    let p1 = cycles();
    let ticks = c1.saturating_sub(c0).max(1);
    let milli =
        (u128::from(p1.wrapping_sub(p0)) * 1000 + u128::from(ticks / 2)) / u128::from(ticks);
    u64::try_from(milli).unwrap_or(u64::MAX)
}

/// Spins until CNTVCT changes; returns the new value.
fn wait_edge() -> u64 {
    let c = timer::counter();
    loop {
        let n = timer::counter();
        if n != c {
            return n;
        }
    }
}

/// Cycles per counter tick assumed when [`cycles_per_tick`] has no answer.
pub const DEFAULT_CYCLES_PER_TICK: u64 = 16;
